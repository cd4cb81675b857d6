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
        detail["data"] = rpc.data.as_deref().and_then(|d| serde_json::from_str(d).ok()).unwrap_or(Value::Null);
    }
    if let Some(tail) = e.stderr_tail() {
        detail["stderrTail"] = json!(tail);
    }
    detail.to_string()
}

pub fn to_napi(e: Error) -> napi::Error {
    let detail = detail_json(&e);
    let status = if matches!(e, Error::InvalidArgument { .. }) { Status::InvalidArg } else { Status::GenericFailure };
    let mut err = napi::Error::new(status, e.to_string());
    err.set_cause(napi::Error::new(Status::GenericFailure, format!("{DETAIL_TAG}{detail}")));
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
