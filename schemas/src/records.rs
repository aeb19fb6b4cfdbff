//! The records that flow between stages.

use crate::properties::Properties;
use crate::registry::{RelType, ResourceKind};
use crate::value::Value;

/// Who asserts a fact: a collector (`source`) syncing one scope.
/// Cleanup of one scope never touches what another scope asserts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeRef {
    /// The collector, e.g. `procfs`.
    pub source: String,
    /// The scope within it, e.g. `host:<machine-id>`.
    pub scope: String,
}

impl ScopeRef {
    pub fn new(source: impl Into<String>, scope: impl Into<String>) -> Self {
        ScopeRef {
            source: source.into(),
            scope: scope.into(),
        }
    }
}

impl std::fmt::Display for ScopeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.source, self.scope)
    }
}

/// What one collector saw of one resource during one sync.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub scope: ScopeRef,
    /// Unix ms when the sync that made this observation started.
    pub epoch: i64,
    /// Unix ms when the resource was looked at.
    pub observed_at: i64,
    /// Epoch of this collector's previous sync of the scope, if it made one
    /// since it started. The normalizer sends a compact touch instead of a
    /// full upsert only for what that sync also saw: such an element can
    /// not have been cleaned up in between.
    pub previous_epoch: Option<i64>,
    pub kind: ResourceKind,
    pub id: String,
    pub properties: Properties,
    /// Relationships this resource asserts, as declared in the registry.
    pub relationships: Vec<Relationship>,
    /// What kind of sync made the observation.
    pub sync_kind: SyncKind,
    /// Relationships this resource asserted in the scope's previous sync
    /// and no longer does: the normalizer retracts them for the scope.
    pub retracted: Vec<Relationship>,
    /// The scope no longer sees the resource at all: the normalizer
    /// retracts it (and `retracted` lists every relationship it asserted).
    pub gone: bool,
}

impl Observation {
    pub fn new(
        scope: ScopeRef,
        epoch: i64,
        observed_at: i64,
        kind: ResourceKind,
        id: impl Into<String>,
    ) -> Self {
        Observation {
            scope,
            epoch,
            observed_at,
            previous_epoch: None,
            kind,
            id: id.into(),
            properties: Properties::new(),
            relationships: Vec::new(),
            sync_kind: SyncKind::Reconciliation,
            retracted: Vec::new(),
            gone: false,
        }
    }

    /// The scope no longer sees `kind`/`id`, which asserted `retracted`.
    pub fn gone(
        scope: ScopeRef,
        epoch: i64,
        observed_at: i64,
        kind: ResourceKind,
        id: impl Into<String>,
        retracted: Vec<Relationship>,
    ) -> Self {
        Observation {
            gone: true,
            retracted,
            sync_kind: SyncKind::Delta,
            ..Observation::new(scope, epoch, observed_at, kind, id)
        }
    }

    /// Sets a property; `Null` values are left out.
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.set(name, value);
        self
    }

    pub fn set(&mut self, name: &str, value: impl Into<Value>) {
        match value.into() {
            Value::Null => {}
            v => {
                self.properties.insert(name.to_owned(), v);
            }
        }
    }

    pub fn relate(mut self, rel_type: RelType, target_id: impl Into<String>) -> Self {
        self.relationships
            .push(Relationship::new(rel_type, target_id));
        self
    }
}

/// A relationship asserted by an observed resource. Its direction and the
/// target's resource type come from the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct Relationship {
    pub rel_type: RelType,
    pub target_id: String,
    pub properties: Properties,
}

impl Relationship {
    pub fn new(rel_type: RelType, target_id: impl Into<String>) -> Self {
        Relationship {
            rel_type,
            target_id: target_id.into(),
            properties: Properties::new(),
        }
    }
}

/// Where a sync stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncStatus {
    Started,
    Completed,
    Failed,
}

impl SyncStatus {
    pub const ALL: [SyncStatus; 3] = [
        SyncStatus::Started,
        SyncStatus::Completed,
        SyncStatus::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Started => "STARTED",
            SyncStatus::Completed => "COMPLETED",
            SyncStatus::Failed => "FAILED",
        }
    }
}

/// What a sync says about what it did not mention.
///
/// A *delta* sync reports only differences: an element it does not mention
/// is unchanged, and what vanished is retracted explicitly. A
/// *reconciliation* re-asserts everything it saw, so whatever the scope
/// asserted before and did not re-assert is cleaned up at its barrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SyncKind {
    Delta,
    /// What a producer that knows nothing of deltas sends (the default).
    #[default]
    Reconciliation,
}

impl SyncKind {
    pub const ALL: [SyncKind; 2] = [SyncKind::Delta, SyncKind::Reconciliation];

    pub const fn as_str(self) -> &'static str {
        match self {
            SyncKind::Delta => "DELTA",
            SyncKind::Reconciliation => "RECONCILIATION",
        }
    }
}

/// How many observations of a sync went to one partition of one topic, so a
/// consumer can tell when it has seen all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicCount {
    pub topic: String,
    pub partition: i32,
    pub count: i64,
    /// Offset of the sync's last observation in this partition: a consumer
    /// group whose committed offset is past it has processed the whole sync
    /// there.
    pub last_offset: i64,
}

/// A collector's statement about one of its syncs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncMarker {
    pub scope: ScopeRef,
    pub epoch: i64,
    pub status: SyncStatus,
    /// Why the sync failed, when it did.
    pub reason: Option<String>,
    pub counts: Vec<TopicCount>,
    /// Unix ms when the marker was emitted.
    pub emitted_at: i64,
    /// The sync's kind, said by its COMPLETED marker. A STARTED marker goes
    /// out before the sync is planned and a FAILED one may have no plan:
    /// both carry the default, which means nothing.
    pub kind: SyncKind,
}

/// A node in the graph, named by its registry type and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeRef {
    pub kind: ResourceKind,
    pub id: String,
}

/// A relationship in the graph, named by its type and both ends.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EdgeRef {
    pub rel_type: RelType,
    pub from: NodeRef,
    pub to: NodeRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Element {
    Node(NodeRef),
    Edge(EdgeRef),
}

/// Create or update a node with these properties.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeUpsert {
    pub node: NodeRef,
    pub scope: ScopeRef,
    pub epoch: i64,
    pub observed_at: i64,
    pub properties: Properties,
    /// The newest epoch of anything the normalizer sent for this element:
    /// the writer applies `properties` only if it holds nothing newer, so
    /// both sides order values by one rule. `None` (older producers): the
    /// epoch.
    pub props_at: Option<i64>,
}

/// Create or update a relationship (and stub its ends if they are new).
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeUpsert {
    pub edge: EdgeRef,
    pub scope: ScopeRef,
    pub epoch: i64,
    pub observed_at: i64,
    pub properties: Properties,
    /// The newest epoch of anything the normalizer sent for this element:
    /// the writer applies `properties` only if it holds nothing newer, so
    /// both sides order values by one rule. `None` (older producers): the
    /// epoch.
    pub props_at: Option<i64>,
}

/// The element was seen unchanged in this epoch: only `lastupdated` moves.
#[derive(Debug, Clone, PartialEq)]
pub struct Touch {
    pub element: Element,
    pub scope: ScopeRef,
    pub epoch: i64,
}

/// The scope no longer asserts the element.
#[derive(Debug, Clone, PartialEq)]
pub struct Delete {
    pub element: Element,
    pub scope: ScopeRef,
    pub epoch: i64,
}

/// Every change of this sync has been emitted before this record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncBarrier {
    pub scope: ScopeRef,
    pub epoch: i64,
    pub status: SyncStatus,
    pub reason: Option<String>,
    /// A completed reconciliation cleans up what the scope did not
    /// re-assert; a completed delta sync has retracted it already.
    pub kind: SyncKind,
}

/// What the graph should say; the graph writer's only input.
#[derive(Debug, Clone, PartialEq)]
pub enum GraphChange {
    NodeUpsert(NodeUpsert),
    EdgeUpsert(EdgeUpsert),
    Touch(Touch),
    Delete(Delete),
    SyncBarrier(SyncBarrier),
}

impl GraphChange {
    pub fn scope(&self) -> &ScopeRef {
        match self {
            GraphChange::NodeUpsert(c) => &c.scope,
            GraphChange::EdgeUpsert(c) => &c.scope,
            GraphChange::Touch(c) => &c.scope,
            GraphChange::Delete(c) => &c.scope,
            GraphChange::SyncBarrier(c) => &c.scope,
        }
    }

    pub fn epoch(&self) -> i64 {
        match self {
            GraphChange::NodeUpsert(c) => c.epoch,
            GraphChange::EdgeUpsert(c) => c.epoch,
            GraphChange::Touch(c) => c.epoch,
            GraphChange::Delete(c) => c.epoch,
            GraphChange::SyncBarrier(c) => c.epoch,
        }
    }
}
