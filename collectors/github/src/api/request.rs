//! One request from start to answer: send it (conditionally, with a cached
//! ETag), retry a 5xx with the shared retry loop, wait out rate limits
//! within the configured bounds, and count what was spent.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::classify::{RetryReason, Verdict, classify, now_secs};
use super::graphql::GRAPHQL_PATH;
use super::{Api, Call, header_u64};
use crate::error::GithubError;

impl Api {
    /// One resource (no pagination).
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, GithubError> {
        let (_, body) = self.fetch(Call::Get(path)).await?;
        serde_json::from_str(&body).map_err(|source| GithubError::Decode {
            path: path.to_owned(),
            source,
        })
    }

    /// One request, retried on 5xx and rate limits; the headers and body of
    /// its successful answer.
    pub(super) async fn fetch(&self, call: Call<'_>) -> Result<(HeaderMap, String), GithubError> {
        let path = call.path();
        // Counted across the request's 5xx retries. An atomic, not a Cell:
        // each attempt's future borrows it and must stay Send.
        let rate_waits = AtomicU32::new(0);
        self.settings
            .server_retry()
            .run_to_end(
                |e| matches!(e, GithubError::Server { .. }),
                |e, next| {
                    if let GithubError::Server { status, .. } = e {
                        tracing::warn!(
                            path,
                            status,
                            attempt = next.attempt,
                            retry_in_ms = next.wait.as_millis() as u64,
                            "GitHub server error, retrying"
                        );
                    }
                },
                |attempt| self.attempt(call, attempt, &rate_waits),
            )
            .await
    }

    /// One attempt at a request, waiting out rate limits (at most
    /// `rate_limit_waits` over the whole request).
    async fn attempt(
        &self,
        call: Call<'_>,
        attempt: u32,
        rate_waits: &AtomicU32,
    ) -> Result<(HeaderMap, String), GithubError> {
        let path = call.path();
        loop {
            // Only reads are conditional: a GraphQL POST has no ETag.
            let cached = match call {
                Call::Get(path) => self.cached(path),
                Call::Graphql(_) => None,
            };
            let (status, headers, body) = self
                .send(call, cached.as_ref().map(|c| c.etag.as_str()))
                .await?;
            if status == StatusCode::NOT_MODIFIED
                && let Some(c) = cached
            {
                self.not_modified.fetch_add(1, Ordering::Relaxed);
                return Ok((c.headers, c.body));
            }
            match classify(status, &headers, path, attempt, now_secs()) {
                Verdict::Ok => {
                    if let Call::Get(path) = call {
                        self.remember(path, &headers, &body);
                    }
                    return Ok((headers, body));
                }
                Verdict::Fail(e) => return Err(e),
                Verdict::Retry { wait, why } => {
                    let waits = rate_waits.fetch_add(1, Ordering::Relaxed) + 1;
                    self.check_wait(path, wait, waits)?;
                    self.wait_for_limit(path, wait, why).await;
                }
            }
        }
    }

    pub(super) fn check_wait(
        &self,
        path: &str,
        wait: Duration,
        waits: u32,
    ) -> Result<(), GithubError> {
        let max = self.settings.max_rate_limit_wait;
        if wait > max || waits > self.settings.rate_limit_waits {
            return Err(GithubError::RateLimited {
                path: path.to_owned(),
                wait_secs: wait.as_secs(),
                max_secs: max.as_secs(),
            });
        }
        Ok(())
    }

    /// Sleeps through a rate limit, saying how long is left every
    /// `progress_every`, so a stalled-looking collector explains itself.
    /// Shutdown ends it at once: the sync that holds this future drops it
    /// (`Syncer::sync_until`).
    pub(super) async fn wait_for_limit(&self, path: &str, wait: Duration, why: RetryReason) {
        let mut left = wait;
        loop {
            tracing::info!(
                path,
                reason = why.as_str(),
                remaining_secs = left.as_secs(),
                "waiting for the GitHub rate limit"
            );
            let step = left.min(self.settings.progress_every.max(Duration::from_secs(1)));
            tokio::time::sleep(step).await;
            left = left.saturating_sub(step);
            if left.is_zero() {
                return;
            }
        }
    }

    async fn send(
        &self,
        call: Call<'_>,
        etag: Option<&str>,
    ) -> Result<(StatusCode, HeaderMap, String), GithubError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let path = call.path();
        let transport = |e: octocrab::Error| GithubError::Transport {
            path: path.to_owned(),
            message: e.to_string(),
        };
        let response = match call {
            Call::Get(path) => {
                let conditional = etag
                    .and_then(|e| http::HeaderValue::from_str(e).ok())
                    .map(|v| HeaderMap::from_iter([(http::header::IF_NONE_MATCH, v)]));
                self.rest()
                    .await?
                    ._get_with_headers(path, conditional)
                    .await
            }
            Call::Graphql(body) => {
                self.graphql_client()
                    .await?
                    ._post(GRAPHQL_PATH, Some(body))
                    .await
            }
        }
        .map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        if let Some(left) = header_u64(&headers, "x-ratelimit-remaining") {
            self.remaining
                .store(i64::try_from(left).unwrap_or(i64::MAX), Ordering::Relaxed);
        }
        let body = self
            .graphql
            .body_to_string(response)
            .await
            .map_err(transport)?;
        tracing::debug!(path, status = status.as_u16(), "GitHub request");
        Ok((status, headers, body))
    }
}
