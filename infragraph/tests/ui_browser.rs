//! The live view in a real browser: `infragraph up` serves the page;
//! Debian's chromium, driven by playwright-core (`tests/browser/live.cjs`),
//! opens it, sees a connection the script opens between two processes of
//! its own appear as an edge without a reload, clicks the server and reads
//! its listening endpoint in the details, and saves a screenshot. Beside
//! it, `infragraph ui` serves the same API over a store `up` wrote, and
//! `up` refuses to expose the view beyond loopback unless told to.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::view::{Serving, browser, browser_modules, get};
use common::*;

#[test]
fn the_page_draws_a_new_connection_live_and_shows_the_servers_listener() {
    let Some(modules) = browser_modules() else {
        return;
    };
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
    let shot = screenshot.to_str().expect("UTF-8 path");
    let stdout = browser(&modules, &["test", &up.url, &host, shot]);
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
