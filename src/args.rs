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
            "is not an option that takes a function (the callbacks are onNotification, onError, onStderr, onMessage and onExit)".into()
        };
        core::Error::invalid_argument(path, message)
    })
}

/// What JSON cannot carry.
#[derive(Clone, Copy, PartialEq)]
enum NonJson {
    /// A function, symbol or bigint.
    Code,
    /// NaN or ±Infinity (JSON.stringify would quietly send `null`).
    NonFinite(f64),
    /// An object inside itself (napi's own conversion would recurse until the stack
    /// overflows: a crash, not an error).
    Cycle,
    /// Deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl NonJson {
    fn message(self) -> String {
        match self {
            NonJson::Code => "must be JSON data, not a function, symbol or bigint".into(),
            NonJson::NonFinite(n) => {
                let n = if n.is_nan() {
                    "NaN"
                } else if n > 0.0 {
                    "Infinity"
                } else {
                    "-Infinity"
                };
                format!("must be a finite number, not {n} (JSON and TOML have no form for it)")
            }
            NonJson::Cycle => {
                "must be JSON data, not a cyclic structure (it contains itself)".into()
            }
            NonJson::TooDeep => "is nested more than 64 levels deep".into(),
        }
    }
}

/// Deeper than this is a cycle, or nothing the protocol needs.
const MAX_DEPTH: usize = 64;

fn json_at(
    value: Option<Unknown>,
    name: &str,
    bad: impl Fn(String, NonJson) -> core::Error,
) -> Checked<Option<Value>> {
    let Some(value) = value else { return Ok(None) };
    if matches!(kind(&value), ValueType::Undefined | ValueType::Null) {
        return Ok(None);
    }
    match to_json(&value, name.to_owned(), &mut Vec::new()) {
        Ok(json) => Ok(Some(json)),
        Err(Bad::At(path, what)) if !path.is_empty() => Err(bad(path, what)),
        Err(Bad::At(_, what)) => Err(core::Error::invalid_argument("options", what.message())),
        Err(Bad::Threw(path, said)) => Err(core::Error::invalid_argument(
            if path.is_empty() { "options" } else { &path },
            format!("its toJSON() threw: {said}"),
        )),
        Err(Bad::Napi(reason)) => Err(core::Error::invalid_argument(
            if name.is_empty() { "options" } else { name },
            format!("must be JSON data ({reason})"),
        )),
    }
}

enum Bad {
    At(String, NonJson),
    /// A `toJSON()` threw (its exception is taken, not left pending): what it said.
    Threw(String, String),
    Napi(String),
}

impl From<napi::Error> for Bad {
    fn from(e: napi::Error) -> Self {
        Bad::Napi(e.reason)
    }
}

/// `value` as JSON, as `JSON.stringify` sees it (an object's `undefined` members are left out,
/// `toJSON` is honoured: a Date becomes its ISO string), except that what JSON.stringify would
/// drop or turn into `null` (a function, NaN) is an error naming its path, and so is a cycle.
fn to_json<'env>(
    value: &Unknown<'env>,
    path: String,
    parents: &mut Vec<Unknown<'env>>,
) -> std::result::Result<Value, Bad> {
    use napi::bindgen_prelude::{Function, JsObjectValue, Object};
    let env = value.value().env;
    let depth = parents.len();
    // SAFETY (every `from_napi_value` below): a live value of the current call's environment,
    // of the type just checked.
    match kind(value) {
        ValueType::Undefined | ValueType::Null => Ok(Value::Null),
        ValueType::Boolean => Ok(Value::Bool(unsafe {
            bool::from_napi_value(env, value.raw())
        }?)),
        ValueType::String => Ok(Value::String(unsafe {
            String::from_napi_value(env, value.raw())
        }?)),
        ValueType::Number => {
            let n = unsafe { f64::from_napi_value(env, value.raw()) }?;
            number(n).ok_or(Bad::At(path, NonJson::NonFinite(n)))
        }
        ValueType::Object if depth >= MAX_DEPTH => Err(Bad::At(path, NonJson::TooDeep)),
        ValueType::Object => {
            let same = |other: &Unknown| {
                let mut equal = false;
                // SAFETY: two live values of the current call's environment.
                unsafe { napi::sys::napi_strict_equals(env, value.raw(), other.raw(), &mut equal) };
                equal
            };
            if parents.iter().any(same) {
                return Err(Bad::At(path, NonJson::Cycle));
            }
            let object = Object::from_raw(env, value.raw());
            let to_json_fn: Unknown = object.get_named_property("toJSON")?;
            if kind(&to_json_fn) == ValueType::Function {
                let f = unsafe { Function::<(), Unknown>::from_napi_value(env, to_json_fn.raw()) }?;
                let Ok(replaced) = f.apply(object, ()) else {
                    return Err(Bad::Threw(path, take_exception(env)));
                };
                parents.push(*value);
                let json = to_json(&replaced, path, parents);
                parents.pop();
                return json;
            }
            parents.push(*value);
            let json = members(&object, path, parents);
            parents.pop();
            json
        }
        _ => Err(Bad::At(path, NonJson::Code)),
    }
}

/// Takes the exception a JavaScript call left pending (so that the error made for it is the
/// one that reaches the caller), and says what it was.
fn take_exception(env: napi::sys::napi_env) -> String {
    use napi::bindgen_prelude::{JsObjectValue, Object};
    let mut exception = std::ptr::null_mut();
    // SAFETY: this call's environment; an exception is pending (the call just failed).
    unsafe { napi::sys::napi_get_and_clear_last_exception(env, &mut exception) };
    if exception.is_null() {
        return "an exception".into();
    }
    // SAFETY: the exception value just taken, live in this call's environment.
    let value = unsafe { Unknown::from_raw_unchecked(env, exception) };
    if kind(&value) == ValueType::Object {
        let object = Object::from_raw(env, exception);
        if let Ok(message) = object.get_named_property::<String>("message") {
            return message;
        }
    }
    // SAFETY: as above; a string, or anything else JavaScript can throw.
    unsafe { String::from_napi_value(env, exception) }
        .unwrap_or_else(|_| "a non-Error value".into())
}

/// An array's items or an object's members, as JSON.
fn members<'env>(
    object: &napi::bindgen_prelude::Object<'env>,
    path: String,
    parents: &mut Vec<Unknown<'env>>,
) -> std::result::Result<Value, Bad> {
    use napi::bindgen_prelude::{JsObjectValue, Object};
    let mut is_array = false;
    // SAFETY: a live object of the current call's environment.
    unsafe { napi::sys::napi_is_array(object.value().env, object.raw(), &mut is_array) };
    if is_array {
        let len = object.get_array_length()?;
        let mut items = Vec::with_capacity(len as usize);
        for i in 0..len {
            let item: Unknown = object.get_element(i)?;
            items.push(to_json(&item, format!("{path}[{i}]"), parents)?);
        }
        return Ok(Value::Array(items));
    }
    let mut map = Map::new();
    for key in Object::keys(object)? {
        let member: Unknown = object.get_named_property(&key)?;
        if kind(&member) == ValueType::Undefined {
            continue;
        }
        let at = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        map.insert(key, to_json(&member, at, parents)?);
    }
    Ok(Value::Object(map))
}

/// An integer when the double holds one exactly (so `3` stays `3`, not `3.0`); None for NaN
/// and ±Infinity.
fn number(f: f64) -> Option<Value> {
    const SAFE: f64 = 9_007_199_254_740_991.0; // 2^53 - 1: every integer below is exact
    if f.fract() == 0.0 && f.abs() <= SAFE {
        return Some(Value::Number(serde_json::Number::from(f as i64)));
    }
    serde_json::Number::from_f64(f).map(Value::Number)
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
