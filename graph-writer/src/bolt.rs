//! The Bolt sink: Neo4j 5 through `neo4rs`.
//! Each segment group is one `UNWIND $rows` statement; a batch is one
//! explicit transaction.

use std::collections::BTreeMap;
use std::time::Duration;

use neo4rs::{BoltList, BoltMap, BoltType, ConfigBuilder, Graph, Neo4jErrorKind, Query, Txn};

use infragraph_schemas::{Properties, RelType, ResourceKind, ScopeKind, ScopeRef, Value};

use crate::error::SinkError;
use crate::plan::{
    ASSERTED_AT, ASSERTED_BY, EdgeRow, FIRSTSEEN, Group, ID, LASTUPDATED, NodeRow, PROPS_AT, SCOPE,
    STUB, Segment,
};
use crate::querybuilder;
use crate::sink::{CleanupReport, NodeState, Sink, Snapshot, SyncRecord, SyncUpdate};

/// Where the database is and how to log in.
#[derive(Clone)]
pub struct BoltConfig {
    pub uri: String,
    pub user: String,
    pub password: String,
    pub database: String,
    /// Bounds connecting and waiting for any reply, so it must outlast the
    /// slowest statement (a cleanup batch on a large graph).
    pub timeout: Duration,
}

impl std::fmt::Debug for BoltConfig {
    // The password never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoltConfig")
            .field("uri", &self.uri)
            .field("user", &self.user)
            .field("database", &self.database)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Writes to a graph database over Bolt.
pub struct BoltSink {
    graph: Graph,
    uri: String,
}

impl BoltSink {
    /// Builds the connection pool. Connections open lazily, so a database
    /// that is down shows up as transient errors on first use.
    pub fn connect(config: &BoltConfig) -> Result<Self, SinkError> {
        let cfg = ConfigBuilder::default()
            .uri(config.uri.as_str())
            .user(config.user.as_str())
            .password(config.password.as_str())
            .db(config.database.as_str())
            .connection_timeout(config.timeout)
            .max_connections(4)
            .build()
            .map_err(classify)?;
        Ok(BoltSink {
            graph: Graph::connect(cfg).map_err(classify)?,
            uri: config.uri.clone(),
        })
    }

    /// One trivial query: `Ok` when the database accepts the credentials
    /// and answers (health readiness).
    pub async fn probe(&self) -> Result<(), String> {
        self.graph
            .run(neo4rs::query("RETURN 1"))
            .await
            .map_err(|e| classify(e).to_string())
    }

    /// The pool, for callers that read the graph (tests, benchmarks).
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    async fn run_all(&self, queries: Vec<Query>) -> Result<(), SinkError> {
        let mut txn = self.graph.start_txn().await.map_err(classify)?;
        for q in queries {
            if let Err(e) = txn.run(q).await {
                rollback(txn).await;
                return Err(classify(e));
            }
        }
        txn.commit().await.map_err(classify)
    }

    /// Runs one cleanup statement in its own transaction and reads its
    /// `processed`/`deleted` counts.
    async fn step(&self, q: Query) -> Result<(u64, u64), SinkError> {
        let mut txn = self.graph.start_txn().await.map_err(classify)?;
        let counts = read_counts(&mut txn, q).await;
        match counts {
            Ok(c) => txn.commit().await.map(|_| c).map_err(classify),
            Err(e) => {
                rollback(txn).await;
                Err(e)
            }
        }
    }

    /// Repeats `make()` until a step processes fewer than `batch` elements.
    async fn drain(&self, batch: usize, make: impl Fn() -> Query) -> Result<(u64, u64), SinkError> {
        let (mut processed, mut deleted) = (0, 0);
        loop {
            let (p, d) = self.step(make()).await?;
            processed += p;
            deleted += d;
            if p < batch as u64 {
                return Ok((processed, deleted));
            }
        }
    }
}

async fn read_counts(txn: &mut Txn, q: Query) -> Result<(u64, u64), SinkError> {
    let mut stream = txn.execute(q).await.map_err(classify)?;
    let mut out = (0, 0);
    while let Some(row) = stream.next(txn.handle()).await.map_err(classify)? {
        let deleted: i64 = row
            .get("deleted")
            .map_err(|e| SinkError::Rejected(e.to_string()))?;
        let processed: i64 = row.get("processed").unwrap_or(deleted);
        out = (processed.max(0) as u64, deleted.max(0) as u64);
    }
    Ok(out)
}

async fn rollback(txn: Txn) {
    // The transaction already failed; a rollback that fails too (connection
    // gone) changes nothing: the server discards it either way.
    if let Err(e) = txn.rollback().await {
        tracing::debug!(error = %e, "rollback after a failed statement failed");
    }
}

/// Sorts neo4rs errors into retriable, rejected and misconfigured.
pub fn classify(e: neo4rs::Error) -> SinkError {
    use neo4rs::Error as E;
    let text = e.to_string();
    match &e {
        E::Neo4j(err) => match err.kind() {
            Neo4jErrorKind::Transient | Neo4jErrorKind::Database | Neo4jErrorKind::Unknown => {
                SinkError::Transient(text)
            }
            Neo4jErrorKind::Client(neo4rs::Neo4jClientErrorKind::Security(_)) => {
                SinkError::Auth(text)
            }
            // A database that is not there yet is also what a restarting
            // server says before it has opened its databases: wait for it
            // (the retry log names the database) rather than exit.
            Neo4jErrorKind::Client(
                neo4rs::Neo4jClientErrorKind::SessionExpired
                | neo4rs::Neo4jClientErrorKind::FatalDiscovery,
            ) => SinkError::Transient(text),
            Neo4jErrorKind::Client(_) => SinkError::Rejected(text),
        },
        E::AuthenticationError(_) => SinkError::Auth(text),
        E::UrlParseError(_) | E::UnsupportedScheme(_) | E::InvalidDnsName(_) | E::InvalidConfig => {
            SinkError::Config(text)
        }
        E::StringTooLong | E::MapTooBig | E::BytesTooBig | E::ListTooLong | E::ConversionError => {
            SinkError::Rejected(text)
        }
        // Connection lost, refused, timed out, the server going away or
        // answering out of turn while it restarts: all worth a retry.
        _ => SinkError::Transient(text),
    }
}

/// Whether a schema statement failed only because the rule now exists.
/// Neo4j 5 answers `CREATE … IF NOT EXISTS` this way when another session
/// created the same rule at the same moment (two writers starting, or a
/// writer and a test): the state asked for is there, so it is not an error.
fn schema_rule_in_place(code: &str) -> bool {
    code == "Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists"
}

impl Sink for BoltSink {
    fn describe(&self) -> String {
        format!(
            "the graph database at {} (--neo4j-uri, INFRAGRAPH_NEO4J_URI)",
            self.uri
        )
    }

    async fn prepare(&self) -> Result<(), SinkError> {
        let constraints = ResourceKind::ALL
            .iter()
            .flat_map(|k| {
                [
                    querybuilder::constraint(*k),
                    querybuilder::stub_index(*k),
                    querybuilder::scope_index(*k),
                ]
            })
            .chain([querybuilder::sync_constraint()]);
        for text in constraints {
            match self.graph.run(neo4rs::query(&text)).await {
                Ok(()) => {}
                Err(neo4rs::Error::Neo4j(e)) if schema_rule_in_place(e.code()) => {}
                Err(e) => return Err(classify(e)),
            }
        }
        Ok(())
    }

    async fn record_syncs(&self, updates: &[SyncUpdate]) -> Result<(), SinkError> {
        if updates.is_empty() {
            return Ok(());
        }
        let rows = updates.iter().map(sync_row).collect();
        let q = neo4rs::query(&querybuilder::record_syncs())
            .param("rows", BoltType::List(BoltList { value: rows }));
        self.graph.run(q).await.map_err(classify)
    }

    async fn sync_record(&self, scope: &ScopeRef) -> Result<Option<SyncRecord>, SinkError> {
        let q = neo4rs::query(&querybuilder::sync_record()).param("id", scope.to_string());
        let mut rows = self.graph.execute(q).await.map_err(classify)?;
        let Some(row) = rows.next().await.map_err(classify)? else {
            return Ok(None);
        };
        let get_long = |k: &str| row.get::<Option<i64>>(k).ok().flatten();
        let get_str = |k: &str| row.get::<Option<String>>(k).ok().flatten();
        Ok(Some(SyncRecord {
            last_completed: get_long("last_completed"),
            last_completed_kind: get_str("last_completed_kind"),
            last_reconciled: get_long("last_reconciled"),
            last_failed: get_long("last_failed"),
            last_failed_reason: get_str("last_failed_reason"),
        }))
    }

    async fn apply(&self, segments: &[Segment]) -> Result<(), SinkError> {
        let queries = segments
            .iter()
            .flat_map(|s| s.groups.iter())
            .map(group_query)
            .collect();
        self.run_all(queries).await
    }

    async fn cleanup(
        &self,
        scope: &ScopeRef,
        epoch: i64,
        batch: usize,
    ) -> Result<CleanupReport, SinkError> {
        let key = scope.to_string();
        let limit = batch.max(1);
        let params = |q: &str| {
            neo4rs::query(q)
                .param("scope", key.as_str())
                .param("epoch", epoch)
                .param("limit", limit as i64)
        };
        let mut report = CleanupReport::default();
        // Every statement starts from the scope's own node or from its
        // entries in the scope indexes: they cost what the scope asserts.
        // Relationships first (see querybuilder), the linked before the
        // scoped (see `cleanup_scoped_nodes`).
        let steps = [
            (querybuilder::cleanup_edges(), false),
            (querybuilder::cleanup_scoped_edges(), false),
            (querybuilder::cleanup_nodes(), true),
            (querybuilder::cleanup_scoped_nodes(), true),
        ];
        for (text, nodes) in steps {
            let (p, d) = self.drain(limit, || params(&text)).await?;
            report.unasserted += p;
            if nodes {
                report.nodes_deleted += d;
            } else {
                report.edges_deleted += d;
            }
        }
        // The sweep looks up stubs through their index; only the labels
        // this kind of scope can assert can hold its orphans.
        let kinds = ScopeKind::of(&scope.scope)
            .map_or_else(|| ResourceKind::ALL.to_vec(), |k| k.resource_kinds());
        for kind in &kinds {
            let q =
                || neo4rs::query(&querybuilder::sweep_orphans(*kind)).param("limit", limit as i64);
            let (_, d) = self.drain(limit, q).await?;
            report.nodes_deleted += d;
        }
        Ok(report)
    }

    async fn snapshot(&self, id_prefix: &str) -> Result<Snapshot, SinkError> {
        let mut snap = Snapshot::default();
        let q = neo4rs::query("MATCH (v) WHERE v.id STARTS WITH $p RETURN labels(v) AS labels, properties(v) AS props").param("p", id_prefix);
        let mut rows = self.graph.execute(q).await.map_err(classify)?;
        while let Some(row) = rows.next().await.map_err(classify)? {
            let labels: Vec<String> = row
                .get("labels")
                .map_err(|e| SinkError::Rejected(e.to_string()))?;
            let mut props: BoltMap = row
                .get("props")
                .map_err(|e| SinkError::Rejected(e.to_string()))?;
            let id = take_string(&mut props, ID);
            if let Some(kind) = labels.iter().find_map(|l| ResourceKind::from_label(l).ok()) {
                snap.nodes.insert((kind, id), state(props));
            }
        }
        let q = neo4rs::query(
            "MATCH (a)-[v]->(b) WHERE a.id STARTS WITH $p OR b.id STARTS WITH $p \
             RETURN type(v) AS rel, labels(a) AS la, a.id AS a, labels(b) AS lb, b.id AS b, properties(v) AS props",
        )
        .param("p", id_prefix);
        let mut rows = self.graph.execute(q).await.map_err(classify)?;
        while let Some(row) = rows.next().await.map_err(classify)? {
            if let Some((key, st)) = edge_row(&row) {
                snap.edges.insert(key, st);
            }
        }
        Ok(snap)
    }
}

fn edge_row(row: &neo4rs::Row) -> Option<(crate::sink::EdgeKey, NodeState)> {
    let rel: RelType = row.get::<String>("rel").ok()?.parse().ok()?;
    let la: Vec<String> = row.get("la").ok()?;
    let lb: Vec<String> = row.get("lb").ok()?;
    let ka = la.iter().find_map(|l| ResourceKind::from_label(l).ok())?;
    let kb = lb.iter().find_map(|l| ResourceKind::from_label(l).ok())?;
    let props: BoltMap = row.get("props").ok()?;
    Some((
        (rel, (ka, row.get("a").ok()?), (kb, row.get("b").ok()?)),
        state(props),
    ))
}

fn take_string(props: &mut BoltMap, key: &str) -> String {
    match props.value.remove(key) {
        Some(BoltType::String(s)) => s.value,
        _ => String::new(),
    }
}

fn take_long(props: &mut BoltMap, key: &str) -> Option<i64> {
    match props.value.remove(key) {
        Some(BoltType::Integer(i)) => Some(i.value),
        _ => None,
    }
}

fn take_list(props: &mut BoltMap, key: &str) -> Vec<BoltType> {
    match props.value.remove(key) {
        Some(BoltType::List(l)) => l.value,
        _ => Vec::new(),
    }
}

/// Splits stored properties into the writer's bookkeeping and the rest.
fn state(mut props: BoltMap) -> NodeState {
    let firstseen = take_long(&mut props, FIRSTSEEN);
    let lastupdated = take_long(&mut props, LASTUPDATED);
    props.value.remove(PROPS_AT);
    props.value.remove(STUB);
    props.value.remove(SCOPE);
    let by = take_list(&mut props, ASSERTED_BY);
    let at = take_list(&mut props, ASSERTED_AT);
    let asserted: BTreeMap<String, i64> = by
        .into_iter()
        .zip(at)
        .filter_map(|(s, e)| match (s, e) {
            (BoltType::String(s), BoltType::Integer(e)) => Some((s.value, e.value)),
            _ => None,
        })
        .collect();
    let properties = props
        .value
        .into_iter()
        .filter_map(|(k, v)| Some((k.value, from_bolt(v)?)))
        .collect();
    NodeState {
        firstseen,
        lastupdated,
        properties,
        asserted,
    }
}

fn from_bolt(v: BoltType) -> Option<Value> {
    Some(match v {
        BoltType::String(s) => Value::String(s.value),
        BoltType::Integer(i) => Value::Long(i.value),
        BoltType::Float(f) => Value::Double(f.value),
        BoltType::Boolean(b) => Value::Bool(b.value),
        BoltType::List(l) => Value::StringList(
            l.value
                .into_iter()
                .filter_map(|x| {
                    if let BoltType::String(s) = x {
                        Some(s.value)
                    } else {
                        None
                    }
                })
                .collect(),
        ),
        _ => return None,
    })
}

fn group_query(group: &Group) -> Query {
    let (text, rows) = match group {
        Group::Nodes { op, kind, rows } => (
            querybuilder::nodes(*op, *kind),
            rows.iter().map(node_row).collect(),
        ),
        Group::Edges { op, shape, rows } => (
            querybuilder::edges(*op, *shape),
            rows.iter().map(edge_row_param).collect(),
        ),
    };
    neo4rs::query(&text).param("rows", BoltType::List(BoltList { value: rows }))
}

fn sync_row(u: &SyncUpdate) -> BoltType {
    let long = |v: Option<i64>| v.map_or(BoltType::Null(neo4rs::BoltNull), BoltType::from);
    let text = |v: Option<&str>| v.map_or(BoltType::Null(neo4rs::BoltNull), BoltType::from);
    let mut m = BoltMap::with_capacity(9);
    m.put("id".into(), u.scope.to_string().into());
    m.put("source".into(), u.scope.source.as_str().into());
    m.put("scope".into(), u.scope.scope.as_str().into());
    m.put("epoch".into(), u.epoch().into());
    m.put("completed".into(), long(u.completed.map(|c| c.0)));
    m.put("kind".into(), text(u.completed.map(|c| c.1.as_str())));
    m.put("reconciled".into(), long(u.reconciled));
    m.put("failed".into(), long(u.failed.as_ref().map(|f| f.0)));
    m.put(
        "reason".into(),
        text(u.failed.as_ref().and_then(|f| f.1.as_deref())),
    );
    BoltType::Map(m)
}

fn node_row(r: &NodeRow) -> BoltType {
    let mut m = BoltMap::with_capacity(5);
    m.put("id".into(), r.id.as_str().into());
    put_common(&mut m, &r.scope, r.epoch, r.props_at, &r.props);
    BoltType::Map(m)
}

fn edge_row_param(r: &EdgeRow) -> BoltType {
    let mut m = BoltMap::with_capacity(6);
    m.put("from".into(), r.from.as_str().into());
    m.put("to".into(), r.to.as_str().into());
    put_common(&mut m, &r.scope, r.epoch, r.props_at, &r.props);
    BoltType::Map(m)
}

fn put_common(m: &mut BoltMap, scope: &str, epoch: i64, props_at: i64, props: &Properties) {
    m.put("scope".into(), scope.into());
    m.put("epoch".into(), epoch.into());
    m.put("props_at".into(), props_at.into());
    let props: BoltMap = props
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().into(), to_bolt(v)?)))
        .collect();
    m.put("props".into(), BoltType::Map(props));
}

fn to_bolt(v: &Value) -> Option<BoltType> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => (*b).into(),
        Value::Long(i) => (*i).into(),
        Value::Double(f) => (*f).into(),
        Value::String(s) => s.as_str().into(),
        Value::StringList(l) => l.clone().into(),
    })
}

#[cfg(test)]
mod tests {
    use super::schema_rule_in_place;

    #[test]
    fn only_an_equivalent_rule_counts_as_in_place() {
        assert!(schema_rule_in_place(
            "Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists"
        ));
        // A different rule on the same schema is a conflict to report.
        assert!(!schema_rule_in_place(
            "Neo.ClientError.Schema.ConstraintAlreadyExists"
        ));
        assert!(!schema_rule_in_place(
            "Neo.ClientError.Statement.SyntaxError"
        ));
    }
}
