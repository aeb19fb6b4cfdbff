//! `infragraph-normalizer`: one normalizer instance over Kafka. Run as many
//! as the observation topics have partitions.

use anyhow::Context;
use clap::Parser;
use infragraph_bus::{Bus, KafkaArgs, KafkaBus, TopicLayout};
use infragraph_normalizer::{NormalizerArgs, run};
use infragraph_telemetry::TelemetryArgs;

/// Deduplicates, merges and resolves observations into graph changes.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    normalizer: NormalizerArgs,
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
                "infragraph-normalizer: {}",
                infragraph_telemetry::causes(e.chain())
            );
            std::process::ExitCode::FAILURE
        }
    }
}

async fn stage() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _telemetry = infragraph_telemetry::init("infragraph-normalizer", &cli.telemetry)?;
    // Without brokers this fails naming --kafka-brokers.
    let bus = KafkaBus::connect(&cli.kafka)?;
    let layout = TopicLayout::from(&cli.kafka);
    bus.ensure_topics(&layout.specs())
        .await
        .context("creating topics")?;
    let shutdown = infragraph_telemetry::shutdown_on_signals();
    run(&cli.normalizer, &layout.names, bus, shutdown).await?;
    Ok(())
}
