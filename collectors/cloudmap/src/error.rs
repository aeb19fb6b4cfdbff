//! Why the Cloud Map collector could not start or sync.

use infragraph_collector::SyncError;

/// One AWS call that failed, with what it was about.
#[derive(Debug, thiserror::Error)]
#[error("{operation} on {resource} failed{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct ApiError {
    /// The API operation, e.g. `ListServices`.
    pub operation: &'static str,
    /// What it was called for, e.g. `namespace ns-123 (shop)`.
    pub resource: String,
    /// The AWS error code where the service gave one, e.g. `AccessDeniedException`.
    pub code: Option<String>,
    pub message: String,
}

impl ApiError {
    /// Access denied in any of the spellings AWS services use.
    pub fn is_access_denied(&self) -> bool {
        self.code.as_deref().is_some_and(|c| {
            c.starts_with("AccessDenied")
                || c == "UnauthorizedOperation"
                || c == "UnrecognizedClientException"
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CloudMapError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("cannot tell which AWS account these credentials belong to ({0}); pass --account-id")]
    Account(String),
    #[error("no AWS region: pass --region or set AWS_REGION")]
    NoRegion,
    #[error(transparent)]
    Sync(#[from] SyncError),
}
