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

#[cfg(test)]
mod tests {
    //! `run_one` against a connection whose other end is the test: what the server receives for
    //! each way a request can end. Every read is bounded, so a request left unanswered fails
    //! the test instead of hanging it.

    use super::*;
    use crate::connection::line_peer::LinePeer as Peer;
    use crate::frame::{decode, Incoming};
    use serde_json::{json, Value};

    fn request(id: u64, method: &str) -> ServerRequest {
        let frame = json!({"id": id, "method": method, "params": {"threadId": "t"}});
        match decode(&frame.to_string()) {
            Ok(Incoming::ServerRequest(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn pending() -> watch::Receiver<RequestFate> {
        let (tx, rx) = watch::channel(RequestFate::Pending);
        std::mem::forget(tx); // stays pending
        rx
    }

    /// What the server gets when the default policy declines `method`.
    async fn declined(method: &str) -> Value {
        let mut peer = Peer::new();
        run_one(
            &peer.conn,
            &DeclineAll,
            request(7, method),
            pending(),
            None,
            None,
        )
        .await;
        let frame = peer.next().await;
        assert_eq!(frame["id"], 7, "{frame}");
        frame
    }

    #[tokio::test]
    async fn each_decline_is_the_protocols_own_refusal() {
        // Pinned against the schema of the pinned codex (protocol/): each is the response
        // type's "no" that does not fail the turn.
        for (method, result) in [
            (
                "item/commandExecution/requestApproval",
                json!({"decision": "decline"}),
            ),
            (
                "item/fileChange/requestApproval",
                json!({"decision": "decline"}),
            ),
            (
                "execCommandApproval",
                json!({"decision": {"denied": {"rejection": "declined by the client's approval policy"}}}),
            ),
            (
                "applyPatchApproval",
                json!({"decision": {"denied": {"rejection": "declined by the client's approval policy"}}}),
            ),
            (
                "mcpServer/elicitation/request",
                json!({"action": "decline", "content": null, "_meta": null}),
            ),
            (
                "item/permissions/requestApproval",
                json!({"permissions": {}, "scope": "turn"}),
            ),
        ] {
            assert_eq!(
                declined(method).await,
                json!({"id": 7, "result": result}),
                "{method}"
            );
        }
    }

    #[tokio::test]
    async fn a_method_with_no_refusal_of_its_own_gets_method_not_found() {
        let frame = declined("item/tool/call").await;
        assert_eq!(frame["error"]["code"], -32601, "{frame}");
        let message = frame["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("item/tool/call: declined by the default"),
            "{message}"
        );
    }

    /// A handler that never answers.
    struct Never;
    impl ServerRequestHandler for Never {
        fn handle(&self, _: ServerRequest) -> BoxFuture<'static, Reply> {
            Box::pin(std::future::pending())
        }
    }

    #[tokio::test]
    async fn a_request_the_server_resolved_itself_gets_no_answer() {
        let mut peer = Peer::new();
        let (fate, rx) = watch::channel(RequestFate::Pending);
        let run = run_one(
            &peer.conn,
            &Never,
            request(7, "item/tool/call"),
            rx,
            None,
            None,
        );
        fate.send_replace(RequestFate::ResolvedByServer);
        run.await;
        // Whatever run_one sent is queued before this; the first frame must be the marker.
        peer.conn.notify("marker", None).unwrap();
        assert_eq!(peer.next().await, json!({"method": "marker"}));
    }

    #[tokio::test]
    async fn a_request_whose_turn_ended_is_declined() {
        let mut peer = Peer::new();
        let (fate, rx) = watch::channel(RequestFate::Pending);
        let run = run_one(
            &peer.conn,
            &Never,
            request(7, "item/fileChange/requestApproval"),
            rx,
            None,
            None,
        );
        fate.send_replace(RequestFate::TurnEnded);
        run.await;
        assert_eq!(
            peer.next().await,
            json!({"id": 7, "result": {"decision": "decline"}})
        );
    }

    /// A handler whose future panics.
    struct Panics;
    impl ServerRequestHandler for Panics {
        fn handle(&self, _: ServerRequest) -> BoxFuture<'static, Reply> {
            Box::pin(async { panic!("handler bug") })
        }
    }

    #[tokio::test]
    async fn a_request_whose_handler_died_is_still_answered() {
        let mut peer = Peer::new();
        let conn = peer.conn.clone();
        let task = tokio::spawn(async move {
            run_one(
                &conn,
                &Panics,
                request(7, "item/tool/call"),
                pending(),
                None,
                None,
            )
            .await
        });
        assert!(task.await.unwrap_err().is_panic());
        let frame = peer.next().await;
        assert_eq!(frame["id"], 7, "{frame}");
        assert_eq!(frame["error"]["code"], -32603, "{frame}"); // JSON-RPC internal error
        assert_eq!(frame["error"]["message"], "item/tool/call: handler failed");
    }
}
