//! Exponential backoff for transient failures: the writer pauses (consumes
//! nothing) and tries again, forever, until it works or shutdown.

use std::future::Future;
use std::time::Duration;

/// Doubling pauses from 100 ms up to a ceiling.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(max: Duration) -> Self {
        Backoff { next: Duration::from_millis(100).min(max), max }
    }

    /// The pause before the next attempt; each call doubles the following one.
    pub fn pause(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(self.max);
        now
    }
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
    let mut backoff = Backoff::new(max);
    loop {
        match attempt().await {
            Ok(v) => return Retried::Done(v),
            Err(e) if retriable(&e) => {
                let pause = backoff.pause();
                on_retry(&e);
                tracing::warn!(operation = what, error = %e, pause_ms = pause.as_millis() as u64, "transient failure; retrying");
                tokio::select! {
                    biased;
                    () = &mut shutdown => return Retried::Shutdown,
                    () = tokio::time::sleep(pause) => {}
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
        let mut b = Backoff::new(Duration::from_millis(350));
        let got: Vec<u128> = (0..4).map(|_| b.pause().as_millis()).collect();
        assert_eq!(got, vec![100, 200, 350, 350]);
    }
}
