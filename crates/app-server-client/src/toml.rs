//! Encodes JSON values as TOML for `codex -c key=value` overrides.

use serde_json::Value;

use crate::error::{Error, Result};

/// `key=value` with the value TOML-encoded; `key` is a dotted path, passed as given.
pub fn config_override(key: &str, value: &Value) -> Result<String> {
    if key.is_empty() {
        return Err(Error::invalid_argument("config", "has an empty key"));
    }
    let mut out = format!("{key}=");
    encode(value, &mut out)
        .map_err(|what| Error::invalid_argument(format!("config.{key}"), what))?;
    Ok(out)
}

/// The error for a number TOML gets no value from here: NaN and ±Infinity (TOML has `nan` and
/// `inf`, but a config that holds one is a mistake). serde_json cannot hold them, so a binding
/// meets them while converting a JavaScript value; it reports them through this function, so
/// the rule and its words are the same wherever it is found. `key_path` is as in
/// `model_providers.mock.x` or `xs[2]`.
pub fn non_finite_error(key_path: &str, f: f64) -> Error {
    Error::invalid_argument(format!("config.{key_path}"), non_finite(f))
}

fn non_finite(f: f64) -> String {
    let name = if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    };
    format!("{name} has no TOML form")
}

fn encode(value: &Value, out: &mut String) -> std::result::Result<(), String> {
    match value {
        Value::Null => return Err("null has no TOML form; leave the key out instead".into()),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| !n.is_i64() && !n.is_u64()) {
                if !f.is_finite() {
                    return Err(non_finite(f));
                }
                let s = f.to_string();
                out.push_str(&s);
                if !s.contains(['.', 'e', 'E']) {
                    out.push_str(".0");
                }
            } else {
                out.push_str(&n.to_string());
            }
        }
        Value::String(s) => quote(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                encode(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    out.push_str(k);
                } else {
                    quote(k, out);
                }
                out.push_str(" = ");
                encode(v, out).map_err(|e| format!("{k}: {e}"))?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_scalars_arrays_and_inline_tables() {
        assert_eq!(
            config_override("model", &json!("o3")).unwrap(),
            r#"model="o3""#
        );
        assert_eq!(config_override("a.b", &json!(true)).unwrap(), "a.b=true");
        assert_eq!(config_override("n", &json!(3)).unwrap(), "n=3");
        assert_eq!(config_override("f", &json!(1.5)).unwrap(), "f=1.5");
        assert_eq!(
            config_override("xs", &json!(["a", 1])).unwrap(),
            r#"xs=["a", 1]"#
        );
        assert_eq!(
            config_override("p", &json!({"name": "mock", "base url": "h\"t\n"})).unwrap(),
            r#"p={"base url" = "h\"t\n", name = "mock"}"#
        );
    }

    #[test]
    fn non_finite_numbers_are_rejected_with_their_key_path() {
        let err = non_finite_error("model_providers.mock.x", f64::NAN);
        assert_eq!(err.code(), "INVALID_ARGUMENT");
        assert_eq!(
            err.to_string(),
            "invalid argument `config.model_providers.mock.x`: NaN has no TOML form"
        );
        assert!(non_finite_error("xs[1]", f64::NEG_INFINITY)
            .to_string()
            .contains("`config.xs[1]`: -Infinity has"));
    }

    #[test]
    fn null_is_rejected_with_its_key() {
        let err = config_override("p", &json!({"x": null})).unwrap_err();
        assert!(
            err.to_string().contains("config.p") && err.to_string().contains("x:"),
            "{err}"
        );
    }
}
