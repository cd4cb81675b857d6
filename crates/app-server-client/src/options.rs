//! `SessionOptions` from the JSON form applications write (camelCase, as in the TypeScript
//! API). Every mistake is an `INVALID_ARGUMENT` naming the option, caught before any spawn.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::connection::RetryPolicy;
use crate::error::{Error, Result};
use crate::session::{ClientInfo, RestartPolicy, SessionOptions, TransportKind};

/// Keys that the JavaScript layer handles itself (functions) and strips before calling us.
const HANDLED_ABOVE: &[&str] = &[
    "onNotification",
    "approvalPolicy",
    "onStderr",
    "onMessage",
    "onError",
    "onExit",
    "interceptors",
    "onRestart",
];

impl SessionOptions {
    pub fn from_json(value: &Value) -> Result<SessionOptions> {
        let mut options = SessionOptions::default();
        let obj = match value {
            Value::Null => return Ok(options),
            Value::Object(obj) => obj,
            _ => return Err(Error::invalid_argument("options", "must be an object")),
        };
        for (key, v) in obj {
            if v.is_null() {
                continue; // `undefined`/`null` mean "default".
            }
            match key.as_str() {
                "clientInfo" => options.client_info = client_info(v)?,
                "transport" => options.transport = transport(v)?,
                "codexPath" => {
                    options.spawn.discovery.explicit = Some(PathBuf::from(string(key, v)?))
                }
                "codexSearchPaths" => {
                    options.spawn.discovery.search_roots =
                        strings(key, v)?.into_iter().map(PathBuf::from).collect()
                }
                "args" => options.spawn.args = strings(key, v)?,
                "cwd" => {
                    let cwd = PathBuf::from(string(key, v)?);
                    if !cwd.is_dir() {
                        return Err(Error::invalid_argument(
                            "cwd",
                            format!("{} is not a directory", cwd.display()),
                        ));
                    }
                    options.spawn.cwd = Some(cwd);
                }
                "env" => {
                    let map = object(key, v)?;
                    for (name, value) in map {
                        let value = value.as_str().ok_or_else(|| {
                            Error::invalid_argument(format!("env.{name}"), "must be a string")
                        })?;
                        options.spawn.env.push((name.clone(), value.to_owned()));
                    }
                }
                "config" => {
                    let map = object(key, v)?;
                    // Encode now so a bad value is reported before anything starts.
                    for (k, value) in map {
                        crate::toml::config_override(k, value)?;
                    }
                    options.config = map.clone();
                }
                "experimentalApi" => options.experimental_api = boolean(key, v)?,
                "optOutNotificationMethods" => {
                    options.opt_out_notification_methods = strings(key, v)?
                }
                "requestTimeoutMs" => options.request_timeout = Some(millis(key, v)?),
                "shutdownGraceMs" => options.shutdown_grace = millis(key, v)?,
                "maxMessageBytes" => {
                    let n = v.as_u64().filter(|n| *n >= 1024).ok_or_else(|| {
                        Error::invalid_argument(
                            key,
                            "must be a whole number of bytes, at least 1024",
                        )
                    })?;
                    options.max_frame_bytes = usize::try_from(n).unwrap_or(usize::MAX);
                }
                "turnInactivityTimeoutMs" => {
                    options.turn_inactivity_timeout = Some(millis(key, v)?)
                }
                "handlerTimeoutMs" => options.handler_timeout = Some(millis(key, v)?),
                "startupTimeoutMs" => options.startup_timeout = millis(key, v)?,
                "overloadRetry" => options.overload_retry = retry_policy(v)?,
                "restart" => options.restart = restart_policy(v)?,
                "stderrTailLines" => {
                    let n = v.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
                        Error::invalid_argument(key, "must be a whole number of lines, at least 1")
                    })?;
                    options.spawn.stderr_tail_lines = usize::try_from(n).unwrap_or(usize::MAX);
                }
                k if HANDLED_ABOVE.contains(&k) => {}
                other => {
                    return Err(Error::invalid_argument(
                        other,
                        "is not a known session option",
                    ))
                }
            }
        }
        if matches!(options.transport, TransportKind::Command { .. }) {
            refuse_spawn_options_with_command(obj)?;
        }
        if options.restart.is_some() && !matches!(options.transport, TransportKind::Stdio) {
            return Err(Error::invalid_argument(
                "restart",
                "only a codex the session spawns (the stdio transport) can be restarted; a \
                 command, websocket, unix-socket or stream session whose server goes away \
                 closes with TRANSPORT_CLOSED",
            ));
        }
        Ok(options)
    }
}

/// `false` (off), `true` (defaults) or `{ maxRestarts, initialDelayMs, maxDelayMs, resetAfterMs }`.
fn restart_policy(v: &Value) -> Result<Option<RestartPolicy>> {
    match v {
        Value::Bool(false) => Ok(None),
        Value::Bool(true) => Ok(Some(RestartPolicy::default())),
        Value::Object(obj) => {
            let mut policy = RestartPolicy::default();
            for (key, v) in obj {
                if v.is_null() {
                    continue;
                }
                match key.as_str() {
                    "maxRestarts" => {
                        policy.max_restarts = v
                            .as_u64()
                            .filter(|n| (1..=1000).contains(n))
                            .ok_or_else(|| {
                                Error::invalid_argument(
                                    "restart.maxRestarts",
                                    "must be a whole number from 1 to 1000",
                                )
                            })? as u32
                    }
                    "initialDelayMs" => policy.initial_delay = millis("restart.initialDelayMs", v)?,
                    "maxDelayMs" => policy.max_delay = millis("restart.maxDelayMs", v)?,
                    "resetAfterMs" => policy.reset_after = millis("restart.resetAfterMs", v)?,
                    other => {
                        return Err(Error::invalid_argument(
                            format!("restart.{other}"),
                            "is not a known restart option",
                        ))
                    }
                }
            }
            if policy.max_delay < policy.initial_delay {
                return Err(Error::invalid_argument(
                    "restart.maxDelayMs",
                    "must not be less than restart.initialDelayMs",
                ));
            }
            Ok(Some(policy))
        }
        _ => Err(Error::invalid_argument(
            "restart",
            "must be a boolean or an object",
        )),
    }
}

/// `false` (no retries), `true` (defaults) or `{ maxAttempts, initialDelayMs, maxDelayMs }`.
fn retry_policy(v: &Value) -> Result<RetryPolicy> {
    match v {
        Value::Bool(false) => Ok(RetryPolicy::NONE),
        Value::Bool(true) => Ok(RetryPolicy::default()),
        Value::Object(obj) => {
            let mut policy = RetryPolicy::default();
            for (key, v) in obj {
                match key.as_str() {
                    "maxAttempts" => {
                        policy.max_attempts = v
                            .as_u64()
                            .filter(|n| (1..=100).contains(n))
                            .ok_or_else(|| {
                                Error::invalid_argument(
                                    "overloadRetry.maxAttempts",
                                    "must be a whole number from 1 to 100",
                                )
                            })? as u32
                    }
                    "initialDelayMs" => {
                        policy.initial_delay = millis("overloadRetry.initialDelayMs", v)?
                    }
                    "maxDelayMs" => policy.max_delay = millis("overloadRetry.maxDelayMs", v)?,
                    other => {
                        return Err(Error::invalid_argument(
                            format!("overloadRetry.{other}"),
                            "is not a known retry option",
                        ))
                    }
                }
            }
            Ok(policy)
        }
        _ => Err(Error::invalid_argument(
            "overloadRetry",
            "must be a boolean or an object",
        )),
    }
}

fn client_info(v: &Value) -> Result<ClientInfo> {
    let obj = object("clientInfo", v)?;
    let field = |name: &str| optional_string(obj, "clientInfo", name);
    let name =
        field("name")?.ok_or_else(|| Error::invalid_argument("clientInfo.name", "is required"))?;
    let version = field("version")?
        .ok_or_else(|| Error::invalid_argument("clientInfo.version", "is required"))?;
    Ok(ClientInfo {
        name,
        version,
        title: field("title")?,
    })
}

fn transport(v: &Value) -> Result<TransportKind> {
    let obj = object("transport", v)?;
    let field = |name: &str| optional_string(obj, "transport", name);
    let kind =
        field("type")?.ok_or_else(|| Error::invalid_argument("transport.type", "is required"))?;
    let allowed: &[&str] = match kind.as_str() {
        "stdio" => &["type"],
        "websocket" => &["type", "url", "token", "allowInsecureRemote"],
        "unix" => &["type", "path", "token"],
        "command" => &["type", "command", "args", "env", "cwd"],
        // The Node binding takes `readable`/`writable` out before the options reach here.
        "stream" => &["type"],
        other => {
            return Err(Error::invalid_argument(
                "transport.type",
                format!("unknown transport `{other}`"),
            ))
        }
    };
    if let Some(extra) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(Error::invalid_argument(
            format!("transport.{extra}"),
            format!("is not an option of the `{kind}` transport"),
        ));
    }
    Ok(match kind.as_str() {
        "websocket" => {
            let url = field("url")?
                .ok_or_else(|| Error::invalid_argument("transport.url", "is required"))?;
            let allow_remote = match obj.get("allowInsecureRemote") {
                None | Some(Value::Null) => false,
                Some(v) => boolean("transport.allowInsecureRemote", v)?,
            };
            if !allow_remote {
                refuse_insecure_remote(&url)?;
            }
            TransportKind::WebSocket {
                url,
                token: field("token")?,
            }
        }
        "unix" => TransportKind::Unix {
            path: field("path")?.map(PathBuf::from),
            token: field("token")?,
        },
        "command" => {
            let command = field("command")?.filter(|c| !c.is_empty()).ok_or_else(|| {
                Error::invalid_argument("transport.command", "is required (a program name or path)")
            })?;
            let args = match obj.get("args") {
                None | Some(Value::Null) => Vec::new(),
                Some(v) => strings("transport.args", v)?,
            };
            let mut env = Vec::new();
            if let Some(v) = obj.get("env").filter(|v| !v.is_null()) {
                for (name, value) in object("transport.env", v)? {
                    let value = value.as_str().ok_or_else(|| {
                        Error::invalid_argument(format!("transport.env.{name}"), "must be a string")
                    })?;
                    env.push((name.clone(), value.to_owned()));
                }
            }
            let cwd = match field("cwd")? {
                Some(cwd) => {
                    let cwd = PathBuf::from(cwd);
                    if !cwd.is_dir() {
                        return Err(Error::invalid_argument(
                            "transport.cwd",
                            format!("{} is not a directory", cwd.display()),
                        ));
                    }
                    Some(cwd)
                }
                None => None,
            };
            TransportKind::Command {
                command,
                args,
                env,
                cwd,
            }
        }
        "stream" => TransportKind::Stream,
        _ => TransportKind::Stdio,
    })
}

/// Options of the spawned codex that a `command` transport's program would silently not get:
/// it is run as given, so they are refused, naming where each belongs instead.
const NOT_FOR_COMMAND: &[(&str, &str)] = &[
    ("codexPath", "transport.command"),
    ("codexSearchPaths", "transport.command"),
    ("args", "transport.args"),
    ("config", "transport.args (`-c key=value`)"),
    ("env", "transport.env"),
    ("cwd", "transport.cwd"),
];

fn refuse_spawn_options_with_command(obj: &Map<String, Value>) -> Result<()> {
    for (key, instead) in NOT_FOR_COMMAND {
        if obj.get(*key).is_some_and(|v| !v.is_null()) {
            return Err(Error::invalid_argument(
                *key,
                format!(
                    "does not apply to the `command` transport, which runs transport.command \
                     as given: use {instead}"
                ),
            ));
        }
    }
    Ok(())
}

/// Plain `ws://` to another machine would carry the bearer token (and every message) in clear
/// text, so it takes an explicit opt-in. Loopback (127.0.0.0/8, ::1, localhost) never leaves
/// the machine. A URL that does not parse is left to the connect step, which names the fault.
fn refuse_insecure_remote(url: &str) -> Result<()> {
    let Some(host) = crate::ws::url_host(url) else {
        return Ok(());
    };
    if is_loopback_host(&host) {
        return Ok(());
    }
    Err(Error::invalid_argument(
        "transport.url",
        format!(
            "{host} is not a loopback address, and ws:// is not encrypted: the token and every \
             message would cross the network in clear text (wss:// is not supported: codex \
             listens on plain ws://). Tunnel it (e.g. ssh -L) and connect to 127.0.0.1, or set \
             transport.allowInsecureRemote: true"
        ),
    ))
}

/// 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) and `localhost` (RFC 6761: always loopback).
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// `obj[name]`: absent or null is `None`; anything but a string names `parent.name`.
fn optional_string(obj: &Map<String, Value>, parent: &str, name: &str) -> Result<Option<String>> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::invalid_argument(
            format!("{parent}.{name}"),
            "must be a string",
        )),
    }
}

fn string(key: &str, v: &Value) -> Result<String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::invalid_argument(key, "must be a string"))
}

fn boolean(key: &str, v: &Value) -> Result<bool> {
    v.as_bool()
        .ok_or_else(|| Error::invalid_argument(key, "must be a boolean"))
}

fn strings(key: &str, v: &Value) -> Result<Vec<String>> {
    let items = v
        .as_array()
        .ok_or_else(|| Error::invalid_argument(key, "must be an array of strings"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| string(&format!("{key}[{i}]"), item))
        .collect()
}

fn object<'a>(key: &str, v: &'a Value) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| Error::invalid_argument(key, "must be an object"))
}

/// A positive duration in milliseconds.
pub fn millis(key: &str, v: &Value) -> Result<Duration> {
    match v.as_f64() {
        Some(ms) if ms.is_finite() && ms > 0.0 && ms <= 1e12 => {
            Ok(Duration::from_secs_f64(ms / 1000.0))
        }
        _ => Err(Error::invalid_argument(
            key,
            "must be a positive number of milliseconds",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> String {
        match SessionOptions::from_json(&v) {
            Ok(_) => panic!("accepted {v}"),
            Err(e) => {
                assert_eq!(e.code(), "INVALID_ARGUMENT");
                e.to_string()
            }
        }
    }

    #[test]
    fn the_command_and_stream_transports_are_checked_and_named() {
        let command = |t: Value| json!({ "transport": t });
        let ok = SessionOptions::from_json(&command(json!({"type": "command", "command": "ssh",
            "args": ["host", "codex", "app-server"], "env": {"A": "1"}, "cwd": "."})))
        .unwrap();
        match ok.transport {
            TransportKind::Command {
                command,
                args,
                env,
                cwd,
            } => {
                assert_eq!(command, "ssh");
                assert_eq!(args, ["host", "codex", "app-server"]);
                assert_eq!(env, [("A".to_owned(), "1".to_owned())]);
                assert_eq!(cwd, Some(PathBuf::from(".")));
            }
            other => panic!("{other:?}"),
        }
        let named = |t: Value, path: &str| {
            let message = err(command(t));
            assert!(message.contains(&format!("`{path}`")), "{path}: {message}");
        };
        named(json!({"type": "command"}), "transport.command");
        named(
            json!({"type": "command", "command": ""}),
            "transport.command",
        );
        named(
            json!({"type": "command", "command": 1}),
            "transport.command",
        );
        named(
            json!({"type": "command", "command": "x", "args": ["a", 2]}),
            "transport.args[1]",
        );
        named(
            json!({"type": "command", "command": "x", "env": {"A": 1}}),
            "transport.env.A",
        );
        named(
            json!({"type": "command", "command": "x", "cwd": "/not/here"}),
            "transport.cwd",
        );
        named(
            json!({"type": "command", "command": "x", "url": "ws://"}),
            "transport.url",
        );
        named(
            json!({"type": "stream", "command": "x"}),
            "transport.command",
        );
        // What the spawned codex would get, the command would not: refused, not ignored.
        for key in ["codexPath", "args", "config", "env", "codexSearchPaths"] {
            let value = match key {
                "config" | "env" => json!({}),
                "args" | "codexSearchPaths" => json!([]),
                _ => json!("x"),
            };
            let mut options = command(json!({"type": "command", "command": "x"}));
            options[key] = value;
            let message = err(options);
            assert!(
                message.contains(&format!("`{key}`")) && message.contains("transport."),
                "{key}: {message}"
            );
        }
        assert!(matches!(
            SessionOptions::from_json(&command(json!({"type": "stream"})))
                .unwrap()
                .transport,
            TransportKind::Stream
        ));
    }

    #[test]
    fn every_bad_option_is_named() {
        assert!(err(json!({"codexPath": 5})).contains("`codexPath`"));
        assert!(err(json!({"args": ["ok", 1]})).contains("`args[1]`"));
        assert!(err(json!({"env": {"A": 1}})).contains("`env.A`"));
        assert!(err(json!({"config": {"x": {"y": null}}})).contains("`config.x`"));
        assert!(err(json!({"requestTimeoutMs": -1})).contains("`requestTimeoutMs`"));
        assert!(err(json!({"clientInfo": {"name": "a"}})).contains("`clientInfo.version`"));
        assert!(err(json!({"cwd": "/definitely/not/here"})).contains("`cwd`"));
        assert!(err(json!({"transport": {"type": "carrier-pigeon"}})).contains("`transport.type`"));
        assert!(
            err(json!({"codexpath": "/x"})).contains("`codexpath`: is not a known session option")
        );
        assert!(err(json!(7)).contains("`options`"));
        assert!(err(json!({"overloadRetry": {"maxAttempts": 0}}))
            .contains("`overloadRetry.maxAttempts`"));
        assert!(err(json!({"overloadRetry": {"tries": 3}})).contains("`overloadRetry.tries`"));
        assert!(err(json!({"startupTimeoutMs": 0})).contains("`startupTimeoutMs`"));
        assert!(err(json!({"restart": "yes"})).contains("`restart`"));
        assert!(err(json!({"restart": {"maxRestarts": 0}})).contains("`restart.maxRestarts`"));
        assert!(err(json!({"restart": {"maxRestarts": 1.5}})).contains("`restart.maxRestarts`"));
        assert!(
            err(json!({"restart": {"initialDelayMs": -5}})).contains("`restart.initialDelayMs`")
        );
        assert!(err(json!({"restart": {"resetAfterMs": "1"}})).contains("`restart.resetAfterMs`"));
        assert!(err(json!({"restart": {"tries": 2}})).contains("`restart.tries`"));
        assert!(
            err(json!({"restart": {"initialDelayMs": 500, "maxDelayMs": 100}}))
                .contains("`restart.maxDelayMs`")
        );
        assert!(err(json!({"restart": true, "transport": {"type": "unix"}}))
            .contains("only a codex the session spawns"));
        assert!(
            err(json!({"restart": true, "transport": {"type": "command", "command": "ssh"}}))
                .contains("`restart`: only a codex the session spawns")
        );
        assert!(err(
            json!({"transport": {"type": "websocket", "url": "ws://127.0.0.1:1",
            "allowInsecureRemote": "yes"}})
        )
        .contains("`transport.allowInsecureRemote`"));
    }

    #[test]
    fn plain_ws_to_another_machine_needs_an_opt_in() {
        let ws =
            |url: &str| json!({"transport": {"type": "websocket", "url": url, "token": "t0k"}});
        for url in [
            "ws://10.0.0.5:4500",
            "ws://example.com:4500/x",
            "ws://[2001:db8::1]:4500",
            "ws://0.0.0.0:4500",
            "ws://127.0.0.1.example.com:1",
        ] {
            let message = err(ws(url));
            assert!(message.contains("`transport.url`"), "{url}: {message}");
            assert!(message.contains("allowInsecureRemote"), "{message}");
            assert!(!message.contains("t0k"), "{message}");
        }
        for url in [
            "ws://127.0.0.1:4500",
            "ws://127.8.9.10:1",
            "ws://[::1]:4500",
            "ws://localhost:4500",
            "ws://LOCALHOST.:4500",
            "ws://[::ffff:127.0.0.1]:1",
        ] {
            assert!(SessionOptions::from_json(&ws(url)).is_ok(), "{url}");
        }
        let mut opted_in = ws("ws://10.0.0.5:4500");
        opted_in["transport"]["allowInsecureRemote"] = json!(true);
        assert!(SessionOptions::from_json(&opted_in).is_ok());
    }

    #[test]
    fn restart_is_off_by_default_and_true_means_the_documented_defaults() {
        let off = |v: Value| SessionOptions::from_json(&v).unwrap().restart;
        assert_eq!(off(json!({})), None);
        assert_eq!(off(json!({"restart": false})), None);
        let on = off(json!({"restart": true})).unwrap();
        assert_eq!(on, RestartPolicy::default());
        assert_eq!(on.max_restarts, 3);
        assert_eq!(on.initial_delay, Duration::from_millis(250));
        assert_eq!(on.max_delay, Duration::from_secs(5));
        assert_eq!(on.reset_after, Duration::from_secs(60));
        let custom = off(json!({"restart": {"maxRestarts": 7, "initialDelayMs": 10,
            "maxDelayMs": 20, "resetAfterMs": 1000}}))
        .unwrap();
        assert_eq!(
            custom,
            RestartPolicy {
                max_restarts: 7,
                initial_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(20),
                reset_after: Duration::from_secs(1),
            }
        );
    }

    #[test]
    fn startup_timeout_defaults_to_30_s() {
        let o = SessionOptions::from_json(&json!({})).unwrap();
        assert_eq!(o.startup_timeout, Duration::from_secs(30));
        let o = SessionOptions::from_json(&json!({"startupTimeoutMs": 250})).unwrap();
        assert_eq!(o.startup_timeout, Duration::from_millis(250));
    }

    #[test]
    fn good_options_convert() {
        let o = SessionOptions::from_json(&json!({
            "clientInfo": {"name": "app", "version": "1.2", "title": null},
            "codexPath": "/bin/codex", "args": ["--x"], "env": {"A": "b"},
            "config": {"model": "m"}, "experimentalApi": true, "requestTimeoutMs": 1500,
            "optOutNotificationMethods": ["a/b"], "onNotification": null, "transport": {"type": "stdio"}
        }))
        .unwrap();
        assert_eq!(o.client_info.name, "app");
        assert_eq!(
            o.spawn.discovery.explicit,
            Some(PathBuf::from("/bin/codex"))
        );
        assert_eq!(o.spawn.env, vec![("A".to_owned(), "b".to_owned())]);
        assert!(o.experimental_api);
        assert_eq!(o.request_timeout, Some(Duration::from_millis(1500)));
    }
}
