//! GitHub's REST and GraphQL APIs over octocrab's HTTP client: pagination
//! through `Link` headers, rate limits, retries of server errors, and a
//! request count.
//!
//! Requests go out as paths relative to the base URL: octocrab only attaches
//! the token to relative requests (or to api.github.com), so an absolute
//! `Link` to a GitHub Enterprise Server or a test server is cut back to its
//! path first, and a `Link` to any other host is refused.
//!
//! # Layout
//! - this file: [`Api`], what it holds and counts, and the one request
//!   shape (`Call`) the others pass around.
//! - `classify.rs`: what a response means (retry, wait, fail) and the
//!   [`RetrySettings`] that bound it.
//! - `auth.rs`: the clients for a token or a GitHub App, and the app's
//!   installation.
//! - `request.rs`: sending one request, retrying 5xx, waiting out rate limits.
//! - `etag.rs`: the cache behind conditional requests.
//! - `paginate.rs`: lists through `Link` headers.
//! - `graphql.rs`: the GraphQL endpoint and its answers.

mod auth;
mod classify;
mod etag;
mod graphql;
mod paginate;
mod request;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use http::HeaderMap;
use octocrab::Octocrab;

pub use classify::{RetryReason, RetrySettings, Verdict, classify};
pub use graphql::{GraphqlError, GraphqlResponse, graphql_base};
pub use paginate::{PER_PAGE, next_link};

use auth::Rest;
use etag::Cached;
use graphql::GRAPHQL_PATH;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    header(headers, name)?.parse().ok()
}

/// One request: a REST read, or a GraphQL query (always a POST).
#[derive(Clone, Copy)]
enum Call<'a> {
    Get(&'a str),
    Graphql(&'a serde_json::Value),
}

impl Call<'_> {
    /// What errors and logs name the request by.
    fn path(&self) -> &str {
        match self {
            Call::Get(path) => path,
            Call::Graphql(_) => GRAPHQL_PATH,
        }
    }
}

/// A client for one API base URL and one set of credentials.
pub struct Api {
    rest: Rest,
    /// The GraphQL endpoint's base; a token's client carries the token, an
    /// app's is given the installation's current token on each request.
    graphql: Octocrab,
    authority: Option<String>,
    settings: RetrySettings,
    requests: AtomicU64,
    /// Requests answered 304 Not Modified: free of GitHub's rate limit.
    not_modified: AtomicU64,
    /// The last answer with an ETag per path, for conditional requests on
    /// the next sync. Bodies are kept: a 304 has none.
    etags: Mutex<HashMap<String, Cached>>,
    /// The last `x-ratelimit-remaining` seen, -1 before any.
    remaining: AtomicI64,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("authority", &self.authority)
            .field("requests", &self.requests())
            .finish_non_exhaustive()
    }
}

impl Api {
    /// Requests sent since the last [`Api::take_requests`] (retries included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The request count so far, reset to zero: one sync's spend.
    pub fn take_requests(&self) -> u64 {
        self.requests.swap(0, Ordering::Relaxed)
    }

    /// Requests answered 304 since the last call, reset to zero.
    pub fn take_not_modified(&self) -> u64 {
        self.not_modified.swap(0, Ordering::Relaxed)
    }

    /// The last rate-limit budget GitHub reported, if any.
    pub fn rate_limit_remaining(&self) -> Option<u64> {
        u64::try_from(self.remaining.load(Ordering::Relaxed)).ok()
    }
}

/// Response headers from name and value pairs, for the tests of each part.
#[cfg(test)]
fn test_headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, v.parse().expect("valid header value"));
    }
    h
}
