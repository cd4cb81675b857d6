//! JavaScript approval handlers as core `ServerRequestHandler`s.
//!
//! One ThreadsafeFunction per session carries every request that a JavaScript handler must
//! decide; its Promise is awaited here, on the runtime, never on the reader. The JavaScript
//! side (main.js) finds the handler by `key`, calls it with the params and an AbortSignal, and
//! answers `{result}`, `{decline}` or `{error}`. When the request stops being pending (the
//! server resolved it, the turn ended, a timeout, the session closed) the waiting future is
//! dropped, which tells JavaScript to abort that handler's signal.

use std::collections::HashSet;
use std::sync::Arc;

use app_server_client as core;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::callbacks::{RequestCallback, TextCallback};
use crate::text::JsText;

/// `(requestKey) => void`: abort the handler of that request.
pub type AbortCallback = TextCallback;

#[derive(Clone)]
pub struct JsBridge {
    pub request: Arc<RequestCallback>,
    pub abort: Arc<AbortCallback>,
}

/// A handler living in JavaScript, found there by `key` (a policy or an override).
pub struct JsHandler {
    pub key: String,
    pub bridge: JsBridge,
}

#[derive(Deserialize)]
struct JsReply {
    #[serde(default)]
    result: Option<Box<RawValue>>,
    #[serde(default)]
    decline: Option<String>,
    #[serde(default)]
    error: Option<JsError>,
}

#[derive(Deserialize)]
struct JsError {
    code: i64,
    message: String,
}

/// Aborts the JavaScript handler if its answer is no longer awaited.
struct AbortOnDrop {
    request_key: String,
    abort: Arc<AbortCallback>,
    done: bool,
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if !self.done {
            self.abort.call(
                JsText(std::mem::take(&mut self.request_key)),
                ThreadsafeFunctionCallMode::NonBlocking,
            );
        }
    }
}

/// A key no other request of this process has had.
fn next_request_key() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .to_string()
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

impl core::ServerRequestHandler for JsHandler {
    fn handle(
        &self,
        request: core::ServerRequest,
    ) -> core::transport::BoxFuture<'static, core::Reply> {
        // JavaScript files each handler's AbortController under this key. Not the server's
        // request id: the protocol lets a server reuse one, and two pending requests with one id
        // would share (and overwrite) a controller.
        let request_key = next_request_key();
        let payload = format!(
            "{{\"key\":{},\"requestKey\":{},\"id\":{},\"method\":{},\"threadId\":{},\"turnId\":{},\"params\":{}}}",
            json_string(&self.key),
            json_string(&request_key),
            request.id.get(),
            json_string(&request.method),
            request.thread_id.as_deref().map(json_string).unwrap_or_else(|| "null".into()),
            request.turn_id.as_deref().map(json_string).unwrap_or_else(|| "null".into()),
            request.params.get(),
        );
        let bridge = self.bridge.clone();
        Box::pin(async move {
            let mut guard = AbortOnDrop {
                request_key,
                abort: Arc::clone(&bridge.abort),
                done: false,
            };
            let answer = match bridge.request.call_async_catch(payload).await {
                Ok(promise) => promise.await,
                Err(e) => Err(e),
            };
            guard.done = true;
            let text = match answer {
                Ok(text) => text,
                // main.js turns handler failures into `{decline}`; this is the bridge itself failing.
                Err(e) => {
                    return core::Reply::Decline {
                        reason: format!("handler bridge failed: {}", e.reason),
                    }
                }
            };
            match serde_json::from_str::<JsReply>(&text) {
                Ok(JsReply {
                    result: Some(result),
                    ..
                }) => core::Reply::Result(result),
                Ok(JsReply { error: Some(e), .. }) => core::Reply::Error(core::RpcError {
                    code: e.code,
                    message: e.message,
                    data: None,
                }),
                Ok(JsReply { decline, .. }) => core::Reply::Decline {
                    reason: decline.unwrap_or_else(|| "declined by the handler".into()),
                },
                Err(e) => core::Reply::Decline {
                    reason: format!("handler answer is not valid: {e}"),
                },
            }
        })
    }
}

/// What `ApprovalPolicy.toNative()` (main.js) makes of a policy: its kind, and for a custom
/// one the key main.js files its handlers under and the request methods they answer.
#[napi_derive::napi(object, object_to_js = false)]
#[derive(Deserialize)]
pub struct PolicyDescriptor {
    #[napi(ts_type = "'autoDecline' | 'autoAccept' | 'commandsOnly' | 'custom'")]
    pub kind: String,
    pub key: Option<String>,
    pub methods: Option<Vec<String>>,
}

/// The descriptor inside the session options' JSON.
pub fn policy_from_json(
    value: &Value,
    bridge: Option<&JsBridge>,
) -> Result<core::ApprovalPolicy, core::Error> {
    let descriptor = PolicyDescriptor::deserialize(value).map_err(|_| {
        core::Error::invalid_argument("approvalPolicy", "must be made by ApprovalPolicy.*()")
    })?;
    policy(descriptor, bridge)
}

pub fn policy(
    descriptor: PolicyDescriptor,
    bridge: Option<&JsBridge>,
) -> Result<core::ApprovalPolicy, core::Error> {
    let bad = |msg: &str| core::Error::invalid_argument("approvalPolicy", msg.to_owned());
    Ok(match descriptor.kind.as_str() {
        "autoDecline" => core::ApprovalPolicy::AutoDecline,
        "autoAccept" => core::ApprovalPolicy::AutoAccept,
        "commandsOnly" => core::ApprovalPolicy::CommandsOnly,
        "custom" => {
            let key = descriptor
                .key
                .ok_or_else(|| bad("custom policy without key"))?;
            let methods: HashSet<String> = descriptor
                .methods
                .ok_or_else(|| bad("custom policy without methods"))?
                .into_iter()
                .collect();
            let bridge = bridge
                .ok_or_else(|| bad("custom policy needs the JavaScript bridge"))?
                .clone();
            core::ApprovalPolicy::Custom {
                methods,
                handler: Arc::new(JsHandler { key, bridge }),
            }
        }
        other => return Err(bad(&format!("unknown policy kind `{other}`"))),
    })
}
