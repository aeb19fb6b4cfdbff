//! Avro bodies back into our records, for data written with exactly the
//! reader's schema. Other writer schemas are resolved first (see `mod.rs`).

use super::CodecError;
use super::wire::Reader;
use crate::properties::Properties;
use crate::records::{
    Delete, EdgeRef, EdgeUpsert, Element, GraphChange, NodeRef, NodeUpsert, Observation,
    Relationship, ScopeRef, SyncBarrier, SyncKind, SyncMarker, SyncStatus, TopicCount, Touch,
};
use crate::registry::{PropertyType, RelType, ResourceDef, ResourceKind};
use crate::value::Value;

fn scope(r: &mut Reader<'_>) -> Result<(ScopeRef, i64), CodecError> {
    let source = r.string("source")?;
    let scope = r.string("scope")?;
    let epoch = r.long("epoch")?;
    Ok((ScopeRef { source, scope }, epoch))
}

fn typed(r: &mut Reader<'_>, ty: PropertyType, field: &'static str) -> Result<Value, CodecError> {
    Ok(match ty {
        PropertyType::Bool => Value::Bool(r.bool(field)?),
        PropertyType::Long => Value::Long(r.long(field)?),
        PropertyType::Double => Value::Double(r.double(field)?),
        PropertyType::String => Value::String(r.string(field)?),
        PropertyType::StringList => {
            let mut list = Vec::new();
            r.blocks(field, |r| {
                list.push(r.string(field)?);
                Ok(())
            })?;
            Value::StringList(list)
        }
    })
}

fn value(r: &mut Reader<'_>, field: &'static str) -> Result<Value, CodecError> {
    const BRANCHES: [Option<PropertyType>; 6] = [
        None,
        Some(PropertyType::Bool),
        Some(PropertyType::Long),
        Some(PropertyType::Double),
        Some(PropertyType::String),
        Some(PropertyType::StringList),
    ];
    match BRANCHES[r.branch(field, BRANCHES.len())?] {
        None => Ok(Value::Null),
        Some(ty) => typed(r, ty, field),
    }
}

fn map(r: &mut Reader<'_>, field: &'static str) -> Result<Properties, CodecError> {
    let mut props = Properties::new();
    r.blocks(field, |r| {
        let key = r.string(field)?;
        let v = value(r, field)?;
        props.insert(key, v);
        Ok(())
    })?;
    Ok(props)
}

fn parsed<T: std::str::FromStr<Err = crate::registry::UnknownName>>(
    s: &str,
) -> Result<T, CodecError> {
    s.parse::<T>().map_err(CodecError::from)
}

fn relationship(r: &mut Reader<'_>, def: &ResourceDef) -> Result<Relationship, CodecError> {
    let rel_type: RelType = parsed(r.str("relationships.type")?)?;
    if def.relationship(rel_type).is_none() {
        return Err(CodecError::invalid(
            "relationships.type",
            format!("{} does not declare {rel_type}", def.label),
        ));
    }
    let target_id = r.string("relationships.target_id")?;
    let properties = map(r, "relationships.properties")?;
    Ok(Relationship {
        rel_type,
        target_id,
        properties,
    })
}

/// `order` lists `def`'s property indexes in name order.
pub fn observation(
    r: &mut Reader<'_>,
    def: &ResourceDef,
    order: &[usize],
) -> Result<Observation, CodecError> {
    let (scope, epoch) = scope(r)?;
    let observed_at = r.long("observed_at")?;
    let previous_epoch = optional_long(r, "previous_epoch")?;
    let kind: ResourceKind = parsed(r.str("resource_type")?)?;
    if kind != def.kind {
        return Err(CodecError::invalid(
            "resource_type",
            format!("{kind} in a {} record", def.label),
        ));
    }
    let id = r.string("id")?;
    let mut found: Vec<Option<Value>> = Vec::with_capacity(def.properties.len());
    for p in def.properties {
        found.push(match r.branch(p.name, 2)? {
            0 => None,
            _ => Some(typed(r, p.ty, p.name)?),
        });
    }
    debug_assert_eq!(order.len(), found.len(), "a name order for every property");
    // Handed over in name order, each one is appended, never searched for.
    let mut properties = Properties::with_capacity(found.len());
    for &i in order {
        if let Some(value) = found[i].take() {
            properties.insert(def.properties[i].name.to_owned(), value);
        }
    }
    let relationships = relationship_list(r, def, "relationships")?;
    let sync_kind = sync_kind(r, "sync_kind")?;
    let retracted = relationship_list(r, def, "retracted")?;
    let gone = r.bool("gone")?;
    Ok(Observation {
        scope,
        epoch,
        observed_at,
        previous_epoch,
        kind,
        id,
        properties,
        relationships,
        sync_kind,
        retracted,
        gone,
    })
}

fn relationship_list(
    r: &mut Reader<'_>,
    def: &ResourceDef,
    field: &'static str,
) -> Result<Vec<Relationship>, CodecError> {
    let mut out = Vec::new();
    r.blocks(field, |r| {
        out.push(relationship(r, def)?);
        Ok(())
    })?;
    Ok(out)
}

fn sync_kind(r: &mut Reader<'_>, field: &'static str) -> Result<SyncKind, CodecError> {
    Ok(SyncKind::ALL[r.branch(field, SyncKind::ALL.len())?])
}

fn optional_long(r: &mut Reader<'_>, field: &'static str) -> Result<Option<i64>, CodecError> {
    match r.branch(field, 2)? {
        0 => Ok(None),
        _ => r.long(field).map(Some),
    }
}

fn status(r: &mut Reader<'_>) -> Result<SyncStatus, CodecError> {
    Ok(SyncStatus::ALL[r.branch("status", SyncStatus::ALL.len())?])
}

fn reason(r: &mut Reader<'_>) -> Result<Option<String>, CodecError> {
    match r.branch("reason", 2)? {
        0 => Ok(None),
        _ => r.string("reason").map(Some),
    }
}

pub fn sync_marker(r: &mut Reader<'_>) -> Result<SyncMarker, CodecError> {
    let (scope, epoch) = scope(r)?;
    let status = status(r)?;
    let reason = reason(r)?;
    let mut counts = Vec::new();
    r.blocks("counts", |r| {
        counts.push(TopicCount {
            topic: r.string("counts.topic")?,
            partition: r.int("counts.partition")?,
            count: r.long("counts.count")?,
            last_offset: r.long("counts.last_offset")?,
        });
        Ok(())
    })?;
    let emitted_at = r.long("emitted_at")?;
    let kind = sync_kind(r, "kind")?;
    Ok(SyncMarker {
        scope,
        epoch,
        status,
        reason,
        counts,
        emitted_at,
        kind,
    })
}

fn node_ref(r: &mut Reader<'_>) -> Result<NodeRef, CodecError> {
    let kind = ResourceKind::from_label(r.str("label")?)?;
    Ok(NodeRef {
        kind,
        id: r.string("id")?,
    })
}

fn edge_ref(r: &mut Reader<'_>) -> Result<EdgeRef, CodecError> {
    let rel_type = parsed(r.str("edge.type")?)?;
    Ok(EdgeRef {
        rel_type,
        from: node_ref(r)?,
        to: node_ref(r)?,
    })
}

fn element(r: &mut Reader<'_>) -> Result<Element, CodecError> {
    match r.branch("element", 2)? {
        0 => node_ref(r).map(Element::Node),
        _ => edge_ref(r).map(Element::Edge),
    }
}

pub fn graph_change(r: &mut Reader<'_>) -> Result<GraphChange, CodecError> {
    Ok(match r.branch("change", 5)? {
        0 => {
            let node = node_ref(r)?;
            let (scope, epoch) = scope(r)?;
            let observed_at = r.long("observed_at")?;
            let properties = map(r, "properties")?;
            let props_at = optional_long(r, "props_at")?;
            GraphChange::NodeUpsert(NodeUpsert {
                node,
                scope,
                epoch,
                observed_at,
                properties,
                props_at,
            })
        }
        1 => {
            let edge = edge_ref(r)?;
            let (scope, epoch) = scope(r)?;
            let observed_at = r.long("observed_at")?;
            let properties = map(r, "properties")?;
            let props_at = optional_long(r, "props_at")?;
            GraphChange::EdgeUpsert(EdgeUpsert {
                edge,
                scope,
                epoch,
                observed_at,
                properties,
                props_at,
            })
        }
        2 => {
            let element = element(r)?;
            let (scope, epoch) = scope(r)?;
            GraphChange::Touch(Touch {
                element,
                scope,
                epoch,
            })
        }
        3 => {
            let element = element(r)?;
            let (scope, epoch) = scope(r)?;
            GraphChange::Delete(Delete {
                element,
                scope,
                epoch,
            })
        }
        _ => {
            let (scope, epoch) = scope(r)?;
            let status = status(r)?;
            let reason = reason(r)?;
            let kind = sync_kind(r, "kind")?;
            GraphChange::SyncBarrier(SyncBarrier {
                scope,
                epoch,
                status,
                reason,
                kind,
            })
        }
    })
}
