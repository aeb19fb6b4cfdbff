//! What a topology request may ask, parsed and bounded before any query
//! runs: an unknown topology, parameter or label, a malformed limit or a
//! search too long is the caller's error (400), never a panic or an
//! unbounded read.

use std::str::FromStr;

use infragraph_schemas::ResourceKind;

use crate::error::ReadError;

/// Nodes a view returns when the request names no limit.
pub const DEFAULT_LIMIT: usize = 2_000;
/// The largest limit a request may ask for.
pub const MAX_LIMIT: usize = 10_000;
/// Longest search text and host id accepted.
pub const MAX_TEXT: usize = 200;
/// Above this many nodes, `aggregate=auto` groups processes (by host and
/// name, then by host) instead of drawing every one.
pub const AGGREGATE_ABOVE: usize = 500;

/// The views, as Weave Scope had them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Topology {
    /// Processes grouped by host; an edge where a client's `CONNECTS_TO`
    /// endpoint is one a server process `LISTENS_ON`, across hosts.
    Processes,
    /// Hosts, with an edge where a process on one talks to a process on another.
    Hosts,
    /// Cloud Map namespaces, services and instances, joined to the
    /// processes listening where the instances are registered.
    CloudMap,
    /// GitHub organisations, repositories, teams, users and languages.
    GitHub,
}

impl Topology {
    pub const ALL: [Topology; 4] = [
        Topology::Processes,
        Topology::Hosts,
        Topology::CloudMap,
        Topology::GitHub,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Topology::Processes => "processes",
            Topology::Hosts => "hosts",
            Topology::CloudMap => "cloudmap",
            Topology::GitHub => "github",
        }
    }

    pub const fn title(self) -> &'static str {
        match self {
            Topology::Processes => "Processes",
            Topology::Hosts => "Hosts",
            Topology::CloudMap => "Cloud Map",
            Topology::GitHub => "GitHub",
        }
    }

    pub const fn description(self) -> &'static str {
        match self {
            Topology::Processes => {
                "Processes grouped by host; edges from client to server, resolved through the endpoints they connect to and listen on"
            }
            Topology::Hosts => {
                "Hosts; edges where a process on one connects to a process listening on another"
            }
            Topology::CloudMap => {
                "Cloud Map namespaces, services and instances, joined to the processes that serve them"
            }
            Topology::GitHub => "GitHub organisations, repositories, teams and people",
        }
    }
}

impl FromStr for Topology {
    type Err = ReadError;
    fn from_str(s: &str) -> Result<Self, ReadError> {
        Topology::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Topology::ALL.iter().map(|t| t.name()).collect();
                ReadError::bad(format!(
                    "unknown topology {s:?}; known: {}",
                    known.join(", ")
                ))
            })
    }
}

/// How a large view is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Group when there are more than [`AGGREGATE_ABOVE`] nodes.
    Auto,
    /// Every node, up to the limit.
    Off,
    /// Processes grouped by host and name.
    Name,
    /// Processes grouped by host.
    Host,
}

impl FromStr for Aggregate {
    type Err = ReadError;
    fn from_str(s: &str) -> Result<Self, ReadError> {
        Ok(match s {
            "auto" => Aggregate::Auto,
            "none" => Aggregate::Off,
            "name" => Aggregate::Name,
            "host" => Aggregate::Host,
            _ => {
                return Err(ReadError::bad(format!(
                    "aggregate must be auto, none, name or host, not {s:?}"
                )));
            }
        })
    }
}

/// A topology request, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyRequest {
    pub topology: Topology,
    /// Lower-cased text a node's name or id must contain.
    pub search: Option<String>,
    /// Only nodes of these labels (their groups stay, to hold them).
    pub labels: Vec<ResourceKind>,
    /// Only this host (by id) and what runs on it.
    pub host: Option<String>,
    pub limit: usize,
    pub aggregate: Aggregate,
}

/// The query parameters a topology request understands.
pub const PARAMETERS: [&str; 5] = ["q", "label", "host", "limit", "aggregate"];

impl TopologyRequest {
    pub fn new(topology: Topology) -> Self {
        TopologyRequest {
            topology,
            search: None,
            labels: Vec::new(),
            host: None,
            limit: DEFAULT_LIMIT,
            aggregate: Aggregate::Auto,
        }
    }

    /// `topology` and the query's `(name, value)` pairs.
    pub fn parse(topology: &str, params: &[(String, String)]) -> Result<Self, ReadError> {
        let mut req = TopologyRequest::new(topology.parse()?);
        for (name, value) in params {
            match name.as_str() {
                "q" => req.search = text(name, value)?.map(|s| s.to_lowercase()),
                "label" => req.labels = labels(value)?,
                "host" => req.host = text(name, value)?,
                "limit" => req.limit = limit(value)?,
                "aggregate" => req.aggregate = value.parse()?,
                _ => {
                    return Err(ReadError::bad(format!(
                        "unknown parameter {name:?}; known: {}",
                        PARAMETERS.join(", ")
                    )));
                }
            }
        }
        Ok(req)
    }
}

fn text(name: &str, value: &str) -> Result<Option<String>, ReadError> {
    let value = value.trim();
    if value.chars().count() > MAX_TEXT {
        return Err(ReadError::bad(format!(
            "{name} is longer than {MAX_TEXT} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ReadError::bad(format!(
            "{name} contains control characters"
        )));
    }
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

/// A comma-separated list of registry labels.
fn labels(value: &str) -> Result<Vec<ResourceKind>, ReadError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            ResourceKind::from_label(l).map_err(|_| {
                let known: Vec<&str> = ResourceKind::ALL.iter().map(|k| k.label()).collect();
                ReadError::bad(format!("unknown label {l:?}; known: {}", known.join(", ")))
            })
        })
        .collect()
}

pub fn limit(value: &str) -> Result<usize, ReadError> {
    match value.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ReadError::bad(format!(
            "limit must be a whole number from 1 to {MAX_LIMIT}, not {value:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str, q: &[(&str, &str)]) -> Result<TopologyRequest, ReadError> {
        let q: Vec<(String, String)> = q
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        TopologyRequest::parse(t, &q)
    }

    #[test]
    fn a_full_request_parses() {
        let r = parse(
            "processes",
            &[
                ("q", " Nginx "),
                ("label", "Process,Host"),
                ("host", "h1"),
                ("limit", "50"),
                ("aggregate", "name"),
            ],
        )
        .unwrap();
        assert_eq!(r.search.as_deref(), Some("nginx"));
        assert_eq!(r.labels, vec![ResourceKind::Process, ResourceKind::Host]);
        assert_eq!(
            (r.host.as_deref(), r.limit, r.aggregate),
            (Some("h1"), 50, Aggregate::Name)
        );
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        for (t, q, says) in [
            ("nope", vec![], "unknown topology"),
            (
                "hosts",
                vec![("limit", "99999999999999999999")],
                "limit must be",
            ),
            ("hosts", vec![("limit", "0")], "limit must be"),
            ("hosts", vec![("limit", "-1")], "limit must be"),
            ("hosts", vec![("label", "Process,Nope")], "unknown label"),
            ("hosts", vec![("colour", "red")], "unknown parameter"),
            (
                "hosts",
                vec![("aggregate", "sometimes")],
                "aggregate must be",
            ),
            ("hosts", vec![("q", "a\u{0}b")], "control characters"),
        ] {
            match parse(t, &q) {
                Err(ReadError::BadRequest(m)) => assert!(m.contains(says), "{q:?}: {m}"),
                other => panic!("{t} {q:?}: expected a bad request, got {other:?}"),
            }
        }
        let long = "x".repeat(MAX_TEXT + 1);
        assert!(matches!(
            parse("hosts", &[("q", &long)]),
            Err(ReadError::BadRequest(_))
        ));
    }
}
