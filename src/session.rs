use std::sync::{Arc, Mutex};

use app_server_client as core;
use napi::bindgen_prelude::{Function, Object, Promise, PromiseRaw};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::Result;
use napi::{Env, Status, Unknown};
use napi_derive::napi;
use serde_json::{Map, Value};

use crate::approval::{policy_from_json, JsBridge, JsHandler};
use crate::errors::{json_promise, raw_text, raw_to_value, to_napi, IntoJs};
use crate::lock;
use crate::pump::{self, batch_callback, BatchCallback};
use crate::thread::Thread;

/// A connection to one codex app-server. Created with `Session.create()`.
#[napi]
pub struct Session {
    pub(crate) inner: core::Session,
    info: Value,
    notification_pump: Mutex<Option<pump::Pump>>,
    bridge: Option<JsBridge>,
    /// Set once `onExit` has been called (or will never be): `close()` waits for it.
    exit_reported: Option<tokio::sync::watch::Receiver<bool>>,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(p) = lock(&self.notification_pump).take() {
            p.abort();
        }
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

pub(crate) fn params_object(name: &str, params: Option<Value>) -> Result<Map<String, Value>> {
    match params {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(to_napi(core::Error::invalid_argument(
            name,
            "must be an object",
        ))),
    }
}

/// `{ includeTurns?: boolean }`.
pub(crate) fn include_turns(options: Option<Value>) -> Result<bool> {
    let options = params_object("options", options)?;
    match options.get("includeTurns") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(to_napi(core::Error::invalid_argument(
            "options.includeTurns",
            "must be a boolean",
        ))),
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
        options: Option<Value>,
        hooks: Option<Object<'env>>,
    ) -> Result<PromiseRaw<'env, Session>> {
        let hook = |name: &str| -> Result<Option<BatchCallback>> {
            match &hooks {
                Some(h) => h
                    .get::<Function<String, ()>>(name)?
                    .map(batch_callback)
                    .transpose(),
                None => Ok(None),
            }
        };
        let sink = hook("sink")?;
        let on_end = hook("onSinkEnd")?;
        let on_diagnostic = hook("onDiagnostic")?;
        let on_stderr = hook("onStderr")?;
        let on_message = hook("onMessage")?;
        let on_exit = hook("onExit")?;
        let start_id = match &hooks {
            Some(h) => h.get::<u32>("startId")?,
            None => None,
        };
        let start_cancel = start_id.map(|id| {
            let (tx, rx) = tokio::sync::watch::channel(false);
            lock(&STARTS).insert(id, tx);
            rx
        });
        let start_entry = StartEntry(start_id);
        let bridge = match &hooks {
            Some(h) => match (
                h.get::<Function<String, Promise<String>>>("dispatch")?,
                h.get::<Function<String, ()>>("abort")?,
            ) {
                (Some(request), Some(abort)) => Some(JsBridge {
                    request: Arc::new(
                        request
                            .build_threadsafe_function()
                            .weak::<true>()
                            .callee_handled::<false>()
                            .build()?,
                    ),
                    abort: Arc::new(batch_callback(abort)?),
                }),
                _ => None,
            },
            None => None,
        };
        // If this JavaScript environment ends (process exit, worker terminated) while the
        // session is open, its server goes with it.
        let teardown_slot: Arc<Mutex<Option<core::WeakSession>>> = Arc::default();
        env.add_env_cleanup_hook(Arc::clone(&teardown_slot), |slot| {
            if let Some(session) = lock(&slot).clone().and_then(|w| w.upgrade()) {
                napi::bindgen_prelude::within_runtime_if_available(|| session.kill_now());
            }
        })?;
        env.spawn_future(async move {
            // Validated here so that bad options reject the promise (before any spawn).
            let options_json = options.unwrap_or(Value::Null);
            let mut options = core::SessionOptions::from_json(&options_json).js()?;
            if let Some(policy) = options_json.get("approvalPolicy").filter(|p| !p.is_null()) {
                options.approval_policy = policy_from_json(policy, bridge.as_ref()).js()?;
            }
            options.listen_from_start = sink.is_some();
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
                        if let Err(e) = callback.call_async_catch(crate::errors::detail_json(&d.error)).await {
                            if e.status == Status::Closing {
                                return;
                            }
                        }
                    }
                });
            }
            if let Some(callback) = on_stderr {
                options.stderr_listener = Some(Arc::new(move |line: &str| {
                    callback.call(line.to_owned(), ThreadsafeFunctionCallMode::NonBlocking);
                }));
            }
            if let Some(callback) = on_message {
                // "in\n{frame}" / "out\n{frame}": one string per frame, split in JavaScript.
                options.message_tap = Some(Arc::new(move |direction: core::Direction, frame: &str| {
                    let tag = if direction == core::Direction::Incoming { "in" } else { "out" };
                    callback.call(format!("{tag}\n{frame}"), ThreadsafeFunctionCallMode::NonBlocking);
                }));
            }
            let inner = core::Session::open(options).await.js()?;
            let pump = match (sink, inner.take_startup_notifications()) {
                (Some(sink), Some(stream)) => Some(pump::spawn(stream, sink, on_end)),
                _ => None,
            };
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
                        let _ = callback.call_async_catch(json.to_string()).await;
                    }
                });
            }
            let mut info = raw_to_value(inner.info())?;
            if let Value::Object(fields) = &mut info {
                fields.insert("serverVersion".into(), inner.server_version().into());
            }
            *lock(&teardown_slot) = Some(inner.downgrade());
            Ok(Session { inner, info, notification_pump: Mutex::new(pump), bridge, exit_reported })
        })
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
    #[napi(getter, ts_return_type = "SessionInfo")]
    pub fn info(&self) -> Value {
        self.info.clone()
    }

    /// True once the session is closed or its connection is gone.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Why the session ended (error detail JSON), once it has.
    #[napi(js_name = "_closedError", skip_typescript)]
    pub fn closed_error(&self) -> Option<String> {
        self.inner
            .connection()
            .closed_error()
            .map(|e| crate::errors::detail_json(&e))
    }

    /// The app-server's process id, when this session spawned it.
    #[napi(getter)]
    pub fn pid(&self) -> Option<u32> {
        self.inner.pid()
    }

    /// Starts a new thread.
    #[napi(
        ts_args_type = "params?: ThreadStartParams",
        ts_return_type = "Promise<Thread>"
    )]
    pub async fn start_thread(&self, params: Option<Value>) -> Result<Thread> {
        let params = params_object("params", params)?;
        Ok(Thread::new(self.inner.start_thread(params).await.js()?))
    }

    /// Starts a thread that is not persisted.
    #[napi(
        ts_args_type = "params?: ThreadStartParams",
        ts_return_type = "Promise<Thread>"
    )]
    pub async fn start_ephemeral_thread(&self, params: Option<Value>) -> Result<Thread> {
        let params = params_object("params", params)?;
        Ok(Thread::new(
            self.inner.start_ephemeral_thread(params).await.js()?,
        ))
    }

    /// Opens an existing thread (`thread/resume`) to run more turns on it.
    #[napi(
        ts_args_type = "threadId: string, params?: Omit<ThreadResumeParams, 'threadId'>",
        ts_return_type = "Promise<Thread>"
    )]
    pub async fn resume_thread(&self, thread_id: String, params: Option<Value>) -> Result<Thread> {
        let params = params_object("params", params)?;
        Ok(Thread::new(
            self.inner.resume_thread(&thread_id, params).await.js()?,
        ))
    }

    /// A new thread with the history of `threadId` (`thread/fork`).
    #[napi(
        ts_args_type = "threadId: string, params?: Omit<ThreadForkParams, 'threadId'>",
        ts_return_type = "Promise<Thread>"
    )]
    pub async fn fork_thread(&self, thread_id: String, params: Option<Value>) -> Result<Thread> {
        let params = params_object("params", params)?;
        Ok(Thread::new(
            self.inner.fork_thread(&thread_id, params).await.js()?,
        ))
    }

    /// `thread/read`; with `includeTurns` the thread's turns and items too.
    #[napi(
        ts_args_type = "threadId: string, options?: { includeTurns?: boolean }",
        ts_return_type = "Promise<ThreadReadResponse>"
    )]
    pub fn read_thread<'env>(
        &self,
        env: &'env Env,
        thread_id: String,
        options: Option<Value>,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        let session = self.inner.clone();
        json_promise(env, async move {
            let include_turns = include_turns(options)?;
            raw_text(session.read_thread(&thread_id, include_turns)).await
        })
    }

    /// `thread/list`: stored threads (archived ones with `archived: true`).
    #[napi(
        ts_args_type = "params?: ThreadListParams",
        ts_return_type = "Promise<ThreadListResponse>"
    )]
    pub fn list_threads<'env>(
        &self,
        env: &'env Env,
        params: Option<Value>,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        let session = self.inner.clone();
        json_promise(env, async move {
            raw_text(session.list_threads(params_object("params", params)?)).await
        })
    }

    /// `thread/archive`.
    #[napi]
    pub async fn archive_thread(&self, thread_id: String) -> Result<()> {
        self.inner.archive_thread(&thread_id).await.js()
    }

    /// `thread/unarchive`: the thread, ready to use.
    #[napi(ts_return_type = "Promise<Thread>")]
    pub async fn unarchive_thread(&self, thread_id: String) -> Result<Thread> {
        Ok(Thread::new(
            self.inner.unarchive_thread(&thread_id).await.js()?,
        ))
    }

    /// `model/list`.
    #[napi(
        ts_args_type = "params?: ModelListParams",
        ts_return_type = "Promise<ModelListResponse>"
    )]
    pub fn list_models<'env>(
        &self,
        env: &'env Env,
        params: Option<Value>,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        let session = self.inner.clone();
        json_promise(env, async move {
            raw_text(session.list_models(params_object("params", params)?)).await
        })
    }

    /// `command/exec`: runs `command` (argv) outside any thread; resolves with exit code and output.
    #[napi(js_name = "_exec", skip_typescript)]
    pub fn exec<'env>(
        &self,
        env: &'env Env,
        command: Vec<String>,
        params: Option<Value>,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        let session = self.inner.clone();
        json_promise(env, async move {
            raw_text(session.exec(command, params_object("options", params)?)).await
        })
    }

    /// `account/read`.
    #[napi(
        ts_args_type = "params?: GetAccountParams",
        ts_return_type = "Promise<GetAccountResponse>"
    )]
    pub fn read_account<'env>(
        &self,
        env: &'env Env,
        params: Option<Value>,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        let session = self.inner.clone();
        json_promise(env, async move {
            raw_text(session.read_account(params_object("params", params)?)).await
        })
    }

    /// `account/login/start` with an API key.
    #[napi(ts_return_type = "Promise<LoginAccountResponse>")]
    pub fn login_with_api_key<'env>(
        &self,
        env: &'env Env,
        api_key: String,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        let session = self.inner.clone();
        json_promise(env, async move {
            raw_text(session.login_with_api_key(&api_key)).await
        })
    }

    /// `account/logout`.
    #[napi]
    pub async fn logout(&self) -> Result<()> {
        self.inner.logout().await.js()
    }

    /// `account/rateLimits/read`.
    #[napi(ts_return_type = "Promise<GetAccountRateLimitsResponse>")]
    pub fn read_rate_limits<'env>(
        &self,
        env: &'env Env,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        let session = self.inner.clone();
        json_promise(
            env,
            async move { raw_text(session.read_rate_limits()).await },
        )
    }

    /// `config/read`: the effective configuration.
    #[napi(
        ts_args_type = "params?: ConfigReadParams",
        ts_return_type = "Promise<ConfigReadResponse>"
    )]
    pub fn read_config<'env>(
        &self,
        env: &'env Env,
        params: Option<Value>,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        let session = self.inner.clone();
        json_promise(env, async move {
            raw_text(session.read_config(params_object("params", params)?)).await
        })
    }

    /// Sends any request (params as JSON text); resolves with the parsed result.
    #[napi(js_name = "_request", skip_typescript)]
    pub fn request<'env>(
        &self,
        env: &'env Env,
        method: String,
        params_json: String,
        timeout_ms: Option<f64>,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        let session = self.inner.clone();
        json_promise(env, async move {
            let timeout = timeout_ms
                .map(|ms| core::millis("timeoutMs", &Value::from(ms)))
                .transpose()
                .js()?;
            if serde_json::from_str::<&serde_json::value::RawValue>(&params_json).is_err() {
                return Err(to_napi(core::Error::invalid_argument(
                    "params",
                    "must be JSON-serialisable",
                )));
            }
            raw_text(session.request(&method, &params_json, timeout)).await
        })
    }

    /// Sends a notification to the server.
    #[napi(ts_args_type = "method: string, params?: unknown")]
    pub fn notify(&self, method: String, params: Option<Value>) -> Result<()> {
        let params = params.map(|p| p.to_string());
        self.inner
            .connection()
            .notify(&method, params.as_deref())
            .js()
    }

    /// Routes every notification from now on to `sink` in batches (replacing any earlier
    /// sink), or stops doing so with `null`. Used by `onNotification`.
    #[napi(
        js_name = "_setNotificationSink",
        skip_typescript,
        ts_args_type = "sink: ((batch: string) => void) | null, onEnd?: ((errorDetail: string) => void) | null"
    )]
    pub fn set_notification_sink(
        &self,
        sink: Option<Function<String, ()>>,
        on_end: Option<Function<String, ()>>,
    ) -> Result<()> {
        let mut slot = lock(&self.notification_pump);
        if let Some(old) = slot.take() {
            old.abort();
        }
        if let Some(sink) = sink {
            let stream = self.inner.notifications();
            let on_end = on_end.map(batch_callback).transpose()?;
            *slot = Some(pump::spawn(stream, batch_callback(sink)?, on_end));
        }
        Ok(())
    }

    /// Queues a barrier marker `#id` behind every notification received so far, delivered
    /// through the sink; returns its id, or 0 when no sink is listening. Lets a response's
    /// promise settle only after the notifications the server sent before it.
    #[napi(js_name = "_notificationBarrier", skip_typescript)]
    pub fn notification_barrier(&self) -> u32 {
        static NEXT_ID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let slot = lock(&self.notification_pump);
        let Some(pump) = slot.as_ref() else { return 0 };
        let id = NEXT_ID
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .max(1);
        if pump.barrier(id) {
            id
        } else {
            0
        }
    }

    /// Sets (or with `null` removes) the approval policy of one thread.
    #[napi(js_name = "_setThreadPolicy", skip_typescript)]
    pub fn set_thread_policy(&self, thread_id: String, policy: Option<Value>) -> Result<()> {
        let policy = policy
            .map(|p| policy_from_json(&p, self.bridge.as_ref()))
            .transpose()
            .js()?;
        self.inner.policies().set_thread_policy(&thread_id, policy);
        Ok(())
    }

    /// Routes every server request of `method` to the JavaScript handler `key` (or, with
    /// `null`, stops doing so).
    #[napi(js_name = "_setOverride", skip_typescript)]
    pub fn set_override(&self, method: String, key: Option<String>) -> Result<()> {
        let handler = match (key, &self.bridge) {
            (Some(key), Some(bridge)) => Some(Arc::new(JsHandler {
                key,
                bridge: bridge.clone(),
            })
                as Arc<dyn core::ServerRequestHandler>),
            (Some(_), None) => {
                return Err(to_napi(core::Error::invalid_argument(
                    "handler",
                    "needs the JavaScript bridge",
                )))
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
        })
    }

    /// Ends the session: pending work settles with `SESSION_CLOSED`, the server gets stdin
    /// EOF, then SIGTERM, then SIGKILL. Idempotent.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        let pump = lock(&self.notification_pump).take();
        if let Some(p) = pump {
            p.abort();
        }
        self.inner.close().await;
        // A spawned server has exited by now; resolve after onExit has heard of it.
        if let Some(mut reported) = self.exit_reported.clone() {
            let _ = reported.wait_for(|done| *done).await;
        }
        Ok(())
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
