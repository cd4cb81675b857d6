//! An async client for the `codex app-server` JSON-RPC protocol.
//!
//! [`Session::spawn`] starts `codex app-server` and initializes it; [`Session::start_thread`]
//! opens a [`Thread`]; [`Thread::start_turn`] runs a [`Turn`] whose events arrive, in server
//! order, through [`EventStream`]s and whose [`TurnResult`] is assembled as they are routed.
//! Nothing here depends on Node.js; the napi binding is a thin layer on top.
//!
//! Modules, bottom to top; each depends only on those above it in this list, never on a later
//! one (`node scripts/module-cycles.mjs crates/app-server-client/src` checks there are no
//! circles; `__test__/module-cycles.test.js` runs it in CI):
//! - `error`, `lock`: typed errors; the one poison-tolerant way to take a `Mutex`.
//! - `frame` (incoming frames decoded), `outgoing` (frames we send, encoded with serde),
//!   `transport`/`ws` (frame I/O: lines over any byte stream, pipes or pushed chunks;
//!   websockets), `input`, `toml`, `server_version`, `discovery`, `contain`:
//!   leaves that know nothing of connections or turns.
//! - `intercept`: the interceptor chain that may change or drop messages in either direction.
//! - `wake_batch`: the reader's per-burst wakes of event-stream consumers.
//! - `turn_state`: a turn's routed state: its outlets, result accumulator, outcome, watchdog.
//! - `router`: where each notification and server request goes (turns, listeners).
//! - `connection`: the reader and writer tasks and the requests in flight.
//! - `turn`: [`EventStream`] and [`Turn`], the owner's side of a turn.
//! - `server_request`, `approval`: answering the server's requests.
//! - `process`: the `codex app-server` child and its containment.
//! - `session`, then `options`: [`Session`], [`Thread`], and their options parsed from JSON.

mod approval;
mod connection;
mod contain;
pub mod discovery;
mod error;
pub mod frame;
mod input;
mod intercept;
mod lock;
mod options;
mod outgoing;
pub mod process;
mod router;
mod server_request;
pub mod server_version;
mod session;
mod toml;
pub mod transport;
mod turn;
mod turn_state;
mod wake_batch;
pub mod ws;

pub use approval::{ApprovalPolicy, PolicyRouter};
pub use connection::{Connection, Diagnostic, Direction, MessageTap, RetryPolicy};
pub use discovery::{Arch, CodexPackage, Discovery, HostEnv, HostPlatform, Os};
pub use error::{Error, Result, RpcError, SERVER_OVERLOADED_CODE};
pub use frame::{Notification, ServerRequest};
pub use input::Input;
pub use intercept::{InterceptResult, Interceptor};
pub use options::millis;
pub use process::{ExitInfo, SpawnOptions, StderrListener, StderrTail};
pub use router::{RequestFate, SERVER_REQUEST_EVENT};
pub use server_request::{decline_response, DeclineAll, Reply, ServerRequestHandler};
pub use session::{
    ClientInfo, RestartEvent, RestartListener, RestartPolicy, Session, SessionOptions, Thread,
    TransportKind, TurnSetup, WeakSession,
};
pub use toml::{config_override, non_finite_error};
pub use turn::{EventStream, Turn};
pub use turn_state::{TurnEnd, TurnResult};
