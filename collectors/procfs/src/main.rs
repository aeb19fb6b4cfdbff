//! `infragraph-collect-procfs`: maps this host's processes, sockets and
//! connections onto the bus.

use anyhow::Context;
use clap::Parser;
use infragraph_bus::{KafkaArgs, KafkaBus};
use infragraph_collector::TopicLayout;
use infragraph_collector_procfs::{ProcfsArgs, run};
use infragraph_telemetry::TelemetryArgs;

/// Observes this host through /proc and publishes what it sees to Kafka.
#[derive(Parser, Debug)]
#[command(name = "infragraph-collect-procfs", version)]
struct Cli {
    #[command(flatten)]
    procfs: ProcfsArgs,
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
                "infragraph-collect-procfs: {}",
                infragraph_telemetry::causes(e.chain())
            );
            std::process::ExitCode::FAILURE
        }
    }
}

async fn stage() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _telemetry = infragraph_telemetry::init("infragraph-collect-procfs", &cli.telemetry)?;
    let bus = KafkaBus::connect(&cli.kafka).context("cannot set up the Kafka producer")?;
    let config = cli.procfs.config(TopicLayout::from(&cli.kafka));
    let shutdown = infragraph_telemetry::shutdown_on_signals();
    let stats = run(config, bus.clone(), shutdown).await?;
    // Deliveries are awaited per sync; this only drains what librdkafka
    // still holds (nothing, normally).
    if let Err(e) = bus.flush(std::time::Duration::from_secs(10)) {
        tracing::warn!(error = %e, "could not flush the producer");
    }
    tracing::info!(completed = stats.completed, failed = stats.failed, "done");
    Ok(())
}
