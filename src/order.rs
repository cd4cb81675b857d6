//! DESIGN.md rule 8: a response settles only after the notifications the server sent before
//! it were delivered.
//!
//! A response and the notifications before it reach JavaScript by different queues (the
//! promise's completion, the notification pump's ThreadsafeFunction calls), so their order
//! there would be left to chance. Every response-carrying method therefore waits, once its
//! answer is in, for [`Order::caught_up`]: the session's pump delivers every notification the
//! router had queued by then and answers once JavaScript has returned from all of them. The
//! reader queued those notifications before it resolved the response (it handles frames in
//! order), so "queued by then" covers "sent before the response".

use std::sync::{Arc, Mutex};

use crate::lock::lock;
use crate::pump::Pump;

/// The session's notification pump (for `onNotification` listeners) and the pumps of its
/// threads' `onEvent` callbacks, shared by the session and every thread and turn made from it.
#[derive(Clone, Default)]
pub struct Order(Arc<Mutex<Option<Pump>>>, Arc<Mutex<ThreadPumps>>);

/// The `thread.onEvent` pumps, by key. Empty unless someone subscribed: a response then waits
/// for the session's pump alone, as before.
#[derive(Default)]
struct ThreadPumps {
    next: u32,
    pumps: Vec<(u32, Pump)>,
}

impl Order {
    /// Replaces the pump (stopping the old one); `None` stops pumping.
    pub fn set(&self, pump: Option<Pump>) {
        let old = std::mem::replace(&mut *lock(&self.0), pump);
        if let Some(old) = old {
            old.abort();
        }
    }

    /// Adds a thread's `onEvent` pump; the key removes it.
    pub fn add_thread_pump(&self, pump: Pump) -> u32 {
        let mut threads = lock(&self.1);
        // Those that ended (their stream closed) go now.
        threads.pumps.retain(|(_, p)| !*p.done.borrow());
        threads.next = threads.next.wrapping_add(1);
        let key = threads.next;
        threads.pumps.push((key, pump));
        key
    }

    /// Stops and forgets a thread pump; false when there was none of that key.
    pub fn remove_thread_pump(&self, key: u32) -> bool {
        let mut threads = lock(&self.1);
        let before = threads.pumps.len();
        threads.pumps.retain(|(k, p)| {
            if *k == key {
                p.abort();
            }
            *k != key
        });
        threads.pumps.len() != before
    }

    /// Resolves once JavaScript listeners (and thread `onEvent` callbacks) have seen every
    /// notification queued so far; at once when nobody listens (no pump) or the pumps stop
    /// meanwhile.
    pub async fn caught_up(&self) {
        let answer = lock(&self.0).as_ref().and_then(Pump::barrier);
        let threads: Vec<_> = {
            let threads = lock(&self.1);
            threads
                .pumps
                .iter()
                .filter_map(|(_, p)| p.barrier())
                .collect()
        };
        if let Some(answer) = answer {
            let _ = answer.await;
        }
        for answer in threads {
            let _ = answer.await;
        }
    }
}

impl Order {
    /// `fut`'s output, once JavaScript has caught up with the notifications queued before it.
    pub async fn after<T>(self, fut: impl std::future::Future<Output = T>) -> T {
        let out = fut.await;
        self.caught_up().await;
        out
    }
}
