//! `infragraph`: one command for the whole pipeline (`up`), for reading the
//! embedded graph back out (`export`), and for each stage alone, as run in
//! production (`collect procfs`, `normalize`, `write`). The stage binaries
//! (`src/bin/`) are the same stages under their own names.
//!
//! # Layout
//! - this file: the command line ([`Cli`]) and [`run`], which every binary
//!   calls.
//! - `up.rs`: the pipeline in one process, with a live status line.
//! - `sources.rs`: the other sources `up` maps when their flags name them.
//! - `export.rs`: Cypher, JSON and GraphML writers over the embedded store.
//! - `drift.rs`: declared service dependencies against observed traffic.
//! - `stages.rs`: the single-stage subcommands, and [`standalone`] for the
//!   stage binaries.
//! - `check.rs`: `--check-config`, the flags checked without running.
//! - `view.rs`: the live view, beside `up` or alone (`ui`).
//! - `flags.rs`: the README flag tables, generated from these definitions.

mod check;
mod drift;
mod export;
pub mod flags;
mod sources;
pub mod stages;
mod up;
mod view;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use infragraph_telemetry::TelemetryArgs;

pub use stages::standalone;

/// Maps running infrastructure into a live graph.
///
/// `infragraph up --once` maps this machine (processes, sockets, who talks
/// to whom) into an embedded store with nothing else installed. The same
/// stages run against Kafka and Neo4j with --kafka-brokers and --neo4j-uri,
/// or one by one as `collect procfs`, `normalize` and `write`.
#[derive(Parser, Debug)]
#[command(name = "infragraph", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
    #[command(flatten)]
    pub check: CheckArgs,
}

/// The flag every binary takes to check a deployment's configuration.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct CheckArgs {
    /// Check the command's flags and environment as it would at start,
    /// without connecting to anything or reading secret files, then exit:
    /// 0 if they are good, 2 naming what is wrong. For deployments:
    /// `infragraph --check-config write --neo4j-uri …`.
    #[arg(long, global = true, env = "INFRAGRAPH_CHECK_CONFIG")]
    pub check_config: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Map this machine: collector, normalizer and graph writer in one
    /// process (in-memory bus and embedded store unless told otherwise).
    Up(Box<up::UpArgs>),
    /// Serve the live topology view over a graph another process writes:
    /// Neo4j with --neo4j-uri, else the embedded store in --data-dir.
    /// Read-only; the page learns of changes by polling cheap counts.
    Ui(Box<view::UiCommandArgs>),
    /// Write the embedded graph as Cypher (for Neo4j), JSON or GraphML.
    Export(export::ExportArgs),
    /// Compare the dependencies Cloud Map services declare with the
    /// connections their processes really hold.
    ///
    /// A dependency A -> B is observed when a process listening where an
    /// instance of A is registered holds a connection to where an instance
    /// of B is registered. Three sets: declared and observed; declared but
    /// not observed (with how long A's processes were watched); observed
    /// but not declared. Each row carries its evidence. The graph holds the
    /// connections open at each host's last sync, so a dependency used only
    /// between syncs is not in evidence.
    ///
    /// Exit code: 0 no drift, 1 drift, 2 could not tell (an error).
    Drift(drift::DriftArgs),
    /// Run a collector alone, publishing to Kafka.
    #[command(subcommand)]
    Collect(stages::Collect),
    /// Run one normalizer instance alone (Kafka in, Kafka out).
    Normalize(stages::NormalizeArgs),
    /// Run the graph writer alone (Kafka in, Neo4j or the embedded store out).
    Write(Box<stages::WriteArgs>),
}

/// Runs `cli` to its end: `name` is the binary, in messages and as the
/// metrics' `service.name`. Exit codes: 0 done, 1 a command's "no" (drift
/// found, a one-off sync failed), 2 could not do it (as clap's usage errors).
pub fn run(cli: Cli, name: &'static str) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    match runtime {
        Ok(rt) => {
            let code = rt.block_on(command(cli, name));
            // Waits for what is still on the blocking pool (a Kafka client
            // closing, a synchronous commit), but not for ever: one blocked
            // on the broker must not hold the exit, and what it would have
            // committed is read again.
            rt.shutdown_timeout(std::time::Duration::from_secs(5));
            code
        }
        Err(e) => {
            eprintln!("{name}: cannot start the async runtime: {e}");
            ExitCode::from(2)
        }
    }
}

async fn command(cli: Cli, name: &'static str) -> ExitCode {
    if cli.check.check_config {
        return match check::check(&cli.command) {
            Ok(what) => {
                println!("{name} {what}: configuration OK");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{name}: {}", infragraph_telemetry::causes(e.chain()));
                ExitCode::from(2)
            }
        };
    }
    // Interactive commands print their own results; stages log their work.
    let default_log = match cli.command {
        Command::Up(_) | Command::Ui(_) | Command::Export(_) | Command::Drift(_) => "warn",
        _ => "info",
    };
    let _telemetry = match infragraph_telemetry::init_with(name, &cli.telemetry, default_log) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    let shutdown = infragraph_telemetry::shutdown_on_signals();
    let result = match cli.command {
        Command::Up(args) => up::up(*args, shutdown).await,
        Command::Ui(args) => view::ui(*args, shutdown).await,
        Command::Export(args) => export::run(&args),
        Command::Drift(args) => drift::run(&args).await,
        Command::Collect(c) => stages::collect(c, shutdown).await,
        Command::Normalize(args) => stages::normalize(args, shutdown).await,
        Command::Write(args) => stages::write(*args, shutdown).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{name}: {}", infragraph_telemetry::causes(e.chain()));
            ExitCode::from(2)
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
