//! The only graph writer: consumes graph changes, applies them in batched
//! `UNWIND … MERGE` statements, and runs scoped epoch cleanup, to Neo4j over
//! Bolt or to an embedded SQLite store. See the crate README for the
//! semantics.
//!
//! # Layout
//! - [`config`]: flags, environment fallbacks and defaults.
//! - [`batch`]: gathering messages into batches (count, time, barrier).
//! - [`plan`]: changes → rows grouped by operation and label, in segments
//!   that keep log order where it matters.
//! - [`querybuilder`]: every Cypher statement, generated from the registry.
//! - [`sink`]: the [`Sink`] interface both stores implement.
//! - [`bolt`]: the Bolt sink (`neo4rs`).
//! - [`sqlite`]: the embedded store and its read API.
//! - [`writer`]: the consumer loop ([`run`]): apply, clean up, then commit.
//! - [`retry`]: how transient failures are retried and reported.
//! - [`progress`]: watching from outside which sync barriers the writer has
//!   applied.
//! - [`error`]: [`SinkError`] (transient vs rejected vs misconfigured) and
//!   [`WriterError`].

pub mod batch;
pub mod bolt;
pub mod config;
pub mod error;
pub mod plan;
pub mod progress;
pub mod querybuilder;
pub mod retry;
pub mod sink;
pub mod sqlite;
pub mod writer;

pub use bolt::{BoltConfig, BoltSink};
pub use config::{SinkArgs, SinkChoice, WriterConfig};
pub use error::{SinkError, WriterError};
pub use sink::{CleanupReport, NodeState, SYNC_LABEL, Sink, Snapshot, SyncRecord, SyncUpdate};
pub use sqlite::{Neighbour, SqliteStore, StoredEdge, StoredNode};
pub use writer::{STAGE, run};
