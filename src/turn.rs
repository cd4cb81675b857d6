use std::sync::Arc;

use app_server_client as core;
use napi::bindgen_prelude::{Either, Function, PromiseRaw};
use napi::Result;
use napi::{Env, Unknown};
use napi_derive::napi;
use serde_json::Value;

use crate::args;
use crate::errors::{json_promise, promise, Outcome};
use crate::order::Order;
use crate::pull::{Form, PullStream, Pulled};
use crate::pump::Pump;

/// A running turn. Its events are read through the JavaScript iterator (`for await`).
#[napi]
pub struct Turn {
    inner: Arc<core::Turn>,
    /// The turn's own stream, for the iterator and `textStream()`.
    stream: PullStream,
    /// Feeds `onEvent`; the result waits for it so callbacks have seen every event first.
    event_pump: Option<Arc<Pump>>,
    /// Its session's notification order (see `order.rs`).
    order: Order,
}

impl Turn {
    pub(crate) fn new(inner: core::Turn, event_pump: Option<Pump>, order: Order) -> Self {
        let inner = Arc::new(inner);
        Turn {
            stream: PullStream::new(Arc::clone(&inner)),
            inner,
            event_pump: event_pump.map(Arc::new),
            order,
        }
    }

    /// A promise of nothing, once `fut` is done, settled in order.
    fn unit<'env, F>(&self, env: &'env Env, fut: F) -> Result<PromiseRaw<'env, ()>>
    where
        F: std::future::Future<Output = Outcome<()>> + Send + 'static,
    {
        promise(env, self.order.clone().after(fut), |_, ()| Ok(()))
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

    /// This turn's next events as a JSON array, `null` after `turn/completed`, or, when none
    /// is queued, a waiter id: `wake(id)` is called when it is worth pulling again.
    #[napi(js_name = "_pullBatch", skip_typescript)]
    pub fn pull_batch(&self, env: &Env, wake: Function<u32, ()>) -> Result<Pulled> {
        self.stream.pull(env, Form::Events, wake)
    }

    /// The agent-message text deltas that arrived since the last pull, the same way.
    #[napi(js_name = "_pullText", skip_typescript)]
    pub fn pull_text(&self, env: &Env, wake: Function<u32, ()>) -> Result<Pulled> {
        self.stream.pull(env, Form::Text, wake)
    }

    /// Stops buffering events for the iterator (when nobody will read them).
    #[napi(js_name = "_discardEvents", skip_typescript)]
    pub fn discard_events(&self) {
        self.inner.discard_events();
        self.stream.discard();
    }

    /// Resolves when the turn ends. A `timeoutMs` stops waiting (REQUEST_TIMEOUT) without
    /// touching the turn; calling again later still gets the result.
    ///
    /// `crossed` says what JavaScript already holds, so that it is not sent again (codex's
    /// final `item/completed` alone can be 20 MB): 0 nothing, 1 every `item/completed` item of
    /// the turn (its consumer read the stream to the end), 2 those items and among them an agent
    /// message, whose text is the result's. JavaScript then assembles the result itself.
    #[napi(js_name = "_result", skip_typescript)]
    pub fn result<'env>(
        &self,
        env: &'env Env,
        timeout_ms: Option<f64>,
        crossed: Option<u32>,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        let turn = Arc::clone(&self.inner);
        let pump = self.event_pump.clone();
        let crossed = crossed.unwrap_or(0);
        json_promise(
            env,
            self.order.clone().after(async move {
                let timeout = args::millis(timeout_ms, "timeoutMs")?;
                // With the text and items in JavaScript already, the result is not even built.
                let result = match crossed {
                    2 => turn.result_end(timeout).await.map(Either::B),
                    _ => turn.result(timeout).await.map(Either::A),
                };
                // onEvent has seen every event (turn/completed included) before the result
                // settles. (Not for a timeout: that only stops waiting, the turn and its pump
                // go on.)
                if let (Some(pump), true) = (pump, turn.is_finished()) {
                    pump.delivered().await;
                }
                let json = match result? {
                    Either::A(result) if crossed == 0 => serde_json::to_string(&*result),
                    Either::A(result) => serde_json::to_string(&Scalars {
                        thread_id: &result.thread_id,
                        turn_id: &result.turn_id,
                        status: &result.status,
                        text: Some(&result.text),
                        usage: result.usage.as_deref(),
                        error: result.error.as_deref(),
                    }),
                    Either::B(end) => serde_json::to_string(&Scalars {
                        thread_id: turn.thread_id(),
                        turn_id: turn.id(),
                        status: &end.status,
                        text: None,
                        usage: end.usage.as_deref(),
                        error: end.error.as_deref(),
                    }),
                };
                json.map_err(|e| core::Error::Protocol(e.to_string()).into())
            }),
        )
    }

    /// Asks the server to stop the turn; it then completes with status `interrupted`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn interrupt<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let turn = Arc::clone(&self.inner);
        self.unit(env, async move { Ok(turn.interrupt().await?) })
    }

    /// Adds input to the running turn.
    #[napi(ts_args_type = "input: Input", ts_return_type = "Promise<void>")]
    pub fn steer<'env>(
        &self,
        env: &'env Env,
        input: Unknown<'env>,
    ) -> Result<PromiseRaw<'env, ()>> {
        let input = args::json(Some(input), "input");
        let turn = Arc::clone(&self.inner);
        self.unit(env, async move {
            let input = core::Input::from_json(input?.unwrap_or(Value::Null))?;
            Ok(turn.steer(input).await?)
        })
    }

    /// True once the turn has ended.
    #[napi(getter)]
    pub fn finished(&self) -> bool {
        self.inner.is_finished()
    }
}

/// A turn result without what JavaScript already holds (see `Turn::result`).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Scalars<'a> {
    thread_id: &'a str,
    turn_id: &'a str,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    usage: Option<&'a serde_json::value::RawValue>,
    error: Option<&'a serde_json::value::RawValue>,
}
