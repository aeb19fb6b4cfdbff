//! The one backoff every stage waits by: doubling pauses up to a ceiling,
//! each pause cut short by shutdown, so no retry, however long, holds a
//! stopping process.

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
