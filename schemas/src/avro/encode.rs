//! Avro bodies of our records, written straight from the Rust types. The
//! field order follows `schema.rs`; tests decode these bytes with
//! apache-avro and fastavro against the generated schemas.

use super::CodecError;
use super::wire::{put_block, put_bool, put_double, put_long, put_str};
use crate::properties::Properties;
use crate::records::{
    Element, GraphChange, Observation, Relationship, ScopeRef, SyncKind, SyncMarker, SyncStatus,
};
use crate::registry::ResourceDef;
use crate::value::Value;

fn put_scope(buf: &mut Vec<u8>, scope: &ScopeRef, epoch: i64) {
    put_str(buf, &scope.source);
    put_str(buf, &scope.scope);
    put_long(buf, epoch);
}

/// A value whose type the schema fixes (no union branch).
fn put_typed(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => {}
        Value::Bool(b) => put_bool(buf, *b),
        Value::Long(n) => put_long(buf, *n),
        Value::Double(d) => put_double(buf, *d),
        Value::String(s) => put_str(buf, s),
        Value::StringList(l) => put_block(buf, l.iter(), |b, s| put_str(b, s)),
    }
}

/// A value in the free-form union; branch order as in `schema::value_union`.
fn put_value(buf: &mut Vec<u8>, v: &Value) {
    let branch = match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Long(_) => 2,
        Value::Double(_) => 3,
        Value::String(_) => 4,
        Value::StringList(_) => 5,
    };
    put_long(buf, branch);
    put_typed(buf, v);
}

fn put_map(buf: &mut Vec<u8>, props: &Properties) {
    put_block(buf, props.iter(), |b, (k, v)| {
        put_str(b, k);
        put_value(b, v);
    });
}

fn put_optional_long(buf: &mut Vec<u8>, v: Option<i64>) {
    match v {
        None => put_long(buf, 0),
        Some(n) => {
            put_long(buf, 1);
            put_long(buf, n);
        }
    }
}

fn put_status(buf: &mut Vec<u8>, status: SyncStatus) {
    let i = SyncStatus::ALL
        .iter()
        .position(|s| *s == status)
        .unwrap_or_default();
    put_long(buf, i as i64);
}

fn put_kind(buf: &mut Vec<u8>, kind: SyncKind) {
    let i = SyncKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or_default();
    put_long(buf, i as i64);
}

fn put_relationships<'a>(buf: &mut Vec<u8>, rels: impl ExactSizeIterator<Item = &'a Relationship>) {
    put_block(buf, rels, |b, rel| {
        put_str(b, rel.rel_type.as_str());
        put_str(b, &rel.target_id);
        put_map(b, &rel.properties);
    });
}

fn put_reason(buf: &mut Vec<u8>, reason: Option<&str>) {
    match reason {
        None => put_long(buf, 0),
        Some(r) => {
            put_long(buf, 1);
            put_str(buf, r);
        }
    }
}

/// Names the property of `obs` that `def` does not declare.
fn undeclared(obs: &Observation, def: &ResourceDef) -> CodecError {
    let name = obs
        .properties
        .keys()
        .find(|n| def.property(n).is_none())
        .cloned()
        .unwrap_or_default();
    CodecError::Encode {
        field: name,
        reason: format!("not a property of {}", def.label),
    }
}

/// Checks every relationship against `def`, so nothing undeclared leaves a
/// collector (properties are checked while they are written).
fn check_relationships(obs: &Observation, def: &ResourceDef) -> Result<(), CodecError> {
    for rel in obs.relationships.iter().chain(&obs.retracted) {
        if def.relationship(rel.rel_type).is_none() {
            return Err(CodecError::Encode {
                field: rel.rel_type.as_str().to_owned(),
                reason: format!("{} does not declare this relationship", def.label),
            });
        }
    }
    Ok(())
}

/// `by_name` lists `def`'s property indexes in name order (see `Codec`).
pub fn observation(
    buf: &mut Vec<u8>,
    obs: &Observation,
    def: &ResourceDef,
    by_name: &[usize],
) -> Result<(), CodecError> {
    check_relationships(obs, def)?;
    put_scope(buf, &obs.scope, obs.epoch);
    put_long(buf, obs.observed_at);
    put_optional_long(buf, obs.previous_epoch);
    put_str(buf, obs.kind.as_str());
    put_str(buf, &obs.id);
    const ON_STACK: usize = 64;
    let n = def.properties.len();
    let (mut stack, mut heap) = ([None; ON_STACK], Vec::new());
    let slots: &mut [Option<&Value>] = if n <= ON_STACK {
        &mut stack[..n]
    } else {
        heap.resize(n, None);
        &mut heap
    };
    place(obs, def, by_name, slots)?;
    for (p, slot) in def.properties.iter().zip(slots.iter()) {
        match slot.map(|v| (v, v.ty())) {
            None | Some((_, None)) => put_long(buf, 0),
            Some((v, Some(ty))) if ty == p.ty => {
                put_long(buf, 1);
                put_typed(buf, v);
            }
            Some((v, Some(_))) => {
                let reason = format!("expected {}, got {}", p.ty.avro_name(), v.type_name());
                return Err(CodecError::Encode {
                    field: p.name.to_owned(),
                    reason,
                });
            }
        }
    }
    put_relationships(buf, obs.relationships.iter());
    put_kind(buf, obs.sync_kind);
    put_relationships(buf, obs.retracted.iter());
    put_bool(buf, obs.gone);
    Ok(())
}

/// Puts each of the observation's properties into its declared slot, by
/// walking the name-sorted properties beside the name-sorted declaration
/// once: a map lookup per declared property cost most of the encoding.
fn place<'a>(
    obs: &'a Observation,
    def: &ResourceDef,
    by_name: &[usize],
    slots: &mut [Option<&'a Value>],
) -> Result<(), CodecError> {
    let mut props = obs.properties.iter().peekable();
    for &i in by_name {
        let declared = def.properties[i].name;
        let Some((name, value)) = props.peek() else {
            break;
        };
        match name.as_str().cmp(declared) {
            // Between the previous declared name and this one: undeclared.
            std::cmp::Ordering::Less => return Err(undeclared(obs, def)),
            std::cmp::Ordering::Equal => {
                slots[i] = Some(*value);
                props.next();
            }
            std::cmp::Ordering::Greater => {}
        }
    }
    match props.next() {
        Some(_) => Err(undeclared(obs, def)),
        None => Ok(()),
    }
}

pub fn sync_marker(buf: &mut Vec<u8>, m: &SyncMarker) {
    put_scope(buf, &m.scope, m.epoch);
    put_status(buf, m.status);
    put_reason(buf, m.reason.as_deref());
    put_block(buf, m.counts.iter(), |b, c| {
        put_str(b, &c.topic);
        put_long(b, i64::from(c.partition));
        put_long(b, c.count);
        put_long(b, c.last_offset);
    });
    put_long(buf, m.emitted_at);
    put_kind(buf, m.kind);
}

fn put_node_ref(buf: &mut Vec<u8>, n: &crate::records::NodeRef) {
    put_str(buf, n.kind.label());
    put_str(buf, &n.id);
}

fn put_edge_ref(buf: &mut Vec<u8>, e: &crate::records::EdgeRef) {
    put_str(buf, e.rel_type.as_str());
    put_node_ref(buf, &e.from);
    put_node_ref(buf, &e.to);
}

fn put_element(buf: &mut Vec<u8>, e: &Element) {
    match e {
        Element::Node(n) => {
            put_long(buf, 0);
            put_node_ref(buf, n);
        }
        Element::Edge(e) => {
            put_long(buf, 1);
            put_edge_ref(buf, e);
        }
    }
}

pub fn graph_change(buf: &mut Vec<u8>, change: &GraphChange) {
    match change {
        GraphChange::NodeUpsert(c) => {
            put_long(buf, 0);
            put_node_ref(buf, &c.node);
            put_scope(buf, &c.scope, c.epoch);
            put_long(buf, c.observed_at);
            put_map(buf, &c.properties);
            put_optional_long(buf, c.props_at);
        }
        GraphChange::EdgeUpsert(c) => {
            put_long(buf, 1);
            put_edge_ref(buf, &c.edge);
            put_scope(buf, &c.scope, c.epoch);
            put_long(buf, c.observed_at);
            put_map(buf, &c.properties);
            put_optional_long(buf, c.props_at);
        }
        GraphChange::Touch(c) => {
            put_long(buf, 2);
            put_element(buf, &c.element);
            put_scope(buf, &c.scope, c.epoch);
        }
        GraphChange::Delete(c) => {
            put_long(buf, 3);
            put_element(buf, &c.element);
            put_scope(buf, &c.scope, c.epoch);
        }
        GraphChange::SyncBarrier(c) => {
            put_long(buf, 4);
            put_scope(buf, &c.scope, c.epoch);
            put_status(buf, c.status);
            put_reason(buf, c.reason.as_deref());
            put_kind(buf, c.kind);
        }
    }
}
