//! Publish throughput: our path (encode a Process observation with the
//! schemas codec, publish it through `KafkaBus::send` keyed by resource id)
//! against a raw rdkafka producer with the same settings sending the same
//! pre-encoded bytes under the same keys. The ratio is what encoding and the
//! bus layer cost; the target is ≥ 0.8.
//!
//! Both run in one process against one broker, alternating, each round on
//! fresh topics after a warm-up; the medians are reported because a shared
//! machine is noisy.
//!
//! `cargo bench -p infragraph-bus --bench publish -- [--brokers HOST:PORT]
//! [--messages N] [--rounds N] [--warmup N] [--partitions N]`; the broker
//! defaults to `$INFRAGRAPH_TEST_KAFKA`.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// The allocator the binaries run with (infragraph/src/main.rs), so the
/// figures are the deployed code's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use infragraph_bus::{Bus, KafkaArgs, KafkaBus, OutMessage, TopicSpec};
use infragraph_schemas::{Codec, Observation, RelType, ResourceKind, ScopeKind, ScopeRef};
// Linked for its global allocator: collectors publish with it.
use infragraph_telemetry as _;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// Distinct observations the messages cycle through: enough for realistic
/// key spread and payload variety, few enough to keep memory small.
const POOL: usize = 4096;

struct Opts {
    brokers: String,
    messages: usize,
    rounds: usize,
    warmup: usize,
    partitions: i32,
}

fn usage(problem: &str) -> ! {
    eprintln!("publish bench: {problem}");
    eprintln!(
        "usage: publish [--brokers HOST:PORT] [--messages N] [--rounds N] [--warmup N] [--partitions N]"
    );
    std::process::exit(2);
}

fn number<T: std::str::FromStr>(flag: &str, v: Option<String>) -> T {
    v.and_then(|v| v.parse().ok())
        .unwrap_or_else(|| usage(&format!("{flag} needs a positive number")))
}

fn parse_opts() -> Opts {
    let mut opts = Opts {
        brokers: std::env::var("INFRAGRAPH_TEST_KAFKA").unwrap_or_default(),
        messages: 200_000,
        rounds: 5,
        warmup: 20_000,
        partitions: 6,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--brokers" => {
                opts.brokers = args
                    .next()
                    .unwrap_or_else(|| usage("--brokers needs HOST:PORT"))
            }
            "--messages" => opts.messages = number(&arg, args.next()),
            "--rounds" => opts.rounds = number(&arg, args.next()),
            "--warmup" => opts.warmup = number(&arg, args.next()),
            "--partitions" => opts.partitions = number(&arg, args.next()),
            // cargo bench passes --bench to every bench binary.
            "--bench" => {}
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if opts.brokers.is_empty() {
        usage("no broker: pass --brokers or set INFRAGRAPH_TEST_KAFKA (scripts/bench starts one)");
    }
    if opts.messages == 0 || opts.rounds == 0 || opts.partitions < 1 {
        usage("--messages, --rounds and --partitions must be at least 1");
    }
    opts
}

/// A process as the procfs collector reports it: every property a typical
/// Linux process has, its host and parent, and for some a listening socket
/// or an outgoing connection.
fn process(i: usize) -> Observation {
    let host = "4c4c4544003957108052b4c04f384d32";
    let pid = 1000 + i as i64;
    let start = 1_700_000_000_000 + i as i64 * 37;
    let id = format!("{host}/{pid}/{start}");
    let mut obs = Observation::new(
        ScopeRef::new("procfs", ScopeKind::Host.scope(host)),
        1_700_000_100_000,
        1_700_000_100_250,
        ResourceKind::Process,
        id,
    )
    .with("host_id", host)
    .with("pid", pid)
    .with("ppid", 1 + (i as i64 % 50))
    .with("name", format!("worker-{}", i % 17))
    .with("exe", "/usr/lib/jvm/java-17-openjdk-amd64/bin/java")
    .with(
        "cmdline",
        format!(
            "java -Xmx2g -Dservice.name=orders-{i} -jar /opt/orders/orders.jar --port={}",
            8000 + i % 1000
        ),
    )
    .with("user", "svc-orders")
    .with("uid", 1001_i64)
    .with("start_time", start)
    .with("threads", 20 + (i as i64 % 80))
    .with("rss_bytes", 200_000_000 + i as i64 * 4096)
    .with("cpu_time_ms", i as i64 * 13)
    .relate(RelType::RunsOn, host)
    .relate(
        RelType::ChildOf,
        format!("{host}/{}/1699999000000", 1 + i % 50),
    );
    if i.is_multiple_of(3) {
        obs.set(
            "container_id",
            format!("{:064x}", i as u128 * 0x9e37_79b9_7f4a_7c15),
        );
    }
    if i.is_multiple_of(5) {
        obs = obs.relate(
            RelType::ListensOn,
            format!("tcp://0.0.0.0:{}@bench", 8000 + i % 1000),
        );
    }
    if i.is_multiple_of(4) {
        obs = obs.relate(
            RelType::ConnectsTo,
            format!("tcp://10.0.{}.{}:5432", i % 200, i % 250),
        );
    }
    obs
}

/// The messages both paths send: the observations for ours, their encoded
/// bytes for the raw producer, and the resource ids as keys for both.
struct Workload {
    observations: Vec<Observation>,
    payloads: Vec<Vec<u8>>,
}

impl Workload {
    fn new(codec: &Codec) -> Self {
        let observations: Vec<Observation> = (0..POOL).map(process).collect();
        let payloads = observations
            .iter()
            .map(|o| {
                codec
                    .encode_observation(o)
                    .expect("benchmark observations encode")
            })
            .collect();
        Workload {
            observations,
            payloads,
        }
    }

    fn mean_payload(&self) -> usize {
        self.payloads.iter().map(Vec::len).sum::<usize>() / self.payloads.len()
    }
}

/// The producer KafkaBus::connect builds, configured by hand.
fn raw_producer(args: &KafkaArgs) -> FutureProducer {
    let mut cfg = ClientConfig::new();
    cfg.set(
        "bootstrap.servers",
        args.brokers.as_deref().unwrap_or_default(),
    )
    .set("enable.idempotence", "true")
    .set("linger.ms", "5")
    .set("compression.type", "lz4")
    .set("queue.buffering.max.messages", "1000000")
    .set("message.timeout.ms", "60000");
    // The same user overrides the bus applies, so both run alike.
    for (k, v) in args.all_settings() {
        cfg.set(k, v);
    }
    cfg.create().expect("raw producer")
}

/// Sends `count` pre-encoded messages with rdkafka and awaits every delivery.
async fn publish_raw(producer: &FutureProducer, topic: &str, work: &Workload, count: usize) {
    let mut pending = Vec::with_capacity(count);
    for i in 0..count {
        let n = i % POOL;
        let mut record = FutureRecord::to(topic)
            .key(work.observations[n].id.as_str())
            .payload(&work.payloads[n]);
        loop {
            match producer.send_result(record) {
                Ok(fut) => break pending.push(fut),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err((e, _)) => panic!("raw send failed: {e}"),
            }
        }
    }
    for fut in pending {
        fut.await
            .expect("producer alive")
            .map_err(|(e, _)| e)
            .expect("raw delivery");
    }
}

/// Encodes `count` observations and publishes them through the bus,
/// awaiting every delivery.
async fn publish_bus(bus: &KafkaBus, codec: &Codec, topic: &str, work: &Workload, count: usize) {
    let mut pending = Vec::with_capacity(count);
    for i in 0..count {
        let obs = &work.observations[i % POOL];
        let payload = codec.encode_observation(obs).expect("observation encodes");
        pending.push(
            bus.send(OutMessage::new(topic, obs.id.as_bytes(), &payload))
                .await
                .expect("bus send"),
        );
    }
    for p in pending {
        p.await.expect("bus delivery");
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Path {
    Raw,
    Bus,
}

struct Bench {
    opts: Opts,
    codec: Codec,
    work: Workload,
    bus: KafkaBus,
    raw: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
}

impl Bench {
    async fn publish(&self, path: Path, topic: &str, count: usize) {
        match path {
            Path::Raw => publish_raw(&self.raw, topic, &self.work, count).await,
            Path::Bus => publish_bus(&self.bus, &self.codec, topic, &self.work, count).await,
        }
    }

    /// Messages per second of one path on a fresh topic, after a warm-up
    /// there (metadata, partition leaders, connections).
    async fn measure(&self, path: Path, round: usize) -> f64 {
        let name = if path == Path::Raw { "raw" } else { "bus" };
        let topic = format!("bench-publish-{name}-{}-{round}", std::process::id());
        self.bus
            .ensure_topics(&[TopicSpec::new(&topic, self.opts.partitions)])
            .await
            .expect("create topic");
        self.publish(path, &topic, self.opts.warmup.max(1)).await;
        let started = Instant::now();
        self.publish(path, &topic, self.opts.messages).await;
        let rate = self.opts.messages as f64 / started.elapsed().as_secs_f64();
        self.delete(&topic).await;
        rate
    }

    /// The test broker keeps topics in memory: give the space back.
    async fn delete(&self, topic: &str) {
        let failed = match self
            .admin
            .delete_topics(&[topic], &AdminOptions::new())
            .await
        {
            Ok(results) => results
                .into_iter()
                .find_map(|r| r.err())
                .map(|(_, code)| code.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(e) = failed {
            eprintln!("could not delete {topic} (left on the broker): {e}");
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

fn rate(r: f64) -> String {
    format!("{:.1}k msg/s", r / 1000.0)
}

#[tokio::main]
async fn main() {
    let opts = parse_opts();
    let args = KafkaArgs::with_brokers(&opts.brokers);
    let codec = Codec::builtin();
    let work = Workload::new(&codec);
    let bus = KafkaBus::connect(&args).expect("bus connects");
    let raw = raw_producer(&args);
    let admin = ClientConfig::new()
        .set("bootstrap.servers", &opts.brokers)
        .create()
        .expect("admin client");
    let bench = Bench {
        opts,
        codec,
        work,
        bus,
        raw,
        admin,
    };
    let o = &bench.opts;
    println!(
        "publish {} Process observations ({} B mean encoded), {} partitions, {} rounds, broker {}",
        o.messages,
        bench.work.mean_payload(),
        o.partitions,
        o.rounds,
        o.brokers
    );

    let (mut raws, mut ours) = (Vec::new(), Vec::new());
    for round in 0..o.rounds {
        // Alternate who goes first, so drift in the machine's load is shared.
        let order = if round % 2 == 0 {
            [Path::Raw, Path::Bus]
        } else {
            [Path::Bus, Path::Raw]
        };
        for path in order {
            let r = bench.measure(path, round).await;
            if path == Path::Raw {
                raws.push(r)
            } else {
                ours.push(r)
            }
        }
        let (r, b) = (raws[round], ours[round]);
        println!(
            "round {}: raw rdkafka {}, infragraph bus {}, ratio {:.2}",
            round + 1,
            rate(r),
            rate(b),
            b / r
        );
    }

    let (r, b) = (median(raws), median(ours));
    let ratio = b / r;
    let verdict = if ratio >= 0.8 { "meets" } else { "BELOW" };
    println!(
        "median: raw rdkafka {}, infragraph bus (encode + send) {}",
        rate(r),
        rate(b)
    );
    println!("ratio {ratio:.2} ({verdict} the target of 0.80)");
}
