//! Typed JavaScript callbacks, the way rolldown's binding types them: a ThreadsafeFunction
//! whose argument type is the Rust value handed over, converted on the JavaScript thread by its
//! `ToNapiValue`. napi makes them straight from the function (`FromNapiValue`), as arguments or
//! as fields of a `#[napi(object)]`, so nothing is read by name or built by hand.

use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::ThreadsafeFunction;
use napi::Status;

use crate::errors::JsCoreError;
use crate::text::JsText;

/// `(value) => void`, callable from any thread. Weak: it never keeps Node alive by itself.
/// Not callee-handled: JavaScript gets the value alone, and what it throws is reported, not
/// passed back.
pub type JsCallback<T> = ThreadsafeFunction<T, (), T, Status, false, true>;

/// `(batchJson: string) => void`, and other text (stderr lines, tagged frames, request keys).
pub type TextCallback = JsCallback<JsText>;

/// `(error: Error) => void`: a diagnostic.
pub type ErrorCallback = JsCallback<JsCoreError>;

/// `(error?: Error) => void`: called once when a pumped stream ends (no error = normally).
pub type EndCallback = JsCallback<Option<JsCoreError>>;

/// `(requestJson: string) => Promise<string>`: a server request for a JavaScript handler.
pub type RequestCallback = ThreadsafeFunction<String, Promise<String>, String, Status, false, true>;
