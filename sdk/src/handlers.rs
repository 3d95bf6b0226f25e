//! [`ApprovalHandler`], the closure-based [`ServerRequestHandler`] for the common case
//! (the glue between the generated trait and the runtime is `rpc/typed_handlers.rs`).

use crate::methods::ServerRequestHandler;
use crate::rpc::typed_handlers::fail_closed;
use crate::types::{
    CommandExecutionApprovalDecision, CommandExecutionRequestApprovalParams, CommandExecutionRequestApprovalResponse,
    FileChangeApprovalDecision, FileChangeRequestApprovalParams, FileChangeRequestApprovalResponse,
};
use crate::RpcError;
use futures_util::future::BoxFuture;
use std::future::Future;
use std::sync::Arc;

type Decide<P, D> = Arc<dyn Fn(P) -> BoxFuture<'static, D> + Send + Sync>;

/// A [`ServerRequestHandler`] made of closures for the two everyday approvals; every
/// other request keeps the fail-closed default.
///
/// A handler that is set is asked: on a client with one, `thread_start` without an
/// approval mode asks for on-request approvals reviewed by the user
/// ([`ApprovalMode::AskUser`](crate::ApprovalMode::AskUser)), whatever the server's
/// `approval_policy` (the test kit's `CodexHome` writes `never`). An explicit
/// [`ThreadOptions::approval_mode`](crate::ThreadOptions::approval_mode) wins;
/// `thread_resume` and `thread_fork` keep a thread's policy unless one is set.
///
/// Each request is decided in its own task. If the connection closes while a decision is
/// pending (the app-server exits or is killed, the client is closed or dropped), the
/// closure's future is dropped at its next `.await` and no reply is sent; release what it
/// holds with drop guards (see [`RawServerRequestHandler`](crate::rpc::RawServerRequestHandler)). What a closure prints can
/// interleave with a streamed answer; a CLI that wants one ordered flow answers in the
/// turn's own stream with [`Thread::turn_with_requests`](crate::Thread::turn_with_requests).
///
/// ```
/// use codex_driver::ApprovalHandler;
/// use codex_driver::types::{CommandExecutionApprovalDecision, FileChangeApprovalDecision};
///
/// let handler = ApprovalHandler::new()
///     .on_command_execution(|request| async move {
///         if request.command.as_deref().is_some_and(|c| c.starts_with("ls")) {
///             CommandExecutionApprovalDecision::Accept
///         } else {
///             CommandExecutionApprovalDecision::Decline
///         }
///     })
///     .on_file_change(|_| async { FileChangeApprovalDecision::Decline });
/// ```
#[derive(Clone, Default)]
pub struct ApprovalHandler {
    command: Option<Decide<CommandExecutionRequestApprovalParams, CommandExecutionApprovalDecision>>,
    file_change: Option<Decide<FileChangeRequestApprovalParams, FileChangeApprovalDecision>>,
}

impl std::fmt::Debug for ApprovalHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApprovalHandler")
            .field("command", &self.command.is_some())
            .field("file_change", &self.file_change.is_some())
            .finish()
    }
}

impl ApprovalHandler {
    /// A handler that declines everything until closures are added.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decides command-execution approvals (`item/commandExecution/requestApproval`).
    pub fn on_command_execution<F, Fut>(mut self, decide: F) -> Self
    where
        F: Fn(CommandExecutionRequestApprovalParams) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CommandExecutionApprovalDecision> + Send + 'static,
    {
        self.command = Some(Arc::new(move |p| Box::pin(decide(p))));
        self
    }

    /// Decides file-change approvals (`item/fileChange/requestApproval`).
    pub fn on_file_change<F, Fut>(mut self, decide: F) -> Self
    where
        F: Fn(FileChangeRequestApprovalParams) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = FileChangeApprovalDecision> + Send + 'static,
    {
        self.file_change = Some(Arc::new(move |p| Box::pin(decide(p))));
        self
    }
}

impl ServerRequestHandler for ApprovalHandler {
    fn item_command_execution_request_approval(
        &self,
        params: CommandExecutionRequestApprovalParams,
    ) -> impl Future<Output = Result<CommandExecutionRequestApprovalResponse, RpcError>> + Send {
        let decide = self.command.clone();
        async move {
            match decide {
                Some(decide) => Ok(CommandExecutionRequestApprovalResponse { decision: decide(params).await }),
                None => fail_closed::<crate::methods::server_requests::ItemCommandExecutionRequestApproval>(),
            }
        }
    }

    fn item_file_change_request_approval(
        &self,
        params: FileChangeRequestApprovalParams,
    ) -> impl Future<Output = Result<FileChangeRequestApprovalResponse, RpcError>> + Send {
        let decide = self.file_change.clone();
        async move {
            match decide {
                Some(decide) => Ok(FileChangeRequestApprovalResponse { decision: decide(params).await }),
                None => fail_closed::<crate::methods::server_requests::ItemFileChangeRequestApproval>(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::dispatch_server_request;
    use crate::types::CommandExecutionApprovalDecision as Decision;
    use serde_json::{json, Value};

    fn command_approval() -> Value {
        json!({"threadId": "t", "turnId": "u", "itemId": "i", "command": "ls -la", "startedAtMs": 1})
    }

    async fn dispatch<H: ServerRequestHandler>(handler: &H, method: &str, params: Value) -> Result<Value, RpcError> {
        dispatch_server_request(handler, method, params).await
    }

    struct Nothing;
    impl ServerRequestHandler for Nothing {}

    #[tokio::test]
    async fn defaults_fail_closed() {
        let reply = dispatch(&Nothing, "item/commandExecution/requestApproval", command_approval()).await;
        assert_eq!(reply.unwrap(), json!({"decision": "decline"}));
        let reply = dispatch(
            &Nothing,
            "item/tool/call",
            json!({"threadId": "t", "turnId": "u", "callId": "c", "tool": "x", "arguments": {}}),
        )
        .await;
        assert!(reply.unwrap_err().code.is_method_not_found());
        let reply = dispatch(&Nothing, "item/teleport/requestApproval", json!({})).await;
        assert!(reply.unwrap_err().code.is_method_not_found());
    }

    #[tokio::test]
    async fn closures_decide_and_see_typed_params() {
        let handler = ApprovalHandler::new().on_command_execution(|p| async move {
            if p.command.as_deref() == Some("ls -la") {
                Decision::Accept
            } else {
                Decision::Decline
            }
        });
        let reply = dispatch(&handler, "item/commandExecution/requestApproval", command_approval()).await;
        assert_eq!(reply.unwrap(), json!({"decision": "accept"}));
        // File changes were not configured: still declined.
        let file = json!({"threadId": "t", "turnId": "u", "itemId": "i", "startedAtMs": 1});
        let reply = dispatch(&handler, "item/fileChange/requestApproval", file).await;
        assert_eq!(reply.unwrap(), json!({"decision": "decline"}));
    }

    #[tokio::test]
    async fn malformed_params_are_invalid_params() {
        let reply = dispatch(&Nothing, "item/commandExecution/requestApproval", json!({"threadId": 1})).await;
        let err = reply.unwrap_err();
        assert!(err.code.is_invalid_params(), "{err:?}");
        assert!(err.message.contains("item/commandExecution/requestApproval"), "{}", err.message);
    }
}
