//! The binary: refuses to start without a broker, and `--once` publishes a
//! completed sync to a real one.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use infragraph_bus::{Bus, Consumer, KafkaArgs, KafkaBus};
use infragraph_schemas::{Codec, SYNC_TOPIC, SyncStatus};
use infragraph_test_support::{self as support, require};
use tokio::time::{Instant, timeout};

fn bin() -> std::path::PathBuf {
    support::stage_binary("infragraph-collect-procfs")
}

#[test]
fn without_brokers_it_exits_non_zero_naming_the_flag() {
    let out = Command::new(bin())
        .arg("--once")
        .env_remove("INFRAGRAPH_KAFKA_BROKERS")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--kafka-brokers"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn once_publishes_a_completed_sync_to_the_broker() {
    require!(brokers = support::KAFKA, "Kafka broker");
    let host = support::unique("cli-host");
    let status = Command::new(bin())
        .args(["--once", "--kafka-brokers", &brokers, "--host-id", &host])
        .status()
        .unwrap();
    assert!(status.success());

    let mut args = KafkaArgs::with_brokers(&brokers);
    args.settings = infragraph_test_support::kafka_settings();
    let bus = KafkaBus::connect(&args).unwrap();
    let mut consumer = bus
        .consumer(&support::unique("g"), &[SYNC_TOPIC.to_owned()])
        .unwrap();
    let codec = Codec::builtin();
    let deadline = Instant::now() + Duration::from_secs(60);
    let scope = format!("host:{host}");
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = timeout(left, consumer.recv())
            .await
            .expect("the COMPLETED marker arrives within a minute")
            .unwrap();
        // Shared topic: other tests' messages (some undecodable) are skipped.
        if msg.key.as_deref() != Some(format!("procfs/host:{host}").as_bytes()) {
            continue;
        }
        let m = codec.decode_sync_marker(&msg.payload).unwrap();
        if m.scope.scope == scope && m.status == SyncStatus::Completed {
            assert_eq!(m.scope.source, "procfs");
            assert!(
                m.counts.iter().map(|c| c.count).sum::<i64>() > 1,
                "host and processes were published"
            );
            break;
        }
    }
}
