//! How the writer retries transient failures: it pauses (consumes nothing)
//! and tries again, forever, until it works or shutdown. The loop and its
//! pauses are the shared ones (`infragraph_telemetry::backoff::Retry`);
//! what is the writer's own is the pace and how a long outage is reported.

use std::future::Future;
use std::time::{Duration, Instant};

use infragraph_telemetry::backoff::{Backoff, Retry};

pub use infragraph_telemetry::backoff::Retried;

/// Doubling pauses from 100 ms up to `max`, for as long as it takes.
pub fn schedule(max: Duration) -> Retry {
    Retry::forever(Backoff::new(Duration::from_millis(100).min(max), max))
}

/// After the first failure is logged, at most one line per this long while
/// the failures go on: a database that is down for an hour is reported
/// about 120 times, not at every attempt.
const REPORT_EVERY: Duration = Duration::from_secs(30);

/// Runs `attempt` under [`schedule`] until it succeeds or fails for a
/// reason `retriable` rejects; stops early when `shutdown` resolves.
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
    let mut report = Report::new(what, max);
    let outcome = schedule(max)
        .run(
            shutdown,
            retriable,
            |e, _| {
                on_retry(e);
                report.failed(e);
            },
            |_| attempt(),
        )
        .await;
    if let Retried::Done(_) = outcome {
        report.recovered();
    }
    outcome
}

/// The log of one retried operation's failures, kept sparse.
struct Report<'a> {
    what: &'a str,
    max: Duration,
    started: Instant,
    failures: u64,
    reported: Option<Instant>,
}

impl<'a> Report<'a> {
    fn new(what: &'a str, max: Duration) -> Self {
        Report {
            what,
            max,
            started: Instant::now(),
            failures: 0,
            reported: None,
        }
    }

    fn failed(&mut self, e: &impl std::fmt::Display) {
        let what = self.what;
        self.failures += 1;
        match self.reported {
            None => tracing::warn!(
                "{what} failed: {e}; retrying with backoff, up to {}s apart",
                self.max.as_secs()
            ),
            Some(at) if at.elapsed() >= REPORT_EVERY => tracing::warn!(
                attempts = self.failures,
                "{what} still failing after {}s: {e}",
                self.started.elapsed().as_secs()
            ),
            Some(_) => return,
        }
        self.reported = Some(Instant::now());
    }

    fn recovered(&self) {
        if self.failures > 0 {
            tracing::info!(
                attempts = self.failures + 1,
                "{} recovered after {}s",
                self.what,
                self.started.elapsed().as_secs()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_ceiling() {
        let mut b = schedule(Duration::from_millis(350)).backoff.waits();
        let got: Vec<u128> = (0..4).map(|_| b.pause().as_millis()).collect();
        assert_eq!(got, vec![100, 200, 350, 350]);
    }
}
