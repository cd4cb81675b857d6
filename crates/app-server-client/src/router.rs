//! Where each notification goes: the session-wide listeners, and the turn it belongs to.
//!
//! Lives behind one mutex taken by the reader for each frame and briefly by turn start-up.
//! Nothing in here waits: every outlet is an unbounded channel, so a slow consumer can never
//! stall the reader (and through it, the server).

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, watch};

use crate::error::Error;
use crate::frame::{Notification, ServerRequest};
use crate::turn_state::{ClientWait, Outlet, TurnShared};

/// What became of a server request while its handler was deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFate {
    Pending,
    /// The server resolved it another way (`serverRequest/resolved`): no answer is due.
    ResolvedByServer,
    /// Its turn ended.
    TurnEnded,
    /// The connection closed.
    Closed,
}

struct PendingServerRequest {
    /// The request id as JSON text. Not unique: a server may reuse an id.
    id: String,
    thread_id: Option<String>,
    turn_id: Option<String>,
    fate: watch::Sender<RequestFate>,
    /// Pauses its turn's watchdog until the request is forgotten (answered or resolved). Taken
    /// when the turn is known; a request that came before the `turn/start` answer gets it when
    /// the turn is registered.
    wait: Option<ClientWait>,
}

type TurnKey = (String, String);

/// A turn key looked up as two borrowed strings: routing an event allocates nothing.
trait TurnKeyRef {
    fn parts(&self) -> (&str, &str);
}

impl TurnKeyRef for TurnKey {
    fn parts(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl TurnKeyRef for (&str, &str) {
    fn parts(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl<'a> std::borrow::Borrow<dyn TurnKeyRef + 'a> for TurnKey {
    fn borrow(&self) -> &(dyn TurnKeyRef + 'a) {
        self
    }
}

impl std::hash::Hash for dyn TurnKeyRef + '_ {
    // The same as the tuple's own hash, as `Borrow` requires.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for dyn TurnKeyRef + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn TurnKeyRef + '_ {}

/// An Fx-style hash of the ids (a word at a time), looked up once per event. The ids come from
/// our own child process, so the flooding that SipHash guards against is not a concern; SipHash
/// was about 8% of the reader thread's samples in a `perf` profile of the 16 B flood.
#[derive(Clone, Copy, Default)]
struct IdHasher;

impl std::hash::BuildHasher for IdHasher {
    type Hasher = WordHash;
    fn build_hasher(&self) -> WordHash {
        WordHash(0)
    }
}

struct WordHash(u64);

impl WordHash {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for WordHash {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.add(u64::from_le_bytes(tail));
    }
    // `str` hashes as its bytes then a 0xff terminator (`write_u8`): one word, not a chunk loop.
    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[derive(Default)]
pub(crate) struct Routes {
    /// Live turns by (thread id, turn id): a turn id is only unique within its thread.
    turns: HashMap<TurnKey, Arc<TurnShared>, IdHasher>,
    /// Threads with a `turn/start` in flight: events of turns we do not know yet are held
    /// here until the response names the turn, so none is lost to the race.
    starting: HashMap<String, StartingThread>,
    listeners: Vec<Outlet>,
    /// Thread-wide subscribers (`thread.events()`): every notification naming the thread, of
    /// any turn. Empty unless someone subscribed, so routing pays one `is_empty` for it.
    thread_listeners: HashMap<String, Vec<Outlet>, IdHasher>,
    /// Server requests not yet answered, by arrival number (ids may repeat).
    server_requests: HashMap<u64, PendingServerRequest>,
    next_server_request: u64,
    closed: Option<Error>,
}

#[derive(Default)]
struct StartingThread {
    in_flight: usize,
    early: Vec<Arc<Notification>>,
}

impl Routes {
    pub(crate) fn route(&mut self, n: Arc<Notification>) {
        if !self.listeners.is_empty() {
            self.listeners.retain(|l| l.send(Arc::clone(&n)).is_ok());
        }
        if !self.thread_listeners.is_empty() {
            self.deliver_to_thread(&n);
        }
        if n.method() == "serverRequest/resolved" {
            self.server_request_resolved(&n);
            return;
        }
        self.route_to_turn(n);
    }

    /// Hands `n` to the subscribers of its thread (those that went away are dropped).
    fn deliver_to_thread(&mut self, n: &Arc<Notification>) {
        let Some(thread_id) = n.thread_id() else {
            return;
        };
        let Some(outlets) = self.thread_listeners.get_mut(thread_id) else {
            return;
        };
        outlets.retain(|l| l.send(Arc::clone(n)).is_ok());
        if outlets.is_empty() {
            self.thread_listeners.remove(thread_id);
        }
    }

    /// A new subscriber to one thread's notifications, from now on. After the connection
    /// closed, a stream that ends at once.
    pub(crate) fn listen_thread(
        &mut self,
        thread_id: &str,
    ) -> mpsc::UnboundedReceiver<Arc<Notification>> {
        let (tx, rx) = mpsc::unbounded_channel();
        // Those unsubscribed on threads that have been quiet since go now (routing drops the
        // others as it meets them), so that the map empties again.
        self.thread_listeners.retain(|_, outlets| {
            outlets.retain(|l| !l.is_closed());
            !outlets.is_empty()
        });
        if self.closed.is_none() {
            self.thread_listeners
                .entry(thread_id.to_owned())
                .or_default()
                .push(tx);
        }
        rx
    }

    /// How many thread-wide subscribers are open (for leak checks).
    pub(crate) fn thread_listener_count(&self) -> usize {
        self.thread_listeners
            .values()
            .flatten()
            .filter(|l| !l.is_closed())
            .count()
    }

    /// The live turn of `thread_id` this client follows, if any (a thread runs one at a time).
    pub(crate) fn live_turn(&self, thread_id: &str) -> Option<Arc<TurnShared>> {
        self.turns
            .iter()
            .find(|((t, _), _)| t == thread_id)
            .map(|(_, turn)| Arc::clone(turn))
    }

    /// Delivers to the notification's turn, or holds it while that turn is being started.
    fn route_to_turn(&mut self, n: Arc<Notification>) {
        let Some(turn_id) = n.turn_id() else { return };
        let delivered = match n.thread_id() {
            Some(thread_id) => self.deliver_to(thread_id, turn_id, Arc::clone(&n)),
            None => match self.find_turn(None, turn_id) {
                Some((thread_id, turn_id)) => self.deliver_to(&thread_id, &turn_id, Arc::clone(&n)),
                None => false,
            },
        };
        if delivered {
            return;
        }
        if let Some(thread_id) = n.thread_id() {
            if let Some(starting) = self.starting.get_mut(thread_id) {
                starting.early.push(n);
            }
        }
    }

    /// Registers a server request and shows it in its turn's stream (as a `serverRequest`
    /// event) so that a UI can show the prompt. The receiver tells the handler's runner when
    /// the request stops being pending for any other reason.
    pub(crate) fn route_server_request(
        &mut self,
        req: &ServerRequest,
    ) -> (u64, watch::Receiver<RequestFate>) {
        let (fate, rx) = watch::channel(if self.closed.is_some() {
            RequestFate::Closed
        } else {
            RequestFate::Pending
        });
        if let (Some(thread_id), Some(turn_id)) = (req.thread_id.as_deref(), req.turn_id.as_deref())
        {
            let params = serde_json::to_string(&ServerRequestEvent {
                thread_id,
                turn_id,
                request_id: &req.id,
                method: &req.method,
                params: &req.params,
            });
            // Like any turn event: to the turn, or held while the turn is being started.
            if let Some(event) = params
                .ok()
                .and_then(|params| Notification::synthetic(SERVER_REQUEST_EVENT, &params))
            {
                let event = Arc::new(event);
                if !self.thread_listeners.is_empty() {
                    self.deliver_to_thread(&event);
                }
                self.route_to_turn(event);
            }
        }
        self.next_server_request += 1;
        let key = self.next_server_request;
        let wait = match (req.thread_id.as_deref(), req.turn_id.as_deref()) {
            (Some(thread_id), Some(turn_id)) => self
                .turns
                .get(&(thread_id, turn_id) as &dyn TurnKeyRef)
                .map(ClientWait::new),
            _ => None,
        };
        self.server_requests.insert(
            key,
            PendingServerRequest {
                id: req.id.get().to_owned(),
                thread_id: req.thread_id.clone(),
                turn_id: req.turn_id.clone(),
                fate,
                wait,
            },
        );
        (key, rx)
    }

    /// The request (by its arrival number) has been answered by us.
    pub(crate) fn forget_server_request(&mut self, key: u64) {
        self.server_requests.remove(&key);
    }

    pub(crate) fn pending_server_requests(&self) -> usize {
        self.server_requests.len()
    }

    fn server_request_resolved(&mut self, n: &Arc<Notification>) {
        // With a reused id, the oldest pending request of that id is the one resolved.
        let key = n.detail().request_id.as_deref().and_then(|id| {
            self.server_requests
                .iter()
                .filter(|(_, p)| p.id == id)
                .map(|(k, _)| *k)
                .min()
        });
        let pending = key.and_then(|k| self.server_requests.remove(&k));
        if let Some(p) = &pending {
            p.fate.send_replace(RequestFate::ResolvedByServer);
        }
        // The resolution belongs in the same turn stream as the request. It usually comes after
        // our answer (when the request is no longer pending here), so find the turn by thread:
        // a thread runs one turn at a time.
        let key = match pending.and_then(|p| p.turn_id) {
            Some(turn_id) => self.find_turn(n.thread_id(), &turn_id),
            None => n
                .thread_id()
                .and_then(|thread_id| self.turns.keys().find(|(t, _)| t == thread_id).cloned()),
        };
        if let Some((thread_id, turn_id)) = key {
            self.deliver_to(&thread_id, &turn_id, Arc::clone(n));
        }
    }

    /// The live turn with this id (in this thread, when the event names one).
    fn find_turn(&self, thread_id: Option<&str>, turn_id: &str) -> Option<TurnKey> {
        match thread_id {
            Some(thread_id) => {
                let key = (thread_id.to_owned(), turn_id.to_owned());
                self.turns.contains_key(&key).then_some(key)
            }
            None => self.turns.keys().find(|(_, t)| t == turn_id).cloned(),
        }
    }

    /// Hands `n` to the live turn (thread, turn), in one lookup; false when there is none.
    fn deliver_to(&mut self, thread_id: &str, turn_id: &str, n: Arc<Notification>) -> bool {
        let key = &(thread_id, turn_id) as &dyn TurnKeyRef;
        let Some(turn) = self.turns.get(key) else {
            return false;
        };
        if turn.deliver(n) {
            self.turns.remove(key);
            self.end_turn_requests(turn_id);
        }
        true
    }

    fn end_turn_requests(&mut self, turn_id: &str) {
        for pending in self.server_requests.values() {
            if pending.turn_id.as_deref() == Some(turn_id) {
                pending.fate.send_replace(RequestFate::TurnEnded);
            }
        }
    }

    /// A new session-wide outlet; it sees every notification from now on.
    pub(crate) fn listen(&mut self) -> mpsc::UnboundedReceiver<Arc<Notification>> {
        let (tx, rx) = mpsc::unbounded_channel();
        if self.closed.is_none() {
            self.listeners.push(tx);
        }
        rx
    }

    pub(crate) fn listener_count(&self) -> usize {
        self.listeners.iter().filter(|l| !l.is_closed()).count()
    }

    pub(crate) fn live_turns(&self) -> usize {
        self.turns.len()
    }

    /// Called before sending `turn/start` on `thread_id`.
    pub(crate) fn begin_turn_start(&mut self, thread_id: &str) -> Result<(), Error> {
        if let Some(e) = &self.closed {
            return Err(e.clone());
        }
        self.starting
            .entry(thread_id.to_owned())
            .or_default()
            .in_flight += 1;
        Ok(())
    }

    /// Called when `turn/start` has been answered (or failed, or abandoned). Hands the turn the
    /// events that arrived before the answer, in order, then routes the rest to it directly.
    /// A turn id that is already live is a protocol error (the turn is failed, not routed).
    pub(crate) fn finish_turn_start(&mut self, thread_id: &str, turn: Option<Arc<TurnShared>>) {
        let early = match self.starting.get_mut(thread_id) {
            Some(s) => {
                s.in_flight = s.in_flight.saturating_sub(1);
                if s.in_flight == 0 {
                    self.starting
                        .remove(thread_id)
                        .map(|s| s.early)
                        .unwrap_or_default()
                } else if let Some(t) = &turn {
                    let (mine, others): (Vec<_>, Vec<_>) = s
                        .early
                        .drain(..)
                        .partition(|n| n.turn_id() == Some(t.turn_id.as_str()));
                    s.early = others;
                    mine
                } else {
                    Vec::new()
                }
            }
            None => Vec::new(),
        };
        let Some(turn) = turn else { return };
        if let Some(e) = self.closed.clone() {
            // The answer and the turn's first events can come in the same read as the end of
            // the connection: what arrived is the turn's all the same, then the error.
            let mut finished = false;
            for n in early {
                if n.turn_id() == Some(turn.turn_id.as_str()) && !finished {
                    finished = turn.deliver(n);
                }
            }
            if !finished {
                turn.fail(e);
            }
            return;
        }
        let key = (turn.thread_id.clone(), turn.turn_id.clone());
        if self.turns.contains_key(&key) {
            turn.fail(Error::Protocol(format!(
                "the server started turn {} twice",
                turn.turn_id
            )));
            return;
        }
        let mut finished = false;
        for n in early {
            if n.turn_id() == Some(turn.turn_id.as_str()) && !finished {
                finished = turn.deliver(n);
            }
        }
        if finished {
            self.end_turn_requests(&turn.turn_id);
        } else {
            // Requests that arrived before the turn was known wait on the client too.
            for pending in self.server_requests.values_mut() {
                if pending.wait.is_none()
                    && pending.turn_id.as_deref() == Some(turn.turn_id.as_str())
                    && pending.thread_id.as_deref() == Some(turn.thread_id.as_str())
                {
                    pending.wait = Some(ClientWait::new(&turn));
                }
            }
            self.turns.insert(key, turn);
        }
    }

    /// The transport is gone but the connection will get a new one (a restarted server): every
    /// turn and pending server request ends as in [`close_all`](Self::close_all); session
    /// listeners stay, to hear the new server.
    pub(crate) fn lose_transport(&mut self, reason: &Error) {
        for (_, turn) in self.turns.drain() {
            turn.fail(reason.clone());
        }
        for (_, pending) in self.server_requests.drain() {
            pending.fate.send_replace(RequestFate::Closed);
        }
    }

    /// The connection is gone: every turn and listener ends with `reason`.
    pub(crate) fn close_all(&mut self, reason: &Error) {
        self.closed = Some(reason.clone());
        for (_, turn) in self.turns.drain() {
            turn.fail(reason.clone());
        }
        // `starting` stays: a turn/start answered just before the end still gets the events
        // that came with it (finish_turn_start empties it; every start calls it).
        self.listeners.clear();
        self.thread_listeners.clear();
        for (_, pending) in self.server_requests.drain() {
            pending.fate.send_replace(RequestFate::Closed);
        }
    }
}

/// The method of the client-side event that shows a pending server request in its turn.
pub const SERVER_REQUEST_EVENT: &str = "serverRequest";

/// The params of a [`SERVER_REQUEST_EVENT`]: the request's id and params as the server sent
/// them (raw JSON, not parsed again).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServerRequestEvent<'a> {
    thread_id: &'a str,
    turn_id: &'a str,
    request_id: &'a RawValue,
    method: &'a str,
    params: &'a RawValue,
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;
    use std::time::Duration;

    use super::*;
    use crate::frame::{decode, Incoming};

    fn event(method: &str, params: serde_json::Value) -> Arc<Notification> {
        match decode(&serde_json::json!({ "method": method, "params": params }).to_string()) {
            Ok(Incoming::Notification(n)) => Arc::new(n),
            other => panic!("{other:?}"),
        }
    }

    /// An event of turn `turn` of thread `thread`, told apart by `tag`.
    fn item(thread: &str, turn: &str, tag: &str) -> Arc<Notification> {
        event(
            "item/started",
            serde_json::json!({ "threadId": thread, "turnId": turn, "item": { "id": tag } }),
        )
    }

    fn completed(thread: &str, turn: &str) -> Arc<Notification> {
        event(
            "turn/completed",
            serde_json::json!({ "threadId": thread, "turn": { "id": turn, "status": "completed" } }),
        )
    }

    fn request(id: serde_json::Value, thread: &str, turn: &str) -> ServerRequest {
        let frame = serde_json::json!({
            "id": id,
            "method": "item/commandExecution/requestApproval",
            "params": { "threadId": thread, "turnId": turn },
        });
        match decode(&frame.to_string()) {
            Ok(Incoming::ServerRequest(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn resolved(thread: &str, id: serde_json::Value) -> Arc<Notification> {
        event(
            "serverRequest/resolved",
            serde_json::json!({ "threadId": thread, "requestId": id }),
        )
    }

    type Rx = mpsc::UnboundedReceiver<Arc<Notification>>;

    fn new_turn(thread: &str, turn: &str) -> (Arc<TurnShared>, Rx) {
        let (tx, rx) = mpsc::unbounded_channel();
        (TurnShared::new(thread.into(), turn.into(), vec![tx]), rx)
    }

    /// A turn started the way a session starts one (no event before the answer).
    fn start(routes: &mut Routes, thread: &str, turn: &str) -> (Arc<TurnShared>, Rx) {
        routes.begin_turn_start(thread).unwrap();
        let (shared, rx) = new_turn(thread, turn);
        routes.finish_turn_start(thread, Some(Arc::clone(&shared)));
        (shared, rx)
    }

    /// What is queued on `rx`, as method and (for items) the item's id.
    fn queued(rx: &mut Rx) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(n) = rx.try_recv() {
            let tag = n
                .item_json()
                .and_then(|i| serde_json::from_str::<serde_json::Value>(i).ok())
                .and_then(|i| i["id"].as_str().map(str::to_owned));
            out.push(match tag {
                Some(tag) => format!("{} {tag}", n.method()),
                None => n.method().to_owned(),
            });
        }
        out
    }

    fn closed() -> Error {
        Error::TransportClosed {
            reason: "gone".into(),
            stderr_tail: String::new(),
        }
    }

    /// Whether `turn`'s watchdog (limit 1 s) fails it within 10 s of quiet. Paused time: the
    /// clock jumps as soon as every task waits, so this is exact and instant.
    async fn stalls(turn: &Arc<TurnShared>) -> bool {
        let watchdog = tokio::spawn(crate::turn_state::watchdog(
            Arc::clone(turn),
            Duration::from_secs(1),
        ));
        tokio::time::sleep(Duration::from_secs(10)).await;
        watchdog.abort();
        turn.is_finished()
    }

    #[test]
    fn the_id_hash_spreads_ids_and_agrees_with_its_borrowed_form() {
        // Ids as codex makes them (UUIDs), and short ones that differ in one character.
        let keys: Vec<TurnKey> = (0..2048u32)
            .map(|i| {
                (
                    format!("0199a213-81c0-7800-8aa1-{:012x}", i / 7),
                    format!("turn-{i}"),
                )
            })
            .collect();
        let hash = |k: &dyn TurnKeyRef| IdHasher.hash_one(k);
        let mut seen = std::collections::HashSet::new();
        for key in &keys {
            // `Borrow` requires the owned key and the borrowed pair to hash alike.
            let owned = hash(key);
            assert_eq!(owned, hash(&(key.0.as_str(), key.1.as_str())));
            assert_eq!(owned, IdHasher.hash_one(key));
            seen.insert(owned);
        }
        // A hash that lumps ids together makes every lookup a scan of the live turns.
        assert_eq!(seen.len(), keys.len(), "distinct ids that hash alike");
    }

    #[test]
    fn among_many_live_turns_an_unknown_turn_id_finds_none() {
        // The map compares keys only where the hashes' top bits agree; with hundreds of turns
        // some unknown id shares them with a live one, and only the key comparison tells.
        let mut routes = Routes::default();
        let mut live: Vec<_> = (0..512)
            .map(|i| start(&mut routes, "t", &format!("live-{i}")))
            .collect();
        for i in 0..512 {
            routes.route(item("t", &format!("gone-{i}"), "stray"));
        }
        routes.route(item("t", "live-7", "mine"));
        for (i, (_, rx)) in live.iter_mut().enumerate() {
            let expected: &[&str] = if i == 7 { &["item/started mine"] } else { &[] };
            assert_eq!(queued(rx), expected, "turn live-{i}");
        }
    }

    #[test]
    fn events_reach_their_turn_only_and_a_completed_turn_leaves() {
        let mut routes = Routes::default();
        let (a, mut a_rx) = start(&mut routes, "t", "a");
        let (_b, mut b_rx) = start(&mut routes, "u", "a");
        assert_eq!(routes.live_turns(), 2);
        routes.route(item("t", "a", "1"));
        routes.route(item("u", "a", "2"));
        routes.route(item("t", "b", "stray"));
        assert_eq!(queued(&mut a_rx), ["item/started 1"]);
        assert_eq!(queued(&mut b_rx), ["item/started 2"]);
        assert!(Arc::ptr_eq(&routes.live_turn("t").unwrap(), &a));
        assert!(routes.live_turn("v").is_none());

        routes.route(completed("t", "a"));
        assert_eq!(queued(&mut a_rx), ["turn/completed"]);
        assert!(a.is_finished());
        assert_eq!(routes.live_turns(), 1);
        assert!(routes.live_turn("t").is_none());
        // Thread u's turn "a" is still routed.
        routes.route(item("u", "a", "3"));
        assert_eq!(queued(&mut b_rx), ["item/started 3"]);
    }

    #[test]
    fn an_event_naming_no_thread_finds_its_turn_by_id() {
        let mut routes = Routes::default();
        let (_a, mut rx) = start(&mut routes, "t", "a");
        routes.route(event(
            "item/started",
            serde_json::json!({ "turnId": "a", "item": { "id": "1" } }),
        ));
        routes.route(event(
            "item/started",
            serde_json::json!({ "turnId": "z", "item": { "id": "2" } }),
        ));
        assert_eq!(queued(&mut rx), ["item/started 1"]);
    }

    #[test]
    fn listeners_are_counted_while_open() {
        let mut routes = Routes::default();
        let first = routes.listen();
        let mut second = routes.listen();
        assert_eq!(routes.listener_count(), 2);
        drop(first);
        assert_eq!(routes.listener_count(), 1);
        routes.route(item("t", "a", "1"));
        assert_eq!(queued(&mut second), ["item/started 1"]);
        routes.close_all(&closed());
        assert_eq!(routes.listener_count(), 0);
        assert!(matches!(
            routes.listen().try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
    }

    #[test]
    fn thread_subscribers_hear_their_thread_only_and_are_counted_while_open() {
        let mut routes = Routes::default();
        let mut t = routes.listen_thread("t");
        let quiet = routes.listen_thread("q");
        let u = routes.listen_thread("u");
        assert_eq!(routes.thread_listener_count(), 3);
        drop(u);
        assert_eq!(routes.thread_listener_count(), 2);
        // A subscriber that left is dropped by the next subscription, even on a quiet thread.
        drop(quiet);
        let mut t2 = routes.listen_thread("t");
        assert_eq!(
            routes.thread_listeners.len(),
            1,
            "the quiet thread's entry stays"
        );
        assert_eq!(routes.thread_listener_count(), 2);

        routes.route(item("t", "x", "1"));
        routes.route(item("u", "x", "2"));
        routes.route(event("thread/started", serde_json::json!({})));
        let req = request(serde_json::json!(5), "t", "x");
        routes.route_server_request(&req);
        assert_eq!(queued(&mut t), ["item/started 1", SERVER_REQUEST_EVENT]);
        assert_eq!(queued(&mut t2), ["item/started 1", SERVER_REQUEST_EVENT]);

        drop(t2);
        drop(t);
        routes.route(item("t", "x", "3"));
        assert!(routes.thread_listeners.is_empty(), "routing drops who left");

        routes.close_all(&closed());
        let mut late = routes.listen_thread("t");
        assert_eq!(routes.thread_listener_count(), 0);
        assert!(matches!(
            late.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
    }

    #[test]
    fn a_resolved_request_is_the_oldest_pending_one_of_that_id() {
        let mut routes = Routes::default();
        let (_turn, mut rx) = start(&mut routes, "t", "a");
        let (_, one) = routes.route_server_request(&request(serde_json::json!(1), "t", "a"));
        let (_, two) = routes.route_server_request(&request(serde_json::json!(2), "t", "a"));
        let (_, two_again) = routes.route_server_request(&request(serde_json::json!(2), "t", "a"));
        assert_eq!(routes.pending_server_requests(), 3);

        routes.route(resolved("t", serde_json::json!(2)));
        assert_eq!(*two.borrow(), RequestFate::ResolvedByServer);
        assert_eq!(*one.borrow(), RequestFate::Pending);
        assert_eq!(*two_again.borrow(), RequestFate::Pending);
        assert_eq!(routes.pending_server_requests(), 2);
        // The resolution shows in the request's turn, after the request.
        assert_eq!(
            queued(&mut rx),
            [
                SERVER_REQUEST_EVENT,
                SERVER_REQUEST_EVENT,
                SERVER_REQUEST_EVENT,
                "serverRequest/resolved"
            ]
        );
    }

    #[test]
    fn a_request_answered_already_still_shows_its_resolution_in_the_turn() {
        let mut routes = Routes::default();
        let (_turn, mut rx) = start(&mut routes, "t", "a");
        let (_other_turn, mut other_rx) = start(&mut routes, "u", "b");
        let (key, _) = routes.route_server_request(&request(serde_json::json!("r"), "t", "a"));
        routes.forget_server_request(key);
        assert_eq!(routes.pending_server_requests(), 0);
        // Found by its thread, and only there; a thread with no live turn reaches no turn.
        routes.route(resolved("t", serde_json::json!("r")));
        assert_eq!(
            queued(&mut rx),
            [SERVER_REQUEST_EVENT, "serverRequest/resolved"]
        );
        assert_eq!(queued(&mut other_rx), Vec::<String>::new());
        routes.route(resolved("other", serde_json::json!("r")));
        assert_eq!(queued(&mut rx), Vec::<String>::new());
        assert_eq!(queued(&mut other_rx), Vec::<String>::new());
    }

    #[test]
    fn a_turn_that_ends_ends_its_own_pending_requests_only() {
        let mut routes = Routes::default();
        let (_a, _) = start(&mut routes, "t", "a");
        let (_b, _) = start(&mut routes, "u", "b");
        let (_, of_a) = routes.route_server_request(&request(serde_json::json!(1), "t", "a"));
        let (_, of_b) = routes.route_server_request(&request(serde_json::json!(2), "u", "b"));
        routes.route(completed("t", "a"));
        assert_eq!(*of_a.borrow(), RequestFate::TurnEnded);
        assert_eq!(*of_b.borrow(), RequestFate::Pending);
    }

    #[test]
    fn a_turn_that_completes_among_its_early_events_ends_its_requests() {
        let mut routes = Routes::default();
        routes.begin_turn_start("t").unwrap();
        let (_, fate) = routes.route_server_request(&request(serde_json::json!(1), "t", "a"));
        routes.route(completed("t", "a"));
        let (turn, mut rx) = new_turn("t", "a");
        routes.finish_turn_start("t", Some(Arc::clone(&turn)));
        assert_eq!(queued(&mut rx), [SERVER_REQUEST_EVENT, "turn/completed"]);
        assert!(turn.is_finished());
        assert_eq!(routes.live_turns(), 0);
        assert_eq!(*fate.borrow(), RequestFate::TurnEnded);
    }

    #[test]
    fn two_starts_on_one_thread_each_get_their_own_early_events() {
        let mut routes = Routes::default();
        routes.begin_turn_start("t").unwrap();
        routes.begin_turn_start("t").unwrap();
        routes.route(item("t", "a", "1"));
        routes.route(item("t", "b", "2"));
        routes.route(item("t", "a", "3"));
        let (a, mut a_rx) = new_turn("t", "a");
        routes.finish_turn_start("t", Some(a));
        assert_eq!(queued(&mut a_rx), ["item/started 1", "item/started 3"]);
        routes.route(item("t", "b", "4"));
        let (b, mut b_rx) = new_turn("t", "b");
        routes.finish_turn_start("t", Some(b));
        assert_eq!(queued(&mut b_rx), ["item/started 2", "item/started 4"]);
        assert!(routes.starting.is_empty());
        // Nothing is held for a thread with no start in flight.
        routes.route(item("t", "c", "5"));
        assert!(routes.starting.is_empty());
    }

    #[test]
    fn a_lone_start_takes_only_its_own_early_events() {
        // Held while the one start was in flight: a late event of the thread's previous turn.
        let mut routes = Routes::default();
        routes.begin_turn_start("t").unwrap();
        routes.route(item("t", "old", "stray"));
        routes.route(item("t", "a", "1"));
        let (a, mut a_rx) = new_turn("t", "a");
        routes.finish_turn_start("t", Some(a));
        assert_eq!(queued(&mut a_rx), ["item/started 1"]);

        // The same when the connection closed before the answer was handled.
        let mut routes = Routes::default();
        routes.begin_turn_start("t").unwrap();
        routes.route(item("t", "old", "stray"));
        routes.route(item("t", "a", "1"));
        routes.close_all(&closed());
        let (a, mut a_rx) = new_turn("t", "a");
        routes.finish_turn_start("t", Some(Arc::clone(&a)));
        assert_eq!(queued(&mut a_rx), ["item/started 1"]);
        assert!(matches!(a.end_error(), Some(Error::TransportClosed { .. })));
    }

    #[test]
    fn a_failed_start_keeps_the_other_starts_events() {
        let mut routes = Routes::default();
        routes.begin_turn_start("t").unwrap();
        routes.begin_turn_start("t").unwrap();
        routes.route(item("t", "b", "1"));
        routes.finish_turn_start("t", None);
        let (b, mut b_rx) = new_turn("t", "b");
        routes.finish_turn_start("t", Some(b));
        assert_eq!(queued(&mut b_rx), ["item/started 1"]);
    }

    #[test]
    fn a_turn_started_twice_is_failed_not_routed() {
        let mut routes = Routes::default();
        let (_first, mut first_rx) = start(&mut routes, "t", "a");
        let (second, _) = start(&mut routes, "t", "a");
        assert!(matches!(second.end_error(), Some(Error::Protocol(m)) if m.contains("twice")));
        routes.route(item("t", "a", "1"));
        assert_eq!(queued(&mut first_rx), ["item/started 1"]);
    }

    #[test]
    fn a_start_answered_as_the_connection_closed_gets_its_own_events_then_the_error() {
        let mut routes = Routes::default();
        routes.begin_turn_start("t").unwrap();
        routes.begin_turn_start("t").unwrap();
        routes.route(item("t", "a", "1"));
        routes.route(item("t", "b", "2"));
        routes.route(item("t", "a", "3"));
        routes.close_all(&closed());
        assert!(matches!(
            routes.begin_turn_start("t"),
            Err(Error::TransportClosed { .. })
        ));
        let (a, mut a_rx) = new_turn("t", "a");
        routes.finish_turn_start("t", Some(Arc::clone(&a)));
        assert_eq!(queued(&mut a_rx), ["item/started 1", "item/started 3"]);
        assert!(matches!(a.end_error(), Some(Error::TransportClosed { .. })));
        assert_eq!(routes.live_turns(), 0);

        // One that completed before the end keeps its completion.
        let mut routes = Routes::default();
        routes.begin_turn_start("t").unwrap();
        routes.route(completed("t", "b"));
        routes.route(item("t", "b", "late"));
        routes.close_all(&closed());
        let (b, mut b_rx) = new_turn("t", "b");
        routes.finish_turn_start("t", Some(Arc::clone(&b)));
        assert_eq!(queued(&mut b_rx), ["turn/completed"]);
        assert!(b.is_finished());
        assert!(b.end_error().is_none());
    }

    #[test]
    fn losing_the_transport_ends_turns_and_requests_but_keeps_listeners() {
        let mut routes = Routes::default();
        let (a, _) = start(&mut routes, "t", "a");
        let (_, fate) = routes.route_server_request(&request(serde_json::json!(1), "t", "a"));
        let mut listener = routes.listen();
        routes.lose_transport(&closed());
        assert!(matches!(a.end_error(), Some(Error::TransportClosed { .. })));
        assert_eq!(*fate.borrow(), RequestFate::Closed);
        assert_eq!(routes.live_turns(), 0);
        assert_eq!(routes.pending_server_requests(), 0);
        // Not closed: a new start is allowed, and the listener hears the new server.
        start(&mut routes, "t", "b");
        routes.route(item("t", "b", "1"));
        assert_eq!(queued(&mut listener), ["item/started 1"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pending_request_pauses_its_turns_watchdog_and_only_its_own() {
        let mut routes = Routes::default();
        let (a, _a_rx) = start(&mut routes, "t", "a");
        let (b, _b_rx) = start(&mut routes, "u", "b");
        let (key, _) = routes.route_server_request(&request(serde_json::json!(1), "t", "a"));
        assert!(
            !stalls(&a).await,
            "a turn waiting on the client is not stalled"
        );
        assert!(
            stalls(&b).await,
            "another turn's request does not keep this one alive"
        );
        routes.forget_server_request(key);
        assert!(stalls(&a).await, "answered: the turn can stall again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_came_before_its_turn_was_known_pauses_that_turn_only() {
        let mut routes = Routes::default();
        routes.begin_turn_start("t").unwrap();
        routes.begin_turn_start("u").unwrap();
        // Before the turns are known: of turn a, of turn z on the same thread, of turn a of
        // another thread.
        let (mine, _) = routes.route_server_request(&request(serde_json::json!(1), "t", "a"));
        routes.route_server_request(&request(serde_json::json!(2), "t", "z"));
        routes.route_server_request(&request(serde_json::json!(3), "u", "a"));
        let (a, _a_rx) = new_turn("t", "a");
        routes.finish_turn_start("t", Some(Arc::clone(&a)));
        let (b, _b_rx) = new_turn("u", "b");
        routes.finish_turn_start("u", Some(Arc::clone(&b)));
        assert!(!stalls(&a).await);
        assert!(stalls(&b).await, "requests of other turns do not pause it");
        routes.forget_server_request(mine);
        assert!(stalls(&a).await, "only its own request paused it");
    }
}
