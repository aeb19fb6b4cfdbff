//! The consumer loop's guarantees, over the in-memory bus and the embedded
//! store with injected faults: commit only after the graph transaction,
//! retry transient failures without losing anything, isolate rejected
//! changes to the dead-letter topic, dead-letter undecodable messages.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Changes, drain, host, publish, test_config};
use infragraph_bus::deadletter::REASON_HEADER;
use infragraph_bus::{Bus, MemoryBus, OutMessage};
use infragraph_graph_writer::plan::{Group, Segment};
use infragraph_graph_writer::{CleanupReport, Sink, SinkError, Snapshot, SqliteStore};
use infragraph_schemas::{
    Codec, DEADLETTER_TOPIC, GRAPH_CHANGES_TOPIC, ResourceKind, ScopeRef, SyncKind, SyncStatus,
};

/// The embedded store, failing the first `transient` applies and every
/// apply that contains a node whose id ends with `-poison`.
struct Faulty {
    store: SqliteStore,
    transient: AtomicUsize,
    applies: AtomicUsize,
}

impl Faulty {
    fn new(transient: usize) -> Self {
        Faulty {
            store: SqliteStore::in_memory().unwrap(),
            transient: AtomicUsize::new(transient),
            applies: AtomicUsize::new(0),
        }
    }
}

fn poisoned(segments: &[Segment]) -> bool {
    segments.iter().flat_map(|s| &s.groups).any(|g| matches!(g, Group::Nodes { rows, .. } if rows.iter().any(|r| r.id.ends_with("-poison"))))
}

impl Sink for Faulty {
    async fn prepare(&self) -> Result<(), SinkError> {
        self.store.prepare().await
    }

    async fn apply(&self, segments: &[Segment]) -> Result<(), SinkError> {
        self.applies.fetch_add(1, Ordering::SeqCst);
        if self.transient.load(Ordering::SeqCst) > 0 {
            self.transient.fetch_sub(1, Ordering::SeqCst);
            return Err(SinkError::Transient("connection reset".into()));
        }
        if poisoned(segments) {
            return Err(SinkError::Rejected("property type conflict".into()));
        }
        self.store.apply(segments).await
    }

    async fn cleanup(
        &self,
        scope: &ScopeRef,
        epoch: i64,
        batch: usize,
    ) -> Result<CleanupReport, SinkError> {
        self.store.cleanup(scope, epoch, batch).await
    }

    async fn snapshot(&self, id_prefix: &str) -> Result<Snapshot, SinkError> {
        self.store.snapshot(id_prefix).await
    }

    async fn record_syncs(
        &self,
        updates: &[infragraph_graph_writer::SyncUpdate],
    ) -> Result<(), SinkError> {
        self.store.record_syncs(updates).await
    }

    async fn sync_record(
        &self,
        scope: &ScopeRef,
    ) -> Result<Option<infragraph_graph_writer::SyncRecord>, SinkError> {
        self.store.sync_record(scope).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_and_nothing_is_committed_before_the_graph() {
    let c = Changes::new("transient");
    let sink = Arc::new(Faulty::new(3));
    let bus = MemoryBus::new();
    publish(&bus, &[host(&c, "s", 1, "a"), host(&c, "s", 1, "b")]).await;
    let config = test_config("transient");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(infragraph_graph_writer::run(
        config,
        infragraph_bus::TopicLayout::default(),
        bus.clone(),
        sink.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    // Until the graph accepted the batch, the offsets stay uncommitted.
    while sink.applies.load(Ordering::SeqCst) < 4 {
        assert_eq!(
            bus.lag("transient", GRAPH_CHANGES_TOPIC),
            2,
            "committed before the graph transaction"
        );
        tokio::task::yield_now().await;
    }
    while bus.lag("transient", GRAPH_CHANGES_TOPIC) > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    assert_eq!(sink.snapshot(&c.prefix).await.unwrap().nodes.len(), 2);
    assert!(bus.is_empty(DEADLETTER_TOPIC));
}

/// Barriers do not end a batch: the syncs of many scopes that are already
/// waiting are applied in one transaction and recorded together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_syncs_of_many_scopes_share_one_transaction() {
    let c = Changes::new("fleet");
    let sink = Arc::new(Faulty::new(0));
    let bus = MemoryBus::new();
    let scopes: Vec<String> = (0..30).map(|i| format!("host{i}")).collect();
    let changes: Vec<_> = scopes
        .iter()
        .flat_map(|s| {
            [
                host(&c, s, 1, s),
                c.barrier_of(s, 1, SyncStatus::Completed, SyncKind::Delta),
            ]
        })
        .collect();
    publish(&bus, &changes).await;
    drain(&bus, sink.clone(), test_config("fleet")).await;

    assert_eq!(
        sink.applies.load(Ordering::SeqCst),
        1,
        "one transaction for 30 syncs"
    );
    assert_eq!(sink.snapshot(&c.prefix).await.unwrap().nodes.len(), 30);
    for s in &scopes {
        let record = sink.sync_record(&c.scope(s)).await.unwrap();
        assert_eq!(record.and_then(|r| r.last_completed), Some(1), "{s}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_change_is_isolated_to_the_dead_letter_topic_and_the_rest_applied() {
    let c = Changes::new("reject");
    let sink = Arc::new(Faulty::new(0));
    let bus = MemoryBus::new();
    let mut changes: Vec<_> = (0..7).map(|i| host(&c, "s", 1, &format!("h{i}"))).collect();
    changes.insert(4, host(&c, "s", 1, "poison"));
    publish(&bus, &changes).await;
    drain(&bus, sink.clone(), test_config("reject")).await;

    let snap = sink.snapshot(&c.prefix).await.unwrap();
    assert_eq!(snap.nodes.len(), 7);
    assert!(snap.node(ResourceKind::Host, &c.id("poison")).is_none());
    let dead = bus.messages(DEADLETTER_TOPIC);
    assert_eq!(dead.len(), 1);
    assert_eq!(
        Codec::builtin()
            .decode_graph_change(&dead[0].payload)
            .unwrap(),
        changes[4]
    );
    assert_eq!(
        dead[0].header(REASON_HEADER),
        Some(&b"graph rejected the change: property type conflict"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_messages_go_to_the_dead_letter_topic() {
    let c = Changes::new("garbage");
    let sink = Arc::new(SqliteStore::in_memory().unwrap());
    let bus = MemoryBus::new();
    bus.publish(OutMessage::new(GRAPH_CHANGES_TOPIC, b"k", b"\x00not avro"))
        .await
        .unwrap();
    publish(
        &bus,
        &[
            host(&c, "s", 1, "a"),
            c.barrier("s", 1, SyncStatus::Completed),
        ],
    )
    .await;
    drain(&bus, sink.clone(), test_config("garbage")).await;
    let dead = bus.messages(DEADLETTER_TOPIC);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload, b"\x00not avro");
    assert_eq!(sink.snapshot(&c.prefix).await.unwrap().nodes.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_read_api_answers_counts_neighbours_and_searches() {
    use infragraph_schemas::{RelType, Value};
    let c = Changes::new("read");
    let store = SqliteStore::in_memory().unwrap();
    let edge = c.edge_ref(
        RelType::RunsOn,
        (ResourceKind::Process, "p"),
        (ResourceKind::Host, "h"),
    );
    let bus = MemoryBus::new();
    publish(
        &bus,
        &[
            c.upsert(
                "s",
                1,
                ResourceKind::Host,
                "h",
                &[
                    ("hostname", Value::from("box")),
                    ("ip_addresses", Value::StringList(vec!["10.0.0.1".into()])),
                ],
            ),
            c.upsert(
                "s",
                1,
                ResourceKind::Process,
                "p",
                &[("pid", Value::Long(9))],
            ),
            c.edge("s", 1, edge, &[]),
        ],
    )
    .await;
    drain(&bus, store.clone(), test_config("read")).await;
    assert_eq!(store.counts_by_label().unwrap().get("Host"), Some(&1));
    assert_eq!(store.counts_by_rel_type().unwrap().get("RUNS_ON"), Some(&1));
    assert_eq!(
        store.nodes_by_label(ResourceKind::Process).unwrap()[0].id,
        c.id("p")
    );
    let n = store.neighbours(ResourceKind::Host, &c.id("h")).unwrap();
    assert_eq!(
        (n.len(), n[0].outgoing, n[0].node.id.clone()),
        (1, false, c.id("p"))
    );
    assert_eq!(store.search("pid", &Value::Long(9)).unwrap().len(), 1);
    assert_eq!(
        store
            .search("ip_addresses", &Value::from("10.0.0.1"))
            .unwrap()[0]
            .id,
        c.id("h")
    );
    let mut all = 0;
    store
        .for_each_node(|_| {
            all += 1;
            Ok::<_, SinkError>(())
        })
        .unwrap();
    store
        .for_each_edge(|_| {
            all += 1;
            Ok::<_, SinkError>(())
        })
        .unwrap();
    assert_eq!(all, 3);
}
