//! The message bus: publish keyed messages, consume them in a group, commit
//! explicitly after processing.
//!
//! # Layout
//! - this file: the [`Bus`] and [`Consumer`] interface and the message types.
//! - [`memory`]: an in-process bus (embedded mode, unit tests) with
//!   partitions by key hash, offsets, commits and group rebalancing.
//! - [`kafka`]: the same over Kafka via librdkafka.
//! - [`kafka_log`]: librdkafka's log through `tracing`, throttled.
//! - [`deadletter`]: rejected messages, with the reason, to the dead-letter topic.
//! - [`layout`]: every topic of the pipeline and how it is partitioned.
//! - [`config`]: the command-line flags and environment variables that
//!   choose and configure a bus.
//!
//! Both implementations pass one test suite (`tests/suite.rs`).

pub mod config;
pub mod deadletter;
pub mod kafka;
pub mod kafka_log;
pub mod layout;
pub mod memory;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

pub use config::KafkaArgs;
pub use deadletter::DeadLetters;
pub use kafka::KafkaBus;
pub use layout::TopicLayout;
pub use memory::MemoryBus;

/// What went wrong on the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The Kafka client failed; `kafka.rs` sorts the error when it is
    /// caught, so nothing here needs the client's types.
    #[error("kafka: {source}")]
    Kafka {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
        retriable: bool,
        /// A commit the group refused (see [`BusError::is_commit_superseded`]).
        superseded: bool,
    },
    #[error("delivery to {topic} failed: {reason}")]
    Delivery {
        topic: String,
        reason: String,
        retriable: bool,
    },
    #[error("bus setting {key}: {reason}")]
    Config { key: String, reason: String },
    /// The group is rebalancing and refuses commits until it settles.
    #[error("group {group} is rebalancing")]
    Rebalancing { group: String },
    #[error("the bus was shut down")]
    Closed,
}

impl BusError {
    /// Worth retrying with backoff (broker away, timeouts), as opposed to a
    /// fault that will recur (bad configuration, message too large).
    pub fn is_retriable(&self) -> bool {
        match self {
            BusError::Kafka { retriable, .. } | BusError::Delivery { retriable, .. } => *retriable,
            BusError::Rebalancing { .. } => true,
            BusError::Config { .. } | BusError::Closed => false,
        }
    }

    /// A commit the group refused because it is rebalancing or moved on
    /// without this member. Retrying it in place never succeeds: the member
    /// rejoins only while it keeps consuming. Drop it instead: whoever owns
    /// the partition next resumes from the previous commit, and a later
    /// commit of a partition that stayed covers it.
    pub fn is_commit_superseded(&self) -> bool {
        match self {
            BusError::Kafka { superseded, .. } => *superseded,
            BusError::Rebalancing { .. } => true,
            _ => false,
        }
    }
}

/// A message to publish. The key picks the partition, so every message of
/// one key keeps its order.
#[derive(Debug, Clone, Copy)]
pub struct OutMessage<'a> {
    pub topic: &'a str,
    pub key: &'a [u8],
    pub payload: &'a [u8],
    pub headers: &'a [(&'a str, &'a [u8])],
}

impl<'a> OutMessage<'a> {
    pub fn new(topic: &'a str, key: &'a [u8], payload: &'a [u8]) -> Self {
        OutMessage {
            topic,
            key,
            payload,
            headers: &[],
        }
    }
}

/// Where a published message landed, in the topic it was sent to (the
/// sender knows which; carrying the name would cost a copy per message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub partition: i32,
    pub offset: i64,
}

/// Resolves when the bus has durably accepted a message (or failed to).
///
/// A concrete future rather than a boxed one: a collector holds one per
/// message in flight, and an allocation per message was a measurable part
/// of what the bus layer costs over a bare producer.
pub struct PendingDelivery(Pending);

enum Pending {
    Ready(Option<Result<Delivery, BusError>>),
    Kafka(kafka::Delivering),
}

impl PendingDelivery {
    /// A delivery whose outcome is already known (the in-memory bus, test doubles).
    pub fn ready(outcome: Result<Delivery, BusError>) -> Self {
        PendingDelivery(Pending::Ready(Some(outcome)))
    }

    fn kafka(delivering: kafka::Delivering) -> Self {
        PendingDelivery(Pending::Kafka(delivering))
    }
}

impl Future for PendingDelivery {
    type Output = Result<Delivery, BusError>;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match &mut self.0 {
            // Polled again after completing: there is nothing more to give.
            Pending::Ready(outcome) => {
                std::task::Poll::Ready(outcome.take().unwrap_or(Err(BusError::Closed)))
            }
            Pending::Kafka(delivering) => Pin::new(delivering).poll(cx),
        }
    }
}

/// A consumed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
    /// Unix ms the message was produced at, when the bus knows it.
    pub timestamp_ms: Option<i64>,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// A topic to create if it is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub replication: i32,
    /// Keep only the newest message per key (Kafka log compaction).
    pub compacted: bool,
}

impl TopicSpec {
    pub fn new(name: impl Into<String>, partitions: i32) -> Self {
        TopicSpec {
            name: name.into(),
            partitions,
            replication: 1,
            compacted: false,
        }
    }
}

/// A position to commit: the next offset to read in one partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Offset {
    pub topic: String,
    pub partition: i32,
    pub next: i64,
}

/// Publishes and consumes. Cheap to clone; clones share one connection.
pub trait Bus: Clone + Send + Sync + 'static {
    type Consumer: Consumer;

    /// Creates the topics that do not exist yet.
    fn ensure_topics(
        &self,
        topics: &[TopicSpec],
    ) -> impl Future<Output = Result<(), BusError>> + Send;

    /// Queues a message. Messages are queued in call order; the call waits
    /// only for room in the send queue. Await the returned delivery to know
    /// the message is durable.
    fn send(
        &self,
        msg: OutMessage<'_>,
    ) -> impl Future<Output = Result<PendingDelivery, BusError>> + Send;

    /// Joins consumer group `group` for `topics`.
    fn consumer(&self, group: &str, topics: &[String]) -> Result<Self::Consumer, BusError>;

    /// Group `group`'s committed positions (next offset to read), read from
    /// outside the group without joining it: how far a stage has got.
    fn group_committed(
        &self,
        group: &str,
        partitions: &[(String, i32)],
    ) -> impl Future<Output = Result<Vec<Option<i64>>, BusError>> + Send;

    /// Queues and waits for delivery of one message.
    fn publish(
        &self,
        msg: OutMessage<'_>,
    ) -> impl Future<Output = Result<Delivery, BusError>> + Send {
        async move { self.send(msg).await?.await }
    }

    /// The largest message `topic` takes, key and headers included, as the
    /// bus is actually configured (Kafka: the smaller of the topic's
    /// `max.message.bytes` and the producer's `message.max.bytes`); `None`
    /// when there is no limit.
    fn max_message_bytes(
        &self,
        topic: &str,
    ) -> impl Future<Output = Result<Option<usize>, BusError>> + Send {
        let _ = topic;
        async { Ok(None) }
    }
}

/// What a message costs against a size limit beyond its key, payload and
/// headers: Kafka's record and batch framing, with room to spare.
pub const MESSAGE_OVERHEAD: usize = 256;

/// The size a message counts for against [`Bus::max_message_bytes`].
pub fn message_size(msg: &OutMessage<'_>) -> usize {
    msg.key.len()
        + msg.payload.len()
        + msg
            .headers
            .iter()
            .map(|(k, v)| k.len() + v.len() + 8)
            .sum::<usize>()
        + MESSAGE_OVERHEAD
}

/// One member of a consumer group.
pub trait Consumer: Send + 'static {
    /// The next message of a partition assigned to this member.
    fn recv(&mut self) -> impl Future<Output = Result<Message, BusError>> + Send;

    /// Commits positions: after a restart the group resumes from them.
    /// The commit is under way once this returns; the future, which
    /// borrows nothing, says how it ended, so a stage can go on consuming
    /// while the broker answers.
    fn commit(
        &mut self,
        offsets: &[Offset],
    ) -> impl Future<Output = Result<(), BusError>> + Send + 'static;

    /// The partitions this member owns right now.
    fn assignment(&self) -> Result<Vec<(String, i32)>, BusError>;

    /// The group's committed position (next offset to read) of each
    /// partition, whichever member owns it; `None` where nothing is
    /// committed. Like [`Consumer::commit`], the question is asked at once
    /// and the future borrows nothing.
    fn committed(
        &self,
        partitions: &[(String, i32)],
    ) -> impl Future<Output = Result<Vec<Option<i64>>, BusError>> + Send + 'static;
}

/// Remembers the highest processed offset per partition, so a stage can
/// commit exactly what it has finished with.
#[derive(Debug, Default, Clone)]
pub struct OffsetTracker {
    next: HashMap<(String, i32), i64>,
}

impl OffsetTracker {
    /// Marks `msg` (and everything before it in its partition) processed.
    pub fn processed(&mut self, msg: &Message) {
        self.processed_at(&msg.topic, msg.partition, msg.offset);
    }

    pub fn processed_at(&mut self, topic: &str, partition: i32, offset: i64) {
        let next = self.next.entry((topic.to_owned(), partition)).or_insert(0);
        *next = (*next).max(offset + 1);
    }

    pub fn is_empty(&self) -> bool {
        self.next.is_empty()
    }

    /// The positions to commit, leaving the tracker empty.
    pub fn take(&mut self) -> Vec<Offset> {
        self.next
            .drain()
            .map(|((topic, partition), next)| Offset {
                topic,
                partition,
                next,
            })
            .collect()
    }

    /// Puts back positions whose commit failed, so the next commit carries
    /// them (a partition that stays idle would otherwise never commit them).
    pub fn restore(&mut self, offsets: impl IntoIterator<Item = Offset>) {
        for o in offsets {
            self.processed_at(&o.topic, o.partition, o.next - 1);
        }
    }
}
