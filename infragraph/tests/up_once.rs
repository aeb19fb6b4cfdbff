//! `infragraph up --once` on this machine, with nothing but the binary:
//! the embedded store holds the host, the test's own processes, a listener
//! and a connection the test opened, and the edges between them; every
//! export format of that graph parses, and `cypher-shell -f` loads the
//! Cypher export into Neo4j with the same counts.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use infragraph_graph_writer::SqliteStore;
use infragraph_schemas::{RelType, ResourceKind, Value};

/// The counts `up --once` prints, one `  <n>  <label or type>` line each.
fn printed_counts(stdout: &str) -> BTreeMap<String, u64> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let n = f.next()?.parse().ok()?;
            let name = f.next()?;
            f.next().is_none().then(|| (name.to_owned(), n))
        })
        .collect()
}

fn node_with_pid(store: &SqliteStore, host: &str, pid: i32) -> String {
    let found = store
        .search("pid", &Value::Long(i64::from(pid)))
        .expect("search the store");
    let mine: Vec<_> = found
        .iter()
        .filter(|n| n.kind == ResourceKind::Process && n.id.starts_with(&format!("{host}/")))
        .collect();
    assert_eq!(
        mine.len(),
        1,
        "exactly one Process of host {host} with pid {pid}: {mine:?}"
    );
    mine[0].id.clone()
}

/// `(rel, other end's id)` of the relationships leaving a node.
fn outgoing(store: &SqliteStore, kind: ResourceKind, id: &str) -> Vec<(RelType, String)> {
    store
        .neighbours(kind, id)
        .expect("read neighbours")
        .into_iter()
        .filter(|n| n.outgoing)
        .map(|n| (n.edge.rel, n.node.id))
        .collect()
}

fn export(data_dir: &TempDir, format: &str, out: &TempDir) -> String {
    let file = out.path().join(format!("graph.{format}"));
    run_ok(
        &strings(&[
            "export",
            "--format",
            format,
            "--data-dir",
            &data_dir.str(),
            "-o",
            file.to_str().expect("UTF-8 path"),
        ]),
        &[],
    );
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("read the {format} export: {e}"))
}

#[tokio::test]
async fn up_once_maps_this_machine_and_every_export_parses() {
    let host = infragraph_test_support::unique("up-once");
    let mut server = Kid::python(SERVER, &[]);
    let port = server.line();
    let mut client = Kid::python(CLIENT, &["127.0.0.1", &port]);
    assert_eq!(client.line(), "connected");
    assert_eq!(server.line(), "accepted");

    let data = TempDir::new("up-once-data");
    let stdout = run_ok(
        &strings(&[
            "up",
            "--once",
            "--data-dir",
            &data.str(),
            "--host-id",
            &host,
        ]),
        &[],
    );

    let store = SqliteStore::open(data.path()).expect("open the embedded store up wrote");
    let by_label = store.counts_by_label().expect("count nodes");
    let by_rel = store.counts_by_rel_type().expect("count relationships");
    assert!(
        by_label.get("Host").copied().unwrap_or(0) >= 1,
        "at least one Host: {by_label:?}"
    );
    assert!(
        store
            .node(ResourceKind::Host, &host)
            .expect("read host")
            .is_some(),
        "the Host is named by --host-id"
    );
    // What `up` printed is what the store holds.
    let mut expected_print: BTreeMap<String, u64> = by_label.clone();
    expected_print.extend(by_rel.clone());
    assert_eq!(
        printed_counts(&stdout),
        expected_print,
        "printed counts:\n{stdout}"
    );

    let server_id = node_with_pid(&store, &host, server.pid());
    let client_id = node_with_pid(&store, &host, client.pid());
    let me = node_with_pid(&store, &host, std::process::id() as i32);
    let ep = format!("tcp://127.0.0.1:{port}@{host}");
    assert!(
        store
            .node(ResourceKind::Endpoint, &ep)
            .expect("read endpoint")
            .is_some(),
        "the listener's endpoint {ep}"
    );

    let s = outgoing(&store, ResourceKind::Process, &server_id);
    let c = outgoing(&store, ResourceKind::Process, &client_id);
    assert!(
        s.contains(&(RelType::ListensOn, ep.clone())),
        "server LISTENS_ON {ep}: {s:?}"
    );
    assert!(
        c.contains(&(RelType::ConnectsTo, ep.clone())),
        "client CONNECTS_TO {ep}: {c:?}"
    );
    assert!(
        !s.iter().any(|(r, _)| *r == RelType::ConnectsTo),
        "the accepted connection is not outbound: {s:?}"
    );
    for (who, rels) in [("server", &s), ("client", &c)] {
        assert!(
            rels.contains(&(RelType::RunsOn, host.clone())),
            "{who} RUNS_ON {host}: {rels:?}"
        );
        assert!(
            rels.contains(&(RelType::ChildOf, me.clone())),
            "{who} is a CHILD_OF the test process: {rels:?}"
        );
    }

    let nodes_total: u64 = by_label.values().sum();
    let edges_total: u64 = by_rel.values().sum();
    let out = TempDir::new("up-once-export");

    // JSON: the same nodes and relationships, label by label.
    let json: serde_json::Value =
        serde_json::from_str(&export(&data, "json", &out)).expect("the JSON export parses");
    let (jn, je) = (
        json["nodes"].as_array().expect("nodes array"),
        json["relationships"]
            .as_array()
            .expect("relationships array"),
    );
    let mut json_counts: BTreeMap<String, u64> = BTreeMap::new();
    for n in jn {
        *json_counts
            .entry(n["label"].as_str().expect("node label").to_owned())
            .or_insert(0) += 1;
    }
    assert_eq!(json_counts, by_label, "JSON nodes by label");
    let mut json_rels: BTreeMap<String, u64> = BTreeMap::new();
    for e in je {
        *json_rels
            .entry(e["type"].as_str().expect("relationship type").to_owned())
            .or_insert(0) += 1;
    }
    assert_eq!(json_rels, by_rel, "JSON relationships by type");
    assert!(
        jn.iter().any(|n| n["id"] == ep.as_str()),
        "the JSON export names {ep}"
    );

    // GraphML: well-formed, one element per node and edge, every edge
    // between declared nodes.
    let text = export(&data, "graphml", &out);
    let doc = roxmltree::Document::parse(&text).expect("the GraphML export is well-formed XML");
    let graph = doc
        .descendants()
        .find(|n| n.has_tag_name("graph"))
        .expect("a <graph> element");
    let node_ids: std::collections::BTreeSet<&str> = graph
        .children()
        .filter(|n| n.has_tag_name("node"))
        .map(|n| n.attribute("id").expect("node id"))
        .collect();
    let edges: Vec<_> = graph
        .children()
        .filter(|n| n.has_tag_name("edge"))
        .collect();
    assert_eq!(
        node_ids.len() as u64,
        nodes_total,
        "GraphML nodes (ids unique)"
    );
    assert_eq!(edges.len() as u64, edges_total, "GraphML edges");
    for e in &edges {
        for end in ["source", "target"] {
            let id = e.attribute(end).expect("edge end");
            assert!(
                node_ids.contains(id),
                "GraphML edge {end} {id} is a declared node"
            );
        }
    }

    // Cypher: Neo4j's own cypher-shell loads the file as the export's
    // header tells a user to, and this host then has the same counts in
    // the database as in the store.
    let script = export(&data, "cypher", &out);
    assert!(
        script.lines().any(|l| l.starts_with("UNWIND")),
        "the script has statements"
    );
    let Some(cfg) = bolt_config() else { return };
    let Some(shell) =
        infragraph_test_support::service("INFRAGRAPH_TEST_CYPHER_SHELL_LIB", "cypher-shell")
    else {
        return;
    };
    let file = out.path().join("graph.cypher");
    let loaded = std::process::Command::new("java")
        .arg("-cp")
        .arg(format!("{shell}/*"))
        .arg("org.neo4j.shell.Main")
        .args([
            "-a",
            &cfg.uri,
            "-d",
            &cfg.database,
            "--non-interactive",
            "-f",
        ])
        .arg(&file)
        .env("NEO4J_USERNAME", &cfg.user)
        .env("NEO4J_PASSWORD", &cfg.password)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("java runs cypher-shell");
    assert!(
        loaded.status.success(),
        "cypher-shell -f {} failed ({}):\n{}",
        file.display(),
        loaded.status,
        String::from_utf8_lossy(&loaded.stderr)
    );
    let sink = bolt(&cfg);
    let expected = store_counts(&store, &host);
    let loaded = bolt_counts(&sink, &host)
        .await
        .expect("count the loaded graph");
    eprintln!("host {host} after loading the Cypher export: {loaded:?}");
    assert_eq!(
        loaded, expected,
        "host {host} in the database after loading the Cypher export vs the store"
    );
    assert_eq!(
        expected.nodes.get("Process").copied().unwrap_or(0),
        by_label["Process"],
        "every process belongs to the host"
    );
    bolt_forget(&sink, &host).await;
    drop((client, server));
}
