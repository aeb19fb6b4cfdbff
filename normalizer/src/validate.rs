//! What makes a decoded observation unusable. Such observations go to the
//! dead-letter topic with the reason instead of into the graph.

use infragraph_schemas::Observation;

/// Why `obs` cannot become graph changes, if it cannot.
pub fn problem(obs: &Observation) -> Option<String> {
    if obs.id.trim().is_empty() {
        return Some(format!("{} observation has an empty id", obs.kind));
    }
    // A retraction names what is gone; it has nothing left to describe.
    if let Some(name) = missing_required(obs).filter(|_| !obs.gone) {
        return Some(format!(
            "{} {:?} lacks required property {name}",
            obs.kind, obs.id
        ));
    }
    if let Some(r) = obs
        .relationships
        .iter()
        .chain(&obs.retracted)
        .find(|r| r.target_id.trim().is_empty())
    {
        return Some(format!(
            "{} {:?} asserts {} with an empty target id",
            obs.kind, obs.id, r.rel_type
        ));
    }
    None
}

/// The first required property `obs` lacks, by name. Both lists are
/// name-sorted, so one walk along the properties answers for all of them.
fn missing_required(obs: &Observation) -> Option<&'static str> {
    let mut present = obs.properties.keys().peekable();
    for p in obs.kind.properties_by_name().iter().filter(|p| p.required) {
        while present.next_if(|k| k.as_str() < p.name).is_some() {}
        if present.next_if(|k| k.as_str() == p.name).is_none() {
            return Some(p.name);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use infragraph_schemas::{ResourceKind, ScopeRef};

    fn process() -> Observation {
        Observation::new(ScopeRef::new("t", "a"), 1, 1, ResourceKind::Process, "p")
            .with("host_id", "h")
            .with("name", "x")
            .with("pid", 7_i64)
            .with("start_time", 1_i64)
            .with("user", "root")
    }

    #[test]
    fn names_each_missing_required_property_wherever_it_sorts() {
        assert_eq!(problem(&process()), None);
        for name in ["host_id", "name", "pid", "start_time"] {
            let mut obs = process();
            obs.properties.remove(name);
            let reason = problem(&obs).expect("a problem");
            assert!(
                reason.ends_with(&format!("lacks required property {name}")),
                "{reason}"
            );
        }
    }
}
