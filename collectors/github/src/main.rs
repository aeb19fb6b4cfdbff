//! `infragraph-collect-github`: maps GitHub organisations onto the bus.

use anyhow::Context;
use clap::Parser;
use infragraph_bus::{KafkaArgs, KafkaBus};
use infragraph_collector::TopicLayout;
use infragraph_collector_github::{GithubArgs, run};
use infragraph_telemetry::TelemetryArgs;

/// Observes GitHub organisations and publishes what it sees to Kafka.
#[derive(Parser, Debug)]
#[command(name = "infragraph-collect-github", version)]
struct Cli {
    #[command(flatten)]
    github: GithubArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    telemetry: TelemetryArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match stage().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // Each cause once: anyhow's own report repeats every source.
        Err(e) => {
            eprintln!(
                "infragraph-collect-github: {}",
                infragraph_telemetry::causes(e.chain())
            );
            std::process::ExitCode::FAILURE
        }
    }
}

async fn stage() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _telemetry = infragraph_telemetry::init("infragraph-collect-github", &cli.telemetry)?;
    let config = cli
        .github
        .config(TopicLayout::from(&cli.kafka))
        .context("invalid GitHub settings")?;
    let bus = KafkaBus::connect(&cli.kafka).context("cannot set up the Kafka producer")?;
    let shutdown = infragraph_telemetry::shutdown_on_signals();
    let stats = run(config, bus.clone(), shutdown).await?;
    if let Err(e) = bus.flush(std::time::Duration::from_secs(10)) {
        tracing::warn!(error = %e, "could not flush the producer");
    }
    for s in &stats {
        tracing::info!(completed = s.completed, failed = s.failed, "done");
    }
    Ok(())
}
