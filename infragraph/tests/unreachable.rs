//! Services that are not there, or refuse us: each stage says so in one
//! clear line naming the address and what to check, keeps its log to a few
//! lines however long the outage lasts, and, run continuously, recovers by
//! itself once the service appears. A one-off run fails promptly.
//!
//! Before: a collector pointed at no broker printed librdkafka's
//! "AllBrokersDown" 362 times in 40 s, and its final error said the same
//! cause four times.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use infragraph_bus::{Bus, Consumer, KafkaArgs, KafkaBus};
use infragraph_graph_writer::BoltConfig;
use infragraph_schemas::{Codec, SyncStatus, Topics};
use infragraph_test_support::servers::{NEO4J_PASSWORD, Server, free_port};
use infragraph_test_support::{self as support};

/// How long a service stays away before it is started.
const OUTAGE: Duration = Duration::from_secs(15);
/// Log lines a stage may write over [`OUTAGE`]: a start line or two, the
/// clear line, a retry line per attempt (attempts are seconds apart).
const MAX_LINES: usize = 12;
const PATIENCE: Duration = Duration::from_secs(180);

/// A stage whose stderr is kept for the test to read (and echoed, so a
/// failure shows it). Killed on drop.
struct Watched {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Watched {
    fn spawn(args: &[String], envs: &[(&str, &str)]) -> Watched {
        let mut child = Command::new(BIN)
            .args(args)
            .envs(envs.iter().copied())
            .env("INFRAGRAPH_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("infragraph starts");
        let stderr = child.stderr.take().expect("piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("stage: {line}");
                sink.lock().unwrap().push(line);
            }
        });
        Watched {
            child: Some(child),
            lines,
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn count(&self, needle: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(needle)).count()
    }

    fn assert_running(&mut self) {
        let status = self
            .child
            .as_mut()
            .expect("running")
            .try_wait()
            .expect("wait");
        assert!(status.is_none(), "the stage exited on its own: {status:?}");
    }

    /// Waits for it to exit by itself, at most `within`.
    /// Waits for a stage whose credentials were refused to end: it fails,
    /// within the line bound, never printing `secret`. Its lines.
    fn refused(&mut self, secret: &str, what: &str) -> Vec<String> {
        let status = self.wait(Duration::from_secs(60));
        let lines = self.lines();
        assert!(!status.success(), "{what}");
        assert!(
            lines.len() <= MAX_LINES,
            "{} lines:\n{}",
            lines.len(),
            lines.join("\n")
        );
        assert!(
            !lines.iter().any(|l| l.contains(secret)),
            "the password is never printed"
        );
        lines
    }

    fn wait(&mut self, within: Duration) -> std::process::ExitStatus {
        let child = self.child.as_mut().expect("running");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                self.child = None;
                // Let the reader thread drain what is left.
                std::thread::sleep(Duration::from_millis(200));
                return status;
            }
            assert!(start.elapsed() < within, "still running after {within:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.as_ref().expect("running").id();
        // SAFETY: kill(2) on our own, unreaped child.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        self.wait(Duration::from_secs(60))
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn one_host(fake: &FakeProc) {
    fake.process(100, "server", 1, 500, &["/usr/bin/server"], &[]);
}

#[test]
fn a_one_off_run_against_no_broker_fails_promptly_in_a_few_clear_lines() {
    let fake = FakeProc::new();
    one_host(&fake);
    let address = format!("127.0.0.1:{}", free_port());
    let args = strings(&[
        "collect",
        "procfs",
        "--once",
        "--proc-root",
        &fake.root(),
        "--kafka-brokers",
        &address,
    ]);
    let started = Instant::now();
    let mut run = Watched::spawn(&args, &[]);
    // 15 s for the bus to answer at all (`ONCE_SETUP_DEADLINE`), and slack.
    let status = run.wait(Duration::from_secs(60));
    let took = started.elapsed();
    let lines = run.lines();
    println!("{} lines in {took:?}", lines.len());
    assert!(
        !status.success(),
        "no broker, no sync: a one-off run exits non-zero"
    );
    assert!(
        lines.len() <= MAX_LINES,
        "{} lines:\n{}",
        lines.len(),
        lines.join("\n")
    );
    assert_eq!(
        run.count(&format!("cannot reach Kafka at {address}")),
        1,
        "one clear line names the address"
    );
    assert!(run.count("--kafka-brokers") >= 1, "and says what to check");
    let last = lines.last().expect("a final error");
    assert!(
        last.starts_with("infragraph: "),
        "the last line is the error: {last}"
    );
    let causes: Vec<&str> = last.split(": ").collect();
    let mut unique = causes.clone();
    unique.dedup();
    assert_eq!(causes, unique, "each cause said once: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_started_before_its_broker_says_so_once_and_recovers() {
    let Some(mut kafka) = Server::kafka() else {
        return;
    };
    let fake = FakeProc::new();
    one_host(&fake);
    let host = support::unique("ur-host");
    let names = Topics::new(support::unique("ur"));
    let address = kafka.address();
    let args = strings(&[
        "collect",
        "procfs",
        "--proc-root",
        &fake.root(),
        "--host-id",
        &host,
        "--interval",
        "1s",
        "--kafka-brokers",
        &address,
        "--topic-namespace",
        names.namespace(),
        "--topic-partitions",
        "1",
    ]);
    let mut collector = Watched::spawn(&args, &[]);
    tokio::time::sleep(OUTAGE).await;
    collector.assert_running();
    let during = collector.lines().len();
    println!("{during} lines in {OUTAGE:?} without a broker");
    assert!(
        during <= MAX_LINES,
        "{during} lines:\n{}",
        collector.lines().join("\n")
    );
    assert_eq!(
        collector.count(&format!("cannot reach Kafka at {address}")),
        1,
        "one clear line names the address"
    );

    kafka.start();
    let mut args = KafkaArgs::with_brokers(address);
    args.settings = support::kafka_settings();
    let bus = KafkaBus::connect(&args).expect("Kafka client");
    let codec = Codec::builtin();
    let deadline = Instant::now() + PATIENCE;
    let mut markers = loop {
        // The topic exists once the collector has created it.
        match bus.consumer(&support::unique("markers"), &[names.sync()]) {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => eprintln!("no consumer yet: {e}"),
            Err(e) => panic!("{e}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    loop {
        let m = tokio::time::timeout(PATIENCE, markers.recv())
            .await
            .expect("the collector syncs once the broker is up")
            .expect("a message");
        if codec
            .decode_sync_marker(&m.payload)
            .expect("a marker")
            .status
            == SyncStatus::Completed
        {
            break;
        }
    }
    collector.assert_running();
    assert!(
        collector.terminate().success(),
        "it stops cleanly after the outage"
    );
}

/// The password goes through the environment, as in production.
fn writer_args(p: &Pipeline, bolt: &BoltConfig) -> Vec<String> {
    let mut args = strings(&[
        "write",
        "--writer-group",
        &p.writer_group,
        "--batch-timeout-ms",
        "100",
    ]);
    args.extend(bolt_flags(bolt));
    args.extend(p.kafka());
    args.extend(support::kafka_flags());
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_started_before_its_database_says_so_once_and_recovers() {
    support::require!(brokers = support::KAFKA, "Kafka broker");
    let Some(mut neo4j) = Server::neo4j() else {
        return;
    };
    let bolt = BoltConfig {
        uri: neo4j.bolt_uri(),
        user: "neo4j".into(),
        password: NEO4J_PASSWORD.into(),
        database: "neo4j".into(),
        timeout: Duration::from_secs(60),
    };
    let p = Pipeline::unique(brokers, "urw");
    let fake = FakeProc::new();
    one_host(&fake);
    let host = support::unique("urw-host");
    let mut writer = Watched::spawn(
        &writer_args(&p, &bolt),
        &[("INFRAGRAPH_NEO4J_PASSWORD", &bolt.password)],
    );
    let _normalizer = p.normalizer(1);
    p.collect_procfs(&fake.root(), &host);
    tokio::time::sleep(OUTAGE).await;
    writer.assert_running();
    let during = writer.lines().len();
    println!("{during} writer lines in {OUTAGE:?} without a database");
    assert!(
        during <= MAX_LINES,
        "{during} lines:\n{}",
        writer.lines().join("\n")
    );
    assert_eq!(
        writer.count("failed: transient graph error"),
        1,
        "one line for the outage:\n{}",
        writer.lines().join("\n")
    );
    assert_eq!(
        writer.count(&format!("the graph database at {}", bolt.uri)),
        1,
        "naming the database and its flag"
    );

    neo4j.start();
    let sink = common::bolt(&bolt);
    eventually(
        "the host reaches the graph once the database is up",
        PATIENCE,
        async || match bolt_counts(&sink, &host).await {
            Ok(c) if c.nodes.get("Host") == Some(&1) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await;
    assert!(
        writer.count("recovered") >= 1,
        "the recovery is said:\n{}",
        writer.lines().join("\n")
    );
    assert!(
        writer.terminate().success(),
        "it stops cleanly after the outage"
    );
}

/// `collect procfs --once` against the SASL broker at `address` as alice
/// with `password`.
fn sasl_collector(address: &str, password: &str) -> Watched {
    let args = strings(&[
        "collect",
        "procfs",
        "--once",
        "--host-id",
        &support::unique("sasl-host"),
        "--kafka-brokers",
        address,
        "--topic-namespace",
        &support::unique("sasl"),
        "-X",
        "security.protocol=SASL_PLAINTEXT",
        "-X",
        "sasl.mechanisms=PLAIN",
        "-X",
        "sasl.username=alice",
    ]);
    Watched::spawn(&args, &[("INFRAGRAPH_KAFKA_X_SASL_PASSWORD", password)])
}

#[test]
fn refused_kafka_credentials_end_a_one_off_run_in_a_clear_line() {
    let Some(mut kafka) = Server::kafka_sasl(&["alice:alice-secret"]) else {
        return;
    };
    kafka.start();
    let mut refused = sasl_collector(&kafka.address(), "not-the-password");
    let lines = refused.refused(
        "not-the-password",
        "a one-off run whose credentials are refused fails",
    );
    assert_eq!(
        refused.count("refused the credentials"),
        1,
        "said once, naming the broker and what to check:\n{}",
        lines.join("\n")
    );
    let said = lines.iter().find(|l| l.contains("refused the credentials"));
    assert!(
        said.is_some_and(|l| l.contains(&kafka.address()) && l.contains("sasl.username")),
        "{said:?}"
    );
    // The same run with the right password: the broker and the flags were
    // fine, only the credentials were not.
    let mut accepted = sasl_collector(&kafka.address(), "alice-secret");
    let status = accepted.wait(Duration::from_secs(60));
    assert!(
        status.success() && accepted.count("sync completed") == 1,
        "{}",
        accepted.lines().join("\n")
    );
}

#[test]
fn refused_graph_credentials_end_the_writer_in_one_clear_line() {
    let Some(kafka) = support::service(support::KAFKA, "Kafka broker") else {
        return;
    };
    let Some(mut bolt) = bolt_config() else {
        return;
    };
    bolt.password = "not-the-password".into();
    let p = Pipeline::unique(kafka, "urc");
    let mut writer = Watched::spawn(
        &writer_args(&p, &bolt),
        &[("INFRAGRAPH_NEO4J_PASSWORD", &bolt.password)],
    );
    let lines = writer.refused(
        &bolt.password,
        "a writer whose credentials are refused stops",
    );
    let last = lines.last().expect("a final error");
    assert!(
        last.contains("refused the credentials") && last.contains(&bolt.uri),
        "the error says who refused what: {last}"
    );
}
