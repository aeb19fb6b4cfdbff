//! `infragraph-collect-cloudmap`: maps AWS Cloud Map namespaces, services
//! and instances of one account and region onto the bus.

use anyhow::Context;
use clap::Parser;
use infragraph_bus::{KafkaArgs, KafkaBus};
use infragraph_collector::TopicLayout;
use infragraph_collector_cloudmap::{CloudMapArgs, run};
use infragraph_telemetry::TelemetryArgs;

/// Observes AWS Cloud Map and publishes what it sees to Kafka.
#[derive(Parser, Debug)]
#[command(name = "infragraph-collect-cloudmap", version)]
struct Cli {
    #[command(flatten)]
    cloudmap: CloudMapArgs,
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
                "infragraph-collect-cloudmap: {}",
                infragraph_telemetry::causes(e.chain())
            );
            std::process::ExitCode::FAILURE
        }
    }
}

async fn stage() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _telemetry = infragraph_telemetry::init("infragraph-collect-cloudmap", &cli.telemetry)?;
    let bus = KafkaBus::connect(&cli.kafka).context("cannot set up the Kafka producer")?;
    let config = cli.cloudmap.config(TopicLayout::from(&cli.kafka));
    let shutdown = infragraph_telemetry::shutdown_on_signals();
    let stats = run(config, bus.clone(), shutdown).await?;
    if let Err(e) = bus.flush(std::time::Duration::from_secs(10)) {
        tracing::warn!(error = %e, "could not flush the producer");
    }
    tracing::info!(completed = stats.completed, failed = stats.failed, "done");
    Ok(())
}
