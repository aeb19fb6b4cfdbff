//! Generators of every record, shared by the contract tests.
#![allow(dead_code)]

use infragraph_schemas::*;
use proptest::prelude::*;

pub fn scope() -> impl Strategy<Value = ScopeRef> {
    ("[a-z]{1,8}", ".{0,12}").prop_map(|(s, c)| ScopeRef::new(s, c))
}

/// Any value but NaN, which never equals itself.
pub fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Long),
        any::<f64>()
            .prop_filter("NaN", |f| !f.is_nan())
            .prop_map(Value::Double),
        ".{0,16}".prop_map(Value::String),
        prop::collection::vec(".{0,6}", 0..4).prop_map(Value::StringList),
    ]
}

pub fn properties() -> impl Strategy<Value = Properties> {
    prop::collection::btree_map("[a-z_]{1,10}", value(), 0..5).prop_map(|m| m.into_iter().collect())
}

fn typed_value(ty: PropertyType) -> BoxedStrategy<Value> {
    match ty {
        PropertyType::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        PropertyType::Long => any::<i64>().prop_map(Value::Long).boxed(),
        PropertyType::Double => any::<f64>()
            .prop_filter("NaN", |f| !f.is_nan())
            .prop_map(Value::Double)
            .boxed(),
        PropertyType::String => ".{0,24}".prop_map(Value::String).boxed(),
        PropertyType::StringList => prop::collection::vec(".{0,8}", 0..5)
            .prop_map(Value::StringList)
            .boxed(),
    }
}

/// An observation of `kind` with a random subset of its declared properties
/// and relationships.
pub fn observation_of(kind: ResourceKind) -> impl Strategy<Value = Observation> {
    let def = kind.def();
    let props: Vec<_> = def
        .properties
        .iter()
        .map(|p| prop::option::of(typed_value(p.ty)).prop_map(move |v| (p.name, v)))
        .collect();
    let rels = def
        .relationships
        .iter()
        .map(|r| r.rel_type)
        .collect::<Vec<_>>();
    let rel = if rels.is_empty() {
        Just(Vec::new()).boxed()
    } else {
        prop::collection::vec((prop::sample::select(rels), ".{1,12}", properties()), 0..4)
            .prop_map(|v| {
                v.into_iter()
                    .map(|(t, id, properties)| Relationship {
                        rel_type: t,
                        target_id: id,
                        properties,
                    })
                    .collect()
            })
            .boxed()
    };
    let retracted = rel.clone();
    let delta = (kind_(), retracted, any::<bool>());
    (
        scope(),
        any::<i64>(),
        any::<i64>(),
        prop::option::of(any::<i64>()),
        ".{1,20}",
        props,
        rel,
        delta,
    )
        .prop_map(
            move |(
                scope,
                epoch,
                at,
                prev,
                id,
                props,
                relationships,
                (sync_kind, retracted, gone),
            )| {
                let mut obs = Observation::new(scope, epoch, at, kind, id);
                obs.previous_epoch = prev;
                obs.sync_kind = sync_kind;
                obs.retracted = retracted;
                obs.gone = gone;
                for (name, v) in props.into_iter() {
                    obs.set(name, v);
                }
                obs.relationships = relationships;
                obs
            },
        )
}

pub fn observation() -> impl Strategy<Value = Observation> {
    prop::sample::select(ResourceKind::ALL.to_vec()).prop_flat_map(observation_of)
}

pub fn status() -> impl Strategy<Value = SyncStatus> {
    prop::sample::select(SyncStatus::ALL.to_vec())
}

pub fn kind_() -> impl Strategy<Value = SyncKind> {
    prop::sample::select(SyncKind::ALL.to_vec())
}

pub fn sync_marker() -> impl Strategy<Value = SyncMarker> {
    let count = ("[a-z.]{1,20}", any::<i32>(), any::<i64>(), any::<i64>()).prop_map(
        |(topic, partition, count, last_offset)| TopicCount {
            topic,
            partition,
            count,
            last_offset,
        },
    );
    (
        scope(),
        any::<i64>(),
        status(),
        prop::option::of(".{0,20}"),
        prop::collection::vec(count, 0..4),
        any::<i64>(),
        kind_(),
    )
        .prop_map(
            |(scope, epoch, status, reason, counts, emitted_at, kind)| SyncMarker {
                scope,
                epoch,
                status,
                reason,
                counts,
                emitted_at,
                kind,
            },
        )
}

fn node_ref() -> impl Strategy<Value = NodeRef> {
    (prop::sample::select(ResourceKind::ALL.to_vec()), ".{1,12}")
        .prop_map(|(kind, id)| NodeRef { kind, id })
}

fn edge_ref() -> impl Strategy<Value = EdgeRef> {
    (
        prop::sample::select(RelType::ALL.to_vec()),
        node_ref(),
        node_ref(),
    )
        .prop_map(|(rel_type, from, to)| EdgeRef { rel_type, from, to })
}

fn element() -> impl Strategy<Value = Element> {
    prop_oneof![
        node_ref().prop_map(Element::Node),
        edge_ref().prop_map(Element::Edge)
    ]
}

pub fn graph_change() -> impl Strategy<Value = GraphChange> {
    prop_oneof![
        (
            node_ref(),
            scope(),
            any::<i64>(),
            any::<i64>(),
            properties(),
            prop::option::of(any::<i64>())
        )
            .prop_map(|(node, scope, epoch, observed_at, properties, props_at)| {
                GraphChange::NodeUpsert(NodeUpsert {
                    node,
                    scope,
                    epoch,
                    observed_at,
                    properties,
                    props_at,
                })
            }),
        (
            edge_ref(),
            scope(),
            any::<i64>(),
            any::<i64>(),
            properties(),
            prop::option::of(any::<i64>())
        )
            .prop_map(|(edge, scope, epoch, observed_at, properties, props_at)| {
                GraphChange::EdgeUpsert(EdgeUpsert {
                    edge,
                    scope,
                    epoch,
                    observed_at,
                    properties,
                    props_at,
                })
            }),
        (element(), scope(), any::<i64>()).prop_map(|(element, scope, epoch)| GraphChange::Touch(
            Touch {
                element,
                scope,
                epoch
            }
        )),
        (element(), scope(), any::<i64>()).prop_map(|(element, scope, epoch)| GraphChange::Delete(
            Delete {
                element,
                scope,
                epoch
            }
        )),
        (
            scope(),
            any::<i64>(),
            status(),
            prop::option::of(".{0,20}"),
            kind_()
        )
            .prop_map(
                |(scope, epoch, status, reason, kind)| GraphChange::SyncBarrier(SyncBarrier {
                    scope,
                    epoch,
                    status,
                    reason,
                    kind
                })
            ),
    ]
}

/// Building a codec parses every schema; tests share one.
pub fn codec() -> &'static Codec {
    static CODEC: std::sync::LazyLock<Codec> = std::sync::LazyLock::new(Codec::builtin);
    &CODEC
}
