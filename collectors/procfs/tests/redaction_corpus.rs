//! The redaction corpus: command lines with secrets in the shapes real
//! tools document (`tests/redaction/secrets.jsonl`, each with the page it
//! follows) must leak none of them; look-alikes without secrets
//! (`harmless.jsonl`) should come out unchanged, and those that do not are
//! counted and printed, since over-redaction is the accepted cost.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use infragraph_collector_procfs::Redactor;
use serde_json::Value;

/// Harmless lines redacted anyway, at most. Raise it only for a rule that
/// closes a leak, and say which lines it costs.
const MAX_FALSE_POSITIVES: usize = 1;

struct Case {
    argv: Vec<String>,
    secrets: Vec<String>,
    doc: String,
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn corpus(name: &str) -> Vec<Case> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/redaction")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{name} line {}: {e}", i + 1));
            Case {
                argv: strings(&v, "argv"),
                secrets: strings(&v, "secrets"),
                doc: v["doc"].as_str().unwrap_or_default().to_owned(),
            }
        })
        .collect()
}

#[test]
fn no_secret_of_the_corpus_leaks() {
    let r = Redactor::new::<&str>(&[]).expect("built-in rules compile");
    let cases = corpus("secrets.jsonl");
    assert!(
        cases.len() >= 60,
        "the corpus holds {} secret-bearing lines",
        cases.len()
    );
    let mut leaks = Vec::new();
    for case in &cases {
        assert!(
            !case.secrets.is_empty(),
            "a line of secrets.jsonl names no secret: {:?}",
            case.argv
        );
        let out = r.redact_args(&case.argv);
        for secret in case.secrets.iter().filter(|s| out.contains(s.as_str())) {
            leaks.push(format!("{secret:?} leaks from {out:?} ({})", case.doc));
        }
    }
    println!(
        "{} secret-bearing command lines, {} leaks",
        cases.len(),
        leaks.len()
    );
    assert!(
        leaks.is_empty(),
        "{} secrets leak:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

#[test]
fn look_alikes_mostly_survive_and_the_false_positives_are_counted() {
    let r = Redactor::new::<&str>(&[]).expect("built-in rules compile");
    let cases = corpus("harmless.jsonl");
    assert!(
        cases.len() >= 40,
        "the corpus holds {} harmless lines",
        cases.len()
    );
    let mut changed = Vec::new();
    for case in &cases {
        let out = r.redact_args(&case.argv);
        if out != case.argv.join(" ") {
            changed.push(format!("{out} ({})", case.doc));
        }
    }
    println!(
        "{} harmless command lines, {} false positives",
        cases.len(),
        changed.len()
    );
    for c in &changed {
        println!("  false positive: {c}");
    }
    assert!(
        changed.len() <= MAX_FALSE_POSITIVES,
        "{} false positives:\n{}",
        changed.len(),
        changed.join("\n")
    );
}
