//! A turn's routed state: what the router hands each event to. It fans events out to the
//! turn's outlets (unbounded channels to its event streams), assembles the [`TurnResult`] as
//! they pass, and records how the turn ended. Below the router and the connection in the
//! module graph: it knows nothing of either, only of decoded notifications.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::{mpsc, watch};

use crate::error::{Error, Result};
use crate::frame::Notification;
use crate::lock::lock;

/// Where the router sends a notification: a turn's stream or a session-wide listener.
pub(crate) type Outlet = mpsc::UnboundedSender<Arc<Notification>>;

/// What a finished turn produced.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnResult {
    pub thread_id: String,
    pub turn_id: String,
    /// `completed`, `interrupted` or `failed` (as the server reported it).
    pub status: String,
    /// The last completed agent message, or its streamed deltas if it never completed.
    pub text: String,
    /// Every item of `item/completed`, in order, as the server sent it.
    pub items: Vec<Box<RawValue>>,
    /// The latest `thread/tokenUsage/updated` usage of this turn.
    pub usage: Option<Box<RawValue>>,
    /// The turn's error, for failed turns.
    pub error: Option<Box<RawValue>>,
}

type Outcome = Option<std::result::Result<Arc<Completed>, Error>>;

/// A completed turn whose result is built when first asked for: reading a long agent message
/// out of its item costs passes over megabytes that a consumer of the stream alone never needs.
struct Completed {
    acc: Mutex<Option<Accumulator>>,
    result: std::sync::OnceLock<Arc<TurnResult>>,
}

/// How a turn ended: [`TurnResult`]'s status, usage and error.
#[derive(Debug, Clone)]
pub struct TurnEnd {
    pub status: String,
    pub usage: Option<Box<RawValue>>,
    pub error: Option<Box<RawValue>>,
}

impl Completed {
    fn end(&self, thread_id: &str, turn_id: &str) -> TurnEnd {
        if let Some(acc) = lock(&self.acc).as_ref() {
            return TurnEnd {
                status: acc.status.clone().unwrap_or_else(|| "completed".into()),
                usage: acc.usage.clone(),
                error: acc.error.clone(),
            };
        }
        // The result is built (or being built: this waits for it) and has them.
        let r = self.result(thread_id, turn_id);
        TurnEnd {
            status: r.status.clone(),
            usage: r.usage.clone(),
            error: r.error.clone(),
        }
    }

    fn result(&self, thread_id: &str, turn_id: &str) -> Arc<TurnResult> {
        let build = || {
            let mut acc = lock(&self.acc).take().unwrap_or_default();
            Arc::new(acc.finish(thread_id, turn_id))
        };
        Arc::clone(self.result.get_or_init(build))
    }
}

pub(crate) struct TurnShared {
    pub(crate) thread_id: String,
    pub(crate) turn_id: String,
    state: Mutex<TurnState>,
    outcome: watch::Sender<Outcome>,
    /// Set once the server has announced the turn (`turn/started`) or it has ended.
    started: watch::Sender<bool>,
    /// Counts delivered events, for the watchdog (which polls it: a wake-up per event would
    /// cost more than the event).
    activity: std::sync::atomic::AtomicU64,
    /// The server has completed the turn (a stalled turn has not: it can be interrupted).
    server_done: std::sync::atomic::AtomicBool,
    /// Server requests of this turn waiting on the client (an approval a human is reading): the
    /// turn is waiting on us, not stalled, so the watchdog does not count that time.
    waiting_on_client: std::sync::atomic::AtomicUsize,
}

/// Held while one server request of a turn is pending on the client; dropping it (the answer
/// was sent, or the request stopped being pending) restarts the turn's inactivity clock.
pub(crate) struct ClientWait(Arc<TurnShared>);

impl ClientWait {
    pub(crate) fn new(turn: &Arc<TurnShared>) -> ClientWait {
        turn.waiting_on_client
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        ClientWait(Arc::clone(turn))
    }
}

impl Drop for ClientWait {
    fn drop(&mut self) {
        // Activity first: the watchdog must not see "nobody waiting" with the old count.
        self.0
            .activity
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.0
            .waiting_on_client
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

struct TurnState {
    outlets: Vec<Outlet>,
    acc: Accumulator,
    finished: bool,
}

#[derive(Default)]
struct Accumulator {
    /// `item/completed` frames, in order; their items are read and copied out once, at the
    /// end (an agent message's item can be megabytes).
    completed: Vec<Arc<Notification>>,
    /// The text streamed so far of the agent message in progress (and its item id): the
    /// result's text if that message never completes.
    delta_item: Option<String>,
    delta_text: StreamedText,
    usage: Option<Box<RawValue>>,
    status: Option<String>,
    error: Option<Box<RawValue>>,
    /// Ids of the items read from the server when joining a turn already under way (see
    /// [`TurnShared::prime`]): their `item/completed` may also arrive live, and is not kept
    /// twice. Empty for the turns this client started.
    known: std::collections::HashSet<String>,
}

/// The deltas of a message, kept in case it never completes. A small delta is copied (its
/// frame is many times its size); a large one is kept by holding its frame, which costs less
/// than copying it into a text that keeps growing (megabytes for a long message).
#[derive(Default)]
struct StreamedText {
    pieces: Vec<Piece>,
}

enum Piece {
    Copied(String),
    InFrame(Arc<Notification>),
}

/// From this size on, a delta is held by its frame rather than copied.
const HOLD_FRAME_FROM: usize = 256;

impl StreamedText {
    fn push(&mut self, frame: &Arc<Notification>, delta: &str) {
        if delta.len() >= HOLD_FRAME_FROM {
            self.pieces.push(Piece::InFrame(Arc::clone(frame)));
            return;
        }
        match self.pieces.last_mut() {
            Some(Piece::Copied(text)) => text.push_str(delta),
            _ => self.pieces.push(Piece::Copied(delta.to_owned())),
        }
    }

    fn concat(self) -> String {
        let mut text = String::with_capacity(self.pieces.iter().map(|p| p.text().len()).sum());
        for p in &self.pieces {
            text.push_str(p.text());
        }
        text
    }
}

impl Piece {
    fn text(&self) -> &str {
        match self {
            Piece::Copied(text) => text,
            Piece::InFrame(n) => n.delta().unwrap_or_default(),
        }
    }
}

/// The `id` of an `item/completed`'s item ("" without one).
fn item_id(n: &Notification) -> String {
    #[derive(Deserialize)]
    struct ItemId {
        #[serde(default)]
        id: Option<String>,
    }
    n.item_json()
        .and_then(crate::frame::object::<ItemId>)
        .and_then(|i| i.id)
        .unwrap_or_default()
}

#[derive(Deserialize)]
struct ItemText {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

impl Accumulator {
    fn observe(&mut self, n: &Arc<Notification>) {
        match n.method() {
            "item/agentMessage/delta" => {
                if let Some(delta) = n.delta() {
                    if n.item_id() != self.delta_item.as_deref() {
                        self.delta_item = n.item_id().map(str::to_owned);
                        self.delta_text = StreamedText::default();
                    }
                    self.delta_text.push(n, delta);
                }
            }
            // An item read when the turn was joined is not kept twice.
            "item/completed"
                if n.item_json().is_some()
                    && (self.known.is_empty() || !self.known.contains(&item_id(n))) =>
            {
                self.completed.push(Arc::clone(n));
            }
            "thread/tokenUsage/updated" => {
                if let Some(usage) = &n.detail().token_usage {
                    self.usage = Some(usage.clone());
                }
            }
            "turn/completed" => {
                self.status.clone_from(&n.detail().turn_status);
                self.error.clone_from(&n.detail().turn_error);
            }
            _ => {}
        }
    }

    fn finish(&mut self, thread_id: &str, turn_id: &str) -> TurnResult {
        fn item(n: &Notification) -> &str {
            n.item_json().unwrap_or("null")
        }
        // The last completed agent message, read once (most often the last item).
        let last_message = self.completed.iter().rev().find_map(|n| {
            crate::frame::object::<ItemText>(item(n))
                .filter(|i| i.kind.as_deref() == Some("agentMessage"))
                .map(|i| i.text.unwrap_or_default())
        });
        let text = last_message.unwrap_or_else(|| std::mem::take(&mut self.delta_text).concat());
        let items = self
            .completed
            .drain(..)
            .filter_map(|n| RawValue::from_string(item(&n).to_owned()).ok())
            .collect();
        TurnResult {
            thread_id: thread_id.to_owned(),
            turn_id: turn_id.to_owned(),
            status: self.status.take().unwrap_or_else(|| "completed".into()),
            text,
            items,
            usage: self.usage.take(),
            error: self.error.take(),
        }
    }
}

impl TurnShared {
    pub(crate) fn new(thread_id: String, turn_id: String, outlets: Vec<Outlet>) -> Arc<TurnShared> {
        let (outcome, _) = watch::channel(None);
        let (started, _) = watch::channel(false);
        Arc::new(TurnShared {
            thread_id,
            turn_id,
            state: Mutex::new(TurnState {
                outlets,
                acc: Accumulator::default(),
                finished: false,
            }),
            outcome,
            started,
            activity: std::sync::atomic::AtomicU64::new(0),
            server_done: std::sync::atomic::AtomicBool::new(false),
            waiting_on_client: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Seeds the result with the items a turn already had when this client joined it (read
    /// from the server), before any event is delivered: the joined turn's `text` and `items`
    /// are then whole although its stream starts at the join.
    pub(crate) fn prime(&self, items: &[Box<RawValue>]) {
        let mut state = lock(&self.state);
        for item in items {
            let params = format!(
                "{{\"threadId\":{},\"turnId\":{},\"item\":{}}}",
                serde_json::Value::String(self.thread_id.clone()),
                serde_json::Value::String(self.turn_id.clone()),
                item.get()
            );
            if let Some(n) = Notification::synthetic("item/completed", &params) {
                let n = Arc::new(n);
                let id = item_id(&n);
                state.acc.completed.push(n);
                state.acc.known.insert(id);
            }
        }
    }

    /// The turn was announced before this client followed it (a joined turn): `interrupt`
    /// must not wait for a `turn/started` that will not come again.
    pub(crate) fn mark_started(&self) {
        self.started.send_replace(true);
    }

    /// Another stream of this turn, from its next event on; `None` once it has ended.
    pub(crate) fn add_outlet(&self) -> Option<mpsc::UnboundedReceiver<Arc<Notification>>> {
        let mut state = lock(&self.state);
        if state.finished {
            return None;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        state.outlets.push(tx);
        Some(rx)
    }

    /// Hands one event to the turn. Returns true when it was the turn's last.
    pub(crate) fn deliver(&self, n: Arc<Notification>) -> bool {
        let last = n.method() == "turn/completed";
        if last {
            self.server_done
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        let mut state = lock(&self.state);
        if state.finished {
            return true;
        }
        self.activity
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        state.acc.observe(&n);
        if last || n.method() == "turn/started" {
            self.started.send_replace(true);
        }
        for outlet in &state.outlets {
            // A consumer that went away simply stops receiving.
            let _ = outlet.send(Arc::clone(&n));
        }
        if last {
            state.finished = true;
            let outlets = std::mem::take(&mut state.outlets);
            let acc = std::mem::take(&mut state.acc);
            drop(state);
            // The outcome is recorded before the streams close, so a consumer woken by the
            // close always reads how the turn ended.
            let completed = Completed {
                acc: Mutex::new(Some(acc)),
                result: std::sync::OnceLock::new(),
            };
            self.outcome.send_replace(Some(Ok(Arc::new(completed))));
            drop(outlets);
        }
        last
    }

    /// Ends the turn without a `turn/completed` (transport closed, session closed).
    pub(crate) fn fail(&self, error: Error) {
        let mut state = lock(&self.state);
        if state.finished {
            return;
        }
        state.finished = true;
        let outlets = std::mem::take(&mut state.outlets);
        drop(state);
        // Outcome first, then close the streams (see `deliver`).
        self.outcome.send_replace(Some(Err(error)));
        self.started.send_replace(true);
        drop(outlets);
    }

    /// Whether the turn has ended (completed or failed).
    pub(crate) fn is_finished(&self) -> bool {
        self.outcome.borrow().is_some()
    }

    /// Resolves once the server has announced the turn (`turn/started`) or it has ended.
    pub(crate) async fn started(&self) {
        let _ = self.started.subscribe().wait_for(|s| *s).await;
    }

    /// The server has completed the turn (a stalled turn has not: it can be interrupted).
    pub(crate) fn server_done(&self) -> bool {
        self.server_done.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits for the turn to end. A timeout only stops waiting; the turn goes on and a later
    /// call still gets the result.
    pub(crate) async fn result(&self, timeout: Option<Duration>) -> Result<Arc<TurnResult>> {
        let completed = self.completed(timeout).await?;
        Ok(completed.result(&self.thread_id, &self.turn_id))
    }

    /// [`TurnShared::result`] without its items and text, for a consumer that read them from
    /// the stream already: building them reads and copies every item (codex's last one can be
    /// 20 MB). Same waiting and errors.
    pub(crate) async fn result_end(&self, timeout: Option<Duration>) -> Result<TurnEnd> {
        let completed = self.completed(timeout).await?;
        Ok(completed.end(&self.thread_id, &self.turn_id))
    }

    async fn completed(&self, timeout: Option<Duration>) -> Result<Arc<Completed>> {
        let mut rx = self.outcome.subscribe();
        let wait = rx.wait_for(Option::is_some);
        let outcome = match timeout {
            Some(limit) => match tokio::time::timeout(limit, wait).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(Error::RequestTimeout {
                        method: "turn result".into(),
                        timeout: limit,
                    })
                }
            },
            None => wait.await,
        };
        let completed = match outcome {
            Ok(guard) => match &*guard {
                Some(Ok(completed)) => Arc::clone(completed),
                Some(Err(e)) => return Err(e.clone()),
                None => return Err(Error::SessionClosed),
            },
            Err(_) => return Err(Error::SessionClosed),
        };
        Ok(completed)
    }

    pub(crate) fn end_error(&self) -> Option<Error> {
        match &*self.outcome.borrow() {
            Some(Err(e)) => Some(e.clone()),
            _ => None,
        }
    }
}

/// Ends the turn with `TURN_STALLED` when no event arrives for `limit` while nothing of the turn
/// waits on the client. The turn stays routed and interruptible; only its streams and result
/// give up.
pub(crate) async fn watchdog(turn: Arc<TurnShared>, limit: Duration) {
    use std::sync::atomic::Ordering::{Relaxed, SeqCst};
    // Looks a few times per `limit`; the quiet time is counted from the look that first saw
    // no change, so a turn is never failed early, and at most half of `limit` late.
    let step = (limit / 4).max(Duration::from_millis(1));
    let mut outcome = turn.outcome.subscribe();
    let mut seen = turn.activity.load(Relaxed);
    let mut quiet_since = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = outcome.wait_for(Option::is_some) => return,
            _ = tokio::time::sleep(step) => {
                let waiting = turn.waiting_on_client.load(SeqCst) > 0;
                let now = turn.activity.load(Relaxed);
                if now != seen || waiting {
                    seen = now;
                    quiet_since = tokio::time::Instant::now();
                } else if quiet_since.elapsed() >= limit {
                    turn.fail(Error::TurnStalled { turn_id: turn.turn_id.clone(), idle: limit });
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{decode, Incoming};

    fn event(method: &str, params: serde_json::Value) -> Arc<Notification> {
        match decode(&serde_json::json!({ "method": method, "params": params }).to_string()) {
            Ok(Incoming::Notification(n)) => Arc::new(n),
            other => panic!("{other:?}"),
        }
    }

    fn delta(item: &str, text: &str) -> Arc<Notification> {
        event(
            "item/agentMessage/delta",
            serde_json::json!({ "threadId": "t", "turnId": "u", "itemId": item, "delta": text }),
        )
    }

    #[test]
    fn small_deltas_are_copied_into_one_text_and_a_large_one_is_held_by_its_frame() {
        let mut text = StreamedText::default();
        let large = "L".repeat(HOLD_FRAME_FROM);
        let frames = [
            delta("m", "a"),
            delta("m", "b"),
            delta("m", &large),
            delta("m", "c"),
        ];
        for frame in &frames {
            text.push(frame, frame.delta().unwrap());
        }
        // A small delta's frame is many times its size: not kept. A large one's is.
        match text.pieces.as_slice() {
            [Piece::Copied(ab), Piece::InFrame(held), Piece::Copied(c)] => {
                assert_eq!((ab.as_str(), c.as_str()), ("ab", "c"));
                assert!(Arc::ptr_eq(held, &frames[2]));
            }
            _ => panic!("pieces: small deltas copied and joined, the large one held"),
        }
        assert_eq!(text.concat(), format!("ab{large}c"));
    }

    #[test]
    fn text_of_a_message_that_never_completes_is_its_deltas_small_and_large() {
        let mut acc = Accumulator::default();
        let large = "L".repeat(HOLD_FRAME_FROM);
        let pieces = [
            "a",
            "b\n",
            large.as_str(),
            "c",
            large.as_str(),
            large.as_str(),
            "é",
        ];
        acc.observe(&delta("old", "from another message"));
        for piece in pieces {
            acc.observe(&delta("m", piece));
        }
        let result = acc.finish("t", "u");
        assert_eq!(result.text, pieces.concat());
        assert!(result.items.is_empty());
    }

    #[test]
    fn text_of_a_completed_message_is_its_item_text() {
        let mut acc = Accumulator::default();
        acc.observe(&delta("m", "streamed"));
        let item = serde_json::json!({ "type": "agentMessage", "id": "m", "text": "final" });
        acc.observe(&event(
            "item/completed",
            serde_json::json!({ "threadId": "t", "turnId": "u", "item": item }),
        ));
        acc.observe(&delta("m2", "an unfinished second message"));
        let result = acc.finish("t", "u");
        assert_eq!(result.text, "final");
        assert_eq!(result.items.len(), 1);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(result.items[0].get()).unwrap(),
            item
        );
    }
}
