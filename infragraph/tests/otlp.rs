//! Metrics reach a real OTLP/HTTP receiver (tests/otlp/receiver.py decodes
//! the protobuf with the opentelemetry-proto package): a collector run with
//! the standard `OTEL_EXPORTER_OTLP_ENDPOINT` exports its counts and
//! durations under the documented names and attributes.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use infragraph_test_support::{self as support, require};
use serde_json::Value;

fn points(file: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn has(points: &[Value], name: &str, attrs: &[(&str, &str)]) -> bool {
    points.iter().any(|p| {
        p["name"] == name
            && p["service"] == "infragraph"
            && attrs.iter().all(|(k, v)| p["attributes"][*k] == *v)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collectors_counts_and_durations_arrive_over_otlp() {
    require!(brokers = support::KAFKA, "Kafka broker");
    let dir = TempDir::new("otlp");
    let out = dir.path().join("points.jsonl");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/otlp/receiver.sh");
    let mut receiver = Kid::spawn(Command::new("bash").arg(script).arg(&out));
    let port = receiver.line();
    let endpoint = format!("http://127.0.0.1:{port}");
    let host = support::unique("otlp-host");
    let ns = support::unique("otlp");
    let args = strings(&[
        "collect",
        "procfs",
        "--once",
        "--host-id",
        &host,
        "--kafka-brokers",
        &brokers,
        "--topic-namespace",
        &ns,
    ]);
    run_ok(
        &args,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
        ],
    );

    // The exporter flushes on exit; the receiver writes as it decodes.
    let got = eventually(
        "the collector's metrics reach the receiver",
        Duration::from_secs(30),
        async || {
            let p = points(&out);
            let want = has(
                &p,
                "infragraph.records",
                &[
                    ("stage", "collector"),
                    ("kind", "process"),
                    ("outcome", "published"),
                ],
            ) && has(
                &p,
                "infragraph.duration",
                &[("stage", "collector"), ("operation", "sync")],
            );
            if want {
                Ok(p)
            } else {
                Err(format!("{} points so far", p.len()))
            }
        },
    )
    .await;
    let published = got
        .iter()
        .find(|p| p["name"] == "infragraph.records" && p["attributes"]["kind"] == "process")
        .expect("a process count");
    assert_eq!(published["kind"], "sum", "a counter: {published}");
    assert!(
        published["value"].as_i64().is_some_and(|n| n > 0),
        "this machine has processes: {published}"
    );
    let sync = got
        .iter()
        .find(|p| p["name"] == "infragraph.duration" && p["attributes"]["operation"] == "sync")
        .expect("a sync duration");
    assert_eq!(sync["kind"], "histogram", "{sync}");
    assert!(
        sync["value"]["count"].as_u64().is_some_and(|n| n >= 1),
        "{sync}"
    );
}
