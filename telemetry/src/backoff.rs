//! The one backoff every stage waits by: doubling pauses up to a ceiling,
//! each pause cut short by shutdown, so no retry, however long, holds a
//! stopping process; and the one retry loop ([`Retry::run`]), so what is
//! retried, how often and for how long is said by each caller and counted
//! in one place.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// Doubling waits between attempts: `first`, `2 × first`, … up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    pub const fn new(first: Duration, max: Duration) -> Self {
        Backoff { first, max }
    }

    /// The wait after failed attempt `attempt` (1-based); no overflow
    /// however long an outage lasts.
    pub fn wait(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(31));
        self.first.saturating_mul(factor).min(self.max)
    }

    /// The waits in order, for loops that keep their own count.
    pub fn waits(&self) -> Waits {
        Waits {
            backoff: *self,
            attempt: 0,
        }
    }
}

/// The successive waits of one [`Backoff`].
#[derive(Debug, Clone)]
pub struct Waits {
    backoff: Backoff,
    attempt: u32,
}

impl Waits {
    /// The next pause; each call doubles the following one, to the ceiling.
    pub fn pause(&mut self) -> Duration {
        self.attempt = self.attempt.saturating_add(1);
        self.backoff.wait(self.attempt)
    }
}

/// How hard to retry one operation: the pauses between attempts and, if
/// bounded, how many attempts in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub backoff: Backoff,
    /// Attempts in all, the first included (one is always made); `None`
    /// retries until success, a failure not worth retrying, or stop.
    pub max_attempts: Option<u32>,
}

/// A failed attempt that is about to be retried: which one it was
/// (1-based) and the pause before the next, for logs and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retrying {
    pub attempt: u32,
    pub wait: Duration,
}

/// How a retried operation ended. `S` is what the stop signal resolved
/// with; [`Retry::run_to_end`], whose stop never comes, has no `Stopped`.
#[derive(Debug, PartialEq, Eq)]
pub enum Retried<T, E, S = ()> {
    Done(T),
    /// A failure not worth retrying, or the last attempt allowed.
    Failed(E),
    /// The stop signal came during a pause.
    Stopped(S),
}

impl Retry {
    /// Retries for as long as it takes.
    pub const fn forever(backoff: Backoff) -> Self {
        Retry {
            backoff,
            max_attempts: None,
        }
    }

    /// At most `max_attempts` attempts in all (at least one).
    pub const fn bounded(backoff: Backoff, max_attempts: u32) -> Self {
        Retry {
            backoff,
            max_attempts: Some(max_attempts),
        }
    }

    /// The pause after failed attempt `attempt` (1-based), or `None` when
    /// it was the last one allowed.
    pub fn wait_after(&self, attempt: u32) -> Option<Duration> {
        match self.max_attempts {
            Some(max) if attempt >= max.max(1) => None,
            _ => Some(self.backoff.wait(attempt)),
        }
    }

    /// Runs `op` (given the attempt's number, 1-based) until it succeeds,
    /// fails in a way `retriable` rejects, or the attempts run out; calls
    /// `on_retry` before each pause. A pause ends early, and the whole run
    /// with it, when `stop` resolves.
    pub async fn run<T, E, S, Fut>(
        &self,
        stop: impl Future<Output = S>,
        retriable: impl Fn(&E) -> bool,
        mut on_retry: impl FnMut(&E, Retrying),
        mut op: impl FnMut(u32) -> Fut,
    ) -> Retried<T, E, S>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        tokio::pin!(stop);
        let mut attempt = 1;
        loop {
            let e = match op(attempt).await {
                Ok(v) => return Retried::Done(v),
                Err(e) => e,
            };
            let wait = match self.wait_after(attempt) {
                Some(wait) if retriable(&e) => wait,
                _ => return Retried::Failed(e),
            };
            on_retry(&e, Retrying { attempt, wait });
            tokio::select! {
                biased;
                s = &mut stop => return Retried::Stopped(s),
                () = tokio::time::sleep(wait) => {}
            }
            attempt = attempt.saturating_add(1);
        }
    }

    /// [`Retry::run`] with no stop signal, for callers whose shutdown drops
    /// the whole operation, its pauses included.
    pub async fn run_to_end<T, E, Fut>(
        &self,
        retriable: impl Fn(&E) -> bool,
        on_retry: impl FnMut(&E, Retrying),
        op: impl FnMut(u32) -> Fut,
    ) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let never = std::future::pending::<Infallible>();
        match self.run(never, retriable, on_retry, op).await {
            Retried::Done(v) => Ok(v),
            Retried::Failed(e) => Err(e),
        }
    }
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paused {
    Elapsed,
    Stopped,
}

/// Sleeps `d` unless `stop` resolves first.
pub async fn pause(d: Duration, stop: impl Future<Output = ()>) -> Paused {
    tokio::select! {
        biased;
        () = stop => Paused::Stopped,
        () = tokio::time::sleep(d) => Paused::Elapsed,
    }
}

/// Resolves once `shutdown` turns true or its sender is gone, without
/// borrowing the caller's receiver (so a wait can hold its own clone).
pub fn stop_signal(shutdown: &watch::Receiver<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut rx = shutdown.clone();
    async move { crate::lifecycle::stopped(&mut rx).await }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_ceiling() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let waits: Vec<u128> = (1..=5).map(|a| b.wait(a).as_millis()).collect();
        assert_eq!(waits, vec![100, 200, 400, 500, 500]);
        assert_eq!(
            b.wait(u32::MAX),
            Duration::from_millis(500),
            "no overflow on long outages"
        );
        let mut w = b.waits();
        assert_eq!(
            [w.pause(), w.pause()],
            [Duration::from_millis(100), Duration::from_millis(200)]
        );
    }

    #[test]
    fn bounded_retries_stop_at_the_last_attempt() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let r = Retry::bounded(b, 3);
        assert_eq!(
            [r.wait_after(1), r.wait_after(2), r.wait_after(3)],
            [
                Some(Duration::from_millis(100)),
                Some(Duration::from_millis(200)),
                None
            ]
        );
        assert_eq!(
            Retry::bounded(b, 0).wait_after(1),
            None,
            "one attempt at least"
        );
        assert_eq!(
            Retry::forever(b).wait_after(u32::MAX),
            Some(Duration::from_millis(500))
        );
    }

    #[tokio::test]
    async fn a_run_retries_only_what_is_retriable_and_counts_attempts() {
        let r = Retry::bounded(
            Backoff::new(Duration::from_millis(10), Duration::from_millis(10)),
            4,
        );
        let mut seen = Vec::new();
        let out: Result<u32, &str> = r
            .run_to_end(
                |e| *e == "transient",
                |_, next| seen.push(next.attempt),
                |attempt| async move {
                    if attempt < 3 {
                        Err("transient")
                    } else {
                        Ok(attempt)
                    }
                },
            )
            .await;
        assert_eq!(out, Ok(3));
        assert_eq!(seen, vec![1, 2]);
        let fatal: Result<(), &str> = r
            .run_to_end(|e| *e == "transient", |_, _| {}, |_| async { Err("fatal") })
            .await;
        assert_eq!(fatal, Err("fatal"), "not retried");
        let mut tries = 0;
        let spent: Result<(), &str> = r
            .run_to_end(
                |_| true,
                |_, _| {},
                |attempt| {
                    tries = attempt;
                    async { Err("transient") }
                },
            )
            .await;
        assert_eq!((spent, tries), (Err("transient"), 4));
    }

    #[tokio::test]
    async fn a_run_ends_at_once_on_shutdown() {
        let (tx, rx) = watch::channel(false);
        let r = Retry::forever(Backoff::new(
            Duration::from_secs(3600),
            Duration::from_secs(3600),
        ));
        let running = tokio::spawn(async move {
            r.run(
                stop_signal(&rx),
                |_| true,
                |_, _| {},
                |_| async { Err::<(), _>(()) },
            )
            .await
        });
        tx.send(true).expect("the receiver is alive");
        let ended = tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("the run ends")
            .expect("the task");
        assert_eq!(ended, Retried::Stopped(()));
    }

    #[tokio::test]
    async fn a_pause_ends_at_once_on_shutdown() {
        let (tx, rx) = watch::channel(false);
        let waiting = tokio::spawn(pause(Duration::from_secs(3600), stop_signal(&rx)));
        tx.send(true).expect("the receiver is alive");
        let ended = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the pause ends")
            .expect("the task");
        assert_eq!(ended, Paused::Stopped);
    }
}
