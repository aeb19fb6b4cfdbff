//! Host collector: processes, sockets and connections from /proc.
//!
//! See `README.md` for the ids, the conventions and the flags.
//!
//! # Layout
//! - [`collector`]: [`ProcfsCollector`] (the shared `Collector` trait) and
//!   [`run`], the entry point of the binary and of embedded mode.
//! - [`config`]: [`ProcfsConfig`] and the flags that fill it.
//! - [`scan`]: one full read of /proc into a [`scan::Snapshot`], processes
//!   read in parallel, socket tables once per network namespace.
//! - [`observe`]: a snapshot turned into Host, Endpoint and Process
//!   observations with their relationships.
//! - [`host`], [`process`], [`sockets`], [`addrs`]: parsers for one kind of
//!   /proc file each.
//! - [`endpoint`]: endpoint ids and which addresses are scoped to a host.
//! - [`redact`]: secrets out of command lines.
//! - [`read`]: reading /proc where files vanish and permissions vary.
//! - [`error`]: why the collector could not start or sync.

pub mod addrs;
pub mod collector;
pub mod config;
pub mod endpoint;
pub mod error;
pub mod host;
pub mod observe;
pub mod process;
pub mod read;
pub mod redact;
pub mod scan;
pub mod sockets;

pub use collector::{ProcfsCollector, run};
pub use config::{ProcfsArgs, ProcfsConfig};
pub use error::ProcfsError;
pub use redact::Redactor;
