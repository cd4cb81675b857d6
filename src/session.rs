use std::sync::{Arc, Mutex};

use app_server_client as core;
use napi::bindgen_prelude::{Function, PromiseRaw};
use napi::{Env, Status};
use napi::Result;
use napi_derive::napi;
use serde_json::{Map, Value};
use tokio::task::JoinHandle;

use crate::errors::{raw_to_value, to_napi, IntoJs};
use crate::pump::{self, BatchCallback};
use crate::thread::Thread;

/// A connection to one codex app-server. Created with `Session.create()`.
#[napi]
pub struct Session {
    pub(crate) inner: core::Session,
    info: Value,
    notification_pump: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(p) = self.notification_pump.lock().ok().and_then(|mut p| p.take()) {
            p.abort();
        }
    }
}

pub(crate) fn params_object(name: &str, params: Option<Value>) -> Result<Map<String, Value>> {
    match params {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(to_napi(core::Error::invalid_argument(name, "must be an object"))),
    }
}

fn batch_callback(f: Function<String, ()>) -> Result<BatchCallback> {
    f.build_threadsafe_function().weak::<true>().callee_handled::<false>().build()
}

#[napi]
impl Session {
    /// Starts (or connects to) an app-server and runs the `initialize` handshake.
    /// (Natively it also takes the notification sink that main.js passes.)
    #[napi(
        ts_args_type = "options?: SessionOptions",
        ts_return_type = "Promise<Session>"
    )]
    pub fn create<'env>(
        env: &'env Env,
        options: Option<Value>,
        notification_sink: Option<Function<String, ()>>,
        on_sink_end: Option<Function<String, ()>>,
    ) -> Result<PromiseRaw<'env, Session>> {
        let sink = notification_sink.map(batch_callback).transpose()?;
        let on_end = on_sink_end.map(batch_callback).transpose()?;
        // If this JavaScript environment ends (process exit, worker terminated) while the
        // session is open, its server goes with it.
        let teardown_slot: Arc<Mutex<Option<core::WeakSession>>> = Arc::default();
        env.add_env_cleanup_hook(Arc::clone(&teardown_slot), |slot| {
            if let Some(session) = slot.lock().ok().and_then(|s| s.clone()).and_then(|w| w.upgrade()) {
                napi::bindgen_prelude::within_runtime_if_available(|| session.kill_now());
            }
        })?;
        env.spawn_future(async move {
            // Validated here so that bad options reject the promise (before any spawn).
            let mut options = core::SessionOptions::from_json(&options.unwrap_or(Value::Null)).js()?;
            options.listen_from_start = sink.is_some();
            let inner = core::Session::spawn(options).await.js()?;
            let pump = match (sink, inner.take_startup_notifications()) {
                (Some(sink), Some(stream)) => Some(pump::spawn(stream, sink, on_end)),
                _ => None,
            };
            let info = raw_to_value(inner.info())?;
            if let Ok(mut slot) = teardown_slot.lock() {
                *slot = Some(inner.downgrade());
            }
            Ok(Session { inner, info, notification_pump: Mutex::new(pump) })
        })
    }

    /// The server's `initialize` response: userAgent, codexHome, platformFamily, platformOs.
    #[napi(getter, ts_return_type = "InitializeResponse")]
    pub fn info(&self) -> Value {
        self.info.clone()
    }

    /// True once the session is closed or its connection is gone.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// The app-server's process id, when this session spawned it.
    #[napi(getter)]
    pub fn pid(&self) -> Option<u32> {
        self.inner.pid()
    }

    /// Starts a new thread.
    #[napi(ts_args_type = "params?: ThreadStartParams", ts_return_type = "Promise<Thread>")]
    pub async fn start_thread(&self, params: Option<Value>) -> Result<Thread> {
        let params = params_object("params", params)?;
        Ok(Thread::new(self.inner.start_thread(params).await.js()?))
    }

    /// Starts a thread that is not persisted.
    #[napi(ts_args_type = "params?: ThreadStartParams", ts_return_type = "Promise<Thread>")]
    pub async fn start_ephemeral_thread(&self, params: Option<Value>) -> Result<Thread> {
        let params = params_object("params", params)?;
        Ok(Thread::new(self.inner.start_ephemeral_thread(params).await.js()?))
    }

    /// Sends any request (params as JSON text); resolves with the result as JSON text.
    #[napi(js_name = "_request", skip_typescript)]
    pub async fn request(&self, method: String, params_json: String, timeout_ms: Option<f64>) -> Result<String> {
        let timeout = timeout_ms.map(|ms| core::millis("timeoutMs", &Value::from(ms))).transpose().js()?;
        if serde_json::from_str::<&serde_json::value::RawValue>(&params_json).is_err() {
            return Err(to_napi(core::Error::invalid_argument("params", "must be JSON-serialisable")));
        }
        let result = self.inner.request(&method, &params_json, timeout).await.js()?;
        Ok(result.get().to_owned())
    }

    /// Sends a notification to the server.
    #[napi(ts_args_type = "method: string, params?: unknown")]
    pub fn notify(&self, method: String, params: Option<Value>) -> Result<()> {
        let params = params.map(|p| p.to_string());
        self.inner.connection().notify(&method, params.as_deref()).js()
    }

    /// Routes every notification from now on to `sink` in batches (replacing any earlier
    /// sink), or stops doing so with `null`. Used by `onNotification`.
    #[napi(
        js_name = "_setNotificationSink",
        skip_typescript,
        ts_args_type = "sink: ((batch: string) => void) | null, onEnd?: ((errorDetail: string) => void) | null"
    )]
    pub fn set_notification_sink(&self, sink: Option<Function<String, ()>>, on_end: Option<Function<String, ()>>) -> Result<()> {
        let mut slot = self.notification_pump.lock().map_err(|_| napi::Error::new(Status::GenericFailure, "poisoned"))?;
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

    /// Internal counters for leak checks.
    #[napi(js_name = "_stats", skip_typescript, ts_return_type = "{ liveTurns: number; listeners: number; pendingRequests: number }")]
    pub fn stats(&self) -> Value {
        let (turns, listeners, pending) = self.inner.stats();
        serde_json::json!({ "liveTurns": turns, "listeners": listeners, "pendingRequests": pending })
    }

    /// Ends the session: pending work settles with `SESSION_CLOSED`, the server gets stdin
    /// EOF, then SIGTERM, then SIGKILL. Idempotent.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        if let Some(p) = self.notification_pump.lock().ok().and_then(|mut p| p.take()) {
            p.abort();
        }
        self.inner.close().await;
        Ok(())
    }
}
