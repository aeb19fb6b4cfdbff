//! The contract between infragraph's stages.
//!
//! # Layout
//! - [`registry`]: every resource type, graph label, property and relationship
//!   type, declared once. Everything else (Avro schemas, Cypher, cleanup,
//!   documentation tables) is derived from it.
//! - [`value`]: the typed property values that travel on the wire, and
//!   [`properties`]: the name-sorted map of them every record carries.
//! - [`records`]: the three record families: [`Observation`] (what a
//!   collector saw), [`SyncMarker`] (a collector's sync started/ended) and
//!   [`GraphChange`] (what the graph should say).
//! - [`avro`]: Avro schemas generated from the registry, and the
//!   single-object wire encoding with schema resolution.
//! - [`topics`]: topic names, optionally in a namespace of their own.
//! - [`docs`]: the registry rendered as Markdown tables.

pub mod avro;
pub mod docs;
pub mod properties;
pub mod records;
pub mod registry;
pub mod testing;
pub mod topics;
pub mod value;

pub use avro::{Codec, CodecError, Decoded};
pub use properties::Properties;
pub use records::{
    Delete, EdgeRef, EdgeUpsert, Element, GraphChange, NodeRef, NodeUpsert, Observation,
    Relationship, ScopeRef, SyncBarrier, SyncKind, SyncMarker, SyncStatus, TopicCount, Touch,
};
pub use registry::{
    Direction, Merge, PropertyDef, PropertyType, RelType, RelationshipDef, ResourceDef,
    ResourceKind, ScopeKind,
};
pub use topics::Topics;
pub use value::Value;

/// Topic carrying collectors' sync markers.
pub const SYNC_TOPIC: &str = "infragraph.sync";
/// Topic carrying the normalizer's graph changes, read by the graph writer
/// and by any downstream consumer.
pub const GRAPH_CHANGES_TOPIC: &str = "infragraph.graph.changes";
/// Topic carrying messages no stage could process, with the reason.
pub const DEADLETTER_TOPIC: &str = "infragraph.deadletter";
/// Compacted topic of every writer schema, keyed by fingerprint, so a reader
/// can decode messages from writers newer than itself.
pub const SCHEMAS_TOPIC: &str = "infragraph.schemas";
