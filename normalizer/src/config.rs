//! The normalizer's settings.

use crate::merge::Measurements;

/// How the normalizer runs; every flag has an environment fallback.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct NormalizerArgs {
    /// Consumer group shared by every normalizer instance; instances split
    /// the observation partitions between them.
    #[arg(
        id = "normalizer_group",
        long = "normalizer-group",
        env = "INFRAGRAPH_NORMALIZER_GROUP",
        default_value = "infragraph-normalizer"
    )]
    pub group: String,

    /// Elements (nodes and relationships) whose last state is remembered
    /// for deduplication and merging; about 1 KiB each. Forgotten elements
    /// are re-sent in full, which is safe.
    #[arg(long, env = "INFRAGRAPH_NORMALIZER_STATE_CAPACITY", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub state_capacity: u64,

    /// Most messages handled in one go before the loop looks at its timers.
    #[arg(long = "normalizer-batch", env = "INFRAGRAPH_NORMALIZER_BATCH", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch: u64,

    /// How often, in ms, progress is committed (as far as the bus has
    /// acknowledged the changes sent) and waiting sync barriers are
    /// checked; the stage goes on consuming meanwhile. Lower means fresher
    /// barriers and more commits; it adds about this much to a sync's
    /// end-to-end time.
    #[arg(long, env = "INFRAGRAPH_NORMALIZER_COMMIT_INTERVAL_MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub commit_interval_ms: u64,

    /// A measurement (a process's CPU time, memory, threads: `~` in the
    /// registry table) is written to the graph when it moved by at least
    /// this percentage of the value the graph holds...
    #[arg(long, env = "INFRAGRAPH_MEASUREMENT_CHANGE_PERCENT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub measurement_change_percent: u64,

    /// ...or moved at all once the graph's value is this old, in ms. So the
    /// graph's measurements are at most this stale while topology changes
    /// stay cheap; 0 writes every change.
    #[arg(
        long,
        env = "INFRAGRAPH_MEASUREMENT_MAX_AGE_MS",
        default_value_t = 30_000
    )]
    pub measurement_max_age_ms: u64,
}

impl NormalizerArgs {
    pub fn measurements(&self) -> Measurements {
        Measurements {
            min_change: self.measurement_change_percent as f64 / 100.0,
            max_age_ms: i64::try_from(self.measurement_max_age_ms).unwrap_or(i64::MAX),
        }
    }
}

impl Default for NormalizerArgs {
    fn default() -> Self {
        NormalizerArgs {
            group: "infragraph-normalizer".into(),
            state_capacity: 1_000_000,
            batch: 2000,
            commit_interval_ms: 100,
            measurement_change_percent: 10,
            measurement_max_age_ms: 30_000,
        }
    }
}
