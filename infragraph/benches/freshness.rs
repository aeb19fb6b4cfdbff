//! End-to-end freshness: how long from a new TCP connection being opened to
//! its CONNECTS_TO edge being queryable, with `infragraph up` at its default
//! settings. Printed against Weave Scope's 3 s publish interval, the target:
//! median and worst of several connections, as a ratio to 3 s.
//!
//! Modes, each in the same run: embedded (in-memory bus), and over the real
//! broker (`--kafka-brokers`, when INFRAGRAPH_TEST_KAFKA is set); both write
//! the embedded store, which the benchmark polls.
//! Run: `scripts/bench freshness` (see BENCHMARKS.md); `-- --rounds N`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use infragraph_graph_writer::SqliteStore;
use infragraph_schemas::RelType;

const TARGET: Duration = Duration::from_secs(3);

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// Kills the child when dropped, so nothing outlives the benchmark.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python(code: &str) -> (Reaped, String) {
    let mut child = Command::new("python3")
        .args(["-c", code])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("python reports");
    (Reaped(child), line.trim().to_owned())
}

/// A listener and a client connected to it; returns both and the port once
/// the connection is established.
fn connection() -> (Reaped, Reaped, u16) {
    let (server, port) = python(
        "import socket,time\ns=socket.socket();s.bind(('127.0.0.1',0));s.listen();print(s.getsockname()[1],flush=True)\nc,_=s.accept();time.sleep(120)",
    );
    let (client, _) = python(&format!(
        "import socket,time\nc=socket.create_connection(('127.0.0.1',{port}));print('up',flush=True);time.sleep(120)"
    ));
    (server, client, port.parse().expect("a port"))
}

fn edge_visible(store: &SqliteStore, endpoint: &str) -> bool {
    let mut found = false;
    let _ = store.for_each_edge(|e| {
        found |= e.rel == RelType::ConnectsTo && e.to.id == endpoint;
        Ok::<_, infragraph_graph_writer::SinkError>(())
    });
    found
}

fn start_up(data: &Path, host: &str, extra: &[String]) -> Reaped {
    let child = Command::new(env!("CARGO_BIN_EXE_infragraph"))
        .args(["up", "--host-id", host, "--data-dir"])
        .arg(data)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("infragraph up starts");
    Reaped(child)
}

fn measure(mode: &str, extra: &[String], rounds: usize) {
    let data = std::env::temp_dir().join(format!("infragraph-freshness-{}-{mode}", std::process::id()));
    let host = format!("fresh-{}", std::process::id());
    let _up = start_up(&data, &host, extra);
    // The store exists once the first sync has been written.
    let deadline = Instant::now() + Duration::from_secs(60);
    let store = loop {
        if let Ok(s) = SqliteStore::open(&data)
            && s.counts_by_label().is_ok_and(|c| c.get("Host").copied().unwrap_or(0) > 0)
        {
            break s;
        }
        assert!(Instant::now() < deadline, "{mode}: infragraph up wrote nothing in 60 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut took = Vec::new();
    for _ in 0..rounds {
        let (_server, _client, port) = connection();
        let opened = Instant::now();
        let endpoint = format!("tcp://127.0.0.1:{port}@{host}");
        while !edge_visible(&store, &endpoint) {
            assert!(opened.elapsed() < Duration::from_secs(60), "{mode}: connection never appeared");
            std::thread::sleep(Duration::from_millis(20));
        }
        took.push(opened.elapsed());
    }
    took.sort();
    let median = took[took.len() / 2];
    let worst = took[took.len() - 1];
    println!(
        "{mode:<9} median {:>6.2}s  worst {:>6.2}s  ({} connections)  median/3s = {:.2}  worst/3s = {:.2}",
        median.as_secs_f64(),
        worst.as_secs_f64(),
        took.len(),
        median.as_secs_f64() / TARGET.as_secs_f64(),
        worst.as_secs_f64() / TARGET.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&data);
}

fn main() {
    let rounds: usize = arg("--rounds").and_then(|r| r.parse().ok()).unwrap_or(10);
    println!("new connection to queryable edge, `infragraph up` at default settings (target <= 3 s)");
    measure("embedded", &[], rounds);
    match std::env::var("INFRAGRAPH_TEST_KAFKA") {
        Ok(brokers) => {
            let ns = format!("fresh-{}", std::process::id());
            measure("kafka", &["--kafka-brokers".into(), brokers, "--topic-namespace".into(), ns], rounds);
        }
        Err(_) => println!("kafka     skipped: set INFRAGRAPH_TEST_KAFKA (scripts/bench starts a broker)"),
    }
}
