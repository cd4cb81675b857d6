//! A turn as its owner sees it: its [`EventStream`]s (fed through the outlets of its routed
//! state, [`turn_state`](crate::turn_state)) and the requests that steer or stop it.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::frame::Notification;
use crate::input::Input;
use crate::lock::lock;
use crate::turn_state::{TurnEnd, TurnResult, TurnShared};
use crate::wake_batch;

/// A stream of one turn's events (or of the whole session's notifications).
pub struct EventStream {
    rx: mpsc::UnboundedReceiver<Arc<Notification>>,
    end: StreamEnd,
    /// The consumer's last waker and the deferrable one registered for it (rebuilt only when
    /// the consumer's changes): see [`wake_batch`](crate::wake_batch).
    waker: Option<(Waker, Waker)>,
    /// Events taken from the channel beyond a batch's byte limit: the next batch starts here.
    carry: Vec<Arc<Notification>>,
    /// The connection's burst gate: see [`wake_batch`](crate::wake_batch).
    burst: Arc<wake_batch::Burst>,
}

enum StreamEnd {
    Turn(Arc<TurnShared>),
    Connection(Connection),
}

impl EventStream {
    pub(crate) fn for_turn(
        rx: mpsc::UnboundedReceiver<Arc<Notification>>,
        turn: Arc<TurnShared>,
        conn: &Connection,
    ) -> Self {
        Self::new(rx, StreamEnd::Turn(turn), Arc::clone(&conn.inner.burst))
    }

    pub(crate) fn for_connection(
        rx: mpsc::UnboundedReceiver<Arc<Notification>>,
        conn: Connection,
    ) -> Self {
        let burst = Arc::clone(&conn.inner.burst);
        Self::new(rx, StreamEnd::Connection(conn), burst)
    }

    fn new(
        rx: mpsc::UnboundedReceiver<Arc<Notification>>,
        end: StreamEnd,
        burst: Arc<wake_batch::Burst>,
    ) -> Self {
        EventStream {
            rx,
            end,
            waker: None,
            carry: Vec::new(),
            burst,
        }
    }

    /// Waits for at least one event, then takes every event already queued (up to `max`).
    /// `Ok(None)` once the stream has ended normally; the error once it ended abnormally,
    /// always after every event received before the end.
    pub async fn next_batch(&mut self, max: usize) -> Result<Option<Vec<Arc<Notification>>>> {
        std::future::poll_fn(|cx| self.poll_batch(cx, max)).await
    }

    /// [`next_batch`](Self::next_batch) with the byte limit of
    /// [`poll_batch_within`](Self::poll_batch_within).
    pub async fn next_batch_within(
        &mut self,
        max_events: usize,
        max_bytes: usize,
    ) -> Result<Option<Vec<Arc<Notification>>>> {
        std::future::poll_fn(|cx| self.poll_batch_within(cx, max_events, max_bytes)).await
    }

    /// [`next_batch`](Self::next_batch) as a poll, for consumers that are not tasks: `Pending`
    /// registers `cx`'s waker, which the next event (or the end) wakes, from whichever thread
    /// delivers it. Needs no runtime. The reader wakes it once per burst of frames, not per
    /// event.
    pub fn poll_batch(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
    ) -> Poll<Result<Option<Vec<Arc<Notification>>>>> {
        self.poll_batch_within(cx, max, usize::MAX)
    }

    /// [`poll_batch`](Self::poll_batch), stopping before the frames of a batch would exceed
    /// `max_bytes` (a batch always has at least one event). The rest waits for the next batch.
    pub fn poll_batch_within(
        &mut self,
        cx: &mut Context<'_>,
        max_events: usize,
        max_bytes: usize,
    ) -> Poll<Result<Option<Vec<Arc<Notification>>>>> {
        let max_events = max_events.max(1);
        let mut batch = std::mem::take(&mut self.carry);
        if batch.is_empty() {
            let consumer = cx.waker();
            // A few events of a burst still being routed: wait for the rest (its end wakes).
            let queued = self.rx.len();
            if queued > 0
                && queued < wake_batch::EAGER_FROM_EVENTS
                && self.burst.wait_for_end(consumer)
            {
                return Poll::Pending;
            }
            let deferrable = match &self.waker {
                Some((last, deferrable)) if last.will_wake(consumer) => deferrable,
                _ => {
                    let deferrable = wake_batch::deferrable(consumer);
                    &self.waker.insert((consumer.clone(), deferrable)).1
                }
            };
            let mut cx = Context::from_waker(deferrable);
            match self.rx.poll_recv_many(&mut cx, &mut batch, max_events) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(0) => {
                    return Poll::Ready(match self.end_error() {
                        Some(e) => Err(e),
                        None => Ok(None),
                    })
                }
                Poll::Ready(_) => {}
            }
        }
        self.carry = split_at_bytes(&mut batch, max_events, max_bytes);
        Poll::Ready(Ok(Some(batch)))
    }

    /// Takes what is queued now without waiting.
    pub fn try_batch(&mut self, max: usize) -> Vec<Arc<Notification>> {
        let mut batch = std::mem::take(&mut self.carry);
        if batch.len() > max {
            self.carry = batch.split_off(max);
        }
        while batch.len() < max {
            match self.rx.try_recv() {
                Ok(n) => batch.push(n),
                Err(_) => break,
            }
        }
        batch
    }

    fn end_error(&self) -> Option<Error> {
        match &self.end {
            StreamEnd::Turn(t) => t.end_error(),
            StreamEnd::Connection(c) => match c.closed_error() {
                Some(Error::SessionClosed) | None => None,
                Some(e) => Some(e),
            },
        }
    }
}

/// Cuts `batch` after at most `max_events` events whose frames fit in `max_bytes` (at least
/// one event), returning the rest.
fn split_at_bytes(
    batch: &mut Vec<Arc<Notification>>,
    max_events: usize,
    max_bytes: usize,
) -> Vec<Arc<Notification>> {
    let mut bytes = 0usize;
    let mut keep = 0;
    for n in batch.iter().take(max_events) {
        bytes = bytes.saturating_add(n.raw.len());
        if keep > 0 && bytes > max_bytes {
            break;
        }
        keep += 1;
    }
    if keep < batch.len() {
        batch.split_off(keep)
    } else {
        Vec::new()
    }
}

/// A running turn.
pub struct Turn {
    pub(crate) shared: Arc<TurnShared>,
    pub(crate) conn: Connection,
    events: Mutex<Option<EventStream>>,
}

impl Turn {
    pub(crate) fn new(shared: Arc<TurnShared>, conn: Connection, events: EventStream) -> Self {
        Turn {
            shared,
            conn,
            events: Mutex::new(Some(events)),
        }
    }

    pub fn id(&self) -> &str {
        &self.shared.turn_id
    }

    pub fn thread_id(&self) -> &str {
        &self.shared.thread_id
    }

    /// The turn's event stream, buffered since the turn started. It has one consumer:
    /// the second call returns `None`.
    pub fn take_events(&self) -> Option<EventStream> {
        lock(&self.events).take()
    }

    /// Drops the buffered stream (when nobody is going to read it), so events are not kept.
    pub fn discard_events(&self) {
        lock(&self.events).take();
    }

    pub fn is_finished(&self) -> bool {
        self.shared.is_finished()
    }

    /// Waits for the turn to end. A timeout only stops waiting; the turn goes on and a later
    /// call still gets the result.
    pub async fn result(&self, timeout: Option<Duration>) -> Result<Arc<TurnResult>> {
        self.shared.result(timeout).await
    }

    /// [`Turn::result`] without its items and text, for a consumer that read them from the
    /// stream already (the binding's `result()` after a consumed stream). Same waiting and errors.
    pub async fn result_end(&self, timeout: Option<Duration>) -> Result<TurnEnd> {
        self.shared.result_end(timeout).await
    }

    /// Asks the server to stop the turn; it then completes with status `interrupted`.
    /// The server ignores an interrupt that comes before it has announced the turn, so this
    /// first waits for `turn/started`; on a turn that has already ended it does nothing.
    pub async fn interrupt(&self) -> Result<()> {
        self.shared.started().await;
        if self.shared.server_done() {
            return Ok(());
        }
        let params = serde_json::json!({ "threadId": self.thread_id(), "turnId": self.id() });
        self.conn
            .request("turn/interrupt", &params, None)
            .await
            .map(drop)
    }

    /// Adds input to the running turn.
    pub async fn steer(&self, input: Input) -> Result<()> {
        let params = serde_json::json!({
            "threadId": self.thread_id(),
            "expectedTurnId": self.id(),
            "input": input.into_items()?,
        });
        self.conn
            .request("turn/steer", &params, None)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{decode, Incoming};
    use crate::wake_batch::CountWakes;

    fn counter() -> (Arc<CountWakes>, Waker) {
        let count = Arc::new(CountWakes::default());
        (Arc::clone(&count), Waker::from(count))
    }

    fn event(i: usize) -> Arc<Notification> {
        let frame = format!(
            r#"{{"method":"item/agentMessage/delta","params":{{"threadId":"t","turnId":"a","delta":"{i}"}}}}"#
        );
        match decode(&frame) {
            Ok(Incoming::Notification(n)) => Arc::new(n),
            other => panic!("{other:?}"),
        }
    }

    type Tx = mpsc::UnboundedSender<Arc<Notification>>;

    /// A turn's stream on its own channel and burst gate; the turn is what ends it.
    fn stream() -> (Tx, EventStream, Arc<TurnShared>, Arc<wake_batch::Burst>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let turn = TurnShared::new("t".into(), "a".into(), Vec::new());
        let burst = Arc::new(wake_batch::Burst::default());
        let stream = EventStream::new(rx, StreamEnd::Turn(Arc::clone(&turn)), Arc::clone(&burst));
        (tx, stream, turn, burst)
    }

    fn poll(
        stream: &mut EventStream,
        waker: &Waker,
        max_bytes: usize,
    ) -> Poll<Result<Option<Vec<Arc<Notification>>>>> {
        stream.poll_batch_within(&mut Context::from_waker(waker), 4096, max_bytes)
    }

    fn ready_len(polled: Poll<Result<Option<Vec<Arc<Notification>>>>>) -> usize {
        match polled {
            Poll::Ready(Ok(Some(batch))) => batch.len(),
            other => panic!("expected a batch, got {other:?}"),
        }
    }

    #[test]
    fn a_consumer_that_polls_with_a_new_waker_is_woken_there() {
        let (tx, mut stream, _turn, _burst) = stream();
        let (first, first_waker) = counter();
        let (second, second_waker) = counter();
        assert!(poll(&mut stream, &first_waker, usize::MAX).is_pending());
        assert!(poll(&mut stream, &second_waker, usize::MAX).is_pending());
        tx.send(event(0)).unwrap();
        assert_eq!(second.get(), 1, "the latest waker is woken");
        assert_eq!(first.get(), 0);
        assert_eq!(ready_len(poll(&mut stream, &second_waker, usize::MAX)), 1);
    }

    #[test]
    fn the_rest_of_a_batch_over_its_byte_limit_is_taken_at_most_max_at_a_time() {
        let (tx, mut stream, _turn, _burst) = stream();
        let (_, waker) = counter();
        for i in 0..3 {
            tx.send(event(i)).unwrap();
        }
        // One byte allowed: a batch still has its first event; two are carried.
        assert_eq!(ready_len(poll(&mut stream, &waker, 1)), 1);
        assert_eq!(stream.try_batch(1).len(), 1);
        assert_eq!(stream.try_batch(10).len(), 1);
        assert!(stream.try_batch(10).is_empty());
        // From the channel, likewise.
        for i in 0..3 {
            tx.send(event(i)).unwrap();
        }
        assert_eq!(stream.try_batch(2).len(), 2);
        assert_eq!(stream.try_batch(2).len(), 1);
    }

    #[test]
    fn during_a_burst_a_few_queued_events_wait_for_its_end_and_more_are_taken_at_once() {
        let (tx, mut stream, _turn, burst) = stream();
        let mut reader = wake_batch::WakeBatch::new(Arc::clone(&burst));
        let (woken, waker) = counter();
        // A burst in progress: one frame routed, the reader not yet out of frames.
        reader.collect(1, || ());
        for i in 0..wake_batch::EAGER_FROM_EVENTS - 1 {
            tx.send(event(i)).unwrap();
        }
        assert!(poll(&mut stream, &waker, usize::MAX).is_pending());
        reader.flush();
        assert_eq!(woken.get(), 1, "the burst's end wakes it");
        let taken = ready_len(poll(&mut stream, &waker, usize::MAX));
        assert_eq!(taken, wake_batch::EAGER_FROM_EVENTS - 1);

        reader.collect(1, || ());
        for i in 0..wake_batch::EAGER_FROM_EVENTS {
            tx.send(event(i)).unwrap();
        }
        let taken = ready_len(poll(&mut stream, &waker, usize::MAX));
        assert_eq!(
            taken,
            wake_batch::EAGER_FROM_EVENTS,
            "behind: taken during the burst"
        );
        reader.flush();
    }

    #[test]
    fn an_ended_stream_reports_its_end_at_once_even_during_a_burst() {
        let (tx, mut stream, turn, burst) = stream();
        let mut reader = wake_batch::WakeBatch::new(burst);
        let (_, waker) = counter();
        turn.fail(Error::Protocol("gone".into()));
        drop(tx);
        reader.collect(1, || ());
        match poll(&mut stream, &waker, usize::MAX) {
            Poll::Ready(Err(Error::Protocol(m))) => assert_eq!(m, "gone"),
            other => panic!("expected the turn's error, got {other:?}"),
        }
        reader.flush();
    }
}
