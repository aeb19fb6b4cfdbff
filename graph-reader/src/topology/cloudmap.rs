//! Cloud Map: namespaces hold their services, services their instances,
//! and an instance registered at an `ip:port` is joined to the process
//! listening there (`HAS_ENDPOINT` meets `LISTENS_ON` at one Endpoint), so
//! what is registered and what really serves it are one picture. Service
//! to service edges are the drift report's rows: each declared dependency
//! says whether traffic confirms it, and traffic nobody declared is drawn
//! too.

use std::collections::{BTreeMap, HashSet};

use infragraph_schemas::{RelType, ResourceKind as K};

use super::{Reads, View, ViewEdge, graph_node, listeners, view_id};
use crate::drift::{self, Drift};
use crate::error::ReadError;
use crate::names::{HOST_ID, PID};

/// What an instance-to-process edge means.
pub const SERVED_BY: &str = "SERVED_BY";

/// What a service-to-service edge nothing declares means: a process
/// serving the source connects to an endpoint of the target.
pub const CALLS: &str = "CALLS";

pub(super) async fn cloudmap(reads: &Reads<'_>) -> Result<View, ReadError> {
    let mut view = View::default();
    let parent_of = parents(reads).await?;
    for kind in [
        K::CloudMapNamespace,
        K::CloudMapService,
        K::CloudMapInstance,
    ] {
        for row in reads.nodes(kind, None).await? {
            let mut n = graph_node(&row);
            n.parent = parent_of.get(&n.id).cloned();
            view.nodes.push(n);
        }
    }
    dependencies(reads, &mut view).await?;
    serving(reads, &mut view).await?;
    Ok(view)
}

/// One edge per row of the drift report: `DEPENDS_ON` when declared
/// (confirmed or stale), [`CALLS`] when only observed; an observed edge
/// counts the connections that show it.
async fn dependencies(reads: &Reads<'_>, view: &mut View) -> Result<(), ReadError> {
    let report = drift::report(reads.store, None, infragraph_telemetry::now_ms()).await?;
    for (set, row) in report.rows() {
        let rel = match set {
            Drift::Undeclared => CALLS,
            Drift::Confirmed | Drift::Stale => RelType::DependsOn.as_str(),
        };
        let (from, to) = (&row.from.id, &row.to.id);
        let mut edge = ViewEdge::new(
            rel,
            view_id(K::CloudMapService, from),
            view_id(K::CloudMapService, to),
        );
        edge.count = row.connections.len().max(1);
        edge.drift = Some(set);
        view.edges.push(edge);
    }
    Ok(())
}

/// Service → namespace and instance → service, as view ids.
async fn parents(reads: &Reads<'_>) -> Result<BTreeMap<String, String>, ReadError> {
    let mut parent_of = BTreeMap::new();
    for (rel, from, to) in [
        (
            RelType::InNamespace,
            K::CloudMapService,
            K::CloudMapNamespace,
        ),
        (
            RelType::RegisteredTo,
            K::CloudMapInstance,
            K::CloudMapService,
        ),
    ] {
        for e in reads.edges(rel, from, to).await? {
            parent_of.insert(
                view_id(e.from.kind, &e.from.id),
                view_id(e.to.kind, &e.to.id),
            );
        }
    }
    Ok(parent_of)
}

/// The processes listening where instances are registered, with their
/// hosts, and an instance → process edge for each.
async fn serving(reads: &Reads<'_>, view: &mut View) -> Result<(), ReadError> {
    let registered = reads
        .edges(RelType::HasEndpoint, K::CloudMapInstance, K::Endpoint)
        .await?;
    if registered.is_empty() {
        return Ok(());
    }
    let listens = reads
        .edges(RelType::ListensOn, K::Process, K::Endpoint)
        .await?;
    let servers = listeners(&listens);
    let mut wanted: HashSet<&str> = HashSet::new();
    for e in &registered {
        for p in servers.get(e.to.id.as_str()).into_iter().flatten() {
            wanted.insert(p.id.as_str());
            view.edges.push(ViewEdge::new(
                SERVED_BY,
                view_id(e.from.kind, &e.from.id),
                view_id(p.kind, &p.id),
            ));
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let mut hosts: HashSet<String> = HashSet::new();
    for p in reads
        .nodes(K::Process, None)
        .await?
        .iter()
        .filter(|p| wanted.contains(p.id.as_str()))
    {
        let mut n = graph_node(p);
        n.parent = p.string(HOST_ID).map(|h| view_id(K::Host, h));
        n.detail = p.properties.get(PID).map(|pid| format!("pid {pid}"));
        hosts.extend(p.string(HOST_ID).map(str::to_owned));
        view.nodes.push(n);
    }
    let all_hosts = reads.nodes(K::Host, None).await?;
    view.nodes.extend(
        all_hosts
            .iter()
            .filter(|h| hosts.contains(&h.id))
            .map(graph_node),
    );
    Ok(())
}
