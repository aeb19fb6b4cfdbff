//! End-to-end freshness: how long from a new TCP connection being opened to
//! its CONNECTS_TO edge being queryable, with `infragraph up` at its default
//! settings. Printed against Weave Scope's 3 s publish interval, the target:
//! median and worst of several connections, as a ratio to 3 s.
//!
//! Modes, each in the same run: embedded (in-memory bus, embedded store);
//! over the real broker into the embedded store (when INFRAGRAPH_TEST_KAFKA
//! is set); and over the real broker into the Bolt graph database (when
//! INFRAGRAPH_TEST_BOLT is set too), polled with a Cypher query.
//! Run: `scripts/bench freshness` (see BENCHMARKS.md); `-- --rounds N`.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// The allocator the binaries run with (infragraph/src/main.rs), so the
/// figures are the deployed code's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use infragraph_graph_writer::SqliteStore;
use infragraph_schemas::RelType;

const TARGET: Duration = Duration::from_secs(3);

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Kills the child when dropped, so nothing outlives the benchmark.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python(code: &str) -> (Reaped, String) {
    let mut child = Command::new("python3")
        .args(["-c", code])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("python reports");
    (Reaped(child), line.trim().to_owned())
}

/// A listener and a client connected to it; returns both and the port once
/// the connection is established.
fn connection() -> (Reaped, Reaped, u16) {
    let (server, port) = python(
        "import socket,time\ns=socket.socket();s.bind(('127.0.0.1',0));s.listen();print(s.getsockname()[1],flush=True)\nc,_=s.accept();time.sleep(120)",
    );
    let (client, _) = python(&format!(
        "import socket,time\nc=socket.create_connection(('127.0.0.1',{port}));print('up',flush=True);time.sleep(120)"
    ));
    (server, client, port.parse().expect("a port"))
}

/// Where the benchmark looks for the new edge.
enum Graph {
    Embedded(std::path::PathBuf),
    Bolt(infragraph_graph_writer::BoltSink),
}

impl Graph {
    /// Whether the graph holds this host (its first sync is in).
    async fn ready(&self, host: &str) -> bool {
        match self {
            Graph::Embedded(dir) => SqliteStore::open(dir).is_ok_and(|s| {
                s.node(infragraph_schemas::ResourceKind::Host, host)
                    .is_ok_and(|n| n.is_some())
            }),
            Graph::Bolt(sink) => {
                self.count(sink, "MATCH (h:Host {id: $id}) RETURN count(h) AS n", host)
                    .await
                    > 0
            }
        }
    }

    async fn edge_visible(&self, endpoint: &str) -> bool {
        match self {
            Graph::Embedded(dir) => {
                let Ok(store) = SqliteStore::open(dir) else {
                    return false;
                };
                let mut found = false;
                let _ = store.for_each_edge(|e| {
                    found |= e.rel == RelType::ConnectsTo && e.to.id == endpoint;
                    Ok::<_, infragraph_graph_writer::SinkError>(())
                });
                found
            }
            Graph::Bolt(sink) => {
                let q =
                    "MATCH (:Process)-[:CONNECTS_TO]->(e:Endpoint {id: $id}) RETURN count(e) AS n";
                self.count(sink, q, endpoint).await > 0
            }
        }
    }

    async fn count(&self, sink: &infragraph_graph_writer::BoltSink, cypher: &str, id: &str) -> i64 {
        let Ok(mut rows) = sink
            .graph()
            .execute(neo4rs::query(cypher).param("id", id))
            .await
        else {
            return 0;
        };
        match rows.next().await {
            Ok(Some(row)) => row.get::<i64>("n").unwrap_or(0),
            _ => 0,
        }
    }
}

fn start_up(data: &Path, host: &str, extra: &[String]) -> Reaped {
    let child = Command::new(env!("CARGO_BIN_EXE_infragraph"))
        .args(["up", "--host-id", host, "--data-dir"])
        .arg(data)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("infragraph up starts");
    Reaped(child)
}

async fn measure(
    mode: &str,
    extra: &[String],
    bolt: Option<infragraph_graph_writer::BoltSink>,
    rounds: usize,
) {
    let data = std::env::temp_dir().join(format!(
        "infragraph-freshness-{}-{mode}",
        std::process::id()
    ));
    let host = format!("fresh-{mode}-{}", std::process::id());
    let _up = start_up(&data, &host, extra);
    let graph = match bolt {
        Some(sink) => Graph::Bolt(sink),
        None => Graph::Embedded(data.clone()),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !graph.ready(&host).await {
        assert!(
            Instant::now() < deadline,
            "{mode}: infragraph up wrote nothing in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut took = Vec::new();
    for _ in 0..rounds {
        let (_server, _client, port) = connection();
        let opened = Instant::now();
        let endpoint = format!("tcp://127.0.0.1:{port}@{host}");
        while !graph.edge_visible(&endpoint).await {
            assert!(
                opened.elapsed() < Duration::from_secs(60),
                "{mode}: connection never appeared"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        took.push(opened.elapsed());
    }
    took.sort();
    let median = took[took.len() / 2];
    let worst = took[took.len() - 1];
    println!(
        "{mode:<9} median {:>6.2}s  worst {:>6.2}s  ({} connections)  median/3s = {:.2}  worst/3s = {:.2}",
        median.as_secs_f64(),
        worst.as_secs_f64(),
        took.len(),
        median.as_secs_f64() / TARGET.as_secs_f64(),
        worst.as_secs_f64() / TARGET.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::main]
async fn main() {
    let rounds: usize = arg("--rounds").and_then(|r| r.parse().ok()).unwrap_or(10);
    println!(
        "new connection to queryable edge, `infragraph up` at default settings (target <= 3 s)"
    );
    measure("embedded", &[], None, rounds).await;
    let Ok(brokers) = std::env::var("INFRAGRAPH_TEST_KAFKA") else {
        println!("kafka     skipped: set INFRAGRAPH_TEST_KAFKA (scripts/bench starts a broker)");
        return;
    };
    let kafka = |ns: &str| {
        vec![
            "--kafka-brokers".to_owned(),
            brokers.clone(),
            "--topic-namespace".to_owned(),
            ns.to_owned(),
        ]
    };
    measure(
        "kafka",
        &kafka(&format!("fresh-k-{}", std::process::id())),
        None,
        rounds,
    )
    .await;
    let Some(t) = infragraph_test_support::bolt_target() else {
        return;
    };
    let cfg = infragraph_graph_writer::BoltConfig {
        uri: t.uri.clone(),
        user: t.user.clone(),
        password: t.password.clone(),
        database: t.database.clone(),
        timeout: Duration::from_secs(60),
    };
    let sink = infragraph_graph_writer::BoltSink::connect(&cfg).expect("bolt config");
    let mut flags = kafka(&format!("fresh-b-{}", std::process::id()));
    flags.extend(
        [
            "--neo4j-uri",
            &t.uri,
            "--neo4j-user",
            &t.user,
            "--neo4j-password",
            &t.password,
            "--neo4j-database",
            &t.database,
        ]
        .map(String::from),
    );
    measure("kafka+bolt", &flags, Some(sink), rounds).await;
}
