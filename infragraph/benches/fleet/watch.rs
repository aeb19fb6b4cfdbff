//! What the benchmark reads from the bus while the fleet runs, as any
//! outside consumer could: the collectors' sync markers, the changes the
//! normalizers emit (counted by kind, with where each barrier sits), and
//! how far the writer's and the normalizers' groups have committed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use infragraph_bus::{Bus, Consumer, KafkaBus};
use infragraph_schemas::{Codec, GraphChange, SyncKind, SyncStatus};
use tokio::sync::watch;

pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A COMPLETED marker: when it was emitted and what its sync delivered.
#[derive(Debug, Clone)]
pub struct Marker {
    pub emitted_at: i64,
    pub kind: SyncKind,
    pub observations: i64,
}

/// The sync markers read, by (scope, epoch).
#[derive(Debug, Default)]
pub struct Markers {
    pub completed: HashMap<(String, i64), Marker>,
    pub failed: u64,
}

/// Changes counted by kind, up to some offset of the changes topic.
#[derive(Debug, Clone, Copy, Default)]
pub struct Writes {
    pub node_upserts: u64,
    pub edge_upserts: u64,
    pub touches: u64,
    pub deletes: u64,
    pub barriers: u64,
}

impl Writes {
    fn count(&mut self, change: &GraphChange) {
        match change {
            GraphChange::NodeUpsert(_) => self.node_upserts += 1,
            GraphChange::EdgeUpsert(_) => self.edge_upserts += 1,
            GraphChange::Touch(_) => self.touches += 1,
            GraphChange::Delete(_) => self.deletes += 1,
            GraphChange::SyncBarrier(_) => self.barriers += 1,
        }
    }

    /// Element writes: everything but barriers.
    pub fn elements(&self) -> u64 {
        self.node_upserts + self.edge_upserts + self.touches + self.deletes
    }

    pub fn since(&self, earlier: &Writes) -> Writes {
        Writes {
            node_upserts: self.node_upserts.saturating_sub(earlier.node_upserts),
            edge_upserts: self.edge_upserts.saturating_sub(earlier.edge_upserts),
            touches: self.touches.saturating_sub(earlier.touches),
            deletes: self.deletes.saturating_sub(earlier.deletes),
            barriers: self.barriers.saturating_sub(earlier.barriers),
        }
    }
}

/// The running totals at one offset (that message included), and when the
/// normalizer produced it.
#[derive(Debug, Clone, Copy)]
pub struct Checkpoint {
    pub offset: i64,
    pub produced_ms: i64,
    pub writes: Writes,
}

/// A barrier on the changes topic.
#[derive(Debug, Clone)]
pub struct BarrierAt {
    pub offset: i64,
    pub scope: String,
    pub epoch: i64,
    pub completed: bool,
}

#[derive(Debug, Default)]
pub struct Changes {
    pub barriers: Vec<BarrierAt>,
    pub checkpoints: Vec<Checkpoint>,
}

/// Progress the drain waits on.
#[derive(Debug, Default)]
pub struct Progress {
    /// Messages read from the changes topic.
    pub changes_read: AtomicI64,
    /// Whether the changes reader found nothing new at its last look.
    pub changes_idle: AtomicBool,
    /// Observations the COMPLETED markers read so far account for.
    pub published: AtomicI64,
    pub writer_committed: AtomicI64,
    pub normalized: AtomicI64,
}

/// Committed positions over time: (wall ms, next offset).
#[derive(Debug, Default)]
pub struct Commits {
    pub writer: Vec<(i64, i64)>,
    pub normalizers: Vec<(i64, i64)>,
}

fn stopped(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow()
}

/// Reads `topic` until `stop`, handing each payload to `f`; a wait for
/// the next message is bounded so `stop` is noticed.
async fn read_until(
    bus: &KafkaBus,
    group: &str,
    topic: String,
    stop: watch::Receiver<bool>,
    mut f: impl FnMut(i64, Option<i64>, &[u8]),
    idle: impl Fn(bool),
) -> anyhow::Result<()> {
    let mut consumer = bus.consumer(group, &[topic])?;
    while !stopped(&stop) {
        match tokio::time::timeout(Duration::from_millis(200), consumer.recv()).await {
            Ok(Ok(m)) => {
                idle(false);
                f(m.offset, m.timestamp_ms, &m.payload);
            }
            Ok(Err(e)) if e.is_retriable() => tokio::time::sleep(Duration::from_millis(100)).await,
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => idle(true),
        }
    }
    Ok(())
}

pub async fn markers(
    bus: KafkaBus,
    topic: String,
    progress: Arc<Progress>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Markers> {
    let codec = Codec::builtin();
    let mut out = Markers::default();
    let group = format!("fleet-markers-{}", wall_ms());
    let take = |_: i64, _: Option<i64>, payload: &[u8]| {
        let Ok(m) = codec.decode_sync_marker(payload) else {
            return;
        };
        match m.status {
            SyncStatus::Completed => {
                let observations: i64 = m.counts.iter().map(|c| c.count).sum();
                progress
                    .published
                    .fetch_add(observations, Ordering::Relaxed);
                let marker = Marker {
                    emitted_at: m.emitted_at,
                    kind: m.kind,
                    observations,
                };
                out.completed
                    .entry((m.scope.to_string(), m.epoch))
                    .or_insert(marker);
            }
            SyncStatus::Failed => out.failed += 1,
            SyncStatus::Started => {}
        }
    };
    read_until(&bus, &group, topic, stop, take, |_| {}).await?;
    Ok(out)
}

/// Every change decoded and counted; a checkpoint at each barrier and
/// every thousand messages, so the writes applied up to any committed
/// offset can be looked up.
pub async fn changes(
    bus: KafkaBus,
    topic: String,
    progress: Arc<Progress>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Changes> {
    let codec = Codec::builtin();
    let mut out = Changes::default();
    let mut totals = Writes::default();
    let group = format!("fleet-changes-{}", wall_ms());
    let take = |offset: i64, ts: Option<i64>, payload: &[u8]| {
        progress.changes_read.fetch_add(1, Ordering::Relaxed);
        let Ok(change) = codec.decode_graph_change(payload) else {
            return;
        };
        totals.count(&change);
        let barrier = match &change {
            GraphChange::SyncBarrier(b) => Some(BarrierAt {
                offset,
                scope: b.scope.to_string(),
                epoch: b.epoch,
                completed: b.status == SyncStatus::Completed,
            }),
            _ => None,
        };
        if barrier.is_some() || offset % 1000 == 0 {
            out.checkpoints.push(Checkpoint {
                offset,
                produced_ms: ts.unwrap_or_else(wall_ms),
                writes: totals,
            });
        }
        out.barriers.extend(barrier);
    };
    let idle = |v: bool| progress.changes_idle.store(v, Ordering::Relaxed);
    read_until(&bus, &group, topic, stop, take, idle).await?;
    Ok(out)
}

/// Where a group stands, summed over `partitions`.
async fn committed(bus: &KafkaBus, group: &str, partitions: &[(String, i32)]) -> Option<i64> {
    let c = bus.group_committed(group, partitions).await.ok()?;
    Some(c.into_iter().flatten().sum())
}

/// Samples the writer's committed offset every 100 ms (the resolution of
/// every barrier latency) and the normalizers' every second.
pub async fn commits(
    bus: KafkaBus,
    writer: (String, Vec<(String, i32)>),
    normalizers: (String, Vec<(String, i32)>),
    progress: Arc<Progress>,
    stop: watch::Receiver<bool>,
) -> Commits {
    let mut out = Commits::default();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut n = 0u64;
    while !stopped(&stop) {
        tick.tick().await;
        if let Some(c) = committed(&bus, &writer.0, &writer.1).await {
            out.writer.push((wall_ms(), c));
            progress.writer_committed.store(c, Ordering::Relaxed);
        }
        n += 1;
        if n.is_multiple_of(10)
            && let Some(c) = committed(&bus, &normalizers.0, &normalizers.1).await
        {
            out.normalizers.push((wall_ms(), c));
            progress.normalized.store(c, Ordering::Relaxed);
        }
    }
    out
}
