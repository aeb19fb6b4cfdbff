//! One handle over either store: the embedded SQLite file or Neo4j over
//! Bolt. Every read is bounded by a limit the caller passes; none scans
//! more than it returns plus one row (to tell a truncated answer).
//!
//! # Layout
//! - this file: [`GraphStore`], what a read returns, and dispatch.
//! - [`embedded`]: the SQL for the embedded store.
//! - [`neo4j`]: the Cypher for Neo4j; labels and relationship types come
//!   from the registry, every value is a parameter.

mod embedded;
mod neo4j;

use std::collections::BTreeMap;
use std::path::Path;

use infragraph_schemas::{NodeRef, RelType, ResourceKind};
use serde::Serialize;

use crate::drift::Facts;
use crate::error::ReadError;

pub use embedded::Embedded;
pub use neo4j::Neo4j;

/// Properties as the API sends them: JSON values, the writer's
/// bookkeeping (`_asserted_by`, …) left out.
pub type Props = serde_json::Map<String, serde_json::Value>;

/// A node as read.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    pub kind: ResourceKind,
    pub id: String,
    pub firstseen: Option<i64>,
    pub lastupdated: Option<i64>,
    pub properties: Props,
}

impl NodeRow {
    pub fn string(&self, name: &str) -> Option<&str> {
        self.properties.get(name).and_then(|v| v.as_str())
    }

    pub fn node_ref(&self) -> NodeRef {
        NodeRef {
            kind: self.kind,
            id: self.id.clone(),
        }
    }
}

/// A relationship as read, without its properties (the views need none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeRow {
    pub rel: RelType,
    pub from: NodeRef,
    pub to: NodeRef,
    pub firstseen: Option<i64>,
    pub lastupdated: Option<i64>,
}

/// A relationship of a node and the node at its other end.
#[derive(Debug, Clone, PartialEq)]
pub struct NeighbourRow {
    pub edge: EdgeRow,
    /// The relationship points away from the node asked about.
    pub outgoing: bool,
    pub node: NodeRow,
}

/// Nodes of one label, at most `limit`, in id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeScan {
    pub kind: ResourceKind,
    /// Only the host with this id, or nodes whose `host_id` is it.
    pub host: Option<String>,
    pub limit: usize,
}

/// Relationships of one shape, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeScan {
    pub rel: RelType,
    pub from: ResourceKind,
    pub to: ResourceKind,
    pub limit: usize,
}

/// What the graph holds, counted cheaply (Neo4j answers label and type
/// counts from its count store; SQLite from its indexes), and the newest
/// sync the writer recorded: together, a stamp that moves when the graph
/// changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Node count per label; labels with no nodes are left out.
    pub nodes: BTreeMap<String, u64>,
    /// Relationship count per type; types with none are left out.
    pub relationships: BTreeMap<String, u64>,
    /// The newest sync end (completed or failed) any scope recorded, Unix ms.
    pub last_sync: Option<i64>,
}

/// The graph to read.
#[derive(Clone)]
pub enum GraphStore {
    Embedded(Embedded),
    Neo4j(Neo4j),
}

impl GraphStore {
    /// The embedded store in `data_dir`, with connections of its own so
    /// reads run beside the writer (WAL).
    pub fn embedded(data_dir: &Path) -> Result<Self, ReadError> {
        Ok(GraphStore::Embedded(Embedded::open(data_dir)?))
    }

    /// Neo4j through an existing connection pool.
    pub fn neo4j(graph: neo4rs::Graph) -> Self {
        GraphStore::Neo4j(Neo4j::new(graph))
    }

    /// Which store this is, for the page's header and logs.
    pub fn describe(&self) -> &'static str {
        match self {
            GraphStore::Embedded(_) => "embedded store",
            GraphStore::Neo4j(_) => "Neo4j",
        }
    }

    pub async fn counts(&self) -> Result<Counts, ReadError> {
        match self {
            GraphStore::Embedded(s) => s.counts().await,
            GraphStore::Neo4j(s) => s.counts().await,
        }
    }

    pub async fn nodes(&self, scan: &NodeScan) -> Result<Vec<NodeRow>, ReadError> {
        match self {
            GraphStore::Embedded(s) => s.nodes(scan).await,
            GraphStore::Neo4j(s) => s.nodes(scan).await,
        }
    }

    pub async fn edges(&self, scan: &EdgeScan) -> Result<Vec<EdgeRow>, ReadError> {
        match self {
            GraphStore::Embedded(s) => s.edges(scan).await,
            GraphStore::Neo4j(s) => s.edges(scan).await,
        }
    }

    pub async fn node(&self, kind: ResourceKind, id: &str) -> Result<Option<NodeRow>, ReadError> {
        match self {
            GraphStore::Embedded(s) => s.node(kind, id).await,
            GraphStore::Neo4j(s) => s.node(kind, id).await,
        }
    }

    /// What the drift report is built from, for the services of
    /// `namespace` (name or id), or every service.
    pub async fn drift_facts(&self, namespace: Option<&str>) -> Result<Facts, ReadError> {
        match self {
            GraphStore::Embedded(s) => s.drift_facts(namespace.map(str::to_owned)).await,
            GraphStore::Neo4j(s) => s.drift_facts(namespace).await,
        }
    }

    /// At most `limit` relationships of the node, both directions.
    pub async fn neighbours(
        &self,
        kind: ResourceKind,
        id: &str,
        limit: usize,
    ) -> Result<Vec<NeighbourRow>, ReadError> {
        match self {
            GraphStore::Embedded(s) => s.neighbours(kind, id, limit).await,
            GraphStore::Neo4j(s) => s.neighbours(kind, id, limit).await,
        }
    }
}

/// Properties of the writer's own, never shown.
fn bookkeeping(name: &str) -> bool {
    infragraph_graph_writer::plan::RESERVED.contains(&name)
}
