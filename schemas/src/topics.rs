//! Topic names of one deployment. The default namespace, `infragraph`,
//! gives the names documented in README.md; another namespace keeps two
//! deployments (staging and production, or two test runs) apart on one
//! Kafka cluster.

use crate::registry::ResourceKind;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Topics {
    namespace: String,
}

impl Default for Topics {
    fn default() -> Self {
        Topics::new(Topics::DEFAULT_NAMESPACE)
    }
}

impl Topics {
    pub const DEFAULT_NAMESPACE: &'static str = "infragraph";

    pub fn new(namespace: impl Into<String>) -> Self {
        Topics {
            namespace: namespace.into(),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Observations of one resource type.
    pub fn observations(&self, kind: ResourceKind) -> String {
        format!("{}.obs.{}", self.namespace, kind.as_str())
    }

    /// Every observation topic, in registry order.
    pub fn all_observations(&self) -> Vec<String> {
        ResourceKind::ALL
            .iter()
            .map(|k| self.observations(*k))
            .collect()
    }

    /// Collectors' sync markers.
    pub fn sync(&self) -> String {
        format!("{}.sync", self.namespace)
    }

    /// The normalizer's graph changes.
    pub fn graph_changes(&self) -> String {
        format!("{}.graph.changes", self.namespace)
    }

    /// Messages no stage could process.
    pub fn deadletter(&self) -> String {
        format!("{}.deadletter", self.namespace)
    }

    /// Writer schemas by fingerprint (compacted).
    pub fn schemas(&self) -> String {
        format!("{}.schemas", self.namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_namespace_gives_the_documented_names() {
        let t = Topics::default();
        assert_eq!(t.sync(), crate::SYNC_TOPIC);
        assert_eq!(t.graph_changes(), crate::GRAPH_CHANGES_TOPIC);
        assert_eq!(t.deadletter(), crate::DEADLETTER_TOPIC);
        assert_eq!(t.schemas(), crate::SCHEMAS_TOPIC);
        for kind in ResourceKind::ALL {
            assert_eq!(t.observations(*kind), kind.topic());
        }
    }

    #[test]
    fn another_namespace_renames_every_topic() {
        let t = Topics::new("staging");
        assert_eq!(t.observations(ResourceKind::Host), "staging.obs.host");
        assert_eq!(t.graph_changes(), "staging.graph.changes");
    }
}
