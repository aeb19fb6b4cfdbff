//! End to end over the real services, every stage its own process as in
//! production: `collect procfs` → broker → two `normalize` instances (one
//! consumer group) → `write` → the Bolt database. The input is a fake proc
//! tree, so the embedded `up --once` run on the same tree says what the
//! graph must hold. Then: a process that exited is removed by the next
//! sync (epoch cleanup), and a sync that died half way removes nothing.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use infragraph_bus::{Bus, KafkaArgs, KafkaBus, OutMessage};
use infragraph_collector::{Collector, SyncContext, SystemClock};
use infragraph_collector_procfs::{ProcfsCollector, ProcfsConfig};
use infragraph_schemas::{Codec, ScopeRef, SyncKind, SyncMarker, SyncStatus, Topics};
use infragraph_test_support::{self as support, require};

/// Generous: two normalizers joining one group rebalance before work starts.
const PATIENCE: Duration = Duration::from_secs(180);

const LO: [u8; 4] = [127, 0, 0, 1];
const ANY: [u8; 4] = [0, 0, 0, 0];

/// A small host: a server with a listener and an accepted connection, its
/// client, a worker listening on the wildcard (it exits later), a helper.
fn fixture() -> FakeProc {
    let fp = FakeProc::new();
    fp.process(
        100,
        "server",
        1,
        500,
        &["/usr/bin/server", "--port=8080"],
        &[1001, 1003],
    );
    fp.process(
        200,
        "client",
        1,
        600,
        &["/usr/bin/client", "127.0.0.1:8080"],
        &[1002],
    );
    fp.process(300, "worker", 100, 700, &["/usr/bin/worker"], &[1004]);
    fp.process(301, "helper", 1, 800, &["/usr/bin/helper"], &[]);
    fp.tcp(&tcp_rows(true));
    fp
}

fn tcp_rows(with_worker: bool) -> Vec<Tcp> {
    let mut rows = vec![
        Tcp {
            local: (LO, 8080),
            remote: (ANY, 0),
            state: TCP_LISTEN,
            inode: 1001,
        },
        Tcp {
            local: (LO, 40000),
            remote: (LO, 8080),
            state: TCP_ESTABLISHED,
            inode: 1002,
        },
        Tcp {
            local: (LO, 8080),
            remote: (LO, 40000),
            state: TCP_ESTABLISHED,
            inode: 1003,
        },
    ];
    if with_worker {
        rows.push(Tcp {
            local: (ANY, 9090),
            remote: (ANY, 0),
            state: TCP_LISTEN,
            inode: 1004,
        });
    }
    rows
}

/// What `up --once` on `proc_root` puts in a fresh embedded store for `host`.
fn embedded(proc_root: &str, host: &str) -> Counts {
    embedded_elements(proc_root, host).counts()
}

fn counts(nodes: &[(&str, u64)], edges: &[(&str, u64)]) -> Counts {
    let map = |v: &[(&str, u64)]| {
        v.iter()
            .map(|(k, n)| ((*k).to_owned(), *n))
            .collect::<BTreeMap<_, _>>()
    };
    Counts {
        nodes: map(nodes),
        edges: map(edges),
    }
}

async fn await_counts(
    sink: &infragraph_graph_writer::BoltSink,
    host: &str,
    expected: &Counts,
    what: &str,
) -> Elements {
    eventually(what, PATIENCE, async || {
        match bolt_elements(sink, host).await {
            Ok(el) if el.counts() == *expected => Ok(el),
            Ok(el) => Err(format!("{:?}", el.counts())),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

/// What a collector that died mid-sync leaves on the bus: a STARTED marker
/// and the first `keep` observations of a sync of `proc_root`, with no
/// COMPLETED or FAILED marker. Returns where the observations landed.
async fn publish_partial_sync(
    bus: &KafkaBus,
    topics: &Topics,
    proc_root: &str,
    host: &str,
    keep: usize,
) -> Vec<(String, i32, i64)> {
    let cfg = ProcfsConfig {
        host_id: Some(host.to_owned()),
        proc_root: proc_root.into(),
        ..ProcfsConfig::default()
    };
    let collector = ProcfsCollector::new(cfg).expect("procfs collector on the fake tree");
    let scope = ScopeRef::new(collector.source(), collector.scope());
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64;
    let ctx = SyncContext::new(scope.clone(), epoch, Arc::new(SystemClock));
    let observations = collector
        .collect(&ctx)
        .await
        .expect("collect from the fake tree");
    assert!(
        observations.len() > keep,
        "the partial sync leaves something out ({} observations)",
        observations.len()
    );

    let codec = Codec::builtin();
    let started = SyncMarker {
        scope: scope.clone(),
        epoch,
        status: SyncStatus::Started,
        reason: None,
        counts: Vec::new(),
        emitted_at: epoch,
        kind: SyncKind::Reconciliation,
    };
    let payload = codec
        .encode_sync_marker(&started)
        .expect("encode the STARTED marker");
    let (sync_topic, key) = (topics.sync(), scope.to_string());
    bus.publish(OutMessage::new(&sync_topic, key.as_bytes(), &payload))
        .await
        .expect("publish STARTED");
    let mut landed = Vec::new();
    for obs in &observations[..keep] {
        let payload = codec
            .encode_observation(obs)
            .expect("encode an observation");
        let topic = topics.observations(obs.kind);
        let d = bus
            .publish(OutMessage::new(&topic, obs.id.as_bytes(), &payload))
            .await
            .expect("publish an observation");
        landed.push((topic, d.partition, d.offset));
    }
    landed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collectors_broker_two_normalizers_writer_and_bolt_agree_with_the_embedded_run() {
    require!(brokers = support::KAFKA, "Kafka broker");
    let Some(bolt_cfg) = bolt_config() else {
        return;
    };
    let host = support::unique("e2e-host");
    let sentinel = support::unique("e2e-sentinel");
    let p = Pipeline::unique(brokers, "e2e");
    let sink = bolt(&bolt_cfg);

    let fake = fixture();
    let expected = embedded(&fake.root(), &host);
    // The reference itself is checked, so an empty run cannot match an
    // empty graph: the fixture's five processes and their sockets.
    assert_eq!(
        expected,
        counts(
            &[("Endpoint", 2), ("Host", 1), ("Process", 5)],
            &[
                ("CHILD_OF", 4),
                ("CONNECTS_TO", 1),
                ("LISTENS_ON", 2),
                ("RUNS_ON", 5)
            ]
        ),
        "the embedded run of the fixture"
    );

    let mut normalizers = [p.normalizer(1), p.normalizer(2)];
    let mut writer = p.writer(&bolt_cfg);

    // 1. One complete sync: the graph holds what the embedded run holds.
    p.collect_procfs(&fake.root(), &host);
    let first = await_counts(
        &sink,
        &host,
        &expected,
        "the first sync in Bolt matches the embedded run",
    )
    .await;
    let worker = format!("{host}/300/700");
    assert!(
        first
            .nodes
            .contains(&("Process".to_owned(), worker.clone())),
        "the worker is in the graph: {first:?}"
    );

    // 2. The worker exits; the next sync removes it, its listener and
    // their relationships, and nothing else.
    fake.remove_process(300);
    fake.tcp(&tcp_rows(false));
    let expected2 = embedded(&fake.root(), &host);
    assert_eq!(
        expected2.nodes.get("Process"),
        Some(&4),
        "the embedded run no longer sees the worker: {expected2:?}"
    );
    p.collect_procfs(&fake.root(), &host);
    let second = await_counts(
        &sink,
        &host,
        &expected2,
        "after the worker exited, Bolt matches the embedded run",
    )
    .await;
    assert!(
        !second.nodes.iter().any(|(_, id)| *id == worker),
        "the exited worker is gone: {second:?}"
    );
    assert!(
        !second
            .edges
            .iter()
            .any(|(_, a, b)| *a == worker || *b == worker),
        "and so are its relationships: {second:?}"
    );
    assert!(
        !second
            .nodes
            .iter()
            .any(|(_, id)| *id == format!("tcp://0.0.0.0:9090@{host}")),
        "and the endpoint only it listened on: {second:?}"
    );

    // 3. A sync killed half way: STARTED and two observations, then
    // nothing. After the pipeline has processed all of it, nothing of the
    // host may have been deleted.
    let mut kafka_args = KafkaArgs::with_brokers(p.brokers.as_str());
    kafka_args.topic_namespace = p.namespace.clone();
    let bus = KafkaBus::connect(&kafka_args).expect("Kafka client");
    let topics = Topics::new(&p.namespace);
    let landed = publish_partial_sync(&bus, &topics, &fake.root(), &host, 2).await;
    // The normalizers commit an observation only once its changes are on
    // the changes topic.
    let partitions: Vec<(String, i32)> = landed.iter().map(|(t, p, _)| (t.clone(), *p)).collect();
    eventually(
        "the normalizers process the partial sync",
        PATIENCE,
        async || {
            let committed = bus
                .group_committed(&p.normalizer_group, &partitions)
                .await
                .map_err(|e| e.to_string())?;
            let done = landed
                .iter()
                .zip(&committed)
                .all(|((_, _, offset), c)| c.is_some_and(|next| next > *offset));
            if done {
                Ok(())
            } else {
                Err(format!("committed {committed:?} vs published {landed:?}"))
            }
        },
    )
    .await;
    // The changes topic has one partition and the writer applies it in
    // order: once a complete sync of another host published after that
    // point is in the graph, the partial sync's changes have been applied.
    let other = FakeProc::new();
    p.collect_procfs(&other.root(), &sentinel);
    eventually(
        "a later sync of another host reaches the graph",
        PATIENCE,
        async || {
            let el = bolt_elements(&sink, &sentinel)
                .await
                .map_err(|e| e.to_string())?;
            if el.nodes.contains(&("Host".to_owned(), sentinel.clone())) {
                Ok(())
            } else {
                Err(format!("{el:?}"))
            }
        },
    )
    .await;
    let after = bolt_elements(&sink, &host).await.expect("read the graph");
    assert_eq!(
        after, second,
        "a sync that died half way deleted or added something"
    );

    for n in &mut normalizers {
        n.assert_running();
    }
    writer.assert_running();
    for stage in normalizers.into_iter().chain([writer]) {
        let name = stage.name.clone();
        let status = stage.terminate();
        assert!(
            status.success(),
            "{name} stops cleanly on SIGTERM: {status}"
        );
    }
    bolt_forget(&sink, &host).await;
    bolt_forget(&sink, &sentinel).await;
}
