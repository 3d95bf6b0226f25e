//! The `decode_route` harness: arbitrary bytes as the app-server's stdout — or as the
//! WebSocket frames it sends — through the SDK's real reader, framing, router, streams,
//! server-request dispatch and typed decoders.
//!
//! Shared, via `#[path]`, by the fuzz target (`fuzz/fuzz_targets/decode_route.rs`) and the
//! regression test (`sdk/tests/fuzz_regressions.rs`); it uses only the SDK's public API.
//!
//! # Input
//!
//! Lines. A line starting with `#` is a harness command; every other byte goes verbatim to
//! the SDK as server output, through a pipe of `pipe` bytes (so lines arrive split).
//!
//! | command | what the harness does |
//! | --- | --- |
//! | `#opts <max> <turn> <sub> <pipe> [ws]` | first line only: max message size, turn and subscription buffers, pipe capacity; `ws` selects the WebSocket wire (below) |
//! | `#call initialize` | `Connection::initialize` (typed `ServerMetadata`) |
//! | `#call thread/start` | `Codex::from_connection` then `Codex::thread_start` (typed response, `ThreadSettings`; the thread is kept for the run, so it stays subscribed); before `initialize` completed, `NotInitialized` and nothing sent |
//! | `#call turn/start <thread>` | `Codex::from_connection`, `Thread::turn(..).run()` (before `initialize`, `NotInitialized`): reservation, a `thread/resume` first when the thread was not started here, typed response, turn stream, `TurnResult` |
//! | `#call <method>` | `Connection::request_raw(method, null)` |
//! | `#reserve <thread>` / `#claim <thread> <turn>` | a raw turn reservation, then its claim |
//! | `#turn <turn>` / `#thread <thread>` / `#all` / `#unscoped` | a raw turn stream or subscription |
//! | `#drain` | takes every item already buffered in every stream |
//! | `#drop` | drops the oldest stream made by a command |
//! | `#close` | `Connection::close` (the input keeps flowing) |
//!
//! ## The WebSocket wire (`#opts … ws`)
//!
//! The SDK attaches with [`UnixSocketEndpoint`] (the same upgrade and WebSocket transport
//! as `ws://` URLs) to a server the harness runs on a unix socket: tokio-tungstenite
//! accepts the upgrade and parses every frame the client sends, and the harness writes the
//! server's frames itself (unmasked, as a server must), so the input can also send frames
//! no well-behaved server would. Every data line (without its `\n`; blank lines skipped)
//! is one text frame, its bytes verbatim (not necessarily UTF-8). `#ws` commands send other
//! frames (ignored on the newline wire):
//!
//! | command | frame(s) |
//! | --- | --- |
//! | `#ws frag <n>` | the next text message goes out in `n` fragments (1–8) |
//! | `#ws big <id> <size>` | a text message `{"id":<id>,"result":"xx…"}` of `size` bytes, at most one over the hard cap (`max + max(max, 1 MiB)`); over the cap only its header and first bytes are written |
//! | `#ws binary <n>` | a binary frame of `n` bytes (at most 64 KiB) |
//! | `#ws ping <payload…>` / `#ws pong <payload…>` | a ping / an unsolicited pong (payload over 125 bytes is invalid) |
//! | `#ws close [<code> [<reason…>]]` | a close frame (any code; none without one) |
//! | `#ws raw <hex…>` | raw bytes (a malformed frame, reserved bits, a masked frame, …) |
//! | `#ws eof` | the server shuts its side down without a close frame |
//!
//! A frame is only written while the connection is open (a fatal frame closes it, and the
//! client then stops reading). At the end of the input the server shuts its side down.
//!
//! Each request runs in its own task; the next command runs once it was sent. A
//! client-wide subscription and `Codex::notifications` exist from the start. Server requests
//! are answered by the generated typed dispatcher over an `ApprovalHandler`. At the end of
//! the input the harness waits for the close and drains everything.
//!
//! # What must hold (a violation panics)
//!
//! No panic anywhere (tasks included); the connection closes at end of input; every stream
//! ends; a turn stream carries only its turn and nothing after `turn/completed`; a thread
//! subscription only its thread; an unscoped one only unscoped events; `Lagged` skips at
//! least one; a typed notification or request keeps its method; malformed params of a known
//! server request are answered `-32602`; the client-wide subscription accounts for every
//! notification (delivered + skipped = received); every line the SDK writes is a
//! well-formed JSON-RPC message; nothing is left pending, subscribed or buffered.
//!
//! On the WebSocket wire also: the client sends only text frames (each a well-formed
//! JSON-RPC message), never a frame the server's parser rejects, and nothing after its
//! close frame; every pong it sends carries the payload of a ping the server sent, in
//! order; a connection closed by the server's close frame reports that frame's code and
//! reason (1005 for none) and is answered with a close frame (a code that may not be sent is
//! a protocol violation); the client closes its socket once the connection is closed.
//!
//! The runtime is a current-thread Tokio runtime with paused time (built once per thread),
//! so backoffs and timeouts cost nothing and a hang shows as an immediate timeout. (Paused
//! time and a unix socket are compatible: a write is readable by the peer as soon as the
//! write returns, so the runtime never idles, and advances its clock, while bytes are in
//! flight.)

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::task::{Context, Poll};
use std::time::Duration;

use codex_driver::attach::UnixSocketEndpoint;
use codex_driver::methods::{dispatch_server_request, ServerNotification, ServerRequest, SERVER_NOTIFICATION_METHODS};
use codex_driver::rpc::{
    handler_fn, Connection, ConnectionOptions, ConnectionStats, Event, EventFilter, EventStream, InitializeOptions,
    RawServerRequest, RawServerRequestHandler, TurnReservation, TurnStream,
};
use codex_driver::types::{CommandExecutionApprovalDecision, FileChangeApprovalDecision};
use codex_driver::{ApprovalHandler, CloseReason, Codex, Error, Notifications, ThreadOptions};
use futures::{FutureExt, StreamExt};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;

/// Longest the harness waits for anything (virtual time: a hang fails at once).
const PATIENCE: Duration = Duration::from_secs(60);
/// At most this many commands, request tasks and command-made streams per input.
const MAX_COMMANDS: usize = 256;
const MAX_TASKS: usize = 16;
const MAX_STREAMS: usize = 16;

/// What one input exercised (the regression test asserts on it; the fuzzer ignores it).
#[derive(Debug, Default, Clone)]
#[allow(dead_code)]
pub struct Report {
    /// The connection's counters once it closed.
    pub stats: ConnectionStats,
    /// Events taken from the raw streams and subscriptions.
    pub events: usize,
    /// Events skipped, as reported by `Lagged` items.
    pub skipped: u64,
    /// Notifications that decoded into a known typed variant.
    pub typed: usize,
    /// Notifications of a known method whose params did not decode.
    pub decode_errors: usize,
    /// Server requests the handler answered.
    pub server_requests: usize,
    /// Request tasks that succeeded.
    pub requests_ok: usize,
    /// Request tasks that failed with `MessageTooLarge`.
    pub too_large: usize,
    /// High-level turns that ended with a `TurnResult`.
    pub turn_results: usize,
    /// High-level calls refused locally because `initialize` had not completed.
    pub not_initialized: usize,
    /// Replies the SDK wrote to server requests.
    pub replies: usize,
    /// Why the connection closed.
    pub close_reason: Option<CloseReason>,
    /// What the server of the WebSocket wire saw (`None` on the newline wire).
    pub ws: Option<ws::WsReport>,
}

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts panics in every thread and task (Tokio and the handler dispatcher catch them;
/// the fuzzer's own hook, called next, aborts).
fn watch_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .enable_io()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
}

/// Runs one input; panics if anything above does not hold.
pub fn run(data: &[u8]) -> Report {
    watch_panics();
    let before = PANICS.load(Ordering::SeqCst);
    let report = RUNTIME.with(|rt| rt.block_on(drive(data)));
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        before,
        "a task panicked while the SDK handled this input (message above)"
    );
    report
}

/// One harness command, split into words.
type Command = Vec<String>;

enum Step<'a> {
    Data(&'a [u8]),
    Command(Command),
}

struct Options {
    max_message_size: usize,
    turn_buffer: usize,
    subscription_buffer: usize,
    pipe: usize,
    /// The WebSocket wire instead of newline-delimited bytes.
    websocket: bool,
}

fn parse(data: &[u8]) -> (Options, Vec<Step<'_>>) {
    let mut options =
        Options { max_message_size: 4096, turn_buffer: 4, subscription_buffer: 4, pipe: 512, websocket: false };
    let mut steps = Vec::new();
    let mut data_start = 0;
    let mut pos = 0;
    let mut first = true;
    while pos < data.len() {
        let end = data[pos..].iter().position(|&b| b == b'\n').map_or(data.len(), |i| pos + i + 1);
        if data[pos] == b'#' {
            if data_start < pos {
                steps.push(Step::Data(&data[data_start..pos]));
            }
            let words: Command =
                String::from_utf8_lossy(&data[pos + 1..end]).split_ascii_whitespace().map(str::to_owned).collect();
            if first && words.first().map(String::as_str) == Some("opts") {
                let num = |i: usize, default: usize, max: usize| {
                    words.get(i).and_then(|w| w.parse::<usize>().ok()).unwrap_or(default).clamp(1, max)
                };
                options = Options {
                    max_message_size: num(1, options.max_message_size, 1 << 20),
                    turn_buffer: num(2, options.turn_buffer, 64),
                    subscription_buffer: num(3, options.subscription_buffer, 64),
                    pipe: num(4, options.pipe, 1 << 16),
                    websocket: words.get(5).map(String::as_str) == Some("ws"),
                };
            } else if steps.len() < MAX_COMMANDS {
                steps.push(Step::Command(words));
            }
            data_start = end;
        }
        first = false;
        pos = end;
    }
    if data_start < data.len() {
        steps.push(Step::Data(&data[data_start..]));
    }
    (options, steps)
}

/// Where the SDK's output goes.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl tokio::io::AsyncWrite for Sink {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The server-request handler: the generated typed dispatcher over an `ApprovalHandler`,
/// checked against `ServerRequest::decode`.
fn handler(report: Arc<Mutex<Report>>) -> Arc<dyn RawServerRequestHandler> {
    let approvals = ApprovalHandler::new()
        .on_command_execution(|_| async { CommandExecutionApprovalDecision::Accept })
        .on_file_change(|_| async { FileChangeApprovalDecision::Decline });
    Arc::new(handler_fn(move |request: RawServerRequest| {
        let approvals = approvals.clone();
        let report = report.clone();
        async move {
            let method = request.method.as_str();
            let decoded = ServerRequest::decode(method, request.params.clone());
            let reply = dispatch_server_request(&approvals, method, request.params.clone()).await;
            match &decoded {
                Ok(typed) => assert_eq!(typed.method(), method, "a typed server request changed its method"),
                Err(e) => {
                    assert_eq!(e.method, method, "a decode error names another method");
                    assert!(
                        reply.as_ref().is_err_and(|r| r.code.is_invalid_params()),
                        "malformed `{method}` params were not answered -32602: {reply:?}"
                    );
                }
            }
            report.lock().unwrap().server_requests += 1;
            reply
        }
    }))
}

/// A stream made by a command or by the harness, with what it has yielded so far.
enum Watched {
    Turn(String, TurnStream),
    Events(EventFilter, EventStream),
    Typed(Notifications),
}

struct Watch {
    stream: Watched,
    /// Items that were events (typed: events and decode errors).
    events: usize,
    skipped: u64,
    completed: bool,
    closed: bool,
    ended: bool,
    /// Decode every event typed (done in one stream only, to keep runs fast).
    decode: bool,
}

impl Watch {
    fn new(stream: Watched) -> Self {
        Watch { stream, events: 0, skipped: 0, completed: false, closed: false, ended: false, decode: false }
    }

    /// The next item: `Some` if one was ready (or, with `wait`, once one is).
    async fn step(&mut self, wait: bool, report: &mut Report) -> bool {
        if self.ended {
            return false;
        }
        let item = match &mut self.stream {
            Watched::Turn(_, s) => next(s, wait).await.map(|o| o.map(|r| r.map(Item::Raw))),
            Watched::Events(_, s) => next(s, wait).await.map(|o| o.map(|r| r.map(Item::Raw))),
            Watched::Typed(s) => next(s, wait).await.map(|o| {
                o.map(|r| match r {
                    Ok(notification) => Ok(Item::Typed(Box::new(notification))),
                    Err(Error::Decode { .. }) => Ok(Item::DecodeError),
                    Err(e) => Err(e),
                })
            }),
        };
        let Some(item) = item else { return false };
        let Some(item) = item else {
            // The end: after turn/completed or the close error, nothing else.
            assert!(self.completed || self.closed, "a stream ended without turn/completed or the close error");
            self.ended = true;
            return false;
        };
        assert!(!self.completed && !self.closed, "a stream yielded an item after its end");
        match item {
            Ok(Item::Raw(event)) => {
                self.events += 1;
                report.events += 1;
                self.check_event(&event, report);
            }
            Ok(Item::Typed(notification)) => {
                self.events += 1;
                let known = SERVER_NOTIFICATION_METHODS.contains(&notification.method());
                let unrecognized = matches!(*notification, ServerNotification::Unrecognized { .. });
                assert!(!(known && unrecognized), "a known method decoded as Unrecognized");
            }
            Ok(Item::DecodeError) => self.events += 1,
            Err(Error::Lagged { skipped }) => {
                assert!(skipped > 0, "Lagged with nothing skipped");
                self.skipped += skipped;
                report.skipped += skipped;
            }
            Err(e) if e.is_transport_closed() => self.closed = true,
            Err(other) => panic!("a stream yielded an unexpected error: {other:?}"),
        }
        true
    }

    fn check_event(&mut self, event: &Event, report: &mut Report) {
        match &self.stream {
            Watched::Turn(turn, _) => {
                assert_eq!(event.turn_id(), Some(turn.as_str()), "a turn stream got another turn's event");
                self.completed = event.method() == "turn/completed";
            }
            Watched::Events(EventFilter::Thread(thread), _) => {
                assert_eq!(
                    event.thread_id(),
                    Some(thread.as_str()),
                    "a thread subscription got another thread's event"
                );
            }
            Watched::Events(EventFilter::Unscoped, _) => {
                assert!(
                    event.thread_id().is_none() && event.turn_id().is_none(),
                    "an unscoped subscription got a scoped event"
                );
            }
            _ => {}
        }
        if !self.decode {
            return;
        }
        // Typed decoding, once per event: in the client-wide subscription made first.
        let decoded = event.params_value().map_err(|e| e.to_string()).and_then(|params| {
            ServerNotification::decode(event.method(), params).map_err(|e| {
                assert_eq!(e.method, event.method(), "a decode error names another method");
                e.to_string()
            })
        });
        match decoded {
            Ok(ServerNotification::Unrecognized { method, .. }) => {
                assert_eq!(method, event.method())
            }
            Ok(typed) => {
                assert_eq!(typed.method(), event.method(), "a typed notification changed its method");
                report.typed += 1;
            }
            Err(_) => report.decode_errors += 1,
        }
    }
}

/// One item of a stream, unified over raw and typed streams.
enum Item {
    Raw(Event),
    Typed(Box<ServerNotification>),
    DecodeError,
}

/// `Some(item)` if the stream had one ready (or, with `wait`, once it has one).
async fn next<S: futures::Stream + Unpin>(stream: &mut S, wait: bool) -> Option<Option<S::Item>> {
    if wait {
        match tokio::time::timeout(PATIENCE, stream.next()).await {
            Ok(item) => Some(item),
            Err(_) => panic!("a stream did not end after the connection closed"),
        }
    } else {
        stream.next().now_or_never()
    }
}

/// What a request task ended with.
enum Outcome {
    Ok,
    TurnResult,
    Failed(Error),
}

struct Harness {
    conn: Connection,
    report: Report,
    defaults: Vec<Watch>,
    watched: VecDeque<Watch>,
    reservations: Vec<TurnReservation>,
    tasks: Vec<JoinHandle<Outcome>>,
    /// The threads `#call thread/start` made, kept for the run (so the connection stays
    /// subscribed to them and lets none go mid-input).
    threads: Arc<Mutex<Vec<codex_driver::Thread>>>,
    /// `notifications_received` when `#close` closed the connection.
    received_at_close: Option<u64>,
}

impl Harness {
    async fn command(&mut self, words: &[String]) {
        let word = |i: usize| words.get(i).cloned().unwrap_or_default();
        match words.first().map(String::as_str) {
            Some("call") if self.tasks.len() < MAX_TASKS => self.call(&word(1), word(2)).await,
            Some("reserve") => {
                let thread = word(1);
                self.reservations.retain(|r| r.thread_id() != thread);
                // Never wait: a turn task may hold this thread's lock until more input arrives.
                if let Some(Ok(reservation)) = self.conn.reserve_turn(&thread).now_or_never() {
                    self.reservations.push(reservation);
                }
            }
            Some("claim") => {
                let (thread, turn) = (word(1), word(2));
                if let Some(i) = self.reservations.iter().position(|r| r.thread_id() == thread) {
                    let stream = self.reservations.swap_remove(i).claim(turn.clone());
                    self.watch(Watched::Turn(turn, stream));
                }
            }
            Some("turn") => {
                let turn = word(1);
                let stream = self.conn.subscribe_turn(&turn);
                self.watch(Watched::Turn(turn, stream));
            }
            Some("thread") => {
                let filter = EventFilter::Thread(word(1));
                let stream = self.conn.subscribe(filter.clone());
                self.watch(Watched::Events(filter, stream));
            }
            Some("all") => self.watch(Watched::Events(EventFilter::All, self.conn.subscribe_all())),
            Some("unscoped") => {
                let stream = self.conn.subscribe(EventFilter::Unscoped);
                self.watch(Watched::Events(EventFilter::Unscoped, stream));
            }
            Some("drain") => self.drain(false).await,
            Some("drop") => drop(self.watched.pop_front()),
            Some("close") => {
                self.conn.close().await;
                // Notifications read after the close reach no subscriber.
                self.received_at_close.get_or_insert(self.conn.stats().notifications_received);
            }
            _ => {}
        }
    }

    fn watch(&mut self, stream: Watched) {
        if self.watched.len() < MAX_STREAMS {
            self.watched.push_back(Watch::new(stream));
        }
    }

    /// Spawns one request and lets it run until it was sent (or gave up waiting).
    async fn call(&mut self, method: &str, thread: String) {
        let conn = self.conn.clone();
        let method = method.to_owned();
        let threads = self.threads.clone();
        let before = self.conn.stats().pending_requests;
        let task = tokio::spawn(async move {
            let outcome = match method.as_str() {
                "initialize" => conn.initialize(&InitializeOptions::default()).await.map(|_| Outcome::Ok),
                // The high-level API needs an initialized connection: before that, a typed
                // `NotInitialized` and nothing sent.
                "thread/start" => {
                    async {
                        let t = Codex::from_connection(conn)?.thread_start(&ThreadOptions::default()).await?;
                        let _ = (t.id(), t.settings());
                        threads.lock().unwrap().push(t);
                        Ok(Outcome::Ok)
                    }
                    .await
                }
                "turn/start" => {
                    async {
                        let codex = Codex::from_connection(conn)?;
                        let turn = codex.thread_handle(thread).turn("fuzz").await?;
                        let result = turn.run().await?;
                        let _ = result.final_response();
                        Ok(Outcome::TurnResult)
                    }
                    .await
                }
                _ => conn.request_raw(&method, Value::Null).await.map(|_| Outcome::Ok),
            };
            outcome.unwrap_or_else(Outcome::Failed)
        });
        for _ in 0..64 {
            if task.is_finished() || self.conn.stats().pending_requests > before {
                break;
            }
            tokio::task::yield_now().await;
        }
        self.tasks.push(task);
    }

    /// Takes every ready item (or, with `wait`, every item until each stream ends).
    async fn drain(&mut self, wait: bool) {
        for watch in self.defaults.iter_mut().chain(self.watched.iter_mut()) {
            while watch.step(wait, &mut self.report).await {}
        }
    }
}

async fn settle() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

/// The server's side of the wire.
enum Wire {
    /// Newline-delimited bytes through an in-memory pipe; what the SDK writes.
    Lines { feed: Option<tokio::io::DuplexStream>, sink: Sink },
    /// WebSocket frames over a unix socket.
    WebSocket(ws::Server),
}

async fn drive(data: &[u8]) -> Report {
    let (options, steps) = parse(data);
    let shared_report = Arc::new(Mutex::new(Report::default()));
    let connection_options = ConnectionOptions::default()
        .with_handler(handler(shared_report.clone()))
        .with_max_message_size(options.max_message_size)
        .with_buffers(options.turn_buffer, options.subscription_buffer)
        .with_request_timeout(Duration::from_secs(3600));
    let (conn, mut wire) = if options.websocket {
        let (conn, server) = ws::connect(connection_options, options.max_message_size).await;
        (conn, Wire::WebSocket(server))
    } else {
        let (feed, server_stdout) = tokio::io::duplex(options.pipe);
        let sink = Sink::default();
        let transport = codex_driver::rpc::Transport::lines(
            server_stdout,
            sink.clone(),
            connection_options.max_message_size,
            codex_driver::Endpoint::custom("fuzz"),
        );
        let conn = Connection::from_transport(transport, connection_options);
        (conn, Wire::Lines { feed: Some(feed), sink })
    };
    let mut h = Harness {
        defaults: vec![
            Watch { decode: true, ..Watch::new(Watched::Events(EventFilter::All, conn.subscribe_all())) },
            Watch::new(Watched::Typed(conn.notifications())),
        ],
        conn,
        report: Report::default(),
        watched: VecDeque::new(),
        reservations: Vec::new(),
        tasks: Vec::new(),
        threads: Arc::default(),
        received_at_close: None,
    };
    for step in steps {
        match (step, &mut wire) {
            (Step::Data(bytes), Wire::Lines { feed: Some(feed), .. }) => {
                match tokio::time::timeout(PATIENCE, feed.write_all(bytes)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => panic!("the SDK stopped reading its input: {e}"),
                    Err(_) => panic!("the SDK stopped reading its input"),
                }
            }
            (Step::Data(bytes), Wire::WebSocket(server)) => server.data(&h.conn, bytes).await,
            (Step::Command(words), wire) if words.first().map(String::as_str) == Some("ws") => {
                if let Wire::WebSocket(server) = wire {
                    server.command(&h.conn, &words[1..]).await;
                }
            }
            (Step::Command(words), _) => h.command(&words).await,
            (Step::Data(_), Wire::Lines { feed: None, .. }) => unreachable!("the feed ends last"),
        }
        settle().await;
        if let Wire::WebSocket(_) = wire {
            // Lets the runtime poll the socket: every frame written so far is handled.
            ws::settle().await;
        }
    }

    // End of input: the connection closes, every stream and task ends.
    match &mut wire {
        Wire::Lines { feed, .. } => drop(feed.take()),
        Wire::WebSocket(server) => server.shutdown(),
    }
    let closed = tokio::time::timeout(PATIENCE, h.conn.closed())
        .await
        .expect("the connection did not close at the end of its input");
    assert!(closed.is_transport_closed(), "closing reported {closed:?}");
    let close_reason = closed.close_reason().cloned();
    h.reservations.clear();
    h.drain(true).await;
    for task in std::mem::take(&mut h.tasks) {
        let outcome = tokio::time::timeout(PATIENCE, task)
            .await
            .expect("a request did not end after the connection closed")
            .expect("a request task panicked");
        match outcome {
            Outcome::Ok => h.report.requests_ok += 1,
            Outcome::TurnResult => h.report.turn_results += 1,
            Outcome::Failed(Error::MessageTooLarge { .. }) => h.report.too_large += 1,
            Outcome::Failed(Error::NotInitialized) => h.report.not_initialized += 1,
            Outcome::Failed(_) => {}
        }
    }
    let stats = h.conn.stats();
    // The client-wide subscriptions existed from the start: each notification received
    // before the close was delivered to them or reported as skipped.
    let received = h.received_at_close.unwrap_or(stats.notifications_received);
    for watch in &h.defaults {
        assert_eq!(watch.events as u64 + watch.skipped, received, "a client-wide subscription lost notifications");
    }
    h.defaults.clear();
    h.watched.clear();
    settle().await;
    let stats_after = h.conn.stats();
    assert_eq!(
        (stats_after.pending_requests, stats_after.turn_subscriptions, stats_after.reservations),
        (0, 0, 0),
        "left behind after the close: {stats_after:?}"
    );
    assert_eq!((stats_after.subscriptions, stats_after.buffered_events), (0, 0), "left behind: {stats_after:?}");
    let mut report = std::mem::take(&mut h.report);
    drop(h);
    settle().await;
    report.stats = stats.clone();
    report.server_requests = shared_report.lock().unwrap().server_requests;
    match wire {
        Wire::Lines { sink, .. } => report.replies = check_output(&sink.0.lock().unwrap()),
        Wire::WebSocket(server) => {
            let seen = server.finish(close_reason.as_ref().expect("a close reason")).await;
            report.replies = seen.replies;
            report.ws = Some(seen);
        }
    }
    report.close_reason = close_reason;
    assert!(report.replies as u64 <= stats.server_requests, "more replies than server requests");
    report
}

/// Every line the SDK wrote is a JSON-RPC request, notification or reply; returns the
/// number of replies.
fn check_output(out: &[u8]) -> usize {
    out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).filter(|line| check_message(line)).count()
}

/// Panics unless `message` is a JSON-RPC request, notification or reply; whether it is a
/// reply.
fn check_message(message: &[u8]) -> bool {
    let parsed: Value = serde_json::from_slice(message)
        .unwrap_or_else(|e| panic!("the SDK wrote invalid JSON ({e}): {}", String::from_utf8_lossy(message)));
    let object = parsed.as_object().expect("the SDK wrote a non-object");
    let has = |k: &str| object.contains_key(k);
    let (shape_ok, reply) = if has("method") {
        (object["method"].is_string() && !has("result") && !has("error"), false)
    } else {
        (has("id") && (has("result") != has("error")), true)
    };
    assert!(shape_ok, "the SDK wrote a malformed message: {parsed}");
    reply
}

/// The WebSocket wire: the server side, on a unix socket (see the module docs).
pub mod ws {
    use std::path::PathBuf;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll};
    use std::time::Duration;

    use codex_driver::rpc::{Connection, ConnectionOptions};
    use codex_driver::CloseReason;
    use futures::StreamExt;
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
    use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
    use tokio::net::UnixListener;
    use tokio::task::JoinHandle;
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    use tokio_tungstenite::tungstenite::protocol::Role;
    use tokio_tungstenite::tungstenite::{Error as WsError, Message};
    use tokio_tungstenite::WebSocketStream;

    use super::{UnixSocketEndpoint, PATIENCE};

    /// Most fragments of one message.
    const MAX_FRAGMENTS: usize = 8;
    /// Longest binary frame, ping or pong payload, and close reason the input can ask for.
    const MAX_BINARY: usize = 1 << 16;
    const MAX_CONTROL: usize = 256;

    /// What the server of the WebSocket wire saw.
    #[derive(Debug, Default, Clone)]
    #[allow(dead_code)]
    pub struct WsReport {
        /// Frames (or raw byte runs) the server wrote.
        pub frames_sent: usize,
        /// Text frames (JSON-RPC messages) the client sent.
        pub messages: usize,
        /// Of those, replies to server requests.
        pub replies: usize,
        /// The payloads of the client's pongs.
        pub pongs: Vec<Vec<u8>>,
        /// The client's close frame, if it sent one: its code (`None` without one).
        pub client_close: Option<Option<u16>>,
    }

    /// What the harness's reader saw of the client.
    #[derive(Default)]
    struct ClientSide {
        messages: usize,
        replies: usize,
        pongs: Vec<Vec<u8>>,
        close: Option<Option<u16>>,
    }

    pub(super) struct Server {
        /// The server's sending side; `None` once it shut down.
        write: Option<OwnedWriteHalf>,
        reader: Option<JoinHandle<ClientSide>>,
        /// The SDK's hard cap: `max + max(max, 1 MiB)`.
        hard_cap: usize,
        /// Fragments of the next text message.
        frag: Option<usize>,
        /// Payloads of the pings sent.
        pings: Vec<Vec<u8>>,
        /// The close frames sent: code and reason (`None` for an empty one).
        closes: Vec<Option<(u16, String)>>,
        /// Raw bytes were sent: the frames the client saw are not known.
        raw: bool,
        frames_sent: usize,
    }

    /// A per-thread socket path (the regression test runs inputs on several threads).
    fn socket_path() -> PathBuf {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        let index = INDEX.with(|i| *i);
        std::env::temp_dir().join(format!("codex-fuzz-ws-{}-{index}.sock", std::process::id()))
    }

    /// The client attached through the SDK's `UnixSocketEndpoint`, and the server's side.
    pub(super) async fn connect(options: ConnectionOptions, max: usize) -> (Connection, Server) {
        let path = socket_path();
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).expect("bind the harness's unix socket");
        // No keepalive: time is paused (and jumps when idle), and this peer reads only.
        let endpoint = UnixSocketEndpoint::new(&path).keepalive(None);
        let client = endpoint.connect(options);
        let server = async {
            let (stream, _) = listener.accept().await.expect("accept");
            tokio_tungstenite::accept_async(stream).await.expect("the server side of the upgrade")
        };
        let (conn, ws) = tokio::time::timeout(PATIENCE, async { tokio::join!(client, server) })
            .await
            .expect("the WebSocket upgrade hung");
        drop(listener);
        let _ = std::fs::remove_file(&path);
        let conn = conn.expect("the SDK's WebSocket upgrade");
        // The client sends nothing before its first request: no frame was read ahead.
        let (read, write) = ws.into_inner().into_split();
        let reader = WebSocketStream::from_raw_socket(ReadOnly(read), Role::Server, None).await;
        let server = Server {
            write: Some(write),
            reader: Some(tokio::spawn(read_client(reader))),
            hard_cap: max.saturating_add(max.max(1 << 20)),
            frag: None,
            pings: Vec::new(),
            closes: Vec::new(),
            raw: false,
            frames_sent: 0,
        };
        (conn, server)
    }

    /// Lets the runtime poll its sockets (paused time: costs nothing).
    pub(super) async fn settle() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    /// One server → client frame (unmasked).
    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = header(fin, opcode, payload.len() as u64);
        out.extend_from_slice(payload);
        out
    }

    fn header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        match len {
            0..=125 => out.push(len as u8),
            126..=0xffff => {
                out.push(126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                out.push(127);
                out.extend_from_slice(&len.to_be_bytes());
            }
        }
        out
    }

    /// The words joined by spaces, at most `max` bytes (whole characters).
    fn payload(words: &[String], max: usize) -> Vec<u8> {
        let mut text = words.join(" ");
        let mut end = text.len().min(max);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.into_bytes()
    }

    impl Server {
        /// Data lines: one text message each (blank lines skipped).
        pub(super) async fn data(&mut self, conn: &Connection, bytes: &[u8]) {
            for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                self.text(conn, line).await;
            }
        }

        /// A text message, in as many fragments as `#ws frag` said.
        async fn text(&mut self, conn: &Connection, message: &[u8]) {
            let fragments = self.frag.take().unwrap_or(1).clamp(1, MAX_FRAGMENTS);
            let size = message.len().div_ceil(fragments).max(1);
            let parts: Vec<&[u8]> = if message.is_empty() { vec![message] } else { message.chunks(size).collect() };
            let mut out = Vec::with_capacity(message.len() + 14 * parts.len());
            for (i, part) in parts.iter().enumerate() {
                out.extend(frame(i + 1 == parts.len(), if i == 0 { 0x1 } else { 0x0 }, part));
            }
            self.write(conn, &out).await;
        }

        /// A `#ws …` command (its words after `ws`).
        pub(super) async fn command(&mut self, conn: &Connection, words: &[String]) {
            let num = |i: usize| words.get(i).and_then(|w| w.parse::<u64>().ok());
            let rest = |i: usize| words.get(i..).unwrap_or_default();
            match words.first().map(String::as_str) {
                Some("frag") => self.frag = Some(num(1).unwrap_or(2).min(MAX_FRAGMENTS as u64) as usize),
                Some("big") => {
                    let id = num(1).unwrap_or(0);
                    let size = (num(2).unwrap_or(0) as usize).min(self.hard_cap + 1);
                    let head = format!("{{\"id\":{id},\"result\":\"");
                    let mut message = head.into_bytes();
                    message.resize(size.saturating_sub(2).max(message.len()), b'x');
                    message.extend_from_slice(b"\"}");
                    message.truncate(size);
                    if size > self.hard_cap && self.frag.is_none() {
                        // The client gives up at the header: the rest is never read.
                        let mut out = header(true, 0x1, size as u64);
                        out.extend_from_slice(&message[..64.min(message.len())]);
                        self.write(conn, &out).await;
                    } else {
                        self.text(conn, &message).await;
                    }
                }
                Some("binary") => {
                    let n = (num(1).unwrap_or(0) as usize).min(MAX_BINARY);
                    self.write(conn, &frame(true, 0x2, &vec![b'b'; n])).await;
                }
                Some("ping") => {
                    let payload = payload(rest(1), MAX_CONTROL);
                    if conn.is_closed() || self.write.is_none() {
                        return;
                    }
                    self.pings.push(payload.clone());
                    self.write(conn, &frame(true, 0x9, &payload)).await;
                }
                Some("pong") => self.write(conn, &frame(true, 0xA, &payload(rest(1), MAX_CONTROL))).await,
                Some("close") => {
                    let code = words.get(1).and_then(|w| w.parse::<u16>().ok());
                    let body = match code {
                        Some(code) => {
                            let reason = payload(rest(2), MAX_CONTROL);
                            let reason_text = String::from_utf8(reason.clone()).expect("words are UTF-8");
                            if !conn.is_closed() && self.write.is_some() {
                                self.closes.push(Some((code, reason_text)));
                            }
                            let mut body = code.to_be_bytes().to_vec();
                            body.extend(reason);
                            body
                        }
                        None => {
                            if !conn.is_closed() && self.write.is_some() {
                                self.closes.push(None);
                            }
                            Vec::new()
                        }
                    };
                    self.write(conn, &frame(true, 0x8, &body)).await;
                }
                Some("raw") => {
                    let hex: Vec<u8> =
                        rest(1).concat().bytes().filter_map(|c| (c as char).to_digit(16)).map(|d| d as u8).collect();
                    let bytes: Vec<u8> = hex.chunks_exact(2).map(|p| p[0] << 4 | p[1]).collect();
                    self.raw = true;
                    self.write(conn, &bytes).await;
                }
                Some("eof") => self.shutdown(),
                _ => {}
            }
        }

        /// Writes `bytes` while the connection is open; stops when it closes meanwhile (the
        /// client stops reading then). A client that stops reading while open is a failure.
        async fn write(&mut self, conn: &Connection, bytes: &[u8]) {
            let Some(write) = self.write.as_mut() else { return };
            if conn.is_closed() {
                return;
            }
            self.frames_sent += 1;
            tokio::select! {
                biased;
                _ = conn.closed() => {}
                written = tokio::time::timeout(PATIENCE, write.write_all(bytes)) => match written {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => panic!("the SDK stopped reading its input: {e}"),
                    Err(_) => panic!("the SDK stopped reading its input"),
                },
            }
        }

        /// The server's side ends (without a close frame, unless one was sent).
        pub(super) fn shutdown(&mut self) {
            self.write = None;
        }

        /// Once the connection closed (`reason`): waits for the client to close its socket
        /// and checks what it sent.
        pub(super) async fn finish(mut self, reason: &CloseReason) -> WsReport {
            self.shutdown();
            let reader = self.reader.take().expect("finished once");
            let side = tokio::time::timeout(PATIENCE, reader)
                .await
                .expect("the SDK did not close its socket after the connection closed")
                .expect("the harness's frame reader panicked");
            // Every pong answers a ping, in order (a ping not yet answered when the next one
            // came is answered only by the newer pong). Raw bytes may have held pings too.
            let mut pings = self.pings.iter();
            for pong in side.pongs.iter().filter(|_| !self.raw) {
                assert!(
                    pings.any(|ping| ping == pong),
                    "the SDK sent a pong that answers no ping sent before: {pong:?} (pings {:?})",
                    self.pings
                );
            }
            if let CloseReason::WebSocketClosed { code, reason } = reason {
                if !self.raw {
                    let sent = self.closes.iter().any(|close| match close {
                        None => *code == 1005 && reason.is_empty(),
                        Some((sent_code, sent_reason)) => (sent_code, sent_reason) == (code, reason),
                    });
                    assert!(sent, "closed with code {code} ({reason:?}), but the server sent {:?}", self.closes);
                }
                assert!(side.close.is_some(), "the SDK did not answer the server's close frame");
            }
            WsReport {
                frames_sent: self.frames_sent,
                messages: side.messages,
                replies: side.replies,
                pongs: side.pongs,
                client_close: side.close,
            }
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            if let Some(reader) = &self.reader {
                reader.abort();
            }
        }
    }

    /// Every frame the client sends, parsed by tungstenite as a server would.
    async fn read_client(mut ws: WebSocketStream<ReadOnly>) -> ClientSide {
        let mut side = ClientSide::default();
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    assert!(side.close.is_none(), "the SDK sent a message after its close frame");
                    side.messages += 1;
                    if super::check_message(text.as_bytes()) {
                        side.replies += 1;
                    }
                }
                Some(Ok(Message::Binary(bytes))) => panic!("the SDK sent a binary frame: {bytes:?}"),
                Some(Ok(Message::Ping(_))) => {}
                Some(Ok(Message::Pong(payload))) => side.pongs.push(payload.to_vec()),
                Some(Ok(Message::Close(frame))) => {
                    assert!(side.close.is_none(), "the SDK sent two close frames");
                    side.close = Some(frame.map(|f| f.code.into()));
                }
                Some(Ok(Message::Frame(_))) => unreachable!("tungstenite yields no raw frame when reading"),
                None
                | Some(Err(
                    WsError::ConnectionClosed
                    | WsError::AlreadyClosed
                    | WsError::Io(_)
                    | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake),
                )) => break,
                Some(Err(e)) => panic!("the SDK sent something that is not a valid WebSocket frame: {e}"),
            }
        }
        // After the client's close frame the parser stops: nothing else may follow.
        let mut rest = ws.into_inner().0;
        let mut buf = [0u8; 4096];
        let mut after = 0;
        while let Ok(n @ 1..) = rest.read(&mut buf).await {
            after += n;
        }
        if side.close.is_some() {
            assert_eq!(after, 0, "the SDK sent bytes after its close frame");
        }
        side
    }

    /// The read half of the server's socket; what tungstenite writes (pongs, close replies to
    /// the client) is dropped: the input decides everything the server sends.
    struct ReadOnly(OwnedReadHalf);

    impl AsyncRead for ReadOnly {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.0).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for ReadOnly {
        fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }
}
