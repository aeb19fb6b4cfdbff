//! What the end-to-end tests share: child processes that clean up after
//! themselves (test programs and pipeline stages), a fake proc tree, and
//! reading one host's part of the graph from the embedded store and over
//! Bolt so the two can be compared.

#![allow(dead_code)]

pub mod cloudmap;
pub mod view;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use infragraph_bus::{KafkaArgs, KafkaBus};
use infragraph_graph_writer::progress::{Barriers, applied};
use infragraph_graph_writer::{BoltConfig, BoltSink, SqliteStore};
use infragraph_schemas::{SyncStatus, Topics};

pub const BIN: &str = env!("CARGO_BIN_EXE_infragraph");

// Each test binary uses its own subset of these.
#[allow(unused_imports)]
pub use infragraph_test_support::process::{CLIENT, Kid, SERVER, SERVER_ANY};

/// A pipeline stage (`infragraph collect|normalize|write`) run as its own
/// process, as in production. Dropped while running, it is killed.
pub struct Stage {
    pub name: String,
    child: Option<Child>,
}

impl Stage {
    pub fn spawn(name: &str, args: &[String], envs: &[(&str, &str)]) -> Stage {
        let child = Command::new(BIN)
            .args(args)
            .envs(envs.iter().copied())
            // Stage logs go to the test's stderr, so a failure shows why.
            .env("INFRAGRAPH_LOG", "warn,librdkafka=error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Stage {
            name: name.to_owned(),
            child: Some(child),
        }
    }

    /// Fails the test if the stage exited by itself: stages run until told
    /// to stop.
    pub fn assert_running(&mut self) {
        let child = self.child.as_mut().expect("stage not yet stopped");
        if let Some(status) = child.try_wait().expect("wait on stage") {
            panic!("{} exited on its own with {status}", self.name);
        }
    }

    /// SIGTERM, then waits (bounded) for a clean exit and returns its status.
    pub fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("stage not yet stopped");
        // SAFETY: kill(2) with a pid we spawned and have not reaped.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().expect("wait on stage") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{} did not stop within 60 s of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `infragraph ARGS` to completion; panics with its output unless it
/// exits 0. Returns stdout.
pub fn run_ok(args: &[String], envs: &[(&str, &str)]) -> String {
    let out = run(args, envs);
    assert!(
        out.status.success(),
        "infragraph {args:?} exited with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// Runs `infragraph ARGS` to completion, whatever its exit status.
pub fn run(args: &[String], envs: &[(&str, &str)]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run infragraph {args:?}: {e}"))
}

pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// A temporary directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let dir = std::env::temp_dir().join(infragraph_test_support::unique(prefix));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn str(&self) -> String {
        self.0.to_str().expect("temp dir path is UTF-8").to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------
// A fake proc tree: deterministic input for the collector (`--proc-root`).

/// Every fake process is in this network namespace, the host's.
const NETNS: &str = "net:[4026531840]";

pub struct FakeProc {
    pub dir: TempDir,
}

/// One row of a fake `net/tcp`: IPv4 local and remote address, TCP state,
/// socket inode.
#[derive(Clone, Copy, Debug)]
pub struct Tcp {
    pub local: ([u8; 4], u16),
    pub remote: ([u8; 4], u16),
    pub state: u8,
    pub inode: u64,
}

pub const TCP_ESTABLISHED: u8 = 0x01;
pub const TCP_LISTEN: u8 = 0x0A;

impl FakeProc {
    /// The files a proc root needs, and pid 1.
    pub fn new() -> FakeProc {
        let fp = FakeProc {
            dir: TempDir::new("fake-proc"),
        };
        fp.write("stat", "cpu 1 1 1\ncpu0 1 1 1\nbtime 1700000000\n");
        fp.write("sys/kernel/hostname", "fakehost\n");
        fp.write("sys/kernel/osrelease", "6.1.0-fake\n");
        fp.write("meminfo", "MemTotal: 1024 kB\n");
        fp.process(1, "init", 0, 1, &["/sbin/init"], &[]);
        fp
    }

    pub fn root(&self) -> String {
        self.dir.str()
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("a parent")).expect("create fake proc dir");
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    }

    /// A process with `sockets` (inodes) among its open descriptors.
    pub fn process(
        &self,
        pid: i32,
        comm: &str,
        ppid: i32,
        start_ticks: u64,
        argv: &[&str],
        sockets: &[u64],
    ) {
        let stat = format!(
            "{pid} ({comm}) S {ppid} 1 1 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 {start_ticks} 1000 10 0"
        );
        self.write(&format!("{pid}/stat"), &stat);
        self.write(&format!("{pid}/status"), "Uid:\t1000\t1000\t1000\t1000\n");
        self.write(
            &format!("{pid}/cmdline"),
            &argv.iter().map(|a| format!("{a}\0")).collect::<String>(),
        );
        self.write(&format!("{pid}/cgroup"), "0::/\n");
        let dir = self.dir.path().join(pid.to_string());
        std::fs::create_dir_all(dir.join("fd")).expect("create fd dir");
        std::fs::create_dir_all(dir.join("ns")).expect("create ns dir");
        std::os::unix::fs::symlink(NETNS, dir.join("ns/net")).expect("ns/net link");
        for (fd, inode) in sockets.iter().enumerate() {
            // The kernel's fd links read `socket:[inode]`; dangling is fine.
            std::os::unix::fs::symlink(
                format!("socket:[{inode}]"),
                dir.join(format!("fd/{}", fd + 3)),
            )
            .expect("fd link");
        }
    }

    /// As if the process exited: its directory is gone.
    pub fn remove_process(&self, pid: i32) {
        std::fs::remove_dir_all(self.dir.path().join(pid.to_string()))
            .expect("remove fake process");
    }

    /// The namespace's TCP table, read through pid 1.
    pub fn tcp(&self, rows: &[Tcp]) {
        let hex = |(ip, port): ([u8; 4], u16)| format!("{:08X}:{port:04X}", u32::from_le_bytes(ip));
        let mut text = String::from(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n",
        );
        for (i, r) in rows.iter().enumerate() {
            text.push_str(&format!(
                "{i:4}: {} {} {:02X} 00000000:00000000 00:00000000 00000000  1000        0 {} 1 0000000000000000 100 0 0 10 0\n",
                hex(r.local),
                hex(r.remote),
                r.state,
                r.inode
            ));
        }
        self.write("1/net/tcp", &text);
    }
}

// ---------------------------------------------------------------------------
// One host's part of the graph.

/// Node counts by label and relationship counts by type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub nodes: BTreeMap<String, u64>,
    pub edges: BTreeMap<String, u64>,
}

/// Whether a node id belongs to `host`: the host itself, its processes
/// (`<host>/…`) and its host-scoped endpoints (`…@<host>`).
pub fn owned_by(id: &str, host: &str) -> bool {
    id == host || id.starts_with(&format!("{host}/")) || id.contains(&format!("@{host}"))
}

/// The nodes of `host` in the embedded store, and every relationship with
/// at least one end among them.
pub fn store_elements(store: &SqliteStore, host: &str) -> Elements {
    let mut el = Elements::default();
    store
        .for_each_node(|n| {
            if owned_by(&n.id, host) {
                el.nodes.insert((n.kind.label().to_owned(), n.id.clone()));
            }
            Ok::<_, infragraph_graph_writer::SinkError>(())
        })
        .expect("read nodes from the store");
    store
        .for_each_edge(|e| {
            if owned_by(&e.from.id, host) || owned_by(&e.to.id, host) {
                el.edges.insert((
                    e.rel.as_str().to_owned(),
                    e.from.id.clone(),
                    e.to.id.clone(),
                ));
            }
            Ok::<_, infragraph_graph_writer::SinkError>(())
        })
        .expect("read relationships from the store");
    el
}

/// [`store_elements`], counted.
pub fn store_counts(store: &SqliteStore, host: &str) -> Counts {
    store_elements(store, host).counts()
}

/// What `infragraph up --once` on `proc_root` puts in a fresh embedded
/// store for `host`: what the real pipeline must end with too.
pub fn embedded_elements(proc_root: &str, host: &str) -> Elements {
    let data = TempDir::new("e2e-embedded");
    run_ok(
        &strings(&[
            "up",
            "--once",
            "--proc-root",
            proc_root,
            "--host-id",
            host,
            "--data-dir",
            &data.str(),
        ]),
        &[],
    );
    store_elements(
        &SqliteStore::open(data.path()).expect("open the embedded store"),
        host,
    )
}

/// The Bolt database of the test services, or `None` to skip.
pub fn bolt_config() -> Option<BoltConfig> {
    let t = infragraph_test_support::bolt_target()?;
    Some(BoltConfig {
        uri: t.uri,
        user: t.user,
        password: t.password,
        database: t.database,
        timeout: Duration::from_secs(300),
    })
}

pub fn bolt(cfg: &BoltConfig) -> BoltSink {
    BoltSink::connect(cfg).expect("the Bolt configuration is valid")
}

/// Flags pointing a stage at the test database; the password goes through
/// the environment, as flags show in `ps`.
pub fn bolt_flags(cfg: &BoltConfig) -> Vec<String> {
    strings(&[
        "--neo4j-uri",
        &cfg.uri,
        "--neo4j-user",
        &cfg.user,
        "--neo4j-database",
        &cfg.database,
    ])
}

const MINE: &str = "(x.id = $h OR x.id STARTS WITH $hp OR x.id CONTAINS $hs)";

fn host_query(text: &str, host: &str) -> neo4rs::Query {
    neo4rs::query(text)
        .param("h", host)
        .param("hp", format!("{host}/"))
        .param("hs", format!("@{host}"))
}

/// `host`'s nodes (label, id) and the relationships (type, from id, to id)
/// with at least one end among them, in the Bolt database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Elements {
    pub nodes: BTreeSet<(String, String)>,
    pub edges: BTreeSet<(String, String, String)>,
}

impl Elements {
    /// Counted the same way as [`store_counts`].
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for (label, _) in &self.nodes {
            *c.nodes.entry(label.clone()).or_insert(0) += 1;
        }
        for (rel, _, _) in &self.edges {
            *c.edges.entry(rel.clone()).or_insert(0) += 1;
        }
        c
    }
}

pub async fn bolt_elements(sink: &BoltSink, host: &str) -> Result<Elements, neo4rs::Error> {
    let params = [
        ("h", host.to_owned()),
        ("hp", format!("{host}/")),
        ("hs", format!("@{host}")),
    ];
    elements_where(sink, MINE, &params).await
}

/// The nodes matching `predicate` (a Cypher condition on `x`, with
/// `params`) and every relationship with at least one end among them.
pub async fn elements_where(
    sink: &BoltSink,
    predicate: &str,
    params: &[(&str, String)],
) -> Result<Elements, neo4rs::Error> {
    let query = |text: &str| {
        params
            .iter()
            .fold(neo4rs::query(text), |q, (k, v)| q.param(k, v.as_str()))
    };
    let mut el = Elements::default();
    let nodes = format!("MATCH (x) WHERE {predicate} RETURN labels(x) AS labels, x.id AS id");
    let mut rows = sink.graph().execute(query(&nodes)).await?;
    // An element the writer deletes while this reads it comes back with
    // nulls (Neo4j reads committed data as it goes): it is left out, and
    // the caller, which polls until the graph is what it expects, asks
    // again.
    while let Some(row) = rows.next().await? {
        let labels: Vec<String> = row.get("labels").expect("labels is a list of strings");
        let Some(id) = row
            .get::<Option<String>>("id")
            .expect("id is a string or null")
        else {
            continue;
        };
        for l in labels {
            el.nodes.insert((l, id.clone()));
        }
    }
    // One query per end, each anchored on an id predicate; a relationship
    // matched from both ends is one element of the set.
    for end in ["a", "b"] {
        let q = format!(
            "MATCH (a)-[r]->(b) WHERE {} RETURN type(r) AS rel, a.id AS a, b.id AS b",
            predicate.replace("x.", &format!("{end}."))
        );
        let mut rows = sink.graph().execute(query(&q)).await?;
        while let Some(row) = rows.next().await? {
            let get = |k: &str| row.get::<Option<String>>(k).expect("a string or null");
            let (Some(rel), Some(a), Some(b)) = (get("rel"), get("a"), get("b")) else {
                continue;
            };
            // The writer's index from a scope to its nodes is not the map.
            if rel != infragraph_graph_writer::querybuilder::ASSERTS {
                el.edges.insert((rel, a, b));
            }
        }
    }
    Ok(el)
}

/// `host`'s part of the Bolt database, counted as [`store_counts`] does.
pub async fn bolt_counts(sink: &BoltSink, host: &str) -> Result<Counts, neo4rs::Error> {
    Ok(bolt_elements(sink, host).await?.counts())
}

/// Deletes `host`'s nodes (and their relationships) from the shared
/// database, so runs do not pile up. Best effort.
pub async fn bolt_forget(sink: &BoltSink, host: &str) {
    let q = format!("MATCH (x) WHERE {MINE} DETACH DELETE x");
    if let Err(e) = sink.graph().run(host_query(&q, host)).await {
        eprintln!("note: could not remove host {host} from the test database: {e}");
    }
}

/// Polls `probe` until it returns `Some`, for at most `patience` (a
/// liveness bound, not a timing assertion); panics with `what` and the last
/// state otherwise.
pub async fn eventually<T, S: std::fmt::Debug>(
    what: &str,
    patience: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, S>,
) -> T {
    let start = Instant::now();
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(last) if start.elapsed() > patience => panic!(
                "{what}: not reached within {}s; last seen: {last:?}",
                patience.as_secs()
            ),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

// ---------------------------------------------------------------------------
// The production pipeline, each stage its own process.

/// The settings every stage of one test's pipeline shares: its own topics
/// and consumer groups on the shared broker.
pub struct Pipeline {
    pub brokers: String,
    pub namespace: String,
    pub normalizer_group: String,
    pub writer_group: String,
}

impl Pipeline {
    /// A pipeline on `brokers` with names no other test run uses.
    pub fn unique(brokers: String, prefix: &str) -> Pipeline {
        let unique = infragraph_test_support::unique;
        Pipeline {
            brokers,
            namespace: unique(prefix),
            normalizer_group: unique(&format!("{prefix}-norm")),
            writer_group: unique(&format!("{prefix}-write")),
        }
    }

    pub fn kafka(&self) -> Vec<String> {
        strings(&[
            "--kafka-brokers",
            &self.brokers,
            "--topic-namespace",
            &self.namespace,
        ])
    }

    /// Consumers notice a lost group member quickly, so normalizers settle
    /// their partitions fast.
    fn consumer(&self) -> Vec<String> {
        let mut v = self.kafka();
        v.extend(infragraph_test_support::kafka_flags());
        v
    }

    pub fn normalizer(&self, n: usize) -> Stage {
        self.normalizer_with(n, &[])
    }

    /// A normalizer with `extra` flags.
    pub fn normalizer_with(&self, n: usize, extra: &[&str]) -> Stage {
        let mut args = strings(&["normalize", "--normalizer-group", &self.normalizer_group]);
        args.extend(strings(extra));
        args.extend(self.consumer());
        Stage::spawn(&format!("normalizer {n}"), &args, &[])
    }

    pub fn writer(&self, bolt: &BoltConfig) -> Stage {
        let mut args = strings(&[
            "write",
            "--writer-group",
            &self.writer_group,
            "--batch-timeout-ms",
            "100",
        ]);
        args.extend(bolt_flags(bolt));
        args.extend(self.consumer());
        Stage::spawn(
            "writer",
            &args,
            &[("INFRAGRAPH_NEO4J_PASSWORD", &bolt.password)],
        )
    }

    /// `infragraph ARGS` running until stopped (a collector without
    /// `--once`), on this pipeline's topics.
    pub fn stage(&self, name: &str, args: &[&str]) -> Stage {
        let mut all = strings(args);
        all.extend(self.kafka());
        Stage::spawn(name, &all, &[])
    }

    /// One complete sync by `infragraph collect ARGS --once`, on this
    /// pipeline's topics.
    pub fn collect(&self, args: &[&str], envs: &[(&str, &str)]) {
        run_ok(&self.collect_args(args), envs);
    }

    /// A sync by `infragraph collect ARGS --once` that must fail (exit
    /// non-zero); returns what it printed on stderr.
    pub fn collect_failing(&self, args: &[&str], envs: &[(&str, &str)]) -> String {
        let all = self.collect_args(args);
        let out = run(&all, envs);
        assert!(
            !out.status.success(),
            "infragraph {all:?} was expected to fail but exited 0"
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn collect_args(&self, args: &[&str]) -> Vec<String> {
        let mut all = strings(&["collect"]);
        all.extend(strings(args));
        all.push("--once".to_owned());
        all.extend(self.kafka());
        all
    }

    /// Waits until this pipeline's writer has applied a sync barrier of
    /// `scope` with `status` that comes after the changes topic's offset
    /// `after` (an earlier call's answer; the topic is read from its start,
    /// so an older barrier of the scope must not count). Everything the
    /// normalizer sent before it is then in the graph, and its cleanup (if
    /// any) is done. Returns the barrier's offset.
    pub async fn await_barrier(
        &self,
        scope: &str,
        status: SyncStatus,
        after: Option<i64>,
        patience: Duration,
    ) -> i64 {
        let mut args = KafkaArgs::with_brokers(self.brokers.as_str());
        args.topic_namespace = self.namespace.clone();
        let bus = KafkaBus::connect(&args).expect("Kafka client");
        let names = Topics::new(&self.namespace);
        let mut barriers = Barriers::new(&bus, &names).expect("a consumer of the changes topic");
        let offset = eventually(
            &format!("a {status:?} barrier of {scope} on the changes topic"),
            patience,
            async || {
                barriers
                    .poll(Duration::from_secs(1))
                    .await
                    .map_err(|e| e.to_string())?;
                let newer = barriers.at.iter().filter(|((s, _), (st, o))| {
                    s.scope == scope && *st == status && after.is_none_or(|a| *o > a)
                });
                newer
                    .map(|(_, (_, o))| *o)
                    .max()
                    .ok_or_else(|| format!("barriers so far: {:?}", barriers.at))
            },
        )
        .await;
        eventually(
            "the writer applies the barrier",
            patience,
            async || match applied(&bus, &names, &self.writer_group, offset).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(format!("not yet past offset {offset}")),
                Err(e) => Err(e.to_string()),
            },
        )
        .await;
        offset
    }

    /// One complete sync of `proc_root` as `host`, by the procfs collector.
    pub fn collect_procfs(&self, proc_root: &str, host: &str) {
        self.collect(
            &["procfs", "--proc-root", proc_root, "--host-id", host],
            &[],
        );
    }
}
