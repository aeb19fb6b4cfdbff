//! Schema evolution: a reader built against an older schema reads messages
//! from a writer that added an optional property, and the reverse.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use infragraph_schemas::testing::host_v2;
use infragraph_schemas::*;

fn codec_with(host: &'static ResourceDef) -> Codec {
    let defs = ResourceKind::ALL.iter().map(|k| {
        if *k == ResourceKind::Host {
            host
        } else {
            k.def()
        }
    });
    Codec::new(defs).unwrap()
}

fn host() -> Observation {
    Observation::new(
        ScopeRef::new("procfs", "host:h"),
        5,
        6,
        ResourceKind::Host,
        "h",
    )
    .with("hostname", "alpha")
    .with("ip_addresses", vec!["10.0.0.1".to_owned()])
}

fn host_schema(codec: &Codec) -> String {
    let (_, _, json) = codec
        .schemas()
        .find(|(k, _, _)| *k == avro::RecordKind::Observation(ResourceKind::Host))
        .unwrap();
    json.to_owned()
}

#[test]
fn old_reader_reads_a_newer_writer() {
    let old = Codec::builtin();
    let new = codec_with(host_v2());
    let bytes = new.encode_observation(&host().with("rack", "r1")).unwrap();

    let err = old.decode(&bytes).unwrap_err();
    assert!(matches!(err, CodecError::UnknownFingerprint(_)), "{err}");

    old.register(&host_schema(&new)).unwrap();
    assert_eq!(
        old.decode_observation(&bytes).unwrap(),
        host(),
        "the added property is dropped, the rest kept"
    );
}

#[test]
fn new_reader_reads_an_older_writer() {
    let old = Codec::builtin();
    let new = codec_with(host_v2());
    let bytes = old.encode_observation(&host()).unwrap();
    new.register(&host_schema(&old)).unwrap();
    let got = new.decode_observation(&bytes).unwrap();
    assert_eq!(
        got,
        host(),
        "the missing property reads as absent (default null)"
    );
}

#[test]
fn incompatible_writer_schemas_are_a_resolution_error() {
    // A writer that changed pid from long to string cannot be read.
    let mut props: Vec<PropertyDef> = ResourceKind::Process.def().properties.to_vec();
    for p in &mut props {
        if p.name == "pid" {
            p.ty = PropertyType::String;
        }
    }
    let def: &'static ResourceDef = Box::leak(Box::new(ResourceDef {
        properties: Box::leak(props.into_boxed_slice()),
        ..*ResourceKind::Process.def()
    }));
    let writer = Codec::new(ResourceKind::ALL.iter().map(|k| {
        if *k == ResourceKind::Process {
            def
        } else {
            k.def()
        }
    }))
    .unwrap();
    let reader = Codec::builtin();
    let (_, _, json) = writer
        .schemas()
        .find(|(k, _, _)| *k == avro::RecordKind::Observation(ResourceKind::Process))
        .unwrap();
    reader.register(json).unwrap();
    let obs = Observation::new(
        ScopeRef::new("procfs", "host:h"),
        1,
        1,
        ResourceKind::Process,
        "p",
    )
    .with("pid", "12");
    let bytes = writer.encode_observation(&obs).unwrap();
    let err = reader.decode(&bytes).unwrap_err();
    assert!(matches!(err, CodecError::Resolution { .. }), "{err}");
}

#[test]
fn registering_a_schema_of_an_unknown_record_is_refused() {
    let err = Codec::builtin()
        .register(r#"{"type":"record","name":"x.Y","fields":[]}"#)
        .unwrap_err();
    assert!(
        err.to_string().contains("not an infragraph record"),
        "{err}"
    );
}

#[test]
fn a_lying_array_length_from_a_foreign_writer_is_an_error_not_an_abort() {
    let old = Codec::builtin();
    let new = codec_with(host_v2());
    old.register(&host_schema(&new)).unwrap();
    let mut bytes = new.encode_observation(&host()).unwrap();
    // The empty relationships array (one 0 byte) ends the body; claim 2^40
    // relationships instead, in a message of a few dozen bytes.
    assert_eq!(bytes.pop(), Some(0));
    let mut n: u64 = (1u64 << 40) << 1; // zig-zag
    while n >= 0x80 {
        bytes.push((n as u8) | 0x80);
        n >>= 7;
    }
    bytes.push(n as u8);
    let err = old.decode(&bytes).unwrap_err();
    assert!(matches!(err, CodecError::Resolution { .. }), "{err}");
}
