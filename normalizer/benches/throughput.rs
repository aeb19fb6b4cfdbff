//! Normalizer throughput, three figures from one run:
//!
//! 1. in process: decode, validate, merge and encode the changes, one core,
//!    no bus (first sync: all upserts; resync: all touches), medians of
//!    five rounds;
//! 2. through the broker: the normalizer stage consuming a published sync
//!    and producing its changes, until the sync barrier comes out;
//! 3. the broker's raw rate for the same work: a bare librdkafka consumer
//!    forwarding every message of the same size to another topic.
//!
//! Prints each rate and the ratio of (2) to (3). Needs a broker for (2) and
//! (3): INFRAGRAPH_TEST_KAFKA or `-- --brokers HOST:PORT`; `-- --count N`
//! sets the number of observations (default 200000); `-- --only stage` runs
//! (2) alone, for a profiler.
//! Run: `scripts/bench normalizer` (see BENCHMARKS.md).

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// The allocator the binaries run with (infragraph/src/main.rs), so the
/// figures are the deployed code's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use infragraph_bus::{Bus, KafkaArgs, KafkaBus, OutMessage, TopicLayout, TopicSpec};
use infragraph_collector::{Collector, ManualClock, SyncContext, Syncer};
use infragraph_normalizer::{Merger, NormalizerArgs, Outcome, run, validate};
use infragraph_schemas::*;
use rdkafka::ClientConfig;
use rdkafka::TopicPartitionList;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _, StreamConsumer};
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// A realistic sync: 1 host, processes with their parent and host edges.
fn observations(count: usize, epoch: i64, previous: Option<i64>) -> Vec<Observation> {
    let scope = ScopeRef::new("bench", "host:bench");
    (0..count)
        .map(|i| {
            let mut o = Observation::new(
                scope.clone(),
                epoch,
                epoch,
                ResourceKind::Process,
                format!("bench/{i}/1000"),
            )
            .with("host_id", "bench")
            .with("pid", i as i64)
            .with("ppid", 1i64)
            .with("name", "worker")
            .with("exe", "/usr/bin/worker")
            .with(
                "cmdline",
                "/usr/bin/worker --threads 4 --config /etc/worker.toml",
            )
            .with("user", "svc")
            .with("uid", 1000i64)
            .with("start_time", 1_700_000_000_000i64)
            .with("threads", 4i64)
            .with("rss_bytes", 10_485_760i64)
            .relate(RelType::RunsOn, "bench")
            .relate(RelType::ChildOf, "bench/1/1000");
            o.previous_epoch = previous;
            o
        })
        .collect()
}

fn encode(codec: &Codec, obs: &[Observation]) -> Vec<Vec<u8>> {
    obs.iter()
        .map(|o| codec.encode_observation(o).expect("encodes"))
        .collect()
}

/// Decode → validate → merge → encode changes, as the stage does per message.
fn in_process(merger: &mut Merger, codec: &Codec, messages: &[Vec<u8>]) -> (Duration, Outcome) {
    let (mut changes, mut encoded) = (Vec::new(), Vec::new());
    let mut outcome = Outcome::default();
    let start = Instant::now();
    for m in messages {
        let obs = codec.decode_observation(m).expect("decodes");
        assert!(validate::problem(&obs).is_none());
        outcome.add(merger.observe(obs, &mut changes));
        for c in changes.drain(..) {
            codec
                .encode_graph_change_into(&c, &mut encoded)
                .expect("encodes");
        }
    }
    (start.elapsed(), outcome)
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// Rounds of the in-process passes; this machine is shared and one pass can
/// run at half speed, so the medians are compared.
const ROUNDS: usize = 5;

/// Rounds of the broker figures (each publishes the whole sync again).
const BROKER_ROUNDS: usize = 3;

fn bench_in_process(count: usize) -> f64 {
    let codec = Codec::builtin();
    let first = encode(&codec, &observations(count, 1000, None));
    let again = encode(&codec, &observations(count, 2000, Some(1000)));
    let (mut upserts, mut touches) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        // Room for every element (three per observation) in the state's
        // young generation, so the resync measures touches, not elements
        // forgotten between the passes (see the state's bound in the README).
        let mut merger = Merger::new(count * 3 * 2 + 2);
        let (t1, o1) = in_process(&mut merger, &codec, &first);
        let (t2, o2) = in_process(&mut merger, &codec, &again);
        assert_eq!(
            (o1.touches, o2.upserts),
            (0, 0),
            "the first sync upserts everything; the resync only touches"
        );
        upserts.push(rate(count, t1));
        touches.push(rate(count, t2));
    }
    let (first, resync) = (median(&mut upserts), median(&mut touches));
    println!(
        "in process, first sync (upserts): {first:>10.0} obs/s (median of {ROUNDS}; {:.0}–{:.0})",
        upserts[0],
        upserts[ROUNDS - 1]
    );
    println!(
        "in process, resync (touches):     {resync:>10.0} obs/s (median of {ROUNDS}; {:.0}–{:.0})",
        touches[0],
        touches[ROUNDS - 1]
    );
    first.min(resync)
}

/// Sorts `rates` and returns the middle one.
fn median(rates: &mut [f64]) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

async fn publish_all<B: Bus>(
    bus: &B,
    topic: &str,
    messages: &[Vec<u8>],
    keys: impl Fn(usize) -> String,
) {
    let mut pending = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        pending.push(
            bus.send(OutMessage::new(topic, keys(i).as_bytes(), m))
                .await
                .expect("queued"),
        );
    }
    for p in pending {
        p.await.expect("delivered");
    }
}

/// The benchmark's sync, published through the collectors' runtime.
struct Fixed(Vec<Observation>);

impl Collector for Fixed {
    type Error = std::convert::Infallible;
    fn source(&self) -> &str {
        "bench"
    }
    fn scope(&self) -> &str {
        "host:bench"
    }
    async fn collect(&self, _: &SyncContext) -> Result<Vec<Observation>, Self::Error> {
        Ok(self.0.clone())
    }
}

/// Publishes one sync, then times the stage from start to its barrier.
async fn bench_stage(brokers: &str, observations: Vec<Observation>, round: usize) -> f64 {
    let count = observations.len();
    let bus = KafkaBus::connect(&KafkaArgs::with_brokers(brokers)).expect("bus");
    let layout = TopicLayout {
        names: Topics::new(format!("bench-{}-{round}", std::process::id())),
        partitions: 4,
        replication: 1,
    };
    bus.ensure_topics(&layout.specs()).await.expect("topics");
    let names = layout.names.clone();
    let topics: Vec<String> = layout.specs().into_iter().map(|t| t.name).collect();
    let syncer = Syncer::new(bus.clone())
        .with_layout(layout)
        .with_clock(ManualClock::new(1000));
    syncer
        .sync(&Fixed(observations))
        .await
        .expect("sync published");
    let codec = Codec::builtin();
    // Each observation becomes three changes, then the barrier comes out.
    let expected = i64::try_from(count * 3 + 1).expect("a count that fits");
    let changes = names.graph_changes();
    let watch = watcher(brokers);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let start = Instant::now();
    let stage = {
        let (bus, names) = (bus.clone(), names.clone());
        tokio::spawn(async move { run(&NormalizerArgs::default(), &names, bus, shutdown).await })
    };
    // Watching the changes topic's end offset, not reading it: a reader
    // decoding 600,000 changes would compete with the stage for the CPU,
    // which the raw baseline's run does not have to share.
    while end_offset(&watch, &changes).await < expected {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = start.elapsed();
    let last = message_at(&watch, &changes, expected - 1).await;
    assert!(
        matches!(
            codec.decode_graph_change(&last),
            Ok(GraphChange::SyncBarrier(_))
        ),
        "the last change is the sync's barrier"
    );
    let _ = stop.send(true);
    stage.await.expect("stage").expect("stage ran");
    delete_topics(brokers, &topics).await;
    let r = rate(count, took);
    println!("through the broker (normalizer):  {r:>10.0} obs/s");
    r
}

/// A consumer outside any group, for looking at the changes topic.
fn watcher(brokers: &str) -> Arc<BaseConsumer> {
    Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", "bench-watch")
            .create()
            .expect("watcher"),
    )
}

/// The end offset of the changes topic's one partition.
async fn end_offset(watcher: &Arc<BaseConsumer>, topic: &str) -> i64 {
    let (watcher, topic) = (watcher.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        watcher
            .fetch_watermarks(&topic, 0, Duration::from_secs(5))
            .map_or(0, |(_, high)| high)
    })
    .await
    .expect("watermark task")
}

/// The payload at `offset` of the changes topic's one partition.
async fn message_at(watcher: &Arc<BaseConsumer>, topic: &str, offset: i64) -> Vec<u8> {
    let (watcher, topic) = (watcher.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, rdkafka::Offset::Offset(offset))
            .expect("an offset");
        watcher.assign(&tpl).expect("assign");
        loop {
            if let Some(m) = watcher.poll(Duration::from_secs(1)) {
                return m.expect("a message").payload().unwrap_or_default().to_vec();
            }
        }
    })
    .await
    .expect("reader task")
}

/// A bare librdkafka consumer producing `fanout` messages for every message
/// it reads: the broker's limit for the same I/O the normalizer does.
async fn bench_raw(brokers: &str, messages: &[Vec<u8>], fanout: usize, round: usize) -> f64 {
    let bus = KafkaBus::connect(&KafkaArgs::with_brokers(brokers)).expect("bus");
    let from = format!("bench-raw-in-{fanout}-{}-{round}", std::process::id());
    let to = format!("bench-raw-out-{fanout}-{}-{round}", std::process::id());
    // The stage's shapes: an observation topic of 4 partitions in, the
    // one-partition changes topic out.
    bus.ensure_topics(&[TopicSpec::new(&from, 4), TopicSpec::new(&to, 1)])
        .await
        .expect("topics");
    publish_all(&bus, &from, messages, |i| format!("bench/{i}/1000")).await;
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("bench-raw-{fanout}-{}-{round}", std::process::id()),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&from]).expect("subscribe");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("producer");
    let start = Instant::now();
    let mut pending = Vec::with_capacity(messages.len());
    for _ in 0..messages.len() {
        let m = consumer.recv().await.expect("raw recv");
        for _ in 0..fanout {
            let record = FutureRecord::to(&to)
                .key(m.key().unwrap_or_default())
                .payload(m.payload().unwrap_or_default());
            pending.push(send_waiting(&producer, record).await);
        }
    }
    for p in pending {
        p.await
            .expect("not cancelled")
            .map_err(|(e, _)| e)
            .expect("delivered");
    }
    let r = rate(messages.len(), start.elapsed());
    delete_topics(brokers, &[from, to]).await;
    println!("broker raw, consume 1 produce {fanout}:  {r:>10.0} msg/s in");
    r
}

/// Removes a round's topics, so rounds do not pile up in the broker's memory.
async fn delete_topics(brokers: &str, topics: &[String]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    if let Err(e) = admin.delete_topics(&names, &AdminOptions::new()).await {
        eprintln!("could not delete the round's topics (left on the broker): {e}");
    }
}

/// Queues one record, waiting for room in the producer's queue.
async fn send_waiting<'a>(
    producer: &FutureProducer,
    mut record: FutureRecord<'a, [u8], [u8]>,
) -> rdkafka::producer::DeliveryFuture {
    loop {
        match producer.send_result(record) {
            Ok(f) => return f,
            Err((_, back)) => {
                record = back;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let count: usize = arg("--count")
        .and_then(|c| c.parse().ok())
        .unwrap_or(200_000);
    println!("normalizer throughput, {count} process observations");
    let brokers = arg("--brokers").or_else(|| std::env::var("INFRAGRAPH_TEST_KAFKA").ok());
    // `--only stage`: just the stage through the broker, for profiling it.
    if let (Some("stage"), Some(brokers)) = (arg("--only").as_deref(), &brokers) {
        bench_stage(brokers, observations(count, 1000, None), 0).await;
        return;
    }
    let in_proc = bench_in_process(count);
    println!(
        "  target: >= 300000 obs/s in process on one core: {}",
        if in_proc >= 300_000.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    let Some(brokers) = brokers else {
        println!("no broker (INFRAGRAPH_TEST_KAFKA or --brokers): skipping the broker figures");
        return;
    };
    let messages = encode(&Codec::builtin(), &observations(count, 1000, None));
    let raw_one = bench_raw(&brokers, &messages, 1, 0).await;
    // Each observation here becomes three changes (the process and its two
    // relationships), so the like-for-like baseline produces three per read.
    // Rounds alternate which runs first, so neither always meets a fresher broker.
    let (mut raw, mut stage) = (Vec::new(), Vec::new());
    for round in 0..BROKER_ROUNDS {
        if round % 2 == 0 {
            stage.push(bench_stage(&brokers, observations(count, 1000, None), round).await);
            raw.push(bench_raw(&brokers, &messages, 3, round).await);
        } else {
            raw.push(bench_raw(&brokers, &messages, 3, round).await);
            stage.push(bench_stage(&brokers, observations(count, 1000, None), round).await);
        }
    }
    let (raw_same_io, stage) = (median(&mut raw), median(&mut stage));
    println!(
        "medians of {BROKER_ROUNDS}: through the broker {stage:.0} obs/s, raw 1:3 {raw_same_io:.0} msg/s in"
    );
    println!(
        "ratio normalizer / raw 1:3 (same I/O): {:>6.2}  (target >= 0.50)",
        stage / raw_same_io
    );
    println!(
        "ratio normalizer / raw 1:1:            {:>6.2}",
        stage / raw_one
    );
}
