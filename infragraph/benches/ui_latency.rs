//! Time from a new TCP connection being opened to its edge being drawn in
//! the browser, at `infragraph up`'s default settings (1 s sync interval,
//! 500 ms writer batch timeout): `tests/browser/live.cjs latency` opens
//! `INFRAGRAPH_BENCH_CONNECTIONS` (default 20) connections one after
//! another, spread over the sync interval, to a server of its own and
//! waits for each edge in chromium. Median and worst; target ≤ 3 s (Weave
//! Scope's publish interval). Run with `scripts/bench ui-latency`.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// The allocator the binaries run with (infragraph/src/main.rs), so the
/// figures are the deployed code's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn main() {
    let Ok(modules) = std::env::var("INFRAGRAPH_TEST_BROWSER_MODULES") else {
        println!(
            "connection → edge: skipped (INFRAGRAPH_TEST_BROWSER_MODULES not set; scripts/bench sets it)"
        );
        return;
    };
    let n = std::env::var("INFRAGRAPH_BENCH_CONNECTIONS").unwrap_or_else(|_| "20".to_owned());
    let host = infragraph_test_support::unique("bench-ui-latency");
    let data = std::env::temp_dir().join(&host);
    let mut up = Command::new(env!("CARGO_BIN_EXE_infragraph"))
        .args([
            "up",
            "--host-id",
            &host,
            "--ui-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start infragraph up");
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = up.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.split("live view on ").nth(1) {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("up prints the view's address");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser/live.cjs");
    let out = Command::new("node")
        .arg(&script)
        .args(["latency", &url, &host, &n])
        .env("NODE_PATH", &modules)
        .output()
        .expect("run node");
    let _ = up.kill();
    let _ = up.wait();
    std::fs::remove_dir_all(&data).ok();
    assert!(
        out.status.success(),
        "latency run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("latency prints JSON");
    println!(
        "load average: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "connection opened → edge drawn in chromium, {} connections: median {} ms, worst {} ms, best {} ms; target ≤ 3000 ms",
        r["n"], r["median_ms"], r["worst_ms"], r["best_ms"]
    );
    println!("samples (ms): {}", r["samples_ms"]);
}
