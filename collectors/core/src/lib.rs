//! What every collector shares: syncs, epochs, publishing and sync markers.
//!
//! A collector only observes: it implements [`Collector`] (a source name, a
//! scope and a collect step). Everything between that and the bus lives here,
//! so every collector syncs, retries and reports the same way.
//!
//! # Layout
//! - [`collector`]: the [`Collector`] trait and the [`SyncContext`] a collect
//!   step stamps its observations with.
//! - [`clock`]: where epochs come from; tests pass a [`ManualClock`].
//! - [`retry`]: bounded exponential backoff for retriable bus errors.
//! - [`bound`]: oversized values cut, with a marker, before publishing.
//! - [`setup`]: what a collector does once on start: create topics, publish
//!   writer schemas.
//! - [`delta`]: what a scope's previous syncs published, so a sync retracts
//!   what vanished; when a sync is a reconciliation instead.
//! - [`sync`]: one sync: STARTED marker, observations, deliveries counted per
//!   partition, COMPLETED or FAILED marker.
//! - [`schedule`]: `--once` or every `--interval` (with jitter) until shutdown.
//! - [`error`]: why a sync or the start-up failed.

pub mod bound;
pub mod clock;
pub mod collector;
pub mod delta;
pub mod error;
pub mod retry;
pub mod schedule;
pub mod setup;
pub mod sync;

pub use clock::{Clock, ManualClock, SystemClock};
pub use collector::{Collector, SyncContext};
pub use delta::DEFAULT_RECONCILE_INTERVAL;
pub use error::{SetupError, SyncError};
pub use infragraph_bus::TopicLayout;
pub use retry::RetryPolicy;
pub use schedule::{
    ReconcileArgs, RunStats, Schedule, ScheduleArgs, ScheduleDefaults, parse_duration, run,
};
pub use setup::prepare;
pub use sync::{SyncReport, Syncer};

/// The metrics stage name every collector reports under.
pub const STAGE: &str = "collector";
