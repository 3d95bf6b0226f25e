//! Server requests answered where the turn is consumed: [`Thread::turn_with_requests`]
//! starts a turn whose approvals, tool calls and questions arrive as
//! [`TurnItem::Request`]s of its stream, each with a typed reply handle
//! ([`PendingRequest`]) that fails closed when dropped.
//!
//! [`Thread::turn_with_requests`]: crate::Thread::turn_with_requests

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use futures_util::Stream;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result, RpcError};
use crate::methods::{ServerNotification, ServerRequest};
use crate::protocol::Request;
use crate::rpc::{fail_closed_reply, Connection, RawServerRequest, RawServerRequestHandler, RequestId};
use crate::turn::{TurnControl, TurnEvents, TurnResult};
use crate::types::{CommandExecutionApprovalDecision, FileChangeApprovalDecision};

/// A server request of a turn started with
/// [`Thread::turn_with_requests`](crate::Thread::turn_with_requests), waiting for this
/// client's answer; the server (and the turn) wait until it gets one.
///
/// Answer it with [`accept`](Self::accept), [`decline`](Self::decline),
/// [`cancel`](Self::cancel) (the two everyday approvals), or
/// [`respond`](Self::respond) / [`respond_raw`](Self::respond_raw) (any request).
/// **Dropping it unanswered declines it** with the fail-closed reply of
/// [`fail_closed_reply`](crate::rpc::fail_closed_reply): nothing is approved implicitly.
pub struct PendingRequest {
    id: RequestId,
    method: String,
    params: Value,
    reply: Option<oneshot::Sender<std::result::Result<Value, RpcError>>>,
}

impl std::fmt::Debug for PendingRequest {
    // The params can hold what the model wants to run or write: method and id only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingRequest").field("id", &self.id).field("method", &self.method).finish_non_exhaustive()
    }
}

/// How a [`PendingRequest`] was answered by a shortcut that does not fit its method.
#[derive(Debug, thiserror::Error)]
#[error("`{}` cannot be answered with {answer}; use respond()", request.method)]
#[non_exhaustive]
pub struct UnfitAnswer {
    /// The shortcut that was tried (`"accept"`, `"cancel"`).
    pub answer: &'static str,
    /// The request, still unanswered.
    pub request: Box<PendingRequest>,
}

impl PendingRequest {
    /// The method, e.g. `"item/commandExecution/requestApproval"`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The server's id of the request.
    pub fn id(&self) -> &RequestId {
        &self.id
    }

    /// The raw params.
    pub fn params(&self) -> &Value {
        &self.params
    }

    /// The request decoded into its typed [`ServerRequest`] variant (an unknown method is
    /// the fallback variant; malformed params of a known method are `Error::Decode`).
    pub fn typed(&self) -> Result<ServerRequest> {
        ServerRequest::decode(&self.method, self.params.clone())
            .map_err(|e| Error::Decode { method: e.method, source: e.source })
    }

    /// Approves a command execution or a file change (`"accept"`); any other request is
    /// handed back unanswered.
    pub fn accept(self) -> std::result::Result<(), UnfitAnswer> {
        self.approval("accept", CommandExecutionApprovalDecision::Accept, FileChangeApprovalDecision::Accept)
    }

    /// Declines the request: the fail-closed reply of its method (`"decline"` for the
    /// approvals, a refusal for everything else), as dropping it does.
    pub fn decline(mut self) {
        let reply = fail_closed_reply(&self.method);
        self.send(reply);
    }

    /// Declines a command execution or a file change and stops the turn (`"cancel"`); any
    /// other request is handed back unanswered.
    pub fn cancel(self) -> std::result::Result<(), UnfitAnswer> {
        self.approval("cancel", CommandExecutionApprovalDecision::Cancel, FileChangeApprovalDecision::Cancel)
    }

    /// Answers with `R`'s typed response; a request of another method is handed back.
    pub fn respond<R: Request>(mut self, response: R::Response) -> std::result::Result<(), UnfitAnswer> {
        if self.method != R::METHOD {
            return Err(UnfitAnswer { answer: R::METHOD, request: Box::new(self) });
        }
        let reply = crate::rpc::typed_handlers::reply(Ok(response));
        self.send(reply);
        Ok(())
    }

    /// Answers with any JSON result or JSON-RPC error.
    pub fn respond_raw(mut self, reply: std::result::Result<Value, RpcError>) {
        self.send(reply);
    }

    fn approval(
        mut self,
        answer: &'static str,
        command: CommandExecutionApprovalDecision,
        file: FileChangeApprovalDecision,
    ) -> std::result::Result<(), UnfitAnswer> {
        let reply = match self.method.as_str() {
            crate::method_names::COMMAND_APPROVAL => {
                serde_json::to_value(crate::types::CommandExecutionRequestApprovalResponse { decision: command })
            }
            crate::method_names::FILE_CHANGE_APPROVAL => {
                serde_json::to_value(crate::types::FileChangeRequestApprovalResponse { decision: file })
            }
            _ => return Err(UnfitAnswer { answer, request: Box::new(self) }),
        };
        let reply = reply.map_err(|e| RpcError::internal(format!("cannot encode the decision: {e}")));
        self.send(reply);
        Ok(())
    }

    fn send(&mut self, reply: std::result::Result<Value, RpcError>) {
        if let Some(tx) = self.reply.take() {
            // The receiver is gone only when the connection closed: nobody to answer.
            let _ = tx.send(reply);
        }
    }
}

impl Drop for PendingRequest {
    fn drop(&mut self) {
        if self.reply.is_some() {
            tracing::debug!(method = %self.method, id = %self.id, "a pending server request was dropped: declined");
            let reply = fail_closed_reply(&self.method);
            self.send(reply);
        }
    }
}

/// An item of a [`TurnActivity`]: a notification of the turn, or a server request of its
/// thread waiting for an answer.
#[derive(Debug)]
#[non_exhaustive]
// Events are most items and `TurnEvents` yields them unboxed too: no allocation per event.
#[allow(clippy::large_enum_variant)]
pub enum TurnItem {
    /// A notification of the turn, as [`TurnEvents`] yields it.
    Event(ServerNotification),
    /// A server request of the turn's thread; answer it (or drop it to decline it).
    Request(PendingRequest),
}

/// Hands the requests of one thread to a channel; a request nobody can take any more
/// (the activity ended) gets the fail-closed reply.
struct Forward(mpsc::UnboundedSender<PendingRequest>);

impl RawServerRequestHandler for Forward {
    fn handle(&self, request: RawServerRequest) -> BoxFuture<'_, std::result::Result<Value, RpcError>> {
        let (tx, rx) = oneshot::channel();
        let method = request.method.clone();
        let pending =
            PendingRequest { id: request.id, method: request.method, params: request.params, reply: Some(tx) };
        if let Err(refused) = self.0.send(pending) {
            // Dropping it sends the fail-closed reply into `rx`.
            drop(refused);
        }
        Box::pin(async move { rx.await.unwrap_or_else(|_| fail_closed_reply(&method)) })
    }
}

/// Routes a thread's requests to a [`Forward`] while it lives; puts back the handler the
/// thread had before (unless somebody set another one meanwhile).
struct Registration {
    conn: Connection,
    thread_id: String,
    ours: Arc<dyn RawServerRequestHandler>,
    previous: Option<Arc<dyn RawServerRequestHandler>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.conn.restore_thread_handler(&self.thread_id, &self.ours, self.previous.take());
    }
}

/// Starts forwarding `thread_id`'s server requests (before its turn is started, so no
/// request can slip past).
pub(crate) fn forward(conn: &Connection, thread_id: &str) -> Requests {
    let (tx, rx) = mpsc::unbounded_channel();
    let ours: Arc<dyn RawServerRequestHandler> = Arc::new(Forward(tx));
    let previous = conn.replace_thread_handler(thread_id, ours.clone());
    let registration = Registration { conn: conn.clone(), thread_id: thread_id.to_owned(), ours, previous };
    Requests { rx, _registration: registration }
}

/// The receiving end of [`forward`]: dropping it restores the thread's handler, and every
/// request still queued is declined.
pub(crate) struct Requests {
    rx: mpsc::UnboundedReceiver<PendingRequest>,
    _registration: Registration,
}

/// A turn started with [`Thread::turn_with_requests`](crate::Thread::turn_with_requests):
/// its notifications and its thread's server requests, in arrival order, as
/// [`TurnItem`]s; after `turn/completed` the stream ends and
/// [`result`](Self::result) gives the [`TurnResult`] that `run()` would.
///
/// Items are `Result`s for the same reasons as [`TurnEvents`]' ([`Error::Decode`] in place
/// of an undecodable notification, [`Error::Lagged`], then [`Error::TransportClosed`]).
/// Requests arriving while the stream is not polled wait (and so does the server); once
/// the stream is dropped or has ended, the thread's requests go to its previous handler
/// again, and any still queued are declined. Dropping it before `turn/completed`
/// interrupts the turn, as dropping [`TurnEvents`] does (unless [`detach`](Self::detach)ed).
pub struct TurnActivity {
    events: TurnEvents,
    requests: Option<Requests>,
}

impl std::fmt::Debug for TurnActivity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnActivity").field("events", &self.events).finish_non_exhaustive()
    }
}

impl TurnActivity {
    pub(crate) fn new(events: TurnEvents, requests: Requests) -> Self {
        Self { events, requests: Some(requests) }
    }

    /// A handle to steer or interrupt this turn.
    pub fn control(&self) -> TurnControl {
        self.events.control()
    }

    /// Lets the turn run on when this stream is dropped (see [`TurnHandle::detach`](crate::TurnHandle::detach)).
    pub fn detach(self) -> Self {
        Self { events: self.events.detach(), requests: self.requests }
    }

    /// The next item without needing `futures::StreamExt`; `None` after `turn/completed`.
    pub async fn next_item(&mut self) -> Option<Result<TurnItem>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// The turn's [`TurnResult`], as [`TurnHandle::run`](crate::TurnHandle::run) returns
    /// it; the thread's requests that arrive meanwhile are declined.
    pub async fn result(mut self) -> Result<TurnResult> {
        drop(self.requests.take());
        self.events.result().await
    }
}

impl Stream for TurnActivity {
    type Item = Result<TurnItem>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(requests) = this.requests.as_mut() {
            if let Poll::Ready(Some(request)) = requests.rx.poll_recv(cx) {
                return Poll::Ready(Some(Ok(TurnItem::Request(request))));
            }
        }
        match Pin::new(&mut this.events).poll_next(cx) {
            Poll::Ready(None) => {
                // The turn is over: its thread's requests go back to the previous handler.
                this.requests = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some(item)) => Poll::Ready(Some(item.map(TurnItem::Event))),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::server_requests::ItemToolCall;
    use crate::types::DynamicToolCallResponse;
    use serde_json::json;

    /// One request through a [`Forward`]: the handle taken from the channel, and the reply
    /// the server would get.
    fn forwarded(
        method: &str,
        params: Value,
    ) -> (mpsc::UnboundedReceiver<PendingRequest>, BoxFuture<'static, std::result::Result<Value, RpcError>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let forward = Arc::new(Forward(tx));
        let request = RawServerRequest::new(RequestId::Int(7), method, params);
        let reply = Box::pin(async move { forward.handle(request).await });
        (rx, reply)
    }

    const COMMAND: &str = "item/commandExecution/requestApproval";

    #[tokio::test]
    async fn each_answer_becomes_its_reply_and_a_dropped_request_is_declined() {
        for (answer, expected) in [
            ("accept", json!({"decision": "accept"})),
            ("cancel", json!({"decision": "cancel"})),
            ("decline", json!({"decision": "decline"})),
            ("drop", json!({"decision": "decline"})),
        ] {
            let (mut rx, reply) = forwarded(COMMAND, json!({"threadId": "t", "turnId": "u", "itemId": "i"}));
            let reply = tokio::spawn(reply);
            let pending = rx.recv().await.unwrap();
            assert_eq!((pending.method(), pending.id()), (COMMAND, &RequestId::Int(7)));
            match answer {
                "accept" => pending.accept().unwrap(),
                "cancel" => pending.cancel().unwrap(),
                "decline" => pending.decline(),
                _ => drop(pending),
            }
            assert_eq!(reply.await.unwrap().unwrap(), expected, "{answer}");
        }
    }

    #[tokio::test]
    async fn a_shortcut_that_does_not_fit_hands_the_request_back_and_respond_is_typed() {
        let params = json!({"threadId": "t", "turnId": "u", "callId": "c", "tool": "x", "arguments": {}});
        let (mut rx, reply) = forwarded("item/tool/call", params);
        let reply = tokio::spawn(reply);
        let pending = rx.recv().await.unwrap();
        assert!(matches!(pending.typed().unwrap(), ServerRequest::ItemToolCall(_)));
        let unfit = pending.accept().unwrap_err();
        assert!(unfit.to_string().contains("item/tool/call"), "{unfit}");
        let unfit = unfit.request.respond::<crate::methods::server_requests::ItemCommandExecutionRequestApproval>(
            crate::types::CommandExecutionRequestApprovalResponse {
                decision: CommandExecutionApprovalDecision::Accept,
            },
        );
        let pending = *unfit.unwrap_err().request;
        pending.respond::<ItemToolCall>(DynamicToolCallResponse { content_items: vec![], success: true }).unwrap();
        assert_eq!(reply.await.unwrap().unwrap(), json!({"contentItems": [], "success": true}));
    }

    #[tokio::test]
    async fn requests_nobody_takes_any_more_fail_closed_and_debug_shows_no_params() {
        let (rx, reply) = forwarded(COMMAND, json!({"command": "curl secret-token"}));
        drop(rx);
        assert_eq!(reply.await.unwrap(), json!({"decision": "decline"}));

        let (mut rx, reply) = forwarded(COMMAND, json!({"command": "curl secret-token"}));
        let reply = tokio::spawn(reply);
        let pending = rx.recv().await.unwrap();
        assert!(!format!("{pending:?}").contains("secret-token"));
        drop(rx); // a queued request would be dropped with it; this one is held
        pending.respond_raw(Err(RpcError::internal("no")));
        assert!(reply.await.unwrap().is_err());
    }
}
