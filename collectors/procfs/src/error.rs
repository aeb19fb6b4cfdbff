//! Why the procfs collector could not start or sync.

use infragraph_collector::SyncError;

use crate::redact::PatternError;

#[derive(Debug, thiserror::Error)]
pub enum ProcfsError {
    #[error(transparent)]
    Redact(#[from] PatternError),
    #[error("no host id: /etc/machine-id and the host name are both unavailable; pass --host-id")]
    NoHostId,
    #[error("{0} does not look like a proc file system (no {0}/stat)")]
    NotProc(String),
    #[error("the scan stopped unexpectedly: {0}")]
    Scan(String),
    #[error(transparent)]
    Sync(#[from] SyncError),
}
