//! The consumer loop: gather a batch, apply it in one transaction, run a
//! completed sync's cleanup, and only then commit the bus offsets
//! (at-least-once; MERGE makes a replay harmless).

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::Shared;

use infragraph_bus::{Bus, BusError, Consumer, DeadLetters, OffsetTracker, TopicLayout, TopicSpec};
use infragraph_schemas::{Codec, SyncBarrier, SyncKind, SyncStatus};
use infragraph_telemetry::StageMetrics;

use crate::batch::{Batch, Interrupted, Item, next_batch};
use crate::config::WriterConfig;
use crate::error::{SinkError, WriterError};
use crate::plan::{Segment, plan};
use crate::retry::{Retried, retry};
use crate::sink::{Sink, SyncUpdate};

/// The stage name in metrics, logs and dead letters.
pub const STAGE: &str = "graph-writer";

type Shutdown = Shared<Pin<Box<dyn Future<Output = ()> + Send>>>;

/// Whether to keep going after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Go,
    Stop,
}

/// Consumes graph changes from `bus` and applies them to `sink` until
/// `shutdown` resolves. Creates the pipeline's topics (the changes topic has
/// one partition: log order is apply order) and the dead-letter topic if missing, and the sink's
/// constraints, before the first write. Returns `Ok` on shutdown; an
/// unrecoverable error (misconfiguration, a bus that refuses us) ends it.
pub async fn run<B: Bus, S: Sink>(
    config: WriterConfig,
    layout: TopicLayout,
    bus: B,
    sink: S,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WriterError> {
    let shutdown: Shutdown =
        (Box::pin(shutdown) as Pin<Box<dyn Future<Output = ()> + Send>>).shared();
    let writer = Writer {
        metrics: StageMetrics::global(STAGE),
        dead: DeadLetters::new(layout.names.deadletter(), STAGE),
        changes_topic: layout.names.graph_changes(),
        topics: layout.specs(),
        codec: Codec::builtin(),
        config,
        bus,
        sink,
        shutdown,
    };
    if writer.start().await? == Flow::Stop {
        return Ok(());
    }
    let mut consumer = writer.bus.consumer(
        &writer.config.group,
        std::slice::from_ref(&writer.changes_topic),
    )?;
    tracing::info!(group = %writer.config.group, topic = %writer.changes_topic, "graph writer consuming");
    while writer.step(&mut consumer).await? == Flow::Go {}
    tracing::info!("graph writer stopped");
    Ok(())
}

struct Writer<B, S> {
    config: WriterConfig,
    bus: B,
    sink: S,
    codec: Codec,
    metrics: StageMetrics,
    dead: DeadLetters,
    changes_topic: String,
    /// The whole pipeline's topics: the changes topic has one partition.
    topics: Vec<TopicSpec>,
    shutdown: Shutdown,
}

impl<B: Bus, S: Sink> Writer<B, S> {
    /// Topics, then constraints, each retried while the service is away.
    async fn start(&self) -> Result<Flow, WriterError> {
        let ensured = retry(
            "ensure topics",
            self.config.max_backoff(),
            BusError::is_retriable,
            self.shutdown.clone(),
            |_| {},
            || self.bus.ensure_topics(&self.topics),
        );
        if self.flow(ensured.await)? == Flow::Stop {
            return Ok(Flow::Stop);
        }
        let prepared = match self
            .with_sink_retry("prepare", SinkError::is_retriable, || self.sink.prepare())
            .await
        {
            // Refused credentials end the writer: say whose.
            Retried::Failed(SinkError::Auth(why)) => Retried::Failed(SinkError::Auth(format!(
                "{} refused them: {why}",
                self.sink.describe()
            ))),
            other => other,
        };
        self.flow(prepared)
    }

    fn flow<T, E: Into<WriterError>>(&self, r: Retried<T, E>) -> Result<Flow, WriterError> {
        match r {
            Retried::Done(_) => Ok(Flow::Go),
            Retried::Stopped(()) => Ok(Flow::Stop),
            Retried::Failed(e) => Err(e.into()),
        }
    }

    async fn with_sink_retry<T, Fut: Future<Output = Result<T, SinkError>>>(
        &self,
        what: &'static str,
        retriable: fn(&SinkError) -> bool,
        attempt: impl FnMut() -> Fut,
    ) -> Retried<T, SinkError> {
        // Counted at every attempt; `retry` logs them sparingly.
        let on_retry = |_: &SinkError| self.metrics.count_failure("graph_transient");
        let what = format!("{what} on {}", self.sink.describe());
        retry(
            &what,
            self.config.max_backoff(),
            retriable,
            self.shutdown.clone(),
            on_retry,
            attempt,
        )
        .await
    }

    /// One batch, from receiving to committing.
    async fn step<C: Consumer>(&self, consumer: &mut C) -> Result<Flow, WriterError> {
        let gathered = next_batch(
            consumer,
            &self.codec,
            self.config.batch_size,
            self.config.batch_timeout(),
            self.shutdown.clone(),
        )
        .await;
        let batch = match gathered {
            Ok(b) => b,
            Err(Interrupted::Shutdown) => return Ok(Flow::Stop),
            Err(Interrupted::Bus(e)) if e.is_retriable() => {
                self.metrics.failure("bus_transient", &e);
                return Ok(self.pause(Duration::from_millis(500)).await);
            }
            Err(Interrupted::Bus(e)) => return Err(e.into()),
        };
        if self.handle(&batch).await? == Flow::Stop {
            return Ok(Flow::Stop);
        }
        self.commit(consumer, &batch).await
    }

    async fn pause(&self, d: Duration) -> Flow {
        match infragraph_telemetry::pause(d, self.shutdown.clone()).await {
            infragraph_telemetry::Paused::Stopped => Flow::Stop,
            infragraph_telemetry::Paused::Elapsed => Flow::Go,
        }
    }

    /// Applies a batch and, if it ends with a completed sync, its cleanup.
    async fn handle(&self, batch: &Batch) -> Result<Flow, WriterError> {
        self.record_lag(batch);
        let mut changes = Vec::with_capacity(batch.items.len());
        for item in &batch.items {
            match &item.change {
                Ok(c) if !matches!(c, infragraph_schemas::GraphChange::SyncBarrier(_)) => {
                    changes.push(item)
                }
                Ok(_) => {}
                Err(reason) => {
                    self.metrics.failure("undecodable", reason);
                    if self.dead_letter(item, reason).await? == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                }
            }
        }
        if self.apply_isolating(&changes).await? == Flow::Stop {
            return Ok(Flow::Stop);
        }
        self.barriers(batch).await
    }

    /// Applies `items` in one transaction; when the database rejects it,
    /// halves it until the offending changes stand alone, dead-letters
    /// those and applies the rest.
    fn apply_isolating<'a>(
        &'a self,
        items: &'a [&'a Item],
    ) -> Pin<Box<dyn Future<Output = Result<Flow, WriterError>> + Send + 'a>> {
        Box::pin(async move {
            if items.is_empty() {
                return Ok(Flow::Go);
            }
            let segments = plan(items.iter().filter_map(|i| i.change.as_ref().ok()));
            let started = Instant::now();
            match self
                .with_sink_retry(
                    "apply batch",
                    SinkError::is_retriable_once_connected,
                    || self.sink.apply(&segments),
                )
                .await
            {
                Retried::Done(()) => {
                    let took = started.elapsed();
                    self.metrics.duration("apply_batch", took);
                    self.record_applied(&segments);
                    let statements: usize = segments.iter().map(|s| s.groups.len()).sum();
                    tracing::debug!(
                        changes = items.len(),
                        segments = segments.len(),
                        statements,
                        took_ms = took.as_millis() as u64,
                        "batch applied"
                    );
                    Ok(Flow::Go)
                }
                Retried::Stopped(()) => Ok(Flow::Stop),
                Retried::Failed(e @ SinkError::Rejected(_)) if items.len() == 1 => {
                    self.metrics.failure("rejected_change", &e);
                    self.dead_letter(items[0], &e.to_string()).await
                }
                Retried::Failed(SinkError::Rejected(_)) => {
                    let (left, right) = items.split_at(items.len() / 2);
                    if self.apply_isolating(left).await? == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                    self.apply_isolating(right).await
                }
                Retried::Failed(e) => Err(e.into()),
            }
        })
    }

    /// The batch's barriers, after all its changes are applied: each
    /// completed reconciliation's cleanup in log order (a completed delta
    /// sync has retracted what vanished already, and a failed sync deletes
    /// nothing), then one record of every scope's progress. Changes that
    /// follow a barrier in the batch are applied before its cleanup; that
    /// is safe because a cleanup only drops the scope's assertions older
    /// than its epoch, and what a later change asserts is then kept.
    async fn barriers(&self, batch: &Batch) -> Result<Flow, WriterError> {
        for (b, item) in batch.barriers() {
            if self.cleanup(b, item).await? == Flow::Stop {
                return Ok(Flow::Stop);
            }
        }
        let updates = SyncUpdate::fold(batch.barriers().map(|(b, _)| b));
        if updates.is_empty() {
            return Ok(Flow::Go);
        }
        // After the cleanups: a record says the scope's view is complete.
        let recorded = self
            .with_sink_retry(
                "record syncs",
                SinkError::is_retriable_once_connected,
                || self.sink.record_syncs(&updates),
            )
            .await;
        match recorded {
            Retried::Done(()) => Ok(Flow::Go),
            Retried::Stopped(()) => Ok(Flow::Stop),
            Retried::Failed(SinkError::Rejected(reason)) => {
                self.metrics.failure("record_sync_rejected", &reason);
                Ok(Flow::Go)
            }
            Retried::Failed(e) => Err(e.into()),
        }
    }

    async fn cleanup(&self, b: &SyncBarrier, item: &Item) -> Result<Flow, WriterError> {
        match b.status {
            SyncStatus::Completed if b.kind == SyncKind::Delta => {
                self.metrics.records("barrier", "delta_sync", 1);
                return Ok(Flow::Go);
            }
            SyncStatus::Completed => {}
            SyncStatus::Failed => {
                tracing::info!(scope = %b.scope, epoch = b.epoch, reason = ?b.reason, "sync failed: nothing cleaned up");
                self.metrics.records("barrier", "failed_sync_kept", 1);
                return Ok(Flow::Go);
            }
            SyncStatus::Started => return Ok(Flow::Go),
        }
        let started = Instant::now();
        let batch = self.config.cleanup_batch;
        match self
            .with_sink_retry("cleanup", SinkError::is_retriable_once_connected, || {
                self.sink.cleanup(&b.scope, b.epoch, batch)
            })
            .await
        {
            Retried::Done(r) => {
                let took = started.elapsed();
                self.metrics.duration("cleanup", took);
                self.metrics.records("cleanup", "unasserted", r.unasserted);
                self.metrics
                    .records("cleanup", "nodes_deleted", r.nodes_deleted);
                self.metrics
                    .records("cleanup", "edges_deleted", r.edges_deleted);
                tracing::info!(scope = %b.scope, epoch = b.epoch, unasserted = r.unasserted, nodes_deleted = r.nodes_deleted,
                    edges_deleted = r.edges_deleted, took_ms = took.as_millis() as u64, "cleanup done");
                Ok(Flow::Go)
            }
            Retried::Stopped(()) => Ok(Flow::Stop),
            Retried::Failed(SinkError::Rejected(reason)) => {
                self.metrics.failure("cleanup_rejected", &reason);
                self.dead_letter(item, &format!("cleanup rejected: {reason}"))
                    .await
            }
            Retried::Failed(e) => Err(e.into()),
        }
    }

    async fn dead_letter(&self, item: &Item, reason: &str) -> Result<Flow, WriterError> {
        let sent = retry(
            "dead-letter",
            self.config.max_backoff(),
            BusError::is_retriable,
            self.shutdown.clone(),
            |_| {},
            || self.dead.send(&self.bus, &item.message, reason),
        );
        self.flow(sent.await)
    }

    /// Commits the batch's offsets; the graph already holds its changes.
    async fn commit<C: Consumer>(
        &self,
        consumer: &mut C,
        batch: &Batch,
    ) -> Result<Flow, WriterError> {
        let mut tracker = OffsetTracker::default();
        batch
            .items
            .iter()
            .for_each(|i| tracker.processed(&i.message));
        let offsets = tracker.take();
        let mut backoff = crate::retry::schedule(self.config.max_backoff())
            .backoff
            .waits();
        loop {
            match consumer.commit(&offsets).await {
                Ok(()) => return Ok(Flow::Go),
                // The batch is in the graph: a replay of it changes nothing.
                Err(e) if e.is_commit_superseded() => {
                    self.metrics.failure("commit_superseded", &e);
                    return Ok(Flow::Go);
                }
                Err(e) if e.is_retriable() => {
                    self.metrics.failure("commit_transient", &e);
                    if self.pause(backoff.pause()).await == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn record_applied(&self, segments: &[Segment]) {
        for group in segments.iter().flat_map(|s| s.groups.iter()) {
            self.metrics
                .records(group.name(), group.op().outcome(), group.len() as u64);
        }
    }

    /// How old the newest message of the batch is, in ms.
    fn record_lag(&self, batch: &Batch) {
        let newest = batch
            .items
            .iter()
            .filter_map(|i| i.message.timestamp_ms)
            .max();
        let now = infragraph_telemetry::now_ms();
        if let Some(ts) = newest {
            self.metrics.lag(&self.changes_topic, (now - ts).max(0));
        }
    }
}
