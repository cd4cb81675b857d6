//! Text handed to JavaScript, made into a string the cheap way when it can be.

use napi::bindgen_prelude::ToNapiValue;
use napi::{check_status, sys, Result};

/// A string for JavaScript. Batches of events and text are nearly always ASCII (JSON escapes
/// aside, so is the server's text), which Latin-1 represents byte for byte: an ASCII string is
/// made by a plain copy, where napi's UTF-8 path first decodes it, on the JavaScript thread.
pub struct JsText(pub String);

impl ToNapiValue for JsText {
    unsafe fn to_napi_value(env: sys::napi_env, text: Self) -> Result<sys::napi_value> {
        if !text.0.is_ascii() {
            return String::to_napi_value(env, text.0);
        }
        let mut value = std::ptr::null_mut();
        check_status!(
            sys::napi_create_string_latin1(
                env,
                text.0.as_ptr().cast(),
                text.0.len() as isize,
                &mut value
            ),
            "creating a string of {} bytes",
            text.0.len()
        )?;
        Ok(value)
    }
}
