//! From what was recorded to the printed figures: per 30-second window
//! (so growth shows), then over the run, then what each process cost.

use std::collections::HashMap;

use infragraph_schemas::SyncKind;

use crate::procs::Usage;
use crate::watch::{Changes, Checkpoint, Commits, Markers, Writes};

/// One reconciliation's cleanup, from the writer's log.
#[derive(Debug, Clone)]
pub struct Cleanup {
    pub epoch: i64,
    pub took_ms: u64,
    pub nodes_deleted: u64,
    pub edges_deleted: u64,
}

/// The `cleanup done` lines of a writer's JSON log.
pub fn cleanups(log: &str) -> Vec<Cleanup> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let f = v.get("fields")?;
            if f.get("message")?.as_str()? != "cleanup done" {
                return None;
            }
            let n = |k: &str| f.get(k).and_then(serde_json::Value::as_u64);
            Some(Cleanup {
                epoch: f.get("epoch")?.as_i64()?,
                took_ms: n("took_ms")?,
                nodes_deleted: n("nodes_deleted").unwrap_or(0),
                edges_deleted: n("edges_deleted").unwrap_or(0),
            })
        })
        .collect()
}

/// Everything one run recorded.
pub struct Recorded {
    pub t0: i64,
    pub load_end: i64,
    pub end: i64,
    pub window_ms: i64,
    pub markers: Markers,
    pub changes: Changes,
    pub commits: Commits,
    pub churn: Vec<(i64, u64)>,
    pub cleanups: Vec<Cleanup>,
    pub usage: Vec<Usage>,
}

/// A sync's barrier latency, or a lower bound when it was never applied.
#[derive(Debug, Clone, Copy)]
struct Latency {
    emitted_at: i64,
    ms: i64,
    applied: bool,
    /// The scope's first sync of the run: a reconciliation of all it has.
    first: bool,
}

/// The figures the comparison between runs uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub obs_per_s: f64,
    pub churn_per_s: f64,
    pub writes_per_s: f64,
    pub emitted_per_s: f64,
    pub p50_s: f64,
    pub p99_s: f64,
    pub max_s: f64,
    pub unapplied: usize,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

impl Recorded {
    fn windows(&self) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        let mut from = self.t0;
        while from < self.load_end {
            let to = (from + self.window_ms).min(self.load_end);
            out.push((from, to));
            from = to;
        }
        out
    }

    fn window_of(&self, t: i64) -> Option<usize> {
        (t >= self.t0 && t < self.load_end).then(|| ((t - self.t0) / self.window_ms) as usize)
    }

    /// The writer's committed offset at `t`: the last sample at or before it.
    fn committed_at(&self, t: i64) -> i64 {
        let w = &self.commits.writer;
        let i = w.partition_point(|s| s.0 <= t);
        w.get(i.wrapping_sub(1)).map_or(0, |s| s.1)
    }

    /// Totals of everything before `committed` (the next offset to apply).
    fn writes_before(&self, committed: i64) -> Writes {
        checkpoint_before(&self.changes.checkpoints, committed)
            .map_or_else(Writes::default, |c| c.writes)
    }

    fn applied_between(&self, from: i64, to: i64) -> Writes {
        self.writes_before(self.committed_at(to))
            .since(&self.writes_before(self.committed_at(from)))
    }

    /// What the normalizers emitted between two instants.
    fn emitted_between(&self, from: i64, to: i64) -> Writes {
        let upto = |t: i64| {
            let cps = &self.changes.checkpoints;
            let i = cps.partition_point(|c| c.produced_ms <= t);
            cps.get(i.wrapping_sub(1))
                .map_or_else(Writes::default, |c| c.writes)
        };
        upto(to).since(&upto(from))
    }

    /// When the writer's commit first passed `offset`.
    fn applied_at(&self, offset: i64) -> Option<i64> {
        let w = &self.commits.writer;
        w.get(w.partition_point(|s| s.1 <= offset)).map(|s| s.0)
    }

    fn latencies(&self) -> Vec<Latency> {
        let mut barrier: HashMap<(&str, i64), i64> = HashMap::new();
        for b in self.changes.barriers.iter().filter(|b| b.completed) {
            barrier
                .entry((b.scope.as_str(), b.epoch))
                .or_insert(b.offset);
        }
        let mut first: HashMap<&str, i64> = HashMap::new();
        for (scope, epoch) in self.markers.completed.keys() {
            let e = first.entry(scope.as_str()).or_insert(*epoch);
            *e = (*e).min(*epoch);
        }
        self.markers
            .completed
            .iter()
            .filter(|(_, m)| m.emitted_at >= self.t0 && m.emitted_at < self.load_end)
            .map(|((scope, epoch), m)| {
                let applied = barrier
                    .get(&(scope.as_str(), *epoch))
                    .and_then(|o| self.applied_at(*o));
                Latency {
                    emitted_at: m.emitted_at,
                    ms: applied.unwrap_or(self.end) - m.emitted_at,
                    applied: applied.is_some(),
                    first: first.get(scope.as_str()) == Some(epoch),
                }
            })
            .collect()
    }
}

/// The last checkpoint before `offset`.
fn checkpoint_before(cps: &[Checkpoint], offset: i64) -> Option<&Checkpoint> {
    let i = cps.partition_point(|c| c.offset < offset);
    cps.get(i.wrapping_sub(1))
}

fn secs(from: i64, to: i64) -> f64 {
    ((to - from) as f64 / 1000.0).max(1e-3)
}

/// One window's row.
#[derive(Default)]
struct Row {
    syncs: u64,
    reconciliations: u64,
    observations: i64,
    churn: u64,
    latencies: Vec<f64>,
    unapplied: usize,
    cleanups: Vec<f64>,
}

impl Recorded {
    fn rows(&self, lat: &[Latency]) -> Vec<Row> {
        let mut rows: Vec<Row> = self.windows().iter().map(|_| Row::default()).collect();
        for m in self.markers.completed.values() {
            if let Some(r) = self.window_of(m.emitted_at).and_then(|w| rows.get_mut(w)) {
                r.syncs += 1;
                r.reconciliations += u64::from(m.kind == SyncKind::Reconciliation);
                r.observations += m.observations;
            }
        }
        for (epoch, changed) in &self.churn {
            if let Some(r) = self.window_of(*epoch).and_then(|w| rows.get_mut(w)) {
                r.churn += changed;
            }
        }
        for l in lat {
            if let Some(r) = self.window_of(l.emitted_at).and_then(|w| rows.get_mut(w)) {
                r.latencies.push(l.ms as f64 / 1000.0);
                r.unapplied += usize::from(!l.applied);
            }
        }
        for c in &self.cleanups {
            if let Some(r) = self.window_of(c.epoch).and_then(|w| rows.get_mut(w)) {
                r.cleanups.push(c.took_ms as f64);
            }
        }
        rows
    }

    fn backlogs(&self, t: i64) -> (i64, i64) {
        let produced = {
            let cps = &self.changes.checkpoints;
            let i = cps.partition_point(|c| c.produced_ms <= t);
            cps.get(i.wrapping_sub(1)).map_or(0, |c| c.offset + 1)
        };
        let published: i64 = self
            .markers
            .completed
            .values()
            .filter(|m| m.emitted_at <= t)
            .map(|m| m.observations)
            .sum();
        let n = &self.commits.normalizers;
        let i = n.partition_point(|s| s.0 <= t);
        let normalized = n.get(i.wrapping_sub(1)).map_or(0, |s| s.1);
        (
            (published - normalized).max(0),
            (produced - self.committed_at(t)).max(0),
        )
    }
}

/// Prints the run's tables and returns its summary.
pub fn print(r: &Recorded) -> Summary {
    let lat = r.latencies();
    let rows = r.rows(&lat);
    print_windows(r, &rows);
    print_cores(r);
    let s = summarise(r, &rows, &lat);
    print_summary(r, &rows, &lat, &s);
    print_usage(r);
    s
}

fn print_windows(r: &Recorded, rows: &[Row]) {
    println!();
    println!(
        "| window | syncs | recon | obs/s | churn/s | writes/s applied (upserts+deletes+touches) | emitted/s | barriers applied/s | barrier p50 / p99 / max (s) | not applied | cleanups: n, p50 / max ms | backlog obs / changes |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for ((from, to), row) in r.windows().into_iter().zip(rows) {
        let s = secs(from, to);
        let w = r.applied_between(from, to);
        let e = r.emitted_between(from, to);
        let l = sorted(row.latencies.clone());
        let c = sorted(row.cleanups.clone());
        let (obs_backlog, change_backlog) = r.backlogs(to);
        println!(
            "| {:>4}–{:<4}s | {} | {} | {:.0} | {:.0} | {:.0} ({:.0}+{:.0}+{:.0}) | {:.0} | {:.1} | {:.2} / {:.2} / {:.2} | {} | {}, {:.0} / {:.0} | {} / {} |",
            (from - r.t0) / 1000,
            (to - r.t0) / 1000,
            row.syncs,
            row.reconciliations,
            row.observations as f64 / s,
            row.churn as f64 / s,
            w.elements() as f64 / s,
            (w.node_upserts + w.edge_upserts) as f64 / s,
            w.deletes as f64 / s,
            w.touches as f64 / s,
            e.elements() as f64 / s,
            w.barriers as f64 / s,
            pct(&l, 0.5),
            pct(&l, 0.99),
            l.last().copied().unwrap_or(f64::NAN),
            row.unapplied,
            c.len(),
            pct(&c, 0.5),
            c.last().copied().unwrap_or(f64::NAN),
            obs_backlog,
            change_backlog,
        );
    }
}

fn print_cores(r: &Recorded) {
    println!();
    let names: Vec<&str> = r.usage.iter().map(|u| u.name.as_str()).collect();
    println!("| window | cores: {} |", names.join(" | "));
    println!("|---|{}", "---|".repeat(names.len()));
    for (from, to) in r.windows() {
        let cores: Vec<String> = r
            .usage
            .iter()
            .map(|u| format!("{:.2}", u.cores_between(from, to)))
            .collect();
        println!(
            "| {}–{}s | {} |",
            (from - r.t0) / 1000,
            (to - r.t0) / 1000,
            cores.join(" | ")
        );
    }
}

fn summarise(r: &Recorded, rows: &[Row], lat: &[Latency]) -> Summary {
    let load = secs(r.t0, r.load_end);
    let steady: Vec<f64> = sorted(
        lat.iter()
            .filter(|l| r.window_of(l.emitted_at).is_some_and(|w| w > 0))
            .map(|l| l.ms as f64 / 1000.0)
            .collect(),
    );
    Summary {
        obs_per_s: rows.iter().map(|x| x.observations).sum::<i64>() as f64 / load,
        churn_per_s: rows.iter().map(|x| x.churn).sum::<u64>() as f64 / load,
        writes_per_s: r.applied_between(r.t0, r.load_end).elements() as f64 / load,
        emitted_per_s: r.emitted_between(r.t0, r.load_end).elements() as f64 / load,
        p50_s: pct(&steady, 0.5),
        p99_s: pct(&steady, 0.99),
        max_s: steady.last().copied().unwrap_or(f64::NAN),
        unapplied: lat.iter().filter(|l| !l.applied).count(),
    }
}

fn print_summary(r: &Recorded, rows: &[Row], lat: &[Latency], s: &Summary) {
    println!();
    println!(
        "observations/s {:.0}; churn {:.0} elements/s; graph writes applied {:.0}/s (emitted {:.0}/s) over the {:.0} s of load",
        s.obs_per_s,
        s.churn_per_s,
        s.writes_per_s,
        s.emitted_per_s,
        secs(r.t0, r.load_end)
    );
    println!(
        "barrier latency after the first window: p50 {:.2} s, p99 {:.2} s, max {:.2} s; {} of {} syncs' barriers not applied by the end (counted as lower bounds)",
        s.p50_s,
        s.p99_s,
        s.max_s,
        s.unapplied,
        r.markers.completed.len()
    );
    between_reconciliations(r, rows);
    after_first_syncs(r, rows, lat);
    cleanup_summary(r);
    println!("failed syncs (markers): {}", r.markers.failed);
}

/// Writes against churn over the windows after the first in which no sync
/// was a reconciliation.
fn between_reconciliations(r: &Recorded, rows: &[Row]) {
    match writes_to_churn(r, rows, r.t0 + r.window_ms) {
        None => {
            println!("between reconciliations: no window without a reconciliation after the first")
        }
        Some(w) => println!("between reconciliations {w}"),
    }
}

/// Graph writes against churn over a set of windows.
#[derive(Default)]
struct WritesToChurn {
    windows: usize,
    /// Applied in those windows: after a backlog, this includes writes
    /// for churn from earlier windows.
    applied: u64,
    /// Emitted by the normalizers for those windows' syncs.
    emitted: u64,
    churn: u64,
}

impl std::fmt::Display for WritesToChurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let churn = self.churn.max(1) as f64;
        write!(
            f,
            "({} windows): graph writes applied {} against churn {}: {:.2}x churn; emitted {:.2}x (target <= 2x)",
            self.windows,
            self.applied,
            self.churn,
            self.applied as f64 / churn,
            self.emitted as f64 / churn
        )
    }
}

/// Over the windows starting at or after `from` in which no sync was a
/// reconciliation; none if there are no such windows.
fn writes_to_churn(r: &Recorded, rows: &[Row], from: i64) -> Option<WritesToChurn> {
    let mut w = WritesToChurn::default();
    for ((start, end), row) in r.windows().into_iter().zip(rows) {
        if start >= from && row.reconciliations == 0 {
            w.applied += r.applied_between(start, end).elements();
            w.emitted += r.emitted_between(start, end).elements();
            w.churn += row.churn;
            w.windows += 1;
        }
    }
    (w.windows > 0).then_some(w)
}

/// The same figures without the start-up burst: every host's first sync
/// is a reconciliation of all it has, and a fleet started together sends
/// them all at once. Its cost is the time until the last is applied; what
/// follows is the steady state the targets are about.
fn after_first_syncs(r: &Recorded, rows: &[Row], lat: &[Latency]) {
    let firsts = lat.iter().filter(|l| l.first);
    if firsts.clone().any(|l| !l.applied) {
        println!("after the first syncs: not all of them were applied by the end");
        return;
    }
    let Some(settled) = firsts.map(|l| l.emitted_at + l.ms).max() else {
        return;
    };
    let after = sorted(
        lat.iter()
            .filter(|l| l.emitted_at >= settled)
            .map(|l| l.ms as f64 / 1000.0)
            .collect(),
    );
    println!(
        "after the first syncs (all applied {:.0} s into the load): barrier latency of the {} syncs after it p50 {:.2} s, p99 {:.2} s, max {:.2} s (target p99 <= 3 s)",
        secs(r.t0, settled),
        after.len(),
        pct(&after, 0.5),
        pct(&after, 0.99),
        after.last().copied().unwrap_or(f64::NAN)
    );
    let windows_from = r.t0 + (settled - r.t0 + r.window_ms - 1) / r.window_ms * r.window_ms;
    if let Some(w) = writes_to_churn(r, rows, windows_from) {
        println!("after the first syncs, between reconciliations {w}");
    }
}

fn cleanup_summary(r: &Recorded) {
    let first_window_end = r.t0 + r.window_ms;
    let (first, later): (Vec<&Cleanup>, Vec<&Cleanup>) =
        r.cleanups.iter().partition(|c| c.epoch < first_window_end);
    for (what, set) in [("first syncs", first), ("later reconciliations", later)] {
        let ms = sorted(set.iter().map(|c| c.took_ms as f64).collect());
        let deleted: u64 = set.iter().map(|c| c.nodes_deleted + c.edges_deleted).sum();
        println!(
            "cleanup per reconciliation, {what}: {} cleanups, p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; {deleted} elements deleted",
            ms.len(),
            pct(&ms, 0.5),
            pct(&ms, 0.99),
            ms.last().copied().unwrap_or(f64::NAN)
        );
    }
}

fn print_usage(r: &Recorded) {
    println!();
    println!("| process | pid | peak RSS sampled (MiB) | VmHWM (MiB) | CPU s in run | cores avg |");
    println!("|---|---|---|---|---|---|");
    for u in &r.usage {
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.1} | {:.2} |",
            u.name,
            u.pid,
            u.peak_rss_kb as f64 / 1024.0,
            u.hwm_kb as f64 / 1024.0,
            u.cpu_seconds(),
            u.cpu_seconds() / u.span_secs()
        );
    }
}
