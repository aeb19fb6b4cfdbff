//! Topologies: what the page draws, built from bounded reads of either
//! store. Each builder turns rows into a [`View`]; [`shape`] then applies
//! the request's search, label filter, aggregation and limit, the same for
//! every topology.
//!
//! # Layout
//! - this file: [`View`] and its parts, [`build`] (dispatch), bounded scans.
//! - [`processes`]: processes by host, and hosts, joined through endpoints.
//! - [`cloudmap`]: Cloud Map namespaces, services, instances and the
//!   processes that serve them.
//! - [`github`]: the GitHub part of the graph as it is.
//! - [`shape`]: filter, aggregate, limit.

mod cloudmap;
mod github;
mod processes;
mod shape;

use std::sync::atomic::{AtomicBool, Ordering};

use infragraph_schemas::{NodeRef, RelType, ResourceKind};
use serde::Serialize;

use crate::drift::Drift;
use crate::error::ReadError;
use crate::names::display_property;
use crate::request::{Topology, TopologyRequest};
use crate::store::{EdgeRow, EdgeScan, GraphStore, NodeRow, NodeScan};

/// Rows one scan reads at most (per label or relationship shape). A
/// graph larger than this is drawn from its first rows and marked
/// `truncated`.
pub const SCAN_LIMIT: usize = 50_000;

/// One topology, ready to draw.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct View {
    pub topology: &'static str,
    pub nodes: Vec<ViewNode>,
    pub edges: Vec<ViewEdge>,
    /// Nodes before aggregation and the limit.
    pub total_nodes: usize,
    /// Not everything matching is drawn: a scan or the limit cut it short.
    pub truncated: bool,
    /// How nodes were grouped (`name`, `host`), if they were.
    pub aggregated: Option<&'static str>,
}

/// A node of a view: a graph node, a group of them, or a box holding
/// others (a host around its processes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ViewNode {
    /// Unique in the view: `Label:id` for graph nodes.
    pub id: String,
    /// The registry label, or `ProcessGroup` for an aggregate.
    pub kind: &'static str,
    pub name: String,
    /// A second line: a pid, a port, a count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The view node drawn around this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Graph nodes an aggregate stands for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// The graph node, for `/api/node`; absent on aggregates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeKey>,
    /// Properties the page shows and searches without asking again.
    #[serde(skip)]
    pub search_text: String,
}

/// A graph node's label and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeKey {
    pub label: &'static str,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ViewEdge {
    pub id: String,
    pub source: String,
    pub target: String,
    /// The relationship type, or what a joined edge means (`CONNECTS_TO`
    /// between processes: client to server).
    pub rel: &'static str,
    /// Relationships this edge stands for (connections between two groups).
    pub count: usize,
    /// For a dependency between services: which set of the drift report
    /// it is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
}

impl ViewEdge {
    pub fn new(rel: &'static str, source: String, target: String) -> Self {
        ViewEdge {
            id: format!("{rel}:{source}->{target}"),
            source,
            target,
            rel,
            count: 1,
            drift: None,
        }
    }
}

/// The view id of a graph node.
pub fn view_id(kind: ResourceKind, id: &str) -> String {
    format!("{}:{id}", kind.label())
}

/// A view node for a graph node, named by its display property.
pub fn graph_node(row: &NodeRow) -> ViewNode {
    let name = display_property(row.kind)
        .and_then(|p| row.string(p))
        .unwrap_or(&row.id)
        .to_owned();
    ViewNode {
        id: view_id(row.kind, &row.id),
        kind: row.kind.label(),
        search_text: format!("{} {}", name.to_lowercase(), row.id.to_lowercase()),
        name,
        detail: None,
        parent: None,
        count: None,
        node: Some(NodeKey {
            label: row.kind.label(),
            id: row.id.clone(),
        }),
    }
}

/// Builds the view `req` asks for.
pub async fn build(store: &GraphStore, req: &TopologyRequest) -> Result<View, ReadError> {
    let reads = Reads {
        store,
        truncated: AtomicBool::new(false),
    };
    let raw = match req.topology {
        Topology::Processes => processes::processes(&reads, req).await?,
        Topology::Hosts => processes::hosts(&reads, req).await?,
        Topology::CloudMap => cloudmap::cloudmap(&reads).await?,
        Topology::GitHub => github::github(&reads).await?,
    };
    let mut view = shape::shape(raw, req);
    view.topology = req.topology.name();
    view.truncated |= reads.truncated.load(Ordering::Relaxed);
    Ok(view)
}

/// Bounded scans, remembering whether any was cut short.
struct Reads<'a> {
    store: &'a GraphStore,
    truncated: AtomicBool,
}

impl Reads<'_> {
    async fn nodes(
        &self,
        kind: ResourceKind,
        host: Option<&str>,
    ) -> Result<Vec<NodeRow>, ReadError> {
        let scan = NodeScan {
            kind,
            host: host.map(str::to_owned),
            limit: SCAN_LIMIT + 1,
        };
        let mut rows = self.store.nodes(&scan).await?;
        self.cut(&mut rows);
        Ok(rows)
    }

    async fn edges(
        &self,
        rel: RelType,
        from: ResourceKind,
        to: ResourceKind,
    ) -> Result<Vec<EdgeRow>, ReadError> {
        let mut rows = self
            .store
            .edges(&EdgeScan {
                rel,
                from,
                to,
                limit: SCAN_LIMIT + 1,
            })
            .await?;
        self.cut(&mut rows);
        Ok(rows)
    }

    fn cut<T>(&self, rows: &mut Vec<T>) {
        if rows.len() > SCAN_LIMIT {
            rows.truncate(SCAN_LIMIT);
            self.truncated.store(true, Ordering::Relaxed);
        }
    }
}

/// Endpoint id → the processes listening on it.
fn listeners(listens: &[EdgeRow]) -> std::collections::HashMap<&str, Vec<&NodeRef>> {
    let mut map: std::collections::HashMap<&str, Vec<&NodeRef>> = std::collections::HashMap::new();
    for e in listens {
        map.entry(e.to.id.as_str()).or_default().push(&e.from);
    }
    map
}
