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

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Most frames routed before collected wakes fire.
pub(crate) const MAX_BURST_FRAMES: usize = 256;
/// Most frame bytes routed before collected wakes fire.
pub(crate) const MAX_BURST_BYTES: usize = 64 * 1024;

thread_local! {
    /// The wakes collected on this thread, while a [`WakeBatch`] routes a frame.
    static COLLECTED: RefCell<Option<Vec<Waker>>> = const { RefCell::new(None) };
}

/// The reader's collector of wakes (one per connection's read loop).
pub(crate) struct WakeBatch {
    wakers: Vec<Waker>,
    frames: usize,
    bytes: usize,
}

impl WakeBatch {
    pub(crate) fn new() -> Self {
        WakeBatch {
            wakers: Vec::new(),
            frames: 0,
            bytes: 0,
        }
    }

    /// Runs `route` (the routing of one frame of `size` bytes) with stream wakes collected.
    /// Synchronous on purpose: collection is per thread, and must not span an `.await`.
    pub(crate) fn collect<R>(&mut self, size: usize, route: impl FnOnce() -> R) -> R {
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

    /// Fires every collected wake.
    pub(crate) fn flush(&mut self) {
        self.frames = 0;
        self.bytes = 0;
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
struct Collecting(Option<()>);

impl Collecting {
    fn start(into: Vec<Waker>) -> Self {
        COLLECTED.with(|c| {
            let previous = c.borrow_mut().replace(into);
            debug_assert!(previous.is_none(), "wake collections do not nest");
        });
        Collecting(Some(()))
    }

    fn stop(mut self) -> Vec<Waker> {
        self.0 = None;
        COLLECTED
            .with(|c| c.borrow_mut().take())
            .unwrap_or_default()
    }
}

impl Drop for Collecting {
    fn drop(&mut self) {
        if self.0.is_some() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl CountWakes {
        fn get(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// A consumer that counts its wakes, the deferrable waker for it, and a fresh batch.
    fn consumer() -> (Arc<CountWakes>, Waker, WakeBatch) {
        let count = Arc::new(CountWakes::default());
        let waker = deferrable(&Waker::from(Arc::clone(&count)));
        (count, waker, WakeBatch::new())
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

        let mut batch = WakeBatch::new();
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
