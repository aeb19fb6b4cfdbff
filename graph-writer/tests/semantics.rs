//! The writer's semantics, run through the real consumer loop against both
//! sinks: the embedded store and a Bolt database (Neo4j in CI).

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{Changes, host, write};
use infragraph_graph_writer::{Sink, SqliteStore, SyncRecord};
use infragraph_schemas::{
    Element, GraphChange, RelType, ResourceKind, SyncKind, SyncStatus, Value,
};

use ResourceKind::{Endpoint, Host, Process};

async fn nodes_relationships_and_properties_land_as_sent<S: Sink>(sink: Arc<S>) {
    let c = Changes::new("lands");
    let proc_props = [
        ("name", Value::from("sshd")),
        ("pid", Value::Long(42)),
        ("cpu_share", Value::Double(0.25)),
        ("privileged", Value::Bool(true)),
        ("tags", Value::StringList(vec!["a".into(), "b".into()])),
        ("gone", Value::Null),
    ];
    let runs_on = c.edge_ref(RelType::RunsOn, (Process, "p1"), (Host, "h1"));
    let listens = c.edge_ref(RelType::ListensOn, (Process, "p1"), (Endpoint, "e1"));
    write(
        sink.clone(),
        &[
            host(&c, "s", 100, "h1"),
            c.upsert("s", 100, Process, "p1", &proc_props),
            c.edge("s", 100, runs_on, &[("since", Value::Long(7))]),
            c.edge("s", 100, listens, &[]),
        ],
    )
    .await;

    let snap = sink.snapshot(&c.prefix).await.unwrap();
    let p = snap.node(Process, &c.id("p1")).expect("process landed");
    let mut expected = common::props_of(&proc_props);
    expected.remove("gone");
    assert_eq!(p.properties, expected);
    assert_eq!((p.firstseen, p.lastupdated), (Some(100), Some(100)));
    assert_eq!(p.asserted.get(&c.key("s")), Some(&100));
    let e = snap
        .edge(RelType::RunsOn, (Process, &c.id("p1")), (Host, &c.id("h1")))
        .expect("RUNS_ON landed");
    assert_eq!(e.properties, common::props_of(&[("since", Value::Long(7))]));
    assert_eq!((e.firstseen, e.lastupdated), (Some(100), Some(100)));
    let stub = snap.node(Endpoint, &c.id("e1")).expect("edge end stubbed");
    assert!(stub.properties.is_empty() && stub.asserted.is_empty());
    assert_eq!(stub.firstseen, Some(100));
    assert_eq!((snap.nodes.len(), snap.edges.len()), (3, 2));
}

async fn replaying_the_same_changes_leaves_the_same_graph<S: Sink>(sink: Arc<S>) {
    let c = Changes::new("replay");
    let edge = c.edge_ref(RelType::ChildOf, (Process, "child"), (Process, "parent"));
    let changes = [
        c.upsert("s", 10, Process, "parent", &[("name", Value::from("init"))]),
        c.upsert("s", 10, Process, "child", &[("name", Value::from("sh"))]),
        c.edge("s", 10, edge.clone(), &[]),
        c.upsert("s", 20, Process, "child", &[("name", Value::from("bash"))]),
        c.touch("s", 20, Element::Edge(edge)),
        c.barrier("s", 20, SyncStatus::Completed),
    ];
    write(sink.clone(), &changes).await;
    let once = sink.snapshot(&c.prefix).await.unwrap();
    write(sink.clone(), &changes).await;
    let twice = sink.snapshot(&c.prefix).await.unwrap();
    assert_eq!(once, twice);
    let child = once.node(Process, &c.id("child")).unwrap();
    assert_eq!(child.properties.get("name"), Some(&Value::from("bash")));
    assert!(
        once.node(Process, &c.id("parent")).is_none(),
        "parent was not seen in epoch 20"
    );
}

async fn cleanup_runs_only_after_a_completed_barrier<S: Sink>(sink: Arc<S>) {
    let c = Changes::new("barrier");
    write(
        sink.clone(),
        &[
            host(&c, "s", 1, "a"),
            host(&c, "s", 1, "b"),
            host(&c, "s", 1, "c"),
            c.barrier("s", 1, SyncStatus::Completed),
        ],
    )
    .await;
    write(sink.clone(), &[host(&c, "s", 2, "a")]).await;
    let before = sink.snapshot(&c.prefix).await.unwrap();
    assert_eq!(
        before.nodes.len(),
        3,
        "nothing is deleted before the barrier"
    );
    write(sink.clone(), &[c.barrier("s", 2, SyncStatus::Completed)]).await;
    let after = sink.snapshot(&c.prefix).await.unwrap();
    assert_eq!(
        after
            .nodes
            .keys()
            .map(|(_, id)| id.clone())
            .collect::<Vec<_>>(),
        vec![c.id("a")]
    );
}

async fn a_delta_sync_cleans_nothing_and_each_scope_records_its_syncs<S: Sink>(sink: Arc<S>) {
    let c = Changes::new("delta");
    write(
        sink.clone(),
        &[
            host(&c, "s", 1, "a"),
            host(&c, "s", 1, "b"),
            c.barrier("s", 1, SyncStatus::Completed),
        ],
    )
    .await;
    write(
        sink.clone(),
        &[c.barrier_of("s", 2, SyncStatus::Completed, SyncKind::Delta)],
    )
    .await;
    assert_eq!(
        sink.snapshot(&c.prefix).await.unwrap().nodes.len(),
        2,
        "a delta sync retracts explicitly, it never cleans up"
    );
    write(
        sink.clone(),
        &[c.barrier_of("s", 3, SyncStatus::Failed, SyncKind::Delta)],
    )
    .await;
    // A late barrier of an older sync moves nothing back.
    write(
        sink.clone(),
        &[c.barrier_of("s", 0, SyncStatus::Completed, SyncKind::Reconciliation)],
    )
    .await;
    let record = sink
        .sync_record(&c.scope("s"))
        .await
        .unwrap()
        .expect("the scope's record");
    let want = SyncRecord {
        last_completed: Some(2),
        last_completed_kind: Some("DELTA".into()),
        last_reconciled: Some(1),
        last_failed: Some(3),
        last_failed_reason: Some("sync 3 failed".into()),
    };
    assert_eq!(record, want);
    assert_eq!(
        sink.sync_record(&c.scope("other")).await.unwrap(),
        None,
        "a scope that never synced has no record"
    );
}

/// A fleet's batch closes many syncs at once: every reconciliation is
/// cleaned up, delta and failed syncs clean nothing, changes after a
/// barrier in the same batch survive its cleanup, and each scope's record
/// says its newest sync.
async fn one_batch_closes_many_syncs_each_by_its_kind<S: Sink>(sink: Arc<S>) {
    let c = Changes::new("many");
    let first: Vec<_> = ["r", "d", "f"]
        .iter()
        .flat_map(|s| {
            [
                host(&c, s, 1, &format!("{s}-a")),
                host(&c, s, 1, &format!("{s}-b")),
                c.barrier(s, 1, SyncStatus::Completed),
            ]
        })
        .collect();
    write(sink.clone(), &first).await;
    let b_of = |s: &str| Element::Node(c.node(ResourceKind::Host, &format!("{s}-b")));
    write(
        sink.clone(),
        &[
            host(&c, "r", 2, "r-a"),
            c.barrier("r", 2, SyncStatus::Completed),
            c.delete("d", 2, b_of("d")),
            c.barrier_of("d", 2, SyncStatus::Completed, SyncKind::Delta),
            host(&c, "f", 2, "f-a"),
            c.barrier_of("f", 2, SyncStatus::Failed, SyncKind::Reconciliation),
            // The next sync of r has begun inside the same batch.
            host(&c, "r", 3, "r-c"),
            c.barrier_of("r", 3, SyncStatus::Started, SyncKind::Reconciliation),
        ],
    )
    .await;
    let snap = sink.snapshot(&c.prefix).await.unwrap();
    let ids: Vec<_> = snap.nodes.keys().map(|(_, id)| id.clone()).collect();
    let want: Vec<_> = ["d-a", "f-a", "f-b", "r-a", "r-c"]
        .iter()
        .map(|n| c.id(n))
        .collect();
    assert_eq!(ids, want);
    let record = |s: &'static str| {
        let sink = sink.clone();
        let scope = c.scope(s);
        async move { sink.sync_record(&scope).await.unwrap().expect("a record") }
    };
    assert_eq!(record("r").await.last_reconciled, Some(2));
    let d = record("d").await;
    assert_eq!(
        (
            d.last_completed,
            d.last_completed_kind.as_deref(),
            d.last_reconciled
        ),
        (Some(2), Some("DELTA"), Some(1))
    );
    let f = record("f").await;
    assert_eq!((f.last_completed, f.last_failed), (Some(1), Some(2)));
}

async fn properties_apply_by_props_at_the_normalizers_own_order<S: Sink>(sink: Arc<S>) {
    let c = Changes::new("propsat");
    let with = |scope: &str, epoch: i64, props_at: i64, kernel: &str| {
        let mut change = c.upsert(scope, epoch, Host, "h", &[("kernel", Value::from(kernel))]);
        if let infragraph_schemas::GraphChange::NodeUpsert(u) = &mut change {
            u.props_at = Some(props_at);
        }
        change
    };
    write(sink.clone(), &[with("a", 100, 100, "first")]).await;
    // Scope b's clock is behind: its epoch is older, but the normalizer's
    // view it sends is the newest.
    write(sink.clone(), &[with("b", 50, 100, "second")]).await;
    let snap = sink.snapshot(&c.prefix).await.unwrap();
    let node = snap.node(Host, &c.id("h")).expect("the host");
    assert_eq!(node.properties.get("kernel"), Some(&Value::from("second")));
    assert_eq!(
        node.lastupdated,
        Some(100),
        "lastupdated still follows epochs"
    );
    write(sink.clone(), &[with("a", 60, 90, "stale")]).await;
    let snap = sink.snapshot(&c.prefix).await.unwrap();
    assert_eq!(
        snap.node(Host, &c.id("h"))
            .unwrap()
            .properties
            .get("kernel"),
        Some(&Value::from("second")),
        "an older view never wins"
    );
}

async fn a_failed_sync_deletes_nothing<S: Sink>(sink: Arc<S>) {
    let c = Changes::new("failed");
    write(
        sink.clone(),
        &[
            host(&c, "s", 1, "a"),
            host(&c, "s", 1, "b"),
            c.barrier("s", 1, SyncStatus::Completed),
        ],
    )
    .await;
    write(
        sink.clone(),
        &[host(&c, "s", 2, "a"), c.barrier("s", 2, SyncStatus::Failed)],
    )
    .await;
    assert_eq!(sink.snapshot(&c.prefix).await.unwrap().nodes.len(), 2);
}

async fn two_scopes_syncing_at_once_keep_each_others_data<S: Sink>(sink: Arc<S>) {
    let c = Changes::new("two");
    write(
        sink.clone(),
        &[
            host(&c, "x", 1, "x1"),
            host(&c, "x", 1, "x2"),
            host(&c, "y", 1, "y1"),
            host(&c, "y", 1, "y2"),
        ],
    )
    .await;
    // Both sync again, interleaved; x finishes first, with a newer epoch
    // than anything y asserted.
    let edge = c.edge_ref(RelType::RunsOn, (Process, "py"), (Host, "y1"));
    write(
        sink.clone(),
        &[
            host(&c, "y", 5, "y1"),
            host(&c, "x", 9, "x1"),
            c.upsert("y", 5, Process, "py", &[]),
            c.barrier("x", 9, SyncStatus::Completed),
            c.edge("y", 5, edge, &[]),
            host(&c, "y", 5, "y2"),
            c.barrier("y", 5, SyncStatus::Completed),
        ],
    )
    .await;
    let snap = sink.snapshot(&c.prefix).await.unwrap();
    let mut ids: Vec<String> = snap.nodes.keys().map(|(_, id)| id.clone()).collect();
    ids.sort();
    assert_eq!(ids, vec![c.id("py"), c.id("x1"), c.id("y1"), c.id("y2")]);
    assert_eq!(snap.edges.len(), 1);
}

async fn a_node_shared_by_two_scopes_survives_the_first_cleanup<S: Sink>(sink: Arc<S>) {
    let c = Changes::new("shared");
    write(
        sink.clone(),
        &[
            host(&c, "x", 1, "shared"),
            host(&c, "y", 1, "shared"),
            c.barrier("x", 1, SyncStatus::Completed),
        ],
    )
    .await;
    write(sink.clone(), &[c.barrier("x", 2, SyncStatus::Completed)]).await;
    let snap = sink.snapshot(&c.prefix).await.unwrap();
    let node = snap
        .node(Host, &c.id("shared"))
        .expect("y still asserts it");
    assert_eq!(
        node.asserted.keys().cloned().collect::<Vec<_>>(),
        vec![c.key("y")]
    );
    write(sink.clone(), &[c.barrier("y", 2, SyncStatus::Completed)]).await;
    assert!(
        sink.snapshot(&c.prefix).await.unwrap().nodes.is_empty(),
        "gone once the last scope stops asserting it"
    );
}

/// A node's scopes come and go in every order: each one's cleanup or
/// delete still finds the node, whichever way the store reaches it.
async fn a_node_passed_between_scopes_is_found_by_each<S: Sink>(sink: Arc<S>) {
    let c = Changes::new("passed");
    let h = Element::Node(c.node(Host, "h"));
    let asserting = |snap: infragraph_graph_writer::Snapshot| {
        snap.node(Host, &c.id("h"))
            .map(|n| n.asserted.keys().cloned().collect::<Vec<_>>())
    };
    write(
        sink.clone(),
        &[
            host(&c, "x", 1, "h"),
            host(&c, "y", 1, "h"),
            c.barrier("x", 1, SyncStatus::Completed),
        ],
    )
    .await;
    // x, the first to assert h, stops; y takes over, then x comes back.
    write(sink.clone(), &[c.barrier("x", 2, SyncStatus::Completed)]).await;
    write(
        sink.clone(),
        &[host(&c, "y", 3, "h"), host(&c, "x", 3, "h")],
    )
    .await;
    write(sink.clone(), &[c.barrier("y", 4, SyncStatus::Completed)]).await;
    let snap = sink.snapshot(&c.prefix).await.unwrap();
    assert_eq!(
        asserting(snap),
        Some(vec![c.key("x")]),
        "y's cleanup found h"
    );
    // y again, then x deletes h: y alone holds it, and its cleanup ends it.
    write(
        sink.clone(),
        &[host(&c, "y", 5, "h"), c.delete("x", 5, h.clone())],
    )
    .await;
    let snap = sink.snapshot(&c.prefix).await.unwrap();
    assert_eq!(
        asserting(snap),
        Some(vec![c.key("y")]),
        "x's delete found h"
    );
    write(sink.clone(), &[c.barrier("y", 6, SyncStatus::Completed)]).await;
    let snap = sink.snapshot(&c.prefix).await.unwrap();
    assert_eq!(asserting(snap), None, "y's second cleanup found h");
}

async fn an_older_change_arriving_late_changes_nothing<S: Sink>(sink: Arc<S>) {
    let c = Changes::new("late");
    let h = Element::Node(c.node(Host, "h"));
    write(
        sink.clone(),
        &[c.upsert(
            "s",
            10,
            Host,
            "h",
            &[
                ("hostname", Value::from("new")),
                ("kernel", Value::from("6.1")),
            ],
        )],
    )
    .await;
    let before = sink.snapshot(&c.prefix).await.unwrap();
    write(
        sink.clone(),
        &[
            c.upsert("s", 5, Host, "h", &[("hostname", Value::from("old"))]),
            c.touch("s", 7, h.clone()),
            c.delete("s", 8, h),
        ],
    )
    .await;
    assert_eq!(sink.snapshot(&c.prefix).await.unwrap(), before);
    let node = before.node(Host, &c.id("h")).unwrap();
    assert_eq!(
        (node.lastupdated, node.properties.get("hostname")),
        (Some(10), Some(&Value::from("new")))
    );
}

async fn touch_and_delete_move_only_what_they_should<S: Sink>(sink: Arc<S>) {
    let c = Changes::new("touch");
    let edge = c.edge_ref(RelType::ConnectsTo, (Process, "p"), (Endpoint, "remote"));
    write(
        sink.clone(),
        &[
            c.upsert("s", 1, Process, "p", &[("name", Value::from("curl"))]),
            c.edge("s", 1, edge.clone(), &[]),
        ],
    )
    .await;
    write(
        sink.clone(),
        &[c.touch("s", 3, Element::Node(c.node(Process, "p")))],
    )
    .await;
    let snap = sink.snapshot(&c.prefix).await.unwrap();
    let p = snap.node(Process, &c.id("p")).unwrap();
    assert_eq!(
        (p.firstseen, p.lastupdated, p.asserted.get(&c.key("s"))),
        (Some(1), Some(3), Some(&3))
    );
    assert_eq!(p.properties.get("name"), Some(&Value::from("curl")));
    // The scope stops asserting the connection: it goes, and so does the
    // remote end that only existed because of it.
    write(
        sink.clone(),
        &[
            c.delete("s", 3, Element::Edge(edge)),
            c.barrier("s", 3, SyncStatus::Completed),
        ],
    )
    .await;
    let snap = sink.snapshot(&c.prefix).await.unwrap();
    assert!(snap.edges.is_empty());
    assert_eq!(
        snap.nodes
            .keys()
            .map(|(_, id)| id.clone())
            .collect::<Vec<_>>(),
        vec![c.id("p")]
    );
}

async fn cleanup_of_many_elements_runs_in_bounded_batches<S: Sink>(sink: Arc<S>) {
    // The test config cleans 2 elements per transaction: 9 nodes and 8
    // relationships take several rounds, and all of them must go.
    let c = Changes::new("bounded");
    let mut first = vec![c.upsert("s", 1, Process, "root", &[])];
    for i in 0..8 {
        first.push(c.upsert("s", 1, Process, &format!("p{i}"), &[]));
        first.push(c.edge(
            "s",
            1,
            c.edge_ref(
                RelType::ChildOf,
                (Process, &format!("p{i}")),
                (Process, "root"),
            ),
            &[],
        ));
    }
    write(sink.clone(), &first).await;
    assert_eq!(sink.snapshot(&c.prefix).await.unwrap().nodes.len(), 9);
    write(sink.clone(), &[c.barrier("s", 2, SyncStatus::Completed)]).await;
    let snap = sink.snapshot(&c.prefix).await.unwrap();
    assert!(
        snap.nodes.is_empty() && snap.edges.is_empty(),
        "left: {snap:?}"
    );
}

/// A graph, then one batch of retractions, a delete and a relationship
/// naming the deleted node again, and a node two scopes share: changes the
/// planner may put in one segment or must split.
fn mixed_changes(c: &Changes) -> (Vec<GraphChange>, Vec<GraphChange>) {
    let runs_on = c.edge_ref(RelType::RunsOn, (Process, "p"), (Host, "h"));
    let connects = c.edge_ref(RelType::ConnectsTo, (Process, "p"), (Endpoint, "e"));
    let child = c.edge_ref(RelType::ChildOf, (Process, "q"), (Process, "p"));
    let again = c.edge_ref(RelType::ChildOf, (Process, "r"), (Process, "p"));
    let graph = vec![
        host(c, "s1", 1, "h"),
        c.upsert("s1", 1, Process, "p", &[("name", Value::from("nginx"))]),
        c.upsert("s2", 1, Process, "q", &[("name", Value::from("worker"))]),
        c.edge("s1", 1, runs_on.clone(), &[]),
        c.edge("s1", 1, connects.clone(), &[]),
        c.edge("s2", 1, child, &[]),
    ];
    let batch = vec![
        host(c, "s2", 2, "h"),
        // s1's retraction of p: its relationships, then the node (which
        // takes s2's CHILD_OF with it)...
        c.delete("s1", 2, Element::Edge(runs_on)),
        c.delete("s1", 2, Element::Edge(connects)),
        c.delete("s1", 2, Element::Node(c.node(Process, "p"))),
        // ...after which s2 names p again: a stub, and the relationship stays.
        c.edge("s2", 3, again, &[]),
        c.touch("s2", 3, Element::Node(c.node(Process, "q"))),
        c.delete("s1", 3, Element::Node(c.node(Process, "r"))),
    ];
    (graph, batch)
}

/// The snapshot with the test's prefix taken out of ids and scope keys, so
/// two prefixes' graphs compare.
fn unprefixed(snap: &infragraph_graph_writer::Snapshot, c: &Changes) -> String {
    format!("{snap:?}").replace(&c.prefix, "")
}

async fn a_batch_lands_as_its_changes_would_one_by_one<S: Sink>(sink: Arc<S>) {
    let whole = Changes::new("whole");
    let (graph, batch) = mixed_changes(&whole);
    write(sink.clone(), &graph).await;
    write(sink.clone(), &batch).await;
    let each = Changes::new("each");
    let (graph, batch) = mixed_changes(&each);
    write(sink.clone(), &graph).await;
    for change in batch {
        write(sink.clone(), &[change]).await;
    }
    let snap = sink.snapshot(&whole.prefix).await.unwrap();
    let want = unprefixed(&sink.snapshot(&each.prefix).await.unwrap(), &each);
    assert_eq!(unprefixed(&snap, &whole), want);
    let p = snap.node(Process, &whole.id("p")).expect("p named again");
    assert!(
        p.asserted.is_empty() && p.properties.is_empty(),
        "a stub: {p:?}"
    );
    let h = snap
        .node(Host, &whole.id("h"))
        .expect("both scopes assert h");
    assert_eq!(
        h.asserted.keys().collect::<Vec<_>>(),
        vec![&whole.key("s1"), &whole.key("s2")]
    );
    assert_eq!(
        snap.edges
            .keys()
            .map(|k| (k.1.1.clone(), k.2.1.clone()))
            .collect::<Vec<_>>(),
        vec![(whole.id("r"), whole.id("p"))],
        "only the CHILD_OF named after p's delete is left"
    );
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(Arc::new(SqliteStore::in_memory().unwrap())).await;
                }
            )*
        }
        mod bolt {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(sink) = common::bolt() else { return };
                    super::$name(Arc::new(sink)).await;
                }
            )*
        }
    };
}

suite!(
    nodes_relationships_and_properties_land_as_sent,
    replaying_the_same_changes_leaves_the_same_graph,
    cleanup_runs_only_after_a_completed_barrier,
    a_failed_sync_deletes_nothing,
    properties_apply_by_props_at_the_normalizers_own_order,
    a_delta_sync_cleans_nothing_and_each_scope_records_its_syncs,
    one_batch_closes_many_syncs_each_by_its_kind,
    two_scopes_syncing_at_once_keep_each_others_data,
    a_node_shared_by_two_scopes_survives_the_first_cleanup,
    a_node_passed_between_scopes_is_found_by_each,
    an_older_change_arriving_late_changes_nothing,
    touch_and_delete_move_only_what_they_should,
    cleanup_of_many_elements_runs_in_bounded_batches,
    a_batch_lands_as_its_changes_would_one_by_one,
);

/// The orphan sweep removes only the writer's own stubs, never nodes other
/// tools wrote into the same database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bolt_cleanup_never_sweeps_nodes_it_did_not_write() {
    let Some(sink) = common::bolt() else { return };
    let sink = Arc::new(sink);
    let c = Changes::new("foreign");
    let q = neo4rs::query("CREATE (:Host {id: $id, hostname: $id})").param("id", c.id("foreign"));
    sink.graph().run(q).await.unwrap();
    let edge = c.edge_ref(RelType::ConnectsTo, (Process, "p"), (Endpoint, "remote"));
    write(
        sink.clone(),
        &[
            c.upsert("s", 1, Process, "p", &[]),
            c.edge("s", 1, edge, &[]),
            c.barrier("s", 1, SyncStatus::Completed),
        ],
    )
    .await;
    write(sink.clone(), &[c.barrier("s", 2, SyncStatus::Completed)]).await;
    let snap = sink.snapshot(&c.prefix).await.unwrap();
    assert_eq!(
        snap.nodes
            .keys()
            .map(|(_, id)| id.clone())
            .collect::<Vec<_>>(),
        vec![c.id("foreign")]
    );
}
