//! Two simulated hosts, each in its own network and PID namespace, joined
//! by a veth pair: a client on one dials a server on the other, one
//! collector per "host" reads that namespace's proc, and both name the same
//! server endpoint. Needs root (CI runs as root); skipped otherwise.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use infragraph_collector_procfs::{ProcfsCollector, ProcfsConfig};
use infragraph_schemas::{RelType, ResourceKind};
use infragraph_test_support::hosts::{self, TwoHosts, ns_init, ns_proc_root};

fn collector(host: &str, proc_root: std::path::PathBuf) -> ProcfsCollector {
    ProcfsCollector::new(ProcfsConfig {
        host_id: Some(host.to_owned()),
        proc_root,
        ..ProcfsConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn two_hosts_in_namespaces_name_the_same_server_endpoint() {
    if !hosts::root_or_skip() {
        return;
    }
    let net = TwoHosts::new("igt", "10.231.0");
    let mut server = net.python(1, SERVER_ANY, &[]);
    let port = server.line();
    let mut client = net.python(0, CLIENT, &["10.231.0.2", &port]);
    assert_eq!(client.line(), "connected");
    assert_eq!(server.line(), "accepted");

    let host_a = infragraph_test_support::unique("sim-a");
    let host_b = infragraph_test_support::unique("sim-b");
    let a = sync_once(&collector(&host_a, ns_proc_root(ns_init(client.pid())))).await;
    let b = sync_once(&collector(&host_b, ns_proc_root(ns_init(server.pid())))).await;

    let ep = format!("tcp://10.231.0.2:{port}");
    // Each collector sees only its own namespace: pid 1 is the python there.
    let client_proc = process(&a, 1);
    let server_proc = process(&b, 1);
    assert_eq!(client_proc.id.split('/').next(), Some(host_a.as_str()));
    assert_eq!(
        a.iter().filter(|o| o.kind == ResourceKind::Process).count(),
        1,
        "only the namespace's processes"
    );
    assert_eq!(targets(client_proc, RelType::ConnectsTo), vec![ep.as_str()]);
    assert!(
        targets(server_proc, RelType::ListensOn).contains(&ep.as_str()),
        "{:?}",
        targets(server_proc, RelType::ListensOn)
    );
    assert!(
        targets(server_proc, RelType::ConnectsTo).is_empty(),
        "the accepted connection is inbound"
    );
    assert!(
        endpoint(&a, &ep).is_some() && endpoint(&b, &ep).is_some(),
        "both sides observe {ep}"
    );
    assert_eq!(
        endpoint(&b, &ep).and_then(|e| e.properties.get("host_id")),
        None,
        "a routable address is not host-scoped"
    );
    // The wildcard itself stays scoped to its host.
    assert!(
        targets(server_proc, RelType::ListensOn)
            .contains(&format!("tcp://0.0.0.0:{port}@{host_b}").as_str())
    );
    let host_ips = b
        .iter()
        .find(|o| o.kind == ResourceKind::Host)
        .and_then(|h| h.properties.get("ip_addresses"))
        .cloned();
    assert_eq!(host_ips, Some(vec!["10.231.0.2".to_owned()].into()));
    drop((client, server));
}
