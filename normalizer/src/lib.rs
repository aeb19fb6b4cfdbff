//! The normalizer: turns what collectors saw into what the graph should say.
//!
//! # Layout
//! - [`merge`]: the rules, free of I/O: per-property merging across sources
//!   and times, deduplication into compact touches.
//! - [`cache`]: the bounded memory those rules keep.
//! - [`validate`]: what sends an observation to the dead-letter topic.
//! - [`barrier`]: when a collector's sync-end marker may pass on to the
//!   graph writer, across partitions and instances.
//! - [`schemas`]: writer schemas of newer collectors, from the schemas topic.
//! - [`inflight`]: changes the bus has not acknowledged yet, and the
//!   consumed positions they hold back from the next commit.
//! - [`stage`]: the consumer loop tying them to the bus.
//! - [`config`]: the flags and their defaults.
//!
//! Identity across hosts needs no extra state here: an endpoint's id is its
//! `proto://ip:port` (host-scoped only for loopback and link-local), so a
//! client's CONNECTS_TO and a server's LISTENS_ON meet at one Endpoint node,
//! and the graph answers "who talks to whom" at query time (see README.md).

pub mod barrier;
pub mod cache;
pub mod config;
pub mod inflight;
pub mod merge;
pub mod schemas;
pub mod stage;
pub mod validate;

pub use config::NormalizerArgs;
pub use merge::{Measurements, Merger, Outcome};
pub use stage::{NormalizerError, run};
