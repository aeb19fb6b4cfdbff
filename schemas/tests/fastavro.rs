//! Cross-language proof of the wire format: messages our codec wrote are
//! decoded by Python's fastavro, which knows nothing but the committed
//! `.avsc` files and `schemas/README.md`'s framing, and every field it reads
//! must equal what we encoded. The script also reads each message with a
//! reader schema that differs from the writer's, so resolution is proven
//! across libraries too.
//!
//! The expected values are built here from the Rust records, following the
//! `.avsc` files field by field, independently of the encoder.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use infragraph_schemas::*;
use infragraph_test_support::{self as support, require};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value as Json, json};

/// The field the script's reader schema adds, and its default.
const READER_ADDED: (&str, &str) = ("reader_added", "not in the writer");

/// How many random records of each family join the hand-picked ones.
const GENERATED_PER_FAMILY: usize = 40;

/// A message for fastavro and what it must read from it.
struct Case {
    name: String,
    bytes: Vec<u8>,
    /// Full name of the writer schema.
    schema: String,
    /// The record as the script prints it (see its tagging rules).
    expected: Json,
}

// ---- expected values, in the script's tagged form -------------------------

fn string(s: &str) -> Json {
    json!({ "string": s })
}

fn long(n: i64) -> Json {
    json!({ "long": n })
}

/// Doubles are compared bit for bit, so NaN, infinities and -0.0 count.
fn double(d: f64) -> Json {
    json!({ "double": format!("{:016x}", d.to_bits()) })
}

fn value(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => json!({ "boolean": b }),
        Value::Long(n) => long(*n),
        Value::Double(d) => double(*d),
        Value::String(s) => string(s),
        Value::StringList(l) => json!({ "array": l.iter().map(|s| string(s)).collect::<Vec<_>>() }),
    }
}

fn value_map(props: &Properties) -> Json {
    Json::Object(props.iter().map(|(k, v)| (k.clone(), value(v))).collect())
}

fn array(items: impl Iterator<Item = Json>) -> Json {
    json!({ "array": items.collect::<Vec<_>>() })
}

fn scoped(scope: &ScopeRef, epoch: i64, rest: Json) -> Json {
    let mut out = Map::new();
    out.insert("source".into(), string(&scope.source));
    out.insert("scope".into(), string(&scope.scope));
    out.insert("epoch".into(), long(epoch));
    if let Json::Object(rest) = rest {
        out.extend(rest);
    }
    Json::Object(out)
}

fn reason(r: Option<&str>) -> Json {
    r.map_or(Json::Null, string)
}

/// Every declared property is in the record; absent ones are null.
fn observation(o: &Observation) -> Json {
    let props: Map<String, Json> = o
        .kind
        .def()
        .properties
        .iter()
        .map(|p| {
            (
                p.name.to_owned(),
                o.properties.get(p.name).map_or(Json::Null, value),
            )
        })
        .collect();
    let rels = |list: &[infragraph_schemas::Relationship]| {
        array(list.iter().map(|r| {
            json!({
                "type": string(r.rel_type.as_str()),
                "target_id": string(&r.target_id),
                "properties": value_map(&r.properties),
            })
        }))
    };
    scoped(
        &o.scope,
        o.epoch,
        json!({
            "observed_at": long(o.observed_at),
            "previous_epoch": o.previous_epoch.map_or(Json::Null, long),
            "resource_type": string(o.kind.as_str()),
            "id": string(&o.id),
            "properties": props,
            "relationships": rels(&o.relationships),
            "sync_kind": string(o.sync_kind.as_str()),
            "retracted": rels(&o.retracted),
            "gone": json!({ "boolean": o.gone }),
        }),
    )
}

fn sync_marker(m: &SyncMarker) -> Json {
    let counts = m.counts.iter().map(|c| {
        json!({
            "topic": string(&c.topic),
            "partition": long(c.partition.into()),
            "count": long(c.count),
            "last_offset": long(c.last_offset),
        })
    });
    scoped(
        &m.scope,
        m.epoch,
        json!({
            "status": string(m.status.as_str()),
            "reason": reason(m.reason.as_deref()),
            "counts": array(counts),
            "emitted_at": long(m.emitted_at),
            "kind": string(m.kind.as_str()),
        }),
    )
}

fn node_ref(n: &NodeRef) -> Json {
    json!({ "label": string(n.kind.label()), "id": string(&n.id) })
}

fn edge_ref(e: &EdgeRef) -> Json {
    json!({ "type": string(e.rel_type.as_str()), "from": node_ref(&e.from), "to": node_ref(&e.to) })
}

/// A union of named types reads as `{full name: value}`.
fn named(name: &str, v: Json) -> Json {
    json!({ format!("infragraph.{name}"): v })
}

fn element(e: &Element) -> Json {
    match e {
        Element::Node(n) => named("NodeRef", node_ref(n)),
        Element::Edge(e) => named("EdgeRef", edge_ref(e)),
    }
}

fn graph_change(c: &GraphChange) -> Json {
    let (name, body) = match c {
        GraphChange::NodeUpsert(u) => {
            let rest = json!({ "observed_at": long(u.observed_at), "properties": value_map(&u.properties), "props_at": u.props_at.map_or(Json::Null, long) });
            (
                "NodeUpsert",
                prepend("node", node_ref(&u.node), scoped(&u.scope, u.epoch, rest)),
            )
        }
        GraphChange::EdgeUpsert(u) => {
            let rest = json!({ "observed_at": long(u.observed_at), "properties": value_map(&u.properties), "props_at": u.props_at.map_or(Json::Null, long) });
            (
                "EdgeUpsert",
                prepend("edge", edge_ref(&u.edge), scoped(&u.scope, u.epoch, rest)),
            )
        }
        GraphChange::Touch(t) => (
            "Touch",
            prepend(
                "element",
                element(&t.element),
                scoped(&t.scope, t.epoch, json!({})),
            ),
        ),
        GraphChange::Delete(d) => (
            "Delete",
            prepend(
                "element",
                element(&d.element),
                scoped(&d.scope, d.epoch, json!({})),
            ),
        ),
        GraphChange::SyncBarrier(b) => {
            let rest = json!({ "status": string(b.status.as_str()), "reason": reason(b.reason.as_deref()), "kind": string(b.kind.as_str()) });
            ("SyncBarrier", scoped(&b.scope, b.epoch, rest))
        }
    };
    json!({ "change": named(name, body) })
}

fn prepend(key: &str, v: Json, mut obj: Json) -> Json {
    if let Json::Object(m) = &mut obj {
        m.insert(key.to_owned(), v);
    }
    obj
}

// ---- the records ------------------------------------------------------------

fn scope() -> ScopeRef {
    ScopeRef::new("procfs", "host:6f1c2a")
}

/// Every union branch of a free-form value, with the awkward ones: extreme
/// longs, NaN, infinities, -0.0, a subnormal, empty and non-ASCII strings.
fn every_value() -> Properties {
    let values = [
        Value::Null,
        Value::Bool(true),
        Value::Bool(false),
        Value::Long(i64::MIN),
        Value::Long(i64::MAX),
        Value::Long(0),
        Value::Double(f64::NAN),
        Value::Double(f64::INFINITY),
        Value::Double(f64::NEG_INFINITY),
        Value::Double(-0.0),
        Value::Double(f64::MIN_POSITIVE / 2.0),
        Value::Double(1.5e300),
        Value::String(String::new()),
        Value::String("ünïcødé \u{1F980} \"quoted\" \\ \n\t\u{0}".into()),
        Value::StringList(vec![]),
        Value::StringList(vec!["a".into(), String::new(), "ß".into()]),
    ];
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| (format!("{}_{i}", v.type_name().replace(['<', '>'], "_")), v))
        .collect()
}

fn related(rel_type: RelType, target: &str, properties: Properties) -> Relationship {
    Relationship {
        rel_type,
        target_id: target.into(),
        properties,
    }
}

fn observations() -> Vec<(String, Observation)> {
    let host = Observation::new(
        scope(),
        1_700_000_000_000,
        1_700_000_000_123,
        ResourceKind::Host,
        "6f1c2a",
    )
    .with("hostname", "alpha")
    .with("kernel", "6.1.0-18-amd64")
    .with("os_release", "Debian GNU/Linux 12 (bookworm)")
    .with("boot_time", 1_699_000_000_000_i64)
    .with("cpu_count", 2_i64)
    .with("memory_bytes", 8_589_934_592_i64)
    .with(
        "ip_addresses",
        vec!["10.0.0.7".to_owned(), "fe80::1%eth0".to_owned()],
    );
    let host = Observation {
        previous_epoch: Some(1_699_999_940_000),
        ..host
    };
    let process = Observation::new(
        scope(),
        i64::MIN,
        i64::MAX,
        ResourceKind::Process,
        "6f1c2a/4242/1699000001000",
    )
    .with("host_id", "6f1c2a")
    .with("pid", 4242_i64)
    .with("ppid", 1_i64)
    .with("name", "postgres")
    .with("exe", "/usr/lib/postgresql/15/bin/postgres")
    .with(
        "cmdline",
        "postgres -D /var/lib/postgresql --password=<redacted>",
    )
    .with("user", "postgres")
    .with("uid", 0_i64)
    .with("start_time", 1_699_000_001_000_i64)
    .with("threads", 7_i64)
    .with("rss_bytes", -1_i64)
    .with("cpu_time_ms", 123_456_i64)
    .with("container_id", "");
    let mut process = process;
    process.relationships = vec![
        related(RelType::RunsOn, "6f1c2a", Properties::new()),
        related(RelType::ChildOf, "6f1c2a/1/1699000000000", every_value()),
        related(
            RelType::ListensOn,
            "tcp/0.0.0.0/5432",
            [("backlog".to_owned(), Value::Long(128))].into(),
        ),
        related(
            RelType::ConnectsTo,
            "tcp/10.0.0.9/9092",
            [("via".to_owned(), Value::String("lo".into()))].into(),
        ),
    ];
    let endpoint = Observation::new(
        scope(),
        0,
        0,
        ResourceKind::Endpoint,
        "tcp/127.0.0.1/5432/6f1c2a",
    )
    .with("protocol", "tcp")
    .with("address", "127.0.0.1")
    .with("port", 5432_i64)
    .with("host_id", "6f1c2a");
    let empty_list = Observation::new(scope(), 1, 2, ResourceKind::Host, "h")
        .with("ip_addresses", Vec::<String>::new());
    let mut out = vec![
        ("host-every-property".to_owned(), host),
        ("process-every-property".to_owned(), process),
        ("endpoint-every-property".to_owned(), endpoint),
        ("host-empty-list".to_owned(), empty_list),
    ];
    for kind in ResourceKind::ALL {
        let bare = Observation::new(ScopeRef::new("", ""), -1, -2, *kind, "");
        out.push((format!("{kind}-no-property"), bare));
    }
    out
}

fn sync_markers() -> Vec<(String, SyncMarker)> {
    let counts = vec![
        TopicCount {
            topic: "infragraph.obs.process".into(),
            partition: 0,
            count: 812,
            last_offset: 811,
        },
        TopicCount {
            topic: "infragraph.obs.host".into(),
            partition: i32::MAX,
            count: 1,
            last_offset: i64::MAX,
        },
        TopicCount {
            topic: "infragraph.obs.endpoint".into(),
            partition: i32::MIN,
            count: i64::MAX,
            last_offset: -1,
        },
    ];
    SyncStatus::ALL
        .iter()
        .map(|status| {
            let failed = *status == SyncStatus::Failed;
            let marker = SyncMarker {
                scope: scope(),
                epoch: 1_700_000_000_000,
                status: *status,
                reason: failed.then(|| "permission denied: /proc/1/fd".to_owned()),
                counts: if *status == SyncStatus::Completed {
                    counts.clone()
                } else {
                    Vec::new()
                },
                emitted_at: 1_700_000_004_000,
                kind: if failed {
                    SyncKind::Reconciliation
                } else {
                    SyncKind::Delta
                },
            };
            (format!("sync-{}", status.as_str().to_lowercase()), marker)
        })
        .collect()
}

fn graph_changes() -> Vec<(String, GraphChange)> {
    let node = |kind, id: &str| NodeRef {
        kind,
        id: id.into(),
    };
    let proc_ = node(ResourceKind::Process, "6f1c2a/4242/1699000001000");
    let edge = EdgeRef {
        rel_type: RelType::ListensOn,
        from: proc_.clone(),
        to: node(ResourceKind::Endpoint, "tcp/0.0.0.0/5432"),
    };
    let (s, e) = (scope(), 1_700_000_000_000);
    vec![
        (
            "node-upsert",
            GraphChange::NodeUpsert(NodeUpsert {
                node: proc_.clone(),
                scope: s.clone(),
                epoch: e,
                observed_at: e + 5,
                properties: every_value(),
                props_at: Some(e + 1_000),
            }),
        ),
        (
            "edge-upsert",
            GraphChange::EdgeUpsert(EdgeUpsert {
                edge: edge.clone(),
                scope: s.clone(),
                epoch: e,
                observed_at: e + 6,
                properties: every_value(),
                props_at: None,
            }),
        ),
        (
            "touch-node",
            GraphChange::Touch(Touch {
                element: Element::Node(proc_.clone()),
                scope: s.clone(),
                epoch: e,
            }),
        ),
        (
            "touch-edge",
            GraphChange::Touch(Touch {
                element: Element::Edge(edge.clone()),
                scope: s.clone(),
                epoch: e,
            }),
        ),
        (
            "delete-node",
            GraphChange::Delete(Delete {
                element: Element::Node(proc_),
                scope: s.clone(),
                epoch: e,
            }),
        ),
        (
            "delete-edge",
            GraphChange::Delete(Delete {
                element: Element::Edge(edge),
                scope: s.clone(),
                epoch: e,
            }),
        ),
        (
            "barrier-completed",
            GraphChange::SyncBarrier(SyncBarrier {
                scope: s.clone(),
                epoch: e,
                status: SyncStatus::Completed,
                reason: None,
                kind: SyncKind::Delta,
            }),
        ),
        (
            "barrier-failed",
            GraphChange::SyncBarrier(SyncBarrier {
                scope: s,
                epoch: e,
                status: SyncStatus::Failed,
                reason: Some("timeout".into()),
                kind: SyncKind::Reconciliation,
            }),
        ),
    ]
    .into_iter()
    .map(|(n, c)| (n.to_owned(), c))
    .collect()
}

/// Random records from the shared generators, the same every run.
fn generated<T>(strategy: impl Strategy<Value = T>) -> Vec<T> {
    let mut runner = TestRunner::deterministic();
    (0..GENERATED_PER_FAMILY)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("generator yields a value")
                .current()
        })
        .collect()
}

fn cases(codec: &Codec) -> Vec<Case> {
    let mut obs = observations();
    obs.extend(
        generated(common::observation())
            .into_iter()
            .enumerate()
            .map(|(i, o)| (format!("random-observation-{i}"), o)),
    );
    let mut markers = sync_markers();
    markers.extend(
        generated(common::sync_marker())
            .into_iter()
            .enumerate()
            .map(|(i, m)| (format!("random-sync-{i}"), m)),
    );
    let mut changes = graph_changes();
    changes.extend(
        generated(common::graph_change())
            .into_iter()
            .enumerate()
            .map(|(i, c)| (format!("random-change-{i}"), c)),
    );

    let mut out = Vec::new();
    for (name, o) in obs {
        let bytes = codec.encode_observation(&o).expect("observation encodes");
        out.push(Case {
            name,
            bytes,
            schema: format!("infragraph.obs.{}", o.kind.label()),
            expected: observation(&o),
        });
    }
    for (name, m) in markers {
        let bytes = codec.encode_sync_marker(&m).expect("sync marker encodes");
        out.push(Case {
            name,
            bytes,
            schema: "infragraph.SyncMarker".into(),
            expected: sync_marker(&m),
        });
    }
    for (name, c) in changes {
        let bytes = codec.encode_graph_change(&c).expect("graph change encodes");
        out.push(Case {
            name,
            bytes,
            schema: "infragraph.GraphChange".into(),
            expected: graph_change(&c),
        });
    }
    out
}

/// Messages the script must refuse, with what its error must say.
fn bad_messages(valid: &[u8]) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let mut bad_magic = valid.to_vec();
    bad_magic[0] = 0x4f;
    let mut unknown = valid.to_vec();
    unknown[2] ^= 0xff;
    vec![
        ("bad-magic", bad_magic, "bad magic"),
        ("unknown-fingerprint", unknown, "unknown fingerprint"),
        ("too-short", valid[..5].to_vec(), "shorter than the header"),
    ]
}

// ---- running the script --------------------------------------------------------

fn file_name(i: usize, name: &str) -> String {
    format!("{i:04}-{name}.bin")
}

fn run_fastavro(python: &str, msg_dir: &Path) -> HashMap<String, Json> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python)
        .arg(here.join("tests/python/decode_with_fastavro.py"))
        .arg(here.join("avro"))
        .arg(msg_dir)
        .output()
        .expect("the Python interpreter runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "decode_with_fastavro.py failed ({}):\n{stderr}",
        out.status
    );
    String::from_utf8(out.stdout)
        .expect("the script prints UTF-8")
        .lines()
        .map(|line| {
            let v: Json =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            (
                v["file"]
                    .as_str()
                    .expect("every line names its file")
                    .to_owned(),
                v,
            )
        })
        .collect()
}

fn assert_same(what: &str, got: &Json, expected: &Json) {
    assert!(
        got == expected,
        "{what}: fastavro read\n{}\nbut we encoded\n{}",
        serde_json::to_string_pretty(got).unwrap_or_default(),
        serde_json::to_string_pretty(expected).unwrap_or_default()
    );
}

/// What the script's reader schema should see: the writer's record without
/// the fields it dropped, plus the field only the reader has.
fn resolved_expectation(case: &Case, dropped: &Json) -> Json {
    let mut expected = case.expected.clone();
    for path in dropped.as_array().expect("dropped is a list") {
        let path = path.as_str().expect("dropped paths are strings");
        let (parent, field) = match path.split_once('.') {
            Some((parent, field)) => (&mut expected[parent], field),
            None => (&mut expected, path),
        };
        let removed = parent.as_object_mut().and_then(|m| m.remove(field));
        assert!(
            removed.is_some(),
            "{}: the reader dropped {path}, which the record lacks",
            case.name
        );
    }
    expected[READER_ADDED.0] = string(READER_ADDED.1);
    expected
}

fn check_decoded(case: &Case, line: &Json, codec_fp: u64) {
    let name = &case.name;
    assert!(
        line.get("error").is_none(),
        "{name}: fastavro could not decode it: {}",
        line["error"]
    );
    assert_eq!(
        line["schema"],
        json!(case.schema),
        "{name}: writer schema found by fingerprint"
    );
    assert_eq!(
        line["fingerprint"],
        json!(format!("{codec_fp:016x}")),
        "{name}: fingerprint"
    );
    assert_same(
        &format!("{name} (writer schema)"),
        &line["record"],
        &case.expected,
    );
    let resolved = resolved_expectation(case, &line["dropped"]);
    assert_same(
        &format!("{name} (resolved to another reader)"),
        &line["resolved"],
        &resolved,
    );
}

fn write_messages(dir: &Path, cases: &[Case], bad: &[(&str, Vec<u8>, &str)]) {
    std::fs::create_dir_all(dir).expect("create the message dir");
    for (i, case) in cases.iter().enumerate() {
        std::fs::write(dir.join(file_name(i, &case.name)), &case.bytes).expect("write a message");
    }
    for (name, bytes, _) in bad {
        std::fs::write(dir.join(format!("bad-{name}.bin")), bytes).expect("write a bad message");
    }
}

#[test]
fn fastavro_decodes_every_record_we_encode() {
    require!(python = support::PYTHON, "Python with fastavro");
    let codec = common::codec();
    let cases = cases(codec);
    let bad = bad_messages(&cases[0].bytes);
    let dir: PathBuf = std::env::temp_dir().join(support::unique("infragraph-fastavro"));
    write_messages(&dir, &cases, &bad);

    let decoded = run_fastavro(&python, &dir);
    assert_eq!(
        decoded.len(),
        cases.len() + bad.len(),
        "one line per message (messages in {})",
        dir.display()
    );
    for (i, case) in cases.iter().enumerate() {
        let line = decoded
            .get(&file_name(i, &case.name))
            .unwrap_or_else(|| panic!("no output for {}", case.name));
        let fp = Codec::header(&case.bytes).expect("our header");
        check_decoded(case, line, fp);
    }
    for (name, _, says) in &bad {
        let error = decoded[&format!("bad-{name}.bin")]["error"]
            .as_str()
            .unwrap_or_default();
        assert!(
            error.contains(says),
            "{name}: expected an error saying {says:?}, got {error:?}"
        );
    }
    // Kept on failure (the asserts above return first) for a look by hand.
    let _ = std::fs::remove_dir_all(&dir);
}
