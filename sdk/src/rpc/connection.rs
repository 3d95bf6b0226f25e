//! [`Connection`]: one app-server, many concurrent requests, turns and subscriptions.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;

use super::handshake::{InitializeOptions, ServerMetadata};
use super::lifecycle::CloseReport;
use super::link::{ConnectionState, Dial, LinkControl, ReconnectPolicy};
use super::message::{encode_notification, encode_request, to_raw};
use super::reader::reader_task;
use super::retry::{retry_overloaded, RetryPolicy};
use super::router::{EventFilter, Router};
use super::server_requests::{FailClosedHandler, RawServerRequestHandler};
use super::state::{Shared, WriterLink};
use super::streams::{EventStream, TurnReservation, TurnStream};
use super::transport::Transport;
use super::writer::{writer_task, Outgoing};
use crate::endpoint::{CloseReason, Endpoint};
use crate::error::{Error, Result};
use crate::protocol::{Notification, Request};
use crate::version::{self, CodexVersion};

/// Default per-request timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Default maximum size of one incoming JSON-RPC message (64 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;
/// Default capacity of a turn event stream (events buffered before the consumer lags).
pub const DEFAULT_TURN_BUFFER: usize = 8192;
/// Default capacity of a thread-wide or client-wide event subscription.
pub const DEFAULT_SUBSCRIPTION_BUFFER: usize = 1024;
/// Capacity of the outgoing message queue.
const OUTGOING_QUEUE: usize = 256;
/// How often a read is sent again after its link dropped before its answer.
const MAX_READ_RESENDS: u32 = 3;

/// Runtime options of a [`Connection`]: timeouts, sizes, buffers, overload retry and the
/// server-request handler (part of [`ClientConfig`](crate::ClientConfig)).
#[derive(Clone)]
#[non_exhaustive]
pub struct ConnectionOptions {
    /// Default timeout of each request.
    pub request_timeout: Duration,
    /// Maximum size of one incoming message.
    pub max_message_size: usize,
    /// Capacity of each turn stream / reservation buffer.
    pub turn_buffer: usize,
    /// Capacity of each [`EventStream`].
    pub subscription_buffer: usize,
    /// Answers server → client requests (default: [`FailClosedHandler`]).
    pub handler: Arc<dyn RawServerRequestHandler>,
    /// Automatic retry of requests the server rejects as overloaded (`-32001`, see
    /// [`Error::is_overloaded`]): every request, `turn/start` included, is sent again after
    /// an exponential backoff with jitter, up to `max_attempts` attempts in all; then it
    /// fails with [`Error::RetryLimitExceeded`]. Other errors are never retried. Default:
    /// `Some(RetryPolicy::default())` (3 attempts, 250 ms doubling up to 2 s, ±20 %
    /// jitter); `None` returns the overload error at once (retry it yourself with
    /// [`retry_on_overload`](super::retry_on_overload) if you like).
    pub overload_retry: Option<RetryPolicy>,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        ConnectionOptions {
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            turn_buffer: DEFAULT_TURN_BUFFER,
            subscription_buffer: DEFAULT_SUBSCRIPTION_BUFFER,
            handler: Arc::new(FailClosedHandler),
            overload_retry: Some(RetryPolicy::default()),
        }
    }
}

impl std::fmt::Debug for ConnectionOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionOptions")
            .field("request_timeout", &self.request_timeout)
            .field("max_message_size", &self.max_message_size)
            .field("turn_buffer", &self.turn_buffer)
            .field("subscription_buffer", &self.subscription_buffer)
            .field("overload_retry", &self.overload_retry)
            .finish_non_exhaustive()
    }
}

impl ConnectionOptions {
    /// Sets the server-request handler.
    pub fn with_handler(mut self, handler: Arc<dyn RawServerRequestHandler>) -> Self {
        self.handler = handler;
        self
    }

    /// Sets the default request timeout (`Duration::MAX` disables it).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the maximum incoming message size.
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes.max(1);
        self
    }

    /// Sets the turn-stream and subscription capacities (each at least 1).
    pub fn with_buffers(mut self, turn_buffer: usize, subscription_buffer: usize) -> Self {
        self.turn_buffer = turn_buffer.max(1);
        self.subscription_buffer = subscription_buffer.max(1);
        self
    }

    /// Retries overloaded requests with `policy`.
    pub fn with_overload_retry(mut self, policy: RetryPolicy) -> Self {
        self.overload_retry = Some(policy);
        self
    }

    /// Turns the automatic overload retry off.
    pub fn without_overload_retry(mut self) -> Self {
        self.overload_retry = None;
        self
    }
}

/// A snapshot of a connection's internal counters (for diagnostics and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// Notifications received.
    pub notifications_received: u64,
    /// Notifications nobody subscribed to (dropped, never stored).
    pub notifications_unrouted: u64,
    /// Deliveries dropped because a subscriber's buffer was full.
    pub events_lagged: u64,
    /// Lines skipped: malformed JSON, invalid UTF-8, bad shape, over the size limit.
    pub invalid_messages: u64,
    /// Responses with an unknown, timed-out or duplicate id.
    pub unmatched_responses: u64,
    /// Server → client requests received.
    pub server_requests: u64,
    /// Server requests of other clients' turns, left unanswered for their owner.
    pub server_requests_left: u64,
    /// Server requests answered fail-closed at once (or, with the outgoing queue full,
    /// dropped) because [`MAX_SERVER_REQUESTS_IN_FLIGHT`](super::MAX_SERVER_REQUESTS_IN_FLIGHT)
    /// were already being handled: a flood cannot grow memory without bound.
    pub server_requests_shed: u64,
    /// Server requests being handled now.
    pub server_requests_in_flight: usize,
    /// Requests waiting for a response.
    pub pending_requests: usize,
    /// Live turn streams.
    pub turn_subscriptions: usize,
    /// Open turn reservations.
    pub reservations: usize,
    /// Live thread-wide / client-wide subscriptions.
    pub subscriptions: usize,
    /// Events buffered in all streams and reservations.
    pub buffered_events: usize,
}

const INIT_NONE: u8 = 0;
const INIT_RUNNING: u8 = 1;
const INIT_DONE: u8 = 2;

struct ConnInner {
    shared: Arc<Shared>,
    tasks: Vec<AbortHandle>,
    request_timeout: Duration,
    overload_retry: Option<RetryPolicy>,
    init: AtomicU8,
    metadata: OnceLock<ServerMetadata>,
}

impl Drop for ConnInner {
    fn drop(&mut self) {
        // Closing queues a shutdown for the writer, which closes the transport's sink on its
        // own (a WebSocket close frame; bounded) and then ends; the other tasks stop now,
        // and with the reader goes the incoming stream (a spawned process is killed).
        self.shared.close_now(CloseReason::Dropped);
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A JSON-RPC connection to one Codex app-server: a process it spawned (stdio), or a server
/// it attached to (WebSocket, unix socket; see [`crate::attach`]), or any [`Transport`].
///
/// Cheap to clone; all clones share the transport. One reader task routes everything the
/// server sends: responses to their callers, notifications to turn streams and
/// subscriptions, server requests to the [`RawServerRequestHandler`]. When the server goes
/// away, everything waiting gets [`Error::TransportClosed`] and later calls fail fast.
/// Dropping the last clone stops all tasks and kills a spawned process; an attached
/// server is only disconnected from, never stopped.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<ConnInner>,
    /// This handle's request timeout, when [`with_timeout`](Connection::with_timeout) set one.
    timeout: Option<Duration>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("endpoint", &self.shared().endpoint)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection over a message-level [`Transport`] (not yet initialized): a spawned
    /// app-server ([`LaunchConfig::spawn`](crate::LaunchConfig::spawn)), newline-delimited
    /// JSON over any byte streams ([`Transport::lines`]), a WebSocket, or your own. Must be
    /// called within a Tokio runtime.
    pub fn from_transport(transport: Transport, options: ConnectionOptions) -> Self {
        Self::start_tasks(transport, options, None)
    }

    /// A connection that replaces its link when it fails: dials `dialer` now (this first
    /// dial's error is returned as is), and again as `policy` says after a link failure
    /// (see [`ReconnectPolicy`] and [`ConnectionState`]). Not yet initialized; the first
    /// [`initialize`](Self::initialize)'s params are sent again on every new link. Must be
    /// called within a Tokio runtime.
    ///
    /// What a drop means for callers: a request written to the dropped link and unanswered
    /// fails with [`Error::OutcomeUnknown`] (a read — a method named `…/read` or `…/list` —
    /// is sent again instead); a request made during the gap waits for the new link (within
    /// its timeout); every stream yields [`Error::Gap`] in place and continues; the threads
    /// this client was subscribed to and still needs are resumed, and a turn that ended
    /// during the gap is completed from the server's record.
    pub async fn connect_with_reconnect(
        dialer: Arc<dyn Dial>,
        options: ConnectionOptions,
        policy: ReconnectPolicy,
    ) -> Result<Self> {
        let transport = dialer.dial(options.max_message_size).await?;
        Ok(Self::start_tasks(transport, options, Some((dialer, policy))))
    }

    fn start_tasks(
        transport: Transport,
        options: ConnectionOptions,
        reconnect: Option<(Arc<dyn Dial>, ReconnectPolicy)>,
    ) -> Self {
        let Transport { inbound, outbound, endpoint } = transport;
        let (links_tx, links_rx) = mpsc::unbounded_channel();
        let link = reconnect.map(|(dialer, policy)| LinkControl::new(dialer, policy, links_tx));
        let links_rx = link.is_some().then_some(links_rx);
        let (tx, rx) = mpsc::channel::<Outgoing>(OUTGOING_QUEUE);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (done_tx, done_rx) = watch::channel(false);
        let router = Router::new(options.turn_buffer.max(1), options.subscription_buffer.max(1));
        let writer = WriterLink { outgoing: tx, shutdown_tx, writer_done: done_rx };
        let shared = Arc::new(Shared::new(
            writer,
            options.handler.clone(),
            endpoint,
            router,
            options.max_message_size.max(1),
            link,
        ));
        // The writer is not aborted on drop: it ends by itself after closing the sink.
        tokio::spawn(writer_task(outbound, rx, shutdown_rx, done_tx, Arc::downgrade(&shared), links_rx));
        let reader = tokio::spawn(reader_task(shared.clone(), inbound, 0, None));
        if let Some(link) = &shared.link {
            link.set_reader(reader.abort_handle());
        }
        Connection {
            timeout: None,
            inner: Arc::new(ConnInner {
                shared,
                tasks: vec![reader.abort_handle()],
                request_timeout: options.request_timeout,
                overload_retry: options.overload_retry,
                init: AtomicU8::new(INIT_NONE),
                metadata: OnceLock::new(),
            }),
        }
    }

    pub(super) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// The child's process id, if this connection runs on a spawned app-server.
    pub fn pid(&self) -> Option<u32> {
        match self.endpoint() {
            Endpoint::Process { pid, .. } => *pid,
            _ => None,
        }
    }

    /// A handle to the same connection whose requests time out after `timeout` instead of
    /// the configured default (`Duration::MAX` disables it). Everything made from it —
    /// the generated [`ClientRequests`](crate::methods::ClientRequests) stubs, and a
    /// [`Codex`](crate::Codex) or [`Thread`](crate::Thread) built on it — uses that
    /// timeout per request. A request that times out fails with [`Error::Timeout`] and
    /// leaves no waiter behind.
    pub fn with_timeout(&self, timeout: Duration) -> Connection {
        Connection { inner: self.inner.clone(), timeout: Some(timeout) }
    }

    /// The timeout each request of this handle gets.
    pub fn request_timeout(&self) -> Duration {
        self.timeout.unwrap_or(self.inner.request_timeout)
    }

    /// Where this connection goes: the spawned process, the WebSocket URL, the unix socket.
    pub fn endpoint(&self) -> &Endpoint {
        &self.shared().endpoint
    }

    /// Whether this connection's server-request handler decides approvals (any handler but
    /// the fail-closed default; see [`RawServerRequestHandler::decides_approvals`]).
    pub fn decides_approvals(&self) -> bool {
        self.shared().handler.decides_approvals()
    }

    // ----- handshake ---------------------------------------------------------------------

    /// Performs the handshake: `initialize` with `options`, then the `initialized`
    /// notification. A second call fails with [`Error::AlreadyInitialized`] (a failed
    /// attempt may be retried).
    pub async fn initialize(&self, options: &InitializeOptions) -> Result<ServerMetadata> {
        if self.inner.init.compare_exchange(INIT_NONE, INIT_RUNNING, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Err(Error::AlreadyInitialized);
        }
        let outcome = async {
            let remembered = to_raw(crate::method_names::INITIALIZE, &options.to_params())?;
            let raw = self.call(crate::method_names::INITIALIZE, &remembered, self.request_timeout()).await?;
            let raw: Value = decode_raw(crate::method_names::INITIALIZE, &raw)?;
            // Kept once the server took it: a new link is initialized the same way (an
            // `initialize` lost with its link is the caller's to send again).
            if let Some(link) = &self.shared().link {
                link.remember_initialize(&remembered);
            }
            self.notify(crate::method_names::INITIALIZED, Value::Null).await?;
            Ok::<_, Error>(ServerMetadata::from_response(raw))
        }
        .await;
        match outcome {
            Ok(mut metadata) => {
                metadata.endpoint = Some(self.endpoint().clone());
                match metadata.codex_version {
                    Some(version) => {
                        if let Some(warning) = crate::version::skew_warning(version) {
                            tracing::warn!(server_version = %version, "{warning}");
                        }
                    }
                    None => tracing::warn!(
                        server_version = ?metadata.server_version,
                        "the server's version is not a Codex release number; assuming it has everything Codex {} has",
                        crate::version::PINNED
                    ),
                }
                let _ = self.inner.metadata.set(metadata.clone());
                self.inner.init.store(INIT_DONE, Ordering::Release);
                Ok(metadata)
            }
            Err(e) => {
                self.inner.init.store(INIT_NONE, Ordering::Release);
                Err(e)
            }
        }
    }

    /// The server metadata, once [`initialize`](Self::initialize) succeeded.
    pub fn metadata(&self) -> Option<&ServerMetadata> {
        self.inner.metadata.get()
    }

    /// The server's Codex release, once initialized and when its version parses.
    pub fn server_version(&self) -> Option<CodexVersion> {
        self.metadata().and_then(|m| m.codex_version)
    }

    /// Whether the server's release has the request `R` (a client or a server request),
    /// by the SDK's protocol history. `true` before `initialize` and for a server whose
    /// version is unknown.
    pub fn supports<R: Request>(&self) -> bool {
        let history = version::client_request(R::METHOD).or_else(|| version::server_request(R::METHOD));
        version::available(history, self.server_version())
    }

    /// Whether the server's release sends the notification `N`.
    pub fn supports_notification<N: Notification>(&self) -> bool {
        let history = version::server_notification(N::METHOD).or_else(|| version::client_notification(N::METHOD));
        version::available(history, self.server_version())
    }

    /// Whether the server's release has the field `field` (its wire name) of the protocol
    /// type `ty`, e.g. `("Turn", "rootTurnId")`. Fields the SDK's types have but the
    /// server lacks arrive as `None` or their default.
    pub fn supports_field(&self, ty: &str, field: &str) -> bool {
        version::available(version::field(&format!("{ty}.{field}")), self.server_version())
    }

    /// [`Error::Unsupported`] when the server's release lacks the client request `method`.
    fn check_supported(&self, method: &str) -> Result<()> {
        let history = version::client_request(method);
        match (history, self.server_version()) {
            (Some(availability), Some(server_version)) if !availability.includes(server_version) => {
                Err(Error::Unsupported {
                    method: method.to_owned(),
                    since: availability.since,
                    removed: availability.removed,
                    server_version,
                })
            }
            _ => Ok(()),
        }
    }

    // ----- requests ----------------------------------------------------------------------

    /// Sends `method` with raw `params` (`Value::Null` = no params) and waits for the result,
    /// with the default timeout.
    pub async fn request_raw(&self, method: &str, params: Value) -> Result<Value> {
        self.request_raw_with_timeout(method, params, self.request_timeout()).await
    }

    /// Like [`request_raw`](Self::request_raw) with an explicit timeout (`Duration::MAX`
    /// disables it).
    pub async fn request_raw_with_timeout(&self, method: &str, params: Value, timeout: Duration) -> Result<Value> {
        let params = to_raw(method, &params)?;
        let raw = self.call(method, &params, timeout).await?;
        decode_raw(method, &raw)
    }

    /// A typed request with the default timeout.
    pub async fn request<R: Request>(&self, params: R::Params) -> Result<R::Response> {
        self.request_with_timeout::<R>(params, self.request_timeout()).await
    }

    /// A typed request with an explicit timeout (`Duration::MAX` disables it).
    pub async fn request_with_timeout<R: Request>(&self, params: R::Params, timeout: Duration) -> Result<R::Response> {
        let params = to_raw(R::METHOD, &params)?;
        let raw = self.call(R::METHOD, &params, timeout).await?;
        decode_raw(R::METHOD, &raw)
    }

    /// Sends a request and returns the raw `result` JSON. Every other request method ends
    /// here.
    ///
    /// A request the server rejects as overloaded is sent again (with a new id) as the
    /// [`overload_retry`](ConnectionOptions::overload_retry) policy says, and fails with
    /// [`Error::RetryLimitExceeded`] when every attempt was overloaded; any other error is
    /// returned at once. `timeout` applies to each attempt.
    pub async fn call(&self, method: &str, params: &RawValue, timeout: Duration) -> Result<Box<RawValue>> {
        self.check_supported(method)?;
        // A read whose link dropped before its answer is sent again on the next link (at
        // most a few times: a link that keeps dropping under it fails it at last).
        let mut drops = 0;
        loop {
            match self.call_retrying(method, params, timeout).await {
                Err(Error::OutcomeUnknown { .. }) if super::link::is_read(method) && drops < MAX_READ_RESENDS => {
                    drops += 1;
                    tracing::debug!(method, drops, "the link dropped under a read; sending it again");
                }
                outcome => return outcome,
            }
        }
    }

    /// [`call`](Self::call) with the overload retry.
    async fn call_retrying(&self, method: &str, params: &RawValue, timeout: Duration) -> Result<Box<RawValue>> {
        match &self.inner.overload_retry {
            Some(policy) => {
                // A backoff ends early when the connection closes: the next attempt then
                // fails at once with the close error.
                let closed = self.shared().closed_watch();
                let wait = |delay: Duration| {
                    let mut closed = closed.clone();
                    async move {
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = closed.wait_for(Option::is_some) => {}
                        }
                    }
                };
                retry_overloaded(policy, method, || self.call_once(method, params, timeout), wait).await
            }
            None => self.call_once(method, params, timeout).await,
        }
    }

    /// One attempt of [`call`](Self::call).
    async fn call_once(&self, method: &str, params: &RawValue, timeout: Duration) -> Result<Box<RawValue>> {
        let shared = self.shared();
        let id = shared.next_request_id();
        let (tx, rx) = oneshot::channel();
        let observed = super::subscriptions::answer_is_observed(method);
        let mut in_flight = None;
        let mark = {
            let mut state = shared.lock();
            if let Some(info) = &state.closed {
                return Err(info.to_error());
            }
            state.pending.insert(id, method, tx);
            if let Some(kind) = InFlight::of(method) {
                // Server requests of the thread wait for a start's answer to know whose turn
                // it is; the thread is not let go while a resume is in flight.
                if let Some(thread_id) = super::turns::thread_id_param(params.get()) {
                    let starting = kind == InFlight::Start;
                    let tag = starting.then(|| super::turns::message_tag_param(params.get())).flatten();
                    state.turns.begin(&thread_id, starting, tag);
                    in_flight = Some(InFlightGuard { shared, thread_id, starting, done: false, let_go: None });
                }
            }
            state.router.counters.notifications
        };
        let guard = PendingGuard { shared, id };
        let started = std::time::Instant::now();
        // The timeout covers queueing too: a server that stops reading fills the queue.
        let outcome = tokio::time::timeout(timeout, async {
            shared.send_outgoing(Outgoing::Request(id, encode_request(id, method, params))).await?;
            Ok::<_, Error>(rx.await)
        })
        .await;
        drop(guard);
        let outcome = match outcome {
            Ok(Ok(received)) => Ok(received),
            Ok(Err(send_failed)) => return Err(send_failed),
            Err(elapsed) => Err(elapsed),
        };
        // Method, id, duration and outcome only: params and results may carry secrets.
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match &outcome {
            Ok(Ok(Ok(_))) => tracing::debug!(method, id, elapsed_ms, "request ok"),
            Ok(Ok(Err(e))) => {
                let code = e.rpc_error().map(|r| r.code.code());
                tracing::debug!(method, id, elapsed_ms, code, "request failed")
            }
            _ => {}
        }
        if observed {
            if let Ok(Ok(Ok(result))) = &outcome {
                // The turn book learns from the answer — and a turn/start's count ends — in
                // one step, so nobody sees the start answered but the turn not yet owned.
                let mut state = shared.lock();
                let seen_at = state.router.counters.notifications;
                state.turns.observe_answer(method, params.get(), result.get(), mark, seen_at);
                if let Some(in_flight) = in_flight.as_mut() {
                    in_flight.end(&mut state);
                }
            }
        }
        drop(in_flight);
        match outcome {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(shared.closed_error().unwrap_or_else(Error::closed_unknown)),
            Err(_) => {
                tracing::warn!(method, id, ?timeout, "request timed out");
                Err(Error::Timeout { method: method.to_owned(), after: timeout })
            }
        }
    }

    /// Sends a notification (`Value::Null` = no params).
    pub async fn notify(&self, method: &str, params: Value) -> Result<()> {
        let params = to_raw(method, &params)?;
        self.shared().send_message(encode_notification(method, &params)).await
    }

    /// Sends a typed notification.
    pub async fn send_notification<N: Notification>(&self, params: N::Params) -> Result<()> {
        let params = to_raw(N::METHOD, &params)?;
        self.shared().send_message(encode_notification(N::METHOD, &params)).await
    }

    // ----- routing -----------------------------------------------------------------------

    /// Reserves the next turn of `thread_id`: call before sending `turn/start`, then
    /// [`claim`](TurnReservation::claim) with the turn id from the response. Waits while
    /// another reservation for the same thread is open (one `turn/start` in flight per
    /// thread). On a closed connection the claim yields the close error.
    pub async fn reserve_turn(&self, thread_id: &str) -> Result<TurnReservation> {
        let shared = self.shared();
        let guard = super::subscriptions::thread_lock(shared, thread_id).lock_owned().await;
        let mut state = shared.lock();
        if let Some(info) = &state.closed {
            let error = info.to_error();
            drop(state);
            drop(guard);
            return Err(error);
        }
        let key = state.router.reserve(thread_id);
        drop(state);
        Ok(TurnReservation::new(shared, thread_id.to_owned(), key, guard))
    }

    /// A stream of the events, from now on, of the turn running on `thread_id`, checked and
    /// subscribed in one step (so its `turn/completed` cannot slip between them). `Ok(None)`
    /// when no turn runs (or the connection is closed); `Err(())` when the thread is known
    /// to be active but its turn is not named yet.
    pub(crate) fn follow_running_turn(&self, thread_id: &str) -> std::result::Result<Option<TurnStream>, ()> {
        let shared = self.shared();
        let mut state = shared.lock();
        if state.closed.is_some() {
            return Ok(None);
        }
        let Some((running, _)) = state.turns.busy(thread_id) else { return Ok(None) };
        let Some(turn_id) = running.turn_id else { return Err(()) };
        let queue = state.router.subscribe_turn(&turn_id);
        drop(state);
        Ok(Some(TurnStream::new(shared, turn_id, queue)))
    }

    /// Streams the events of an already known turn from now on (no early events).
    pub fn subscribe_turn(&self, turn_id: &str) -> TurnStream {
        let shared = self.shared();
        let mut state = shared.lock();
        let queue = match &state.closed {
            Some(info) => {
                let q = super::queue::Queue::new(1);
                q.close(info);
                q
            }
            None => state.router.subscribe_turn(turn_id),
        };
        drop(state);
        TurnStream::new(shared, turn_id.to_owned(), queue)
    }

    /// Subscribes to notifications matching `filter`.
    pub fn subscribe(&self, filter: EventFilter) -> EventStream {
        let shared = self.shared();
        let mut state = shared.lock();
        let (key, queue) = state.router.subscribe(filter);
        if let Some(info) = state.closed.clone() {
            state.router.unsubscribe(key);
            queue.close(&info);
        }
        drop(state);
        EventStream::new(shared, key, queue)
    }

    /// Every notification of `thread_id` (its turns' events included). The thread stays
    /// subscribed on the server while the stream lives.
    pub fn subscribe_thread(&self, thread_id: &str) -> EventStream {
        self.subscribe(EventFilter::Thread(thread_id.to_owned())).keeping(self.thread_interest(thread_id))
    }

    /// Every notification on this connection.
    pub fn subscribe_all(&self) -> EventStream {
        self.subscribe(EventFilter::All)
    }

    /// Every notification on this connection, typed (as [`Codex::notifications`](crate::Codex::notifications)).
    pub fn notifications(&self) -> super::notifications::Notifications {
        super::notifications::Notifications::new(self.subscribe_all())
    }

    /// Starts a turn with raw params: reserves `params.threadId`, subscribes this connection
    /// to the thread if it is not (see [`Thread::turn_with`](crate::Thread::turn_with)),
    /// sends `turn/start`, and claims the turn id from the response (`result.turn.id`). The
    /// stream keeps the thread subscribed while it lives.
    pub async fn start_turn_raw(&self, params: Value) -> Result<(Value, TurnStream)> {
        let thread_id = params
            .get("threadId")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Encode {
                method: crate::method_names::TURN_START.to_owned(),
                source: serde::de::Error::custom("params.threadId must be a string"),
            })?
            .to_owned();
        let reservation = self.reserve_turn(&thread_id).await?;
        self.ensure_subscribed(&thread_id).await?;
        let response = self.request_raw(crate::method_names::TURN_START, params).await?;
        let turn_id = response
            .pointer("/turn/id")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Decode {
                method: crate::method_names::TURN_START.to_owned(),
                source: serde::de::Error::custom("response has no string `turn.id`"),
            })?
            .to_owned();
        Ok((response, reservation.claim(turn_id)))
    }

    // ----- lifecycle ---------------------------------------------------------------------

    /// Where the link stands now: connected, reconnecting (a connection made by
    /// [`connect_with_reconnect`](Self::connect_with_reconnect)) or closed.
    pub fn state(&self) -> ConnectionState {
        self.shared().state_watch().borrow().clone()
    }

    /// A receiver that sees every change of [`state`](Self::state) (no polling:
    /// `changed().await`).
    pub fn state_changes(&self) -> watch::Receiver<ConnectionState> {
        self.shared().state_watch()
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.shared().lock().closed.is_some()
    }

    /// The [`Error::TransportClosed`] every call gets, once the connection is closed.
    pub fn close_error(&self) -> Option<Error> {
        self.shared().closed_error()
    }

    /// Waits until the connection closes and returns its [`Error::TransportClosed`].
    pub async fn closed(&self) -> Error {
        let mut rx = self.shared().closed_watch();
        let error = match rx.wait_for(Option::is_some).await {
            Ok(info) => info.as_ref().map(|i| i.to_error()),
            Err(_) => None,
        };
        error.unwrap_or_else(Error::closed_unknown)
    }

    /// Shuts down gracefully and closes the connection for every clone; the close reason is
    /// [`CloseReason::ClosedByClient`].
    ///
    /// A spawned process gets its stdin closed and up to 3 s to exit, then is killed. An
    /// attached server (WebSocket, unix socket) gets a WebSocket close frame; the server
    /// itself keeps running.
    ///
    /// First it delivers what dropping turn handles promised: for each turn this client
    /// owes an interrupt (its handle was dropped and the turn has not ended), it waits —
    /// at most [`CLOSE_INTERRUPT_WAIT`](super::CLOSE_INTERRUPT_WAIT) in all — until the server reports the turn ended (an
    /// interrupt's answer is not enough: the server drops an interrupt whose connection
    /// closes right after it). The returned [`CloseReport`] names any turn it had to leave
    /// running. Detached turns are left running by design and are not reported.
    pub async fn close(&self) -> CloseReport {
        let report = self.deliver_owed_interrupts().await;
        self.close_transport().await;
        report
    }

    async fn close_transport(&self) {
        let shared = self.shared();
        shared.closing_by_client.store(true, Ordering::Release);
        // The writer closes the sink (bounded): a WebSocket close frame, a spawned process's
        // stdin (then its exit, or its kill); then the connection is closed here.
        shared.request_shutdown();
        shared.writer_finished().await;
        shared.close_now(CloseReason::ClosedByClient);
    }

    /// A snapshot of the internal counters.
    pub fn stats(&self) -> ConnectionStats {
        let shared = self.shared();
        let state = shared.lock();
        let r = &state.router;
        ConnectionStats {
            notifications_received: r.counters.notifications,
            notifications_unrouted: r.counters.unrouted,
            events_lagged: r.counters.lagged,
            invalid_messages: shared.counters.invalid_messages.load(Ordering::Relaxed),
            unmatched_responses: shared.counters.unmatched_responses.load(Ordering::Relaxed),
            server_requests: shared.counters.server_requests.load(Ordering::Relaxed),
            server_requests_left: shared.counters.server_requests_left.load(Ordering::Relaxed),
            server_requests_shed: shared.counters.server_requests_shed.load(Ordering::Relaxed),
            server_requests_in_flight: shared.counters.server_requests_in_flight.load(Ordering::Relaxed),
            pending_requests: state.pending.len(),
            turn_subscriptions: r.turn_subscriptions(),
            reservations: r.reservations(),
            subscriptions: r.subscriptions(),
            buffered_events: r.buffered_events(),
        }
    }
}

#[cfg(test)]
impl Connection {
    /// Number of per-thread turn locks currently tracked.
    pub(crate) fn turn_lock_count(&self) -> usize {
        self.shared().turn_locks.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

fn decode_raw<T: serde::de::DeserializeOwned>(method: &str, raw: &RawValue) -> Result<T> {
    serde_json::from_str(raw.get()).map_err(|source| Error::Decode { method: method.to_owned(), source })
}

/// The requests the turn book counts while they are in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InFlight {
    /// `turn/start`, `review/start`: whose turn it starts is known from the answer.
    Start,
    /// `thread/resume`: it subscribes the thread.
    Resume,
}

impl InFlight {
    fn of(method: &str) -> Option<InFlight> {
        match method {
            crate::method_names::TURN_START | crate::method_names::REVIEW_START => Some(InFlight::Start),
            crate::method_names::THREAD_RESUME => Some(InFlight::Resume),
            _ => None,
        }
    }
}

/// Ends the turn book's count of one request in flight (answered, failed, timed out or
/// cancelled), and wakes the server requests waiting to know whose turn it was.
struct InFlightGuard<'a> {
    shared: &'a Arc<Shared>,
    thread_id: String,
    starting: bool,
    done: bool,
    let_go: Option<String>,
}

impl InFlightGuard<'_> {
    fn end(&mut self, state: &mut super::state::State) {
        if !std::mem::replace(&mut self.done, true) {
            self.let_go = state.turns.end(&self.thread_id, self.starting);
        }
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            let shared = self.shared;
            self.end(&mut shared.lock());
        }
        self.shared.turns_changed.notify_waiters();
        if let Some(thread_id) = self.let_go.take() {
            super::subscriptions::unsubscribe(self.shared, thread_id);
        }
    }
}

/// Removes a pending entry when the request finishes, times out or is cancelled.
struct PendingGuard<'a> {
    shared: &'a Shared,
    id: i64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.shared.lock().pending.remove(self.id);
    }
}
