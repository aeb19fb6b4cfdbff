//! `scripts/stack`, end to end: `up` starts Kafka, Neo4j, two normalizers,
//! the writer, this host's collector and the live view as local processes
//! and returns when every health endpoint says ready; this host is then
//! mapped in that Neo4j and in the view's API; `down` stops every process
//! it started and frees every port.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::*;
use infragraph_graph_writer::BoltConfig;
use infragraph_test_support as support;

/// The stack's ports start here: away from the test services', from a
/// stack a developer may run (31000), and below Linux's ephemeral range
/// (32768 up), where another test's connection may hold one.
const BASE: u16 = 21000;

fn stack(state: &Path, host: &str, command: &[&str]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/stack");
    Command::new("bash")
        .arg(script)
        .args(command)
        .env("INFRAGRAPH_STACK_DIR", state)
        .env("INFRAGRAPH_STACK_PORT", BASE.to_string())
        .env("INFRAGRAPH_BIN", BIN)
        .env("INFRAGRAPH_HOST_ID", host)
        .output()
        .expect("run scripts/stack")
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Stops the stack however the test ends.
struct Down(PathBuf, String);

impl Drop for Down {
    fn drop(&mut self) {
        if self.0.exists() {
            stack(&self.0, &self.1, &["down", "--wipe"]);
        }
    }
}

fn pids(state: &Path) -> Vec<(String, i32)> {
    let run = std::fs::read_dir(state.join("run")).expect("the stack's run directory");
    run.filter_map(Result::ok)
        .filter_map(|e| {
            let name = e
                .file_name()
                .to_string_lossy()
                .strip_suffix(".pid")?
                .to_owned();
            Some((
                name,
                std::fs::read_to_string(e.path())
                    .ok()?
                    .trim()
                    .parse()
                    .ok()?,
            ))
        })
        .collect()
}

/// Exists and is not a zombie (an exited process its new parent, maybe a
/// container's init, has not reaped yet).
fn running(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| state != "Z")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_up_maps_this_host_and_down_leaves_nothing_running() {
    if !support::in_ci() && std::env::var_os(support::KAFKA).is_none() {
        eprintln!("skipped: runs with the test services' installs (scripts/test or CI=true)");
        return;
    }
    let dir = TempDir::new("stack");
    let state = dir.path().join("state");
    let host = support::unique("stack-host");
    let _down = Down(state.clone(), host.clone());

    let up = stack(&state, &host, &["up"]);
    assert!(up.status.success(), "{}", said(&up));
    for stage in ["normalizer-1", "normalizer-2", "writer", "procfs", "view"] {
        assert!(
            said(&up)
                .lines()
                .any(|l| l.starts_with(stage) && l.ends_with(": 200")),
            "{stage} ready: {}",
            said(&up)
        );
    }
    let started = pids(&state);
    assert_eq!(
        started.len(),
        7,
        "kafka, neo4j, four stages and the view: {started:?}"
    );

    let password = std::fs::read_to_string(state.join("neo4j_password"))
        .expect("the stack's Neo4j password")
        .trim()
        .to_owned();
    let cfg = BoltConfig {
        uri: format!("bolt://127.0.0.1:{}", BASE + 687),
        user: "neo4j".into(),
        password,
        database: "neo4j".into(),
        timeout: Duration::from_secs(60),
    };
    let sink = bolt(&cfg);
    let q = || {
        neo4rs::query("MATCH (h:Host {id: $h})<-[:RUNS_ON]-(p:Process) RETURN count(p) AS n")
            .param("h", host.clone())
    };
    eventually(
        "this host's processes reach the stack's Neo4j",
        Duration::from_secs(120),
        async || {
            let mut rows = sink.graph().execute(q()).await.map_err(|e| e.to_string())?;
            let n: i64 = rows
                .next()
                .await
                .map_err(|e| e.to_string())?
                .and_then(|r| r.get("n").ok())
                .unwrap_or(0);
            if n > 0 {
                Ok(n)
            } else {
                Err("no process yet".to_owned())
            }
        },
    )
    .await;

    // The view polls the graph's counts every second, then rebuilds.
    eventually(
        "the view's hosts topology shows this host",
        Duration::from_secs(60),
        async || {
            let answer =
                std::net::TcpStream::connect(("127.0.0.1", BASE + 40)).and_then(|mut s| {
                    use std::io::{Read, Write};
                    write!(s, "GET /api/topology/hosts HTTP/1.0\r\n\r\n")?;
                    let mut out = String::new();
                    s.read_to_string(&mut out).map(|_| out)
                });
            match answer {
                Ok(a)
                    if a.lines().next().is_some_and(|l| l.contains(" 200 "))
                        && a.contains(&host) =>
                {
                    Ok(())
                }
                Ok(a) => Err(a),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await;

    let status = stack(&state, &host, &["status"]);
    assert!(status.status.success(), "{}", said(&status));
    let down = stack(&state, &host, &["down"]);
    assert!(down.status.success(), "{}", said(&down));
    let left: Vec<_> = started.iter().filter(|(_, pid)| running(*pid)).collect();
    assert!(left.is_empty(), "still running after down: {left:?}");
    for port in [
        BASE + 92,
        BASE + 93,
        BASE + 687,
        BASE + 81,
        BASE + 82,
        BASE + 83,
        BASE + 84,
        BASE + 40,
    ] {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} still open after down"
        );
    }
    let status = stack(&state, &host, &["status"]);
    assert!(
        !status.status.success(),
        "status says stopped: {}",
        said(&status)
    );
}
