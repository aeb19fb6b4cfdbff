//! What a collector remembers of a scope between syncs, so a sync can say
//! what vanished instead of leaving the graph to find out.
//!
//! The collector is the one place that sees a whole scope at once: every
//! observation of a sync passes through it, whichever normalizer instance
//! later handles which partition. So it keeps, per scope, the resources it
//! published since the last completed sync and the relationships each
//! asserted, and a delta sync carries explicit retractions: a `gone`
//! observation for a resource no longer seen, and `retracted`
//! relationships on one that stopped asserting them. Nothing here depends
//! on the normalizer's memory, so a normalizer restart or eviction loses
//! no retraction.
//!
//! A sync is a reconciliation instead when this memory cannot vouch for
//! the graph: the scope's first sync since the process started, and once
//! every reconcile interval, which bounds how long anything lost on the
//! way (a dead-lettered retraction, a graph restored from a backup) stays.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use infragraph_schemas::{Observation, RelType, Relationship, ResourceKind, ScopeRef, SyncKind};

/// Default time between reconciliations of one scope.
pub const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(300);

type Key = (ResourceKind, String);
type Rels = Vec<(RelType, String)>;

/// One scope's memory.
#[derive(Debug, Default)]
pub struct ScopeMemory {
    /// Epoch of the last sync attempted.
    epoch: Option<i64>,
    /// Epoch of the last completed reconciliation.
    reconciled: Option<i64>,
    /// Reconciliations completed since the process started.
    reconciliations: u32,
    /// What was published since the last completed sync, with the
    /// relationships each resource asserted.
    published: HashMap<Key, Rels>,
}

/// What one sync publishes beyond its observations, and what to remember
/// if it completes.
pub struct Plan {
    pub kind: SyncKind,
    pub previous_epoch: Option<i64>,
    seen: HashMap<Key, Rels>,
}

impl ScopeMemory {
    /// Stamps `observations` with the sync's kind and previous epoch, adds
    /// the retractions of a delta sync, and returns what to remember.
    pub fn plan(
        &mut self,
        scope: &ScopeRef,
        epoch: i64,
        reconcile_every: Duration,
        observations: &mut Vec<Observation>,
    ) -> Plan {
        let previous_epoch = self.epoch.filter(|p| *p < epoch);
        self.epoch = Some(epoch.max(self.epoch.unwrap_or(i64::MIN)));
        let every = spread(scope, reconcile_every, self.reconciliations <= 1);
        let due = self
            .reconciled
            .is_none_or(|r| epoch.saturating_sub(r) >= every);
        let kind = if due {
            SyncKind::Reconciliation
        } else {
            SyncKind::Delta
        };
        let mut seen: HashMap<Key, Rels> = HashMap::with_capacity(observations.len());
        for obs in observations.iter_mut() {
            obs.previous_epoch = previous_epoch;
            obs.sync_kind = kind;
            let rels = seen.entry((obs.kind, obs.id.clone())).or_default();
            rels.extend(
                obs.relationships
                    .iter()
                    .map(|r| (r.rel_type, r.target_id.clone())),
            );
        }
        if kind == SyncKind::Delta {
            self.retract(scope, epoch, &seen, observations);
        }
        Plan {
            kind,
            previous_epoch,
            seen,
        }
    }

    /// Adds what the scope published before and no longer sees.
    fn retract(
        &self,
        scope: &ScopeRef,
        epoch: i64,
        seen: &HashMap<Key, Rels>,
        observations: &mut Vec<Observation>,
    ) {
        for obs in observations.iter_mut() {
            let Some(before) = self.published.get(&(obs.kind, obs.id.clone())) else {
                continue;
            };
            let now: HashSet<(RelType, &str)> = obs
                .relationships
                .iter()
                .map(|r| (r.rel_type, r.target_id.as_str()))
                .collect();
            obs.retracted = relationships(
                before
                    .iter()
                    .filter(|(t, id)| !now.contains(&(*t, id.as_str()))),
            );
        }
        let at = observations.last().map_or(epoch, |o| o.observed_at);
        let mut gone: Vec<Observation> = self
            .published
            .iter()
            .filter(|(key, _)| !seen.contains_key(*key))
            .map(|((kind, id), rels)| {
                Observation::gone(
                    scope.clone(),
                    epoch,
                    at,
                    *kind,
                    id.clone(),
                    relationships(rels.iter()),
                )
            })
            .collect();
        // A stable order keeps runs comparable; the graph does not care.
        gone.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
        observations.append(&mut gone);
    }

    /// The sync completed: its view is what the next one is compared with.
    pub fn completed(&mut self, plan: Plan, epoch: i64) {
        if plan.kind == SyncKind::Reconciliation {
            self.reconciled = Some(self.reconciled.map_or(epoch, |r| r.max(epoch)));
            self.reconciliations = self.reconciliations.saturating_add(1);
        }
        self.published = plan.seen;
    }

    /// The sync failed: what it published stays in the graph, so the next
    /// sync must retract it too if it is gone by then.
    pub fn failed(&mut self, plan: Plan) {
        for (key, rels) in plan.seen {
            let known = self.published.entry(key).or_default();
            for rel in rels {
                if !known.contains(&rel) {
                    known.push(rel);
                }
            }
        }
    }
}

/// The scope's own wait for its next reconciliation, in ms, fixed per
/// scope and never longer than `every` (the staleness bound). A fleet
/// restarted at once reconciles at once, since nothing is remembered; the
/// round after that start-up one is drawn over the second half of `every`,
/// so it comes back spread over half an interval instead of in one burst.
/// From then on each scope waits up to a quarter less than `every`, so the
/// rounds keep drifting apart rather than locking into one phase.
fn spread(scope: &ScopeRef, every: Duration, after_startup: bool) -> i64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    scope.hash(&mut h);
    let every = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
    let share = if after_startup { every / 2 } else { every / 4 }.max(1);
    every - (h.finish() % share as u64) as i64
}

fn relationships<'a>(rels: impl Iterator<Item = &'a (RelType, String)>) -> Vec<Relationship> {
    rels.map(|(t, id)| Relationship::new(*t, id.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY: Duration = Duration::from_secs(60);

    fn scope() -> ScopeRef {
        ScopeRef::new("t", "host:a")
    }

    fn process(epoch: i64, pid: &str, endpoints: &[&str]) -> Observation {
        endpoints.iter().fold(
            Observation::new(scope(), epoch, epoch, ResourceKind::Process, pid),
            |o, e| o.relate(RelType::ListensOn, *e),
        )
    }

    fn sync(
        memory: &mut ScopeMemory,
        epoch: i64,
        mut obs: Vec<Observation>,
        completes: bool,
    ) -> (SyncKind, Vec<Observation>) {
        let plan = memory.plan(&scope(), epoch, EVERY, &mut obs);
        let kind = plan.kind;
        if completes {
            memory.completed(plan, epoch)
        } else {
            memory.failed(plan)
        }
        (kind, obs)
    }

    #[test]
    fn the_first_sync_reconciles_and_later_ones_retract_what_vanished() {
        let mut m = ScopeMemory::default();
        let (kind, _) = sync(
            &mut m,
            1_000,
            vec![
                process(1_000, "p1", &["e1", "e2"]),
                process(1_000, "p2", &[]),
            ],
            true,
        );
        assert_eq!(kind, SyncKind::Reconciliation);
        let (kind, obs) = sync(&mut m, 2_000, vec![process(2_000, "p1", &["e1"])], true);
        assert_eq!(kind, SyncKind::Delta);
        assert_eq!(obs[0].previous_epoch, Some(1_000));
        assert_eq!(
            obs[0].retracted,
            vec![Relationship::new(RelType::ListensOn, "e2")]
        );
        assert!(obs[1].gone && obs[1].id == "p2", "p2 vanished: {obs:?}");
        assert_eq!(obs.len(), 2);
    }

    #[test]
    fn a_failed_sync_leaves_its_resources_to_be_retracted_later() {
        let mut m = ScopeMemory::default();
        sync(&mut m, 1_000, vec![process(1_000, "p1", &[])], true);
        let (_, obs) = sync(&mut m, 2_000, vec![process(2_000, "p2", &[])], false);
        assert!(
            obs.iter().any(|o| o.gone && o.id == "p1"),
            "the failed sync itself still retracts"
        );
        let (_, obs) = sync(&mut m, 3_000, vec![process(3_000, "p3", &[])], true);
        let gone: Vec<&str> = obs
            .iter()
            .filter(|o| o.gone)
            .map(|o| o.id.as_str())
            .collect();
        assert_eq!(
            gone,
            vec!["p1", "p2"],
            "p2 was published by the failed sync and is gone now"
        );
    }

    #[test]
    fn a_reconciliation_comes_around_every_interval_and_after_a_failed_one() {
        let mut m = ScopeMemory::default();
        assert_eq!(sync(&mut m, 0, vec![], false).0, SyncKind::Reconciliation);
        assert_eq!(
            sync(&mut m, 1_000, vec![], true).0,
            SyncKind::Reconciliation,
            "the failed one did not count"
        );
        assert_eq!(sync(&mut m, 2_000, vec![], true).0, SyncKind::Delta);
        assert_eq!(
            sync(&mut m, 61_000, vec![], true).0,
            SyncKind::Reconciliation
        );
        assert_eq!(sync(&mut m, 62_000, vec![], true).0, SyncKind::Delta);
    }

    #[test]
    fn scopes_reconcile_out_of_phase_over_half_an_interval_then_a_quarter() {
        let every = Duration::from_secs(400);
        for (after_startup, range) in [(true, 200_000..=400_000), (false, 300_000..=400_000)] {
            let phases: HashSet<i64> = (0..50)
                .map(|i| {
                    spread(
                        &ScopeRef::new("t", format!("host:{i}")),
                        every,
                        after_startup,
                    )
                })
                .collect();
            assert!(phases.iter().all(|p| range.contains(p)), "{phases:?}");
            assert!(
                phases.len() > 40,
                "fifty hosts restarted together spread out: {} distinct phases",
                phases.len()
            );
            if after_startup {
                assert!(
                    phases.iter().any(|p| *p < 300_000),
                    "the round after start-up uses the second half: {phases:?}"
                );
            }
        }
    }

    #[test]
    fn the_round_after_start_up_comes_early_and_later_ones_an_interval_apart() {
        let every = Duration::from_secs(400);
        let (s, first, later) = (0..50)
            .map(|i| ScopeRef::new("t", format!("host:{i}")))
            .map(|s| (spread(&s, every, true), spread(&s, every, false), s))
            .find(|(first, later, _)| first < later)
            .map(|(first, later, s)| (s, first, later))
            .expect("some scope waits less after start-up");
        let mut m = ScopeMemory::default();
        let plan = |m: &mut ScopeMemory, epoch: i64| {
            let plan = m.plan(&s, epoch, every, &mut Vec::new());
            let kind = plan.kind;
            m.completed(plan, epoch);
            kind
        };
        assert_eq!(plan(&mut m, 0), SyncKind::Reconciliation, "start-up");
        assert_eq!(plan(&mut m, first - 1), SyncKind::Delta);
        assert_eq!(plan(&mut m, first), SyncKind::Reconciliation);
        assert_eq!(
            plan(&mut m, 2 * first),
            SyncKind::Delta,
            "now {later} ms apart"
        );
        assert_eq!(plan(&mut m, first + later), SyncKind::Reconciliation);
    }
}
