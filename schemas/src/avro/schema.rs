//! Avro schemas, generated from the registry. The `.avsc` files under
//! `schemas/avro/` are these, written out; a test fails if they drift.

use serde_json::{Value as Json, json};

use crate::records::{SyncKind, SyncStatus};
use crate::registry::{PropertyType, ResourceDef};

pub const OBSERVATION_NAMESPACE: &str = "infragraph.obs";
pub const SYNC_MARKER_NAME: &str = "infragraph.SyncMarker";
pub const GRAPH_CHANGE_NAME: &str = "infragraph.GraphChange";

/// The union every free-form value (relationship and graph-change
/// properties) is encoded as. Branch order is part of the wire format.
pub fn value_union() -> Json {
    json!(["null", "boolean", "long", "double", "string", {"type": "array", "items": "string"}])
}

fn property_type(ty: PropertyType) -> Json {
    match ty {
        PropertyType::StringList => json!({"type": "array", "items": "string"}),
        other => json!(other.avro_name()),
    }
}

fn field(name: &str, ty: Json, doc: &str) -> Json {
    json!({"name": name, "type": ty, "doc": doc})
}

fn scope_fields() -> [Json; 3] {
    [
        field(
            "source",
            json!("string"),
            "Collector that asserts this (e.g. procfs)",
        ),
        field(
            "scope",
            json!("string"),
            "What that collector's sync covers (e.g. host:<id>)",
        ),
        field("epoch", json!("long"), "Unix ms when the sync started"),
    ]
}

fn value_map() -> Json {
    json!({"type": "map", "values": value_union()})
}

fn status_enum() -> Json {
    let symbols: Vec<&str> = SyncStatus::ALL.iter().map(|s| s.as_str()).collect();
    json!({"type": "enum", "name": "SyncStatus", "namespace": "infragraph", "symbols": symbols})
}

fn kind_enum() -> Json {
    let symbols: Vec<&str> = SyncKind::ALL.iter().map(|s| s.as_str()).collect();
    json!({"type": "enum", "name": "SyncKind", "namespace": "infragraph", "symbols": symbols, "default": SyncKind::default().as_str()})
}

/// The sync kind, defaulting for writers that predate it to what they
/// meant: a sync that re-asserts everything.
fn kind_field(name: &str, ty: Json) -> Json {
    json!({"name": name, "type": ty, "default": SyncKind::default().as_str(),
        "doc": "DELTA: only differences, vanished things retracted; RECONCILIATION: everything re-asserted, the rest cleaned up"})
}

fn optional_reason() -> Json {
    json!({"name": "reason", "type": ["null", "string"], "default": null, "doc": "Why the sync failed"})
}

/// The observation schema of one resource type: a common envelope whose
/// `properties` record is typed by the registry.
pub fn observation(def: &ResourceDef) -> Json {
    let properties: Vec<Json> = def
        .properties
        .iter()
        .map(|p| json!({"name": p.name, "type": ["null", property_type(p.ty)], "default": null, "doc": p.doc}))
        .collect();
    let relationship = json!({
        "type": "record", "name": "Relationship", "namespace": "infragraph",
        "fields": [
            field("type", json!("string"), "Relationship type from the registry"),
            field("target_id", json!("string"), "Id of the resource at the other end"),
            field("properties", value_map(), "Properties of the relationship"),
        ]
    });
    let [source, scope, epoch] = scope_fields();
    json!({
        "type": "record",
        "name": def.label,
        "namespace": OBSERVATION_NAMESPACE,
        "doc": format!("Observation of a {}: {}", def.label, def.doc),
        "fields": [
            source, scope, epoch,
            field("observed_at", json!("long"), "Unix ms when the resource was looked at"),
            json!({"name": "previous_epoch", "type": ["null", "long"], "default": null, "doc": "Epoch of the collector's previous sync of this scope"}),
            field("resource_type", json!("string"), "Registry name of the resource type"),
            field("id", json!("string"), "Stable id of the resource"),
            field("properties", json!({"type": "record", "name": format!("{}Properties", def.label), "fields": properties}), "Typed properties; null means not observed"),
            field("relationships", json!({"type": "array", "items": relationship}), "Relationships this resource asserts"),
            kind_field("sync_kind", kind_enum()),
            json!({"name": "retracted", "type": {"type": "array", "items": "infragraph.Relationship"}, "default": [],
                "doc": "Relationships this resource asserted in the scope's previous sync and no longer does"}),
            json!({"name": "gone", "type": "boolean", "default": false,
                "doc": "The scope no longer sees this resource; retracted lists its relationships"}),
        ]
    })
}

pub fn sync_marker() -> Json {
    let [source, scope, epoch] = scope_fields();
    let count = json!({
        "type": "record", "name": "TopicCount", "namespace": "infragraph",
        "fields": [
            field("topic", json!("string"), "Observation topic"),
            field("partition", json!("int"), "Partition of that topic"),
            field("count", json!("long"), "Observations of this sync delivered there"),
            field("last_offset", json!("long"), "Offset of the sync's last observation there"),
        ]
    });
    json!({
        "type": "record", "name": "SyncMarker", "namespace": "infragraph",
        "doc": "A collector's sync started, completed or failed",
        "fields": [
            source, scope, epoch,
            field("status", status_enum(), "Where the sync stands"),
            optional_reason(),
            field("counts", json!({"type": "array", "items": count}), "Observations per topic partition"),
            field("emitted_at", json!("long"), "Unix ms when the marker was emitted"),
            kind_field("kind", kind_enum()),
        ]
    })
}

pub fn graph_change() -> Json {
    let node_ref = json!({
        "type": "record", "name": "NodeRef", "namespace": "infragraph",
        "fields": [field("label", json!("string"), "Graph label from the registry"), field("id", json!("string"), "Node id")]
    });
    let edge_ref = json!({
        "type": "record", "name": "EdgeRef", "namespace": "infragraph",
        "fields": [
            field("type", json!("string"), "Relationship type from the registry"),
            field("from", json!("infragraph.NodeRef"), "Start node"),
            field("to", json!("infragraph.NodeRef"), "End node"),
        ]
    });
    let elem = json!(["infragraph.NodeRef", "infragraph.EdgeRef"]);
    let [source, scope, epoch] = scope_fields();
    let observed_at = field(
        "observed_at",
        json!("long"),
        "Unix ms of the newest observation merged in",
    );
    let props = field("properties", value_map(), "Properties to set");
    let props_at = json!({"name": "props_at", "type": ["null", "long"], "default": null,
        "doc": "Newest epoch the normalizer sent for this element; the properties apply unless the graph holds newer (null: epoch)"});
    let record = |name: &str, doc: &str, fields: Vec<Json>| json!({"type": "record", "name": name, "namespace": "infragraph", "doc": doc, "fields": fields});
    let branches = json!([
        record(
            "NodeUpsert",
            "Create or update a node",
            vec![
                field("node", node_ref, "The node"),
                source.clone(),
                scope.clone(),
                epoch.clone(),
                observed_at.clone(),
                props.clone(),
                props_at.clone()
            ]
        ),
        record(
            "EdgeUpsert",
            "Create or update a relationship",
            vec![
                field("edge", edge_ref, "The relationship"),
                source.clone(),
                scope.clone(),
                epoch.clone(),
                observed_at,
                props,
                props_at
            ]
        ),
        record(
            "Touch",
            "Seen unchanged in this epoch",
            vec![
                field("element", elem.clone(), "Node or relationship"),
                source.clone(),
                scope.clone(),
                epoch.clone()
            ]
        ),
        record(
            "Delete",
            "No longer asserted by this scope",
            vec![
                field("element", elem, "Node or relationship"),
                source.clone(),
                scope.clone(),
                epoch.clone()
            ]
        ),
        record(
            "SyncBarrier",
            "Every change of this sync precedes this record",
            vec![
                source,
                scope,
                epoch,
                field("status", status_enum(), "Completed or failed"),
                optional_reason(),
                kind_field("kind", kind_enum())
            ]
        ),
    ]);
    json!({
        "type": "record", "name": "GraphChange", "namespace": "infragraph",
        "doc": "One change the graph should apply",
        "fields": [
            field("change", branches, "The change"),
        ]
    })
}
