//! One node as the page's side panel shows it: its properties, when it was
//! first seen and last updated, and its neighbours.

use infragraph_schemas::ResourceKind;
use serde::Serialize;

use crate::error::ReadError;
use crate::names::display_property;
use crate::request::MAX_LIMIT;
use crate::store::{GraphStore, NeighbourRow, Props};

/// Neighbours listed when the request names no limit.
pub const DEFAULT_NEIGHBOURS: usize = 200;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeDetails {
    pub label: &'static str,
    pub id: String,
    pub name: String,
    /// Unix ms.
    pub firstseen: Option<i64>,
    pub lastupdated: Option<i64>,
    pub properties: Props,
    pub neighbours: Vec<Neighbour>,
    /// More neighbours exist than listed.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Neighbour {
    pub rel: &'static str,
    /// `out`: this node → the neighbour; `in`: the neighbour → this node.
    pub direction: &'static str,
    pub label: &'static str,
    pub id: String,
    pub name: String,
    pub firstseen: Option<i64>,
    pub lastupdated: Option<i64>,
}

/// The node `label`/`id` and up to `limit` of its neighbours.
pub async fn details(
    store: &GraphStore,
    label: &str,
    id: &str,
    limit: usize,
) -> Result<NodeDetails, ReadError> {
    let kind = ResourceKind::from_label(label)
        .map_err(|_| ReadError::bad(format!("unknown label {label:?}")))?;
    if id.is_empty() || id.len() > 4096 {
        return Err(ReadError::bad("id must be 1 to 4096 bytes"));
    }
    let limit = limit.clamp(1, MAX_LIMIT);
    let node = store
        .node(kind, id)
        .await?
        .ok_or_else(|| ReadError::NotFound(format!("no {label} with id {id:?}")))?;
    let mut rows = store.neighbours(kind, id, limit + 1).await?;
    let truncated = rows.len() > limit;
    rows.truncate(limit);
    Ok(NodeDetails {
        label: kind.label(),
        name: name_of(kind, &node.properties, &node.id),
        id: node.id,
        firstseen: node.firstseen,
        lastupdated: node.lastupdated,
        properties: node.properties,
        neighbours: rows.into_iter().map(neighbour).collect(),
        truncated,
    })
}

fn name_of(kind: ResourceKind, props: &Props, id: &str) -> String {
    display_property(kind)
        .and_then(|p| props.get(p))
        .and_then(|v| v.as_str())
        .unwrap_or(id)
        .to_owned()
}

fn neighbour(r: NeighbourRow) -> Neighbour {
    Neighbour {
        rel: r.edge.rel.as_str(),
        direction: if r.outgoing { "out" } else { "in" },
        label: r.node.kind.label(),
        name: name_of(r.node.kind, &r.node.properties, &r.node.id),
        id: r.node.id,
        firstseen: r.edge.firstseen,
        lastupdated: r.edge.lastupdated,
    }
}
