//! An in-process bus with Kafka's semantics where stages rely on them:
//! partitions chosen by key hash, per-partition offsets, consumer groups
//! whose members split the partitions and rebalance as members come and go,
//! and committed offsets that a new member resumes from.

use infragraph_telemetry::now_ms;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::{
    Bus, BusError, Consumer, Delivery, Message, Offset, OutMessage, PendingDelivery, TopicSpec,
};

/// Partition count for topics created implicitly by a first publish.
pub const DEFAULT_PARTITIONS: i32 = 4;

#[derive(Clone, Default)]
pub struct MemoryBus {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    /// Woken on every publish and every change of group membership.
    changed: Notify,
}

#[derive(Default)]
struct State {
    topics: HashMap<String, Vec<Vec<Arc<Message>>>>,
    groups: HashMap<String, Group>,
    next_member: u64,
    /// Bumped when topics or memberships change, so members recompute
    /// their assignment only then.
    layout: u64,
    /// Set by [`MemoryBus::limit_message_bytes`].
    max_message_bytes: HashMap<String, usize>,
}

#[derive(Default)]
struct Group {
    /// Member id → subscribed topics. Ordered so assignment is deterministic.
    members: BTreeMap<u64, Vec<String>>,
    committed: HashMap<(String, i32), i64>,
    /// Set by [`MemoryBus::refuse_commits`]: commits fail as they do on
    /// Kafka while a group rebalances.
    refusing: bool,
}

/// FNV-1a: stable across runs and platforms, so a key always maps to the
/// same partition.
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    let h = key.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    (h % partitions.max(1) as u64) as i32
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not take the whole pipeline down with it.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn committed_now(&self, group: &str, partitions: &[(String, i32)]) -> Vec<Option<i64>> {
        let state = self.lock();
        let group = state.groups.get(group);
        partitions
            .iter()
            .map(|tp| group.and_then(|g| g.committed.get(tp).copied()))
            .collect()
    }

    fn create(state: &mut State, name: &str, partitions: i32) {
        if !state.topics.contains_key(name) {
            state.topics.insert(
                name.to_owned(),
                vec![Vec::new(); partitions.max(1) as usize],
            );
            state.layout += 1;
        }
    }

    /// Makes the group's commits fail (retriably) or succeed again, as a
    /// Kafka group refuses them while it rebalances: for tests.
    pub fn refuse_commits(&self, group: &str, refuse: bool) {
        self.lock()
            .groups
            .entry(group.to_owned())
            .or_default()
            .refusing = refuse;
    }

    /// Refuses messages to `topic` larger than `max` bytes (as
    /// [`crate::message_size`] counts them), as a Kafka topic with that
    /// `max.message.bytes` does: for tests.
    pub fn limit_message_bytes(&self, topic: &str, max: usize) {
        self.lock().max_message_bytes.insert(topic.to_owned(), max);
    }

    /// Messages in a topic, all partitions: for tests and status displays.
    pub fn len(&self, topic: &str) -> usize {
        self.lock()
            .topics
            .get(topic)
            .map_or(0, |ps| ps.iter().map(Vec::len).sum())
    }

    pub fn is_empty(&self, topic: &str) -> bool {
        self.len(topic) == 0
    }

    /// Every message of a topic, partition by partition.
    pub fn messages(&self, topic: &str) -> Vec<Message> {
        let state = self.lock();
        state.topics.get(topic).map_or_else(Vec::new, |ps| {
            ps.iter().flatten().map(|m| (**m).clone()).collect()
        })
    }

    /// Messages not yet committed by `group` on `topic`: its lag.
    pub fn lag(&self, group: &str, topic: &str) -> i64 {
        let state = self.lock();
        let Some(parts) = state.topics.get(topic) else {
            return 0;
        };
        let committed = state.groups.get(group).map(|g| &g.committed);
        parts
            .iter()
            .enumerate()
            .map(|(p, msgs)| {
                let done = committed
                    .and_then(|c| c.get(&(topic.to_owned(), p as i32)))
                    .copied()
                    .unwrap_or(0);
                msgs.len() as i64 - done
            })
            .sum()
    }
}

impl Bus for MemoryBus {
    type Consumer = MemoryConsumer;

    async fn max_message_bytes(&self, topic: &str) -> Result<Option<usize>, BusError> {
        Ok(self.lock().max_message_bytes.get(topic).copied())
    }

    async fn ensure_topics(&self, topics: &[TopicSpec]) -> Result<(), BusError> {
        let mut state = self.lock();
        for t in topics {
            Self::create(&mut state, &t.name, t.partitions);
        }
        drop(state);
        self.inner.changed.notify_waiters();
        Ok(())
    }

    async fn send(&self, msg: OutMessage<'_>) -> Result<PendingDelivery, BusError> {
        let mut state = self.lock();
        if let Some(&max) = state.max_message_bytes.get(msg.topic)
            && crate::message_size(&msg) > max
        {
            let reason = format!(
                "message of {} bytes exceeds the topic's limit of {max} bytes",
                crate::message_size(&msg)
            );
            return Err(BusError::Delivery {
                topic: msg.topic.to_owned(),
                reason,
                retriable: false,
            });
        }
        Self::create(&mut state, msg.topic, DEFAULT_PARTITIONS);
        let parts = state.topics.get_mut(msg.topic).ok_or(BusError::Closed)?;
        let partition = partition_for(msg.key, parts.len() as i32);
        let log = &mut parts[partition as usize];
        let offset = log.len() as i64;
        log.push(Arc::new(Message {
            topic: msg.topic.to_owned(),
            partition,
            offset,
            key: Some(msg.key.to_vec()),
            payload: msg.payload.to_vec(),
            headers: msg
                .headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
                .collect(),
            timestamp_ms: Some(now_ms()),
        }));
        drop(state);
        self.inner.changed.notify_waiters();
        Ok(PendingDelivery::ready(Ok(Delivery { partition, offset })))
    }

    async fn group_committed(
        &self,
        group: &str,
        partitions: &[(String, i32)],
    ) -> Result<Vec<Option<i64>>, BusError> {
        Ok(self.committed_now(group, partitions))
    }

    fn consumer(&self, group: &str, topics: &[String]) -> Result<MemoryConsumer, BusError> {
        let mut state = self.lock();
        state.next_member += 1;
        let member = state.next_member;
        state
            .groups
            .entry(group.to_owned())
            .or_default()
            .members
            .insert(member, topics.to_vec());
        state.layout += 1;
        drop(state);
        self.inner.changed.notify_waiters();
        Ok(MemoryConsumer {
            bus: self.clone(),
            group: group.to_owned(),
            member,
            layout: 0,
            assigned: Vec::new(),
            next_pick: 0,
        })
    }
}

/// Partitions of the subscribed topics dealt round-robin to members in id
/// order, as Kafka's round-robin assignor does.
fn assignment(state: &State, group: &Group, member: u64) -> Vec<(String, i32)> {
    let mut all: Vec<(String, i32)> = Vec::new();
    let mut topics: Vec<&String> = group.members.values().flatten().collect();
    topics.sort();
    topics.dedup();
    for t in topics {
        if let Some(parts) = state.topics.get(t) {
            all.extend((0..parts.len() as i32).map(|p| (t.clone(), p)));
        }
    }
    let ids: Vec<u64> = group.members.keys().copied().collect();
    let mut mine = Vec::new();
    let mut turn = 0;
    for tp in all {
        // Only members subscribed to the topic take its partitions.
        let eligible: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|id| group.members[id].contains(&tp.0))
            .collect();
        if eligible.is_empty() {
            continue;
        }
        if eligible[turn % eligible.len()] == member {
            mine.push(tp);
        }
        turn += 1;
    }
    mine
}

/// A member of a group on a [`MemoryBus`]. Leaves the group when dropped.
pub struct MemoryConsumer {
    bus: MemoryBus,
    group: String,
    member: u64,
    layout: u64,
    /// Assigned partitions and the next offset to read in each.
    assigned: Vec<((String, i32), i64)>,
    next_pick: usize,
}

impl MemoryConsumer {
    /// Recomputes the assignment after a layout change; partitions new to
    /// this member start from the group's committed offset.
    fn rebalance(&mut self, state: &State) {
        if self.layout == state.layout {
            return;
        }
        self.layout = state.layout;
        let Some(group) = state.groups.get(&self.group) else {
            return;
        };
        let old: HashMap<(String, i32), i64> = self.assigned.drain(..).collect();
        for tp in assignment(state, group, self.member) {
            let pos = old
                .get(&tp)
                .copied()
                .unwrap_or_else(|| group.committed.get(&tp).copied().unwrap_or(0));
            self.assigned.push((tp, pos));
        }
    }

    fn try_next(&mut self) -> Option<Message> {
        let bus = self.bus.clone();
        let state = bus.lock();
        self.rebalance(&state);
        let n = self.assigned.len();
        for i in 0..n {
            let idx = (self.next_pick + i) % n;
            let ((topic, p), pos) = &mut self.assigned[idx];
            if let Some(msg) = state
                .topics
                .get(topic.as_str())
                .and_then(|ps| ps[*p as usize].get(*pos as usize))
            {
                *pos += 1;
                // Rotate so one busy partition does not starve the others.
                self.next_pick = idx + 1;
                return Some((**msg).clone());
            }
        }
        None
    }
}

impl Consumer for MemoryConsumer {
    async fn recv(&mut self) -> Result<Message, BusError> {
        let bus = self.bus.clone();
        loop {
            let notified = bus.inner.changed.notified();
            tokio::pin!(notified);
            // Registered before looking, so a publish in between is not missed.
            notified.as_mut().enable();
            if let Some(msg) = self.try_next() {
                return Ok(msg);
            }
            notified.await;
        }
    }

    fn commit(
        &mut self,
        offsets: &[Offset],
    ) -> impl Future<Output = Result<(), BusError>> + Send + 'static {
        std::future::ready(self.commit_now(offsets))
    }

    fn assignment(&self) -> Result<Vec<(String, i32)>, BusError> {
        let state = self.bus.lock();
        Ok(state
            .groups
            .get(&self.group)
            .map_or_else(Vec::new, |g| assignment(&state, g, self.member)))
    }

    fn committed(
        &self,
        partitions: &[(String, i32)],
    ) -> impl Future<Output = Result<Vec<Option<i64>>, BusError>> + Send + 'static {
        std::future::ready(Ok(self.bus.committed_now(&self.group, partitions)))
    }
}

impl MemoryConsumer {
    fn commit_now(&self, offsets: &[Offset]) -> Result<(), BusError> {
        let mut state = self.bus.lock();
        let group = state.groups.entry(self.group.clone()).or_default();
        if group.refusing && !offsets.is_empty() {
            return Err(BusError::Rebalancing {
                group: self.group.clone(),
            });
        }
        for o in offsets {
            group
                .committed
                .insert((o.topic.clone(), o.partition), o.next);
        }
        Ok(())
    }
}

impl Drop for MemoryConsumer {
    fn drop(&mut self) {
        let mut state = self.bus.lock();
        if let Some(g) = state.groups.get_mut(&self.group) {
            g.members.remove(&self.member);
        }
        state.layout += 1;
        drop(state);
        self.bus.inner.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_stable_partitions() {
        assert_eq!(partition_for(b"host-a", 4), partition_for(b"host-a", 4));
        let spread: std::collections::HashSet<i32> = (0..100)
            .map(|i| partition_for(format!("k{i}").as_bytes(), 4))
            .collect();
        assert_eq!(spread.len(), 4, "100 keys should use every partition");
    }
}
