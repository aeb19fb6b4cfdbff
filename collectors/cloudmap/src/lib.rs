//! AWS Cloud Map collector: namespaces, services, instances and declared
//! dependencies, with instances linked to the endpoints they serve on.
//!
//! See `README.md` for the flags, the scope, the mapping and the failure
//! policy.
//!
//! # Layout
//! - [`collector`]: [`CloudMapCollector`] (the shared `Collector` trait) and
//!   [`run`], the entry point of the binary.
//! - [`config`]: [`CloudMapConfig`] and the flags that fill it.
//! - [`api`]: the AWS calls, every list call paginated.
//! - [`walk`]: one read of the scope, and what is skipped or fails.
//! - [`model`]: what was read, free of SDK types.
//! - [`observe`]: a snapshot turned into observations and relationships.
//! - [`error`]: why the collector could not start or sync.

pub mod api;
pub mod collector;
pub mod config;
pub mod error;
pub mod model;
pub mod observe;
pub mod walk;

pub use api::{CloudMapApi, sdk_config};
pub use collector::{CloudMapCollector, SyncStats, run};
pub use config::{CloudMapArgs, CloudMapConfig};
pub use error::{ApiError, CloudMapError};
