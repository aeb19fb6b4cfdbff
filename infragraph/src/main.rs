//! `infragraph`: every command (`infragraph --help`).

use clap::Parser;

/// The stages allocate on one thread and free on another (tokio workers,
/// librdkafka's delivery callbacks); glibc's malloc spent a third of the
/// normalizer's time consolidating and unlinking chunks under that pattern.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    infragraph::run(infragraph::Cli::parse(), "infragraph")
}
