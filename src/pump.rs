//! Feeds an event stream to a JavaScript callback, a batch per wake-up of the JS thread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use app_server_client::{EventStream, Notification};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::Status;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::JoinHandle;

use crate::batch::{batch_json, MAX_BATCH, MAX_BATCH_BYTES};
use crate::callbacks::{EndCallback, TextCallback};
use crate::errors::JsCoreError;
use crate::text::JsText;

/// Tasks that hold a JavaScript callback right now (pumps, diagnostics, exit reports): for
/// leak checks, it must return to zero once sessions and turns are done.
static LIVE_CALLBACK_TASKS: AtomicUsize = AtomicUsize::new(0);

/// Counts one live callback task while it exists.
pub struct LiveTask(());

impl LiveTask {
    pub fn new() -> Self {
        LIVE_CALLBACK_TASKS.fetch_add(1, Ordering::SeqCst);
        LiveTask(())
    }
}

impl Drop for LiveTask {
    fn drop(&mut self) {
        LIVE_CALLBACK_TASKS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Process-wide counters of the native side, for leak checks.
#[napi_derive::napi(js_name = "_nativeStats", skip_typescript)]
pub fn native_stats() -> serde_json::Value {
    serde_json::json!({ "liveCallbackTasks": LIVE_CALLBACK_TASKS.load(Ordering::SeqCst) })
}

/// A running pump: its task, a flag set once it has delivered everything, and the way in for
/// barrier requests.
pub struct Pump {
    pub task: JoinHandle<()>,
    pub done: watch::Receiver<bool>,
    barriers: mpsc::UnboundedSender<oneshot::Sender<()>>,
}

impl Pump {
    pub fn abort(&self) {
        self.task.abort();
    }

    /// Asks the pump to deliver every event already queued and to answer once JavaScript has
    /// handled all of them (the calls have returned). `None` once the pump is gone; the answer
    /// also comes (as a closed channel) if the pump stops before it got there.
    pub fn barrier(&self) -> Option<oneshot::Receiver<()>> {
        if *self.done.borrow() {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        self.barriers.send(tx).ok().map(|()| rx)
    }

    /// Resolves once every event the pump will deliver has been handled by JavaScript.
    pub async fn delivered(&self) {
        let mut done = self.done.clone();
        let _ = done.wait_for(|d| *d).await;
    }
}

/// Runs until the stream ends or the callback's environment goes away. JavaScript holds at
/// most [`MAX_IN_FLIGHT`] batches: while they are taken the next batch waits and grows.
pub fn spawn(mut stream: EventStream, callback: TextCallback, on_end: Option<EndCallback>) -> Pump {
    let live = LiveTask::new();
    let (done_tx, done) = watch::channel(false);
    let (barriers, mut barrier_requests) = mpsc::unbounded_channel::<oneshot::Sender<()>>();
    let task = napi::bindgen_prelude::spawn(async move {
        let _live = live;
        // Set however the task ends (finished, aborted, environment gone).
        let _done = SetOnDrop(done_tx);
        let in_flight = InFlight::new();
        let deliver = |payload: String| in_flight.deliver(&callback, payload);
        let end = loop {
            tokio::select! {
                biased;
                Some(answer) = barrier_requests.recv() => {
                    loop {
                        let batch = stream.try_batch(MAX_BATCH);
                        if batch.is_empty() {
                            break;
                        }
                        if !deliver(batch_json(&batch)).await {
                            return;
                        }
                    }
                    in_flight.idle().await;
                    let _ = answer.send(());
                }
                next = stream.next_batch_within(MAX_BATCH, MAX_BATCH_BYTES) => match next {
                    Ok(Some(batch)) => {
                        if !deliver(batch_json(&batch)).await {
                            return;
                        }
                    }
                    Ok(None) => break None,
                    Err(e) => break Some(e),
                },
            }
        };
        // `done` promises that JavaScript has handled everything.
        in_flight.idle().await;
        if let Some(on_end) = on_end {
            let _ = on_end.call_async_catch(end.map(JsCoreError)).await;
        }
    });
    Pump {
        task,
        done,
        barriers,
    }
}

/// Most batches handed to JavaScript and not yet handled: one running and one queued behind
/// it. A call is queued without waiting for JavaScript, and the pump waits only when both
/// places are taken. So an idle JavaScript thread costs no wake-up of the runtime after each
/// batch (the latency of sparse events); a busy one lets the next batch grow; and when it
/// comes back from a pause (a GC, a descheduling) the next batch is already queued, where
/// with one place it would wait a round trip (JavaScript wakes the pump, the pump calls
/// JavaScript) for every batch until it caught up.
const MAX_IN_FLIGHT: usize = 2;

/// The batches JavaScript has been handed and has not finished.
struct InFlight {
    calls: AtomicUsize,
    released: Notify,
}

impl InFlight {
    fn new() -> Arc<Self> {
        Arc::new(InFlight {
            calls: AtomicUsize::new(0),
            released: Notify::new(),
        })
    }

    /// False once the environment is closing: nothing more can be delivered.
    async fn deliver(self: &Arc<Self>, callback: &TextCallback, payload: String) -> bool {
        self.fewer_than(MAX_IN_FLIGHT).await;
        self.calls.fetch_add(1, Ordering::SeqCst);
        // Released when JavaScript returns, or when the call is dropped unrun (environment gone).
        let release = Release(Arc::clone(self));
        let status = callback.call_with_return_value(
            JsText(payload),
            ThreadsafeFunctionCallMode::NonBlocking,
            move |_, _| {
                drop(release);
                Ok(())
            },
        );
        status != Status::Closing
    }

    /// Resolves once JavaScript has handled every batch handed to it.
    async fn idle(&self) {
        self.fewer_than(1).await;
    }

    /// Only the pump's task waits here (and only it adds calls), so one waiter at a time.
    async fn fewer_than(&self, limit: usize) {
        loop {
            let notified = self.released.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.calls.load(Ordering::SeqCst) < limit {
                return;
            }
            notified.await;
        }
    }
}

struct Release(Arc<InFlight>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.calls.fetch_sub(1, Ordering::SeqCst);
        self.0.released.notify_one();
    }
}

/// Sets its flag however the owning task ends (finished, aborted, environment gone).
pub struct SetOnDrop(pub watch::Sender<bool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

/// Benchmark hooks: the same batch of `count` copies of `frame` in each payload form that
/// could cross into JavaScript. Used by bench/payload.mjs to choose the event path's form.
#[napi_derive::napi(js_name = "_benchBatchJson", skip_typescript)]
pub fn bench_batch_json(frame: String, count: u32) -> napi::Result<String> {
    let batch = bench_batch(&frame, count)?;
    Ok(batch_json(&batch))
}

#[napi_derive::napi(js_name = "_benchBatchObjects", skip_typescript)]
pub fn bench_batch_objects(frame: String, count: u32) -> napi::Result<Vec<serde_json::Value>> {
    let batch = bench_batch(&frame, count)?;
    batch
        .iter()
        .map(|n| serde_json::from_str(&n.raw).map_err(|e| napi::Error::from_reason(e.to_string())))
        .collect()
}

fn bench_batch(frame: &str, count: u32) -> napi::Result<Vec<Arc<Notification>>> {
    let n = match app_server_client::frame::decode(frame) {
        Ok(app_server_client::frame::Incoming::Notification(n)) => Arc::new(n),
        _ => return Err(napi::Error::from_reason("not a notification frame")),
    };
    Ok((0..count).map(|_| Arc::clone(&n)).collect())
}
