//! The option objects of the public API, as `#[napi(object)]` structs so that the generated
//! index.d.ts describes them (with these doc comments) and js/header.d.ts does not have to.
//!
//! They describe; they do not convert. `SessionOptions` reaches Rust as JSON
//! (`args::session_options`) and is read by the core's `SessionOptions::from_json`, which the
//! Rust crate's own users share: one validator, whose errors name the whole path
//! (`transport.url`, `env.A`, `overloadRetry.maxAttempts`) and reject unknown keys, NaN and
//! out-of-range values. napi's own object conversion would ignore unknown keys, accept NaN and
//! name Rust types in its errors. The other option objects are read in JavaScript (signals and
//! callbacks stay there; see main.js). `__test__/boundary.test.js` checks that every field
//! declared here is one the validator knows.
//!
//! Types napi cannot express (AbortSignal, callbacks over protocol types, unions) are given as
//! `ts_type`; they name types of js/header.d.ts (`P` is the protocol namespace there).

use std::collections::HashMap;

use napi_derive::napi;
use serde_json::Value;

/// Options of `Session.create`.
#[napi(object)]
pub struct SessionOptions {
    #[napi(ts_type = "{ name: string; version: string; title?: string }")]
    pub client_info: Option<Value>,
    /// How to reach the server. `stdio` (default) spawns it and owns it. `command` spawns any
    /// program that speaks the protocol on stdio (`docker exec -i <ctr> codex app-server`,
    /// `ssh host codex app-server`) and owns it the same way (containment, shutdown, stderr
    /// tail, `onExit`); codex's own spawn options (`codexPath`, `args`, `config`, `env`, `cwd`)
    /// are refused beside it: use its `args`, `env`, `cwd`. `stream` talks over streams the app
    /// already has (a `net.Socket`, a child's stdio, a Duplex): the session owns neither; when
    /// it ends it ends `writable` and lets go of `readable`, destroying nothing.
    /// `websocket` and `unix` connect to a running `codex app-server --listen ...`: `close()`
    /// only disconnects. The token is sent as `Authorization: Bearer` and never appears in
    /// errors. A `ws://` URL whose host is not loopback (127.0.0.0/8, ::1, localhost) is refused
    /// unless `allowInsecureRemote` is true: ws:// is unencrypted, so the token would cross the
    /// network in clear text (`wss://` is not supported).
    #[napi(
        ts_type = "{ type: 'stdio' } | { type: 'command'; command: string; args?: string[]; env?: Record<string, string>; cwd?: string } | { type: 'stream'; readable: NodeJS.ReadableStream; writable: NodeJS.WritableStream } | { type: 'websocket'; url: string; token?: string; allowInsecureRemote?: boolean } | { type: 'unix'; path?: string; token?: string }"
    )]
    pub transport: Option<Value>,
    /// The codex binary. Default: env CODEX_PATH, then the installed `@openai/codex`, then PATH.
    pub codex_path: Option<String>,
    /// Directories from which to look upward for node_modules/@openai/codex (default: this package's and the cwd).
    pub codex_search_paths: Option<Vec<String>>,
    /// Extra arguments after `codex app-server`.
    pub args: Option<Vec<String>>,
    pub cwd: Option<String>,
    /// Added to the inherited environment of the server.
    pub env: Option<HashMap<String, String>>,
    /// Config overrides, passed as `-c key=value` (values TOML-encoded).
    #[napi(ts_type = "Record<string, unknown>")]
    pub config: Option<Value>,
    pub experimental_api: Option<bool>,
    pub opt_out_notification_methods: Option<Vec<String>>,
    /// Default timeout of every request (none by default).
    pub request_timeout_ms: Option<f64>,
    /// Limit on the whole start: spawn (or connect) and the `initialize` answer (default 30000).
    /// A server that does not answer in time is stopped, and `create` rejects `SPAWN_FAILED`
    /// (`TRANSPORT_CLOSED` for a websocket or unix socket).
    pub startup_timeout_ms: Option<f64>,
    /// Time the server gets to exit after stdin EOF, and again after SIGTERM (default 2000).
    pub shutdown_grace_ms: Option<f64>,
    /// Largest message accepted from the server (default 64 MiB). A larger one is reported
    /// (`PROTOCOL_ERROR` to `onError`) and skipped without being buffered, on every transport; the
    /// session goes on.
    pub max_message_bytes: Option<f64>,
    /// Lines of server stderr kept for error messages (default 50).
    pub stderr_tail_lines: Option<f64>,
    /// How approvals are answered (default: `ApprovalPolicy.autoDecline()`).
    #[napi(ts_type = "ApprovalPolicy")]
    pub approval_policy: Option<Value>,
    /// Aborting while the session is starting stops it: the start rejects ABORTED and releases everything.
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<Value>,
    /// Default turn watchdog (see `TurnControls.inactivityTimeoutMs`); none by default.
    pub turn_inactivity_timeout_ms: Option<f64>,
    /// Time a handler gets before its request is declined (default: no limit).
    pub handler_timeout_ms: Option<f64>,
    /// Retries of requests the server rejects as overloaded (-32001); default 5 attempts.
    #[napi(
        ts_type = "boolean | { maxAttempts?: number; initialDelayMs?: number; maxDelayMs?: number }"
    )]
    pub overload_retry: Option<Value>,
    /// Every notification of the session, from before `initialize` on.
    #[napi(ts_type = "(notification: P.ServerNotification) => void")]
    pub on_notification: Option<Value>,
    /// Errors thrown by listeners and callbacks, and protocol problems (default: `process.emitWarning`).
    #[napi(ts_type = "(error: unknown) => void")]
    pub on_error: Option<Value>,
    /// Each line the server writes to stderr (spawned servers; the last lines are also kept for errors).
    #[napi(ts_type = "(line: string) => void")]
    pub on_stderr: Option<Value>,
    /// Every JSON-RPC message in and out, for logging and tracing. No cost when unset.
    #[napi(ts_type = "(entry: { direction: 'in' | 'out'; message: unknown }) => void")]
    pub on_message: Option<Value>,
    /// May change or drop each JSON-RPC message, in either direction (see `Interceptor`). Run in
    /// array order; each sees the messages of its direction in order, one at a time. No cost
    /// when unset.
    #[napi(ts_type = "Interceptor[]")]
    pub interceptors: Option<Value>,
    /// The spawned server process ended (expectedly or not). With `restart`, only the last
    /// server's exit is reported (the one the session closed or gave up with); the ones
    /// replaced go to `onRestart`.
    #[napi(ts_type = "(exit: { code: number | null; signal: string | null }) => void")]
    pub on_exit: Option<Value>,
    /// Restart a spawned (stdio) server that exits unexpectedly (default: off). `true` means
    /// `{ maxRestarts: 3, initialDelayMs: 250, maxDelayMs: 5000, resetAfterMs: 60000 }`: up to
    /// `maxRestarts` restarts, the delay doubling from `initialDelayMs` to `maxDelayMs` (with
    /// jitter); the count starts again once a server has stayed up for `resetAfterMs`. Then the
    /// session closes with the last `TRANSPORT_CLOSED`. Not for websocket or unix transports.
    #[napi(
        ts_type = "boolean | { maxRestarts?: number; initialDelayMs?: number; maxDelayMs?: number; resetAfterMs?: number }"
    )]
    pub restart: Option<Value>,
    /// Called when a restart begins (once per attempt), with how the server ended and its
    /// last stderr lines.
    #[napi(ts_type = "(event: RestartEvent) => void")]
    pub on_restart: Option<Value>,
}

/// How a server process ended: its exit code, or the signal that killed it (`'SIGKILL'`).
#[napi(object, object_from_js = false)]
pub struct ServerExit {
    pub code: napi::Either<i32, napi::bindgen_prelude::Null>,
    pub signal: napi::Either<String, napi::bindgen_prelude::Null>,
}

/// What `onRestart` is told.
#[napi(object, object_from_js = false)]
pub struct RestartEvent {
    /// 1 for the first restart since the count last started again (see `restart`).
    pub attempt: u32,
    /// How the server being replaced ended (null if that could not be found out).
    pub exit: napi::Either<ServerExit, napi::bindgen_prelude::Null>,
    /// Its last stderr lines.
    pub stderr_tail: String,
}

/// One link of `SessionOptions.interceptors`. Each function gets the JSON-RPC message as an
/// object (`{id, method, params}`, `{method, params}` or `{id, result | error}`) and returns it
/// (changed or not, or a new object), `null` to drop it, or a Promise of either. Interceptors
/// run in array order, in both directions. Each interceptor gets the messages of a direction in
/// order, the next only once the previous one's result (or Promise) is in, and a message is
/// routed (or sent) only after every message before it: order is kept even when they are async.
/// `incoming` sees messages before anything else does (listeners, turns, handlers, results);
/// `onMessage` sees the wire: incoming before the interceptors, outgoing after them.
///
/// Dropping (`null`): an outgoing request is not sent and its promise rejects
/// `DROPPED_BY_INTERCEPTOR`; an incoming response rejects its request the same way; an incoming
/// server request is answered with a JSON-RPC error (-32603) and no handler sees it; an outgoing
/// answer to a server request is replaced by such an error answer; a notification is gone.
/// An interceptor that throws, rejects, or returns something that is not an object (or not
/// JSON-able) is reported to `onError` (`INTERCEPTOR_FAILED`) and the message goes on as it was.
/// Keep a request's `id`: changing it loses its answer.
#[napi(object)]
pub struct Interceptor {
    #[napi(
        ts_type = "(message: JsonRpcMessage) => JsonRpcMessage | null | Promise<JsonRpcMessage | null>"
    )]
    pub outgoing: Option<Value>,
    #[napi(
        ts_type = "(message: JsonRpcMessage) => JsonRpcMessage | null | Promise<JsonRpcMessage | null>"
    )]
    pub incoming: Option<Value>,
}

/// How to follow and cancel a turn: with the `turn/start` fields, the `TurnOptions` of
/// `startTurn`, `run` and `ask`.
#[napi(object)]
pub struct TurnControls {
    /// Receives every event of the turn, in order, from `turn/started` to `turn/completed`.
    #[napi(ts_type = "(event: TurnEvent) => void")]
    pub on_event: Option<Value>,
    /// Aborting interrupts the turn (`turn/interrupt`); it then completes as `interrupted`.
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<Value>,
    /// Watchdog: with no event for this long, the iterator and result end with TURN_STALLED; the
    /// turn stays interruptible. Overrides `SessionOptions.turnInactivityTimeoutMs`.
    pub inactivity_timeout_ms: Option<f64>,
}

/// Options of `session.request` and `session.waitForNotification`.
#[napi(object)]
pub struct RequestOptions {
    /// Stops waiting after this long (REQUEST_TIMEOUT).
    pub timeout_ms: Option<f64>,
    /// Aborting stops waiting (ABORTED).
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<Value>,
}

/// Options of `turn.result()`.
#[napi(object)]
pub struct ResultOptions {
    /// Only stops waiting (REQUEST_TIMEOUT): the turn goes on and a later call still resolves.
    pub timeout_ms: Option<f64>,
    /// Aborting interrupts the turn.
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<Value>,
}

/// Options of `thread.read()` and `session.readThread()`.
#[napi(object)]
pub struct ReadOptions {
    /// The thread's turns and items too.
    pub include_turns: Option<bool>,
}

/// Per-thread options of startThread / resumeThread / forkThread / unarchiveThread.
#[napi(object)]
pub struct ThreadOptions {
    /// Overrides the session's policy for this thread.
    #[napi(ts_type = "ApprovalPolicy")]
    pub approval_policy: Option<Value>,
}
