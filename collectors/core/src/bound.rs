//! Oversized values are cut at the collector, before they reach the bus:
//! one huge command line or property list must not make an observation
//! too large for its topic, which would fail the whole sync every time.
//! What is cut says so in the value itself.

use infragraph_schemas::{Observation, Value};

/// The longest string property kept, in bytes.
pub const MAX_STRING_BYTES: usize = 16 * 1024;
/// The most items of a list property kept.
pub const MAX_LIST_ITEMS: usize = 1000;

/// The end of a string that was cut: how much is missing.
pub fn cut_marker(bytes: usize) -> String {
    format!("…[cut: {bytes} more bytes]")
}

/// Cuts oversized values of `obs` in place; how many values were cut.
pub fn bound(obs: &mut Observation) -> usize {
    let mut cut = 0;
    let props = obs.properties.values_mut().map(|(_, v)| v);
    let rel_props = obs
        .relationships
        .iter_mut()
        .flat_map(|r| r.properties.values_mut().map(|(_, v)| v));
    for value in props.chain(rel_props) {
        cut += usize::from(bound_value(value));
    }
    cut
}

fn bound_value(value: &mut Value) -> bool {
    match value {
        Value::String(s) => bound_string(s),
        Value::StringList(items) if items.len() > MAX_LIST_ITEMS => {
            let more = items.len() - (MAX_LIST_ITEMS - 1);
            items.truncate(MAX_LIST_ITEMS - 1);
            items.push(format!("…[cut: {more} more items]"));
            true
        }
        Value::StringList(items) => items.iter_mut().fold(false, |any, s| bound_string(s) | any),
        _ => false,
    }
}

fn bound_string(s: &mut String) -> bool {
    if s.len() <= MAX_STRING_BYTES {
        return false;
    }
    // Room for the marker, so a cut string is within the bound.
    let mut end = MAX_STRING_BYTES - 64;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let more = s.len() - end;
    s.truncate(end);
    s.push_str(&cut_marker(more));
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use infragraph_schemas::{ResourceKind, ScopeRef};

    #[test]
    fn long_strings_and_lists_are_cut_with_a_marker_and_the_rest_kept() {
        let obs = Observation::new(ScopeRef::new("t", "s"), 1, 1, ResourceKind::Process, "p")
            .with("cmdline", "é".repeat(MAX_STRING_BYTES))
            .with("name", "short");
        let mut obs = obs;
        obs.set(
            "tags",
            Value::StringList((0..5000).map(|i| i.to_string()).collect()),
        );
        assert_eq!(bound(&mut obs), 2);
        let cmdline = obs
            .properties
            .get("cmdline")
            .and_then(Value::as_str)
            .expect("kept");
        assert!(
            cmdline.len() <= MAX_STRING_BYTES && cmdline.ends_with("more bytes]"),
            "{}",
            &cmdline[cmdline.len() - 40..]
        );
        let Some(Value::StringList(tags)) = obs.properties.get("tags") else {
            panic!("tags kept")
        };
        assert_eq!(
            (tags.len(), tags.last().map(String::as_str)),
            (MAX_LIST_ITEMS, Some("…[cut: 4001 more items]"))
        );
        assert_eq!(
            obs.properties.get("name").and_then(Value::as_str),
            Some("short")
        );
        assert_eq!(bound(&mut obs), 0, "a bounded observation stays as it is");
    }
}
