//! [`ReadError`]: what a read of the graph can fail with, sorted the way
//! the API answers: the caller's mistake (4xx) or the store's (5xx).

/// A failed read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The request cannot be answered as asked (unknown topology, a
    /// malformed filter, a limit out of range); the message says why.
    #[error("{0}")]
    BadRequest(String),
    /// No such node.
    #[error("{0}")]
    NotFound(String),
    /// The store is away or busy; worth asking again.
    #[error("the graph store is unavailable: {0}")]
    Unavailable(String),
    /// The store answered something this reader cannot use.
    #[error("the graph store failed: {0}")]
    Store(String),
}

impl ReadError {
    pub fn bad(msg: impl Into<String>) -> Self {
        ReadError::BadRequest(msg.into())
    }
}

impl From<rusqlite::Error> for ReadError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
        match e.sqlite_error_code() {
            Some(DatabaseBusy | DatabaseLocked) => ReadError::Unavailable(e.to_string()),
            _ => ReadError::Store(e.to_string()),
        }
    }
}

impl From<neo4rs::Error> for ReadError {
    fn from(e: neo4rs::Error) -> Self {
        match infragraph_graph_writer::bolt::classify(e) {
            infragraph_graph_writer::SinkError::Transient(m) => ReadError::Unavailable(m),
            other => ReadError::Store(other.to_string()),
        }
    }
}

impl From<infragraph_graph_writer::SinkError> for ReadError {
    fn from(e: infragraph_graph_writer::SinkError) -> Self {
        match e {
            infragraph_graph_writer::SinkError::Transient(m) => ReadError::Unavailable(m),
            other => ReadError::Store(other.to_string()),
        }
    }
}
