//! Runtime tests against an in-memory fake app-server (`tokio::io::duplex`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines, ReadHalf, WriteHalf};

use super::*;
use crate::error::{Error, RpcError};

const WAIT: Duration = Duration::from_secs(5);

/// The server end of an in-memory connection.
struct Fake {
    lines: Lines<BufReader<ReadHalf<DuplexStream>>>,
    w: WriteHalf<DuplexStream>,
}

impl Fake {
    /// The next message the client sent.
    async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(WAIT, self.lines.next_line())
            .await
            .expect("client message in time")
            .expect("read")
            .expect("client still connected");
        serde_json::from_str(&line).expect("client sent JSON")
    }

    /// `None` once the client closed its side.
    async fn recv_eof(&mut self) -> Option<String> {
        tokio::time::timeout(WAIT, self.lines.next_line()).await.expect("in time").expect("read")
    }

    async fn send(&mut self, msg: Value) {
        let mut line = serde_json::to_vec(&msg).unwrap();
        line.push(b'\n');
        self.send_raw(&line).await;
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).await.unwrap();
        self.w.flush().await.unwrap();
    }

    async fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"method": method, "params": params, "emittedAtMs": 1})).await;
    }

    /// Answers the next request (which must be `method`) with `result`.
    async fn answer(&mut self, method: &str, result: Value) -> Value {
        let req = self.recv().await;
        assert_eq!(req["method"], method, "{req}");
        self.send(json!({"id": req["id"], "result": result})).await;
        req
    }
}

fn pair_with(options: ConnectionOptions) -> (Connection, Fake) {
    let (client, server) = tokio::io::duplex(1 << 16);
    let (cr, cw) = tokio::io::split(client);
    let (sr, sw) = tokio::io::split(server);
    let transport = Transport::lines(cr, cw, options.max_message_size, crate::Endpoint::custom("test pair"));
    let conn = Connection::from_transport(transport, options);
    (conn, Fake { lines: BufReader::new(sr).lines(), w: sw })
}

fn pair() -> (Connection, Fake) {
    pair_with(ConnectionOptions::default())
}

/// Makes `turn` on `thread` this client's: a `turn/start` that the fake answers with it.
async fn own_turn(conn: &Connection, fake: &mut Fake, thread: &str, turn: &str) {
    let c = conn.clone();
    let params = json!({"threadId": thread, "input": []});
    let call = tokio::spawn(async move { c.request_raw("turn/start", params).await });
    fake.answer("turn/start", json!({"turn": {"id": turn, "items": [], "status": "inProgress"}})).await;
    call.await.unwrap().unwrap();
}

/// Round-trips a request, which proves every line sent before it has been processed.
async fn sync(conn: &Connection, fake: &mut Fake) {
    let c = conn.clone();
    let call = tokio::spawn(async move { c.request_raw("sync", Value::Null).await });
    fake.answer("sync", json!({})).await;
    call.await.unwrap().unwrap();
}

async fn next(
    stream: &mut (impl futures_util::Stream<Item = crate::Result<Event>> + Unpin),
) -> Option<crate::Result<Event>> {
    tokio::time::timeout(WAIT, stream.next()).await.expect("stream item in time")
}

async fn next_method(stream: &mut (impl futures_util::Stream<Item = crate::Result<Event>> + Unpin)) -> String {
    next(stream).await.expect("an item").expect("an event").method().to_owned()
}

fn turn_event(method: &str, thread: &str, turn: &str) -> Value {
    if method == "turn/started" || method == "turn/completed" {
        json!({"threadId": thread, "turn": {"id": turn, "status": "completed", "items": []}})
    } else {
        json!({"threadId": thread, "turnId": turn, "delta": "x"})
    }
}

#[tokio::test]
async fn correlates_out_of_order_responses() {
    let (conn, mut fake) = pair();
    let calls: Vec<_> = (0..3)
        .map(|i| {
            let c = conn.clone();
            tokio::spawn(async move { c.request_raw("echo", json!({"n": i})).await })
        })
        .collect();
    let mut reqs = Vec::new();
    for _ in 0..3 {
        reqs.push(fake.recv().await);
    }
    // No `jsonrpc` field is sent; params are passed through.
    assert!(reqs.iter().all(|r| r.get("jsonrpc").is_none() && r["method"] == "echo"));
    for req in reqs.iter().rev() {
        fake.send(json!({"id": req["id"], "result": {"n": req["params"]["n"], "id": req["id"]}})).await;
    }
    for (i, call) in calls.into_iter().enumerate() {
        let result = call.await.unwrap().unwrap();
        assert_eq!(result["n"], i as u64);
    }
    // An error response maps to Error::Rpc with the untouched error object.
    let c = conn.clone();
    let call = tokio::spawn(async move { c.request_raw("bad", json!({})).await });
    let req = fake.recv().await;
    fake.send(json!({"error": {"code": -32600, "message": "Invalid request: unknown variant"}, "id": req["id"]})).await;
    match call.await.unwrap() {
        Err(Error::Rpc(e)) => {
            assert!(e.code.is_invalid_request());
            assert_eq!(e.message, "Invalid request: unknown variant");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(conn.stats().pending_requests, 0);
}

#[tokio::test]
async fn typed_request_and_decode_errors_name_the_method() {
    struct Echo;
    impl crate::protocol::Request for Echo {
        const METHOD: &'static str = "test/echo";
        type Params = Value;
        type Response = Vec<u32>;
    }
    let (conn, mut fake) = pair();
    let c = conn.clone();
    let call = tokio::spawn(async move { c.request::<Echo>(json!({"a": 1})).await });
    fake.answer("test/echo", json!([1, 2])).await;
    assert_eq!(call.await.unwrap().unwrap(), vec![1, 2]);

    let c = conn.clone();
    let call = tokio::spawn(async move { c.request::<Echo>(json!({})).await });
    fake.answer("test/echo", json!({"not": "a list"})).await;
    match call.await.unwrap() {
        Err(Error::Decode { method, .. }) => assert_eq!(method, "test/echo"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn timeout_removes_pending_and_late_reply_is_dropped() {
    let (conn, mut fake) = pair();
    let c = conn.clone();
    let call =
        tokio::spawn(async move { c.request_raw_with_timeout("slow", Value::Null, Duration::from_millis(50)).await });
    let req = fake.recv().await;
    assert!(req.get("params").is_none(), "null params are omitted: {req}");
    match call.await.unwrap() {
        Err(Error::Timeout { method, after }) => {
            assert_eq!(method, "slow");
            assert_eq!(after, Duration::from_millis(50));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(conn.stats().pending_requests, 0);
    // The late reply is logged and dropped; the connection keeps serving.
    fake.send(json!({"id": req["id"], "result": {}})).await;
    sync(&conn, &mut fake).await;
    assert_eq!(conn.stats().unmatched_responses, 1);

    // `Duration::MAX` disables the timeout (no overflow).
    let c = conn.clone();
    let call = tokio::spawn(async move { c.request_raw_with_timeout("long", json!({}), Duration::MAX).await });
    fake.answer("long", json!(7)).await;
    assert_eq!(call.await.unwrap().unwrap(), json!(7));

    // A cancelled request (future dropped) also cleans up.
    let c = conn.clone();
    let call = tokio::spawn(async move { c.request_raw("never", Value::Null).await });
    fake.recv().await;
    call.abort();
    let _ = call.await;
    assert_eq!(conn.stats().pending_requests, 0);
}

#[tokio::test]
async fn early_turn_events_including_completion_are_buffered_until_claim() {
    let (conn, mut fake) = pair();
    let c = conn.clone();
    let turn = tokio::spawn(async move { c.start_turn_raw(json!({"threadId": "th1", "input": []})).await });
    // The connection never resumed the thread: it subscribes first.
    let resume = fake.answer("thread/resume", json!({})).await;
    assert_eq!(resume["params"], json!({"threadId": "th1", "excludeTurns": true}));
    let req = fake.recv().await;
    assert_eq!(req["method"], "turn/start");
    // The whole turn happens before the response arrives.
    for method in ["turn/started", "item/started", "item/agentMessage/delta", "item/completed", "turn/completed"] {
        fake.notify(method, turn_event(method, "th1", "tu1")).await;
    }
    // An unrelated thread's turn is not captured.
    fake.notify("turn/started", turn_event("turn/started", "other", "tuX")).await;
    fake.send(json!({"id": req["id"], "result": {"turn": {"id": "tu1", "status": "inProgress"}}})).await;
    let (response, mut stream) = turn.await.unwrap().unwrap();
    assert_eq!(response["turn"]["id"], "tu1");
    assert_eq!(stream.turn_id(), "tu1");
    let mut got = Vec::new();
    while let Some(item) = next(&mut stream).await {
        got.push(item.unwrap().method().to_owned());
    }
    assert_eq!(got, ["turn/started", "item/started", "item/agentMessage/delta", "item/completed", "turn/completed"]);
    let stats = conn.stats();
    assert_eq!((stats.reservations, stats.turn_subscriptions, stats.buffered_events), (0, 0, 0));
    assert_eq!(stats.notifications_unrouted, 1, "the other thread's event");
}

#[tokio::test]
async fn claim_mixes_buffered_and_live_events_and_lock_serializes_turns() {
    let (conn, mut fake) = pair();
    let reservation = conn.reserve_turn("th").await.unwrap();
    // A second reservation on the same thread waits for the first to be claimed.
    let c = conn.clone();
    let second = tokio::spawn(async move { c.reserve_turn("th").await.map(|r| r.thread_id().to_owned()) });
    // Polled once, a reservation of the same thread is not granted (the lock is held).
    assert!(tokio::time::timeout(Duration::ZERO, conn.reserve_turn("th")).await.is_err());
    // Another thread is not blocked.
    let other = conn.reserve_turn("other").await.unwrap();
    drop(other);

    fake.notify("turn/started", turn_event("turn/started", "th", "t1")).await;
    sync(&conn, &mut fake).await;
    assert_eq!(conn.stats().buffered_events, 1);
    let mut stream = reservation.claim("t1");
    assert_eq!(second.await.unwrap().unwrap(), "th");
    fake.notify("item/started", turn_event("item/started", "th", "t1")).await;
    fake.notify("turn/completed", turn_event("turn/completed", "th", "t1")).await;
    assert_eq!(next_method(&mut stream).await, "turn/started");
    assert_eq!(next_method(&mut stream).await, "item/started");
    assert_eq!(next_method(&mut stream).await, "turn/completed");
    assert!(next(&mut stream).await.is_none());
    // Reservations and their locks are cleaned up.
    assert_eq!(conn.stats().reservations, 0);
    assert_eq!(conn.turn_lock_count(), 0);

    // A lone claim forgets its lock too, whether released at once or held on.
    conn.reserve_turn("lone").await.unwrap().claim("t2");
    let (_stream, lock) = conn.reserve_turn("held").await.unwrap().claim_holding_lock("t3");
    assert_eq!(conn.turn_lock_count(), 1);
    drop(lock);
    assert_eq!(conn.turn_lock_count(), 0);
}

#[tokio::test]
async fn concurrent_turns_on_two_threads_interleave() {
    let (conn, mut fake) = pair();
    let ra = conn.reserve_turn("A").await.unwrap();
    let rb = conn.reserve_turn("B").await.unwrap();
    let mut thread_a = conn.subscribe_thread("A");
    let sa = ra.claim("a1");
    let sb = rb.claim("b1");
    for i in 0..50 {
        fake.notify("item/agentMessage/delta", json!({"threadId": "A", "turnId": "a1", "delta": format!("a{i}")}))
            .await;
        fake.notify("item/agentMessage/delta", json!({"threadId": "B", "turnId": "b1", "delta": format!("b{i}")}))
            .await;
    }
    fake.notify("turn/completed", turn_event("turn/completed", "B", "b1")).await;
    fake.notify("thread/status/changed", json!({"threadId": "A", "status": {"type": "idle"}})).await;
    fake.notify("turn/completed", turn_event("turn/completed", "A", "a1")).await;

    let collect = |mut s: TurnStream| async move {
        let mut deltas = Vec::new();
        while let Some(ev) = next(&mut s).await {
            let ev = ev.unwrap();
            if ev.method() == "item/agentMessage/delta" {
                deltas.push(ev.params_value().unwrap()["delta"].as_str().unwrap().to_owned());
            } else {
                assert_eq!(ev.method(), "turn/completed");
            }
        }
        deltas
    };
    let (da, db) = tokio::join!(collect(sa), collect(sb));
    assert_eq!(da, (0..50).map(|i| format!("a{i}")).collect::<Vec<_>>());
    assert_eq!(db, (0..50).map(|i| format!("b{i}")).collect::<Vec<_>>());
    // The thread subscription saw A's turn events and its status change, nothing of B.
    let mut seen = 0;
    loop {
        let ev = next(&mut thread_a).await.unwrap().unwrap();
        assert_eq!(ev.thread_id(), Some("A"));
        seen += 1;
        if ev.method() == "turn/completed" {
            break;
        }
    }
    assert_eq!(seen, 52);
}

#[tokio::test]
async fn slow_turn_consumer_lags_without_blocking_anyone() {
    let options = ConnectionOptions::default().with_buffers(4, 4);
    let (conn, mut fake) = pair_with(options);
    own_turn(&conn, &mut fake, "S", "s1").await;
    let mut slow = conn.reserve_turn("S").await.unwrap().claim("s1");
    let mut fast = conn.reserve_turn("F").await.unwrap().claim("f1");
    for i in 0..10 {
        fake.notify("item/agentMessage/delta", json!({"threadId": "S", "turnId": "s1", "delta": i})).await;
    }
    // Another turn flows while the slow stream is full and unpolled.
    fake.notify("item/started", turn_event("item/started", "F", "f1")).await;
    assert_eq!(next_method(&mut fast).await, "item/started");
    // A server request is still answered.
    fake.send(
        json!({"id": 0, "method": "item/fileChange/requestApproval", "params": {"threadId": "S", "turnId": "s1"}}),
    )
    .await;
    let reply = fake.recv().await;
    assert_eq!(reply, json!({"id": 0, "result": {"decision": "decline"}}));
    // Responses too.
    sync(&conn, &mut fake).await;
    fake.notify("item/agentMessage/delta", json!({"threadId": "S", "turnId": "s1", "delta": 10})).await;
    fake.notify("turn/completed", turn_event("turn/completed", "S", "s1")).await;
    fake.notify("turn/completed", turn_event("turn/completed", "F", "f1")).await;
    assert_eq!(next_method(&mut fast).await, "turn/completed");

    // The slow stream: 4 buffered events, the lag report, then the always-delivered completion.
    for i in 0..4 {
        let ev = next(&mut slow).await.unwrap().unwrap();
        assert_eq!(ev.params_value().unwrap()["delta"], i);
    }
    match next(&mut slow).await {
        Some(Err(Error::Lagged { skipped })) => assert_eq!(skipped, 7),
        other => panic!("{other:?}"),
    }
    assert_eq!(next_method(&mut slow).await, "turn/completed");
    assert!(next(&mut slow).await.is_none());
    assert_eq!(conn.stats().events_lagged, 7);
}

#[tokio::test]
async fn event_stream_lag_is_reported_in_place_and_stream_continues() {
    let (conn, mut fake) = pair_with(ConnectionOptions::default().with_buffers(2, 2));
    let mut all = conn.subscribe_all();
    let mut unscoped = conn.subscribe(EventFilter::Unscoped);
    for i in 0..5 {
        fake.notify("configWarning", json!({"summary": i})).await;
    }
    sync(&conn, &mut fake).await;
    assert_eq!(next(&mut all).await.unwrap().unwrap().params_value().unwrap()["summary"], 0);
    assert_eq!(next(&mut all).await.unwrap().unwrap().params_value().unwrap()["summary"], 1);
    assert!(matches!(next(&mut all).await, Some(Err(Error::Lagged { skipped: 3 }))));
    assert_eq!(next_method(&mut unscoped).await, "configWarning");
    assert_eq!(next_method(&mut unscoped).await, "configWarning");
    fake.notify("account/updated", json!({})).await;
    fake.notify("turn/started", turn_event("turn/started", "t", "u")).await;
    assert_eq!(next_method(&mut all).await, "account/updated");
    assert_eq!(next_method(&mut all).await, "turn/started");
    // The lag marker sits where the events were lost; the unscoped filter skipped the turn event.
    assert!(matches!(next(&mut unscoped).await, Some(Err(Error::Lagged { skipped: 3 }))));
    assert_eq!(next_method(&mut unscoped).await, "account/updated");
    sync(&conn, &mut fake).await;
    assert_eq!(conn.stats().buffered_events, 0);
    drop(all);
    drop(unscoped);
    assert_eq!(conn.stats().subscriptions, 0);
}

#[tokio::test]
async fn notifications_without_listeners_do_not_accumulate() {
    let (conn, mut fake) = pair();
    let _other_thread = conn.subscribe_thread("someone-else");
    let before = conn.stats();
    for i in 0..1000 {
        let params = match i % 3 {
            0 => turn_event("item/agentMessage/delta", "t", &format!("turn{i}")),
            1 => json!({"threadId": "t", "status": {"type": "active"}}),
            _ => json!({"summary": "x"}),
        };
        fake.notify("whatever", params).await;
    }
    sync(&conn, &mut fake).await;
    let after = conn.stats();
    assert_eq!(after.notifications_received, 1000);
    assert_eq!(after.notifications_unrouted, 1000);
    assert_eq!(after.buffered_events, 0);
    assert_eq!(
        (after.pending_requests, after.turn_subscriptions, after.reservations, after.subscriptions),
        (before.pending_requests, before.turn_subscriptions, before.reservations, before.subscriptions)
    );
}

#[tokio::test]
async fn default_handler_fails_closed_with_exact_replies() {
    let (conn, mut fake) = pair();
    own_turn(&conn, &mut fake, "t", "u").await;
    let cases = [
        (json!(0), "item/commandExecution/requestApproval", json!({"result": {"decision": "decline"}})),
        (json!("s-1"), "item/fileChange/requestApproval", json!({"result": {"decision": "decline"}})),
        (json!(2), "item/permissions/requestApproval", json!({"result": {"permissions": {}, "scope": "turn"}})),
        (json!(3), "mcpServer/elicitation/request", json!({"result": {"action": "decline"}})),
        (
            json!(4),
            "execCommandApproval",
            json!({"result": {"decision": {"denied": {"rejection": "declined by the client's default (fail-closed) approval policy"}}}}),
        ),
        (
            json!(5),
            "applyPatchApproval",
            json!({"result": {"decision": {"denied": {"rejection": "declined by the client's default (fail-closed) approval policy"}}}}),
        ),
    ];
    for (id, method, expected) in &cases {
        fake.send(json!({"id": id, "method": method, "params": {"threadId": "t", "turnId": "u"}})).await;
        let reply = fake.recv().await;
        let mut want = expected.clone();
        want["id"] = id.clone();
        assert_eq!(reply, want, "{method}");
    }
    for method in [
        "item/tool/call",
        "item/tool/requestUserInput",
        "account/chatgptAuthTokens/refresh",
        "attestation/generate",
        "currentTime/read",
        "brand/new",
    ] {
        fake.send(json!({"id": 9, "method": method})).await;
        let reply = fake.recv().await;
        assert_eq!(reply["id"], 9);
        assert_eq!(reply["error"]["code"], -32601, "{method}: {reply}");
        assert!(reply.get("result").is_none());
    }
}

#[tokio::test]
async fn handler_errors_and_panics_become_error_replies() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    // The "slow" handler finishes only once the test has seen a later request answered.
    let gate = Arc::new(tokio::sync::Notify::new());
    let slow_gate = gate.clone();
    let handler = handler_fn(move |req: RawServerRequest| {
        counter.fetch_add(1, Ordering::SeqCst);
        let gate = slow_gate.clone();
        async move {
            match req.method.as_str() {
                "panic" => panic!("handler exploded"),
                "fail" => Err(RpcError::invalid_params("nope")),
                "slow" => {
                    gate.notified().await;
                    Ok(json!({"slow": true}))
                }
                _ => Ok(json!({"echo": req.params, "thread": req.thread_id()})),
            }
        }
    });
    let (conn, mut fake) = pair_with(ConnectionOptions::default().with_handler(Arc::new(handler)));
    own_turn(&conn, &mut fake, "t", "u").await;
    fake.send(json!({"id": 1, "method": "panic"})).await;
    let reply = fake.recv().await;
    assert_eq!(reply["id"], 1);
    assert_eq!(reply["error"]["code"], -32603);
    assert!(reply["error"]["message"].as_str().unwrap().contains("handler exploded"));

    fake.send(json!({"id": 2, "method": "fail"})).await;
    assert_eq!(fake.recv().await, json!({"id": 2, "error": {"code": -32602, "message": "nope"}}));

    // A slow handler does not hold up a later one (each runs in its own task).
    fake.send(json!({"id": "slow", "method": "slow"})).await;
    fake.send(json!({"id": 3, "method": "echo", "params": {"threadId": "t", "turnId": "u"}})).await;
    assert_eq!(
        fake.recv().await,
        json!({"id": 3, "result": {"echo": {"threadId": "t", "turnId": "u"}, "thread": "t"}})
    );
    gate.notify_one();
    assert_eq!(fake.recv().await, json!({"id": "slow", "result": {"slow": true}}));

    // The reader is alive.
    sync(&conn, &mut fake).await;
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(conn.stats().server_requests, 4);
}

#[tokio::test]
async fn garbage_is_skipped_and_the_connection_keeps_serving() {
    let (conn, mut fake) = pair_with(ConnectionOptions::default().with_max_message_size(1024));
    let mut all = conn.subscribe_all();
    let c = conn.clone();
    let call = tokio::spawn(async move { c.request_raw("x", Value::Null).await });
    let req = fake.recv().await;
    fake.send_raw(b"this is not json\n").await;
    fake.send_raw(b"{\"method\":\"bad\xff\xfe\",\"params\":{}}\n").await;
    fake.send_raw(b"[1,2,3]\n").await;
    fake.send_raw(b"{}\n").await;
    fake.send_raw(b"{\"error\":{\"code\":-32700,\"message\":\"Parse error\"},\"id\":null}\n").await;
    let mut long = b"{\"method\":\"huge\",\"params\":{\"x\":\"".to_vec();
    long.extend(std::iter::repeat_n(b'a', 5000));
    long.extend_from_slice(b"\"}}\n");
    fake.send_raw(&long).await;
    fake.send(json!({"id": 9999, "result": {}})).await; // unknown id
    fake.send(json!({"id": "str", "result": {}})).await; // we never use string ids
    fake.send(json!({"id": req["id"], "result": {"ok": 1}})).await;
    fake.send(json!({"id": req["id"], "result": {"ok": 2}})).await; // duplicate
    fake.notify("after", json!({})).await;
    assert_eq!(call.await.unwrap().unwrap(), json!({"ok": 1}));
    assert_eq!(next_method(&mut all).await, "after");
    sync(&conn, &mut fake).await;
    let stats = conn.stats();
    assert_eq!(stats.invalid_messages, 6, "{stats:?}");
    assert_eq!(stats.unmatched_responses, 3, "{stats:?}");
    assert!(!conn.is_closed());
}

#[tokio::test]
async fn oversized_response_fails_its_waiter() {
    let (conn, mut fake) = pair_with(ConnectionOptions::default().with_max_message_size(256));
    let c = conn.clone();
    let call = tokio::spawn(async move { c.request_raw("thread/read", json!({})).await });
    let req = fake.recv().await;
    let big = json!({"id": req["id"], "result": {"blob": "b".repeat(1000)}});
    fake.send(big).await;
    match call.await.unwrap() {
        Err(Error::MessageTooLarge { method, size, limit }) => {
            assert_eq!(method.as_deref(), Some("thread/read"));
            assert!(size > 1000);
            assert_eq!(limit, 256);
        }
        other => panic!("{other:?}"),
    }
    sync(&conn, &mut fake).await;
}

#[tokio::test]
async fn server_exit_fails_everything_with_transport_closed() {
    let (conn, mut fake) = pair();
    let c = conn.clone();
    let call = tokio::spawn(async move { c.request_raw("pending", Value::Null).await });
    fake.recv().await;
    let mut turn = conn.reserve_turn("t").await.unwrap().claim("u");
    let mut events = conn.subscribe_all();
    let reservation = conn.reserve_turn("t2").await.unwrap();
    fake.notify("item/started", turn_event("item/started", "t", "u")).await;
    sync(&conn, &mut fake).await;
    drop(fake); // the server goes away

    assert!(matches!(call.await.unwrap(), Err(Error::TransportClosed { .. })));
    // Buffered events are still delivered, then the close error, then the end.
    assert_eq!(next_method(&mut turn).await, "item/started");
    assert!(matches!(next(&mut turn).await, Some(Err(Error::TransportClosed { .. }))));
    assert!(next(&mut turn).await.is_none());
    assert_eq!(next_method(&mut events).await, "item/started");
    assert!(matches!(next(&mut events).await, Some(Err(Error::TransportClosed { .. }))));
    assert!(next(&mut events).await.is_none());
    let mut claimed = reservation.claim("x");
    assert!(matches!(next(&mut claimed).await, Some(Err(Error::TransportClosed { .. }))));

    // Later calls fail fast.
    assert!(matches!(conn.request_raw("later", Value::Null).await, Err(Error::TransportClosed { .. })));
    assert!(matches!(conn.notify("later", Value::Null).await, Err(Error::TransportClosed { .. })));
    assert!(matches!(conn.reserve_turn("t3").await, Err(Error::TransportClosed { .. })));
    let mut late = conn.subscribe_all();
    assert!(matches!(next(&mut late).await, Some(Err(Error::TransportClosed { .. }))));
    let mut late_turn = conn.subscribe_turn("v");
    assert!(matches!(next(&mut late_turn).await, Some(Err(Error::TransportClosed { .. }))));
    assert!(conn.is_closed());
    assert!(conn.closed().await.is_transport_closed());
    let stats = conn.stats();
    assert_eq!((stats.pending_requests, stats.turn_subscriptions, stats.subscriptions), (0, 0, 0));
}

#[tokio::test]
async fn dropping_the_last_handle_closes_the_transport() {
    let (conn, mut fake) = pair();
    let mut events = conn.subscribe_all();
    let clone = conn.clone();
    drop(conn);
    sync(&clone, &mut fake).await; // still alive through the clone
    drop(clone);
    assert_eq!(fake.recv_eof().await, None, "the client closed its side");
    assert!(matches!(next(&mut events).await, Some(Err(Error::TransportClosed { .. }))));
}

#[tokio::test]
async fn initialize_handshake_and_already_initialized() {
    let (conn, mut fake) = pair();
    let options = InitializeOptions::default()
        .with_client_info("lab_client", Some("Lab Client".into()), "0.0.1")
        .with_opt_out_notification(
            <crate::methods::server_notifications::ThreadStarted as crate::protocol::Notification>::METHOD,
        );
    let c = conn.clone();
    let o = options.clone();
    let init = tokio::spawn(async move { c.initialize(&o).await });
    let req = fake
        .answer(
            "initialize",
            json!({"userAgent": "lab_client/0.169.0 (Debian 12.0.0; x86_64) xterm (lab_client; 0.0.1)",
                   "codexHome": "/tmp/h", "platformFamily": "unix", "platformOs": "linux"}),
        )
        .await;
    assert_eq!(
        req["params"],
        json!({"clientInfo": {"name": "lab_client", "title": "Lab Client", "version": "0.0.1"},
               "capabilities": {"experimentalApi": true, "optOutNotificationMethods": ["thread/started"]}})
    );
    assert_eq!(fake.recv().await, json!({"method": "initialized"}));
    let meta = init.await.unwrap().unwrap();
    assert_eq!(meta.server_version.as_deref(), Some("0.169.0"));
    assert_eq!(conn.metadata().unwrap().platform_os.as_deref(), Some("linux"));
    assert!(matches!(conn.initialize(&options).await, Err(Error::AlreadyInitialized)));

    // A failed initialize can be retried.
    let (conn, mut fake) = pair();
    let c = conn.clone();
    let o = options.clone();
    let init = tokio::spawn(async move { c.initialize(&o).await });
    let req = fake.recv().await;
    fake.send(json!({"id": req["id"], "error": {"code": -32600, "message": "bad"}})).await;
    assert!(matches!(init.await.unwrap(), Err(Error::Rpc(_))));
    let c = conn.clone();
    let init = tokio::spawn(async move { c.initialize(&options).await });
    fake.answer("initialize", json!({"userAgent": "x/1.2.3"})).await;
    assert_eq!(fake.recv().await["method"], "initialized");
    assert_eq!(init.await.unwrap().unwrap().server_version.as_deref(), Some("1.2.3"));
}

/// A `Codex` is only made from an initialized connection: before `initialize`, while it
/// runs and after it failed, `from_connection` is `NotInitialized` (nothing is sent, so
/// `metadata()` can never be asked of a server that never answered); afterwards it is the
/// server that answered.
#[tokio::test]
async fn a_codex_is_only_made_from_an_initialized_connection() {
    let not_initialized = |conn: &Connection| match crate::Codex::from_connection(conn.clone()) {
        Err(Error::NotInitialized) => {}
        Err(other) => panic!("expected NotInitialized, got {other:?}"),
        Ok(_) => panic!("expected NotInitialized, got a Codex"),
    };
    let (conn, mut fake) = pair();
    not_initialized(&conn);
    assert_eq!(conn.stats().pending_requests, 0);

    let c = conn.clone();
    let init = tokio::spawn(async move { c.initialize(&InitializeOptions::default()).await });
    let req = fake.recv().await;
    assert_eq!(req["method"], "initialize");
    not_initialized(&conn);
    fake.send(json!({"id": req["id"], "error": {"code": -32600, "message": "bad"}})).await;
    assert!(matches!(init.await.unwrap(), Err(Error::Rpc(_))));
    not_initialized(&conn);

    initialize_as(&conn, &mut fake, "0.170.2").await;
    let codex = crate::Codex::from_connection(conn.clone()).expect("initialized");
    assert_eq!(codex.metadata().server_version.as_deref(), Some("0.170.2"));
    assert!(Error::NotInitialized.to_string().contains("Connection::initialize"));
}

/// Initializes `conn` against a fake server that reports `version` in its user agent.
async fn initialize_as(conn: &Connection, fake: &mut Fake, version: &str) {
    let c = conn.clone();
    let init = tokio::spawn(async move { c.initialize(&InitializeOptions::default()).await });
    fake.answer("initialize", json!({"userAgent": format!("codex_rust_sdk/{version} (Linux; x86_64)")})).await;
    assert_eq!(fake.recv().await["method"], "initialized");
    init.await.unwrap().unwrap();
}

/// A request the connected server's release predates fails at once with `Unsupported`,
/// and nothing reaches the server; the same request goes out to a server that has it, and
/// to one whose version is unknown (a development build).
#[tokio::test]
async fn a_request_the_server_predates_is_refused_without_a_round_trip() {
    let (method, availability) = crate::version::CLIENT_REQUESTS
        .iter()
        .find(|(_, a)| a.since.is_some() && a.removed.is_none())
        .copied()
        .expect("the history has a client request newer than the window's start");
    let since = availability.since.unwrap();
    let oldest = crate::version::WINDOW[0];

    let (conn, mut fake) = pair();
    initialize_as(&conn, &mut fake, &oldest.to_string()).await;
    assert_eq!(conn.server_version(), Some(oldest));
    match conn.request_raw(method, json!({})).await {
        Err(Error::Unsupported { method: m, since: s, removed: None, server_version }) => {
            assert_eq!((m.as_str(), s, server_version), (method, Some(since), oldest));
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    let error = conn.request_raw(method, json!({})).await.unwrap_err();
    assert!(error.is_unsupported());
    assert!(error.to_string().contains(&format!("needs Codex {since} or later")), "{error}");
    // The next message the server sees is the one after the refused requests.
    sync(&conn, &mut fake).await;

    for version in [since.to_string(), crate::version::PINNED.to_string(), "0.0.0".to_owned()] {
        let (conn, mut fake) = pair();
        initialize_as(&conn, &mut fake, &version).await;
        let c = conn.clone();
        let call = tokio::spawn(async move { c.request_raw(method, json!({})).await });
        fake.answer(method, json!({"ok": true})).await;
        assert_eq!(call.await.unwrap().unwrap(), json!({"ok": true}), "server {version}");
    }
}

/// A close during the automatic retry's backoff ends the call at once with the close error
/// (virtual time shows no backoff was waited out).
#[tokio::test(start_paused = true)]
async fn a_close_during_the_overload_backoff_ends_the_call_at_once() {
    let backoff = Duration::from_secs(60);
    let policy = RetryPolicy::default().with_delays(backoff, backoff);
    let (conn, mut fake) = pair_with(ConnectionOptions::default().with_overload_retry(policy));
    let start = tokio::time::Instant::now();
    let c = conn.clone();
    let call = tokio::spawn(async move { c.request_raw("busy/op", Value::Null).await });
    let req = fake.recv().await;
    assert_eq!(req["method"], "busy/op");
    fake.send(json!({"id": req["id"], "error": {"code": -32001, "message": "Server overloaded; retry later."}})).await;
    // The overload reply has been handled (and the retry is waiting) once this round trip
    // is through.
    sync(&conn, &mut fake).await;
    conn.close().await;
    let result = call.await.unwrap();
    assert!(result.as_ref().is_err_and(Error::is_transport_closed), "{result:?}");
    assert!(start.elapsed() < backoff, "waited out the backoff: {:?}", start.elapsed());
}

/// The automatic retry and `retry_on_overload` use one test of "overloaded": each error
/// is retried by both or by neither, and it is exactly Codex's `-32001` rejection.
#[tokio::test(start_paused = true)]
async fn both_retries_share_one_test_of_overloaded() {
    let cases = [
        RpcError::new(-32001, "Server overloaded"),
        RpcError::new(-32001, "busy").with_data(json!({"codex_error_info": "server_overloaded"})),
        RpcError::new(-32000, "x").with_data(json!({"details": {"codex_error_info": "server_overloaded"}})),
        RpcError::new(-32050, "x").with_data(json!({"codexErrorInfo": "serverOverloaded"})),
        RpcError::new(-32001, "quota").with_data(json!({"note": "server_overloaded"})),
        RpcError::new(-32600, "x").with_data(json!({"codexErrorInfo": "serverOverloaded"})),
        RpcError::new(-32603, "Internal error"),
    ];
    let policy = RetryPolicy::default();
    for error in cases {
        let (helper, automatic) = (AtomicU32::new(0), AtomicU32::new(0));
        let fail = |n: &AtomicU32| {
            n.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Err::<(), _>(Error::Rpc(error.clone())))
        };
        let _ = retry_on_overload(policy, || fail(&helper)).await;
        let _ = super::retry::retry_overloaded(&policy, "m", || fail(&automatic), |_| async {}).await;
        let (helper, automatic) = (helper.into_inner(), automatic.into_inner());
        assert_eq!(helper, automatic, "{error:?}");
        assert_eq!(helper > 1, error.is_overloaded(), "{error:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn retry_on_overload_retries_only_overload() {
    async fn run(error: RpcError, policy: RetryPolicy) -> (u32, crate::Result<()>) {
        let attempts = AtomicU32::new(0);
        let result = retry_on_overload(policy, || {
            attempts.fetch_add(1, Ordering::SeqCst);
            let e = error.clone();
            async move { Err::<(), _>(Error::Rpc(e)) }
        })
        .await;
        (attempts.load(Ordering::SeqCst), result)
    }
    let policy = RetryPolicy::default();
    let bare = RpcError::new(-32001, "Server overloaded");
    let (n, r) = run(bare.clone(), policy).await;
    assert_eq!(n, 3);
    assert!(r.unwrap_err().is_overloaded());
    let with_data = RpcError::new(-32001, "busy").with_data(json!({"codex_error_info": "server_overloaded"}));
    assert_eq!(run(with_data, policy).await.0, 3);
    assert_eq!(run(RpcError::new(-32600, "Invalid request"), policy).await.0, 1);
    assert_eq!(run(RpcError::new(-32001, "x").with_data(json!({"other": 1})), policy).await.0, 1);
    assert_eq!(run(bare, policy.with_max_attempts(5)).await.0, 5);

    // Success after overloads, with exponential delays (250 ms, 500 ms without jitter).
    let attempts = AtomicU32::new(0);
    let start = tokio::time::Instant::now();
    let out = retry_on_overload(policy.with_jitter(0.0), || {
        let n = attempts.fetch_add(1, Ordering::SeqCst);
        async move {
            if n < 2 {
                Err(Error::Rpc(RpcError::new(-32001, "busy")))
            } else {
                Ok(n)
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(out, 2);
    assert_eq!(start.elapsed(), Duration::from_millis(750));
}

/// The rule for shared threads: the server asks every subscribed connection and takes the
/// first answer, so a client answers only for its own turns (or where a handler was set for
/// the thread) and never declines another client's request by default.
#[tokio::test]
async fn server_requests_of_another_clients_turn_are_left_to_it() {
    let (conn, mut fake) = pair();
    let approval = |id: i64, turn: &str| json!({"id": id, "method": "item/commandExecution/requestApproval", "params": {"threadId": "t", "turnId": turn}});
    fake.send(approval(1, "theirs")).await;
    sync(&conn, &mut fake).await;
    own_turn(&conn, &mut fake, "t", "mine").await;
    fake.send(approval(2, "mine")).await;
    // Only the request of this client's turn is answered (the first reply is to id 2).
    assert_eq!(fake.recv().await, json!({"id": 2, "result": {"decision": "decline"}}));
    assert_eq!(conn.stats().server_requests_left, 1);
    // A handler set for the thread answers whoever's turn it is.
    conn.set_thread_handler("t", Arc::new(handler_fn(|_| async { Ok(json!({"decision": "accept"})) })));
    fake.send(approval(3, "theirs")).await;
    assert_eq!(fake.recv().await, json!({"id": 3, "result": {"decision": "accept"}}));
}

/// A request that arrives while this client's `turn/start` on the thread is unanswered
/// waits for the answer to learn whose turn it is.
#[tokio::test]
async fn a_request_racing_the_turn_start_answer_waits_for_it() {
    let (conn, mut fake) = pair();
    let c = conn.clone();
    let start = tokio::spawn(async move { c.request_raw("turn/start", json!({"threadId": "t", "input": []})).await });
    let request = fake.recv().await;
    assert_eq!(request["method"], "turn/start");
    fake.send(
        json!({"id": 7, "method": "item/fileChange/requestApproval", "params": {"threadId": "t", "turnId": "u"}}),
    )
    .await;
    sync(&conn, &mut fake).await; // the request was read, and is waiting
    fake.send(json!({"id": request["id"], "result": {"turn": {"id": "u", "items": [], "status": "inProgress"}}})).await;
    start.await.unwrap().unwrap();
    assert_eq!(fake.recv().await, json!({"id": 7, "result": {"decision": "decline"}}));
}

/// `serverRequest/resolved` (another client answered first) cancels this client's handler
/// still deciding the request: its future is dropped and no reply is sent.
#[tokio::test]
async fn a_request_resolved_elsewhere_cancels_the_deciding_handler() {
    let (entered_tx, mut entered) = tokio::sync::mpsc::unbounded_channel::<tokio::sync::oneshot::Receiver<()>>();
    let handler = handler_fn(move |_req: RawServerRequest| {
        let (dropped_tx, dropped_rx) = tokio::sync::oneshot::channel::<()>();
        let _ = entered_tx.send(dropped_rx);
        async move {
            let _dropped = dropped_tx; // dropped with the future
            std::future::pending::<()>().await;
            Ok(Value::Null)
        }
    });
    let (conn, mut fake) = pair_with(ConnectionOptions::default().with_handler(Arc::new(handler)));
    own_turn(&conn, &mut fake, "t", "u").await;
    fake.send(json!({"id": "r-1", "method": "item/tool/requestUserInput", "params": {"threadId": "t", "turnId": "u"}}))
        .await;
    let dropped = tokio::time::timeout(WAIT, entered.recv()).await.unwrap().unwrap();
    fake.notify("serverRequest/resolved", json!({"threadId": "t", "requestId": "r-1"})).await;
    assert!(tokio::time::timeout(WAIT, dropped).await.is_ok(), "the handler's future is dropped");
    // Nothing was sent for it: the next line the server reads is the sync request.
    let c = conn.clone();
    let call = tokio::spawn(async move { c.request_raw("sync", Value::Null).await });
    let next = fake.recv().await;
    assert_eq!(next["method"], "sync", "no reply to the resolved request: {next}");
    fake.send(json!({"id": next["id"], "result": {}})).await;
    call.await.unwrap().unwrap();
}

/// A flood of server requests cannot grow memory without bound: past
/// `MAX_SERVER_REQUESTS_IN_FLIGHT` handlers still running, a request is answered
/// fail-closed at once, and the handlers in flight are untouched.
#[tokio::test]
async fn a_flood_of_server_requests_is_shed_fail_closed_past_the_bound() {
    use crate::rpc::MAX_SERVER_REQUESTS_IN_FLIGHT;
    let handler = handler_fn(|_req: RawServerRequest| async {
        std::future::pending::<()>().await;
        Ok(Value::Null)
    });
    let (conn, mut fake) = pair_with(ConnectionOptions::default().with_handler(Arc::new(handler)));
    let approval = |id: usize| json!({"id": id, "method": "item/commandExecution/requestApproval", "params": {}});
    for id in 0..MAX_SERVER_REQUESTS_IN_FLIGHT {
        fake.send(approval(id)).await;
    }
    sync(&conn, &mut fake).await;
    tokio::time::timeout(WAIT, async {
        while conn.stats().server_requests_in_flight < MAX_SERVER_REQUESTS_IN_FLIGHT {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("every handler runs");
    for id in 0..3 {
        fake.send(approval(100_000 + id)).await;
        assert_eq!(fake.recv().await, json!({"id": 100_000 + id, "result": {"decision": "decline"}}));
    }
    let stats = conn.stats();
    assert_eq!((stats.server_requests_in_flight, stats.server_requests_shed), (MAX_SERVER_REQUESTS_IN_FLIGHT, 3));
}

/// A response with neither `result` nor `error` is a protocol violation: its request fails
/// with a decode error naming the method (not `Ok(null)`), the line is counted invalid, and
/// the connection goes on. `"result": null` stays a `null` result.
#[tokio::test]
async fn a_response_without_result_or_error_fails_its_request() {
    let (conn, mut fake) = pair();
    let c = conn.clone();
    let call = tokio::spawn(async move { c.request_raw("thread/read", json!({})).await });
    let request = fake.recv().await;
    fake.send(json!({"id": request["id"]})).await;
    match call.await.unwrap() {
        Err(Error::Decode { method, source }) => {
            assert_eq!(method, "thread/read");
            assert!(source.to_string().contains("neither `result` nor `error`"), "{source}");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert_eq!(conn.stats().invalid_messages, 1);
    let c = conn.clone();
    let call = tokio::spawn(async move { c.request_raw("x", json!({})).await });
    let request = fake.recv().await;
    fake.send(json!({"id": request["id"], "result": null})).await;
    assert_eq!(call.await.unwrap().unwrap(), Value::Null);
}
