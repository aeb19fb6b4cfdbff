//! Bad bytes give a typed error that names what is wrong, never a panic.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use infragraph_schemas::*;
use proptest::prelude::*;

fn sample() -> Vec<u8> {
    let obs = Observation::new(
        ScopeRef::new("procfs", "host:a"),
        10,
        11,
        ResourceKind::Process,
        "h/1/2",
    )
    .with("pid", 1i64)
    .with("name", "init")
    .relate(RelType::RunsOn, "h");
    common::codec().encode_observation(&obs).unwrap()
}

#[test]
fn every_truncation_is_an_error() {
    let codec = common::codec();
    let bytes = sample();
    for len in 0..bytes.len() {
        let err = codec
            .decode(&bytes[..len])
            .expect_err("truncated message decoded");
        match err {
            CodecError::TooShort { .. } | CodecError::Truncated { .. } => {}
            other => panic!("truncated at {len}: unexpected {other}"),
        }
    }
}

#[test]
fn wrong_magic_and_unknown_fingerprints_are_named() {
    let codec = common::codec();
    let mut bytes = sample();
    bytes[0] = 0x4f;
    assert_eq!(
        codec.decode(&bytes).unwrap_err(),
        CodecError::BadMagic {
            found: [0x4f, 0x01]
        }
    );
    let mut bytes = sample();
    bytes[2..10].copy_from_slice(&0xdead_beef_u64.to_le_bytes());
    let err = codec.decode(&bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown writer schema fingerprint 00000000deadbeef: register it from the infragraph.schemas topic"
    );
}

#[test]
fn trailing_bytes_and_wrong_types_are_errors() {
    let codec = common::codec();
    let mut bytes = sample();
    bytes.push(0);
    assert_eq!(
        codec.decode(&bytes).unwrap_err(),
        CodecError::TrailingBytes { extra: 1 }
    );

    // A union branch past the end: the pid field claims branch 7.
    let obs = Observation::new(ScopeRef::new("s", "c"), 0, 0, ResourceKind::Endpoint, "e");
    let mut bytes = codec.encode_observation(&obs).unwrap();
    // Body: source "s", scope "c", epoch 0, observed_at 0, previous_epoch null,
    // "endpoint", "e", then the
    // first property's union branch.
    let branch_at = 10 + 2 + 2 + 1 + 1 + 1 + 9 + 2;
    assert_eq!(bytes[branch_at], 0, "layout assumption");
    bytes[branch_at] = 14; // zig-zag 7
    let err = codec.decode(&bytes).unwrap_err();
    assert_eq!(err.to_string(), "invalid protocol: union branch 7 of 2");
}

#[test]
fn unknown_labels_in_graph_changes_are_errors() {
    let codec = common::codec();
    let change = GraphChange::Touch(Touch {
        element: Element::Node(NodeRef {
            kind: ResourceKind::Host,
            id: "h".into(),
        }),
        scope: ScopeRef::new("s", "c"),
        epoch: 1,
    });
    let bytes = codec.encode_graph_change(&change).unwrap();
    let pos = bytes.windows(4).position(|w| w == b"Host").unwrap();
    let mut bad = bytes.clone();
    bad[pos..pos + 4].copy_from_slice(b"Hxst");
    assert_eq!(
        codec.decode(&bad).unwrap_err().to_string(),
        "unknown label \"Hxst\""
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = common::codec().decode(&bytes);
    }

    #[test]
    fn random_bodies_behind_a_valid_header_never_panic(body in prop::collection::vec(any::<u8>(), 0..200), pick in 0usize..8) {
        let codec = common::codec();
        let fps: Vec<u64> = codec.schemas().map(|(_, fp, _)| fp).collect();
        let mut bytes = avro::MAGIC.to_vec();
        bytes.extend_from_slice(&fps[pick % fps.len()].to_le_bytes());
        bytes.extend_from_slice(&body);
        let _ = codec.decode(&bytes);
    }

    #[test]
    fn flipped_bytes_in_valid_messages_never_panic(obs in common::observation(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let codec = common::codec();
        let mut bytes = codec.encode_observation(&obs).unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let _ = codec.decode(&bytes);
    }
}
