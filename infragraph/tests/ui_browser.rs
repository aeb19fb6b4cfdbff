//! The live view in a real browser: `infragraph up` serves the page;
//! Debian's chromium, driven by playwright-core (`tests/browser/live.cjs`),
//! opens it, sees a connection the script opens between two processes of
//! its own appear as an edge without a reload, clicks the server and reads
//! its listening endpoint in the details, and saves a screenshot. Beside
//! it, `infragraph ui` serves the same API over a store `up` wrote, and
//! `up` refuses to expose the view beyond loopback unless told to.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// `infragraph ARGS` serving the view; killed when dropped.
struct Serving {
    child: Child,
    url: String,
}

impl Serving {
    /// Starts `infragraph ARGS` and waits (bounded) for the address it prints.
    fn start(args: &[String]) -> Serving {
        let mut child = Command::new(BIN)
            .args(args)
            .env("INFRAGRAPH_LOG", "warn,librdkafka=error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start infragraph");
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().expect("piped stderr");
        // Keeps draining stderr (the status line) so the child never blocks.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("infragraph: {line}");
                if let Some(url) = line.split("live view on ").nth(1) {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("infragraph {args:?} printed no view address within 60 s")
            });
        Serving { child, url }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn the_page_draws_a_new_connection_live_and_shows_the_servers_listener() {
    let Some(modules) = infragraph_test_support::service(
        "INFRAGRAPH_TEST_BROWSER_MODULES",
        "playwright-core (scripts/test installs it)",
    ) else {
        return;
    };
    let chromium = std::env::var("INFRAGRAPH_TEST_CHROMIUM")
        .unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let host = infragraph_test_support::unique("ui-browser");
    let data = TempDir::new("ui-browser-data");
    let up = Serving::start(&strings(&[
        "up",
        "--host-id",
        &host,
        "--data-dir",
        &data.str(),
        "--ui-listen",
        "127.0.0.1:0",
    ]));
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-live.png");
    let out = Command::new("node")
        .arg(repo_root().join("tests/browser/live.cjs"))
        .args(["test", &up.url, &host])
        .arg(&screenshot)
        .env("NODE_PATH", &modules)
        .env("INFRAGRAPH_CHROMIUM", &chromium)
        .stdin(Stdio::null())
        .output()
        .expect("run node (is node installed?)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "the browser test failed ({}); see its output above",
        out.status
    );
    assert!(
        stdout.contains("without a reload") && stdout.contains("LISTENS_ON 127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        std::fs::metadata(&screenshot).is_ok_and(|m| m.len() > 0),
        "a screenshot at {}",
        screenshot.display()
    );
    drop(up);
}

/// `GET url+path` over plain HTTP/1.1: the status and the body.
fn get(url: &str, path: &str) -> (u16, String) {
    let address = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(address).expect("connect to the view");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read the answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a header block");
    (
        head.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("a status"),
        body.to_owned(),
    )
}

#[test]
fn infragraph_ui_serves_a_store_up_wrote_read_only() {
    let host = infragraph_test_support::unique("ui-alone");
    let data = TempDir::new("ui-alone-data");
    run_ok(
        &strings(&[
            "up",
            "--once",
            "--host-id",
            &host,
            "--data-dir",
            &data.str(),
        ]),
        &[],
    );
    let ui = Serving::start(&strings(&[
        "ui",
        "--data-dir",
        &data.str(),
        "--ui-listen",
        "127.0.0.1:0",
    ]));
    let (status, body) = get(
        &ui.url,
        &format!("/api/topology/processes?host={host}&limit=10000"),
    );
    assert_eq!(status, 200, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let nodes = view["nodes"].as_array().expect("nodes");
    assert!(
        nodes.iter().any(|n| n["id"] == format!("Host:{host}")),
        "the host: {body}"
    );
    assert!(
        nodes.iter().any(|n| n["kind"] == "Process"),
        "its processes: {body}"
    );
    let (status, body) = get(&ui.url, "/api/topology/processes?limit=100000000");
    assert_eq!(status, 400, "{body}");
    let (status, page) = get(&ui.url, "/");
    assert_eq!(status, 200);
    assert!(page.contains("app.js"), "the page: {page}");
}

#[test]
fn the_view_stays_on_loopback_unless_exposing_it_is_asked_for() {
    let data = TempDir::new("ui-exposed");
    let out = Command::new(BIN)
        .args(["up", "--data-dir", &data.str(), "--ui-listen", "0.0.0.0:0"])
        .stdin(Stdio::null())
        .output()
        .expect("run infragraph");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "up must refuse 0.0.0.0 without --ui-expose: {stderr}"
    );
    assert!(
        stderr.contains("--ui-expose") && stderr.contains("exposes the graph"),
        "{stderr}"
    );
}
