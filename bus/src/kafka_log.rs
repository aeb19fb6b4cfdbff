//! librdkafka's own log and error callbacks, routed through `tracing` and
//! throttled: a broker that is not there makes librdkafka report the same
//! failure several times a second, for as long as it lasts. Each kind of
//! report is logged once, then at most once per [`WINDOW`] with a count of
//! what was held back; a broker out of reach or refusing the credentials
//! gets one line that says where, what was tried and what to check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Reports of one kind after the first: at most one per window.
pub const WINDOW: Duration = Duration::from_secs(30);

/// Where a report stands: when it was last logged, how many were held back.
#[derive(Debug, Clone, Copy)]
struct Seen {
    logged: Instant,
    held: u64,
}

/// The throttle shared by every client of one bus.
#[derive(Debug, Default)]
pub struct Throttle {
    seen: Mutex<HashMap<String, Seen>>,
}

impl Throttle {
    /// Whether a report of `kind` is logged now; `Some(n)`: yes, with `n`
    /// like it held back since the last one.
    pub fn admit(&self, kind: &str, now: Instant) -> Option<u64> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        match seen.get_mut(kind) {
            Some(s) if now.duration_since(s.logged) < WINDOW => {
                s.held += 1;
                None
            }
            Some(s) => {
                let held = std::mem::take(&mut s.held);
                s.logged = now;
                Some(held)
            }
            None => {
                seen.insert(
                    kind.to_owned(),
                    Seen {
                        logged: now,
                        held: 0,
                    },
                );
                Some(0)
            }
        }
    }
}

/// The client context of every Kafka client infragraph makes.
#[derive(Clone)]
pub struct LogContext {
    brokers: Arc<str>,
    throttle: Arc<Throttle>,
}

impl LogContext {
    pub fn new(brokers: &str) -> Self {
        LogContext {
            brokers: Arc::from(brokers),
            throttle: Arc::new(Throttle::default()),
        }
    }
}

fn held_note(held: u64) -> String {
    if held == 0 {
        String::new()
    } else {
        format!(" ({held} more like it in the last {}s)", WINDOW.as_secs())
    }
}

/// Failures that mean the broker cannot be reached at all.
fn unreachable(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        code,
        AllBrokersDown | BrokerTransportFailure | Resolve | MessageTimedOut
    )
}

/// Failures that mean the broker refused who we are.
fn refused(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        code,
        Authentication
            | SaslAuthenticationFailed
            | ClusterAuthorizationFailed
            | TopicAuthorizationFailed
            | GroupAuthorizationFailed
            | SSL
    )
}

impl ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        // A failed connection is also reported to `error` below, which says
        // it in full; its raw line is only for debugging.
        let level = if fac == "FAIL" {
            RDKafkaLogLevel::Debug
        } else {
            level
        };
        let Some(held) = self.throttle.admit(&format!("log {fac}"), Instant::now()) else {
            return;
        };
        let held = held_note(held);
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", facility = fac, "{message}{held}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(target: "librdkafka", facility = fac, "{message}{held}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility = fac, "{message}{held}")
            }
            RDKafkaLogLevel::Debug => {
                tracing::debug!(target: "librdkafka", facility = fac, "{message}{held}")
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        let brokers = &self.brokers;
        if code.is_some_and(unreachable) {
            let Some(held) = self.throttle.admit("unreachable", Instant::now()) else {
                return;
            };
            tracing::error!(
                target: "librdkafka",
                "cannot reach Kafka at {brokers} ({reason}): tried the bootstrap servers given by --kafka-brokers \
                 (INFRAGRAPH_KAFKA_BROKERS); check that a broker runs there and that this is an address it advertises \
                 (advertised.listeners). Retrying{}",
                held_note(held)
            );
        } else if code.is_some_and(refused) {
            let Some(held) = self.throttle.admit("refused", Instant::now()) else {
                return;
            };
            tracing::error!(
                target: "librdkafka",
                "Kafka at {brokers} refused the credentials ({reason}): check the security settings \
                 (-X security.protocol, sasl.mechanism, sasl.username, …, or INFRAGRAPH_KAFKA_X_* variables){}",
                held_note(held)
            );
        } else if let Some(held) = self
            .throttle
            .admit(&format!("error {error}"), Instant::now())
        {
            tracing::error!(target: "librdkafka", "{error}: {reason}{}", held_note(held));
        }
    }
}

impl ConsumerContext for LogContext {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_report_is_logged_once_per_window_with_a_count() {
        let t = Throttle::default();
        let start = Instant::now();
        assert_eq!(t.admit("x", start), Some(0));
        for i in 1..=100 {
            assert_eq!(t.admit("x", start + Duration::from_millis(i * 100)), None);
        }
        assert_eq!(
            t.admit("y", start),
            Some(0),
            "another kind has its own count"
        );
        assert_eq!(
            t.admit("x", start + WINDOW + Duration::from_secs(1)),
            Some(100)
        );
    }
}
