use app_server_client as core;
use napi::bindgen_prelude::{Function, PromiseRaw};
use napi::Result;
use napi::{Env, Unknown};
use napi_derive::napi;
use serde_json::Value;

use crate::errors::{json_promise, raw_text, raw_to_value, IntoJs};
use crate::pump;
use crate::session::{include_turns, params_object};
use crate::turn::Turn;

/// A conversation on a session.
#[napi]
pub struct Thread {
    inner: core::Thread,
}

impl Thread {
    pub(crate) fn new(inner: core::Thread) -> Self {
        Thread { inner }
    }
}

#[napi]
impl Thread {
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.inner.id().to_owned()
    }

    /// The response that opened this thread (`thread/start`, `thread/resume`, `thread/fork`).
    #[napi(getter, ts_return_type = "ThreadStartResponse")]
    pub fn opened(&self) -> napi::Result<Value> {
        raw_to_value(&self.inner.response)
    }

    /// `thread/read` of this thread.
    #[napi(
        ts_args_type = "options?: { includeTurns?: boolean }",
        ts_return_type = "Promise<ThreadReadResponse>"
    )]
    pub fn read<'env>(
        &self,
        env: &'env Env,
        options: Option<Value>,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        let thread = self.inner.clone();
        json_promise(env, async move {
            let include_turns = include_turns(options)?;
            raw_text(thread.read(include_turns)).await
        })
    }

    /// A new thread with this one's history (`thread/fork`).
    #[napi(
        ts_args_type = "params?: Omit<ThreadForkParams, 'threadId'>",
        ts_return_type = "Promise<Thread>"
    )]
    pub async fn fork(&self, params: Option<Value>) -> Result<Thread> {
        let params = params_object("params", params)?;
        Ok(Thread::new(self.inner.fork(params).await.js()?))
    }

    /// Drops the last `numTurns` turns from the thread's history.
    #[napi]
    pub async fn rollback(&self, num_turns: u32) -> Result<()> {
        self.inner.rollback(num_turns).await.js()
    }

    #[napi]
    pub async fn archive(&self) -> Result<()> {
        self.inner.archive().await.js()
    }

    #[napi]
    pub async fn unarchive(&self) -> Result<()> {
        self.inner.unarchive().await.js()
    }

    /// `thread/name/set`.
    #[napi]
    pub async fn set_name(&self, name: String) -> Result<()> {
        self.inner.set_name(&name).await.js()
    }

    /// Starts compacting the thread's history (`thread/compact/start`).
    #[napi]
    pub async fn compact(&self) -> Result<()> {
        self.inner.compact().await.js()
    }

    /// Stops this connection receiving the thread's events (`thread/unsubscribe`).
    #[napi]
    pub async fn unsubscribe(&self) -> Result<()> {
        self.inner.unsubscribe().await.js()
    }

    /// Starts a turn; `onEvent` receives its events as JSON batches from the first one on.
    #[napi(js_name = "_startTurn", skip_typescript)]
    pub fn start_turn<'env>(
        &self,
        env: &'env Env,
        input: Value,
        params: Option<Value>,
        on_event: Option<Function<String, ()>>,
        inactivity_timeout_ms: Option<f64>,
    ) -> Result<PromiseRaw<'env, Turn>> {
        let callback = on_event.map(crate::pump::batch_callback).transpose()?;
        let thread = self.inner.clone();
        env.spawn_future(async move {
            let input = core::Input::from_json(input).js()?;
            let params = params_object("options", params)?;
            let inactivity_timeout = inactivity_timeout_ms
                .map(|ms| core::millis("inactivityTimeoutMs", &Value::from(ms)))
                .transpose()
                .js()?;
            let streams = core::TurnSetup {
                extra_streams: usize::from(callback.is_some()),
                inactivity_timeout,
            };
            let (turn, extra) = thread.start_turn(input, params, streams).await.js()?;
            let pump = match (callback, extra.into_iter().next()) {
                (Some(cb), Some(stream)) => Some(pump::spawn(stream, cb, None)),
                _ => None,
            };
            Ok(Turn::new(turn, pump))
        })
    }
}
