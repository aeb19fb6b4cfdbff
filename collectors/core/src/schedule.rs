//! When syncs run: once, or every interval (plus jitter) until shutdown.

use std::time::Duration;

use infragraph_bus::Bus;
use rand::Rng;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::collector::Collector;
use crate::error::{SetupError, SyncError};
use crate::sync::{SyncReport, Syncer};

/// How often to sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// One sync, then return its result.
    pub once: bool,
    /// Time from the start of one sync to the start of the next.
    pub interval: Duration,
    /// Up to this much extra wait, drawn anew each time, so collectors that
    /// started together do not sync in lockstep.
    pub jitter: Duration,
    /// Time between reconciliations of a scope (see [`crate::delta`]).
    pub reconcile_interval: Duration,
}

/// A collector's defaults for the schedule flags, as duration strings.
pub trait ScheduleDefaults {
    const INTERVAL: &'static str;
    const JITTER: &'static str;
}

/// When a collector syncs: the flags every collector takes, each with the
/// collector's own defaults (`D`).
#[derive(clap::Args, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleArgs<D: ScheduleDefaults + Send + Sync + 'static> {
    /// Run one sync and exit, non-zero if it failed (cron style).
    #[arg(long, env = "INFRAGRAPH_ONCE")]
    pub once: bool,

    /// Time between sync starts.
    #[arg(long, env = "INFRAGRAPH_INTERVAL", default_value = D::INTERVAL, value_parser = parse_duration)]
    pub interval: Duration,

    /// Up to this much random extra wait per interval, so collectors started
    /// together do not sync (or call their API) in lockstep.
    #[arg(long, env = "INFRAGRAPH_JITTER", default_value = D::JITTER, value_parser = parse_duration)]
    pub jitter: Duration,

    #[command(flatten)]
    pub reconcile: ReconcileArgs,

    #[arg(skip)]
    pub defaults: std::marker::PhantomData<D>,
}

impl<D: ScheduleDefaults + Send + Sync + 'static> ScheduleArgs<D> {
    pub fn schedule(&self) -> Schedule {
        Schedule {
            once: self.once,
            interval: self.interval,
            jitter: self.jitter,
            reconcile_interval: self.reconcile.reconcile_interval,
        }
    }
}

/// The flag every collector shares for when a sync re-asserts everything.
#[derive(clap::Args, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileArgs {
    /// Time between reconciliations. Between them a sync sends only what
    /// changed and retracts what vanished; a reconciliation re-asserts
    /// everything the scope sees and deletes whatever else the scope still
    /// asserts in the graph. The first sync after start is always one. So
    /// this is the longest anything the graph lost track of (a retraction
    /// that was dead-lettered, a graph restored from an old backup) stays
    /// wrong. Shorter costs a full rewrite of the scope more often. Each
    /// scope takes a fixed share of up to a quarter off (up to a half for the
    /// round after the start-up one), so a fleet started together does not
    /// reconcile together again.
    #[arg(long, env = "INFRAGRAPH_RECONCILE_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub reconcile_interval: Duration,
}

/// How long a one-off run (`--once`) waits for the bus to take its topics
/// and schemas: an unreachable broker ends it promptly, non-zero, rather
/// than after a minute of retries. Continuous runs wait as long as it takes.
pub const ONCE_SETUP_DEADLINE: Duration = Duration::from_secs(15);

/// How a continuous run went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunStats {
    pub completed: u64,
    pub failed: u64,
    /// Syncs cut short by shutdown: FAILED on the bus, but not a failure of
    /// the run, which was asked to stop.
    pub interrupted: u64,
    /// The last completed sync.
    pub last: Option<SyncReport>,
}

fn stopping(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow()
}

/// Prepares the bus, then syncs `collector` on `schedule`. With `once`, the
/// sync's failure is the result; otherwise failures are logged and counted
/// and the next sync is tried, until `shutdown` turns true (or its sender is
/// dropped). Shutdown cuts a sync short wherever it waits: it ends at once
/// with a FAILED marker and counts as interrupted, not failed.
pub async fn run<C: Collector, B: Bus>(
    collector: &C,
    syncer: &Syncer<B>,
    schedule: Schedule,
    mut shutdown: watch::Receiver<bool>,
) -> Result<RunStats, SyncError> {
    let mut stats = RunStats::default();
    let syncer = &syncer
        .clone()
        .with_reconcile_interval(schedule.reconcile_interval);
    if schedule.once {
        match tokio::time::timeout(ONCE_SETUP_DEADLINE, prepare(syncer, &shutdown)).await {
            Ok(prepared) => prepared?,
            Err(_) => return Err(SetupError::NoAnswer(ONCE_SETUP_DEADLINE).into()),
        }
        match syncer.sync_until(collector, &shutdown).await {
            Ok(report) => (stats.last, stats.completed) = (Some(report), 1),
            Err(SyncError::Interrupted) => stats.interrupted = 1,
            Err(e) => return Err(e),
        }
        return Ok(stats);
    }
    let mut prepared = false;
    while !stopping(&shutdown) {
        let start = Instant::now();
        if !prepared {
            // A bus that is down at start is retried every interval rather
            // than ending the collector.
            match prepare(syncer, &shutdown).await {
                Ok(()) => prepared = true,
                Err(SyncError::Interrupted) => break,
                Err(e) => {
                    stats.failed += 1;
                    tracing::error!(error = %e, "cannot prepare the bus; retrying next interval");
                }
            }
        }
        if prepared && !stopping(&shutdown) {
            match syncer.sync_until(collector, &shutdown).await {
                Ok(report) => {
                    stats.completed += 1;
                    stats.last = Some(report);
                }
                Err(SyncError::Interrupted) => stats.interrupted += 1,
                Err(_) => stats.failed += 1,
            }
        }
        let next = start + schedule.interval + jitter(schedule.jitter);
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            changed = shutdown.changed() => if changed.is_err() { break },
        }
    }
    tracing::info!(
        completed = stats.completed,
        failed = stats.failed,
        interrupted = stats.interrupted,
        "collector stopped"
    );
    Ok(stats)
}

/// Topics and schemas, given up on at shutdown.
async fn prepare<B: Bus>(
    syncer: &Syncer<B>,
    shutdown: &watch::Receiver<bool>,
) -> Result<(), SyncError> {
    tokio::select! {
        biased;
        () = infragraph_telemetry::stop_signal(shutdown) => Err(SyncError::Interrupted),
        r = syncer.prepare() => r.map_err(SyncError::from),
    }
}

fn jitter(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::rng().random_range(0..=max.as_millis() as u64))
}

/// Parses a duration flag: `500ms`, `1s`, `5m`, `1h`, or plain seconds
/// (`1.5`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("expected a duration such as 1s, 500ms or 5m, got {s:?}"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} in {s:?}: use ms, s, m or h")),
    };
    std::time::Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

#[cfg(test)]
mod duration_tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_parse_with_units_and_name_their_mistake() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .contains("expected a duration")
        );
        assert!(parse_duration("3d").unwrap_err().contains("unknown unit"));
    }
}
