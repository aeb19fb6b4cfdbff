//! The GitHub part of the graph as the registry declares it: every GitHub
//! label, and every relationship the registry lets them assert. The scans
//! (a few labels, some thirty relationship shapes) run at once.

use futures::future::try_join_all;
use infragraph_schemas::{ResourceKind, ScopeKind};

use super::{Reads, View, ViewEdge, graph_node, view_id};
use crate::error::ReadError;

pub(super) async fn github(reads: &Reads<'_>) -> Result<View, ReadError> {
    let kinds: Vec<ResourceKind> = ResourceKind::ALL
        .iter()
        .copied()
        .filter(|k| k.def().scope == ScopeKind::GitHubOrg)
        .collect();
    let shapes: Vec<_> = kinds
        .iter()
        .flat_map(|k| {
            k.def()
                .relationships
                .iter()
                .map(move |r| (r.rel_type, *k, r.target))
        })
        .collect();
    let (nodes, edges) = futures::try_join!(
        try_join_all(kinds.iter().map(|k| reads.nodes(*k, None))),
        try_join_all(
            shapes
                .iter()
                .map(|(rel, from, to)| reads.edges(*rel, *from, *to))
        ),
    )?;
    let mut view = View::default();
    view.nodes.extend(nodes.iter().flatten().map(graph_node));
    for e in edges.iter().flatten() {
        let (a, b) = (
            view_id(e.from.kind, &e.from.id),
            view_id(e.to.kind, &e.to.id),
        );
        view.edges.push(ViewEdge::new(e.rel.as_str(), a, b));
    }
    Ok(view)
}
