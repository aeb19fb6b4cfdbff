//! Write throughput on one database, same rows, one run:
//! (a) one MERGE round trip per row (the Neomodel way),
//! (b) Cartography's way (UNWIND batches of 10,000 rewriting every
//!     property on every sync, cleanup by update tag),
//! (c) this writer (planned batches; a delta resync sends only what
//!     changed, a reconciliation touches the unchanged rows; scoped
//!     cleanup), and the database's raw UNWIND rate for the same rows (also
//!     storing the bookkeeping the writer stores), and its cheapest
//!     possible touch (the floor for any resync that writes each row).
//!
//! A warm-up round runs every statement first (the database may be a JVM),
//! then timed rounds alternate whether (b) or (c) goes first; medians are
//! printed. INFRAGRAPH_BENCH_ROUNDS sets the rounds (default 3). (a), the
//! raw rates and (c)'s initial nodes, the figures the targets compare, run
//! batch by batch in turn, so a drift in the machine's load between them
//! does not show as a ratio.
//!
//! Runs against INFRAGRAPH_TEST_BOLT (user:password in
//! INFRAGRAPH_TEST_BOLT_AUTH, database INFRAGRAPH_TEST_BOLT_DATABASE,
//! default `neo4j`); skips without it.
//! INFRAGRAPH_BENCH_ROWS sets the row count (default 5000).
//! `cargo bench -p infragraph-graph-writer --bench writer`

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
    EdgeRef, EdgeUpsert, Element, GraphChange, NodeRef, NodeUpsert, Properties, RelType,
    ResourceKind, ScopeRef, Touch, Value,
};
use neo4rs::{BoltList, BoltMap, BoltType, query};

const WRITER_BATCH: usize = 5_000;
const CARTOGRAPHY_BATCH: usize = 10_000;
/// The minimal touch's update tag: not one of the syncs' (1, 2, 3).
const TOUCH_TAG: i64 = 99;

fn props(i: usize, sync: i64) -> Properties {
    // 5% of the resources change between syncs.
    let rss = if sync > 1 && i.is_multiple_of(20) {
        2_000 + i as i64
    } else {
        1_000 + i as i64
    };
    [
        ("name", Value::from(format!("proc-{}", i % 50))),
        ("pid", Value::Long(i as i64)),
        ("user", Value::from("root")),
        ("exe", Value::from("/usr/bin/thing")),
        (
            "cmdline",
            Value::from(format!("/usr/bin/thing --worker {i}")),
        ),
        ("rss_bytes", Value::Long(rss)),
        ("threads", Value::Long(4)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn bolt_props(p: &Properties) -> BoltType {
    let m: BoltMap = p
        .iter()
        .map(|(k, v)| {
            let b: BoltType = match v {
                Value::Long(i) => (*i).into(),
                Value::String(s) => s.as_str().into(),
                _ => BoltType::Null(neo4rs::BoltNull),
            };
            (k.as_str().into(), b)
        })
        .collect();
    BoltType::Map(m)
}

fn rows(prefix: &str, ids: std::ops::Range<usize>, sync: i64) -> Vec<BoltType> {
    ids.map(|i| {
        let mut m = BoltMap::new();
        m.put("id".into(), format!("{prefix}-{i}").into());
        m.put("props".into(), bolt_props(&props(i, sync)));
        BoltType::Map(m)
    })
    .collect()
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

async fn timed<F: std::future::Future<Output = ()>>(f: F) -> Duration {
    let t = Instant::now();
    f.await;
    t.elapsed()
}

/// Each batch in its own explicit transaction, as Cartography's loader
/// (`write_transaction`) and this writer do: auto-commit writes would
/// measure a path neither takes.
async fn run_unwind(g: &neo4rs::Graph, text: &str, rows: Vec<BoltType>, tag: i64, batch: usize) {
    for chunk in rows.chunks(batch) {
        // Every statement gets the same parameters, so the raw baselines
        // differ only in what they store; only `raw_kept` reads `$scope`.
        let q = query(text)
            .param("scope", "bench-raw-kept")
            .param(
                "rows",
                BoltType::List(BoltList {
                    value: chunk.to_vec(),
                }),
            )
            .param("tag", tag);
        let mut txn = g.start_txn().await.expect("a transaction");
        txn.run(q).await.expect("unwind runs");
        txn.commit().await.expect("commit");
    }
}

const CARTOGRAPHY: &str = "UNWIND $rows AS row MERGE (n:Process {id: row.id}) ON CREATE SET n.firstseen = $tag \
     SET n += row.props, n.lastupdated = $tag";
const RAW: &str = "UNWIND $rows AS row MERGE (n:Process {id: row.id}) SET n += row.props";

/// The raw `UNWIND MERGE` storing what the writer stores for a node's
/// first sync (its bookkeeping as plain values, `_scope` under its index),
/// with none of the writer's logic: how much of the gap between (c) and
/// [`RAW`] is the data the invariants need, and how much the statement.
fn raw_kept() -> String {
    use infragraph_graph_writer::plan::{
        ASSERTED_AT, ASSERTED_BY, FIRSTSEEN, LASTUPDATED, PROPS_AT, SCOPE,
    };
    format!(
        "UNWIND $rows AS row MERGE (n:Process {{id: row.id}}) \
         SET n += row.props, n.{FIRSTSEEN} = $tag, n.{LASTUPDATED} = $tag, n.{PROPS_AT} = $tag, \
         n.{SCOPE} = $scope, n.{ASSERTED_BY} = [$scope], n.{ASSERTED_AT} = [$tag]"
    )
}
/// The least a resync can write per unchanged row.
const MINIMAL_TOUCH: &str =
    "UNWIND $rows AS row MATCH (n:Process {id: row.id}) SET n.lastupdated = $tag";

async fn wipe(g: &neo4rs::Graph, prefix: &str) {
    loop {
        let q = query("MATCH (n:Process) WHERE n.id STARTS WITH $p WITH n LIMIT 10000 DETACH DELETE n RETURN count(*) AS c").param("p", prefix);
        let mut s = g.execute(q).await.expect("wipe runs");
        let c: i64 = s
            .next()
            .await
            .ok()
            .flatten()
            .and_then(|r| r.get("c").ok())
            .unwrap_or(0);
        if c == 0 {
            return;
        }
    }
}

fn changes(
    prefix: &str,
    n: usize,
    sync: i64,
    scope: &ScopeRef,
) -> (Vec<GraphChange>, Vec<GraphChange>) {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for i in 0..n {
        let node = NodeRef {
            kind: ResourceKind::Process,
            id: format!("{prefix}-{i}"),
        };
        let edge = EdgeRef {
            rel_type: RelType::RunsOn,
            from: node.clone(),
            to: NodeRef {
                kind: ResourceKind::Host,
                id: format!("{prefix}-host"),
            },
        };
        let changed = sync == 1 || i.is_multiple_of(20);
        if changed {
            nodes.push(GraphChange::NodeUpsert(NodeUpsert {
                node,
                scope: scope.clone(),
                epoch: sync,
                observed_at: sync,
                properties: props(i, sync),
                props_at: None,
            }));
        } else {
            nodes.push(GraphChange::Touch(Touch {
                element: Element::Node(node),
                scope: scope.clone(),
                epoch: sync,
            }));
        }
        if sync == 1 {
            edges.push(GraphChange::EdgeUpsert(EdgeUpsert {
                edge,
                scope: scope.clone(),
                epoch: sync,
                observed_at: sync,
                properties: Properties::new(),
                props_at: None,
            }));
        } else {
            edges.push(GraphChange::Touch(Touch {
                element: Element::Edge(edge),
                scope: scope.clone(),
                epoch: sync,
            }));
        }
    }
    (nodes, edges)
}

async fn apply(sink: &BoltSink, changes: &[GraphChange]) {
    for chunk in changes.chunks(WRITER_BATCH) {
        sink.apply(&plan(chunk))
            .await
            .expect("writer batch applies");
    }
}

/// One round's timings, in rows per second.
#[derive(Debug, Clone, Copy, Default)]
struct Round {
    per_row: f64,
    raw: f64,
    raw_kept: f64,
    raw_big: f64,
    cartography_initial: f64,
    cartography_resync: f64,
    cartography_resync_s: f64,
    cartography_cleanup: f64,
    writer_nodes: f64,
    writer_edges: f64,
    writer_touches: f64,
    writer_resync: f64,
    writer_resync_s: f64,
    writer_resync_edges: f64,
    writer_delta_s: f64,
    writer_cleanup: f64,
    minimal_touch: f64,
}

/// (a): one round trip per row, for the rows `ids`.
async fn per_row(g: &neo4rs::Graph, prefix: &str, ids: std::ops::Range<usize>) {
    for r in rows(prefix, ids, 1) {
        let BoltType::Map(m) = r else { continue };
        let id: String = m.get("id").unwrap_or_default();
        let p = m
            .value
            .get("props")
            .cloned()
            .unwrap_or(BoltType::Null(neo4rs::BoltNull));
        g.run(
            query("MERGE (n:Process {id: $id}) SET n += $props")
                .param("id", id)
                .param("props", p),
        )
        .await
        .expect("merge runs");
    }
}

/// Initial nodes four ways, one batch of each in turn, the order rotating
/// from batch to batch, so that all four see the same machine (its load
/// drifts over seconds): (a) per-row MERGEs of a tenth of the batch's rows,
/// the raw `UNWIND MERGE`, the same storing the writer's bookkeeping
/// ([`raw_kept`]) and this writer. Sets their rates in `r`.
async fn initial_nodes(
    sink: &BoltSink,
    p: &Prefixes,
    n: usize,
    nodes: &[GraphChange],
    r: &mut Round,
) {
    let g = sink.graph();
    let kept = raw_kept();
    let mut took = [Duration::ZERO; 4];
    let mut per_row_rows = 0;
    for (b, start) in (0..n).step_by(WRITER_BATCH).enumerate() {
        let end = (start + WRITER_BATCH).min(n);
        let tenth = start..start + ((end - start) / 10).max(1);
        per_row_rows += tenth.len();
        let raw_rows = rows(&p.raw, start..end, 1);
        let kept_rows = rows(&format!("{}-kept", p.raw), start..end, 1);
        for k in 0..4 {
            let which = (b + p.turn + k) % 4;
            took[which] += match which {
                0 => timed(per_row(g, &p.per_row, tenth.clone())).await,
                1 => timed(run_unwind(g, RAW, raw_rows.clone(), 1, WRITER_BATCH)).await,
                2 => timed(run_unwind(g, &kept, kept_rows.clone(), 1, WRITER_BATCH)).await,
                _ => timed(apply(sink, &nodes[start..end])).await,
            };
        }
    }
    (r.per_row, r.raw, r.raw_kept, r.writer_nodes) = (
        rate(per_row_rows, took[0]),
        rate(n, took[1]),
        rate(n, took[2]),
        rate(n, took[3]),
    );
}

/// (b): initial sync, full resync, the cheapest possible touch of the same
/// rows (the database's floor for any resync that writes each row), and
/// cleanup of a tenth by update tag.
async fn cartography(g: &neo4rs::Graph, prefix: &str, n: usize, r: &mut Round) {
    let d1 = timed(run_unwind(
        g,
        CARTOGRAPHY,
        rows(prefix, 0..n, 1),
        1,
        CARTOGRAPHY_BATCH,
    ))
    .await;
    let d2 = timed(run_unwind(
        g,
        CARTOGRAPHY,
        rows(prefix, 0..n, 2),
        2,
        CARTOGRAPHY_BATCH,
    ))
    .await;
    // A tag no sync uses: a touch that writes the value already there may
    // be skipped by the database as a write that changes nothing, and
    // would flatter the floor.
    let dt = timed(run_unwind(
        g,
        MINIMAL_TOUCH,
        rows(prefix, 0..n, 2),
        TOUCH_TAG,
        CARTOGRAPHY_BATCH,
    ))
    .await;
    run_unwind(
        g,
        CARTOGRAPHY,
        rows(prefix, 0..n - n / 10, 3),
        3,
        CARTOGRAPHY_BATCH,
    )
    .await;
    let dc = timed(async {
        loop {
            let q = query("MATCH (n:Process) WHERE n.id STARTS WITH $p AND n.lastupdated <> $tag WITH n LIMIT 10000 DETACH DELETE n RETURN count(*) AS c")
                .param("p", prefix)
                .param("tag", 3_i64);
            let mut s = g.execute(q).await.expect("cleanup runs");
            if s.next().await.ok().flatten().and_then(|r| r.get::<i64>("c").ok()).unwrap_or(0) == 0 {
                break;
            }
        }
    })
    .await;
    (
        r.cartography_initial,
        r.cartography_resync,
        r.cartography_resync_s,
    ) = (rate(n, d1), rate(n, d2), d2.as_secs_f64());
    (r.minimal_touch, r.cartography_cleanup) = (rate(n, dt), rate(n / 10, dc));
}

/// (c): this writer's initial sync, a reconciliation where 5% changed (the
/// rest touched), a delta sync where 5% changed (only those sent, as the
/// normalizer sends them), touches alone, and the scoped cleanup of a tenth.
async fn writer(sink: &BoltSink, p: &Prefixes, n: usize, r: &mut Round) {
    let prefix = p.writer.as_str();
    let scope = ScopeRef::new("bench", prefix.to_owned());
    let (nodes1, edges1) = changes(prefix, n, 1, &scope);
    initial_nodes(sink, p, n, &nodes1, r).await;
    let de = timed(apply(sink, &edges1)).await;
    let (nodes2, edges2) = changes(prefix, n, 2, &scope);
    let dr = timed(apply(sink, &nodes2)).await;
    let dre = timed(apply(sink, &edges2)).await;
    let delta: Vec<GraphChange> = changes(prefix, n, 3, &scope)
        .0
        .into_iter()
        .filter(|c| !matches!(c, GraphChange::Touch(_)))
        .collect();
    let dd = timed(apply(sink, &delta)).await;
    // Touches alone, of a sync not applied yet: each one moves the element's
    // epoch, as a resync's touches do (re-applying epoch 2's touches would
    // write nothing new, and the database skips such writes).
    let touches: Vec<GraphChange> = changes(prefix, n, 4, &scope)
        .0
        .into_iter()
        .filter(|c| matches!(c, GraphChange::Touch(_)))
        .collect();
    let dt = timed(apply(sink, &touches)).await;
    let (nodes5, edges5) = changes(prefix, n, 5, &scope);
    let keep = n - n / 10;
    apply(sink, &nodes5[..keep]).await;
    apply(sink, &edges5[..keep]).await;
    let mut report = infragraph_graph_writer::CleanupReport::default();
    let dc = timed(async { report = sink.cleanup(&scope, 5, 10_000).await.expect("cleanup runs") })
        .await;
    r.writer_delta_s = dd.as_secs_f64();
    (r.writer_edges, r.writer_resync, r.writer_resync_s) =
        (rate(n, de), rate(n, dr), dr.as_secs_f64());
    (r.writer_resync_edges, r.writer_touches) = (rate(n, dre), rate(touches.len(), dt));
    r.writer_cleanup = rate((report.unasserted as usize).max(1), dc);
}

/// Each figure's own ids, so no statement finds another's nodes.
struct Prefixes {
    per_row: String,
    cartography: String,
    writer: String,
    raw: String,
    /// Which of (a), the raw baselines and (c) goes first in the round's
    /// first batch.
    turn: usize,
}

/// Round `i` on fresh ids; it alternates which of (b) and (c) runs first,
/// so neither always gets the warmer database. (a) and the raw baselines run
/// beside (c)'s initial nodes (`initial_nodes`).
async fn round(sink: &BoltSink, n: usize, name: &str, i: usize) -> Round {
    let g = sink.graph();
    let p = |x: &str| format!("bench-{x}-{name}-{}", std::process::id());
    let p = Prefixes {
        per_row: p("a"),
        cartography: p("b"),
        writer: p("c"),
        raw: p("r"),
        turn: i,
    };
    let mut r = Round {
        raw_big: rate(
            n,
            timed(run_unwind(
                g,
                RAW,
                rows(&format!("{}-big", p.raw), 0..n, 1),
                1,
                CARTOGRAPHY_BATCH,
            ))
            .await,
        ),
        ..Round::default()
    };
    if i.is_multiple_of(2) {
        writer(sink, &p, n, &mut r).await;
        cartography(g, &p.cartography, n, &mut r).await;
    } else {
        cartography(g, &p.cartography, n, &mut r).await;
        writer(sink, &p, n, &mut r).await;
    }
    for prefix in [
        &p.per_row,
        &p.cartography,
        &p.writer,
        &p.raw,
        &format!("{}-big", p.raw),
    ] {
        wipe(g, prefix).await;
    }
    let q = query("MATCH (n:Host) WHERE n.id STARTS WITH $p DETACH DELETE n")
        .param("p", p.writer.as_str());
    let _ = g.run(q).await;
    r
}

fn median(rounds: &[Round], f: impl Fn(&Round) -> f64) -> f64 {
    let mut v: Vec<f64> = rounds.iter().map(f).collect();
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
    let arg = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
    let n: usize = arg("INFRAGRAPH_BENCH_ROWS").unwrap_or(5_000);
    let rounds: usize = arg("INFRAGRAPH_BENCH_ROUNDS").unwrap_or(3);

    // The database is a JVM: every statement shape runs once, untimed,
    // before anything is measured.
    round(&sink, n / 5, "warmup", 1).await;
    let mut all = Vec::new();
    for i in 0..rounds {
        let r = round(&sink, n, &format!("r{i}"), i).await;
        println!(
            "round {}: (c)/(a) {:.1}x, resync (b)/(c) delta {:.1}x, reconciliation {:.2}x, (c) vs raw {:.0}% (vs raw storing its bookkeeping {:.0}%)",
            i + 1,
            r.writer_nodes / r.per_row,
            r.cartography_resync_s / r.writer_delta_s.max(1e-9),
            r.cartography_resync_s / r.writer_resync_s.max(1e-9),
            100.0 * r.writer_nodes / r.raw,
            100.0 * r.writer_nodes / r.raw_kept
        );
        all.push(r);
    }
    let m = |f: fn(&Round) -> f64| median(&all, f);
    println!(
        "rows: {n} Process nodes (+{n} RUNS_ON for the writer); medians of {rounds} rounds after a warm-up round"
    );
    println!(
        "(a) per-row MERGE           nodes {:>10.0} rows/s",
        m(|r| r.per_row)
    );
    println!(
        "(b) cartography initial     nodes {:>10.0} rows/s",
        m(|r| r.cartography_initial)
    );
    println!(
        "(b) cartography resync      nodes {:>10.0} rows/s",
        m(|r| r.cartography_resync)
    );
    println!(
        "(b) cartography cleanup           {:>10.0} rows/s",
        m(|r| r.cartography_cleanup)
    );
    println!(
        "(c) writer initial          nodes {:>10.0} rows/s",
        m(|r| r.writer_nodes)
    );
    println!(
        "(c) writer initial          rels  {:>10.0} rows/s",
        m(|r| r.writer_edges)
    );
    println!(
        "(c) writer touches          nodes {:>10.0} rows/s",
        m(|r| r.writer_touches)
    );
    println!(
        "(c) writer reconciliation (5% chg) nodes {:>10.0} rows/s",
        m(|r| r.writer_resync)
    );
    println!(
        "(c) writer reconciliation (touches) rels {:>10.0} rows/s",
        m(|r| r.writer_resync_edges)
    );
    println!(
        "(c) writer delta resync (5% chg)   {:>10.0} resynced nodes/s ({} rows sent)",
        m(|r| 1.0 / r.writer_delta_s.max(1e-9)) * n as f64,
        n / 20
    );
    println!(
        "(c) writer cleanup                {:>10.0} rows/s",
        m(|r| r.writer_cleanup)
    );
    println!(
        "raw UNWIND MERGE            nodes {:>10.0} rows/s (batches of {WRITER_BATCH}; {:.0} rows/s in batches of {CARTOGRAPHY_BATCH})",
        m(|r| r.raw),
        m(|r| r.raw_big)
    );
    println!(
        "raw UNWIND MERGE storing the writer's bookkeeping {:>10.0} rows/s",
        m(|r| r.raw_kept)
    );
    println!(
        "minimal touch (SET lastupdated by id) {:>10.0} rows/s",
        m(|r| r.minimal_touch)
    );
    println!(
        "ratio (c)/(a) initial nodes: {:.1}x (target >= 20x)",
        m(|r| r.writer_nodes / r.per_row)
    );
    println!(
        "ratio (b)/(c) resync time, same nodes, delta sync: {:.1}x (target >= 3x)",
        m(|r| r.cartography_resync_s / r.writer_delta_s.max(1e-9))
    );
    println!(
        "ratio (b)/(c) resync time, same nodes, reconciliation: {:.2}x",
        m(|r| r.cartography_resync_s / r.writer_resync_s.max(1e-9))
    );
    println!(
        "(c) initial nodes vs raw UNWIND: {:.0}%",
        m(|r| 100.0 * r.writer_nodes / r.raw)
    );
    println!(
        "(c) initial nodes vs raw UNWIND storing the writer's bookkeeping: {:.0}%",
        m(|r| 100.0 * r.writer_nodes / r.raw_kept)
    );
    println!(
        "the database's own limits: raw UNWIND / per-row {:.1}x; minimal touch / cartography resync {:.2}x",
        m(|r| r.raw / r.per_row),
        m(|r| r.minimal_touch / r.cartography_resync)
    );
}
