//! The read side of the graph, over the embedded store or Neo4j: cheap
//! counts, topologies with filters and bounded limits, node details, change
//! events, and the live view's HTTP API that serves them to a browser. It
//! never writes the graph.
//!
//! # Layout
//! - [`store`]: [`GraphStore`], one handle over either store; every read bounded.
//! - [`request`]: topology requests, parsed and validated (limits, filters).
//! - [`topology`]: the views (processes, hosts, Cloud Map, GitHub) built
//!   from bounded reads, then filtered, aggregated and limited.
//! - [`drift`]: declared against observed dependencies between Cloud Map
//!   services, for `infragraph drift` and the Cloud Map view.
//! - [`details`]: one node, its properties and neighbours.
//! - [`feed`]: change events: from the in-process writer's sink, or by
//!   polling the counts of a graph another process writes.
//! - [`api`]: the HTTP server (axum): the embedded page and its JSON API.
//! - [`dump`]: the whole embedded store read once, for `export`.
//! - [`names`]: the property names the views read, checked against the registry.
//! - [`error`]: the [`ReadError`] every read returns.

pub mod api;
pub mod details;
pub mod drift;
pub mod dump;
pub mod error;
pub mod feed;
pub mod names;
pub mod request;
pub mod store;
pub mod topology;

pub use api::UiArgs;
pub use error::ReadError;
pub use feed::{Change, ChangeFeed, Notifying};
pub use store::{Counts, GraphStore};
