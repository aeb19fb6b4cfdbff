//! Helpers shared by infragraph's tests.
//!
//! Service-backed tests find their service through an environment variable
//! that `scripts/test` sets after starting it. Locally, a missing service
//! skips the test with a note; with `CI=true` it fails the test, so a
//! service that did not start can never pass as green.

// A helper that cannot do its job fails the test that called it, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};

pub mod github;
pub mod hosts;
pub mod process;
pub mod servers;

/// Apache Kafka broker, `host:port`.
pub const KAFKA: &str = "INFRAGRAPH_TEST_KAFKA";
/// Neo4j (or another Bolt graph database), `bolt://host:port`.
pub const BOLT: &str = "INFRAGRAPH_TEST_BOLT";
/// Bolt user and password, `user:password`.
pub const BOLT_AUTH: &str = "INFRAGRAPH_TEST_BOLT_AUTH";
/// The database to write in; Neo4j's default `neo4j` when unset.
pub const BOLT_DATABASE: &str = "INFRAGRAPH_TEST_BOLT_DATABASE";
/// AWS API server (moto), `http://host:port`.
pub const AWS: &str = "INFRAGRAPH_TEST_AWS";
/// A Python interpreter with fastavro installed.
pub const PYTHON: &str = "INFRAGRAPH_TEST_PYTHON";

/// A binary of the `infragraph` package (`infragraph-normalizer`,
/// `infragraph-graph-writer`, …), for a stage crate's test that runs its
/// stage as a process of its own. Cargo hands a test only its own
/// package's binaries, and the stage binaries live in `infragraph`, over
/// the same stage functions as `infragraph <stage>`. `cargo build
/// --workspace` (which `scripts/test` runs first) or `cargo nextest run
/// --workspace` builds them beside the test; run alone, a stage crate's
/// test needs `cargo build -p infragraph` first.
pub fn stage_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe.parent().and_then(|deps| deps.parent());
    let bin = dir.map(|d| d.join(name));
    match bin {
        Some(bin) if bin.is_file() => bin,
        _ => panic!(
            "no {name} beside {}: build it first with `cargo build -p infragraph` (scripts/test builds the workspace)",
            exe.display()
        ),
    }
}

pub fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"))
}

/// The value of `var`, or `None` when the test should skip. Panics in CI.
pub fn service(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ if in_ci() => {
            panic!("{what} is required in CI but {var} is not set: scripts/test starts it")
        }
        _ => {
            eprintln!("skipped: no {what} ({var} not set; scripts/test starts one)");
            None
        }
    }
}

/// Binds `let $name = …` to the service address, or returns from the test.
#[macro_export]
macro_rules! require {
    ($name:ident = $var:expr, $what:expr) => {
        let Some($name) = $crate::service($var, $what) else {
            return;
        };
    };
}

/// A name no other test or run on the same services uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}-{}-{nanos:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// librdkafka settings for test consumers: fast group membership on a
/// broker on loopback (the broker's documented sweet spot).
pub const KAFKA_CONSUMER_SETTINGS: [(&str, &str); 2] = [
    ("session.timeout.ms", "6000"),
    ("heartbeat.interval.ms", "1000"),
];

/// [`KAFKA_CONSUMER_SETTINGS`] as owned pairs, for `KafkaArgs::settings`.
pub fn kafka_settings() -> Vec<(String, String)> {
    KAFKA_CONSUMER_SETTINGS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// [`KAFKA_CONSUMER_SETTINGS`] as `-X key=value` flags, for stage binaries.
pub fn kafka_flags() -> Vec<String> {
    KAFKA_CONSUMER_SETTINGS
        .iter()
        .flat_map(|(k, v)| ["-X".to_owned(), format!("{k}={v}")])
        .collect()
}

/// Where the test graph database is and how to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoltTarget {
    pub uri: String,
    pub user: String,
    pub password: String,
    /// The database the test services write in.
    pub database: String,
}

/// The Bolt database of the test services, or `None` to skip (panics in CI).
pub fn bolt_target() -> Option<BoltTarget> {
    let uri = service(BOLT, "Bolt graph database")?;
    let auth = std::env::var(BOLT_AUTH).unwrap_or_default();
    let (user, password) = auth.split_once(':').unwrap_or(("neo4j", ""));
    let database = std::env::var(BOLT_DATABASE)
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "neo4j".to_owned());
    Some(BoltTarget {
        uri,
        user: user.to_owned(),
        password: password.to_owned(),
        database,
    })
}
