//! What the drift report is computed from, read from either store: the
//! Cloud Map services, their declared dependencies, the processes serving
//! them, and the connections those processes hold to other services'
//! endpoints. Both stores answer the same four questions with the same
//! joins, in Cypher over Bolt and in SQL over the embedded store; the
//! Cypher is what the README gives Neo4j users to run by hand.

use std::collections::BTreeMap;

use infragraph_schemas::RelType::{
    ConnectsTo, DependsOn, HasEndpoint, InNamespace, ListensOn, RegisteredTo,
};
use infragraph_schemas::ResourceKind::{
    CloudMapInstance, CloudMapNamespace, CloudMapService, Endpoint, Process,
};
use rusqlite::Connection;

use crate::error::ReadError;

/// A Cloud Map service as the report names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Service {
    pub id: String,
    /// The id for a stub (a service a row points at that was never
    /// collected).
    pub name: String,
    /// Its namespace's name, else its id.
    pub namespace: Option<String>,
}

/// A process as evidence names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct ProcessRef {
    pub id: String,
    pub name: String,
    pub pid: Option<i64>,
    pub host: Option<String>,
}

/// A service's tag says it depends on another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    pub from: String,
    pub to: String,
    /// When the graph first held the declaration (Unix ms).
    pub since: i64,
}

/// A process that serves a service: it listens where one of the service's
/// instances is registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serving {
    pub service: String,
    pub process: ProcessRef,
    /// When the graph first saw it listening there (Unix ms).
    pub since: i64,
}

/// A connection from a process serving `from` to an endpoint where an
/// instance of `to` is registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub from: String,
    pub to: String,
    pub process: ProcessRef,
    pub endpoint: String,
    /// The last sync that saw the connection open (Unix ms).
    pub last_seen: i64,
}

/// Everything the report needs, for the services in its scope.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub services: BTreeMap<String, Service>,
    pub declared: Vec<Declared>,
    pub serving: Vec<Serving>,
    pub calls: Vec<Call>,
}

/// The four questions, in Cypher, with labels and relationship types from
/// the registry. `$services` limits them to the report's services.
pub struct Cypher;

impl Cypher {
    pub fn services() -> String {
        format!(
            "MATCH (s:{svc}) OPTIONAL MATCH (s)-[:{InNamespace}]->(ns:{ns})\n\
             RETURN s.id AS id, coalesce(s.name, s.id) AS name, coalesce(ns.name, s.namespace_id) AS namespace, s.namespace_id AS namespace_id",
            svc = CloudMapService.label(),
            ns = CloudMapNamespace.label()
        )
    }

    pub fn declared() -> String {
        format!(
            "MATCH (a:{svc})-[d:{DependsOn}]->(b:{svc}) WHERE a.id IN $services\n\
             RETURN a.id AS from, b.id AS to, d.firstseen AS since",
            svc = CloudMapService.label()
        )
    }

    /// `(service)<-instance-endpoint<-(process)`: who serves a service.
    fn served_by(service: &str, process: &str, listens: &str) -> String {
        format!(
            "({service}:{svc})<-[:{RegisteredTo}]-(:{inst})-[:{HasEndpoint}]->(:{ep})<-[{listens}:{ListensOn}]-({process}:{proc})",
            svc = CloudMapService.label(),
            inst = CloudMapInstance.label(),
            ep = Endpoint.label(),
            proc = Process.label()
        )
    }

    pub fn serving() -> String {
        format!(
            "MATCH {} WHERE a.id IN $services\n\
             RETURN DISTINCT a.id AS service, p.id AS process, p.name AS name, p.pid AS pid, p.host_id AS host, l.firstseen AS since",
            Self::served_by("a", "p", "l")
        )
    }

    pub fn calls() -> String {
        format!(
            "MATCH {}-[c:{ConnectsTo}]->(e:{ep})<-[:{HasEndpoint}]-(:{inst})-[:{RegisteredTo}]->(b:{svc})\n\
             WHERE a.id IN $services AND a <> b\n\
             RETURN DISTINCT a.id AS from, b.id AS to, p.id AS process, p.name AS name, p.pid AS pid, p.host_id AS host, e.id AS endpoint, c.lastupdated AS last_seen",
            Self::served_by("a", "p", ""),
            ep = Endpoint.label(),
            inst = CloudMapInstance.label(),
            svc = CloudMapService.label()
        )
    }

    /// Every query, for the README check.
    #[cfg(test)]
    pub fn all() -> [String; 4] {
        [
            Self::services(),
            Self::declared(),
            Self::serving(),
            Self::calls(),
        ]
    }
}

/// A service with the namespace id it names, before the scope filter.
type Listed = (Service, Option<String>);

/// Services of `namespace` (name or id), or every service.
fn in_scope(all: &[Listed], namespace: Option<&str>) -> BTreeMap<String, Service> {
    all.iter()
        .filter(|(s, ns_id)| {
            namespace
                .is_none_or(|ns| s.namespace.as_deref() == Some(ns) || ns_id.as_deref() == Some(ns))
        })
        .map(|(s, _)| (s.id.clone(), s.clone()))
        .collect()
}

/// Names every service a row points at, in scope or not.
fn name_targets(facts: &mut Facts, all: &[Listed]) {
    let everyone: BTreeMap<&str, &Service> = all.iter().map(|(s, _)| (s.id.as_str(), s)).collect();
    let targets: Vec<String> = facts
        .declared
        .iter()
        .map(|d| d.to.clone())
        .chain(facts.calls.iter().map(|c| c.to.clone()))
        .collect();
    for id in targets {
        if let Some(s) = everyone.get(id.as_str()) {
            facts.services.entry(id).or_insert_with(|| (*s).clone());
        }
    }
}

/// Reads the facts over Bolt.
pub(crate) async fn from_neo4j(
    graph: &neo4rs::Graph,
    namespace: Option<&str>,
) -> Result<Facts, ReadError> {
    let all = rows(graph, neo4rs::query(&Cypher::services()), |r| {
        Ok((
            Service {
                id: r.get("id")?,
                name: r.get("name")?,
                namespace: r.get("namespace")?,
            },
            r.get("namespace_id")?,
        ))
    })
    .await?;
    let services = in_scope(&all, namespace);
    let ids: Vec<String> = services.keys().cloned().collect();
    let q = |text: String| neo4rs::query(&text).param("services", ids.clone());
    let declared = rows(graph, q(Cypher::declared()), |r| {
        Ok(Declared {
            from: r.get("from")?,
            to: r.get("to")?,
            since: r.get("since")?,
        })
    })
    .await?;
    let serving = rows(graph, q(Cypher::serving()), |r| {
        Ok(Serving {
            service: r.get("service")?,
            process: process(r)?,
            since: r.get("since")?,
        })
    })
    .await?;
    let calls = rows(graph, q(Cypher::calls()), |r| {
        Ok(Call {
            from: r.get("from")?,
            to: r.get("to")?,
            process: process(r)?,
            endpoint: r.get("endpoint")?,
            last_seen: r.get("last_seen")?,
        })
    })
    .await?;
    let mut facts = Facts {
        services,
        declared,
        serving,
        calls,
    };
    name_targets(&mut facts, &all);
    Ok(facts)
}

fn process(r: &neo4rs::Row) -> Result<ProcessRef, neo4rs::DeError> {
    let id: String = r.get("process")?;
    let name = r
        .get::<Option<String>>("name")?
        .unwrap_or_else(|| id.clone());
    Ok(ProcessRef {
        id,
        name,
        pid: r.get("pid")?,
        host: r.get("host")?,
    })
}

async fn rows<T>(
    graph: &neo4rs::Graph,
    q: neo4rs::Query,
    f: impl Fn(&neo4rs::Row) -> Result<T, neo4rs::DeError>,
) -> Result<Vec<T>, ReadError> {
    let mut stream = graph.execute(q).await?;
    let mut out = Vec::new();
    while let Some(row) = stream.next().await? {
        out.push(f(&row).map_err(|e| ReadError::Store(format!("a drift row from Neo4j: {e}")))?);
    }
    Ok(out)
}

/// The same joins in SQL over the embedded store's tables.
struct Sql;

impl Sql {
    const SERVICES: &str = "SELECT s.id, coalesce(json_extract(s.props, '$.name'), s.id), \
         coalesce((SELECT json_extract(ns.props, '$.name') FROM edges i JOIN nodes ns ON ns.nid = i.dst WHERE i.src = s.nid AND i.rel = ?2 AND ns.label = ?3), json_extract(s.props, '$.namespace_id')), \
         json_extract(s.props, '$.namespace_id') \
         FROM nodes s WHERE s.label = ?1";

    const DECLARED: &str = "SELECT a.id, b.id, d.firstseen FROM nodes a \
         JOIN edges d ON d.src = a.nid AND d.rel = ?2 JOIN nodes b ON b.nid = d.dst AND b.label = ?1 WHERE a.label = ?1";

    /// `?1..?4`: the service, instance, endpoint and process labels;
    /// `?5..?7`: REGISTERED_TO, HAS_ENDPOINT, LISTENS_ON.
    const SERVED_BY: &str = "FROM nodes a \
         JOIN edges r ON r.dst = a.nid AND r.rel = ?5 JOIN nodes i ON i.nid = r.src AND i.label = ?2 \
         JOIN edges h ON h.src = i.nid AND h.rel = ?6 JOIN nodes e0 ON e0.nid = h.dst AND e0.label = ?3 \
         JOIN edges l ON l.dst = e0.nid AND l.rel = ?7 JOIN nodes p ON p.nid = l.src AND p.label = ?4";

    const PROCESS: &str = "p.id, coalesce(json_extract(p.props, '$.name'), p.id), json_extract(p.props, '$.pid'), json_extract(p.props, '$.host_id')";

    fn serving() -> String {
        format!(
            "SELECT DISTINCT a.id, {}, l.firstseen {} WHERE a.label = ?1",
            Self::PROCESS,
            Self::SERVED_BY
        )
    }

    /// `?8`: CONNECTS_TO.
    fn calls() -> String {
        format!(
            "SELECT DISTINCT a.id, b.id, {}, e.id, c.lastupdated {} \
             JOIN edges c ON c.src = p.nid AND c.rel = ?8 JOIN nodes e ON e.nid = c.dst AND e.label = ?3 \
             JOIN edges h2 ON h2.dst = e.nid AND h2.rel = ?6 JOIN nodes j ON j.nid = h2.src AND j.label = ?2 \
             JOIN edges r2 ON r2.src = j.nid AND r2.rel = ?5 JOIN nodes b ON b.nid = r2.dst AND b.label = ?1 \
             WHERE a.label = ?1 AND a.nid <> b.nid",
            Self::PROCESS,
            Self::SERVED_BY
        )
    }
}

fn sql_process(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<ProcessRef> {
    Ok(ProcessRef {
        id: r.get(at)?,
        name: r.get(at + 1)?,
        pid: r.get(at + 2)?,
        host: r.get(at + 3)?,
    })
}

fn query<T>(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, ReadError> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt.query_map(params, f)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Reads the facts from the embedded store.
pub(crate) fn from_embedded(c: &Connection, namespace: Option<&str>) -> Result<Facts, ReadError> {
    let (svc, inst, ep, proc) = (
        CloudMapService.label(),
        CloudMapInstance.label(),
        Endpoint.label(),
        Process.label(),
    );
    let joins = (
        RegisteredTo.as_str(),
        HasEndpoint.as_str(),
        ListensOn.as_str(),
    );
    let all = query(
        c,
        Sql::SERVICES,
        (svc, InNamespace.as_str(), CloudMapNamespace.label()),
        |r| {
            Ok((
                Service {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    namespace: r.get(2)?,
                },
                r.get(3)?,
            ))
        },
    )?;
    let services = in_scope(&all, namespace);
    let declared = query(c, Sql::DECLARED, (svc, DependsOn.as_str()), |r| {
        Ok(Declared {
            from: r.get(0)?,
            to: r.get(1)?,
            since: r.get(2)?,
        })
    })?;
    let params = (svc, inst, ep, proc, joins.0, joins.1, joins.2);
    let serving = query(c, &Sql::serving(), params, |r| {
        Ok(Serving {
            service: r.get(0)?,
            process: sql_process(r, 1)?,
            since: r.get(5)?,
        })
    })?;
    let params = (
        svc,
        inst,
        ep,
        proc,
        joins.0,
        joins.1,
        joins.2,
        ConnectsTo.as_str(),
    );
    let calls = query(c, &Sql::calls(), params, |r| {
        Ok(Call {
            from: r.get(0)?,
            to: r.get(1)?,
            process: sql_process(r, 2)?,
            endpoint: r.get(6)?,
            last_seen: r.get(7)?,
        })
    })?;
    let mut facts = Facts {
        services,
        declared,
        serving,
        calls,
    };
    facts
        .declared
        .retain(|d| facts.services.contains_key(&d.from));
    facts
        .serving
        .retain(|s| facts.services.contains_key(&s.service));
    facts.calls.retain(|c| facts.services.contains_key(&c.from));
    name_targets(&mut facts, &all);
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::Cypher;

    #[test]
    fn the_readme_gives_the_queries_drift_runs() {
        let readme = include_str!("../../../README.md");
        let missing: Vec<String> = Cypher::all()
            .into_iter()
            .filter(|q| !readme.contains(q.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "README.md lacks these queries of `infragraph drift`:\n\n{}",
            missing.join(";\n\n")
        );
    }
}
