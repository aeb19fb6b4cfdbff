//! The whole embedded store read once, for `infragraph export`.

use infragraph_graph_writer::SqliteStore;
pub use infragraph_graph_writer::querybuilder::constraint;
pub use infragraph_graph_writer::{StoredEdge, StoredNode};

use crate::error::ReadError;

/// Every node and relationship of a store.
#[derive(Debug, Default)]
pub struct Dump {
    pub nodes: Vec<StoredNode>,
    pub edges: Vec<StoredEdge>,
}

impl Dump {
    pub fn read(store: &SqliteStore) -> Result<Self, ReadError> {
        let mut dump = Dump::default();
        store.for_each_node(|n| {
            dump.nodes.push(n);
            Ok::<_, infragraph_graph_writer::SinkError>(())
        })?;
        store.for_each_edge(|e| {
            dump.edges.push(e);
            Ok::<_, infragraph_graph_writer::SinkError>(())
        })?;
        Ok(dump)
    }

    /// The store in `data_dir`, read once.
    pub fn read_dir(data_dir: &std::path::Path) -> Result<Self, ReadError> {
        Self::read(&SqliteStore::open(data_dir)?)
    }
}
