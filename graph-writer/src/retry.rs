//! Retrying transient failures: the writer pauses (consumes nothing) and
//! tries again, forever, until it works or shutdown. The pauses are the
//! shared backoff's (`infragraph_telemetry::backoff`).

use std::future::Future;
use std::time::Duration;

use infragraph_telemetry::backoff::{Backoff, Paused, Waits, pause};

/// Doubling pauses from 100 ms up to `max`.
pub fn waits(max: Duration) -> Waits {
    Backoff::new(Duration::from_millis(100).min(max), max).waits()
}

/// The outcome of [`retry`].
pub enum Retried<T, E> {
    Done(T),
    /// A failure that a retry does not fix.
    Failed(E),
    Shutdown,
}

/// After the first failure is logged, at most one line per this long while
/// the failures go on: a database that is down for an hour is reported
/// about 120 times, not at every attempt.
const REPORT_EVERY: Duration = Duration::from_secs(30);

/// Runs `attempt` until it succeeds or fails for a reason `retriable`
/// rejects, pausing between attempts; stops early when `shutdown` resolves.
/// `what` names the operation and what it talks to, for the log: the first
/// failure is logged in full, later ones every [`REPORT_EVERY`], and the
/// recovery once.
pub async fn retry<T, E: std::fmt::Display, F, Fut>(
    what: &str,
    max: Duration,
    retriable: impl Fn(&E) -> bool,
    shutdown: impl Future<Output = ()>,
    mut on_retry: impl FnMut(&E),
    mut attempt: F,
) -> Retried<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    tokio::pin!(shutdown);
    let mut backoff = waits(max);
    let mut failures = 0u64;
    let mut reported: Option<std::time::Instant> = None;
    let started = std::time::Instant::now();
    loop {
        match attempt().await {
            Ok(v) => {
                if failures > 0 {
                    tracing::info!(
                        attempts = failures + 1,
                        "{what} recovered after {}s",
                        started.elapsed().as_secs()
                    );
                }
                return Retried::Done(v);
            }
            Err(e) if retriable(&e) => {
                let wait = backoff.pause();
                failures += 1;
                on_retry(&e);
                match reported {
                    None => tracing::warn!(
                        "{what} failed: {e}; retrying with backoff, up to {}s apart",
                        max.as_secs()
                    ),
                    Some(at) if at.elapsed() >= REPORT_EVERY => {
                        tracing::warn!(
                            attempts = failures,
                            "{what} still failing after {}s: {e}",
                            started.elapsed().as_secs()
                        )
                    }
                    Some(_) => {}
                }
                if reported.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
                    reported = Some(std::time::Instant::now());
                }
                if pause(wait, &mut shutdown).await == Paused::Stopped {
                    return Retried::Shutdown;
                }
            }
            Err(e) => return Retried::Failed(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_ceiling() {
        let mut b = waits(Duration::from_millis(350));
        let got: Vec<u128> = (0..4).map(|_| b.pause().as_millis()).collect();
        assert_eq!(got, vec![100, 200, 350, 350]);
    }
}
