//! The READMEs' flag tables, generated from the `clap` definitions, so a
//! renamed flag or a changed default cannot leave the docs behind. Each
//! table sits between `<!-- flags:NAME -->` and `<!-- /flags:NAME -->` in its
//! file; a test fails when one differs, and `INFRAGRAPH_BLESS=1 cargo test
//! -p infragraph --lib flags` rewrites them.

use std::collections::BTreeSet;

use clap::{ArgAction, Args, CommandFactory};
use infragraph_bus::KafkaArgs;
use infragraph_graph_reader::UiArgs;
use infragraph_telemetry::{HealthArgs, TelemetryArgs};

use crate::{CheckArgs, Cli};

/// One generated table.
pub struct Table {
    /// Where it is kept, from the repository root.
    pub file: &'static str,
    /// Its marker name.
    pub name: &'static str,
    /// The flags it lists.
    pub flags: fn() -> clap::Command,
}

/// Every table, by file.
pub const TABLES: &[Table] = &[
    Table {
        file: "README.md",
        name: "every-stage",
        flags: every_stage,
    },
    Table {
        file: "README.md",
        name: "view",
        flags: || of::<UiArgs>(),
    },
    Table {
        file: "collectors/procfs/README.md",
        name: "collect-procfs",
        flags: || subcommand(&["collect", "procfs"]),
    },
    Table {
        file: "collectors/cloudmap/README.md",
        name: "collect-cloudmap",
        flags: || subcommand(&["collect", "cloudmap"]),
    },
    Table {
        file: "collectors/github/README.md",
        name: "collect-github",
        flags: || subcommand(&["collect", "github"]),
    },
    Table {
        file: "normalizer/README.md",
        name: "normalize",
        flags: || subcommand(&["normalize"]),
    },
    Table {
        file: "graph-writer/README.md",
        name: "write",
        flags: || subcommand(&["write"]),
    },
];

/// The flags of one `Args` type alone.
fn of<A: Args>() -> clap::Command {
    A::augment_args(clap::Command::new("flags"))
}

/// What every stage takes besides its own: the bus, health, logging and
/// `--check-config`. Left out of each stage's table.
fn every_stage() -> clap::Command {
    let mut c = of::<KafkaArgs>();
    for other in [of::<HealthArgs>(), of::<TelemetryArgs>(), of::<CheckArgs>()] {
        c = c.args(other.get_arguments().cloned());
    }
    c
}

/// A subcommand's own flags: all it takes but [`every_stage`]'s.
fn subcommand(path: &[&str]) -> clap::Command {
    let shared: BTreeSet<String> = every_stage()
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect();
    let found = path
        .iter()
        .try_fold(Cli::command(), |c, sub| c.find_subcommand(sub).cloned());
    let Some(found) = found else {
        panic!("no subcommand {path:?}: fix flags::TABLES");
    };
    let own = found
        .get_arguments()
        .filter(|a| !shared.contains(a.get_id().as_str()))
        .cloned()
        .collect::<Vec<_>>();
    clap::Command::new("flags").args(own)
}

/// The Markdown table of `command`'s flags, in declaration order.
pub fn table(command: &clap::Command) -> String {
    let mut out = String::from("| flag | environment | default | meaning |\n|---|---|---|---|\n");
    for arg in command.get_arguments() {
        if arg.is_hide_set() || matches!(arg.get_id().as_str(), "help" | "version") {
            continue;
        }
        let env = arg
            .get_env()
            .map_or(String::new(), |e| format!("`{}`", e.to_string_lossy()));
        out.push_str(&format!(
            "| {} | {env} | {} | {} |\n",
            names(arg),
            default(arg),
            cell(&arg.get_help().map(|h| h.to_string()).unwrap_or_default())
        ));
    }
    out
}

fn names(arg: &clap::Arg) -> String {
    let value = match arg.get_action() {
        ArgAction::SetTrue | ArgAction::SetFalse | ArgAction::Count => String::new(),
        _ => arg
            .get_value_names()
            .and_then(|v| v.first())
            .map_or(String::new(), |v| format!(" {v}")),
    };
    let short = arg.get_short().map(|s| format!("`-{s}{value}`"));
    let long = arg.get_long().map(|l| format!("`--{l}{value}`"));
    short.into_iter().chain(long).collect::<Vec<_>>().join(", ")
}

fn default(arg: &clap::Arg) -> String {
    if matches!(arg.get_action(), ArgAction::SetTrue) {
        return "off".to_owned();
    }
    let values: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    let home_dependent = infragraph_graph_writer::config::default_data_dir();
    match values.as_slice() {
        // Computed on the machine at hand: the rule, not this machine's path.
        [v] if *v == home_dependent.to_string_lossy() => {
            "`$XDG_DATA_HOME/infragraph`, else `~/.local/share/infragraph`".to_owned()
        }
        [] => "none".to_owned(),
        [v] if v.is_empty() => "empty".to_owned(),
        _ => format!("`{}`", values.join(",")),
    }
}

/// Text made safe for one table cell (Markdown would take `<redacted>`
/// for a tag).
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `text` with the table `name` replaced by `table`, or `None` when the
/// markers are missing.
pub fn splice(text: &str, name: &str, table: &str) -> Option<String> {
    let open = format!("<!-- flags:{name} -->\n");
    let close = format!("<!-- /flags:{name} -->");
    let start = text.find(&open)? + open.len();
    let end = start + text[start..].find(&close)?;
    Some(format!("{}{table}{}", &text[..start], &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    #[test]
    fn the_readme_flag_tables_are_the_flags() {
        let bless = std::env::var_os("INFRAGRAPH_BLESS").is_some();
        let mut drifted = Vec::new();
        for t in TABLES {
            let path = root().join(t.file);
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let want = table(&(t.flags)());
            let Some(spliced) = splice(&text, t.name, &want) else {
                panic!(
                    "{} has no <!-- flags:{} --> … <!-- /flags:{} --> block",
                    t.file, t.name, t.name
                );
            };
            if spliced != text {
                if bless {
                    std::fs::write(&path, &spliced).expect("rewrite the README");
                } else {
                    drifted.push(format!("{} ({})", t.file, t.name));
                }
            }
        }
        assert!(
            drifted.is_empty(),
            "flag tables differ from the flags: {drifted:?}; regenerate with INFRAGRAPH_BLESS=1 cargo test -p infragraph --lib flags"
        );
    }

    #[test]
    fn a_table_names_each_flag_its_variable_and_default() {
        let t = table(&subcommand(&["write"]));
        assert!(
            t.contains("| `--neo4j-uri NEO4J_URI` | `INFRAGRAPH_NEO4J_URI` | none |"),
            "{t}"
        );
        assert!(
            !t.contains("--kafka-brokers"),
            "shared flags have a table of their own: {t}"
        );
        let shared = table(&every_stage());
        assert!(shared.contains("`--kafka-brokers"), "{shared}");
        assert!(
            shared.contains("| `--check-config` | `INFRAGRAPH_CHECK_CONFIG` | off |"),
            "{shared}"
        );
    }

    #[test]
    fn splicing_replaces_only_between_the_markers() {
        let text = "a\n<!-- flags:x -->\nold\n<!-- /flags:x -->\nb\n";
        assert_eq!(
            splice(text, "x", "new\n").as_deref(),
            Some("a\n<!-- flags:x -->\nnew\n<!-- /flags:x -->\nb\n")
        );
        assert_eq!(splice(text, "y", "new\n"), None);
    }
}
