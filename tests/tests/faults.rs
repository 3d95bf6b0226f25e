//! Faults the real app-server cannot be made to produce, through a real child process and
//! its pipes: `scripted_app_server` (tests/src/bin) answers from a script written by each
//! test and logs every line it receives, with its arrival time.
//!
//! What is proven, through `Codex`/`Thread` where the protocol allows and `Connection`
//! otherwise: garbage lines (malformed JSON, invalid UTF-8, a truncated final line) are
//! counted and skipped; a 50 MiB message fails only its own waiter under a smaller limit and
//! is accepted under the default one; unknown and duplicate responses are counted and
//! dropped; a notification of a turn whose params do not decode is reported in place and the
//! turn goes on to its end; a server that exits fails everything with its exit status and
//! stderr; overloaded requests are retried automatically (and only those), and give up with
//! `RetryLimitExceeded` after exactly `max_attempts`. After each fault the connection still
//! answers requests where the protocol allows.

#[allow(dead_code)] // this binary uses a part of the shared helpers
mod common;

use codex_driver::methods::ServerNotification;
use codex_driver::rpc::ConnectionOptions;
use codex_driver::rpc::{retry_on_overload, RetryPolicy};
use codex_driver::LaunchConfig;
use codex_driver::{ClientConfig, CloseReason, Codex, Error, ThreadOptions};
use common::payloads::{agent_message, initialize_result, thread_json, thread_start_result, turn_json};
use common::trace::Capture;
use common::{within, WAIT};
use futures::StreamExt;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

const FAKE_SERVER: &str = env!("CARGO_BIN_EXE_scripted_app_server");
const MIB: usize = 1024 * 1024;
const BIG: usize = 50 * MIB;
const DELTA: &str = "item/agentMessage/delta";

// ----- the scripted server ----------------------------------------------------------------

/// A script for `scripted_app_server` and, once it ran, what the server received.
struct Fake {
    dir: tempfile::TempDir,
    steps: Vec<Value>,
}

impl Fake {
    /// A script that begins with the `initialize` handshake.
    fn new() -> Fake {
        capture(); // before anything logs
        let dir = tempfile::tempdir().expect("temp dir");
        Fake { dir, steps: vec![json!({"expect": "initialize", "result": initialize_result()})] }
    }

    /// Appends steps (see the binary's docs for the step kinds).
    fn then(mut self, steps: impl IntoIterator<Item = Value>) -> Fake {
        self.steps.extend(steps);
        self
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("received.jsonl")
    }

    /// Writes the script; the client configuration that launches the fake server with it.
    fn config(&self) -> ClientConfig {
        let script = self.dir.path().join("script.json");
        let body = json!({"log": self.log(), "steps": self.steps});
        std::fs::write(&script, serde_json::to_vec_pretty(&body).unwrap()).expect("write script");
        let launch =
            LaunchConfig::new().with_launch_args_override([FAKE_SERVER.to_owned(), script.display().to_string()]);
        ClientConfig::from(launch).with_connection(ConnectionOptions::default().with_request_timeout(WAIT))
    }

    /// [`config`](Self::config) with its connection options adjusted by `adjust`.
    fn config_with(&self, adjust: impl FnOnce(ConnectionOptions) -> ConnectionOptions) -> ClientConfig {
        let mut config = self.config();
        config.connection = adjust(config.connection);
        config
    }

    /// Every message received so far: (milliseconds since the server started, message).
    /// Only complete entries count: the server may be halfway through writing the last one.
    fn received(&self) -> Vec<(f64, Value)> {
        let text = std::fs::read_to_string(self.log()).unwrap_or_default();
        text.split_inclusive('\n')
            .filter_map(|entry| entry.strip_suffix('\n'))
            .map(|entry| {
                let entry: Value = serde_json::from_str(entry).expect("log entry");
                let message = serde_json::from_str(entry["line"].as_str().unwrap()).expect("the SDK sends JSON");
                (entry["t_ms"].as_f64().unwrap(), message)
            })
            .collect()
    }

    /// The requests received with `method`.
    fn requests(&self, method: &str) -> Vec<(f64, Value)> {
        self.received().into_iter().filter(|(_, m)| m["method"] == method && m.get("id").is_some()).collect()
    }

    /// Waits until a `method` request has reached the server.
    async fn wait_for_request(&self, method: &str) {
        within(&format!("the server receives `{method}`"), async {
            while self.requests(method).is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
    }
}

async fn connect(config: ClientConfig) -> Codex {
    within("connect to the scripted server", Codex::spawn(config)).await.expect("initialize")
}

/// A raw request through the low-level connection.
async fn raw(codex: &Codex, method: &str) -> codex_driver::Result<Value> {
    within(method, codex.connection().request_raw(method, json!({}))).await
}

fn expect(method: &str) -> Value {
    json!({"expect": method})
}

fn answer(method: &str, result: Value) -> Value {
    json!({"expect": method, "result": result})
}

fn reject(method: &str, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = json!({"code": code, "message": message});
    if let Some(data) = data {
        error["data"] = data;
    }
    json!({"expect": method, "error": error})
}

fn notify(method: &str, params: Value) -> Value {
    json!({"send": {"method": method, "params": params, "emittedAtMs": 1_795_472_789_000_i64}})
}

fn raw_text(text: &str) -> Value {
    json!({"raw": text})
}

const OVERLOADED: &str = "Server overloaded; retry later.";

/// `thread/start` answered with `thread`.
fn start_thread(thread: &str) -> Value {
    answer("thread/start", thread_start_result(thread))
}

/// `turn/start` answered, then `turn/started`, the agent message's `item/started`, and one
/// delta per entry of `deltas` (a string, or any JSON value: a bad delta).
fn start_turn(thread: &str, turn: &str, deltas: &[Value]) -> Vec<Value> {
    let mut steps = vec![
        answer("turn/start", json!({"turn": turn_json(turn, "inProgress", json!([]))})),
        notify("turn/started", json!({"threadId": thread, "turn": turn_json(turn, "inProgress", json!([]))})),
        notify(
            "item/started",
            json!({"item": agent_message("msg-1", "", false), "threadId": thread, "turnId": turn,
            "startedAtMs": 1_795_472_789_200_i64}),
        ),
    ];
    for delta in deltas {
        steps.push(notify(DELTA, json!({"threadId": thread, "turnId": turn, "itemId": "msg-1", "delta": delta})));
    }
    steps
}

/// The agent message's `item/completed` with `text`, then `turn/completed`.
fn complete_turn(thread: &str, turn: &str, text: &str) -> Vec<Value> {
    let item = agent_message("msg-1", text, true);
    vec![
        notify(
            "item/completed",
            json!({"item": item, "threadId": thread, "turnId": turn, "contentTokenCount": null,
            "completedAtMs": 1_795_472_789_205_i64}),
        ),
        notify("turn/completed", json!({"threadId": thread, "turn": turn_json(turn, "completed", json!([item]))})),
    ]
}

// ----- tracing capture ------------------------------------------------------------------------

/// Every `tracing` event of this test binary (a global subscriber: the SDK's tasks run on
/// runtime threads). Tests look for events carrying their own unique method or id.
fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        tracing::subscriber::set_global_default(capture.clone()).expect("the only global subscriber");
        capture
    })
}

/// The captured warnings that contain every one of `needles`.
fn warnings_with(needles: &[&str]) -> Vec<String> {
    capture()
        .lines()
        .into_iter()
        .filter(|line| line.starts_with("event WARN") && needles.iter().all(|n| line.contains(n)))
        .collect()
}

// ----- garbage on the wire ----------------------------------------------------------------------

#[tokio::test]
async fn malformed_and_non_utf8_lines_are_skipped_and_the_connection_keeps_serving() {
    let fake = Fake::new().then([
        expect("fault/probe"),
        raw_text("this is not json\n"),
        // A broken answer to the pending request: it must neither resolve nor break it.
        raw_text("{\"id\":$id,\"result\":{\"half\":\n"),
        raw_text("{\"id\":$id,\"result\":\""),
        json!({"bytes": [0xff, 0xfe, 0x80]}),
        raw_text("\"}\n"),
        // A notification whose text is not UTF-8, then a good one.
        raw_text("{\"method\":\"configWarning\",\"params\":{\"summary\":\""),
        json!({"bytes": [0xc3, 0x28, 0xa0, 0xa1]}),
        raw_text("\"}}\n"),
        notify("configWarning", json!({"summary": "the good one", "details": null})),
        json!({"result": {"answer": 42}}),
        answer("model/list", json!({"data": [], "nextCursor": null})),
    ]);
    let codex = connect(fake.config()).await;
    let mut notifications = codex.notifications();
    assert_eq!(raw(&codex, "fault/probe").await.unwrap(), json!({"answer": 42}));
    match within("notification", notifications.next()).await {
        Some(Ok(ServerNotification::ConfigWarning(w))) => assert_eq!(w.summary, "the good one"),
        other => panic!("expected the good configWarning first, got {other:?}"),
    }
    // Still serving, through the high-level API.
    let models = within("model/list", codex.models()).await.unwrap();
    assert!(models.data.is_empty());
    let stats = codex.connection().stats();
    assert_eq!(stats.invalid_messages, 4, "{stats:?}");
    assert_eq!((stats.unmatched_responses, stats.pending_requests), (0, 0), "{stats:?}");
    assert!(!codex.connection().is_closed());
}

#[tokio::test]
async fn a_truncated_last_line_is_skipped_and_the_exit_fails_pending_requests_with_stderr() {
    let fake = Fake::new().then([
        expect("fault/pending"),
        json!({"stderr": "fatal: the scripted server lost its train of thought"}),
        raw_text("{\"id\":$id,\"result\":{\"trunc"), // no newline: the stream ends here
        json!({"exit": 3}),
    ]);
    let codex = connect(fake.config()).await;
    let mut notifications = codex.notifications();
    match raw(&codex, "fault/pending").await {
        Err(Error::TransportClosed {
            reason: CloseReason::ProcessExited { status: exit_status, stderr_tail }, ..
        }) => {
            assert_eq!(exit_status.and_then(|s| s.code()), Some(3));
            assert!(stderr_tail.contains("lost its train of thought"), "{stderr_tail:?}");
        }
        other => panic!("expected TransportClosed, got {other:?}"),
    }
    assert_eq!(codex.connection().stats().invalid_messages, 1);
    // Streams end with the same error; later calls fail at once.
    match within("notifications end", notifications.next()).await {
        Some(Err(Error::TransportClosed { reason, .. })) => {
            assert!(reason.stderr_tail().contains("train of thought"))
        }
        other => panic!("{other:?}"),
    }
    assert!(within("end", notifications.next()).await.is_none());
    common::assert_transport_closed("thread/start after the exit", codex.thread_start(&ThreadOptions::default()).await);
}

#[tokio::test]
async fn a_complete_last_line_without_newline_is_delivered_before_the_close() {
    let fake = Fake::new().then([
        expect("fault/last"),
        json!({"send": {"id": "$id", "result": {"last": true}}, "newline": false}),
        json!({"exit": 0}),
    ]);
    let codex = connect(fake.config()).await;
    assert_eq!(raw(&codex, "fault/last").await.unwrap(), json!({"last": true}));
    match within("close", codex.connection().closed()).await {
        Error::TransportClosed { reason, .. } => {
            assert_eq!(reason.exit_status().and_then(|s| s.code()), Some(0))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(codex.connection().stats().invalid_messages, 0);
}

// ----- a 50 MiB message --------------------------------------------------------------------------

/// `thread/read` answered with a thread whose preview pads the line to `size` bytes.
fn big_thread_read(thread: &str, size: usize) -> Value {
    let mut big = thread_json(thread);
    big["preview"] = json!("$pad");
    json!({"send": {"id": "$id:thread/read", "result": {"thread": big}}, "pad_to": size})
}

#[tokio::test]
async fn a_50_mib_message_over_a_smaller_limit_fails_only_its_waiter() {
    let thread = "thr-big-over";
    let fake = Fake::new().then([
        start_thread(thread),
        expect("thread/read"),
        expect("model/list"),
        // A 50 MiB notification nobody may see, then a small one.
        json!({"send": {"method": "configWarning", "params": {"summary": "$pad"}}, "pad_to": BIG}),
        notify("configWarning", json!({"summary": "small", "details": null})),
        big_thread_read(thread, BIG),
        json!({"result": {"data": [], "nextCursor": null}, "to": "model/list"}),
        answer("fault/after", json!({"still": "serving"})),
    ]);
    let codex = connect(fake.config_with(|c| c.with_max_message_size(MIB))).await;
    let thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();
    let mut notifications = codex.notifications();
    let read = tokio::spawn(async move { thread.read().await });
    fake.wait_for_request("thread/read").await;
    let c = codex.clone();
    let models = tokio::spawn(async move { c.models().await });
    match within("thread/read", read).await.unwrap() {
        Err(Error::MessageTooLarge { method, size, limit }) => {
            assert_eq!(method.as_deref(), Some("thread/read"));
            assert_eq!((size, limit), (BIG as u64, MIB));
        }
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
    assert!(within("model/list", models).await.unwrap().unwrap().data.is_empty());
    match within("notification", notifications.next()).await {
        Some(Ok(ServerNotification::ConfigWarning(w))) => assert_eq!(w.summary, "small"),
        other => panic!("expected the small configWarning, got {other:?}"),
    }
    assert_eq!(raw(&codex, "fault/after").await.unwrap(), json!({"still": "serving"}));
    let stats = codex.connection().stats();
    assert_eq!((stats.invalid_messages, stats.pending_requests), (2, 0), "{stats:?}");
}

#[tokio::test]
async fn a_50_mib_message_under_the_default_limit_is_accepted() {
    let thread = "thr-big-under";
    let fake = Fake::new().then([
        start_thread(thread),
        expect("thread/read"),
        big_thread_read(thread, BIG),
        answer("fault/after", json!({})),
    ]);
    let codex = connect(fake.config()).await;
    let thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();
    let read = within("thread/read", thread.read()).await.unwrap();
    let id = &fake.requests("thread/read")[0].1["id"];
    let overhead =
        serde_json::to_string(&json!({"id": id, "result": {"thread": thread_json("thr-big-under")}})).unwrap().len();
    assert_eq!(read.preview.len(), BIG - overhead);
    assert!(read.preview.bytes().all(|b| b == b'x'));
    assert_eq!(read.id, "thr-big-under");
    raw(&codex, "fault/after").await.unwrap();
    assert_eq!(codex.connection().stats().invalid_messages, 0);
}

// ----- responses nobody waits for ---------------------------------------------------------------

#[tokio::test]
async fn unknown_and_duplicate_responses_are_counted_and_dropped() {
    let fake = Fake::new().then([
        expect("fault/first"),
        json!({"send": {"id": 424_242, "result": {"stray": true}}}),
        json!({"send": {"id": "not-ours", "result": {"stray": true}}}),
        json!({"result": {"n": 1}}),
        json!({"result": {"n": 2}}),                                           // duplicate
        json!({"error": {"code": -32603, "message": "late duplicate error"}}), // duplicate again
        answer("fault/second", json!({"n": 3})),
    ]);
    let codex = connect(fake.config()).await;
    assert_eq!(raw(&codex, "fault/first").await.unwrap(), json!({"n": 1}));
    assert_eq!(raw(&codex, "fault/second").await.unwrap(), json!({"n": 3}));
    let stats = codex.connection().stats();
    assert_eq!(stats.unmatched_responses, 4, "{stats:?}");
    assert_eq!((stats.invalid_messages, stats.pending_requests), (0, 0), "{stats:?}");
}

// ----- invalid params of a known notification on a running turn --------------------------------

#[tokio::test]
async fn a_bad_notification_is_yielded_in_place_and_the_turn_stream_goes_on() {
    let (thread_id, turn_id) = ("thr-bad-stream", "turn-bad-stream");
    let fake = Fake::new()
        .then([start_thread(thread_id)])
        .then(start_turn(thread_id, turn_id, &[json!("Hel"), json!(42), json!("lo")]))
        .then([answer("fault/midturn", json!({"ok": true}))])
        .then(complete_turn(thread_id, turn_id, "Hello"));
    let codex = connect(fake.config()).await;
    let thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();
    let mut events = within("turn/start", thread.turn("hi")).await.unwrap().stream();
    let mut seen = Vec::new();
    while seen.len() < 5 {
        match within("event", events.next_event()).await.expect("an event") {
            Ok(event) => seen.push(event.method().to_owned()),
            Err(Error::Decode { method, .. }) => seen.push(format!("decode error: {method}")),
            Err(e) => panic!("unexpected stream error {e}"),
        }
    }
    assert_eq!(seen, ["turn/started", "item/started", DELTA, &format!("decode error: {DELTA}"), DELTA]);
    // Mid-turn, after the bad event, other requests are served.
    assert_eq!(raw(&codex, "fault/midturn").await.unwrap(), json!({"ok": true}));
    let mut rest = Vec::new();
    while let Some(event) = within("event", events.next_event()).await {
        rest.push(event.expect("no more errors"));
    }
    let methods: Vec<_> = rest.iter().map(ServerNotification::method).collect();
    assert_eq!(methods, ["item/completed", "turn/completed"]);
    assert!(!warnings_with(&["does not decode", turn_id]).is_empty(), "no warning logged");
}

#[tokio::test]
async fn run_reports_a_bad_notification_only_after_the_turn_completed() {
    let (thread_id, turn_id, next_turn) = ("thr-bad-run", "turn-bad-run", "turn-after-bad-run");
    let fake = Fake::new()
        .then([start_thread(thread_id)])
        .then(start_turn(thread_id, turn_id, &[json!("Hel"), json!({"not": "a string"}), json!("lo")]))
        .then([answer("fault/midturn", json!({"ok": true})), answer("fault/release", json!({}))])
        .then(complete_turn(thread_id, turn_id, "Hello"))
        // The next turn on the same thread runs normally.
        .then(start_turn(thread_id, next_turn, &[json!("Bye")]))
        .then(complete_turn(thread_id, next_turn, "Bye"));
    let codex = connect(fake.config()).await;
    let thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();
    let handle = within("turn/start", thread.turn("hi")).await.unwrap();
    let mut run = tokio::spawn(handle.run());
    // The server answers this only after it sent the bad delta (and the reader handles
    // lines in order), so the turn has seen it by now.
    assert_eq!(raw(&codex, "fault/midturn").await.unwrap(), json!({"ok": true}));
    // `turn/completed` is held back until `fault/release`: run() must still be waiting.
    // (Lower bound only: run() cannot finish before the release with the right behaviour.)
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut run).await.is_err(),
        "run() returned before the turn completed"
    );
    raw(&codex, "fault/release").await.unwrap();
    // Nothing is lost: the error carries the whole result and the bad notification itself.
    match within("run", run).await.unwrap() {
        Err(Error::UndecodableTurnEvents(result)) => {
            assert_eq!((result.id.as_str(), result.final_response()), (turn_id, Some("Hello")));
            assert_eq!(result.undecodable.len(), 1, "{:?}", result.undecodable);
            let bad = &result.undecodable[0];
            assert_eq!(bad.method, DELTA);
            assert_eq!(bad.params["delta"], json!({"not": "a string"}));
            assert!(bad.error.contains("string"), "{}", bad.error);
        }
        other => panic!("expected the undecodable delta with the turn's result, got {other:?}"),
    }
    // The whole turn was consumed: the next turn of the thread starts and completes.
    let result = within("next turn", thread.run("again")).await.unwrap();
    assert_eq!((result.id.as_str(), result.final_response()), (next_turn, Some("Bye")));
    assert!(!warnings_with(&["does not decode", turn_id]).is_empty(), "no warning logged");
    assert_eq!(codex.connection().stats().pending_requests, 0);
}

// ----- the server exits mid-request ---------------------------------------------------------------

#[tokio::test]
async fn the_server_exiting_mid_turn_fails_the_turn_and_pending_requests_with_its_status() {
    let (thread_id, turn_id) = ("thr-exit", "turn-exit");
    let fake =
        Fake::new().then([start_thread(thread_id)]).then(start_turn(thread_id, turn_id, &[json!("partial")])).then([
            expect("fault/hang"),
            json!({"stderr": "thread 'main' panicked: the scripted server gives up"}),
            json!({"exit": 7}),
        ]);
    let codex = connect(fake.config()).await;
    let thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();
    let turn = within("turn/start", thread.turn("hi")).await.unwrap();
    let run = tokio::spawn(turn.run());
    let check = |what: &str, result: codex_driver::Result<()>| match result {
        Err(Error::TransportClosed {
            reason: CloseReason::ProcessExited { status: exit_status, stderr_tail }, ..
        }) => {
            assert_eq!(exit_status.and_then(|s| s.code()), Some(7), "{what}");
            assert!(stderr_tail.contains("the scripted server gives up"), "{what}: {stderr_tail:?}");
        }
        other => panic!("{what}: expected TransportClosed, got {other:?}"),
    };
    check("pending request", raw(&codex, "fault/hang").await.map(drop));
    check("running turn", within("run", run).await.unwrap().map(drop));
    check("later request", codex.models().await.map(drop));
    assert_eq!(fake.requests("fault/hang").len(), 1);
}

// ----- automatic retry on overload ----------------------------------------------------------------

/// Gaps between the arrival times of `method`'s attempts, in milliseconds.
fn gaps(fake: &Fake, method: &str) -> Vec<f64> {
    let times: Vec<f64> = fake.requests(method).iter().map(|(t, _)| *t).collect();
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test]
async fn overload_with_and_without_data_is_retried_until_it_clears() {
    let (thread_id, turn_id) = ("thr-overload", "turn-overload");
    let data = json!({"codexErrorInfo": "serverOverloaded"});
    let fake = Fake::new()
        .then([
            reject("thread/start", -32001, OVERLOADED, None),
            reject("thread/start", -32001, OVERLOADED, Some(data)),
            start_thread(thread_id),
            reject("turn/start", -32001, OVERLOADED, None),
        ])
        .then(start_turn(thread_id, turn_id, &[json!("made it")]))
        .then(complete_turn(thread_id, turn_id, "made it"));
    let policy = RetryPolicy::default()
        .with_max_attempts(4)
        .with_delays(Duration::from_millis(100), Duration::from_secs(1))
        .with_jitter(0.0);
    let codex = connect(fake.config_with(|c| c.with_overload_retry(policy))).await;
    let options = ThreadOptions::default().model("mock-model");
    let thread = within("thread/start", codex.thread_start(&options)).await.unwrap();
    assert_eq!(thread.id(), thread_id);
    let result = within("turn", thread.run("hi")).await.unwrap();
    assert_eq!(result.final_response(), Some("made it"));

    let starts = fake.requests("thread/start");
    assert_eq!(starts.len(), 3);
    // Each attempt is the same request under a new id.
    let ids: std::collections::HashSet<_> = starts.iter().map(|(_, m)| m["id"].to_string()).collect();
    assert_eq!(ids.len(), 3);
    assert!(starts.iter().all(|(_, m)| m["params"] == starts[0].1["params"] && m["params"]["model"] == "mock-model"));
    // Exponential backoff, lower bounds only: 100 ms, then 200 ms.
    let g = gaps(&fake, "thread/start");
    assert!(g[0] >= 100.0 && g[1] >= 200.0, "gaps {g:?}");
    assert_eq!(fake.requests("turn/start").len(), 2);
    assert!(gaps(&fake, "turn/start")[0] >= 100.0);
}

#[tokio::test]
async fn exhausted_retries_end_in_retry_limit_exceeded_after_exactly_max_attempts() {
    let data = json!({"details": {"codex_error_info": "server_overloaded"}});
    let fake = Fake::new().then([
        reject("fault/busy", -32001, OVERLOADED, None),
        reject("fault/busy", -32001, OVERLOADED, None),
        reject("fault/busy", -32001, "still busy", Some(data.clone())),
        // A fourth attempt would arrive here instead, and fail the script.
        answer("fault/after", json!({"still": "serving"})),
    ]);
    let policy =
        RetryPolicy::default().with_max_attempts(3).with_delays(Duration::from_millis(20), Duration::from_secs(1));
    let codex = connect(fake.config_with(|c| c.with_overload_retry(policy))).await;
    let err = raw(&codex, "fault/busy").await.unwrap_err();
    match &err {
        Error::RetryLimitExceeded { method, attempts, last } => {
            assert_eq!((method.as_str(), *attempts), ("fault/busy", 3));
            assert_eq!(
                (last.code.code(), last.message.as_str(), last.data.as_ref()),
                (-32001, "still busy", Some(&data))
            );
        }
        other => panic!("expected RetryLimitExceeded, got {other:?}"),
    }
    assert!(err.is_retry_limit_exceeded() && !err.is_overloaded());
    assert!(err.rpc_error().is_some_and(|e| e.is_overloaded()), "the last overload error is reachable");
    assert!(err.to_string().contains("fault/busy"), "{err}");
    assert_eq!(raw(&codex, "fault/after").await.unwrap(), json!({"still": "serving"}));
    assert_eq!(fake.requests("fault/busy").len(), 3);
    // Default jitter is ±20 %: at least 16 ms, then 32 ms.
    let g = gaps(&fake, "fault/busy");
    assert!(g[0] >= 16.0 && g[1] >= 32.0, "gaps {g:?}");
    assert_eq!(warnings_with(&["server overloaded; retrying", "fault/busy"]).len(), 2);
    assert_eq!(warnings_with(&["giving up", "fault/busy"]).len(), 1);
}

#[tokio::test]
async fn errors_other_than_overload_are_never_retried() {
    let fake = Fake::new().then([
        reject("thread/start", -32600, "Invalid request: missing field `cwd`", None),
        reject("thread/start", -32603, "Internal error", None),
        reject("fault/unknown", -32601, "Method not found", None),
        // -32001 whose data says something else is not an overload.
        reject("fault/other", -32001, "quota", Some(json!({"note": "server_overloaded"}))),
        expect("fault/slow"), // never answered: the client times out
        answer("fault/after", json!({})),
    ]);
    let policy = RetryPolicy::default().with_delays(Duration::from_millis(10), Duration::from_millis(10));
    let codex = connect(fake.config_with(|c| c.with_overload_retry(policy))).await;
    let code = |r: codex_driver::Result<codex_driver::Thread>| match r {
        Err(Error::Rpc(e)) => e.code.code(),
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    };
    assert_eq!(code(within("thread/start", codex.thread_start(&ThreadOptions::default())).await), -32600);
    assert_eq!(code(within("thread/start", codex.thread_start(&ThreadOptions::default())).await), -32603);
    let err = raw(&codex, "fault/unknown").await.unwrap_err();
    assert!(err.rpc_error().is_some_and(|e| e.code.is_method_not_found()), "{err:?}");
    let err = raw(&codex, "fault/other").await.unwrap_err();
    assert!(matches!(&err, Error::Rpc(e) if e.code.code() == -32001 && !e.is_overloaded()), "{err:?}");
    let slow = codex.connection().request_raw_with_timeout("fault/slow", json!({}), Duration::from_millis(200));
    assert!(matches!(within("fault/slow", slow).await, Err(Error::Timeout { .. })));
    // A retry of any of them would have reached the server before `fault/after`.
    raw(&codex, "fault/after").await.unwrap();
    for (method, n) in [("thread/start", 2), ("fault/unknown", 1), ("fault/other", 1), ("fault/slow", 1)] {
        assert_eq!(fake.requests(method).len(), n, "{method}");
    }
}

#[tokio::test]
async fn with_retry_disabled_the_raw_overload_error_comes_back_after_one_attempt() {
    let fake = Fake::new().then([
        reject("thread/start", -32001, OVERLOADED, None),
        // The public helper still retries for callers that opted out.
        reject("thread/start", -32001, OVERLOADED, None),
        start_thread("thr-manual-retry"),
    ]);
    let codex = connect(fake.config_with(ConnectionOptions::without_overload_retry)).await;
    match within("thread/start", codex.thread_start(&ThreadOptions::default())).await {
        Err(err @ Error::Rpc(_)) => {
            assert!(err.is_overloaded() && !err.is_retry_limit_exceeded());
            assert_eq!(err.rpc_error().map(|e| e.message.as_str()), Some(OVERLOADED));
        }
        other => panic!("expected the raw overload error, got {other:?}"),
    }
    assert_eq!(fake.requests("thread/start").len(), 1);
    let policy = RetryPolicy::default().with_delays(Duration::from_millis(10), Duration::from_millis(50));
    let options = ThreadOptions::default();
    let thread = within("retry_on_overload", retry_on_overload(policy, || codex.thread_start(&options))).await.unwrap();
    assert_eq!(thread.id(), "thr-manual-retry");
    assert_eq!(fake.requests("thread/start").len(), 3);
}

#[test]
fn the_blocking_api_retries_overload_with_the_same_config() {
    let fake = Fake::new().then([
        reject("thread/start", -32001, OVERLOADED, None),
        start_thread("thr-blocking"),
        reject("thread/start", -32001, OVERLOADED, None),
        reject("thread/start", -32001, OVERLOADED, None),
    ]);
    let policy = RetryPolicy::default()
        .with_max_attempts(2)
        .with_delays(Duration::from_millis(50), Duration::from_secs(1))
        .with_jitter(0.0);
    let codex =
        codex_driver::blocking::Codex::spawn(fake.config_with(|c| c.with_overload_retry(policy))).expect("connect");
    let thread = codex.thread_start(&ThreadOptions::default()).expect("retried thread/start");
    assert_eq!(thread.id(), "thr-blocking");
    match codex.thread_start(&ThreadOptions::default()) {
        Err(Error::RetryLimitExceeded { method, attempts: 2, .. }) => assert_eq!(method, "thread/start"),
        other => panic!("expected RetryLimitExceeded after 2 attempts, got {other:?}"),
    }
    assert_eq!(fake.requests("thread/start").len(), 4);
    assert!(gaps(&fake, "thread/start")[0] >= 50.0);
}
