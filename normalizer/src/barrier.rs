//! The sync barrier: a collector's COMPLETED marker becomes a `SyncBarrier`
//! change only once every observation of that sync, on every partition it
//! touched, has been turned into changes that the bus acknowledged.
//!
//! The marker lists, per observation partition, the offset of the sync's
//! last observation there. Normalizer instances commit an observation's
//! offset only after its changes are acknowledged, so the sync is fully
//! emitted once the group's committed offset of every listed partition is
//! past that offset, whichever instance owns the partition. The instance
//! that reads the marker polls those committed offsets, and commits the
//! marker itself only after sending the barrier: if it dies first, another
//! instance reads the marker again (a repeated barrier is harmless).

use std::collections::{BTreeSet, HashMap};

use infragraph_schemas::{SyncMarker, TopicCount};

/// A COMPLETED marker waiting for its sync's observations.
#[derive(Debug, Clone)]
pub struct Pending {
    pub marker: SyncMarker,
    /// Where the marker itself sits on the sync topic.
    pub partition: i32,
    pub offset: i64,
}

/// Markers waiting, and how far the sync topic may be committed.
#[derive(Debug, Default)]
pub struct Barriers {
    pending: Vec<Pending>,
    /// Next offset to commit per sync-topic partition, ignoring holds.
    processed: HashMap<i32, i64>,
}

/// Whether every partition of the sync is committed past its last offset.
pub fn complete(counts: &[TopicCount], committed: impl Fn(&str, i32) -> Option<i64>) -> bool {
    counts
        .iter()
        .all(|c| committed(&c.topic, c.partition).is_some_and(|next| next > c.last_offset))
}

impl Barriers {
    pub fn hold(&mut self, pending: Pending) {
        self.pending.push(pending);
    }

    /// The marker at `offset` is dealt with (or needed no barrier).
    pub fn processed(&mut self, partition: i32, offset: i64) {
        let next = self.processed.entry(partition).or_insert(0);
        *next = (*next).max(offset + 1);
    }

    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    /// Observation partitions whose committed offsets decide a barrier.
    pub fn partitions(&self) -> Vec<(String, i32)> {
        let set: BTreeSet<(String, i32)> = self
            .pending
            .iter()
            .flat_map(|p| {
                p.marker
                    .counts
                    .iter()
                    .map(|c| (c.topic.clone(), c.partition))
            })
            .collect();
        set.into_iter().collect()
    }

    /// Removes and returns the markers whose syncs are fully emitted.
    pub fn ready(&mut self, committed: impl Fn(&str, i32) -> Option<i64>) -> Vec<Pending> {
        let (ready, waiting) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| complete(&p.marker.counts, &committed));
        self.pending = waiting;
        ready
    }

    /// How far each sync-topic partition may be committed: up to the
    /// oldest marker still waiting there, so a restart reads it again.
    pub fn commit_positions(&self) -> Vec<(i32, i64)> {
        self.processed
            .iter()
            .map(|(p, next)| {
                let held = self
                    .pending
                    .iter()
                    .filter(|w| w.partition == *p)
                    .map(|w| w.offset)
                    .min();
                (*p, held.map_or(*next, |h| h.min(*next)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use infragraph_schemas::{ScopeRef, SyncKind, SyncStatus};

    fn marker(counts: Vec<TopicCount>) -> SyncMarker {
        SyncMarker {
            scope: ScopeRef::new("s", "c"),
            epoch: 1,
            status: SyncStatus::Completed,
            reason: None,
            counts,
            emitted_at: 0,
            kind: SyncKind::Delta,
        }
    }

    fn count(partition: i32, last_offset: i64) -> TopicCount {
        TopicCount {
            topic: "t".into(),
            partition,
            count: 1,
            last_offset,
        }
    }

    #[test]
    fn a_barrier_waits_for_every_partition() {
        let mut b = Barriers::default();
        b.hold(Pending {
            marker: marker(vec![count(0, 10), count(1, 5)]),
            partition: 0,
            offset: 7,
        });
        let committed =
            |p0: i64, p1: Option<i64>| move |_: &str, p: i32| if p == 0 { Some(p0) } else { p1 };
        assert!(
            b.ready(committed(11, None)).is_empty(),
            "partition 1 has committed nothing"
        );
        assert!(
            b.ready(committed(11, Some(5))).is_empty(),
            "offset 5 itself is not yet processed"
        );
        assert_eq!(b.ready(committed(11, Some(6))).len(), 1);
        assert_eq!(b.waiting(), 0);
    }

    #[test]
    fn the_sync_topic_is_committed_only_up_to_a_waiting_marker() {
        let mut b = Barriers::default();
        b.hold(Pending {
            marker: marker(vec![count(0, 3)]),
            partition: 2,
            offset: 4,
        });
        b.processed(2, 3);
        b.processed(2, 9);
        assert_eq!(b.commit_positions(), vec![(2, 4)]);
        b.ready(|_, _| Some(100));
        assert_eq!(b.commit_positions(), vec![(2, 10)]);
    }

    #[test]
    fn a_sync_with_no_observations_is_complete_at_once() {
        assert!(complete(&[], |_, _| None));
    }
}
