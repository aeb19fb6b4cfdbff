//! GitHub collector: organisations, repositories, people, teams and
//! permissions, in Cartography's GitHub schema.
//!
//! See `README.md` for the mapping, the flags and the failure policy.
//!
//! # Layout
//! - [`collector`]: [`GithubCollector`] (the shared `Collector` trait, one
//!   per org) and [`run`], the entry point of the binary.
//! - [`config`]: [`GithubConfig`], the [`Token`] and the flags.
//! - [`api`]: REST and GraphQL requests: pagination, rate limits, retries,
//!   counting.
//! - [`fetch`]: which endpoints one sync reads, into an [`OrgSnapshot`].
//! - [`details`]: languages and collaborators of 100 repositories per
//!   GraphQL request.
//! - [`people`]: org members and teams' immediate members, through GraphQL.
//! - [`model`]: the response fields read.
//! - [`observe`]: a snapshot turned into observations.
//! - [`error`]: why a request, a sync or the start-up failed.

pub mod api;
pub mod collector;
pub mod config;
pub mod details;
pub mod error;
pub mod fetch;
pub mod model;
pub mod observe;
pub mod people;

pub use collector::{GithubCollector, SyncStats, run};
pub use config::{AppKey, Credentials, GithubArgs, GithubConfig, Token};
pub use error::GithubError;
pub use fetch::OrgSnapshot;
