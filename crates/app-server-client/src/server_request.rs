//! Answering requests the server sends us (approvals, tool calls, ...). Each is answered
//! exactly once: by the handler, by the fail-closed default, or with a JSON-RPC error.

use std::sync::Arc;

use serde_json::value::RawValue;
use tokio::sync::mpsc;

use crate::connection::Connection;
use crate::error::RpcError;
use crate::frame::ServerRequest;
use crate::transport::BoxFuture;

/// How a handler answers.
#[derive(Debug)]
pub enum Reply {
    /// The `result` to send, as JSON.
    Result(Box<RawValue>),
    /// A JSON-RPC error to send.
    Error(RpcError),
    /// Refuse: the method's own "decline" answer, or a JSON-RPC error where it has none.
    Decline { reason: String },
}

pub trait ServerRequestHandler: Send + Sync + 'static {
    fn handle(&self, request: ServerRequest) -> BoxFuture<'static, Reply>;
}

/// The fail-closed default: declines everything.
pub struct DeclineAll;

impl ServerRequestHandler for DeclineAll {
    fn handle(&self, _request: ServerRequest) -> BoxFuture<'static, Reply> {
        Box::pin(async { Reply::Decline { reason: "declined by the default approval policy".into() } })
    }
}

pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INTERNAL_ERROR: i64 = -32603;

/// The answer that refuses `method` without failing the turn, where the protocol has one.
pub fn decline_response(method: &str) -> Option<&'static str> {
    Some(match method {
        "item/commandExecution/requestApproval" | "item/fileChange/requestApproval" => r#"{"decision":"decline"}"#,
        "execCommandApproval" | "applyPatchApproval" => {
            r#"{"decision":{"denied":{"rejection":"declined by the client's approval policy"}}}"#
        }
        "mcpServer/elicitation/request" => r#"{"action":"decline","content":null,"_meta":null}"#,
        // Grants nothing.
        "item/permissions/requestApproval" => r#"{"permissions":{},"scope":"turn"}"#,
        _ => return None,
    })
}

/// Runs until the connection's request channel closes; one task per request so that a slow
/// handler (a human deciding) never holds up another request or the event stream.
pub(crate) async fn dispatch(
    mut requests: mpsc::UnboundedReceiver<ServerRequest>,
    conn: Connection,
    handler: Arc<dyn ServerRequestHandler>,
) {
    while let Some(request) = requests.recv().await {
        let conn = conn.clone();
        let handler = Arc::clone(&handler);
        tokio::spawn(async move {
            let guard = AnswerOnce { conn: &conn, id: &request.id, method: request.method.clone(), sent: false };
            let reply = handler.handle(request.clone()).await;
            guard.answer(reply);
        });
    }
}

/// Makes sure a request is answered even if its handler task dies.
struct AnswerOnce<'a> {
    conn: &'a Connection,
    id: &'a RawValue,
    method: String,
    sent: bool,
}

impl AnswerOnce<'_> {
    fn answer(mut self, reply: Reply) {
        self.sent = true;
        let outcome = match reply {
            Reply::Result(result) => Ok(result),
            Reply::Error(e) => Err(e),
            Reply::Decline { reason } => match decline_response(&self.method) {
                Some(json) => RawValue::from_string(json.to_owned()).map_err(|e| RpcError {
                    code: INTERNAL_ERROR,
                    message: e.to_string(),
                    data: None,
                }),
                None => Err(RpcError {
                    code: METHOD_NOT_FOUND,
                    message: format!("{}: {reason}", self.method),
                    data: None,
                }),
            },
        };
        let _ = match &outcome {
            Ok(r) => self.conn.respond(self.id, Ok(r)),
            Err(e) => self.conn.respond(self.id, Err(e)),
        };
    }
}

impl Drop for AnswerOnce<'_> {
    fn drop(&mut self) {
        if !self.sent {
            let error = RpcError { code: INTERNAL_ERROR, message: format!("{}: handler failed", self.method), data: None };
            let _ = self.conn.respond(self.id, Err(&error));
        }
    }
}
