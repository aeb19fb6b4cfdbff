//! Sustained end-to-end throughput in embedded mode: observations per second
//! from the collectors' runtime to rows committed in the embedded store,
//! beside each stage's own rate on the same data (the collector publishing
//! alone, the normalizer alone, the writer alone). The slowest stage is the
//! pipeline's limit; the ratio says how close the whole gets to it.
//! Run: `scripts/bench throughput` (see BENCHMARKS.md); `-- --count N`.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// The allocator the binaries run with (infragraph/src/main.rs), so the
/// figures are the deployed code's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use infragraph_bus::{MemoryBus, TopicLayout};
use infragraph_collector::{Collector, ManualClock, SyncContext, Syncer};
use infragraph_graph_writer::{SqliteStore, WriterConfig};
use infragraph_normalizer::NormalizerArgs;
use infragraph_schemas::{Observation, RelType, ResourceKind, ScopeRef};
use tokio::sync::watch;

const EPOCH: i64 = 1_700_000_000_000;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// One host with `n` processes, each on the host and the child of the first.
struct Synthetic(Vec<Observation>);

impl Synthetic {
    fn new(n: usize) -> Self {
        let scope = ScopeRef::new("bench", "host:h");
        let mut obs = vec![
            Observation::new(scope.clone(), EPOCH, EPOCH, ResourceKind::Host, "h")
                .with("hostname", "h"),
        ];
        obs.extend((0..n).map(|i| {
            Observation::new(
                scope.clone(),
                EPOCH,
                EPOCH,
                ResourceKind::Process,
                format!("h/{i}/1"),
            )
            .with("host_id", "h")
            .with("pid", i as i64)
            .with("name", "worker")
            .with("cmdline", "/usr/bin/worker --threads 4")
            .with("start_time", 1i64)
            .with("rss_bytes", 1_048_576i64)
            .relate(RelType::RunsOn, "h")
            .relate(RelType::ChildOf, "h/0/1")
        }));
        Synthetic(obs)
    }
}

impl Collector for Synthetic {
    type Error = std::convert::Infallible;
    fn source(&self) -> &str {
        "bench"
    }
    fn scope(&self) -> &str {
        "host:h"
    }
    async fn collect(&self, _: &SyncContext) -> Result<Vec<Observation>, Self::Error> {
        Ok(self.0.clone())
    }
}

fn layout() -> TopicLayout {
    TopicLayout {
        partitions: 4,
        ..TopicLayout::default()
    }
}

async fn publish(bus: &MemoryBus, source: &Synthetic) {
    let syncer = Syncer::new(bus.clone())
        .with_layout(layout())
        .with_clock(ManualClock::new(EPOCH));
    syncer.prepare().await.expect("topics");
    syncer.sync(source).await.expect("sync");
}

/// Waits until `group` has committed everything on `topic`.
async fn drained(bus: &MemoryBus, group: &str, topic: &str) {
    while bus.is_empty(topic) || bus.lag(group, topic) > 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn start_normalizer(bus: &MemoryBus, stop: &watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let (bus, stop) = (bus.clone(), stop.clone());
    tokio::spawn(async move {
        let args = NormalizerArgs {
            commit_interval_ms: 20,
            ..NormalizerArgs::default()
        };
        infragraph_normalizer::run(&args, &layout().names, bus, stop)
            .await
            .expect("normalizer");
    })
}

fn start_writer(
    bus: &MemoryBus,
    store: SqliteStore,
    stop: &watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let (bus, mut stop) = (bus.clone(), stop.clone());
    tokio::spawn(async move {
        let until = async move { infragraph_telemetry::stopped(&mut stop).await };
        infragraph_graph_writer::run(WriterConfig::default(), layout(), bus, store, until)
            .await
            .expect("writer");
    })
}

fn store() -> (SqliteStore, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(infragraph_test_support::unique("bench-e2e"));
    (SqliteStore::open(&dir).expect("store"), dir)
}

/// The whole pipeline: from the start of the sync to the last row committed.
async fn whole(source: &Synthetic) -> Duration {
    let bus = MemoryBus::new();
    let (store, dir) = store();
    let (stop_tx, stop) = watch::channel(false);
    let (n, w) = (
        start_normalizer(&bus, &stop),
        start_writer(&bus, store, &stop),
    );
    let start = Instant::now();
    publish(&bus, source).await;
    let names = layout().names;
    drained(&bus, &NormalizerArgs::default().group, &names.sync()).await;
    drained(&bus, &WriterConfig::default().group, &names.graph_changes()).await;
    let took = start.elapsed();
    let _ = stop_tx.send(true);
    let _ = (n.await, w.await);
    let _ = std::fs::remove_dir_all(dir);
    took
}

/// Each stage alone on a bus already holding its input.
async fn stages(source: &Synthetic) -> [(&'static str, Duration); 3] {
    let bus = MemoryBus::new();
    let start = Instant::now();
    publish(&bus, source).await;
    let collector = start.elapsed();

    let names = layout().names;
    let (stop_tx, stop) = watch::channel(false);
    let start = Instant::now();
    let n = start_normalizer(&bus, &stop);
    drained(&bus, &NormalizerArgs::default().group, &names.sync()).await;
    let normalizer = start.elapsed();

    let (store, dir) = store();
    let start = Instant::now();
    let w = start_writer(&bus, store, &stop);
    drained(&bus, &WriterConfig::default().group, &names.graph_changes()).await;
    let writer = start.elapsed();
    let _ = stop_tx.send(true);
    let _ = (n.await, w.await);
    let _ = std::fs::remove_dir_all(dir);
    [
        ("collector (publish)", collector),
        ("normalizer", normalizer),
        ("graph writer", writer),
    ]
}

#[tokio::main]
async fn main() {
    let count: usize = arg("--count")
        .and_then(|c| c.parse().ok())
        .unwrap_or(50_000);
    let source = Synthetic::new(count);
    let n = source.0.len() as f64;
    println!(
        "end-to-end throughput, embedded mode, {} observations (a host, and processes of 3 changes each)",
        source.0.len()
    );
    let stages = stages(&source).await;
    let mut slowest = f64::MAX;
    for (name, took) in &stages {
        let rate = n / took.as_secs_f64();
        slowest = slowest.min(rate);
        println!("  {name:<20} alone: {rate:>9.0} obs/s");
    }
    let rate = n / whole(&source).await.as_secs_f64();
    println!("  whole pipeline:            {rate:>9.0} obs/s");
    println!("ratio whole / slowest stage: {:.2}", rate / slowest);
}
