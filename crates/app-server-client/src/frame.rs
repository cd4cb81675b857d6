//! Decoding of incoming JSON-RPC frames.
//!
//! The reader parses only the envelope (`id`, `method`, `error`) and the few routing and
//! bookkeeping keys of `params` in a single pass; the payload stays as the raw frame text,
//! which is what reaches subscribers (and JavaScript) unchanged.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::RpcError;

/// One incoming message, classified.
#[derive(Debug)]
pub enum Incoming {
    Response { id: ResponseId, outcome: Result<Box<RawValue>, RpcError> },
    ServerRequest(ServerRequest),
    Notification(Notification),
}

/// The id of a response. Ours are integers; anything else cannot match a pending request.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseId {
    Int(i64),
    Other(String),
}

/// A request from the server (approvals, tool calls, ...). Answered exactly once.
#[derive(Debug, Clone)]
pub struct ServerRequest {
    /// The request id as raw JSON (string or number), echoed back verbatim.
    pub id: Box<RawValue>,
    pub method: String,
    /// Raw JSON text of `params` (`null` when absent).
    pub params: Box<RawValue>,
    pub thread_id: Option<String>,
    pub turn_id: Option<String>,
}

/// A notification: the raw frame plus what routing and result-keeping need.
#[derive(Debug, Clone)]
pub struct Notification {
    /// The whole frame as received: `{"method":..., "params":...}`.
    pub raw: Arc<str>,
    /// Where the method name sits in `raw`, or the name itself when it was written with
    /// escapes (then it cannot be borrowed from `raw`).
    method: Method,
    pub thread_id: Option<String>,
    pub turn_id: Option<String>,
    pub detail: Detail,
}

/// Pieces of a notification's params that turn bookkeeping needs, pulled out in the same pass.
#[derive(Debug, Clone, Default)]
pub struct Detail {
    /// `item/agentMessage/delta`: the text delta and its item.
    pub delta: Option<String>,
    pub item_id: Option<String>,
    /// `item/completed`: the raw item.
    pub item: Option<Box<RawValue>>,
    /// `turn/completed`: status and raw error.
    pub turn_status: Option<String>,
    pub turn_error: Option<Box<RawValue>>,
    /// `thread/tokenUsage/updated`: raw usage.
    pub token_usage: Option<Box<RawValue>>,
    /// `serverRequest/resolved`: the id of the request, as JSON text.
    pub request_id: Option<String>,
}

#[derive(Debug, Clone)]
enum Method {
    InRaw(Range<usize>),
    Owned(Box<str>),
}

impl Notification {
    pub fn method(&self) -> &str {
        match &self.method {
            Method::InRaw(range) => &self.raw[range.clone()],
            Method::Owned(name) => name,
        }
    }

    /// Builds a notification frame locally (for events the client itself emits).
    pub fn synthetic(method: &str, params_json: &str) -> Option<Notification> {
        let method_json = serde_json::to_string(method).ok()?;
        match decode(&format!("{{\"method\":{method_json},\"params\":{params_json}}}")) {
            Ok(Incoming::Notification(n)) => Some(n),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireError<'a> {
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

/// The keys of `params` that matter to routing and bookkeeping. Unknown keys are skipped.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ParamKeys<'a> {
    #[serde(borrow, default)]
    thread_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    turn_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    turn: Option<&'a RawValue>,
    #[serde(borrow, default)]
    delta: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    item_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    item: Option<&'a RawValue>,
    #[serde(borrow, default)]
    token_usage: Option<&'a RawValue>,
    #[serde(borrow, default)]
    request_id: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct TurnKeys<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

/// Why a frame could not be decoded. The reader reports it and goes on with the next frame.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError(pub String);

/// Parses JSON text that must be an object. serde's derived structs also accept arrays (by
/// position), which would let `[7]` pass for a response to request 7.
pub(crate) fn object<'a, T: Deserialize<'a>>(text: &'a str) -> Option<T> {
    if !text.trim_start().starts_with('{') {
        return None;
    }
    serde_json::from_str(text).ok()
}

/// Decodes one frame (one line of stdio, or one websocket text message).
pub fn decode(frame: &str) -> Result<Incoming, DecodeError> {
    if !frame.trim_start().starts_with('{') {
        return Err(DecodeError("not a JSON-RPC object".into()));
    }
    let env: Envelope = serde_json::from_str(frame)
        .map_err(|e| DecodeError(format!("not a JSON-RPC object ({e})")))?;
    match (env.method, env.id) {
        (Some(method), Some(id)) => {
            let keys = param_keys(env.params);
            let params = match env.params {
                Some(p) => p.to_owned(),
                None => RawValue::from_string("null".into()).map_err(|e| DecodeError(e.to_string()))?,
            };
            Ok(Incoming::ServerRequest(ServerRequest {
                id: id.to_owned(),
                method: method.into_owned(),
                params,
                thread_id: keys.thread_id.map(Cow::into_owned),
                turn_id: keys.turn_id.map(Cow::into_owned),
            }))
        }
        (Some(method), None) => {
            let keys = param_keys(env.params);
            // The frame is kept as received. A method written with escapes (never seen from
            // codex) cannot be borrowed from it, so then the name is kept on its own.
            let method_at = match &method {
                // Borrowed from the frame: its position is where the slice points.
                Cow::Borrowed(name) => {
                    let start = (name.as_ptr() as usize).wrapping_sub(frame.as_ptr() as usize);
                    let range = start..start.saturating_add(name.len());
                    if frame.get(range.clone()) == Some(*name) {
                        Method::InRaw(range)
                    } else {
                        Method::Owned((*name).into())
                    }
                }
                Cow::Owned(name) => Method::Owned(name.as_str().into()),
            };
            let turn = keys.turn.and_then(|t| object::<TurnKeys>(t.get())).unwrap_or_default();
            Ok(Incoming::Notification(Notification {
                raw: Arc::from(frame),
                method: method_at,
                thread_id: keys.thread_id.map(Cow::into_owned),
                turn_id: keys.turn_id.or(turn.id).map(Cow::into_owned),
                detail: Detail {
                    delta: keys.delta.map(Cow::into_owned),
                    item_id: keys.item_id.map(Cow::into_owned),
                    item: keys.item.map(ToOwned::to_owned),
                    turn_status: turn.status.map(Cow::into_owned),
                    turn_error: turn.error.filter(|e| e.get() != "null").map(ToOwned::to_owned),
                    token_usage: keys.token_usage.map(ToOwned::to_owned),
                    request_id: keys.request_id.map(|r| r.get().to_owned()),
                },
            }))
        }
        (None, Some(id)) => {
            let id = match id.get().parse::<i64>() {
                Ok(n) => ResponseId::Int(n),
                Err(_) => ResponseId::Other(id.get().to_owned()),
            };
            let outcome = match env.error.filter(|e| e.get() != "null") {
                Some(raw) => Err(match object::<WireError>(raw.get()) {
                    Some(e) => RpcError { code: e.code, message: e.message, data: e.data.map(|d| d.get().to_owned()) },
                    // Still an answer: the request fails rather than waiting for ever.
                    None => RpcError {
                        code: MALFORMED_ERROR_CODE,
                        message: "the server answered with a malformed error object".into(),
                        data: Some(raw.get().to_owned()),
                    },
                }),
                None => Ok(env
                    .result
                    .map(ToOwned::to_owned)
                    .unwrap_or_else(|| RawValue::from_string("null".into()).expect("null is JSON"))),
            };
            Ok(Incoming::Response { id, outcome })
        }
        (None, None) => Err(DecodeError("message has neither `id` nor `method`".into())),
    }
}

/// Routing keys are best effort: params that are not an object (legal JSON-RPC, unused by
/// codex) simply route to session-wide listeners.
fn param_keys(params: Option<&RawValue>) -> ParamKeys<'_> {
    params.and_then(|p| object(p.get())).unwrap_or_default()
}

/// The JSON-RPC "internal error" code, used for an error answer we could not read.
pub const MALFORMED_ERROR_CODE: i64 = -32603;

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(frame: &str) -> Notification {
        match decode(frame) {
            Ok(Incoming::Notification(n)) => n,
            other => panic!("expected notification, got {other:?}"),
        }
    }

    #[test]
    fn notification_keeps_raw_frame_and_routing_keys() {
        let frame = r#"{"method":"item/agentMessage/delta","params":{"threadId":"t1","turnId":"u1","itemId":"i1","delta":"he\"llo","extra":[1,2]}}"#;
        let n = notification(frame);
        assert_eq!(n.method(), "item/agentMessage/delta");
        assert_eq!(&*n.raw, frame);
        assert_eq!(n.thread_id.as_deref(), Some("t1"));
        assert_eq!(n.turn_id.as_deref(), Some("u1"));
        assert_eq!(n.detail.delta.as_deref(), Some("he\"llo"));
        assert_eq!(n.detail.item_id.as_deref(), Some("i1"));
    }

    #[test]
    fn turn_id_nested_in_turn_object() {
        let n = notification(
            r#"{"params":{"threadId":"t","turn":{"id":"u","status":"failed","error":{"message":"boom"}}},"method":"turn/completed"}"#,
        );
        assert_eq!(n.method(), "turn/completed");
        assert_eq!(n.turn_id.as_deref(), Some("u"));
        assert_eq!(n.detail.turn_status.as_deref(), Some("failed"));
        assert_eq!(n.detail.turn_error.as_ref().map(|e| e.get()), Some(r#"{"message":"boom"}"#));
    }

    #[test]
    fn escaped_method_name_keeps_the_frame() {
        let frame = r#"{"method":"a\/b\"c","params":{"x":1}}"#;
        let n = notification(frame);
        assert_eq!(n.method(), "a/b\"c");
        assert_eq!(&*n.raw, frame);
    }

    #[test]
    fn method_value_not_confused_with_param_named_method() {
        let n = notification(r#"{"params":{"method":"x"},"method":"x"}"#);
        assert_eq!(n.method(), "x");
    }

    #[test]
    fn params_that_are_not_an_object_still_decode() {
        let n = notification(r#"{"method":"future/thing","params":[1,2,3]}"#);
        assert_eq!(n.method(), "future/thing");
        assert!(n.thread_id.is_none());
    }

    #[test]
    fn responses_and_errors() {
        match decode(r#"{"id":7,"result":{"ok":true}}"#).unwrap() {
            Incoming::Response { id, outcome } => {
                assert_eq!(id, ResponseId::Int(7));
                assert_eq!(outcome.unwrap().get(), r#"{"ok":true}"#);
            }
            other => panic!("{other:?}"),
        }
        match decode(r#"{"id":8,"error":{"code":-32001,"message":"busy","data":{"retry":true}}}"#).unwrap() {
            Incoming::Response { outcome: Err(e), .. } => {
                assert_eq!(e.code, -32001);
                assert_eq!(e.message, "busy");
                assert_eq!(e.data.as_deref(), Some(r#"{"retry":true}"#));
            }
            other => panic!("{other:?}"),
        }
        match decode(r#"{"id":"abc","result":null}"#).unwrap() {
            Incoming::Response { id, outcome } => {
                assert_eq!(id, ResponseId::Other("\"abc\"".into()));
                assert_eq!(outcome.unwrap().get(), "null");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_request_keeps_id_verbatim() {
        match decode(r#"{"id":"req-1","method":"item/commandExecution/requestApproval","params":{"threadId":"t","turnId":"u"}}"#).unwrap() {
            Incoming::ServerRequest(r) => {
                assert_eq!(r.id.get(), "\"req-1\"");
                assert_eq!(r.thread_id.as_deref(), Some("t"));
                assert_eq!(r.turn_id.as_deref(), Some("u"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for frame in ["", "{", "null", "[]", "{}", "\"x\"", r#"{"method":5}"#] {
            assert!(decode(frame).is_err(), "{frame}");
        }
    }
}
