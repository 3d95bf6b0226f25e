//! The state shared by the connection handle and its background tasks, and the one place
//! where the connection is closed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

pub(crate) use super::close_info::CloseInfo;
use super::pending::Pending;
use super::router::Router;
use super::server_requests::RawServerRequestHandler;
use super::turns::TurnBook;
use super::writer::Outgoing;
use crate::endpoint::{CloseReason, Endpoint};
use crate::error::{Error, Result};

/// How long a failed write waits for the reader to learn why the transport ended (a
/// spawned process's stream ends with its exit status and stderr only after reaping it)
/// before the write's own error closes the connection.
pub(crate) const CLOSE_REASON_WAIT: Duration = Duration::from_secs(5);

/// Everything behind the single state lock.
pub(crate) struct State {
    pub(crate) pending: Pending,
    pub(crate) router: Router,
    /// The owner of turn state (see [`super::turns`]).
    pub(crate) turns: TurnBook,
    pub(crate) closed: Option<Arc<CloseInfo>>,
}

/// Counters kept outside the lock.
#[derive(Default)]
pub(crate) struct WireCounters {
    pub(crate) invalid_messages: AtomicU64,
    pub(crate) unmatched_responses: AtomicU64,
    pub(crate) server_requests: AtomicU64,
    pub(crate) server_requests_left: AtomicU64,
    /// Server requests answered fail-closed at once (or dropped) because too many were in
    /// flight.
    pub(crate) server_requests_shed: AtomicU64,
    /// Server requests whose task has not ended yet.
    pub(crate) server_requests_in_flight: std::sync::atomic::AtomicUsize,
}

/// Where the answer to a request sent from outside `Connection::call` arrives.
pub(crate) type AnswerReceiver = tokio::sync::oneshot::Receiver<Result<Box<serde_json::value::RawValue>>>;

/// Per thread, the answerer of its tool calls and the interest that keeps it subscribed.
pub(crate) type ToolServers =
    HashMap<String, (Arc<dyn RawServerRequestHandler>, Arc<super::subscriptions::ThreadInterest>)>;

/// Shared between [`Connection`](super::Connection) handles and the background tasks.
pub(crate) struct Shared {
    state: Mutex<State>,
    pub(crate) outgoing: mpsc::Sender<Outgoing>,
    pub(crate) handler: Arc<dyn RawServerRequestHandler>,
    pub(crate) endpoint: Endpoint,
    /// Set by [`Connection::close`](super::Connection::close): whatever ends the transport
    /// afterwards, the reason is [`CloseReason::ClosedByClient`].
    pub(crate) closing_by_client: AtomicBool,
    pub(crate) next_id: AtomicI64,
    pub(crate) counters: WireCounters,
    pub(crate) max_message_size: usize,
    /// The runtime the connection was made on: where work queued from a `Drop` runs (the
    /// blocking API drops its handles outside any runtime).
    pub(crate) runtime: tokio::runtime::Handle,
    pub(crate) turn_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Per thread, the handler that answers that thread's server requests instead of
    /// [`handler`](Self::handler).
    pub(crate) thread_handlers: Mutex<HashMap<String, Arc<dyn RawServerRequestHandler>>>,
    /// What keeps a thread with a handler of its own subscribed (see
    /// [`set_thread_handler`](super::Connection::set_thread_handler)).
    pub(crate) handler_interests: Mutex<HashMap<String, Arc<super::subscriptions::ThreadInterest>>>,
    /// Per thread, what answers its `item/tool/call` requests (its dynamic tools), before
    /// any handler, and what keeps the thread subscribed meanwhile (see
    /// [`serve_tools`](super::Connection::serve_tools)).
    pub(crate) thread_tools: Mutex<ToolServers>,
    /// Woken whenever the turn book may have changed in a way someone waits for: a
    /// `turn/completed`, a `turn/start` answered, the close.
    pub(crate) turns_changed: tokio::sync::Notify,
    /// Server requests whose handler is still deciding, by id: a `serverRequest/resolved`
    /// (another client answered first) cancels them.
    /// Each with the generation of the link it came on.
    pub(crate) deciding: Mutex<HashMap<super::wire::RequestId, (u64, tokio::sync::oneshot::Sender<()>)>>,
    /// Tells the writer to finish: out of band, so a full queue cannot hold it up.
    shutdown_tx: watch::Sender<bool>,
    /// Set by the writer once it closed the sink and ended.
    writer_done: watch::Receiver<bool>,
    closed_tx: watch::Sender<Option<Arc<CloseInfo>>>,
    /// Where the link stands, for [`Connection::state`](super::Connection::state).
    state_tx: watch::Sender<super::link::ConnectionState>,
    /// How a reconnecting connection replaces its link (`None`: it closes instead).
    pub(crate) link: Option<super::link::LinkControl>,
}

/// The connection's ends of the writer task: its message queue, its out-of-band
/// shutdown signal, and its "done" flag.
pub(crate) struct WriterLink {
    pub(crate) outgoing: mpsc::Sender<Outgoing>,
    pub(crate) shutdown_tx: watch::Sender<bool>,
    pub(crate) writer_done: watch::Receiver<bool>,
}

impl Shared {
    pub(crate) fn new(
        writer: WriterLink,
        handler: Arc<dyn RawServerRequestHandler>,
        endpoint: Endpoint,
        router: Router,
        max_message_size: usize,
        link: Option<super::link::LinkControl>,
    ) -> Self {
        let WriterLink { outgoing, shutdown_tx, writer_done } = writer;
        Shared {
            state: Mutex::new(State { pending: Pending::default(), router, turns: TurnBook::default(), closed: None }),
            outgoing,
            handler,
            endpoint,
            closing_by_client: AtomicBool::new(false),
            next_id: AtomicI64::new(0),
            counters: WireCounters::default(),
            max_message_size,
            runtime: tokio::runtime::Handle::current(),
            turn_locks: Mutex::new(HashMap::new()),
            thread_handlers: Mutex::new(HashMap::new()),
            handler_interests: Mutex::new(HashMap::new()),
            thread_tools: Mutex::new(HashMap::new()),
            turns_changed: tokio::sync::Notify::new(),
            deciding: Mutex::new(HashMap::new()),
            shutdown_tx,
            writer_done,
            closed_tx: watch::channel(None).0,
            state_tx: watch::channel(super::link::ConnectionState::Connected).0,
            link,
        }
    }

    /// Publishes where the link stands; nothing replaces `Closed`.
    pub(crate) fn set_state(&self, state: super::link::ConnectionState) {
        self.set_state_if(state, || true);
    }

    /// Publishes `state` if `still` holds when the state is locked; nothing replaces
    /// `Closed`.
    pub(crate) fn set_state_if(&self, state: super::link::ConnectionState, still: impl FnOnce() -> bool) {
        self.state_tx.send_if_modified(|current| {
            if matches!(current, super::link::ConnectionState::Closed(_)) || !still() {
                return false;
            }
            *current = state;
            true
        });
    }

    /// The generation of the current link (0 for a connection that does not reconnect).
    pub(crate) fn link_generation(&self) -> u64 {
        self.link.as_ref().map_or(0, |link| link.generation())
    }

    /// A receiver of the link's state.
    pub(crate) fn state_watch(&self) -> watch::Receiver<super::link::ConnectionState> {
        self.state_tx.subscribe()
    }

    /// Locks the state. Never held across an `.await`.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn next_request_id(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The close error if the connection is closed.
    pub(crate) fn closed_error(&self) -> Option<Error> {
        self.lock().closed.as_ref().map(|i| i.to_error())
    }

    /// Fails with the close error if closed.
    pub(crate) fn ensure_open(&self) -> Result<()> {
        match self.closed_error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Queues one encoded message for the writer. Waits while the queue is full (the
    /// server is not reading), but not past the connection's close.
    pub(crate) async fn send_message(&self, message: String) -> Result<()> {
        self.send_outgoing(Outgoing::Message(message)).await
    }

    /// [`send_message`](Self::send_message) for a message that may be a request.
    pub(crate) async fn send_outgoing(&self, message: Outgoing) -> Result<()> {
        self.ensure_open()?;
        let mut closed = self.closed_watch();
        let queued = tokio::select! {
            queued = self.outgoing.send(message) => queued.is_ok(),
            _ = closed.wait_for(Option::is_some) => false,
        };
        if !queued {
            // The writer ended: the connection is closing; report how it closed.
            let closing = tokio::time::timeout(CLOSE_REASON_WAIT, closed.wait_for(Option::is_some)).await;
            let info = closing.ok().and_then(|r| r.ok().and_then(|info| info.clone()));
            return Err(info.map_or_else(|| self.close_info(CloseReason::Dropped).to_error(), |info| info.to_error()));
        }
        Ok(())
    }

    /// Sends a request from anywhere — a `Drop`, the reader — without waiting: queued now
    /// if the writer's queue has room, else by a task on the connection's runtime. Its
    /// answer (or the close error) arrives on the returned receiver; `None` when it could
    /// not be queued (the connection is closed).
    pub(crate) fn send_request_detached(
        &self,
        method: &str,
        params: &serde_json::value::RawValue,
    ) -> Option<AnswerReceiver> {
        let (id, reply) = self.register(method)?;
        let message = Outgoing::Request(id, super::message::encode_request(id, method, params));
        let queued = match self.outgoing.try_send(message) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(message)) => {
                let outgoing = self.outgoing.clone();
                self.runtime.spawn(async move {
                    let _ = outgoing.send(message).await;
                });
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        };
        if !queued {
            tracing::debug!(method, "cannot queue a request: the connection is closed");
            self.lock().pending.remove(id);
            return None;
        }
        Some(reply)
    }

    /// Queues a request, waiting for room in the writer's queue (so a request queued after
    /// this one is written after it), and returns the receiver of its answer; `None` when
    /// the connection is closed. Cancelled while waiting, nothing is sent and nothing is
    /// left pending.
    pub(crate) async fn send_request_in_order(
        &self,
        method: &str,
        params: &serde_json::value::RawValue,
    ) -> Option<AnswerReceiver> {
        let (id, reply) = self.register(method)?;
        struct Unsent<'a>(&'a Shared, Option<i64>);
        impl Drop for Unsent<'_> {
            fn drop(&mut self) {
                if let Some(id) = self.1.take() {
                    self.0.lock().pending.remove(id);
                }
            }
        }
        let mut unsent = Unsent(self, Some(id));
        let message = Outgoing::Request(id, super::message::encode_request(id, method, params));
        if self.outgoing.send(message).await.is_err() {
            tracing::debug!(method, "cannot queue a request: the connection is closed");
            return None;
        }
        unsent.1 = None;
        Some(reply)
    }

    /// A new request id with its pending entry, and the receiver of its answer; `None` on a
    /// closed connection.
    pub(crate) fn register(&self, method: &str) -> Option<(i64, AnswerReceiver)> {
        let mut state = self.lock();
        if state.closed.is_some() {
            return None;
        }
        let id = self.next_request_id();
        let (tx, reply) = tokio::sync::oneshot::channel();
        state.pending.insert(id, method, tx);
        Some((id, reply))
    }

    /// Asks the writer to finish (flush what is queued, close the sink, end); idempotent.
    pub(crate) fn request_shutdown(&self) {
        self.shutdown_tx.send_replace(true);
    }

    /// Waits until the writer has ended.
    pub(crate) async fn writer_finished(&self) {
        let mut done = self.writer_done.clone();
        let _ = done.wait_for(|d| *d).await;
    }

    /// A receiver that observes the close.
    pub(crate) fn closed_watch(&self) -> watch::Receiver<Option<Arc<CloseInfo>>> {
        self.closed_tx.subscribe()
    }

    /// A [`CloseInfo`] for this connection's endpoint.
    pub(crate) fn close_info(&self, reason: CloseReason) -> CloseInfo {
        CloseInfo { endpoint: self.endpoint.to_string(), reason }
    }

    /// Closes after the transport ended with `reason` (the client's own close wins).
    pub(crate) fn close_from_transport(&self, reason: CloseReason) {
        let reason = if self.closing_by_client.load(Ordering::Acquire) { CloseReason::ClosedByClient } else { reason };
        self.close(self.close_info(reason));
    }

    /// Closes after a write failed with `error`, unless the reader closes first: a broken
    /// write usually means the other end is gone, and the incoming stream's end says why
    /// (a spawned process's exit status and stderr) better than the write's error does.
    pub(crate) async fn close_after_write_failure(&self, error: &std::io::Error) {
        let mut closed = self.closed_watch();
        let _ = tokio::time::timeout(CLOSE_REASON_WAIT, closed.wait_for(Option::is_some)).await;
        self.close_from_transport(CloseReason::io(error));
    }

    /// Closes at once with `reason` (the client closed or dropped the connection).
    pub(crate) fn close_now(&self, reason: CloseReason) {
        self.close(self.close_info(reason));
    }

    /// Closes the connection (idempotent): every pending request, stream and reservation
    /// gets [`Error::TransportClosed`]; later calls fail fast with it.
    fn close(&self, info: CloseInfo) {
        let info = Arc::new(info);
        let waiters: Vec<_> = {
            let mut state = self.lock();
            if state.closed.is_some() {
                return;
            }
            state.closed = Some(info.clone());
            state.router.close_all(&info);
            state.pending.drain().collect()
        };
        tracing::debug!(
            endpoint = %info.endpoint,
            reason = %info.reason,
            pending = waiters.len(),
            "codex app-server connection closed"
        );
        for waiter in waiters {
            let _ = waiter.tx.send(Err(info.to_error()));
        }
        // Handlers may hold clones of the connection: let them go.
        self.thread_handlers.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.state_tx.send_replace(super::link::ConnectionState::Closed(info.reason.clone()));
        if let Some(link) = &self.link {
            link.close_reader();
        }
        self.closed_tx.send_replace(Some(info));
        self.turns_changed.notify_waiters();
        // Let the writer finish what is queued and close the sink.
        self.request_shutdown();
    }
}
