//! What a collector does once before its first sync: make sure its topics
//! exist and publish the writer schemas it encodes with, so any reader can
//! decode its messages (see `schemas/README.md`).

use infragraph_bus::{Bus, OutMessage, TopicLayout};
use infragraph_schemas::Codec;
use infragraph_telemetry::StageMetrics;

use crate::error::SetupError;
use crate::retry::RetryPolicy;

/// The schemas topic key: the fingerprint as 16 lowercase hex digits.
pub fn schema_key(fingerprint: u64) -> String {
    format!("{fingerprint:016x}")
}

/// Creates missing topics and publishes every writer schema of `codec`.
/// Retriable bus errors are retried under `retry`.
pub async fn prepare<B: Bus>(
    bus: &B,
    layout: &TopicLayout,
    codec: &Codec,
    retry: &RetryPolicy,
    metrics: &StageMetrics,
) -> Result<(), SetupError> {
    let topics = layout.specs();
    let schemas_topic = layout.names.schemas();
    retry
        .run(metrics, "ensure_topics", || bus.ensure_topics(&topics))
        .await
        .map_err(SetupError::Topics)?;
    for (kind, fingerprint, json) in codec.schemas() {
        let key = schema_key(fingerprint);
        let msg = OutMessage::new(&schemas_topic, key.as_bytes(), json.as_bytes());
        retry
            .run(metrics, "publish_schema", || bus.publish(msg))
            .await
            .map_err(|source| SetupError::Schema {
                fingerprint,
                source,
            })?;
        tracing::debug!(record = %kind, fingerprint = %key, "published writer schema");
    }
    Ok(())
}
