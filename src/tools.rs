//! Two of the core's rules, for code that starts codex itself (scripts, tests, the testing
//! kit): the codex-binary lookup (`findCodex`, public) and the TOML encoding of `-c key=value`
//! overrides (`configOverrideArgs`, used by `codex-native/testing`). One copy of each rule, in
//! the core (`discovery.rs`, `toml.rs`); this file only converts.

use std::path::PathBuf;

use app_server_client as core;
use napi::bindgen_prelude::{JsObjectValue, Object};
use napi::{Env, JsValue, Unknown, ValueType};
use napi_derive::napi;
use serde_json::{Map, Number, Value};

/// Where `findCodex` looks.
#[napi(object)]
#[derive(Default)]
pub struct FindCodexOptions {
    /// An explicit binary (as `codexPath`): checked, and the only place tried.
    pub codex_path: Option<String>,
    /// Directories to look upward from for `node_modules/@openai/codex` (default: the current
    /// directory).
    pub search_paths: Option<Vec<String>>,
    /// `true`: neither env `CODEX_PATH` nor `PATH` is consulted, only `codexPath` and
    /// `searchPaths` (a lookup inside one install, e.g. another codex version's).
    pub ignore_env: Option<bool>,
}

/// The absolute path of the codex binary a session would start: `codexPath`, else env
/// `CODEX_PATH`, else the native binary of an installed `@openai/codex` platform package found
/// upward from `searchPaths`, else `codex` on PATH. Throws `SPAWN_FAILED` listing every place
/// tried, as `Session.create` does.
#[napi]
pub fn find_codex(env: Env, options: Option<FindCodexOptions>) -> napi::Result<String> {
    let options = options.unwrap_or_default();
    let search_roots = match options.search_paths {
        Some(paths) => paths.into_iter().map(PathBuf::from).collect(),
        None => std::env::current_dir().into_iter().collect(),
    };
    let discovery = core::Discovery {
        explicit: options.codex_path.map(PathBuf::from),
        search_roots,
    };
    let mut host = core::HostEnv::current();
    if options.ignore_env == Some(true) {
        host.codex_path = None;
        host.path = None;
    }
    let found = discovery.resolve_on(&host).map_err(|e| throw(&env, e))?;
    let found = std::path::absolute(&found).unwrap_or(found);
    found.into_os_string().into_string().map_err(|p| {
        let message = format!(
            "the codex binary's path is not UTF-8: {}",
            p.to_string_lossy()
        );
        throw(&env, core::Error::invalid_argument("findCodex", message))
    })
}

/// `['-c', 'key=<TOML>', ...]` for each top-level key of `config` whose value is not
/// `undefined`, encoded by the core's rules (the ones `Session.create({ config })` applies).
/// NaN and ±Infinity, `null`, functions and symbols are an `INVALID_ARGUMENT` TypeError naming
/// the key path.
#[napi(js_name = "configOverrideArgs")]
pub fn config_override_args(
    env: Env,
    #[napi(ts_arg_type = "Record<string, unknown>")] config: Unknown,
) -> napi::Result<Vec<String>> {
    let mut args = Vec::new();
    let result = (|| {
        let Value::Object(map) = json_from_js(config, "", 0)? else {
            return Err(core::Error::invalid_argument("config", "must be an object"));
        };
        for (key, value) in &map {
            args.push("-c".to_owned());
            args.push(core::config_override(key, value)?);
        }
        Ok(())
    })();
    result.map_err(|e| throw(&env, e))?;
    Ok(args)
}

/// Deeper than this is a cycle, or nothing a config needs.
const MAX_DEPTH: usize = 64;

/// A JavaScript value as JSON, as `JSON.stringify` would see it (an `undefined` member is left
/// out), except that what JSON would silently turn into `null` (NaN, ±Infinity) or drop (a
/// function) is an error naming its path: `path` is `model_providers.mock.x` or `xs[2]`.
fn json_from_js(value: Unknown, path: &str, depth: usize) -> Result<Value, core::Error> {
    let fail = |what: String| core::Error::invalid_argument(config_path(path), what);
    let js = |e: napi::Error| fail(e.reason.clone());
    match value.get_type().map_err(js)? {
        ValueType::Null | ValueType::Undefined => Ok(Value::Null),
        ValueType::Boolean => Ok(Value::Bool(unsafe { value.cast::<bool>() }.map_err(js)?)),
        ValueType::String => Ok(Value::String(
            unsafe { value.cast::<String>() }.map_err(js)?,
        )),
        ValueType::Number => {
            let f = unsafe { value.cast::<f64>() }.map_err(js)?;
            number(f).ok_or_else(|| core::non_finite_error(path, f))
        }
        ValueType::Object if depth >= MAX_DEPTH => Err(fail(format!(
            "is nested more than {MAX_DEPTH} levels deep (a cycle?)"
        ))),
        ValueType::Object if value.is_date().map_err(js)? => Err(fail(
            "is a Date, which has no TOML form here; pass a string".into(),
        )),
        ValueType::Object if value.is_array().map_err(js)? => {
            let array = unsafe { value.cast::<Object>() }.map_err(js)?;
            let len = array.get_array_length().map_err(js)?;
            let mut items = Vec::with_capacity(len as usize);
            for i in 0..len {
                let item: Unknown = array.get_element(i).map_err(js)?;
                items.push(json_from_js(item, &format!("{path}[{i}]"), depth + 1)?);
            }
            Ok(Value::Array(items))
        }
        ValueType::Object => {
            let object = unsafe { value.cast::<Object>() }.map_err(js)?;
            let mut map = Map::new();
            for key in Object::keys(&object).map_err(js)? {
                let member: Unknown = object.get_named_property(&key).map_err(js)?;
                if member.get_type().map_err(js)? == ValueType::Undefined {
                    continue;
                }
                let member_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                map.insert(key, json_from_js(member, &member_path, depth + 1)?);
            }
            Ok(Value::Object(map))
        }
        other => Err(fail(format!(
            "is a {}, which has no TOML form",
            other.to_string().to_lowercase()
        ))),
    }
}

/// An integer when the double holds one exactly (so `3` stays `3`, not `3.0`); None for NaN
/// and ±Infinity.
fn number(f: f64) -> Option<Value> {
    const SAFE: f64 = 9_007_199_254_740_991.0; // 2^53 - 1: every integer below is exact
    if f.fract() == 0.0 && f.abs() <= SAFE {
        return Some(Value::Number(Number::from(f as i64)));
    }
    Number::from_f64(f).map(Value::Number)
}

fn config_path(path: &str) -> String {
    if path.is_empty() {
        "config".to_owned()
    } else {
        format!("config.{path}")
    }
}

/// The JavaScript error for `e` (the binding's one way to make them: `errors.rs`).
fn throw(env: &Env, e: core::Error) -> napi::Error {
    crate::errors::Failure::Core(e).into_napi(env)
}
