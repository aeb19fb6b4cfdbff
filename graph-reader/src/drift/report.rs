//! Declared against observed: the three sets, each row with its evidence,
//! and how they print.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use super::facts::{Call, Facts, ProcessRef, Service};

/// One connection that shows a dependency in use.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Connection {
    pub process: ProcessRef,
    pub endpoint: String,
    pub last_seen: i64,
}

/// How long the graph has watched the processes serving a service: a
/// declared dependency none of them uses is stale over that window.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Watched {
    /// The earliest time one of them was seen serving it (Unix ms).
    pub since: i64,
    pub window_ms: i64,
    pub processes: Vec<ProcessRef>,
}

/// A dependency between two services and what the graph says of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Row {
    pub from: Service,
    pub to: Service,
    /// When the graph first held the declaration; `None`: undeclared.
    pub declared_since: Option<i64>,
    /// The connections that show it, newest first; empty when stale.
    pub connections: Vec<Connection>,
    /// For a stale row: how long the client side was watched. `None` when
    /// no process was ever seen serving `from`, so the declaration cannot
    /// be checked at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watched: Option<Watched>,
}

/// The report: three sets, each sorted by service names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub generated_at: i64,
    pub confirmed: Vec<Row>,
    pub stale: Vec<Row>,
    pub undeclared: Vec<Row>,
}

impl Report {
    /// Declared and never observed, or observed and never declared.
    pub fn drifted(&self) -> bool {
        !self.stale.is_empty() || !self.undeclared.is_empty()
    }

    pub fn build(facts: &Facts, now: i64) -> Report {
        let mut calls: BTreeMap<(&str, &str), Vec<&Call>> = BTreeMap::new();
        for c in &facts.calls {
            calls
                .entry((c.from.as_str(), c.to.as_str()))
                .or_default()
                .push(c);
        }
        let declared: BTreeMap<(&str, &str), i64> = facts
            .declared
            .iter()
            .map(|d| ((d.from.as_str(), d.to.as_str()), d.since))
            .collect();
        let mut report = Report {
            generated_at: now,
            confirmed: Vec::new(),
            stale: Vec::new(),
            undeclared: Vec::new(),
        };
        let pairs: BTreeSet<(&str, &str)> = calls.keys().chain(declared.keys()).copied().collect();
        for pair in pairs {
            let row = Row {
                from: service(facts, pair.0),
                to: service(facts, pair.1),
                declared_since: declared.get(&pair).copied(),
                connections: connections(calls.get(&pair).map_or(&[][..], Vec::as_slice)),
                watched: None,
            };
            match (row.declared_since.is_some(), row.connections.is_empty()) {
                (true, false) => report.confirmed.push(row),
                (true, true) => report.stale.push(Row {
                    watched: watched(facts, pair.0, now),
                    ..row
                }),
                (false, _) => report.undeclared.push(row),
            }
        }
        for set in [
            &mut report.confirmed,
            &mut report.stale,
            &mut report.undeclared,
        ] {
            set.sort_by(|a, b| {
                (&a.from.name, &a.to.name, &a.from.id, &a.to.id).cmp(&(
                    &b.from.name,
                    &b.to.name,
                    &b.from.id,
                    &b.to.id,
                ))
            });
        }
        report
    }
}

/// A service by id; a stub one is named by its id.
fn service(facts: &Facts, id: &str) -> Service {
    facts.services.get(id).cloned().unwrap_or_else(|| Service {
        id: id.to_owned(),
        name: id.to_owned(),
        namespace: None,
    })
}

fn connections(calls: &[&Call]) -> Vec<Connection> {
    let mut out: Vec<Connection> = calls
        .iter()
        .map(|c| Connection {
            process: c.process.clone(),
            endpoint: c.endpoint.clone(),
            last_seen: c.last_seen,
        })
        .collect();
    out.sort_by(|a, b| {
        b.last_seen
            .cmp(&a.last_seen)
            .then_with(|| a.process.cmp(&b.process))
            .then_with(|| a.endpoint.cmp(&b.endpoint))
    });
    out
}

fn watched(facts: &Facts, service: &str, now: i64) -> Option<Watched> {
    let serving: Vec<_> = facts
        .serving
        .iter()
        .filter(|s| s.service == service)
        .collect();
    let since = serving.iter().map(|s| s.since).min()?;
    let processes: BTreeSet<ProcessRef> = serving.into_iter().map(|s| s.process.clone()).collect();
    Some(Watched {
        since,
        window_ms: (now - since).max(0),
        processes: processes.into_iter().collect(),
    })
}

/// `1h2m`, `3m4s`, `5s`: how long ago, or how long for.
pub fn span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, _) if h < 48 => format!("{h}h{m}m"),
        (h, _, _) => format!("{}d{}h", h / 24, h % 24),
    }
}

fn who(p: &ProcessRef) -> String {
    let pid = p.pid.map_or(String::new(), |pid| format!("[{pid}]"));
    let host = p
        .host
        .as_deref()
        .map_or(String::new(), |h| format!(" on {h}"));
    format!("{}{pid}{host}", p.name)
}

fn evidence(out: &mut impl Write, row: &Row, now: i64) -> io::Result<()> {
    for c in &row.connections {
        writeln!(
            out,
            "      {} -> {} (seen {} ago)",
            who(&c.process),
            c.endpoint,
            span(now - c.last_seen)
        )?;
    }
    Ok(())
}

/// The report as a table for people.
pub fn table(report: &Report, out: &mut impl Write) -> io::Result<()> {
    let now = report.generated_at;
    let head =
        |out: &mut dyn Write, title: &str, rows: &[Row]| writeln!(out, "{title} ({})", rows.len());
    let pair = |r: &Row| format!("  {} -> {}", r.from.name, r.to.name);
    head(out, "DECLARED AND OBSERVED", &report.confirmed)?;
    for r in &report.confirmed {
        writeln!(
            out,
            "{}    declared {} ago",
            pair(r),
            span(now - r.declared_since.unwrap_or(now))
        )?;
        evidence(out, r, now)?;
    }
    head(out, "DECLARED, NOT OBSERVED", &report.stale)?;
    for r in &report.stale {
        match &r.watched {
            Some(w) => {
                writeln!(
                    out,
                    "{}    no connection while watched for {}",
                    pair(r),
                    span(w.window_ms)
                )?;
                for p in &w.processes {
                    writeln!(out, "      serves {}: {}", r.from.name, who(p))?;
                }
            }
            None => writeln!(
                out,
                "{}    unverifiable: no process seen serving {}",
                pair(r),
                r.from.name
            )?,
        }
    }
    head(out, "OBSERVED, NOT DECLARED", &report.undeclared)?;
    for r in &report.undeclared {
        writeln!(out, "{}", pair(r))?;
        evidence(out, r, now)?;
    }
    match report.drifted() {
        true => writeln!(
            out,
            "drift: {} declared but not observed, {} observed but not declared",
            report.stale.len(),
            report.undeclared.len()
        ),
        false => writeln!(out, "no drift"),
    }
}

/// The report as JSON for scripts.
pub fn json(report: &Report, out: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::super::facts::{Declared, Serving};
    use super::*;

    fn svc(id: &str) -> (String, Service) {
        (
            id.to_owned(),
            Service {
                id: id.to_owned(),
                name: format!("{id}-name"),
                namespace: Some("shop".into()),
            },
        )
    }

    fn proc(id: &str) -> ProcessRef {
        ProcessRef {
            id: id.to_owned(),
            name: "python3".into(),
            pid: Some(7),
            host: Some("h1".into()),
        }
    }

    fn call(from: &str, to: &str, p: &str, seen: i64) -> Call {
        Call {
            from: from.into(),
            to: to.into(),
            process: proc(p),
            endpoint: format!("tcp://10.0.0.1:{seen}"),
            last_seen: seen,
        }
    }

    fn facts() -> Facts {
        Facts {
            services: ["a", "b", "c", "d"].into_iter().map(svc).collect(),
            declared: vec![
                Declared {
                    from: "a".into(),
                    to: "b".into(),
                    since: 100,
                },
                Declared {
                    from: "a".into(),
                    to: "c".into(),
                    since: 200,
                },
                Declared {
                    from: "d".into(),
                    to: "a".into(),
                    since: 50,
                },
            ],
            serving: vec![
                Serving {
                    service: "a".into(),
                    process: proc("pa"),
                    since: 1_000,
                },
                Serving {
                    service: "a".into(),
                    process: proc("pa2"),
                    since: 400,
                },
            ],
            calls: vec![
                call("a", "b", "pa", 9_000),
                call("a", "b", "pa2", 9_500),
                call("a", "x", "pa", 9_900),
            ],
        }
    }

    #[test]
    fn declared_and_observed_split_into_three_sets_with_evidence() {
        let r = Report::build(&facts(), 10_000);
        let pairs = |rows: &[Row]| {
            rows.iter()
                .map(|r| (r.from.id.clone(), r.to.id.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(pairs(&r.confirmed), [("a".into(), "b".into())]);
        assert_eq!(
            pairs(&r.stale),
            [("a".to_owned(), "c".to_owned()), ("d".into(), "a".into())]
        );
        assert_eq!(pairs(&r.undeclared), [("a".into(), "x".into())]);
        assert_eq!(
            r.confirmed[0]
                .connections
                .iter()
                .map(|c| c.last_seen)
                .collect::<Vec<_>>(),
            [9_500, 9_000],
            "newest first"
        );
        assert_eq!(r.confirmed[0].declared_since, Some(100));
        let w = r.stale[0]
            .watched
            .as_ref()
            .expect("a's processes were watched");
        assert_eq!((w.since, w.window_ms, w.processes.len()), (400, 9_600, 2));
        assert_eq!(r.stale[1].watched, None, "nothing serves d: unverifiable");
        assert_eq!(
            r.undeclared[0].to.name, "x",
            "a service never collected is named by its id"
        );
        assert!(r.drifted());
    }

    #[test]
    fn only_confirmed_dependencies_are_no_drift() {
        let mut f = facts();
        f.declared.retain(|d| d.to == "b");
        f.calls.retain(|c| c.to == "b");
        let r = Report::build(&f, 10_000);
        assert!(!r.drifted());
        let mut text = Vec::new();
        table(&r, &mut text).expect("write to memory");
        let text = String::from_utf8(text).expect("UTF-8");
        assert!(
            text.contains("  a-name -> b-name    declared 9s ago"),
            "{text}"
        );
        assert!(
            text.contains("python3[7] on h1 -> tcp://10.0.0.1:9500 (seen 0s ago)"),
            "{text}"
        );
        assert!(text.trim_end().ends_with("no drift"), "{text}");
    }

    #[test]
    fn the_table_says_why_a_row_is_stale_and_json_carries_the_window() {
        let r = Report::build(&facts(), 10_000);
        let mut text = Vec::new();
        table(&r, &mut text).expect("write to memory");
        let text = String::from_utf8(text).expect("UTF-8");
        assert!(
            text.contains("a-name -> c-name    no connection while watched for 9s"),
            "{text}"
        );
        assert!(
            text.contains("d-name -> a-name    unverifiable: no process seen serving d-name"),
            "{text}"
        );
        assert!(
            text.contains("drift: 2 declared but not observed, 1 observed but not declared"),
            "{text}"
        );
        let mut out = Vec::new();
        json(&r, &mut out).expect("write to memory");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(v["stale"][0]["watched"]["window_ms"], 9_600);
        assert_eq!(
            v["undeclared"][0]["connections"][0]["endpoint"],
            "tcp://10.0.0.1:9900"
        );
        assert!(v["stale"][1].get("watched").is_none());
    }

    #[test]
    fn spans_read_at_a_glance() {
        assert_eq!(span(4_999), "4s");
        assert_eq!(span(62_000), "1m2s");
        assert_eq!(span(3_723_000), "1h2m");
        assert_eq!(span(50 * 3_600_000), "2d2h");
        assert_eq!(span(-5), "0s");
    }
}
