//! The normalizer's settings.

/// How the normalizer runs; every flag has an environment fallback.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct NormalizerArgs {
    /// Consumer group shared by every normalizer instance; instances split
    /// the observation partitions between them.
    #[arg(long = "normalizer-group", env = "INFRAGRAPH_NORMALIZER_GROUP", default_value = "infragraph-normalizer")]
    pub group: String,

    /// Elements (nodes and relationships) whose last state is remembered
    /// for deduplication and merging; about 1 KiB each. Forgotten elements
    /// are re-sent in full, which is safe.
    #[arg(long, env = "INFRAGRAPH_NORMALIZER_STATE_CAPACITY", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub state_capacity: u64,

    /// Most messages handled between two offset commits.
    #[arg(long = "normalizer-batch", env = "INFRAGRAPH_NORMALIZER_BATCH", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch: u64,

    /// How often waiting sync barriers check the group's progress, in ms.
    #[arg(long, env = "INFRAGRAPH_BARRIER_CHECK_MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub barrier_check_ms: u64,
}

impl Default for NormalizerArgs {
    fn default() -> Self {
        NormalizerArgs { group: "infragraph-normalizer".into(), state_capacity: 1_000_000, batch: 2000, barrier_check_ms: 100 }
    }
}
