//! Gathers consumed messages into batches: up to a count, for at most a
//! time after the first message. A batch may hold many sync barriers (a
//! fleet closes hundreds of syncs a second, so one batch per barrier would
//! cap the writer at a few dozen syncs a second); the writer runs their
//! cleanups after the whole batch is applied. Once a barrier is in, the
//! batch takes only what has already arrived: an idle pipeline's sync is
//! applied at once, a busy one's batches grow.

use std::time::Duration;

use infragraph_bus::{BusError, Consumer, Message};
use infragraph_schemas::{Codec, GraphChange, SyncBarrier};

/// One consumed message and what it decoded to.
#[derive(Debug, Clone)]
pub struct Item {
    pub message: Message,
    pub change: Result<GraphChange, String>,
}

impl Item {
    /// The barrier this item is, if it is one.
    pub fn barrier(&self) -> Option<&SyncBarrier> {
        match &self.change {
            Ok(GraphChange::SyncBarrier(b)) => Some(b),
            _ => None,
        }
    }
}

/// Messages to handle together, barriers among them.
#[derive(Debug, Default)]
pub struct Batch {
    pub items: Vec<Item>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The batch's barriers with their items, in log order.
    pub fn barriers(&self) -> impl Iterator<Item = (&SyncBarrier, &Item)> {
        self.items.iter().filter_map(|i| Some((i.barrier()?, i)))
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
    let mut deadline = tokio::time::Instant::now() + timeout;
    while batch.items.len() < max {
        if batch.items.last().is_some_and(|i| i.barrier().is_some()) {
            deadline = deadline.min(tokio::time::Instant::now());
        }
        // Receiving comes before the deadline, so what has already
        // arrived joins the batch even once the deadline is due.
        let next = tokio::select! {
            biased;
            () = &mut shutdown => return Err(Interrupted::Shutdown),
            m = consumer.recv() => m,
            () = tokio::time::sleep_until(deadline) => break,
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
