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

/// Runs `attempt` until it succeeds or fails for a reason `retriable`
/// rejects, pausing between attempts; stops early when `shutdown` resolves.
pub async fn retry<T, E: std::fmt::Display, F, Fut>(
    what: &'static str,
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
    loop {
        match attempt().await {
            Ok(v) => return Retried::Done(v),
            Err(e) if retriable(&e) => {
                let wait = backoff.pause();
                on_retry(&e);
                tracing::warn!(operation = what, error = %e, pause_ms = wait.as_millis() as u64, "transient failure; retrying");
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
