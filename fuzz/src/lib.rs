//! What the fuzz targets share: the codec under test and the real messages
//! the seed corpus starts from.

use std::sync::LazyLock;

use infragraph_schemas::*;

/// A field a newer writer might add to the Host schema.
const ADDED_FIELD: &str = r#"{"name": "rack", "type": ["null", "string"], "default": null}"#;

/// The codec every stage builds: our own schemas only.
pub fn builtin() -> &'static Codec {
    static CODEC: LazyLock<Codec> = LazyLock::new(Codec::builtin);
    &CODEC
}

/// The built-in codec plus one registered foreign writer schema (Host with
/// an added property), as a reader has once a newer collector published its
/// schema: messages with that fingerprint take the schema-resolution path.
pub fn with_newer_host() -> &'static Codec {
    static CODEC: LazyLock<Codec> = LazyLock::new(|| {
        let codec = Codec::builtin();
        codec.register(&newer_host_schema(&codec)).expect("the newer Host schema registers");
        codec
    });
    &CODEC
}

fn host_schema(codec: &Codec) -> serde_json::Value {
    let (_, _, json) = codec
        .schemas()
        .find(|(kind, _, _)| *kind == avro::RecordKind::Observation(ResourceKind::Host))
        .expect("the built-in codec has a Host schema");
    serde_json::from_str(json).expect("our schemas are JSON")
}

/// Our Host schema with one more optional property, as JSON.
pub fn newer_host_schema(codec: &Codec) -> String {
    let mut schema = host_schema(codec);
    let fields = schema["fields"].as_array_mut().expect("a record has fields");
    let props = fields.iter_mut().find(|f| f["name"] == "properties").expect("observations have properties");
    let added: serde_json::Value = serde_json::from_str(ADDED_FIELD).expect("valid JSON");
    props["type"]["fields"].as_array_mut().expect("properties is a record").push(added);
    schema.to_string()
}

/// A message as the newer writer would send it: the Host body with the
/// added property appended, framed with the newer schema's fingerprint.
fn newer_host_message(codec: &Codec, host: &Observation) -> Vec<u8> {
    let fp = codec.register(&newer_host_schema(codec)).expect("registers");
    let ours = codec.encode_observation(host).expect("host encodes");
    let body = &ours[avro::HEADER_LEN..];
    // The relationships array (empty for a host: one 0 byte) comes last;
    // the added property goes just before it: union branch 1, "r1".
    let (before, after) = body.split_at(body.len() - 1);
    let mut out = avro::MAGIC.to_vec();
    out.extend_from_slice(&fp.to_le_bytes());
    out.extend_from_slice(before);
    out.extend_from_slice(&[0x02, 0x04, b'r', b'1']);
    out.extend_from_slice(after);
    out
}

fn scope() -> ScopeRef {
    ScopeRef::new("procfs", "host:6f1c2a")
}

fn every_value() -> Properties {
    [
        ("n", Value::Null),
        ("b", Value::Bool(true)),
        ("l", Value::Long(-42)),
        ("d", Value::Double(1.5)),
        ("s", Value::String("ü".into())),
        ("a", Value::StringList(vec!["x".into(), "y".into()])),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn observations() -> Vec<Observation> {
    let host = Observation::new(scope(), 1, 2, ResourceKind::Host, "6f1c2a")
        .with("hostname", "alpha")
        .with("boot_time", 1_699_000_000_000_i64)
        .with("ip_addresses", vec!["10.0.0.7".to_owned()]);
    let mut process = Observation::new(scope(), 1, 2, ResourceKind::Process, "6f1c2a/42/7")
        .with("host_id", "6f1c2a")
        .with("pid", 42_i64)
        .with("name", "sshd")
        .with("start_time", 7_i64)
        .relate(RelType::RunsOn, "6f1c2a");
    process.previous_epoch = Some(0);
    process.relationships.push(Relationship { rel_type: RelType::ListensOn, target_id: "tcp/0.0.0.0/22".into(), properties: every_value() });
    let endpoint = Observation::new(scope(), 1, 2, ResourceKind::Endpoint, "tcp/0.0.0.0/22").with("port", 22_i64);
    vec![host, process, endpoint]
}

fn graph_changes() -> Vec<GraphChange> {
    let node = NodeRef { kind: ResourceKind::Process, id: "p".into() };
    let edge = EdgeRef { rel_type: RelType::RunsOn, from: node.clone(), to: NodeRef { kind: ResourceKind::Host, id: "h".into() } };
    let (s, e) = (scope(), 1);
    vec![
        GraphChange::NodeUpsert(NodeUpsert { node: node.clone(), scope: s.clone(), epoch: e, observed_at: 2, properties: every_value(), props_at: None }),
        GraphChange::EdgeUpsert(EdgeUpsert { edge: edge.clone(), scope: s.clone(), epoch: e, observed_at: 2, properties: every_value(), props_at: None }),
        GraphChange::Touch(Touch { element: Element::Node(node), scope: s.clone(), epoch: e }),
        GraphChange::Delete(Delete { element: Element::Edge(edge), scope: s.clone(), epoch: e }),
        GraphChange::SyncBarrier(SyncBarrier { scope: s, epoch: e, status: SyncStatus::Failed, reason: Some("timeout".into()), kind: SyncKind::Delta }),
    ]
}

fn sync_marker() -> SyncMarker {
    let count = TopicCount { topic: "infragraph.obs.host".into(), partition: 0, count: 1, last_offset: 9 };
    SyncMarker { scope: scope(), epoch: 1, status: SyncStatus::Completed, reason: None, counts: vec![count], emitted_at: 3, kind: SyncKind::Delta }
}

/// One real message of every record family and variant, named for the
/// corpus directory. Each decodes with [`with_newer_host`]: the seed binary
/// checks it.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let codec = with_newer_host();
    let mut out = Vec::new();
    for o in observations() {
        out.push((format!("observation-{}", o.kind), codec.encode_observation(&o).expect("encodes")));
    }
    out.push(("observation-host-newer-writer".into(), newer_host_message(codec, &observations()[0])));
    out.push(("sync-marker".into(), codec.encode_sync_marker(&sync_marker()).expect("encodes")));
    for (i, c) in graph_changes().iter().enumerate() {
        out.push((format!("graph-change-{i}"), codec.encode_graph_change(c).expect("encodes")));
    }
    out
}
