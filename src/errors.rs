//! Core errors to JavaScript errors.
//!
//! napi-rs lets an async error carry only a status and a message, so the structured part
//! (`code`, `rpcCode`, `data`, `stderrTail`) travels as JSON in the error's `cause`, tagged;
//! the JavaScript layer moves it onto the error object and drops the cause.

use app_server_client::Error;
use napi::Status;
use serde_json::{json, Value};

/// Prefix marking a cause that carries error details (see `main.js`).
pub const DETAIL_TAG: &str = "codex-native:detail:";

/// The structured part of an error, as JSON text.
pub fn detail_json(e: &Error) -> String {
    let mut detail = json!({ "code": e.code(), "message": e.to_string() });
    if let Some(rpc) = e.rpc_error() {
        detail["rpcCode"] = json!(rpc.code);
        detail["rpcMessage"] = json!(rpc.message);
        detail["data"] = rpc
            .data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or(Value::Null);
    }
    if let Some(tail) = e.stderr_tail() {
        detail["stderrTail"] = json!(tail);
    }
    detail.to_string()
}

pub fn to_napi(e: Error) -> napi::Error {
    let detail = detail_json(&e);
    let status = if matches!(e, Error::InvalidArgument { .. }) {
        Status::InvalidArg
    } else {
        Status::GenericFailure
    };
    let mut err = napi::Error::new(status, e.to_string());
    err.set_cause(napi::Error::new(
        Status::GenericFailure,
        format!("{DETAIL_TAG}{detail}"),
    ));
    err
}

pub trait IntoJs<T> {
    fn js(self) -> napi::Result<T>;
}

impl<T> IntoJs<T> for Result<T, Error> {
    fn js(self) -> napi::Result<T> {
        self.map_err(to_napi)
    }
}

/// Raw JSON from the server to a value napi can hand to JavaScript.
pub fn raw_to_value(raw: &serde_json::value::RawValue) -> napi::Result<Value> {
    serde_json::from_str(raw.get()).map_err(|e| to_napi(Error::Protocol(e.to_string())))
}

/// Spawns `fut` and resolves the promise with the JSON text it yields, parsed by V8's
/// `JSON.parse` on the JavaScript thread (cheaper than building objects through napi, and
/// it keeps the server's key order).
pub fn json_promise<'env, F>(
    env: &'env napi::Env,
    fut: F,
) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, napi::Unknown<'env>>>
where
    F: std::future::Future<Output = napi::Result<String>> + Send + 'static,
{
    env.spawn_future_with_callback(fut, parse_json)
}

fn parse_json<'env>(env: &'env napi::Env, text: String) -> napi::Result<napi::Unknown<'env>> {
    use napi::bindgen_prelude::{Function, JsObjectValue, Object};
    let json: Object = env.get_global()?.get_named_property("JSON")?;
    let parse: Function<String, napi::Unknown> = json.get_named_property("parse")?;
    parse.call(text)
}

/// `fut`'s raw JSON result as text, for [`json_promise`].
pub async fn raw_text(
    fut: impl std::future::Future<Output = Result<Box<serde_json::value::RawValue>, Error>>,
) -> napi::Result<String> {
    fut.await.map(|raw| raw.get().to_owned()).map_err(to_napi)
}
