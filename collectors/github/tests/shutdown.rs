//! SIGTERM while the collector is parked in a GitHub rate-limit wait (the
//! reset an hour away): the binary marks the sync FAILED on Kafka and exits
//! 0 within 5 s, the bound an operator's `docker stop` or systemd allows by
//! default before it kills. Real Kafka; GitHub is an in-process mock.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use infragraph_bus::{Bus, Consumer, KafkaArgs, KafkaBus};
use infragraph_schemas::{Codec, SyncStatus, Topics};
use infragraph_test_support::{self as support, github::TOKEN};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn bin() -> std::path::PathBuf {
    support::stage_binary("infragraph-collect-github")
}
/// The bound from SIGTERM to a FAILED marker and exit. Our own path
/// takes a few ms (drop the wait, publish one marker); the rest is slack for
/// a loaded two-core machine.
const STOP_BOUND: Duration = Duration::from_secs(5);

/// A spent primary rate limit that resets in an hour.
async fn rate_limited_github() -> MockServer {
    let server = MockServer::start().await;
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + 3600;
    let limited = ResponseTemplate::new(403)
        .set_body_json(json!({"message": "API rate limit exceeded"}))
        .insert_header("x-ratelimit-remaining", "0")
        .insert_header("x-ratelimit-reset", reset.to_string().as_str());
    Mock::given(method("GET"))
        .and(path("/orgs/acme"))
        .respond_with(limited)
        .mount(&server)
        .await;
    server
}

/// Kills the collector if the test fails before it exits.
struct Collector(Option<Child>);

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn(
    brokers: &str,
    api: &str,
    token_file: &std::path::Path,
    namespace: &str,
    once: bool,
) -> (Collector, mpsc::Receiver<String>) {
    let mut cmd = Command::new(bin());
    cmd.args([
        "--org",
        "acme",
        "--api-url",
        api,
        "--kafka-brokers",
        brokers,
        "--topic-namespace",
        namespace,
        "--topic-partitions",
        "1",
    ])
    .arg("--token-file")
    .arg(token_file)
    .env("INFRAGRAPH_LOG", "info")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    if once {
        cmd.arg("--once");
    }
    let mut child = cmd.spawn().expect("the collector starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("collector: {line}");
            let _ = tx.send(line);
        }
    });
    (Collector(Some(child)), lines)
}

fn wait_for_line(lines: &mpsc::Receiver<String>, needle: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("the collector never logged {needle:?}");
}

async fn sigterm_during_a_rate_limit_wait(once: bool) {
    support::require!(brokers = support::KAFKA, "Kafka broker");
    let github = rate_limited_github().await;
    let token_file = std::env::temp_dir().join(support::unique("gh-token"));
    std::fs::write(&token_file, TOKEN).expect("token file");
    let names = Topics::new(support::unique("stop"));
    let (mut collector, lines) = spawn(
        &brokers,
        &github.uri(),
        &token_file,
        names.namespace(),
        once,
    );
    wait_for_line(
        &lines,
        "waiting for the GitHub rate limit",
        Duration::from_secs(60),
    );

    let child = collector.0.as_mut().expect("running");
    // SAFETY: kill(2) on our own, unreaped child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            signalled.elapsed() < STOP_BOUND,
            "the collector was still running {STOP_BOUND:?} after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = signalled.elapsed();
    collector.0 = None;
    let _ = std::fs::remove_file(&token_file);
    assert!(
        status.success(),
        "a collector stopped by SIGTERM exits 0, got {status}"
    );

    let mut args = KafkaArgs::with_brokers(brokers);
    args.settings = support::kafka_settings();
    let bus = KafkaBus::connect(&args).expect("Kafka client");
    let mut markers = bus
        .consumer(&support::unique("markers"), &[names.sync()])
        .expect("consumer");
    let codec = Codec::builtin();
    let mut statuses = Vec::new();
    while statuses.last() != Some(&SyncStatus::Failed) {
        let m = tokio::time::timeout(Duration::from_secs(60), markers.recv())
            .await
            .expect("the markers are on Kafka")
            .expect("a message");
        let marker = codec.decode_sync_marker(&m.payload).expect("a marker");
        assert_eq!(marker.scope.scope, "github:acme");
        if marker.status == SyncStatus::Failed {
            let reason = marker.reason.clone().unwrap_or_default();
            assert!(
                reason.contains("shutdown"),
                "the FAILED marker says why: {reason:?}"
            );
        }
        statuses.push(marker.status);
    }
    assert_eq!(
        statuses,
        [SyncStatus::Started, SyncStatus::Failed],
        "one sync, started and failed, nothing completed"
    );
    println!("SIGTERM to exit with the FAILED marker published: {took:?} (once: {once})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_in_a_rate_limit_wait_fails_the_sync_at_once() {
    sigterm_during_a_rate_limit_wait(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_in_a_rate_limit_wait_of_a_once_run_exits_0() {
    sigterm_during_a_rate_limit_wait(true).await;
}
