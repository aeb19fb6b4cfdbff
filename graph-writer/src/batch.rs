//! Gathers consumed messages into batches: up to a count, for at most a
//! time after the first message, and never past a sync barrier (a
//! barrier's cleanup runs only after everything before it is applied).

use std::time::Duration;

use infragraph_bus::{BusError, Consumer, Message};
use infragraph_schemas::{Codec, GraphChange};

/// One consumed message and what it decoded to.
#[derive(Debug, Clone)]
pub struct Item {
    pub message: Message,
    pub change: Result<GraphChange, String>,
}

/// Messages to handle together; at most the last one is a barrier.
#[derive(Debug, Default)]
pub struct Batch {
    pub items: Vec<Item>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether the batch ended at a barrier.
    pub fn barrier(&self) -> Option<&infragraph_schemas::SyncBarrier> {
        match self.items.last().map(|i| &i.change) {
            Some(Ok(GraphChange::SyncBarrier(b))) => Some(b),
            _ => None,
        }
    }
}

/// Why gathering stopped without a batch.
#[derive(Debug)]
pub enum Interrupted {
    Shutdown,
    Bus(BusError),
}

/// Receives the next batch. Waits as long as needed for a first message,
/// then at most `timeout` for more. A retriable bus error after the first
/// message ends the batch early instead of losing what was gathered.
pub async fn next_batch<C: Consumer>(
    consumer: &mut C,
    codec: &Codec,
    max: usize,
    timeout: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<Batch, Interrupted> {
    tokio::pin!(shutdown);
    let first = tokio::select! {
        biased;
        () = &mut shutdown => return Err(Interrupted::Shutdown),
        m = consumer.recv() => m.map_err(Interrupted::Bus)?,
    };
    let mut batch = Batch {
        items: vec![decode(codec, first)],
    };
    let deadline = tokio::time::Instant::now() + timeout;
    while batch.items.len() < max && batch.barrier().is_none() {
        let next = tokio::select! {
            biased;
            () = &mut shutdown => return Err(Interrupted::Shutdown),
            () = tokio::time::sleep_until(deadline) => break,
            m = consumer.recv() => m,
        };
        match next {
            Ok(m) => batch.items.push(decode(codec, m)),
            Err(e) if e.is_retriable() => break,
            Err(e) => return Err(Interrupted::Bus(e)),
        }
    }
    Ok(batch)
}

fn decode(codec: &Codec, message: Message) -> Item {
    let change = codec
        .decode_graph_change(&message.payload)
        .map_err(|e| format!("undecodable graph change: {e}"));
    Item { message, change }
}
