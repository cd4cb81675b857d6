//! The napi binding: JavaScript classes over `app-server-client`. Conversions only: options in,
//! JSON out, errors mapped to stable codes. No protocol logic lives here.

// napi-derive registers `#[napi]` exports only outside `cfg(test)`, so in the lib's test build
// every export called only from JavaScript looks unused.
#![cfg_attr(test, allow(dead_code))]

mod approval;
mod args;
mod batch;
mod callbacks;
mod errors;
mod interceptors;
mod lock;
mod options;
mod order;
mod pull;
mod pump;
mod session;
mod stream;
mod text;
mod thread;
mod tools;
mod turn;

// The option objects only describe the API (see options.rs); exported as what they are.
pub use options::{
    Interceptor, ReadOptions, RequestOptions, ResultOptions, SessionOptions, ThreadOptions,
    TurnControls,
};
pub use session::Session;

pub use thread::Thread;
pub use turn::Turn;

// Every event is allocated on the reader's thread and freed on another (a pump, or JavaScript's
// thread for the strings handed over); glibc's malloc serialises such frees on arena locks, and
// mimalloc does not (textStream throughput 1.2x -> 1.6x the baseline; bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's defaults suit a whole program, not a library inside someone's Electron app: it
/// commits whole arenas up front. Committing on use, an 8 MiB frame skipped for being over the
/// size limit leaves 2 MiB of RSS behind for up to a second (mimalloc's purge delay) instead of
/// 8 MiB for good. Purging at once would give 0.3 MiB but costs a third of the 1 KiB-event
/// throughput (pages faulted in again per turn). `MIMALLOC_*` variables still override this.
#[napi_derive::module_init]
fn configure_allocator() {
    // Its position in mimalloc's `mi_option_e` (libmimalloc-sys does not name it).
    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
    // SAFETY: a plain setter of mimalloc's option table, called once at load.
    unsafe { libmimalloc_sys::mi_option_set_default(ARENA_EAGER_COMMIT, 0) };
}
