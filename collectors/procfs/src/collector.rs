//! The procfs collector behind the shared [`Collector`] trait, and the
//! entry point the binary and the umbrella CLI call.

use infragraph_bus::Bus;
use infragraph_collector::{Collector, RunStats, SyncContext, Syncer};
use infragraph_schemas::{Observation, ScopeKind};
use infragraph_telemetry::StageMetrics;
use tokio::sync::watch;

use crate::config::ProcfsConfig;
use crate::error::ProcfsError;
use crate::host::host_id;
use crate::observe::observations;
use crate::redact::Redactor;
use crate::scan::{ScanSetup, Snapshot, scan};

/// Observes one host through its proc file system.
#[derive(Debug, Clone)]
pub struct ProcfsCollector {
    config: ProcfsConfig,
    host_id: String,
    scope: String,
    redactor: Redactor,
}

impl ProcfsCollector {
    /// Checks the config: redaction patterns compile, a host id is found,
    /// and `proc_root` is a proc file system.
    pub fn new(config: ProcfsConfig) -> Result<Self, ProcfsError> {
        let redactor = Redactor::new(&config.redact)?;
        if !config.proc_root.join("stat").exists() {
            return Err(ProcfsError::NotProc(config.proc_root.display().to_string()));
        }
        let host_id = host_id(
            config.host_id.as_deref(),
            &config.machine_id_file,
            &config.proc_root,
        )
        .ok_or(ProcfsError::NoHostId)?;
        let scope = ScopeKind::Host.scope(&host_id);
        Ok(ProcfsCollector {
            config,
            host_id,
            scope,
            redactor,
        })
    }

    pub fn host_id(&self) -> &str {
        &self.host_id
    }

    pub fn config(&self) -> &ProcfsConfig {
        &self.config
    }

    /// One full read of /proc (blocking; no publishing).
    pub fn scan(&self) -> Snapshot {
        scan(&ScanSetup {
            proc_root: &self.config.proc_root,
            os_release: &self.config.os_release_file,
            passwd: &self.config.passwd_file,
            host_id: &self.host_id,
            redactor: &self.redactor,
            threads: self.config.threads,
        })
    }

    /// The observations a snapshot makes in the sync `ctx`.
    pub fn observe(&self, snapshot: &Snapshot, ctx: &SyncContext) -> Vec<Observation> {
        observations(snapshot, &self.host_id, ctx)
    }

    /// Scans and observes in one blocking call: what one sync publishes.
    pub fn collect_blocking(&self, ctx: &SyncContext) -> Vec<Observation> {
        let snapshot = self.scan();
        report(&snapshot);
        self.observe(&snapshot, ctx)
    }
}

/// Logs and counts what the scan skipped; none of it fails the sync.
fn report(snapshot: &Snapshot) {
    let s = &snapshot.stats;
    let metrics = StageMetrics::global(infragraph_collector::STAGE);
    metrics.records("process", "vanished", s.vanished);
    metrics.records("process", "unreadable_denied", s.denied);
    metrics.records("process", "unreadable_other", s.other);
    metrics.records("netns", "unreadable", s.namespaces_unread);
    tracing::debug!(
        processes = s.processes,
        sockets = s.sockets,
        namespaces = s.namespaces,
        vanished = s.vanished,
        denied = s.denied,
        other = s.other,
        namespaces_unread = s.namespaces_unread,
        "scanned /proc"
    );
}

impl Collector for ProcfsCollector {
    type Error = ProcfsError;

    fn source(&self) -> &str {
        "procfs"
    }

    fn scope(&self) -> &str {
        &self.scope
    }

    async fn collect(&self, ctx: &SyncContext) -> Result<Vec<Observation>, ProcfsError> {
        // The scan is blocking file I/O and CPU work: keep it off the async
        // workers so a bus delivery or a shutdown is never held up by it.
        let this = self.clone();
        let ctx = ctx.clone();
        tokio::task::spawn_blocking(move || this.collect_blocking(&ctx))
            .await
            .map_err(|e| ProcfsError::Scan(e.to_string()))
    }
}

/// Runs the collector on `bus` as `config.schedule` says (once, or until
/// `shutdown` turns true). The umbrella CLI calls this with a memory bus in
/// embedded mode.
pub async fn run<B: Bus>(
    config: ProcfsConfig,
    bus: B,
    shutdown: watch::Receiver<bool>,
) -> Result<RunStats, ProcfsError> {
    let schedule = config.schedule;
    let layout = config.layout.clone();
    let collector = ProcfsCollector::new(config)?;
    tracing::info!(host_id = collector.host_id(), proc_root = %collector.config().proc_root.display(), once = schedule.once, interval_ms = schedule.interval.as_millis() as u64, "procfs collector starting");
    let syncer = Syncer::new(bus).with_layout(layout);
    Ok(infragraph_collector::run(&collector, &syncer, schedule, shutdown).await?)
}
