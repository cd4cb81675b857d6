//! The napi binding: JavaScript classes over `app-server-client`. Conversions only: options in,
//! JSON out, errors mapped to stable codes. No protocol logic lives here.

mod approval;
mod errors;
mod pump;
mod session;
mod thread;
mod turn;

pub use session::Session;
pub use thread::Thread;
pub use turn::Turn;
