//! Two simulated hosts, each in its own network and PID namespace, joined
//! by a veth pair: a server on host A, a client on host B connected to it,
//! a collector per host, one pipeline (broker, normalizer, writer, Bolt).
//! The graph must answer "which process on host B talks to which process
//! on host A" with exactly that pair. Needs root (CI runs as root);
//! skipped with a note otherwise.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use infragraph_test_support::hosts::{self, TwoHosts, ns_init, ns_proc_root};
use infragraph_test_support::{self as support, require};

/// Host A's address; host B is .2. Private, and only inside the
/// namespaces this test creates.
const ADDR_A: &str = "10.232.0.1";

/// Which process on host B talks to which process on host A.
const WHO_TALKS_TO_WHOM: &str = "MATCH (c:Process)-[:CONNECTS_TO]->(e:Endpoint)<-[:LISTENS_ON]-(s:Process), \
     (c)-[:RUNS_ON]->(hb:Host {id: $b}), (s)-[:RUNS_ON]->(ha:Host {id: $a}) \
     RETURN c.pid AS client_pid, s.pid AS server_pid, c.id AS client, s.id AS server, e.id AS endpoint";

/// The process node id the collector gives `init` as seen inside its
/// namespace: pid 1, and its start time in ticks (field 22 of stat, the
/// same in every PID namespace).
fn process_id(host: &str, init: i32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{init}/stat"))
        .expect("read the namespace init's stat");
    let after_comm = &stat[stat.rfind(')').expect("stat has (comm)") + 2..];
    let start = after_comm
        .split_whitespace()
        .nth(19)
        .expect("stat field 22");
    format!("{host}/1/{start}")
}

#[derive(Debug, PartialEq)]
struct Pair {
    client_pid: i64,
    server_pid: i64,
    client: String,
    server: String,
    endpoint: String,
}

async fn who_talks_to_whom(
    sink: &infragraph_graph_writer::BoltSink,
    a: &str,
    b: &str,
) -> Result<Vec<Pair>, neo4rs::Error> {
    let q = neo4rs::query(WHO_TALKS_TO_WHOM).param("a", a).param("b", b);
    let mut rows = sink.graph().execute(q).await?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().await? {
        out.push(Pair {
            client_pid: row.get("client_pid").expect("client pid"),
            server_pid: row.get("server_pid").expect("server pid"),
            client: row.get("client").expect("client id"),
            server: row.get("server").expect("server id"),
            endpoint: row.get("endpoint").expect("endpoint id"),
        });
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graph_names_which_process_on_b_talks_to_which_on_a() {
    if !hosts::root_or_skip() {
        return;
    }
    require!(brokers = support::KAFKA, "Kafka broker");
    let Some(bolt_cfg) = bolt_config() else {
        return;
    };
    let sink = bolt(&bolt_cfg);

    let net = TwoHosts::new("igu", "10.232.0");
    let mut server = net.python(0, SERVER_ANY, &[]);
    let port = server.line();
    let mut client = net.python(1, CLIENT, &[ADDR_A, &port]);
    assert_eq!(client.line(), "connected");
    assert_eq!(server.line(), "accepted");
    let (server_init, client_init) = (ns_init(server.pid()), ns_init(client.pid()));

    let host_a = support::unique("sim-a");
    let host_b = support::unique("sim-b");
    let namespace = support::unique("two-hosts");
    let kafka = strings(&["--kafka-brokers", &brokers, "--topic-namespace", &namespace]);
    let consumer = [kafka.clone(), support::kafka_flags()].concat();

    let normalizer_group = support::unique("two-hosts-norm");
    let normalizer = Stage::spawn(
        "normalizer",
        &[
            strings(&["normalize", "--normalizer-group", &normalizer_group]),
            consumer.clone(),
        ]
        .concat(),
        &[],
    );
    let writer_args = [
        strings(&[
            "write",
            "--writer-group",
            &support::unique("two-hosts-write"),
            "--batch-timeout-ms",
            "100",
        ]),
        bolt_flags(&bolt_cfg),
        consumer,
    ]
    .concat();
    let writer = Stage::spawn(
        "writer",
        &writer_args,
        &[("INFRAGRAPH_NEO4J_PASSWORD", &bolt_cfg.password)],
    );

    // A collector per host, each reading its namespace's proc.
    for (host, init) in [(&host_a, server_init), (&host_b, client_init)] {
        let root = ns_proc_root(init);
        let root = root.to_str().expect("UTF-8 path");
        run_ok(
            &[
                strings(&[
                    "collect",
                    "procfs",
                    "--once",
                    "--host-id",
                    host,
                    "--proc-root",
                    root,
                ]),
                kafka.clone(),
            ]
            .concat(),
            &[],
        );
    }

    let pairs = eventually(
        "the graph connects B's client to A's server",
        Duration::from_secs(180),
        async || match who_talks_to_whom(&sink, &host_a, &host_b).await {
            Ok(p) if !p.is_empty() => Ok(p),
            other => Err(format!("{other:?}")),
        },
    )
    .await;
    let expected = Pair {
        // Pids as each host sees them: each python is its namespace's init.
        client_pid: 1,
        server_pid: 1,
        client: process_id(&host_b, client_init),
        server: process_id(&host_a, server_init),
        endpoint: format!("tcp://{ADDR_A}:{port}"),
    };
    assert_eq!(
        pairs,
        vec![expected],
        "exactly one pair: B's client talks to A's server"
    );

    for stage in [normalizer, writer] {
        let name = stage.name.clone();
        let status = stage.terminate();
        assert!(
            status.success(),
            "{name} stops cleanly on SIGTERM: {status}"
        );
    }
    bolt_forget(&sink, &host_a).await;
    bolt_forget(&sink, &host_b).await;
    let endpoint = neo4rs::query("MATCH (e:Endpoint {id: $id}) DETACH DELETE e")
        .param("id", format!("tcp://{ADDR_A}:{port}"));
    let _ = sink.graph().run(endpoint).await;
    drop((client, server, net));
}
