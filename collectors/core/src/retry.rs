//! Bounded retries of retriable bus errors, run by the shared retry loop
//! (`infragraph_telemetry::backoff::Retry`). A retry's pause needs no shutdown
//! signal of its own: a stopping collector drops the whole sync, waits
//! included (see [`crate::sync`]).

use std::future::Future;
use std::time::Duration;

use infragraph_bus::BusError;
use infragraph_telemetry::StageMetrics;
use infragraph_telemetry::backoff::{Backoff, Retry};

/// How hard to retry a retriable bus error before giving up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; at least 1.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled after each failure.
    pub initial_backoff: Duration,
    /// Longest single wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// About a minute of retrying (0.2 s doubling to 10 s, 9 attempts): long
    /// enough to ride out a broker restart, short enough that a sync stuck on
    /// a dead bus is reported failed while the operator still cares.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 9,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The shared retry these settings describe.
    pub fn schedule(&self) -> Retry {
        Retry::bounded(
            Backoff::new(self.initial_backoff, self.max_backoff),
            self.max_attempts,
        )
    }

    /// Runs `op` until it succeeds, fails with a non-retriable error, or the
    /// attempts run out. Every failed attempt is logged and counted under
    /// `what`, so a bus that is down is never silent.
    pub async fn run<T, F, Fut>(
        &self,
        metrics: &StageMetrics,
        what: &'static str,
        mut op: F,
    ) -> Result<T, BusError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, BusError>>,
    {
        let mut attempt = 0;
        let outcome = self
            .schedule()
            .run_to_end(
                BusError::is_retriable,
                |e, next| {
                    metrics.failure(what, e);
                    tracing::warn!(operation = what, attempt = next.attempt, max_attempts = self.max_attempts, retry_in_ms = next.wait.as_millis() as u64, error = %e, "bus unavailable, retrying");
                },
                |n| {
                    attempt = n;
                    op()
                },
            )
            .await;
        outcome.inspect_err(|e| {
            metrics.failure(what, e);
            tracing::error!(operation = what, attempt, retriable = e.is_retriable(), error = %e, "bus operation failed, giving up");
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
        };
        let s = p.schedule();
        let waits: Vec<u128> = (1..=5)
            .filter_map(|a| s.wait_after(a))
            .map(|w| w.as_millis())
            .collect();
        assert_eq!(waits, vec![100, 200, 400, 500, 500]);
        assert_eq!(
            s.backoff.wait(60),
            Duration::from_millis(500),
            "no overflow on long outages"
        );
        assert_eq!(s.wait_after(10), None, "the tenth attempt is the last");
    }
}
