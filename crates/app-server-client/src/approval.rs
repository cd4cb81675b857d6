//! Which answer each server request gets: the session's overrides, the thread's policy or
//! the session's, and the built-in policies. Fail closed: anything not explicitly allowed is
//! declined.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::frame::ServerRequest;
use crate::lock::lock;
use crate::server_request::{Reply, ServerRequestHandler};
use crate::transport::BoxFuture;

pub const COMMAND_APPROVAL: &str = "item/commandExecution/requestApproval";
pub const FILE_CHANGE_APPROVAL: &str = "item/fileChange/requestApproval";
pub const LEGACY_EXEC_APPROVAL: &str = "execCommandApproval";
pub const LEGACY_PATCH_APPROVAL: &str = "applyPatchApproval";
pub const PERMISSIONS_APPROVAL: &str = "item/permissions/requestApproval";

/// How approvals and other server requests are answered.
#[derive(Clone, Default)]
pub enum ApprovalPolicy {
    /// Decline everything (the default).
    #[default]
    AutoDecline,
    /// Accept command executions, file changes and permission requests; decline the rest.
    AutoAccept,
    /// Accept command executions only.
    CommandsOnly,
    /// Ask `handler` for the listed methods; decline the rest.
    Custom {
        methods: HashSet<String>,
        handler: Arc<dyn ServerRequestHandler>,
    },
}

impl std::fmt::Debug for ApprovalPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApprovalPolicy::AutoDecline => f.write_str("AutoDecline"),
            ApprovalPolicy::AutoAccept => f.write_str("AutoAccept"),
            ApprovalPolicy::CommandsOnly => f.write_str("CommandsOnly"),
            ApprovalPolicy::Custom { methods, .. } => {
                f.debug_struct("Custom").field("methods", methods).finish()
            }
        }
    }
}

fn raw(json: &str) -> Reply {
    match RawValue::from_string(json.to_owned()) {
        Ok(r) => Reply::Result(r),
        Err(e) => Reply::Decline {
            reason: format!("internal: {e}"),
        },
    }
}

fn accept(request: &ServerRequest) -> Option<Reply> {
    Some(match request.method.as_str() {
        COMMAND_APPROVAL | FILE_CHANGE_APPROVAL => raw(r#"{"decision":"accept"}"#),
        LEGACY_EXEC_APPROVAL | LEGACY_PATCH_APPROVAL => raw(r#"{"decision":"approved"}"#),
        PERMISSIONS_APPROVAL => {
            // Grant exactly what was asked (its JSON as the server sent it), for this turn;
            // nothing when the request names nothing.
            let asked = serde_json::from_str::<PermissionsAsked>(request.params.get()).ok();
            let empty = RawValue::from_string("{}".into()).ok();
            let grant = PermissionsGrant {
                permissions: asked.and_then(|a| a.permissions).or(empty.as_deref()),
                scope: "turn",
            };
            match serde_json::value::to_raw_value(&grant) {
                Ok(result) => Reply::Result(result),
                Err(e) => Reply::Decline {
                    reason: format!("internal: {e}"),
                },
            }
        }
        _ => return None,
    })
}

/// The part of a permissions request that `autoAccept` reads: what it asks for, borrowed.
#[derive(Deserialize)]
struct PermissionsAsked<'a> {
    #[serde(borrow, default)]
    permissions: Option<&'a RawValue>,
}

#[derive(Serialize)]
struct PermissionsGrant<'a> {
    permissions: Option<&'a RawValue>,
    scope: &'static str,
}

impl ApprovalPolicy {
    fn decide(&self, request: ServerRequest) -> BoxFuture<'static, Reply> {
        let decline = |why: &str| -> BoxFuture<'static, Reply> {
            let reason = why.to_owned();
            Box::pin(async move { Reply::Decline { reason } })
        };
        match self {
            ApprovalPolicy::AutoDecline => decline("declined by the autoDecline approval policy"),
            ApprovalPolicy::AutoAccept => match accept(&request) {
                Some(reply) => Box::pin(async move { reply }),
                None => decline("autoAccept answers approvals only"),
            },
            ApprovalPolicy::CommandsOnly => match request.method.as_str() {
                COMMAND_APPROVAL | LEGACY_EXEC_APPROVAL => {
                    let reply = accept(&request);
                    Box::pin(async move {
                        reply.unwrap_or(Reply::Decline {
                            reason: "unreachable".into(),
                        })
                    })
                }
                _ => decline("declined by the commandsOnly approval policy"),
            },
            ApprovalPolicy::Custom { methods, handler } => {
                if methods.contains(&request.method) {
                    handler.handle(request)
                } else {
                    decline("no handler for this request in the custom approval policy")
                }
            }
        }
    }
}

/// The session's routing of server requests. Shared with the session so policies can change
/// while it runs (per-thread policies, overrides registered later).
#[derive(Default)]
pub struct PolicyRouter {
    /// Fixed when the session opens (threads and overrides change; this does not).
    session_policy: ApprovalPolicy,
    thread_policies: Mutex<HashMap<String, ApprovalPolicy>>,
    overrides: Mutex<HashMap<String, Arc<dyn ServerRequestHandler>>>,
}

impl PolicyRouter {
    pub fn new(session_policy: ApprovalPolicy) -> Self {
        PolicyRouter {
            session_policy,
            ..Default::default()
        }
    }

    /// A policy for one thread, overriding the session's (`None` removes it).
    pub fn set_thread_policy(&self, thread_id: &str, policy: Option<ApprovalPolicy>) {
        let mut map = lock(&self.thread_policies);
        match policy {
            Some(p) => map.insert(thread_id.to_owned(), p),
            None => map.remove(thread_id),
        };
    }

    /// A handler for every request of `method`, ahead of any policy (`None` removes it).
    pub fn set_override(&self, method: &str, handler: Option<Arc<dyn ServerRequestHandler>>) {
        let mut map = lock(&self.overrides);
        match handler {
            Some(h) => map.insert(method.to_owned(), h),
            None => map.remove(method),
        };
    }
}

impl ServerRequestHandler for PolicyRouter {
    fn handle(&self, request: ServerRequest) -> BoxFuture<'static, Reply> {
        if let Some(handler) = lock(&self.overrides).get(&request.method).cloned() {
            return handler.handle(request);
        }
        let thread_policy = request
            .thread_id
            .as_deref()
            .and_then(|t| lock(&self.thread_policies).get(t).cloned());
        let policy = thread_policy.unwrap_or_else(|| self.session_policy.clone());
        policy.decide(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{decode, Incoming};
    use serde_json::json;

    fn request(method: &str, thread: &str) -> ServerRequest {
        let frame = json!({"id": 1, "method": method, "params": {"threadId": thread, "permissions": {"network": {"enabled": true}}}});
        match decode(&frame.to_string()) {
            Ok(Incoming::ServerRequest(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn answer(router: &PolicyRouter, method: &str, thread: &str) -> String {
        let reply = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(router.handle(request(method, thread)));
        match reply {
            Reply::Result(r) => r.get().to_owned(),
            Reply::Decline { .. } => "decline".into(),
            Reply::Error(e) => format!("error {}", e.code),
        }
    }

    struct Fixed(&'static str);
    impl ServerRequestHandler for Fixed {
        fn handle(&self, _: ServerRequest) -> BoxFuture<'static, Reply> {
            let json = self.0;
            Box::pin(async move { raw(json) })
        }
    }

    #[test]
    fn debug_names_the_policy_and_never_prints_the_handler() {
        assert_eq!(format!("{:?}", ApprovalPolicy::AutoDecline), "AutoDecline");
        assert_eq!(format!("{:?}", ApprovalPolicy::AutoAccept), "AutoAccept");
        assert_eq!(
            format!("{:?}", ApprovalPolicy::CommandsOnly),
            "CommandsOnly"
        );
        let custom = ApprovalPolicy::Custom {
            methods: HashSet::from(["item/tool/call".to_owned()]),
            handler: Arc::new(Fixed("{}")),
        };
        assert_eq!(
            format!("{custom:?}"),
            r#"Custom { methods: {"item/tool/call"} }"#
        );
    }

    #[test]
    fn default_declines_everything() {
        let r = PolicyRouter::default();
        for m in [
            COMMAND_APPROVAL,
            FILE_CHANGE_APPROVAL,
            PERMISSIONS_APPROVAL,
            "item/tool/call",
            "x/y",
        ] {
            assert_eq!(answer(&r, m, "t"), "decline", "{m}");
        }
    }

    #[test]
    fn built_in_policies() {
        let accept_all = PolicyRouter::new(ApprovalPolicy::AutoAccept);
        assert_eq!(
            answer(&accept_all, COMMAND_APPROVAL, "t"),
            r#"{"decision":"accept"}"#
        );
        assert_eq!(
            answer(&accept_all, FILE_CHANGE_APPROVAL, "t"),
            r#"{"decision":"accept"}"#
        );
        assert_eq!(
            answer(&accept_all, LEGACY_PATCH_APPROVAL, "t"),
            r#"{"decision":"approved"}"#
        );
        assert_eq!(
            answer(&accept_all, PERMISSIONS_APPROVAL, "t"),
            r#"{"permissions":{"network":{"enabled":true}},"scope":"turn"}"#
        );
        assert_eq!(
            answer(&accept_all, "item/tool/requestUserInput", "t"),
            "decline"
        );
        let commands = PolicyRouter::new(ApprovalPolicy::CommandsOnly);
        assert_eq!(
            answer(&commands, COMMAND_APPROVAL, "t"),
            r#"{"decision":"accept"}"#
        );
        assert_eq!(answer(&commands, FILE_CHANGE_APPROVAL, "t"), "decline");
    }

    #[test]
    fn thread_policy_overrides_session_and_overrides_beat_both() {
        let r = PolicyRouter::new(ApprovalPolicy::AutoAccept);
        r.set_thread_policy("strict", Some(ApprovalPolicy::AutoDecline));
        assert_eq!(answer(&r, COMMAND_APPROVAL, "strict"), "decline");
        assert_eq!(
            answer(&r, COMMAND_APPROVAL, "other"),
            r#"{"decision":"accept"}"#
        );
        r.set_override(
            COMMAND_APPROVAL,
            Some(Arc::new(Fixed(r#"{"decision":"cancel"}"#))),
        );
        assert_eq!(
            answer(&r, COMMAND_APPROVAL, "strict"),
            r#"{"decision":"cancel"}"#
        );
        r.set_override(COMMAND_APPROVAL, None);
        r.set_thread_policy("strict", None);
        assert_eq!(
            answer(&r, COMMAND_APPROVAL, "strict"),
            r#"{"decision":"accept"}"#
        );
    }

    #[test]
    fn custom_policy_asks_its_handler_only_for_its_methods() {
        let methods = [FILE_CHANGE_APPROVAL.to_owned()].into_iter().collect();
        let r = PolicyRouter::new(ApprovalPolicy::Custom {
            methods,
            handler: Arc::new(Fixed(r#"{"decision":"acceptForSession"}"#)),
        });
        assert_eq!(
            answer(&r, FILE_CHANGE_APPROVAL, "t"),
            r#"{"decision":"acceptForSession"}"#
        );
        assert_eq!(answer(&r, COMMAND_APPROVAL, "t"), "decline");
    }
}
