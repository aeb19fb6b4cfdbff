//! Declared against observed: where the dependencies Cloud Map services
//! declare and the connections their processes really hold disagree. The
//! same report serves `infragraph drift` and the live view's Cloud Map
//! topology, which styles each dependency edge by its set.
//!
//! - `facts.rs`: the four reads behind it, in Cypher (Neo4j) and SQL (the
//!   embedded store).
//! - `report.rs`: the three sets with their evidence, as a table or JSON.

pub mod facts;
pub mod report;

pub use facts::Facts;
pub use report::{Report, Row};

use crate::error::ReadError;
use crate::store::GraphStore;

/// Which of the three sets a dependency between two services is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Drift {
    /// Declared, and a connection shows it.
    Confirmed,
    /// Declared, and no connection shows it.
    Stale,
    /// A connection shows it, and nothing declares it.
    Undeclared,
}

impl Report {
    /// Every row with its set, in the report's order.
    pub fn rows(&self) -> impl Iterator<Item = (Drift, &Row)> {
        let tag = |d: Drift| move |r| (d, r);
        (self.confirmed.iter().map(tag(Drift::Confirmed)))
            .chain(self.stale.iter().map(tag(Drift::Stale)))
            .chain(self.undeclared.iter().map(tag(Drift::Undeclared)))
    }
}

/// The report over the services of `namespace` (name or id), or over
/// every service.
pub async fn report(
    store: &GraphStore,
    namespace: Option<&str>,
    now_ms: i64,
) -> Result<Report, ReadError> {
    let facts = store.drift_facts(namespace).await?;
    if let Some(ns) = namespace
        && facts.services.is_empty()
    {
        return Err(ReadError::NotFound(format!(
            "no Cloud Map service in namespace {ns:?} in this graph"
        )));
    }
    Ok(Report::build(&facts, now_ms))
}
