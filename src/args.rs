//! Arguments from JavaScript, checked here rather than by napi's own conversion: a value of the
//! wrong type becomes an INVALID_ARGUMENT TypeError naming the argument (napi's message names
//! only the Rust type), and async methods reject with it instead of throwing.

use app_server_client as core;
use napi::bindgen_prelude::{FromNapiValue, Unknown};
use napi::{JsValue, ValueType};
use serde_json::{Map, Value};

type Checked<T> = std::result::Result<T, core::Error>;

fn kind(value: &Unknown) -> ValueType {
    value.get_type().unwrap_or(ValueType::Unknown)
}

/// JSON data (`undefined` and `null` are `None`).
pub fn json(value: Option<Unknown>, name: &str) -> Checked<Option<Value>> {
    let Some(value) = value else { return Ok(None) };
    if matches!(kind(&value), ValueType::Undefined | ValueType::Null) {
        return Ok(None);
    }
    // SAFETY: a live value of the current call's environment.
    unsafe { Value::from_napi_value(value.value().env, value.raw()) }
        .map(Some)
        .map_err(|e| {
            core::Error::invalid_argument(name, format!("must be JSON data ({})", e.reason))
        })
}

pub fn string(value: Unknown, name: &str) -> Checked<String> {
    if kind(&value) != ValueType::String {
        return Err(core::Error::invalid_argument(name, "must be a string"));
    }
    // SAFETY: as in `json`; the value is a string.
    unsafe { String::from_napi_value(value.value().env, value.raw()) }
        .map_err(|e| core::Error::invalid_argument(name, e.reason))
}

/// A whole number in `0..=u32::MAX`.
pub fn count(value: Unknown, name: &str) -> Checked<u32> {
    let bad = || core::Error::invalid_argument(name, "must be a whole number ≥ 0");
    if kind(&value) != ValueType::Number {
        return Err(bad());
    }
    // SAFETY: as in `json`; the value is a number.
    let n = unsafe { f64::from_napi_value(value.value().env, value.raw()) }.map_err(|_| bad())?;
    if n.fract() != 0.0 || !(0.0..=f64::from(u32::MAX)).contains(&n) {
        return Err(bad());
    }
    Ok(n as u32)
}

/// An optional object of protocol params (absent = `{}`).
pub fn params_object(name: &str, params: Option<Value>) -> Checked<Map<String, Value>> {
    match params {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(core::Error::invalid_argument(name, "must be an object")),
    }
}

/// `{ includeTurns?: boolean }`.
pub fn include_turns(options: Option<Value>) -> Checked<bool> {
    let options = params_object("options", options)?;
    match options.get("includeTurns") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(core::Error::invalid_argument(
            "options.includeTurns",
            "must be a boolean",
        )),
    }
}

/// An optional timeout in milliseconds.
pub fn millis(ms: Option<f64>, name: &str) -> Checked<Option<std::time::Duration>> {
    ms.map(|ms| core::millis(name, &Value::from(ms)))
        .transpose()
}
