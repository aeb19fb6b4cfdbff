//! The one thing a collector implements.

use std::future::Future;
use std::sync::Arc;

use infragraph_schemas::{Observation, ResourceKind, ScopeRef};

use crate::clock::Clock;

/// A source of observations for one scope (a host, an AWS account and
/// region, a GitHub organisation).
pub trait Collector: Send + Sync + 'static {
    /// Why a collect step failed; any error fails the whole sync, so nothing
    /// it asserted earlier is cleaned up.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The collector's name, e.g. `procfs`.
    fn source(&self) -> &str;

    /// The scope it covers, e.g. `host:<host id>`.
    fn scope(&self) -> &str;

    /// Everything observed in the scope for one sync, in publishing order.
    fn collect(
        &self,
        ctx: &SyncContext,
    ) -> impl Future<Output = Result<Vec<Observation>, Self::Error>> + Send;
}

/// What a collect step needs to stamp its observations.
#[derive(Clone)]
pub struct SyncContext {
    scope: ScopeRef,
    epoch: i64,
    clock: Arc<dyn Clock>,
}

impl SyncContext {
    pub fn new(scope: ScopeRef, epoch: i64, clock: Arc<dyn Clock>) -> Self {
        SyncContext {
            scope,
            epoch,
            clock,
        }
    }

    pub fn scope(&self) -> &ScopeRef {
        &self.scope
    }

    /// Unix ms when this sync started.
    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A new observation of `kind`/`id`, stamped with this sync's scope and
    /// epoch and observed at `observed_at`.
    pub fn observation_at(
        &self,
        kind: ResourceKind,
        id: impl Into<String>,
        observed_at: i64,
    ) -> Observation {
        Observation::new(self.scope.clone(), self.epoch, observed_at, kind, id)
    }

    /// A new observation of `kind`/`id`, observed now.
    pub fn observation(&self, kind: ResourceKind, id: impl Into<String>) -> Observation {
        self.observation_at(kind, id, self.now_ms())
    }
}
