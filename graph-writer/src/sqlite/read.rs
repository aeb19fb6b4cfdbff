//! Reading the embedded store: what the view, the status line and export
//! need. Every call takes a consistent read of the store.

use std::collections::BTreeMap;

use rusqlite::{Connection, Row, params};

use infragraph_schemas::{NodeRef, Properties, RelType, ResourceKind, Value};

use super::write::props_from_json;
use super::{SqliteStore, classify};
use crate::error::SinkError;
use crate::plan::{FIRSTSEEN, LASTUPDATED};
use crate::sink::{NodeState, Snapshot};

/// A node as stored, without the writer's bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredNode {
    pub kind: ResourceKind,
    pub id: String,
    pub firstseen: i64,
    pub lastupdated: i64,
    pub properties: Properties,
}

/// A relationship as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEdge {
    pub rel: RelType,
    pub from: NodeRef,
    pub to: NodeRef,
    pub firstseen: i64,
    pub lastupdated: i64,
    pub properties: Properties,
}

/// A node next to another, and the relationship between them.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    pub edge: StoredEdge,
    /// The relationship points away from the node asked about.
    pub outgoing: bool,
    pub node: StoredNode,
}

/// The columns [`node_from`] reads, from `nodes n`.
fn node_columns() -> String {
    format!("n.label, n.id, n.{FIRSTSEEN}, n.{LASTUPDATED}, n.props")
}

/// What [`edge_from`] reads: each relationship with the ids of its ends.
fn edge_select() -> String {
    format!(
        "SELECT e.rel, a.label, a.id, b.label, b.id, e.{FIRSTSEEN}, e.{LASTUPDATED}, e.props \
         FROM edges e JOIN nodes a ON a.nid = e.src JOIN nodes b ON b.nid = e.dst"
    )
}

impl SqliteStore {
    /// Node count per label.
    pub fn counts_by_label(&self) -> Result<BTreeMap<String, u64>, SinkError> {
        self.counts("SELECT label, count(*) FROM nodes GROUP BY label")
    }

    /// Relationship count per type.
    pub fn counts_by_rel_type(&self) -> Result<BTreeMap<String, u64>, SinkError> {
        self.counts("SELECT rel, count(*) FROM edges GROUP BY rel")
    }

    fn counts(&self, sql: &str) -> Result<BTreeMap<String, u64>, SinkError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(sql).map_err(classify)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
            })
            .map_err(classify)?;
        rows.collect::<Result<_, _>>().map_err(classify)
    }

    /// The rows of one read-only query of the store's tables (`nodes`,
    /// `edges`, their `*_assertions` and `syncs`), for readers whose joins
    /// the calls here do not cover (`infragraph drift`). `f` maps each row.
    pub fn query<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, SinkError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(sql).map_err(classify)?;
        if !stmt.readonly() {
            return Err(SinkError::Rejected(format!("not a read-only query: {sql}")));
        }
        let rows = stmt.query_map(params, f).map_err(classify)?;
        rows.collect::<Result<_, _>>().map_err(classify)
    }

    /// One node, if it exists.
    pub fn node(&self, kind: ResourceKind, id: &str) -> Result<Option<StoredNode>, SinkError> {
        let sql = format!(
            "SELECT {cols} FROM nodes n WHERE n.label = ?1 AND n.id = ?2",
            cols = node_columns()
        );
        Ok(self
            .nodes_where(&sql, params![kind.label(), id])?
            .into_iter()
            .next())
    }

    /// Every node of one label, by id.
    pub fn nodes_by_label(&self, kind: ResourceKind) -> Result<Vec<StoredNode>, SinkError> {
        let sql = format!(
            "SELECT {cols} FROM nodes n WHERE n.label = ?1 ORDER BY n.id",
            cols = node_columns()
        );
        self.nodes_where(&sql, params![kind.label()])
    }

    /// Nodes whose property `name` equals `value`; a string also matches a
    /// list property holding it.
    pub fn search(&self, name: &str, value: &Value) -> Result<Vec<StoredNode>, SinkError> {
        let path = format!("$.\"{}\"", name.replace('"', ""));
        let needle = match value {
            Value::Null | Value::StringList(_) => return Ok(Vec::new()),
            Value::Bool(b) => rusqlite::types::Value::Integer(i64::from(*b)),
            Value::Long(i) => rusqlite::types::Value::Integer(*i),
            Value::Double(f) => rusqlite::types::Value::Real(*f),
            Value::String(s) => rusqlite::types::Value::Text(s.clone()),
        };
        let sql = format!(
            "SELECT {cols} FROM nodes n WHERE json_extract(n.props, ?1) = ?2 \
             OR (json_type(n.props, ?1) = 'array' AND EXISTS (SELECT 1 FROM json_each(n.props, ?1) j WHERE j.value = ?2)) \
             ORDER BY n.label, n.id",
            cols = node_columns()
        );
        self.nodes_where(&sql, params![path, needle])
    }

    /// The relationships of a node, both directions, with the node at the other end.
    pub fn neighbours(&self, kind: ResourceKind, id: &str) -> Result<Vec<Neighbour>, SinkError> {
        let conn = self.lock();
        let sql = format!(
            "{edges} WHERE (a.label = ?1 AND a.id = ?2) OR (b.label = ?1 AND b.id = ?2) ORDER BY e.rel, a.id, b.id",
            edges = edge_select()
        );
        let edges = query_edges(&conn, &sql, params![kind.label(), id])?;
        let mut out = Vec::with_capacity(edges.len());
        for edge in edges {
            let outgoing = edge.from.kind == kind && edge.from.id == id;
            let other = if outgoing { &edge.to } else { &edge.from };
            let sql = format!(
                "SELECT {cols} FROM nodes n WHERE n.label = ?1 AND n.id = ?2",
                cols = node_columns()
            );
            if let Some(node) = query_nodes(&conn, &sql, params![other.kind.label(), other.id])?
                .into_iter()
                .next()
            {
                out.push(Neighbour {
                    edge,
                    outgoing,
                    node,
                });
            }
        }
        Ok(out)
    }

    /// Calls `f` for every node, in label and id order, stopping at its first error.
    pub fn for_each_node<E: From<SinkError>>(
        &self,
        mut f: impl FnMut(StoredNode) -> Result<(), E>,
    ) -> Result<(), E> {
        let conn = self.lock();
        let sql = format!(
            "SELECT {cols} FROM nodes n ORDER BY n.label, n.id",
            cols = node_columns()
        );
        let mut stmt = conn.prepare(&sql).map_err(classify)?;
        let mut rows = stmt.query([]).map_err(classify)?;
        while let Some(row) = rows.next().map_err(classify)? {
            if let Some(node) = node_from(row).map_err(classify)? {
                f(node)?;
            }
        }
        Ok(())
    }

    /// Calls `f` for every relationship, stopping at its first error.
    pub fn for_each_edge<E: From<SinkError>>(
        &self,
        mut f: impl FnMut(StoredEdge) -> Result<(), E>,
    ) -> Result<(), E> {
        let conn = self.lock();
        let sql = format!("{edges} ORDER BY e.rel, a.id, b.id", edges = edge_select());
        let mut stmt = conn.prepare(&sql).map_err(classify)?;
        let mut rows = stmt.query([]).map_err(classify)?;
        while let Some(row) = rows.next().map_err(classify)? {
            if let Some(edge) = edge_from(row).map_err(classify)? {
                f(edge)?;
            }
        }
        Ok(())
    }

    fn nodes_where(
        &self,
        sql: &str,
        p: impl rusqlite::Params,
    ) -> Result<Vec<StoredNode>, SinkError> {
        query_nodes(&self.lock(), sql, p)
    }

    pub(super) fn snapshot_now(&self, prefix: &str) -> Result<Snapshot, SinkError> {
        let conn = self.lock();
        let like = format!(
            "{}%",
            prefix
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let mut snap = Snapshot::default();
        let sql = format!(
            "SELECT {cols}, n.nid FROM nodes n WHERE n.id LIKE ?1 ESCAPE '\\'",
            cols = node_columns()
        );
        let mut stmt = conn.prepare(&sql).map_err(classify)?;
        let mut rows = stmt.query([&like]).map_err(classify)?;
        while let Some(row) = rows.next().map_err(classify)? {
            let Some(node) = node_from(row).map_err(classify)? else {
                continue;
            };
            let nid: i64 = row.get(5).map_err(classify)?;
            let asserted = assertions(&conn, "node_assertions", "nid", nid)?;
            snap.nodes.insert(
                (node.kind, node.id),
                state(node.firstseen, node.lastupdated, node.properties, asserted),
            );
        }
        let sql = format!(
            "{edges} WHERE a.id LIKE ?1 ESCAPE '\\' OR b.id LIKE ?1 ESCAPE '\\'",
            edges = edge_select()
        );
        let sql = sql.replace("SELECT e.rel", "SELECT e.eid, e.rel");
        let mut stmt = conn.prepare(&sql).map_err(classify)?;
        let mut rows = stmt.query([&like]).map_err(classify)?;
        while let Some(row) = rows.next().map_err(classify)? {
            let eid: i64 = row.get(0).map_err(classify)?;
            let Some(e) = edge_at(row, 1).map_err(classify)? else {
                continue;
            };
            let asserted = assertions(&conn, "edge_assertions", "eid", eid)?;
            let key = (e.rel, (e.from.kind, e.from.id), (e.to.kind, e.to.id));
            snap.edges.insert(
                key,
                state(e.firstseen, e.lastupdated, e.properties, asserted),
            );
        }
        Ok(snap)
    }
}

fn state(
    firstseen: i64,
    lastupdated: i64,
    properties: Properties,
    asserted: BTreeMap<String, i64>,
) -> NodeState {
    NodeState {
        firstseen: Some(firstseen),
        lastupdated: Some(lastupdated),
        properties,
        asserted,
    }
}

fn assertions(
    conn: &Connection,
    table: &str,
    key: &str,
    id: i64,
) -> Result<BTreeMap<String, i64>, SinkError> {
    let sql = format!("SELECT scope, epoch FROM {table} WHERE {key} = ?1");
    let mut stmt = conn.prepare_cached(&sql).map_err(classify)?;
    let rows = stmt
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(classify)?;
    rows.collect::<Result<_, _>>().map_err(classify)
}

fn query_nodes(
    conn: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
) -> Result<Vec<StoredNode>, SinkError> {
    let mut stmt = conn.prepare_cached(sql).map_err(classify)?;
    let mut rows = stmt.query(p).map_err(classify)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(classify)? {
        out.extend(node_from(row).map_err(classify)?);
    }
    Ok(out)
}

fn query_edges(
    conn: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
) -> Result<Vec<StoredEdge>, SinkError> {
    let mut stmt = conn.prepare_cached(sql).map_err(classify)?;
    let mut rows = stmt.query(p).map_err(classify)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(classify)? {
        out.extend(edge_from(row).map_err(classify)?);
    }
    Ok(out)
}

/// A node row; `None` for a label the registry no longer knows.
fn node_from(row: &Row<'_>) -> rusqlite::Result<Option<StoredNode>> {
    let label: String = row.get(0)?;
    let Ok(kind) = ResourceKind::from_label(&label) else {
        return Ok(None);
    };
    Ok(Some(StoredNode {
        kind,
        id: row.get(1)?,
        firstseen: row.get(2)?,
        lastupdated: row.get(3)?,
        properties: props_from_json(&row.get::<_, String>(4)?),
    }))
}

fn edge_from(row: &Row<'_>) -> rusqlite::Result<Option<StoredEdge>> {
    edge_at(row, 0)
}

fn edge_at(row: &Row<'_>, o: usize) -> rusqlite::Result<Option<StoredEdge>> {
    let names: (String, String, String) = (row.get(o)?, row.get(o + 1)?, row.get(o + 3)?);
    let (Ok(rel), Ok(fk), Ok(tk)) = (
        names.0.parse::<RelType>(),
        ResourceKind::from_label(&names.1),
        ResourceKind::from_label(&names.2),
    ) else {
        return Ok(None);
    };
    Ok(Some(StoredEdge {
        rel,
        from: NodeRef {
            kind: fk,
            id: row.get(o + 2)?,
        },
        to: NodeRef {
            kind: tk,
            id: row.get(o + 4)?,
        },
        firstseen: row.get(o + 5)?,
        lastupdated: row.get(o + 6)?,
        properties: props_from_json(&row.get::<_, String>(o + 7)?),
    }))
}
