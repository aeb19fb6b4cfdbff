//! Why a collector could not start or a sync failed.

use infragraph_bus::BusError;
use infragraph_schemas::CodecError;

/// The start-up steps (topics, schemas) failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot create topics: {0}")]
    Topics(#[source] BusError),
    #[error("cannot publish writer schema {fingerprint:016x}: {source}")]
    Schema {
        fingerprint: u64,
        #[source]
        source: BusError,
    },
    /// A one-off run gives the bus this long to answer at all.
    #[error("the bus did not answer within {}s (the log above says why)", .0.as_secs())]
    NoAnswer(std::time::Duration),
}

/// Why one sync failed. A failed sync ends with a FAILED marker (when the bus
/// lets us publish one), and never leads to cleanup.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("collect failed: {0}")]
    Collect(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("observation {kind} {id:?} is invalid: {source}")]
    Encode {
        kind: String,
        id: String,
        #[source]
        source: CodecError,
    },
    #[error("cannot encode the sync marker: {0}")]
    Marker(#[source] CodecError),
    #[error("cannot publish the {status} marker: {source}")]
    PublishMarker {
        status: &'static str,
        #[source]
        source: BusError,
    },
    #[error("{failed} of {total} observations were not delivered, last error: {source}")]
    Delivery {
        failed: usize,
        total: usize,
        #[source]
        source: BusError,
    },
    #[error("collector setup failed: {0}")]
    Setup(#[from] SetupError),
    /// Shutdown arrived while the sync waited or worked.
    #[error("stopped by shutdown before the sync ended")]
    Interrupted,
}

impl SyncError {
    /// A short, stable name for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            SyncError::Collect(_) => "collect",
            SyncError::Encode { .. } => "encode",
            SyncError::Marker(_) => "marker_encode",
            SyncError::PublishMarker { .. } => "marker_publish",
            SyncError::Delivery { .. } => "delivery",
            SyncError::Setup(_) => "setup",
            SyncError::Interrupted => "interrupted",
        }
    }
}
