//! Every Cypher statement the writer runs, generated from the registry.
//! Labels and relationship types come only from [`ResourceKind::label`] and
//! [`infragraph_schemas::RelType::as_str`]; every value is a parameter (`$rows`, `$scope`, …).
//! The golden test at the bottom pins the text. The writer's own property
//! names come from [`crate::plan`] ([`ASSERTED_BY`], …), never from
//! literals here.
//!
//! Bookkeeping per element (see the README): `_asserted_by` lists the scopes
//! asserting it, `_asserted_at` the newest epoch each asserted it in
//! (parallel lists: Neo4j rejects nested maps as properties),
//! `_props_at` the epoch of the properties it holds. Neo4j cannot index
//! list membership, so a scope finds the nodes it asserts, without
//! scanning a label, in one of two ways: through `_scope`, one of the
//! node's asserting scopes under a range index per label (the first to
//! assert it, or the next after that one stopped), or through an
//! `ASSERTS` relationship from the scope's `InfragraphSync` node, which
//! every other asserting scope has. Most nodes have one scope and no
//! link: a first sync writes only the node.
//! Relationships need no such index: each one a scope asserts is attached
//! to the node whose observation asserted it, which the scope asserts too
//! (at the same epoch or a newer one, and cleanup takes relationships
//! first).

use infragraph_schemas::ResourceKind;

use crate::plan::{
    ASSERTED_AT, ASSERTED_BY, EdgeShape, FIRSTSEEN, LASTUPDATED, Op, PROPS_AT, SCOPE, STUB,
};

/// Uniqueness of `id` per label: MERGE is unique and fast only with it.
pub fn constraint(kind: ResourceKind) -> String {
    unique_id(kind.label(), kind.as_str())
}

/// The same for the writer's own scope nodes.
pub fn sync_constraint() -> String {
    unique_id(crate::sink::SYNC_LABEL, "sync")
}

fn unique_id(label: &str, name: &str) -> String {
    format!(
        "CREATE CONSTRAINT infragraph_{name}_id IF NOT EXISTS FOR (n:{label}) REQUIRE n.id IS UNIQUE"
    )
}

/// The statement applying one group of node rows.
pub fn nodes(op: Op, kind: ResourceKind) -> String {
    let label = kind.label();
    let node = Update {
        props: true,
        unstub: true,
        index: true,
    };
    match op {
        Op::UpsertNodes => format!(
            "UNWIND $rows AS row\n\
             MERGE (v:{label} {{id: row.id}})\n\
             ON CREATE SET {}\n\
             ON MATCH SET {}{}",
            created(&node),
            updated(&node),
            link(&node)
        ),
        Op::TouchNodes => {
            let touch = Update {
                props: false,
                unstub: false,
                ..node
            };
            format!(
                "UNWIND $rows AS row\n\
                 MATCH (v:{label} {{id: row.id}}) {}\n\
                 SET {}{}",
                by_id("v", kind),
                updated(&touch),
                link(&touch)
            )
        }
        _ => format!(
            "UNWIND $rows AS row\n\
             MATCH (v:{label} {{id: row.id}}) {}\n{}\
             DETACH DELETE v",
            by_id("v", kind),
            unassert(true)
        ),
    }
}

/// The statement applying one group of relationship rows.
pub fn edges(op: Op, shape: EdgeShape) -> String {
    let (from, to, rel) = (shape.from.label(), shape.to.label(), shape.rel.as_str());
    let edge = Update {
        props: true,
        unstub: false,
        index: false,
    };
    match op {
        Op::UpsertEdges => format!(
            "UNWIND $rows AS row\n\
             MERGE (a:{from} {{id: row.from}})\n\
             ON CREATE SET a.{FIRSTSEEN} = row.epoch, a.{LASTUPDATED} = row.epoch, a.{STUB} = true\n\
             MERGE (b:{to} {{id: row.to}})\n\
             ON CREATE SET b.{FIRSTSEEN} = row.epoch, b.{LASTUPDATED} = row.epoch, b.{STUB} = true\n\
             MERGE (a)-[v:{rel}]->(b)\n\
             ON CREATE SET {}\n\
             ON MATCH SET {}",
            created(&edge),
            updated(&edge)
        ),
        Op::TouchEdges => format!(
            "UNWIND $rows AS row\n\
             MATCH (a:{from} {{id: row.from}})-[v:{rel}]->(b:{to} {{id: row.to}}) {}\n\
             SET {}",
            ends_by_id(shape),
            updated(&Update {
                props: false,
                ..edge
            })
        ),
        _ => format!(
            "UNWIND $rows AS row\n\
             MATCH (a:{from} {{id: row.from}})-[v:{rel}]->(b:{to} {{id: row.to}}) {}\n{}\
             DELETE v",
            ends_by_id(shape),
            unassert(false)
        ),
    }
}

/// The hint that makes a `MATCH` of `var` by id seek the label's id index
/// ([`constraint`]). Without it Neo4j plans by its statistics, and a plan
/// made while the label was (nearly) empty scans the label's index for
/// every row and stays cached as the label grows: on a new database the
/// relationship touches of the writer benchmark's reconciliation ran at about
/// 200 rows/s instead of 30,000 (BENCHMARKS.md, "Index hints").
fn by_id(var: &str, kind: ResourceKind) -> String {
    format!("USING INDEX {var}:{}(id)", kind.label())
}

/// The same for both ends of a relationship: two seeks, then the
/// relationship between them.
fn ends_by_id(shape: EdgeShape) -> String {
    format!("{} {}", by_id("a", shape.from), by_id("b", shape.to))
}

/// What an upsert or touch writes besides the bookkeeping.
struct Update {
    /// Apply the row's properties (an upsert; a touch has none).
    props: bool,
    /// The node is now asserted itself, no longer only a relationship's end.
    unstub: bool,
    /// `v` is a node: the scopes asserting it can be found from each scope
    /// (see the module doc), through [`SCOPE`] for one of them and an
    /// `ASSERTS` link for each other.
    index: bool,
}

/// The bookkeeping of an element its first assertion creates, in `MERGE`'s
/// `ON CREATE SET`: it reads nothing, so Neo4j plans no `Eager` step
/// between reads and writes, which would hold the whole batch.
fn created(u: &Update) -> String {
    let scope = if u.index {
        format!(", v.{SCOPE} = row.scope")
    } else {
        String::new()
    };
    format!(
        "v.{FIRSTSEEN} = row.epoch, v += row.props, v.{PROPS_AT} = row.props_at, v.{LASTUPDATED} = row.epoch, \
         v.{ASSERTED_BY} = [row.scope], v.{ASSERTED_AT} = [row.epoch]{scope}"
    )
}

/// The update of an element that exists, as the items of one `SET`, which
/// Neo4j evaluates all before writing any: each reads the values from
/// before the clause, so their order does not matter and no `WITH` (and no
/// `Eager`) is needed.
/// - `lastupdated` moves forward only, and the row's properties apply only
///   if they are not older than those held (invariant 4), by `props_at`,
///   the normalizer's own count of how new its view of the element is, so
///   the graph and the normalizer order values by one rule; a touch says
///   the element was seen unchanged, so its properties are current as of
///   its epoch;
/// - `row.scope` asserts `v` as of `row.epoch`, keeping the newest epoch per
///   scope. Most elements are asserted by one scope only: that case reads
///   and writes one-element lists, and the list comprehension runs only for
///   elements several scopes assert (CASE evaluates only the branch taken);
/// - a node nobody holds in [`SCOPE`] (a stub, or one whose indexed scope
///   stopped asserting it) takes `row.scope` there.
fn updated(u: &Update) -> String {
    let fresh = format!("coalesce(v.{PROPS_AT}, row.props_at) <= row.props_at");
    let ss = format!("coalesce(v.{ASSERTED_BY}, [])");
    let es = format!("coalesce(v.{ASSERTED_AT}, [])");
    let props = if u.props {
        format!("v += CASE WHEN {fresh} THEN row.props ELSE {{}} END,\n    ")
    } else {
        String::new()
    };
    let unstub = if u.unstub {
        format!("v.{STUB} = null,\n    ")
    } else {
        String::new()
    };
    let scope = if u.index {
        format!(",\n    v.{SCOPE} = coalesce(v.{SCOPE}, row.scope)")
    } else {
        String::new()
    };
    format!(
        "{props}{unstub}v.{PROPS_AT} = CASE WHEN {fresh} THEN row.props_at ELSE v.{PROPS_AT} END,\n    \
         v.{LASTUPDATED} = CASE WHEN coalesce(v.{LASTUPDATED}, row.epoch) <= row.epoch THEN row.epoch ELSE v.{LASTUPDATED} END,\n    \
         v.{ASSERTED_BY} = CASE WHEN row.scope IN {ss} THEN v.{ASSERTED_BY} ELSE {ss} + [row.scope] END,\n    \
         v.{ASSERTED_AT} = CASE \
         WHEN size({ss}) = 1 AND v.{ASSERTED_BY}[0] = row.scope THEN [CASE WHEN v.{ASSERTED_AT}[0] < row.epoch THEN row.epoch ELSE v.{ASSERTED_AT}[0] END] \
         WHEN NOT row.scope IN {ss} THEN {es} + [row.epoch] \
         ELSE [i IN range(0, size({es}) - 1) | CASE WHEN v.{ASSERTED_BY}[i] = row.scope AND v.{ASSERTED_AT}[i] < row.epoch THEN row.epoch ELSE v.{ASSERTED_AT}[i] END] END{scope}"
    )
}

/// A scope asserting a node it is not the [`SCOPE`] of links it from its
/// `InfragraphSync` node. `MERGE` keeps one link per scope; it checks the
/// node's few relationships, not the scope node's many.
fn link(u: &Update) -> String {
    if !u.index {
        return String::new();
    }
    format!(
        "\nWITH v, row WHERE v.{SCOPE} <> row.scope\n\
         MERGE (s:{} {{id: row.scope}})\n\
         MERGE (s)-[:{ASSERTS}]->(v)",
        crate::sink::SYNC_LABEL
    )
}

/// The relationship type from a scope's `InfragraphSync` node to each node
/// it asserts.
pub const ASSERTS: &str = "ASSERTS";

/// Drops `row.scope`'s assertion unless it is newer than the row (a late,
/// older delete must not undo a newer assertion), then keeps going only
/// for elements nobody asserts any more.
fn unassert(index: bool) -> String {
    let (unscope, unlink) = if index {
        (
            format!(", {}", unscope("row.scope")),
            format!(
                "WITH v, row, ss OPTIONAL MATCH (:{} {{id: row.scope}})-[a:{ASSERTS}]->(v) DELETE a\n",
                crate::sink::SYNC_LABEL
            ),
        )
    } else {
        Default::default()
    };
    format!(
        "WITH v, row, coalesce(v.{ASSERTED_BY}, []) AS ss, coalesce(v.{ASSERTED_AT}, []) AS es\n\
         WITH v, row, ss, es, [i IN range(0, size(ss) - 1) WHERE ss[i] = row.scope AND es[i] <= row.epoch | i] AS at\n\
         WHERE size(at) > 0\n\
         WITH v, row, [i IN range(0, size(ss) - 1) WHERE i <> at[0] | ss[i]] AS ss, [i IN range(0, size(es) - 1) WHERE i <> at[0] | es[i]] AS es\n\
         SET v.{ASSERTED_BY} = ss, v.{ASSERTED_AT} = es{unscope}\n\
         {unlink}WITH v, ss WHERE size(ss) = 0\n"
    )
}

/// The `SET` item by which a scope that stops asserting a node gives up
/// its [`SCOPE`], so `_scope` is always null or one of `_asserted_by`.
fn unscope(scope: &str) -> String {
    format!("v.{SCOPE} = CASE WHEN v.{SCOPE} = {scope} THEN null ELSE v.{SCOPE} END")
}

/// One bounded cleanup step over the nodes `$scope` links from its
/// `InfragraphSync` node: drops its assertion (and link) from up to
/// `$limit` nodes it asserted before `$epoch` and deletes those nobody
/// asserts any more. Returns `processed, deleted`. Costs what the scope
/// asserts, whatever the size of the labels.
pub fn cleanup_nodes() -> String {
    let pattern = format!(
        "MATCH (:{} {{id: $scope}})-[a:{ASSERTS}]->(v)",
        crate::sink::SYNC_LABEL
    );
    cleanup(&pattern, Some("a"), true)
}

/// The same over the nodes whose [`SCOPE`] is `$scope`, through each
/// label's scope index in one statement: every label, so no kind of scope
/// can assert a node its cleanup would not find. Run after
/// [`cleanup_nodes`]: a node a scope both links and holds in `_scope` is
/// then already done.
pub fn cleanup_scoped_nodes() -> String {
    cleanup(
        &scoped(|label| format!("MATCH (v:{label} {{{SCOPE}: $scope}})")),
        None,
        true,
    )
}

/// `CALL` over every label's `match`, each binding `v`, as one stream.
fn scoped(each: impl Fn(&str) -> String) -> String {
    let arms: Vec<String> = ResourceKind::ALL
        .iter()
        .map(|k| format!("  {} RETURN v", each(k.label())))
        .collect();
    format!("CALL () {{\n{}\n}}\nWITH v", arms.join("\n  UNION ALL\n"))
}

/// The same over the relationships `$scope` asserts, found through the
/// nodes it links (run it first: see the module doc).
pub fn cleanup_edges() -> String {
    // A relationship between two of the scope's nodes is found twice:
    // `cleanup` keeps distinct ones.
    let pattern = format!(
        "MATCH (:{} {{id: $scope}})-[:{ASSERTS}]->()-[v]-()",
        crate::sink::SYNC_LABEL
    );
    cleanup(&pattern, None, false)
}

/// The same through the nodes whose [`SCOPE`] is `$scope`.
pub fn cleanup_scoped_edges() -> String {
    cleanup(
        &scoped(|label| format!("MATCH (:{label} {{{SCOPE}: $scope}})-[v]-()")),
        None,
        false,
    )
}

/// `link`, the scope's relationship to `v` if the pattern binds one, is
/// deleted with the scope's assertion; a `node` also gives up its
/// [`SCOPE`] and is deleted with everything attached.
fn cleanup(pattern: &str, link: Option<&str>, node: bool) -> String {
    let keep = link.map_or_else(String::new, |l| format!(", {l}"));
    let unlink = link.map_or_else(String::new, |l| format!("DELETE {l}\n"));
    let (unscope, delete) = if node {
        (format!(", {}", unscope("$scope")), "DETACH DELETE g")
    } else {
        (String::new(), "DELETE g")
    };
    format!(
        "{pattern} WHERE $scope IN v.{ASSERTED_BY}\n\
         WITH DISTINCT v{keep}, [i IN range(0, size(v.{ASSERTED_BY}) - 1) WHERE v.{ASSERTED_BY}[i] = $scope | i][0] AS at\n\
         WHERE v.{ASSERTED_AT}[at] < $epoch\n\
         WITH v{keep}, at LIMIT $limit\n{unlink}\
         WITH v, [i IN range(0, size(v.{ASSERTED_BY}) - 1) WHERE i <> at | v.{ASSERTED_BY}[i]] AS ss, \
         [i IN range(0, size(v.{ASSERTED_AT}) - 1) WHERE i <> at | v.{ASSERTED_AT}[i]] AS es\n\
         SET v.{ASSERTED_BY} = ss, v.{ASSERTED_AT} = es{unscope}\n\
         WITH count(v) AS processed, collect(CASE WHEN size(ss) = 0 THEN v END) AS gone\n\
         FOREACH (g IN gone | {delete})\n\
         RETURN processed, size(gone) AS deleted"
    )
}

/// A scope finds the nodes it holds in [`SCOPE`] through this index.
pub fn scope_index(kind: ResourceKind) -> String {
    format!(
        "CREATE INDEX infragraph_{}_scope IF NOT EXISTS FOR (n:{}) ON (n.{SCOPE})",
        kind.as_str(),
        kind.label()
    )
}

/// Stubs are few and the sweep looks only for them: an index keeps it from
/// scanning the label.
pub fn stub_index(kind: ResourceKind) -> String {
    format!(
        "CREATE INDEX infragraph_{}_stub IF NOT EXISTS FOR (n:{}) ON (n.{STUB})",
        kind.as_str(),
        kind.label()
    )
}

/// Deletes up to `$limit` nodes of `kind` that only ever existed as the end
/// of relationships which are now gone: stubs nobody asserts with nothing
/// pointing at them. Only the writer's own stubs: nodes other tools wrote
/// into the same database are never swept. Returns `deleted`.
pub fn sweep_orphans(kind: ResourceKind) -> String {
    format!(
        "MATCH (v:{}) WHERE v.{STUB} = true AND size(coalesce(v.{ASSERTED_BY}, [])) = 0 AND NOT (v)--()\n\
         WITH v LIMIT $limit\n\
         DELETE v\n\
         RETURN count(*) AS deleted",
        kind.label()
    )
}

/// Records folded barriers (`sink::SyncUpdate`), one row per scope, on
/// each scope's node (created on first use): the newest completed epoch
/// with its kind, the newest reconciliation, and the newest failed epoch
/// with its reason. A row's absent fields are null. Returns nothing.
pub fn record_syncs() -> String {
    let label = crate::sink::SYNC_LABEL;
    let newer = |field: &str| {
        format!("r.{field} IS NOT NULL AND coalesce(s.last_{field}, r.{field}) <= r.{field}")
    };
    format!(
        "UNWIND $rows AS r\n\
         MERGE (s:{label} {{id: r.id}})\n\
         ON CREATE SET s.{FIRSTSEEN} = r.epoch\n\
         SET s.source = r.source, s.scope = r.scope\n\
         WITH s, r, {done} AS done, {reconciled} AS reconciled, {failed} AS failed\n\
         SET s.last_completed = CASE WHEN done THEN r.completed ELSE s.last_completed END,\n    \
         s.last_completed_kind = CASE WHEN done THEN r.kind ELSE s.last_completed_kind END,\n    \
         s.last_reconciled = CASE WHEN reconciled THEN r.reconciled ELSE s.last_reconciled END,\n    \
         s.last_failed = CASE WHEN failed THEN r.failed ELSE s.last_failed END,\n    \
         s.last_failed_reason = CASE WHEN failed THEN r.reason ELSE s.last_failed_reason END,\n    \
         s.{LASTUPDATED} = CASE WHEN coalesce(s.{LASTUPDATED}, r.epoch) <= r.epoch THEN r.epoch ELSE s.{LASTUPDATED} END",
        done = newer("completed"),
        reconciled = newer("reconciled"),
        failed = newer("failed"),
    )
}

/// Reads a scope's node.
pub fn sync_record() -> String {
    format!(
        "MATCH (s:{} {{id: $id}}) RETURN s.last_completed AS last_completed, s.last_completed_kind AS last_completed_kind, \
         s.last_reconciled AS last_reconciled, s.last_failed AS last_failed, s.last_failed_reason AS last_failed_reason",
        crate::sink::SYNC_LABEL
    )
}

/// Every statement for every registry label and relationship shape, in a
/// stable order: what the golden file pins.
pub fn all_statements() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for kind in ResourceKind::ALL {
        out.push((format!("constraint {}", kind.label()), constraint(*kind)));
        for op in [Op::UpsertNodes, Op::TouchNodes, Op::DeleteNodes] {
            out.push((format!("{op:?} {}", kind.label()), nodes(op, *kind)));
        }
        out.push((format!("stub index {}", kind.label()), stub_index(*kind)));
        out.push((format!("scope index {}", kind.label()), scope_index(*kind)));
        out.push((format!("orphans {}", kind.label()), sweep_orphans(*kind)));
    }
    for def in ResourceKind::ALL.iter().map(|k| k.def()) {
        for rel in def.relationships {
            let shape = EdgeShape {
                rel: rel.rel_type,
                from: def.kind,
                to: rel.target,
            };
            let shape = match rel.direction {
                infragraph_schemas::Direction::Outgoing => shape,
                infragraph_schemas::Direction::Incoming => EdgeShape {
                    from: rel.target,
                    to: def.kind,
                    ..shape
                },
            };
            for op in [Op::UpsertEdges, Op::TouchEdges, Op::DeleteEdges] {
                out.push((format!("{op:?} {}", rel.rel_type), edges(op, shape)));
            }
        }
    }
    out.push(("cleanup nodes".to_owned(), cleanup_nodes()));
    out.push(("cleanup relationships".to_owned(), cleanup_edges()));
    out.push(("cleanup scoped nodes".to_owned(), cleanup_scoped_nodes()));
    out.push((
        "cleanup scoped relationships".to_owned(),
        cleanup_scoped_edges(),
    ));
    out.push(("constraint sync".to_owned(), sync_constraint()));
    out.push(("record syncs".to_owned(), record_syncs()));
    out.push(("read sync record".to_owned(), sync_record()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/cypher.txt");

    fn render() -> String {
        all_statements()
            .into_iter()
            .map(|(name, q)| format!("// {name}\n{q};\n\n"))
            .collect()
    }

    /// Regenerate with `INFRAGRAPH_BLESS=1 cargo test -p infragraph-graph-writer golden`.
    #[test]
    fn golden_cypher_is_unchanged() {
        let now = render();
        if std::env::var_os("INFRAGRAPH_BLESS").is_some() {
            std::fs::write(GOLDEN, &now).unwrap();
        }
        let pinned = std::fs::read_to_string(GOLDEN).unwrap_or_default();
        assert!(
            pinned == now,
            "generated Cypher changed; review the diff and regenerate {GOLDEN}"
        );
    }

    #[test]
    fn statements_take_values_only_as_parameters() {
        for (name, q) in all_statements() {
            assert!(!q.contains('\''), "{name} has a string literal");
            assert!(!q.contains('"'), "{name} has a string literal");
        }
    }
}
