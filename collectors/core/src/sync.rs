//! One sync of one collector: a STARTED marker, every observation keyed by
//! resource id on its type's topic, deliveries counted per partition, then a
//! COMPLETED marker with those counts, or a FAILED one with the reason.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use infragraph_bus::{Bus, BusError, OutMessage, PendingDelivery, TopicLayout};
use infragraph_schemas::{
    Codec, Observation, ResourceKind, ScopeRef, SyncKind, SyncMarker, SyncStatus, TopicCount,
};
use infragraph_telemetry::{StageMetrics, stop_signal};
use tokio::sync::watch;

use crate::clock::{Clock, SystemClock};
use crate::collector::{Collector, SyncContext};
use crate::delta::{DEFAULT_RECONCILE_INTERVAL, ScopeMemory};
use crate::error::{SetupError, SyncError};
use crate::retry::RetryPolicy;
use crate::setup::prepare;

/// What a completed sync delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub scope: ScopeRef,
    pub epoch: i64,
    pub kind: SyncKind,
    /// Observations delivered, per resource type (retractions included).
    pub published: BTreeMap<ResourceKind, u64>,
    /// Observations delivered per topic partition, as in the COMPLETED marker.
    pub counts: Vec<TopicCount>,
}

impl SyncReport {
    pub fn total(&self) -> u64 {
        self.published.values().sum()
    }
}

/// How long a sync stopped by shutdown may spend publishing its FAILED
/// marker: a stopping collector exits within seconds even when the bus is
/// gone, and the missing COMPLETED marker already keeps it from cleanup.
const FAILED_MARKER_ON_SHUTDOWN: Duration = Duration::from_secs(3);

/// Runs `work` unless `shutdown` turns true first.
async fn unless_stopped<T>(
    shutdown: &watch::Receiver<bool>,
    work: impl std::future::Future<Output = Result<T, SyncError>>,
) -> Result<T, SyncError> {
    tokio::select! {
        biased;
        () = stop_signal(shutdown) => Err(SyncError::Interrupted),
        r = work => r,
    }
}

/// One observation, encoded and ready to send.
struct Encoded {
    kind: ResourceKind,
    topic: String,
    key: String,
    payload: Vec<u8>,
}

impl Encoded {
    fn message(&self) -> OutMessage<'_> {
        OutMessage::new(&self.topic, self.key.as_bytes(), &self.payload)
    }
}

/// Per (resource kind, partition): observations delivered and the highest
/// offset. Each kind has one topic, named when the marker is written.
type Counts = BTreeMap<(ResourceKind, i32), (i64, i64)>;

/// Runs syncs against one bus. Cheap to share across collectors.
#[derive(Clone)]
pub struct Syncer<B: Bus> {
    bus: B,
    codec: Arc<Codec>,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
    layout: TopicLayout,
    metrics: StageMetrics,
    reconcile_every: Duration,
    /// What each scope's syncs published since this process started.
    memory: Arc<Mutex<HashMap<ScopeRef, ScopeMemory>>>,
}

impl<B: Bus> Syncer<B> {
    /// A syncer with the system clock, the default retry policy and topic
    /// layout, and the process-wide metrics.
    pub fn new(bus: B) -> Self {
        Syncer {
            bus,
            codec: Arc::new(Codec::builtin()),
            clock: Arc::new(SystemClock),
            retry: RetryPolicy::default(),
            layout: TopicLayout::default(),
            metrics: StageMetrics::global(crate::STAGE),
            reconcile_every: DEFAULT_RECONCILE_INTERVAL,
            memory: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Time between reconciliations of each scope (see [`crate::delta`]).
    pub fn with_reconcile_interval(mut self, every: Duration) -> Self {
        self.reconcile_every = every;
        self
    }

    fn remember<T>(&self, scope: &ScopeRef, f: impl FnOnce(&mut ScopeMemory) -> T) -> T {
        let mut memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        f(memory.entry(scope.clone()).or_default())
    }

    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn with_layout(mut self, layout: TopicLayout) -> Self {
        self.layout = layout;
        self
    }

    pub fn with_codec(mut self, codec: Arc<Codec>) -> Self {
        self.codec = codec;
        self
    }

    pub fn with_metrics(mut self, metrics: StageMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn bus(&self) -> &B {
        &self.bus
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// Creates the topics and publishes the writer schemas.
    pub async fn prepare(&self) -> Result<(), SetupError> {
        prepare(
            &self.bus,
            &self.layout,
            &self.codec,
            &self.retry,
            &self.metrics,
        )
        .await
    }

    /// Runs one sync of `collector`. On failure a FAILED marker is published
    /// (retried like everything else) and the error returned; it is also
    /// logged and counted here, so callers need not.
    pub async fn sync<C: Collector>(&self, collector: &C) -> Result<SyncReport, SyncError> {
        let (_running, never) = watch::channel(false);
        self.sync_until(collector, &never).await
    }

    /// [`Syncer::sync`], cut short when `shutdown` turns true: whatever the
    /// sync waits for (a rate limit's reset, a retry's backoff, the bus),
    /// it ends at once as FAILED ([`SyncError::Interrupted`]), and deletes
    /// nothing.
    pub async fn sync_until<C: Collector>(
        &self,
        collector: &C,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<SyncReport, SyncError> {
        let scope = ScopeRef::new(collector.source(), collector.scope());
        let epoch = self.clock.now_ms();
        let started = Instant::now();
        let result = self.attempt(collector, &scope, epoch, shutdown).await;
        self.metrics.duration("sync", started.elapsed());
        match result {
            Ok(report) => {
                tracing::info!(scope = %scope, epoch, observations = report.total(), took_ms = started.elapsed().as_millis() as u64, "sync completed");
                Ok(report)
            }
            Err(err @ SyncError::Interrupted) => {
                self.metrics.failure(err.reason(), &err);
                tracing::warn!(scope = %scope, epoch, "sync stopped by shutdown; marking it failed");
                if tokio::time::timeout(
                    FAILED_MARKER_ON_SHUTDOWN,
                    self.publish_failed(&scope, epoch, &err),
                )
                .await
                .is_err()
                {
                    tracing::warn!(scope = %scope, epoch, "the FAILED marker was not delivered before shutdown");
                }
                Err(err)
            }
            Err(err) => {
                self.metrics.failure(err.reason(), &err);
                tracing::error!(scope = %scope, epoch, error = %err, "sync failed");
                self.publish_failed(&scope, epoch, &err).await;
                Err(err)
            }
        }
    }

    /// Each step is cut short by shutdown on its own: once a plan is made,
    /// an interrupted publish must still be remembered as failed.
    async fn attempt<C: Collector>(
        &self,
        collector: &C,
        scope: &ScopeRef,
        epoch: i64,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<SyncReport, SyncError> {
        let started = self.publish_marker(
            scope,
            epoch,
            SyncStatus::Started,
            None,
            Vec::new(),
            SyncKind::default(),
        );
        unless_stopped(shutdown, started).await?;
        let ctx = SyncContext::new(scope.clone(), epoch, self.clock.clone());
        let collect_start = Instant::now();
        let collected = async {
            collector
                .collect(&ctx)
                .await
                .map_err(|e| SyncError::Collect(Box::new(e)))
        };
        let mut observations = unless_stopped(shutdown, collected).await?;
        self.bound(&mut observations);
        // A sync that failed to observe retracts nothing: it has no plan.
        let plan = self.remember(scope, |m| {
            m.plan(scope, epoch, self.reconcile_every, &mut observations)
        });
        self.metrics.duration("collect", collect_start.elapsed());
        let kind = plan.kind;
        match unless_stopped(shutdown, self.publish(scope, epoch, &observations, kind)).await {
            Ok(report) => {
                self.remember(scope, |m| m.completed(plan, epoch));
                Ok(report)
            }
            Err(e) => {
                self.remember(scope, |m| m.failed(plan));
                Err(e)
            }
        }
    }

    /// Cuts oversized values (see [`crate::bound`]), counting what was cut.
    fn bound(&self, observations: &mut [Observation]) {
        for obs in observations {
            let cut = crate::bound::bound(obs);
            if cut > 0 {
                self.metrics.records(obs.kind.as_str(), "cut", cut as u64);
                tracing::warn!(kind = %obs.kind, id = %obs.id, values = cut, "oversized values cut before publishing");
            }
        }
    }

    async fn publish(
        &self,
        scope: &ScopeRef,
        epoch: i64,
        observations: &[Observation],
        kind: SyncKind,
    ) -> Result<SyncReport, SyncError> {
        // Encode everything before sending anything: an invalid observation
        // fails the sync before any of it reaches the bus.
        let encoded = self.encode_all(observations)?;
        let counts = self.deliver(&encoded).await?;
        let counts: Vec<TopicCount> = counts
            .into_iter()
            .map(|((kind, partition), (count, last_offset))| TopicCount {
                topic: self.layout.names.observations(kind),
                partition,
                count,
                last_offset,
            })
            .collect();
        self.publish_marker(
            scope,
            epoch,
            SyncStatus::Completed,
            None,
            counts.clone(),
            kind,
        )
        .await?;
        let mut published = BTreeMap::new();
        for e in &encoded {
            *published.entry(e.kind).or_insert(0u64) += 1;
        }
        for (kind, n) in &published {
            self.metrics.records(kind.as_str(), "published", *n);
        }
        Ok(SyncReport {
            scope: scope.clone(),
            epoch,
            kind,
            published,
            counts,
        })
    }

    fn encode_all(&self, observations: &[Observation]) -> Result<Vec<Encoded>, SyncError> {
        observations
            .iter()
            .map(|obs| {
                let payload =
                    self.codec
                        .encode_observation(obs)
                        .map_err(|source| SyncError::Encode {
                            kind: obs.kind.to_string(),
                            id: obs.id.clone(),
                            source,
                        })?;
                Ok(Encoded {
                    kind: obs.kind,
                    topic: self.layout.names.observations(obs.kind),
                    key: obs.id.clone(),
                    payload,
                })
            })
            .collect()
    }

    /// Sends every message in order, then waits for every delivery. Messages
    /// whose delivery failed with a retriable error are sent again, in their
    /// original order, after a backoff; a resend may duplicate a message the
    /// broker did take, which consumers tolerate (delivery is at-least-once).
    async fn deliver(&self, msgs: &[Encoded]) -> Result<Counts, SyncError> {
        let mut counts = Counts::new();
        let mut todo: Vec<usize> = (0..msgs.len()).collect();
        let mut round = 1;
        loop {
            let pending = self.send_all(msgs, &todo).await?;
            let (failed, last) = Self::await_all(msgs, pending, &mut counts).await?;
            let Some(err) = last else { return Ok(counts) };
            let Some(wait) = self.retry.schedule().wait_after(round) else {
                return Err(SyncError::Delivery {
                    failed: failed.len(),
                    total: msgs.len(),
                    source: err,
                });
            };
            self.metrics.failure("delivery_retry", &err);
            tracing::warn!(failed = failed.len(), total = msgs.len(), round, retry_in_ms = wait.as_millis() as u64, error = %err, "deliveries failed, resending");
            tokio::time::sleep(wait).await;
            round += 1;
            todo = failed;
        }
    }

    async fn send_all(
        &self,
        msgs: &[Encoded],
        todo: &[usize],
    ) -> Result<Vec<(usize, PendingDelivery)>, SyncError> {
        let mut pending = Vec::with_capacity(todo.len());
        for &i in todo {
            let msg = msgs[i].message();
            let p = self
                .retry
                .run(&self.metrics, "send", || self.bus.send(msg))
                .await
                .map_err(|source| SyncError::Delivery {
                    failed: todo.len() - pending.len(),
                    total: msgs.len(),
                    source,
                })?;
            pending.push((i, p));
        }
        Ok(pending)
    }

    /// Counts what was delivered; returns what failed retriably and the last
    /// such error. A non-retriable failure ends the sync at once.
    async fn await_all(
        msgs: &[Encoded],
        pending: Vec<(usize, PendingDelivery)>,
        counts: &mut Counts,
    ) -> Result<(Vec<usize>, Option<BusError>), SyncError> {
        let total = msgs.len();
        let mut failed = Vec::new();
        let mut last = None;
        for (i, p) in pending {
            match p.await {
                Ok(d) => {
                    let entry = counts
                        .entry((msgs[i].kind, d.partition))
                        .or_insert((0, d.offset));
                    entry.0 += 1;
                    entry.1 = entry.1.max(d.offset);
                }
                Err(e) if e.is_retriable() => {
                    failed.push(i);
                    last = Some(e);
                }
                Err(source) => {
                    return Err(SyncError::Delivery {
                        failed: failed.len() + 1,
                        total,
                        source,
                    });
                }
            }
        }
        Ok((failed, last))
    }

    async fn publish_marker(
        &self,
        scope: &ScopeRef,
        epoch: i64,
        status: SyncStatus,
        reason: Option<String>,
        counts: Vec<TopicCount>,
        kind: SyncKind,
    ) -> Result<(), SyncError> {
        let marker = SyncMarker {
            scope: scope.clone(),
            epoch,
            status,
            reason,
            counts,
            emitted_at: self.clock.now_ms(),
            kind,
        };
        let payload = self
            .codec
            .encode_sync_marker(&marker)
            .map_err(SyncError::Marker)?;
        let key = scope.to_string();
        let sync_topic = self.layout.names.sync();
        let msg = OutMessage::new(&sync_topic, key.as_bytes(), &payload);
        self.retry
            .run(&self.metrics, "publish_marker", || self.bus.publish(msg))
            .await
            .map(|_| ())
            .map_err(|source| SyncError::PublishMarker {
                status: status.as_str(),
                source,
            })
    }

    /// Best effort by nature: if even this fails, the bus is gone, and the
    /// missing COMPLETED marker already keeps the sync from cleaning up.
    async fn publish_failed(&self, scope: &ScopeRef, epoch: i64, err: &SyncError) {
        if let Err(e) = self
            .publish_marker(
                scope,
                epoch,
                SyncStatus::Failed,
                Some(err.to_string()),
                Vec::new(),
                SyncKind::default(),
            )
            .await
        {
            tracing::error!(scope = %scope, epoch, error = %e, "the FAILED marker could not be published either");
        }
    }
}
