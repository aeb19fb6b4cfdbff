//! Write throughput on one database, same rows, one run:
//! (a) one MERGE round trip per row (the Neomodel way),
//! (b) Cartography's way (UNWIND batches of 10,000 rewriting every
//!     property on every sync, cleanup by update tag),
//! (c) this writer (planned batches, touches for unchanged rows, scoped
//!     cleanup), and the database's raw UNWIND rate for the same rows.
//!
//! Runs against INFRAGRAPH_TEST_BOLT (user:password in
//! INFRAGRAPH_TEST_BOLT_AUTH, database `graph`); skips without it.
//! INFRAGRAPH_BENCH_ROWS sets the row count (default 5000).
//! `cargo bench -p infragraph-graph-writer --bench writer`

use std::time::{Duration, Instant};

use infragraph_graph_writer::plan::plan;
use infragraph_graph_writer::{BoltConfig, BoltSink, Sink};
use infragraph_schemas::{
    EdgeRef, EdgeUpsert, Element, GraphChange, NodeRef, NodeUpsert, Properties, RelType, ResourceKind, ScopeRef, Touch, Value,
};
use neo4rs::{BoltList, BoltMap, BoltType, query};

const WRITER_BATCH: usize = 5_000;
const CARTOGRAPHY_BATCH: usize = 10_000;

fn props(i: usize, sync: i64) -> Properties {
    // 5% of the resources change between syncs.
    let rss = if sync > 1 && i.is_multiple_of(20) { 2_000 + i as i64 } else { 1_000 + i as i64 };
    [
        ("name", Value::from(format!("proc-{}", i % 50))),
        ("pid", Value::Long(i as i64)),
        ("user", Value::from("root")),
        ("exe", Value::from("/usr/bin/thing")),
        ("cmdline", Value::from(format!("/usr/bin/thing --worker {i}"))),
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

async fn run_unwind(g: &neo4rs::Graph, text: &str, rows: Vec<BoltType>, tag: i64) {
    for chunk in rows.chunks(CARTOGRAPHY_BATCH) {
        let q = query(text).param("rows", BoltType::List(BoltList { value: chunk.to_vec() })).param("tag", tag);
        g.run(q).await.expect("unwind runs");
    }
}

const CARTOGRAPHY: &str = "UNWIND $rows AS row MERGE (n:Process {id: row.id}) ON CREATE SET n.firstseen = $tag \
     SET n += row.props, n.lastupdated = $tag";
const RAW: &str = "UNWIND $rows AS row MERGE (n:Process {id: row.id}) SET n += row.props";

async fn wipe(g: &neo4rs::Graph, prefix: &str) {
    loop {
        let q = query("MATCH (n:Process) WHERE n.id STARTS WITH $p WITH n LIMIT 10000 DETACH DELETE n RETURN count(*) AS c").param("p", prefix);
        let mut s = g.execute(q).await.expect("wipe runs");
        let c: i64 = s.next().await.ok().flatten().and_then(|r| r.get("c").ok()).unwrap_or(0);
        if c == 0 {
            return;
        }
    }
}

fn changes(prefix: &str, n: usize, sync: i64, scope: &ScopeRef) -> (Vec<GraphChange>, Vec<GraphChange>) {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for i in 0..n {
        let node = NodeRef { kind: ResourceKind::Process, id: format!("{prefix}-{i}") };
        let edge = EdgeRef { rel_type: RelType::RunsOn, from: node.clone(), to: NodeRef { kind: ResourceKind::Host, id: format!("{prefix}-host") } };
        let changed = sync == 1 || i.is_multiple_of(20);
        if changed {
            nodes.push(GraphChange::NodeUpsert(NodeUpsert { node, scope: scope.clone(), epoch: sync, observed_at: sync, properties: props(i, sync) }));
        } else {
            nodes.push(GraphChange::Touch(Touch { element: Element::Node(node), scope: scope.clone(), epoch: sync }));
        }
        if sync == 1 {
            edges.push(GraphChange::EdgeUpsert(EdgeUpsert { edge, scope: scope.clone(), epoch: sync, observed_at: sync, properties: Properties::new() }));
        } else {
            edges.push(GraphChange::Touch(Touch { element: Element::Edge(edge), scope: scope.clone(), epoch: sync }));
        }
    }
    (nodes, edges)
}

async fn apply(sink: &BoltSink, changes: &[GraphChange]) {
    for chunk in changes.chunks(WRITER_BATCH) {
        sink.apply(&plan(chunk)).await.expect("writer batch applies");
    }
}

#[tokio::main]
async fn main() {
    let Some(t) = infragraph_test_support::bolt_target() else { return };
    let cfg = BoltConfig { uri: t.uri, user: t.user, password: t.password, database: t.database, timeout: Duration::from_secs(600) };
    let sink = BoltSink::connect(&cfg).expect("bolt config");
    sink.prepare().await.expect("constraints");
    let g = sink.graph();
    let n: usize = std::env::var("INFRAGRAPH_BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000);
    let run = std::process::id();
    let (pa, pb, pc, pr) = (format!("bench-a-{run}"), format!("bench-b-{run}"), format!("bench-c-{run}"), format!("bench-r-{run}"));

    // (a) one round trip per row; a tenth of the rows is plenty for a rate.
    let na = (n / 10).max(100);
    let da = timed(async {
        for r in rows(&pa, 0..na, 1) {
            let BoltType::Map(m) = r else { continue };
            let id: String = m.get("id").unwrap_or_default();
            let p = m.value.get("props").cloned().unwrap_or(BoltType::Null(neo4rs::BoltNull));
            g.run(query("MERGE (n:Process {id: $id}) SET n += $props").param("id", id).param("props", p)).await.expect("merge runs");
        }
    })
    .await;

    // Raw UNWIND rate of the same rows: the database's limit.
    let dr = timed(run_unwind(g, RAW, rows(&pr, 0..n, 1), 1)).await;

    // (b) Cartography: initial sync, full resync, cleanup of a tenth.
    let db1 = timed(run_unwind(g, CARTOGRAPHY, rows(&pb, 0..n, 1), 1)).await;
    let db2 = timed(run_unwind(g, CARTOGRAPHY, rows(&pb, 0..n, 2), 2)).await;
    run_unwind(g, CARTOGRAPHY, rows(&pb, 0..n - n / 10, 3), 3).await;
    let dbc = timed(async {
        loop {
            let q = query("MATCH (n:Process) WHERE n.id STARTS WITH $p AND n.lastupdated <> $tag WITH n LIMIT 10000 DETACH DELETE n RETURN count(*) AS c")
                .param("p", pb.as_str())
                .param("tag", 3_i64);
            let mut s = g.execute(q).await.expect("cleanup runs");
            if s.next().await.ok().flatten().and_then(|r| r.get::<i64>("c").ok()).unwrap_or(0) == 0 {
                break;
            }
        }
    })
    .await;

    // (c) this writer.
    let scope = ScopeRef::new("bench", pc.clone());
    let (nodes1, edges1) = changes(&pc, n, 1, &scope);
    let dc_nodes = timed(apply(&sink, &nodes1)).await;
    let dc_edges = timed(apply(&sink, &edges1)).await;
    let (nodes2, edges2) = changes(&pc, n, 2, &scope);
    let dc_resync = timed(apply(&sink, &nodes2)).await;
    let dc_resync_edges = timed(apply(&sink, &edges2)).await;
    let touches: Vec<GraphChange> = nodes2.iter().filter(|c| matches!(c, GraphChange::Touch(_))).cloned().collect();
    let dc_touch = timed(apply(&sink, &touches)).await;
    let (nodes3, edges3) = changes(&pc, n - n / 10, 3, &scope);
    apply(&sink, &nodes3).await;
    apply(&sink, &edges3).await;
    let mut report = Default::default();
    let dc_cleanup = timed(async { report = sink.cleanup(&scope, 3, 10_000).await.expect("cleanup runs") }).await;

    let ra = rate(na, da);
    println!("rows: {n} Process nodes (+{n} RUNS_ON for the writer)");
    println!("(a) per-row MERGE           nodes {ra:>10.0} rows/s");
    println!("(b) cartography initial     nodes {:>10.0} rows/s", rate(n, db1));
    println!("(b) cartography resync      nodes {:>10.0} rows/s  ({:.2} s)", rate(n, db2), db2.as_secs_f64());
    println!("(b) cartography cleanup           {:>10.0} rows/s", rate(n / 10, dbc));
    println!("(c) writer initial          nodes {:>10.0} rows/s", rate(n, dc_nodes));
    println!("(c) writer initial          rels  {:>10.0} rows/s", rate(n, dc_edges));
    println!("(c) writer touches          nodes {:>10.0} rows/s", rate(touches.len(), dc_touch));
    println!("(c) writer resync (5% chg)  nodes {:>10.0} rows/s  ({:.2} s)", rate(n, dc_resync), dc_resync.as_secs_f64());
    println!("(c) writer resync (touches) rels  {:>10.0} rows/s", rate(n, dc_resync_edges));
    println!("(c) writer cleanup                {:>10.0} rows/s  ({report:?})", rate((report.unasserted as usize).max(1), dc_cleanup));
    println!("raw UNWIND MERGE            nodes {:>10.0} rows/s", rate(n, dr));
    println!("ratio (c)/(a) initial nodes: {:.1}x (target >= 20x)", rate(n, dc_nodes) / ra);
    println!("ratio (b)/(c) resync time, same nodes: {:.2}x (target >= 3x)", db2.as_secs_f64() / dc_resync.as_secs_f64().max(1e-9));
    println!("(c) initial nodes vs raw UNWIND: {:.0}%", 100.0 * rate(n, dc_nodes) / rate(n, dr));

    for p in [&pa, &pb, &pc, &pr] {
        wipe(g, p).await;
    }
    let q = query("MATCH (n:Host) WHERE n.id STARTS WITH $p DETACH DELETE n").param("p", pc.as_str());
    let _ = g.run(q).await;
}
