//! `SessionOptions.interceptors` as core `Interceptor`s: each JavaScript interceptor's
//! `outgoing`/`incoming` function, wrapped by js/interceptors.js into
//! `(messageJson) => Promise<string | null>`, called through a ThreadsafeFunction whose
//! Promise is awaited here, on the runtime (the core runs the chain on tasks of its own, so
//! neither the reader nor the writer is blocked by it).
//!
//! The message crosses as JSON text both ways: `JSON.parse`/`JSON.stringify` in V8 are faster
//! than building the object from Rust, and a cyclic or BigInt result fails in `JSON.stringify`
//! (reported, the message goes on unchanged) instead of in a recursive conversion here.

use std::sync::Arc;

use app_server_client as core;
use core::transport::BoxFuture;
use core::{Direction, InterceptResult};
use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::ThreadsafeFunction;
use napi::Status;
use serde_json::Value;

/// `(messageJson: string) => Promise<string | null>` (weak: never keeps Node alive).
pub type InterceptCallback =
    ThreadsafeFunction<String, Promise<Option<String>>, String, Status, false, true>;

/// One interceptor as main.js hands it over (js/interceptors.js makes both functions).
#[napi_derive::napi(object, object_to_js = false)]
pub struct InterceptorHooks {
    #[napi(ts_type = "(messageJson: string) => Promise<string | null>")]
    pub outgoing: Option<InterceptCallback>,
    #[napi(ts_type = "(messageJson: string) => Promise<string | null>")]
    pub incoming: Option<InterceptCallback>,
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

impl core::Interceptor for JsInterceptor {
    fn intercepts(&self, direction: Direction) -> bool {
        self.callback(direction).is_some()
    }

    fn intercept(&self, direction: Direction, message: Value) -> BoxFuture<'static, InterceptResult> {
        let callback = self.callback(direction).cloned();
        Box::pin(async move {
            let Some(callback) = callback else {
                return Ok(Some(message));
            };
            // A rejection carries the JavaScript error's message (js/interceptors.js makes one
            // for a result that is not JSON-able).
            let answer = callback
                .call_async_catch(message.to_string())
                .await?
                .await?;
            match answer {
                None => Ok(None),
                Some(text) => Ok(Some(serde_json::from_str(&text)?)),
            }
        })
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
