//! Wake-ups of event-stream consumers, batched per burst of input.
//!
//! One pipe read can hold hundreds of small frames. Waking a stream's consumer on the first of
//! them makes it take that one event, wait, and be woken again a few events later: a thread
//! wake-up (for JavaScript, a crossing into it) per handful of events. So while the reader
//! routes a burst, wakes of event streams fired on its thread are collected, and fired when the
//! burst ends: when no complete frame is left in hand (the next read would wait), or after
//! [`MAX_BURST_FRAMES`] frames or [`MAX_BURST_BYTES`] bytes, which bounds how long the first
//! event of a long burst waits for the routing of the rest. A lone event (the sparse case) is
//! woken as soon as it is routed, as before.
//!
//! Only [`EventStream`](crate::EventStream) wakers defer (they are wrapped by
//! [`deferrable`]); responses and server requests wake their waiters at once.
//!
//! A consumer that is already awake does not need a wake to look: a fast one (`textStream()`)
//! would take the few events routed so far, look again, and spin on tiny batches while the
//! reader is mid-burst. So the burst is also visible as a [`Burst`] gate: a stream that finds
//! only a few events queued while a burst is being routed waits for its end.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use crate::lock::lock;

/// Most frames routed before collected wakes fire.
pub(crate) const MAX_BURST_FRAMES: usize = 256;
/// Most frame bytes routed before collected wakes fire.
pub(crate) const MAX_BURST_BYTES: usize = 64 * 1024;

thread_local! {
    /// The wakes collected on this thread, while a [`WakeBatch`] routes a frame.
    static COLLECTED: RefCell<Option<Vec<Waker>>> = const { RefCell::new(None) };
}

/// Fewer events than this queued while a burst is routed: wait for the burst's end rather
/// than take them (more than this: take them, the consumer is behind anyway).
pub(crate) const EAGER_FROM_EVENTS: usize = 64;

/// Whether the reader is routing a burst, and who waits for it to end. One per connection.
#[derive(Default)]
pub(crate) struct Burst {
    active: AtomicBool,
    waiters: Mutex<Vec<Waker>>,
}

impl Burst {
    /// Registers `waker` for the end of the burst being routed. False when none is (or it
    /// ended meanwhile): take what is queued now. (A waker left registered by that race is
    /// woken once, spuriously, at a later burst's end.)
    pub(crate) fn wait_for_end(&self, waker: &Waker) -> bool {
        if !self.active.load(Ordering::SeqCst) {
            return false;
        }
        lock(&self.waiters).push(waker.clone());
        // `end` clears the flag before it takes the waiters: if it is still set here, `end`
        // has not taken them yet and will find this one.
        self.active.load(Ordering::SeqCst)
    }

    fn begin(&self) {
        self.active.store(true, Ordering::SeqCst);
    }

    fn end(&self) {
        if self.active.swap(false, Ordering::SeqCst) {
            let waiters = std::mem::take(&mut *lock(&self.waiters));
            waiters.into_iter().for_each(Waker::wake);
        }
    }
}

/// The reader's collector of wakes (one per connection's read loop).
pub(crate) struct WakeBatch {
    wakers: Vec<Waker>,
    frames: usize,
    bytes: usize,
    burst: Arc<Burst>,
}

impl WakeBatch {
    pub(crate) fn new(burst: Arc<Burst>) -> Self {
        WakeBatch {
            wakers: Vec::new(),
            frames: 0,
            bytes: 0,
            burst,
        }
    }

    /// Runs `route` (the routing of one frame of `size` bytes) with stream wakes collected.
    /// Synchronous on purpose: collection is per thread, and must not span an `.await`.
    pub(crate) fn collect<R>(&mut self, size: usize, route: impl FnOnce() -> R) -> R {
        if self.frames == 0 {
            self.burst.begin();
        }
        let collecting = Collecting::start(std::mem::take(&mut self.wakers));
        let routed = route();
        self.wakers = collecting.stop();
        self.frames += 1;
        self.bytes += size;
        if self.frames >= MAX_BURST_FRAMES || self.bytes >= MAX_BURST_BYTES {
            self.flush();
        }
        routed
    }

    /// Ends the burst: fires every collected wake, and wakes whoever waits for the end.
    pub(crate) fn flush(&mut self) {
        self.frames = 0;
        self.bytes = 0;
        // The burst ends first: a consumer woken below must find it over, or it would wait
        // for an end that has already been signalled to it, one more wake-up away.
        self.burst.end();
        self.wakers.drain(..).for_each(Waker::wake);
    }

    /// `frame`, flushing first whenever it would wait for input: a burst ends there.
    pub(crate) fn flush_when_idle<F: Future + Unpin>(&mut self, frame: F) -> FlushWhenIdle<'_, F> {
        FlushWhenIdle { frame, wakes: self }
    }
}

impl Drop for WakeBatch {
    /// However the read loop ends, nobody is left unwoken.
    fn drop(&mut self) {
        self.flush();
    }
}

/// This thread's collection while it lasts; a panic in the routing still fires what was
/// collected.
struct Collecting {
    /// Not yet stopped: dropping it (a panic) fires the collection.
    armed: bool,
}

impl Collecting {
    fn start(into: Vec<Waker>) -> Self {
        COLLECTED.with(|c| {
            let previous = c.borrow_mut().replace(into);
            debug_assert!(previous.is_none(), "wake collections do not nest");
        });
        Collecting { armed: true }
    }

    fn stop(mut self) -> Vec<Waker> {
        self.armed = false;
        COLLECTED
            .with(|c| c.borrow_mut().take())
            .unwrap_or_default()
    }
}

impl Drop for Collecting {
    fn drop(&mut self) {
        if self.armed {
            let collected = COLLECTED
                .with(|c| c.borrow_mut().take())
                .unwrap_or_default();
            collected.into_iter().for_each(Waker::wake);
        }
    }
}

/// See [`WakeBatch::flush_when_idle`].
pub(crate) struct FlushWhenIdle<'a, F> {
    frame: F,
    wakes: &'a mut WakeBatch,
}

impl<F: Future + Unpin> Future for FlushWhenIdle<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        match Pin::new(&mut this.frame).poll(cx) {
            Poll::Ready(frame) => Poll::Ready(frame),
            Poll::Pending => {
                this.wakes.flush();
                Poll::Pending
            }
        }
    }
}

/// Wraps a stream consumer's waker so that its wake is collected while this thread routes a
/// burst (and fired at once otherwise).
pub(crate) fn deferrable(consumer: &Waker) -> Waker {
    Waker::from(Arc::new(Deferrable(consumer.clone())))
}

struct Deferrable(Waker);

impl Wake for Deferrable {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let collected = COLLECTED.with(|c| match c.try_borrow_mut() {
            Ok(mut slot) => match slot.as_mut() {
                Some(wakers) => {
                    wakers.push(self.0.clone());
                    true
                }
                None => false,
            },
            // Woken while the collection itself is being handled: wake at once.
            Err(_) => false,
        });
        if !collected {
            self.0.wake_by_ref();
        }
    }
}

/// A waker that counts its wakes: what the tests of this module and of `turn` observe.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct CountWakes(std::sync::atomic::AtomicUsize);

#[cfg(test)]
impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
impl CountWakes {
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A consumer that counts its wakes, the deferrable waker for it, and a fresh batch.
    fn consumer() -> (Arc<CountWakes>, Waker, WakeBatch) {
        let count = Arc::new(CountWakes::default());
        let waker = deferrable(&Waker::from(Arc::clone(&count)));
        (count, waker, WakeBatch::new(Arc::default()))
    }

    #[test]
    fn wakes_during_routing_wait_for_the_end_of_the_burst() {
        let (count, waker, mut batch) = consumer();
        batch.collect(10, || waker.wake_by_ref());
        batch.collect(10, || waker.wake_by_ref());
        assert_eq!(count.get(), 0, "woken before the burst ended");
        batch.flush();
        assert_eq!(count.get(), 2);
        // Outside routing, a wake is immediate.
        waker.wake_by_ref();
        assert_eq!(count.get(), 3);
    }

    #[test]
    fn a_long_burst_fires_its_wakes_every_so_many_frames_or_bytes() {
        let (count, waker, mut batch) = consumer();
        for _ in 0..MAX_BURST_FRAMES - 1 {
            batch.collect(1, || waker.wake_by_ref());
        }
        assert_eq!(count.get(), 0);
        batch.collect(1, || waker.wake_by_ref());
        assert_eq!(count.get(), MAX_BURST_FRAMES);
        batch.collect(MAX_BURST_BYTES, || waker.wake_by_ref());
        assert_eq!(count.get(), MAX_BURST_FRAMES + 1);
    }

    #[test]
    fn dropping_the_batch_or_panicking_in_routing_loses_no_wake() {
        let (count, waker, mut batch) = consumer();
        batch.collect(1, || waker.wake_by_ref());
        drop(batch);
        assert_eq!(count.get(), 1);

        let mut batch = WakeBatch::new(Arc::default());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            batch.collect(1, || {
                waker.wake_by_ref();
                panic!("routing failed");
            })
        }));
        assert!(panicked.is_err());
        assert_eq!(count.get(), 2);
        // The thread collects nothing any more.
        waker.wake_by_ref();
        assert_eq!(count.get(), 3);
    }

    /// Looks at the burst gate when woken, as a consumer does.
    struct LookWhenWoken {
        burst: Arc<Burst>,
        found_it_over: Mutex<Vec<bool>>,
    }

    impl Wake for LookWhenWoken {
        fn wake(self: Arc<Self>) {
            let gate = Waker::from(Arc::new(CountWakes::default()));
            let over = !self.burst.wait_for_end(&gate);
            self.found_it_over.lock().unwrap().push(over);
        }
    }

    #[test]
    fn the_burst_is_over_for_a_consumer_its_end_wakes() {
        let burst = Arc::new(Burst::default());
        let look = Arc::new(LookWhenWoken {
            burst: Arc::clone(&burst),
            found_it_over: Mutex::default(),
        });
        let waker = deferrable(&Waker::from(Arc::clone(&look)));
        let mut batch = WakeBatch::new(Arc::clone(&burst));
        batch.collect(1, || waker.wake_by_ref());
        assert!(burst.active.load(Ordering::SeqCst));
        batch.flush();
        assert_eq!(*look.found_it_over.lock().unwrap(), [true]);
    }

    #[test]
    fn waiting_for_the_end_of_a_burst() {
        let burst = Arc::new(Burst::default());
        let (count, _, mut batch) = consumer();
        batch.burst = Arc::clone(&burst);
        let waiter = Waker::from(Arc::clone(&count));
        assert!(!burst.wait_for_end(&waiter), "no burst: take now");
        batch.collect(1, || ());
        assert!(burst.wait_for_end(&waiter), "mid-burst: wait");
        assert_eq!(count.get(), 0);
        batch.flush();
        assert_eq!(count.get(), 1, "the end wakes the waiter");
        assert!(!burst.wait_for_end(&waiter));
    }

    #[test]
    fn a_wake_from_another_thread_is_never_held() {
        let (count, waker, mut batch) = consumer();
        batch.collect(1, || {
            let waker = waker.clone();
            std::thread::spawn(move || waker.wake_by_ref())
                .join()
                .unwrap();
        });
        assert_eq!(count.get(), 1);
    }
}
