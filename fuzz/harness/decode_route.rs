//! The `decode_route` harness: arbitrary bytes as the app-server's stdout, through the SDK's
//! real reader, framing, router, streams, server-request dispatch and typed decoders.
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
//! | `#opts <max> <turn> <sub> <pipe>` | first line only: max message size, turn and subscription buffers, pipe capacity |
//! | `#call initialize` | `Connection::initialize` (typed `ServerMetadata`) |
//! | `#call thread/start` | `Codex::thread_start` (typed response, `ThreadSettings`) |
//! | `#call turn/start <thread>` | `Thread::turn(..).run()`: reservation, typed response, turn stream, `TurnResult` |
//! | `#call <method>` | `Connection::request_raw(method, null)` |
//! | `#reserve <thread>` / `#claim <thread> <turn>` | a raw turn reservation, then its claim |
//! | `#turn <turn>` / `#thread <thread>` / `#all` / `#unscoped` | a raw turn stream or subscription |
//! | `#drain` | takes every item already buffered in every stream |
//! | `#drop` | drops the oldest stream made by a command |
//! | `#close` | `Connection::close` (the input keeps flowing) |
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
//! The runtime is a current-thread Tokio runtime with paused time (built once per thread),
//! so backoffs and timeouts cost nothing and a hang shows as an immediate timeout.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::task::{Context, Poll};
use std::time::Duration;

use codex_app_server::methods::{
    dispatch_server_request, ServerNotification, ServerRequest, SERVER_NOTIFICATION_METHODS,
};
use codex_app_server::rpc::{
    handler_fn, Connection, ConnectionOptions, ConnectionStats, Event, EventFilter, EventStream,
    InitializeOptions, RawServerRequest, RawServerRequestHandler, TurnReservation, TurnStream,
};
use codex_app_server::types::{CommandExecutionApprovalDecision, FileChangeApprovalDecision};
use codex_app_server::{ApprovalHandler, Codex, Error, Notifications, ThreadOptions};
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
    /// Replies the SDK wrote to server requests.
    pub replies: usize,
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
}

fn parse(data: &[u8]) -> (Options, Vec<Step<'_>>) {
    let mut options = Options {
        max_message_size: 4096,
        turn_buffer: 4,
        subscription_buffer: 4,
        pipe: 512,
    };
    let mut steps = Vec::new();
    let mut data_start = 0;
    let mut pos = 0;
    let mut first = true;
    while pos < data.len() {
        let end = data[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |i| pos + i + 1);
        if data[pos] == b'#' {
            if data_start < pos {
                steps.push(Step::Data(&data[data_start..pos]));
            }
            let words: Command = String::from_utf8_lossy(&data[pos + 1..end])
                .split_ascii_whitespace()
                .map(str::to_owned)
                .collect();
            if first && words.first().map(String::as_str) == Some("opts") {
                let num = |i: usize, default: usize, max: usize| {
                    words
                        .get(i)
                        .and_then(|w| w.parse::<usize>().ok())
                        .unwrap_or(default)
                        .clamp(1, max)
                };
                options = Options {
                    max_message_size: num(1, options.max_message_size, 1 << 20),
                    turn_buffer: num(2, options.turn_buffer, 64),
                    subscription_buffer: num(3, options.subscription_buffer, 64),
                    pipe: num(4, options.pipe, 1 << 16),
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
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
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
                Ok(typed) => assert_eq!(
                    typed.method(),
                    method,
                    "a typed server request changed its method"
                ),
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
        Watch {
            stream,
            events: 0,
            skipped: 0,
            completed: false,
            closed: false,
            ended: false,
            decode: false,
        }
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
            assert!(
                self.completed || self.closed,
                "a stream ended without turn/completed or the close error"
            );
            self.ended = true;
            return false;
        };
        assert!(
            !self.completed && !self.closed,
            "a stream yielded an item after its end"
        );
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
                assert!(
                    !(known && unrecognized),
                    "a known method decoded as Unrecognized"
                );
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
                assert_eq!(
                    event.turn_id(),
                    Some(turn.as_str()),
                    "a turn stream got another turn's event"
                );
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
        let decoded = event
            .params_value()
            .map_err(|e| e.to_string())
            .and_then(|params| {
                ServerNotification::decode(event.method(), params).map_err(|e| {
                    assert_eq!(
                        e.method,
                        event.method(),
                        "a decode error names another method"
                    );
                    e.to_string()
                })
            });
        match decoded {
            Ok(ServerNotification::Unrecognized { method, .. }) => {
                assert_eq!(method, event.method())
            }
            Ok(typed) => {
                assert_eq!(
                    typed.method(),
                    event.method(),
                    "a typed notification changed its method"
                );
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
    codex: Codex,
    report: Report,
    defaults: Vec<Watch>,
    watched: VecDeque<Watch>,
    reservations: Vec<TurnReservation>,
    tasks: Vec<JoinHandle<Outcome>>,
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
                if let Some(i) = self
                    .reservations
                    .iter()
                    .position(|r| r.thread_id() == thread)
                {
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
                self.received_at_close
                    .get_or_insert(self.conn.stats().notifications_received);
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
        let codex = self.codex.clone();
        let method = method.to_owned();
        let before = self.conn.stats().pending_requests;
        let task = tokio::spawn(async move {
            let outcome = match method.as_str() {
                "initialize" => conn
                    .initialize(&InitializeOptions::default())
                    .await
                    .map(|_| Outcome::Ok),
                "thread/start" => codex.thread_start(ThreadOptions::default()).await.map(|t| {
                    let _ = (t.id(), t.settings());
                    Outcome::Ok
                }),
                "turn/start" => {
                    async {
                        let turn = codex.thread_handle(thread).turn("fuzz").await?;
                        let result = turn.run().await?;
                        let _ = result.final_response();
                        Ok(Outcome::TurnResult)
                    }
                    .await
                }
                _ => conn
                    .request_raw(&method, Value::Null)
                    .await
                    .map(|_| Outcome::Ok),
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

async fn drive(data: &[u8]) -> Report {
    let (options, steps) = parse(data);
    let shared_report = Arc::new(Mutex::new(Report::default()));
    let (mut feed, server_stdout) = tokio::io::duplex(options.pipe);
    let sink = Sink::default();
    let conn = Connection::from_io(
        server_stdout,
        sink.clone(),
        ConnectionOptions::default()
            .with_handler(handler(shared_report.clone()))
            .with_max_message_size(options.max_message_size)
            .with_buffers(options.turn_buffer, options.subscription_buffer)
            .with_request_timeout(Duration::from_secs(3600)),
    );
    let codex = Codex::from_connection(conn.clone());
    let mut h = Harness {
        defaults: vec![
            Watch {
                decode: true,
                ..Watch::new(Watched::Events(EventFilter::All, conn.subscribe_all()))
            },
            Watch::new(Watched::Typed(codex.notifications())),
        ],
        conn,
        codex,
        report: Report::default(),
        watched: VecDeque::new(),
        reservations: Vec::new(),
        tasks: Vec::new(),
        received_at_close: None,
    };
    for step in steps {
        match step {
            Step::Data(bytes) => {
                match tokio::time::timeout(PATIENCE, feed.write_all(bytes)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => panic!("the SDK stopped reading its input: {e}"),
                    Err(_) => panic!("the SDK stopped reading its input"),
                }
                settle().await;
            }
            Step::Command(words) => {
                h.command(&words).await;
                settle().await;
            }
        }
    }

    // End of input: the connection closes, every stream and task ends.
    drop(feed);
    let closed = tokio::time::timeout(PATIENCE, h.conn.closed())
        .await
        .expect("the connection did not close at the end of its input");
    assert!(closed.is_transport_closed(), "closing reported {closed:?}");
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
            Outcome::Failed(_) => {}
        }
    }
    let stats = h.conn.stats();
    // The client-wide subscriptions existed from the start: each notification received
    // before the close was delivered to them or reported as skipped.
    let received = h.received_at_close.unwrap_or(stats.notifications_received);
    for watch in &h.defaults {
        assert_eq!(
            watch.events as u64 + watch.skipped,
            received,
            "a client-wide subscription lost notifications"
        );
    }
    h.defaults.clear();
    h.watched.clear();
    settle().await;
    let stats_after = h.conn.stats();
    assert_eq!(
        (
            stats_after.pending_requests,
            stats_after.turn_subscriptions,
            stats_after.reservations
        ),
        (0, 0, 0),
        "left behind after the close: {stats_after:?}"
    );
    assert_eq!(
        (stats_after.subscriptions, stats_after.buffered_events),
        (0, 0),
        "left behind: {stats_after:?}"
    );
    let mut report = std::mem::take(&mut h.report);
    drop(h);
    settle().await;
    report.stats = stats.clone();
    report.server_requests = shared_report.lock().unwrap().server_requests;
    report.replies = check_output(&sink.0.lock().unwrap());
    assert!(
        report.replies as u64 <= stats.server_requests,
        "more replies than server requests"
    );
    report
}

/// Every line the SDK wrote is a JSON-RPC request, notification or reply; returns the
/// number of replies.
fn check_output(out: &[u8]) -> usize {
    let mut replies = 0;
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let message: Value = serde_json::from_slice(line).unwrap_or_else(|e| {
            panic!(
                "the SDK wrote invalid JSON ({e}): {}",
                String::from_utf8_lossy(line)
            )
        });
        let object = message.as_object().expect("the SDK wrote a non-object");
        let has = |k: &str| object.contains_key(k);
        let shape_ok = if has("method") {
            object["method"].is_string() && !has("result") && !has("error")
        } else {
            replies += 1;
            has("id") && (has("result") != has("error"))
        };
        assert!(shape_ok, "the SDK wrote a malformed message: {message}");
    }
    replies
}
