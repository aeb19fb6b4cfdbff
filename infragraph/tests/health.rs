//! Health endpoints of the stages, as Compose and Kubernetes probe them: a
//! writer against the real broker and Neo4j is ready; the same writer
//! pointed at a graph database that is not there is alive but not ready,
//! and says why; a normalizer without a broker likewise.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use infragraph_test_support::servers::free_port;
use infragraph_test_support::{self as support, require};

const PATIENCE: Duration = Duration::from_secs(60);

/// `GET path` on loopback `port`: the status line and body, or why not.
fn get(port: u16, path: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// The answer to `GET path` once it has status `want` and says `says`,
/// after the first round of probes (which takes a moment).
async fn status(port: u16, path: &str, want: &str, says: &str) -> String {
    eventually(
        &format!("{path} answers {want} saying {says:?}"),
        PATIENCE,
        async || match get(port, path) {
            Ok(r)
                if r.starts_with(&format!("HTTP/1.1 {want}"))
                    && r.contains(says)
                    && !r.contains("not probed yet") =>
            {
                Ok(r)
            }
            Ok(r) => Err(r),
            Err(e) => Err(e),
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_is_ready_when_kafka_and_the_graph_answer() {
    require!(brokers = support::KAFKA, "Kafka broker");
    let Some(bolt_cfg) = bolt_config() else {
        return;
    };
    let port = free_port();
    let p = Pipeline::unique(brokers, "health");
    let mut args = strings(&["write", "--health-listen", &format!("127.0.0.1:{port}")]);
    args.extend(bolt_flags(&bolt_cfg));
    args.extend(p.kafka());
    let mut writer = Stage::spawn(
        "writer",
        &args,
        &[("INFRAGRAPH_NEO4J_PASSWORD", &bolt_cfg.password)],
    );
    status(port, "/livez", "200", "alive").await;
    status(port, "/readyz", "200", "ready").await;
    writer.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_graph_database_a_writer_is_alive_not_ready_and_says_why() {
    require!(brokers = support::KAFKA, "Kafka broker");
    let (port, nobody) = (free_port(), free_port());
    let p = Pipeline::unique(brokers, "health-nograph");
    let mut args = strings(&[
        "write",
        "--health-listen",
        &format!("127.0.0.1:{port}"),
        "--neo4j-uri",
        &format!("bolt://127.0.0.1:{nobody}"),
    ]);
    args.extend(p.kafka());
    let _writer = Stage::spawn("writer", &args, &[("INFRAGRAPH_NEO4J_PASSWORD", "unused")]);
    status(port, "/livez", "200", "alive").await;
    let said = status(port, "/readyz", "503", "graph: ").await;
    assert!(!said.contains("kafka:"), "the broker answers: {said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_broker_a_normalizer_is_not_ready() {
    let (port, nobody) = (free_port(), free_port());
    let broker = format!("127.0.0.1:{nobody}");
    let _normalizer = Stage::spawn(
        "normalizer",
        &strings(&[
            "normalize",
            "--health-listen",
            &format!("127.0.0.1:{port}"),
            "--kafka-brokers",
            &broker,
        ]),
        &[],
    );
    status(port, "/livez", "200", "alive").await;
    status(
        port,
        "/readyz",
        "503",
        &format!("kafka: no broker of {broker} answered"),
    )
    .await;
}
