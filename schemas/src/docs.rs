//! The registry as Markdown, for `schemas/README.md` (checked by a test).

use std::fmt::Write;

use crate::registry::{Direction, Merge, ResourceKind};

/// One table of resource types and one of relationships.
pub fn registry_tables() -> String {
    let mut out = String::new();
    out.push_str("| resource type | topic | label | id from | scope | properties |\n|---|---|---|---|---|---|\n");
    for kind in ResourceKind::ALL {
        let d = kind.def();
        let props: Vec<String> = d
            .properties
            .iter()
            .map(|p| {
                let req = if p.required { "!" } else { "" };
                let merge = match p.merge {
                    Merge::Union => " ∪",
                    Merge::Measurement => " ~",
                    Merge::Latest => "",
                };
                format!("`{}{req}`: {}{merge}", p.name, p.ty.avro_name())
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | `{}` | `{}` | {} | {} | {} |",
            kind.as_str(),
            d.topic(),
            d.label,
            d.id_fields.join(", "),
            d.scope.as_str(),
            props.join(", ")
        );
    }
    out.push_str("\n| relationship | pattern | asserted by |\n|---|---|---|\n");
    for kind in ResourceKind::ALL {
        let d = kind.def();
        for r in d.relationships {
            let pattern = match r.direction {
                Direction::Outgoing => {
                    format!("(:{})-[:{}]->(:{})", d.label, r.rel_type, r.target.label())
                }
                Direction::Incoming => {
                    format!("(:{})-[:{}]->(:{})", r.target.label(), r.rel_type, d.label)
                }
            };
            let _ = writeln!(
                out,
                "| `{}` | `{pattern}` | {}: {} |",
                r.rel_type,
                kind.as_str(),
                r.doc
            );
        }
    }
    out.push_str(
        "\n`!` marks a required property; `∪` a multi-valued one, merged by set union; `~` a measurement, \
         written to the graph only when it moved meaningfully or grew stale (the normalizer's \
         `--measurement-change-percent` and `--measurement-max-age-ms`).\n",
    );
    out
}
