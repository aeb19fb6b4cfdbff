//! The writer's settings: command-line flags with `INFRAGRAPH_*`
//! environment fallbacks, validated into [`WriterConfig`] and a
//! [`SinkChoice`] before anything starts.

use std::path::PathBuf;
use std::time::Duration;

use crate::bolt::BoltConfig;
use crate::error::WriterError;

/// Default rows per batch: big enough that one `UNWIND` amortises its
/// round trip, small enough that a batch commits well within a second.
pub const DEFAULT_BATCH_SIZE: usize = 5_000;
/// Default wait for a batch to fill: a quiet bus still reaches the graph
/// within half a second, inside the 3 s end-to-end freshness target.
pub const DEFAULT_BATCH_TIMEOUT_MS: u64 = 500;
/// Default elements per cleanup transaction.
pub const DEFAULT_CLEANUP_BATCH: usize = 10_000;
/// Default consumer group.
pub const DEFAULT_GROUP: &str = "infragraph-graph-writer";

/// Which graph to write: Neo4j over Bolt, or the embedded store.
#[derive(clap::Args, Debug, Clone)]
pub struct SinkArgs {
    /// Bolt URI of the graph database (e.g. `bolt://localhost:7687`); without
    /// it the writer uses the embedded store in --data-dir.
    #[arg(long, env = "INFRAGRAPH_NEO4J_URI")]
    pub neo4j_uri: Option<String>,

    /// Database user.
    #[arg(long, env = "INFRAGRAPH_NEO4J_USER", default_value = "neo4j")]
    pub neo4j_user: String,

    /// Database password. Prefer --neo4j-password-file: flags show in `ps`.
    #[arg(
        long,
        env = "INFRAGRAPH_NEO4J_PASSWORD",
        hide_env_values = true,
        conflicts_with = "neo4j_password_file"
    )]
    pub neo4j_password: Option<String>,

    /// File holding the database password (trailing newline ignored).
    #[arg(long, env = "INFRAGRAPH_NEO4J_PASSWORD_FILE")]
    pub neo4j_password_file: Option<PathBuf>,

    /// Database name; `neo4j` is Neo4j's default database.
    #[arg(long, env = "INFRAGRAPH_NEO4J_DATABASE", default_value = "neo4j")]
    pub neo4j_database: String,

    /// Longest wait for the database to answer one statement, in seconds
    /// (a cleanup batch on a large graph takes a while).
    #[arg(long, env = "INFRAGRAPH_NEO4J_TIMEOUT_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub neo4j_timeout_secs: u64,

    /// Directory of the embedded store, used when no --neo4j-uri is given.
    #[arg(long, env = "INFRAGRAPH_DATA_DIR", default_value_os_t = default_data_dir())]
    pub data_dir: PathBuf,
}

/// `$XDG_DATA_HOME/infragraph`, else `~/.local/share/infragraph`, else
/// `infragraph-data` in the working directory.
pub fn default_data_dir() -> PathBuf {
    let non_empty = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    non_empty("XDG_DATA_HOME")
        .or_else(|| non_empty("HOME").map(|h| h.join(".local/share")))
        .map_or_else(
            || PathBuf::from("infragraph-data"),
            |d| d.join("infragraph"),
        )
}

/// How the writer consumes and batches, independent of the sink.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct WriterConfig {
    /// Most changes applied in one transaction.
    #[arg(long, env = "INFRAGRAPH_BATCH_SIZE", default_value_t = DEFAULT_BATCH_SIZE, value_parser = positive)]
    pub batch_size: usize,

    /// Longest wait, in ms, for a batch to fill before applying it.
    #[arg(long, env = "INFRAGRAPH_BATCH_TIMEOUT_MS", default_value_t = DEFAULT_BATCH_TIMEOUT_MS)]
    pub batch_timeout_ms: u64,

    /// Most elements one cleanup transaction removes.
    #[arg(long, env = "INFRAGRAPH_CLEANUP_BATCH", default_value_t = DEFAULT_CLEANUP_BATCH, value_parser = positive)]
    pub cleanup_batch: usize,

    /// Consumer group of the writer.
    #[arg(id = "writer_group", long = "writer-group", value_name = "GROUP", env = "INFRAGRAPH_WRITER_GROUP", default_value = DEFAULT_GROUP)]
    pub group: String,

    /// Longest pause, in ms, between retries of a transient failure.
    #[arg(long, env = "INFRAGRAPH_MAX_BACKOFF_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_backoff_ms: u64,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            batch_size: DEFAULT_BATCH_SIZE,
            batch_timeout_ms: DEFAULT_BATCH_TIMEOUT_MS,
            cleanup_batch: DEFAULT_CLEANUP_BATCH,
            group: DEFAULT_GROUP.to_owned(),
            max_backoff_ms: 10_000,
        }
    }
}

impl WriterConfig {
    pub fn batch_timeout(&self) -> Duration {
        Duration::from_millis(self.batch_timeout_ms)
    }

    pub fn max_backoff(&self) -> Duration {
        Duration::from_millis(self.max_backoff_ms)
    }
}

fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// Which graph the writer writes.
#[derive(Debug, Clone)]
pub enum SinkChoice {
    Bolt(BoltConfig),
    Embedded(PathBuf),
}

/// The URI schemes Neo4j's drivers take: direct (`bolt`) or routed
/// (`neo4j`), plain, TLS (`+s`) or TLS with any certificate (`+ssc`).
const BOLT_SCHEMES: [&str; 6] = [
    "bolt",
    "bolt+s",
    "bolt+ssc",
    "neo4j",
    "neo4j+s",
    "neo4j+ssc",
];

impl SinkArgs {
    /// Checks the flags without reading the password file or connecting
    /// (`--check-config`).
    pub fn check(&self) -> Result<(), WriterError> {
        let Some(uri) = &self.neo4j_uri else {
            return Ok(());
        };
        let scheme = uri.split_once("://").map(|(s, _)| s);
        if !scheme.is_some_and(|s| BOLT_SCHEMES.contains(&s)) {
            let reason = format!(
                "{uri:?} is not a Neo4j URI: it starts with one of {}:// and names HOST:PORT",
                BOLT_SCHEMES.join("://, ")
            );
            return Err(WriterError::Config {
                name: "--neo4j-uri",
                reason,
            });
        }
        if self.neo4j_database.trim().is_empty() {
            return Err(WriterError::Config {
                name: "--neo4j-database",
                reason: "is empty".to_owned(),
            });
        }
        Ok(())
    }

    /// The sink the flags name, with the password read from its file.
    pub fn sink(&self) -> Result<SinkChoice, WriterError> {
        let Some(uri) = &self.neo4j_uri else {
            return Ok(SinkChoice::Embedded(self.data_dir.clone()));
        };
        Ok(SinkChoice::Bolt(BoltConfig {
            uri: uri.clone(),
            user: self.neo4j_user.clone(),
            password: self.password()?,
            database: self.neo4j_database.clone(),
            timeout: Duration::from_secs(self.neo4j_timeout_secs),
        }))
    }

    fn password(&self) -> Result<String, WriterError> {
        if let Some(path) = &self.neo4j_password_file {
            let text = std::fs::read_to_string(path).map_err(|e| WriterError::Config {
                name: "--neo4j-password-file",
                reason: format!("cannot read {}: {e}", path.display()),
            })?;
            return Ok(text.trim_end_matches(['\r', '\n']).to_owned());
        }
        Ok(self.neo4j_password.clone().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The writer's flags as `infragraph write` takes them.
    #[derive(clap::Parser, Debug)]
    struct WriterArgs {
        #[command(flatten)]
        sink: SinkArgs,
        #[command(flatten)]
        writer: WriterConfig,
    }

    #[test]
    fn defaults_pick_the_embedded_store_and_reject_zero_batches() {
        let args = WriterArgs::try_parse_from(["w"]).unwrap();
        assert!(matches!(args.sink.sink().unwrap(), SinkChoice::Embedded(_)));
        assert_eq!(args.writer, WriterConfig::default());
        assert!(WriterArgs::try_parse_from(["w", "--batch-size", "0"]).is_err());
    }

    #[test]
    fn the_password_file_is_read_and_never_debug_printed() {
        let dir = std::env::temp_dir().join(format!("gw-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "s3cret\n").unwrap();
        let args = WriterArgs::try_parse_from([
            "w",
            "--neo4j-uri",
            "bolt://x:1",
            "--neo4j-password-file",
            file.to_str().unwrap(),
        ])
        .unwrap();
        let SinkChoice::Bolt(cfg) = args.sink.sink().unwrap() else {
            panic!("bolt expected")
        };
        assert_eq!(cfg.password, "s3cret");
        assert!(!format!("{cfg:?}").contains("s3cret"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
