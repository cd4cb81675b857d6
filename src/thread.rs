use app_server_client as core;
use napi::bindgen_prelude::{Function, Object, PromiseRaw};
use napi::Result;
use napi::{Env, Unknown};
use napi_derive::napi;
use serde_json::Value;

use crate::args::{self, params_object};
use crate::callbacks::{EndCallback, TextCallback};
use crate::errors::{json_promise, promise, raw_text, raw_to_value, IntoJs, Outcome};
use crate::order::Order;
use crate::pull::{Form, PullStream, Pulled};
use crate::pump;
use crate::turn::Turn;

/// The JavaScript object of the session a thread belongs to, kept alive while the thread is.
/// A trait so that this module need not name `Session` (session.rs implements it for napi's
/// `Reference<Session>`); the two modules would otherwise import each other.
pub(crate) trait SessionObject {
    fn object<'env>(&self, env: &'env Env) -> Result<Object<'env>>;
    /// Another hold on the same object (for a thread forked from this one).
    fn share(&self, env: &Env) -> Result<Box<dyn SessionObject>>;
}

/// A conversation on a session.
#[napi]
pub struct Thread {
    inner: core::Thread,
    /// Its session's notification order (see `order.rs`).
    order: Order,
    /// Its session's JavaScript object: main.js reports errors of its turns' `onEvent` there.
    /// (A thread keeps its session's object alive, not the reverse.)
    session: Box<dyn SessionObject>,
}

impl Thread {
    /// A promise of the thread `open` opens on `session`, settled in order. The thread is made
    /// on the JavaScript thread, where its reference to the session's object lives.
    pub(crate) fn promise<'env, F>(
        env: &'env Env,
        order: Order,
        session: Box<dyn SessionObject>,
        open: F,
    ) -> Result<PromiseRaw<'env, Thread>>
    where
        F: std::future::Future<Output = Outcome<core::Thread>> + Send + 'static,
    {
        let settle = order.clone();
        promise(env, settle.after(open), move |_, inner| {
            Ok(Thread {
                inner,
                order,
                session,
            })
        })
    }

    /// A promise of nothing, once `fut` is done, settled in order.
    fn unit<'env, F>(&self, env: &'env Env, fut: F) -> Result<PromiseRaw<'env, ()>>
    where
        F: std::future::Future<Output = Outcome<()>> + Send + 'static,
    {
        promise(env, self.order.clone().after(fut), |_, ()| Ok(()))
    }
}

#[napi]
impl Thread {
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.inner.id().to_owned()
    }

    /// The session this thread belongs to.
    #[napi(getter, ts_return_type = "Session")]
    pub fn session<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
        self.session.object(env)
    }

    /// The response that opened this thread (`thread/start`, `thread/resume`, `thread/fork`).
    #[napi(getter, ts_return_type = "ThreadStartResponse")]
    pub fn opened(&self, env: &Env) -> Result<Value> {
        raw_to_value(&self.inner.response).js(env)
    }

    /// A new thread with this one's history (`thread/fork`).
    #[napi(
        ts_args_type = "params?: Omit<ThreadForkParams, 'threadId'>",
        ts_return_type = "Promise<Thread>"
    )]
    pub fn fork<'env>(
        &self,
        env: &'env Env,
        params: Option<Unknown<'env>>,
    ) -> Result<PromiseRaw<'env, Thread>> {
        let params = args::json(params, "params").and_then(|p| params_object("params", p));
        let thread = self.inner.clone();
        let session = self.session.share(env)?;
        Thread::promise(env, self.order.clone(), session, async move {
            Ok(thread.fork(params?).await?)
        })
    }

    /// Drops the last `numTurns` turns from the thread's history.
    #[napi(ts_args_type = "numTurns: number", ts_return_type = "Promise<void>")]
    pub fn rollback<'env>(
        &self,
        env: &'env Env,
        num_turns: Unknown<'env>,
    ) -> Result<PromiseRaw<'env, ()>> {
        let num_turns = args::count(num_turns, "numTurns");
        let thread = self.inner.clone();
        self.unit(env, async move { Ok(thread.rollback(num_turns?).await?) })
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn unarchive<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let thread = self.inner.clone();
        self.unit(env, async move { Ok(thread.unarchive().await?) })
    }

    /// Every notification of this thread from now on, of every turn, read by pulls (main.js
    /// makes it `thread.events()`).
    #[napi(js_name = "_events", skip_typescript)]
    pub fn events(&self) -> ThreadEvents {
        ThreadEvents {
            stream: PullStream::of_stream(self.inner.events()),
        }
    }

    /// Feeds every notification of this thread from now on to `callback` in JSON batches, on
    /// the session's order (a response settles after the callback saw what came before it).
    /// Returns the key `_offEvent` takes.
    #[napi(js_name = "_onEvent", skip_typescript)]
    pub fn on_event(&self, callback: TextCallback, on_end: Option<EndCallback>) -> u32 {
        let pump = pump::spawn(self.inner.events(), callback, on_end);
        self.order.add_thread_pump(pump)
    }

    /// Stops an `_onEvent` subscription; false when it had already stopped.
    #[napi(js_name = "_offEvent", skip_typescript)]
    pub fn off_event(&self, key: u32) -> bool {
        self.order.remove_thread_pump(key)
    }

    /// The turn in progress on this thread (joined), or `null`.
    #[napi(js_name = "_currentTurn", skip_typescript)]
    pub fn current_turn<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Option<Turn>>> {
        let thread = self.inner.clone();
        let order = self.order.clone();
        promise(
            env,
            self.order.clone().after(async move {
                let joined = thread.current_turn(core::TurnSetup::default()).await?;
                Ok(joined.map(|(turn, _)| Turn::new(turn, None, order)))
            }),
            |_, turn| Ok(turn),
        )
    }

    /// `thread/goal/set` with these params (threadId added); resolves with its response.
    #[napi(js_name = "_setGoal", skip_typescript)]
    pub fn set_goal<'env>(
        &self,
        env: &'env Env,
        params: Option<Unknown<'env>>,
    ) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        let params = args::json(params, "options").and_then(|p| params_object("options", p));
        let thread = self.inner.clone();
        json_promise(
            env,
            self.order
                .clone()
                .after(async move { raw_text(thread.set_goal(params?)).await }),
        )
    }

    /// `thread/goal/get`'s response.
    #[napi(js_name = "_goal", skip_typescript)]
    pub fn goal<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        let thread = self.inner.clone();
        json_promise(
            env,
            self.order
                .clone()
                .after(async move { raw_text(thread.goal()).await }),
        )
    }

    /// `thread/goal/clear`'s response.
    #[napi(js_name = "_clearGoal", skip_typescript)]
    pub fn clear_goal<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Unknown<'env>>> {
        let thread = self.inner.clone();
        json_promise(
            env,
            self.order
                .clone()
                .after(async move { raw_text(thread.clear_goal()).await }),
        )
    }

    /// Starts a turn; `onEvent` receives its events as JSON batches from the first one on.
    #[napi(js_name = "_startTurn", skip_typescript)]
    pub fn start_turn<'env>(
        &self,
        env: &'env Env,
        input: Unknown<'env>,
        params: Option<Unknown<'env>>,
        callback: Option<TextCallback>,
        inactivity_timeout_ms: Option<f64>,
    ) -> Result<PromiseRaw<'env, Turn>> {
        let input = args::json(Some(input), "input");
        let params = args::json(params, "options").and_then(|p| params_object("options", p));
        let thread = self.inner.clone();
        let order = self.order.clone();
        promise(
            env,
            self.order.clone().after(async move {
                let input = core::Input::from_json(input?.unwrap_or(Value::Null))?;
                let inactivity_timeout =
                    args::millis(inactivity_timeout_ms, "inactivityTimeoutMs")?;
                let streams = core::TurnSetup {
                    extra_streams: usize::from(callback.is_some()),
                    inactivity_timeout,
                };
                let (turn, extra) = thread.start_turn(input, params?, streams).await?;
                let pump = match (callback, extra.into_iter().next()) {
                    (Some(cb), Some(stream)) => Some(pump::spawn(stream, cb, None)),
                    _ => None,
                };
                Ok(Turn::new(turn, pump, order))
            }),
            |_, turn| Ok(turn),
        )
    }
}

/// A subscription to one thread's notifications, read by pulls: what `thread.events()` wraps in
/// an async iterator (napi-rs cannot leave a class out of the declarations).
#[napi]
pub struct ThreadEvents {
    stream: PullStream,
}

#[napi]
impl ThreadEvents {
    /// The next events as a JSON array, `null` once the connection has ended, or, when none is
    /// queued, a waiter id: `wake(id)` is called when it is worth pulling again.
    #[napi(js_name = "_pullBatch", skip_typescript)]
    pub fn pull_batch(&self, env: &Env, wake: Function<u32, ()>) -> Result<Pulled> {
        self.stream.pull(env, Form::Events, wake)
    }

    /// Unsubscribes: queued events are dropped, a waiting pull finds the end.
    #[napi(js_name = "_close", skip_typescript)]
    pub fn close(&self) {
        self.stream.discard();
    }
}
