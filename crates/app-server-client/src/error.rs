//! Typed errors. Every variant maps to one stable string code (see [`Error::code`]) that the
//! binding exposes to JavaScript as `error.code`.

use std::time::Duration;

/// A JSON-RPC error object as the server sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    /// The raw `data` member, if any, as JSON text.
    pub data: Option<String>,
}

/// JSON-RPC error code the server uses when its ingress queue is full.
pub const SERVER_OVERLOADED_CODE: i64 = -32001;

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error(
        "could not start codex app-server: {reason}{}{}",
        tried_suffix(tried),
        stderr_suffix(stderr_tail)
    )]
    SpawnFailed {
        reason: String,
        tried: Vec<String>,
        stderr_tail: String,
    },

    #[error(
        "connection to codex app-server closed: {reason}{}",
        stderr_suffix(stderr_tail)
    )]
    TransportClosed { reason: String, stderr_tail: String },

    #[error("{method} got no answer within {} ms", timeout.as_millis())]
    RequestTimeout { method: String, timeout: Duration },

    #[error("{method} failed: {} (code {})", error.message, error.code)]
    Rpc { method: String, error: RpcError },

    #[error("{method} rejected: server overloaded ({})", error.message)]
    ServerOverloaded { method: String, error: RpcError },

    #[error("turn {turn_id} failed: {message}")]
    TurnFailed { turn_id: String, message: String },

    #[error("turn {turn_id} stalled: no event for {} ms (it can still be interrupted)", idle.as_millis())]
    TurnStalled { turn_id: String, idle: Duration },

    #[error("session is closed")]
    SessionClosed,

    #[error("protocol error: {0}")]
    Protocol(String),

    #[error("aborted: {0}")]
    Aborted(String),

    #[error("invalid argument `{name}`: {message}")]
    InvalidArgument { name: String, message: String },

    /// An interceptor returned null for this request (or for its response).
    #[error("{method}: dropped by an interceptor")]
    DroppedByInterceptor { method: String },

    /// An interceptor threw or returned something that is not a message; reported, and the
    /// message went on as it was.
    #[error("interceptor {index} failed on the {direction} {what}: {reason} (the message went on unchanged)")]
    InterceptorFailed {
        index: usize,
        direction: &'static str,
        what: String,
        reason: String,
    },
    /// A thread that a server restart could not bring back (an ephemeral one, or one the new
    /// server would not resume).
    #[error("thread {thread_id} was lost when its server was restarted: {reason}")]
    ThreadLost { thread_id: String, reason: String },
}

fn tried_suffix(tried: &[String]) -> String {
    if tried.is_empty() {
        String::new()
    } else {
        format!(". Tried: {}", tried.join("; "))
    }
}

fn stderr_suffix(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!("\n--- codex stderr (tail) ---\n{tail}")
    }
}

impl Error {
    /// The stable code surfaced to JavaScript.
    pub fn code(&self) -> &'static str {
        match self {
            Error::SpawnFailed { .. } => "SPAWN_FAILED",
            Error::TransportClosed { .. } => "TRANSPORT_CLOSED",
            Error::RequestTimeout { .. } => "REQUEST_TIMEOUT",
            Error::Rpc { .. } => "RPC_ERROR",
            Error::ServerOverloaded { .. } => "SERVER_OVERLOADED",
            Error::TurnFailed { .. } => "TURN_FAILED",
            Error::TurnStalled { .. } => "TURN_STALLED",
            Error::SessionClosed => "SESSION_CLOSED",
            Error::Protocol(_) => "PROTOCOL_ERROR",
            Error::Aborted(_) => "ABORTED",
            Error::InvalidArgument { .. } => "INVALID_ARGUMENT",
            Error::DroppedByInterceptor { .. } => "DROPPED_BY_INTERCEPTOR",
            Error::InterceptorFailed { .. } => "INTERCEPTOR_FAILED",
            Error::ThreadLost { .. } => "THREAD_LOST",
        }
    }

    pub fn invalid_argument(name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            name: name.into(),
            message: message.into(),
        }
    }

    /// The JSON-RPC error, for `RPC_ERROR` and `SERVER_OVERLOADED`.
    pub fn rpc_error(&self) -> Option<&RpcError> {
        match self {
            Error::Rpc { error, .. } | Error::ServerOverloaded { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The server's stderr tail, for transport errors.
    pub fn stderr_tail(&self) -> Option<&str> {
        match self {
            Error::TransportClosed { stderr_tail, .. } | Error::SpawnFailed { stderr_tail, .. } => {
                Some(stderr_tail)
            }
            _ => None,
        }
    }

    pub(crate) fn spawn_failed(reason: impl Into<String>, tried: Vec<String>) -> Self {
        Error::SpawnFailed {
            reason: reason.into(),
            tried,
            stderr_tail: String::new(),
        }
    }

    pub(crate) fn from_rpc(method: &str, error: RpcError) -> Self {
        if error.code == SERVER_OVERLOADED_CODE {
            Error::ServerOverloaded {
                method: method.to_owned(),
                error,
            }
        } else {
            Error::Rpc {
                method: method.to_owned(),
                error,
            }
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
