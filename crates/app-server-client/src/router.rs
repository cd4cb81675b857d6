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
    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
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
