//! The deployment, checked without a Docker engine: `docker-compose.yml`
//! validates against the Compose Specification and this project's rules,
//! and every stage's command and environment pass `infragraph
//! --check-config`, the real parser. A renamed flag or a bad value then
//! fails here, not in a deployment.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

fn check_compose(file: &Path) -> Output {
    Command::new("bash")
        .arg(root().join("deploy/check-compose.sh"))
        .arg(file)
        .env("INFRAGRAPH_BIN", BIN)
        .output()
        .expect("run deploy/check-compose.sh (bash and python3 are needed)")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_compose_file_passes_the_schema_and_every_stage_passes_check_config() {
    let out = check_compose(&root().join("docker-compose.yml"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("0 problems"), "{}", text(&out));
}

#[test]
fn a_renamed_command_and_a_bad_value_in_the_compose_file_are_caught() {
    let compose = std::fs::read_to_string(root().join("docker-compose.yml"))
        .expect("read docker-compose.yml");
    assert!(
        compose.contains(r#"command: ["normalize"]"#)
            && compose.contains("INFRAGRAPH_WRITER_GROUP"),
        "the fixture edits still apply"
    );
    let broken = compose
        .replace(r#"command: ["normalize"]"#, r#"command: ["normalise"]"#)
        .replacen(
            "      INFRAGRAPH_NEO4J_URI: bolt://neo4j:7687",
            "      INFRAGRAPH_NEO4J_URI: http://neo4j:7474",
            1,
        );
    let dir = TempDir::new("deploy-check");
    let file = dir.path().join("docker-compose.yml");
    std::fs::write(&file, broken).expect("write the broken compose file");
    let out = check_compose(&file);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("services.normalizer.command"),
        "the unknown subcommand is named: {said}"
    );
    assert!(
        said.contains("services.writer") && said.contains("--neo4j-uri"),
        "the bad URI is named with its flag: {said}"
    );
}

#[test]
fn check_config_names_the_bad_setting_and_connects_to_nothing() {
    let run_check = |args: &[&str]| {
        let mut all = vec!["--check-config"];
        all.extend_from_slice(args);
        run(&strings(&all), &[])
    };
    // Port 9 (discard) on loopback: nothing is asked of it.
    let ok = run_check(&[
        "write",
        "--kafka-brokers",
        "127.0.0.1:9",
        "--neo4j-uri",
        "bolt://127.0.0.1:9",
        "--neo4j-password-file",
        "/nonexistent/secret",
    ]);
    assert!(
        ok.status.success(),
        "a secret file is named, not read: {}",
        text(&ok)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("infragraph write: configuration OK"));
    let bad = run_check(&["write", "--neo4j-uri", "http://127.0.0.1:7474"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(text(&bad).contains("--neo4j-uri"), "{}", text(&bad));
    let bad = run_check(&[
        "collect",
        "procfs",
        "--kafka-brokers",
        "127.0.0.1:9",
        "-X",
        "no.such.setting=1",
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        text(&bad).contains("no.such.setting"),
        "the librdkafka key is named: {}",
        text(&bad)
    );
    let bad = run_check(&["collect", "github", "--org", "not a login"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        text(&bad).contains("not a GitHub organisation login"),
        "{}",
        text(&bad)
    );
}

#[test]
fn the_dockerfile_passes_hadolint_and_a_bad_one_does_not() {
    let lint = |file: &Path| {
        Command::new("bash")
            .arg(root().join("deploy/lint-dockerfile.sh"))
            .arg(file)
            .output()
            .expect("run deploy/lint-dockerfile.sh")
    };
    let out = lint(&root().join("Dockerfile"));
    assert!(out.status.success(), "{}", text(&out));
    let dir = TempDir::new("hadolint");
    let bad = dir.path().join("Dockerfile");
    // Unpinned base image, apt-get without --no-install-recommends.
    std::fs::write(
        &bad,
        "FROM debian\nRUN apt-get update && apt-get install -y curl\n",
    )
    .expect("write a bad Dockerfile");
    let out = lint(&bad);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("DL3006") || text(&out).contains("DL3015"),
        "{}",
        text(&out)
    );
}
