//! One JSON-RPC connection: a writer task, a reader task that routes every incoming frame
//! without ever waiting on a consumer, and the map of requests in flight.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::{Error, Result, RpcError};
use crate::frame::{Decoder, Incoming, ResponseId, ServerRequest};
use crate::intercept::{self, Chain, Interceptor, Verdict};
use crate::lock::lock;
use crate::outgoing;
use crate::router::{RequestFate, Routes};
use crate::transport::{BoxFuture, FrameReader, FrameWriter, ReadFrame};
use crate::wake_batch::{Burst, WakeBatch, MAX_BURST_FRAMES};

/// Something the connection wants the owner to know that is not an answer to anything:
/// undecodable frames, responses nobody waits for, dropped server requests.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub error: Error,
}

pub use crate::intercept::Direction;

/// Sees every frame in and out (for logging and tracing), as it is on the wire: incoming
/// before the interceptors, outgoing after them. Called on the reader and writer tasks: it
/// must be quick and must not block.
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
    /// May change or drop messages, in order (intercept.rs); empty costs nothing.
    pub interceptors: Vec<Arc<dyn Interceptor>>,
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
    /// Signalled on every change of `state`, for requests parked while restarting (they re-read
    /// `state` itself: the signal carries nothing).
    state_changed: watch::Sender<()>,
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
            state_changed: watch::channel(()).0,
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicI64::new(1),
            routes: Mutex::new(Routes::default()),
            state: Mutex::new(State::Open),
            closed_tx,
            default_timeout,
            retry: Mutex::new(RetryPolicy::default()),
            burst: Arc::default(),
        });
        spawn_io(&inner, reader, writer, out_rx, hooks, 0);
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
        spawn_io(&self.inner, reader, writer, out_rx, hooks, generation);
    }

    /// The new transport is ready: parked requests go ahead. No effect unless restarting.
    pub fn reopen(&self) {
        let mut state = lock(&self.inner.state);
        if matches!(*state, State::Restarting) {
            *state = State::Open;
            drop(state);
            self.inner.state_changed.send_replace(());
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
        self.state_changed.send_replace(());
        self.closed_tx.send_replace(true);
    }

    /// Fails the request `id` (if still pending) with `DROPPED_BY_INTERCEPTOR`.
    fn drop_request(&self, id: &Value) {
        let entry = id.as_i64().and_then(|n| lock(&self.pending).remove(&n));
        if let Some(p) = entry {
            let _ = p
                .reply
                .send(Err(Error::DroppedByInterceptor { method: p.method }));
        }
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
        self.state_changed.send_replace(());
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

/// Starts the tasks of one transport (`generation`: the first, or one attached by a restart):
/// the writer, and the reader (with an incoming chain, a reader and the chain's own task).
fn spawn_io(
    inner: &Arc<Inner>,
    reader: Box<dyn FrameReader>,
    writer: Box<dyn FrameWriter>,
    out_rx: mpsc::UnboundedReceiver<Outgoing>,
    hooks: ConnectionHooks,
    generation: u64,
) {
    tokio::spawn(write_loop(
        writer,
        out_rx,
        Arc::downgrade(inner),
        hooks.tap.clone(),
        Chain::for_direction(&hooks.interceptors, Direction::Outgoing)
            .map(|chain| (chain, hooks.diagnostics.clone())),
        generation,
    ));
    match Chain::for_direction(&hooks.interceptors, Direction::Incoming) {
        // No incoming interceptor: frames are routed as read, on the reader (zero cost).
        None => tokio::spawn(read_loop(reader, Arc::clone(inner), hooks, generation)),
        // The chain may wait (on JavaScript): it runs on a task of its own, in order, so that
        // the reader keeps reading meanwhile (it never waits on a consumer).
        Some(chain) => {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(read_into(
                reader,
                tx,
                hooks.tap.clone(),
                hooks.diagnostics.clone(),
            ));
            tokio::spawn(intercept_loop(
                rx,
                chain,
                Arc::clone(inner),
                hooks,
                generation,
            ))
        }
    };
}

async fn write_loop(
    mut writer: Box<dyn FrameWriter>,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    inner: std::sync::Weak<Inner>,
    tap: Option<MessageTap>,
    chain: Option<(Chain, Option<mpsc::UnboundedSender<Diagnostic>>)>,
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
                    let frame = match &chain {
                        None => frame,
                        Some((chain, diagnostics)) => {
                            match intercept_outgoing(chain, diagnostics, &inner, frame).await {
                                Some(frame) => frame,
                                None => continue,
                            }
                        }
                    };
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
    // Consumers of event streams are woken once per burst of frames (wake_batch.rs).
    let mut wakes = WakeBatch::new(Arc::clone(&inner.burst));
    let mut decoder = Decoder::default();
    let end_reason = loop {
        let frame = match wakes.flush_when_idle(reader.next_frame()).await {
            Ok(Some(ReadFrame::Frame(text))) => text,
            Ok(Some(skipped)) => {
                report(&hooks.diagnostics, skipped_frame(&skipped));
                continue;
            }
            Ok(None) => break "server closed its output".to_owned(),
            Err(e) => break format!("read failed: {e}"),
        };
        if let Some(tap) = &hooks.tap {
            tap(Direction::Incoming, &frame);
        }
        wakes.collect(frame.len(), || route(&inner, &hooks, &mut decoder, frame));
    };
    drop(wakes); // fires what the last burst collected
    end(&inner, &hooks, end_reason, generation).await;
}

/// What the reader hands the incoming chain's task.
enum Read {
    Frame(String),
    End(String),
}

/// The reader when there is an incoming chain: reads, reports skipped frames, taps, and queues
/// each frame for `intercept_loop` (unbounded: it never waits on the chain).
async fn read_into(
    mut reader: Box<dyn FrameReader>,
    tx: mpsc::UnboundedSender<Read>,
    tap: Option<MessageTap>,
    diagnostics: Option<mpsc::UnboundedSender<Diagnostic>>,
) {
    let end_reason = loop {
        match reader.next_frame().await {
            Ok(Some(ReadFrame::Frame(frame))) => {
                if let Some(tap) = &tap {
                    tap(Direction::Incoming, &frame);
                }
                if tx.send(Read::Frame(frame)).is_err() {
                    return;
                }
            }
            Ok(Some(skipped)) => report(&diagnostics, skipped_frame(&skipped)),
            Ok(None) => break "server closed its output".to_owned(),
            Err(e) => break format!("read failed: {e}"),
        }
    };
    let _ = tx.send(Read::End(end_reason));
}

/// Runs the incoming chain over the frames, strictly in arrival order (a frame is routed only
/// after every frame before it), then routes them as `read_loop` does. The frames queued
/// together go through the chain together (up to a burst's worth): one crossing per
/// interceptor and batch, not per frame.
async fn intercept_loop(
    mut rx: mpsc::UnboundedReceiver<Read>,
    chain: Chain,
    inner: Arc<Inner>,
    hooks: ConnectionHooks,
    generation: u64,
) {
    let mut wakes = WakeBatch::new(Arc::clone(&inner.burst));
    let mut decoder = Decoder::default();
    let mut frames = Vec::new();
    let end_reason = loop {
        let mut end = match wakes.flush_when_idle(std::pin::pin!(rx.recv())).await {
            Some(Read::Frame(frame)) => {
                frames.push(frame);
                None
            }
            Some(Read::End(reason)) => Some(reason),
            None => Some("reader stopped".to_owned()),
        };
        while end.is_none() && frames.len() < MAX_BURST_FRAMES {
            match rx.try_recv() {
                Ok(Read::Frame(frame)) => frames.push(frame),
                Ok(Read::End(reason)) => end = Some(reason),
                Err(_) => break,
            }
        }
        if !frames.is_empty() {
            let batch = std::mem::take(&mut frames);
            // What earlier frames woke is fired while the chain waits.
            let (verdicts, failures) = wakes
                .flush_when_idle(std::pin::pin!(chain.run_batch(batch)))
                .await;
            for error in failures {
                report(&hooks.diagnostics, Diagnostic { error });
            }
            for verdict in verdicts {
                match verdict {
                    Verdict::Pass(frame) => {
                        wakes.collect(frame.len(), || route(&inner, &hooks, &mut decoder, frame))
                    }
                    Verdict::Dropped(message) => dropped_incoming(&inner, message),
                }
            }
        }
        if let Some(reason) = end {
            break reason;
        }
    };
    drop(wakes);
    end(&inner, &hooks, end_reason, generation).await;
}

/// An incoming message an interceptor dropped. A server request is answered with an error
/// (the server is never left waiting); a response fails the request it answers
/// (`DROPPED_BY_INTERCEPTOR`: never left hanging); a notification is simply gone.
fn dropped_incoming(inner: &Arc<Inner>, message: Value) {
    match (message.get("method"), message.get("id")) {
        (Some(_), Some(id)) => {
            let error = RpcError {
                code: -32603,
                message: "request dropped by a client interceptor".into(),
                data: None,
            };
            if let Ok(id) = serde_json::value::to_raw_value(id) {
                let _ = Connection {
                    inner: Arc::clone(inner),
                }
                .respond(&id, Err(&error));
            }
        }
        (None, Some(id)) => inner.drop_request(id),
        _ => {}
    }
}

/// Runs the outgoing chain over a frame: the text to write, or `None` when nothing is to be
/// written. A dropped request fails with `DROPPED_BY_INTERCEPTOR`; a dropped answer to a server
/// request is replaced by an error answer, so that the server is never left waiting.
async fn intercept_outgoing(
    chain: &Chain,
    diagnostics: &Option<mpsc::UnboundedSender<Diagnostic>>,
    inner: &std::sync::Weak<Inner>,
    frame: String,
) -> Option<String> {
    let (verdict, failures) = chain.run(frame).await;
    for error in failures {
        report(diagnostics, Diagnostic { error });
    }
    let message = match verdict {
        Verdict::Pass(frame) => return Some(frame),
        Verdict::Dropped(message) => message,
    };
    match (message.get("method"), message.get("id")) {
        (Some(_), Some(id)) => {
            if let Some(inner) = inner.upgrade() {
                inner.drop_request(id);
            }
            None
        }
        (None, Some(id)) => {
            let error = RpcError {
                code: -32603,
                message: format!(
                    "the client's answer was dropped by an interceptor ({})",
                    intercept::describe(&message)
                ),
                data: None,
            };
            let id = serde_json::value::to_raw_value(id).ok()?;
            outgoing::error_response(&id, &error).ok()
        }
        _ => None,
    }
}

fn report(diagnostics: &Option<mpsc::UnboundedSender<Diagnostic>>, d: Diagnostic) {
    if let Some(tx) = diagnostics {
        let _ = tx.send(d);
    }
}

fn skipped_frame(frame: &ReadFrame) -> Diagnostic {
    let error = match frame {
        ReadFrame::TooLarge { size } => Error::Protocol(format!(
            "skipped a frame of {size} bytes: over the size limit"
        )),
        ReadFrame::NotUtf8 => Error::Protocol("skipped a frame that is not UTF-8".into()),
        ReadFrame::Frame(_) => Error::Protocol("skipped a frame".into()),
    };
    Diagnostic { error }
}

/// Routes one incoming frame: a response to its request, a notification to its listeners and
/// turn, a server request to the handlers; an undecodable frame is reported.
fn route(inner: &Arc<Inner>, hooks: &ConnectionHooks, decoder: &mut Decoder, frame: String) {
    match decoder.decode_owned(frame) {
        Ok(Incoming::Response { id, outcome }) => {
            if let Some(d) = inner.complete(id, outcome) {
                report(&hooks.diagnostics, d);
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
                    inner: Arc::clone(inner),
                }
                .respond(&req.id, Err(&error));
            }
        }
        Err((e, frame)) => {
            let mut shown: String = frame.chars().take(200).collect();
            if shown.len() < frame.len() {
                shown.push('…');
            }
            report(
                &hooks.diagnostics,
                Diagnostic {
                    error: Error::Protocol(format!(
                        "skipped an undecodable frame: {}: {shown}",
                        e.0
                    )),
                },
            );
        }
    }
}

/// The transport has ended: everything pending fails with `TRANSPORT_CLOSED` and the tail.
async fn end(inner: &Inner, hooks: &ConnectionHooks, reason: String, generation: u64) {
    let stderr_tail = (hooks.stderr_tail)().await;
    inner.lost(
        generation,
        Error::TransportClosed {
            reason,
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
            LinePeer::with_interceptors(Vec::new())
        }

        pub(crate) fn with_interceptors(interceptors: Vec<Arc<dyn Interceptor>>) -> LinePeer {
            LinePeer::with_hooks(interceptors, None)
        }

        pub(crate) fn with_hooks(
            interceptors: Vec<Arc<dyn Interceptor>>,
            tap: Option<MessageTap>,
        ) -> LinePeer {
            let (client, server) = tokio::io::duplex(1 << 16);
            let (client_read, client_write) = tokio::io::split(client);
            let (server_read, server_write) = tokio::io::split(server);
            let (server_requests, requests) = mpsc::unbounded_channel();
            let (diagnostics_tx, diagnostics) = mpsc::unbounded_channel();
            let conn = Connection::start(
                Box::new(LineReader::new(BufReader::new(client_read), 1 << 20)),
                Box::new(LineWriter::new(client_write)),
                ConnectionHooks {
                    tap,
                    stderr_tail: Box::new(|| Box::pin(async { String::new() })),
                    server_requests,
                    diagnostics: Some(diagnostics_tx),
                    interceptors,
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
    use crate::transport::BoxFuture;
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

    /// An interceptor made of a closure, async (a random delay first) when `delay` is set.
    struct Link<F> {
        f: F,
        direction: Direction,
        delay: bool,
    }

    impl<F: Fn(Value) -> intercept::InterceptResult + Send + Sync> Interceptor for Link<F> {
        fn intercepts(&self, direction: Direction) -> bool {
            direction == self.direction
        }
        fn intercept(
            &self,
            _: Direction,
            message: Value,
        ) -> BoxFuture<'static, intercept::InterceptResult> {
            let out = (self.f)(message);
            let delay = self.delay;
            Box::pin(async move {
                if delay {
                    let ms = rand::random_range(0..5);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                out
            })
        }
    }

    fn link(
        direction: Direction,
        delay: bool,
        f: impl Fn(Value) -> intercept::InterceptResult + Send + Sync + 'static,
    ) -> Arc<dyn Interceptor> {
        Arc::new(Link {
            f,
            direction,
            delay,
        })
    }

    #[tokio::test]
    async fn outgoing_interceptors_change_drop_and_fail_requests_and_answers() {
        let mut peer = LinePeer::with_interceptors(vec![
            link(Direction::Outgoing, true, |mut m| {
                if m["method"] == "drop/me" {
                    return Ok(None);
                }
                if m["method"] == "throw" {
                    return Err("interceptor bug".into());
                }
                if m.get("result").is_some() {
                    return Ok(None); // answers to server requests
                }
                m["params"]["secret"] = json!("[redacted]");
                Ok(Some(m))
            }),
            // An incoming interceptor is no part of the outgoing chain.
            link(Direction::Incoming, false, |_| Ok(None)),
        ]);
        let conn = peer.conn.clone();

        conn.notify("n", Some(r#"{"secret":"hunter2","x":1}"#))
            .unwrap();
        assert_eq!(
            peer.next().await,
            json!({"method": "n", "params": {"secret": "[redacted]", "x": 1}})
        );

        let err = conn.request_raw("drop/me", "{}", None).await.unwrap_err();
        assert_eq!(err.code(), "DROPPED_BY_INTERCEPTOR");
        assert!(err.to_string().contains("drop/me"), "{err}");
        assert_eq!(conn.pending_requests(), 0);

        // A throwing interceptor is reported, and the message goes out as it was.
        conn.notify("throw", Some(r#"{"secret":"s"}"#)).unwrap();
        assert_eq!(
            peer.next().await,
            json!({"method": "throw", "params": {"secret": "s"}})
        );
        let d = tokio::time::timeout(Duration::from_secs(10), peer.diagnostics.recv())
            .await
            .expect("a diagnostic")
            .expect("open");
        assert_eq!(d.error.code(), "INTERCEPTOR_FAILED");
        assert!(
            d.error.to_string().contains("interceptor bug"),
            "{}",
            d.error
        );

        // A dropped answer to a server request: the server gets an error answer instead.
        let id = RawValue::from_string("7".into()).unwrap();
        let ok = RawValue::from_string("{}".into()).unwrap();
        conn.respond(&id, Ok(&ok)).unwrap();
        let answer = peer.next().await;
        assert_eq!(answer["id"], 7);
        assert_eq!(answer["error"]["code"], -32603);
    }

    /// Passes messages through in batches, recording each batch's size; the first batch waits
    /// for `gate`.
    struct BatchRecorder {
        sizes: Arc<Mutex<Vec<usize>>>,
        gate: Arc<tokio::sync::Semaphore>,
    }

    impl Interceptor for BatchRecorder {
        fn intercepts(&self, direction: Direction) -> bool {
            direction == Direction::Incoming
        }
        fn intercept(
            &self,
            _: Direction,
            m: Value,
        ) -> BoxFuture<'static, intercept::InterceptResult> {
            Box::pin(async move { Ok(Some(m)) })
        }
        fn intercept_batch(
            &self,
            _: Direction,
            messages: Vec<Value>,
        ) -> Option<BoxFuture<'static, Vec<intercept::InterceptResult>>> {
            let first = {
                let mut sizes = lock(&self.sizes);
                sizes.push(messages.len());
                sizes.len() == 1
            };
            let gate = Arc::clone(&self.gate);
            Some(Box::pin(async move {
                if first {
                    let _ = gate.acquire().await;
                }
                messages.into_iter().map(|m| Ok(Some(m))).collect()
            }))
        }
    }

    /// README: incoming messages that arrived together cross to an interceptor as one batch,
    /// and a batch holds at most `MAX_BURST_FRAMES` (so the first events of a flood are not
    /// held back behind all of it).
    #[tokio::test]
    async fn incoming_messages_queued_together_reach_the_chain_in_batches_of_at_most_max() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let read = Arc::new(AtomicUsize::new(0));
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let mut peer = LinePeer::with_hooks(
            vec![Arc::new(BatchRecorder {
                sizes: Arc::clone(&sizes),
                gate: Arc::clone(&gate),
            })],
            Some(Arc::new({
                let read = Arc::clone(&read);
                move |_, _: &str| {
                    read.fetch_add(1, Ordering::SeqCst);
                }
            })),
        );
        let mut listener = lock(&peer.conn.inner.routes).listen();
        let n = 2 * MAX_BURST_FRAMES + 10;
        let frames: String = (0..n)
            .map(|i| format!("{{\"method\":\"n/{i}\"}}\n"))
            .collect();
        let mut server_write = peer.write.take().unwrap();
        server_write.write_all(frames.as_bytes()).await.unwrap();
        // Every frame read (the tap sees each before it is queued for the chain), while the
        // chain still holds the first batch.
        tokio::time::timeout(Duration::from_secs(10), async {
            while read.load(Ordering::SeqCst) < n {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("all frames read");
        gate.add_permits(1);
        for i in 0..n {
            let heard = tokio::time::timeout(Duration::from_secs(10), listener.recv())
                .await
                .expect("routed")
                .expect("subscribed");
            assert_eq!(heard.method(), format!("n/{i}"));
        }
        let sizes = lock(&sizes).clone();
        assert_eq!(sizes.iter().sum::<usize>(), n, "{sizes:?}");
        assert!(sizes.iter().all(|&k| k <= MAX_BURST_FRAMES), "{sizes:?}");
        assert_eq!(
            sizes[1], MAX_BURST_FRAMES,
            "queued frames batched: {sizes:?}"
        );
    }

    #[tokio::test]
    async fn incoming_interceptors_drop_answer_and_keep_arrival_order() {
        let mut peer = LinePeer::with_interceptors(vec![
            link(Direction::Incoming, true, |mut m| {
                if m["method"] == "ask/dropped" || m["result"] == "drop" {
                    return Ok(None);
                }
                if m["method"] == "noise" {
                    return Ok(None);
                }
                if m.get("params").is_some() {
                    m["params"]["seen"] = json!(true);
                }
                Ok(Some(m))
            }),
            link(Direction::Incoming, true, |m| Ok(Some(m))),
        ]);
        let conn = peer.conn.clone();
        let mut server_write = peer.write.take().unwrap();

        // Server requests, interleaved with dropped notifications, each delayed at random by
        // both interceptors: they reach the handlers in the order they arrived.
        let mut frames = String::new();
        for n in 0..40 {
            frames.push_str(&format!(
                "{{\"id\":{n},\"method\":\"ask/{n}\",\"params\":{{}}}}\n{{\"method\":\"noise\"}}\n"
            ));
        }
        server_write.write_all(frames.as_bytes()).await.unwrap();
        for n in 0..40 {
            let (request, _, _) =
                tokio::time::timeout(Duration::from_secs(10), peer.requests.recv())
                    .await
                    .expect("routed")
                    .expect("a request");
            assert_eq!(request.method, format!("ask/{n}"));
            assert_eq!(request.params.get(), r#"{"seen":true}"#);
        }

        // A dropped server request is answered with an error at once.
        let ask = "{\"id\":\"s9\",\"method\":\"ask/dropped\",\"params\":{}}\n";
        server_write.write_all(ask.as_bytes()).await.unwrap();
        let answer = peer.next().await;
        assert_eq!(answer["id"], "s9");
        assert_eq!(answer["error"]["code"], -32603);
        assert_eq!(conn.pending_server_requests(), 40);

        // A dropped response fails its request instead of leaving it pending.
        let request = tokio::spawn({
            let conn = conn.clone();
            async move { conn.request_raw("x/y", "{}", None).await }
        });
        let frame = peer.next().await;
        let drop_it = format!("{{\"id\":{},\"result\":\"drop\"}}\n", frame["id"]);
        server_write.write_all(drop_it.as_bytes()).await.unwrap();
        let err = request.await.unwrap().unwrap_err();
        assert_eq!(err.code(), "DROPPED_BY_INTERCEPTOR");
        assert!(err.to_string().contains("x/y"), "{err}");

        // The end of the transport still closes the connection, after the frames before it.
        drop(server_write);
        drop(peer.lines);
        tokio::time::timeout(Duration::from_secs(10), conn.closed())
            .await
            .expect("closed");
        assert_eq!(
            conn.closed_error().map(|e| e.code()),
            Some("TRANSPORT_CLOSED")
        );
    }

    type ServerLines =
        tokio::io::Lines<tokio::io::BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>>;

    /// Attaches a new in-memory transport to `conn`; its server side: the lines the client
    /// writes, and where to write to the client.
    fn attach_new_transport(
        conn: &Connection,
    ) -> (ServerLines, tokio::io::WriteHalf<tokio::io::DuplexStream>) {
        use crate::transport::{LineReader, LineWriter};
        use tokio::io::{AsyncBufReadExt, BufReader};
        let (client, server) = tokio::io::duplex(1 << 16);
        let (client_read, client_write) = tokio::io::split(client);
        let (server_read, server_write) = tokio::io::split(server);
        let (server_requests, _) = mpsc::unbounded_channel();
        conn.attach(
            Box::new(LineReader::new(BufReader::new(client_read), 1 << 20)),
            Box::new(LineWriter::new(client_write)),
            ConnectionHooks {
                tap: None,
                stderr_tail: Box::new(|| Box::pin(async { String::new() })),
                server_requests,
                diagnostics: None,
                interceptors: Vec::new(),
            },
        );
        (BufReader::new(server_read).lines(), server_write)
    }

    /// The restart state machine: a lost transport fails what was in flight, keeps listeners,
    /// parks new requests (a parked request with a timeout times out), lets only the owner's
    /// requests through on the new transport, and releases the parked ones on `reopen`.
    #[tokio::test]
    async fn a_restartable_connection_parks_requests_until_a_new_transport_is_reopened() {
        use tokio::io::BufReader;
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
        let (mut lines, mut server_write) = attach_new_transport(&conn);
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

    /// A transport replaced while it still ran ends later: its end is an older generation's
    /// and changes nothing (no loss reported, nothing in flight on the new one failed).
    #[tokio::test]
    async fn the_end_of_a_replaced_transport_changes_nothing() {
        let old = LinePeer::new();
        let conn = old.conn.clone();
        let mut lost = conn.restartable();
        let (mut lines, mut server_write) = attach_new_transport(&conn);
        let in_flight = tokio::spawn({
            let conn = conn.clone();
            async move { conn.request_raw("on/new", "{}", None).await }
        });
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("a frame within 10 s")
            .unwrap()
            .expect("a frame");
        let frame: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(frame["method"], "on/new");

        // The old transport's reader holds the connection until it has reported its end.
        let LinePeer {
            conn: old_conn,
            lines: old_lines,
            write: old_write,
            ..
        } = old;
        drop(old_conn);
        let holders = Arc::strong_count(&conn.inner);
        drop((old_lines, old_write)); // the old server goes away
        tokio::time::timeout(Duration::from_secs(10), async {
            while Arc::strong_count(&conn.inner) >= holders {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the old reader ended");

        assert!(!conn.is_restarting() && !conn.is_closed());
        assert!(lost.try_recv().is_err(), "no loss reported");
        let answer = format!("{{\"id\":{},\"result\":3}}\n", frame["id"]);
        server_write.write_all(answer.as_bytes()).await.unwrap();
        assert_eq!(in_flight.await.unwrap().unwrap().get(), "3");
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
