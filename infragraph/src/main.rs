//! `infragraph`: one command for the whole pipeline (`up`), for reading the
//! embedded graph back out (`export`), and for each stage alone, as run in
//! production (`collect procfs`, `normalize`, `write`).
//!
//! # Layout
//! - `up.rs`: the pipeline in one process, with a live status line.
//! - `export.rs`: Cypher, JSON and GraphML writers over the embedded store.
//! - `stages.rs`: the single-stage subcommands.
//! - `view.rs`: the live view, beside `up` or alone (`ui`).

mod export;
mod stages;
mod up;
mod view;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use infragraph_telemetry::TelemetryArgs;

/// Maps running infrastructure into a live graph.
///
/// `infragraph up --once` maps this machine (processes, sockets, who talks
/// to whom) into an embedded store with nothing else installed. The same
/// stages run against Kafka and Neo4j with --kafka-brokers and --neo4j-uri,
/// or one by one as `collect procfs`, `normalize` and `write`.
#[derive(Parser, Debug)]
#[command(name = "infragraph", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    telemetry: TelemetryArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Map this machine: collector, normalizer and graph writer in one
    /// process (in-memory bus and embedded store unless told otherwise).
    Up(Box<up::UpArgs>),
    /// Serve the live topology view over a graph another process writes:
    /// Neo4j with --neo4j-uri, else the embedded store in --data-dir.
    /// Read-only; the page learns of changes by polling cheap counts.
    Ui(Box<view::UiCommandArgs>),
    /// Write the embedded graph as Cypher (for Neo4j), JSON or GraphML.
    Export(export::ExportArgs),
    /// Run a collector alone, publishing to Kafka.
    #[command(subcommand)]
    Collect(stages::Collect),
    /// Run one normalizer instance alone (Kafka in, Kafka out).
    Normalize(stages::NormalizeArgs),
    /// Run the graph writer alone (Kafka in, Neo4j or the embedded store out).
    Write(Box<stages::WriteArgs>),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Interactive commands print their own results; stages log their work.
    let default_log = match cli.command {
        Command::Up(_) | Command::Ui(_) | Command::Export(_) => "warn",
        _ => "info",
    };
    let _telemetry = match infragraph_telemetry::init_with("infragraph", &cli.telemetry, default_log) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("infragraph: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = infragraph_telemetry::shutdown_on_signals();
    let result = match cli.command {
        Command::Up(args) => up::up(*args, shutdown).await,
        Command::Ui(args) => view::ui(*args, shutdown).await,
        Command::Export(args) => export::run(&args),
        Command::Collect(c) => stages::collect(c, shutdown).await,
        Command::Normalize(args) => stages::normalize(args, shutdown).await,
        Command::Write(args) => stages::write(*args, shutdown).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("infragraph: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn every_subcommand_has_consistent_flags() {
        super::Cli::command().debug_assert();
    }
}
