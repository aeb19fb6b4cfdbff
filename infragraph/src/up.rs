//! `infragraph up`: the whole pipeline in one process. With no flags it maps
//! this machine into the embedded store over an in-memory bus; with
//! `--kafka-brokers` or `--neo4j-uri` the same stages use the real parts.

use infragraph_telemetry::now_ms;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use infragraph_bus::{Bus, KafkaArgs, KafkaBus, MemoryBus, TopicLayout};
use infragraph_collector::{SyncError, Syncer};
use infragraph_collector_procfs::{ProcfsArgs, ProcfsCollector};
use infragraph_graph_reader::{ChangeFeed, Counts, GraphStore, Notifying, UiArgs};
use infragraph_graph_writer::{BoltSink, Sink, SinkArgs, SinkChoice, SqliteStore, WriterConfig};
use infragraph_normalizer::NormalizerArgs;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use infragraph_graph_writer::progress::{Barriers, applied};

use crate::sources::{SourceArgs, Sources};

#[derive(clap::Args, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    pub procfs: ProcfsArgs,
    #[command(flatten)]
    pub sources: SourceArgs,
    #[command(flatten)]
    pub sink: SinkArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub normalizer: NormalizerArgs,
    #[command(flatten)]
    pub writer: WriterConfig,
    /// The live view (not with --once).
    #[command(flatten)]
    pub ui: UiArgs,
}

/// The longest `--once` waits for its sync to reach the graph.
const ONCE_DEADLINE: Duration = Duration::from_secs(120);

pub async fn up(args: UpArgs, shutdown: watch::Receiver<bool>) -> anyhow::Result<ExitCode> {
    let sink = args.sink.sink()?;
    args.ui.address()?;
    let into = match &sink {
        SinkChoice::Embedded(dir) => format!("the embedded store in {}", dir.display()),
        SinkChoice::Bolt(cfg) => format!("{} (database {})", cfg.uri, cfg.database),
    };
    let reader = crate::view::reader(&sink)?;
    let args = (args, reader);
    match (args.0.kafka.brokers.is_some(), sink) {
        (false, SinkChoice::Embedded(dir)) => {
            run(
                MemoryBus::new(),
                SqliteStore::open(&dir)?,
                into,
                args,
                shutdown,
            )
            .await
        }
        (false, SinkChoice::Bolt(cfg)) => {
            run(
                MemoryBus::new(),
                BoltSink::connect(&cfg)?,
                into,
                args,
                shutdown,
            )
            .await
        }
        (true, SinkChoice::Embedded(dir)) => {
            run(
                kafka(&args.0.kafka)?,
                SqliteStore::open(&dir)?,
                into,
                args,
                shutdown,
            )
            .await
        }
        (true, SinkChoice::Bolt(cfg)) => {
            run(
                kafka(&args.0.kafka)?,
                BoltSink::connect(&cfg)?,
                into,
                args,
                shutdown,
            )
            .await
        }
    }
}

fn kafka(args: &KafkaArgs) -> anyhow::Result<KafkaBus> {
    KafkaBus::connect(args).context("cannot set up the Kafka client")
}

/// The stages behind the collector, running until `stop` turns true.
struct Stages {
    stop: watch::Sender<bool>,
    normalizer: JoinHandle<Result<(), infragraph_normalizer::NormalizerError>>,
    writer: JoinHandle<Result<(), infragraph_graph_writer::WriterError>>,
}

impl Stages {
    fn start<B: Bus, S: Sink>(bus: &B, sink: Arc<S>, layout: &TopicLayout, args: &UpArgs) -> Self {
        let (stop, stopped) = watch::channel(false);
        let normalizer = {
            let (bus, names, cfg, stopped) = (
                bus.clone(),
                layout.names.clone(),
                args.normalizer.clone(),
                stopped.clone(),
            );
            tokio::spawn(
                async move { infragraph_normalizer::run(&cfg, &names, bus, stopped).await },
            )
        };
        let writer = {
            let (cfg, layout, bus) = (args.writer.clone(), layout.clone(), bus.clone());
            let mut stopped = stopped;
            let until = async move { infragraph_telemetry::stopped(&mut stopped).await };
            tokio::spawn(async move {
                infragraph_graph_writer::run(cfg, layout, bus, sink, until).await
            })
        };
        Stages {
            stop,
            normalizer,
            writer,
        }
    }

    /// A stage that ended before being asked to is a failure to report.
    fn failed(&self) -> Option<&'static str> {
        if self.normalizer.is_finished() {
            Some("normalizer")
        } else if self.writer.is_finished() {
            Some("graph writer")
        } else {
            None
        }
    }

    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.normalizer
            .await
            .context("normalizer task")?
            .context("normalizer")?;
        self.writer
            .await
            .context("graph writer task")?
            .context("graph writer")?;
        Ok(())
    }
}

async fn run<B: Bus, S: Sink>(
    bus: B,
    sink: S,
    into: String,
    (args, reader): (UpArgs, GraphStore),
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<ExitCode> {
    // The writer announces what it applied to the live view.
    let feed = ChangeFeed::new();
    let sink = Arc::new(Notifying::new(sink, feed.clone()));
    let layout = TopicLayout::from(&args.kafka);
    bus.ensure_topics(&layout.specs())
        .await
        .context("creating topics")?;
    let stages = Stages::start(&bus, sink.clone(), &layout, &args);
    let collector =
        ProcfsCollector::new(args.procfs.config(layout.clone())).context("procfs collector")?;
    let reconcile_interval = args.procfs.schedule.reconcile.reconcile_interval;
    let sources = args.sources.connect(&layout, reconcile_interval).await?;
    let syncer = Syncer::new(bus.clone())
        .with_layout(layout.clone())
        .with_reconcile_interval(reconcile_interval);
    syncer.prepare().await.context("preparing the bus")?;
    let mut barriers = Barriers::new(&bus, &layout.names)?;
    let also = sources
        .scopes()
        .iter()
        .map(|s| format!(" and {s}"))
        .collect::<String>();
    eprintln!(
        "infragraph: mapping host {}{also} into {into}",
        collector.host_id()
    );
    let watch = Watch {
        bus: &bus,
        layout: &layout,
        writer_group: &args.writer.group,
        stages: &stages,
    };
    let outcome = if args.procfs.schedule.once {
        once(
            &watch,
            &syncer,
            &collector,
            &sources,
            &mut barriers,
            &reader,
        )
        .await
    } else {
        let tasks = sources.spawn(&syncer, &shutdown);
        let view = crate::view::start(&args.ui, reader.clone(), feed).await?;
        let outcome = continuous(
            &watch,
            &syncer,
            &collector,
            &mut barriers,
            &reader,
            args.procfs.schedule.interval,
            shutdown,
        )
        .await;
        for task in tasks {
            if outcome.is_err() {
                // Shutdown was not signalled: the sources would run on.
                task.abort();
                continue;
            }
            // Each source logs its own failed syncs; what is left to say is
            // that one could not run at all.
            match task.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "a source stopped"),
                Err(e) => tracing::error!(error = %e, "a source's task failed"),
            }
        }
        if let Some(view) = view {
            view.stop().await?;
        }
        outcome
    };
    stages.stop().await?;
    outcome
}

/// What the front end needs to follow the stages.
struct Watch<'a, B: Bus> {
    bus: &'a B,
    layout: &'a TopicLayout,
    writer_group: &'a str,
    stages: &'a Stages,
}

/// One sync of this host and of every other source, all at once; waits
/// until the graph holds every completed one and prints what it holds. A
/// source whose sync failed is named and makes the exit code non-zero.
async fn once<B: Bus>(
    w: &Watch<'_, B>,
    syncer: &Syncer<B>,
    collector: &ProcfsCollector,
    sources: &Sources,
    barriers: &mut Barriers<B::Consumer>,
    reader: &GraphStore,
) -> anyhow::Result<ExitCode> {
    let (host, (mut reports, failed)) =
        tokio::join!(syncer.sync(collector), sources.sync_once(syncer));
    reports.push(host.context("the sync of this host failed")?);
    let deadline = Instant::now() + ONCE_DEADLINE;
    let mut waiting = reports.clone();
    while !waiting.is_empty() {
        if let Some(stage) = w.stages.failed() {
            bail!("the {stage} stopped before the sync reached the graph");
        }
        barriers.poll(Duration::from_millis(50)).await?;
        let mut still = Vec::new();
        for report in waiting {
            let applied = match barriers.at.get(&(report.scope.clone(), report.epoch)) {
                Some((_, offset)) => {
                    applied(w.bus, &w.layout.names, w.writer_group, *offset).await?
                }
                None => false,
            };
            if !applied {
                still.push(report);
            }
        }
        waiting = still;
        if !waiting.is_empty() && Instant::now() > deadline {
            bail!(
                "the sync of {} did not reach the graph within {}s",
                waiting[0].scope,
                ONCE_DEADLINE.as_secs()
            );
        }
    }
    let counts = reader.counts().await.context("reading the graph")?;
    print_counts(&counts, reports.iter().map(|r| r.total()).sum());
    for f in &failed {
        eprintln!("infragraph: the sync of {} failed: {}", f.scope, f.error);
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Syncs every `interval` until shutdown, keeping one status line current.
async fn continuous<B: Bus>(
    w: &Watch<'_, B>,
    syncer: &Syncer<B>,
    collector: &ProcfsCollector,
    barriers: &mut Barriers<B::Consumer>,
    reader: &GraphStore,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<ExitCode> {
    let mut status = Status::new();
    let mut next_sync = tokio::time::interval(interval);
    next_sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = shutdown.clone();
    loop {
        tokio::select! {
            _ = infragraph_telemetry::stopped(&mut shutdown) => break,
            _ = next_sync.tick() => {
                if let Some(stage) = w.stages.failed() {
                    bail!("the {stage} stopped; see the log above");
                }
                // Ctrl-C during a sync ends it at once (FAILED, deleting
                // nothing) rather than after it finishes.
                match syncer.sync_until(collector, &stop).await {
                    Ok(_) => {}
                    Err(SyncError::Interrupted) => break,
                    Err(e) => {
                        status.sync_errors += 1;
                        tracing::warn!(error = %e, "sync failed");
                    }
                }
                barriers.poll(Duration::ZERO).await?;
                status.show(barriers, &reader.counts().await?);
            }
        }
    }
    status.finish();
    Ok(ExitCode::SUCCESS)
}

fn print_counts(counts: &Counts, observations: u64) {
    println!("synced {observations} observations; the graph now holds:");
    for (name, n) in counts.nodes.iter().chain(&counts.relationships) {
        println!("  {n:>7}  {name}");
    }
}

/// The one-line live status: rewritten in place on a terminal, a line per
/// sync otherwise (logs, pipes).
struct Status {
    tty: bool,
    started: Instant,
    sync_errors: u64,
}

impl Status {
    fn new() -> Self {
        Status {
            tty: std::io::stderr().is_terminal(),
            started: Instant::now(),
            sync_errors: 0,
        }
    }

    fn show<C: infragraph_bus::Consumer>(&self, barriers: &Barriers<C>, counts: &Counts) {
        let join = |m: &std::collections::BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let age = counts.last_sync.map_or("none yet".to_owned(), |ms| {
            format!("{:.1}s ago", (now_ms() - ms) as f64 / 1000.0)
        });
        let line = format!(
            "{} syncs, {} failed | {} | {} | last sync in graph {age} | up {}s",
            barriers.completed,
            barriers.failed + self.sync_errors,
            join(&counts.nodes),
            join(&counts.relationships),
            self.started.elapsed().as_secs()
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.tty {
            write!(err, "\r\x1b[2K{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.tty {
            eprintln!();
        }
    }
}
