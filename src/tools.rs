//! Two of the core's rules, for code that starts codex itself (scripts, tests, the testing
//! kit): the codex-binary lookup (`findCodex`, public) and the TOML encoding of `-c key=value`
//! overrides (`configOverrideArgs`, used by `codex-native/testing`). One copy of each rule, in
//! the core (`discovery.rs`, `toml.rs`); this file only converts.

use std::path::PathBuf;

use app_server_client as core;
use napi::{Env, Unknown};
use napi_derive::napi;
use serde_json::Value;

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
        let Some(Value::Object(map)) = crate::args::json(Some(config), "config")? else {
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

/// The JavaScript error for `e` (the binding's one way to make them: `errors.rs`).
fn throw(env: &Env, e: core::Error) -> napi::Error {
    crate::errors::Failure::Core(e).into_napi(env)
}
