//! Server → client requests: the raw handler trait, the fail-closed default, and the
//! dispatcher that runs each request in its own task and always sends a reply.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde_json::value::RawValue;
use serde_json::Value;

use super::message::encode_reply;
use super::state::Shared;
use super::turns::RequestOwner;
use super::wire::RequestId;
use crate::RpcError;

/// A request the app-server sent to the client (approvals, tool calls, user input, …).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RawServerRequest {
    /// The server's id for this request (its own id space; echoed in the reply).
    pub id: RequestId,
    /// The method, e.g. `"item/commandExecution/requestApproval"`.
    pub method: String,
    /// The params (`null` when absent).
    pub params: Value,
}

impl RawServerRequest {
    /// Builds a request (mostly for tests of handlers).
    pub fn new(id: RequestId, method: impl Into<String>, params: Value) -> Self {
        RawServerRequest { id, method: method.into(), params }
    }

    /// `params.threadId`, if present.
    pub fn thread_id(&self) -> Option<&str> {
        self.params.get("threadId").and_then(Value::as_str)
    }

    /// `params.turnId`, if present.
    pub fn turn_id(&self) -> Option<&str> {
        self.params.get("turnId").and_then(Value::as_str)
    }
}

/// Answers server → client requests with a JSON result or a JSON-RPC error.
///
/// Each request runs in its own task, so a slow handler never blocks the connection; a
/// returned error or a panic becomes a JSON-RPC error reply.
///
/// When the connection closes (the server exits or is killed, [`Connection::close`], or the
/// last handle is dropped) while a request is still being handled, the handler's future is
/// dropped at its next `.await`: it is cancelled, not run to completion, and no reply is
/// sent. Code after an `.await` in a handler may therefore never run; release resources
/// with drop guards, not with code at the end of the handler.
///
/// [`Connection::close`]: super::Connection::close
pub trait RawServerRequestHandler: Send + Sync + 'static {
    /// Produces the reply to `request`.
    fn handle(&self, request: RawServerRequest) -> BoxFuture<'_, Result<Value, RpcError>>;

    /// Whether this handler decides approvals itself (`true`, the default) or refuses them
    /// all ([`FailClosedHandler`]). A client whose handler decides them starts threads that
    /// ask it (see [`ThreadOptions::approval_mode`](crate::ThreadOptions::approval_mode)).
    fn decides_approvals(&self) -> bool {
        true
    }
}

/// The reply the default handler sends for `method`: a refusal for every approval-like
/// request, a `-32601` error for everything else.
///
/// | method | reply |
/// | --- | --- |
/// | `item/commandExecution/requestApproval` | `{"decision":"decline"}` |
/// | `item/fileChange/requestApproval` | `{"decision":"decline"}` |
/// | `item/permissions/requestApproval` | `{"permissions":{},"scope":"turn"}` (grants nothing) |
/// | `mcpServer/elicitation/request` | `{"action":"decline"}` |
/// | `execCommandApproval`, `applyPatchApproval` (legacy `ReviewDecision`) | `{"decision":{"denied":{"rejection":…}}}` |
/// | anything else | error `-32601` |
pub fn fail_closed_reply(method: &str) -> Result<Value, RpcError> {
    use crate::method_names::*;
    use crate::types::{
        ApplyPatchApprovalResponse, CommandExecutionApprovalDecision, CommandExecutionRequestApprovalResponse,
        DeniedReviewDecision, ExecCommandApprovalResponse, FileChangeApprovalDecision,
        FileChangeRequestApprovalResponse, GrantedPermissionProfile, McpServerElicitationAction,
        McpServerElicitationRequestResponse, PermissionGrantScope, PermissionsRequestApprovalResponse, ReviewDecision,
    };
    let denied = || {
        ReviewDecision::Denied(DeniedReviewDecision {
            rejection: "declined by the client's default (fail-closed) approval policy".to_owned(),
        })
    };
    let reply = match method {
        COMMAND_APPROVAL => serde_json::to_value(CommandExecutionRequestApprovalResponse {
            decision: CommandExecutionApprovalDecision::Decline,
        }),
        FILE_CHANGE_APPROVAL => {
            serde_json::to_value(FileChangeRequestApprovalResponse { decision: FileChangeApprovalDecision::Decline })
        }
        PERMISSIONS_APPROVAL => serde_json::to_value(PermissionsRequestApprovalResponse {
            permissions: GrantedPermissionProfile::default(),
            scope: Some(PermissionGrantScope::Turn),
            strict_auto_review: None,
        }),
        MCP_ELICITATION => serde_json::to_value(McpServerElicitationRequestResponse {
            action: McpServerElicitationAction::Decline,
            content: None,
            meta: None,
        }),
        EXEC_COMMAND_APPROVAL => serde_json::to_value(ExecCommandApprovalResponse { decision: denied() }),
        APPLY_PATCH_APPROVAL => serde_json::to_value(ApplyPatchApprovalResponse { decision: denied() }),
        other => {
            return Err(RpcError::new(
                crate::ErrorCode::METHOD_NOT_FOUND,
                format!("the client has no handler for server request `{other}` (default handler fails closed)"),
            ))
        }
    };
    // A generated response type always serializes.
    reply.map_err(|e| RpcError::new(crate::ErrorCode::INTERNAL_ERROR, format!("encoding the fail-closed reply: {e}")))
}

/// The default handler: declines every approval and rejects every other request
/// (see [`fail_closed_reply`]). Nothing is ever approved implicitly.
#[derive(Debug, Clone, Copy, Default)]
pub struct FailClosedHandler;

impl RawServerRequestHandler for FailClosedHandler {
    fn handle(&self, request: RawServerRequest) -> BoxFuture<'_, Result<Value, RpcError>> {
        Box::pin(std::future::ready(fail_closed_reply(&request.method)))
    }

    fn decides_approvals(&self) -> bool {
        false
    }
}

/// A handler made from an async closure; see [`handler_fn`].
#[derive(Clone)]
pub struct FnHandler<F>(F);

impl<F> std::fmt::Debug for FnHandler<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnHandler")
    }
}

/// Wraps `f(request) -> impl Future<Output = Result<Value, RpcError>>` as a handler.
pub fn handler_fn<F, Fut>(f: F) -> FnHandler<F>
where
    F: Fn(RawServerRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, RpcError>> + Send + 'static,
{
    FnHandler(f)
}

impl<F, Fut> RawServerRequestHandler for FnHandler<F>
where
    F: Fn(RawServerRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, RpcError>> + Send + 'static,
{
    fn handle(&self, request: RawServerRequest) -> BoxFuture<'_, Result<Value, RpcError>> {
        Box::pin((self.0)(request))
    }
}

/// The text of a panic's payload (a `&str` or `String` one; else a placeholder).
pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// A short, secret-free label of a reply: the approval decision (`"accept"`, `"decline"`,
/// `"acceptWithExecpolicyAmendment"`, …), the elicitation action, `"result"` or `"error"`.
fn decision_kind(reply: &Result<Value, RpcError>) -> String {
    let Ok(value) = reply else {
        return "error".to_owned();
    };
    let label = |v: &Value| match v {
        Value::String(s) if s.len() <= 64 => Some(s.clone()),
        Value::Object(m) => m.keys().next().filter(|k| k.len() <= 64).cloned(),
        _ => None,
    };
    value
        .get("decision")
        .and_then(label)
        .or_else(|| value.get("action").and_then(label))
        .unwrap_or_else(|| "result".to_owned())
}

/// How long a server request of a thread waits for this client's `turn/start` answer to
/// learn whether the request's turn is this client's.
const OWNER_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Who answers a server request on this connection — the rule for shared threads, where the
/// server asks every subscribed connection and takes the first answer:
///
/// - a request that names no thread: the connection's handler;
/// - a thread with a handler of its own ([`Connection::set_thread_handler`], or a turn
///   streamed with its requests): that handler, whoever's turn it is — the caller installed
///   it for the thread;
/// - otherwise the connection's handler (or the fail-closed default) answers only for a
///   turn this client started, or a goal turn it follows; another client's turn is left to
///   that client (never declined by default on its behalf).
///
/// `None`: not this client's to answer.
///
/// [`Connection::set_thread_handler`]: super::Connection::set_thread_handler
async fn answerer(
    shared: &Shared,
    method: &str,
    thread_id: Option<&str>,
    turn_id: Option<&str>,
) -> Option<Arc<dyn RawServerRequestHandler>> {
    let Some(thread_id) = thread_id else { return Some(shared.handler.clone()) };
    if method == crate::method_names::ITEM_TOOL_CALL {
        let tools = shared.thread_tools.lock().unwrap_or_else(|e| e.into_inner()).get(thread_id).map(|t| t.0.clone());
        if tools.is_some() {
            return tools;
        }
    }
    let thread_handler = || shared.thread_handlers.lock().unwrap_or_else(|e| e.into_inner()).get(thread_id).cloned();
    if let Some(handler) = thread_handler() {
        return Some(handler);
    }
    let owner = super::lifecycle::wait_for_turns(shared, OWNER_WAIT, |state| {
        match state.turns.request_owner(thread_id, turn_id) {
            RequestOwner::Undecided => None,
            decided => Some(decided),
        }
    })
    .await;
    match owner {
        Some(RequestOwner::Us) => Some(thread_handler().unwrap_or_else(|| shared.handler.clone())),
        _ => thread_handler(),
    }
}

/// A `serverRequest/resolved` arrived: the request was answered (here or by another
/// client); a handler of this client still deciding it is cancelled and sends nothing.
pub(crate) fn resolved_elsewhere(shared: &Shared, notification: &super::message::RawNotification) {
    #[derive(serde::Deserialize)]
    struct Resolved {
        #[serde(rename = "requestId")]
        request_id: RequestId,
    }
    let Ok(resolved) = serde_json::from_str::<Resolved>(notification.params().get()) else { return };
    let deciding = shared.deciding.lock().unwrap_or_else(|e| e.into_inner()).remove(&resolved.request_id);
    if let Some((_, cancel)) = deciding {
        let _ = cancel.send(());
    }
}

/// How many server requests are handled at once; past it, a request is answered
/// fail-closed at once ([`fail_closed_reply`]), or dropped when even that reply cannot be
/// queued (a server that sends requests and reads no replies).
pub const MAX_SERVER_REQUESTS_IN_FLIGHT: usize = 1024;

/// Counts one server request in flight until dropped.
struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.counters.server_requests_in_flight.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Runs the handler for one server request in its own task and sends the reply (see
/// [`answerer`] for who answers); the handler's future is dropped if the connection closes
/// or the request is resolved by another client first. Past
/// [`MAX_SERVER_REQUESTS_IN_FLIGHT`], the request is shed instead.
pub(crate) fn spawn_server_request(
    shared: Arc<Shared>,
    id: RequestId,
    method: String,
    params: Box<RawValue>,
    asked_on: u64,
) {
    use std::sync::atomic::Ordering;
    let in_flight = shared.counters.server_requests_in_flight.fetch_add(1, Ordering::AcqRel);
    if in_flight >= MAX_SERVER_REQUESTS_IN_FLIGHT {
        shared.counters.server_requests_in_flight.fetch_sub(1, Ordering::AcqRel);
        shared.counters.server_requests_shed.fetch_add(1, Ordering::Relaxed);
        let reply = encode_reply(&id, &fail_closed_reply(&method));
        let queued = shared.outgoing.try_send(super::writer::Outgoing::Reply(asked_on, reply)).is_ok();
        tracing::warn!(%method, %id, queued, "too many server requests in flight; answering this one fail-closed");
        return;
    }
    let in_flight = InFlight(shared.clone());
    tokio::spawn(async move {
        let _in_flight = in_flight;
        let params = serde_json::from_str::<Value>(params.get()).unwrap_or(Value::Null);
        let thread_id = params.get("threadId").and_then(Value::as_str);
        let turn_id = params.get("turnId").and_then(Value::as_str);
        // Resolved elsewhere while this client is still deciding who answers, or answering:
        // nothing to send any more.
        let (cancel_tx, cancel) = tokio::sync::oneshot::channel::<()>();
        // The same id again (asked again on a new link, or a restarted server's id): the
        // earlier handler stops deciding.
        let earlier =
            shared.deciding.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), (asked_on, cancel_tx));
        if let Some((_, earlier)) = earlier {
            let _ = earlier.send(());
        }
        let forget = |shared: &Shared| {
            let mut deciding = shared.deciding.lock().unwrap_or_else(|e| e.into_inner());
            if deciding.get(&id).is_some_and(|(on, _)| *on == asked_on) {
                deciding.remove(&id);
            }
        };
        if shared.link_generation() != asked_on {
            // Its link dropped before it was registered (the drop cancels the ones that
            // were): the server asks again on the new link.
            forget(&shared);
            return;
        }
        // Completes once, when the request is resolved; never when the sender goes away
        // unsent (a later request with the same id took its place): polled by two selects.
        let resolved = async move {
            if cancel.await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::pin!(resolved);
        let handler = tokio::select! {
            handler = answerer(&shared, &method, thread_id, turn_id) => handler,
            () = &mut resolved => None,
        };
        let Some(handler) = handler else {
            forget(&shared);
            shared.counters.server_requests_left.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(%method, %id, thread_id, turn_id, "a server request this client leaves to another");
            return;
        };
        let request = RawServerRequest { id: id.clone(), method: method.clone(), params };
        let span = tracing::debug_span!("server_request", %method, %id);
        let handled = AssertUnwindSafe(tracing::Instrument::instrument(async { handler.handle(request).await }, span))
            .catch_unwind();
        // Nobody can receive the reply once the connection is closed, and nobody needs it once
        // another client answered: drop (cancel) the handler's future rather than let it run
        // on as a leaked task.
        let mut closed = shared.closed_watch();
        let outcome = tokio::select! {
            biased;
            _ = closed.wait_for(Option::is_some) => {
                tracing::debug!(%method, %id, "server request handler cancelled: the connection closed");
                None
            }
            () = &mut resolved => {
                tracing::debug!(%method, %id, "server request handler cancelled: the request was resolved elsewhere");
                None
            }
            outcome = handled => Some(outcome),
        };
        forget(&shared);
        let Some(outcome) = outcome else { return };
        let reply = match outcome {
            Ok(reply) => reply,
            Err(panic) => {
                let msg = panic_message(panic.as_ref());
                tracing::error!(%method, %id, panic = %msg, "server request handler panicked");
                Err(RpcError::internal(format!("server request handler panicked: {msg}")))
            }
        };
        // The method, id and the kind of decision only: never the params or the full reply.
        tracing::debug!(%method, %id, decision = decision_kind(&reply), "server request answered");
        if let Err(e) = shared.send_outgoing(super::writer::Outgoing::Reply(asked_on, encode_reply(&id, &reply))).await
        {
            tracing::debug!(%method, %id, error = %e, "could not send the reply to a server request");
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::Value;
    use tokio::io::AsyncWriteExt;
    use tokio::sync::{mpsc, oneshot};

    use super::{fail_closed_reply, handler_fn, RawServerRequest};
    use crate::rpc::{Connection, ConnectionOptions};

    /// The fail-closed replies, built from the generated response types, on the wire.
    #[test]
    fn fail_closed_replies_refuse_in_each_methods_own_shape() {
        use crate::method_names::*;
        use serde_json::json;
        let denied = json!({"decision": {"denied": {"rejection": "declined by the client's default (fail-closed) approval policy"}}});
        for (method, reply) in [
            (COMMAND_APPROVAL, json!({"decision": "decline"})),
            (FILE_CHANGE_APPROVAL, json!({"decision": "decline"})),
            (PERMISSIONS_APPROVAL, json!({"permissions": {}, "scope": "turn"})),
            (MCP_ELICITATION, json!({"action": "decline"})),
            (EXEC_COMMAND_APPROVAL, denied.clone()),
            (APPLY_PATCH_APPROVAL, denied),
        ] {
            assert_eq!(fail_closed_reply(method).unwrap(), reply, "{method}");
        }
        let refused = fail_closed_reply(ITEM_TOOL_CALL).unwrap_err();
        assert_eq!(refused.code, crate::ErrorCode::METHOD_NOT_FOUND);
    }

    /// Sends `()` when dropped.
    struct DropSignal(Option<oneshot::Sender<()>>);

    impl Drop for DropSignal {
        fn drop(&mut self) {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(());
            }
        }
    }

    /// A handler that never answers is cancelled (its future dropped) when the connection
    /// closes, instead of running on as a leaked task.
    #[tokio::test]
    async fn pending_handler_is_dropped_when_the_connection_closes() {
        let (entered_tx, mut entered) = mpsc::unbounded_channel::<oneshot::Receiver<()>>();
        let handler = handler_fn(move |_req: RawServerRequest| {
            let (dropped_tx, dropped_rx) = oneshot::channel();
            let guard = DropSignal(Some(dropped_tx));
            let _ = entered_tx.send(dropped_rx);
            async move {
                let _guard = guard;
                std::future::pending::<()>().await;
                Ok(Value::Null)
            }
        });
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let (cr, cw) = tokio::io::split(client);
        let options = ConnectionOptions::default().with_handler(Arc::new(handler));
        let transport = crate::rpc::Transport::lines(cr, cw, options.max_message_size, crate::Endpoint::custom("test"));
        let conn = Connection::from_transport(transport, options);
        server.write_all(b"{\"id\":7,\"method\":\"item/tool/call\",\"params\":{}}\n").await.unwrap();
        let wait = Duration::from_secs(5);
        let mut dropped = tokio::time::timeout(wait, entered.recv()).await.expect("the handler runs").unwrap();
        assert!(dropped.try_recv().is_err(), "still running before the close");
        drop(server); // the server's output ends: the connection closes
        tokio::time::timeout(wait, dropped)
            .await
            .expect("the handler's future is dropped after the close")
            .expect("dropped, not leaked");
        assert!(conn.is_closed());
        assert_eq!(conn.stats().server_requests, 1);
    }
}
