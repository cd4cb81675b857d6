//! A batch of events as the text that crosses into JavaScript: shared by the callback pump
//! (src/pump.rs) and the pulls (src/pull.rs).

use std::sync::Arc;

use app_server_client::Notification;

/// Most events carried by one crossing into JavaScript.
pub const MAX_BATCH: usize = 4096;

/// Most frame bytes carried by one batch (but always at least one event). It keeps the
/// batch's string out of V8's large-object space: a string over 128 KiB gets pages of its own,
/// mapped when it is made and unmapped after the next GC, and the unmapping's TLB shootdowns
/// interrupt every core (bench/README.md).
pub const MAX_BATCH_BYTES: usize = 112 * 1024;

/// `[frame,frame,...]`: the frames are the server's own JSON text, copied once.
pub fn batch_json(batch: &[Arc<Notification>]) -> String {
    let len = batch.iter().map(|n| n.raw.len() + 1).sum::<usize>() + 2;
    let mut out = String::with_capacity(len);
    out.push('[');
    for (i, n) in batch.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&n.raw);
    }
    out.push(']');
    out
}

/// The agent-message text deltas of a batch, concatenated.
pub fn batch_text(batch: &[Arc<Notification>]) -> String {
    let deltas = || {
        batch
            .iter()
            .filter(|n| n.method() == "item/agentMessage/delta")
            .filter_map(|n| n.delta())
    };
    // Sized first: a batch of large deltas is megabytes, and growing it would copy it repeatedly.
    let mut out = String::with_capacity(deltas().map(str::len).sum());
    deltas().for_each(|delta| out.push_str(delta));
    out
}
