//! Watching the writer from outside: which syncs the normalizer has closed
//! with a barrier on the changes topic, and whether the writer has applied
//! them. `infragraph up --once` waits on it, and so do end-to-end tests.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use infragraph_bus::{Bus, BusError, Consumer};
use infragraph_schemas::{Codec, GraphChange, ScopeRef, SyncStatus, Topics};

/// Sync barriers seen on the changes topic, by status, and where they are.
pub struct Barriers<C: Consumer> {
    reader: C,
    codec: Codec,
    pub completed: u64,
    pub failed: u64,
    /// Offset of each (scope, epoch)'s newest barrier.
    pub at: BTreeMap<(ScopeRef, i64), (SyncStatus, i64)>,
}

impl<C: Consumer> Barriers<C> {
    pub fn new<B: Bus<Consumer = C>>(bus: &B, names: &Topics) -> Result<Self, BusError> {
        // Its own group each time: a watcher never commits, and reads the
        // topic from the start.
        static N: AtomicU64 = AtomicU64::new(0);
        let group = format!(
            "infragraph-watch-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let reader = bus.consumer(&group, &[names.graph_changes()])?;
        Ok(Barriers {
            reader,
            codec: Codec::builtin(),
            completed: 0,
            failed: 0,
            at: BTreeMap::new(),
        })
    }

    /// Reads what has arrived, waiting at most `wait` for the first message.
    pub async fn poll(&mut self, wait: Duration) -> Result<(), BusError> {
        let mut wait = wait;
        while let Ok(msg) = tokio::time::timeout(wait, self.reader.recv()).await {
            let msg = msg?;
            if let Ok(GraphChange::SyncBarrier(b)) = self.codec.decode_graph_change(&msg.payload) {
                match b.status {
                    SyncStatus::Failed => self.failed += 1,
                    _ => self.completed += 1,
                }
                self.at.insert((b.scope, b.epoch), (b.status, msg.offset));
            }
            wait = Duration::ZERO;
        }
        Ok(())
    }
}

/// Whether the writer's group has committed past `offset` of the changes
/// topic, i.e. applied everything up to and including it.
pub async fn applied<B: Bus>(
    bus: &B,
    names: &Topics,
    writer_group: &str,
    offset: i64,
) -> Result<bool, BusError> {
    let committed = bus
        .group_committed(writer_group, &[(names.graph_changes(), 0)])
        .await?;
    Ok(committed
        .first()
        .copied()
        .flatten()
        .is_some_and(|next| next > offset))
}
