//! A reconciliation's cleanup among many scopes, on one database:
//! INFRAGRAPH_BENCH_SCOPES scopes (default 200) of INFRAGRAPH_BENCH_ROWS
//! processes each (default 250, each with its RUNS_ON), all in the same
//! labels, as a fleet of hosts has them. One scope then reconciles with a
//! tenth of its processes gone, and its cleanup is timed two ways on the
//! same data shape:
//! - (a) the label scan the writer used before scopes had an index
//!   (`MATCH (v:Process) WHERE $scope IN v._asserted_by`, per label and
//!   relationship type), the baseline;
//! - (b) this writer's cleanup, which starts from the scope's
//!   `InfragraphSync` node and from its entries in each label's scope
//!   index.
//!
//! Each round cleans two scopes of equal size, one per way, alternating
//! which goes first; medians are printed with the ratio (a)/(b). The
//! baseline's statements are spelled out here, so the comparison runs in
//! one process on one graph.
//!
//! Runs against INFRAGRAPH_TEST_BOLT (see the writer benchmark); skips
//! without it. `cargo bench -p infragraph-graph-writer --bench cleanup`

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// The allocator the binaries run with (infragraph/src/main.rs), so the
/// figures are the deployed code's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use infragraph_graph_writer::plan::plan;
use infragraph_graph_writer::{BoltConfig, BoltSink, Sink};
use infragraph_schemas::{
    EdgeRef, EdgeUpsert, GraphChange, NodeRef, NodeUpsert, Properties, RelType, ResourceKind,
    ScopeKind, ScopeRef, Value,
};
use neo4rs::query;

const BATCH: usize = 5_000;

/// The cleanup statement before the index, for one label or type.
fn label_scan(pattern: &str, delete: &str) -> String {
    format!(
        "{pattern} WHERE $scope IN v._asserted_by\n\
         WITH v, [i IN range(0, size(v._asserted_by) - 1) WHERE v._asserted_by[i] = $scope | i][0] AS at\n\
         WHERE v._asserted_at[at] < $epoch\n\
         WITH v, at LIMIT $limit\n\
         WITH v, [i IN range(0, size(v._asserted_by) - 1) WHERE i <> at | v._asserted_by[i]] AS ss, \
         [i IN range(0, size(v._asserted_at) - 1) WHERE i <> at | v._asserted_at[i]] AS es\n\
         SET v._asserted_by = ss, v._asserted_at = es\n\
         WITH count(v) AS processed, collect(CASE WHEN size(ss) = 0 THEN v END) AS gone\n\
         FOREACH (g IN gone | {delete})\n\
         RETURN processed, size(gone) AS deleted"
    )
}

fn scope(prefix: &str, i: usize) -> ScopeRef {
    ScopeRef::new("bench", ScopeKind::Host.scope(&format!("{prefix}-{i}")))
}

/// One host's sync at `epoch`: its processes `0..n` (each RUNS_ON the host).
fn host_sync(prefix: &str, i: usize, n: usize, epoch: i64) -> Vec<GraphChange> {
    let s = scope(prefix, i);
    let host = NodeRef {
        kind: ResourceKind::Host,
        id: format!("{prefix}-{i}"),
    };
    let mut out = vec![GraphChange::NodeUpsert(NodeUpsert {
        node: host.clone(),
        scope: s.clone(),
        epoch,
        observed_at: epoch,
        properties: Properties::from([("hostname".to_owned(), Value::from("h"))]),
        props_at: None,
    })];
    for p in 0..n {
        let node = NodeRef {
            kind: ResourceKind::Process,
            id: format!("{prefix}-{i}/{p}"),
        };
        let properties = Properties::from([
            ("name".to_owned(), Value::from("worker")),
            ("pid".to_owned(), Value::Long(p as i64)),
        ]);
        out.push(GraphChange::NodeUpsert(NodeUpsert {
            node: node.clone(),
            scope: s.clone(),
            epoch,
            observed_at: epoch,
            properties,
            props_at: None,
        }));
        let edge = EdgeRef {
            rel_type: RelType::RunsOn,
            from: node,
            to: host.clone(),
        };
        out.push(GraphChange::EdgeUpsert(EdgeUpsert {
            edge,
            scope: s.clone(),
            epoch,
            observed_at: epoch,
            properties: Properties::new(),
            props_at: None,
        }));
    }
    out
}

async fn apply(sink: &BoltSink, changes: &[GraphChange]) {
    for chunk in changes.chunks(BATCH) {
        sink.apply(&plan(chunk)).await.expect("batch applies");
    }
}

/// Runs `text` until a step processes fewer than `limit` rows.
async fn drain(g: &neo4rs::Graph, text: &str, s: &ScopeRef, epoch: i64) {
    const LIMIT: i64 = 10_000;
    loop {
        let q = query(text)
            .param("scope", s.to_string())
            .param("epoch", epoch)
            .param("limit", LIMIT);
        let mut rows = g.execute(q).await.expect("cleanup step runs");
        let processed = rows
            .next()
            .await
            .ok()
            .flatten()
            .and_then(|r| r.get::<i64>("processed").ok())
            .unwrap_or(0);
        if processed < LIMIT {
            return;
        }
    }
}

async fn baseline(g: &neo4rs::Graph, s: &ScopeRef, epoch: i64) -> Duration {
    let start = Instant::now();
    drain(
        g,
        &label_scan("MATCH ()-[v:RUNS_ON]->()", "DELETE g"),
        s,
        epoch,
    )
    .await;
    for label in ["Process", "Host"] {
        drain(
            g,
            &label_scan(&format!("MATCH (v:{label})"), "DETACH DELETE g"),
            s,
            epoch,
        )
        .await;
    }
    start.elapsed()
}

async fn indexed(sink: &BoltSink, s: &ScopeRef, epoch: i64) -> (Duration, u64) {
    let start = Instant::now();
    let report = sink.cleanup(s, epoch, 10_000).await.expect("cleanup runs");
    (start.elapsed(), report.unasserted)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let Some(t) = infragraph_test_support::bolt_target() else {
        return;
    };
    let cfg = BoltConfig {
        uri: t.uri,
        user: t.user,
        password: t.password,
        database: t.database,
        timeout: Duration::from_secs(600),
    };
    let sink = BoltSink::connect(&cfg).expect("bolt config");
    sink.prepare().await.expect("constraints");
    let arg = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (scopes, n, rounds) = (
        arg("INFRAGRAPH_BENCH_SCOPES", 200),
        arg("INFRAGRAPH_BENCH_ROWS", 250),
        arg("INFRAGRAPH_BENCH_ROUNDS", 3),
    );
    let prefix = format!("bench-cleanup-{}", std::process::id());
    let load = Instant::now();
    let mut all = Vec::new();
    for i in 0..scopes {
        all.extend(host_sync(&prefix, i, n, 1));
        if all.len() >= 50_000 {
            apply(&sink, &all).await;
            all.clear();
        }
    }
    apply(&sink, &all).await;
    println!(
        "graph: {scopes} scopes x {n} processes (+RUNS_ON), loaded in {:.1}s",
        load.elapsed().as_secs_f64()
    );
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for r in 0..rounds.min(scopes / 2) {
        // Two scopes reconcile with a tenth of their processes gone.
        let (sa, sb) = (2 * r, 2 * r + 1);
        for i in [sa, sb] {
            apply(&sink, &host_sync(&prefix, i, n - n / 10, 2)).await;
        }
        let (ta, (tb, unasserted)) = if r % 2 == 0 {
            let ta = baseline(sink.graph(), &scope(&prefix, sa), 2).await;
            (ta, indexed(&sink, &scope(&prefix, sb), 2).await)
        } else {
            let tb = indexed(&sink, &scope(&prefix, sb), 2).await;
            (baseline(sink.graph(), &scope(&prefix, sa), 2).await, tb)
        };
        println!(
            "round {}: label scan {:.1} ms, indexed {:.1} ms ({unasserted} unasserted): {:.1}x",
            r + 1,
            ta.as_secs_f64() * 1e3,
            tb.as_secs_f64() * 1e3,
            ta.as_secs_f64() / tb.as_secs_f64().max(1e-9)
        );
        a.push(ta.as_secs_f64());
        b.push(tb.as_secs_f64());
    }
    let (ma, mb) = (median(a), median(b));
    println!(
        "cleanup of one scope among {scopes}: label scan {:.1} ms, indexed {:.1} ms (medians)",
        ma * 1e3,
        mb * 1e3
    );
    println!("ratio (a)/(b): {:.1}x", ma / mb.max(1e-9));
    let scopes_prefix = ScopeRef::new("bench", ScopeKind::Host.scope(&prefix)).to_string();
    for p in [prefix.clone(), scopes_prefix] {
        loop {
            let q = query("MATCH (v) WHERE v.id STARTS WITH $p WITH v LIMIT 10000 DETACH DELETE v RETURN count(*) AS c").param("p", p.as_str());
            let Ok(mut rows) = sink.graph().execute(q).await else {
                break;
            };
            if rows
                .next()
                .await
                .ok()
                .flatten()
                .and_then(|r| r.get::<i64>("c").ok())
                .unwrap_or(0)
                == 0
            {
                break;
            }
        }
    }
}
