//! The collector's settings: the library struct and the flags that fill it.

use std::time::Duration;

use infragraph_collector::{Schedule, ScheduleArgs, ScheduleDefaults, TopicLayout};

/// The tag keys read for declared dependencies by default. The second is the
/// key the common "Cloud Map + Neo4j" approach tags services with, so
/// services already tagged that way need no change.
pub const DEFAULT_DEPENDENCY_TAGS: [&str; 2] =
    ["infragraph:depends-on", "NEO4J_RELATIONSHIP_TO_SERVICE"];

/// The tag key naming the repository a service is built from, by default.
pub const DEFAULT_REPOSITORY_TAG: &str = "repository";

/// Where `owner/name` repository tags point, by default.
pub const DEFAULT_REPOSITORY_BASE_URL: &str = "https://github.com";

/// Everything the Cloud Map collector needs; [`CloudMapArgs`] builds one
/// from flags, the umbrella CLI may build one directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudMapConfig {
    /// A local AWS API (e.g. moto) instead of the real endpoints.
    pub endpoint_url: Option<String>,
    /// `None`: the SDK's region chain (AWS_REGION, profile, IMDS).
    pub region: Option<String>,
    /// `None`: asked from STS GetCallerIdentity.
    pub account_id: Option<String>,
    /// Namespace names or ids to sync; empty syncs every namespace.
    pub namespaces: Vec<String>,
    /// Service tag keys whose value lists services this one depends on.
    pub dependency_tags: Vec<String>,
    /// Service tag key whose value names the service's GitHub repository
    /// (`owner/name` or a URL).
    pub repository_tag: String,
    /// The web address `owner/name` repository tags are read against.
    pub repository_base_url: String,
    /// Skip (and report) namespaces and services that access is denied to,
    /// instead of failing the sync.
    pub best_effort: bool,
    /// Attempts per AWS call, the first included (standard retry mode:
    /// exponential backoff with jitter on throttling and transient errors).
    pub max_attempts: u32,
    pub schedule: Schedule,
    pub layout: TopicLayout,
}

/// Five minutes: Cloud Map changes at deploy pace, and a sync of a large
/// account costs a few API calls per service.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
pub const DEFAULT_JITTER: Duration = Duration::from_secs(30);

impl Default for CloudMapConfig {
    fn default() -> Self {
        CloudMapConfig {
            endpoint_url: None,
            region: None,
            account_id: None,
            namespaces: Vec::new(),
            dependency_tags: DEFAULT_DEPENDENCY_TAGS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            repository_tag: DEFAULT_REPOSITORY_TAG.to_owned(),
            repository_base_url: DEFAULT_REPOSITORY_BASE_URL.to_owned(),
            best_effort: false,
            max_attempts: 5,
            schedule: Schedule {
                once: false,
                interval: DEFAULT_INTERVAL,
                jitter: DEFAULT_JITTER,
                reconcile_interval: infragraph_collector::DEFAULT_RECONCILE_INTERVAL,
            },
            layout: TopicLayout::default(),
        }
    }
}

/// Every five minutes: registrations change with deployments, and AWS
/// bills and throttles the API calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Every;

impl ScheduleDefaults for Every {
    const INTERVAL: &'static str = "5m";
    const JITTER: &'static str = "30s";
}

/// The collector's own flags; the binary adds the bus and telemetry ones.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct CloudMapArgs {
    #[command(flatten)]
    pub schedule: ScheduleArgs<Every>,

    /// AWS API endpoint, for a local AWS API such as moto.
    #[arg(long, env = "INFRAGRAPH_AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,

    /// AWS region (default: the SDK's chain: AWS_REGION, profile, IMDS).
    #[arg(long, env = "INFRAGRAPH_AWS_REGION")]
    pub region: Option<String>,

    /// AWS account id for the scope (default: asked from STS
    /// GetCallerIdentity; pass it where STS is unreachable).
    #[arg(long, env = "INFRAGRAPH_AWS_ACCOUNT_ID")]
    pub account_id: Option<String>,

    /// Only this namespace (name or id), repeatable; default every
    /// namespace. In the environment, separate several with commas.
    #[arg(
        long = "namespace",
        env = "INFRAGRAPH_CLOUDMAP_NAMESPACES",
        value_name = "NAME_OR_ID",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,

    /// Service tag key whose value names (comma-separated) the services it
    /// depends on, repeatable. Default: infragraph:depends-on and
    /// NEO4J_RELATIONSHIP_TO_SERVICE.
    #[arg(
        long = "dependency-tag",
        env = "INFRAGRAPH_CLOUDMAP_DEPENDENCY_TAGS",
        value_name = "KEY",
        value_delimiter = ','
    )]
    pub dependency_tags: Vec<String>,

    /// Service tag key whose value names the GitHub repository the service
    /// is built from, as `owner/name` or a URL. The service then has
    /// BUILT_FROM to that repository, which joins it to the GitHub
    /// collector's graph (a repository not collected is left as a stub).
    #[arg(long, env = "INFRAGRAPH_CLOUDMAP_REPOSITORY_TAG", value_name = "KEY", default_value = DEFAULT_REPOSITORY_TAG)]
    pub repository_tag: String,

    /// The GitHub web address `owner/name` repository tags are read
    /// against; for GitHub Enterprise Server, https://HOST.
    #[arg(long, env = "INFRAGRAPH_CLOUDMAP_REPOSITORY_BASE_URL", value_name = "URL", default_value = DEFAULT_REPOSITORY_BASE_URL)]
    pub repository_base_url: String,

    /// Skip namespaces and services that access is denied to (logged and
    /// counted) instead of failing the sync. What is skipped is then cleaned
    /// out of the graph, as if it were gone.
    #[arg(long, env = "INFRAGRAPH_CLOUDMAP_BEST_EFFORT")]
    pub best_effort: bool,

    /// Attempts per AWS call, with exponential backoff on throttling.
    #[arg(long, env = "INFRAGRAPH_AWS_MAX_ATTEMPTS", default_value_t = 5)]
    pub max_attempts: u32,
}

impl CloudMapArgs {
    /// The config these flags describe, with the bus's topic layout.
    pub fn config(&self, layout: TopicLayout) -> CloudMapConfig {
        let defaults = CloudMapConfig::default();
        CloudMapConfig {
            endpoint_url: self.endpoint_url.clone(),
            region: self.region.clone(),
            account_id: self.account_id.clone(),
            namespaces: self.namespaces.clone(),
            dependency_tags: if self.dependency_tags.is_empty() {
                defaults.dependency_tags
            } else {
                self.dependency_tags.clone()
            },
            repository_tag: self.repository_tag.clone(),
            repository_base_url: self.repository_base_url.clone(),
            best_effort: self.best_effort,
            max_attempts: self.max_attempts.max(1),
            schedule: self.schedule.schedule(),
            layout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: CloudMapArgs,
    }

    #[test]
    fn flags_fill_the_config_and_default_dependency_tags() {
        let cli = Cli::try_parse_from([
            "x",
            "--namespace",
            "a",
            "--namespace",
            "b",
            "--region",
            "eu-west-1",
            "--once",
        ])
        .unwrap();
        let c = cli.args.config(TopicLayout::default());
        assert_eq!(c.namespaces, ["a", "b"]);
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
        assert!(c.schedule.once);
        assert!(
            c.dependency_tags
                .iter()
                .any(|t| t == "NEO4J_RELATIONSHIP_TO_SERVICE")
        );
        let cli = Cli::try_parse_from(["x", "--dependency-tag", "deps"]).unwrap();
        assert_eq!(
            cli.args.config(TopicLayout::default()).dependency_tags,
            ["deps"]
        );
        assert_eq!(c.repository_tag, DEFAULT_REPOSITORY_TAG);
        assert_eq!(c.repository_base_url, DEFAULT_REPOSITORY_BASE_URL);
    }
}
