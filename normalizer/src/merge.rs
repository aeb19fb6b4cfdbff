//! Turns observations into graph changes: merges what several sources and
//! times say of one element, and sends a compact touch where nothing
//! changed.
//!
//! Merge rules, per property: the value from the newest observation wins
//! (`Merge::Latest`); multi-valued properties (`Merge::Union`) are the union
//! of every scope's newest list. An observation older than what is known
//! changes nothing. "Newer" is one rule, here and in the graph: the later
//! sync (epoch) wins, and within one sync the later look (`observed_at`),
//! so a slow sync that finishes after a newer one cannot win here while
//! losing in the graph. Each upsert carries `props_at`, the newest epoch of
//! anything sent for the element; the writer applies it unless it holds
//! newer, which a later upsert from here never is.
//!
//! An element whose merged properties did not change, and which the scope
//! saw in this sync or in its previous one (the observation's
//! `previous_epoch`, so it can not have been cleaned up in between), is
//! still as the graph has it: a delta sync sends nothing for it, and a
//! reconciliation sends a compact touch, re-asserting it at the new epoch.
//! Otherwise the full merged properties go out again.
//!
//! What the collector says vanished (a `gone` resource, `retracted`
//! relationships) becomes a `Delete` for that scope only.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use infragraph_schemas::{
    Delete, Direction, EdgeRef, EdgeUpsert, Element, GraphChange, Merge, NodeRef, NodeUpsert,
    Observation, Properties, PropertyDef, Relationship, ResourceDef, ScopeRef, SyncKind, Touch,
    Value,
};

use crate::cache::Bounded;

/// When a measurement (`Merge::Measurement`) is worth a graph write.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurements {
    /// A move by at least this fraction of the written value.
    pub min_change: f64,
    /// Any move, once the written value is at least this old (ms).
    pub max_age_ms: i64,
}

impl Default for Measurements {
    fn default() -> Self {
        Measurements {
            min_change: 0.1,
            max_age_ms: 30_000,
        }
    }
}

impl Measurements {
    fn worth_writing(&self, written: &Value, written_at: i64, now: &Value, (_, at): Stamp) -> bool {
        if written == now {
            return false;
        }
        let moved = match (written, now) {
            (Value::Long(w), Value::Long(n)) => {
                w.abs_diff(*n) as f64 >= self.min_change * (w.unsigned_abs().max(1) as f64)
            }
            _ => true,
        };
        moved || at.saturating_sub(written_at) >= self.max_age_ms
    }
}

/// How new a value is: its sync's epoch, then when it was looked at.
type Stamp = (i64, i64);

#[derive(Debug, Clone, PartialEq)]
enum PropState {
    Latest {
        value: Value,
        at: Stamp,
    },
    /// A measurement, with the value last sent to the graph and when it
    /// was looked at.
    Measured {
        value: Value,
        at: Stamp,
        written: Value,
        written_at: i64,
    },
    Union {
        by_scope: BTreeMap<ScopeRef, (Vec<String>, Stamp)>,
    },
}

impl PropState {
    /// The state of a property seen for the first time.
    fn first(rule: Merge, scope: &ScopeRef, at: Stamp, value: &Value) -> Self {
        match (rule, value) {
            (Merge::Union, Value::StringList(list)) => PropState::Union {
                by_scope: BTreeMap::from([(scope.clone(), (list.clone(), at))]),
            },
            (Merge::Measurement, _) => PropState::Measured {
                value: value.clone(),
                at,
                written: value.clone(),
                written_at: at.1,
            },
            _ => PropState::Latest {
                value: value.clone(),
                at,
            },
        }
    }

    /// Folds in a newer observation; true if the merged value changed
    /// (for a measurement: changed enough to be written).
    fn fold(
        &mut self,
        rule: Merge,
        scope: &ScopeRef,
        at: Stamp,
        value: &Value,
        m: &Measurements,
    ) -> bool {
        match (rule, value, &mut *self) {
            (Merge::Union, Value::StringList(list), PropState::Union { by_scope }) => {
                let before: Vec<String> = Self::union(by_scope).into_iter().cloned().collect();
                let slot = by_scope
                    .entry(scope.clone())
                    .or_insert((Vec::new(), (i64::MIN, i64::MIN)));
                if at >= slot.1 {
                    *slot = (list.clone(), at);
                }
                !Self::union(by_scope).into_iter().eq(before.iter())
            }
            // A list where the state holds a single value: nothing to union with.
            (Merge::Union, Value::StringList(_), PropState::Latest { .. }) => false,
            (
                _,
                _,
                PropState::Latest {
                    value: known,
                    at: known_at,
                },
            ) => {
                // An older value than the one known is ignored.
                if at < *known_at {
                    return false;
                }
                *known_at = at;
                if known == value {
                    return false;
                }
                *known = value.clone();
                true
            }
            (
                _,
                _,
                PropState::Measured {
                    value: known,
                    at: known_at,
                    written,
                    written_at,
                },
            ) => {
                if at < *known_at {
                    return false;
                }
                *known_at = at;
                *known = value.clone();
                m.worth_writing(written, *written_at, value, at)
            }
            (_, _, state) => {
                *state = PropState::Latest {
                    value: value.clone(),
                    at,
                };
                true
            }
        }
    }

    fn union(by_scope: &BTreeMap<ScopeRef, (Vec<String>, Stamp)>) -> BTreeSet<&String> {
        by_scope.values().flat_map(|(l, _)| l).collect()
    }

    /// The graph now holds the current value.
    fn written(&mut self) {
        if let PropState::Measured {
            value,
            at,
            written,
            written_at,
        } = self
        {
            *written = value.clone();
            *written_at = at.1;
        }
    }

    fn merged(&self) -> Value {
        match self {
            PropState::Latest { value, .. } | PropState::Measured { value, .. } => value.clone(),
            PropState::Union { by_scope } => {
                Value::StringList(Self::union(by_scope).into_iter().cloned().collect())
            }
        }
    }
}

/// A property name: the registry's own string when declared, so remembering
/// a property allocates nothing for its name.
type Name = Cow<'static, str>;

/// What the normalizer remembers of one node or relationship.
#[derive(Debug)]
pub struct ElementState {
    /// Sorted by name, like an observation's properties, so merging walks
    /// both side by side instead of searching one for each of the other.
    props: Vec<(Name, PropState)>,
    /// Per scope asserting the element, the newest epoch it saw it in or
    /// retracted it at. Scopes are shared, not copied.
    seen: Vec<(Arc<ScopeRef>, Sighted)>,
    /// The newest epoch of any change sent for the element: the graph's
    /// `_props_at`, as far as this instance knows.
    sent_at: i64,
}

impl Default for ElementState {
    fn default() -> Self {
        ElementState {
            props: Vec::new(),
            seen: Vec::new(),
            sent_at: i64::MIN,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sighted {
    At(i64),
    /// The scope retracted the element in this epoch: an older sighting
    /// arriving late (a delivery retried after an outage) must not bring
    /// it back, and a newer one sends it whole.
    RetractedAt(i64),
}

impl ElementState {
    fn sighted(&self, scope: &ScopeRef) -> Option<Sighted> {
        self.seen
            .iter()
            .find(|(s, _)| **s == *scope)
            .map(|(_, e)| *e)
    }

    fn seen_by(&self, scope: &ScopeRef) -> Option<i64> {
        match self.sighted(scope) {
            Some(Sighted::At(e)) => Some(e),
            _ => None,
        }
    }

    /// True if the scope retracted the element at `epoch` or later.
    fn retracted_since(&self, scope: &ScopeRef, epoch: i64) -> bool {
        matches!(self.sighted(scope), Some(Sighted::RetractedAt(r)) if r >= epoch)
    }

    /// Records the retraction; false if a newer sync of the scope saw the
    /// element (syncs that overlapped), which then stays.
    fn retract(&mut self, scope: &Arc<ScopeRef>, epoch: i64) -> bool {
        match self.seen.iter_mut().find(|(s, _)| s == scope) {
            Some((_, Sighted::At(e))) if *e > epoch => false,
            Some((_, Sighted::RetractedAt(e))) => {
                *e = (*e).max(epoch);
                true
            }
            Some((_, sighted)) => {
                *sighted = Sighted::RetractedAt(epoch);
                true
            }
            None => {
                self.seen.push((scope.clone(), Sighted::RetractedAt(epoch)));
                true
            }
        }
    }

    fn mark_seen(&mut self, scope: &Arc<ScopeRef>, epoch: i64) {
        match self.seen.iter_mut().find(|(s, _)| s == scope) {
            Some((_, Sighted::At(e))) => *e = (*e).max(epoch),
            Some((_, sighted)) => *sighted = Sighted::At(epoch),
            None => self.seen.push((scope.clone(), Sighted::At(epoch))),
        }
    }

    /// Folds one observation's properties in; true if the merged view
    /// changed. `declared` is the resource type's properties sorted by name.
    fn merge(
        &mut self,
        scope: &ScopeRef,
        at: Stamp,
        props: &Properties,
        declared: &[&'static PropertyDef],
        m: &Measurements,
    ) -> bool {
        let (mut changed, mut d, mut k) = (false, 0, 0);
        for (name, value) in props {
            let def = advance(declared, &mut d, |p| p.name, name).then(|| declared[d]);
            let rule = def.map_or(Merge::Latest, |p| p.merge);
            if advance(&self.props, &mut k, |(n, _)| n, name) {
                changed |= self.props[k].1.fold(rule, scope, at, value, m);
            } else {
                if self.props.is_empty() {
                    self.props.reserve_exact(props.len());
                }
                let key: Name =
                    def.map_or_else(|| Cow::Owned(name.clone()), |p| Cow::Borrowed(p.name));
                self.props
                    .insert(k, (key, PropState::first(rule, scope, at, value)));
                changed = true;
            }
            k += 1;
        }
        changed
    }

    /// True if the merged view is exactly `props`: the same names, each
    /// holding that single value.
    fn holds_only(&self, props: &Properties) -> bool {
        self.props.len() == props.len()
            && self.props.iter().zip(props).all(|((name, state), (n, v))| {
                name == n && matches!(state, PropState::Latest { value, .. } | PropState::Measured { value, .. } if value == v)
            })
    }

    fn written(&mut self) {
        self.props.iter_mut().for_each(|(_, p)| p.written());
    }

    fn merged(&self) -> Properties {
        self.props
            .iter()
            .map(|(k, p)| (k.clone().into_owned(), p.merged()))
            .collect()
    }
}

/// Moves `at` along the name-sorted `list` to the first entry not before
/// `name`; true if that entry is `name`. One comparison per step.
fn advance<T>(list: &[T], at: &mut usize, name_of: impl Fn(&T) -> &str, name: &str) -> bool {
    while let Some(entry) = list.get(*at) {
        match name_of(entry).cmp(name) {
            std::cmp::Ordering::Less => *at += 1,
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Greater => return false,
        }
    }
    false
}

/// The normalizer's memory and its rules, free of any I/O.
pub struct Merger {
    state: Bounded<Element, ElementState>,
    measurements: Measurements,
    /// The scope of the last observation: a sync's observations arrive
    /// together, so consecutive ones share one copy.
    last_scope: Option<Arc<ScopeRef>>,
}

/// How the changes of one observation came out, for metrics and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub upserts: u64,
    pub touches: u64,
    /// Elements a delta sync saw as the graph has them: no change sent.
    pub unchanged: u64,
    pub retractions: u64,
}

impl Outcome {
    pub fn add(&mut self, other: Outcome) {
        self.upserts += other.upserts;
        self.touches += other.touches;
        self.unchanged += other.unchanged;
        self.retractions += other.retractions;
    }
}

impl Merger {
    pub fn new(capacity: usize) -> Self {
        Merger {
            state: Bounded::new(capacity),
            measurements: Measurements::default(),
            last_scope: None,
        }
    }

    pub fn with_measurements(mut self, m: Measurements) -> Self {
        self.measurements = m;
        self
    }

    /// Forgets `element`, whose change never reached the graph: its next
    /// observation is sent in full again rather than judged unchanged.
    pub fn forget(&mut self, element: &Element) {
        self.state.forget(element);
    }

    /// Elements remembered now (bounded by the capacity).
    pub fn remembered(&self) -> usize {
        self.state.len()
    }

    /// The changes one (valid) observation makes: its node first, then the
    /// relationships it asserts.
    pub fn observe(&mut self, obs: Observation, out: &mut Vec<GraphChange>) -> Outcome {
        let Observation {
            scope,
            epoch,
            observed_at,
            previous_epoch,
            kind,
            id,
            properties,
            relationships,
            sync_kind,
            retracted,
            gone,
        } = obs;
        let scope = self.share(scope);
        let at = Sighting {
            scope: &scope,
            epoch,
            previous_epoch,
            observed_at,
            kind: sync_kind,
            measurements: self.measurements,
        };
        let def = kind.def();
        let node = NodeRef { kind, id };
        let declared = kind.properties_by_name();
        let mut outcome = Outcome::default();
        if !gone {
            Self::decide(
                &mut self.state,
                Element::Node(node.clone()),
                &at,
                properties,
                declared,
                &mut outcome,
                out,
            );
        }
        for rel in relationships {
            let Some(edge) = edge(def, &node, rel.rel_type, rel.target_id) else {
                continue;
            };
            // Relationship properties are not declared: every one is latest-wins.
            Self::decide(
                &mut self.state,
                edge,
                &at,
                rel.properties,
                &[],
                &mut outcome,
                out,
            );
        }
        let retracted = retracted.into_iter().filter_map(
            |Relationship {
                 rel_type,
                 target_id,
                 ..
             }| edge(def, &node, rel_type, target_id),
        );
        // Relationships first: a node's delete must not leave them dangling.
        for element in retracted.chain(gone.then(|| Element::Node(node.clone()))) {
            if !self.state.entry(&element).retract(&scope, epoch) {
                continue;
            }
            outcome.retractions += 1;
            out.push(GraphChange::Delete(Delete {
                element,
                scope: ScopeRef::clone(&scope),
                epoch,
            }));
        }
        outcome
    }

    fn share(&mut self, scope: ScopeRef) -> Arc<ScopeRef> {
        match &self.last_scope {
            Some(last) if **last == scope => last.clone(),
            _ => self.last_scope.insert(Arc::new(scope)).clone(),
        }
    }

    fn decide(
        state: &mut Bounded<Element, ElementState>,
        element: Element,
        at: &Sighting<'_>,
        props: Properties,
        declared: &[&'static PropertyDef],
        outcome: &mut Outcome,
        out: &mut Vec<GraphChange>,
    ) {
        let state = state.entry(&element);
        if state.retracted_since(at.scope, at.epoch) {
            outcome.unchanged += 1;
            return;
        }
        let seen = state.seen_by(at.scope);
        let changed = state.merge(
            at.scope,
            (at.epoch, at.observed_at),
            &props,
            declared,
            &at.measurements,
        );
        state.mark_seen(at.scope, at.epoch);
        let still_there = seen.is_some_and(|e| e >= at.epoch || Some(e) == at.previous_epoch);
        if !changed && still_there && at.kind == SyncKind::Delta {
            outcome.unchanged += 1;
            return;
        }
        let (scope, epoch, observed_at) = (ScopeRef::clone(at.scope), at.epoch, at.observed_at);
        if !changed && still_there {
            state.sent_at = state.sent_at.max(epoch);
            outcome.touches += 1;
            out.push(GraphChange::Touch(Touch {
                element,
                scope,
                epoch,
            }));
            return;
        }
        outcome.upserts += 1;
        state.written();
        state.sent_at = state.sent_at.max(epoch);
        let props_at = Some(state.sent_at);
        // Usually this observation is all that is known of the element: its
        // own properties are the merged view, and need no rebuilding.
        let properties = if state.holds_only(&props) {
            props
        } else {
            state.merged()
        };
        out.push(match element {
            Element::Node(node) => GraphChange::NodeUpsert(NodeUpsert {
                node,
                scope,
                epoch,
                observed_at,
                properties,
                props_at,
            }),
            Element::Edge(edge) => GraphChange::EdgeUpsert(EdgeUpsert {
                edge,
                scope,
                epoch,
                observed_at,
                properties,
                props_at,
            }),
        });
    }
}

/// The relationship `rel_type` from `node` to `target_id`, in the
/// registry's direction; `None` if `node`'s type does not declare it (the
/// decoder rejects those already).
fn edge(
    def: &ResourceDef,
    node: &NodeRef,
    rel_type: infragraph_schemas::RelType,
    target_id: String,
) -> Option<Element> {
    let rd = def.relationship(rel_type)?;
    let target = NodeRef {
        kind: rd.target,
        id: target_id,
    };
    let (from, to) = match rd.direction {
        Direction::Outgoing => (node.clone(), target),
        Direction::Incoming => (target, node.clone()),
    };
    Some(Element::Edge(EdgeRef { rel_type, from, to }))
}

/// The parts of an observation that every change it makes repeats.
struct Sighting<'a> {
    scope: &'a Arc<ScopeRef>,
    epoch: i64,
    previous_epoch: Option<i64>,
    observed_at: i64,
    kind: SyncKind,
    measurements: Measurements,
}

#[cfg(test)]
mod tests {
    use super::*;
    use infragraph_schemas::{RelType, ResourceKind};

    fn host(scope: &str, epoch: i64, at: i64) -> Observation {
        Observation::new(
            ScopeRef::new("t", scope),
            epoch,
            at,
            ResourceKind::Host,
            "h",
        )
        .with("hostname", "a")
    }

    fn run(m: &mut Merger, obs: &Observation) -> Vec<GraphChange> {
        let mut out = Vec::new();
        m.observe(obs.clone(), &mut out);
        out
    }

    fn props(c: &GraphChange) -> &Properties {
        match c {
            GraphChange::NodeUpsert(u) => &u.properties,
            other => panic!("expected a node upsert, got {other:?}"),
        }
    }

    #[test]
    fn the_newest_value_of_each_property_wins() {
        let mut m = Merger::new(100);
        run(
            &mut m,
            &host("a", 1, 10)
                .with("kernel", "k1")
                .with("os_release", "old"),
        );
        let out = run(&mut m, &host("b", 1, 20).with("kernel", "k2"));
        assert_eq!(props(&out[0]).get("kernel"), Some(&Value::from("k2")));
        assert_eq!(
            props(&out[0]).get("os_release"),
            Some(&Value::from("old")),
            "unobserved properties are kept"
        );
        let out = run(&mut m, &host("c", 1, 5).with("kernel", "k0"));
        assert!(
            matches!(out[0], GraphChange::NodeUpsert(_)),
            "a new scope always sends the full node"
        );
        assert_eq!(
            props(&out[0]).get("kernel"),
            Some(&Value::from("k2")),
            "an older value never wins"
        );
    }

    #[test]
    fn union_properties_follow_each_scopes_newest_list() {
        let mut m = Merger::new(100);
        let ips = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        run(
            &mut m,
            &host("a", 1, 1).with("ip_addresses", ips(&["10.0.0.1", "10.0.0.9"])),
        );
        run(
            &mut m,
            &host("b", 1, 1).with("ip_addresses", ips(&["10.0.0.2"])),
        );
        let out = run(
            &mut m,
            &host("a", 2, 2).with("ip_addresses", ips(&["10.0.0.1"])),
        );
        assert_eq!(
            props(&out[0]).get("ip_addresses"),
            Some(&Value::StringList(ips(&["10.0.0.1", "10.0.0.2"]))),
            "scope a dropped 10.0.0.9; scope b's address stays"
        );
    }

    #[test]
    fn touches_only_for_what_the_previous_sync_saw() {
        let mut m = Merger::new(100);
        let obs = host("a", 1, 1);
        run(&mut m, &obs);
        let same_sync = run(&mut m, &obs);
        assert!(
            matches!(same_sync[0], GraphChange::Touch(_)),
            "seen twice in one sync"
        );
        let next = Observation {
            epoch: 2,
            previous_epoch: Some(1),
            ..obs.clone()
        };
        assert!(
            matches!(run(&mut m, &next)[0], GraphChange::Touch(_)),
            "seen in the previous sync"
        );
        let gap = Observation {
            epoch: 4,
            previous_epoch: Some(3),
            ..obs.clone()
        };
        assert!(
            matches!(run(&mut m, &gap)[0], GraphChange::NodeUpsert(_)),
            "not seen in sync 3: it may have been cleaned up, so send it whole"
        );
        let restarted = Observation {
            epoch: 5,
            previous_epoch: None,
            ..obs
        };
        assert!(
            matches!(run(&mut m, &restarted)[0], GraphChange::NodeUpsert(_)),
            "a restarted collector resends"
        );
    }

    #[test]
    fn relationships_follow_the_registry_direction() {
        let mut m = Merger::new(100);
        let p = Observation::new(ScopeRef::new("t", "a"), 1, 1, ResourceKind::Process, "p1")
            .with("host_id", "h")
            .relate(RelType::RunsOn, "h");
        let out = run(&mut m, &p);
        let GraphChange::EdgeUpsert(e) = &out[1] else {
            panic!("{out:?}")
        };
        assert_eq!(
            (e.edge.from.kind, e.edge.from.id.as_str()),
            (ResourceKind::Process, "p1")
        );
        assert_eq!(
            (e.edge.to.kind, e.edge.to.id.as_str()),
            (ResourceKind::Host, "h")
        );
    }

    fn delta(obs: Observation, epoch: i64, previous: i64) -> Observation {
        Observation {
            epoch,
            observed_at: epoch,
            previous_epoch: Some(previous),
            sync_kind: SyncKind::Delta,
            ..obs
        }
    }

    fn process(epoch: i64) -> Observation {
        Observation::new(
            ScopeRef::new("t", "a"),
            epoch,
            epoch,
            ResourceKind::Process,
            "p1",
        )
        .with("host_id", "h")
        .relate(RelType::RunsOn, "h")
    }

    fn gone(epoch: i64) -> Observation {
        Observation::gone(
            ScopeRef::new("t", "a"),
            epoch,
            epoch,
            ResourceKind::Process,
            "p1",
            vec![Relationship::new(RelType::RunsOn, "h")],
        )
    }

    #[test]
    fn a_delta_sync_sends_nothing_for_what_is_unchanged() {
        let mut m = Merger::new(100);
        assert_eq!(run(&mut m, &process(1)).len(), 2);
        assert!(run(&mut m, &delta(process(1), 2, 1)).is_empty());
        let changed = delta(process(1), 3, 2).with("name", "renamed");
        assert!(
            matches!(run(&mut m, &changed)[..], [GraphChange::NodeUpsert(_)]),
            "only the node changed"
        );
    }

    #[test]
    fn a_retraction_deletes_relationships_before_the_node_and_outlives_late_sightings() {
        let mut m = Merger::new(100);
        run(&mut m, &process(1));
        let out = run(&mut m, &gone(2));
        assert!(
            matches!(&out[..], [GraphChange::Delete(e), GraphChange::Delete(n)]
            if matches!(e.element, Element::Edge(_)) && matches!(n.element, Element::Node(_)) && n.epoch == 2),
            "{out:?}"
        );
        assert!(
            run(&mut m, &delta(process(1), 1, 0)).is_empty(),
            "a late sighting from before the retraction"
        );
        let back = run(&mut m, &delta(process(1), 3, 2));
        assert!(
            matches!(back[0], GraphChange::NodeUpsert(_)),
            "it came back: sent whole: {back:?}"
        );
    }

    #[test]
    fn a_retraction_from_an_older_sync_leaves_what_a_newer_one_saw() {
        let mut m = Merger::new(100);
        run(&mut m, &process(1));
        run(&mut m, &delta(process(1), 3, 1));
        assert!(
            run(&mut m, &gone(2)).is_empty(),
            "sync 3 saw it after sync 2 missed it"
        );
    }

    #[test]
    fn a_measurement_is_written_when_it_moved_enough_or_grew_stale() {
        let mut m = Merger::new(100).with_measurements(Measurements {
            min_change: 0.1,
            max_age_ms: 30_000,
        });
        let at =
            |epoch: i64, cpu: i64| delta(process(1), epoch, epoch - 1_000).with("cpu_time_ms", cpu);
        run(&mut m, &at(1_000, 1_000).with("cpu_time_ms", 1_000));
        assert!(
            run(&mut m, &at(2_000, 1_050)).is_empty(),
            "5% is not worth a write"
        );
        let moved = run(&mut m, &at(3_000, 1_200));
        assert_eq!(
            props(&moved[0]).get("cpu_time_ms"),
            Some(&Value::Long(1_200)),
            "20% is"
        );
        assert!(run(&mut m, &at(4_000, 1_210)).is_empty());
        let stale = run(&mut m, &at(33_000, 1_220));
        assert_eq!(
            props(&stale[0]).get("cpu_time_ms"),
            Some(&Value::Long(1_220)),
            "30 s after the last write, any move is"
        );
        let unchanged = delta(process(1), 70_000, 33_000).with("cpu_time_ms", 1_220);
        assert!(
            run(&mut m, &unchanged).is_empty(),
            "an unchanged value is never rewritten"
        );
    }

    fn props_at(c: &GraphChange) -> Option<i64> {
        match c {
            GraphChange::NodeUpsert(u) => u.props_at,
            other => panic!("expected a node upsert, got {other:?}"),
        }
    }

    #[test]
    fn the_later_sync_wins_even_when_the_older_one_looks_last() {
        let mut m = Merger::new(100);
        // Sync 2 looked at 100; the slower sync 1 looked at 200 and finished last.
        let newer = run(&mut m, &host("a", 2, 100).with("kernel", "new"));
        assert_eq!(props_at(&newer[0]), Some(2));
        let older = run(
            &mut m,
            &Observation {
                previous_epoch: Some(0),
                sync_kind: SyncKind::Delta,
                ..host("a", 1, 200).with("kernel", "old")
            },
        );
        assert!(
            older.is_empty(),
            "the graph refuses epoch 1 over epoch 2, so must the normalizer: {older:?}"
        );
        let next = run(
            &mut m,
            &Observation {
                previous_epoch: Some(2),
                sync_kind: SyncKind::Delta,
                ..host("a", 3, 300).with("kernel", "new")
            },
        );
        assert!(
            next.is_empty(),
            "the graph holds what sync 3 saw, and the normalizer knows it"
        );
    }

    #[test]
    fn an_upserts_props_at_never_goes_back_whatever_its_scopes_epoch() {
        let mut m = Merger::new(100);
        assert_eq!(props_at(&run(&mut m, &host("a", 100, 100))[0]), Some(100));
        let behind = run(&mut m, &host("b", 50, 150).with("kernel", "k"));
        assert_eq!(
            props_at(&behind[0]),
            Some(100),
            "a scope whose clock is behind still gets its new property written"
        );
        assert_eq!(props(&behind[0]).get("kernel"), Some(&Value::from("k")));
    }
}
