//! User input for `turn/start` and `turn/steer`: a string, one item, or a list of items.

use serde_json::{json, Value};

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub enum Input {
    Text(String),
    /// `UserInput` items (`text`, `image`, `localImage`, `skill`, `mention`, or a type this
    /// client does not know yet, which passes through untouched).
    Items(Vec<Value>),
}

impl From<&str> for Input {
    fn from(s: &str) -> Self {
        Input::Text(s.to_owned())
    }
}

impl From<String> for Input {
    fn from(s: String) -> Self {
        Input::Text(s)
    }
}

impl Input {
    /// Accepts what JavaScript may pass: a string, an item object, or an array of items.
    pub fn from_json(value: Value) -> Result<Input> {
        match value {
            Value::String(s) => Ok(Input::Text(s)),
            Value::Array(items) => Ok(Input::Items(items)),
            item @ Value::Object(_) => Ok(Input::Items(vec![item])),
            other => Err(Error::invalid_argument(
                "input",
                format!(
                    "expected a string, a UserInput object or an array of them, got {}",
                    kind(&other)
                ),
            )),
        }
    }

    /// The wire form, checked: every item is an object with a string `type`, known types carry
    /// their required field, and a local image exists (checked here, before anything is sent).
    pub fn into_items(self) -> Result<Vec<Value>> {
        let items = match self {
            Input::Text(text) => return Ok(vec![json!({ "type": "text", "text": text })]),
            Input::Items(items) => items,
        };
        if items.is_empty() {
            return Err(Error::invalid_argument("input", "is empty"));
        }
        for (i, item) in items.iter().enumerate() {
            let at = || format!("input[{i}]");
            let Some(obj) = item.as_object() else {
                return Err(Error::invalid_argument(
                    at(),
                    format!("expected an object, got {}", kind(item)),
                ));
            };
            let Some(ty) = obj.get("type").and_then(Value::as_str) else {
                return Err(Error::invalid_argument(at(), "has no string `type`"));
            };
            let required: &[&str] = match ty {
                "text" => &["text"],
                "localImage" | "localAudio" => &["path"],
                "skill" | "mention" => &["name", "path"],
                _ => &[],
            };
            let remote = matches!(ty, "image" | "audio");
            if remote
                && !["url", "fileId"]
                    .iter()
                    .any(|f| obj.get(*f).is_some_and(Value::is_string))
            {
                return Err(Error::invalid_argument(
                    at(),
                    format!("an `{ty}` item needs a string `url` or `fileId`"),
                ));
            }
            for field in required {
                if !obj.get(*field).is_some_and(Value::is_string) {
                    return Err(Error::invalid_argument(
                        at(),
                        format!("a `{ty}` item needs a string `{field}`"),
                    ));
                }
            }
            if matches!(ty, "localImage" | "localAudio") {
                let path = obj.get("path").and_then(Value::as_str).unwrap_or_default();
                if !std::path::Path::new(path).is_file() {
                    return Err(Error::invalid_argument(
                        at(),
                        format!("local file `{path}` does not exist"),
                    ));
                }
            }
        }
        Ok(items)
    }
}

/// A JSON value's kind, as error messages name it ("a string", "an array").
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_becomes_one_text_item() {
        assert_eq!(
            Input::from("hi").into_items().unwrap(),
            vec![json!({"type": "text", "text": "hi"})]
        );
    }

    #[test]
    fn bad_items_name_the_problem() {
        let err = Input::from_json(
            json!([{"type": "text", "text": "a"}, {"type": "localImage", "path": "/nope.png"}]),
        )
        .unwrap()
        .into_items()
        .unwrap_err();
        assert_eq!(err.code(), "INVALID_ARGUMENT");
        assert!(
            err.to_string().contains("input[1]") && err.to_string().contains("/nope.png"),
            "{err}"
        );
        assert!(Input::from_json(json!(5)).is_err());
        assert!(Input::from_json(json!([])).unwrap().into_items().is_err());
        assert!(Input::from_json(json!({"type": "image"}))
            .unwrap()
            .into_items()
            .is_err());
    }

    #[test]
    fn unknown_item_types_pass_through() {
        let item = json!({"type": "futureThing", "x": 1});
        assert_eq!(
            Input::from_json(item.clone())
                .unwrap()
                .into_items()
                .unwrap(),
            vec![item]
        );
    }
}
