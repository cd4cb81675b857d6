use app_server_client as core;
use napi::bindgen_prelude::{Function, PromiseRaw};
use napi::Env;
use napi::Result;
use napi_derive::napi;
use serde_json::Value;

use crate::errors::{raw_to_value, IntoJs};
use crate::pump;
use crate::session::params_object;
use crate::turn::Turn;

/// A conversation on a session.
#[napi]
pub struct Thread {
    inner: core::Thread,
}

impl Thread {
    pub(crate) fn new(inner: core::Thread) -> Self {
        Thread { inner }
    }
}

#[napi]
impl Thread {
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.inner.id().to_owned()
    }

    /// The response that opened this thread (`thread/start`, `thread/resume`, `thread/fork`).
    #[napi(getter, ts_return_type = "ThreadStartResponse")]
    pub fn opened(&self) -> napi::Result<Value> {
        raw_to_value(&self.inner.response)
    }

    /// Starts a turn; `onEvent` receives its events as JSON batches from the first one on.
    #[napi(js_name = "_startTurn", skip_typescript)]
    pub fn start_turn<'env>(
        &self,
        env: &'env Env,
        input: Value,
        params: Option<Value>,
        on_event: Option<Function<String, ()>>,
    ) -> Result<PromiseRaw<'env, Turn>> {
        let callback = on_event
            .map(|f| f.build_threadsafe_function().weak::<true>().callee_handled::<false>().build())
            .transpose()?;
        let thread = self.inner.clone();
        env.spawn_future(async move {
            let input = core::Input::from_json(input).js()?;
            let params = params_object("options", params)?;
            let streams = core::TurnStreams { extra: usize::from(callback.is_some()) };
            let (turn, extra) = thread.start_turn(input, params, streams).await.js()?;
            let pump = match (callback, extra.into_iter().next()) {
                (Some(cb), Some(stream)) => Some(pump::spawn(stream, cb, None)),
                _ => None,
            };
            Ok(Turn::new(turn, pump))
        })
    }
}
