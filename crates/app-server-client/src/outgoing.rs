//! The frames we send, encoded with serde: requests, notifications, responses and errors.
//!
//! The wire form is what codex's app-server reads (and what it sends itself): no `"jsonrpc"`
//! member, members in the order `id`, `method`, `params` / `id`, `result` / `id`, `error`,
//! `params` left out of a notification without any, `data` out of an error without any.
//! JSON that is passed through (params given as text, a handler's result, the server's
//! request id) goes in as [`RawValue`], written as it is, never parsed into a tree again.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::error::{Error, Result, RpcError};

#[derive(Serialize)]
struct Request<'a, P: ?Sized> {
    id: i64,
    method: &'a str,
    params: &'a P,
}

#[derive(Serialize)]
struct Notification<'a> {
    method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a RawValue>,
}

#[derive(Serialize)]
struct Response<'a> {
    id: &'a RawValue,
    result: &'a RawValue,
}

#[derive(Serialize)]
struct ErrorResponse<'a> {
    id: &'a RawValue,
    error: ErrorObject<'a>,
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    code: i64,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<ErrorData<'a>>,
}

/// An error's `data`: its JSON text as it is, or, when that text is not JSON (`RpcError::data`
/// is a plain string anyone can fill), the text as a JSON string, so the frame stays valid and
/// the server still gets the answer.
#[derive(Serialize)]
#[serde(untagged)]
enum ErrorData<'a> {
    Json(&'a RawValue),
    Text(&'a str),
}

/// `{"id":..,"method":..,"params":..}`. `params` is anything serde can write: a value, a
/// typed struct, or a [`RawValue`] of JSON text passed through.
pub(crate) fn request<P: Serialize + ?Sized>(id: i64, method: &str, params: &P) -> Result<String> {
    serde_json::to_string(&Request { id, method, params })
        .map_err(|e| Error::invalid_argument("params", format!("cannot be sent as JSON: {e}")))
}

/// `{"method":..,"params":..}`, or `{"method":..}` without params.
pub(crate) fn notification(method: &str, params: Option<&RawValue>) -> Result<String> {
    encoded(&Notification { method, params })
}

/// `{"id":..,"result":..}`: the answer to a server request.
pub(crate) fn response(id: &RawValue, result: &RawValue) -> Result<String> {
    encoded(&Response { id, result })
}

/// `{"id":..,"error":{"code":..,"message":..,"data":..}}`: a server request refused.
pub(crate) fn error_response(id: &RawValue, error: &RpcError) -> Result<String> {
    let data = error.data.as_deref().map(|text| {
        serde_json::from_str::<&RawValue>(text).map_or(ErrorData::Text(text), ErrorData::Json)
    });
    encoded(&ErrorResponse {
        id,
        error: ErrorObject {
            code: error.code,
            message: &error.message,
            data,
        },
    })
}

/// JSON text that callers hand over as `&str` (params of `request_raw`, `notify`), checked
/// once, without building a tree, so that a mistake is an `INVALID_ARGUMENT` naming it here
/// rather than a frame the server cannot read.
pub(crate) fn json_text<'a>(name: &str, text: &'a str) -> Result<&'a RawValue> {
    serde_json::from_str(text)
        .map_err(|e| Error::invalid_argument(name, format!("is not valid JSON: {e}")))
}

/// Encodes a frame made only of strings, numbers and raw JSON: serde_json cannot fail on
/// those, but if it ever did, the caller gets an error rather than a panic.
fn encoded(frame: &impl Serialize) -> Result<String> {
    serde_json::to_string(frame).map_err(|e| Error::Protocol(format!("cannot encode a frame: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    fn parsed(frame: &str) -> Value {
        serde_json::from_str(frame).unwrap()
    }

    /// Text no naive `format!("\"{method}\"")` gets right: a quote, a backslash, a newline, a
    /// control character, a non-ASCII letter and an emoji.
    const AWKWARD: &str = "a\"b\\c\nd\u{1}é🦀";

    #[test]
    fn wire_form_is_the_one_codex_reads() {
        let params = raw(r#"{"threadId":"t","n":[1,2.5,null]}"#);
        assert_eq!(
            request(7, "thread/read", &*params).unwrap(),
            r#"{"id":7,"method":"thread/read","params":{"threadId":"t","n":[1,2.5,null]}}"#
        );
        assert_eq!(
            request(8, "x", &json!({"a": 1})).unwrap(),
            r#"{"id":8,"method":"x","params":{"a":1}}"#
        );
        assert_eq!(
            notification("initialized", None).unwrap(),
            r#"{"method":"initialized"}"#
        );
        assert_eq!(
            notification("n", Some(&raw("[1]"))).unwrap(),
            r#"{"method":"n","params":[1]}"#
        );
        assert_eq!(
            response(&raw(r#""req-1""#), &raw(r#"{"decision":"accept"}"#)).unwrap(),
            r#"{"id":"req-1","result":{"decision":"accept"}}"#
        );
        let error = RpcError {
            code: -32601,
            message: "no".into(),
            data: None,
        };
        assert_eq!(
            error_response(&raw("3"), &error).unwrap(),
            r#"{"id":3,"error":{"code":-32601,"message":"no"}}"#
        );
        let error = RpcError {
            data: Some(r#"{"why":["x"]}"#.into()),
            ..error
        };
        assert_eq!(
            error_response(&raw("3"), &error).unwrap(),
            r#"{"id":3,"error":{"code":-32601,"message":"no","data":{"why":["x"]}}}"#
        );
    }

    #[test]
    fn method_names_and_messages_are_escaped() {
        let frame = request(1, AWKWARD, &json!(null)).unwrap();
        assert_eq!(parsed(&frame)["method"], AWKWARD);
        // One frame is one line on stdio: a newline in a method must not split it.
        assert!(!frame.contains('\n'), "{frame}");

        let frame = notification(AWKWARD, None).unwrap();
        assert_eq!(parsed(&frame)["method"], AWKWARD);

        let decline = RpcError {
            code: -32601,
            message: format!("{AWKWARD}: declined by the client's policy"),
            data: None,
        };
        let frame = error_response(&raw("1"), &decline).unwrap();
        assert!(!frame.contains('\n'), "{frame}");
        assert_eq!(parsed(&frame)["error"]["message"], decline.message.as_str());
    }

    #[test]
    fn error_data_that_is_not_json_is_sent_as_a_string() {
        let error = RpcError {
            code: 1,
            message: "m".into(),
            data: Some("not json {".into()),
        };
        let frame = error_response(&raw("1"), &error).unwrap();
        assert_eq!(parsed(&frame)["error"]["data"], "not json {");
    }

    #[test]
    fn json_text_names_what_is_not_json() {
        assert_eq!(
            json_text("params", " {\"a\":\"\\u00e9\"} ").unwrap().get(),
            " {\"a\":\"\\u00e9\"} ".trim()
        );
        let err = json_text("params", "{\"a\":").unwrap_err();
        assert_eq!(err.code(), "INVALID_ARGUMENT");
        assert!(err.to_string().contains("params"), "{err}");
    }

    #[test]
    fn params_serde_cannot_write_are_an_invalid_argument() {
        let mut map = std::collections::HashMap::new();
        map.insert(vec![1u8], 1);
        let err = request(1, "x", &map).unwrap_err();
        assert_eq!(err.code(), "INVALID_ARGUMENT");
    }
}
