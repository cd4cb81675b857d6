//! A turn's stream read by pulls from the JavaScript thread, with no runtime task in between.
//!
//! A pull takes whatever is queued and returns it at once. When nothing is, it registers a
//! waker on the stream and returns the stream's waiter id; main.js then waits on a Promise of
//! its own, filed under that id. The thread that delivers the next event (the connection's
//! reader) fires the waker, which calls main.js's `wake(id)` through this stream's
//! ThreadsafeFunction; the Promise resolves and the iterator pulls again. That is one thread
//! hop per wait, where an `async fn` pull would cost two more: a runtime worker woken by the
//! JavaScript thread to start the wait, and again to finish it.
//!
//! The ThreadsafeFunction is made once per stream, on its first wait, and kept referenced (so
//! it keeps Node alive) only from a wait until its wake has reached JavaScript. A napi deferred
//! per wait would create and tear down a ThreadsafeFunction, a libuv handle and a cleanup hook
//! every time: most of the JavaScript thread's cost per batch when batches are small. `wake` is
//! a module-level function of main.js that closes over nothing, so holding it never keeps a
//! turn alive.
//!
//! The price of pulling on the JavaScript thread: the batch's JSON (or text) is joined there,
//! one copy of its bytes, since only that thread reads the stream.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll, Wake, Waker};

use app_server_client as core;
use napi::bindgen_prelude::{Either, Function};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Result, Status};

use crate::batch::{batch_json, batch_text, MAX_BATCH, MAX_BATCH_BYTES};
use crate::errors::{Failure, Outcome};
use crate::lock::lock;
use crate::text::JsText;

/// What a pull yields: the events as a JSON array, or the text deltas concatenated.
#[derive(Clone, Copy)]
pub enum Form {
    Events,
    Text,
}

/// `wake(waiterId)`: weak (referenced only from a wait to its wake), never throws.
pub type WakeFn = ThreadsafeFunction<u32, (), u32, Status, false, true>;

/// A pull's answer: the batch, `null` at the end, or the waiter id to wait on.
pub type Pulled = Either<Option<JsText>, u32>;

/// Waiter ids, unique in the process (main.js files waiting Promises under them).
static NEXT_WAITER_ID: AtomicU32 = AtomicU32::new(1);

pub struct PullStream {
    shared: Arc<Shared>,
}

struct Shared {
    /// The turn whose stream is taken on the first pull (none for a thread's stream, which is
    /// there from the start).
    turn: Option<Arc<core::Turn>>,
    waiter_id: u32,
    /// Registered with the stream; refers back weakly, so the stream never keeps itself alive.
    waker: Waker,
    /// Only the JavaScript thread reads the stream (pulls run there).
    stream: Mutex<Slot>,
    /// Made on the first wait, from the `wake` main.js passes with every pull.
    wake_js: OnceLock<WakeFn>,
    /// A pull is waiting for a wake. Whoever clears it (the waker, or the pull taking its
    /// registration back) owns the wake-up.
    waiting: AtomicBool,
    /// Set by every wake; a pull clears it before polling, so a wake that races the poll
    /// (even one fired from inside it) is never lost.
    woken: AtomicBool,
    /// The ThreadsafeFunction is referenced (keeps Node alive). JavaScript thread only.
    referenced: AtomicBool,
}

enum Slot {
    NotTaken,
    Reading(core::EventStream),
    Gone,
}

struct WakeOnEvent(Weak<Shared>);

impl Wake for WakeOnEvent {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    /// Runs on the delivering thread, inside the stream's send: it takes no lock.
    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(shared) = self.0.upgrade() {
            shared.woken.store(true, Ordering::SeqCst);
            if shared.waiting.swap(false, Ordering::SeqCst) {
                shared.call_wake();
            }
        }
    }
}

impl PullStream {
    pub fn new(turn: Arc<core::Turn>) -> Self {
        PullStream::make(Some(turn), Slot::NotTaken)
    }

    /// Pulls of a stream that is not a turn's (`thread.events()`).
    pub fn of_stream(stream: core::EventStream) -> Self {
        PullStream::make(None, Slot::Reading(stream))
    }

    fn make(turn: Option<Arc<core::Turn>>, slot: Slot) -> Self {
        let shared = Arc::new_cyclic(|me| Shared {
            turn,
            waiter_id: NEXT_WAITER_ID.fetch_add(1, Ordering::Relaxed),
            waker: Waker::from(Arc::new(WakeOnEvent(me.clone()))),
            stream: Mutex::new(slot),
            wake_js: OnceLock::new(),
            waiting: AtomicBool::new(false),
            woken: AtomicBool::new(false),
            referenced: AtomicBool::new(false),
        });
        PullStream { shared }
    }

    /// The next batch (text, or `null` at the end), or, when none is queued, the waiter id:
    /// `wake(id)` is called once something arrives (or the stream ends), and then the caller
    /// pulls again.
    pub fn pull(&self, env: &Env, form: Form, wake: Function<u32, ()>) -> Result<Pulled> {
        let shared = &self.shared;
        if shared.waiting.load(Ordering::SeqCst) {
            // main.js serialises pulls; this is a bug there, not a user error.
            return Err(napi::Error::from_reason(
                "internal: a pull of this turn's events is already waiting",
            ));
        }
        loop {
            shared.woken.store(false, Ordering::SeqCst);
            if let Poll::Ready(pulled) = shared.poll(form) {
                shared.set_referenced(env, false);
                return pulled
                    .map(|text| Either::A(text.map(JsText)))
                    .map_err(|e| e.into_napi(env));
            }
            if shared.woken.load(Ordering::SeqCst) {
                continue; // woken while registering: look again
            }
            if shared.wake_js.get().is_none() {
                // The wake, once it reaches JavaScript, ends the wait's hold on Node: whether
                // anything pulls again (a returned iterator does not) is up to JavaScript.
                let stream = Arc::downgrade(shared);
                let made = wake
                    .build_threadsafe_function()
                    .weak::<true>()
                    .callee_handled::<false>()
                    .build_callback(move |call| {
                        if let Some(shared) = stream.upgrade() {
                            shared.set_referenced(&call.env, false);
                        }
                        Ok(call.value)
                    })?;
                let _ = shared.wake_js.set(made);
            }
            shared.set_referenced(env, true);
            shared.waiting.store(true, Ordering::SeqCst);
            // A wake between the poll and the line above saw nobody waiting: take the
            // registration back and look again. (If the waker took it first, its call is on
            // its way and the caller waits for it.)
            if shared.woken.load(Ordering::SeqCst) && shared.waiting.swap(false, Ordering::SeqCst) {
                continue;
            }
            return Ok(Either::B(shared.waiter_id));
        }
    }

    /// Stops reading: the queued events are dropped and a waiting pull is woken (to find the
    /// end).
    pub fn discard(&self) {
        *lock(&self.shared.stream) = Slot::Gone;
        if self.shared.waiting.swap(false, Ordering::SeqCst) {
            self.shared.call_wake();
        }
    }
}

impl Shared {
    /// Takes what is queued; `Pending` leaves the waker registered.
    fn poll(&self, form: Form) -> Poll<Outcome<Option<String>>> {
        let mut slot = lock(&self.stream);
        if matches!(*slot, Slot::NotTaken) {
            *slot = match self.turn.as_ref().and_then(|t| t.take_events()) {
                Some(stream) => Slot::Reading(stream),
                None => Slot::Gone,
            };
        }
        let Slot::Reading(stream) = &mut *slot else {
            return Poll::Ready(Ok(None));
        };
        let mut cx = Context::from_waker(&self.waker);
        loop {
            match stream.poll_batch_within(&mut cx, MAX_BATCH, MAX_BATCH_BYTES) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(Some(batch))) => match form {
                    Form::Events => return Poll::Ready(Ok(Some(batch_json(&batch)))),
                    Form::Text => {
                        let text = batch_text(&batch);
                        if !text.is_empty() {
                            return Poll::Ready(Ok(Some(text)));
                        }
                    }
                },
                Poll::Ready(end) => {
                    // Dropping the stream at its end also drops the waker it holds.
                    *slot = Slot::Gone;
                    return Poll::Ready(end.map(|_| None).map_err(Failure::from));
                }
            }
        }
    }

    /// Queues `wake(id)` on the JavaScript thread. Only the owner of a wait calls this, and a
    /// wait exists only once `wake_js` is set.
    fn call_wake(&self) {
        if let Some(wake) = self.wake_js.get() {
            // Fails only while the environment shuts down, when nobody is left to wake.
            let _ = wake.call(self.waiter_id, ThreadsafeFunctionCallMode::NonBlocking);
        }
    }

    /// References the ThreadsafeFunction from a pull's wait until its wake reaches JavaScript,
    /// so a pending `for await` keeps Node alive as a pending napi Promise would;
    /// unreferenced otherwise, so an idle turn does not. JavaScript thread only.
    fn set_referenced(&self, env: &Env, referenced: bool) {
        let Some(wake) = self.wake_js.get() else {
            return;
        };
        if self.referenced.swap(referenced, Ordering::Relaxed) == referenced {
            return;
        }
        // SAFETY: `env` is this thread's environment, the one `wake` was made in, and the
        // ThreadsafeFunction is alive (this stream owns it).
        let status = unsafe {
            if referenced {
                napi::sys::napi_ref_threadsafe_function(env.raw(), wake.raw())
            } else {
                napi::sys::napi_unref_threadsafe_function(env.raw(), wake.raw())
            }
        };
        debug_assert_eq!(status, napi::sys::Status::napi_ok);
    }
}
