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

/// JSON data (`undefined` and `null` are `None`). A value JSON cannot carry (a function, a
/// symbol, a bigint, NaN or ±Infinity) is an error naming where it is: `params.x`,
/// `params.list[2]`.
pub fn json(value: Option<Unknown>, name: &str) -> Checked<Option<Value>> {
    json_at(value, name, |path, what| {
        core::Error::invalid_argument(path, what.message())
    })
}

/// The session options as JSON: their paths are named bare (`env.A`, `args[1]`), as the core
/// names them, and a function where none belongs is most likely a misspelt callback.
pub fn session_options(value: Option<Unknown>) -> Checked<Option<Value>> {
    json_at(value, "", |path, what| {
        let message = if path.contains(['.', '[']) || what != NonJson::Code {
            what.message()
        } else {
            "is not an option that takes a function (the callbacks are onNotification, onError, onStderr, onMessage and onExit)"
        };
        core::Error::invalid_argument(path, message)
    })
}

/// What JSON cannot carry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NonJson {
    /// A function, symbol or bigint.
    Code,
    /// NaN or ±Infinity (JSON.stringify would quietly send `null`).
    NonFinite,
}

impl NonJson {
    fn message(self) -> &'static str {
        match self {
            NonJson::Code => "must be JSON data, not a function, symbol or bigint",
            NonJson::NonFinite => "must be a finite number (JSON has no NaN or Infinity)",
        }
    }
}

fn json_at(
    value: Option<Unknown>,
    name: &str,
    bad: impl Fn(String, NonJson) -> core::Error,
) -> Checked<Option<Value>> {
    let Some(value) = value else { return Ok(None) };
    if matches!(kind(&value), ValueType::Undefined | ValueType::Null) {
        return Ok(None);
    }
    // SAFETY: a live value of the current call's environment.
    match unsafe { Value::from_napi_value(value.value().env, value.raw()) } {
        Ok(json) => Ok(Some(json)),
        // Only now, on the rare failure, look for where it is.
        Err(e) => Err(match find_non_json(&value, name.to_owned()) {
            Some((path, what)) if !path.is_empty() => bad(path, what),
            _ => core::Error::invalid_argument(
                if name.is_empty() { "options" } else { name },
                format!("must be JSON data ({})", e.reason),
            ),
        }),
    }
}

/// The path of the first value in `value` that JSON cannot carry, and what it is.
fn find_non_json(value: &Unknown, path: String) -> Option<(String, NonJson)> {
    use napi::bindgen_prelude::{JsObjectValue, Object};
    match kind(value) {
        ValueType::Function | ValueType::Symbol | ValueType::BigInt => {
            return Some((path, NonJson::Code))
        }
        ValueType::Number => {
            // SAFETY: a live number of the current call's environment.
            let n = unsafe { f64::from_napi_value(value.value().env, value.raw()) }.ok()?;
            return (!n.is_finite()).then_some((path, NonJson::NonFinite));
        }
        ValueType::Object => {}
        _ => return None,
    }
    let env = value.value().env;
    let object = Object::from_raw(env, value.raw());
    let mut is_array = false;
    // SAFETY: a live object of the current call's environment.
    unsafe { napi::sys::napi_is_array(env, value.raw(), &mut is_array) };
    if is_array {
        let len = object.get_array_length().ok()?;
        return (0..len).find_map(|i| {
            let item: Unknown = object.get_element(i).ok()?;
            find_non_json(&item, format!("{path}[{i}]"))
        });
    }
    let keys = object.get_property_names().ok()?;
    let len = keys.get_array_length().ok()?;
    (0..len).find_map(|i| {
        let key: String = keys.get_element(i).ok()?;
        let item: Unknown = object.get_named_property(&key).ok()?;
        let at = if path.is_empty() {
            key
        } else {
            format!("{path}.{key}")
        };
        find_non_json(&item, at)
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

/// An optional timeout in milliseconds.
pub fn millis(ms: Option<f64>, name: &str) -> Checked<Option<std::time::Duration>> {
    ms.map(|ms| core::millis(name, &Value::from(ms)))
        .transpose()
}
