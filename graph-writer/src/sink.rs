//! The interface both sinks implement, so one writer loop and one test
//! suite serve Neo4j over Bolt and the embedded store.

use std::collections::BTreeMap;
use std::future::Future;

use infragraph_schemas::{
    Properties, RelType, ResourceKind, ScopeRef, SyncBarrier, SyncKind, SyncStatus,
};

use crate::error::SinkError;
use crate::plan::Segment;

/// What one cleanup removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Elements the scope stopped asserting.
    pub unasserted: u64,
    /// Nodes deleted because nobody asserts them any more (with their
    /// relationships), including orphaned relationship ends.
    pub nodes_deleted: u64,
    /// Relationships deleted because nobody asserts them any more.
    pub edges_deleted: u64,
}

/// A graph the writer can apply changes to.
pub trait Sink: Send + Sync + 'static {
    /// What the sink writes to, for log lines and errors: where it is and
    /// which flag says so.
    fn describe(&self) -> String {
        "the graph".to_owned()
    }

    /// Creates what the writes rely on (uniqueness constraints, tables).
    /// Idempotent; called before the first write.
    fn prepare(&self) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// Applies `segments` in order, all or nothing.
    fn apply(&self, segments: &[Segment]) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// Drops `scope`'s assertion of everything it asserted before `epoch`
    /// and deletes what nobody asserts any more, in transactions of at most
    /// `batch` elements each.
    fn cleanup(
        &self,
        scope: &ScopeRef,
        epoch: i64,
        batch: usize,
    ) -> impl Future<Output = Result<CleanupReport, SinkError>> + Send;

    /// Records syncs' outcomes on each scope's own node (see
    /// [`SyncRecord`]), so "how current is what this scope asserts" is one
    /// lookup rather than a touch of every element. Epochs only move
    /// forward, as on every element. One call serves every barrier of a
    /// batch: a fleet closes hundreds of syncs a second.
    fn record_syncs(
        &self,
        updates: &[SyncUpdate],
    ) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// The sync record of `scope`, if it ever finished a sync here.
    fn sync_record(
        &self,
        scope: &ScopeRef,
    ) -> impl Future<Output = Result<Option<SyncRecord>, SinkError>> + Send;

    /// Every node and relationship whose node ids (either end, for
    /// relationships) start with `id_prefix`, with the writer's bookkeeping.
    /// For tests and diagnostics: it reads the whole matching graph.
    fn snapshot(&self, id_prefix: &str)
    -> impl Future<Output = Result<Snapshot, SinkError>> + Send;
}

/// Label of the node per scope that says how far its syncs got. The
/// writer's own bookkeeping, beside the registry's labels.
pub const SYNC_LABEL: &str = "InfragraphSync";

/// What a scope's node says: its last completed sync (and its kind) and
/// its last failed one. An element the scope asserts is as the scope saw
/// it at `last_completed`: delta syncs do not touch what did not change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncRecord {
    pub last_completed: Option<i64>,
    /// `DELTA` or `RECONCILIATION`.
    pub last_completed_kind: Option<String>,
    pub last_reconciled: Option<i64>,
    pub last_failed: Option<i64>,
    pub last_failed_reason: Option<String>,
}

/// What a run of barriers says about one scope, folded so each scope's
/// node is written once per batch: the newest completed epoch (with its
/// kind), the newest reconciliation and the newest failure. Started
/// barriers say nothing to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncUpdate {
    pub scope: ScopeRef,
    pub completed: Option<(i64, SyncKind)>,
    pub reconciled: Option<i64>,
    pub failed: Option<(i64, Option<String>)>,
}

impl SyncUpdate {
    /// One update per scope, in the order scopes first appear.
    pub fn fold<'a>(barriers: impl IntoIterator<Item = &'a SyncBarrier>) -> Vec<SyncUpdate> {
        let mut out: Vec<SyncUpdate> = Vec::new();
        for b in barriers {
            if b.status == SyncStatus::Started {
                continue;
            }
            let at = match out.iter().position(|u| u.scope == b.scope) {
                Some(i) => i,
                None => {
                    out.push(SyncUpdate {
                        scope: b.scope.clone(),
                        completed: None,
                        reconciled: None,
                        failed: None,
                    });
                    out.len() - 1
                }
            };
            out[at].add(b);
        }
        out
    }

    fn add(&mut self, b: &SyncBarrier) {
        let newer = |held: Option<i64>| held.is_none_or(|e| e <= b.epoch);
        match b.status {
            SyncStatus::Completed => {
                if newer(self.completed.map(|c| c.0)) {
                    self.completed = Some((b.epoch, b.kind));
                }
                if b.kind == SyncKind::Reconciliation && newer(self.reconciled) {
                    self.reconciled = Some(b.epoch);
                }
            }
            SyncStatus::Failed if newer(self.failed.as_ref().map(|f| f.0)) => {
                self.failed = Some((b.epoch, b.reason.clone()));
            }
            SyncStatus::Failed | SyncStatus::Started => {}
        }
    }

    /// The newest epoch the update names: the node's `lastupdated`.
    pub fn epoch(&self) -> i64 {
        [
            self.completed.map(|c| c.0),
            self.reconciled,
            self.failed.as_ref().map(|f| f.0),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or_default()
    }
}

/// A node as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeState {
    pub firstseen: Option<i64>,
    pub lastupdated: Option<i64>,
    pub properties: Properties,
    /// Scope key (`source/scope`) → newest epoch it asserted the element in.
    pub asserted: BTreeMap<String, i64>,
}

/// A relationship as stored.
pub type EdgeState = NodeState;

/// Identifies a relationship: type, then both ends as (label, id).
pub type EdgeKey = (RelType, (ResourceKind, String), (ResourceKind, String));

/// A part of the graph, comparable across sinks and runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub nodes: BTreeMap<(ResourceKind, String), NodeState>,
    pub edges: BTreeMap<EdgeKey, EdgeState>,
}

impl Snapshot {
    pub fn node(&self, kind: ResourceKind, id: &str) -> Option<&NodeState> {
        self.nodes.get(&(kind, id.to_owned()))
    }

    pub fn edge(
        &self,
        rel: RelType,
        from: (ResourceKind, &str),
        to: (ResourceKind, &str),
    ) -> Option<&EdgeState> {
        self.edges
            .get(&(rel, (from.0, from.1.to_owned()), (to.0, to.1.to_owned())))
    }
}

/// A shared sink is a sink, so callers can keep a handle (to read, or to
/// hand the same store to several writers in turn).
impl<S: Sink> Sink for std::sync::Arc<S> {
    fn describe(&self) -> String {
        (**self).describe()
    }

    fn prepare(&self) -> impl Future<Output = Result<(), SinkError>> + Send {
        (**self).prepare()
    }

    fn apply(&self, segments: &[Segment]) -> impl Future<Output = Result<(), SinkError>> + Send {
        (**self).apply(segments)
    }

    fn cleanup(
        &self,
        scope: &ScopeRef,
        epoch: i64,
        batch: usize,
    ) -> impl Future<Output = Result<CleanupReport, SinkError>> + Send {
        (**self).cleanup(scope, epoch, batch)
    }

    fn snapshot(
        &self,
        id_prefix: &str,
    ) -> impl Future<Output = Result<Snapshot, SinkError>> + Send {
        (**self).snapshot(id_prefix)
    }

    fn record_syncs(
        &self,
        updates: &[SyncUpdate],
    ) -> impl Future<Output = Result<(), SinkError>> + Send {
        (**self).record_syncs(updates)
    }

    fn sync_record(
        &self,
        scope: &ScopeRef,
    ) -> impl Future<Output = Result<Option<SyncRecord>, SinkError>> + Send {
        (**self).sync_record(scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn barrier(scope: &str, epoch: i64, status: SyncStatus, kind: SyncKind) -> SyncBarrier {
        SyncBarrier {
            scope: ScopeRef::new("procfs", scope),
            epoch,
            status,
            reason: (status == SyncStatus::Failed).then(|| format!("failed {epoch}")),
            kind,
        }
    }

    #[test]
    fn barriers_fold_to_each_scopes_newest_outcomes() {
        use SyncKind::{Delta, Reconciliation};
        use SyncStatus::{Completed, Failed, Started};
        let barriers = [
            barrier("a", 1, Completed, Reconciliation),
            barrier("b", 4, Started, Delta),
            barrier("a", 3, Failed, Delta),
            barrier("a", 2, Completed, Delta),
            // Late and older: it moves nothing back.
            barrier("a", 0, Failed, Delta),
        ];
        let folded = SyncUpdate::fold(&barriers);
        assert_eq!(
            folded,
            vec![SyncUpdate {
                scope: ScopeRef::new("procfs", "a"),
                completed: Some((2, Delta)),
                reconciled: Some(1),
                failed: Some((3, Some("failed 3".into()))),
            }],
            "a started sync says nothing to record"
        );
        assert_eq!(folded[0].epoch(), 3);
    }
}
