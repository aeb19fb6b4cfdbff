//! Each stage alone, over Kafka, as deployed in production: the
//! subcommands `collect`, `normalize` and `write`, and [`standalone`], which
//! runs the same subcommand as a binary of its own (`infragraph-normalizer`
//! is `infragraph normalize`).

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{CommandFactory, FromArgMatches};
use infragraph_bus::{Bus, KafkaArgs, KafkaBus, TopicLayout};
use infragraph_collector_cloudmap::CloudMapArgs;
use infragraph_collector_github::GithubArgs;
use infragraph_collector_procfs::ProcfsArgs;
use infragraph_graph_writer::{BoltSink, SinkArgs, SinkChoice, SqliteStore, WriterConfig};
use infragraph_normalizer::NormalizerArgs;
use infragraph_telemetry::TelemetryArgs;
use infragraph_telemetry::health::{self, Health, HealthArgs};
use tokio::sync::watch;

use crate::{CheckArgs, Cli, Command};

#[derive(clap::Subcommand, Debug)]
pub enum Collect {
    /// This host's processes, sockets and connections, from /proc.
    Procfs(ProcfsStage),
    /// AWS Cloud Map namespaces, services and instances of one account and region.
    Cloudmap(CloudMapStage),
    /// GitHub organisations: repositories, people, teams and permissions.
    Github(GithubStage),
}

#[derive(clap::Args, Debug)]
pub struct ProcfsStage {
    #[command(flatten)]
    pub procfs: ProcfsArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub health: HealthArgs,
}

#[derive(clap::Args, Debug)]
pub struct CloudMapStage {
    #[command(flatten)]
    pub cloudmap: CloudMapArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub health: HealthArgs,
}

#[derive(clap::Args, Debug)]
pub struct GithubStage {
    #[command(flatten)]
    pub github: GithubArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub health: HealthArgs,
}

#[derive(clap::Args, Debug)]
pub struct NormalizeArgs {
    #[command(flatten)]
    pub normalizer: NormalizerArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub health: HealthArgs,
}

#[derive(clap::Args, Debug)]
pub struct WriteArgs {
    #[command(flatten)]
    pub sink: SinkArgs,
    #[command(flatten)]
    pub writer: WriterConfig,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub health: HealthArgs,
}

/// A stage binary's command line: the subcommand's own flags, logging and
/// `--check-config`, exactly as under `infragraph`.
#[derive(clap::Parser, Debug)]
struct Standalone<A: clap::Args> {
    #[command(flatten)]
    stage: A,
    #[command(flatten)]
    telemetry: TelemetryArgs,
    #[command(flatten)]
    check: CheckArgs,
}

/// Runs the subcommand at `path` (`["collect", "procfs"]`) as the binary
/// `name`, with its flags, help and exit codes.
pub fn standalone<A: clap::Args + std::fmt::Debug>(
    name: &'static str,
    path: &[&str],
    into: fn(A) -> Command,
) -> ExitCode {
    let about = path
        .iter()
        .try_fold(Cli::command(), |c, sub| c.find_subcommand(sub).cloned())
        .and_then(|c| c.get_about().cloned());
    let mut command = Standalone::<A>::command()
        .name(name)
        .bin_name(name)
        .version(env!("CARGO_PKG_VERSION"));
    if let Some(about) = about {
        command = command.about(about);
    }
    let parsed = Standalone::<A>::from_arg_matches(&command.get_matches());
    let args = parsed.unwrap_or_else(|e| e.exit());
    let cli = Cli {
        command: into(args.stage),
        telemetry: args.telemetry,
        check: args.check,
    };
    crate::run(cli, name)
}

/// The bus a single stage runs on: Kafka, which it cannot do without.
fn kafka(args: &KafkaArgs) -> anyhow::Result<KafkaBus> {
    if args.brokers.is_none() {
        bail!(
            "no Kafka brokers: pass --kafka-brokers HOST:PORT (or set INFRAGRAPH_KAFKA_BROKERS); `infragraph up` runs without Kafka"
        );
    }
    KafkaBus::connect(args).context("cannot set up the Kafka client")
}

/// Serves /livez and /readyz when asked: ready when Kafka answers, and
/// the graph database too for the writer.
async fn serve_health(
    args: &HealthArgs,
    bus: &KafkaBus,
    graph: Option<BoltSink>,
    shutdown: &watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let kafka = bus.clone();
    let mut probes = vec![Health::probe("kafka", move || {
        let kafka = kafka.clone();
        async move { kafka.probe(health::PROBE_TIMEOUT / 2).await }
    })];
    if let Some(graph) = graph {
        let graph = std::sync::Arc::new(graph);
        probes.push(Health::probe("graph", move || {
            let graph = graph.clone();
            async move { graph.probe().await }
        }));
    }
    let addr = args.health_listen;
    health::serve(addr, Health::new(probes), shutdown.clone())
        .await
        .with_context(|| format!("cannot serve --health-listen {addr:?}"))?;
    Ok(())
}

pub async fn collect(which: Collect, shutdown: watch::Receiver<bool>) -> anyhow::Result<ExitCode> {
    let (failed, once, bus) = match which {
        Collect::Procfs(ProcfsStage {
            procfs,
            kafka: args,
            health,
        }) => {
            let config = procfs.config(TopicLayout::from(&args));
            let bus = kafka(&args)?;
            serve_health(&health, &bus, None, &shutdown).await?;
            let stats = infragraph_collector_procfs::run(config, bus.clone(), shutdown).await?;
            (stats.failed, procfs.schedule.once, bus)
        }
        Collect::Cloudmap(CloudMapStage {
            cloudmap,
            kafka: args,
            health,
        }) => {
            let config = cloudmap.config(TopicLayout::from(&args));
            let bus = kafka(&args)?;
            serve_health(&health, &bus, None, &shutdown).await?;
            let stats = infragraph_collector_cloudmap::run(config, bus.clone(), shutdown).await?;
            (stats.failed, cloudmap.schedule.once, bus)
        }
        Collect::Github(GithubStage {
            github,
            kafka: args,
            health,
        }) => {
            let config = github.config(TopicLayout::from(&args))?;
            let bus = kafka(&args)?;
            serve_health(&health, &bus, None, &shutdown).await?;
            let per_org = infragraph_collector_github::run(config, bus.clone(), shutdown).await?;
            (
                per_org.iter().map(|s| s.failed).sum(),
                github.schedule.once,
                bus,
            )
        }
    };
    // Deliveries are awaited per sync; this drains what librdkafka may
    // still hold (nothing, normally) before the process exits.
    if let Err(e) = bus.flush(std::time::Duration::from_secs(10)) {
        tracing::warn!(error = %e, "could not flush the producer");
    }
    // A one-off run reports a failed sync in its exit code, for cron.
    Ok(if failed > 0 && once {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn normalize(
    args: NormalizeArgs,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<ExitCode> {
    let bus = kafka(&args.kafka)?;
    let layout = TopicLayout::from(&args.kafka);
    serve_health(&args.health, &bus, None, &shutdown).await?;
    if ensure_topics(&bus, &layout, &shutdown).await? {
        infragraph_normalizer::run(&args.normalizer, &layout.names, bus, shutdown).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates the topics, retrying with the shared backoff while the broker
/// is away, so a stage started before Kafka waits for it; false if
/// shutdown came first.
async fn ensure_topics(
    bus: &KafkaBus,
    layout: &TopicLayout,
    shutdown: &watch::Receiver<bool>,
) -> anyhow::Result<bool> {
    use infragraph_telemetry::{Backoff, Paused, pause, stop_signal};
    let mut waits = Backoff::new(
        std::time::Duration::from_millis(200),
        std::time::Duration::from_secs(10),
    )
    .waits();
    let specs = layout.specs();
    loop {
        let attempt = tokio::select! {
            biased;
            () = stop_signal(shutdown) => return Ok(false),
            r = bus.ensure_topics(&specs) => r,
        };
        match attempt {
            Ok(()) => return Ok(true),
            Err(e) if e.is_retriable() => {
                let wait = waits.pause();
                tracing::warn!(
                    "cannot create the topics yet: {e}; retrying in {}ms",
                    wait.as_millis()
                );
                if pause(wait, stop_signal(shutdown)).await == Paused::Stopped {
                    return Ok(false);
                }
            }
            Err(e) => return Err(e).context("creating topics"),
        }
    }
}

pub async fn write(
    args: WriteArgs,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<ExitCode> {
    let bus = kafka(&args.kafka)?;
    let layout = TopicLayout::from(&args.kafka);
    let config = args.writer;
    let sink = args.sink.sink()?;
    let probe = match &sink {
        SinkChoice::Bolt(cfg) => Some(BoltSink::connect(cfg)?),
        SinkChoice::Embedded(_) => None,
    };
    serve_health(&args.health, &bus, probe, &shutdown).await?;
    let until = async move { infragraph_telemetry::stopped(&mut shutdown).await };
    match sink {
        SinkChoice::Bolt(cfg) => {
            infragraph_graph_writer::run(
                config,
                layout.clone(),
                bus,
                BoltSink::connect(&cfg)?,
                until,
            )
            .await?
        }
        SinkChoice::Embedded(dir) => {
            infragraph_graph_writer::run(
                config,
                layout.clone(),
                bus,
                SqliteStore::open(&dir)?,
                until,
            )
            .await?
        }
    }
    Ok(ExitCode::SUCCESS)
}
