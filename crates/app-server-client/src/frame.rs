//! Decoding of incoming JSON-RPC frames.
//!
//! The reader parses only the envelope (`id`, `method`, `error`) and the few routing and
//! bookkeeping keys of `params` in a single pass; the payload stays as the raw frame text,
//! which is what reaches subscribers (and JavaScript) unchanged.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::RpcError;

mod scan;

/// One incoming message, classified.
#[derive(Debug)]
pub enum Incoming {
    Response {
        id: ResponseId,
        outcome: Result<Box<RawValue>, RpcError>,
    },
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
///
/// The routing keys and the delta are positions in `raw` (strings written without escapes,
/// which is all codex writes), so decoding allocates nothing per key.
#[derive(Debug, Clone)]
pub struct Notification {
    /// The whole frame as received: `{"method":..., "params":...}`.
    pub raw: Box<str>,
    keys: Keys,
    /// Absent on most events (deltas): boxed, so a buffered event stays small.
    detail: Option<Box<Detail>>,
}

/// Rarer pieces of a notification's params that turn bookkeeping needs, owned.
#[derive(Debug, Clone, Default)]
pub struct Detail {
    /// `turn/completed`: status and raw error.
    pub turn_status: Option<String>,
    pub turn_error: Option<Box<RawValue>>,
    /// `thread/tokenUsage/updated`: raw usage.
    pub token_usage: Option<Box<RawValue>>,
    /// `serverRequest/resolved`: the id of the request, as JSON text.
    pub request_id: Option<String>,
}

/// A string of the frame: where it sits in `raw`, or the string itself when it was written
/// with escapes (then its decoded form is not a slice of `raw`).
#[derive(Debug, Clone)]
enum Span {
    InRaw {
        start: u32,
        end: u32,
    },
    /// Boxed twice so that a span is two words, not three: it is the rare case.
    #[allow(clippy::box_collection)]
    Owned(Box<String>),
}

impl Span {
    /// `text` came out of parsing `frame`: a borrowed slice is located by its address.
    fn of(frame: &str, text: &str, borrowed: bool) -> Span {
        if borrowed {
            let start = (text.as_ptr() as usize).wrapping_sub(frame.as_ptr() as usize);
            let end = start.saturating_add(text.len());
            let located = frame
                .get(start..end)
                .is_some_and(|s| std::ptr::eq(s.as_ptr(), text.as_ptr()));
            if let (true, Ok(start), Ok(end)) = (located, u32::try_from(start), u32::try_from(end))
            {
                return Span::InRaw { start, end };
            }
        }
        Span::Owned(Box::new(text.to_owned()))
    }

    fn of_cow(frame: &str, text: Cow<'_, str>) -> Span {
        match text {
            Cow::Borrowed(t) => Span::of(frame, t, true),
            Cow::Owned(t) => Span::Owned(Box::new(t)),
        }
    }

    fn get<'a>(&'a self, raw: &'a str) -> &'a str {
        match self {
            Span::InRaw { start, end } => &raw[*start as usize..*end as usize],
            Span::Owned(text) => text,
        }
    }
}

impl Notification {
    /// The rarer keys (turn status and error, token usage, resolved request id).
    pub fn detail(&self) -> &Detail {
        static NONE: Detail = Detail {
            turn_status: None,
            turn_error: None,
            token_usage: None,
            request_id: None,
        };
        self.detail.as_deref().unwrap_or(&NONE)
    }

    pub fn method(&self) -> &str {
        self.keys.method.get(&self.raw)
    }

    pub fn thread_id(&self) -> Option<&str> {
        self.keys.thread_id.as_ref().map(|s| s.get(&self.raw))
    }

    /// `params.turnId`, or `params.turn.id`.
    pub fn turn_id(&self) -> Option<&str> {
        self.keys.turn_id.as_ref().map(|s| s.get(&self.raw))
    }

    /// `params.delta` (the text of `item/agentMessage/delta`).
    pub fn delta(&self) -> Option<&str> {
        self.keys.delta.as_ref().map(|s| s.get(&self.raw))
    }

    pub fn item_id(&self) -> Option<&str> {
        self.keys.item_id.as_ref().map(|s| s.get(&self.raw))
    }

    /// `params.item` as JSON text (`item/completed`, `item/started`).
    pub fn item_json(&self) -> Option<&str> {
        self.keys.item.as_ref().map(|s| s.get(&self.raw))
    }

    /// Builds a notification frame locally (for events the client itself emits).
    pub fn synthetic(method: &str, params_json: &str) -> Option<Notification> {
        let method_json = serde_json::to_string(method).ok()?;
        match decode_owned(format!(
            "{{\"method\":{method_json},\"params\":{params_json}}}"
        )) {
            Ok(Incoming::Notification(n)) => Some(n),
            _ => None,
        }
    }
}

/// A string borrowed from the frame when written without escapes. (serde's own
/// `Option<Cow<str>>` always copies: the borrow only works on a bare `Cow` field.)
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(text)))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(Visit(std::marker::PhantomData))
    }
}

/// A frame's envelope. Read first with `P = LenientParams`: the whole frame in one pass, the
/// routing keys of `params` read on the way. What that pass refuses (a key of an unexpected
/// type, a duplicate key) and server requests (whose params are kept as text) are read again
/// with `P = &RawValue` and `param_keys`: the two-pass path, which decides as before.
#[derive(Deserialize)]
struct Envelope<'a, P> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<Text<'a>>,
    #[serde(default = "none")]
    params: Option<P>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

fn none<P>() -> Option<P> {
    None
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
    thread_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    turn_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    turn: Option<&'a RawValue>,
    #[serde(borrow, default)]
    delta: Option<Text<'a>>,
    #[serde(borrow, default)]
    item_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    item: Option<&'a RawValue>,
    #[serde(borrow, default)]
    token_usage: Option<&'a RawValue>,
    #[serde(borrow, default)]
    request_id: Option<&'a RawValue>,
}

/// `params` read as `ParamKeys` when it is an object, and skipped (no keys) when it is not:
/// the same answer `param_keys` gives on the two-pass path.
#[derive(Default)]
struct LenientParams<'a>(ParamKeys<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for LenientParams<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = LenientParams<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("params")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                map: M,
            ) -> Result<Self::Value, M::Error> {
                ParamKeys::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(LenientParams)
            }
            // Anything else has no keys. (serde forwards the other integer and string kinds to
            // these; JSON `null` never gets here: it is the `None` of `Option<P>`.)
            fn visit_seq<S: serde::de::SeqAccess<'de>>(
                self,
                mut seq: S,
            ) -> Result<Self::Value, S::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(LenientParams::default())
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(LenientParams::default())
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(LenientParams::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(LenientParams::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(LenientParams::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(LenientParams::default())
            }
        }
        deserializer.deserialize_any(Visit(std::marker::PhantomData))
    }
}

#[derive(Deserialize, Default)]
struct TurnKeys<'a> {
    #[serde(borrow, default)]
    id: Option<Text<'a>>,
    #[serde(borrow, default)]
    status: Option<Text<'a>>,
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
    Ok(match parse(frame, scan::notification)? {
        Parsed::Notification(parts) => Incoming::Notification(parts.with_raw(frame.into())),
        Parsed::Other(incoming) => incoming,
    })
}

/// Like `decode`, keeping `frame` itself as a notification's `raw` (no copy). An undecodable
/// frame is handed back with the error, for the report.
pub fn decode_owned(frame: String) -> Result<Incoming, (DecodeError, String)> {
    owned(parse(&frame, scan::notification), frame)
}

/// Decodes one reader's frames, in order. The same answers as [`decode_owned`], faster on a
/// flood of deltas: it remembers how far the last delta's scan got (`scan::Memo`).
#[derive(Debug, Default)]
pub struct Decoder {
    memo: scan::Memo,
}

impl Decoder {
    pub fn decode_owned(&mut self, frame: String) -> Result<Incoming, (DecodeError, String)> {
        owned(parse(&frame, |f| self.memo.notification(f)), frame)
    }
}

fn owned(
    parsed: Result<Parsed, DecodeError>,
    frame: String,
) -> Result<Incoming, (DecodeError, String)> {
    match parsed {
        Ok(Parsed::Notification(parts)) => Ok(Incoming::Notification(
            parts.with_raw(frame.into_boxed_str()),
        )),
        Ok(Parsed::Other(incoming)) => Ok(incoming),
        Err(e) => Err((e, frame)),
    }
}

enum Parsed {
    Notification(Parts),
    Other(Incoming),
}

/// Where a notification's keys sit in its frame.
#[derive(Debug, Clone)]
struct Keys {
    method: Span,
    thread_id: Option<Span>,
    turn_id: Option<Span>,
    delta: Option<Span>,
    item_id: Option<Span>,
    /// `item/completed`: the item's JSON text.
    item: Option<Span>,
}

/// A notification before its frame text is attached.
struct Parts {
    keys: Keys,
    detail: Option<Box<Detail>>,
}

impl Parts {
    fn with_raw(self, raw: Box<str>) -> Notification {
        Notification {
            raw,
            keys: self.keys,
            detail: self.detail,
        }
    }
}

/// `scan` is the fast path: a whole scan, or one that resumes from the last delta's.
fn parse(
    frame: &str,
    scan: impl FnOnce(&str) -> Option<scan::Found>,
) -> Result<Parsed, DecodeError> {
    if let Some(parts) = scan(frame).and_then(|found| scanned_parts(frame, found)) {
        return Ok(Parsed::Notification(parts));
    }
    parse_with_serde(frame)
}

/// The parts of a notification the fast scanner found. `None` (a string that does not decode)
/// leaves the frame to serde, which reports it.
fn scanned_parts(frame: &str, found: scan::Found) -> Option<Parts> {
    let text = |s: Option<scan::Str>| -> Option<Option<Span>> {
        let Some(s) = s.filter(scan::Str::is_value) else {
            return Some(None);
        };
        if s.escaped {
            let decoded: String = serde_json::from_str(&frame[s.start - 1..=s.end]).ok()?;
            return Some(Some(Span::Owned(Box::new(decoded))));
        }
        Some(Some(Span::of(frame, &frame[s.start..s.end], true)))
    };
    let raw = |r: Option<(usize, usize)>| r.map(|(a, b)| &frame[a..b]).filter(|r| *r != "null");
    let token_usage = match raw(found.token_usage) {
        Some(t) => Some(RawValue::from_string(t.to_owned()).ok()?),
        None => None,
    };
    Some(assemble(
        frame,
        text(found.method)??,
        ParamSpans {
            thread_id: text(found.thread_id)?,
            turn_id: text(found.turn_id)?,
            delta: text(found.delta)?,
            item_id: text(found.item_id)?,
            item: raw(found.item).map(|item| Span::of(frame, item, true)),
            turn: raw(found.turn),
            token_usage,
            request_id: raw(found.request_id).map(str::to_owned),
        },
    ))
}

/// The same frame's routing keys, in whichever form the path that read them has them.
struct ParamSpans<'a> {
    thread_id: Option<Span>,
    turn_id: Option<Span>,
    delta: Option<Span>,
    item_id: Option<Span>,
    item: Option<Span>,
    /// `turn`'s JSON text: its id, status and error are read from it.
    turn: Option<&'a str>,
    token_usage: Option<Box<RawValue>>,
    request_id: Option<String>,
}

fn parse_with_serde(frame: &str) -> Result<Parsed, DecodeError> {
    if !frame.trim_start().starts_with('{') {
        return Err(DecodeError("not a JSON-RPC object".into()));
    }
    if let Ok(env) = serde_json::from_str::<Envelope<LenientParams>>(frame) {
        // Server requests keep their params as text, which this pass did not keep.
        match (env.method, env.id) {
            (Some(method), None) => {
                let keys = env.params.map(|p| p.0).unwrap_or_default();
                return Ok(Parsed::Notification(notification_parts(
                    frame, method, keys,
                )));
            }
            (None, Some(id)) => {
                return Ok(Parsed::Other(response(Some(id), env.result, env.error)?))
            }
            _ => {}
        }
    }
    let env: Envelope<&RawValue> = serde_json::from_str(frame)
        .map_err(|e| DecodeError(format!("not a JSON-RPC object ({e})")))?;
    match (env.method, env.id) {
        (Some(method), Some(id)) => {
            let keys = param_keys(env.params);
            let params = match env.params {
                Some(p) => p.to_owned(),
                None => {
                    RawValue::from_string("null".into()).map_err(|e| DecodeError(e.to_string()))?
                }
            };
            Ok(Parsed::Other(Incoming::ServerRequest(ServerRequest {
                id: id.to_owned(),
                method: method.0.into_owned(),
                params,
                thread_id: keys.thread_id.map(|t| t.0.into_owned()),
                turn_id: keys.turn_id.map(|t| t.0.into_owned()),
            })))
        }
        (Some(method), None) => Ok(Parsed::Notification(notification_parts(
            frame,
            method,
            param_keys(env.params),
        ))),
        (None, Some(id)) => Ok(Parsed::Other(response(Some(id), env.result, env.error)?)),
        (None, None) => Err(DecodeError("message has neither `id` nor `method`".into())),
    }
}

fn notification_parts(frame: &str, method: Text<'_>, keys: ParamKeys<'_>) -> Parts {
    let span = |text: Text<'_>| Span::of_cow(frame, text.0);
    assemble(
        frame,
        span(method),
        ParamSpans {
            thread_id: keys.thread_id.map(span),
            turn_id: keys.turn_id.map(span),
            delta: keys.delta.map(span),
            item_id: keys.item_id.map(span),
            item: keys.item.map(|item| Span::of(frame, item.get(), true)),
            turn: keys.turn.map(RawValue::get),
            token_usage: keys.token_usage.map(ToOwned::to_owned),
            request_id: keys.request_id.map(|r| r.get().to_owned()),
        },
    )
}

fn assemble(frame: &str, method: Span, keys: ParamSpans<'_>) -> Parts {
    let turn = keys.turn.and_then(object::<TurnKeys>).unwrap_or_default();
    Parts {
        keys: Keys {
            method,
            thread_id: keys.thread_id,
            // A turn's own id, when the turn is the payload (turn/started, turn/completed).
            turn_id: keys
                .turn_id
                .or_else(|| turn.id.map(|id| Span::of_cow(frame, id.0))),
            delta: keys.delta,
            item_id: keys.item_id,
            item: keys.item,
        },
        detail: {
            let detail = Detail {
                turn_status: turn.status.map(|t| t.0.into_owned()),
                turn_error: turn
                    .error
                    .filter(|e| e.get() != "null")
                    .map(ToOwned::to_owned),
                token_usage: keys.token_usage,
                request_id: keys.request_id,
            };
            let empty = detail.turn_status.is_none()
                && detail.turn_error.is_none()
                && detail.token_usage.is_none()
                && detail.request_id.is_none();
            (!empty).then(|| Box::new(detail))
        },
    }
}

fn response(
    id: Option<&RawValue>,
    result: Option<&RawValue>,
    error: Option<&RawValue>,
) -> Result<Incoming, DecodeError> {
    let Some(id) = id else {
        return Err(DecodeError("message has neither `id` nor `method`".into()));
    };
    let id = match id.get().parse::<i64>() {
        Ok(n) => ResponseId::Int(n),
        Err(_) => ResponseId::Other(id.get().to_owned()),
    };
    let outcome = match error.filter(|e| e.get() != "null") {
        Some(raw) => Err(match object::<WireError>(raw.get()) {
            Some(e) => RpcError {
                code: e.code,
                message: e.message,
                data: e.data.map(|d| d.get().to_owned()),
            },
            // Still an answer: the request fails rather than waiting for ever.
            None => RpcError {
                code: MALFORMED_ERROR_CODE,
                message: "the server answered with a malformed error object".into(),
                data: Some(raw.get().to_owned()),
            },
        }),
        None => Ok(result
            .map(ToOwned::to_owned)
            .unwrap_or_else(|| RawValue::from_string("null".into()).expect("null is JSON"))),
    };
    Ok(Incoming::Response { id, outcome })
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
        assert_eq!(n.thread_id(), Some("t1"));
        assert_eq!(n.turn_id(), Some("u1"));
        assert_eq!(n.delta(), Some("he\"llo"));
        assert_eq!(n.item_id(), Some("i1"));
    }

    #[test]
    fn turn_id_nested_in_turn_object() {
        let n = notification(
            r#"{"params":{"threadId":"t","turn":{"id":"u","status":"failed","error":{"message":"boom"}}},"method":"turn/completed"}"#,
        );
        assert_eq!(n.method(), "turn/completed");
        assert_eq!(n.turn_id(), Some("u"));
        assert_eq!(n.detail().turn_status.as_deref(), Some("failed"));
        assert_eq!(
            n.detail().turn_error.as_ref().map(|e| e.get()),
            Some(r#"{"message":"boom"}"#)
        );
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
        assert!(n.thread_id().is_none());
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
        match decode(r#"{"id":8,"error":{"code":-32001,"message":"busy","data":{"retry":true}}}"#)
            .unwrap()
        {
            Incoming::Response {
                outcome: Err(e), ..
            } => {
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
    fn keys_written_plainly_are_positions_in_the_frame() {
        let n = notification(
            r#"{"method":"item/agentMessage/delta","params":{"threadId":"t","turnId":"u","itemId":"i","delta":"plain"}}"#,
        );
        for span in [
            &n.keys.thread_id,
            &n.keys.turn_id,
            &n.keys.item_id,
            &n.keys.delta,
        ] {
            assert!(matches!(span, Some(Span::InRaw { .. })), "{span:?}");
        }
        let n = notification(
            r#"{"method":"item/agentMessage/delta","params":{"threadId":"t","delta":"line\nbreak"}}"#,
        );
        assert!(matches!(n.keys.delta, Some(Span::Owned(_))));
        assert_eq!(n.delta(), Some("line\nbreak"));
    }

    #[test]
    fn the_one_pass_path_answers_as_the_two_pass_path() {
        // Params the one-pass path refuses (a key of another type, a duplicate key) fall back to
        // the two-pass path: the notification still decodes, with no routing keys.
        for frame in [
            r#"{"method":"m","params":{"threadId":5,"turnId":"u"}}"#,
            r#"{"method":"m","params":{"threadId":"a","threadId":"b"}}"#,
        ] {
            let n = notification(frame);
            assert_eq!(
                (n.method(), n.thread_id(), n.turn_id()),
                ("m", None, None),
                "{frame}"
            );
        }
        for frame in [
            r#"{"method":"m","params":"text"}"#,
            r#"{"method":"m","params":null}"#,
            r#"{"method":"m","params":[{"threadId":"t"}]}"#,
        ] {
            assert_eq!(notification(frame).thread_id(), None, "{frame}");
        }
        let n = notification(
            r#"{"method":"item/completed","params":{"item":{"type":"agentMessage","text":"hi"},"threadId":"t"}}"#,
        );
        assert_eq!(
            n.item_json(),
            Some(r#"{"type":"agentMessage","text":"hi"}"#)
        );
        assert_eq!(n.thread_id(), Some("t"));
    }

    #[test]
    fn a_buffered_event_stays_small() {
        // Every buffered event carries one of these: the bookkeeping stays a few words.
        assert_eq!(std::mem::size_of::<Span>(), 16);
        assert!(
            std::mem::size_of::<Notification>() <= 128,
            "{}",
            std::mem::size_of::<Notification>()
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for frame in ["", "{", "null", "[]", "{}", "\"x\"", r#"{"method":5}"#] {
            assert!(decode(frame).is_err(), "{frame}");
        }
    }

    /// What a notification decodes to, compared key by key.
    fn summary(n: &Notification) -> String {
        let d = n.detail();
        format!(
            "{:?}",
            (
                n.method(),
                n.thread_id(),
                n.turn_id(),
                n.delta(),
                n.item_id(),
                n.item_json(),
                (
                    &d.turn_status,
                    d.turn_error.as_ref().map(|e| e.get()),
                    d.token_usage.as_ref().map(|t| t.get()),
                    &d.request_id,
                ),
            )
        )
    }

    /// The scanner's answer, when it gives one, must be serde's. True when it gave one.
    fn scanner_agrees(frame: &str) -> bool {
        let Some(fast) = scan::notification(frame).and_then(|f| scanned_parts(frame, f)) else {
            return false;
        };
        let fast = fast.with_raw(frame.into());
        match parse_with_serde(frame) {
            Ok(Parsed::Notification(slow)) => {
                assert_eq!(
                    summary(&fast),
                    summary(&slow.with_raw(frame.into())),
                    "{frame}"
                );
            }
            Ok(Parsed::Other(other)) => panic!("scanner took {frame:?}, serde says {other:?}"),
            Err(e) => panic!("scanner took {frame:?}, serde says {e:?}"),
        }
        true
    }

    const SCANNED: &[&str] = &[
        r#"{"method":"item/agentMessage/delta","params":{"threadId":"t1","turnId":"u1","itemId":"i1","delta":"hello"}}"#,
        r#"{"method":"item/agentMessage/delta","params":{"threadId":"t1","turnId":"u1","itemId":"i1","delta":"line\nnext \"q\" \\ \/ \b\f\r\t \u00e9 \ud83d\ude00 é 😀"}}"#,
        r#"{"method":"item/started","params":{"item":{"type":"agentMessage","id":"i","text":"","phase":null},"threadId":"t","turnId":"u"}}"#,
        r#"{"method":"item/completed","params":{"threadId":"t","turnId":"u","item":{"type":"commandExecution","exitCode":-1,"durationMs":0.5e-3,"lines":[1,2.25,-0,1E+9,true,false,null,[],{}]}}}"#,
        r#"{"method":"turn/started","params":{"threadId":"t","turn":{"id":"u","items":[],"status":"inProgress","error":null}}}"#,
        r#"{"method":"turn/completed","params":{"threadId":"t","turn":{"id":"u","status":"failed","error":{"message":"boom"}}}}"#,
        r#"{"method":"thread/tokenUsage/updated","params":{"threadId":"t","turnId":"u","tokenUsage":{"total":{"inputTokens":5}}}}"#,
        r#"{"method":"serverRequest/resolved","params":{"threadId":"t","requestId":7}}"#,
        r#"{"method":"serverRequest/resolved","params":{"threadId":"t","requestId":"r-7"}}"#,
        r#" { "params" : { "threadId" : "t" , "turnId" : null , "delta" : null } , "method" : "m" , "jsonrpc" : "2.0" } "#,
        r#"{"method":"m","params":{},"result":1,"error":{"code":1}}"#,
        r#"{"method":"m\u002fx","params":{"threadId":"t\u0031","extra":{"threadId":"nested, not routing"}}}"#,
        r#"{"method":"m"}"#,
    ];

    const DECLINED: &[&str] = &[
        r#"{"id":1,"result":{}}"#,
        r#"{"id":1,"method":"item/commandExecution/requestApproval","params":{"threadId":"t"}}"#,
        r#"{"method":"m","params":{"threadId":"a","threadId":"b"}}"#,
        r#"{"method":"m","params":{"threadId":null,"threadId":"b"}}"#,
        r#"{"method":"m","method":"n"}"#,
        r#"{"method":"m","result":1,"result":2}"#,
        r#"{"method":"m","error":{},"error":null}"#,
        r#"{"method":"m","params":{"thread\u0049d":"t"}}"#,
        r#"{"method":"m","params":{"threadId":5}}"#,
        r#"{"method":"m","params":null}"#,
        r#"{"method":"m","params":[1]}"#,
        r#"{"method":null}"#,
        r#"{"method":"m","params":{"delta":"\ud800"}}"#,
        r#"{"method":"m","params":{"delta":"\x"}}"#,
        r#"{"method":"m","params":{"delta":"\u12"}}"#,
        "{\"method\":\"m\",\"params\":{\"delta\":\"a\u{1}b\"}}",
        r#"{"method":"m","params":{"n":01}}"#,
        r#"{"method":"m","params":{"n":1.}}"#,
        r#"{"method":"m","params":{"n":-}}"#,
        r#"{"method":"m","params":{"n":+1}}"#,
        r#"{"method":"m","params":{"n":tru}}"#,
        r#"{"method":"m","params":{"a":1,}}"#,
        r#"{"method":"m","params":{}} x"#,
        r#"{"method":"m","params":{}"#,
        r#"["method","m"]"#,
        "",
    ];

    #[test]
    fn the_scanner_decodes_codex_frames_as_serde_does() {
        for frame in SCANNED {
            assert!(scanner_agrees(frame), "the scanner should take {frame}");
        }
        let deep = format!(
            r#"{{"method":"m","params":{{"item":{}1{}}}}}"#,
            "[".repeat(150),
            "]".repeat(150)
        );
        for frame in DECLINED.iter().copied().chain([deep.as_str()]) {
            assert!(
                !scanner_agrees(frame),
                "the scanner should leave {frame} to serde"
            );
        }
        // Declined frames still decode as before: serde decides.
        let n = notification(r#"{"method":"m","params":{"threadId":"a","threadId":"b"}}"#);
        assert_eq!((n.method(), n.thread_id()), ("m", None));
    }

    /// Deterministic mutations of a frame: 1 to 3 pieces of JSON syntax (and near misses)
    /// removed, replaced or inserted at random places, from a fixed seed.
    struct Mutator(u64);

    impl Mutator {
        fn new() -> Self {
            Mutator(0x9e37_79b9_7f4a_7c15)
        }

        fn next(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }

        /// Mutates `frame` at or after char `from`.
        fn mutate(&mut self, frame: &str, from: usize) -> String {
            let pieces = [
                "\"",
                "\\",
                "{",
                "}",
                "[",
                "]",
                ",",
                ":",
                " ",
                "\n",
                "\u{1}",
                "0",
                "-",
                ".",
                "e",
                "+",
                "null",
                "true",
                "\\u",
                "\\ud83d",
                "é",
                "threadId",
                "\"turnId\":",
                "\"id\":1,",
                ",\"result\":0",
                ",\"params\":{}",
                "x",
            ];
            let mut f: Vec<char> = frame.chars().collect();
            for _ in 0..1 + self.next(3) {
                let at = from.min(f.len()) + self.next(f.len().saturating_sub(from) + 1);
                let piece: Vec<char> = pieces[self.next(pieces.len())].chars().collect();
                match self.next(3) {
                    0 if at < f.len() => {
                        f.remove(at);
                    }
                    1 if at < f.len() => {
                        f.splice(at..at + 1, piece);
                    }
                    _ => {
                        f.splice(at..at, piece);
                    }
                }
            }
            f.into_iter().collect()
        }
    }

    #[test]
    fn a_scan_resumed_from_the_last_delta_agrees_with_a_whole_scan() {
        // Delta frames in several shapes (keys in other orders, whitespace, escapes, members
        // the scan skips), each followed by mutants of its tail: those resume from the delta's
        // value and must give the whole scan's answer, declines included; mutants anywhere
        // (and the memo replaced by whatever the last delta was) must too.
        let bases = [
            r#"{"method":"item/agentMessage/delta","params":{"threadId":"t1","turnId":"u1","itemId":"i1","delta":"hello"}}"#,
            r#" { "jsonrpc":"2.0", "method" : "item/reasoning/textDelta" , "params" : { "threadId":"t", "delta" : "x\ny", "itemId":"i" } } "#,
            r#"{"params":{"delta":"d","threadId":"t","turnId":"u"},"method":"m"}"#,
            r#"{"method":"a\/b","params":{"threadId":"t\"1","turn":{"id":"u"},"delta":null,"x":[1,{"delta":2}]}}"#,
            r#"{"result":1,"method":"m","params":{"turnId":"u","delta":"q"},"error":{}}"#,
        ];
        let mut mutator = Mutator::new();
        let mut memo = scan::Memo::default();
        let mut decoder = Decoder::default();
        let (mut resumed, mut resumed_taken, mut total) = (0, 0, 0);
        for base in bases {
            let key = base.find(r#""delta""#).expect("a delta key");
            let value = key + base[key..].find(':').expect("its colon") + 1;
            for round in 0..4000 {
                if round % 2 == 0 {
                    assert_eq!(memo.notification(base), scan::notification(base), "{base}");
                    assert!(memo.resumes(base), "the memo holds {base}");
                    decoder.decode_owned(base.to_owned()).expect("base decodes");
                }
                let from = if round % 5 == 4 { 0 } else { value };
                let f = mutator.mutate(base, base[..from].chars().count());
                total += 1;
                let resumes = memo.resumes(&f);
                let resumed_before = memo.resumed;
                let fast = memo.notification(&f);
                assert_eq!(fast, scan::notification(&f), "{f}");
                assert_eq!(
                    memo.resumed - resumed_before,
                    usize::from(resumes),
                    "resumed exactly when the prefix matched: {f}"
                );
                if resumes {
                    resumed += 1;
                    resumed_taken += usize::from(fast.is_some());
                }
                let whole = decode_owned(f.clone())
                    .map(|i| format!("{i:?}"))
                    .map_err(|e| e.0);
                let memoised = decoder
                    .decode_owned(f.clone())
                    .map(|i| format!("{i:?}"))
                    .map_err(|e| e.0);
                assert_eq!(memoised, whole, "{f}");
            }
        }
        // The resumed path was taken often, and both ways (taken and declined).
        assert!(resumed * 2 > total, "{resumed} of {total} resumed");
        assert!(
            resumed_taken * 10 > resumed && resumed_taken * 10 < resumed * 9,
            "{resumed_taken} of {resumed} resumed scans took the frame"
        );
    }

    #[test]
    fn the_scanner_agrees_with_serde_on_mutated_frames() {
        // Every mutated frame the scanner takes must decode exactly as serde decodes it.
        let mut mutator = Mutator::new();
        let (mut taken, mut total) = (0, 0);
        for frame in SCANNED.iter().chain(DECLINED) {
            for _ in 0..3000 {
                let f = mutator.mutate(frame, 0);
                total += 1;
                taken += usize::from(scanner_agrees(&f));
            }
        }
        // Enough of the mutants stay valid notifications for the comparison to mean something.
        assert!(
            taken * 20 > total,
            "only {taken} of {total} mutants were scanned"
        );
    }
}
