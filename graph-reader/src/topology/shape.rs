//! What every topology does to its raw view before sending it: search
//! and label filter, aggregation of large process views, and the limit.
//! A "box" is a node others sit in (a host around its processes); boxes
//! stay while they hold something, and do not count against the limit.

use std::collections::{BTreeMap, HashMap, HashSet};

use infragraph_schemas::ResourceKind;

use super::{View, ViewEdge, ViewNode};
use crate::drift::Drift;
use crate::request::{AGGREGATE_ABOVE, Aggregate, TopologyRequest};

/// The kind of an aggregate node.
pub const PROCESS_GROUP: &str = "ProcessGroup";

pub(super) fn shape(mut view: View, req: &TopologyRequest) -> View {
    view.total_nodes = view.nodes.len();
    filter(&mut view, req);
    aggregate(&mut view, req.aggregate);
    limit(&mut view, req.limit);
    view
}

fn boxes(view: &View) -> HashSet<String> {
    view.nodes.iter().filter_map(|n| n.parent.clone()).collect()
}

/// Keeps the leaves that match (a match on a box keeps what it holds),
/// the boxes that still hold something, and edges between what is left.
fn filter(view: &mut View, req: &TopologyRequest) {
    let boxes = boxes(view);
    let text: HashMap<String, String> = view
        .nodes
        .iter()
        .map(|n| (n.id.clone(), n.search_text.clone()))
        .collect();
    let found = |n: &ViewNode| {
        let q = req.search.as_deref().unwrap_or("");
        n.search_text.contains(q)
            || n.parent
                .as_ref()
                .and_then(|p| text.get(p))
                .is_some_and(|t| t.contains(q))
    };
    let named = |n: &ViewNode| req.labels.iter().any(|k| k.label() == n.kind);
    let wanted = |n: &ViewNode| req.labels.is_empty() || named(n);
    let leaves: HashSet<String> = view
        .nodes
        .iter()
        .filter(|n| !boxes.contains(&n.id) && found(n) && wanted(n))
        .map(|n| n.id.clone())
        .collect();
    let mut kept = leaves;
    // A box whose label is asked for stays, even empty.
    kept.extend(
        view.nodes
            .iter()
            .filter(|n| boxes.contains(&n.id) && named(n) && found(n))
            .map(|n| n.id.clone()),
    );
    let kept = with_boxes(view, kept);
    view.nodes.retain(|n| kept.contains(&n.id));
    prune(view);
}

/// `ids` and every box around them, however deep (a Cloud Map instance
/// sits in its service, the service in its namespace).
fn with_boxes(view: &View, mut ids: HashSet<String>) -> HashSet<String> {
    let parent: HashMap<&str, &str> = view
        .nodes
        .iter()
        .filter_map(|n| Some((n.id.as_str(), n.parent.as_deref()?)))
        .collect();
    let mut todo: Vec<String> = ids.iter().cloned().collect();
    while let Some(id) = todo.pop() {
        if let Some(p) = parent.get(id.as_str())
            && ids.insert((*p).to_owned())
        {
            todo.push((*p).to_owned());
        }
    }
    ids
}

/// Drops parents and edges naming nodes no longer in the view.
fn prune(view: &mut View) {
    let ids: HashSet<String> = view.nodes.iter().map(|n| n.id.clone()).collect();
    for n in &mut view.nodes {
        if n.parent.as_ref().is_some_and(|p| !ids.contains(p)) {
            n.parent = None;
        }
    }
    view.edges
        .retain(|e| ids.contains(&e.source) && ids.contains(&e.target));
}

/// Groups processes by host and name (then by host, if still too many).
fn aggregate(view: &mut View, how: Aggregate) {
    let processes = view
        .nodes
        .iter()
        .filter(|n| n.kind == ResourceKind::Process.label())
        .count();
    let by_name = match how {
        Aggregate::Off => return,
        Aggregate::Auto if processes <= AGGREGATE_ABOVE => return,
        Aggregate::Host => false,
        Aggregate::Auto | Aggregate::Name => true,
    };
    if by_name {
        group(view, |n| (n.parent.clone(), Some(n.name.clone())));
        view.aggregated = Some("name");
        let groups = view
            .nodes
            .iter()
            .filter(|n| n.kind == PROCESS_GROUP)
            .count();
        if how != Aggregate::Auto || groups <= AGGREGATE_ABOVE {
            return;
        }
    }
    group(view, |n| (n.parent.clone(), None));
    view.aggregated = Some("host");
}

type GroupKey = (Option<String>, Option<String>);

/// Replaces processes (and earlier groups) by one node per `key`, and
/// their edges by one edge per pair of groups, counted.
fn group(view: &mut View, key: impl Fn(&ViewNode) -> GroupKey) {
    let mut groups: BTreeMap<GroupKey, usize> = BTreeMap::new();
    let mut member_of: HashMap<String, String> = HashMap::new();
    let groupable =
        |n: &ViewNode| n.kind == ResourceKind::Process.label() || n.kind == PROCESS_GROUP;
    for n in view.nodes.iter().filter(|n| groupable(n)) {
        let k = key(n);
        *groups.entry(k.clone()).or_insert(0) += n.count.unwrap_or(1);
        member_of.insert(n.id.clone(), group_id(&k));
    }
    view.nodes.retain(|n| !groupable(n));
    for ((parent, name), count) in groups {
        let id = group_id(&(parent.clone(), name.clone()));
        let label = name.clone().unwrap_or_else(|| "processes".to_owned());
        view.nodes.push(ViewNode {
            search_text: label.to_lowercase(),
            name: label,
            detail: Some(format!("{count} processes")),
            id,
            kind: PROCESS_GROUP,
            parent,
            count: Some(count),
            node: None,
        });
    }
    type EdgeKey = (String, String, &'static str, Option<Drift>);
    let mut edges: BTreeMap<EdgeKey, usize> = BTreeMap::new();
    for e in view.edges.drain(..) {
        let a = member_of.get(&e.source).cloned().unwrap_or(e.source);
        let b = member_of.get(&e.target).cloned().unwrap_or(e.target);
        if a != b {
            *edges.entry((a, b, e.rel, e.drift)).or_insert(0) += e.count;
        }
    }
    view.edges = edges
        .into_iter()
        .map(|((a, b, rel, drift), count)| ViewEdge {
            count,
            drift,
            ..ViewEdge::new(rel, a, b)
        })
        .collect();
}

fn group_id((parent, name): &GroupKey) -> String {
    format!(
        "group:{}/{}",
        parent.as_deref().unwrap_or("-"),
        name.as_deref().unwrap_or("*")
    )
}

/// At most `max` leaves, the best connected first; their boxes stay.
fn limit(view: &mut View, max: usize) {
    let boxes = boxes(view);
    let leaves = view.nodes.iter().filter(|n| !boxes.contains(&n.id)).count();
    if leaves <= max {
        return;
    }
    let mut degree: HashMap<&str, usize> = HashMap::new();
    for e in &view.edges {
        *degree.entry(e.source.as_str()).or_insert(0) += 1;
        *degree.entry(e.target.as_str()).or_insert(0) += 1;
    }
    let mut ranked: Vec<(&str, usize)> = view
        .nodes
        .iter()
        .filter(|n| !boxes.contains(&n.id))
        .map(|n| {
            (
                n.id.as_str(),
                degree.get(n.id.as_str()).copied().unwrap_or(0),
            )
        })
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let kept = ranked
        .iter()
        .take(max)
        .map(|(id, _)| (*id).to_owned())
        .collect();
    let kept = with_boxes(view, kept);
    view.nodes.retain(|n| kept.contains(&n.id));
    view.truncated = true;
    prune(view);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Topology;

    fn node(id: &str, kind: &'static str, name: &str, parent: Option<&str>) -> ViewNode {
        ViewNode {
            id: id.into(),
            kind,
            name: name.into(),
            detail: None,
            parent: parent.map(Into::into),
            count: None,
            node: None,
            search_text: format!("{} {id}", name.to_lowercase()),
        }
    }

    /// Two hosts; h1 runs `n` nginx workers that each talk to h2's db.
    fn fleet(n: usize) -> View {
        let mut v = View::default();
        v.nodes.push(node("Host:h1", "Host", "web1", None));
        v.nodes.push(node("Host:h2", "Host", "db1", None));
        v.nodes
            .push(node("Process:h2/1", "Process", "postgres", Some("Host:h2")));
        for i in 0..n {
            let id = format!("Process:h1/{i}");
            v.nodes.push(node(&id, "Process", "nginx", Some("Host:h1")));
            v.edges
                .push(ViewEdge::new("CONNECTS_TO", id, "Process:h2/1".into()));
        }
        v
    }

    fn req() -> TopologyRequest {
        TopologyRequest::new(Topology::Processes)
    }

    #[test]
    fn search_keeps_matches_their_boxes_and_edges_between_them() {
        let v = shape(
            fleet(2),
            &TopologyRequest {
                search: Some("postgres".into()),
                ..req()
            },
        );
        let ids: Vec<&str> = v.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, vec!["Host:h2", "Process:h2/1"]);
        assert!(v.edges.is_empty());
        // A match on a host keeps what runs on it.
        let v = shape(
            fleet(2),
            &TopologyRequest {
                search: Some("web1".into()),
                ..req()
            },
        );
        assert_eq!(v.nodes.len(), 3, "{:?}", v.nodes);
    }

    #[test]
    fn a_label_filter_drops_other_leaves() {
        let v = shape(
            fleet(2),
            &TopologyRequest {
                labels: vec![ResourceKind::Host],
                ..req()
            },
        );
        assert_eq!(v.nodes.len(), 2);
        assert!(v.nodes.iter().all(|n| n.kind == "Host"));
    }

    #[test]
    fn many_processes_aggregate_by_host_and_name_with_counted_edges() {
        let v = shape(fleet(AGGREGATE_ABOVE + 1), &req());
        assert_eq!(v.aggregated, Some("name"));
        let groups: Vec<&ViewNode> = v.nodes.iter().filter(|n| n.kind == PROCESS_GROUP).collect();
        assert_eq!(groups.len(), 2, "{groups:?}");
        let nginx = groups.iter().find(|g| g.name == "nginx").unwrap();
        assert_eq!(
            (nginx.count, nginx.parent.as_deref()),
            (Some(AGGREGATE_ABOVE + 1), Some("Host:h1"))
        );
        assert_eq!(v.edges.len(), 1);
        assert_eq!(v.edges[0].count, AGGREGATE_ABOVE + 1);
        assert_eq!(v.total_nodes, AGGREGATE_ABOVE + 4);
    }

    #[test]
    fn the_limit_keeps_the_best_connected_leaves() {
        let mut v = fleet(3);
        v.nodes
            .push(node("Process:h2/9", "Process", "cron", Some("Host:h2")));
        let v = shape(
            v,
            &TopologyRequest {
                limit: 2,
                aggregate: Aggregate::Off,
                ..req()
            },
        );
        assert!(v.truncated);
        let leaves: Vec<&str> = v
            .nodes
            .iter()
            .filter(|n| n.kind == "Process")
            .map(|n| n.id.as_str())
            .collect();
        assert_eq!(leaves, vec!["Process:h2/1", "Process:h1/0"]);
    }
}
