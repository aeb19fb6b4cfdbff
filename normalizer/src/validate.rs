//! What makes a decoded observation unusable. Such observations go to the
//! dead-letter topic with the reason instead of into the graph.

use infragraph_schemas::Observation;

/// Why `obs` cannot become graph changes, if it cannot.
pub fn problem(obs: &Observation) -> Option<String> {
    if obs.id.trim().is_empty() {
        return Some(format!("{} observation has an empty id", obs.kind));
    }
    let def = obs.kind.def();
    if let Some(p) = def.properties.iter().find(|p| p.required && !obs.properties.contains_key(p.name)) {
        return Some(format!("{} {:?} lacks required property {}", obs.kind, obs.id, p.name));
    }
    if let Some(r) = obs.relationships.iter().find(|r| r.target_id.trim().is_empty()) {
        return Some(format!("{} {:?} asserts {} with an empty target id", obs.kind, obs.id, r.rel_type));
    }
    None
}
