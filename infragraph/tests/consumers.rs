//! The example downstream consumers (examples/consumers: Python with
//! confluent-kafka and fastavro, Java with the official client and Avro),
//! written from schemas/README.md alone, read real graph changes from the
//! real broker and print what they are documented to print.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use infragraph_test_support::{self as support, require};

#[test]
fn both_example_consumers_print_the_fixture_and_a_real_sync() {
    require!(brokers = support::KAFKA, "Kafka broker");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/consumers/check.sh");
    let out = Command::new("bash")
        .arg(script)
        .env(support::KAFKA, &brokers)
        .env("INFRAGRAPH_BIN", BIN)
        .output()
        .expect("run examples/consumers/check.sh (bash, python3, Java 17 and Maven are needed)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(said.contains(", 0 failed"), "{said}");
    for check in [
        "python consumer prints the fixture's",
        "java consumer prints the fixture's",
        "both consumers print the same",
    ] {
        assert!(said.contains(&format!("ok: {check}")), "{check}: {said}");
    }
}
