//! The fleet benchmark (issue 13): simulated hosts synced by the real
//! collector runtime (`infragraph_collector::run`, as procfs is), through
//! Kafka, `--normalizers` `infragraph normalize` processes in one group and
//! one `infragraph write` process, into Neo4j. Prints, per window and over
//! the run: observations/s, graph writes applied beside churn, the time
//! from each COMPLETED marker to its barrier being applied, cleanup time
//! per reconciliation, and every process's peak RSS and CPU.
//!
//! Each mode is one run on fresh topics: `delta` (reconciliations every
//! `--reconcile-interval`, as deployed) and `baseline` (every sync a
//! reconciliation: every element touched and the scope cleaned up each
//! time, the write pattern of the design before deltas). With both, the
//! ratios follow.
//!
//! Needs INFRAGRAPH_TEST_KAFKA, INFRAGRAPH_TEST_BOLT and
//! INFRAGRAPH_TEST_BOLT_AUTH (`scripts/services`, or `scripts/bench fleet`).
//! Flags (or environment): `--hosts` (INFRAGRAPH_FLEET_HOSTS, 20),
//! `--secs` (INFRAGRAPH_FLEET_SECS, 60), `--modes` (INFRAGRAPH_FLEET_MODES,
//! `delta,baseline`), `--interval` (2s), `--churn` (0.01), `--processes`
//! (100), `--sockets` (20), `--reconcile-interval` (5m), `--normalizers`
//! (2), `--partitions` (6), `--window` (30s), `--drain` (60s),
//! `--keep-graph` (leave the run's nodes in Neo4j).

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// The allocator the binaries run with (infragraph/src/main.rs), so the
/// figures are the deployed code's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod model;
mod procs;
mod report;
mod watch;

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use infragraph_bus::{KafkaArgs, KafkaBus, TopicLayout};
use infragraph_collector::{Schedule, Syncer, parse_duration};
use infragraph_graph_writer::{
    BoltConfig, BoltSink, SYNC_LABEL, plan::SCOPE, querybuilder::ASSERTS,
};
use infragraph_schemas::ResourceKind;
use tokio::sync::watch as signal;
use tokio::task::JoinHandle;

use model::{Churn, FleetHost, Net, Shape};
use procs::Stage;
use watch::{Progress, wall_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Delta,
    Baseline,
}

impl FromStr for Mode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Mode> {
        match s.trim() {
            "delta" => Ok(Mode::Delta),
            "baseline" => Ok(Mode::Baseline),
            other => bail!("unknown mode {other:?}: delta or baseline"),
        }
    }
}

struct Options {
    shape: Shape,
    secs: u64,
    interval: Duration,
    reconcile: Duration,
    modes: Vec<Mode>,
    normalizers: usize,
    partitions: i32,
    window: Duration,
    drain: Duration,
    keep_graph: bool,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Delta => "delta",
            Mode::Baseline => "baseline",
        }
    }

    /// A zero interval makes every sync a reconciliation.
    fn reconcile(self, o: &Options) -> Duration {
        match self {
            Mode::Delta => o.reconcile,
            Mode::Baseline => Duration::ZERO,
        }
    }
}

fn value(flag: &str, env: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var(env).ok().filter(|v| !v.is_empty()))
}

fn parsed<T: FromStr>(flag: &str, env: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match value(flag, env) {
        Some(v) => v.parse().map_err(|e| anyhow!("{flag} {v:?}: {e}")),
        None => Ok(default),
    }
}

fn duration(flag: &str, env: &str, default: &str) -> anyhow::Result<Duration> {
    let v = value(flag, env).unwrap_or_else(|| default.to_owned());
    parse_duration(&v).map_err(|e| anyhow!("{flag}: {e}"))
}

impl Options {
    fn from_args() -> anyhow::Result<Options> {
        let modes = value("--modes", "INFRAGRAPH_FLEET_MODES")
            .unwrap_or_else(|| "delta,baseline".to_owned())
            .split(',')
            .map(Mode::from_str)
            .collect::<anyhow::Result<Vec<Mode>>>()?;
        Ok(Options {
            shape: Shape {
                hosts: parsed("--hosts", "INFRAGRAPH_FLEET_HOSTS", 20)?,
                processes: parsed("--processes", "INFRAGRAPH_FLEET_PROCESSES", 100)?,
                sockets: parsed("--sockets", "INFRAGRAPH_FLEET_SOCKETS", 20)?,
                churn: parsed("--churn", "INFRAGRAPH_FLEET_CHURN", 0.01)?,
            },
            secs: parsed("--secs", "INFRAGRAPH_FLEET_SECS", 60)?,
            interval: duration("--interval", "INFRAGRAPH_FLEET_INTERVAL", "2s")?,
            reconcile: duration("--reconcile-interval", "INFRAGRAPH_FLEET_RECONCILE", "5m")?,
            modes,
            normalizers: parsed("--normalizers", "INFRAGRAPH_FLEET_NORMALIZERS", 2)?,
            partitions: parsed("--partitions", "INFRAGRAPH_FLEET_PARTITIONS", 6)?,
            window: duration("--window", "INFRAGRAPH_FLEET_WINDOW", "30s")?,
            drain: duration("--drain", "INFRAGRAPH_FLEET_DRAIN", "60s")?,
            keep_graph: std::env::args().any(|a| a == "--keep-graph"),
        })
    }
}

/// The services under test.
struct Services {
    brokers: String,
    bolt: infragraph_test_support::BoltTarget,
    graph: BoltSink,
}

impl Services {
    fn from_env() -> anyhow::Result<Services> {
        let brokers = std::env::var(infragraph_test_support::KAFKA)
            .context("INFRAGRAPH_TEST_KAFKA names no broker (scripts/services starts one)")?;
        let bolt = infragraph_test_support::bolt_target()
            .context("INFRAGRAPH_TEST_BOLT names no Neo4j (scripts/services starts one)")?;
        let graph = BoltSink::connect(&BoltConfig {
            uri: bolt.uri.clone(),
            user: bolt.user.clone(),
            password: bolt.password.clone(),
            database: bolt.database.clone(),
            timeout: Duration::from_secs(300),
        })?;
        Ok(Services {
            brokers,
            bolt,
            graph,
        })
    }

    fn port(addr: &str) -> Option<u16> {
        addr.rsplit(':').next()?.trim_end_matches('/').parse().ok()
    }

    /// The servers' processes, found by the port each listens on.
    fn server_pids(&self) -> Vec<(String, i32)> {
        let kafka = self.brokers.split(',').next().and_then(Self::port);
        let bolt = Self::port(&self.bolt.uri);
        [("Kafka (JVM)", kafka), ("Neo4j (JVM)", bolt)]
            .into_iter()
            .filter_map(|(n, port)| Some((n.to_owned(), procs::listener_pid(port?)?)))
            .collect()
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// One run's names: topics, groups, host ids and addresses of its own.
struct Run {
    tag: String,
    net: Net,
    kafka: KafkaArgs,
    dir: PathBuf,
}

impl Run {
    fn new(o: &Options, svc: &Services) -> anyhow::Result<Run> {
        let now = wall_ms();
        let tag = format!("fleet{}", now % 1_000_000_000);
        let dir = std::env::temp_dir().join(&tag);
        std::fs::create_dir_all(&dir)?;
        let mut kafka = KafkaArgs::with_brokers(svc.brokers.clone());
        kafka.topic_namespace = tag.clone();
        kafka.topic_partitions = o.partitions;
        Ok(Run {
            net: Net {
                tag: (now / 1000 % 250) as u8 + 1,
            },
            tag,
            kafka,
            dir,
        })
    }

    fn normalizer_group(&self) -> String {
        format!("{}-normalizer", self.tag)
    }

    fn writer_group(&self) -> String {
        format!("{}-writer", self.tag)
    }

    fn common_flags(&self) -> Vec<String> {
        let k = &self.kafka;
        [
            "--kafka-brokers",
            k.brokers.as_deref().unwrap_or_default(),
            "--topic-namespace",
            &k.topic_namespace,
            "--topic-partitions",
            &k.topic_partitions.to_string(),
            "--log-format",
            "json",
        ]
        .map(String::from)
        .to_vec()
    }

    fn start_stages(&self, o: &Options, svc: &Services) -> anyhow::Result<Vec<Stage>> {
        let bin = env!("CARGO_BIN_EXE_infragraph");
        let mut stages = Vec::new();
        for i in 1..=o.normalizers {
            let mut cmd = Command::new(bin);
            cmd.arg("normalize")
                .args(self.common_flags())
                .args(["--normalizer-group", &self.normalizer_group()]);
            let log = self.dir.join(format!("normalizer-{i}.log"));
            stages.push(Stage::spawn(&format!("normalizer {i}"), &mut cmd, &log)?);
        }
        let b = &svc.bolt;
        let mut cmd = Command::new(bin);
        cmd.arg("write")
            .args(self.common_flags())
            .args(["--neo4j-uri", &b.uri, "--neo4j-user", &b.user])
            .args(["--neo4j-database", &b.database])
            .args(["--writer-group", &self.writer_group()])
            .env("INFRAGRAPH_NEO4J_PASSWORD", &b.password);
        stages.push(Stage::spawn(
            "writer",
            &mut cmd,
            &self.dir.join("writer.log"),
        )?);
        Ok(stages)
    }

    fn observation_partitions(&self, layout: &TopicLayout) -> Vec<(String, i32)> {
        layout
            .names
            .all_observations()
            .into_iter()
            .flat_map(|t| (0..layout.partitions).map(move |p| (t.clone(), p)))
            .collect()
    }
}

/// Every host, synced by the collector runtime on its schedule, their
/// first syncs spread evenly over one interval.
fn spawn_fleet(
    o: &Options,
    mode: Mode,
    run: &Run,
    syncer: &Syncer<KafkaBus>,
    churn: &Arc<Churn>,
    stop: &signal::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let schedule = Schedule {
        once: false,
        interval: o.interval,
        jitter: Duration::from_millis(200),
        reconcile_interval: mode.reconcile(o),
    };
    (0..o.shape.hosts)
        .map(|i| {
            let host = FleetHost::new(&run.tag, i, o.shape, run.net, churn.clone());
            let (syncer, stop) = (syncer.clone(), stop.clone());
            let phase = o.interval.mul_f64(i as f64 / o.shape.hosts as f64);
            tokio::spawn(async move {
                tokio::time::sleep(phase).await;
                if let Err(e) = infragraph_collector::run(&host, &syncer, schedule, stop).await {
                    eprintln!("host {}: {e}", host.id());
                }
            })
        })
        .collect()
}

fn progress_line(t0: i64, p: &Progress) {
    eprintln!(
        "fleet: {:>4} s: observations published {} normalized {}; changes {} applied {}; load {}",
        (wall_ms() - t0) / 1000,
        p.published.load(Ordering::Relaxed),
        p.normalized.load(Ordering::Relaxed),
        p.changes_read.load(Ordering::Relaxed),
        p.writer_committed.load(Ordering::Relaxed),
        load_average()
    );
}

/// Waits until the writer has applied everything the normalizers emitted
/// and they have read every observation, for up to `--drain`.
async fn drain(o: &Options, p: &Progress, t0: i64) {
    let deadline = Instant::now() + o.drain;
    let mut settled = 0;
    while Instant::now() < deadline && settled < 3 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let caught_up = p.changes_idle.load(Ordering::Relaxed)
            && p.writer_committed.load(Ordering::Relaxed) >= p.changes_read.load(Ordering::Relaxed)
            && p.normalized.load(Ordering::Relaxed) >= p.published.load(Ordering::Relaxed);
        settled = if caught_up { settled + 1 } else { 0 };
    }
    progress_line(t0, p);
}

async fn count(graph: &neo4rs::Graph, cypher: &str, tag: &str) -> anyhow::Result<i64> {
    let mut rows = graph
        .execute(neo4rs::query(cypher).param("tag", tag))
        .await?;
    match rows.next().await? {
        Some(row) => row.get::<i64>("n").map_err(|e| anyhow!("{e}")),
        None => Ok(0),
    }
}

/// After the drain the graph should hold exactly the fleet as last seen.
async fn check_graph(svc: &Services, run: &Run, o: &Options) -> anyhow::Result<()> {
    let g = svc.graph.graph();
    let prefix = format!("{}-", run.tag);
    let processes = format!(
        "MATCH (p:{}) WHERE p.host_id STARTS WITH $tag RETURN count(p) AS n",
        ResourceKind::Process.label()
    );
    let scopes = format!("MATCH (s:{SYNC_LABEL}) WHERE s.id CONTAINS $tag RETURN count(s) AS n");
    println!(
        "graph after the drain: {} processes of this run (the fleet has {}), {} scopes recorded (of {})",
        count(g, &processes, &prefix).await?,
        o.shape.hosts * o.shape.processes,
        count(g, &scopes, &prefix).await?,
        o.shape.hosts
    );
    Ok(())
}

/// Deletes what this run's scopes asserted, and their sync records.
async fn remove_run(svc: &Services, run: &Run) -> anyhow::Result<()> {
    let g = svc.graph.graph();
    let tag = format!("{}-", run.tag);
    let batch = format!(
        "MATCH (s:{SYNC_LABEL})-[:{ASSERTS}]->(n) WHERE s.id CONTAINS $tag \
         WITH DISTINCT n LIMIT 5000 DETACH DELETE n RETURN count(*) AS n"
    );
    while count(g, &batch, &tag).await? > 0 {}
    // And those they hold in the scope property instead of a link: a scan
    // of each label, which a benchmark's clean-up can afford.
    for kind in ResourceKind::ALL {
        let batch = format!(
            "MATCH (n:{}) WHERE n.{SCOPE} CONTAINS $tag \
             WITH n LIMIT 5000 DETACH DELETE n RETURN count(*) AS n",
            kind.label()
        );
        while count(g, &batch, &tag).await? > 0 {}
    }
    let syncs = format!(
        "MATCH (s:{SYNC_LABEL}) WHERE s.id CONTAINS $tag DETACH DELETE s RETURN count(*) AS n"
    );
    count(g, &syncs, &tag).await?;
    Ok(())
}

struct Watchers {
    stop: signal::Sender<bool>,
    markers: JoinHandle<anyhow::Result<watch::Markers>>,
    changes: JoinHandle<anyhow::Result<watch::Changes>>,
    commits: JoinHandle<watch::Commits>,
    usage: JoinHandle<Vec<procs::Usage>>,
}

fn start_watchers(
    run: &Run,
    bus: &KafkaBus,
    layout: &TopicLayout,
    progress: &Arc<Progress>,
    processes: Vec<(String, i32)>,
) -> Watchers {
    let (stop, rx) = signal::channel(false);
    let names = &layout.names;
    let writer = (run.writer_group(), vec![(names.graph_changes(), 0)]);
    let normalizers = (run.normalizer_group(), run.observation_partitions(layout));
    Watchers {
        markers: tokio::spawn(watch::markers(
            bus.clone(),
            names.sync(),
            progress.clone(),
            rx.clone(),
        )),
        changes: tokio::spawn(watch::changes(
            bus.clone(),
            names.graph_changes(),
            progress.clone(),
            rx.clone(),
        )),
        commits: tokio::spawn(watch::commits(
            bus.clone(),
            writer,
            normalizers,
            progress.clone(),
            rx.clone(),
        )),
        usage: tokio::spawn(procs::sample(processes, rx)),
        stop,
    }
}

fn processes(stages: &[Stage], svc: &Services) -> Vec<(String, i32)> {
    let mut out = vec![("collectors (bench)".to_owned(), std::process::id() as i32)];
    out.extend(stages.iter().map(|s| (s.name.clone(), s.pid())));
    out.extend(svc.server_pids());
    out
}

/// Runs the fleet for `--secs`, then stops it and drains the pipeline.
async fn load(
    o: &Options,
    mode: Mode,
    run: &Run,
    syncer: &Syncer<KafkaBus>,
    p: &Progress,
) -> (Arc<Churn>, i64, i64) {
    let churn = Arc::new(Churn::default());
    let (stop, rx) = signal::channel(false);
    let t0 = wall_ms();
    let hosts = spawn_fleet(o, mode, run, syncer, &churn, &rx);
    let until = Instant::now() + Duration::from_secs(o.secs);
    while Instant::now() < until {
        let left = until.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(o.window)).await;
        progress_line(t0, p);
    }
    let load_end = wall_ms();
    let _ = stop.send(true);
    for h in hosts {
        let _ = tokio::time::timeout(Duration::from_secs(30), h).await;
    }
    drain(o, p, t0).await;
    (churn, t0, load_end)
}

async fn run_mode(o: &Options, mode: Mode, svc: &Services) -> anyhow::Result<report::Summary> {
    let run = Run::new(o, svc)?;
    println!(
        "\n## {}: {} hosts × {} processes × {} sockets, sync every {:?}, {:.1} % churn, reconcile every {:?}, {} s; topics {}; logs in {}",
        mode.name(),
        o.shape.hosts,
        o.shape.processes,
        o.shape.sockets,
        o.interval,
        o.shape.churn * 100.0,
        mode.reconcile(o),
        o.secs,
        run.tag,
        run.dir.display()
    );
    let load_before = load_average();
    let bus = KafkaBus::connect(&run.kafka)?;
    let layout = TopicLayout::from(&run.kafka);
    let syncer = Syncer::new(bus.clone()).with_layout(layout.clone());
    syncer.prepare().await?;
    let mut stages = run.start_stages(o, svc)?;
    let writer = stages.last().context("no writer")?;
    if !writer
        .wait_for_log("graph writer consuming", Duration::from_secs(60))
        .await
    {
        bail!("the writer did not start: see {}", writer.log.display());
    }
    // The normalizers share out the partitions meanwhile.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let progress = Arc::new(Progress::default());
    let w = start_watchers(&run, &bus, &layout, &progress, processes(&stages, svc));
    let (churn, t0, load_end) = load(o, mode, &run, &syncer, &progress).await;
    let end = wall_ms();
    let _ = w.stop.send(true);
    let (markers, changes) = (w.markers.await??, w.changes.await??);
    let (commits, usage) = (w.commits.await?, w.usage.await?);
    stages.iter_mut().for_each(Stage::stop);
    let log = std::fs::read_to_string(run.dir.join("writer.log")).unwrap_or_default();
    let recorded = report::Recorded {
        t0,
        load_end,
        end,
        window_ms: o.window.as_millis() as i64,
        markers,
        changes,
        commits,
        churn: churn.take(),
        cleanups: report::cleanups(&log),
        usage,
    };
    println!(
        "load average before {load_before}, after {}",
        load_average()
    );
    let summary = report::print(&recorded);
    check_graph(svc, &run, o).await?;
    if !o.keep_graph {
        remove_run(svc, &run).await?;
    }
    Ok(summary)
}

fn compare(delta: &report::Summary, base: &report::Summary) {
    println!("\n## baseline (every sync a reconciliation) ÷ delta\n");
    println!("| figure | delta | baseline | baseline ÷ delta |");
    println!("|---|---|---|---|");
    let rows = [
        (
            "graph writes applied/s",
            delta.writes_per_s,
            base.writes_per_s,
        ),
        (
            "graph writes emitted/s",
            delta.emitted_per_s,
            base.emitted_per_s,
        ),
        ("barrier p50 (s)", delta.p50_s, base.p50_s),
        ("barrier p99 (s)", delta.p99_s, base.p99_s),
        ("barrier max (s)", delta.max_s, base.max_s),
        ("observations/s", delta.obs_per_s, base.obs_per_s),
        ("churn/s", delta.churn_per_s, base.churn_per_s),
    ];
    for (what, d, b) in rows {
        println!("| {what} | {d:.2} | {b:.2} | {:.2} |", b / d);
    }
}

async fn main_inner() -> anyhow::Result<()> {
    let o = Options::from_args()?;
    let svc = Services::from_env()?;
    let mut results = Vec::new();
    for mode in &o.modes {
        results.push((*mode, run_mode(&o, *mode, &svc).await?));
    }
    let find = |m: Mode| results.iter().find(|(r, _)| *r == m).map(|(_, s)| *s);
    if let (Some(d), Some(b)) = (find(Mode::Delta), find(Mode::Baseline)) {
        compare(&d, &b);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match main_inner().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleet: {e:#}");
            ExitCode::FAILURE
        }
    }
}
