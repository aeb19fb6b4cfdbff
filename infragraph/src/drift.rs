//! `infragraph drift`: where the dependencies Cloud Map services declare
//! and the connections their processes really hold disagree. The report
//! itself lives in the read side (`infragraph_graph_reader::drift`), which
//! the live view shares.

use infragraph_telemetry::now_ms;
use std::io::Write;
use std::process::ExitCode;

use infragraph_graph_reader::drift::{self, report};
use infragraph_graph_writer::SinkArgs;

/// Flags of `infragraph drift`.
#[derive(clap::Args, Debug)]
pub struct DriftArgs {
    /// Only services of this Cloud Map namespace (name or id).
    #[arg(long, env = "INFRAGRAPH_DRIFT_NAMESPACE", value_name = "NAME_OR_ID")]
    pub namespace: Option<String>,

    /// `table` for people, `json` for scripts.
    #[arg(long, env = "INFRAGRAPH_DRIFT_FORMAT", value_enum, default_value_t = Format::Table)]
    pub format: Format,

    #[command(flatten)]
    pub sink: SinkArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Exit code when the report found drift; errors exit with 2.
pub const DRIFT: u8 = 1;

pub async fn run(args: &DriftArgs) -> anyhow::Result<ExitCode> {
    let store = crate::view::existing_reader(&args.sink.sink()?)?;
    let report = drift::report(&store, args.namespace.as_deref(), now_ms()).await?;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Table => report::table(&report, &mut out)?,
        Format::Json => report::json(&report, &mut out)?,
    }
    out.flush()?;
    Ok(if report.drifted() {
        ExitCode::from(DRIFT)
    } else {
        ExitCode::SUCCESS
    })
}
