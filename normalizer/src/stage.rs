//! The normalizer stage: consume observations and sync markers, emit graph
//! changes, commit only what has been acknowledged.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use infragraph_bus::{
    Bus, BusError, Consumer, DeadLetters, Message, Offset, OffsetTracker, OutMessage,
    PendingDelivery, message_size,
};
use infragraph_schemas::{
    Codec, CodecError, Element, GraphChange, Observation, SyncBarrier, SyncMarker, SyncStatus,
    Topics,
};
use infragraph_telemetry::{StageMetrics, stopped};
use tokio::sync::watch;

use crate::barrier::{Barriers, Pending};
use crate::config::NormalizerArgs;
use crate::inflight::{Delivered, InFlight, Wait};
use crate::merge::{Merger, Outcome};
use crate::schemas::Waited;
use crate::validate;

const STAGE: &str = "normalizer";
/// Changes sent but not yet acknowledged before the stage waits for them.
const MAX_IN_FLIGHT: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum NormalizerError {
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    #[error("cannot encode a graph change: {0}")]
    Encode(#[from] CodecError),
}

/// Runs until `shutdown` turns true, then commits what is done and returns.
pub async fn run<B: Bus>(
    args: &NormalizerArgs,
    names: &Topics,
    bus: B,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), NormalizerError> {
    let mut subscribed = names.all_observations();
    subscribed.push(names.sync());
    let consumer = bus.consumer(&args.group, &subscribed)?;
    let limit = changes_limit(&bus, &names.graph_changes()).await;
    let mut stage = Stage::new(args, names, bus, consumer, limit);
    let schemas = crate::schemas::follow(
        &stage.bus,
        names,
        &args.group,
        stage.codec.clone(),
        stage.metrics.clone(),
        shutdown.clone(),
    )?;
    let mut tick = tokio::time::interval(Duration::from_millis(args.commit_interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(group = %args.group, "normalizer running");
    loop {
        tokio::select! {
            biased;
            _ = stopped(&mut shutdown) => break,
            // Before recv: a steady stream of messages must not starve commits.
            _ = tick.tick() => {
                stage.settle(Wait::Done).await?;
                stage.ask_barriers();
            }
            outcome = pending(&mut stage.committing) => {
                stage.commit_ended(outcome)?;
                stage.ask_barriers();
            }
            got = pending(&mut stage.asking) => stage.release_barriers(got).await?,
            msg = stage.consumer.recv() => stage.batch(msg?, args.batch).await?,
        }
    }
    // Bounded: a delivery or commit still waiting on the broker must not
    // hold the stop. What it would have committed is read again.
    match tokio::time::timeout(FINAL_SETTLE, stage.settle(Wait::All)).await {
        Ok(settled) => settled?,
        Err(_) => tracing::warn!(
            secs = FINAL_SETTLE.as_secs(),
            "the last deliveries or commit did not finish in time; what they cover will be read again"
        ),
    }
    schemas.abort();
    // Closing a Kafka consumer can block on the broker long after its work
    // is done (it leaves the group): on the blocking pool, not awaited, so
    // the binary's bounded runtime shutdown is what waits for it.
    drop(tokio::task::spawn_blocking(move || drop(stage)));
    tracing::info!("normalizer stopped");
    Ok(())
}

/// How long a stop waits for the last deliveries and commit.
const FINAL_SETTLE: Duration = Duration::from_secs(15);

/// The largest change the changes topic takes, as the bus says; without
/// an answer, a change too large is still caught when its delivery fails.
async fn changes_limit<B: Bus>(bus: &B, topic: &str) -> Option<usize> {
    match bus.max_message_bytes(topic).await {
        Ok(limit) => {
            tracing::info!(
                topic,
                max_message_bytes = limit,
                "graph changes larger than this are dead-lettered"
            );
            limit
        }
        Err(e) => {
            tracing::warn!(topic, error = %e, "cannot read the changes topic's message size limit; oversized changes are caught on delivery");
            None
        }
    }
}

/// Partitions, and how far the group has committed each.
type Answer = (Vec<(String, i32)>, Result<Vec<Option<i64>>, BusError>);

/// Positions committed, and whether the commit went through.
type Committed = (Vec<Offset>, Result<(), BusError>);

/// A request to the broker under way.
type Request<T> = Option<BoxFuture<'static, T>>;

/// How the request under way ended; never ready without one.
async fn pending<T>(request: &mut Request<T>) -> T {
    match request {
        Some(answer) => answer.await,
        None => std::future::pending().await,
    }
}

/// Why a message's changes could not all be sent.
struct Undeliverable {
    reason: String,
    /// The element of the change that failed, so the merger forgets it.
    element: Option<Element>,
}

struct Stage<B: Bus> {
    bus: B,
    consumer: B::Consumer,
    codec: Arc<Codec>,
    waited: Waited,
    merger: Merger,
    barriers: Barriers,
    offsets: OffsetTracker,
    dead: DeadLetters,
    metrics: StageMetrics,
    changes: Vec<GraphChange>,
    /// One encoding buffer for every change: the producer copies it.
    encoded: Vec<u8>,
    /// Upserts and touches per observation topic since the last batch
    /// ended, recorded once per batch rather than per message.
    counts: HashMap<String, Outcome>,
    /// Each sent change's delivery, with the message it came from, so a
    /// change the bus refuses for good sends that message to the
    /// dead-letter topic instead of stopping the stage.
    in_flight: InFlight<PendingDelivery>,
    /// The committed-offsets question under way for the waiting barriers.
    asking: Request<Answer>,
    /// The commit under way, with what it commits.
    committing: Request<Committed>,
    /// The largest change the changes topic takes ([`Bus::max_message_bytes`]).
    changes_limit: Option<usize>,
    sync_topic: String,
    changes_topic: String,
}

impl<B: Bus> Stage<B> {
    fn new(
        args: &NormalizerArgs,
        names: &Topics,
        bus: B,
        consumer: B::Consumer,
        changes_limit: Option<usize>,
    ) -> Self {
        Stage {
            bus,
            consumer,
            codec: Arc::new(Codec::builtin()),
            waited: Waited::default(),
            merger: Merger::new(usize::try_from(args.state_capacity).unwrap_or(usize::MAX))
                .with_measurements(args.measurements()),
            barriers: Barriers::default(),
            offsets: OffsetTracker::default(),
            dead: DeadLetters::new(names.deadletter(), STAGE),
            metrics: StageMetrics::global(STAGE),
            changes: Vec::new(),
            encoded: Vec::new(),
            counts: HashMap::new(),
            in_flight: InFlight::default(),
            committing: None,
            asking: None,
            changes_limit,
            sync_topic: names.sync(),
            changes_topic: names.graph_changes(),
        }
    }

    /// Handles `first` and whatever else is already waiting, up to `max`
    /// messages. Their changes stay in flight past the next settle, so the
    /// loop never waits on the producer's linger between batches.
    async fn batch(&mut self, first: Message, max: u64) -> Result<(), NormalizerError> {
        let start = Instant::now();
        self.handle(first).await?;
        for _ in 1..max {
            match self.consumer.recv().now_or_never() {
                Some(msg) => self.handle(msg?).await?,
                None => break,
            }
        }
        if self.in_flight.len() >= MAX_IN_FLIGHT {
            self.settle(Wait::All).await?;
        }
        for (topic, outcome) in &self.counts {
            self.metrics.records(topic, "upserted", outcome.upserts);
            self.metrics.records(topic, "touched", outcome.touches);
            self.metrics.records(topic, "unchanged", outcome.unchanged);
            self.metrics
                .records(topic, "retracted", outcome.retractions);
        }
        self.counts.clear();
        self.metrics.duration("batch", start.elapsed());
        Ok(())
    }

    async fn handle(&mut self, msg: Message) -> Result<(), NormalizerError> {
        if msg.topic == self.sync_topic {
            return self.handle_marker(msg).await;
        }
        let obs = match self.decode(&msg).await {
            Ok(obs) => obs,
            Err(e) => return self.reject(&msg, "undecodable", &e.to_string()).await,
        };
        if let Some(reason) = validate::problem(&obs) {
            return self.reject(&msg, "invalid", &reason).await;
        }
        let outcome = self.merger.observe(obs, &mut self.changes);
        match self.counts.get_mut(msg.topic.as_str()) {
            Some(sum) => sum.add(outcome),
            None => {
                self.counts.insert(msg.topic.clone(), outcome);
            }
        }
        let emitted = self.emit_changes(Some(self.in_flight.origin())).await?;
        if let Err(Undeliverable { reason, element }) = &emitted {
            if let Some(element) = element {
                self.merger.forget(element);
            }
            self.reject(&msg, "undeliverable", reason).await?;
        }
        self.offsets.processed(&msg);
        self.in_flight.handled(msg);
        Ok(())
    }

    /// Decodes an observation; one from a writer schema not seen yet waits
    /// briefly for that schema to arrive from the schemas topic.
    async fn decode(&mut self, msg: &Message) -> Result<Observation, CodecError> {
        match self.codec.decode_observation(&msg.payload) {
            Err(CodecError::UnknownFingerprint(fp))
                if self.waited.for_schema(&self.codec, fp).await =>
            {
                self.codec.decode_observation(&msg.payload)
            }
            other => other,
        }
    }

    async fn handle_marker(&mut self, msg: Message) -> Result<(), NormalizerError> {
        let marker = match self.codec.decode_sync_marker(&msg.payload) {
            Ok(m) => m,
            Err(e) => {
                self.reject(&msg, "undecodable", &e.to_string()).await?;
                self.barriers.processed(msg.partition, msg.offset);
                return Ok(());
            }
        };
        match marker.status {
            SyncStatus::Started => {}
            // A failed sync deletes nothing, so nothing needs to wait for it.
            SyncStatus::Failed => self.emit_barrier(&marker).await?,
            SyncStatus::Completed => {
                self.barriers.hold(Pending {
                    marker,
                    partition: msg.partition,
                    offset: msg.offset,
                });
            }
        }
        self.barriers.processed(msg.partition, msg.offset);
        Ok(())
    }

    async fn reject(
        &mut self,
        msg: &Message,
        kind: &'static str,
        reason: &str,
    ) -> Result<(), NormalizerError> {
        self.metrics.failure(kind, &reason);
        self.metrics.records(&msg.topic, "dead-lettered", 1);
        self.dead.send(&self.bus, msg, reason).await?;
        if msg.topic != self.sync_topic {
            self.offsets.processed(msg);
        }
        Ok(())
    }

    /// Sends the pending changes, each remembered as coming from message
    /// `origin` (none for a barrier). A change larger than the changes topic
    /// takes, or one the bus refuses for good, stops the rest of them: the
    /// message it came from is undeliverable.
    async fn emit_changes(
        &mut self,
        origin: Option<u64>,
    ) -> Result<Result<(), Undeliverable>, NormalizerError> {
        // Taken and put back, so the buffer keeps its capacity across messages.
        let mut changes = std::mem::take(&mut self.changes);
        let mut result = Ok(());
        for change in changes.drain(..) {
            if result.is_err() {
                continue;
            }
            self.codec
                .encode_graph_change_into(&change, &mut self.encoded)?;
            let key = change_key(&change);
            let out = OutMessage::new(&self.changes_topic, key.as_bytes(), &self.encoded);
            let size = message_size(&out);
            if let Some(limit) = self.changes_limit.filter(|l| size > *l) {
                let reason = format!(
                    "its graph change ({}) is {size} bytes, more than the {limit} bytes the changes topic {} takes",
                    describe(&change),
                    self.changes_topic
                );
                result = Err(Undeliverable {
                    reason,
                    element: element_of(&change),
                });
                continue;
            }
            match self.bus.send(out).await {
                Ok(pending) => self.in_flight.push(pending, origin),
                Err(e) if !e.is_retriable() => {
                    let reason = format!(
                        "the bus refused its graph change ({}): {e}",
                        describe(&change)
                    );
                    result = Err(Undeliverable {
                        reason,
                        element: element_of(&change),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.changes = changes;
        Ok(result)
    }

    async fn emit_barrier(&mut self, m: &SyncMarker) -> Result<(), NormalizerError> {
        // Only a completed sync's kind means anything (see SyncMarker::kind).
        let kind = (m.status == SyncStatus::Completed).then(|| m.kind.as_str());
        tracing::info!(scope = %m.scope, epoch = m.epoch, status = m.status.as_str(), kind, "sync barrier");
        self.metrics.records(m.status.as_str(), "barrier", 1);
        self.changes.push(GraphChange::SyncBarrier(SyncBarrier {
            scope: m.scope.clone(),
            epoch: m.epoch,
            status: m.status,
            reason: m.reason.clone(),
            kind: m.kind,
        }));
        match self.emit_changes(None).await? {
            Ok(()) => Ok(()),
            // A barrier is a few hundred bytes: a bus that refuses one
            // refuses everything, which is no poison message.
            Err(Undeliverable { reason, .. }) => Err(BusError::Delivery {
                topic: self.changes_topic.clone(),
                reason,
                retriable: false,
            }
            .into()),
        }
    }

    /// Commits what every change sent so far came from, once the bus has
    /// acknowledged those changes: all of them with `Wait::All`, or those
    /// acknowledged already. A change the bus refused for good sends the
    /// message it came from to the dead-letter topic, once, and the stage
    /// goes on.
    async fn settle(&mut self, wait: Wait) -> Result<(), NormalizerError> {
        let mut positions = self.offsets.take();
        positions.extend(
            self.barriers
                .commit_positions()
                .into_iter()
                .map(|(partition, next)| Offset {
                    topic: self.sync_topic.clone(),
                    partition,
                    next,
                }),
        );
        self.in_flight.cut(positions);
        while let Some(delivered) = self.in_flight.next(wait).await {
            match delivered {
                Delivered::Fine => {}
                Delivered::Refused { msg, error } => {
                    let reason = format!("the bus refused one of its graph changes: {error}");
                    self.metrics.failure("undeliverable", &reason);
                    self.metrics.records(&msg.topic, "dead-lettered", 1);
                    self.dead.send(&self.bus, &msg, &reason).await?;
                }
                Delivered::Failed(e) => return Err(e.into()),
            }
        }
        // One commit at a time, so they land in order; the loop learns
        // when one ends.
        if self.committing.is_some() {
            if wait == Wait::Done {
                return Ok(());
            }
            let outcome = pending(&mut self.committing).await;
            self.commit_ended(outcome)?;
        }
        let mut offsets = self.in_flight.committable();
        self.keep_owned(&mut offsets)?;
        if !offsets.is_empty() {
            let commit = self.consumer.commit(&offsets);
            self.committing = Some(Box::pin(async move { (offsets, commit.await) }));
            if wait == Wait::All {
                let outcome = pending(&mut self.committing).await;
                self.commit_ended(outcome)?;
            }
        }
        Ok(())
    }

    /// Takes in how the commit under way ended.
    fn commit_ended(&mut self, (offsets, outcome): Committed) -> Result<(), NormalizerError> {
        self.committing = None;
        match outcome {
            Ok(()) => self.in_flight.committed(&offsets),
            // A group that is rebalancing refuses commits until it settles,
            // and a partition that stays here and goes quiet would never be
            // committed again, holding its syncs' barriers forever: the
            // positions go back for the next commit.
            Err(e) if e.is_retriable() => {
                self.metrics.failure("commit", &e);
                self.in_flight.restore(offsets);
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Drops the positions of partitions this instance no longer owns. Their
    /// new owner resumes from the previous commit (some changes repeat, none
    /// is lost); committing them from here could move its commit backwards.
    fn keep_owned(&self, offsets: &mut Vec<Offset>) -> Result<(), NormalizerError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let owned = self.consumer.assignment()?;
        offsets.retain(|o| {
            owned
                .iter()
                .any(|(t, p)| *t == o.topic && *p == o.partition)
        });
        Ok(())
    }

    /// Asks the group how far every partition a waiting barrier depends on
    /// is committed, unless a question or a commit is still under way (its
    /// answer could miss that commit). The answer comes to the loop while
    /// the stage goes on consuming: the broker's round trip held up every
    /// tick while a sync was open.
    fn ask_barriers(&mut self) {
        if self.barriers.waiting() == 0 || self.asking.is_some() || self.committing.is_some() {
            return;
        }
        let partitions = self.barriers.partitions();
        let question = self.consumer.committed(&partitions);
        self.asking = Some(Box::pin(async move { (partitions, question.await) }));
    }

    /// Sends the barriers whose syncs every instance has fully emitted, by
    /// the group's answer.
    async fn release_barriers(
        &mut self,
        (partitions, answer): Answer,
    ) -> Result<(), NormalizerError> {
        self.asking = None;
        let committed = match answer {
            Ok(c) => c,
            // The broker or the group's coordinator is away: ask again at
            // the next tick; the markers wait meanwhile.
            Err(e) if e.is_retriable() => {
                self.metrics.failure("committed offsets", &e);
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let by_partition: HashMap<(String, i32), Option<i64>> =
            partitions.into_iter().zip(committed).collect();
        let ready = self
            .barriers
            .ready(|t, p| by_partition.get(&(t.to_owned(), p)).copied().flatten());
        // The markers' own positions are committed once their barriers
        // are acknowledged, at a later settle: until then a restart reads
        // them again, and a repeated barrier is harmless.
        for pending in &ready {
            self.emit_barrier(&pending.marker).await?;
        }
        self.metrics
            .lag("sync barriers waiting", self.barriers.waiting() as i64);
        Ok(())
    }
}

/// What a change is about, for a dead letter's reason.
fn describe(change: &GraphChange) -> String {
    match element_of(change) {
        Some(Element::Node(n)) => format!("{} {}", n.kind, n.id),
        Some(Element::Edge(e)) => format!(
            "{} from {} {} to {} {}",
            e.rel_type, e.from.kind, e.from.id, e.to.kind, e.to.id
        ),
        None => "a sync barrier".to_owned(),
    }
}

fn element_of(change: &GraphChange) -> Option<Element> {
    match change {
        GraphChange::NodeUpsert(c) => Some(Element::Node(c.node.clone())),
        GraphChange::EdgeUpsert(c) => Some(Element::Edge(c.edge.clone())),
        GraphChange::Touch(c) => Some(c.element.clone()),
        GraphChange::Delete(c) => Some(c.element.clone()),
        GraphChange::SyncBarrier(_) => None,
    }
}

/// Changes of one node share a key, so they keep their order everywhere.
fn change_key(change: &GraphChange) -> Cow<'_, str> {
    fn element_key(e: &Element) -> &str {
        match e {
            Element::Node(n) => &n.id,
            Element::Edge(e) => &e.from.id,
        }
    }
    match change {
        GraphChange::NodeUpsert(c) => Cow::Borrowed(&c.node.id),
        GraphChange::EdgeUpsert(c) => Cow::Borrowed(&c.edge.from.id),
        GraphChange::Touch(c) => Cow::Borrowed(element_key(&c.element)),
        GraphChange::Delete(c) => Cow::Borrowed(element_key(&c.element)),
        GraphChange::SyncBarrier(c) => Cow::Owned(c.scope.to_string()),
    }
}
