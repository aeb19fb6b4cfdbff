//! The live view for the end-to-end tests: `infragraph up|ui` serving it,
//! plain HTTP reads of its API, and the browser script
//! (`tests/browser/live.cjs`) driving Debian's chromium through
//! playwright-core.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::BIN;

/// `infragraph ARGS` serving the view; killed when dropped.
pub struct Serving {
    child: Child,
    pub url: String,
}

impl Serving {
    /// Starts `infragraph ARGS` and waits (bounded) for the address it prints.
    pub fn start(args: &[String]) -> Serving {
        Self::start_with(args, &[])
    }

    pub fn start_with(args: &[String], envs: &[(&str, &str)]) -> Serving {
        let mut child = Command::new(BIN)
            .args(args)
            .envs(envs.iter().copied())
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

    /// `GET path` of the view's API, as JSON; panics on a non-200 answer.
    pub fn json(&self, path: &str) -> serde_json::Value {
        let (status, body) = get(&self.url, path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).expect("the API answers JSON")
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `GET url+path` over plain HTTP/1.1: the status and the body.
pub fn get(url: &str, path: &str) -> (u16, String) {
    try_get(url, path).unwrap_or_else(|e| panic!("GET {url}{path}: {e}"))
}

/// [`get`], with a refused connection or a garbled answer as an error,
/// for waiting on a server that is starting.
pub fn try_get(url: &str, path: &str) -> std::io::Result<(u16, String)> {
    let address = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(address)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let garbled = || std::io::Error::other(format!("not an HTTP answer: {raw:?}"));
    let (head, body) = raw.split_once("\r\n\r\n").ok_or_else(garbled)?;
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok());
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body).ok_or_else(garbled)?
    } else {
        body.to_owned()
    };
    Ok((status.ok_or_else(garbled)?, body))
}

/// A body sent in chunks (as Go's servers send a long one), joined.
fn dechunk(mut rest: &str) -> Option<String> {
    let mut body = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.push_str(after.get(..size)?);
        rest = after.get(size..)?.strip_prefix("\r\n")?;
    }
}

/// Where playwright-core is installed, or `None` (a failure under CI)
/// when this machine lacks it.
pub fn browser_modules() -> Option<String> {
    infragraph_test_support::service(
        "INFRAGRAPH_TEST_BROWSER_MODULES",
        "playwright-core (scripts/test installs it)",
    )
}

/// `node tests/browser/live.cjs ARGS` with playwright-core at `modules`;
/// its output is echoed, and a failure fails the test.
pub fn browser(modules: &str, args: &[&str]) -> String {
    let chromium = std::env::var("INFRAGRAPH_TEST_CHROMIUM")
        .unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let out: Output = Command::new("node")
        .arg(repo_root().join("tests/browser/live.cjs"))
        .args(args)
        .env("NODE_PATH", modules)
        .env("INFRAGRAPH_CHROMIUM", &chromium)
        .stdin(Stdio::null())
        .output()
        .expect("run node (is node installed?)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "the browser script failed ({}); see its output above",
        out.status
    );
    stdout
}
