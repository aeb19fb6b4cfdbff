//! A private ArcadeDB server for tests that stop and restart the database,
//! so the shared one is never disturbed. Started from the cached install
//! `scripts/services.sh` makes; stopped and deleted on drop.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const VERSION: &str = "26.10.2.post1";
const PASSWORD: &str = "private-test";

pub struct ArcadeDb {
    java: PathBuf,
    jars: PathBuf,
    pub root: PathBuf,
    pub bolt_port: u16,
    http_port: u16,
    /// Starts so far, to tell this start's readiness line from earlier ones.
    starts: usize,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

impl ArcadeDb {
    /// The cached install, or `None` (a skip locally, a failure in CI).
    pub fn install() -> Option<Self> {
        let cache = std::env::var_os("INFRAGRAPH_CACHE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/infragraph")))?;
        let python = cache.join(format!("arcadedb-{VERSION}/bin/python"));
        let out = Command::new(&python)
            .args(["-c", "import arcadedb_embedded, os; print(os.path.dirname(arcadedb_embedded.__file__))"])
            .output()
            .ok()
            .filter(|o| o.status.success());
        let Some(out) = out else {
            assert!(!infragraph_test_support::in_ci(), "ArcadeDB {VERSION} is not installed under {}", cache.display());
            eprintln!("skipped: no cached ArcadeDB install (scripts/services.sh makes one)");
            return None;
        };
        let pkg = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let root = std::env::temp_dir().join(infragraph_test_support::unique("gw-arcadedb"));
        Some(ArcadeDb { java: pkg.join("jre/bin/java"), jars: pkg.join("jars"), root, bolt_port: free_port(), http_port: free_port(), starts: 0, child: None })
    }

    pub fn uri(&self) -> String {
        format!("bolt://127.0.0.1:{}", self.bolt_port)
    }

    pub fn password(&self) -> &'static str {
        PASSWORD
    }

    /// Starts the server (same ports and files as before) and waits until
    /// it serves Bolt.
    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.root.with_extension("log")).expect("log file");
        // ArcadeDB writes a log/ folder into its working directory.
        std::fs::create_dir_all(&self.root).expect("server root");
        let child = Command::new(&self.java)
            .current_dir(&self.root)
            .arg("-Xmx512m")
            .args(["--add-modules", "jdk.incubator.vector"])
            .arg(format!("-Darcadedb.server.rootPath={}", self.root.display()))
            .arg(format!("-Darcadedb.server.databaseDirectory={}/databases", self.root.display()))
            .arg(format!("-Darcadedb.server.rootPassword={PASSWORD}"))
            .arg("-Darcadedb.server.defaultDatabases=graph[root]")
            .arg("-Darcadedb.server.httpIncomingHost=127.0.0.1")
            .arg(format!("-Darcadedb.server.httpIncomingPort={}", self.http_port))
            .arg("-Darcadedb.server.plugins=Bolt:com.arcadedb.bolt.BoltProtocolPlugin")
            .arg("-Darcadedb.bolt.host=127.0.0.1")
            .arg(format!("-Darcadedb.bolt.port={}", self.bolt_port))
            .arg("-cp")
            .arg(format!("{}/*", self.jars.display()))
            .arg("com.arcadedb.server.ArcadeDBServer")
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("java starts");
        self.child = Some(child);
        let started = Instant::now();
        // Bolt listens before the databases are open: wait for both.
        let log = self.root.with_extension("log");
        let ready = || std::fs::read_to_string(&log).is_ok_and(|l| l.matches("ArcadeDB Server started").count() > self.starts);
        while !ready() || std::net::TcpStream::connect(("127.0.0.1", self.bolt_port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(120), "private ArcadeDB did not start; see {}", log.display());
            std::thread::sleep(Duration::from_millis(100));
        }
        self.starts += 1;
    }

    /// Stops the server the way an operator would (SIGTERM) and waits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }
}

impl Drop for ArcadeDb {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.root);
        let _ = std::fs::remove_file(self.root.with_extension("log"));
    }
}
