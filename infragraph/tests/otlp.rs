//! Metrics reach real OTLP/HTTP receivers: tests/otlp/receiver.py (which
//! decodes the protobuf with the opentelemetry-proto package) and an
//! OpenTelemetry Collector running the stack's own config. A collector
//! stage run with the standard `OTEL_EXPORTER_OTLP_ENDPOINT` exports its
//! counts and durations under the documented names and attributes.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::view::try_get;
use common::*;
use infragraph_test_support::{self as support, require};
use serde_json::Value;

/// One `collect procfs --once` exporting its metrics to `endpoint`.
fn collect_once(brokers: &str, endpoint: &str) {
    let host = support::unique("otlp-host");
    let ns = support::unique("otlp");
    let args = strings(&[
        "collect",
        "procfs",
        "--once",
        "--host-id",
        &host,
        "--kafka-brokers",
        brokers,
        "--topic-namespace",
        &ns,
    ]);
    run_ok(
        &args,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
        ],
    );
}

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
    collect_once(&brokers, &endpoint);

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

/// A server process killed when dropped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One sample of the Prometheus text format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of a Prometheus scrape (comments and malformed lines left out).
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, labels(rest.strip_suffix('}')?)?),
                None => (series, BTreeMap::new()),
            };
            Some(Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().ok()?,
            })
        })
        .collect()
}

/// `a="x",b="y"` (values hold no quotes or commas here: stage names,
/// operations, kinds).
fn labels(text: &str) -> Option<BTreeMap<String, String>> {
    text.split("\",")
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once("=\"")?;
            Some((k.to_owned(), v.trim_end_matches('"').to_owned()))
        })
        .collect()
}

fn find<'s>(all: &'s [Sample], name: &str, want: &[(&str, &str)]) -> Option<&'s Sample> {
    all.iter().find(|s| {
        s.name == name
            && want
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    })
}

/// The stack's own collector config, `deploy/otel-collector.yaml`, on a
/// real OpenTelemetry Collector (tests/otelcol, built with the components
/// the config names): it validates, as the compose healthcheck asks; a
/// collector stage's counts and durations arrive over OTLP/HTTP under the
/// documented names (the debug exporter logs them), and the Prometheus
/// exporter serves them with their attributes as labels and the stage's
/// `service.name` as `job`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stacks_collector_config_receives_a_stages_metrics() {
    require!(brokers = support::KAFKA, "Kafka broker");
    require!(
        otelcol = "INFRAGRAPH_TEST_OTELCOL",
        "OpenTelemetry Collector (scripts/test builds it)"
    );
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/otel-collector.yaml");
    let checked = Command::new(&otelcol)
        .arg("validate")
        .arg(format!("--config={}", config.display()))
        .output()
        .expect("run the collector");
    assert!(
        checked.status.success(),
        "the compose healthcheck's `validate` fails: {}",
        String::from_utf8_lossy(&checked.stderr)
    );

    let [http, grpc, prometheus, health] = [(); 4].map(|()| support::servers::free_port());
    let dir = TempDir::new("otelcol");
    let log = dir.path().join("otelcol.log");
    let _collector = Running(
        Command::new(&otelcol)
            .arg(format!("--config={}", config.display()))
            .env("OTELCOL_OTLP_HTTP", format!("127.0.0.1:{http}"))
            .env("OTELCOL_OTLP_GRPC", format!("127.0.0.1:{grpc}"))
            .env("OTELCOL_PROMETHEUS", format!("127.0.0.1:{prometheus}"))
            .env("OTELCOL_HEALTH", format!("127.0.0.1:{health}"))
            .env("OTELCOL_DEBUG_VERBOSITY", "detailed")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("the collector's log"))
            .spawn()
            .expect("start the collector"),
    );
    let health_url = format!("http://127.0.0.1:{health}");
    eventually(
        "the collector reports healthy",
        Duration::from_secs(60),
        async || match try_get(&health_url, "/") {
            Ok((200, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await;

    collect_once(&brokers, &format!("http://127.0.0.1:{http}"));

    let scrape = format!("http://127.0.0.1:{prometheus}");
    let published = [
        ("job", "infragraph"),
        ("stage", "collector"),
        ("kind", "process"),
        ("outcome", "published"),
    ];
    let sync = [
        ("job", "infragraph"),
        ("stage", "collector"),
        ("operation", "sync"),
    ];
    let got = eventually(
        "the collector serves the stage's metrics",
        Duration::from_secs(30),
        async || {
            let (_, text) = try_get(&scrape, "/metrics").map_err(|e| e.to_string())?;
            let all = samples(&text);
            let want = find(&all, "infragraph_records_total", &published).is_some()
                && find(&all, "infragraph_duration_seconds_count", &sync).is_some();
            if want {
                Ok(all)
            } else {
                Err(format!("{} samples so far", all.len()))
            }
        },
    )
    .await;
    let count = find(&got, "infragraph_records_total", &published).map(|s| s.value);
    assert!(
        count.is_some_and(|n| n > 0.0),
        "this machine has processes: {count:?}"
    );
    let syncs = find(&got, "infragraph_duration_seconds_count", &sync).map(|s| s.value);
    assert!(syncs.is_some_and(|n| n >= 1.0), "{syncs:?}");
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    for name in ["infragraph.records", "infragraph.duration"] {
        assert!(
            logged.contains(&format!("Name: {name}")),
            "the debug exporter logs {name} as it arrived:\n{logged}"
        );
    }
}
