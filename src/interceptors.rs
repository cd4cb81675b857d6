//! `SessionOptions.interceptors` as core `Interceptor`s: each JavaScript interceptor's
//! `outgoing`/`incoming` function, wrapped by js/interceptors.js into
//! `(batchJson) => Promise<string>`, called through a ThreadsafeFunction whose Promise is
//! awaited here, on the runtime (the core runs the chain on tasks of its own, so neither the
//! reader nor the writer is blocked by it).
//!
//! Messages cross as JSON text, a batch at a time (what arrived together): one crossing to the
//! JS thread and back costs about 40 µs on a busy machine, far more than the JSON work, so a
//! crossing per message would cap a stream at ~25,000 messages/s. `JSON.parse`/`stringify`
//! in V8 are faster than building objects from Rust, and a cyclic or BigInt result fails in
//! `JSON.stringify` (reported, the message goes on unchanged) instead of in a recursive
//! conversion here.

use std::sync::Arc;

use app_server_client as core;
use core::transport::BoxFuture;
use core::{Direction, InterceptResult};
use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::ThreadsafeFunction;
use napi::Status;
use serde::Deserialize;
use serde_json::Value;

/// `(batchJson: string) => Promise<string>` (weak: never keeps Node alive): a JSON array of
/// messages in, a [`BatchAnswer`] out.
pub type InterceptCallback =
    ThreadsafeFunction<String, Promise<String>, String, Status, false, true>;

/// One interceptor as main.js hands it over (js/interceptors.js makes both functions).
#[napi_derive::napi(object, object_to_js = false)]
pub struct InterceptorHooks {
    #[napi(ts_type = "(batchJson: string) => Promise<string>")]
    pub outgoing: Option<InterceptCallback>,
    #[napi(ts_type = "(batchJson: string) => Promise<string>")]
    pub incoming: Option<InterceptCallback>,
}

/// What js/interceptors.js answers for a batch: per message its result (`null`: dropped), and
/// the messages whose interceptor failed, with why.
#[derive(Deserialize)]
struct BatchAnswer {
    out: Vec<Value>,
    #[serde(default)]
    errors: Vec<(usize, String)>,
}

struct JsInterceptor {
    outgoing: Option<Arc<InterceptCallback>>,
    incoming: Option<Arc<InterceptCallback>>,
}

impl JsInterceptor {
    fn callback(&self, direction: Direction) -> Option<&Arc<InterceptCallback>> {
        match direction {
            Direction::Outgoing => self.outgoing.as_ref(),
            Direction::Incoming => self.incoming.as_ref(),
        }
    }
}

async fn call(callback: &InterceptCallback, batch: String) -> Result<BatchAnswer, String> {
    // A rejection carries the JavaScript error's message.
    let promise = callback
        .call_async_catch(batch)
        .await
        .map_err(|e| e.reason.clone())?;
    let text = promise.await.map_err(|e| e.reason.clone())?;
    serde_json::from_str(&text).map_err(|e| format!("unreadable answer: {e}"))
}

impl core::Interceptor for JsInterceptor {
    fn intercepts(&self, direction: Direction) -> bool {
        self.callback(direction).is_some()
    }

    fn intercept(
        &self,
        direction: Direction,
        message: Value,
    ) -> BoxFuture<'static, InterceptResult> {
        let batch = self.intercept_batch(direction, vec![message.clone()]);
        Box::pin(async move {
            match batch {
                Some(batch) => batch.await.pop().unwrap_or(Ok(Some(message))),
                None => Ok(Some(message)),
            }
        })
    }

    fn intercept_batch(
        &self,
        direction: Direction,
        messages: Vec<Value>,
    ) -> Option<BoxFuture<'static, Vec<InterceptResult>>> {
        let callback = Arc::clone(self.callback(direction)?);
        Some(Box::pin(async move {
            let count = messages.len();
            let batch = serde_json::to_string(&messages).unwrap_or_default();
            match call(&callback, batch).await {
                // The bridge itself failed: every message is reported and passes.
                Err(reason) => (0..count).map(|_| Err(reason.clone().into())).collect(),
                Ok(BatchAnswer { out, errors }) => {
                    let mut results: Vec<InterceptResult> = out
                        .into_iter()
                        .map(|v| Ok((!v.is_null()).then_some(v)))
                        .collect();
                    for (i, reason) in errors {
                        if let Some(slot) = results.get_mut(i) {
                            *slot = Err(reason.into());
                        }
                    }
                    results
                }
            }
        }))
    }
}

/// The core interceptors of what main.js passed.
pub fn from_hooks(hooks: Vec<InterceptorHooks>) -> Vec<Arc<dyn core::Interceptor>> {
    hooks
        .into_iter()
        .map(|h| {
            Arc::new(JsInterceptor {
                outgoing: h.outgoing.map(Arc::new),
                incoming: h.incoming.map(Arc::new),
            }) as Arc<dyn core::Interceptor>
        })
        .collect()
}
