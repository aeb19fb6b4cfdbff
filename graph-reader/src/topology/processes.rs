//! Processes grouped by host, and hosts: who talks to whom, resolved the
//! way the README's query does it: a client's `CONNECTS_TO` endpoint is
//! one a server `LISTENS_ON`, whichever hosts they run on.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use infragraph_schemas::{NodeRef, RelType, ResourceKind};

use super::{Reads, View, ViewEdge, graph_node, listeners, view_id};
use crate::error::ReadError;
use crate::names::{HOST_ID, PID};
use crate::request::TopologyRequest;
use crate::store::EdgeRow;

/// The relationship a process-to-process edge stands for.
pub const TALKS_TO: &str = RelType::ConnectsTo.as_str();

pub(super) async fn processes(reads: &Reads<'_>, req: &TopologyRequest) -> Result<View, ReadError> {
    let host = req.host.as_deref();
    let (hosts, procs, (listens, connects)) = futures::try_join!(
        reads.nodes(ResourceKind::Host, host),
        reads.nodes(ResourceKind::Process, host),
        endpoint_edges(reads),
    )?;
    let mut view = View::default();
    view.nodes.extend(hosts.iter().map(graph_node));
    for p in &procs {
        let mut n = graph_node(p);
        n.parent = p.string(HOST_ID).map(|h| view_id(ResourceKind::Host, h));
        n.detail = p.properties.get(PID).map(|pid| format!("pid {pid}"));
        view.nodes.push(n);
    }
    let shown: HashSet<&str> = procs.iter().map(|p| p.id.as_str()).collect();
    for (client, server) in links(&listens, &connects) {
        if shown.contains(client.id.as_str()) && shown.contains(server.id.as_str()) {
            view.edges.push(ViewEdge::new(
                TALKS_TO,
                view_id(client.kind, &client.id),
                view_id(server.kind, &server.id),
            ));
        }
    }
    Ok(view)
}

pub(super) async fn hosts(reads: &Reads<'_>, req: &TopologyRequest) -> Result<View, ReadError> {
    let hosts = reads.nodes(ResourceKind::Host, req.host.as_deref()).await?;
    let runs_on = reads
        .edges(RelType::RunsOn, ResourceKind::Process, ResourceKind::Host)
        .await?;
    let (listens, connects) = endpoint_edges(reads).await?;
    let host_of: BTreeMap<&str, &str> = runs_on
        .iter()
        .map(|e| (e.from.id.as_str(), e.to.id.as_str()))
        .collect();
    let mut pairs: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (client, server) in links(&listens, &connects) {
        if let (Some(a), Some(b)) = (
            host_of.get(client.id.as_str()),
            host_of.get(server.id.as_str()),
        ) && a != b
        {
            *pairs.entry((a, b)).or_insert(0) += 1;
        }
    }
    let mut view = View::default();
    view.nodes.extend(hosts.iter().map(graph_node));
    for ((a, b), n) in pairs {
        let mut e = ViewEdge::new(
            TALKS_TO,
            view_id(ResourceKind::Host, a),
            view_id(ResourceKind::Host, b),
        );
        e.count = n;
        view.edges.push(e);
    }
    Ok(view)
}

async fn endpoint_edges(reads: &Reads<'_>) -> Result<(Vec<EdgeRow>, Vec<EdgeRow>), ReadError> {
    futures::try_join!(
        reads.edges(
            RelType::ListensOn,
            ResourceKind::Process,
            ResourceKind::Endpoint
        ),
        reads.edges(
            RelType::ConnectsTo,
            ResourceKind::Process,
            ResourceKind::Endpoint
        ),
    )
}

/// (client, server) for every connection whose endpoint has a listener;
/// a process talking to itself is left out.
pub(super) fn links<'a>(
    listens: &'a [EdgeRow],
    connects: &'a [EdgeRow],
) -> BTreeSet<(&'a NodeRef, &'a NodeRef)> {
    let servers = listeners(listens);
    let mut out = BTreeSet::new();
    for c in connects {
        for s in servers.get(c.to.id.as_str()).into_iter().flatten() {
            if **s != c.from {
                out.insert((&c.from, *s));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(rel: RelType, from: &str, to: &str) -> EdgeRow {
        EdgeRow {
            rel,
            from: NodeRef {
                kind: ResourceKind::Process,
                id: from.into(),
            },
            to: NodeRef {
                kind: ResourceKind::Endpoint,
                id: to.into(),
            },
            firstseen: None,
            lastupdated: None,
        }
    }

    #[test]
    fn a_connection_joins_client_to_every_listener_of_its_endpoint() {
        let listens = [
            edge(RelType::ListensOn, "b/1", "tcp://10.0.0.2:80"),
            edge(RelType::ListensOn, "b/2", "tcp://10.0.0.2:80"),
        ];
        let connects = [
            edge(RelType::ConnectsTo, "a/1", "tcp://10.0.0.2:80"),
            edge(RelType::ConnectsTo, "a/1", "tcp://10.9.9.9:443"),
            edge(RelType::ConnectsTo, "b/1", "tcp://10.0.0.2:80"),
        ];
        let got: Vec<(&str, &str)> = links(&listens, &connects)
            .into_iter()
            .map(|(c, s)| (c.id.as_str(), s.id.as_str()))
            .collect();
        assert_eq!(got, vec![("a/1", "b/1"), ("a/1", "b/2"), ("b/1", "b/2")]);
    }
}
