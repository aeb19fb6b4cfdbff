//! The `.avsc` files and the README's registry tables are generated from the
//! registry; these tests fail when either drifts. Regenerate with
//! `INFRAGRAPH_BLESS=1 cargo test -p infragraph-schemas --test drift`.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use infragraph_schemas::avro::RecordKind;
use infragraph_schemas::{Codec, docs};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bless() -> bool {
    std::env::var_os("INFRAGRAPH_BLESS").is_some()
}

/// The file name a record's schema is kept under.
pub fn avsc_name(kind: RecordKind) -> String {
    match kind {
        RecordKind::Observation(k) => format!("observation.{}.avsc", k.as_str()),
        RecordKind::SyncMarker => "sync-marker.avsc".to_owned(),
        RecordKind::GraphChange => "graph-change.avsc".to_owned(),
    }
}

#[test]
fn avsc_files_match_the_registry() {
    let dir = root().join("avro");
    let codec = Codec::builtin();
    let mut expected: Vec<String> = Vec::new();
    for (kind, _, json) in codec.schemas() {
        let name = avsc_name(kind);
        let path = dir.join(&name);
        let want = format!("{json}\n");
        if bless() {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "{name} drifted from the registry; regenerate with INFRAGRAPH_BLESS=1"
        );
        expected.push(name);
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".avsc"))
        .collect();
    present.sort();
    expected.sort();
    assert_eq!(
        present, expected,
        "schemas/avro holds a schema the registry does not declare"
    );
}

#[test]
fn readme_registry_table_matches_the_registry() {
    const BEGIN: &str = "<!-- registry:begin (generated, see tests/drift.rs) -->\n";
    const END: &str = "<!-- registry:end -->";
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = readme
        .split_once(BEGIN)
        .expect("README has the registry:begin marker");
    let (_, tail) = rest
        .split_once(END)
        .expect("README has the registry:end marker");
    let want = format!("{head}{BEGIN}{}{END}{tail}", docs::registry_tables());
    if bless() {
        std::fs::write(&path, &want).unwrap();
    }
    assert!(
        readme == want,
        "README registry tables drifted; regenerate with INFRAGRAPH_BLESS=1"
    );
}
