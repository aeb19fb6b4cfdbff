//! The sources `infragraph up` maps beside this host when their flags name
//! them: AWS Cloud Map and GitHub organisations, each on its own interval,
//! into the same graph. Without these flags `up` maps this machine alone.
//! The stand-alone `collect cloudmap` and `collect github` take every
//! setting; `up` takes what a first map needs and the defaults for the rest.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use infragraph_bus::{Bus, TopicLayout};
use infragraph_collector::{
    Collector, RunStats, Schedule, SyncError, SyncReport, Syncer, parse_duration,
};
use infragraph_collector_cloudmap::config::{DEFAULT_REPOSITORY_BASE_URL, DEFAULT_REPOSITORY_TAG};
use infragraph_collector_cloudmap::{CloudMapCollector, CloudMapConfig};
use infragraph_collector_github::config::DEFAULT_API_URL;
use infragraph_collector_github::{Credentials, GithubCollector, GithubConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Other sources (off unless named)")]
pub struct SourceArgs {
    /// Also map AWS Cloud Map in this region, with the standard AWS
    /// credential chain (AWS_PROFILE, AWS_ACCESS_KEY_ID…, SSO, instance
    /// roles). Every namespace unless --cloudmap-namespace.
    #[arg(long, env = "INFRAGRAPH_CLOUDMAP_REGION", value_name = "REGION")]
    pub cloudmap_region: Option<String>,

    /// A local AWS API such as moto, instead of AWS's endpoints.
    #[arg(
        long,
        env = "INFRAGRAPH_AWS_ENDPOINT_URL",
        value_name = "URL",
        requires = "cloudmap_region"
    )]
    pub cloudmap_endpoint_url: Option<String>,

    /// The AWS account id for the scope (default: asked from STS).
    #[arg(
        long,
        env = "INFRAGRAPH_AWS_ACCOUNT_ID",
        value_name = "ID",
        requires = "cloudmap_region"
    )]
    pub cloudmap_account_id: Option<String>,

    /// Only this Cloud Map namespace (name or id), repeatable.
    #[arg(
        long = "cloudmap-namespace",
        env = "INFRAGRAPH_CLOUDMAP_NAMESPACES",
        value_name = "NAME_OR_ID",
        value_delimiter = ',',
        requires = "cloudmap_region"
    )]
    pub cloudmap_namespaces: Vec<String>,

    /// The service tag key naming the GitHub repository a service is built
    /// from (`owner/name` or a URL).
    #[arg(long, env = "INFRAGRAPH_CLOUDMAP_REPOSITORY_TAG", value_name = "KEY", default_value = DEFAULT_REPOSITORY_TAG)]
    pub cloudmap_repository_tag: String,

    /// Time between Cloud Map syncs.
    #[arg(long, env = "INFRAGRAPH_CLOUDMAP_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub cloudmap_interval: Duration,

    /// Also map this GitHub organisation, repeatable (comma-separated in
    /// the environment). The token comes from --github-token-file, else
    /// INFRAGRAPH_GITHUB_TOKEN or GITHUB_TOKEN.
    #[arg(
        long = "github-org",
        env = "INFRAGRAPH_GITHUB_ORGS",
        value_name = "LOGIN",
        value_delimiter = ','
    )]
    pub github_orgs: Vec<String>,

    /// A file holding the GitHub token.
    #[arg(
        long,
        env = "INFRAGRAPH_GITHUB_TOKEN_FILE",
        value_name = "FILE",
        conflicts_with = "github_app_id",
        requires = "github_orgs"
    )]
    pub github_token_file: Option<PathBuf>,

    /// Authenticate to GitHub as this App (installed on every --github-org).
    #[arg(long, env = "INFRAGRAPH_GITHUB_APP_ID", value_name = "ID", requires_all = ["github_app_private_key_file", "github_orgs"])]
    pub github_app_id: Option<u64>,

    /// The GitHub App's private key, the PEM file GitHub generated.
    #[arg(
        long,
        env = "INFRAGRAPH_GITHUB_APP_PRIVATE_KEY_FILE",
        value_name = "FILE",
        requires = "github_app_id"
    )]
    pub github_app_private_key_file: Option<PathBuf>,

    /// The GitHub REST API; for GitHub Enterprise Server, https://HOST/api/v3.
    #[arg(long, env = "INFRAGRAPH_GITHUB_API_URL", value_name = "URL", default_value = DEFAULT_API_URL)]
    pub github_api_url: String,

    /// Time between GitHub syncs (each costs API quota).
    #[arg(long, env = "INFRAGRAPH_GITHUB_INTERVAL", default_value = "1h", value_parser = parse_duration)]
    pub github_interval: Duration,
}

/// The other sources' collectors, connected, with their schedules.
pub struct Sources {
    cloudmap: Option<(CloudMapCollector, Schedule)>,
    github: Vec<(GithubCollector, Schedule)>,
}

impl SourceArgs {
    /// Builds the collectors these flags name. Fails on what would fail
    /// every sync (unreadable credentials, no AWS account), so `up` stops
    /// at start rather than mapping less than it was asked to.
    pub async fn connect(
        &self,
        layout: &TopicLayout,
        reconcile_interval: Duration,
    ) -> anyhow::Result<Sources> {
        let schedule = |interval, jitter| Schedule {
            once: false,
            interval,
            jitter,
            reconcile_interval,
        };
        let cloudmap = match &self.cloudmap_region {
            None => None,
            Some(region) => {
                let config = self.cloudmap_config(region, layout);
                let jitter = config.schedule.jitter;
                let collector = CloudMapCollector::connect(config)
                    .await
                    .context("cannot reach Cloud Map (--cloudmap-region)")?;
                Some((collector, schedule(self.cloudmap_interval, jitter)))
            }
        };
        let github = match self.github_orgs.is_empty() {
            true => Vec::new(),
            false => {
                let app = self
                    .github_app_id
                    .zip(self.github_app_private_key_file.as_deref());
                let credentials = Credentials::read(self.github_token_file.as_deref(), app)
                    .context("GitHub credentials (--github-token-file or --github-app-id)")?;
                let config = GithubConfig::new(
                    self.github_orgs.clone(),
                    self.github_api_url.clone(),
                    credentials,
                );
                let jitter = config.schedule.jitter;
                let collectors = GithubCollector::for_config(&config).context("--github-org")?;
                collectors
                    .into_iter()
                    .map(|c| (c, schedule(self.github_interval, jitter)))
                    .collect()
            }
        };
        Ok(Sources { cloudmap, github })
    }

    fn cloudmap_config(&self, region: &str, layout: &TopicLayout) -> CloudMapConfig {
        CloudMapConfig {
            endpoint_url: self.cloudmap_endpoint_url.clone(),
            region: Some(region.to_owned()),
            account_id: self.cloudmap_account_id.clone(),
            namespaces: self.cloudmap_namespaces.clone(),
            repository_tag: self.cloudmap_repository_tag.clone(),
            repository_base_url: DEFAULT_REPOSITORY_BASE_URL.to_owned(),
            layout: layout.clone(),
            ..CloudMapConfig::default()
        }
    }
}

/// One source's sync that did not complete.
pub struct Failed {
    pub scope: String,
    pub error: SyncError,
}

impl Sources {
    /// The scopes mapped beside this host, for the start-up line.
    pub fn scopes(&self) -> Vec<String> {
        let cloudmap = self.cloudmap.iter().map(|(c, _)| c.scope().to_owned());
        cloudmap
            .chain(self.github.iter().map(|(c, _)| c.scope().to_owned()))
            .collect()
    }

    /// One sync of every source, all at once.
    pub async fn sync_once<B: Bus>(&self, syncer: &Syncer<B>) -> (Vec<SyncReport>, Vec<Failed>) {
        let cloudmap = self.cloudmap.iter().map(|(c, _)| once(c, syncer));
        let (mut done, mut failed) = split(futures::future::join_all(cloudmap).await);
        let (d, f) = split(
            futures::future::join_all(self.github.iter().map(|(c, _)| once(c, syncer))).await,
        );
        done.extend(d);
        failed.extend(f);
        (done, failed)
    }

    /// Runs every source on its own schedule until `shutdown`.
    pub fn spawn<B: Bus>(
        self,
        syncer: &Syncer<B>,
        shutdown: &watch::Receiver<bool>,
    ) -> Vec<JoinHandle<Result<RunStats, SyncError>>> {
        let mut tasks = Vec::new();
        if let Some((c, schedule)) = self.cloudmap {
            tasks.push(spawn(c, schedule, syncer.clone(), shutdown.clone()));
        }
        for (c, schedule) in self.github {
            tasks.push(spawn(c, schedule, syncer.clone(), shutdown.clone()));
        }
        tasks
    }
}

async fn once<C: Collector, B: Bus>(c: &C, syncer: &Syncer<B>) -> Result<SyncReport, Failed> {
    syncer.sync(c).await.map_err(|error| Failed {
        scope: c.scope().to_owned(),
        error,
    })
}

fn split(results: Vec<Result<SyncReport, Failed>>) -> (Vec<SyncReport>, Vec<Failed>) {
    let (done, failed): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    (
        done.into_iter().filter_map(Result::ok).collect(),
        failed.into_iter().filter_map(Result::err).collect(),
    )
}

fn spawn<C: Collector, B: Bus>(
    c: C,
    schedule: Schedule,
    syncer: Syncer<B>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<Result<RunStats, SyncError>> {
    tokio::spawn(async move { infragraph_collector::run(&c, &syncer, schedule, shutdown).await })
}
