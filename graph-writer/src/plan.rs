//! Turns a run of graph changes (no barriers) into the statements that
//! apply them: rows grouped by operation and label or relationship shape,
//! in segments that keep the log's order wherever order matters.
//!
//! One `UNWIND` statement reads every row before it writes (Cypher's clause
//! semantics), so two rows for one element in the same statement would both
//! see the old state. The planner therefore never puts one element twice in
//! a segment. A segment runs its deletes last, and deletes commute with each
//! other, so what names a node before its delete, and other deletes after
//! it, share the delete's segment (a retraction's relationships and then
//! its node cost one segment, not two); an upsert or touch naming a node
//! deleted earlier starts the next segment. Segments run in order within
//! one transaction.

use std::collections::{BTreeMap, HashSet};

use infragraph_schemas::{
    EdgeRef, Element, GraphChange, NodeRef, Properties, RelType, ResourceKind, Value,
};

/// Properties the writer owns; a change cannot set them. Every statement
/// and store names them through these constants.
pub const RESERVED: &[&str] = &[
    ID,
    FIRSTSEEN,
    LASTUPDATED,
    ASSERTED_BY,
    ASSERTED_AT,
    PROPS_AT,
    STUB,
    SCOPE,
];
/// The element's id, unique per label (the registry's resource id).
pub const ID: &str = "id";
/// Epoch of the sync that first asserted the element.
pub const FIRSTSEEN: &str = "firstseen";
/// Epoch of the newest sync that asserted it; only moves forward.
pub const LASTUPDATED: &str = "lastupdated";
/// Scope keys asserting an element, parallel to [`ASSERTED_AT`].
pub const ASSERTED_BY: &str = "_asserted_by";
/// The newest epoch in which each scope of [`ASSERTED_BY`] asserted it.
pub const ASSERTED_AT: &str = "_asserted_at";
/// Epoch of the properties the element holds, so older ones never win.
pub const PROPS_AT: &str = "_props_at";
/// One scope asserting a node, found through a range index per label
/// instead of an `ASSERTS` link (see `querybuilder`): null or one of
/// [`ASSERTED_BY`].
pub const SCOPE: &str = "_scope";
/// Marks a node that exists only as the end of a relationship (no upsert
/// named it yet), so the orphan sweep never touches anyone else's nodes.
pub const STUB: &str = "_stub";

/// A relationship type together with the labels of its ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EdgeShape {
    pub rel: RelType,
    pub from: ResourceKind,
    pub to: ResourceKind,
}

impl EdgeShape {
    pub fn of(edge: &EdgeRef) -> Self {
        EdgeShape {
            rel: edge.rel_type,
            from: edge.from.kind,
            to: edge.to.kind,
        }
    }
}

/// One node's row of an `UNWIND`.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    pub id: String,
    pub scope: String,
    pub epoch: i64,
    /// What `props` is as new as (see `NodeUpsert::props_at`).
    pub props_at: i64,
    pub props: Properties,
}

/// One relationship's row of an `UNWIND`.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeRow {
    pub from: String,
    pub to: String,
    pub scope: String,
    pub epoch: i64,
    pub props_at: i64,
    pub props: Properties,
}

/// What a statement does, in the order a segment runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    UpsertNodes,
    UpsertEdges,
    TouchNodes,
    TouchEdges,
    DeleteEdges,
    DeleteNodes,
}

impl Op {
    /// The outcome name used in metrics.
    pub const fn outcome(self) -> &'static str {
        match self {
            Op::UpsertNodes | Op::UpsertEdges => "upserted",
            Op::TouchNodes | Op::TouchEdges => "touched",
            Op::DeleteEdges | Op::DeleteNodes => "unasserted",
        }
    }
}

/// Rows for one statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Group {
    Nodes {
        op: Op,
        kind: ResourceKind,
        rows: Vec<NodeRow>,
    },
    Edges {
        op: Op,
        shape: EdgeShape,
        rows: Vec<EdgeRow>,
    },
}

impl Group {
    pub fn op(&self) -> Op {
        match self {
            Group::Nodes { op, .. } | Group::Edges { op, .. } => *op,
        }
    }

    /// The label or relationship type, for metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Group::Nodes { kind, .. } => kind.label(),
            Group::Edges { shape, .. } => shape.rel.as_str(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Group::Nodes { rows, .. } => rows.len(),
            Group::Edges { rows, .. } => rows.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Statements that may run in any order relative to each other's rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Segment {
    pub groups: Vec<Group>,
}

impl Segment {
    pub fn rows(&self) -> usize {
        self.groups.iter().map(Group::len).sum()
    }
}

/// Plans `changes` (barriers are skipped: the writer handles them).
pub fn plan<'a>(changes: impl IntoIterator<Item = &'a GraphChange>) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut current = Builder::default();
    for change in changes {
        if matches!(change, GraphChange::SyncBarrier(_)) {
            continue;
        }
        if current.conflicts(change) {
            out.push(std::mem::take(&mut current).finish());
        }
        current.add(change);
    }
    if !current.is_empty() {
        out.push(current.finish());
    }
    out
}

/// Keeps only properties a change may set: no `Null` ("not observed" is not
/// "removed") and none of the writer's own.
pub fn sanitize(props: &Properties) -> Properties {
    props
        .iter()
        .filter(|(k, v)| !matches!(v, Value::Null) && !RESERVED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[derive(Default)]
struct Builder {
    nodes: BTreeMap<(Op, ResourceKind), Vec<NodeRow>>,
    edges: BTreeMap<(Op, EdgeShape), Vec<EdgeRow>>,
    elements: HashSet<Element>,
    deleted: HashSet<NodeRef>,
}

impl Builder {
    fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    fn conflicts(&self, change: &GraphChange) -> bool {
        let Some(element) = element_of(change) else {
            return false;
        };
        if self.elements.contains(&element) {
            return true;
        }
        // Run before the delete, this change would be undone by it.
        !matches!(change, GraphChange::Delete(_))
            && nodes_named(&element)
                .iter()
                .any(|n| self.deleted.contains(n))
    }

    fn add(&mut self, change: &GraphChange) {
        let Some(element) = element_of(change) else {
            return;
        };
        if let (GraphChange::Delete(_), Element::Node(n)) = (change, &element) {
            self.deleted.insert(n.clone());
        }
        let scope = change.scope().to_string();
        let epoch = change.epoch();
        let (op, props, props_at) = match change {
            GraphChange::NodeUpsert(c) => (Op::UpsertNodes, sanitize(&c.properties), c.props_at),
            GraphChange::EdgeUpsert(c) => (Op::UpsertEdges, sanitize(&c.properties), c.props_at),
            GraphChange::Touch(_) => (Op::TouchNodes, Properties::new(), None),
            GraphChange::Delete(_) => (Op::DeleteNodes, Properties::new(), None),
            GraphChange::SyncBarrier(_) => return,
        };
        let props_at = props_at.unwrap_or(epoch).max(epoch);
        match &element {
            Element::Node(n) => {
                let row = NodeRow {
                    id: n.id.clone(),
                    scope,
                    epoch,
                    props_at,
                    props,
                };
                self.nodes.entry((op, n.kind)).or_default().push(row);
            }
            Element::Edge(e) => {
                let op = match op {
                    Op::TouchNodes => Op::TouchEdges,
                    Op::DeleteNodes => Op::DeleteEdges,
                    other => other,
                };
                let row = EdgeRow {
                    from: e.from.id.clone(),
                    to: e.to.id.clone(),
                    scope,
                    epoch,
                    props_at,
                    props,
                };
                self.edges
                    .entry((op, EdgeShape::of(e)))
                    .or_default()
                    .push(row);
            }
        }
        self.elements.insert(element);
    }

    /// Groups in execution order: by operation, then label or shape.
    fn finish(self) -> Segment {
        let mut groups: Vec<Group> = self
            .nodes
            .into_iter()
            .map(|((op, kind), rows)| Group::Nodes { op, kind, rows })
            .chain(
                self.edges
                    .into_iter()
                    .map(|((op, shape), rows)| Group::Edges { op, shape, rows }),
            )
            .collect();
        groups.sort_by_key(Group::op);
        Segment { groups }
    }
}

fn element_of(change: &GraphChange) -> Option<Element> {
    match change {
        GraphChange::NodeUpsert(c) => Some(Element::Node(c.node.clone())),
        GraphChange::EdgeUpsert(c) => Some(Element::Edge(c.edge.clone())),
        GraphChange::Touch(c) => Some(c.element.clone()),
        GraphChange::Delete(c) => Some(c.element.clone()),
        GraphChange::SyncBarrier(_) => None,
    }
}

fn nodes_named(element: &Element) -> Vec<NodeRef> {
    match element {
        Element::Node(n) => vec![n.clone()],
        Element::Edge(e) => vec![e.from.clone(), e.to.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use infragraph_schemas::{Delete, EdgeUpsert, NodeUpsert, ScopeRef};

    fn node(id: &str) -> NodeRef {
        NodeRef {
            kind: ResourceKind::Process,
            id: id.into(),
        }
    }

    fn upsert(id: &str, epoch: i64) -> GraphChange {
        let mut properties = Properties::new();
        properties.insert("name".into(), Value::from("x"));
        properties.insert("id".into(), Value::from("hijack"));
        properties.insert("gone".into(), Value::Null);
        GraphChange::NodeUpsert(NodeUpsert {
            node: node(id),
            scope: ScopeRef::new("s", "a"),
            epoch,
            observed_at: epoch,
            properties,
            props_at: None,
        })
    }

    fn edge(from: &str, to: &str) -> GraphChange {
        let edge = EdgeRef {
            rel_type: RelType::ChildOf,
            from: node(from),
            to: node(to),
        };
        GraphChange::EdgeUpsert(EdgeUpsert {
            edge,
            scope: ScopeRef::new("s", "a"),
            epoch: 1,
            observed_at: 1,
            properties: Properties::new(),
            props_at: None,
        })
    }

    fn delete(id: &str) -> GraphChange {
        GraphChange::Delete(Delete {
            element: Element::Node(node(id)),
            scope: ScopeRef::new("s", "a"),
            epoch: 1,
        })
    }

    #[test]
    fn distinct_elements_share_one_segment_and_reserved_props_are_dropped() {
        let segs = plan(&[upsert("a", 1), upsert("b", 1), edge("a", "b")]);
        assert_eq!(segs.len(), 1);
        let Group::Nodes { rows, .. } = &segs[0].groups[0] else {
            panic!("nodes first")
        };
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].props.keys().collect::<Vec<_>>(), vec!["name"]);
        assert_eq!(segs[0].groups[1].op(), Op::UpsertEdges);
    }

    #[test]
    fn a_repeated_element_starts_a_new_segment() {
        let segs = plan(&[upsert("a", 1), upsert("b", 1), upsert("a", 2)]);
        assert_eq!(
            segs.iter().map(Segment::rows).collect::<Vec<_>>(),
            vec![2, 1]
        );
    }

    fn retract_edge(from: &str, to: &str) -> GraphChange {
        let GraphChange::EdgeUpsert(e) = edge(from, to) else {
            unreachable!()
        };
        GraphChange::Delete(Delete {
            element: Element::Edge(e.edge),
            scope: e.scope,
            epoch: e.epoch,
        })
    }

    #[test]
    fn only_a_write_naming_a_node_deleted_before_it_waits_for_the_next_segment() {
        // Deletes run last in a segment: what came before a delete stays before it.
        assert_eq!(plan(&[edge("a", "b"), delete("b")]).len(), 1);
        let retraction = plan(&[retract_edge("a", "b"), retract_edge("c", "a"), delete("a")]);
        assert_eq!(retraction.len(), 1, "a retraction is one segment");
        assert_eq!(
            retraction[0]
                .groups
                .iter()
                .map(Group::op)
                .collect::<Vec<_>>(),
            vec![Op::DeleteEdges, Op::DeleteNodes]
        );
        // Deletes commute: one after a node's delete may share its segment.
        assert_eq!(plan(&[delete("a"), retract_edge("a", "b")]).len(), 1);
        // Run before the delete, this upsert would be undone by it.
        assert_eq!(plan(&[delete("b"), edge("a", "b")]).len(), 2);
        assert_eq!(plan(&[delete("b"), upsert("b", 2)]).len(), 2);
        assert_eq!(plan(&[delete("c"), edge("a", "b")]).len(), 1);
    }
}
