//! The view's JSON API against both stores: every topology, the filters,
//! node details, the event stream delivering a change, and bad input
//! answered with a 4xx and a reason.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use infragraph_graph_reader::feed::poll;
use infragraph_graph_reader::{ChangeFeed, GraphStore, Notifying};
use infragraph_graph_writer::{BoltConfig, BoltSink, SqliteStore};
use infragraph_schemas::{RelType, ResourceKind as K, Value};
use serde_json::Value as J;
use tokio::sync::watch;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(infragraph_test_support::unique(name));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn ids(view: &J, what: &str) -> Vec<String> {
    view[what]
        .as_array()
        .unwrap_or_else(|| panic!("{what} in {view}"))
        .iter()
        .map(|n| n["id"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn node<'a>(view: &'a J, id: &str) -> &'a J {
    view["nodes"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["id"] == id))
        .unwrap_or_else(|| panic!("no node {id} in {view}"))
}

fn has_edge(view: &J, rel: &str, from: &str, to: &str) -> bool {
    view["edges"].as_array().is_some_and(|a| {
        a.iter()
            .any(|e| e["rel"] == rel && e["source"] == from && e["target"] == to)
    })
}

fn vid(kind: K, id: &str) -> String {
    format!("{}:{id}", kind.label())
}

/// What every store must answer for the fixture. `q` narrows views to the
/// fixture's nodes on a shared database.
async fn topologies_filters_and_details(s: &Server, f: &Fixture) {
    let q = &f.prefix;
    let (status, list) = s.get("/api/topologies").await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["topologies"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["processes", "hosts", "cloudmap", "github"]);

    // Processes, grouped by host; client → server across hosts.
    let (status, v) = s.get(&format!("/api/topology/processes?q={q}")).await;
    assert_eq!(status, 200, "{v}");
    let (curl, pg) = (
        vid(K::Process, &f.process(1, 100)),
        vid(K::Process, &f.process(2, 200)),
    );
    assert!(
        has_edge(&v, "CONNECTS_TO", &curl, &pg),
        "curl → postgres across hosts: {v}"
    );
    assert_eq!(node(&v, &pg)["parent"], vid(K::Host, &f.host(2)));
    assert_eq!(node(&v, &pg)["name"], "postgres");
    assert_eq!(
        node(&v, &vid(K::Host, &f.host(1)))["name"],
        format!("web-{q}")
    );

    // Filters: a name, a label, a host.
    let (_, v) = s
        .get(&format!(
            "/api/topology/processes?q=postgres&host={}",
            f.host(2)
        ))
        .await;
    assert_eq!(
        ids(&v, "nodes"),
        [vid(K::Host, &f.host(2)), pg.clone()],
        "{v}"
    );
    let (_, v) = s
        .get(&format!("/api/topology/processes?q={q}&label=Host"))
        .await;
    assert!(
        v["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .all(|n| n["kind"] == "Host"),
        "{v}"
    );
    let (_, v) = s
        .get(&format!("/api/topology/processes?host={}", f.host(1)))
        .await;
    assert_eq!(
        ids(&v, "nodes"),
        [vid(K::Host, &f.host(1)), curl.clone()],
        "only h1: {v}"
    );

    // Hosts.
    let (_, v) = s.get(&format!("/api/topology/hosts?q={q}")).await;
    assert!(
        has_edge(
            &v,
            "CONNECTS_TO",
            &vid(K::Host, &f.host(1)),
            &vid(K::Host, &f.host(2))
        ),
        "web → db: {v}"
    );

    // Cloud Map, joined to the process that serves the instance.
    let (_, v) = s.get(&format!("/api/topology/cloudmap?q={q}")).await;
    let inst = vid(K::CloudMapInstance, &f.id("inst"));
    assert!(
        has_edge(&v, "SERVED_BY", &inst, &pg),
        "instance served by postgres: {v}"
    );
    assert_eq!(
        node(&v, &inst)["parent"],
        vid(K::CloudMapService, &f.id("svc"))
    );
    assert_eq!(
        node(&v, &vid(K::CloudMapService, &f.id("svc")))["parent"],
        vid(K::CloudMapNamespace, &f.id("ns"))
    );

    // GitHub.
    let (_, v) = s.get(&format!("/api/topology/github?q={q}")).await;
    assert!(
        has_edge(
            &v,
            "OWNER",
            &vid(K::GitHubRepository, &f.id("repo")),
            &vid(K::GitHubOrganization, &f.id("org"))
        ),
        "{v}"
    );

    // Details: properties, times, neighbours with the listening endpoint.
    let (status, d) = s
        .get(&format!("/api/node?label=Process&id={}", f.process(2, 200)))
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        (d["name"].as_str(), d["properties"]["pid"].as_i64()),
        (Some("postgres"), Some(200))
    );
    assert_eq!(d["firstseen"].as_i64(), Some(f.epoch));
    assert_eq!(d["lastupdated"].as_i64(), Some(f.epoch));
    assert!(
        d["properties"].get("_asserted_by").is_none(),
        "bookkeeping is not shown: {d}"
    );
    let listens = d["neighbours"]
        .as_array()
        .expect("neighbours")
        .iter()
        .any(|n| n["rel"] == "LISTENS_ON" && n["direction"] == "out" && n["id"] == f.endpoint());
    assert!(listens, "postgres LISTENS_ON its endpoint: {d}");
    let served = d["neighbours"]
        .as_array()
        .expect("neighbours")
        .iter()
        .any(|n| n["rel"] == "RUNS_ON" && n["id"] == f.host(2));
    assert!(served, "postgres RUNS_ON h2: {d}");

    let (status, counts) = s.get("/api/counts").await;
    assert_eq!(status, 200);
    assert!(
        counts["nodes"]["Process"].as_u64().unwrap_or(0) >= 3,
        "{counts}"
    );
}

async fn bad_input_gets_a_4xx_with_a_reason(s: &Server) {
    let huge = "9".repeat(40);
    let long = "x".repeat(500);
    for (path, status) in [
        ("/api/topology/nope".to_owned(), 400),
        ("/api/topology/processes?label=Nope".to_owned(), 400),
        (
            "/api/topology/processes?label=".to_owned() + &"Host,".repeat(3) + "Bogus",
            400,
        ),
        (format!("/api/topology/processes?limit={huge}"), 400),
        ("/api/topology/processes?limit=10001".to_owned(), 400),
        ("/api/topology/processes?limit=-5".to_owned(), 400),
        ("/api/topology/processes?aggregate=maybe".to_owned(), 400),
        ("/api/topology/processes?colour=red".to_owned(), 400),
        (format!("/api/topology/processes?q={long}"), 400),
        ("/api/topology/processes?limit=lots".to_owned(), 400),
        ("/api/topology/processes?q=%00".to_owned(), 400),
        ("/api/node?label=Process".to_owned(), 400),
        ("/api/node?label=Nope&id=x".to_owned(), 400),
        (
            "/api/node?label=Process&id=nobody-has-this-id".to_owned(),
            404,
        ),
        (format!("/api/node?label=Process&id=x&limit={huge}"), 400),
        ("/api/nothing-here".to_owned(), 404),
    ] {
        let (got, body) = s.get(&path).await;
        assert_eq!(got, status, "GET {path}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|m| !m.is_empty()),
            "GET {path} says why: {body}"
        );
    }
    // The largest limit allowed is answered.
    let (got, body) = s
        .get("/api/topology/processes?limit=10000&aggregate=none")
        .await;
    assert_eq!(got, 200, "{body}");
}

#[tokio::test]
async fn the_embedded_store_serves_every_topology_details_and_events() {
    let dir = temp_dir("reader-api");
    let f = Fixture::new("api");
    let writer = SqliteStore::open(&dir).expect("open a store");
    let feed = ChangeFeed::new();
    let sink = Notifying::new(writer, feed.clone());
    apply(&sink, &f.graph()).await;

    let server = Server::start(GraphStore::embedded(&dir).expect("a reader"), feed).await;
    topologies_filters_and_details(&server, &f).await;
    bad_input_gets_a_4xx_with_a_reason(&server).await;

    // A change the writer applies reaches an open event stream.
    let mut events = Events::open(server.address).await;
    events.until("ready", 1, Duration::from_secs(10)).await;
    let extra = f.node(
        K::Process,
        &f.process(1, 101),
        &[
            ("name", Value::from("wget")),
            ("host_id", Value::from(f.host(1))),
        ],
    );
    apply(&sink, &[extra]).await;
    let seen = events.until("change", 1, Duration::from_secs(10)).await;
    assert!(
        seen.contains("\"Process\""),
        "the change names the label: {seen}"
    );
    let (_, v) = server
        .get(&format!("/api/topology/processes?host={}", f.host(1)))
        .await;
    assert!(
        ids(&v, "nodes").contains(&vid(K::Process, &f.process(1, 101))),
        "{v}"
    );
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

fn bolt_config() -> Option<BoltConfig> {
    let t = infragraph_test_support::bolt_target()?;
    Some(BoltConfig {
        uri: t.uri,
        user: t.user,
        password: t.password,
        database: t.database,
        timeout: Duration::from_secs(60),
    })
}

#[tokio::test]
async fn neo4j_serves_every_topology_details_and_polled_events() {
    let Some(cfg) = bolt_config() else { return };
    let f = Fixture::new("api-bolt");
    let sink = Arc::new(BoltSink::connect(&cfg).expect("bolt config"));
    apply(&sink, &f.graph()).await;
    let store = GraphStore::neo4j(sink.graph().clone());
    let feed = ChangeFeed::new();
    let (stop_poll, stopped) = watch::channel(false);
    let poller = tokio::spawn(poll(
        store.clone(),
        feed.clone(),
        Duration::from_millis(200),
        stopped,
    ));
    let server = Server::start(store, feed).await;

    topologies_filters_and_details(&server, &f).await;
    bad_input_gets_a_4xx_with_a_reason(&server).await;

    // Another process's write is found by polling the counts.
    let mut events = Events::open(server.address).await;
    events.until("ready", 1, Duration::from_secs(10)).await;
    let extra = f.edge(
        RelType::ConnectsTo,
        (K::Process, &f.process(2, 201)),
        (K::Endpoint, &f.endpoint()),
    );
    apply(&sink, &[extra]).await;
    events.until("change", 1, Duration::from_secs(20)).await;
    let (_, v) = server
        .get(&format!("/api/topology/processes?q={}", f.prefix))
        .await;
    assert!(
        has_edge(
            &v,
            "CONNECTS_TO",
            &vid(K::Process, &f.process(2, 201)),
            &vid(K::Process, &f.process(2, 200))
        ),
        "{v}"
    );

    server.stop().await;
    let _ = stop_poll.send(true);
    poller.await.expect("poller");
    let forget =
        neo4rs::query("MATCH (x) WHERE x.id STARTS WITH $p OR x.id ENDS WITH $e DETACH DELETE x")
            .param("p", f.prefix.as_str())
            .param("e", format!("#{}", f.prefix));
    sink.graph().run(forget).await.expect("remove the fixture");
}
