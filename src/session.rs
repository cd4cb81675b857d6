use std::sync::{Arc, Mutex};

use app_server_client as core;
use napi::bindgen_prelude::{Object, PromiseRaw, Reference, ToNapiValue};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::Result;
use napi::{Env, Status, Unknown};
use napi_derive::napi;
use serde_json::Value;

use crate::approval::{self, policy_from_json, JsBridge, JsHandler, PolicyDescriptor};
use crate::args::{self, params_object};
use crate::callbacks::{EndCallback, ErrorCallback, RequestCallback, TextCallback};
use crate::errors::{
    error_object, json_promise, promise, raw_text, raw_to_value, IntoJs, JsCoreError, Outcome,
};
use crate::interceptors::{self, InterceptorHooks};
use crate::lock::lock;
use crate::order::Order;
use crate::pump;
use crate::stream::{self, WriteCallback};
use crate::text::JsText;
use crate::thread::{SessionObject, Thread};

/// What main.js hands `Session.create` besides the options: its callbacks (wrapped so that a
/// throwing one is reported, never fatal) and the start's id for aborting it.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct SessionHooks {
    /// Notification batches (JSON arrays) for `onNotification` listeners, from the start on.
    #[napi(ts_type = "(batchJson: string) => void")]
    pub sink: Option<TextCallback>,
    /// The sink's stream ended: with the error that ended it, or none.
    #[napi(ts_type = "(error?: CodexError) => void")]
    pub on_sink_end: Option<EndCallback>,
    /// Protocol problems that belong to no request (malformed or oversized frames, ...).
    #[napi(ts_type = "(error: CodexError) => void")]
    pub on_diagnostic: Option<ErrorCallback>,
    #[napi(ts_type = "(line: string) => void")]
    pub on_stderr: Option<TextCallback>,
    /// `"in\n{frame}"` / `"out\n{frame}"`.
    #[napi(ts_type = "(taggedFrame: string) => void")]
    pub on_message: Option<TextCallback>,
    /// `{"code","signal"}` as JSON.
    #[napi(ts_type = "(exitJson: string) => void")]
    pub on_exit: Option<TextCallback>,
    /// A server request for a JavaScript handler (see src/approval.rs).
    #[napi(ts_type = "(requestJson: string) => Promise<string>")]
    pub dispatch: Option<RequestCallback>,
    /// Aborts the handler of a request that stopped being pending.
    #[napi(ts_type = "(requestKey: string) => void")]
    pub abort: Option<TextCallback>,
    /// The id `Session._abortStart(id)` aborts this start by.
    pub start_id: Option<u32>,
    /// A `stream` transport's input, from `_streamOpen` (see `stream.rs`).
    pub stream_id: Option<u32>,
    /// A `stream` transport's `writable.write(text)`.
    #[napi(ts_type = "(text: string) => boolean")]
    pub stream_write: Option<WriteCallback>,
    /// The `stream` transport's connection ended: end the writable, let go of the readable.
    #[napi(ts_type = "() => void")]
    pub stream_end: Option<EndCallback>,
    /// `SessionOptions.interceptors`, wrapped by js/interceptors.js.
    pub interceptors: Option<Vec<InterceptorHooks>>,
    /// `onRestart`.
    #[napi(ts_type = "(event: RestartEvent) => void")]
    pub on_restart: Option<crate::callbacks::JsCallback<crate::options::RestartEvent>>,
}

/// A connection to one codex app-server. Created with `Session.create()`.
#[napi]
pub struct Session {
    pub(crate) inner: core::Session,
    /// The notification pump, which responses wait for (see `order.rs`).
    order: Order,
    bridge: Option<JsBridge>,
    /// Set once `onExit` has been called (or will never be): `close()` waits for it.
    exit_reported: Option<tokio::sync::watch::Receiver<bool>>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.order.set(None);
    }
}

/// What a thread keeps of its session (see `thread.rs`): napi's reference to its object,
/// released when the thread is.
impl SessionObject for Reference<Session> {
    fn object<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
        let reference = self.clone(*env)?;
        // SAFETY: converted on the JavaScript thread of `env`, whose value it is.
        let value = unsafe { ToNapiValue::to_napi_value(env.raw(), reference) }?;
        Ok(Object::from_raw(env.raw(), value))
    }

    fn share(&self, env: &Env) -> Result<Box<dyn SessionObject>> {
        Ok(Box::new(self.clone(*env)?))
    }
}

/// Starts in progress that JavaScript may abort (`Session.create({ signal })`), by the id main.js
/// gave them: aborting stops the start at once, whatever stage it is in, instead of after it.
static STARTS: std::sync::LazyLock<
    Mutex<std::collections::HashMap<u32, tokio::sync::watch::Sender<bool>>>,
> = std::sync::LazyLock::new(Mutex::default);

/// Takes a start out of [`STARTS`] when it ends, however it ends.
struct StartEntry(Option<u32>);

impl Drop for StartEntry {
    fn drop(&mut self) {
        if let Some(id) = self.0 {
            lock(&STARTS).remove(&id);
        }
    }
}

#[napi]
impl Session {
    /// Starts (or connects to) an app-server and runs the `initialize` handshake.
    /// (Natively it also takes the callbacks main.js passes: see `SessionHooks` there.)
    #[napi(
        ts_args_type = "options?: SessionOptions",
        ts_return_type = "Promise<Session>"
    )]
    pub fn create<'env>(
        env: &'env Env,
        options: Option<Unknown<'env>>,
        hooks: Option<SessionHooks>,
    ) -> Result<PromiseRaw<'env, Session>> {
        let SessionHooks {
            sink,
            on_sink_end: on_end,
            on_diagnostic,
            on_stderr,
            on_message,
            on_exit,
            dispatch,
            abort,
            start_id,
            stream_id,
            stream_write,
            stream_end,
            interceptors,
            on_restart,
        } = hooks.unwrap_or_default();
        let stream = stream_id.and_then(stream::take_stream);
        let start_cancel = start_id.map(|id| {
            let (tx, rx) = tokio::sync::watch::channel(false);
            lock(&STARTS).insert(id, tx);
            rx
        });
        let start_entry = StartEntry(start_id);
        let bridge = match (dispatch, abort) {
            (Some(request), Some(abort)) => Some(JsBridge {
                request: Arc::new(request),
                abort: Arc::new(abort),
            }),
            _ => None,
        };
        let options_json = args::session_options(options);
        // If this JavaScript environment ends (process exit, worker terminated) while the
        // session is open, its server goes with it.
        let teardown_slot: Arc<Mutex<Option<core::WeakSession>>> = Arc::default();
        env.add_env_cleanup_hook(Arc::clone(&teardown_slot), |slot| {
            if let Some(session) = lock(&slot).clone().and_then(|w| w.upgrade()) {
                napi::bindgen_prelude::within_runtime_if_available(|| session.kill_now());
            }
        })?;
        promise(
            env,
            async move {
                // Validated here so that bad options reject the promise (before any spawn).
                let options_json = options_json?.unwrap_or(Value::Null);
                let mut options = core::SessionOptions::from_json(&options_json)?;
                if let Some(policy) = options_json.get("approvalPolicy").filter(|p| !p.is_null()) {
                    options.approval_policy = policy_from_json(policy, bridge.as_ref())?;
                }
                options.listen_from_start = sink.is_some();
                options.interceptors = interceptors::from_hooks(interceptors.unwrap_or_default());
                options.start_cancel = start_cancel;
                let _start_entry = start_entry;
                if let Some(callback) = on_diagnostic {
                    // Protocol problems that belong to no request (malformed or oversized frames,
                    // answers to unknown ids) are reported to the app, never dropped silently.
                    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<core::Diagnostic>();
                    options.diagnostics = Some(tx);
                    let live = pump::LiveTask::new();
                    napi::bindgen_prelude::spawn(async move {
                        let _live = live;
                        while let Some(d) = rx.recv().await {
                            if let Err(e) = callback.call_async_catch(JsCoreError(d.error)).await {
                                if e.status == Status::Closing {
                                    return;
                                }
                            }
                        }
                    });
                }
                if let Some(callback) = on_stderr {
                    options.stderr_listener = Some(Arc::new(move |line: &str| {
                        callback.call(
                            JsText(line.to_owned()),
                            ThreadsafeFunctionCallMode::NonBlocking,
                        );
                    }));
                }
                if let Some(callback) = on_message {
                    // "in\n{frame}" / "out\n{frame}": one string per frame, split in JavaScript.
                    options.message_tap =
                        Some(Arc::new(move |direction: core::Direction, frame: &str| {
                            let tag = if direction == core::Direction::Incoming {
                                "in"
                            } else {
                                "out"
                            };
                            callback.call(
                                JsText(format!("{tag}\n{frame}")),
                                ThreadsafeFunctionCallMode::NonBlocking,
                            );
                        }));
                }
                if let Some(callback) = on_restart {
                    options.on_restart = Some(Arc::new(move |event: core::RestartEvent| {
                        callback.call(
                            restart_event(event),
                            ThreadsafeFunctionCallMode::NonBlocking,
                        );
                    }));
                }
                let inner = match (&options.transport, stream, stream_write, stream_end) {
                    (core::TransportKind::Stream, Some(parts), Some(write), Some(end)) => {
                        let (reader, writer) =
                            parts.into_transport(options.max_frame_bytes, write, end);
                        core::Session::connect(reader, writer, options).await?
                    }
                    // main.js always brings them; only a direct native call lacks them.
                    (core::TransportKind::Stream, ..) => {
                        return Err(core::Error::invalid_argument(
                            "transport",
                            "a `stream` transport needs `readable` and `writable` streams",
                        )
                        .into())
                    }
                    _ => core::Session::open(options).await?,
                };
                let order = Order::default();
                if let (Some(sink), Some(stream)) = (sink, inner.take_startup_notifications()) {
                    order.set(Some(pump::spawn(stream, sink, on_end)));
                }
                let mut exit_reported = None;
                if let Some(callback) = on_exit {
                    let exited = inner.exited();
                    let live = pump::LiveTask::new();
                    let (done_tx, done) = tokio::sync::watch::channel(false);
                    exit_reported = Some(done);
                    napi::bindgen_prelude::spawn(async move {
                        let _live = live;
                        let _done = pump::SetOnDrop(done_tx);
                        if let Some(info) = exited.await {
                            let json = serde_json::json!({ "code": info.code, "signal": info.signal.map(signal_name) });
                            let _ = callback.call_async_catch(JsText(json.to_string())).await;
                        }
                    });
                }
                *lock(&teardown_slot) = Some(inner.downgrade());
                Ok(Session {
                    inner,
                    order,
                    bridge,
                    exit_reported,
                })
            },
            |_, session| Ok(session),
        )
    }

    /// Aborts the start `id` (see `STARTS`); a start that has ended is left alone.
    #[napi(js_name = "_abortStart", skip_typescript)]
    pub fn abort_start(id: u32) {
        if let Some(tx) = lock(&STARTS).get(&id) {
            tx.send_replace(true);
        }
    }

    /// The server's `initialize` response (userAgent, codexHome, platformFamily, platformOs),
    /// plus `serverVersion`, read from userAgent (null if it shows none).
    /// After a restart (`restart` option), the new server's.
    #[napi(getter, ts_return_type = "SessionInfo")]
    pub fn info(&self, env: &Env) -> Result<Value> {
        let mut info = raw_to_value(&self.inner.info()).js(env)?;
        if let Value::Object(fields) = &mut info {
            fields.insert("serverVersion".into(), self.inner.server_version().into());
        }
        Ok(info)
    }

    /// True once the session is closed or its connection is gone; false while a crashed
    /// server is being restarted (`restart` option).
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Why the session ended (an error object: TRANSPORT_CLOSED, SESSION_CLOSED), once it has.
    #[napi(js_name = "_closedError", skip_typescript)]
    pub fn closed_error<'env>(&self, env: &'env Env) -> Result<Option<Object<'env>>> {
        self.inner
            .connection()
            .closed_error()
            .map(|e| error_object(env, &e))
            .transpose()
    }

    /// The app-server's process id, when this session spawned it (after a restart, the new
    /// server's).
    #[napi(getter)]
    pub fn pid(&self) -> Option<u32> {
        self.inner.pid()
    }

    /// A promise of a new [`Thread`] opened by `open`, settled in order (see `order.rs`).
    /// `this` is this session's JavaScript object, which the thread keeps (`thread.session`).
    fn thread_promise<'env, F>(
        &self,
        env: &'env Env,
        this: Reference<Session>,
        open: F,
    ) -> Result<PromiseRaw<'env, Thread>>
    where
        F: std::future::Future<Output = Outcome<core::Thread>> + Send + 'static,
    {
        Thread::promise(env, self.order.clone(), Box::new(this), open)
    }

    /// A promise of `fut`'s JSON, settled in order.
    fn json<'env, F>(&self, env: &'env Env, fut: F) -> Result<PromiseRaw<'env, Unknown<'env>>>
    where
        F: std::future::Future<Output = Outcome<String>> + Send + 'static,
    {
        json_promise(env, self.order.clone().after(fut))
    }

    /// Starts a new thread.
    #[napi(
        ts_args_type = "params?: ThreadStartParams",
        ts_return_type = "Promise<Thread>"
    )]
    pub fn start_thread<'env>(
        &self,
        env: &'env Env,
        this: Reference<Session>,
        params: Option<Unknown<'env>>,
    ) -> Result<PromiseRaw<'env, Thread>> {
        let params = args::json(params, "params").and_then(|p| params_object("params", p));
        let session = self.inner.clone();
        self.thread_promise(env, this, async move {
            Ok(session.start_thread(params?).await?)
        })
    }

    /// Starts a thread that is not persisted.
    #[napi(
        ts_args_type = "params?: ThreadStartParams",
        ts_return_type = "Promise<Thread>"
    )]
    pub fn start_ephemeral_thread<'env>(
        &self,
        env: &'env Env,
        this: Reference<Session>,
        params: Option<Unknown<'env>>,
    ) -> Result<PromiseRaw<'env, Thread>> {
        let params = args::json(params, "params").and_then(|p| params_object("params", p));
        let session = self.inner.clone();
        self.thread_promise(env, this, async move {
            Ok(session.start_ephemeral_thread(params?).await?)
        })
    }

    /// Opens an existing thread (`thread/resume`) to run more turns on it.
    #[napi(
        ts_args_type = "threadId: string, params?: Omit<ThreadResumeParams, 'threadId'>",
        ts_return_type = "Promise<Thread>"
    )]
    pub fn resume_thread<'env>(
        &self,
        env: &'env Env,
        this: Reference<Session>,
        thread_id: Unknown<'env>,
        params: Option<Unknown<'env>>,
    ) -> Result<PromiseRaw<'env, Thread>> {
        let thread_id = args::string(thread_id, "threadId");
        let params = args::json(params, "params").and_then(|p| params_object("params", p));
        let session = self.inner.clone();
        self.thread_promise(env, this, async move {
            Ok(session.resume_thread(&thread_id?, params?).await?)
        })
    }

    /// A new thread with the history of `threadId` (`thread/fork`).
    #[napi(
        ts_args_type = "threadId: string, params?: Omit<ThreadForkParams, 'threadId'>",
        ts_return_type = "Promise<Thread>"
    )]
    pub fn fork_thread<'env>(
        &self,
        env: &'env Env,
        this: Reference<Session>,
        thread_id: Unknown<'env>,
        params: Option<Unknown<'env>>,
    ) -> Result<PromiseRaw<'env, Thread>> {
        let thread_id = args::string(thread_id, "threadId");
        let params = args::json(params, "params").and_then(|p| params_object("params", p));
        let session = self.inner.clone();
        self.thread_promise(env, this, async move {
            Ok(session.fork_thread(&thread_id?, params?).await?)
        })
    }

    /// `thread/unarchive`: the thread, ready to use.
    #[napi(ts_args_type = "threadId: string", ts_return_type = "Promise<Thread>")]
    pub fn unarchive_thread<'env>(
        &self,
        env: &'env Env,
        this: Reference<Session>,
        thread_id: Unknown<'env>,
    ) -> Result<PromiseRaw<'env, Thread>> {
        let thread_id = args::string(thread_id, "threadId");
        let session = self.inner.clone();
        self.thread_promise(env, this, async move {
            Ok(session.unarchive_thread(&thread_id?).await?)
        })
    }

    /// `command/exec`: runs `command` (argv) outside any thread; resolves with exit code and output.
    #[napi(js_name = "_exec", skip_typescript)]
    pub fn exec<'env>(
        &self,
        env: &'env Env,
        command: Vec<String>,
        params: Option<Unknown<'env>>,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        let params = args::json(params, "options").and_then(|p| params_object("options", p));
        let session = self.inner.clone();
        self.json(env, async move {
            raw_text(session.exec(command, params?)).await
        })
    }

    /// Sends any request; resolves with the parsed result. `params` is checked like every
    /// argument (`args::json`: a function, NaN or a cycle is an INVALID_ARGUMENT naming its path).
    #[napi(js_name = "_request", skip_typescript)]
    pub fn request<'env>(
        &self,
        env: &'env Env,
        method: String,
        params: Option<Unknown<'env>>,
        timeout_ms: Option<f64>,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        let session = self.inner.clone();
        let params = args::json(params, "params").map(|p| p.unwrap_or(Value::Null).to_string());
        self.json(env, async move {
            let timeout = args::millis(timeout_ms, "timeoutMs")?;
            raw_text(session.request(&method, &params?, timeout)).await
        })
    }

    /// Sends a notification to the server.
    #[napi(ts_args_type = "method: string, params?: unknown")]
    pub fn notify<'env>(
        &self,
        env: &'env Env,
        method: Unknown<'env>,
        params: Option<Unknown<'env>>,
    ) -> Result<()> {
        let method = args::string(method, "method").js(env)?;
        let params = args::json(params, "params").js(env)?.map(|p| p.to_string());
        self.inner
            .connection()
            .notify(&method, params.as_deref())
            .js(env)
    }

    /// Routes every notification from now on to `sink` in batches (replacing any earlier
    /// sink), or stops doing so with `null`. Used by `onNotification`.
    #[napi(js_name = "_setNotificationSink", skip_typescript)]
    pub fn set_notification_sink(&self, sink: Option<TextCallback>, on_end: Option<EndCallback>) {
        let pump = sink.map(|sink| pump::spawn(self.inner.notifications(), sink, on_end));
        self.order.set(pump);
    }

    /// Sets (or with `null` removes) the approval policy of one thread.
    #[napi(js_name = "_setThreadPolicy", skip_typescript)]
    pub fn set_thread_policy(
        &self,
        env: &Env,
        thread_id: String,
        policy: Option<PolicyDescriptor>,
    ) -> Result<()> {
        let policy = policy
            .map(|p| approval::policy(p, self.bridge.as_ref()))
            .transpose()
            .js(env)?;
        self.inner.policies().set_thread_policy(&thread_id, policy);
        Ok(())
    }

    /// Routes every server request of `method` to the JavaScript handler `key` (or, with
    /// `null`, stops doing so).
    #[napi(js_name = "_setOverride", skip_typescript)]
    pub fn set_override(&self, env: &Env, method: String, key: Option<String>) -> Result<()> {
        let handler = match (key, &self.bridge) {
            (Some(key), Some(bridge)) => Some(Arc::new(JsHandler {
                key,
                bridge: bridge.clone(),
            })
                as Arc<dyn core::ServerRequestHandler>),
            (Some(_), None) => {
                return Err(core::Error::invalid_argument(
                    "handler",
                    "needs the JavaScript bridge",
                ))
                .js(env)
            }
            (None, _) => None,
        };
        self.inner.policies().set_override(&method, handler);
        Ok(())
    }

    /// Internal counters for leak checks.
    #[napi(
        js_name = "_stats",
        skip_typescript,
        ts_return_type = "{ liveTurns: number; listeners: number; pendingRequests: number }"
    )]
    pub fn stats(&self) -> Value {
        let (turns, listeners, pending) = self.inner.stats();
        serde_json::json!({
            "liveTurns": turns,
            "listeners": listeners,
            "pendingRequests": pending,
            "pendingServerRequests": self.inner.pending_server_requests(),
            "threadSubscribers": self.inner.thread_subscribers(),
        })
    }

    /// Ends the session: pending work settles with `SESSION_CLOSED`, the server gets stdin
    /// EOF, then SIGTERM, then SIGKILL. Idempotent.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        self.order.set(None);
        self.inner.close().await;
        // A spawned server has exited by now; resolve after onExit has heard of it.
        if let Some(mut reported) = self.exit_reported.clone() {
            let _ = reported.wait_for(|done| *done).await;
        }
        Ok(())
    }
}

/// The core's restart event as the JavaScript object `onRestart` receives.
fn restart_event(event: core::RestartEvent) -> crate::options::RestartEvent {
    use napi::bindgen_prelude::Null;
    use napi::Either;
    crate::options::RestartEvent {
        attempt: event.attempt,
        exit: match event.exit {
            Some(exit) => Either::A(crate::options::ServerExit {
                code: exit.code.map_or(Either::B(Null), Either::A),
                signal: exit
                    .signal
                    .map_or(Either::B(Null), |s| Either::A(signal_name(s))),
            }),
            None => Either::B(Null),
        },
        stderr_tail: event.stderr_tail,
    }
}

/// `SIGKILL` for 9, and so on (the names Node uses).
fn signal_name(signal: i32) -> String {
    let name = match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return format!("SIG{signal}"),
    };
    name.to_owned()
}
