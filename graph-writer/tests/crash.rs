//! Crashes and outages: the writer SIGKILLed mid-batch and restarted (its
//! own process, the real broker), and the database stopped and restarted
//! while changes flow (a private Neo4j). Both must end with the graph a run
//! without trouble makes.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Changes, host, write};
use infragraph_bus::{Bus, KafkaArgs, KafkaBus, MemoryBus, OutMessage, TopicSpec};
use infragraph_graph_writer::{BoltConfig, BoltSink, Sink, Snapshot, SqliteStore};
use infragraph_schemas::{Codec, Element, GraphChange, RelType, ResourceKind, SyncStatus, Value};
use infragraph_test_support::servers::{NEO4J_PASSWORD, Server};

/// Two syncs of one scope: the second changes, touches and drops some
/// processes, so the run exercises upserts, touches, edges and cleanup.
fn workload(c: &Changes, processes: usize) -> Vec<GraphChange> {
    let mut out = vec![host(c, "s", 1, "h")];
    for epoch in [1, 2] {
        for i in 0..processes {
            if epoch == 2 && i % 4 == 0 {
                continue;
            }
            let name = format!("p{i}");
            if epoch == 2 && i % 4 == 1 {
                out.push(c.touch("s", 2, Element::Node(c.node(ResourceKind::Process, &name))));
                continue;
            }
            out.push(c.upsert(
                "s",
                epoch,
                ResourceKind::Process,
                &name,
                &[
                    ("pid", Value::Long(i as i64)),
                    ("name", Value::from(format!("n{epoch}"))),
                ],
            ));
            out.push(c.edge(
                "s",
                epoch,
                c.edge_ref(
                    RelType::RunsOn,
                    (ResourceKind::Process, &name),
                    (ResourceKind::Host, "h"),
                ),
                &[],
            ));
        }
        if epoch == 2 {
            out.push(host(c, "s", 2, "h"));
        }
        out.push(c.barrier("s", epoch, SyncStatus::Completed));
    }
    out
}

/// The graph an untroubled run leaves, from the embedded store.
async fn reference(changes: &[GraphChange], prefix: &str) -> Snapshot {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    write(store.clone(), changes).await;
    store.snapshot(prefix).await.unwrap()
}

async fn processes_written(sink: &BoltSink, prefix: &str) -> i64 {
    let q = neo4rs::query("MATCH (v:Process) WHERE v.id STARTS WITH $p RETURN count(v) AS n")
        .param("p", prefix);
    match sink.graph().execute(q).await {
        Ok(mut rows) => match rows.next().await {
            Ok(Some(row)) => row.get::<i64>("n").unwrap_or(0),
            _ => 0,
        },
        Err(_) => 0,
    }
}

/// Polls until the sink holds `expected`; fails with the difference after
/// `patience` (a liveness bound, not a timing assertion).
async fn await_graph<S: Sink>(sink: &S, prefix: &str, expected: &Snapshot, patience: Duration) {
    let start = Instant::now();
    loop {
        let now = sink.snapshot(prefix).await.ok();
        if now.as_ref() == Some(expected) {
            return;
        }
        if start.elapsed() > patience {
            let now = now.unwrap_or_default();
            let missing: Vec<_> = expected
                .nodes
                .keys()
                .filter(|k| !now.nodes.contains_key(*k))
                .take(5)
                .collect();
            let extra: Vec<_> = now
                .nodes
                .keys()
                .filter(|k| !expected.nodes.contains_key(*k))
                .take(5)
                .collect();
            let differing: Vec<_> = expected
                .nodes
                .iter()
                .filter(|(k, v)| now.nodes.get(*k).is_some_and(|n| n != *v))
                .take(3)
                .collect();
            panic!(
                "graph never matched: {} vs {} nodes, {} vs {} edges; missing {missing:?}, extra {extra:?}, differing {differing:?}",
                now.nodes.len(),
                expected.nodes.len(),
                now.edges.len(),
                expected.edges.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn spawn_writer(bolt: &BoltConfig, brokers: &str, namespace: &str, group: &str) -> Child {
    Command::new(infragraph_test_support::stage_binary(
        "infragraph-graph-writer",
    ))
    .args([
        "--neo4j-uri",
        &bolt.uri,
        "--neo4j-user",
        &bolt.user,
        "--neo4j-database",
        &bolt.database,
    ])
    .args([
        "--kafka-brokers",
        brokers,
        "--topic-namespace",
        namespace,
        "--writer-group",
        group,
    ])
    .args([
        "--batch-size",
        "300",
        "--batch-timeout-ms",
        "50",
        "--cleanup-batch",
        "100",
    ])
    .args(infragraph_test_support::kafka_flags())
    .env("INFRAGRAPH_NEO4J_PASSWORD", &bolt.password)
    .env("INFRAGRAPH_LOG", "warn")
    .spawn()
    .expect("writer binary starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_killed_mid_batch_and_restarted_ends_with_the_same_graph() {
    infragraph_test_support::require!(brokers = infragraph_test_support::KAFKA, "Kafka broker");
    let Some(bolt) = common::bolt_config() else {
        return;
    };
    let c = Changes::new("sigkill");
    let changes = workload(&c, 1500);
    let expected = reference(&changes, &c.prefix).await;

    let namespace = infragraph_test_support::unique("gw");
    let topic = infragraph_schemas::Topics::new(&namespace).graph_changes();
    let group = infragraph_test_support::unique("gw-group");
    let bus = KafkaBus::connect(&KafkaArgs::with_brokers(brokers.as_str())).unwrap();
    bus.ensure_topics(&[TopicSpec::new(topic.as_str(), 1)])
        .await
        .unwrap();
    let codec = Codec::builtin();
    for change in &changes {
        let bytes = codec.encode_graph_change(change).unwrap();
        // Delivery is confirmed for all of them by the flush below.
        drop(
            bus.send(OutMessage::new(&topic, b"", &bytes))
                .await
                .unwrap(),
        );
    }
    bus.flush(Duration::from_secs(30)).unwrap();

    let sink = BoltSink::connect(&bolt).unwrap();
    let total = expected.nodes.len() as i64;
    // Kill twice at different points of progress, then let a third run finish.
    for threshold in [1, total / 3] {
        let mut writer = spawn_writer(&bolt, &brokers, &namespace, &group);
        let start = Instant::now();
        while processes_written(&sink, &c.prefix).await < threshold {
            assert!(
                writer.try_wait().unwrap().is_none(),
                "writer exited on its own"
            );
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "writer made no progress"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        writer.kill().unwrap(); // SIGKILL
        writer.wait().unwrap();
    }
    let mut writer = spawn_writer(&bolt, &brokers, &namespace, &group);
    await_graph(&sink, &c.prefix, &expected, Duration::from_secs(180)).await;
    writer.kill().unwrap();
    writer.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_stopped_and_restarted_while_changes_flow_loses_nothing() {
    let Some(mut db) = Server::neo4j() else {
        return;
    };
    db.start();
    let c = Changes::new("dbrestart");
    let changes = workload(&c, 600);
    let expected = reference(&changes, &c.prefix).await;
    let bolt = BoltConfig {
        uri: db.bolt_uri(),
        user: "neo4j".into(),
        password: NEO4J_PASSWORD.into(),
        database: "neo4j".into(),
        timeout: Duration::from_secs(60),
    };
    let sink = Arc::new(BoltSink::connect(&bolt).unwrap());
    let bus = MemoryBus::new();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = common::test_config("dbrestart");
    let config = infragraph_graph_writer::WriterConfig {
        batch_size: 200,
        max_backoff_ms: 500,
        cleanup_batch: 100,
        ..config
    };
    let mut task = tokio::spawn(infragraph_graph_writer::run(
        config,
        infragraph_bus::TopicLayout::default(),
        bus.clone(),
        sink.clone(),
        async move {
            let _ = stopped.await;
        },
    ));

    let (first, rest) = changes.split_at(changes.len() / 3);
    common::publish(&bus, first).await;
    while processes_written(&sink, &c.prefix).await == 0 {
        if task.is_finished() {
            panic!("writer ended early: {:?}", task.await);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    db.stop();
    // Changes keep coming while the database is away.
    common::publish(&bus, rest).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        bus.lag("dbrestart", infragraph_schemas::GRAPH_CHANGES_TOPIC) > 0,
        "nothing can be committed while the database is down"
    );
    db.start();
    let dead: Vec<String> = bus
        .messages(infragraph_schemas::DEADLETTER_TOPIC)
        .iter()
        .filter_map(|m| {
            m.header(infragraph_bus::deadletter::REASON_HEADER)
                .map(|r| String::from_utf8_lossy(r).into_owned())
        })
        .take(3)
        .collect();
    assert!(
        dead.is_empty(),
        "an outage must not dead-letter changes: {dead:?}"
    );
    tokio::select! {
        () = await_graph(sink.as_ref(), &c.prefix, &expected, Duration::from_secs(180)) => {}
        ended = &mut task => panic!("writer ended during the outage: {ended:?}"),
    }
    while bus.lag("dbrestart", infragraph_schemas::GRAPH_CHANGES_TOPIC) > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}
