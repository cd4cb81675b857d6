//! One JSON-RPC connection: a writer task, a reader task that routes every incoming frame
//! without ever waiting on a consumer, and the map of requests in flight.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::{Error, Result, RpcError};
use crate::frame::{self, Incoming, ResponseId, ServerRequest};
use crate::lock::lock;
use crate::outgoing;
use crate::router::{RequestFate, Routes};
use crate::transport::{BoxFuture, FrameReader, FrameWriter, ReadFrame};
use crate::wake_batch::{Burst, WakeBatch};

/// Something the connection wants the owner to know that is not an answer to anything:
/// undecodable frames, responses nobody waits for, dropped server requests.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub error: Error,
}

/// Which way a frame went, for the message tap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Incoming,
    Outgoing,
}

/// Sees every frame in and out (for logging and tracing). Called on the reader and writer
/// tasks: it must be quick and must not block.
pub type MessageTap = Arc<dyn Fn(Direction, &str) + Send + Sync>;

/// Hooks the owner of a connection provides.
pub struct ConnectionHooks {
    /// Every frame in and out; `None` costs nothing.
    pub tap: Option<MessageTap>,
    /// Called once the transport has closed, to fetch the peer's recent stderr for the error.
    pub stderr_tail: Box<dyn Fn() -> BoxFuture<'static, String> + Send + Sync>,
    /// Every server request goes here, with what becomes of it meanwhile; the receiver must
    /// answer each exactly once (unless the server resolves it first).
    pub server_requests: mpsc::UnboundedSender<(ServerRequest, u64, watch::Receiver<RequestFate>)>,
    /// Protocol problems that do not belong to any request.
    pub diagnostics: Option<mpsc::UnboundedSender<Diagnostic>>,
}

enum Outgoing {
    Frame(String),
    /// End of input to the peer (stdin EOF); the writer stops afterwards.
    Close,
}

type PendingReply = oneshot::Sender<Result<Box<RawValue>>>;

struct PendingRequest {
    method: String,
    reply: PendingReply,
}

/// How requests rejected with "server overloaded" (-32001) are retried. The server rejects
/// those at ingress, before doing anything, so sending them again is safe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    pub const NONE: RetryPolicy = RetryPolicy {
        max_attempts: 1,
        initial_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    };

    /// Delay before attempt `attempt + 1`: exponential, capped, with full jitter.
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .initial_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let cap = exp.min(self.max_delay);
        cap.mul_f64(rand::random_range(0.5..=1.0))
    }
}

/// Why the connection is no longer open.
#[derive(Clone)]
enum State {
    Open,
    /// The transport is gone and the owner is bringing up a new one ([`Connection::attach`]):
    /// new requests wait (bounded by their timeout) instead of failing.
    Restarting,
    Closed(Error),
}

pub(crate) struct Inner {
    /// To the writer task of the current transport (replaced by [`Connection::attach`]).
    outgoing: Mutex<mpsc::UnboundedSender<Outgoing>>,
    /// Which transport is current: a reader or writer of an older one that ends changes nothing.
    generation: AtomicU64,
    /// With a restarting owner ([`Connection::restartable`]), where a lost transport is reported
    /// instead of closing the connection.
    on_lost: Mutex<Option<mpsc::UnboundedSender<Error>>>,
    /// Bumped on every change of `state`, for requests parked while restarting.
    state_changed: watch::Sender<u64>,
    pending: Mutex<HashMap<i64, PendingRequest>>,
    next_id: AtomicI64,
    pub(crate) routes: Mutex<Routes>,
    state: Mutex<State>,
    closed_tx: watch::Sender<bool>,
    default_timeout: Option<Duration>,
    retry: Mutex<RetryPolicy>,
    /// The reader's burst of frames in progress, for event streams (wake_batch.rs).
    pub(crate) burst: Arc<Burst>,
}

#[derive(Clone)]
pub struct Connection {
    pub(crate) inner: Arc<Inner>,
}

impl Connection {
    /// Starts the reader and writer tasks on the current tokio runtime.
    pub fn start(
        reader: Box<dyn FrameReader>,
        writer: Box<dyn FrameWriter>,
        hooks: ConnectionHooks,
        default_timeout: Option<Duration>,
    ) -> Connection {
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let (closed_tx, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            outgoing: Mutex::new(out_tx),
            generation: AtomicU64::new(0),
            on_lost: Mutex::new(None),
            state_changed: watch::channel(0).0,
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicI64::new(1),
            routes: Mutex::new(Routes::default()),
            state: Mutex::new(State::Open),
            closed_tx,
            default_timeout,
            retry: Mutex::new(RetryPolicy::default()),
            burst: Arc::default(),
        });
        tokio::spawn(write_loop(
            writer,
            out_rx,
            Arc::downgrade(&inner),
            hooks.tap.clone(),
            0,
        ));
        tokio::spawn(read_loop(reader, Arc::clone(&inner), hooks, 0));
        Connection { inner }
    }

    /// From now on a lost transport does not close the connection: everything in flight fails
    /// as it would on close (`TRANSPORT_CLOSED`), session listeners stay, the connection enters
    /// the restarting state and the error is sent on the returned channel. The owner then
    /// [`attach`](Self::attach)es a new transport and [`reopen`](Self::reopen)s, or closes.
    pub fn restartable(&self) -> mpsc::UnboundedReceiver<Error> {
        let (tx, rx) = mpsc::unbounded_channel();
        *lock(&self.inner.on_lost) = Some(tx);
        rx
    }

    /// True while the transport is being replaced (see [`restartable`](Self::restartable)).
    pub fn is_restarting(&self) -> bool {
        matches!(*lock(&self.inner.state), State::Restarting)
    }

    /// Starts reader and writer tasks on a new transport, replacing the lost one. The state
    /// stays restarting (requests stay parked) until [`reopen`](Self::reopen); meanwhile only
    /// [`request_while_restarting`](Self::request_while_restarting) goes through.
    pub fn attach(
        &self,
        reader: Box<dyn FrameReader>,
        writer: Box<dyn FrameWriter>,
        hooks: ConnectionHooks,
    ) {
        let generation = self.inner.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        // Dropping the old sender ends the old writer task.
        *lock(&self.inner.outgoing) = out_tx;
        tokio::spawn(write_loop(
            writer,
            out_rx,
            Arc::downgrade(&self.inner),
            hooks.tap.clone(),
            generation,
        ));
        tokio::spawn(read_loop(
            reader,
            Arc::clone(&self.inner),
            hooks,
            generation,
        ));
    }

    /// The new transport is ready: parked requests go ahead. No effect unless restarting.
    pub fn reopen(&self) {
        let mut state = lock(&self.inner.state);
        if matches!(*state, State::Restarting) {
            *state = State::Open;
            drop(state);
            self.inner.state_changed.send_modify(|n| *n += 1);
        }
    }

    pub fn is_closed(&self) -> bool {
        matches!(*lock(&self.inner.state), State::Closed(_))
    }

    /// The error everything fails with once the connection is closed.
    pub fn closed_error(&self) -> Option<Error> {
        match &*lock(&self.inner.state) {
            State::Open | State::Restarting => None,
            State::Closed(e) => Some(e.clone()),
        }
    }

    /// Resolves once the connection has closed, for whatever reason.
    pub async fn closed(&self) {
        let mut rx = self.inner.closed_tx.subscribe();
        let _ = rx.wait_for(|closed| *closed).await;
    }

    /// Sends a request and waits for its answer. `timeout` overrides the connection default;
    /// `Some(Duration::ZERO)` means no timeout.
    pub async fn request(
        &self,
        method: &str,
        params: &(impl serde::Serialize + ?Sized),
        timeout: Option<Duration>,
    ) -> Result<Box<RawValue>> {
        let policy = *lock(&self.inner.retry);
        let mut attempt = 1;
        loop {
            match self.request_once(method, params, timeout, false).await {
                Err(Error::ServerOverloaded { .. }) if attempt < policy.max_attempts => {
                    tokio::time::sleep(policy.delay(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Sets how "server overloaded" rejections are retried.
    pub fn set_retry_policy(&self, policy: RetryPolicy) {
        *lock(&self.inner.retry) = policy;
    }

    /// Like [`request`](Self::request) with params already encoded as JSON text, which is sent
    /// as it is (checked to be JSON, not re-encoded). Requests the server rejects as overloaded
    /// are retried per the connection's [`RetryPolicy`].
    pub async fn request_raw(
        &self,
        method: &str,
        params_json: &str,
        timeout: Option<Duration>,
    ) -> Result<Box<RawValue>> {
        let params = outgoing::json_text("params", params_json)?;
        self.request(method, params, timeout).await
    }

    /// A request sent while the connection is restarting, on the new transport (the owner's
    /// `initialize` and thread re-attachment); anything else waits for [`reopen`](Self::reopen).
    pub async fn request_while_restarting(
        &self,
        method: &str,
        params: &(impl serde::Serialize + ?Sized),
        timeout: Option<Duration>,
    ) -> Result<Box<RawValue>> {
        self.request_once(method, params, timeout, true).await
    }

    async fn request_once(
        &self,
        method: &str,
        params: &(impl serde::Serialize + ?Sized),
        timeout: Option<Duration>,
        while_restarting: bool,
    ) -> Result<Box<RawValue>> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = outgoing::request(id, method, params)?;
        let timeout = timeout
            .or(self.inner.default_timeout)
            .filter(|t| !t.is_zero());
        // One limit for both the wait for a restart and the answer.
        let deadline = timeout.map(|limit| tokio::time::Instant::now() + limit);
        let timed_out = |limit| Error::RequestTimeout {
            method: method.to_owned(),
            timeout: limit,
        };
        let (tx, rx) = oneshot::channel();
        let mut tx = Some(tx);
        let mut changes = self.inner.state_changed.subscribe();
        loop {
            // Register before sending so that an instant answer finds its entry, and check the
            // state under the same lock the closer drains under, so nothing slips past a close.
            let mut pending = lock(&self.inner.pending);
            let parked = match &*lock(&self.inner.state) {
                State::Closed(e) => return Err(e.clone()),
                State::Restarting => !while_restarting,
                State::Open => false,
            };
            if !parked {
                if let Some(reply) = tx.take() {
                    pending.insert(
                        id,
                        PendingRequest {
                            method: method.to_owned(),
                            reply,
                        },
                    );
                }
                break;
            }
            changes.borrow_and_update();
            drop(pending);
            // Parked while the owner brings up a new server; bounded by the request's timeout.
            match (deadline, timeout) {
                (Some(at), Some(limit)) => {
                    if tokio::time::timeout_at(at, changes.changed())
                        .await
                        .is_err()
                    {
                        return Err(timed_out(limit));
                    }
                }
                _ => {
                    let _ = changes.changed().await;
                }
            }
        }
        let guard = PendingGuard {
            inner: &self.inner,
            id,
        };
        if lock(&self.inner.outgoing)
            .send(Outgoing::Frame(frame))
            .is_err()
        {
            return Err(self.closed_error().unwrap_or(Error::SessionClosed));
        }
        let answer = match (deadline, timeout) {
            (Some(at), Some(limit)) => match tokio::time::timeout_at(at, rx).await {
                Ok(answer) => answer,
                Err(_) => return Err(timed_out(limit)),
            },
            _ => rx.await,
        };
        drop(guard);
        match answer {
            Ok(result) => result,
            // The sender vanished without an answer: only possible when the connection closed.
            Err(_) => Err(self.closed_error().unwrap_or(Error::SessionClosed)),
        }
    }

    /// Sends a notification (no answer expected); `params_json` is sent as it is (checked to be
    /// JSON).
    pub fn notify(&self, method: &str, params_json: Option<&str>) -> Result<()> {
        let params = params_json
            .map(|p| outgoing::json_text("params", p))
            .transpose()?;
        self.send_frame(outgoing::notification(method, params)?)
    }

    /// Answers a server request.
    pub fn respond(
        &self,
        id: &RawValue,
        outcome: std::result::Result<&RawValue, &RpcError>,
    ) -> Result<()> {
        // An answer due to a server that is gone must not reach its replacement.
        if self.is_restarting() {
            return Err(Error::TransportClosed {
                reason: "the server that asked is gone (restarting)".into(),
                stderr_tail: String::new(),
            });
        }
        let frame = match outcome {
            Ok(result) => outgoing::response(id, result)?,
            Err(e) => outgoing::error_response(id, e)?,
        };
        self.send_frame(frame)
    }

    fn send_frame(&self, frame: String) -> Result<()> {
        if let Some(e) = self.closed_error() {
            return Err(e);
        }
        lock(&self.inner.outgoing)
            .send(Outgoing::Frame(frame))
            .map_err(|_| self.closed_error().unwrap_or(Error::SessionClosed))
    }

    /// Closes from our side: everything pending settles with `reason` (normally
    /// `SESSION_CLOSED`), then the peer gets end of input.
    pub fn close(&self, reason: Error) {
        self.inner.shut(reason);
        let _ = lock(&self.inner.outgoing).send(Outgoing::Close);
    }

    /// Number of requests awaiting an answer (for leak checks).
    pub fn pending_requests(&self) -> usize {
        lock(&self.inner.pending).len()
    }

    /// Number of server requests not answered yet.
    pub fn pending_server_requests(&self) -> usize {
        lock(&self.inner.routes).pending_server_requests()
    }

    pub(crate) fn forget_server_request(&self, key: u64) {
        lock(&self.inner.routes).forget_server_request(key);
    }
}

/// Removes a pending entry when its request future is dropped or times out.
struct PendingGuard<'a> {
    inner: &'a Inner,
    id: i64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(&self.inner.pending).remove(&self.id);
    }
}

impl Inner {
    /// Marks the connection closed (first reason wins) and settles everything that waits on it.
    fn shut(&self, reason: Error) {
        let drained: Vec<PendingRequest> = {
            let mut pending = lock(&self.pending);
            {
                let mut state = lock(&self.state);
                if matches!(*state, State::Closed(_)) {
                    return;
                }
                *state = State::Closed(reason.clone());
            }
            pending.drain().map(|(_, p)| p).collect()
        };
        for p in drained {
            let _ = p.reply.send(Err(reason.clone()));
        }
        lock(&self.routes).close_all(&reason);
        self.state_changed.send_modify(|n| *n += 1);
        self.closed_tx.send_replace(true);
    }

    /// Transport `generation` ended. Without a restarting owner (or if it is gone), the
    /// connection closes; with one, what was in flight fails as on close, listeners stay, and
    /// the owner hears of it. An older transport's end (or a second report) changes nothing.
    fn lost(&self, generation: u64, reason: Error) {
        let Some(on_lost) = lock(&self.on_lost).clone() else {
            return self.shut(reason);
        };
        let (drained, was_open): (Vec<PendingRequest>, bool) = {
            let mut pending = lock(&self.pending);
            let was_open = {
                let mut state = lock(&self.state);
                if matches!(*state, State::Closed(_))
                    || self.generation.load(Ordering::SeqCst) != generation
                {
                    return;
                }
                let previous = std::mem::replace(&mut *state, State::Restarting);
                matches!(previous, State::Open)
            };
            (pending.drain().map(|(_, p)| p).collect(), was_open)
        };
        // A new transport that dies during its own start fails only what it carried (the
        // owner's `initialize`): the owner is already restarting.
        for p in drained {
            let _ = p.reply.send(Err(reason.clone()));
        }
        lock(&self.routes).lose_transport(&reason);
        if !was_open {
            return;
        }
        self.state_changed.send_modify(|n| *n += 1);
        if let Err(mpsc::error::SendError(reason)) = on_lost.send(reason) {
            self.shut(reason);
        }
    }

    fn complete(
        &self,
        id: ResponseId,
        outcome: std::result::Result<Box<RawValue>, RpcError>,
    ) -> Option<Diagnostic> {
        let entry = match &id {
            ResponseId::Int(n) => lock(&self.pending).remove(n),
            ResponseId::Other(_) => None,
        };
        match entry {
            Some(p) => {
                let _ = p
                    .reply
                    .send(outcome.map_err(|e| Error::from_rpc(&p.method, e)));
                None
            }
            None => Some(Diagnostic {
                error: Error::Protocol(format!(
                    "response for id {} that no request is waiting for",
                    match id {
                        ResponseId::Int(n) => n.to_string(),
                        ResponseId::Other(s) => s,
                    }
                )),
            }),
        }
    }
}

async fn write_loop(
    mut writer: Box<dyn FrameWriter>,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    inner: std::sync::Weak<Inner>,
    tap: Option<MessageTap>,
    generation: u64,
) {
    let mut batch = Vec::with_capacity(64);
    loop {
        if rx.recv_many(&mut batch, 256).await == 0 {
            break;
        }
        let mut close = false;
        let mut failed = None;
        for out in batch.drain(..) {
            match out {
                Outgoing::Frame(frame) => {
                    if let Some(tap) = &tap {
                        tap(Direction::Outgoing, &frame);
                    }
                    if let Err(e) = writer.write_frame(&frame).await {
                        failed = Some(e);
                        break;
                    }
                }
                Outgoing::Close => {
                    close = true;
                    break;
                }
            }
        }
        if failed.is_none() {
            if let Err(e) = writer.flush().await {
                failed = Some(e);
            }
        }
        if let Some(e) = failed {
            if let Some(inner) = inner.upgrade() {
                inner.lost(
                    generation,
                    Error::TransportClosed {
                        reason: format!("write failed: {e}"),
                        stderr_tail: String::new(),
                    },
                );
            }
            break;
        }
        if close {
            let _ = writer.close().await;
            break;
        }
    }
}

async fn read_loop(
    mut reader: Box<dyn FrameReader>,
    inner: Arc<Inner>,
    hooks: ConnectionHooks,
    generation: u64,
) {
    let report = |d: Diagnostic| {
        if let Some(tx) = &hooks.diagnostics {
            let _ = tx.send(d);
        }
    };
    // Consumers of event streams are woken once per burst of frames (wake_batch.rs).
    let mut wakes = WakeBatch::new(Arc::clone(&inner.burst));
    let end_reason = loop {
        let frame = match wakes.flush_when_idle(reader.next_frame()).await {
            Ok(Some(ReadFrame::Frame(text))) => text,
            Ok(Some(ReadFrame::TooLarge { size })) => {
                report(Diagnostic {
                    error: Error::Protocol(format!(
                        "skipped a frame of {size} bytes: over the size limit"
                    )),
                });
                continue;
            }
            Ok(Some(ReadFrame::NotUtf8)) => {
                report(Diagnostic {
                    error: Error::Protocol("skipped a frame that is not UTF-8".into()),
                });
                continue;
            }
            Ok(None) => break "server closed its output".to_owned(),
            Err(e) => break format!("read failed: {e}"),
        };
        if let Some(tap) = &hooks.tap {
            tap(Direction::Incoming, &frame);
        }
        wakes.collect(frame.len(), || match frame::decode_owned(frame) {
            Ok(Incoming::Response { id, outcome }) => {
                if let Some(d) = inner.complete(id, outcome) {
                    report(d);
                }
            }
            Ok(Incoming::Notification(n)) => lock(&inner.routes).route(Arc::new(n)),
            Ok(Incoming::ServerRequest(req)) => {
                let (key, fate) = lock(&inner.routes).route_server_request(&req);
                if let Err(mpsc::error::SendError((req, key, _))) =
                    hooks.server_requests.send((req, key, fate))
                {
                    lock(&inner.routes).forget_server_request(key);
                    // Nobody handles requests any more (session shutting down): never leave the
                    // server waiting.
                    let error = RpcError {
                        code: -32603,
                        message: "client is shutting down".into(),
                        data: None,
                    };
                    let _ = Connection {
                        inner: Arc::clone(&inner),
                    }
                    .respond(&req.id, Err(&error));
                }
            }
            Err((e, frame)) => {
                let mut shown: String = frame.chars().take(200).collect();
                if shown.len() < frame.len() {
                    shown.push('…');
                }
                report(Diagnostic {
                    error: Error::Protocol(format!(
                        "skipped an undecodable frame: {}: {shown}",
                        e.0
                    )),
                });
            }
        });
    };
    drop(wakes); // fires what the last burst collected
    let stderr_tail = (hooks.stderr_tail)().await;
    inner.lost(
        generation,
        Error::TransportClosed {
            reason: end_reason,
            stderr_tail,
        },
    );
}

/// A connection whose other end is the test, line by line (unit tests of this crate).
#[cfg(test)]
pub(crate) mod line_peer {
    use super::*;
    use crate::transport::{LineReader, LineWriter};
    use serde_json::Value;
    use tokio::io::{AsyncBufReadExt, BufReader, DuplexStream, Lines, ReadHalf, WriteHalf};

    pub(crate) struct LinePeer {
        pub conn: Connection,
        pub lines: Lines<BufReader<ReadHalf<DuplexStream>>>,
        pub write: Option<WriteHalf<DuplexStream>>,
        /// Server requests the connection routed (nobody answers them unless a test does).
        pub requests: ServerRequestRx,
        /// What the connection reported (malformed frames, answers to unknown ids).
        pub diagnostics: mpsc::UnboundedReceiver<Diagnostic>,
    }

    type ServerRequestRx =
        mpsc::UnboundedReceiver<(ServerRequest, u64, watch::Receiver<RequestFate>)>;

    impl LinePeer {
        pub(crate) fn new() -> LinePeer {
            let (client, server) = tokio::io::duplex(1 << 16);
            let (client_read, client_write) = tokio::io::split(client);
            let (server_read, server_write) = tokio::io::split(server);
            let (server_requests, requests) = mpsc::unbounded_channel();
            let (diagnostics_tx, diagnostics) = mpsc::unbounded_channel();
            let conn = Connection::start(
                Box::new(LineReader::new(BufReader::new(client_read), 1 << 20)),
                Box::new(LineWriter::new(client_write)),
                ConnectionHooks {
                    tap: None,
                    stderr_tail: Box::new(|| Box::pin(async { String::new() })),
                    server_requests,
                    diagnostics: Some(diagnostics_tx),
                },
                None,
            );
            LinePeer {
                conn,
                lines: BufReader::new(server_read).lines(),
                write: Some(server_write),
                requests,
                diagnostics,
            }
        }

        /// The next frame the client wrote (10 s at most: a frame never written fails the test
        /// instead of hanging it).
        pub(crate) async fn next(&mut self) -> Value {
            let line = tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
                .await
                .expect("the client wrote nothing within 10 s")
                .unwrap()
                .expect("a frame");
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::line_peer::LinePeer;
    use super::*;
    use serde_json::json;
    use tokio::io::AsyncWriteExt;

    /// What a hand-written `format!` frame gets wrong: a quote, a backslash, a newline (which
    /// would split the line-delimited frame in two), a control character, non-ASCII.
    const AWKWARD: &str = "a\"b\\c\nd\u{1}é🦀";

    #[tokio::test]
    async fn frames_sent_are_one_line_of_json_whatever_they_carry() {
        let mut peer = LinePeer::new();
        let conn = peer.conn.clone();
        let mut server_write = peer.write.take().unwrap();

        conn.notify(AWKWARD, Some(r#"{"x":"\n"}"#)).unwrap();
        assert_eq!(
            peer.next().await,
            json!({ "method": AWKWARD, "params": { "x": "\n" } })
        );

        let request = tokio::spawn({
            let conn = conn.clone();
            async move { conn.request_raw(AWKWARD, "[1,\"é\"]", None).await }
        });
        let frame = peer.next().await;
        assert_eq!(frame["method"], AWKWARD);
        assert_eq!(frame["params"], json!([1, "é"]));
        let answer = format!("{{\"id\":{},\"result\":{{\"ok\":true}}}}\n", frame["id"]);
        server_write.write_all(answer.as_bytes()).await.unwrap();
        assert_eq!(request.await.unwrap().unwrap().get(), r#"{"ok":true}"#);

        let id = RawValue::from_string(r#""req-1""#.into()).unwrap();
        let decline = RpcError {
            code: -32601,
            message: format!("{AWKWARD}: declined by the client's policy"),
            data: None,
        };
        conn.respond(&id, Err(&decline)).unwrap();
        assert_eq!(
            peer.next().await,
            json!({ "id": "req-1", "error": { "code": -32601, "message": decline.message } })
        );

        // JSON text handed over as a string is checked, not sent broken.
        let err = conn.request_raw("x", "{\"a\":", None).await.unwrap_err();
        assert_eq!(err.code(), "INVALID_ARGUMENT");
        assert!(err.to_string().contains("params"), "{err}");
        let err = conn.notify("x", Some("nope")).unwrap_err();
        assert_eq!(err.code(), "INVALID_ARGUMENT");
        conn.notify("last", None).unwrap();
        assert_eq!(peer.next().await, json!({ "method": "last" }));
    }

    /// The leak counters count: a counter stuck at 0 would pass every "back to zero" check.
    #[tokio::test]
    async fn pending_counters_count_what_is_pending_and_drop_to_zero() {
        let mut peer = LinePeer::new();
        let conn = peer.conn.clone();
        let mut server_write = peer.write.take().unwrap();
        assert_eq!(
            (conn.pending_requests(), conn.pending_server_requests()),
            (0, 0)
        );

        let request = tokio::spawn({
            let conn = conn.clone();
            async move { conn.request_raw("x/y", "{}", None).await }
        });
        let frame = peer.next().await;
        assert_eq!(conn.pending_requests(), 1);
        let answer = format!("{{\"id\":{},\"result\":null}}\n", frame["id"]);
        server_write.write_all(answer.as_bytes()).await.unwrap();
        request.await.unwrap().unwrap();
        assert_eq!(conn.pending_requests(), 0);

        let ask = "{\"id\":\"s1\",\"method\":\"item/tool/call\",\"params\":{\"threadId\":\"t\"}}\n";
        server_write.write_all(ask.as_bytes()).await.unwrap();
        let (request, key, _fate) =
            tokio::time::timeout(Duration::from_secs(10), peer.requests.recv())
                .await
                .expect("the server request is routed")
                .expect("a server request");
        assert_eq!(request.method, "item/tool/call");
        assert_eq!(conn.pending_server_requests(), 1);
        conn.forget_server_request(key);
        assert_eq!(conn.pending_server_requests(), 0);
    }

    #[tokio::test]
    async fn a_server_request_nobody_can_handle_gets_an_internal_error_at_once() {
        let mut peer = LinePeer::new();
        let mut server_write = peer.write.take().unwrap();
        peer.requests.close(); // the session's dispatcher is gone (shutting down)
        let ask = "{\"id\":9,\"method\":\"item/tool/call\",\"params\":{}}\n";
        server_write.write_all(ask.as_bytes()).await.unwrap();
        assert_eq!(
            peer.next().await,
            json!({"id": 9, "error": {"code": -32603, "message": "client is shutting down"}})
        );
        assert_eq!(peer.conn.pending_server_requests(), 0);
    }

    #[tokio::test]
    async fn an_undecodable_frame_is_reported_with_its_start_then_skipped() {
        let mut peer = LinePeer::new();
        let mut server_write = peer.write.take().unwrap();
        let short = "{\"id\": nope}";
        let long = format!("{{\"method\": {}", "x".repeat(300));
        for frame in [short, long.as_str()] {
            server_write
                .write_all(format!("{frame}\n").as_bytes())
                .await
                .unwrap();
        }
        let mut shown = Vec::new();
        for _ in 0..2 {
            let d = tokio::time::timeout(Duration::from_secs(10), peer.diagnostics.recv())
                .await
                .expect("a diagnostic")
                .expect("the channel is open");
            assert_eq!(d.error.code(), "PROTOCOL_ERROR");
            shown.push(d.error.to_string());
        }
        // A short frame is shown whole; a long one by its first 200 characters and an ellipsis.
        assert!(shown[0].ends_with(&format!(": {short}")), "{}", shown[0]);
        let expected_start: String = long.chars().take(200).collect();
        assert!(
            shown[1].ends_with(&format!(": {expected_start}…")),
            "{}",
            shown[1]
        );
        // Skipped: the connection goes on.
        peer.conn.notify("after", None).unwrap();
        assert_eq!(peer.next().await, json!({"method": "after"}));
    }

    #[tokio::test]
    async fn closed_resolves_when_the_transport_ends_and_not_before() {
        use std::future::Future;
        let mut peer = LinePeer::new();
        let conn = peer.conn.clone();
        let mut closed = std::pin::pin!(conn.closed());
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        assert!(
            closed.as_mut().poll(&mut cx).is_pending(),
            "closed() while open"
        );
        // A round trip: the connection is up and its reader running.
        conn.notify("ping", None).unwrap();
        assert_eq!(peer.next().await, json!({"method": "ping"}));
        assert!(
            closed.as_mut().poll(&mut cx).is_pending(),
            "closed() while open"
        );
        drop(peer); // the server's end of the pipe goes: its output ends
        tokio::time::timeout(Duration::from_secs(10), closed)
            .await
            .expect("closed() resolves once the transport has ended");
        assert_eq!(
            conn.closed_error().map(|e| e.code()),
            Some("TRANSPORT_CLOSED")
        );
    }

    /// The restart state machine: a lost transport fails what was in flight, keeps listeners,
    /// parks new requests (a parked request with a timeout times out), lets only the owner's
    /// requests through on the new transport, and releases the parked ones on `reopen`.
    #[tokio::test]
    async fn a_restartable_connection_parks_requests_until_a_new_transport_is_reopened() {
        use crate::transport::{LineReader, LineWriter};
        use tokio::io::{AsyncBufReadExt, BufReader};
        let mut peer = LinePeer::new();
        let conn = peer.conn.clone();
        let mut lost = conn.restartable();
        let mut listener = lock(&conn.inner.routes).listen();
        let in_flight = tokio::spawn({
            let conn = conn.clone();
            async move { conn.request_raw("a/b", "{}", None).await }
        });
        assert_eq!(peer.next().await["method"], "a/b");
        drop(peer); // the server dies
        let err = in_flight.await.unwrap().unwrap_err();
        assert_eq!(err.code(), "TRANSPORT_CLOSED");
        let reported = tokio::time::timeout(Duration::from_secs(10), lost.recv())
            .await
            .expect("the loss is reported")
            .expect("an error");
        assert_eq!(reported.code(), "TRANSPORT_CLOSED");
        assert!(conn.is_restarting() && !conn.is_closed());

        // Parked: bounded by its timeout, or released by reopen.
        let err = conn
            .request_raw("x/timeout", "{}", Some(Duration::from_millis(50)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "REQUEST_TIMEOUT");
        let parked = tokio::spawn({
            let conn = conn.clone();
            async move { conn.request_raw("c/d", "{}", None).await }
        });
        assert!(conn
            .respond(
                &RawValue::from_string("1".into()).unwrap(),
                Err(&RpcError {
                    code: 1,
                    message: "late".into(),
                    data: None,
                })
            )
            .is_err());

        // The new transport: only the owner's request goes through before reopen.
        let (client, server) = tokio::io::duplex(1 << 16);
        let (client_read, client_write) = tokio::io::split(client);
        let (server_read, mut server_write) = tokio::io::split(server);
        let (server_requests, _requests) = mpsc::unbounded_channel();
        conn.attach(
            Box::new(LineReader::new(BufReader::new(client_read), 1 << 20)),
            Box::new(LineWriter::new(client_write)),
            ConnectionHooks {
                tap: None,
                stderr_tail: Box::new(|| Box::pin(async { String::new() })),
                server_requests,
                diagnostics: None,
            },
        );
        let mut lines = BufReader::new(server_read).lines();
        async fn next(
            lines: &mut tokio::io::Lines<BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>>,
        ) -> serde_json::Value {
            let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
                .await
                .expect("a frame within 10 s")
                .unwrap()
                .expect("a frame");
            serde_json::from_str(&line).unwrap()
        }
        let init = tokio::spawn({
            let conn = conn.clone();
            async move {
                conn.request_while_restarting("initialize", &json!({}), None)
                    .await
            }
        });
        let frame = next(&mut lines).await;
        assert_eq!(
            frame["method"], "initialize",
            "the parked request went first"
        );
        let answer = format!("{{\"id\":{},\"result\":{{}}}}\n", frame["id"]);
        server_write.write_all(answer.as_bytes()).await.unwrap();
        init.await.unwrap().unwrap();
        server_write
            .write_all(b"{\"method\":\"hello/again\",\"params\":{}}\n")
            .await
            .unwrap();
        let heard = tokio::time::timeout(Duration::from_secs(10), listener.recv())
            .await
            .expect("the listener hears the new server")
            .expect("still subscribed");
        assert_eq!(heard.method(), "hello/again");

        conn.reopen();
        let frame = next(&mut lines).await;
        assert_eq!(frame["method"], "c/d");
        let answer = format!("{{\"id\":{},\"result\":7}}\n", frame["id"]);
        server_write.write_all(answer.as_bytes()).await.unwrap();
        assert_eq!(parked.await.unwrap().unwrap().get(), "7");
        assert!(!conn.is_restarting());

        // A close while restarting fails parked requests with the close's reason.
        drop((server_write, lines)); // the new server dies too
        tokio::time::timeout(Duration::from_secs(10), lost.recv())
            .await
            .expect("the second loss is reported")
            .expect("an error");
        let parked = tokio::spawn({
            let conn = conn.clone();
            async move { conn.request_raw("e/f", "{}", None).await }
        });
        conn.close(Error::SessionClosed);
        assert_eq!(parked.await.unwrap().unwrap_err().code(), "SESSION_CLOSED");
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        for attempt in 1..10 {
            let d = p.delay(attempt);
            let base =
                Duration::from_millis(100 * 2u64.pow(attempt - 1)).min(Duration::from_millis(1000));
            assert!(
                d >= base / 2 && d <= base,
                "attempt {attempt}: {d:?} outside [{:?}, {base:?}]",
                base / 2
            );
        }
    }
}
