//! An async client for the `codex app-server` JSON-RPC protocol.
//!
//! [`Session::spawn`] starts `codex app-server` and initializes it; [`Session::start_thread`]
//! opens a [`Thread`]; [`Thread::start_turn`] runs a [`Turn`] whose events arrive, in server
//! order, through [`EventStream`]s and whose [`TurnResult`] is assembled as they are routed.
//! Nothing here depends on Node.js; the napi binding is a thin layer on top.

mod approval;
mod connection;
mod contain;
pub mod discovery;
mod error;
pub mod frame;
mod input;
mod options;
pub mod process;
mod router;
mod server_request;
pub mod server_version;
mod session;
mod toml;
pub mod transport;
mod turn;
mod wake_batch;
pub mod ws;

pub use approval::{ApprovalPolicy, PolicyRouter};
pub use connection::{Connection, Diagnostic, Direction, MessageTap, RetryPolicy};
pub use discovery::{Arch, CodexPackage, Discovery, HostEnv, HostPlatform, Os};
pub use error::{Error, Result, RpcError, SERVER_OVERLOADED_CODE};
pub use frame::{Notification, ServerRequest};
pub use input::Input;
pub use options::millis;
pub use process::{ExitInfo, SpawnOptions, StderrListener, StderrTail};
pub use router::{RequestFate, SERVER_REQUEST_EVENT};
pub use server_request::{decline_response, DeclineAll, Reply, ServerRequestHandler};
pub use session::{
    ClientInfo, Session, SessionOptions, Thread, TransportKind, TurnSetup, WeakSession,
};
pub use toml::config_override;
pub use turn::{EventStream, Turn, TurnEnd, TurnResult};
