//! The GitHub part of the graph as the registry declares it: every GitHub
//! label, and every relationship the registry lets them assert.

use infragraph_schemas::{ResourceKind, ScopeKind};

use super::{Reads, View, ViewEdge, graph_node, view_id};
use crate::error::ReadError;

pub(super) async fn github(reads: &mut Reads<'_>) -> Result<View, ReadError> {
    let kinds: Vec<ResourceKind> = ResourceKind::ALL
        .iter()
        .copied()
        .filter(|k| k.def().scope == ScopeKind::GitHubOrg)
        .collect();
    let mut view = View::default();
    for kind in &kinds {
        view.nodes
            .extend(reads.nodes(*kind, None).await?.iter().map(graph_node));
        for rel in kind.def().relationships {
            for e in reads.edges(rel.rel_type, *kind, rel.target).await? {
                let (a, b) = (
                    view_id(e.from.kind, &e.from.id),
                    view_id(e.to.kind, &e.to.id),
                );
                view.edges.push(ViewEdge::new(rel.rel_type.as_str(), a, b));
            }
        }
    }
    Ok(view)
}
