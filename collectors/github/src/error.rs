//! Why the GitHub collector could not start or sync. No variant carries the
//! token: errors end up in logs and in FAILED markers.

/// Why a request, a sync or the start-up failed.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    /// The token is wrong, expired or revoked. Fails the sync, so nothing it
    /// saw is cleaned up.
    #[error(
        "GitHub rejected the token (401 Unauthorized) on {path}: check that the token is valid, not expired and not revoked"
    )]
    Unauthorized { path: String },

    /// A 403 that is not a rate limit: the token lacks a scope or the org
    /// restricts it. Failing keeps a half-visible org from being cleaned up.
    #[error(
        "GitHub refused {path} (403 Forbidden, not a rate limit): the token lacks the permission or scope to read it"
    )]
    Forbidden { path: String },

    #[error("{path} not found (404)")]
    NotFound { path: String },

    /// A rate limit whose reset is further away than the configured wait.
    #[error(
        "rate limited on {path}; the limit resets in {wait_secs}s, longer than the {max_secs}s the collector waits"
    )]
    RateLimited {
        path: String,
        wait_secs: u64,
        max_secs: u64,
    },

    #[error("GitHub answered {status} on {path} {attempts} times in a row")]
    Server {
        status: u16,
        path: String,
        attempts: u32,
    },

    #[error("GitHub answered {status} on {path}")]
    Status { status: u16, path: String },

    #[error("request to {path} failed: {message}")]
    Transport { path: String, message: String },

    /// The GitHub App could not act on the org: not installed there (404),
    /// a wrong app id or key (401), or its token could not be minted.
    #[error(
        "cannot act as the GitHub App's installation on {org}: {detail} (is the app installed on the org, and are the app id and key right?)"
    )]
    App { org: String, detail: String },

    /// GraphQL answered with errors that are not about a missing node.
    #[error("GitHub's GraphQL API answered with errors: {0}")]
    Graphql(String),

    #[error("cannot decode the response to {path}: {source}")]
    Decode {
        path: String,
        source: serde_json::Error,
    },

    /// A `Link` header pointing at another host: following it would leave
    /// the API the token was given for.
    #[error("refusing a pagination link to another host: {0}")]
    ForeignLink(String),

    #[error("invalid configuration: {0}")]
    Config(String),

    /// One or more orgs' syncs failed in a `--once` run.
    #[error("sync failed for {0}")]
    SyncFailed(String),
}

impl GithubError {
    /// Whether this error means the resource is gone (a repository deleted
    /// mid-sync), so the caller may skip it.
    pub fn is_not_found(&self) -> bool {
        matches!(self, GithubError::NotFound { .. })
    }
}
