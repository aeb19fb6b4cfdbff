//! Changes sent and not yet acknowledged, and the consumed positions they
//! hold back. A position may be committed only once every change sent
//! before it was reached is acknowledged, or a restart would skip changes
//! the bus never took. The stage cuts its positions at each tick and
//! commits a cut as soon as the deliveries ahead of it are in, so it goes
//! on consuming while the producer works: waiting for every delivery at
//! each tick stalled the stage once per tick for a producer round trip.

use std::collections::{HashMap, VecDeque};
use std::future::Future;

use futures::FutureExt;
use infragraph_bus::{BusError, Delivery, Message, Offset};

/// What came of the oldest change in flight.
#[derive(Debug)]
pub enum Delivered {
    Fine,
    /// The bus refused a change of `msg` for good; said once per message,
    /// however many of its changes the bus refuses.
    Refused {
        msg: Message,
        error: BusError,
    },
    /// The delivery failed in a way that concerns more than one message
    /// (a barrier refused, a timeout): the stage stops and resumes from its
    /// last commit.
    Failed(BusError),
}

/// Whether [`InFlight::next`] waits for the oldest delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Until every change in flight is acknowledged.
    All,
    /// Only for what is acknowledged already.
    Done,
}

type Partition = (String, i32);

pub struct InFlight<F> {
    /// Oldest first, each with the sequence number of the message it came
    /// from (none for a barrier).
    deliveries: VecDeque<(F, Option<u64>)>,
    /// Messages some change in flight came from, oldest first, kept so a
    /// refused change can dead-letter the message it came from.
    origins: VecDeque<(u64, Message)>,
    /// The sequence number of the message being handled.
    seq: u64,
    /// Deliveries pushed and resolved, ever.
    sent: u64,
    acked: u64,
    /// Positions reached when `sent` was the first number, oldest first.
    cuts: VecDeque<(u64, Vec<Offset>)>,
    /// Positions whose deliveries are all in, not yet committed.
    ready: HashMap<Partition, i64>,
    /// The last position committed per partition, so an idle partition is
    /// not committed again at every tick.
    committed: HashMap<Partition, i64>,
    refused: Option<u64>,
}

impl<F> Default for InFlight<F> {
    fn default() -> Self {
        InFlight {
            deliveries: VecDeque::new(),
            origins: VecDeque::new(),
            seq: 0,
            sent: 0,
            acked: 0,
            cuts: VecDeque::new(),
            ready: HashMap::new(),
            committed: HashMap::new(),
            refused: None,
        }
    }
}

impl<F> InFlight<F>
where
    F: Future<Output = Result<Delivery, BusError>> + Unpin,
{
    /// The origin to give the changes of the message being handled.
    pub fn origin(&self) -> u64 {
        self.seq
    }

    pub fn push(&mut self, delivery: F, origin: Option<u64>) {
        self.deliveries.push_back((delivery, origin));
        self.sent += 1;
    }

    /// The message being handled is done: it is kept while changes of it
    /// are in flight.
    pub fn handled(&mut self, msg: Message) {
        if self
            .deliveries
            .back()
            .is_some_and(|(_, o)| *o == Some(self.seq))
        {
            self.origins.push_back((self.seq, msg));
        }
        self.seq += 1;
    }

    pub fn len(&self) -> usize {
        self.deliveries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deliveries.is_empty()
    }

    /// Positions reached now: committable once everything sent so far is in.
    pub fn cut(&mut self, positions: Vec<Offset>) {
        if self.sent <= self.acked {
            self.hold(positions);
        } else {
            self.cuts.push_back((self.sent, positions));
        }
    }

    /// The outcome of the oldest delivery, once it is known (`Wait::All`)
    /// or if it already is (`Wait::Done`); `None` when there is none to give.
    pub async fn next(&mut self, wait: Wait) -> Option<Delivered> {
        let (delivery, _) = self.deliveries.front_mut()?;
        let outcome = match wait {
            Wait::All => delivery.await,
            Wait::Done => delivery.now_or_never()?,
        };
        let (_, origin) = self.deliveries.pop_front()?;
        self.acked += 1;
        while let Some((_, positions)) = self.cuts.pop_front_if(|(at, _)| *at <= self.acked) {
            self.hold(positions);
        }
        if let Some(o) = origin {
            while self.origins.pop_front_if(|(s, _)| *s < o).is_some() {}
        }
        Some(self.judge(outcome, origin))
    }

    fn judge(&mut self, outcome: Result<Delivery, BusError>, origin: Option<u64>) -> Delivered {
        let error = match outcome {
            Ok(_) => return Delivered::Fine,
            Err(e) => e,
        };
        let Some(o) = origin.filter(|_| !error.is_retriable()) else {
            return Delivered::Failed(error);
        };
        if self.refused == Some(o) {
            return Delivered::Fine;
        }
        match self.origins.front().filter(|(s, _)| *s == o) {
            Some((_, msg)) => {
                self.refused = Some(o);
                Delivered::Refused {
                    msg: msg.clone(),
                    error,
                }
            }
            None => Delivered::Failed(error),
        }
    }

    /// Positions to commit: every change before them is acknowledged and
    /// they moved since the last commit.
    pub fn committable(&mut self) -> Vec<Offset> {
        let committed = &self.committed;
        self.ready
            .drain()
            .filter(|(k, next)| committed.get(k) != Some(next))
            .map(|((topic, partition), next)| Offset {
                topic,
                partition,
                next,
            })
            .collect()
    }

    pub fn committed(&mut self, offsets: &[Offset]) {
        for o in offsets {
            self.committed
                .insert((o.topic.clone(), o.partition), o.next);
        }
    }

    /// Positions whose commit failed, for the next commit to carry.
    pub fn restore(&mut self, offsets: Vec<Offset>) {
        self.hold(offsets);
    }

    fn hold(&mut self, positions: Vec<Offset>) {
        for o in positions {
            let next = self.ready.entry((o.topic, o.partition)).or_insert(o.next);
            *next = (*next).max(o.next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::channel::oneshot;

    /// A delivery the test resolves when it likes.
    struct Later(oneshot::Receiver<Result<Delivery, BusError>>);

    impl Future for Later {
        type Output = Result<Delivery, BusError>;
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Self::Output> {
            std::pin::Pin::new(&mut self.0)
                .poll(cx)
                .map(|r| r.unwrap_or(Err(BusError::Closed)))
        }
    }

    fn later() -> (oneshot::Sender<Result<Delivery, BusError>>, Later) {
        let (tx, rx) = oneshot::channel();
        (tx, Later(rx))
    }

    const OK: Delivery = Delivery {
        partition: 0,
        offset: 0,
    };

    fn at(partition: i32, next: i64) -> Offset {
        Offset {
            topic: "obs".into(),
            partition,
            next,
        }
    }

    fn msg(offset: i64) -> Message {
        Message {
            topic: "obs".into(),
            partition: 0,
            offset,
            key: None,
            payload: vec![],
            headers: vec![],
            timestamp_ms: None,
        }
    }

    fn refused() -> BusError {
        BusError::Delivery {
            topic: "changes".into(),
            reason: "too large".into(),
            retriable: false,
        }
    }

    #[tokio::test]
    async fn a_position_waits_for_the_deliveries_sent_before_it() {
        let mut f = InFlight::default();
        let (first, d) = later();
        f.push(d, Some(f.origin()));
        f.handled(msg(0));
        f.cut(vec![at(0, 1)]);
        let (second, d) = later();
        f.push(d, Some(f.origin()));
        f.handled(msg(1));
        f.cut(vec![at(0, 2)]);
        assert!(f.next(Wait::Done).await.is_none(), "nothing is in yet");
        assert!(f.committable().is_empty());
        first.send(Ok(OK)).unwrap();
        assert!(matches!(f.next(Wait::Done).await, Some(Delivered::Fine)));
        assert!(f.next(Wait::Done).await.is_none());
        assert_eq!(f.committable(), vec![at(0, 1)], "only the first cut");
        second.send(Ok(OK)).unwrap();
        assert!(matches!(f.next(Wait::All).await, Some(Delivered::Fine)));
        assert_eq!(f.committable(), vec![at(0, 2)]);
    }

    #[tokio::test]
    async fn a_position_with_nothing_in_flight_is_ready_at_once_and_committed_once() {
        let mut f = InFlight::<Later>::default();
        f.handled(msg(0));
        f.cut(vec![at(3, 9)]);
        let got = f.committable();
        assert_eq!(got, vec![at(3, 9)]);
        f.committed(&got);
        f.cut(vec![at(3, 9)]);
        assert!(f.committable().is_empty(), "unchanged since its commit");
        f.cut(vec![at(3, 8)]);
        f.restore(vec![at(3, 12)]);
        assert_eq!(f.committable(), vec![at(3, 12)], "the furthest position");
    }

    #[tokio::test]
    async fn a_refused_change_names_its_message_once() {
        let mut f = InFlight::default();
        let origin = f.origin();
        for _ in 0..2 {
            let (tx, d) = later();
            tx.send(Err(refused())).unwrap();
            f.push(d, Some(origin));
        }
        f.handled(msg(7));
        match f.next(Wait::All).await {
            Some(Delivered::Refused { msg, .. }) => assert_eq!(msg.offset, 7),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(matches!(f.next(Wait::All).await, Some(Delivered::Fine)));
        assert!(f.is_empty());
    }

    #[tokio::test]
    async fn a_refused_barrier_or_a_timeout_stops_the_stage() {
        let mut f = InFlight::default();
        let (tx, d) = later();
        tx.send(Err(refused())).unwrap();
        f.push(d, None);
        let origin = f.origin();
        let (tx, d) = later();
        tx.send(Err(BusError::Delivery {
            topic: "changes".into(),
            reason: "timed out".into(),
            retriable: true,
        }))
        .unwrap();
        f.push(d, Some(origin));
        f.handled(msg(1));
        assert!(matches!(
            f.next(Wait::All).await,
            Some(Delivered::Failed(_))
        ));
        assert!(matches!(
            f.next(Wait::All).await,
            Some(Delivered::Failed(_))
        ));
    }
}
