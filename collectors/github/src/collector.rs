//! The GitHub collector behind the shared [`Collector`] trait, one per
//! organisation, and the entry point the binary calls.

use std::sync::Mutex;

use infragraph_bus::Bus;
use infragraph_collector::{Collector, RunStats, SyncContext, Syncer};
use infragraph_schemas::{Observation, ScopeKind};
use infragraph_telemetry::StageMetrics;
use tokio::sync::watch;

use crate::api::{Api, RetrySettings};
use crate::config::{Credentials, GithubConfig};
use crate::error::GithubError;
use crate::fetch::{Skipped, fetch_org};
use crate::observe::observations;

/// What one sync of an org spent and left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// API requests sent, retries included, failed syncs too.
    pub requests: u64,
    /// Of those, answered 304 Not Modified (ETags): free of rate limit.
    pub not_modified: u64,
    pub repos: usize,
    pub teams: usize,
    pub observations: usize,
    pub skipped: Vec<Skipped>,
    /// GitHub's rate-limit budget left after the sync, where it said.
    pub rate_limit_remaining: Option<u64>,
}

/// Observes one GitHub organisation; its scope is `github:<org>`.
#[derive(Debug)]
pub struct GithubCollector {
    org: String,
    scope: String,
    api: Api,
    concurrency: usize,
    last: Mutex<Option<SyncStats>>,
}

impl GithubCollector {
    pub fn new(
        org: &str,
        api_url: &str,
        credentials: impl Into<Credentials>,
        retry: RetrySettings,
        concurrency: usize,
    ) -> Result<Self, GithubError> {
        let api = Api::new(api_url, &credentials.into(), org, retry)?;
        Ok(GithubCollector {
            org: org.to_owned(),
            scope: ScopeKind::GitHubOrg.scope(org),
            api,
            concurrency: concurrency.max(1),
            last: Mutex::new(None),
        })
    }

    /// One collector per org of `config`.
    pub fn for_config(config: &GithubConfig) -> Result<Vec<Self>, GithubError> {
        config.validate()?;
        config
            .orgs
            .iter()
            .map(|org| {
                GithubCollector::new(
                    org,
                    &config.api_url,
                    &config.credentials,
                    config.retry,
                    config.concurrency,
                )
            })
            .collect()
    }

    pub fn org(&self) -> &str {
        &self.org
    }

    /// What the last sync (completed or failed) spent and skipped.
    pub fn last_stats(&self) -> Option<SyncStats> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn record(&self, stats: SyncStats) {
        let metrics = StageMetrics::global(infragraph_collector::STAGE);
        metrics.records("github_request", "sent", stats.requests);
        metrics.records("github_repository", "skipped", stats.skipped.len() as u64);
        tracing::info!(
            org = %self.org,
            requests = stats.requests,
            not_modified = stats.not_modified,
            repos = stats.repos,
            teams = stats.teams,
            observations = stats.observations,
            skipped = stats.skipped.len(),
            rate_limit_remaining = stats.rate_limit_remaining,
            "GitHub org read"
        );
        for s in &stats.skipped {
            tracing::warn!(org = %self.org, repo = %s.repo, reason = %s.reason, "repository skipped");
        }
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(stats);
    }
}

impl Collector for GithubCollector {
    type Error = GithubError;

    fn source(&self) -> &str {
        "github"
    }

    fn scope(&self) -> &str {
        &self.scope
    }

    async fn collect(&self, ctx: &SyncContext) -> Result<Vec<Observation>, GithubError> {
        self.api.take_requests();
        self.api.take_not_modified();
        let result = fetch_org(&self.api, &self.org, self.concurrency).await;
        let mut stats = SyncStats {
            requests: self.api.take_requests(),
            not_modified: self.api.take_not_modified(),
            rate_limit_remaining: self.api.rate_limit_remaining(),
            ..SyncStats::default()
        };
        let snapshot = match result {
            Ok(s) => s,
            Err(e) => {
                // Spent requests are worth knowing on a failed sync too.
                self.record(stats);
                return Err(e);
            }
        };
        let obs = observations(&snapshot, ctx);
        stats.repos = snapshot.repos.len();
        stats.teams = snapshot.teams.len();
        stats.observations = obs.len();
        stats.skipped = snapshot.skipped;
        self.record(stats);
        Ok(obs)
    }
}

/// Runs one collector per org of `config` on `bus`, all at once, as
/// `config.schedule` says. Each org is its own scope, so one org's cleanup
/// never touches another's data.
pub async fn run<B: Bus>(
    config: GithubConfig,
    bus: B,
    shutdown: watch::Receiver<bool>,
) -> Result<Vec<RunStats>, GithubError> {
    let collectors = GithubCollector::for_config(&config)?;
    tracing::info!(orgs = ?config.orgs, api_url = %config.api_url, once = config.schedule.once, "github collector starting");
    let syncer = Syncer::new(bus).with_layout(config.layout.clone());
    let runs = collectors
        .iter()
        .map(|c| infragraph_collector::run(c, &syncer, config.schedule, shutdown.clone()));
    let results = futures::future::join_all(runs).await;
    let mut stats = Vec::new();
    let mut failed = Vec::new();
    for (c, r) in collectors.iter().zip(results) {
        match r {
            Ok(s) => stats.push(s),
            Err(e) => failed.push(format!("{}: {e}", c.org())),
        }
    }
    if failed.is_empty() {
        Ok(stats)
    } else {
        Err(GithubError::SyncFailed(failed.join("; ")))
    }
}
