//! The sync runner against a real Kafka broker.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::FakeCollector;
use infragraph_bus::{Bus, Consumer, KafkaArgs, KafkaBus};
use infragraph_collector::{RetryPolicy, SyncError, Syncer, TopicLayout};
use infragraph_schemas::{Codec, ResourceKind, SYNC_TOPIC, SyncStatus};
use infragraph_test_support::{self as support, require};
use tokio::time::{Instant, timeout};

const WAIT: Duration = Duration::from_secs(60);

fn args(brokers: &str) -> KafkaArgs {
    let mut args = KafkaArgs::with_brokers(brokers);
    args.settings = infragraph_test_support::kafka_settings();
    args.topic_partitions = 3;
    args
}

#[tokio::test]
async fn a_sync_lands_on_the_broker_with_matching_counts() {
    require!(brokers = support::KAFKA, "Kafka broker");
    let args = args(&brokers);
    let bus = KafkaBus::connect(&args).unwrap();
    let syncer = Syncer::new(bus.clone()).with_layout(TopicLayout::from(&args));
    syncer.prepare().await.unwrap();
    let scope = support::unique("kafka-sync");
    let report = syncer.sync(&FakeCollector::new(&scope)).await.unwrap();

    let codec = Codec::builtin();
    let mut consumer = bus
        .consumer(&support::unique("g"), &[SYNC_TOPIC.to_owned()])
        .unwrap();
    let mut statuses = Vec::new();
    let deadline = Instant::now() + WAIT;
    while statuses.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = timeout(left, consumer.recv())
            .await
            .expect("both markers arrive within a minute")
            .unwrap();
        // The topics are shared with other tests' messages, some
        // deliberately undecodable: only ours are looked at.
        if msg.key.as_deref() != Some(format!("fake/{scope}").as_bytes()) {
            continue;
        }
        let m = codec.decode_sync_marker(&msg.payload).unwrap();
        {
            assert_eq!(m.epoch, report.epoch);
            if m.status == SyncStatus::Completed {
                assert_eq!(m.counts, report.counts);
            }
            statuses.push(m.status);
        }
    }
    assert_eq!(statuses, vec![SyncStatus::Started, SyncStatus::Completed]);

    // Every counted observation is on the broker where the counts say.
    let topics = vec![ResourceKind::Host.topic(), ResourceKind::Process.topic()];
    let mut consumer = bus.consumer(&support::unique("g"), &topics).unwrap();
    let mut found = std::collections::BTreeMap::new();
    while found.values().sum::<i64>() < report.total() as i64 {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = timeout(left, consumer.recv())
            .await
            .expect("every observation arrives within a minute")
            .unwrap();
        if !msg
            .key
            .as_deref()
            .is_some_and(|k| k.starts_with(scope.as_bytes()))
        {
            continue;
        }
        let obs = codec.decode_observation(&msg.payload).unwrap();
        if obs.scope.scope == scope {
            *found.entry((msg.topic, msg.partition)).or_insert(0) += 1;
        }
    }
    let counted: std::collections::BTreeMap<_, _> = report
        .counts
        .iter()
        .map(|c| ((c.topic.clone(), c.partition), c.count))
        .collect();
    assert_eq!(found, counted);
}

#[tokio::test]
async fn an_unreachable_broker_fails_the_sync_instead_of_hanging_or_panicking() {
    // Nothing listens on port 9 (discard) here; librdkafka reports the
    // message timed out, which is retriable, and the retries are bounded.
    let mut args = KafkaArgs::with_brokers("127.0.0.1:9");
    args.settings = vec![("message.timeout.ms".into(), "300".into())];
    let bus = KafkaBus::connect(&args).unwrap();
    let retry = RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(10),
    };
    let err = Syncer::new(bus)
        .with_retry(retry)
        .sync(&FakeCollector::new("nowhere"))
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
}
