//! Reads of Neo4j over Bolt. Labels and relationship types reach the
//! Cypher text only from the registry; ids, hosts and limits are
//! parameters. Every statement is a read with a `LIMIT`.

use infragraph_graph_writer::SYNC_LABEL;
use infragraph_graph_writer::querybuilder::ASSERTS;
use infragraph_schemas::{NodeRef, RelType, ResourceKind};
use neo4rs::{BoltMap, BoltType, Graph, Query, Row};

use super::{Counts, EdgeRow, EdgeScan, NeighbourRow, NodeRow, NodeScan, Props, bookkeeping};
use crate::drift::{self, Facts};
use crate::error::ReadError;
use crate::names::HOST_ID;

/// Neo4j, read through a connection pool.
#[derive(Clone)]
pub struct Neo4j {
    graph: Graph,
}

impl Neo4j {
    pub fn new(graph: Graph) -> Self {
        Neo4j { graph }
    }

    async fn rows(&self, q: Query) -> Result<Vec<Row>, ReadError> {
        let mut stream = self.graph.execute(q).await?;
        let mut out = Vec::new();
        while let Some(row) = stream.next().await? {
            out.push(row);
        }
        Ok(out)
    }

    pub async fn drift_facts(&self, namespace: Option<&str>) -> Result<Facts, ReadError> {
        drift::facts::from_neo4j(&self.graph, namespace).await
    }

    /// One statement: a count-store lookup per label and relationship type
    /// (constant time in Neo4j), and the newest sync record.
    pub async fn counts(&self) -> Result<Counts, ReadError> {
        let mut counts = Counts::default();
        for row in self.rows(neo4rs::query(&counts_statement())).await? {
            let kind: String = row.get("kind").map_err(conversion)?;
            let name: String = row.get("name").map_err(conversion)?;
            let n: Option<i64> = row.get("n").map_err(conversion)?;
            match (kind.as_str(), n) {
                ("node", Some(n)) if n > 0 => _ = counts.nodes.insert(name, n as u64),
                ("rel", Some(n)) if n > 0 => _ = counts.relationships.insert(name, n as u64),
                ("sync", n) => counts.last_sync = n.filter(|ms| *ms > 0),
                _ => {}
            }
        }
        Ok(counts)
    }

    pub async fn nodes(&self, scan: &NodeScan) -> Result<Vec<NodeRow>, ReadError> {
        let text = format!(
            "MATCH (n:{}) WHERE $host IS NULL OR n.id = $host OR n.{HOST_ID} = $host \
             RETURN n.id AS id, n.firstseen AS firstseen, n.lastupdated AS lastupdated, properties(n) AS props LIMIT $limit",
            scan.kind.label()
        );
        let host = scan
            .host
            .as_deref()
            .map_or(BoltType::Null(neo4rs::BoltNull), BoltType::from);
        let q = neo4rs::query(&text)
            .param("host", host)
            .param("limit", limit(scan.limit));
        self.rows(q)
            .await?
            .iter()
            .map(|r| node_from(r, scan.kind, ""))
            .collect()
    }

    pub async fn edges(&self, scan: &EdgeScan) -> Result<Vec<EdgeRow>, ReadError> {
        let text = format!(
            "MATCH (a:{})-[r:{}]->(b:{}) RETURN a.id AS a, b.id AS b, r.firstseen AS firstseen, r.lastupdated AS lastupdated LIMIT $limit",
            scan.from.label(),
            scan.rel.as_str(),
            scan.to.label()
        );
        let rows = self
            .rows(neo4rs::query(&text).param("limit", limit(scan.limit)))
            .await?;
        rows.iter()
            .map(|r| {
                Ok(EdgeRow {
                    rel: scan.rel,
                    from: NodeRef {
                        kind: scan.from,
                        id: r.get("a").map_err(conversion)?,
                    },
                    to: NodeRef {
                        kind: scan.to,
                        id: r.get("b").map_err(conversion)?,
                    },
                    firstseen: r.get("firstseen").map_err(conversion)?,
                    lastupdated: r.get("lastupdated").map_err(conversion)?,
                })
            })
            .collect()
    }

    pub async fn node(&self, kind: ResourceKind, id: &str) -> Result<Option<NodeRow>, ReadError> {
        let text = format!(
            "MATCH (n:{} {{id: $id}}) RETURN n.id AS id, n.firstseen AS firstseen, n.lastupdated AS lastupdated, properties(n) AS props",
            kind.label()
        );
        let rows = self.rows(neo4rs::query(&text).param("id", id)).await?;
        rows.first().map(|r| node_from(r, kind, "")).transpose()
    }

    pub async fn neighbours(
        &self,
        kind: ResourceKind,
        id: &str,
        max: usize,
    ) -> Result<Vec<NeighbourRow>, ReadError> {
        let mut out = Vec::new();
        for (outgoing, pattern) in [(true, "-[r]->"), (false, "<-[r]-")] {
            let text = format!(
                "MATCH (n:{} {{id: $id}}){pattern}(o) WHERE type(r) <> $asserts \
                 RETURN type(r) AS rel, r.firstseen AS firstseen, r.lastupdated AS lastupdated, labels(o) AS o_labels, \
                 o.id AS o_id, o.firstseen AS o_firstseen, o.lastupdated AS o_lastupdated, properties(o) AS o_props LIMIT $limit",
                kind.label()
            );
            let q = neo4rs::query(&text)
                .param("id", id)
                .param("asserts", ASSERTS)
                .param("limit", limit(max.saturating_sub(out.len())));
            for row in self.rows(q).await? {
                out.extend(neighbour(&row, kind, id, outgoing)?);
            }
        }
        Ok(out)
    }
}

/// The counts statement, one `UNION ALL` branch per registry label and
/// relationship type, and one for the sync records.
fn counts_statement() -> String {
    let nodes = ResourceKind::ALL.iter().map(|k| {
        format!(
            "MATCH (x:{l}) RETURN 'node' AS kind, '{l}' AS name, count(x) AS n",
            l = k.label()
        )
    });
    let rels = RelType::ALL.iter().map(|r| {
        format!("MATCH ()-[x:{r}]->() RETURN 'rel' AS kind, '{r}' AS name, count(x) AS n")
    });
    let sync = std::iter::once(format!(
        "MATCH (x:{SYNC_LABEL}) RETURN 'sync' AS kind, '' AS name, max(x.lastupdated) AS n"
    ));
    nodes
        .chain(rels)
        .chain(sync)
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn conversion(e: neo4rs::DeError) -> ReadError {
    ReadError::Store(format!("unexpected answer from Neo4j: {e}"))
}

/// A node from the columns `{prefix}id`, `{prefix}firstseen`, ….
fn node_from(r: &Row, kind: ResourceKind, prefix: &str) -> Result<NodeRow, ReadError> {
    let col = |c: &str| format!("{prefix}{c}");
    let props: BoltMap = r.get(&col("props")).map_err(conversion)?;
    Ok(NodeRow {
        kind,
        id: r.get(&col("id")).map_err(conversion)?,
        firstseen: r.get(&col("firstseen")).map_err(conversion)?,
        lastupdated: r.get(&col("lastupdated")).map_err(conversion)?,
        properties: shown(props),
    })
}

/// A neighbour row; `None` for a label or type the registry does not know.
fn neighbour(
    r: &Row,
    kind: ResourceKind,
    id: &str,
    outgoing: bool,
) -> Result<Option<NeighbourRow>, ReadError> {
    let rel: String = r.get("rel").map_err(conversion)?;
    let labels: Vec<String> = r.get("o_labels").map_err(conversion)?;
    let (Ok(rel), Some(other)) = (
        rel.parse::<RelType>(),
        labels.iter().find_map(|l| ResourceKind::from_label(l).ok()),
    ) else {
        return Ok(None);
    };
    let node = node_from(r, other, "o_")?;
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
        firstseen: r.get("firstseen").map_err(conversion)?,
        lastupdated: r.get("lastupdated").map_err(conversion)?,
    };
    Ok(Some(NeighbourRow {
        edge,
        outgoing,
        node,
    }))
}

/// The properties a person sees: bookkeeping and the id columns dropped.
fn shown(props: BoltMap) -> Props {
    props
        .value
        .into_iter()
        .filter(|(k, _)| !bookkeeping(&k.value))
        .filter_map(|(k, v)| Some((k.value, json(v)?)))
        .collect()
}

fn json(v: BoltType) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    Some(match v {
        BoltType::String(s) => J::String(s.value),
        BoltType::Integer(i) => J::from(i.value),
        BoltType::Float(f) => serde_json::Number::from_f64(f.value).map_or(J::Null, J::Number),
        BoltType::Boolean(b) => J::Bool(b.value),
        BoltType::List(l) => J::Array(l.value.into_iter().filter_map(json).collect()),
        BoltType::Null(_) => J::Null,
        _ => return None,
    })
}
