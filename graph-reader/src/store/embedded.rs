//! Reads of the embedded store, each a bounded SQL query on a connection
//! of the reader's own, off the async workers.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use infragraph_graph_writer::SqliteStore;
use infragraph_schemas::{NodeRef, RelType, ResourceKind};
use rusqlite::{Connection, Row, params};

use super::{Counts, EdgeRow, EdgeScan, NeighbourRow, NodeRow, NodeScan, Props, bookkeeping};
use crate::drift::{self, Facts};
use crate::error::ReadError;
use crate::names::HOST_ID;

/// Connections a reader opens: two lets a slow read (a large topology)
/// and a quick one (node details) run at once beside the writer's own.
const CONNECTIONS: usize = 2;

/// The embedded store, read through connections of its own.
#[derive(Clone)]
pub struct Embedded {
    pool: Arc<[SqliteStore]>,
    next: Arc<AtomicUsize>,
}

impl Embedded {
    pub fn open(data_dir: &Path) -> Result<Self, ReadError> {
        let pool: Vec<SqliteStore> = (0..CONNECTIONS)
            .map(|_| SqliteStore::open(data_dir))
            .collect::<Result<_, _>>()?;
        Ok(Embedded {
            pool: pool.into(),
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Reads through `store`'s own connection (tests, in-memory stores).
    pub fn over(store: SqliteStore) -> Self {
        Embedded {
            pool: vec![store].into(),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, ReadError> + Send + 'static,
    ) -> Result<T, ReadError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.pool.len();
        let store = self.pool[i].clone();
        tokio::task::spawn_blocking(move || store.with_connection(f))
            .await
            .map_err(|e| ReadError::Unavailable(format!("read task failed: {e}")))?
    }

    pub async fn drift_facts(&self, namespace: Option<String>) -> Result<Facts, ReadError> {
        self.read(move |c| drift::facts::from_embedded(c, namespace.as_deref()))
            .await
    }

    pub async fn counts(&self) -> Result<Counts, ReadError> {
        self.read(|c| {
            Ok(Counts {
                nodes: grouped(c, "SELECT label, count(*) FROM nodes GROUP BY label")?,
                relationships: grouped(c, "SELECT rel, count(*) FROM edges GROUP BY rel")?,
                last_sync: c.query_row(
                    "SELECT max(max(coalesce(last_completed, 0), coalesce(last_failed, 0))) FROM syncs",
                    [],
                    |r| r.get::<_, Option<i64>>(0),
                )?
                .filter(|ms| *ms > 0),
            })
        })
        .await
    }

    pub async fn nodes(&self, scan: &NodeScan) -> Result<Vec<NodeRow>, ReadError> {
        let scan = scan.clone();
        self.read(move |c| {
            let sql = format!(
                "SELECT id, firstseen, lastupdated, props FROM nodes WHERE label = ?1 \
                 AND (?2 IS NULL OR id = ?2 OR json_extract(props, '$.{HOST_ID}') = ?2) ORDER BY id LIMIT ?3"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![scan.kind.label(), scan.host, limit(scan.limit)], |r| node_at(r, scan.kind, 0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn edges(&self, scan: &EdgeScan) -> Result<Vec<EdgeRow>, ReadError> {
        let scan = *scan;
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT a.id, b.id, e.firstseen, e.lastupdated FROM edges e \
                 JOIN nodes a ON a.nid = e.src JOIN nodes b ON b.nid = e.dst \
                 WHERE e.rel = ?1 AND a.label = ?2 AND b.label = ?3 LIMIT ?4",
            )?;
            let p = params![
                scan.rel.as_str(),
                scan.from.label(),
                scan.to.label(),
                limit(scan.limit)
            ];
            let rows = stmt.query_map(p, |r| {
                Ok(EdgeRow {
                    rel: scan.rel,
                    from: NodeRef {
                        kind: scan.from,
                        id: r.get(0)?,
                    },
                    to: NodeRef {
                        kind: scan.to,
                        id: r.get(1)?,
                    },
                    firstseen: r.get(2)?,
                    lastupdated: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn node(&self, kind: ResourceKind, id: &str) -> Result<Option<NodeRow>, ReadError> {
        let id = id.to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, firstseen, lastupdated, props FROM nodes WHERE label = ?1 AND id = ?2",
            )?;
            let mut rows = stmt.query_map(params![kind.label(), id], |r| node_at(r, kind, 0))?;
            Ok(rows.next().transpose()?)
        })
        .await
    }

    pub async fn neighbours(
        &self,
        kind: ResourceKind,
        id: &str,
        max: usize,
    ) -> Result<Vec<NeighbourRow>, ReadError> {
        let id = id.to_owned();
        self.read(move |c| {
            let mut out = Vec::new();
            // Outgoing through the (src, rel, dst) key, incoming through the dst index.
            for (outgoing, near, far) in [(true, "src", "dst"), (false, "dst", "src")] {
                let sql = format!(
                    "SELECT e.rel, e.firstseen, e.lastupdated, o.label, o.id, o.firstseen, o.lastupdated, o.props \
                     FROM edges e JOIN nodes o ON o.nid = e.{far} \
                     WHERE e.{near} = (SELECT nid FROM nodes WHERE label = ?1 AND id = ?2) ORDER BY e.rel, o.id LIMIT ?3"
                );
                let mut stmt = c.prepare_cached(&sql)?;
                let left = max.saturating_sub(out.len());
                let rows = stmt.query_map(params![kind.label(), id, limit(left)], |r| neighbour(r, kind, &id, outgoing))?;
                for row in rows {
                    out.extend(row?);
                }
            }
            Ok(out)
        })
        .await
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn grouped(
    c: &Connection,
    sql: &str,
) -> Result<std::collections::BTreeMap<String, u64>, ReadError> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn node_at(r: &Row<'_>, kind: ResourceKind, o: usize) -> rusqlite::Result<NodeRow> {
    Ok(NodeRow {
        kind,
        id: r.get(o)?,
        firstseen: r.get(o + 1)?,
        lastupdated: r.get(o + 2)?,
        properties: props(&r.get::<_, String>(o + 3)?),
    })
}

/// A neighbour row; `None` for a label or type the registry no longer knows.
fn neighbour(
    r: &Row<'_>,
    kind: ResourceKind,
    id: &str,
    outgoing: bool,
) -> rusqlite::Result<Option<NeighbourRow>> {
    let (rel, label): (String, String) = (r.get(0)?, r.get(3)?);
    let (Ok(rel), Ok(other)) = (rel.parse::<RelType>(), ResourceKind::from_label(&label)) else {
        return Ok(None);
    };
    let node = node_at(r, other, 4)?;
    let me = NodeRef {
        kind,
        id: id.to_owned(),
    };
    let (from, to) = if outgoing {
        (me, node.node_ref())
    } else {
        (node.node_ref(), me)
    };
    let edge = EdgeRow {
        rel,
        from,
        to,
        firstseen: r.get(1)?,
        lastupdated: r.get(2)?,
    };
    Ok(Some(NeighbourRow {
        edge,
        outgoing,
        node,
    }))
}

fn props(text: &str) -> Props {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(mut m)) => {
            m.retain(|k, _| !bookkeeping(k));
            m
        }
        _ => Props::new(),
    }
}
