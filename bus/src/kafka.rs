//! The bus over Kafka (librdkafka): an idempotent producer keyed by
//! resource id, and group consumers that commit only what was processed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message as _, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{Offset as KOffset, TopicPartitionList};

use crate::config::KafkaArgs;
use crate::kafka_log::LogContext;
use crate::{
    Bus, BusError, Consumer, Delivery, Message, Offset, OutMessage, PendingDelivery, TopicSpec,
};

/// Faults a retry can outlive: the broker away, slow or electing a leader.
fn retriable(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        code,
        MessageTimedOut
            | QueueFull
            | BrokerTransportFailure
            | AllBrokersDown
            | RequestTimedOut
            | NetworkException
            | NotEnoughReplicas
            | NotEnoughReplicasAfterAppend
            | LeaderNotAvailable
            | NotLeaderForPartition
            | NotCoordinator
            | CoordinatorNotAvailable
            | CoordinatorLoadInProgress
            | WaitingForCoordinator
            | RebalanceInProgress
            | OperationTimedOut
            // The group moved on while we committed: the new owner re-reads
            // from the last commit, so giving up this commit loses nothing.
            | IllegalGeneration
            | UnknownMemberId
            | AssignmentLost
    )
}

/// librdkafka's default `message.max.bytes`: what the producer refuses
/// above unless told otherwise.
const PRODUCER_MAX_MESSAGE_BYTES: usize = 1_000_000;

/// The group refused a commit because it rebalances or moved on without us.
fn superseded(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        code,
        RebalanceInProgress | IllegalGeneration | UnknownMemberId | AssignmentLost
    )
}

/// The librdkafka code of an error, an admin operation's included (which
/// rdkafka's own accessor leaves out).
fn code_of(e: &KafkaError) -> Option<RDKafkaErrorCode> {
    match e {
        KafkaError::AdminOp(code) => Some(*code),
        other => other.rdkafka_error_code(),
    }
}

impl From<KafkaError> for BusError {
    /// Sorted here, while the error's code is at hand: the bus's generic
    /// API keeps only the verdicts.
    fn from(source: KafkaError) -> Self {
        let retriable = code_of(&source).is_some_and(retriable);
        // rdkafka's own accessor: an admin operation's code never means a
        // refused commit.
        let superseded = source.rdkafka_error_code().is_some_and(superseded);
        BusError::Kafka {
            source: Box::new(source),
            retriable,
            superseded,
        }
    }
}

#[derive(Clone)]
pub struct KafkaBus {
    producer: FutureProducer<LogContext>,
    args: Arc<KafkaArgs>,
    /// Every client of this bus logs through one throttle.
    context: LogContext,
}

/// An admin request's whole time, connecting included: with no broker, the
/// default (a minute) holds a one-off run that long for nothing.
const ADMIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl KafkaBus {
    /// Creates the producer. librdkafka connects lazily, so an unreachable
    /// broker shows up as delivery errors, which are retriable.
    pub fn connect(args: &KafkaArgs) -> Result<Self, BusError> {
        let mut cfg = Self::base_config(args)?;
        cfg.set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .set("queue.buffering.max.messages", "1000000")
            .set("message.timeout.ms", "60000");
        Self::apply_settings(&mut cfg, args);
        let context = LogContext::new(args.brokers.as_deref().unwrap_or_default());
        let producer = cfg
            .create_with_context(context.clone())
            .map_err(BusError::from)?;
        Ok(KafkaBus {
            producer,
            args: Arc::new(args.clone()),
            context,
        })
    }

    fn base_config(args: &KafkaArgs) -> Result<ClientConfig, BusError> {
        let brokers = args.brokers.as_deref().ok_or_else(|| BusError::Config {
            key: "--kafka-brokers".into(),
            reason: "no brokers given (flag or INFRAGRAPH_KAFKA_BROKERS)".into(),
        })?;
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", brokers);
        Ok(cfg)
    }

    /// User settings go last so they override our defaults.
    fn apply_settings(cfg: &mut ClientConfig, args: &KafkaArgs) {
        for (k, v) in args.all_settings() {
            cfg.set(k, v);
        }
    }

    /// Asks the brokers for cluster metadata: `Ok` when one answers within
    /// `timeout` (health readiness).
    pub async fn probe(&self, timeout: Duration) -> Result<(), String> {
        let producer = self.producer.clone();
        let brokers = self.args.brokers.clone().unwrap_or_default();
        let answered = tokio::task::spawn_blocking(move || {
            rdkafka::producer::Producer::client(&producer)
                .fetch_metadata(None, timeout)
                .map(|m| m.brokers().len())
        })
        .await
        .map_err(|e| format!("the metadata request did not finish: {e}"))?;
        match answered {
            Ok(_) => Ok(()),
            Err(e) => Err(format!(
                "no broker of {brokers} answered a metadata request: {e}"
            )),
        }
    }

    pub fn args(&self) -> &KafkaArgs {
        &self.args
    }

    fn admin(&self) -> Result<AdminClient<LogContext>, BusError> {
        let mut cfg = Self::base_config(&self.args)?;
        Self::apply_settings(&mut cfg, &self.args);
        Ok(cfg.create_with_context(self.context.clone())?)
    }

    /// The producer's own `message.max.bytes`, as set with `-X` or left at
    /// librdkafka's default.
    fn producer_max_message_bytes(&self) -> usize {
        let set = self
            .args
            .all_settings()
            .into_iter()
            .rev()
            .find(|(k, _)| k == "message.max.bytes");
        set.and_then(|(_, v)| v.parse().ok())
            .unwrap_or(PRODUCER_MAX_MESSAGE_BYTES)
    }

    /// Waits until every queued message is delivered or `timeout` passes.
    pub fn flush(&self, timeout: Duration) -> Result<(), BusError> {
        use rdkafka::producer::Producer;
        self.producer.flush(timeout).map_err(BusError::from)
    }
}

fn delivery_error(topic: &str, err: KafkaError) -> BusError {
    let retriable = code_of(&err).is_some_and(retriable);
    BusError::Delivery {
        topic: topic.to_owned(),
        reason: err.to_string(),
        retriable,
    }
}

/// A message librdkafka has queued, until it reports the delivery; what
/// [`PendingDelivery`] wraps, so the bus's generic API names no rdkafka type.
pub(crate) struct Delivering(DeliveryFuture);

impl Future for Delivering {
    type Output = Result<Delivery, BusError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(delivered)
    }
}

/// What librdkafka reported for one message, in the bus's terms. A failed
/// message comes back whole, so the error can name its topic.
fn delivered(
    report: Result<
        rdkafka::producer::future_producer::OwnedDeliveryResult,
        futures::channel::oneshot::Canceled,
    >,
) -> Result<Delivery, BusError> {
    match report {
        Ok(Ok(d)) => Ok(Delivery {
            partition: d.partition,
            offset: d.offset,
        }),
        Ok(Err((err, msg))) => Err(delivery_error(msg.topic(), err)),
        // The producer went away with the message still queued.
        Err(_) => Err(BusError::Closed),
    }
}

impl Bus for KafkaBus {
    type Consumer = KafkaConsumer;

    async fn max_message_bytes(&self, topic: &str) -> Result<Option<usize>, BusError> {
        let admin = self.admin()?;
        let opts = AdminOptions::new().request_timeout(Some(ADMIN_REQUEST_TIMEOUT));
        let described = admin
            .describe_configs(&[ResourceSpecifier::Topic(topic)], &opts)
            .await?;
        let topic_max = match described.into_iter().next() {
            Some(Ok(resource)) => resource
                .get("max.message.bytes")
                .and_then(|e| e.value.as_deref())
                .and_then(|v| v.parse::<usize>().ok()),
            Some(Err(code)) => return Err(KafkaError::AdminOp(code).into()),
            None => None,
        };
        let producer_max = self.producer_max_message_bytes();
        Ok(Some(
            topic_max.map_or(producer_max, |t| t.min(producer_max)),
        ))
    }

    async fn ensure_topics(&self, topics: &[TopicSpec]) -> Result<(), BusError> {
        let admin = self.admin()?;
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|t| {
                let topic = NewTopic::new(
                    &t.name,
                    t.partitions,
                    TopicReplication::Fixed(t.replication),
                );
                if t.compacted {
                    topic.set("cleanup.policy", "compact")
                } else {
                    topic
                }
            })
            .collect();
        let opts = AdminOptions::new()
            .operation_timeout(Some(ADMIN_REQUEST_TIMEOUT))
            .request_timeout(Some(ADMIN_REQUEST_TIMEOUT));
        for result in admin.create_topics(&new, &opts).await? {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(BusError::from(KafkaError::AdminOp(code))).inspect_err(
                        |e| tracing::error!(topic = %name, error = %e, "cannot create topic"),
                    );
                }
            }
        }
        Ok(())
    }

    async fn send(&self, msg: OutMessage<'_>) -> Result<PendingDelivery, BusError> {
        let mut record = FutureRecord::to(msg.topic)
            .key(msg.key)
            .payload(msg.payload);
        // An empty header list still costs an allocation per message.
        if !msg.headers.is_empty() {
            let mut headers = OwnedHeaders::new_with_capacity(msg.headers.len());
            for (key, value) in msg.headers {
                headers = headers.insert(Header {
                    key,
                    value: Some(*value),
                });
            }
            record = record.headers(headers);
        }
        loop {
            match self.producer.send_result(record) {
                Ok(future) => return Ok(PendingDelivery::kafka(Delivering(future))),
                // The local queue is full: wait for deliveries to drain it.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err((err, _)) => return Err(delivery_error(msg.topic, err)),
            }
        }
    }

    async fn group_committed(
        &self,
        group: &str,
        partitions: &[(String, i32)],
    ) -> Result<Vec<Option<i64>>, BusError> {
        let mut cfg = Self::base_config(&self.args)?;
        cfg.set("group.id", group)
            .set("enable.auto.commit", "false");
        Self::apply_settings(&mut cfg, &self.args);
        // Never subscribed: it reads the group's offsets without joining it.
        let outsider: Arc<rdkafka::consumer::BaseConsumer<LogContext>> =
            Arc::new(cfg.create_with_context(self.context.clone())?);
        committed_offsets(outsider, partitions.to_vec()).await
    }

    fn consumer(&self, group: &str, topics: &[String]) -> Result<KafkaConsumer, BusError> {
        let mut cfg = Self::base_config(&self.args)?;
        cfg.set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            // Round-robin deals every topic's partitions in turn, so each
            // member gets its share of each kind of observation: the
            // cooperative-sticky assignor balances only the count over all
            // topics, and at 200 hosts left one of two normalizers with
            // none of the busy partitions. Its price, a short pause for the
            // whole group when a member joins or leaves, is paid rarely.
            .set("partition.assignment.strategy", "roundrobin")
            // librdkafka answers a fetch as soon as one byte is there, so a
            // steady trickle becomes a fetch per few messages: at 200 hosts
            // that cost the broker and the normalizers more CPU than the
            // graph got. Fuller fetches, at most 100 ms late per stage.
            .set("fetch.min.bytes", "65536")
            .set("fetch.wait.max.ms", "100");
        Self::apply_settings(&mut cfg, &self.args);
        let consumer: StreamConsumer<LogContext> = cfg.create_with_context(self.context.clone())?;
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names)?;
        Ok(KafkaConsumer {
            inner: Arc::new(consumer),
            away: false,
        })
    }
}

/// The committed positions of `consumer`'s group; the broker call blocks,
/// so it runs off the async workers.
fn committed_offsets<C>(
    consumer: Arc<C>,
    partitions: Vec<(String, i32)>,
) -> impl Future<Output = Result<Vec<Option<i64>>, BusError>> + Send + 'static
where
    C: rdkafka::consumer::Consumer<LogContext> + Send + Sync + 'static,
{
    let mut tpl = TopicPartitionList::new();
    for (topic, partition) in &partitions {
        tpl.add_partition(topic, *partition);
    }
    let asked = tokio::task::spawn_blocking(move || {
        consumer.committed_offsets(tpl, Duration::from_secs(10))
    });
    async move {
        let got = asked.await.map_err(|_| BusError::Closed)??;
        Ok(positions(&got, &partitions))
    }
}

/// The offset `got` holds for each of `partitions`, in their order.
fn positions(got: &TopicPartitionList, partitions: &[(String, i32)]) -> Vec<Option<i64>> {
    partitions
        .iter()
        .map(
            |(t, p)| match got.find_partition(t, *p).map(|e| e.offset()) {
                Some(KOffset::Offset(o)) => Some(o),
                _ => None,
            },
        )
        .collect()
}

/// A member of a consumer group on Kafka.
pub struct KafkaConsumer {
    inner: Arc<StreamConsumer<LogContext>>,
    /// Set while the broker is out of reach, so an outage is reported once
    /// when it starts and once when it ends.
    away: bool,
}

impl KafkaConsumer {
    /// The next message, waiting through faults librdkafka recovers from
    /// by itself (a broker away or restarting, a coordinator moving).
    async fn next(&mut self) -> Result<rdkafka::message::BorrowedMessage<'_>, BusError> {
        loop {
            match self.inner.recv().await {
                Ok(m) => {
                    if std::mem::take(&mut self.away) {
                        tracing::info!("consuming again: the broker is back");
                    }
                    return Ok(m);
                }
                // A topic created a moment ago may not be in this client's
                // metadata yet; librdkafka says so and keeps the
                // subscription, which picks the topic up once it is seen.
                Err(KafkaError::MessageConsumption(RDKafkaErrorCode::UnknownTopicOrPartition)) => {
                    tracing::debug!(
                        "a subscribed topic is not in the broker's metadata yet; waiting for it"
                    );
                }
                Err(e) => {
                    let e = BusError::from(e);
                    if !e.is_retriable() {
                        return Err(e);
                    }
                    if !std::mem::replace(&mut self.away, true) {
                        tracing::warn!(error = %e, "the broker is out of reach; the consumer waits for it");
                    }
                }
            }
        }
    }
}

type Commit = tokio::task::JoinHandle<Result<(), KafkaError>>;

impl KafkaConsumer {
    /// Starts a synchronous commit off the async workers (it blocks on the
    /// broker's answer); `None` when there is nothing to commit.
    fn start_commit(&self, offsets: &[Offset]) -> Result<Option<Commit>, BusError> {
        if offsets.is_empty() {
            return Ok(None);
        }
        let mut tpl = TopicPartitionList::new();
        for o in offsets {
            tpl.add_partition_offset(&o.topic, o.partition, KOffset::Offset(o.next))?;
        }
        let inner = self.inner.clone();
        Ok(Some(tokio::task::spawn_blocking(move || {
            inner.commit(&tpl, CommitMode::Sync)
        })))
    }
}

impl Consumer for KafkaConsumer {
    async fn recv(&mut self) -> Result<Message, BusError> {
        let m = self.next().await?;
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Message {
            topic: m.topic().to_owned(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().unwrap_or_default().to_vec(),
            headers,
            timestamp_ms: m.timestamp().to_millis(),
        })
    }

    fn commit(
        &mut self,
        offsets: &[Offset],
    ) -> impl Future<Output = Result<(), BusError>> + Send + 'static {
        let started = self.start_commit(offsets);
        async move {
            match started {
                Ok(Some(commit)) => commit
                    .await
                    .map_err(|_| BusError::Closed)?
                    .map_err(BusError::from),
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            }
        }
    }

    fn committed(
        &self,
        partitions: &[(String, i32)],
    ) -> impl Future<Output = Result<Vec<Option<i64>>, BusError>> + Send + 'static {
        committed_offsets(self.inner.clone(), partitions.to_vec())
    }

    fn assignment(&self) -> Result<Vec<(String, i32)>, BusError> {
        let tpl = self.inner.assignment()?;
        Ok(tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_errors_are_sorted_where_they_are_caught() {
        let produce = |code| BusError::from(KafkaError::MessageProduction(code));
        let timed_out = produce(RDKafkaErrorCode::MessageTimedOut);
        assert!(timed_out.is_retriable() && !timed_out.is_commit_superseded());
        assert!(!produce(RDKafkaErrorCode::MessageSizeTooLarge).is_retriable());
        let refused = BusError::from(KafkaError::ConsumerCommit(
            RDKafkaErrorCode::IllegalGeneration,
        ));
        assert!(refused.is_retriable() && refused.is_commit_superseded());
        let admin = BusError::from(KafkaError::AdminOp(RDKafkaErrorCode::RebalanceInProgress));
        assert!(
            admin.is_retriable() && !admin.is_commit_superseded(),
            "an admin operation's code never means a refused commit"
        );
        assert_eq!(
            timed_out.to_string(),
            format!(
                "kafka: {}",
                KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut)
            )
        );
    }

    #[test]
    fn the_generic_api_names_no_rdkafka_type() {
        let needle = concat!("rdkafka", "::");
        for (file, text) in [
            ("lib.rs", include_str!("lib.rs")),
            ("memory.rs", include_str!("memory.rs")),
            ("deadletter.rs", include_str!("deadletter.rs")),
            ("layout.rs", include_str!("layout.rs")),
            ("config.rs", include_str!("config.rs")),
        ] {
            assert!(
                !text.contains(needle),
                "{file} names an rdkafka type: keep Kafka specifics in kafka.rs"
            );
        }
    }
}
