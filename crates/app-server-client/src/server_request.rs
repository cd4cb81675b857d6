//! Answering requests the server sends us (approvals, tool calls, ...). Each is answered
//! exactly once: by the handler, by the fail-closed default, or with a JSON-RPC error.

use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::sync::{mpsc, watch};

use crate::connection::{Connection, Diagnostic};
use crate::error::{Error, RpcError};
use crate::frame::ServerRequest;
use crate::router::RequestFate;
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
        Box::pin(async {
            Reply::Decline {
                reason: "declined by the default approval policy".into(),
            }
        })
    }
}

pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INTERNAL_ERROR: i64 = -32603;

/// The answer that refuses `method` without failing the turn, where the protocol has one.
pub fn decline_response(method: &str) -> Option<&'static str> {
    Some(match method {
        "item/commandExecution/requestApproval" | "item/fileChange/requestApproval" => {
            r#"{"decision":"decline"}"#
        }
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
    mut requests: mpsc::UnboundedReceiver<(ServerRequest, u64, watch::Receiver<RequestFate>)>,
    conn: Connection,
    handler: Arc<dyn ServerRequestHandler>,
    handler_timeout: Option<Duration>,
    diagnostics: Option<mpsc::UnboundedSender<Diagnostic>>,
) {
    while let Some((request, key, fate)) = requests.recv().await {
        let conn = conn.clone();
        let handler = Arc::clone(&handler);
        let diagnostics = diagnostics.clone();
        tokio::spawn(async move {
            run_one(
                &conn,
                handler.as_ref(),
                request,
                fate,
                handler_timeout,
                diagnostics.as_ref(),
            )
            .await;
            conn.forget_server_request(key);
        });
    }
}

enum Outcome {
    Reply(Reply),
    TimedOut(Duration),
    Fate(RequestFate),
}

async fn run_one(
    conn: &Connection,
    handler: &dyn ServerRequestHandler,
    request: ServerRequest,
    mut fate: watch::Receiver<RequestFate>,
    handler_timeout: Option<Duration>,
    diagnostics: Option<&mpsc::UnboundedSender<Diagnostic>>,
) {
    let guard = AnswerOnce {
        conn,
        id: &request.id,
        method: request.method.clone(),
        sent: false,
    };
    let decision = handler.handle(request.clone());
    let decision = async {
        match handler_timeout {
            Some(limit) => match tokio::time::timeout(limit, decision).await {
                Ok(reply) => Outcome::Reply(reply),
                Err(_) => Outcome::TimedOut(limit),
            },
            None => Outcome::Reply(decision.await),
        }
    };
    // Dropping `decision` (when the request stops being pending) is what tells a JavaScript
    // handler to abort.
    let outcome = tokio::select! {
        outcome = decision => outcome,
        fate = fate.wait_for(|f| *f != RequestFate::Pending) => {
            Outcome::Fate(fate.map(|f| *f).unwrap_or(RequestFate::Closed))
        }
    };
    match outcome {
        Outcome::Reply(reply) => guard.answer(reply),
        Outcome::TimedOut(limit) => {
            if let Some(tx) = diagnostics {
                let _ = tx.send(Diagnostic {
                    error: Error::RequestTimeout {
                        method: format!("handler for {}", request.method),
                        timeout: limit,
                    },
                });
            }
            guard.answer(Reply::Decline {
                reason: format!("handler gave no answer within {} ms", limit.as_millis()),
            });
        }
        Outcome::Fate(RequestFate::TurnEnded) => guard.answer(Reply::Decline {
            reason: "its turn ended".into(),
        }),
        // Resolved by the server, or nobody left to answer: nothing is due.
        Outcome::Fate(_) => guard.skip(),
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
    fn skip(mut self) {
        self.sent = true;
    }

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
            let error = RpcError {
                code: INTERNAL_ERROR,
                message: format!("{}: handler failed", self.method),
                data: None,
            };
            let _ = self.conn.respond(self.id, Err(&error));
        }
    }
}
