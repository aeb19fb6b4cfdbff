//! Change events for the live page. In `infragraph up` the writer runs in
//! the same process, so [`Notifying`] wraps its sink and announces every
//! applied batch that changed the topology. Beside a graph another process
//! writes (`infragraph ui`), [`poll`] reads the cheap [`Counts`] stamp
//! (counts by label and type, newest sync record) at an interval and
//! announces when it moved.

use infragraph_telemetry::now_ms;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use infragraph_graph_writer::plan::{Op, Segment};
use infragraph_graph_writer::{CleanupReport, Sink, SinkError, Snapshot, SyncRecord, SyncUpdate};
use infragraph_schemas::ScopeRef;
use serde::Serialize;
use tokio::sync::{broadcast, watch};

use crate::store::{Counts, GraphStore};

/// Events a slow page may fall behind by before it is told to refetch.
const BACKLOG: usize = 256;

/// Something in the graph changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Increases by one per event of this process.
    pub seq: u64,
    /// When it was announced, Unix ms.
    pub at: i64,
    /// `writer` (a batch this process applied) or `poll` (the stamp moved).
    pub source: &'static str,
    /// Labels and relationship types that changed, where known.
    pub kinds: Vec<String>,
    /// Elements written, where known.
    pub elements: usize,
}

/// A broadcast of [`Change`]s; cheap to clone.
#[derive(Clone)]
pub struct ChangeFeed {
    tx: broadcast::Sender<Change>,
    seq: Arc<AtomicU64>,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        Self::new()
    }
}

impl ChangeFeed {
    pub fn new() -> Self {
        ChangeFeed {
            tx: broadcast::channel(BACKLOG).0,
            seq: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.tx.subscribe()
    }

    /// The number of the latest event: it moves whenever the graph changed.
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    pub fn publish(&self, source: &'static str, kinds: Vec<String>, elements: usize) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        // No subscriber (no page open) is not an error.
        let _ = self.tx.send(Change {
            seq,
            at: now_ms(),
            source,
            kinds,
            elements,
        });
    }
}

/// A sink that announces what it applied on a [`ChangeFeed`].
pub struct Notifying<S> {
    inner: S,
    feed: ChangeFeed,
}

impl<S: Sink> Notifying<S> {
    pub fn new(inner: S, feed: ChangeFeed) -> Self {
        Notifying { inner, feed }
    }
}

/// Upserts and deletes change what the page draws; touches move only
/// `lastupdated`, and a reconciliation touches everything, so they are
/// not announced.
fn topology_changes(segments: &[Segment]) -> (Vec<String>, usize) {
    let changed = segments
        .iter()
        .flat_map(|s| s.groups.iter())
        .filter(|g| !matches!(g.op(), Op::TouchNodes | Op::TouchEdges));
    let mut kinds = BTreeSet::new();
    let mut n = 0;
    for g in changed {
        kinds.insert(g.name().to_owned());
        n += g.len();
    }
    (kinds.into_iter().collect(), n)
}

impl<S: Sink> Sink for Notifying<S> {
    async fn prepare(&self) -> Result<(), SinkError> {
        self.inner.prepare().await
    }

    async fn apply(&self, segments: &[Segment]) -> Result<(), SinkError> {
        self.inner.apply(segments).await?;
        let (kinds, n) = topology_changes(segments);
        if n > 0 {
            self.feed.publish("writer", kinds, n);
        }
        Ok(())
    }

    async fn cleanup(
        &self,
        scope: &ScopeRef,
        epoch: i64,
        batch: usize,
    ) -> Result<CleanupReport, SinkError> {
        let report = self.inner.cleanup(scope, epoch, batch).await?;
        let deleted = report.nodes_deleted + report.edges_deleted;
        if deleted > 0 {
            self.feed.publish("writer", Vec::new(), deleted as usize);
        }
        Ok(report)
    }

    async fn record_syncs(&self, updates: &[SyncUpdate]) -> Result<(), SinkError> {
        self.inner.record_syncs(updates).await
    }

    async fn sync_record(&self, scope: &ScopeRef) -> Result<Option<SyncRecord>, SinkError> {
        self.inner.sync_record(scope).await
    }

    async fn snapshot(&self, id_prefix: &str) -> Result<Snapshot, SinkError> {
        self.inner.snapshot(id_prefix).await
    }
}

/// Announces on `feed` whenever `store`'s [`Counts`] differ from the last
/// read, reading every `interval` until `stop` turns true. A failed read
/// is logged and retried at the next tick.
pub async fn poll(
    store: GraphStore,
    feed: ChangeFeed,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut last: Option<Counts> = None;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = infragraph_telemetry::stopped(&mut stop) => return,
            _ = tick.tick() => {}
        }
        match store.counts().await {
            Ok(now) => {
                if last.as_ref().is_some_and(|l| *l != now) {
                    feed.publish("poll", moved(last.as_ref(), &now), 0);
                }
                last = Some(now);
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the graph's counts for change events failed")
            }
        }
    }
}

/// Labels and types whose count moved.
fn moved(before: Option<&Counts>, now: &Counts) -> Vec<String> {
    let Some(before) = before else {
        return Vec::new();
    };
    let diff = |a: &std::collections::BTreeMap<String, u64>,
                b: &std::collections::BTreeMap<String, u64>| {
        a.keys()
            .chain(b.keys())
            .filter(|k| a.get(*k) != b.get(*k))
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    let mut kinds = diff(&before.nodes, &now.nodes);
    kinds.extend(diff(&before.relationships, &now.relationships));
    kinds.into_iter().collect()
}
