//! Every record survives encode → decode, and the bytes are valid Avro by
//! apache-avro's reading of the generated schemas (not only our own).

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use infragraph_schemas::avro::HEADER_LEN;
use infragraph_schemas::*;
use proptest::prelude::*;

/// Decodes our body with apache-avro against our schema: it must read the
/// whole body without error.
fn apache_reads(codec: &Codec, bytes: &[u8]) {
    let fp = Codec::header(bytes).expect("header");
    let (_, _, json) = codec
        .schemas()
        .find(|(_, f, _)| *f == fp)
        .expect("own schema");
    let schema = apache_avro::Schema::parse_str(json).expect("schema parses");
    let mut body = &bytes[HEADER_LEN..];
    apache_avro::from_avro_datum(&schema, &mut body, None).expect("apache-avro decodes our bytes");
    assert!(body.is_empty(), "apache-avro left {} bytes", body.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn observations_round_trip(obs in common::observation()) {
        let codec = common::codec();
        let bytes = codec.encode_observation(&obs).unwrap();
        prop_assert_eq!(codec.decode_observation(&bytes).unwrap(), obs);
        apache_reads(codec, &bytes);
    }

    #[test]
    fn sync_markers_round_trip(m in common::sync_marker()) {
        let codec = common::codec();
        let bytes = codec.encode_sync_marker(&m).unwrap();
        prop_assert_eq!(codec.decode_sync_marker(&bytes).unwrap(), m);
        apache_reads(codec, &bytes);
    }

    #[test]
    fn graph_changes_round_trip(c in common::graph_change()) {
        let codec = common::codec();
        let bytes = codec.encode_graph_change(&c).unwrap();
        prop_assert_eq!(codec.decode_graph_change(&bytes).unwrap(), c);
        apache_reads(codec, &bytes);
    }
}

#[test]
fn our_fingerprints_match_apache_avro_rabin() {
    let codec = common::codec();
    for (kind, fp, json) in codec.schemas() {
        let schema = apache_avro::Schema::parse_str(json).unwrap();
        let theirs = schema.fingerprint::<apache_avro::rabin::Rabin>();
        let mut le = [0u8; 8];
        le.copy_from_slice(&theirs.bytes);
        assert_eq!(u64::from_le_bytes(le), fp, "{kind}");
    }
}

#[test]
fn a_message_of_another_family_is_a_typed_error() {
    let codec = common::codec();
    let m = SyncMarker {
        scope: ScopeRef::new("procfs", "host:a"),
        epoch: 1,
        status: SyncStatus::Completed,
        reason: None,
        counts: vec![],
        emitted_at: 2,
        kind: SyncKind::Delta,
    };
    let bytes = codec.encode_sync_marker(&m).unwrap();
    let err = codec.decode_observation(&bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected an Observation, found a SyncMarker message"
    );
}

#[test]
fn undeclared_or_mistyped_properties_never_leave_the_encoder() {
    let codec = common::codec();
    let base = Observation::new(
        ScopeRef::new("procfs", "host:a"),
        1,
        1,
        ResourceKind::Process,
        "p",
    );
    let err = codec
        .encode_observation(&base.clone().with("pid", "not a number"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot encode property or relationship pid: expected long, got string"
    );
    // Undeclared names sorting before, between and after the declared ones.
    for name in ["aaa", "colour", "zzz"] {
        let err = codec
            .encode_observation(&base.clone().with("pid", 7_i64).with(name, "red"))
            .unwrap_err();
        assert!(
            err.to_string().contains(name) && err.to_string().contains("not a property of Process"),
            "{err}"
        );
    }
    let host = Observation::new(
        ScopeRef::new("procfs", "host:a"),
        1,
        1,
        ResourceKind::Host,
        "h",
    );
    let err = codec
        .encode_observation(&host.relate(RelType::ChildOf, "x"))
        .unwrap_err();
    assert!(err.to_string().contains("Host does not declare"), "{err}");
}
