//! Errors of the graph writer, sorted into what a retry can outlive and
//! what it cannot.

use infragraph_bus::BusError;

/// A failure of a sink (the graph database or the embedded store).
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The database is away, restarting, timing out or reported a
    /// transient fault (deadlock, lock timeout): retry with backoff.
    #[error("transient graph error: {0}")]
    Transient(String),
    /// The database rejected the statement: retrying the same input fails
    /// again, so the writer isolates the offending changes.
    #[error("graph rejected the change: {0}")]
    Rejected(String),
    /// The database refused our credentials. Fatal at start; once the
    /// writer has been let in, it is what a restarting server (or one whose
    /// credentials are being rotated) says, so the writer waits it out.
    #[error("graph database refused the credentials: {0}")]
    Auth(String),
    /// Misconfiguration (bad URI, unusable data directory): the writer stops.
    #[error("graph sink misconfigured: {0}")]
    Config(String),
}

impl SinkError {
    pub fn is_retriable(&self) -> bool {
        matches!(self, SinkError::Transient(_))
    }

    /// Retriable once the writer has worked with the database before.
    pub fn is_retriable_once_connected(&self) -> bool {
        matches!(self, SinkError::Transient(_) | SinkError::Auth(_))
    }
}

/// Why the writer stopped.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    #[error("invalid setting {name}: {reason}")]
    Config { name: &'static str, reason: String },
}
