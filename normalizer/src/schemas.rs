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
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

fn register(codec: &Codec, payload: &[u8], metrics: &StageMetrics) {
    let result = std::str::from_utf8(payload).map_err(|e| e.to_string()).and_then(|json| codec.register(json).map_err(|e| e.to_string()));
    match result {
        Ok(fp) => tracing::debug!(fingerprint = format!("{fp:016x}"), "writer schema registered"),
        Err(e) => metrics.failure("unusable writer schema", &e),
    }
}

/// Unknown fingerprints already waited for once: garbage with a plausible
/// header must not stall the stage every time.
#[derive(Default)]
pub struct Waited(HashSet<u64>);

impl Waited {
    /// Waits (once per fingerprint) until `codec` knows `fingerprint`;
    /// true if it does now.
    pub async fn for_schema(&mut self, codec: &Codec, fingerprint: u64) -> bool {
        if codec.knows(fingerprint) {
            return true;
        }
        if !self.0.insert(fingerprint) {
            return false;
        }
        let deadline = Instant::now() + WAIT_FOR_SCHEMA;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if codec.knows(fingerprint) {
                return true;
            }
        }
        false
    }
}
