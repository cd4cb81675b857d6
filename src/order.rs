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

/// The session's notification pump (for `onNotification` listeners), shared by the session and
/// every thread and turn made from it.
#[derive(Clone, Default)]
pub struct Order(Arc<Mutex<Option<Pump>>>);

impl Order {
    /// Replaces the pump (stopping the old one); `None` stops pumping.
    pub fn set(&self, pump: Option<Pump>) {
        let old = std::mem::replace(&mut *lock(&self.0), pump);
        if let Some(old) = old {
            old.abort();
        }
    }

    /// Resolves once JavaScript listeners have seen every notification queued so far; at once
    /// when nobody listens (no pump) or the pump stops meanwhile.
    pub async fn caught_up(&self) {
        let answer = lock(&self.0).as_ref().and_then(Pump::barrier);
        if let Some(answer) = answer {
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
