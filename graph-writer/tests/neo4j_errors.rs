//! What Neo4j really answers, sorted by the writer's error classes: a
//! statement it rejects is isolated (Rejected), a deadlock and a database
//! that does not exist yet are retried (Transient), refused credentials are
//! Auth. The writer's retry, split and stop paths branch on these.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use infragraph_graph_writer::{BoltConfig, BoltSink, SinkError, bolt::classify};

fn sink(cfg: &BoltConfig) -> BoltSink {
    BoltSink::connect(cfg).expect("bolt config is valid")
}

async fn run(sink: &BoltSink, text: &str) -> Result<(), SinkError> {
    sink.graph()
        .run(neo4rs::query(text))
        .await
        .map_err(classify)
}

#[tokio::test]
async fn a_statement_neo4j_rejects_is_rejected() {
    let Some(cfg) = common::bolt_config() else {
        return;
    };
    let s = sink(&cfg);
    // A syntax error, and a property value Neo4j cannot store (a map).
    for bad in [
        "MERGE (n:Process {id: 'x'}",
        "CREATE (n:ProbeRejected {m: {a: 1}})",
    ] {
        match run(&s, bad).await {
            Err(SinkError::Rejected(text)) => assert!(text.contains("Neo.ClientError"), "{text}"),
            other => panic!("`{bad}` should be rejected, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn refused_credentials_are_an_auth_error() {
    let Some(cfg) = common::bolt_config() else {
        return;
    };
    let wrong = BoltConfig {
        password: format!("{}-wrong", cfg.password),
        timeout: Duration::from_secs(20),
        ..cfg
    };
    match run(&sink(&wrong), "RETURN 1").await {
        Err(SinkError::Auth(_)) => {}
        other => panic!("a wrong password should be an auth error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_database_that_is_not_there_yet_is_waited_for() {
    let Some(cfg) = common::bolt_config() else {
        return;
    };
    let missing = BoltConfig {
        database: "notyet".into(),
        ..cfg
    };
    match run(&sink(&missing), "RETURN 1").await {
        Err(SinkError::Transient(text)) => assert!(
            text.contains("DatabaseNotFound") || text.contains("notyet"),
            "{text}"
        ),
        other => panic!("a missing database should be transient, got {other:?}"),
    }
}

/// Two transactions lock two nodes in opposite orders: Neo4j detects the
/// deadlock and fails one of them with a transient error, retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_is_transient() {
    let Some(cfg) = common::bolt_config() else {
        return;
    };
    let s = sink(&cfg);
    let (a, b) = (
        infragraph_test_support::unique("dl-a"),
        infragraph_test_support::unique("dl-b"),
    );
    let lock = |id: &str| {
        neo4rs::query("MATCH (n:ProbeDeadlock {id: $id}) SET n.v = coalesce(n.v, 0) + 1")
            .param("id", id)
    };
    s.graph()
        .run(
            neo4rs::query("CREATE (:ProbeDeadlock {id: $a}), (:ProbeDeadlock {id: $b})")
                .param("a", a.as_str())
                .param("b", b.as_str()),
        )
        .await
        .expect("create the two nodes");
    let mut t1 = s.graph().start_txn().await.expect("first transaction");
    let mut t2 = s.graph().start_txn().await.expect("second transaction");
    t1.run(lock(&a)).await.expect("t1 locks a");
    t2.run(lock(&b)).await.expect("t2 locks b");
    // Each now waits for the other's lock.
    let (r1, r2) = tokio::join!(t1.run(lock(&b)), t2.run(lock(&a)));
    let failed: Vec<SinkError> = [r1, r2]
        .into_iter()
        .filter_map(Result::err)
        .map(classify)
        .collect();
    assert!(!failed.is_empty(), "Neo4j detects the deadlock");
    for e in &failed {
        assert!(
            matches!(e, SinkError::Transient(t) if t.contains("Deadlock")),
            "a deadlock is transient: {e:?}"
        );
    }
    // The survivor still holds both locks.
    let _ = t1.rollback().await;
    let _ = t2.rollback().await;
    let _ = s
        .graph()
        .run(
            neo4rs::query("MATCH (n:ProbeDeadlock) WHERE n.id IN [$a, $b] DELETE n")
                .param("a", a.as_str())
                .param("b", b.as_str()),
        )
        .await;
}
