//! The sync runner on the in-memory bus: markers, counts, failures, retries
//! and the continuous schedule.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{FakeCollector, FlakyBus};
use infragraph_bus::{Bus, MemoryBus, Message};
use infragraph_collector::{
    ManualClock, RetryPolicy, Schedule, SyncError, Syncer, TopicLayout, run,
};
use infragraph_schemas::{Codec, ResourceKind, SCHEMAS_TOPIC, SYNC_TOPIC, SyncMarker, SyncStatus};
use tokio::sync::watch;

const EPOCH: i64 = 1_700_000_000_000;

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
    }
}

fn syncer<B: Bus>(bus: B) -> Syncer<B> {
    Syncer::new(bus)
        .with_clock(ManualClock::new(EPOCH))
        .with_retry(fast_retry())
        .with_layout(TopicLayout {
            partitions: 3,
            ..TopicLayout::default()
        })
}

fn markers(bus: &MemoryBus) -> Vec<SyncMarker> {
    let codec = Codec::builtin();
    bus.messages(SYNC_TOPIC)
        .iter()
        .map(|m| codec.decode_sync_marker(&m.payload).unwrap())
        .collect()
}

fn observations(bus: &MemoryBus) -> Vec<Message> {
    [ResourceKind::Host, ResourceKind::Process]
        .iter()
        .flat_map(|k| bus.messages(&k.topic()))
        .collect()
}

/// A 2 MB command line would make its observation too large for a topic
/// that takes 1 MB, and fail every sync of the scope: it is cut, saying so.
#[tokio::test]
async fn an_oversized_value_is_cut_at_the_collector_and_the_sync_completes() {
    let bus = MemoryBus::new();
    bus.limit_message_bytes(&ResourceKind::Process.topic(), 1_000_000);
    let syncer = syncer(bus.clone());
    syncer.prepare().await.unwrap();
    let collector = FakeCollector {
        huge: true,
        ..FakeCollector::new("s1")
    };
    syncer.sync(&collector).await.expect("the sync completes");
    let codec = Codec::builtin();
    let cmdlines: Vec<String> = bus
        .messages(&ResourceKind::Process.topic())
        .iter()
        .filter_map(|m| {
            codec
                .decode_observation(&m.payload)
                .ok()?
                .properties
                .get("cmdline")?
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(cmdlines.len(), 1);
    assert!(
        cmdlines[0].len() <= infragraph_collector::bound::MAX_STRING_BYTES,
        "cut to the bound"
    );
    assert!(
        cmdlines[0].ends_with("more bytes]"),
        "the value says it was cut: …{}",
        &cmdlines[0][cmdlines[0].len() - 30..]
    );
}

#[tokio::test]
async fn completed_sync_publishes_markers_and_counts_every_partition() {
    let bus = MemoryBus::new();
    let syncer = syncer(bus.clone());
    syncer.prepare().await.unwrap();
    let report = syncer.sync(&FakeCollector::new("s1")).await.unwrap();

    assert_eq!(report.epoch, EPOCH);
    assert_eq!(
        report.published,
        BTreeMap::from([(ResourceKind::Host, 1), (ResourceKind::Process, 2)])
    );
    let m = markers(&bus);
    assert_eq!(
        m.iter().map(|m| m.status).collect::<Vec<_>>(),
        vec![SyncStatus::Started, SyncStatus::Completed]
    );
    assert!(
        m.iter()
            .all(|m| m.epoch == EPOCH && m.scope.to_string() == "fake/s1")
    );
    let key = bus.messages(SYNC_TOPIC)[0].key.clone().unwrap();
    assert_eq!(key, b"fake/s1");

    // The counts say exactly where every observation went.
    let mut seen: BTreeMap<(String, i32), (i64, i64)> = BTreeMap::new();
    let codec = Codec::builtin();
    for msg in observations(&bus) {
        let obs = codec.decode_observation(&msg.payload).unwrap();
        assert_eq!(
            msg.key.as_deref(),
            Some(obs.id.as_bytes()),
            "keyed by resource id"
        );
        assert_eq!(obs.epoch, EPOCH);
        let e = seen
            .entry((msg.topic.clone(), msg.partition))
            .or_insert((0, -1));
        e.0 += 1;
        e.1 = e.1.max(msg.offset);
    }
    let counted: BTreeMap<(String, i32), (i64, i64)> = m[1]
        .counts
        .iter()
        .map(|c| ((c.topic.clone(), c.partition), (c.count, c.last_offset)))
        .collect();
    assert_eq!(counted, seen);
    assert_eq!(report.counts, m[1].counts);
}

#[tokio::test]
async fn prepare_creates_topics_and_publishes_schemas_by_hex_fingerprint() {
    let bus = MemoryBus::new();
    syncer(bus.clone()).prepare().await.unwrap();
    let codec = Codec::builtin();
    let mut expected: Vec<(String, String)> = codec
        .schemas()
        .map(|(_, fp, json)| (format!("{fp:016x}"), json.to_owned()))
        .collect();
    let mut got: Vec<(String, String)> = bus
        .messages(SCHEMAS_TOPIC)
        .into_iter()
        .map(|m| {
            (
                String::from_utf8(m.key.unwrap()).unwrap(),
                String::from_utf8(m.payload).unwrap(),
            )
        })
        .collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    assert!(got.iter().all(|(k, _)| {
        k.len() == 16
            && k.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    }));
    // Observation topics exist with the layout's partitions.
    let probe = bus
        .consumer("probe", &[ResourceKind::Endpoint.topic()])
        .unwrap();
    assert_eq!(
        infragraph_bus::Consumer::assignment(&probe).unwrap().len(),
        3
    );
}

#[tokio::test]
async fn a_collect_error_fails_the_sync_with_a_reason_and_publishes_nothing_else() {
    let bus = MemoryBus::new();
    let mut c = FakeCollector::new("s2");
    c.fail = true;
    let err = syncer(bus.clone()).sync(&c).await.unwrap_err();
    assert!(matches!(err, SyncError::Collect(_)), "{err}");
    let m = markers(&bus);
    assert_eq!(
        m.iter().map(|m| m.status).collect::<Vec<_>>(),
        vec![SyncStatus::Started, SyncStatus::Failed]
    );
    assert!(
        m[1].reason
            .as_deref()
            .is_some_and(|r| r.contains("unreachable")),
        "{:?}",
        m[1].reason
    );
    assert!(observations(&bus).is_empty());
}

#[tokio::test]
async fn an_invalid_observation_fails_the_sync_before_anything_is_sent() {
    let bus = MemoryBus::new();
    let mut c = FakeCollector::new("s3");
    c.invalid = true;
    let err = syncer(bus.clone()).sync(&c).await.unwrap_err();
    assert!(matches!(err, SyncError::Encode { .. }), "{err}");
    let m = markers(&bus);
    assert_eq!(m.last().map(|m| m.status), Some(SyncStatus::Failed));
    assert!(
        m.last()
            .and_then(|m| m.reason.as_deref())
            .is_some_and(|r| r.contains("favourite_colour"))
    );
    assert!(
        observations(&bus).is_empty(),
        "nothing of an invalid sync is published"
    );
}

#[tokio::test(start_paused = true)]
async fn retriable_send_and_delivery_failures_are_retried_and_the_sync_completes() {
    let bus = FlakyBus::default();
    bus.send_failures.store(2, Ordering::SeqCst);
    let s = syncer(bus.clone());
    s.sync(&FakeCollector::new("s4")).await.unwrap();
    bus.delivery_failures.store(2, Ordering::SeqCst);
    let report = s.sync(&FakeCollector::new("s4")).await.unwrap();
    assert_eq!(report.total(), 3);
    assert_eq!(report.counts.iter().map(|c| c.count).sum::<i64>(), 3);
    assert_eq!(
        observations(&bus.inner).len(),
        6,
        "two syncs of three observations each"
    );
    let statuses: Vec<SyncStatus> = markers(&bus.inner).iter().map(|m| m.status).collect();
    assert_eq!(
        statuses,
        vec![
            SyncStatus::Started,
            SyncStatus::Completed,
            SyncStatus::Started,
            SyncStatus::Completed
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_bus_that_stays_down_fails_the_sync_after_bounded_retries() {
    let bus = FlakyBus::default();
    bus.down.store(true, Ordering::SeqCst);
    let err = syncer(bus.clone())
        .sync(&FakeCollector::new("s5"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SyncError::PublishMarker {
                status: "STARTED",
                ..
            }
        ),
        "{err}"
    );
    // STARTED retried to the limit, then FAILED retried to the limit too.
    assert_eq!(
        bus.attempts.load(Ordering::SeqCst),
        2 * fast_retry().max_attempts
    );
}

#[tokio::test(start_paused = true)]
async fn deliveries_that_keep_failing_end_in_a_failed_marker_not_a_completed_one() {
    let bus = FlakyBus::default();
    bus.delivery_failures.store(1_000, Ordering::SeqCst);
    let err = syncer(bus.clone())
        .sync(&FakeCollector::new("s6"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SyncError::Delivery {
                failed: 3,
                total: 3,
                ..
            }
        ),
        "{err}"
    );
    let statuses: Vec<SyncStatus> = markers(&bus.inner).iter().map(|m| m.status).collect();
    assert_eq!(statuses, vec![SyncStatus::Started, SyncStatus::Failed]);
    assert!(observations(&bus.inner).is_empty());
}

#[tokio::test(start_paused = true)]
async fn continuous_mode_syncs_until_shutdown_with_increasing_epochs() {
    let bus = MemoryBus::new();
    let clock = ManualClock::new(EPOCH);
    let s = Syncer::new(bus.clone())
        .with_clock(clock.clone())
        .with_retry(fast_retry());
    let (stop, shutdown) = watch::channel(false);
    let schedule = Schedule {
        once: false,
        interval: Duration::from_secs(2),
        jitter: Duration::from_millis(500),
        reconcile_interval: infragraph_collector::DEFAULT_RECONCILE_INTERVAL,
    };
    let collector = FakeCollector::new("s7");
    let task = tokio::spawn({
        let bus = bus.clone();
        async move {
            // Stops once three syncs have completed, moving the clock each time.
            loop {
                let done = markers(&bus)
                    .iter()
                    .filter(|m| m.status == SyncStatus::Completed)
                    .count();
                if done >= 3 {
                    let _ = stop.send(true);
                    return;
                }
                clock.advance(1_000);
                tokio::time::sleep(Duration::from_millis(700)).await;
            }
        }
    });
    let stats = run(&collector, &s, schedule, shutdown).await.unwrap();
    task.await.unwrap();
    assert!(stats.completed >= 3 && stats.failed == 0, "{stats:?}");
    let epochs: Vec<i64> = markers(&bus)
        .iter()
        .filter(|m| m.status == SyncStatus::Completed)
        .map(|m| m.epoch)
        .collect();
    assert!(
        epochs.windows(2).all(|w| w[0] < w[1]),
        "each sync gets a later epoch: {epochs:?}"
    );
}
