//! Core errors to JavaScript errors, made natively.
//!
//! Every failure that reaches JavaScript is a real `Error` (a `TypeError` for bad arguments)
//! with its stable `code` and, when they apply, `rpcCode`, `rpcMessage`, `data` and
//! `stderrTail` as own properties. Async methods build it on the JavaScript thread, in the
//! completion callback of their future ([`promise`]), and reject with that very object: a
//! `napi::Error` made from a JS value keeps a reference to it, and napi rejects (or throws)
//! with the value it refers to.

use app_server_client as core;
use napi::bindgen_prelude::{JsObjectValue, Object, PromiseRaw, ToNapiValue};
use napi::{sys, Env, JsValue, Status};

/// What can fail on the way to JavaScript: the core, or napi itself (a callback that could
/// not be made, a value that could not be converted).
#[derive(Debug)]
pub enum Failure {
    Core(core::Error),
    Napi(napi::Error),
}

impl From<core::Error> for Failure {
    fn from(e: core::Error) -> Self {
        Failure::Core(e)
    }
}

impl From<napi::Error> for Failure {
    fn from(e: napi::Error) -> Self {
        Failure::Napi(e)
    }
}

pub type Outcome<T> = std::result::Result<T, Failure>;

impl Failure {
    /// The `napi::Error` that throws (or rejects with) the error object built for this failure.
    pub fn into_napi(self, env: &Env) -> napi::Error {
        match self {
            Failure::Core(e) => match error_object(env, &e) {
                Ok(object) => napi::Error::from(object.to_unknown()),
                // Only while the environment shuts down; a plain error is all that is left.
                Err(_) => napi::Error::new(Status::GenericFailure, e.to_string()),
            },
            // An error made from a JS value (a callback threw) is handed back as it is.
            Failure::Napi(e) if e.status != Status::InvalidArg => e,
            // napi's own conversions failing means an argument of the wrong type.
            Failure::Napi(e) => {
                Failure::Core(core::Error::invalid_argument("argument", e.reason)).into_napi(env)
            }
        }
    }
}

/// `Error` (or `TypeError` for INVALID_ARGUMENT) with the error's message and details.
pub fn error_object<'env>(env: &'env Env, e: &core::Error) -> napi::Result<Object<'env>> {
    let message = e.to_string();
    let code = e.code();
    let mut raw = std::ptr::null_mut();
    // SAFETY: `env` is this thread's environment; the strings are made in it just above.
    unsafe {
        let code = <&str as ToNapiValue>::to_napi_value(env.raw(), code)?;
        let message = String::to_napi_value(env.raw(), message)?;
        let status = if matches!(e, core::Error::InvalidArgument { .. }) {
            sys::napi_create_type_error(env.raw(), code, message, &mut raw)
        } else {
            sys::napi_create_error(env.raw(), code, message, &mut raw)
        };
        napi::check_status!(status, "creating an error object")?;
    }
    let mut object = Object::from_raw(env.raw(), raw);
    if let Some(rpc) = e.rpc_error() {
        object.set_named_property("rpcCode", rpc.code)?;
        object.set_named_property("rpcMessage", rpc.message.as_str())?;
        let data = rpc
            .data
            .as_deref()
            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
            .unwrap_or(serde_json::Value::Null);
        object.set_named_property("data", data)?;
    }
    if let Some(tail) = e.stderr_tail() {
        object.set_named_property("stderrTail", tail)?;
    }
    Ok(object)
}

/// A core error handed to a JavaScript callback (a ThreadsafeFunction's value): it becomes
/// the error object on the JavaScript thread.
pub struct JsCoreError(pub core::Error);

impl ToNapiValue for JsCoreError {
    unsafe fn to_napi_value(env: sys::napi_env, value: Self) -> napi::Result<sys::napi_value> {
        let env = Env::from_raw(env);
        Ok(error_object(&env, &value.0)?.raw())
    }
}

pub trait IntoJs<T> {
    /// Into a `napi::Result` whose error throws the native error object.
    fn js(self, env: &Env) -> napi::Result<T>;
}

impl<T, E: Into<Failure>> IntoJs<T> for std::result::Result<T, E> {
    fn js(self, env: &Env) -> napi::Result<T> {
        self.map_err(|e| e.into().into_napi(env))
    }
}

/// Spawns `fut`; on the JavaScript thread, `done` makes its value, or its failure becomes the
/// rejection's error object.
pub fn promise<'env, T, V, F, D>(
    env: &'env Env,
    fut: F,
    done: D,
) -> napi::Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
    F: std::future::Future<Output = Outcome<T>> + Send + 'static,
    D: FnOnce(&'env Env, T) -> napi::Result<V> + 'static,
{
    env.spawn_future_with_callback(
        async move { Ok(fut.await) },
        move |env, outcome| match outcome {
            Ok(value) => done(env, value),
            Err(failure) => Err(failure.into_napi(env)),
        },
    )
}

/// [`promise`] for JSON text: resolves with it parsed by V8's `JSON.parse` on the JavaScript
/// thread (cheaper than building objects through napi, and it keeps the server's key order).
pub fn json_promise<'env, F>(
    env: &'env Env,
    fut: F,
) -> napi::Result<PromiseRaw<'env, napi::Unknown<'env>>>
where
    F: std::future::Future<Output = Outcome<String>> + Send + 'static,
{
    promise(env, fut, parse_json)
}

pub fn parse_json<'env>(env: &'env Env, text: String) -> napi::Result<napi::Unknown<'env>> {
    use napi::bindgen_prelude::Function;
    let json: Object = env.get_global()?.get_named_property("JSON")?;
    let parse: Function<String, napi::Unknown> = json.get_named_property("parse")?;
    parse.call(text)
}

/// Raw JSON from the server to a value napi can hand to JavaScript.
pub fn raw_to_value(raw: &serde_json::value::RawValue) -> Outcome<serde_json::Value> {
    serde_json::from_str(raw.get()).map_err(|e| core::Error::Protocol(e.to_string()).into())
}

/// `fut`'s raw JSON result as text, for [`json_promise`].
pub async fn raw_text(
    fut: impl std::future::Future<Output = Result<Box<serde_json::value::RawValue>, core::Error>>,
) -> Outcome<String> {
    Ok(fut.await?.get().to_owned())
}
