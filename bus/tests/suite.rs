//! One suite, both buses: every message arrives, per-key order holds across
//! a two-member group, a member that joins takes its share of every topic,
//! and a restarted member resumes from the commit.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use infragraph_bus::*;
use infragraph_test_support as support;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, timeout};

const WAIT: Duration = Duration::from_secs(60);

async fn publish_keyed<B: Bus>(bus: &B, topic: &str, keys: usize, per_key: usize) {
    let mut pending = Vec::new();
    for seq in 0..per_key {
        for k in 0..keys {
            let key = format!("key-{k}");
            let payload = format!("{k}:{seq}");
            pending.push(
                bus.send(OutMessage::new(topic, key.as_bytes(), payload.as_bytes()))
                    .await
                    .unwrap(),
            );
        }
    }
    for p in pending {
        p.await.expect("every message is delivered");
    }
}

fn parse(msg: &Message) -> (usize, usize) {
    let text = String::from_utf8(msg.payload.clone()).unwrap();
    let (k, s) = text.split_once(':').unwrap();
    (k.parse().unwrap(), s.parse().unwrap())
}

/// Consumes forever, committing every 50 messages, reporting each message
/// and the member's partition count.
fn spawn_member<C: Consumer>(
    id: usize,
    mut c: C,
    out: mpsc::UnboundedSender<(usize, Message)>,
) -> watch::Receiver<usize> {
    let (tx, rx) = watch::channel(0);
    tokio::spawn(async move {
        let mut tracker = OffsetTracker::default();
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tokio::select! {
                m = c.recv() => {
                    let m = m.expect("recv");
                    tracker.processed(&m);
                    if out.send((id, m)).is_err() { return; }
                }
                _ = tick.tick() => {
                    let _ = tx.send(c.assignment().map(|a| a.len()).unwrap_or(0));
                    if !tracker.is_empty() { c.commit(&tracker.take()).await.expect("commit"); }
                }
            }
        }
    });
    rx
}

async fn two_members_get_everything_in_key_order<B: Bus>(bus: B) {
    let topic = support::unique("suite-order");
    let group = support::unique("g");
    bus.ensure_topics(&[TopicSpec::new(&topic, 4)])
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let topics = vec![topic.clone()];
    let mut sizes = [
        spawn_member(0, bus.consumer(&group, &topics).unwrap(), tx.clone()),
        spawn_member(1, bus.consumer(&group, &topics).unwrap(), tx),
    ];
    // Publish only once the group has settled, so both members take part.
    let deadline = Instant::now() + WAIT;
    while !(sizes.iter_mut().all(|s| *s.borrow_and_update() > 0)
        && sizes.iter().map(|s| *s.borrow()).sum::<usize>() == 4)
    {
        assert!(
            Instant::now() < deadline,
            "group never settled on 4 partitions over 2 members"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (keys, per_key) = (40, 50);
    publish_keyed(&bus, &topic, keys, per_key).await;

    let mut seen = HashSet::new();
    let mut last: HashMap<(usize, usize), usize> = HashMap::new();
    let mut by_member = [0usize; 2];
    while seen.len() < keys * per_key {
        let (member, msg) = timeout(WAIT, rx.recv())
            .await
            .expect("messages stopped arriving")
            .unwrap();
        let (k, seq) = parse(&msg);
        if let Some(prev) = last.insert((member, k), seq) {
            assert!(
                seq > prev,
                "key {k} went from {prev} to {seq} at member {member}"
            );
        }
        seen.insert((k, seq));
        by_member[member] += 1;
    }
    assert!(
        by_member.iter().all(|n| *n > 0),
        "both members consumed: {by_member:?}"
    );
}

/// How many partitions of each topic a member owns, once it owns `want`.
async fn owned_per_topic(
    sizes: &mut watch::Receiver<Vec<(String, i32)>>,
    topics: &[String],
    want: usize,
) -> Vec<usize> {
    let deadline = Instant::now() + WAIT;
    loop {
        let owned = sizes.borrow_and_update().clone();
        if owned.len() == want {
            return topics
                .iter()
                .map(|t| owned.iter().filter(|(o, _)| o == t).count())
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "the member never came to own {want} partitions: {owned:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reports what the member owns while it consumes (and commits) whatever
/// comes.
fn spawn_owner<C: Consumer>(mut c: C) -> watch::Receiver<Vec<(String, i32)>> {
    let (tx, rx) = watch::channel(Vec::new());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tokio::select! {
                m = c.recv() => { m.expect("recv"); }
                _ = tick.tick() => {
                    if tx.send(c.assignment().unwrap_or_default()).is_err() { return; }
                }
            }
        }
    });
    rx
}

/// A normalizer scaled out must share each kind of observation, not only
/// the partition count: a sticky assignor that balances counts over all
/// topics left a second instance with none of the busy topic's partitions.
async fn a_joining_member_takes_half_of_every_topic<B: Bus>(bus: B) {
    let topics = vec![
        support::unique("suite-share-a"),
        support::unique("suite-share-b"),
    ];
    let group = support::unique("g");
    let specs: Vec<TopicSpec> = topics.iter().map(|t| TopicSpec::new(t, 4)).collect();
    bus.ensure_topics(&specs).await.unwrap();
    let mut first = spawn_owner(bus.consumer(&group, &topics).unwrap());
    assert_eq!(owned_per_topic(&mut first, &topics, 8).await, [4, 4]);
    let mut second = spawn_owner(bus.consumer(&group, &topics).unwrap());
    let shares = [
        owned_per_topic(&mut second, &topics, 4).await,
        owned_per_topic(&mut first, &topics, 4).await,
    ];
    assert_eq!(
        shares,
        [[2, 2], [2, 2]],
        "each member's share of each topic"
    );
}

async fn restart_resumes_from_commit<B: Bus>(bus: B) {
    let topic = support::unique("suite-restart");
    let group = support::unique("g");
    bus.ensure_topics(&[TopicSpec::new(&topic, 3)])
        .await
        .unwrap();
    publish_keyed(&bus, &topic, 30, 10).await;
    let topics = vec![topic.clone()];

    let mut first = bus.consumer(&group, &topics).unwrap();
    let mut tracker = OffsetTracker::default();
    let mut done = HashSet::new();
    for _ in 0..100 {
        let m = timeout(WAIT, first.recv())
            .await
            .expect("first member got messages")
            .unwrap();
        tracker.processed(&m);
        done.insert(parse(&m));
    }
    let offsets = tracker.take();
    first.commit(&offsets).await.unwrap();
    let asked: Vec<(String, i32)> = offsets
        .iter()
        .map(|o| (o.topic.clone(), o.partition))
        .collect();
    let committed = first.committed(&asked).await.unwrap();
    let want: Vec<Option<i64>> = offsets.iter().map(|o| Some(o.next)).collect();
    assert_eq!(committed, want, "committed positions read back");
    assert_eq!(
        bus.group_committed(&group, &asked).await.unwrap(),
        want,
        "and from outside the group"
    );
    drop(first);

    let mut second = bus.consumer(&group, &topics).unwrap();
    let mut rest = HashSet::new();
    while rest.len() + done.len() < 300 {
        let m = timeout(WAIT, second.recv())
            .await
            .expect("second member resumed")
            .unwrap();
        let p = parse(&m);
        assert!(
            !done.contains(&p),
            "committed message {p:?} was delivered again"
        );
        assert!(rest.insert(p), "message {p:?} delivered twice");
    }
    // Nothing more may come: everything has been delivered exactly once.
    if let Ok(m) = timeout(Duration::from_secs(2), second.recv()).await {
        panic!("unexpected extra message {:?}", m.map(|m| parse(&m)));
    }
}

mod memory {
    use super::*;

    #[tokio::test]
    async fn two_members_get_everything_in_key_order() {
        super::two_members_get_everything_in_key_order(MemoryBus::new()).await;
    }

    #[tokio::test]
    async fn a_joining_member_takes_half_of_every_topic() {
        super::a_joining_member_takes_half_of_every_topic(MemoryBus::new()).await;
    }

    #[tokio::test]
    async fn restart_resumes_from_commit() {
        super::restart_resumes_from_commit(MemoryBus::new()).await;
    }
}

mod kafka {
    use super::*;

    fn bus(brokers: String) -> KafkaBus {
        let mut args = KafkaArgs::with_brokers(brokers);
        args.settings = support::kafka_settings();
        KafkaBus::connect(&args).unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn two_members_get_everything_in_key_order() {
        support::require!(brokers = support::KAFKA, "Kafka broker");
        super::two_members_get_everything_in_key_order(bus(brokers)).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_joining_member_takes_half_of_every_topic() {
        support::require!(brokers = support::KAFKA, "Kafka broker");
        super::a_joining_member_takes_half_of_every_topic(bus(brokers)).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn restart_resumes_from_commit() {
        support::require!(brokers = support::KAFKA, "Kafka broker");
        super::restart_resumes_from_commit(bus(brokers)).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_unreachable_broker_is_a_retriable_delivery_error() {
        let mut args = KafkaArgs::with_brokers("127.0.0.1:1");
        args.settings = vec![("message.timeout.ms".into(), "1500".into())];
        let bus = KafkaBus::connect(&args).unwrap();
        let err = bus
            .publish(OutMessage::new("t", b"k", b"v"))
            .await
            .unwrap_err();
        assert!(err.is_retriable(), "{err}");
        assert!(err.to_string().contains("delivery to t failed"), "{err}");
    }
}
