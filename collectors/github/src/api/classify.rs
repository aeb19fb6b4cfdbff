//! What a response means, and how hard to retry: GitHub's status codes and
//! rate-limit headers sorted into go on, wait and send again, or fail. Pure
//! functions of the answer and the clock, so the rules are tested without a
//! server; `request.rs` acts on them.

use std::time::Duration;

use http::{HeaderMap, StatusCode};
use infragraph_telemetry::backoff::{Backoff, Retry};

use super::header_u64;
use crate::error::GithubError;

/// The longest pause between attempts at a request answered with 5xx.
const MAX_SERVER_BACKOFF: Duration = Duration::from_secs(60);

/// How hard to try before giving up on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// Attempts at a request answered with 5xx, the first included.
    pub server_attempts: u32,
    /// Wait before the second attempt; doubled for each later one.
    pub backoff: Duration,
    /// The longest rate-limit wait accepted; a later reset fails the sync
    /// rather than holding it for hours.
    pub max_rate_limit_wait: Duration,
    /// Rate-limit waits in a row on one request before giving up.
    pub rate_limit_waits: u32,
    /// How often a rate-limit wait logs how long is left.
    pub progress_every: Duration,
}

impl RetrySettings {
    /// How a request answered with 5xx is retried.
    pub fn server_retry(&self) -> Retry {
        Retry::bounded(
            Backoff::new(self.backoff, MAX_SERVER_BACKOFF),
            self.server_attempts,
        )
    }
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            server_attempts: 4,
            backoff: Duration::from_millis(500),
            // A primary limit resets within the hour.
            max_rate_limit_wait: Duration::from_secs(3700),
            rate_limit_waits: 5,
            progress_every: Duration::from_secs(30),
        }
    }
}

/// What to do with one response.
#[derive(Debug)]
pub enum Verdict {
    Ok,
    /// A rate limit: wait, then send the same request again.
    Retry {
        wait: Duration,
        why: RetryReason,
    },
    Fail(GithubError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    PrimaryRateLimit,
    SecondaryRateLimit,
}

impl RetryReason {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            RetryReason::PrimaryRateLimit => "primary rate limit",
            RetryReason::SecondaryRateLimit => "secondary rate limit",
        }
    }
}

/// Decides what a response means. A 5xx is a [`GithubError::Server`],
/// which [`RetrySettings::server_retry`] retries; `attempt` counts the
/// request's attempts so far (1 on the first), for that error. `now_secs`
/// is Unix time, for resets.
pub fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    path: &str,
    attempt: u32,
    now_secs: u64,
) -> Verdict {
    let path = path.to_owned();
    if status.is_success() {
        return Verdict::Ok;
    }
    match status.as_u16() {
        401 => Verdict::Fail(GithubError::Unauthorized { path }),
        403 | 429 => rate_limit(status, headers, path, now_secs),
        404 => Verdict::Fail(GithubError::NotFound { path }),
        s if status.is_server_error() => Verdict::Fail(GithubError::Server {
            status: s,
            path,
            attempts: attempt,
        }),
        s => Verdict::Fail(GithubError::Status { status: s, path }),
    }
}

/// GitHub's documented order: `Retry-After` first (secondary limits), then
/// a spent primary limit (`x-ratelimit-remaining: 0`) waits for
/// `x-ratelimit-reset`; a 429 with neither waits a minute.
fn rate_limit(status: StatusCode, headers: &HeaderMap, path: String, now_secs: u64) -> Verdict {
    if let Some(secs) = header_u64(headers, "retry-after") {
        return Verdict::Retry {
            wait: Duration::from_secs(secs),
            why: RetryReason::SecondaryRateLimit,
        };
    }
    if header_u64(headers, "x-ratelimit-remaining") == Some(0) {
        return Verdict::Retry {
            wait: until_reset(headers, now_secs),
            why: RetryReason::PrimaryRateLimit,
        };
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Verdict::Retry {
            wait: Duration::from_secs(60),
            why: RetryReason::SecondaryRateLimit,
        };
    }
    Verdict::Fail(GithubError::Forbidden { path })
}

/// How long until a spent primary limit resets (`x-ratelimit-reset`, else a
/// minute), one second more since the reset time is rounded down.
pub(super) fn until_reset(headers: &HeaderMap, now_secs: u64) -> Duration {
    let reset = header_u64(headers, "x-ratelimit-reset").unwrap_or(now_secs + 60);
    Duration::from_secs(reset.saturating_sub(now_secs) + 1)
}

pub(super) use infragraph_telemetry::now_secs;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::test_headers as headers;

    #[test]
    fn rate_limits_wait_and_other_errors_fail() {
        let ok = StatusCode::FORBIDDEN;
        let primary = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1100"),
        ]);
        assert!(
            matches!(classify(ok, &primary, "/x", 1, 1000), Verdict::Retry { wait, why: RetryReason::PrimaryRateLimit } if wait == Duration::from_secs(101))
        );
        let secondary = headers(&[("retry-after", "7"), ("x-ratelimit-remaining", "10")]);
        assert!(
            matches!(classify(ok, &secondary, "/x", 1, 1000), Verdict::Retry { wait, why: RetryReason::SecondaryRateLimit } if wait == Duration::from_secs(7))
        );
        let plain = headers(&[("x-ratelimit-remaining", "10")]);
        assert!(matches!(
            classify(ok, &plain, "/x", 1, 1000),
            Verdict::Fail(GithubError::Forbidden { .. })
        ));
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, &plain, "/x", 1, 1000),
            Verdict::Fail(GithubError::Unauthorized { .. })
        ));
        assert!(matches!(
            classify(StatusCode::NOT_FOUND, &plain, "/x", 1, 1000),
            Verdict::Fail(GithubError::NotFound { .. })
        ));
    }

    #[test]
    fn server_errors_back_off_then_give_up() {
        let s = RetrySettings {
            server_attempts: 3,
            backoff: Duration::from_millis(100),
            ..RetrySettings::default()
        };
        let retry = s.server_retry();
        assert_eq!(retry.wait_after(1), Some(Duration::from_millis(100)));
        assert_eq!(retry.wait_after(2), Some(Duration::from_millis(200)));
        assert_eq!(retry.wait_after(3), None, "the third attempt is the last");
        let h = HeaderMap::new();
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, &h, "/x", 3, 0),
            Verdict::Fail(GithubError::Server { attempts: 3, .. })
        ));
    }
}
