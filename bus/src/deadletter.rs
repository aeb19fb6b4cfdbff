//! The dead-letter topic: where a message no stage can process goes, with
//! its original key and bytes and the reason, so nothing is lost silently
//! and it can be replayed once the cause is fixed.

use crate::{Bus, BusError, Message, OutMessage};

/// Header naming why the message could not be processed.
pub const REASON_HEADER: &str = "infragraph.reason";
/// Header naming the stage that gave up on it.
pub const STAGE_HEADER: &str = "infragraph.stage";
/// Header naming the topic it was read from.
pub const TOPIC_HEADER: &str = "infragraph.topic";
/// Header set, with the original size, when the original was too large for
/// the dead-letter topic and only its key and the reason were kept.
pub const DROPPED_HEADER: &str = "infragraph.payload-dropped";

/// Sends rejected messages of one stage to the dead-letter topic.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    topic: String,
    stage: &'static str,
}

impl DeadLetters {
    pub fn new(topic: impl Into<String>, stage: &'static str) -> Self {
        DeadLetters {
            topic: topic.into(),
            stage,
        }
    }

    /// Publishes `original` with `reason`, waiting for delivery.
    pub async fn send<B: Bus>(
        &self,
        bus: &B,
        original: &Message,
        reason: &str,
    ) -> Result<(), BusError> {
        self.send_raw(
            bus,
            &original.topic,
            original.key.as_deref().unwrap_or_default(),
            &original.payload,
            reason,
        )
        .await
    }

    /// Publishes bytes that never were a bus message (e.g. one change of a
    /// batch the writer had to split), naming where they came from. A
    /// message the dead-letter topic refuses for good (too large for it)
    /// goes without its payload, its size in [`DROPPED_HEADER`]: the reason
    /// must get through, or the stage could neither drop it nor go on.
    pub async fn send_raw<B: Bus>(
        &self,
        bus: &B,
        from_topic: &str,
        key: &[u8],
        payload: &[u8],
        reason: &str,
    ) -> Result<(), BusError> {
        tracing::warn!(
            stage = self.stage,
            topic = from_topic,
            reason,
            "dead-lettered a message"
        );
        let headers: [(&str, &[u8]); 3] = [
            (REASON_HEADER, reason.as_bytes()),
            (STAGE_HEADER, self.stage.as_bytes()),
            (TOPIC_HEADER, from_topic.as_bytes()),
        ];
        let msg = OutMessage {
            topic: &self.topic,
            key,
            payload,
            headers: &headers,
        };
        match bus.publish(msg).await {
            Err(e) if !e.is_retriable() && !payload.is_empty() => {
                tracing::warn!(stage = self.stage, topic = from_topic, bytes = payload.len(), error = %e, "the dead-letter topic refused the message; sending it without its payload");
                let size = payload.len().to_string();
                let headers: [(&str, &[u8]); 4] = [
                    headers[0],
                    headers[1],
                    headers[2],
                    (DROPPED_HEADER, size.as_bytes()),
                ];
                bus.publish(OutMessage {
                    topic: &self.topic,
                    key,
                    payload: &[],
                    headers: &headers,
                })
                .await
                .map(|_| ())
            }
            other => other.map(|_| ()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Consumer, MemoryBus};

    #[tokio::test]
    async fn dead_letters_keep_bytes_key_and_reason() {
        let bus = MemoryBus::new();
        bus.publish(OutMessage::new("in", b"k1", b"\x00garbage"))
            .await
            .unwrap();
        let mut c = bus.consumer("g", &["in".to_owned()]).unwrap();
        let original = c.recv().await.unwrap();
        DeadLetters::new("dlq", "normalizer")
            .send(&bus, &original, "bad magic")
            .await
            .unwrap();
        let dead = &bus.messages("dlq")[0];
        assert_eq!(dead.payload, b"\x00garbage");
        assert_eq!(dead.key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(dead.header(REASON_HEADER), Some(&b"bad magic"[..]));
        assert_eq!(dead.header(STAGE_HEADER), Some(&b"normalizer"[..]));
        assert_eq!(dead.header(TOPIC_HEADER), Some(&b"in"[..]));
    }

    #[tokio::test]
    async fn a_message_too_large_for_the_dead_letter_topic_goes_without_its_payload() {
        let bus = MemoryBus::new();
        bus.limit_message_bytes("dlq", 1000);
        let big = vec![7u8; 5000];
        DeadLetters::new("dlq", "writer")
            .send_raw(&bus, "in", b"k", &big, "too large for the graph")
            .await
            .expect("the reason gets through");
        let dead = &bus.messages("dlq")[0];
        assert!(dead.payload.is_empty());
        assert_eq!(dead.header(DROPPED_HEADER), Some(&b"5000"[..]));
        assert_eq!(
            dead.header(REASON_HEADER),
            Some(&b"too large for the graph"[..])
        );
    }
}
