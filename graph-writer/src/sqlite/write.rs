//! Applying planned segments and cleanups to the embedded store, with the
//! same rules as the Cypher statements in `querybuilder`.

use rusqlite::{OptionalExtension, Transaction, params};

use infragraph_schemas::{Properties, ResourceKind, ScopeRef, Value};

use super::{SqliteStore, classify};
use crate::error::SinkError;
use crate::plan::{EdgeRow, EdgeShape, FIRSTSEEN, Group, LASTUPDATED, NodeRow, Op, Segment};
use crate::sink::{CleanupReport, Sink, Snapshot, SyncRecord, SyncUpdate};

/// Which element table a statement addresses.
#[derive(Clone, Copy)]
enum Table {
    Nodes,
    Edges,
}

impl Table {
    const fn name(self) -> &'static str {
        match self {
            Table::Nodes => "nodes",
            Table::Edges => "edges",
        }
    }
    const fn key(self) -> &'static str {
        match self {
            Table::Nodes => "nid",
            Table::Edges => "eid",
        }
    }
    const fn assertions(self) -> &'static str {
        match self {
            Table::Nodes => "node_assertions",
            Table::Edges => "edge_assertions",
        }
    }
}

impl Sink for SqliteStore {
    async fn prepare(&self) -> Result<(), SinkError> {
        // The schema is created when the store opens.
        Ok(())
    }

    async fn apply(&self, segments: &[Segment]) -> Result<(), SinkError> {
        let store = self.clone();
        let segments = segments.to_vec();
        blocking(move || store.apply_now(&segments)).await
    }

    async fn cleanup(
        &self,
        scope: &ScopeRef,
        epoch: i64,
        batch: usize,
    ) -> Result<CleanupReport, SinkError> {
        let store = self.clone();
        let scope = scope.to_string();
        blocking(move || store.cleanup_now(&scope, epoch, batch.max(1))).await
    }

    async fn record_syncs(&self, updates: &[SyncUpdate]) -> Result<(), SinkError> {
        let store = self.clone();
        let updates = updates.to_vec();
        blocking(move || store.record_syncs_now(&updates)).await
    }

    async fn sync_record(&self, scope: &ScopeRef) -> Result<Option<SyncRecord>, SinkError> {
        let store = self.clone();
        let scope = scope.to_string();
        blocking(move || store.sync_record_now(&scope)).await
    }

    async fn snapshot(&self, id_prefix: &str) -> Result<Snapshot, SinkError> {
        let store = self.clone();
        let prefix = id_prefix.to_owned();
        blocking(move || store.snapshot_now(&prefix)).await
    }
}

/// Runs SQLite work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SinkError> + Send + 'static,
) -> Result<T, SinkError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SinkError::Transient(format!("store task failed: {e}")))?
}

impl SqliteStore {
    fn apply_now(&self, segments: &[Segment]) -> Result<(), SinkError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(classify)?;
        for group in segments.iter().flat_map(|s| s.groups.iter()) {
            apply_group(&tx, group).map_err(classify)?;
        }
        tx.commit().map_err(classify)
    }

    fn cleanup_now(
        &self,
        scope: &str,
        epoch: i64,
        batch: usize,
    ) -> Result<CleanupReport, SinkError> {
        let mut report = CleanupReport::default();
        for table in [Table::Edges, Table::Nodes] {
            loop {
                let mut conn = self.lock();
                let tx = conn.transaction().map_err(classify)?;
                let (processed, deleted) =
                    cleanup_step(&tx, table, scope, epoch, batch).map_err(classify)?;
                tx.commit().map_err(classify)?;
                report.unasserted += processed;
                match table {
                    Table::Edges => report.edges_deleted += deleted,
                    Table::Nodes => report.nodes_deleted += deleted,
                }
                if processed < batch as u64 {
                    break;
                }
            }
        }
        report.nodes_deleted += self.sweep_orphans(batch)?;
        Ok(report)
    }

    /// The same rules as `querybuilder::record_syncs`, in one transaction.
    fn record_syncs_now(&self, updates: &[SyncUpdate]) -> Result<(), SinkError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(classify)?;
        for u in updates {
            record_sync(&tx, u).map_err(classify)?;
        }
        tx.commit().map_err(classify)
    }

    fn sync_record_now(&self, scope: &str) -> Result<Option<SyncRecord>, SinkError> {
        self.lock()
            .query_row(
                "SELECT last_completed, last_completed_kind, last_reconciled, last_failed, last_failed_reason FROM syncs WHERE scope = ?1",
                params![scope],
                |r| {
                    Ok(SyncRecord {
                        last_completed: r.get(0)?,
                        last_completed_kind: r.get(1)?,
                        last_reconciled: r.get(2)?,
                        last_failed: r.get(3)?,
                        last_failed_reason: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(classify)
    }

    fn sweep_orphans(&self, batch: usize) -> Result<u64, SinkError> {
        let mut total = 0;
        loop {
            let conn = self.lock();
            let n = conn
                .execute(
                    "DELETE FROM nodes WHERE nid IN (SELECT n.nid FROM nodes n \
                     WHERE NOT EXISTS (SELECT 1 FROM node_assertions a WHERE a.nid = n.nid) \
                     AND NOT EXISTS (SELECT 1 FROM edges e WHERE e.src = n.nid) \
                     AND NOT EXISTS (SELECT 1 FROM edges e WHERE e.dst = n.nid) LIMIT ?1)",
                    params![batch as i64],
                )
                .map_err(classify)?;
            total += n as u64;
            if n < batch {
                return Ok(total);
            }
        }
    }
}

fn apply_group(tx: &Transaction<'_>, group: &Group) -> rusqlite::Result<()> {
    match group {
        Group::Nodes { op, kind, rows } => {
            rows.iter().try_for_each(|r| apply_node(tx, *op, *kind, r))
        }
        Group::Edges { op, shape, rows } => {
            rows.iter().try_for_each(|r| apply_edge(tx, *op, *shape, r))
        }
    }
}

fn apply_node(
    tx: &Transaction<'_>,
    op: Op,
    kind: ResourceKind,
    row: &NodeRow,
) -> rusqlite::Result<()> {
    let nid = match op {
        Op::UpsertNodes => Some(ensure_node(tx, kind, &row.id, row.epoch)?),
        _ => find_node(tx, kind, &row.id)?,
    };
    let Some(nid) = nid else { return Ok(()) };
    match op {
        Op::DeleteNodes => unassert(tx, Table::Nodes, nid, &row.scope, row.epoch),
        _ => {
            refresh(
                tx,
                Table::Nodes,
                nid,
                (row.epoch, row.props_at),
                (op == Op::UpsertNodes).then_some(&row.props),
            )?;
            assert_scope(tx, Table::Nodes, nid, &row.scope, row.epoch)
        }
    }
}

fn apply_edge(
    tx: &Transaction<'_>,
    op: Op,
    shape: EdgeShape,
    row: &EdgeRow,
) -> rusqlite::Result<()> {
    let eid = if op == Op::UpsertEdges {
        let src = ensure_node(tx, shape.from, &row.from, row.epoch)?;
        let dst = ensure_node(tx, shape.to, &row.to, row.epoch)?;
        Some(ensure_edge(tx, shape, src, dst, row.epoch)?)
    } else {
        find_edge(tx, shape, &row.from, &row.to)?
    };
    let Some(eid) = eid else { return Ok(()) };
    match op {
        Op::DeleteEdges => unassert(tx, Table::Edges, eid, &row.scope, row.epoch),
        _ => {
            refresh(
                tx,
                Table::Edges,
                eid,
                (row.epoch, row.props_at),
                (op == Op::UpsertEdges).then_some(&row.props),
            )?;
            assert_scope(tx, Table::Edges, eid, &row.scope, row.epoch)
        }
    }
}

/// MERGE of a node by label and id; a new one is a stub until properties arrive.
fn ensure_node(
    tx: &Transaction<'_>,
    kind: ResourceKind,
    id: &str,
    epoch: i64,
) -> rusqlite::Result<i64> {
    tx.prepare_cached(&format!(
        "INSERT INTO nodes (label, id, {FIRSTSEEN}, {LASTUPDATED}) VALUES (?1, ?2, ?3, ?3) ON CONFLICT (label, id) DO NOTHING",
    ))?
    .execute(params![kind.label(), id, epoch])?;
    tx.prepare_cached("SELECT nid FROM nodes WHERE label = ?1 AND id = ?2")?
        .query_row(params![kind.label(), id], |r| r.get(0))
}

fn find_node(tx: &Transaction<'_>, kind: ResourceKind, id: &str) -> rusqlite::Result<Option<i64>> {
    tx.prepare_cached("SELECT nid FROM nodes WHERE label = ?1 AND id = ?2")?
        .query_row(params![kind.label(), id], |r| r.get(0))
        .optional()
}

fn ensure_edge(
    tx: &Transaction<'_>,
    shape: EdgeShape,
    src: i64,
    dst: i64,
    epoch: i64,
) -> rusqlite::Result<i64> {
    tx.prepare_cached(&format!(
        "INSERT INTO edges (rel, src, dst, {FIRSTSEEN}, {LASTUPDATED}) VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (src, rel, dst) DO NOTHING",
    ))?
    .execute(params![shape.rel.as_str(), src, dst, epoch])?;
    tx.prepare_cached("SELECT eid FROM edges WHERE src = ?1 AND rel = ?2 AND dst = ?3")?
        .query_row(params![src, shape.rel.as_str(), dst], |r| r.get(0))
}

fn find_edge(
    tx: &Transaction<'_>,
    shape: EdgeShape,
    from: &str,
    to: &str,
) -> rusqlite::Result<Option<i64>> {
    let (Some(src), Some(dst)) = (
        find_node(tx, shape.from, from)?,
        find_node(tx, shape.to, to)?,
    ) else {
        return Ok(None);
    };
    tx.prepare_cached("SELECT eid FROM edges WHERE src = ?1 AND rel = ?2 AND dst = ?3")?
        .query_row(params![src, shape.rel.as_str(), dst], |r| r.get(0))
        .optional()
}

/// `lastupdated` only moves forward to `epoch`; properties apply only if
/// `props_at` is not older than those held. `props` is `None` for a touch.
fn refresh(
    tx: &Transaction<'_>,
    table: Table,
    key: i64,
    (epoch, props_at): (i64, i64),
    props: Option<&Properties>,
) -> rusqlite::Result<()> {
    let sql = format!(
        "SELECT props_at, props FROM {} WHERE {} = ?1",
        table.name(),
        table.key()
    );
    let (held_at, stored): (Option<i64>, String) = tx
        .prepare_cached(&sql)?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let fresh = held_at.is_none_or(|at| at <= props_at);
    let merged = match (fresh, props) {
        (true, Some(new)) => {
            let mut all = props_from_json(&stored);
            all.extend(new.iter().map(|(k, v)| (k.clone(), v.clone())));
            props_to_json(&all)
        }
        _ => stored,
    };
    let sql = format!(
        "UPDATE {} SET props = ?2, props_at = CASE WHEN ?3 THEN ?5 ELSE props_at END, {LASTUPDATED} = max({LASTUPDATED}, ?4) WHERE {} = ?1",
        table.name(),
        table.key()
    );
    tx.prepare_cached(&sql)?
        .execute(params![key, merged, fresh, epoch, props_at])?;
    Ok(())
}

fn assert_scope(
    tx: &Transaction<'_>,
    table: Table,
    key: i64,
    scope: &str,
    epoch: i64,
) -> rusqlite::Result<()> {
    let sql = format!(
        "INSERT INTO {} ({}, scope, epoch) VALUES (?1, ?2, ?3) ON CONFLICT DO UPDATE SET epoch = max(epoch, excluded.epoch)",
        table.assertions(),
        table.key()
    );
    tx.prepare_cached(&sql)?
        .execute(params![key, scope, epoch])?;
    Ok(())
}

/// Drops the scope's assertion unless it is newer than `epoch`; deletes the
/// element when nobody asserts it any more.
fn unassert(
    tx: &Transaction<'_>,
    table: Table,
    key: i64,
    scope: &str,
    epoch: i64,
) -> rusqlite::Result<()> {
    let sql = format!(
        "DELETE FROM {} WHERE {} = ?1 AND scope = ?2 AND epoch <= ?3",
        table.assertions(),
        table.key()
    );
    if tx
        .prepare_cached(&sql)?
        .execute(params![key, scope, epoch])?
        > 0
    {
        delete_if_unasserted(tx, table, key)?;
    }
    Ok(())
}

fn delete_if_unasserted(tx: &Transaction<'_>, table: Table, key: i64) -> rusqlite::Result<bool> {
    let sql = format!(
        "DELETE FROM {t} WHERE {k} = ?1 AND NOT EXISTS (SELECT 1 FROM {a} WHERE {k} = ?1)",
        t = table.name(),
        k = table.key(),
        a = table.assertions()
    );
    Ok(tx.prepare_cached(&sql)?.execute([key])? > 0)
}

/// One bounded cleanup step over one table: `(processed, deleted)`.
fn cleanup_step(
    tx: &Transaction<'_>,
    table: Table,
    scope: &str,
    epoch: i64,
    batch: usize,
) -> rusqlite::Result<(u64, u64)> {
    let sql = format!(
        "SELECT {} FROM {} WHERE scope = ?1 AND epoch < ?2 LIMIT ?3",
        table.key(),
        table.assertions()
    );
    let keys: Vec<i64> = tx
        .prepare_cached(&sql)?
        .query_map(params![scope, epoch, batch as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let del = format!(
        "DELETE FROM {} WHERE {} = ?1 AND scope = ?2",
        table.assertions(),
        table.key()
    );
    let mut deleted = 0;
    for key in &keys {
        tx.prepare_cached(&del)?.execute(params![key, scope])?;
        if delete_if_unasserted(tx, table, *key)? {
            deleted += 1;
        }
    }
    Ok((keys.len() as u64, deleted))
}

pub(super) fn props_to_json(props: &Properties) -> String {
    let map: serde_json::Map<String, serde_json::Value> = props
        .iter()
        .filter_map(|(k, v)| {
            let j = match v {
                Value::Null => return None,
                Value::Bool(b) => serde_json::Value::from(*b),
                Value::Long(i) => serde_json::Value::from(*i),
                Value::Double(f) => serde_json::Value::from(*f),
                Value::String(s) => serde_json::Value::from(s.as_str()),
                Value::StringList(l) => serde_json::Value::from(l.clone()),
            };
            Some((k.clone(), j))
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

pub(super) fn props_from_json(text: &str) -> Properties {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text) else {
        return Properties::new();
    };
    map.into_iter()
        .filter_map(|(k, v)| Some((k, json_value(v)?)))
        .collect()
}

fn json_value(v: serde_json::Value) -> Option<Value> {
    use serde_json::Value as J;
    Some(match v {
        J::Bool(b) => Value::Bool(b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Long(i),
            None => Value::Double(n.as_f64()?),
        },
        J::String(s) => Value::String(s),
        J::Array(items) => Value::StringList(
            items
                .into_iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
        ),
        J::Null | J::Object(_) => return None,
    })
}

fn record_sync(tx: &Transaction, u: &SyncUpdate) -> rusqlite::Result<()> {
    let scope = u.scope.to_string();
    tx.execute(
        "INSERT INTO syncs (scope) VALUES (?1) ON CONFLICT DO NOTHING",
        params![scope],
    )?;
    tx.execute(
        "UPDATE syncs SET \
         last_completed_kind = CASE WHEN ?2 IS NOT NULL AND coalesce(last_completed, ?2) <= ?2 THEN ?3 ELSE last_completed_kind END, \
         last_completed = CASE WHEN ?2 IS NOT NULL AND coalesce(last_completed, ?2) <= ?2 THEN ?2 ELSE last_completed END, \
         last_reconciled = CASE WHEN ?4 IS NOT NULL AND coalesce(last_reconciled, ?4) <= ?4 THEN ?4 ELSE last_reconciled END, \
         last_failed_reason = CASE WHEN ?5 IS NOT NULL AND coalesce(last_failed, ?5) <= ?5 THEN ?6 ELSE last_failed_reason END, \
         last_failed = CASE WHEN ?5 IS NOT NULL AND coalesce(last_failed, ?5) <= ?5 THEN ?5 ELSE last_failed END \
         WHERE scope = ?1",
        params![
            scope,
            u.completed.map(|c| c.0),
            u.completed.map(|c| c.1.as_str()),
            u.reconciled,
            u.failed.as_ref().map(|f| f.0),
            u.failed.as_ref().and_then(|f| f.1.as_deref()),
        ],
    )?;
    Ok(())
}
