//! `infragraph-graph-writer`: parse flags, pick the sink, run until Ctrl-C
//! or SIGTERM.

use anyhow::Context;
use clap::Parser;

use infragraph_bus::{KafkaBus, TopicLayout};
use infragraph_graph_writer::{BoltSink, SinkChoice, SqliteStore, WriterArgs, run};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match stage().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // Each cause once: anyhow's own report repeats every source.
        Err(e) => {
            eprintln!(
                "infragraph-graph-writer: {}",
                infragraph_telemetry::causes(e.chain())
            );
            std::process::ExitCode::FAILURE
        }
    }
}

async fn stage() -> anyhow::Result<()> {
    let args = WriterArgs::parse();
    let _telemetry = infragraph_telemetry::init("infragraph-graph-writer", &args.telemetry)?;
    let bus = KafkaBus::connect(&args.kafka).context("connecting to Kafka")?;
    let layout = TopicLayout::from(&args.kafka);
    let config = args.writer.clone();
    match args.sink.sink()? {
        SinkChoice::Bolt(cfg) => {
            tracing::info!(uri = %cfg.uri, database = %cfg.database, "writing to a graph database over Bolt");
            let sink = BoltSink::connect(&cfg).context("configuring the Bolt connection")?;
            run(config, layout, bus, sink, stopped()).await?;
        }
        SinkChoice::Embedded(dir) => {
            tracing::info!(dir = %dir.display(), "writing to the embedded store");
            let sink = SqliteStore::open(&dir).context("opening the embedded store")?;
            run(config, layout, bus, sink, stopped()).await?;
        }
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stopped() {
    infragraph_telemetry::stopped(&mut infragraph_telemetry::shutdown_on_signals()).await;
}
