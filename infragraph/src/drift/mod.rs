//! `infragraph drift`: where the dependencies Cloud Map services declare
//! and the connections their processes really hold disagree.
//!
//! - `facts.rs`: the four reads behind it, in Cypher (Neo4j) and SQL (the
//!   embedded store).
//! - `report.rs`: the three sets with their evidence, as a table or JSON.

pub mod facts;
pub mod report;

use std::io::Write;
use std::process::ExitCode;

use infragraph_graph_writer::{BoltSink, SinkArgs, SinkChoice, SqliteStore};

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
    let namespace = args.namespace.as_deref();
    let facts = match args.sink.sink()? {
        SinkChoice::Bolt(cfg) => facts::from_neo4j(&BoltSink::connect(&cfg)?, namespace).await?,
        SinkChoice::Embedded(dir) => {
            if !dir.exists() {
                anyhow::bail!(
                    "no embedded store in {} (run `infragraph up --once` first, or pass --data-dir or --neo4j-uri)",
                    dir.display()
                );
            }
            facts::from_embedded(&SqliteStore::open(&dir)?, namespace)?
        }
    };
    if let Some(ns) = namespace
        && facts.services.is_empty()
    {
        anyhow::bail!("no Cloud Map service in namespace {ns:?} in this graph");
    }
    let report = report::Report::build(&facts, now_ms());
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

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
