//! A turn's stream read by pulls from the JavaScript thread, with no runtime task in between.
//!
//! A pull takes whatever is queued and returns it at once. When nothing is, it registers a
//! waker on the stream and returns a Promise; the thread that delivers the next event (the
//! connection's reader) fires the waker, which settles the Promise. That is one thread hop per
//! wait, where an `async fn` pull would cost two more: a runtime worker woken by the JavaScript
//! thread to start the wait, and again to finish it.
//!
//! The price: the batch's JSON (or text) is joined on the JavaScript thread, one copy of its
//! bytes, since only that thread reads the stream. The waker cannot read it: it fires inside the
//! stream's send, and on the JavaScript thread even inside a poll, where the stream is locked.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Wake, Waker};

use app_server_client as core;
use napi::bindgen_prelude::{Either, Object};
use napi::JsDeferred;
use napi::{Env, Result};

use crate::errors::to_napi;
use crate::pump::{batch_json, batch_text, MAX_BATCH};

/// What a pull yields: the events as a JSON array, or the text deltas concatenated.
#[derive(Clone, Copy)]
pub enum Form {
    Events,
    Text,
}

/// A settled pull: text, `null` at the end, or `true` for "woken, nothing new: pull again".
type Pulled = Option<Either<String, bool>>;
type Settle = Box<dyn FnOnce(Env) -> Result<Pulled> + Send>;

pub struct PullStream {
    shared: Arc<Shared>,
}

struct Shared {
    turn: Arc<core::Turn>,
    /// Registered with the stream; refers back weakly, so the stream never keeps itself alive.
    waker: Waker,
    /// Only the JavaScript thread reads the stream (pulls and their settling run there).
    stream: Mutex<Slot>,
    /// The Promise of a pull that found nothing, and the form it asked for. It always settles:
    /// the stream's end (turn completed or failed, session closed) wakes it, and until then the
    /// deferred's handle keeps the Promise, hence the iterator and this turn, alive.
    waiting: Mutex<Option<(JsDeferred<Pulled, Settle>, Form)>>,
    /// Set by every wake; a pull clears it before polling, so a wake that races the poll
    /// (even one fired from inside it) is never lost.
    woken: AtomicBool,
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

    /// Runs on the delivering thread, inside the stream's send: it must not block on anything
    /// a pull holds while polling, so it takes only the `waiting` slot, briefly.
    fn wake_by_ref(self: &Arc<Self>) {
        let Some(shared) = self.0.upgrade() else {
            return;
        };
        shared.woken.store(true, Ordering::SeqCst);
        let waiting = lock(&shared.waiting).take();
        if let Some((deferred, form)) = waiting {
            let settle_on_js_thread = Arc::clone(&shared);
            deferred.resolve(Box::new(move |_env| settle_on_js_thread.settle(form)));
        }
    }
}

impl PullStream {
    pub fn new(turn: Arc<core::Turn>) -> Self {
        let shared = Arc::new_cyclic(|me| Shared {
            turn,
            waker: Waker::from(Arc::new(WakeOnEvent(me.clone()))),
            stream: Mutex::new(Slot::NotTaken),
            waiting: Mutex::new(None),
            woken: AtomicBool::new(false),
        });
        PullStream { shared }
    }

    /// The next batch now (text, or `null` at the end), or a Promise of it.
    pub fn pull<'env>(
        &self,
        env: &'env Env,
        form: Form,
    ) -> Result<Either<Option<String>, Object<'env>>> {
        if lock(&self.shared.waiting).is_some() {
            // main.js serialises pulls; this is a bug there, not a user error.
            return Err(napi::Error::from_reason(
                "internal: a pull of this turn's events is already waiting",
            ));
        }
        loop {
            self.shared.woken.store(false, Ordering::SeqCst);
            if let Poll::Ready(pulled) = self.shared.poll(form) {
                return pulled.map(Either::A);
            }
            if self.shared.woken.load(Ordering::SeqCst) {
                continue; // woken while registering: look again
            }
            let (deferred, promise) = env.create_deferred::<Pulled, Settle>()?;
            *lock(&self.shared.waiting) = Some((deferred, form));
            // A wake between the poll and the line above found no Promise to settle: settle
            // it here (through the same queue, so it still settles asynchronously).
            if self.shared.woken.load(Ordering::SeqCst) {
                if let Some((deferred, form)) = lock(&self.shared.waiting).take() {
                    let shared = Arc::clone(&self.shared);
                    deferred.resolve(Box::new(move |_env| shared.settle(form)));
                }
            }
            return Ok(Either::B(promise));
        }
    }

    /// Stops reading: the queued events are dropped and a waiting pull gets `null`.
    pub fn discard(&self) {
        *lock(&self.shared.stream) = Slot::Gone;
        if let Some((deferred, _)) = lock(&self.shared.waiting).take() {
            deferred.resolve(Box::new(|_env| Ok(None)));
        }
    }
}

impl Shared {
    /// Takes what is queued; `Pending` leaves the waker registered.
    fn poll(&self, form: Form) -> Poll<Result<Option<String>>> {
        let mut slot = lock(&self.stream);
        if matches!(*slot, Slot::NotTaken) {
            *slot = match self.turn.take_events() {
                Some(stream) => Slot::Reading(stream),
                None => Slot::Gone,
            };
        }
        let Slot::Reading(stream) = &mut *slot else {
            return Poll::Ready(Ok(None));
        };
        let mut cx = Context::from_waker(&self.waker);
        loop {
            match stream.poll_batch(&mut cx, MAX_BATCH) {
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
                    return Poll::Ready(end.map(|_| None).map_err(to_napi));
                }
            }
        }
    }

    /// On the JavaScript thread, for a woken pull's Promise.
    fn settle(self: &Arc<Self>, form: Form) -> Result<Pulled> {
        match self.poll(form) {
            Poll::Ready(pulled) => pulled.map(|text| text.map(Either::A)),
            // Woken by something that was not for this form (or raced): the pull asks again.
            Poll::Pending => Ok(Some(Either::B(true))),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
