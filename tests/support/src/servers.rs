//! Private Kafka and Neo4j servers for tests that stop and restart one, so
//! the shared services are never disturbed. Each runs the same script
//! `scripts/services.sh` runs (`tests/services/kafka.sh`, `neo4j.sh`), from
//! the jars it installed, in a directory of its own that survives a restart
//! and is deleted on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The password of a private Neo4j's `neo4j` user.
pub const NEO4J_PASSWORD: &str = "private-test";

/// A server process started from one of `tests/services/*.sh`.
pub struct Server {
    what: &'static str,
    script: PathBuf,
    lib: (&'static str, String),
    pub dir: PathBuf,
    /// The script's arguments after the directory.
    args: Vec<String>,
    /// Variables for the script (a SASL listener's users).
    env: Vec<(&'static str, String)>,
    /// The file whose `marker` lines count completed starts.
    ready_log: PathBuf,
    marker: &'static str,
    port: u16,
    starts: usize,
    child: Option<Child>,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// How one kind of server is run and known to be ready.
struct Kind {
    what: &'static str,
    script: &'static str,
    /// The variable naming its jars, for the script and for the test.
    lib: (&'static str, &'static str),
    /// Under the server's directory.
    ready_log: &'static str,
    marker: &'static str,
}

impl Server {
    /// A private Kafka node (KRaft), or `None` (a skip locally, a failure in CI).
    pub fn kafka() -> Option<Server> {
        let kind = Kind {
            what: "Kafka",
            script: "kafka.sh",
            lib: ("KAFKA_LIB", "INFRAGRAPH_TEST_KAFKA_LIB"),
            ready_log: "server.log",
            marker: "Kafka Server started",
        };
        Server::new(kind, vec![free_port().to_string()])
    }

    /// A private Kafka node whose client listener takes SASL_PLAINTEXT
    /// with the PLAIN mechanism, for `users` (`name:password`) only.
    pub fn kafka_sasl(users: &[&str]) -> Option<Server> {
        let mut server = Server::kafka()?;
        server.env.push(("KAFKA_SASL_USERS", users.join(" ")));
        Some(server)
    }

    /// A private Neo4j with authentication on ([`NEO4J_PASSWORD`]), or `None`.
    pub fn neo4j() -> Option<Server> {
        let kind = Kind {
            what: "Neo4j",
            script: "neo4j.sh",
            lib: ("NEO4J_LIB", "INFRAGRAPH_TEST_NEO4J_LIB"),
            ready_log: "logs/neo4j.log",
            marker: "Started.",
        };
        Server::new(kind, vec![NEO4J_PASSWORD.to_owned()])
    }

    /// A server of `kind` on a free client port; `extra` follows the
    /// directory and that port on the script's command line.
    fn new(kind: Kind, extra: Vec<String>) -> Option<Server> {
        let lib = crate::service(kind.lib.1, &format!("{}'s jars", kind.what))?;
        let dir = std::env::temp_dir().join(crate::unique(&kind.what.to_lowercase()));
        let port = free_port();
        let mut args = vec![dir.display().to_string(), port.to_string()];
        args.extend(extra);
        Some(Server {
            what: kind.what,
            script: Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../services")
                .join(kind.script),
            lib: (kind.lib.0, lib),
            ready_log: dir.join(kind.ready_log),
            marker: kind.marker,
            args,
            env: Vec::new(),
            dir,
            port,
            starts: 0,
            child: None,
        })
    }

    /// The client port: Kafka's `host:port`, or Neo4j's Bolt port.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    pub fn bolt_uri(&self) -> String {
        format!("bolt://{}", self.address())
    }

    /// Starts the server (same ports and files as before) and waits until
    /// it serves clients.
    pub fn start(&mut self) {
        std::fs::create_dir_all(&self.dir).expect("server directory");
        let out = self.dir.join("server.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&out)
            .expect("server log");
        let child = Command::new("bash")
            .arg(&self.script)
            .args(&self.args)
            .env(self.lib.0, &self.lib.1)
            .envs(self.env.iter().map(|(k, v)| (*k, v)))
            .current_dir(&self.dir)
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("bash starts");
        self.child = Some(child);
        let started = Instant::now();
        let ready = || {
            std::fs::read_to_string(&self.ready_log)
                .is_ok_and(|l| l.matches(self.marker).count() > self.starts)
        };
        while !ready() || std::net::TcpStream::connect(("127.0.0.1", self.port())).is_err() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "private {} exited ({status}) before it was ready; see {}",
                    self.what,
                    out.display()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(180),
                "private {} did not start; see {}",
                self.what,
                out.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.starts += 1;
    }

    /// Stops the server the way an operator would (SIGTERM) and waits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid has no memory effects.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
