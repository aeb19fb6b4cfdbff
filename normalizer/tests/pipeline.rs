//! The normalizer stage over a real bus: each scenario runs on the
//! in-memory bus and on the Kafka broker. Tests on a shared broker keep
//! apart by giving every run its own scope and ids.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use infragraph_bus::{Bus, Consumer, KafkaArgs, KafkaBus, OutMessage, TopicLayout};
use infragraph_collector::{
    Collector, DEFAULT_RECONCILE_INTERVAL, ManualClock, SyncContext, Syncer,
};
use infragraph_normalizer::{NormalizerArgs, run};
use infragraph_schemas::*;
use infragraph_test_support as support;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(60);

struct Instance {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

fn start<B: Bus>(bus: &B, layout: &TopicLayout, group: &str) -> Instance {
    let args = NormalizerArgs {
        group: group.to_owned(),
        commit_interval_ms: 20,
        ..NormalizerArgs::default()
    };
    let (stop, shutdown) = watch::channel(false);
    let (bus, names) = (bus.clone(), layout.names.clone());
    let task = tokio::spawn(async move {
        run(&args, &names, bus, shutdown)
            .await
            .expect("normalizer failed")
    });
    Instance { stop, task }
}

impl Instance {
    async fn stop(self) {
        let _ = self.stop.send(true);
        self.task.await.expect("normalizer task");
    }
}

/// Topics of this test alone, so tests sharing a broker never see each
/// other's messages.
async fn setup<B: Bus>(bus: &B) -> TopicLayout {
    let layout = TopicLayout {
        names: Topics::new(support::unique("it")),
        partitions: 4,
        replication: 1,
    };
    bus.ensure_topics(&layout.specs()).await.unwrap();
    layout
}

fn scope() -> ScopeRef {
    ScopeRef::new("test", support::unique("host"))
}

fn host(scope: &ScopeRef, epoch: i64, id: &str) -> Observation {
    Observation::new(scope.clone(), epoch, epoch, ResourceKind::Host, id).with("hostname", "alpha")
}

fn process(scope: &ScopeRef, epoch: i64, host: &str, pid: i64) -> Observation {
    Observation::new(
        scope.clone(),
        epoch,
        epoch,
        ResourceKind::Process,
        format!("{host}/{pid}/1"),
    )
    .with("host_id", host)
    .with("pid", pid)
    .with("name", "worker")
    .with("start_time", 1i64)
    .relate(RelType::RunsOn, host)
}

/// A collector reporting what the test hands it, through the real sync
/// runtime (markers, counts, previous epochs).
struct Fixed {
    scope: ScopeRef,
    observations: std::sync::Mutex<Vec<Observation>>,
}

impl Collector for Fixed {
    type Error = std::convert::Infallible;

    fn source(&self) -> &str {
        &self.scope.source
    }

    fn scope(&self) -> &str {
        &self.scope.scope
    }

    async fn collect(&self, _: &SyncContext) -> Result<Vec<Observation>, Self::Error> {
        Ok(self.observations.lock().unwrap().clone())
    }
}

struct Source<B: Bus> {
    syncer: Syncer<B>,
    clock: ManualClock,
    collector: Fixed,
}

impl<B: Bus> Source<B> {
    fn new(bus: &B, layout: &TopicLayout, scope: &ScopeRef) -> Self {
        let clock = ManualClock::new(0);
        let syncer = Syncer::new(bus.clone())
            .with_layout(layout.clone())
            .with_clock(clock.clone());
        Source {
            syncer,
            clock,
            collector: Fixed {
                scope: scope.clone(),
                observations: Default::default(),
            },
        }
    }

    /// One completed sync at `epoch` reporting `observations`.
    async fn sync(&self, epoch: i64, observations: &[Observation]) {
        self.clock.set(epoch);
        *self.collector.observations.lock().unwrap() = observations.to_vec();
        self.syncer
            .sync(&self.collector)
            .await
            .expect("sync completes");
    }
}

/// Reads the changes topic from the start, keeping `scope`'s changes.
struct Changes<C: Consumer> {
    consumer: C,
    scope: ScopeRef,
    codec: Codec,
}

impl<C: Consumer> Changes<C> {
    fn new<B: Bus<Consumer = C>>(bus: &B, layout: &TopicLayout, scope: &ScopeRef) -> Self {
        let consumer = bus
            .consumer(&support::unique("reader"), &[layout.names.graph_changes()])
            .unwrap();
        Changes {
            consumer,
            scope: scope.clone(),
            codec: Codec::builtin(),
        }
    }

    async fn next(&mut self) -> GraphChange {
        loop {
            let msg = timeout(WAIT, self.consumer.recv())
                .await
                .expect("changes stopped coming")
                .unwrap();
            let change = self.codec.decode_graph_change(&msg.payload).unwrap();
            if change.scope() == &self.scope {
                return change;
            }
        }
    }

    /// Every change up to the barrier of `epoch`, and the barrier.
    async fn until_barrier(&mut self, epoch: i64) -> (Vec<GraphChange>, SyncBarrier) {
        let mut out = Vec::new();
        loop {
            match self.next().await {
                GraphChange::SyncBarrier(b) if b.epoch == epoch => return (out, b),
                // A barrier repeated after a rebalance: harmless by design.
                GraphChange::SyncBarrier(_) => {}
                other => out.push(other),
            }
        }
    }
}

/// An observation of `kind` with every required property set to a value of
/// its type, and nothing else.
fn minimal(kind: ResourceKind, scope: &ScopeRef, epoch: i64, prefix: &str, i: i64) -> Observation {
    use infragraph_schemas::registry::PropertyType;
    let mut obs = Observation::new(scope.clone(), epoch, epoch, kind, format!("{prefix}-{i}"));
    for p in kind.def().properties.iter().filter(|p| p.required) {
        obs.set(
            p.name,
            match p.ty {
                PropertyType::Bool => Value::Bool(false),
                PropertyType::Long => Value::Long(i),
                PropertyType::Double => Value::Double(0.5),
                PropertyType::String => Value::from(format!("v{i}")),
                PropertyType::StringList => Value::StringList(vec![format!("v{i}")]),
            },
        );
    }
    obs
}

fn node_upserts(changes: &[GraphChange]) -> HashSet<String> {
    changes
        .iter()
        .filter_map(|c| match c {
            GraphChange::NodeUpsert(u) => Some(u.node.id.clone()),
            _ => None,
        })
        .collect()
}

fn upserts(changes: &[GraphChange]) -> usize {
    changes
        .iter()
        .filter(|c| matches!(c, GraphChange::NodeUpsert(_) | GraphChange::EdgeUpsert(_)))
        .count()
}

async fn a_delta_resync_sends_nothing_unchanged_and_a_reconciliation_touches_it_all<B: Bus>(
    bus: B,
) {
    let layout = setup(&bus).await;
    let n = start(&bus, &layout, &support::unique("norm"));
    let s = scope();
    let h = support::unique("h");
    let make = |epoch: i64| {
        let mut v = vec![host(&s, epoch, &h)];
        v.extend((1..=5).map(|pid| process(&s, epoch, &h, pid)));
        v
    };
    let mut changes = Changes::new(&bus, &layout, &s);
    let source = Source::new(&bus, &layout, &s);
    source.sync(1000, &make(1000)).await;
    let (first, barrier) = changes.until_barrier(1000).await;
    assert_eq!(barrier.status, SyncStatus::Completed);
    assert_eq!(
        upserts(&first),
        11,
        "6 nodes and 5 RUNS_ON edges: {first:?}"
    );

    assert_eq!(
        barrier.kind,
        SyncKind::Reconciliation,
        "a collector's first sync reconciles"
    );

    source.sync(2000, &make(2000)).await;
    let (second, barrier) = changes.until_barrier(2000).await;
    assert!(
        second.is_empty(),
        "nothing changed, so nothing is sent: {second:?}"
    );
    assert_eq!(barrier.kind, SyncKind::Delta);

    let later = 2000 + DEFAULT_RECONCILE_INTERVAL.as_millis() as i64;
    source.sync(later, &make(later)).await;
    let (third, barrier) = changes.until_barrier(later).await;
    assert_eq!(
        barrier.kind,
        SyncKind::Reconciliation,
        "one reconcile interval on"
    );
    assert_eq!(third.len(), 11);
    assert!(
        third
            .iter()
            .all(|c| matches!(c, GraphChange::Touch(t) if t.epoch == later)),
        "{third:?}"
    );
    n.stop().await;
}

async fn what_vanished_is_retracted_before_the_barrier<B: Bus>(bus: B) {
    let layout = setup(&bus).await;
    let n = start(&bus, &layout, &support::unique("norm"));
    let s = scope();
    let h = support::unique("h");
    let mut changes = Changes::new(&bus, &layout, &s);
    let source = Source::new(&bus, &layout, &s);
    let other = scope();
    let other_source = Source::new(&bus, &layout, &other);
    source
        .sync(
            1000,
            &[
                host(&s, 1000, &h),
                process(&s, 1000, &h, 1),
                process(&s, 1000, &h, 2),
            ],
        )
        .await;
    other_source.sync(1000, &[host(&other, 1000, &h)]).await;
    changes.until_barrier(1000).await;
    source.sync(2000, &[process(&s, 2000, &h, 1)]).await;
    let (second, barrier) = changes.until_barrier(2000).await;
    assert_eq!(barrier.kind, SyncKind::Delta);
    let deleted: HashSet<String> = second
        .iter()
        .map(|c| match c {
            GraphChange::Delete(d) => match &d.element {
                Element::Node(n) => n.id.clone(),
                Element::Edge(e) => format!("{}-{}->{}", e.from.id, e.rel_type, e.to.id),
            },
            other => panic!("only retractions: {other:?}"),
        })
        .collect();
    let p2 = format!("{h}/2/1");
    assert_eq!(
        deleted,
        HashSet::from([h.clone(), p2.clone(), format!("{p2}-RUNS_ON->{h}")]),
        "{second:?}"
    );
    assert!(
        second.iter().all(|c| c.scope() == &s && c.epoch() == 2000),
        "each retraction is the scope's own"
    );
    n.stop().await;
}

async fn two_sources_for_one_host_merge<B: Bus>(bus: B) {
    let layout = setup(&bus).await;
    let n = start(&bus, &layout, &support::unique("norm"));
    let (a, b) = (scope(), scope());
    let h = support::unique("h");
    let from_a = host(&a, 10, &h).with("ip_addresses", vec!["10.0.0.1".to_owned()]);
    let from_b = Observation::new(b.clone(), 20, 20, ResourceKind::Host, &h)
        .with("hostname", "alpha")
        .with("kernel", "6.1")
        .with("ip_addresses", vec!["10.0.0.2".to_owned()]);
    let mut changes_b = Changes::new(&bus, &layout, &b);
    Source::new(&bus, &layout, &a).sync(10, &[from_a]).await;
    Source::new(&bus, &layout, &b).sync(20, &[from_b]).await;
    let (got, _) = changes_b.until_barrier(20).await;
    let GraphChange::NodeUpsert(u) = &got[0] else {
        panic!("expected an upsert: {got:?}")
    };
    assert_eq!(u.properties.get("kernel"), Some(&Value::from("6.1")));
    assert_eq!(u.properties.get("hostname"), Some(&Value::from("alpha")));
    assert_eq!(
        u.properties.get("ip_addresses"),
        Some(&Value::StringList(vec![
            "10.0.0.1".into(),
            "10.0.0.2".into()
        ])),
        "multi-valued facts are unioned across sources"
    );
    n.stop().await;
}

async fn an_older_observation_arriving_late_changes_nothing<B: Bus>(bus: B) {
    let layout = setup(&bus).await;
    let n = start(&bus, &layout, &support::unique("norm"));
    let s = scope();
    let h = support::unique("h");
    let mut changes = Changes::new(&bus, &layout, &s);
    let source = Source::new(&bus, &layout, &s);
    source
        .sync(2000, &[host(&s, 2000, &h).with("kernel", "new")])
        .await;
    changes.until_barrier(2000).await;
    source
        .sync(1000, &[host(&s, 1000, &h).with("kernel", "old")])
        .await;
    let (late, _) = changes.until_barrier(1000).await;
    assert!(
        late.is_empty(),
        "the graph already holds newer data: {late:?}"
    );
    n.stop().await;
}

async fn the_barrier_waits_for_a_held_back_partition<B: Bus>(bus: B) {
    let layout = setup(&bus).await;
    let group = support::unique("norm");
    let mut subscribed = layout.names.all_observations();
    subscribed.push(layout.names.sync());
    // A member that takes its share of partitions, reads and never
    // finishes anything: its partitions are held back until it leaves.
    let mut stuck = bus.consumer(&group, &subscribed).unwrap();
    let (release, mut released) = watch::channel(false);
    let (held_tx, mut held) = watch::channel(Vec::<(String, i32)>::new());
    let stuck = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tokio::select! {
                _ = released.changed() => return,
                m = stuck.recv() => { m.expect("stuck member reads"); }
                _ = tick.tick() => {
                    let mut now = stuck.assignment().unwrap_or_default();
                    now.sort();
                    let _ = held_tx.send(now);
                }
            }
        }
    });
    let n = start(&bus, &layout, &group);
    // Publish only once the group has settled with partitions on both
    // members. The stuck member alone holds all of them until the healthy
    // one has joined; a rebalance after publishing would hand the healthy
    // one partitions it may then rightly finish.
    let all = subscribed.len() * usize::try_from(layout.partitions).expect("a partition count");
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut stable_since = tokio::time::Instant::now();
    let mut last: Vec<(String, i32)> = Vec::new();
    let kind = loop {
        held.changed().await.expect("stuck member reports");
        let now = held.borrow().clone();
        if now != last {
            (last, stable_since) = (now, tokio::time::Instant::now());
        }
        // The sync goes to a resource type the stuck member holds a
        // partition of: the group shares each topic's partitions out
        // independently, so it may hold none of a given one.
        let kind = ResourceKind::ALL.iter().copied().find(|k| {
            last.iter()
                .any(|(t, _)| *t == layout.names.observations(*k))
        });
        if let Some(kind) =
            kind.filter(|_| last.len() < all && stable_since.elapsed() >= Duration::from_secs(1))
        {
            break kind;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the group never shared the partitions between its two members (stuck holds {last:?} of {all})"
        );
    };
    let s = scope();
    // 40 resources keyed apart: some land on the stuck member's partitions
    // of that type (all missing it has odds of (3/4)^40).
    let observations: Vec<Observation> = (1..=40)
        .map(|i| minimal(kind, &s, 5000, &support::unique("r"), i))
        .collect();
    let mut changes = Changes::new(&bus, &layout, &s);
    Source::new(&bus, &layout, &s)
        .sync(5000, &observations)
        .await;

    // While a partition is held, no barrier may pass, whatever else arrives.
    let mut before = Vec::new();
    let held = timeout(Duration::from_secs(3), async {
        loop {
            match changes.next().await {
                GraphChange::SyncBarrier(b) => return b,
                other => before.push(other),
            }
        }
    })
    .await;
    assert!(
        held.is_err(),
        "barrier passed while a partition was held back: {held:?}"
    );
    assert!(
        node_upserts(&before).len() < 40,
        "the held partitions' resources cannot have been emitted yet"
    );

    let _ = release.send(true);
    stuck.await.unwrap();
    let (rest, barrier) = changes.until_barrier(5000).await;
    before.extend(rest);
    assert_eq!(barrier.status, SyncStatus::Completed);
    let seen = node_upserts(&before);
    assert_eq!(
        seen.len(),
        40,
        "every resource reached the changes topic before the barrier"
    );
    n.stop().await;
}

/// The instance that dies: a task aborted in process (memory bus), or a
/// normalizer process killed with SIGKILL, as a crash would (Kafka: an
/// aborted task drops its consumer at an arbitrary point, which is not what
/// a crash does to the group).
enum Doomed {
    Task(Instance),
    Process(std::process::Child),
}

impl Doomed {
    fn kill(self) {
        match self {
            Doomed::Task(i) => i.task.abort(),
            Doomed::Process(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

async fn a_killed_instance_loses_nothing<B: Bus>(
    bus: B,
    doomed: impl FnOnce(&TopicLayout, &str) -> Doomed,
) {
    let layout = setup(&bus).await;
    let group = support::unique("norm");
    let (one, two) = (doomed(&layout, &group), start(&bus, &layout, &group));
    let s = scope();
    let h = support::unique("h");
    let observations: Vec<Observation> = (1..=300).map(|pid| process(&s, 7000, &h, pid)).collect();
    let mut changes = Changes::new(&bus, &layout, &s);
    Source::new(&bus, &layout, &s)
        .sync(7000, &observations)
        .await;
    // Kill one instance as soon as output flows, mid-stream.
    let first = changes.next().await;
    one.kill();
    let (mut before, _) = changes.until_barrier(7000).await;
    before.push(first);
    let seen = node_upserts(&before);
    assert_eq!(
        seen.len(),
        300,
        "every process was emitted before the barrier"
    );
    two.stop().await;
}

async fn bad_messages_go_to_the_dead_letter_topic<B: Bus>(bus: B) {
    let layout = setup(&bus).await;
    let n = start(&bus, &layout, &support::unique("norm"));
    let s = scope();
    let codec = Codec::builtin();
    let tag = support::unique("bad");
    let host_topic = layout.names.observations(ResourceKind::Host);
    let process_topic = layout.names.observations(ResourceKind::Process);
    let mut foreign = codec.encode_observation(&host(&s, 1, "x")).unwrap();
    foreign[2..10].copy_from_slice(&0x0123_4567_89ab_cdef_u64.to_le_bytes());
    let cases: Vec<(String, Vec<u8>, &str)> = vec![
        (host_topic.clone(), b"not avro at all".to_vec(), "bad magic"),
        (
            host_topic.clone(),
            foreign,
            "unknown writer schema fingerprint",
        ),
        (
            host_topic.clone(),
            codec.encode_observation(&host(&s, 1, " ")).unwrap(),
            "empty id",
        ),
        (
            process_topic.clone(),
            codec
                .encode_observation(
                    &Observation::new(s.clone(), 1, 1, ResourceKind::Process, "p")
                        .with("name", "x"),
                )
                .unwrap(),
            "lacks required property host_id",
        ),
    ];
    for (i, (topic, payload, _)) in cases.iter().enumerate() {
        let key = format!("{tag}-{i}");
        bus.publish(OutMessage::new(topic, key.as_bytes(), payload))
            .await
            .unwrap();
    }
    // Processing goes on after them.
    let mut changes = Changes::new(&bus, &layout, &s);
    Source::new(&bus, &layout, &s)
        .sync(3000, &[host(&s, 3000, &support::unique("h"))])
        .await;
    let (after, _) = changes.until_barrier(3000).await;
    assert_eq!(upserts(&after), 1);

    let mut dlq = bus
        .consumer(&support::unique("dlq"), &[layout.names.deadletter()])
        .unwrap();
    let mut found = BTreeMap::new();
    while found.len() < cases.len() {
        let m = timeout(WAIT, dlq.recv())
            .await
            .expect("dead letters arrive")
            .unwrap();
        let key = String::from_utf8(m.key.clone().unwrap_or_default()).unwrap();
        if let Some(i) = key
            .strip_prefix(&format!("{tag}-"))
            .and_then(|i| i.parse::<usize>().ok())
        {
            found.insert(i, m);
        }
    }
    for (i, (topic, payload, reason)) in cases.iter().enumerate() {
        let m = &found[&i];
        assert_eq!(&m.payload, payload, "case {i} keeps its bytes");
        let why = String::from_utf8_lossy(m.header("infragraph.reason").unwrap()).to_string();
        assert!(
            why.contains(reason),
            "case {i}: reason {why:?} should mention {reason:?}"
        );
        assert_eq!(m.header("infragraph.topic"), Some(topic.as_bytes()));
    }
    n.stop().await;
}

/// An observation a little over 1 MB (a process with a huge command line,
/// published by a producer allowed larger messages than the normalizer's):
/// its change is too large for the changes topic. It goes to the dead-letter
/// topic with the reason, the normalizer keeps running, and the next sync
/// is emitted as usual. Before, the failed send ended the normalizer, and
/// on restart it read the same message again.
async fn a_just_too_large_observation_is_dead_lettered<B: Bus>(
    bus: B,
    publisher: B,
    limit_changes: impl FnOnce(&B, &str),
) {
    let layout = setup(&bus).await;
    limit_changes(&bus, &layout.names.graph_changes());
    let n = start(&bus, &layout, &support::unique("norm"));
    let s = scope();
    let h = support::unique("h");
    let huge = process(&s, 100, &h, 1).with("cmdline", "x".repeat(1_020_000));
    let payload = Codec::builtin().encode_observation(&huge).unwrap();
    let key = support::unique("huge");
    publisher
        .publish(OutMessage::new(
            &layout.names.observations(ResourceKind::Process),
            key.as_bytes(),
            &payload,
        ))
        .await
        .expect("the broker takes the observation");

    let next = scope();
    let mut changes = Changes::new(&bus, &layout, &next);
    Source::new(&bus, &layout, &next)
        .sync(3000, &[host(&next, 3000, &support::unique("h"))])
        .await;
    let (after, _) = changes.until_barrier(3000).await;
    assert_eq!(upserts(&after), 1, "the next sync went through");
    assert!(!n.task.is_finished(), "the normalizer is still running");

    let mut dlq = bus
        .consumer(&support::unique("dlq"), &[layout.names.deadletter()])
        .unwrap();
    let dead = loop {
        let m = timeout(WAIT, dlq.recv())
            .await
            .expect("the observation is dead-lettered")
            .unwrap();
        if m.key.as_deref() == Some(key.as_bytes()) {
            break m;
        }
    };
    let why = String::from_utf8_lossy(dead.header("infragraph.reason").unwrap()).to_string();
    assert!(
        why.contains("bytes the changes topic") && why.contains(&format!("process {h}/1/1")),
        "the reason names the change and the limit: {why:?}"
    );
    let kept_or_sized = dead.payload == payload
        || dead.header("infragraph.payload-dropped") == Some(payload.len().to_string().as_bytes());
    assert!(
        kept_or_sized,
        "the dead letter keeps the bytes, or says how many it could not keep"
    );
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_a_just_too_large_observation_is_dead_lettered() {
    let bus = infragraph_bus::MemoryBus::new();
    // Kafka's producer default; the memory bus has no limit of its own.
    a_just_too_large_observation_is_dead_lettered(bus.clone(), bus, |b, topic| {
        b.limit_message_bytes(topic, 1_000_000)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_a_just_too_large_observation_is_dead_lettered() {
    support::require!(brokers = support::KAFKA, "Kafka broker");
    let mut args = KafkaArgs::with_brokers(brokers);
    args.settings = support::kafka_settings();
    let normalizer_bus = KafkaBus::connect(&args).unwrap();
    // The topics take 1 MiB (Kafka's default); this producer is allowed it,
    // the normalizer's keeps librdkafka's default of 1,000,000 bytes.
    args.settings
        .push(("message.max.bytes".to_owned(), "2000000".to_owned()));
    let publisher = KafkaBus::connect(&args).unwrap();
    a_just_too_large_observation_is_dead_lettered(normalizer_bus, publisher, |_, _| {}).await;
}

/// Messages naming writer schemas nobody published, from many
/// fingerprints at once, hold the stage for the schema-wait budget in all
/// (about a second), not three seconds each: an unrelated scope's sync
/// comes through within that of its time without them.
async fn a_burst_of_unknown_fingerprints_does_not_stall_other_syncs<B: Bus>(bus: B) {
    let layout = setup(&bus).await;
    let n = start(&bus, &layout, &support::unique("norm"));
    let codec = Codec::builtin();
    let timed_sync = async |epoch: i64| {
        let s = scope();
        let mut changes = Changes::new(&bus, &layout, &s);
        let started = std::time::Instant::now();
        Source::new(&bus, &layout, &s)
            .sync(epoch, &[host(&s, epoch, &support::unique("h"))])
            .await;
        let (after, _) = changes.until_barrier(epoch).await;
        assert_eq!(upserts(&after), 1);
        started.elapsed()
    };
    let normal = timed_sync(1000).await;
    let s = scope();
    for i in 0..5u64 {
        let mut foreign = codec
            .encode_observation(&host(&s, 1, &format!("x{i}")))
            .unwrap();
        foreign[2..10].copy_from_slice(&(0x0123_4567_89ab_cd00_u64 + i).to_le_bytes());
        let key = support::unique("foreign");
        bus.publish(OutMessage::new(
            &layout.names.observations(ResourceKind::Host),
            key.as_bytes(),
            &foreign,
        ))
        .await
        .unwrap();
    }
    let stalled = timed_sync(2000).await;
    println!(
        "an unrelated sync took {normal:?} alone and {stalled:?} behind 5 unknown fingerprints"
    );
    // The budget is 1 s; another second of slack for a loaded machine. Five
    // waits of 3 s each, as before, would take 15 s.
    assert!(
        stalled < normal + Duration::from_secs(2),
        "the sync took {stalled:?} behind the burst, {normal:?} without it"
    );
    n.stop().await;
}

/// A codec whose Host type has one more property, as a newer collector's.
fn newer_codec() -> Codec {
    infragraph_schemas::testing::newer_codec().unwrap()
}

async fn a_newer_collectors_messages_are_resolved_through_the_schemas_topic<B: Bus>(bus: B) {
    let layout = setup(&bus).await;
    let n = start(&bus, &layout, &support::unique("norm"));
    let s = scope();
    let h = support::unique("h");
    let newer = newer_codec();
    // What a newer collector does at start: publish the schemas it writes.
    let host_kind = avro::RecordKind::Observation(ResourceKind::Host);
    let (_, fp, json) = newer.schemas().find(|(k, _, _)| *k == host_kind).unwrap();
    let key = format!("{fp:016x}");
    bus.publish(OutMessage::new(
        &layout.names.schemas(),
        key.as_bytes(),
        json.as_bytes(),
    ))
    .await
    .unwrap();
    let mut changes = Changes::new(&bus, &layout, &s);
    let bytes = newer
        .encode_observation(&host(&s, 10, &h).with("rack", "r7"))
        .unwrap();
    bus.publish(OutMessage::new(
        &layout.names.observations(ResourceKind::Host),
        h.as_bytes(),
        &bytes,
    ))
    .await
    .unwrap();
    let GraphChange::NodeUpsert(u) = changes.next().await else {
        panic!("expected the host's upsert")
    };
    assert_eq!(u.node.id, h);
    assert_eq!(
        u.properties.get("hostname"),
        Some(&Value::from("alpha")),
        "known properties are kept"
    );
    assert!(
        !u.properties.contains_key("rack"),
        "a property this reader does not know is dropped by resolution"
    );
    n.stop().await;
}

macro_rules! on_both_buses {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $name() { super::$name(infragraph_bus::MemoryBus::new()).await; })*
        }
        mod kafka {
            use super::*;
            fn bus(brokers: String) -> KafkaBus {
                let mut args = KafkaArgs::with_brokers(brokers);
                args.settings = support::kafka_settings();
                KafkaBus::connect(&args).unwrap()
            }
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                support::require!(brokers = support::KAFKA, "Kafka broker");
                super::$name(bus(brokers)).await;
            })*
        }
    };
}

on_both_buses!(
    a_delta_resync_sends_nothing_unchanged_and_a_reconciliation_touches_it_all,
    what_vanished_is_retracted_before_the_barrier,
    two_sources_for_one_host_merge,
    an_older_observation_arriving_late_changes_nothing,
    the_barrier_waits_for_a_held_back_partition,
    bad_messages_go_to_the_dead_letter_topic,
    a_newer_collectors_messages_are_resolved_through_the_schemas_topic,
    a_burst_of_unknown_fingerprints_does_not_stall_other_syncs,
);

/// A Kafka group refuses commits while it rebalances (here, seconds while
/// the coordinator waits for a killed member). The instance that keeps its
/// partitions must commit those positions once the group settles, even if
/// nothing more arrives on them, or their sync's barrier never passes.
#[tokio::test(flavor = "multi_thread")]
async fn memory_commits_refused_during_a_rebalance_are_made_later() {
    let bus = infragraph_bus::MemoryBus::new();
    let layout = setup(&bus).await;
    let group = support::unique("norm");
    let n = start(&bus, &layout, &group);
    let s = scope();
    let h = support::unique("h");
    let observations: Vec<Observation> = (1..=50).map(|pid| process(&s, 8000, &h, pid)).collect();
    let mut changes = Changes::new(&bus, &layout, &s);
    bus.refuse_commits(&group, true);
    Source::new(&bus, &layout, &s)
        .sync(8000, &observations)
        .await;
    let mut seen = Vec::new();
    while node_upserts(&seen).len() < 50 {
        seen.push(changes.next().await);
    }
    // Several commit intervals pass while the group refuses.
    tokio::time::sleep(Duration::from_millis(200)).await;
    bus.refuse_commits(&group, false);
    let (rest, barrier) = changes.until_barrier(8000).await;
    assert_eq!(barrier.status, SyncStatus::Completed);
    assert!(
        node_upserts(&rest).is_empty(),
        "nothing was emitted twice: {rest:?}"
    );
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_a_killed_instance_loses_nothing() {
    let bus = infragraph_bus::MemoryBus::new();
    let spawn = bus.clone();
    a_killed_instance_loses_nothing(bus, move |layout, group| {
        Doomed::Task(start(&spawn, layout, group))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_a_killed_process_loses_nothing() {
    support::require!(brokers = support::KAFKA, "Kafka broker");
    let mut args = KafkaArgs::with_brokers(brokers.clone());
    args.settings = support::kafka_settings();
    let bus = KafkaBus::connect(&args).unwrap();
    a_killed_instance_loses_nothing(bus, move |layout, group| {
        let child = std::process::Command::new(support::stage_binary("infragraph-normalizer"))
            .args([
                "--kafka-brokers",
                &brokers,
                "--topic-namespace",
                layout.names.namespace(),
            ])
            .args([
                "--normalizer-group",
                group,
                "--commit-interval-ms",
                "20",
                "--topic-partitions",
                "4",
            ])
            .args(support::kafka_flags())
            .env("INFRAGRAPH_LOG", "warn")
            .spawn()
            .expect("the normalizer binary starts");
        Doomed::Process(child)
    })
    .await;
}
