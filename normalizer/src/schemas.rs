//! Writer schemas from the schemas topic: every collector publishes the
//! schemas it writes with there, so this normalizer can resolve messages of
//! a newer collector (one that added a property) to its own schemas.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use infragraph_bus::{Bus, BusError, Consumer};
use infragraph_schemas::{Codec, Topics};
use infragraph_telemetry::{StageMetrics, stopped};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a message with an unknown schema waits for that schema to come
/// in from the topic (it is published before the collector's first message,
/// but the two travel separately).
const WAIT_FOR_SCHEMA: Duration = Duration::from_secs(3);

/// Registers every schema on the topic with `codec`, until shutdown. Each
/// instance reads the whole topic, so it consumes in a group of its own.
pub fn follow<B: Bus>(
    bus: &B,
    names: &Topics,
    group: &str,
    codec: Arc<Codec>,
    metrics: StageMetrics,
    mut shutdown: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, BusError> {
    let own_group = format!("{group}-schemas-{}-{}", std::process::id(), unique_suffix());
    let mut consumer = bus.consumer(&own_group, &[names.schemas()])?;
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stopped(&mut shutdown) => return,
                msg = consumer.recv() => match msg {
                    Ok(m) => register(&codec, &m.payload, &metrics),
                    Err(e) => {
                        metrics.failure("schemas topic", &e);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
            }
        }
    }))
}

fn unique_suffix() -> u128 {
    infragraph_telemetry::clock::since_epoch().as_nanos()
}

fn register(codec: &Codec, payload: &[u8], metrics: &StageMetrics) {
    let result = std::str::from_utf8(payload)
        .map_err(|e| e.to_string())
        .and_then(|json| codec.register(json).map_err(|e| e.to_string()));
    match result {
        Ok(fp) => tracing::debug!(
            fingerprint = format!("{fp:016x}"),
            "writer schema registered"
        ),
        Err(e) => metrics.failure("unusable writer schema", &e),
    }
}

/// How long, in all, messages of unknown schemas may hold the stage: a
/// producer sending garbage with plausible headers, or many new
/// fingerprints at once, must not stall everyone else's data by more,
/// whatever it sends and for however long. Only a wait that ends without
/// its schema spends the budget, and nothing refills it: a schema on its
/// way (the schemas topic brings it in milliseconds) costs nothing, so
/// genuine producers keep the wait while garbage exhausts it for good.
/// Once it is spent, a message whose schema is not there yet is
/// dead-lettered at once, with its reason, for replay.
const STALL_BUDGET: Duration = Duration::from_secs(1);

/// Unknown fingerprints already waited for once, and what is left of the
/// stage's budget for waiting in vain.
pub struct Waited {
    seen: HashSet<u64>,
    budget: Duration,
}

impl Default for Waited {
    fn default() -> Self {
        Waited {
            seen: HashSet::new(),
            budget: STALL_BUDGET,
        }
    }
}

impl Waited {
    /// Waits (once per fingerprint, and only while the budget lasts) until
    /// `codec` knows `fingerprint`; true if it does now.
    pub async fn for_schema(&mut self, codec: &Codec, fingerprint: u64) -> bool {
        if codec.knows(fingerprint) {
            return true;
        }
        if !self.seen.insert(fingerprint) {
            return false;
        }
        let allowed = self.budget.min(WAIT_FOR_SCHEMA);
        let started = Instant::now();
        let deadline = started + allowed;
        let mut known = codec.knows(fingerprint);
        while !known && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20).min(allowed)).await;
            known = codec.knows(fingerprint);
        }
        if !known {
            self.budget = self.budget.saturating_sub(started.elapsed());
            tracing::debug!(
                fingerprint = format!("{fingerprint:016x}"),
                waited_ms = started.elapsed().as_millis() as u64,
                budget_left_ms = self.budget.as_millis() as u64,
                "writer schema did not arrive"
            );
        }
        known
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn many_unknown_fingerprints_wait_about_the_budget_in_all() {
        let codec = Codec::builtin();
        let mut waited = Waited::default();
        let started = Instant::now();
        for fp in 0..5u64 {
            assert!(!waited.for_schema(&codec, fp).await);
        }
        let took = started.elapsed();
        assert!(
            took < STALL_BUDGET + Duration::from_millis(500),
            "five unknown schemas held the stage {took:?}"
        );
        assert!(
            took >= STALL_BUDGET.mul_f64(0.9),
            "the first one still waited for its schema: {took:?}"
        );
        assert_eq!(waited.budget, Duration::ZERO, "spent, and it stays spent");
        assert!(!waited.for_schema(&codec, 99).await);
        assert_eq!(waited.budget, Duration::ZERO);
    }

    #[tokio::test]
    async fn a_schema_that_arrives_while_waited_for_costs_nothing() {
        let newer = Codec::new([infragraph_schemas::testing::host_v2()]).expect("a valid schema");
        let (_, fp, json) = newer.schemas().next().expect("its schema");
        let (fp, json) = (fp, json.to_owned());

        let codec = std::sync::Arc::new(Codec::builtin());
        assert!(
            !codec.knows(fp),
            "a fingerprint this codec does not know yet"
        );
        let arriving = codec.clone();
        let registered = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            arriving.register(&json)
        });
        let mut waited = Waited::default();
        assert!(waited.for_schema(&codec, fp).await, "the schema arrived");
        assert_eq!(registered.await.ok().and_then(Result::ok), Some(fp));
        assert_eq!(
            waited.budget, STALL_BUDGET,
            "a wait that found its schema is free"
        );
    }
}
