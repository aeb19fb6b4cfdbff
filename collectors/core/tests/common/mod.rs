//! Test collectors and a bus that fails on demand.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use infragraph_bus::memory::MemoryConsumer;
use infragraph_bus::{Bus, BusError, MemoryBus, OutMessage, PendingDelivery, TopicSpec};
use infragraph_collector::{Collector, SyncContext};
use infragraph_schemas::{Observation, RelType, ResourceKind};

/// Emits a host and two processes, or fails when told to.
pub struct FakeCollector {
    pub scope: String,
    pub fail: bool,
    /// Adds a property the registry does not declare.
    pub invalid: bool,
    /// Gives a process a 2 MB command line.
    pub huge: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("the source is unreachable")]
pub struct FakeError;

impl FakeCollector {
    pub fn new(scope: &str) -> Self {
        FakeCollector {
            scope: scope.to_owned(),
            fail: false,
            invalid: false,
            huge: false,
        }
    }
}

impl Collector for FakeCollector {
    type Error = FakeError;

    fn source(&self) -> &str {
        "fake"
    }

    fn scope(&self) -> &str {
        &self.scope
    }

    async fn collect(&self, ctx: &SyncContext) -> Result<Vec<Observation>, FakeError> {
        if self.fail {
            return Err(FakeError);
        }
        let host = format!("{}-host", self.scope);
        let mut out = vec![
            ctx.observation(ResourceKind::Host, &host)
                .with("hostname", "h1"),
        ];
        for pid in [1i64, 2] {
            let mut p = ctx
                .observation(ResourceKind::Process, format!("{host}/{pid}/0"))
                .with("host_id", host.as_str())
                .with("pid", pid)
                .with("name", "init")
                .with("start_time", 0i64)
                .relate(RelType::RunsOn, &host);
            if self.invalid && pid == 2 {
                p = p.with("favourite_colour", "blue");
            }
            if self.huge && pid == 2 {
                p = p.with("cmdline", "x".repeat(2_000_000));
            }
            out.push(p);
        }
        Ok(out)
    }
}

/// A [`MemoryBus`] whose sends fail, retriably, a set number of times (or
/// always, while `down`), and whose deliveries to observation topics fail a
/// set number of times.
#[derive(Clone, Default)]
pub struct FlakyBus {
    pub inner: MemoryBus,
    pub send_failures: Arc<AtomicU32>,
    pub delivery_failures: Arc<AtomicU32>,
    pub down: Arc<AtomicBool>,
    pub attempts: Arc<AtomicU32>,
}

fn unavailable(topic: &str) -> BusError {
    BusError::Delivery {
        topic: topic.to_owned(),
        reason: "broker transport failure".into(),
        retriable: true,
    }
}

fn take(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

impl Bus for FlakyBus {
    type Consumer = MemoryConsumer;

    async fn ensure_topics(&self, topics: &[TopicSpec]) -> Result<(), BusError> {
        self.inner.ensure_topics(topics).await
    }

    async fn send(&self, msg: OutMessage<'_>) -> Result<PendingDelivery, BusError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) || take(&self.send_failures) {
            return Err(unavailable(msg.topic));
        }
        if msg.topic.starts_with("infragraph.obs.") && take(&self.delivery_failures) {
            let err = unavailable(msg.topic);
            return Ok(PendingDelivery::ready(Err(err)));
        }
        self.inner.send(msg).await
    }

    fn consumer(&self, group: &str, topics: &[String]) -> Result<MemoryConsumer, BusError> {
        self.inner.consumer(group, topics)
    }

    async fn group_committed(
        &self,
        group: &str,
        partitions: &[(String, i32)],
    ) -> Result<Vec<Option<i64>>, BusError> {
        self.inner.group_committed(group, partitions).await
    }
}
