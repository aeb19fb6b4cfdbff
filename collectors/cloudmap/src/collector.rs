//! The Cloud Map collector behind the shared [`Collector`] trait, and the
//! entry point the binary calls.

use std::sync::Mutex;

use infragraph_bus::Bus;
use infragraph_collector::{Collector, RunStats, SyncContext, Syncer};
use infragraph_schemas::{Observation, ScopeKind};
use infragraph_telemetry::StageMetrics;
use tokio::sync::watch;

use crate::api::{CloudMapApi, sdk_config};
use crate::config::CloudMapConfig;
use crate::error::CloudMapError;
use crate::observe::observations;
use crate::walk::{Policy, read_scope};

/// What one sync read and what it cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// AWS API requests sent, retries and pages included, failed syncs too.
    pub requests: u64,
    pub namespaces: usize,
    pub services: usize,
    pub instances: usize,
}

/// Observes the Cloud Map namespaces of one account and region.
#[derive(Debug)]
pub struct CloudMapCollector {
    config: CloudMapConfig,
    api: CloudMapApi,
    scope: String,
    last: Mutex<Option<SyncStats>>,
}

/// `aws:<account>/<region>`, plus `/ns:<names, sorted>` when only some
/// namespaces are synced: two collectors with different filters on one
/// account must not clean up each other's namespaces.
pub fn scope(account: &str, region: &str, namespaces: &[String]) -> String {
    let mut scope = ScopeKind::AwsAccountRegion.scope(&format!("{account}/{region}"));
    if !namespaces.is_empty() {
        let mut names = namespaces.to_vec();
        names.sort();
        names.dedup();
        scope.push_str(&format!("/ns:{}", names.join(",")));
    }
    scope
}

impl CloudMapCollector {
    /// Loads credentials and region the standard way and finds the account
    /// (from `config.account_id`, else STS).
    pub async fn connect(config: CloudMapConfig) -> Result<Self, CloudMapError> {
        let api = CloudMapApi::new(&sdk_config(&config).await)?;
        let account = match &config.account_id {
            Some(a) => a.clone(),
            None => api.account_id().await?,
        };
        Ok(Self::with_api(config, api, &account))
    }

    /// A collector on an API client built elsewhere (tests pass static
    /// credentials this way).
    pub fn with_api(config: CloudMapConfig, api: CloudMapApi, account: &str) -> Self {
        let scope = scope(account, api.region(), &config.namespaces);
        CloudMapCollector {
            config,
            api,
            scope,
            last: Mutex::new(None),
        }
    }

    pub fn config(&self) -> &CloudMapConfig {
        &self.config
    }

    /// What the last sync (completed or failed) read and spent.
    pub fn last_stats(&self) -> Option<SyncStats> {
        *self.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, stats: SyncStats) {
        StageMetrics::global(infragraph_collector::STAGE).records(
            "cloudmap_request",
            "sent",
            stats.requests,
        );
        tracing::info!(
            scope = %self.scope,
            requests = stats.requests,
            namespaces = stats.namespaces,
            services = stats.services,
            instances = stats.instances,
            "Cloud Map read"
        );
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(stats);
    }
}

impl Collector for CloudMapCollector {
    type Error = CloudMapError;

    fn source(&self) -> &str {
        "cloudmap"
    }

    fn scope(&self) -> &str {
        &self.scope
    }

    async fn collect(&self, ctx: &SyncContext) -> Result<Vec<Observation>, CloudMapError> {
        let policy = Policy {
            best_effort: self.config.best_effort,
        };
        self.api.take_requests();
        let result = read_scope(&self.api, &self.config.namespaces, policy).await;
        let mut stats = SyncStats {
            requests: self.api.take_requests(),
            ..SyncStats::default()
        };
        let snap = match result {
            Ok(snap) => snap,
            Err(e) => {
                // Spent requests are worth knowing on a failed sync too.
                self.record(stats);
                return Err(e.into());
            }
        };
        (stats.namespaces, stats.services, stats.instances) = (
            snap.namespaces.len(),
            snap.services.len(),
            snap.instances.len(),
        );
        self.record(stats);
        Ok(observations(&snap, &self.config, ctx))
    }
}

/// Runs the collector on `bus` as `config.schedule` says (once, or until
/// `shutdown` turns true).
pub async fn run<B: Bus>(
    config: CloudMapConfig,
    bus: B,
    shutdown: watch::Receiver<bool>,
) -> Result<RunStats, CloudMapError> {
    let schedule = config.schedule;
    let layout = config.layout.clone();
    let collector = CloudMapCollector::connect(config).await?;
    tracing::info!(
        scope = collector.scope(),
        once = schedule.once,
        interval_ms = schedule.interval.as_millis() as u64,
        best_effort = collector.config().best_effort,
        "cloudmap collector starting"
    );
    let syncer = Syncer::new(bus).with_layout(layout);
    Ok(infragraph_collector::run(&collector, &syncer, schedule, shutdown).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_names_account_region_and_any_namespace_filter() {
        assert_eq!(scope("123", "eu-west-1", &[]), "aws:123/eu-west-1");
        assert_eq!(
            scope("123", "eu-west-1", &["b".into(), "a".into(), "b".into()]),
            "aws:123/eu-west-1/ns:a,b"
        );
    }
}
