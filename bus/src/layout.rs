//! Every topic of the pipeline, as one deployment lays them out. Each stage
//! ensures the whole layout at start, so whichever starts first creates it
//! right.

use infragraph_schemas::Topics;

use crate::TopicSpec;
use crate::config::KafkaArgs;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicLayout {
    pub names: Topics,
    /// Partitions of the observation and sync topics: the most normalizer
    /// instances that can share the work.
    pub partitions: i32,
    pub replication: i32,
}

impl Default for TopicLayout {
    fn default() -> Self {
        TopicLayout {
            names: Topics::default(),
            partitions: 6,
            replication: 1,
        }
    }
}

impl From<&KafkaArgs> for TopicLayout {
    fn from(args: &KafkaArgs) -> Self {
        TopicLayout {
            names: Topics::new(&args.topic_namespace),
            partitions: args.topic_partitions,
            replication: args.topic_replication,
        }
    }
}

impl TopicLayout {
    pub fn specs(&self) -> Vec<TopicSpec> {
        let spec = |name: String, partitions: i32, compacted: bool| TopicSpec {
            name,
            partitions,
            replication: self.replication,
            compacted,
        };
        let mut out: Vec<TopicSpec> = self
            .names
            .all_observations()
            .into_iter()
            .map(|t| spec(t, self.partitions, false))
            .collect();
        out.push(spec(self.names.sync(), self.partitions, false));
        // One partition: the single graph writer applies changes in log
        // order, and a sync's barrier must follow all of its changes.
        out.push(spec(self.names.graph_changes(), 1, false));
        out.push(spec(self.names.deadletter(), 1, false));
        // Tiny, read whole by every reader, newest schema per fingerprint.
        out.push(spec(self.names.schemas(), 1, true));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_changes_topic_has_one_partition_and_schemas_are_compacted() {
        let specs = TopicLayout {
            partitions: 8,
            ..TopicLayout::default()
        }
        .specs();
        let find = |n: &str| specs.iter().find(|s| s.name == n).unwrap();
        assert_eq!(find("infragraph.graph.changes").partitions, 1);
        assert_eq!(find("infragraph.obs.process").partitions, 8);
        assert!(find("infragraph.schemas").compacted);
    }
}
