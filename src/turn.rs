use std::sync::Arc;

use app_server_client as core;
use napi::bindgen_prelude::PromiseRaw;
use napi::Result;
use napi::{Env, Unknown};
use napi_derive::napi;
use serde_json::Value;
use tokio::sync::Mutex as AsyncMutex;

use crate::errors::{json_promise, to_napi, IntoJs};
use crate::pump::{batch_json, batch_text, Pump, MAX_BATCH};

/// A running turn. Its events are read through the JavaScript iterator (`for await`).
#[napi]
pub struct Turn {
    inner: Arc<core::Turn>,
    /// The turn's own stream, moved here on first read.
    stream: AsyncMutex<Option<core::EventStream>>,
    /// Feeds `onEvent`; the result waits for it so callbacks have seen every event first.
    event_pump: Option<Arc<Pump>>,
}

impl Turn {
    pub(crate) fn new(inner: core::Turn, event_pump: Option<Pump>) -> Self {
        Turn {
            inner: Arc::new(inner),
            stream: AsyncMutex::new(None),
            event_pump: event_pump.map(Arc::new),
        }
    }

    async fn next<T>(
        &self,
        pick: impl Fn(&mut core::EventStream, Vec<Arc<core::Notification>>) -> Option<T>,
    ) -> Result<Option<T>> {
        let mut slot = self.stream.lock().await;
        if slot.is_none() {
            *slot = self.inner.take_events();
        }
        let Some(stream) = slot.as_mut() else {
            return Ok(None);
        };
        loop {
            match stream.next_batch(MAX_BATCH).await.js()? {
                None => return Ok(None),
                Some(batch) => {
                    if let Some(out) = pick(stream, batch) {
                        return Ok(Some(out));
                    }
                }
            }
        }
    }
}

#[napi]
impl Turn {
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.inner.id().to_owned()
    }

    #[napi(getter)]
    pub fn thread_id(&self) -> String {
        self.inner.thread_id().to_owned()
    }

    /// The next batch of this turn's events as a JSON array, or `null` after `turn/completed`.
    #[napi(js_name = "_nextBatch", skip_typescript)]
    pub async fn next_batch(&self) -> Result<Option<String>> {
        self.next(|_, batch| Some(batch_json(&batch))).await
    }

    /// The agent-message text deltas that arrived since the last call, or `null` at the end.
    #[napi(js_name = "_nextText", skip_typescript)]
    pub async fn next_text(&self) -> Result<Option<String>> {
        self.next(|_, batch| Some(batch_text(&batch)).filter(|t| !t.is_empty()))
            .await
    }

    /// Stops buffering events for the iterator (when nobody will read them).
    #[napi(js_name = "_discardEvents", skip_typescript)]
    pub fn discard_events(&self) {
        self.inner.discard_events();
        if let Ok(mut slot) = self.stream.try_lock() {
            slot.take();
        }
    }

    /// Resolves when the turn ends. A `timeoutMs` stops waiting (REQUEST_TIMEOUT) without
    /// touching the turn; calling again later still gets the result.
    #[napi(js_name = "_result", skip_typescript)]
    pub fn result<'env>(
        &self,
        env: &'env Env,
        timeout_ms: Option<f64>,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        let turn = Arc::clone(&self.inner);
        let pump = self.event_pump.clone();
        json_promise(env, async move {
            let timeout = timeout_ms
                .map(|ms| core::millis("timeoutMs", &Value::from(ms)))
                .transpose()
                .js()?;
            let result = turn.result(timeout).await;
            // onEvent has seen every event (turn/completed included) before the result settles.
            // (Not for a timeout: that only stops waiting, the turn and its pump go on.)
            if let (Some(pump), true) = (pump, turn.is_finished()) {
                pump.delivered().await;
            }
            let result = result.js()?;
            serde_json::to_string(&*result)
                .map_err(|e| to_napi(core::Error::Protocol(e.to_string())))
        })
    }

    /// Asks the server to stop the turn; it then completes with status `interrupted`.
    #[napi]
    pub async fn interrupt(&self) -> Result<()> {
        self.inner.interrupt().await.js()
    }

    /// Adds input to the running turn.
    #[napi(ts_args_type = "input: Input")]
    pub async fn steer(&self, input: Value) -> Result<()> {
        let input = core::Input::from_json(input).js()?;
        self.inner.steer(input).await.js()
    }

    /// True once the turn has ended.
    #[napi(getter)]
    pub fn finished(&self) -> bool {
        self.inner.is_finished()
    }
}
