//! `infragraph export`: the embedded graph as a Cypher script Neo4j 5 loads
//! as is, as JSON, or as GraphML for Gephi and yEd.

use std::collections::BTreeMap;
use std::io::{self, Write};

pub use infragraph_graph_reader::dump::Dump;
use infragraph_schemas::{Properties, PropertyType, RelType, ResourceKind, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `UNWIND … MERGE` statements, constraints first (cypher-shell -f).
    Cypher,
    /// `{"nodes": [...], "relationships": [...]}`.
    Json,
    /// GraphML, for Gephi, yEd and NetworkX.
    Graphml,
}

pub fn write(dump: &Dump, format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Cypher => cypher(dump, out),
        Format::Json => json(dump, out),
        Format::Graphml => graphml(dump, out),
    }
}

/// Rows per `UNWIND` statement: large enough to be fast, small enough for
/// any server's statement size limit.
const ROWS_PER_STATEMENT: usize = 500;

/// A Cypher string literal.
fn cypher_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn cypher_value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Long(n) => n.to_string(),
        Value::Double(d) if d.is_finite() => format!("{d:?}"),
        Value::Double(d) if d.is_nan() => "toFloat('NaN')".into(),
        Value::Double(d) => format!("toFloat('{}Infinity')", if *d < 0.0 { "-" } else { "" }),
        Value::String(s) => cypher_str(s),
        Value::StringList(l) => format!(
            "[{}]",
            l.iter()
                .map(|s| cypher_str(s))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn cypher_props(props: &Properties, firstseen: i64, lastupdated: i64) -> String {
    let mut parts: Vec<String> = props
        .iter()
        .filter(|(_, v)| **v != Value::Null)
        .map(|(k, v)| format!("`{}`: {}", k.replace('`', "``"), cypher_value(v)))
        .collect();
    parts.push(format!("firstseen: {firstseen}"));
    parts.push(format!("lastupdated: {lastupdated}"));
    format!("{{{}}}", parts.join(", "))
}

fn cypher(dump: &Dump, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "// infragraph export: {} nodes, {} relationships.",
        dump.nodes.len(),
        dump.edges.len()
    )?;
    writeln!(out, "// Load with: cypher-shell -f FILE")?;
    // The writer's own constraints, so loading an export into a graph the
    // writer also feeds adds no second constraint under another name.
    for kind in ResourceKind::ALL {
        writeln!(out, "{};", infragraph_graph_reader::dump::constraint(*kind))?;
    }
    let mut by_label: BTreeMap<ResourceKind, Vec<String>> = BTreeMap::new();
    for n in &dump.nodes {
        let row = format!(
            "{{id: {}, props: {}}}",
            cypher_str(&n.id),
            cypher_props(&n.properties, n.firstseen, n.lastupdated)
        );
        by_label.entry(n.kind).or_default().push(row);
    }
    for (kind, rows) in &by_label {
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            writeln!(
                out,
                "UNWIND [{}] AS row MERGE (n:{} {{id: row.id}}) SET n += row.props;",
                chunk.join(", "),
                kind.label()
            )?;
        }
    }
    let mut by_shape: BTreeMap<(RelType, ResourceKind, ResourceKind), Vec<String>> =
        BTreeMap::new();
    for e in &dump.edges {
        let row = format!(
            "{{from: {}, to: {}, props: {}}}",
            cypher_str(&e.from.id),
            cypher_str(&e.to.id),
            cypher_props(&e.properties, e.firstseen, e.lastupdated)
        );
        by_shape
            .entry((e.rel, e.from.kind, e.to.kind))
            .or_default()
            .push(row);
    }
    for ((rel, from, to), rows) in &by_shape {
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            writeln!(
                out,
                "UNWIND [{}] AS row MATCH (a:{} {{id: row.from}}) MATCH (b:{} {{id: row.to}}) MERGE (a)-[r:{rel}]->(b) SET r += row.props;",
                chunk.join(", "),
                from.label(),
                to.label()
            )?;
        }
    }
    Ok(())
}

fn json_value(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Long(n) => (*n).into(),
        // JSON has no NaN or infinity: those become null.
        Value::Double(d) => {
            serde_json::Number::from_f64(*d).map_or(serde_json::Value::Null, Into::into)
        }
        Value::String(s) => s.clone().into(),
        Value::StringList(l) => l.clone().into(),
    }
}

fn json_props(props: &Properties) -> serde_json::Value {
    props
        .iter()
        .map(|(k, v)| (k.clone(), json_value(v)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn json(dump: &Dump, out: &mut impl Write) -> io::Result<()> {
    let nodes: Vec<serde_json::Value> = dump
        .nodes
        .iter()
        .map(|n| {
            serde_json::json!({"label": n.kind.label(), "id": n.id, "firstseen": n.firstseen,
                "lastupdated": n.lastupdated, "properties": json_props(&n.properties)})
        })
        .collect();
    let edges: Vec<serde_json::Value> = dump
        .edges
        .iter()
        .map(|e| {
            serde_json::json!({"type": e.rel.as_str(),
                "from": {"label": e.from.kind.label(), "id": e.from.id},
                "to": {"label": e.to.kind.label(), "id": e.to.id},
                "firstseen": e.firstseen, "lastupdated": e.lastupdated, "properties": json_props(&e.properties)})
        })
        .collect();
    serde_json::to_writer_pretty(
        &mut *out,
        &serde_json::json!({"nodes": nodes, "relationships": edges}),
    )?;
    writeln!(out)
}

fn xml(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&apos;".to_owned(),
            // XML 1.0 cannot carry most control characters at all.
            c if c.is_control() && !matches!(c, '\n' | '\r' | '\t') => {
                format!("\\u{:04x}", c as u32)
            }
            c => c.to_string(),
        })
        .collect()
}

fn graphml_type(ty: Option<PropertyType>) -> &'static str {
    match ty {
        Some(PropertyType::Bool) => "boolean",
        Some(PropertyType::Long) => "long",
        Some(PropertyType::Double) => "double",
        _ => "string",
    }
}

/// GraphML values are text; lists are written as JSON arrays.
fn graphml_text(v: &Value) -> String {
    match v {
        Value::StringList(l) => serde_json::Value::from(l.clone()).to_string(),
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Long(n) => n.to_string(),
        Value::Double(d) => d.to_string(),
    }
}

/// Every property key of nodes (typed by the registry) and relationships.
fn graphml_keys(
    dump: &Dump,
) -> (
    BTreeMap<String, &'static str>,
    BTreeMap<String, &'static str>,
) {
    let mut node_keys = BTreeMap::new();
    for n in &dump.nodes {
        for (k, v) in &n.properties {
            let declared = n.kind.def().property(k).map(|(_, p)| p.ty);
            node_keys.insert(k.clone(), graphml_type(declared.or(v.ty())));
        }
    }
    let mut edge_keys = BTreeMap::new();
    for e in &dump.edges {
        for (k, v) in &e.properties {
            edge_keys.insert(k.clone(), graphml_type(v.ty()));
        }
    }
    (node_keys, edge_keys)
}

fn graphml_data(
    out: &mut impl Write,
    prefix: &str,
    props: &Properties,
    firstseen: i64,
    lastupdated: i64,
) -> io::Result<()> {
    writeln!(
        out,
        "      <data key=\"{prefix}firstseen\">{firstseen}</data>"
    )?;
    writeln!(
        out,
        "      <data key=\"{prefix}lastupdated\">{lastupdated}</data>"
    )?;
    for (k, v) in props.iter().filter(|(_, v)| **v != Value::Null) {
        writeln!(
            out,
            "      <data key=\"{prefix}p_{}\">{}</data>",
            xml(k),
            xml(&graphml_text(v))
        )?;
    }
    Ok(())
}

fn graphml(dump: &Dump, out: &mut impl Write) -> io::Result<()> {
    let (node_keys, edge_keys) = graphml_keys(dump);
    writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(
        out,
        "<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">"
    )?;
    writeln!(
        out,
        "  <key id=\"label\" for=\"node\" attr.name=\"label\" attr.type=\"string\"/>"
    )?;
    writeln!(
        out,
        "  <key id=\"type\" for=\"edge\" attr.name=\"type\" attr.type=\"string\"/>"
    )?;
    for (prefix, target) in [("n_", "node"), ("e_", "edge")] {
        for key in ["firstseen", "lastupdated"] {
            writeln!(
                out,
                "  <key id=\"{prefix}{key}\" for=\"{target}\" attr.name=\"{key}\" attr.type=\"long\"/>"
            )?;
        }
    }
    for (prefix, target, keys) in [("n_p_", "node", &node_keys), ("e_p_", "edge", &edge_keys)] {
        for (k, ty) in keys {
            writeln!(
                out,
                "  <key id=\"{prefix}{k}\" for=\"{target}\" attr.name=\"{k}\" attr.type=\"{ty}\"/>",
                k = xml(k)
            )?;
        }
    }
    writeln!(out, "  <graph id=\"infragraph\" edgedefault=\"directed\">")?;
    for n in &dump.nodes {
        writeln!(
            out,
            "    <node id=\"{}\">",
            xml(&format!("{}:{}", n.kind.label(), n.id))
        )?;
        writeln!(out, "      <data key=\"label\">{}</data>", n.kind.label())?;
        graphml_data(out, "n_", &n.properties, n.firstseen, n.lastupdated)?;
        writeln!(out, "    </node>")?;
    }
    for e in &dump.edges {
        let source = xml(&format!("{}:{}", e.from.kind.label(), e.from.id));
        let target = xml(&format!("{}:{}", e.to.kind.label(), e.to.id));
        writeln!(out, "    <edge source=\"{source}\" target=\"{target}\">")?;
        writeln!(out, "      <data key=\"type\">{}</data>", e.rel)?;
        graphml_data(out, "e_", &e.properties, e.firstseen, e.lastupdated)?;
        writeln!(out, "    </edge>")?;
    }
    writeln!(out, "  </graph>")?;
    writeln!(out, "</graphml>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cypher_strings_escape_quotes_backslashes_and_controls() {
        assert_eq!(cypher_str(r"it's a \ path"), r"'it\'s a \\ path'");
        assert_eq!(cypher_str("a\nb\u{1}"), r"'a\nb\u0001'");
    }

    #[test]
    fn cypher_values_cover_every_type() {
        assert_eq!(cypher_value(&Value::Double(1.0)), "1.0");
        assert_eq!(
            cypher_value(&Value::Double(f64::NEG_INFINITY)),
            "toFloat('-Infinity')"
        );
        assert_eq!(
            cypher_value(&Value::StringList(vec!["a".into(), "b'".into()])),
            r"['a', 'b\'']"
        );
        assert_eq!(cypher_value(&Value::Long(-3)), "-3");
    }

    #[test]
    fn xml_text_is_escaped() {
        assert_eq!(xml("<a & 'b'>"), "&lt;a &amp; &apos;b&apos;&gt;");
    }
}

/// Flags of `infragraph export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Cypher)]
    pub format: Format,
    /// Directory of the embedded store.
    #[arg(long, env = "INFRAGRAPH_DATA_DIR", default_value_os_t = infragraph_graph_writer::config::default_data_dir())]
    pub data_dir: std::path::PathBuf,
    /// Write here instead of standard output.
    #[arg(long, short)]
    pub output: Option<std::path::PathBuf>,
}

pub fn run(args: &ExportArgs) -> anyhow::Result<std::process::ExitCode> {
    use anyhow::Context;
    if !args.data_dir.exists() {
        anyhow::bail!(
            "no embedded store in {} (run `infragraph up --once` first, or pass --data-dir)",
            args.data_dir.display()
        );
    }
    let dump = Dump::read_dir(&args.data_dir)?;
    match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let mut out = std::io::BufWriter::new(file);
            write(&dump, args.format, &mut out)?;
            out.flush()?;
            eprintln!(
                "wrote {} nodes and {} relationships to {}",
                dump.nodes.len(),
                dump.edges.len(),
                path.display()
            );
        }
        None => write(&dump, args.format, &mut std::io::stdout().lock())?,
    }
    Ok(std::process::ExitCode::SUCCESS)
}
