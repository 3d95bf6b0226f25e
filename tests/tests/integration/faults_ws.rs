//! Wire faults over WebSocket, against a scripted WebSocket server written here with
//! tokio-tungstenite on 127.0.0.1: the server answers `initialize` like Codex, then follows
//! each test's script, and reports what it saw of the client (pongs, close frames).
//!
//! What is proven, each with one defined outcome: garbage text and binary frames are counted
//! and skipped (unsolicited pongs are not even counted) and a fragmented response still
//! arrives whole; a ping is answered with a pong carrying its payload and the connection goes
//! on; a message over `max_message_size` but under the transport's hard cap fails only its
//! own request; one over the hard cap, or a text frame that is not UTF-8, closes the
//! connection with `CloseReason::Protocol`; a close frame 1001 fails pending requests, turn
//! streams and subscriptions with `WebSocketClosed { 1001, reason }` (and the close
//! handshake is completed); a TCP connection dropped without a close frame is `EndOfStream`
//! (FIN) or `Io { ConnectionReset }` (RST); a server that stops answering times the request
//! out without leaving a pending entry; a refused upgrade is `Unauthorized` (401/403) or
//! `Handshake` (500), an upgrade never answered is `Connect` (timed out); the client's own
//! `close()` sends a close frame and every later error is `ClosedByClient`.
//!
//! A server that stops *reading* (its TCP window and the client's send buffer full, then the
//! SDK's outgoing queue): every request must still end after its own timeout, and `close()`
//! must still return and fail every request. (These two fail against the SDK as of this
//! writing: a request waiting for room in the outgoing queue is bounded neither by its
//! timeout nor by the close, and `close()` waits behind the blocked writer.)

use crate::common;
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use codex_driver::attach::{Keepalive, WebSocketEndpoint};
use codex_driver::methods::ServerNotification;
use codex_driver::rpc::Connection;
use codex_driver::rpc::{ConnectionOptions, InitializeOptions};
use codex_driver::{ClientConfig, CloseReason, Codex, Error, ThreadOptions};
use common::payloads::{self, initialize_result, thread_start_result};
use common::within;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

const MIB: usize = 1024 * 1024;

// ----- the scripted WebSocket server ----------------------------------------------------------

/// One accepted, upgraded and initialized client, as the scripted server sees it.
struct Peer {
    ws: WebSocketStream<TcpStream>,
    /// Payloads of the pongs received so far.
    pongs: Vec<Vec<u8>>,
}

impl Peer {
    /// The next frame that is not a pong (pongs are recorded); `None` when the stream ended.
    async fn frame(&mut self) -> Option<Result<Message, WsError>> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Pong(payload))) => self.pongs.push(payload.to_vec()),
                other => return other,
            }
        }
    }

    /// The next JSON-RPC message the client sent.
    async fn message(&mut self) -> Value {
        match self.frame().await {
            Some(Ok(Message::Text(text))) => serde_json::from_str(&text).expect("the SDK sends JSON"),
            other => panic!("expected a text frame from the client, got {other:?}"),
        }
    }

    /// Waits for a `method` request; its id.
    async fn request(&mut self, method: &str) -> i64 {
        let message = self.message().await;
        assert_eq!(message["method"], method, "{message}");
        message["id"].as_i64().unwrap_or_else(|| panic!("a request without an integer id: {message}"))
    }

    /// Waits for `n` requests, in any order; method → id.
    async fn requests(&mut self, n: usize) -> HashMap<String, i64> {
        let mut ids = HashMap::new();
        while ids.len() < n {
            let message = self.message().await;
            let id = message["id"].as_i64().unwrap_or_else(|| panic!("expected a request, got {message}"));
            ids.insert(message["method"].as_str().unwrap().to_owned(), id);
        }
        ids
    }

    async fn send(&mut self, message: Message) {
        self.ws.send(message).await.expect("the scripted server sends");
    }

    async fn text(&mut self, text: impl Into<String>) {
        self.send(Message::text(text.into())).await;
    }

    async fn reply(&mut self, id: i64, result: Value) {
        self.text(json!({"id": id, "result": result}).to_string()).await;
    }

    async fn notify(&mut self, method: &str, params: Value) {
        self.text(json!({"method": method, "params": params, "emittedAtMs": 1_795_472_789_000_i64}).to_string()).await;
    }

    /// Reads until the client ends the connection: the close frame it sent, `None` if it
    /// sent none. Anything else it sends meanwhile is a failure.
    async fn until_closed(&mut self) -> Option<Option<CloseFrame>> {
        let mut close = None;
        loop {
            match self.frame().await {
                Some(Ok(Message::Close(frame))) => close = Some(frame),
                // The client closed the TCP connection (after the close handshake, or not).
                None | Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => return close,
                Some(Err(WsError::Protocol(_) | WsError::Io(_))) => return close,
                Some(other) => panic!("expected the client to close, got {other:?}"),
            }
        }
    }
}

/// The scripted server's task: aborted if the test ends without [`finish`](Self::finish).
struct Server<T> {
    url: String,
    task: Option<JoinHandle<T>>,
}

impl<T> Server<T> {
    /// Waits for the script to end; what it returned.
    async fn finish(mut self) -> T {
        let task = self.task.take().expect("finished once");
        within("the scripted server finishes", task).await.expect("the scripted server panicked")
    }
}

impl<T> Drop for Server<T> {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    (listener, url)
}

/// A server that accepts one client, upgrades it, answers `initialize` (and takes
/// `initialized`) like Codex, then runs `script`.
async fn serve<T, F, Fut>(script: F) -> Server<T>
where
    F: FnOnce(Peer) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send,
    T: Send + 'static,
{
    let (listener, url) = listen().await;
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let ws = tokio_tungstenite::accept_async(tcp).await.expect("the WebSocket upgrade");
        let mut peer = Peer { ws, pongs: Vec::new() };
        let id = peer.request("initialize").await;
        peer.reply(id, initialize_result()).await;
        assert_eq!(peer.message().await["method"], "initialized");
        script(peer).await
    });
    Server { url, task: Some(task) }
}

/// A server that answers the upgrade request with HTTP `status`; the request's
/// `Authorization` header, if any.
#[allow(clippy::result_large_err)] // tungstenite's callback returns the whole HTTP response
async fn refuse(status: u16) -> Server<Option<String>> {
    let (listener, url) = listen().await;
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut authorization = None;
        let refused = tokio_tungstenite::accept_hdr_async(tcp, |request: &Request, _: Response| {
            authorization = request.headers().get("authorization").map(|v| v.to_str().unwrap().to_owned());
            let mut response = ErrorResponse::new(Some("refused by the scripted server".to_owned()));
            *response.status_mut() = StatusCode::from_u16(status).unwrap();
            Err(response)
        })
        .await;
        assert!(matches!(refused, Err(WsError::Http(_))), "the upgrade was refused: {refused:?}");
        authorization
    });
    Server { url, task: Some(task) }
}

/// The client configuration of these tests: generous default timeout (a hang guard only).
fn config() -> ClientConfig {
    ClientConfig::default().with_connection(ConnectionOptions::default().with_request_timeout(common::WAIT))
}

async fn connect(url: &str, config: ClientConfig) -> Codex {
    within(
        "connect to the scripted server",
        Codex::builder().config(config).websocket(WebSocketEndpoint::new(url)).connect(),
    )
    .await
    .expect("connect and initialize")
}

/// A `Connection` (not `Codex`) with `options`, initialized.
async fn connect_raw(url: &str, options: ConnectionOptions) -> Connection {
    let conn = within("connect", WebSocketEndpoint::new(url).connect(options)).await.expect("connect");
    within("initialize", conn.initialize(&InitializeOptions::default())).await.expect("initialize");
    conn
}

/// A raw request on its own task (so the test can go on while it is pending).
fn spawn_request(conn: &Connection, method: &str) -> JoinHandle<codex_driver::Result<Value>> {
    let conn = conn.clone();
    let method = method.to_owned();
    tokio::spawn(async move { conn.request_raw(&method, json!({})).await })
}

async fn outcome<T>(what: &str, task: JoinHandle<codex_driver::Result<T>>) -> codex_driver::Result<T> {
    within(what, task).await.expect("the request task panicked")
}

/// The reason of a `TransportClosed`, or a panic naming `what`.
fn close_reason<T: std::fmt::Debug>(what: &str, result: codex_driver::Result<T>) -> CloseReason {
    match result {
        Err(Error::TransportClosed { reason, endpoint }) => {
            assert!(endpoint.starts_with("ws://127.0.0.1:"), "{what}: endpoint {endpoint:?}");
            reason
        }
        other => panic!("{what}: expected TransportClosed, got {other:?}"),
    }
}

fn turn_json(id: &str) -> Value {
    payloads::turn_json(id, "inProgress", json!([]))
}

fn agent_message_started(thread: &str, turn: &str) -> Value {
    json!({"item": payloads::agent_message("msg-1", "", false), "threadId": thread, "turnId": turn,
        "startedAtMs": 1_795_472_789_200_i64})
}

fn delta(thread: &str, turn: &str, text: &str) -> Value {
    json!({"threadId": thread, "turnId": turn, "itemId": "msg-1", "delta": text})
}

// ----- garbage frames -----------------------------------------------------------------------------

#[tokio::test]
async fn garbage_text_and_binary_frames_are_counted_and_skipped_and_the_next_response_arrives() {
    let server = serve(|mut peer| async move {
        let id = peer.request("fault/probe").await;
        peer.text("this is not json").await;
        peer.send(Message::binary(vec![0xde, 0xad, 0xbe, 0xef])).await;
        // A half of an answer to the pending request in a text frame of its own: invalid
        // JSON, it must neither resolve nor break the request.
        peer.text(format!("{{\"id\":{id},\"result\":{{\"half\":")).await;
        // An unsolicited pong is a control frame: ignored, not even counted.
        peer.send(Message::Pong(b"unsolicited".to_vec().into())).await;
        // The answer, fragmented over three frames: it arrives whole.
        let answer = json!({"id": id, "result": {"answer": 42}}).to_string();
        let (a, rest) = answer.split_at(5);
        let (b, c) = rest.split_at(rest.len() / 2);
        peer.send(Message::Frame(Frame::message(a.as_bytes().to_vec(), OpCode::Data(Data::Text), false))).await;
        peer.send(Message::Frame(Frame::message(b.as_bytes().to_vec(), OpCode::Data(Data::Continue), false))).await;
        peer.send(Message::Frame(Frame::message(c.as_bytes().to_vec(), OpCode::Data(Data::Continue), true))).await;
        let id = peer.request("model/list").await;
        peer.reply(id, json!({"data": [], "nextCursor": null})).await;
        peer.until_closed().await
    })
    .await;
    let codex = connect(&server.url, config()).await;
    let answer = within("fault/probe", codex.connection().request_raw("fault/probe", json!({}))).await;
    assert_eq!(answer.unwrap(), json!({"answer": 42}));
    let stats = codex.connection().stats();
    assert_eq!(stats.invalid_messages, 3, "not JSON, binary, half a message: {stats:?}");
    assert_eq!((stats.unmatched_responses, stats.pending_requests), (0, 0), "{stats:?}");
    // Still serving, through the typed API.
    assert!(within("model/list", codex.models()).await.unwrap().data.is_empty());
    assert!(!codex.connection().is_closed());
    codex.close().await;
    assert!(server.finish().await.is_some(), "the client closed with a close frame");
}

// ----- ping / pong ----------------------------------------------------------------------------------

#[tokio::test]
async fn a_ping_is_answered_with_a_pong_and_the_connection_goes_on() {
    let server = serve(|mut peer| async move {
        peer.send(Message::Ping(b"are you there".to_vec().into())).await;
        // The client's pong and its request, in either order.
        let mut id = None;
        while id.is_none() || peer.pongs.is_empty() {
            match peer.ws.next().await {
                Some(Ok(Message::Pong(payload))) => peer.pongs.push(payload.to_vec()),
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(message["method"], "fault/after-ping", "{message}");
                    id = message["id"].as_i64();
                }
                other => panic!("expected the pong or the request, got {other:?}"),
            }
        }
        peer.reply(id.unwrap(), json!({"pong": "seen"})).await;
        // A second ping, between the fragments of a message (allowed by RFC 6455).
        let id = peer.request("fault/mid-fragment").await;
        let answer = json!({"id": id, "result": {"fragmented": true}}).to_string();
        let (a, b) = answer.split_at(answer.len() / 2);
        peer.send(Message::Frame(Frame::message(a.as_bytes().to_vec(), OpCode::Data(Data::Text), false))).await;
        peer.send(Message::Ping(b"again".to_vec().into())).await;
        peer.send(Message::Frame(Frame::message(b.as_bytes().to_vec(), OpCode::Data(Data::Continue), true))).await;
        let closed = peer.until_closed().await;
        (peer.pongs, closed)
    })
    .await;
    let codex = connect(&server.url, config()).await;
    let conn = codex.connection();
    let first = within("fault/after-ping", conn.request_raw("fault/after-ping", json!({}))).await;
    assert_eq!(first.unwrap(), json!({"pong": "seen"}));
    let second = within("fault/mid-fragment", conn.request_raw("fault/mid-fragment", json!({}))).await;
    assert_eq!(second.unwrap(), json!({"fragmented": true}));
    assert_eq!(conn.stats().invalid_messages, 0, "pings are not messages");
    codex.close().await;
    let (pongs, closed) = server.finish().await;
    assert_eq!(pongs, vec![b"are you there".to_vec(), b"again".to_vec()], "each ping answered with its payload");
    assert!(closed.is_some());
}

// ----- oversized messages -------------------------------------------------------------------------

#[tokio::test]
async fn a_message_over_the_limit_but_under_the_hard_cap_fails_only_its_request() {
    const LIMIT: usize = 4096;
    let server = serve(|mut peer| async move {
        let ids = peer.requests(2).await;
        // 64 KiB: sixteen times the limit, far under the hard cap (limit + 1 MiB).
        let pad = "x".repeat(64 * 1024);
        peer.reply(ids["fault/big"], json!({"pad": pad})).await;
        // An oversized notification nobody can see, then the small answer.
        peer.notify("configWarning", json!({"summary": pad, "details": null})).await;
        peer.notify("configWarning", json!({"summary": "small", "details": null})).await;
        peer.reply(ids["fault/small"], json!({"small": true})).await;
        let id = peer.request("fault/after").await;
        peer.reply(id, json!({"still": "serving"})).await;
        peer.until_closed().await
    })
    .await;
    let conn = connect_raw(&server.url, ConnectionOptions::default().with_max_message_size(LIMIT)).await;
    let codex = Codex::from_connection(conn.clone()).expect("initialized");
    let mut notifications = codex.notifications();
    let big = spawn_request(&conn, "fault/big");
    let small = spawn_request(&conn, "fault/small");
    match outcome("fault/big", big).await {
        Err(Error::MessageTooLarge { method, size, limit }) => {
            assert_eq!(method.as_deref(), Some("fault/big"));
            assert_eq!(limit, LIMIT);
            assert!(size > 64 * 1024 && size < 65 * 1024, "size {size}");
        }
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
    assert_eq!(outcome("fault/small", small).await.unwrap(), json!({"small": true}));
    match within("notification", notifications.next()).await {
        Some(Ok(ServerNotification::ConfigWarning(w))) => assert_eq!(w.summary, "small"),
        other => panic!("expected the small configWarning, got {other:?}"),
    }
    let after = within("fault/after", conn.request_raw("fault/after", json!({}))).await;
    assert_eq!(after.unwrap(), json!({"still": "serving"}));
    let stats = conn.stats();
    assert_eq!((stats.invalid_messages, stats.pending_requests), (2, 0), "{stats:?}");
    assert!(!conn.is_closed());
    conn.close().await;
    assert!(server.finish().await.is_some());
}

#[tokio::test]
async fn a_message_over_the_hard_cap_closes_the_connection_as_a_protocol_violation() {
    const LIMIT: usize = 1024;
    let (sent_tx, sent_rx) = oneshot::channel();
    let server = serve(|mut peer| async move {
        let ids = peer.requests(2).await;
        let _ = sent_tx.send(());
        // Over the hard cap (limit + 1 MiB). The client stops reading at the frame header,
        // so this write may never complete: it ends when the client drops the connection.
        let pad = "x".repeat(MIB + 4096);
        let big = json!({"id": ids["fault/one"], "result": {"pad": pad}}).to_string();
        let _ = peer.ws.send(Message::text(big)).await;
    })
    .await;
    let conn = connect_raw(&server.url, ConnectionOptions::default().with_max_message_size(LIMIT)).await;
    let mut events = conn.subscribe_all();
    let one = spawn_request(&conn, "fault/one");
    let two = spawn_request(&conn, "fault/two");
    let _ = within("the server has both requests", sent_rx).await;
    for (what, task) in [("fault/one", one), ("fault/two", two)] {
        match close_reason(what, outcome(what, task).await) {
            CloseReason::Protocol { message } => {
                assert!(message.contains("exceeds"), "{what}: {message}")
            }
            other => panic!("{what}: expected CloseReason::Protocol, got {other:?}"),
        }
    }
    assert!(matches!(
        close_reason("the subscription", within("subscription", events.next()).await.expect("an item")),
        CloseReason::Protocol { .. }
    ));
    assert!(within("the subscription ends", events.next()).await.is_none());
    // Later calls fail at once with the same reason.
    let later = within("a later call", conn.request_raw("fault/later", json!({}))).await;
    assert!(matches!(close_reason("a later call", later), CloseReason::Protocol { .. }));
    assert_eq!(conn.stats().pending_requests, 0);
    drop((events, conn));
    server.finish().await;
}

// ----- invalid frames -------------------------------------------------------------------------------

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_closes_the_connection_as_a_protocol_violation() {
    let server = serve(|mut peer| async move {
        let _ = peer.request("fault/pending").await;
        // RFC 6455 §8.1: a text frame that is not UTF-8 fails the connection.
        peer.send(Message::Frame(Frame::message(vec![b'{', 0xc3, 0x28, b'}'], OpCode::Data(Data::Text), true))).await;
        peer.until_closed().await
    })
    .await;
    let codex = connect(&server.url, config()).await;
    let pending = within("fault/pending", codex.connection().request_raw("fault/pending", json!({}))).await;
    match close_reason("fault/pending", pending) {
        CloseReason::Protocol { message } => assert!(message.to_lowercase().contains("utf-8"), "{message}"),
        other => panic!("expected CloseReason::Protocol, got {other:?}"),
    }
    drop(codex);
    server.finish().await;
}

// ----- the server goes away ---------------------------------------------------------------------------

#[tokio::test]
async fn a_close_frame_1001_fails_pending_requests_and_streams_with_its_code_and_reason() {
    const REASON: &str = "the scripted server is restarting";
    let (thread, turn) = ("thr-ws-close", "turn-ws-close");
    let server = serve(move |mut peer| async move {
        let id = peer.request("thread/start").await;
        peer.reply(id, thread_start_result(thread)).await;
        let id = peer.request("turn/start").await;
        peer.reply(id, json!({"turn": turn_json(turn)})).await;
        peer.notify("turn/started", json!({"threadId": thread, "turn": turn_json(turn)})).await;
        peer.notify("item/started", agent_message_started(thread, turn)).await;
        peer.notify("item/agentMessage/delta", delta(thread, turn, "Hel")).await;
        // Two requests pending, then the close frame.
        let _ = peer.requests(2).await;
        peer.send(Message::Close(Some(CloseFrame { code: CloseCode::Away, reason: REASON.into() }))).await;
        peer.until_closed().await
    })
    .await;
    let codex = connect(&server.url, config()).await;
    let mut notifications = codex.notifications();
    let thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();
    let mut events = within("turn/start", thread.turn("hello")).await.unwrap().stream();
    for expected in ["turn/started", "item/started", "item/agentMessage/delta"] {
        let event = within(expected, events.next()).await.expect("an event").expect("a good event");
        assert_eq!(event.method(), expected);
    }
    let read = {
        let thread = thread.clone();
        tokio::spawn(async move { thread.read().await })
    };
    let models = {
        let codex = codex.clone();
        tokio::spawn(async move { codex.models().await })
    };
    let expected = CloseReason::WebSocketClosed { code: 1001, reason: REASON.to_owned() };
    assert_eq!(close_reason("thread/read", outcome("thread/read", read).await), expected);
    assert_eq!(close_reason("model/list", outcome("model/list", models).await), expected);
    // The turn stream: the close error in place, then the end.
    assert_eq!(close_reason("the turn stream", within("turn stream", events.next()).await.expect("an item")), expected);
    assert!(within("the turn stream ends", events.next()).await.is_none());
    // The client-wide subscription: its three events, the close error, the end.
    for _ in 0..3 {
        assert!(matches!(within("notification", notifications.next()).await, Some(Ok(_))));
    }
    assert_eq!(
        close_reason("notifications", within("notifications", notifications.next()).await.expect("an item")),
        expected
    );
    assert!(within("notifications end", notifications.next()).await.is_none());
    // Later calls and streams.
    assert_eq!(close_reason("a later turn", within("a later turn", thread.turn("again")).await), expected);
    assert_eq!(close_reason("closed()", Err::<(), _>(codex.connection().closed().await)), expected);
    assert_eq!(codex.connection().stats().pending_requests, 0);
    // The client completed the close handshake: it echoed the close frame.
    let echo = server.finish().await;
    match echo {
        Some(Some(frame)) => assert_eq!(u16::from(frame.code), 1001, "{frame:?}"),
        other => panic!("expected the client to answer the close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn a_tcp_connection_closed_without_a_close_frame_is_end_of_stream() {
    let server = serve(|mut peer| async move {
        let _ = peer.request("fault/pending").await;
        // Everything the client sent was read, so dropping the socket sends a FIN, never
        // a reset: the client reads end of file without a close frame.
        drop(peer);
    })
    .await;
    let codex = connect(&server.url, config()).await;
    let mut notifications = codex.notifications();
    let pending = within("fault/pending", codex.connection().request_raw("fault/pending", json!({}))).await;
    assert_eq!(close_reason("fault/pending", pending), CloseReason::EndOfStream);
    assert_eq!(
        close_reason("notifications", within("notifications", notifications.next()).await.expect("an item")),
        CloseReason::EndOfStream
    );
    server.finish().await;
}

#[tokio::test]
async fn a_tcp_connection_reset_is_an_io_error_connection_reset() {
    let server = serve(|mut peer| async move {
        let _ = peer.request("fault/pending").await;
        // SO_LINGER 0: closing sends a reset instead of a FIN.
        peer.ws.get_ref().set_zero_linger().expect("SO_LINGER 0");
        drop(peer);
    })
    .await;
    let codex = connect(&server.url, config()).await;
    let pending = within("fault/pending", codex.connection().request_raw("fault/pending", json!({}))).await;
    match close_reason("fault/pending", pending) {
        CloseReason::Io { kind, .. } => assert_eq!(kind, std::io::ErrorKind::ConnectionReset),
        other => panic!("expected CloseReason::Io, got {other:?}"),
    }
    server.finish().await;
}

// ----- keepalive ----------------------------------------------------------------------------------------

/// Keepalive short enough for a test: a ping every 100 ms, dead after 400 ms of silence.
fn quick_keepalive() -> Keepalive {
    Keepalive::new(Duration::from_millis(100), Duration::from_millis(300))
}

/// A link that goes silent (the server stops reading, so no pong and no message comes
/// back: a half-open link) is declared dead by the keepalive, far before any request
/// timeout (60 s here), and every pending request fails with the reason.
#[tokio::test]
async fn a_silent_link_is_declared_dead_by_the_keepalive() {
    let (got_tx, got_rx) = oneshot::channel();
    let server = serve(|mut peer| async move {
        let _ = peer.request("fault/never").await;
        let _ = got_tx.send(());
        // Holds the socket open and reads nothing more: pings go unanswered.
        tokio::time::sleep(common::WAIT).await;
        drop(peer);
    })
    .await;
    let endpoint = WebSocketEndpoint::new(&server.url).keepalive(Some(quick_keepalive()));
    let codex =
        within("connect", Codex::builder().config(config()).websocket(endpoint).connect()).await.expect("connect");
    let conn = codex.connection();
    let pending = spawn_request(conn, "fault/never");
    within("the server got the request", got_rx).await.unwrap();
    let dead = quick_keepalive().dead_after();
    match within("the keepalive declares the link dead", pending).await.unwrap() {
        Err(Error::TransportClosed { reason, .. }) => assert_eq!(reason, CloseReason::KeepaliveTimeout { after: dead }),
        other => panic!("expected TransportClosed by the keepalive, got {other:?}"),
    }
    assert!(conn.is_closed());
}

/// An idle link to a live server stays up: the client pings, the server answers, and the
/// connection is open after many keepalive bounds have passed.
#[tokio::test]
async fn an_idle_link_to_a_live_server_stays_up() {
    let (pinged_tx, pinged_rx) = oneshot::channel();
    let server = serve(|mut peer| async move {
        let mut pings = 0;
        let mut pinged_tx = Some(pinged_tx);
        loop {
            match peer.ws.next().await {
                Some(Ok(Message::Ping(_))) => {
                    pings += 1;
                    // Ten pings: well past the 400 ms bound, had the pongs not counted.
                    if pings == 10 {
                        let _ = pinged_tx.take().map(|tx| tx.send(()));
                    }
                }
                Some(Ok(Message::Text(text))) => {
                    let request: Value = serde_json::from_str(&text).unwrap();
                    peer.reply(request["id"].as_i64().unwrap(), json!({"alive": true})).await;
                }
                _ => return pings,
            }
        }
    })
    .await;
    let endpoint = WebSocketEndpoint::new(&server.url).keepalive(Some(quick_keepalive()));
    let codex =
        within("connect", Codex::builder().config(config()).websocket(endpoint).connect()).await.expect("connect");
    within("ten pings answered", pinged_rx).await.unwrap();
    let conn = codex.connection();
    assert!(!conn.is_closed(), "{:?}", conn.close_error());
    let answer = within("a request after the idle spell", conn.request_raw("fault/alive", json!({}))).await.unwrap();
    assert_eq!(answer, json!({"alive": true}));
    codex.close().await;
    assert!(server.finish().await >= 10);
}

// ----- the server stops answering ------------------------------------------------------------------------

#[tokio::test]
async fn a_server_that_stops_answering_times_the_request_out_and_leaves_nothing_pending() {
    let (got_tx, got_rx) = oneshot::channel();
    let server = serve(|mut peer| async move {
        let _ = peer.request("fault/never").await;
        let _ = got_tx.send(());
        // Never answers; waits for the client to leave.
        peer.until_closed().await
    })
    .await;
    let codex = connect(&server.url, config()).await;
    let timeout = Duration::from_millis(300);
    let conn = codex.connection();
    let result = within("fault/never", conn.request_raw_with_timeout("fault/never", json!({}), timeout)).await;
    match result {
        Err(Error::Timeout { method, after }) => assert_eq!((method.as_str(), after), ("fault/never", timeout)),
        other => panic!("expected Timeout, got {other:?}"),
    }
    within("the server got the request", got_rx).await.unwrap();
    let stats = conn.stats();
    assert_eq!(stats.pending_requests, 0, "no stale pending entry: {stats:?}");
    assert!(!conn.is_closed(), "a timeout does not close the connection");
    codex.close().await;
    assert!(server.finish().await.is_some());
}

#[tokio::test]
async fn an_answer_after_the_timeout_is_counted_and_dropped_and_the_connection_goes_on() {
    let server = serve(|mut peer| async move {
        let late = peer.request("fault/slow").await;
        // The client sends the next request only after the first one timed out.
        let next = peer.request("fault/next").await;
        peer.reply(late, json!({"too": "late"})).await;
        peer.reply(next, json!({"on": "time"})).await;
        peer.until_closed().await
    })
    .await;
    let codex = connect(&server.url, config()).await;
    let conn = codex.connection();
    let timeout = Duration::from_millis(200);
    let slow = within("fault/slow", conn.request_raw_with_timeout("fault/slow", json!({}), timeout)).await;
    assert!(matches!(slow, Err(Error::Timeout { .. })), "{slow:?}");
    assert_eq!(conn.stats().pending_requests, 0);
    let next = within("fault/next", conn.request_raw("fault/next", json!({}))).await;
    assert_eq!(next.unwrap(), json!({"on": "time"}));
    let stats = conn.stats();
    assert_eq!((stats.unmatched_responses, stats.pending_requests, stats.invalid_messages), (1, 0, 0), "{stats:?}");
    codex.close().await;
    assert!(server.finish().await.is_some());
}

// ----- the upgrade is refused ---------------------------------------------------------------------------------

#[tokio::test]
async fn an_upgrade_answered_401_or_403_is_unauthorized() {
    for status in [401, 403] {
        let server = refuse(status).await;
        let endpoint = WebSocketEndpoint::new(server.url.clone()).capability_token("the-secret-token");
        let result = within("connect", Codex::builder().config(config()).websocket(endpoint).connect()).await;
        match result {
            Err(Error::Unauthorized { status: got, endpoint }) => {
                assert_eq!(got, status);
                assert_eq!(endpoint, server.url);
            }
            other => panic!("HTTP {status}: expected Unauthorized, got {other:?}"),
        }
        // The token was offered (and is not in the error).
        assert_eq!(server.finish().await.as_deref(), Some("Bearer the-secret-token"));
    }
}

#[tokio::test]
async fn an_upgrade_answered_500_is_a_handshake_error() {
    let server = refuse(500).await;
    let result = within(
        "connect",
        Codex::builder().config(config()).websocket(WebSocketEndpoint::new(server.url.clone())).connect(),
    )
    .await;
    match result {
        Err(Error::Handshake { message, endpoint }) => {
            assert!(message.contains("500"), "{message}");
            assert_eq!(endpoint, server.url);
        }
        other => panic!("expected Handshake, got {other:?}"),
    }
    assert_eq!(server.finish().await, None, "no credentials were configured");
}

/// Connects to `url` with a connect timeout of `timeout`; asserts it fails with
/// `Error::Connect` (timed out) naming the endpoint, and returns the I/O error.
async fn connect_timing_out(url: &str, timeout: Duration) -> std::io::Error {
    let endpoint = WebSocketEndpoint::new(url).connect_timeout(timeout);
    match within("connect", Codex::builder().config(config()).websocket(endpoint).connect()).await {
        Err(Error::Connect { source, endpoint }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::TimedOut, "{source}");
            assert_eq!(endpoint, url);
            source
        }
        other => panic!("expected Connect (timed out), got {other:?}"),
    }
}

#[tokio::test]
async fn an_upgrade_never_answered_is_a_connect_timeout() {
    let (listener, url) = listen().await;
    let (done_tx, done_rx) = oneshot::channel::<()>();
    // Accepts the TCP connection and never answers the upgrade request.
    let server = Server {
        url,
        task: Some(tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let _ = done_rx.await;
            drop(tcp);
        })),
    };
    connect_timing_out(&server.url, Duration::from_millis(300)).await;
    let _ = done_tx.send(());
    server.finish().await;
}

/// A server that completes the upgrade but never answers `initialize` cannot hold
/// `connect()` for the request timeout: the connect timeout covers the handshake too.
#[tokio::test]
async fn an_initialize_never_answered_is_a_connect_timeout() {
    let (listener, url) = listen().await;
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let server = Server {
        url,
        task: Some(tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let mut ws = tokio_tungstenite::accept_async(tcp).await.expect("the WebSocket upgrade");
            // Reads `initialize` and never answers it.
            let _ = ws.next().await;
            let _ = done_rx.await;
        })),
    };
    // The request timeout is a minute (as long as `within` waits): only the connect timeout
    // can end this in time.
    let source = connect_timing_out(&server.url, Duration::from_millis(400)).await;
    assert!(source.to_string().contains("initialize"), "{source}");
    let _ = done_tx.send(());
    server.finish().await;
}

// ----- the client closes ------------------------------------------------------------------------------------------

#[tokio::test]
async fn close_sends_a_close_frame_and_every_later_error_is_closed_by_client() {
    let (got_tx, got_rx) = oneshot::channel();
    let server = serve(|mut peer| async move {
        let _ = peer.request("fault/pending").await;
        let _ = got_tx.send(());
        peer.until_closed().await
    })
    .await;
    let codex = connect(&server.url, config()).await;
    let mut notifications = codex.notifications();
    let pending = spawn_request(codex.connection(), "fault/pending");
    within("the server got the request", got_rx).await.unwrap();
    within("close", codex.close()).await;
    // The server saw a close frame before the connection ended.
    match server.finish().await {
        Some(_) => {}
        None => panic!("the server saw no close frame"),
    }
    assert_eq!(
        close_reason("the pending request", outcome("fault/pending", pending).await),
        CloseReason::ClosedByClient
    );
    assert_eq!(
        close_reason("notifications", within("notifications", notifications.next()).await.expect("an item")),
        CloseReason::ClosedByClient
    );
    let later = within("a later call", codex.models()).await;
    assert_eq!(close_reason("a later call", later), CloseReason::ClosedByClient);
    assert!(codex.connection().is_closed());
    // Closing again is harmless.
    within("close again", codex.close()).await;
    assert_eq!(codex.connection().stats().pending_requests, 0);
}

// ----- the server stops reading ---------------------------------------------------------------------------------------

/// A server that stops reading (a wedged process: its TCP window and the client's send
/// buffer fill up): every request still ends with `Error::Timeout` after its own timeout,
/// even one that could not even be queued for sending.
#[tokio::test]
async fn a_server_that_stops_reading_still_times_every_request_out() {
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = serve(|peer| async move {
        // Reads nothing more until the test ends; then leaves.
        let _ = stop_rx.await;
        drop(peer);
    })
    .await;
    let codex = connect(&server.url, config()).await;
    let conn = codex.connection();
    let timeout = Duration::from_millis(300);
    // 16 MiB of requests: more than loopback's socket buffers hold, so the client's writer
    // blocks; then more requests than its outgoing queue holds.
    let pad = "p".repeat(MIB);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let conn = conn.clone();
        let params = json!({"pad": pad});
        tasks.push(tokio::spawn(async move {
            conn.request_raw_with_timeout(&format!("fault/big-{i}"), params, timeout).await
        }));
    }
    for i in 0..400 {
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            conn.request_raw_with_timeout(&format!("fault/small-{i}"), json!({}), timeout).await
        }));
    }
    // One hang guard for all of them; a request still running then is the failure.
    let results = match tokio::time::timeout(common::WAIT, futures::future::join_all(tasks.iter_mut())).await {
        Ok(results) => results,
        Err(_) => {
            let stuck = tasks.iter().filter(|t| !t.is_finished()).count();
            let pending = conn.stats().pending_requests;
            tasks.iter().for_each(|t| t.abort());
            panic!(
                "{stuck} of {} requests with a {timeout:?} timeout still running after {:?} \
                 (pending_requests {pending}): a request waiting for room in the outgoing queue \
                 is not bounded by its timeout",
                tasks.len(),
                common::WAIT
            );
        }
    };
    let mut outcomes = HashMap::new();
    for result in results {
        let outcome = match result.expect("the request task panicked") {
            Err(Error::Timeout { after, .. }) if after == timeout => "timeout".to_owned(),
            other => format!("{other:?}"),
        };
        *outcomes.entry(outcome).or_insert(0) += 1;
    }
    assert_eq!(outcomes, HashMap::from([("timeout".to_owned(), 416)]), "every request times out");
    assert_eq!(conn.stats().pending_requests, 0);
    let _ = stop_tx.send(());
    drop(codex);
    server.finish().await;
}

/// `close()` on a connection whose server stopped reading returns (the writer's sink close
/// is bounded), and fails every request, including those still waiting to be queued.
#[tokio::test]
async fn close_returns_and_fails_every_request_even_when_the_server_stopped_reading() {
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = serve(|peer| async move {
        let _ = stop_rx.await;
        drop(peer);
    })
    .await;
    let codex = connect(&server.url, config()).await;
    let conn = codex.connection();
    // As above: the writer blocks on a full socket, then the outgoing queue fills.
    let pad = "p".repeat(MIB);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let conn = conn.clone();
        let params = json!({"pad": pad});
        tasks.push(tokio::spawn(async move { conn.request_raw(&format!("fault/big-{i}"), params).await }));
    }
    for i in 0..400 {
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move { conn.request_raw(&format!("fault/small-{i}"), json!({})).await }));
    }
    // Every request has an id and a pending entry before it waits to be queued.
    within("every request is pending", async {
        while conn.stats().pending_requests < tasks.len() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let closed = tokio::time::timeout(common::WAIT, codex.close()).await;
    let results = match closed {
        Ok(_) => tokio::time::timeout(common::WAIT, futures::future::join_all(tasks.iter_mut())).await.ok(),
        Err(_) => None,
    };
    let stuck = tasks.iter().filter(|t| !t.is_finished()).count();
    tasks.iter().for_each(|t| t.abort());
    let _ = stop_tx.send(());
    assert!(
        closed.is_ok(),
        "close() did not return within {:?} ({stuck} of {} requests still running)",
        common::WAIT,
        tasks.len()
    );
    let results = results.unwrap_or_else(|| panic!("{stuck} requests still running after close()"));
    for result in results {
        assert_eq!(close_reason("a request", result.expect("the request task panicked")), CloseReason::ClosedByClient);
    }
    assert_eq!(conn.stats().pending_requests, 0);
    drop(codex);
    server.finish().await;
}
