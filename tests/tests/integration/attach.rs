//! Attaching to app-servers the SDK did not spawn: WebSocket (capability token, signed
//! bearer token, `wss://` through a TLS proxy), the unix control socket and the managed
//! daemon, against the real binary; plus the typed outcomes of refused tokens, nothing
//! listening, a server killed mid-turn and an oversized message, what two and twenty
//! clients of one server see, and that secrets never show.
//!
//! Every server runs in its own `CodexHome` (isolated CODEX_HOME/HOME, plugins off, the mock
//! model on 127.0.0.1) and every test stops what it started: the servers are killed on drop
//! and the tests that matter check that no process of their home is left.

use crate::{attach_support, common};
use attach_support::tls_proxy::{TestCert, TlsProxy};
use attach_support::{
    assert_nothing_left, count, established_to, jwt, processes_under, record, turn_deltas, turn_events, Seen,
};
use codex_driver::attach::{
    control_socket_path, Daemon, DaemonStart, DaemonState, Secret, SignedBearerToken, UnixSocketEndpoint,
    WebSocketEndpoint,
};
use codex_driver::methods::ServerNotification;
use codex_driver::rpc::ConnectionOptions;
use codex_driver::testing::{
    AssistantMessage, CodexHome, ListeningAppServer, MockModel, MockResponse, ResponseStream, ServerAuth,
};
use codex_driver::types::{ThreadListParams, TurnStatus};
use codex_driver::{ClientConfig, CloseReason, Codex, Endpoint, Error, ThreadOptions};
use common::{agent_texts, codex_bin, first_delta, user_texts, within};
use futures::FutureExt;
use serde_json::json;
use std::time::Duration;

// ----- helpers --------------------------------------------------------------------------

/// The deltas the mock model streams for `prompt`: four, the first naming the prompt, so
/// every turn's answer is unique and a misrouted or duplicated delta shows.
fn answer(prompt: &str) -> Vec<String> {
    vec![format!("answer to {prompt}:"), " one".into(), " two".into(), " three".into()]
}

/// Makes the mock answer every request with [`answer`] of its last user text (so requests
/// of concurrent turns may arrive in any order).
fn answer_by_prompt(model: &MockModel) {
    model.respond_with(|request| {
        let prompt = request.last_user_text()?;
        Some(ResponseStream::new().message(AssistantMessage::from_deltas(answer(prompt))).completed())
    });
}

/// A WebSocket app-server in `home` (failing with its stderr if it does not start).
async fn listen_ws(home: &CodexHome, auth: ServerAuth) -> ListeningAppServer {
    match within("the app-server to listen", home.listen_websocket(&codex_bin(), auth)).await {
        Ok(server) => server,
        Err(e) => panic!("cannot start a listening app-server: {e}\nstderr:\n{}", home.stderr_text()),
    }
}

/// A client attached to `endpoint`.
async fn attach_ws(endpoint: WebSocketEndpoint) -> Codex {
    within("attach", Codex::builder().websocket(endpoint).connect()).await.expect("attach over WebSocket")
}

/// A loopback port nobody listens on (bound a moment ago, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Whether `log` holds a `thread/status/changed` to `status` for `thread`.
fn has_status(log: &[Seen], thread: &str, status: &str) -> bool {
    log.iter().any(|s| {
        s.method == "thread/status/changed"
            && s.thread.as_deref() == Some(thread)
            && s.status.as_deref() == Some(status)
    })
}

/// Asserts that `log` carries turn `turn` exactly once: one `turn/started`, one
/// `turn/completed`, and exactly the deltas of `prompt`'s answer.
fn assert_turn_once(who: &str, log: &[Seen], turn: &str, prompt: &str) {
    assert_eq!(count(log, "turn/started", turn), 1, "{who}: turn/started of {prompt:?}");
    assert_eq!(count(log, "turn/completed", turn), 1, "{who}: turn/completed of {prompt:?}");
    assert_eq!(turn_deltas(log, turn), answer(prompt), "{who}: deltas of {prompt:?}");
}

/// Asserts `error` is `Error::Unauthorized { status: 401 }` for `url`.
fn assert_unauthorized(case: &str, result: codex_driver::Result<Codex>, url: &str) {
    match result {
        Err(Error::Unauthorized { endpoint, status }) => {
            assert_eq!(status, 401, "{case}");
            assert_eq!(endpoint, url, "{case}");
        }
        Err(other) => panic!("{case}: expected Unauthorized(401), got {other:?}"),
        Ok(_) => panic!("{case}: the server accepted it"),
    }
}

/// Asserts `error` is `Error::TransportClosed` for `url` with a reason a dead WebSocket
/// peer gives (the stream ended or was reset), not a process exit or a client-side close.
fn assert_peer_gone(what: &str, error: &Error, url: &str) {
    match error {
        Error::TransportClosed { endpoint, reason } => {
            assert_eq!(endpoint, url, "{what}");
            assert!(
                matches!(reason, CloseReason::EndOfStream | CloseReason::Io { .. }),
                "{what}: the reason is the WebSocket's, not a process's: {reason:?}"
            );
            assert_eq!(reason.exit_status(), None, "{what}");
            assert_eq!(reason.stderr_tail(), "", "{what}");
        }
        other => panic!("{what}: expected TransportClosed, got {other:?}"),
    }
}

/// A request on `codex` fails at once (first poll) with `TransportClosed`.
fn assert_transport_closed_at_once(codex: &Codex) {
    match codex.models().now_or_never() {
        Some(Err(Error::TransportClosed { .. })) => {}
        other => panic!("expected an immediate TransportClosed, got {other:?}"),
    }
}

// ----- 0. the first turn over WebSocket ---------------------------------------------------

#[tokio::test]
async fn websocket_with_a_capability_token_runs_a_turn() {
    let model = MockModel::start().await.unwrap();
    model.push(ResponseStream::new().text("over the wire").completed());
    let home = CodexHome::new(&model.base_url()).unwrap();
    let server = within("listen", home.listen_websocket(&codex_bin(), ServerAuth::CapabilityToken)).await.unwrap();
    let codex = within("attach", Codex::builder().websocket(server.websocket_endpoint()).connect()).await.unwrap();
    assert!(matches!(codex.metadata().endpoint, Some(Endpoint::WebSocket { .. })), "{:?}", codex.metadata());
    let thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();
    let result = within("run", thread.run("hello")).await.unwrap();
    assert_eq!(result.final_response(), Some("over the wire"));
    codex.close().await;

    let refused =
        Codex::builder().websocket(WebSocketEndpoint::new(server.url().unwrap())).connect().await.unwrap_err();
    assert!(refused.is_unauthorized(), "{refused:?}");
}

/// The real server answers the keepalive's pings: with a short keepalive (dead after 400 ms
/// of silence), a connection left idle for four times that bound is still up, then runs a
/// turn.
#[tokio::test]
async fn the_real_server_answers_keepalive_pings_and_an_idle_link_stays_up() {
    let model = MockModel::start().await.unwrap();
    model.push(ResponseStream::new().text("still here").completed());
    let home = CodexHome::new(&model.base_url()).unwrap();
    let server = within("listen", home.listen_websocket(&codex_bin(), ServerAuth::CapabilityToken)).await.unwrap();
    let keepalive = codex_driver::attach::Keepalive::new(Duration::from_millis(100), Duration::from_millis(300));
    let endpoint = server.websocket_endpoint().keepalive(Some(keepalive));
    let codex = within("attach", Codex::builder().websocket(endpoint).connect()).await.unwrap();
    tokio::time::sleep(keepalive.dead_after() * 4).await;
    assert!(!codex.connection().is_closed(), "{:?}", codex.connection().close_error());
    let thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();
    let result = within("run", thread.run("hello")).await.unwrap();
    assert_eq!(result.final_response(), Some("still here"));
    codex.close().await;
}

// ----- 1. two clients, one server, one shared thread --------------------------------------

/// What the real server (0.169.0) routes to each connection, measured here and asserted:
///
/// - `thread/started` and `thread/status/changed` go to **every** initialized connection,
///   whoever started the thread.
/// - A thread's turn events (`turn/started`, `item/*`, deltas, `turn/completed`) go only to
///   the connections subscribed to that thread: the one that started it, and each one that
///   resumed it (`thread/resume` subscribes; `thread/list` and `thread/read` do not).
/// - A thread loaded on two connections: every turn on it, whichever connection started it,
///   is delivered **to both**, once each.
/// - The SDK passes this through unchanged: `codex.notifications()` yields each event the
///   server sent on that connection exactly once, next to the turn stream of its own turns.
#[tokio::test]
async fn two_websocket_clients_share_a_thread_and_each_sees_what_the_server_routes_to_it() {
    let model = MockModel::start().await.unwrap();
    answer_by_prompt(&model);
    let home = CodexHome::new(&model.base_url()).unwrap();
    let server = listen_ws(&home, ServerAuth::CapabilityToken).await;
    let a = attach_ws(server.websocket_endpoint()).await;
    let b = attach_ws(server.websocket_endpoint()).await;
    let (log_a, log_b) = (record(&a), record(&b));

    // A starts thread X and runs turn 1 while B has not loaded X.
    let x = within("A thread/start", a.thread_start(&ThreadOptions::default())).await.unwrap();
    let turn1 = within("A turn 1", x.run("turn one")).await.unwrap();
    assert_eq!(turn1.final_response(), Some(answer("turn one").concat().as_str()));
    // X going idle after turn 1 reaches B (a broadcast); anything of turn 1 sent to B would
    // have come before it.
    log_b.wait_until("B sees X idle after turn 1", |log| has_status(log, x.id(), "idle")).await;

    // B lists, reads and resumes X, and sees A's turn.
    let listed = within("B thread/list", b.thread_list(&ThreadListParams::default())).await.unwrap();
    assert!(
        listed.data.iter().any(|t| t.id == x.id()),
        "B's thread/list: {:?}",
        listed.data.iter().map(|t| &t.id).collect::<Vec<_>>()
    );
    let read = within("B thread/read", b.thread_handle(x.id()).read_with_turns()).await.unwrap();
    assert_eq!(read.turns.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [turn1.id.as_str()]);
    assert_eq!(user_texts(&read.turns[0].items), ["turn one"]);
    assert_eq!(agent_texts(&read.turns[0].items), [answer("turn one").concat()]);
    let xb = within("B thread/resume", b.thread_resume(x.id(), &ThreadOptions::default())).await.unwrap();
    assert_eq!(xb.id(), x.id());
    let resumed = xb.info().expect("thread/resume returns the thread");
    assert_eq!(resumed.turns.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [turn1.id.as_str()]);
    assert_eq!(agent_texts(&resumed.turns[0].items), [answer("turn one").concat()]);

    // Turn 2: A runs it on X, now loaded on both connections. A's turn stream carries
    // exactly its events.
    let handle = within("A turn/start 2", x.turn("turn two")).await.unwrap();
    let turn2 = handle.id().to_owned();
    let mut stream = handle.stream();
    let mut streamed = Vec::new();
    within("A's turn 2 stream", async {
        while let Some(event) = stream.next_event().await {
            streamed.push(event.expect("turn 2 event"));
        }
    })
    .await;
    assert_eq!(common::deltas(&streamed), answer("turn two"));
    for event in &streamed {
        let (thread, turn) = attach_support::ids(&event.params_json().unwrap());
        assert!(
            thread.is_none_or(|t| t == x.id()) && turn.is_none_or(|t| t == turn2),
            "{} on A's turn 2 stream: {event:?}",
            event.method()
        );
    }
    assert!(
        matches!(streamed.last(), Some(ServerNotification::TurnCompleted(done)) if done.turn.status == TurnStatus::Completed)
    );

    // Turn 3: B runs it on the same thread.
    let turn3 = within("B turn 3", xb.run("turn three")).await.unwrap();
    assert_eq!(turn3.final_response(), Some(answer("turn three").concat().as_str()));

    // Turn 4: B's own thread Y, which A never loads.
    let y = within("B thread/start", b.thread_start(&ThreadOptions::default())).await.unwrap();
    let turn4 = within("B turn 4", y.run("turn four")).await.unwrap();

    // Barriers: A has seen turn 3 end and Y go idle (so any event of Y's turn sent to A
    // would already be here); then both connections close and the logs are complete.
    log_a.wait_until("A sees turn 3 complete", |log| count(log, "turn/completed", &turn3.id) > 0).await;
    log_a.wait_until("A sees Y idle", |log| has_status(log, y.id(), "idle")).await;
    a.close().await;
    // With A gone, X stays loaded for B: B runs turn 5 on it.
    let turn5 = within("B turn 5 after A closed", xb.run("turn five")).await.unwrap();
    assert_eq!(turn5.final_response(), Some(answer("turn five").concat().as_str()));
    b.close().await;
    let (log_a, log_b) = (log_a.finish().await, log_b.finish().await);

    // Broadcasts: both see both threads start.
    for (who, log) in [("A", &log_a), ("B", &log_b)] {
        for thread in [x.id(), y.id()] {
            let started =
                log.iter().filter(|s| s.method == "thread/started" && s.thread.as_deref() == Some(thread)).count();
            assert_eq!(started, 1, "{who} gets thread/started of {thread} once");
        }
    }
    // Turn 1 (before B resumed X): A only.
    assert_turn_once("A", &log_a, &turn1.id, "turn one");
    assert!(
        turn_events(&log_b, &turn1.id).is_empty(),
        "B got turn 1 events before loading X: {:?}",
        turn_events(&log_b, &turn1.id)
    );
    // Turns 2 and 3 (X loaded on both): both, once each, whoever started the turn.
    for (turn, prompt) in [(&turn2, "turn two"), (&turn3.id, "turn three")] {
        assert_turn_once("A", &log_a, turn, prompt);
        assert_turn_once("B", &log_b, turn, prompt);
    }
    // Turn 4 (Y, B's own): B only.
    assert_turn_once("B", &log_b, &turn4.id, "turn four");
    assert!(
        turn_events(&log_a, &turn4.id).is_empty(),
        "A got events of B's own thread: {:?}",
        turn_events(&log_a, &turn4.id)
    );
    // Turn 5 (after A closed): B.
    assert_turn_once("B", &log_b, &turn5.id, "turn five");
    // Nothing else: every turn event either client got belongs to these turns.
    let a_turns = [turn1.id.as_str(), &turn2, &turn3.id];
    let b_turns = [turn2.as_str(), &turn3.id, &turn4.id, &turn5.id];
    for (who, log, mine) in [("A", &log_a, &a_turns[..]), ("B", &log_b, &b_turns[..])] {
        for seen in log.iter().filter(|s| attach_support::TURN_EVENTS.contains(&s.method.as_str())) {
            assert!(seen.turn.as_deref().is_some_and(|t| mine.contains(&t)), "{who} got {seen:?}");
        }
    }
    assert_eq!(model.unscripted_requests(), 0);
    drop(server);
    assert_nothing_left(&home).await;
}

// ----- 2. twenty connections, five turns each ----------------------------------------------

#[tokio::test]
async fn twenty_websocket_connections_run_five_turns_each_and_every_event_lands_on_its_own_turn() {
    const CLIENTS: usize = 20;
    const TURNS: usize = 5;
    let model = MockModel::start().await.unwrap();
    answer_by_prompt(&model);
    let home = CodexHome::new(&model.base_url()).unwrap();
    let server = listen_ws(&home, ServerAuth::CapabilityToken).await;
    let endpoint = server.websocket_endpoint();
    let clients: Vec<Codex> = within(
        "20 clients attach",
        futures::future::join_all((0..CLIENTS).map(|_| Codex::builder().websocket(endpoint.clone()).connect())),
    )
    .await
    .into_iter()
    .collect::<Result<_, _>>()
    .expect("every client attaches");
    let recorders: Vec<_> = clients.iter().map(record).collect();

    // Each client: a thread, then five turns one after the other, streamed; all clients at
    // once. A fixed amount of work (100 turns), each answered at once by the mock.
    let runs = clients.iter().enumerate().map(|(c, codex)| async move {
        let thread = codex.thread_start(&ThreadOptions::default()).await?;
        let mut turns = Vec::new();
        for t in 0..TURNS {
            let prompt = format!("client {c} turn {t}");
            let handle = thread.turn(prompt.as_str()).await?;
            let turn_id = handle.id().to_owned();
            let mut stream = handle.stream();
            let mut events = Vec::new();
            while let Some(event) = stream.next_event().await {
                events.push(event?);
            }
            turns.push((prompt, turn_id, events));
        }
        Ok::<_, Error>((thread.id().to_owned(), turns))
    });
    let outcomes = within("100 turns on 20 connections", futures::future::join_all(runs)).await;

    let mut all_turns = std::collections::HashSet::new();
    let mut all_threads = std::collections::HashSet::new();
    let mut per_client = Vec::new();
    for (c, outcome) in outcomes.into_iter().enumerate() {
        let (thread, turns) = outcome.unwrap_or_else(|e| panic!("client {c}: {e}"));
        assert!(all_threads.insert(thread.clone()), "thread ids are distinct");
        for (prompt, turn, events) in &turns {
            assert!(all_turns.insert(turn.clone()), "turn ids are distinct");
            // Every event of the stream is about this turn of this thread.
            for event in events {
                let (t, u) = attach_support::ids(&event.params_json().unwrap());
                assert!(
                    t.is_none_or(|t| t == thread) && u.is_none_or(|u| u == *turn),
                    "client {c} {prompt:?}: {event:?}"
                );
            }
            // None lost, none duplicated: exactly the scripted deltas, one start, one end.
            assert_eq!(common::deltas(events), answer(prompt), "client {c} {prompt:?}");
            let started = events.iter().filter(|e| matches!(e, ServerNotification::TurnStarted(_))).count();
            let completed: Vec<_> = events
                .iter()
                .filter_map(|e| match e {
                    ServerNotification::TurnCompleted(done) => Some(&done.turn),
                    _ => None,
                })
                .collect();
            assert_eq!(started, 1, "client {c} {prompt:?}: turn/started");
            assert_eq!(completed.len(), 1, "client {c} {prompt:?}: turn/completed");
            assert_eq!(completed[0].status, TurnStatus::Completed, "client {c} {prompt:?}");
            assert!(
                matches!(events.last(), Some(ServerNotification::TurnCompleted(_))),
                "client {c} {prompt:?} ends with turn/completed"
            );
        }
        per_client.push((thread, turns));
    }
    assert_eq!(all_turns.len(), CLIENTS * TURNS);

    // Each connection's notifications: its own turns, each once and whole, and no turn event
    // of another connection's thread (the server routes turn events to the thread's
    // subscribers only).
    for (c, codex) in clients.iter().enumerate() {
        let (thread, _) = &per_client[c];
        recorders[c]
            .wait_until("the connection's five turn/completed", |log| {
                log.iter().filter(|s| s.method == "turn/completed" && s.thread.as_deref() == Some(thread)).count()
                    == TURNS
            })
            .await;
        codex.close().await;
    }
    for (c, recorder) in recorders.into_iter().enumerate() {
        let log = recorder.finish().await;
        let (thread, turns) = &per_client[c];
        for (prompt, turn, _) in turns {
            assert_turn_once(&format!("client {c}"), &log, turn, prompt);
        }
        for seen in log.iter().filter(|s| attach_support::TURN_EVENTS.contains(&s.method.as_str())) {
            assert_eq!(seen.thread.as_ref(), Some(thread), "client {c} got another thread's turn event: {seen:?}");
        }
    }
    assert_eq!(model.unscripted_requests(), 0);
    assert_eq!(server.websocket_endpoint().endpoint(), endpoint.endpoint());
    drop(server);
    assert_nothing_left(&home).await;
}

// ----- 3. credentials -------------------------------------------------------------------------

const ISSUER: &str = "codex-sdk-tests";
const AUDIENCE: &str = "attach-suite";

/// A signed-bearer server: the SDK's minted token works; a wrong secret, issuer or
/// audience, a missing claim, and (hand-signed) an expired, not-yet-valid, unsigned or
/// `exp`-less token are each refused with HTTP 401.
#[tokio::test]
async fn signed_bearer_token_is_accepted_and_every_bad_token_is_refused_with_401() {
    let model = MockModel::start().await.unwrap();
    let home = CodexHome::new(&model.base_url()).unwrap();
    let auth = ServerAuth::SignedBearer { issuer: Some(ISSUER.into()), audience: Some(AUDIENCE.into()) };
    let server = listen_ws(&home, auth).await;
    let url = server.url().unwrap();
    let secret = server.secret().expect("a shared secret").clone();
    let signed = |secret: &str| SignedBearerToken::new(secret);
    let connect = |endpoint: WebSocketEndpoint| async move {
        within("connect", Codex::builder().websocket(endpoint).connect()).await
    };

    // Accepted: the kit's endpoint, and one built by hand (with a subject too).
    let codex = attach_ws(server.websocket_endpoint()).await;
    within("model/list", codex.models()).await.expect("a request on the signed connection");
    codex.close().await;
    let by_hand = WebSocketEndpoint::new(&url)
        .signed_bearer_token(signed(secret.expose()).issuer(ISSUER).audience(AUDIENCE).subject("tests"));
    connect(by_hand).await.expect("a hand-built signed bearer endpoint").close().await;
    // A hand-signed token with the right claims is accepted too: the refusals below are
    // about the claims, not about how the token was made.
    let now = jwt::now();
    let valid = json!({"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600});
    connect(WebSocketEndpoint::new(&url).capability_token(jwt::hs256(secret.expose(), &valid)))
        .await
        .expect("a hand-signed token")
        .close()
        .await;

    let refused = [
        ("wrong secret", signed("not the shared secret").issuer(ISSUER).audience(AUDIENCE)),
        ("wrong issuer", signed(secret.expose()).issuer("someone-else").audience(AUDIENCE)),
        ("wrong audience", signed(secret.expose()).issuer(ISSUER).audience("another-audience")),
        ("no issuer", signed(secret.expose()).audience(AUDIENCE)),
        ("no audience", signed(secret.expose()).issuer(ISSUER)),
    ];
    for (case, token) in refused {
        assert_unauthorized(case, connect(WebSocketEndpoint::new(&url).signed_bearer_token(token)).await, &url);
    }
    let hand_signed = [
        (
            "expired an hour ago",
            jwt::hs256(secret.expose(), &json!({"iss": ISSUER, "aud": AUDIENCE, "iat": now - 7200, "exp": now - 3600})),
        ),
        (
            "not valid for an hour",
            jwt::hs256(
                secret.expose(),
                &json!({"iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now + 3600, "exp": now + 7200}),
            ),
        ),
        ("without exp", jwt::hs256(secret.expose(), &json!({"iss": ISSUER, "aud": AUDIENCE, "iat": now}))),
        ("unsigned (alg none)", jwt::unsigned(&valid)),
        ("the secret itself as the bearer", secret.expose().to_owned()),
    ];
    for (case, token) in hand_signed {
        assert_unauthorized(case, connect(WebSocketEndpoint::new(&url).capability_token(token)).await, &url);
    }
    assert_unauthorized("no token", connect(WebSocketEndpoint::new(&url)).await, &url);
}

#[tokio::test]
async fn capability_token_missing_or_wrong_is_refused_with_401() {
    let model = MockModel::start().await.unwrap();
    let home = CodexHome::new(&model.base_url()).unwrap();
    let server = listen_ws(&home, ServerAuth::CapabilityToken).await;
    let url = server.url().unwrap();
    let token = server.secret().expect("a token").clone();
    let connect = |endpoint: WebSocketEndpoint| async move {
        within("connect", Codex::builder().websocket(endpoint).connect()).await
    };

    assert_unauthorized("missing", connect(WebSocketEndpoint::new(&url)).await, &url);
    assert_unauthorized("wrong", connect(WebSocketEndpoint::new(&url).capability_token("not-the-token")).await, &url);
    let almost = format!("{}x", token.expose());
    assert_unauthorized(
        "the token plus a character",
        connect(WebSocketEndpoint::new(&url).capability_token(almost)).await,
        &url,
    );
    assert_unauthorized(
        "a signed bearer token made with the capability token",
        connect(WebSocketEndpoint::new(&url).signed_bearer_token(SignedBearerToken::new(token.clone()))).await,
        &url,
    );
    // The right token still works after the refusals, read from the file the server reads.
    let from_file = Secret::from_file(server.secret_file().expect("a token file")).expect("the token file reads");
    assert_eq!(from_file, token, "the server's token file holds the token it hands out");
    let codex = connect(WebSocketEndpoint::new(&url).capability_token(from_file)).await.expect("the right token");
    within("model/list", codex.models()).await.expect("a request");
    codex.close().await;
}

// ----- 4. nothing there -------------------------------------------------------------------------

#[tokio::test]
async fn nothing_listening_is_a_connect_error_naming_the_endpoint() {
    use std::io::ErrorKind;
    fn connect_error(result: codex_driver::Result<Codex>) -> (String, std::io::Error, String) {
        match result {
            Err(e @ Error::Connect { .. }) => {
                let shown = e.to_string();
                let Error::Connect { endpoint, source } = e else { unreachable!() };
                (endpoint, source, shown)
            }
            Err(other) => panic!("expected Error::Connect, got {other:?}"),
            Ok(_) => panic!("connected to nothing"),
        }
    }

    // A loopback port nobody binds.
    let url = format!("ws://127.0.0.1:{}", free_port());
    let (endpoint, source, shown) =
        connect_error(within("ws connect", Codex::builder().websocket(WebSocketEndpoint::new(&url)).connect()).await);
    assert_eq!(endpoint, url);
    assert_eq!(source.kind(), ErrorKind::ConnectionRefused, "{source}");
    assert!(shown.contains(&url), "{shown}");

    // A unix socket path that does not exist.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-server-here.sock");
    let (endpoint, source, shown) = connect_error(
        within("unix connect", Codex::builder().unix_socket(UnixSocketEndpoint::new(&missing)).connect()).await,
    );
    assert_eq!(endpoint, format!("unix:{}", missing.display()));
    assert_eq!(source.kind(), ErrorKind::NotFound, "{source}");
    assert!(shown.contains(&missing.display().to_string()), "{shown}");

    // A stale socket file (its server is gone): refused, naming the path.
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let (endpoint, source, _) = connect_error(
        within("stale connect", Codex::builder().unix_socket(UnixSocketEndpoint::new(&stale)).connect()).await,
    );
    assert_eq!(endpoint, format!("unix:{}", stale.display()));
    assert_eq!(source.kind(), ErrorKind::ConnectionRefused, "{source}");

    // `.control_socket()` of a home where no server runs: the home's control socket path.
    let home = CodexHome::new("http://127.0.0.1:9/v1").unwrap();
    let result = Codex::builder().config(home.client_config(&codex_bin())).control_socket().connect();
    let (endpoint, source, _) = connect_error(within("control socket connect", result).await);
    assert_eq!(endpoint, format!("unix:{}", control_socket_path(home.codex_home()).display()));
    assert_eq!(source.kind(), ErrorKind::NotFound, "{source}");

    // Something accepts TCP but never answers the upgrade: the connect timeout ends it.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("ws://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let endpoint = WebSocketEndpoint::new(&silent_url).connect_timeout(Duration::from_millis(300));
    let (endpoint, source, _) =
        connect_error(within("silent connect", Codex::builder().websocket(endpoint).connect()).await);
    assert_eq!(endpoint, silent_url);
    assert_eq!(source.kind(), ErrorKind::TimedOut, "{source}");

    // Not a WebSocket URL.
    let (endpoint, source, _) = connect_error(
        within("http URL", Codex::builder().websocket(WebSocketEndpoint::new("http://127.0.0.1:1/")).connect()).await,
    );
    assert_eq!(endpoint, "http://127.0.0.1:1/");
    assert_eq!(source.kind(), ErrorKind::InvalidInput, "{source}");
}

// ----- 5. the server dies mid-turn ------------------------------------------------------------------

#[tokio::test]
async fn websocket_server_killed_mid_turn_closes_requests_streams_and_run_with_a_transport_reason() {
    let model = MockModel::start().await.unwrap();
    let home = CodexHome::new(&model.base_url()).unwrap();
    let mut server = listen_ws(&home, ServerAuth::CapabilityToken).await;
    let url = server.url().unwrap();
    let codex = attach_ws(server.websocket_endpoint()).await;
    let run_thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();
    let stream_thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();

    // Two turns, each stalled by the mock right after its first delta.
    let (run_response, run_stall) = ResponseStream::new().text("half of the run turn").stall();
    let (stream_response, stream_stall) = ResponseStream::new().text("half of the streamed turn").stall();
    model.push(run_response);
    let mut run_thread_events = run_thread.notifications();
    let run_turn = within("turn/start (run)", run_thread.turn("run me")).await.unwrap();
    within("the run turn's first delta", async {
        use futures::StreamExt;
        while let Some(event) = run_thread_events.next().await {
            if matches!(event, Ok(ServerNotification::ItemAgentMessageDelta(_))) {
                return;
            }
        }
        panic!("the thread's notifications ended before the first delta");
    })
    .await;
    model.push(stream_response);
    let stream_turn = within("turn/start (stream)", stream_thread.turn("stream me")).await.unwrap();
    let mut events = stream_turn.stream();
    first_delta(&mut events).await;

    // Freeze the server so that three requests stay pending, then kill it.
    common::stop_process(server.pid()).await;
    let pending = vec![
        tokio::spawn({
            let codex = codex.clone();
            async move { codex.models().await.map(drop) }
        }),
        tokio::spawn({
            let thread = stream_thread.clone();
            async move { thread.read_with_turns().await.map(drop) }
        }),
        tokio::spawn({
            let codex = codex.clone();
            async move { codex.connection().request_raw("config/read", json!({})).await.map(drop) }
        }),
    ];
    within("three requests pending", async {
        while codex.connection().stats().pending_requests < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let run = tokio::spawn(run_turn.run());
    within("SIGKILL the server", server.kill()).await.unwrap();
    assert!(!server.is_running());

    // Everything ends with TransportClosed and the WebSocket's reason, without waiting on
    // any timeout (the hang guard is the only bound).
    let closed = within("connection closed", codex.connection().closed()).await;
    assert_peer_gone("closed()", &closed, &url);
    let mut reasons = vec![closed.close_reason().cloned()];
    for (i, request) in pending.into_iter().enumerate() {
        let error = within("a pending request", request).await.unwrap().unwrap_err();
        assert_peer_gone(&format!("pending request {i}"), &error, &url);
        reasons.push(error.close_reason().cloned());
    }
    let error = within("run()", run).await.unwrap().unwrap_err();
    assert_peer_gone("run()", &error, &url);
    reasons.push(error.close_reason().cloned());
    let mut tail = Vec::new();
    within("the stream to end", async {
        while let Some(event) = events.next_event().await {
            tail.push(event);
        }
    })
    .await;
    assert_eq!(tail.iter().filter(|e| e.is_err()).count(), 1, "one error ends the stream: {tail:?}");
    let error = tail.pop().unwrap().unwrap_err();
    assert_peer_gone("the turn stream", &error, &url);
    reasons.push(error.close_reason().cloned());
    // Every outcome carries the one reason the connection closed with.
    assert!(reasons.iter().all(|r| *r == reasons[0]), "{reasons:?}");

    // Later calls fail at once: decided on their first poll, no round trip.
    assert!(codex.connection().is_closed());
    for (what, outcome) in [
        ("models", codex.models().now_or_never().map(|r| r.map(drop))),
        ("thread_start", codex.thread_start(&ThreadOptions::default()).now_or_never().map(|r| r.map(drop))),
        ("thread.run", run_thread.run("anyone?").now_or_never().map(|r| r.map(drop))),
        ("thread.read", stream_thread.read().now_or_never().map(|r| r.map(drop))),
    ] {
        let outcome = outcome.unwrap_or_else(|| panic!("{what} did not fail at once"));
        assert_peer_gone(what, &outcome.unwrap_err(), &url);
    }
    run_stall.release();
    stream_stall.release();
    drop(server);
    assert_nothing_left(&home).await;
}

// ----- 6. an oversized message ----------------------------------------------------------------------

#[tokio::test]
async fn oversized_websocket_message_fails_its_request_and_the_connection_goes_on() {
    const LIMIT: usize = 2 * 1024;
    let model = MockModel::start().await.unwrap();
    let long_answer = "a long answer. ".repeat(600); // 9 KB
    model.push(MockResponse::text(long_answer.clone()));
    let home = CodexHome::new(&model.base_url()).unwrap();
    let server = listen_ws(&home, ServerAuth::CapabilityToken).await;
    // A thread with a long turn, made by a client with the default limit.
    let writer = attach_ws(server.websocket_endpoint()).await;
    let long = within("thread/start", writer.thread_start(&ThreadOptions::default())).await.unwrap();
    within("the long turn", long.run("write a lot")).await.unwrap();
    writer.close().await;

    let small = within(
        "attach with a 2 KiB limit",
        Codex::builder()
            .config(ClientConfig::new().with_connection(ConnectionOptions::default().with_max_message_size(LIMIT)))
            .websocket(server.websocket_endpoint())
            .connect(),
    )
    .await
    .expect("the handshake fits in 2 KiB");
    let assert_too_large = |what: &str, result: codex_driver::Result<()>, method: &str| match result {
        Err(Error::MessageTooLarge { method: m, size, limit }) => {
            assert_eq!(m.as_deref(), Some(method), "{what}");
            assert_eq!(limit, LIMIT, "{what}");
            assert!(size > LIMIT as u64, "{what}: {size}");
        }
        other => panic!("{what}: expected MessageTooLarge, got {other:?}"),
    };
    let thread = small.thread_handle(long.id());
    assert_too_large(
        "thread/read with turns",
        within("thread/read", thread.read_with_turns()).await.map(drop),
        "thread/read",
    );
    // The connection goes on: a small request succeeds.
    let read =
        within("thread/read without turns", thread.read()).await.expect("a small response after an oversized one");
    assert_eq!(read.id, long.id());
    assert_too_large("model/list", within("model/list", small.models()).await.map(drop), "model/list");
    let started = within("thread/start", small.thread_start(&ThreadOptions::default()))
        .await
        .expect("a small request after two oversized ones");
    assert_ne!(started.id(), long.id());
    assert!(!small.connection().is_closed());
    assert!(small.connection().stats().invalid_messages >= 2, "{:?}", small.connection().stats());
    small.close().await;
}

// ----- 7. wss:// through a TLS proxy ------------------------------------------------------------------

#[tokio::test]
async fn wss_through_a_loopback_tls_proxy_trusts_only_the_roots_it_is_given() {
    let model = MockModel::start().await.unwrap();
    model.push(MockResponse::text("sealed"));
    let home = CodexHome::new(&model.base_url()).unwrap();
    let server = listen_ws(&home, ServerAuth::CapabilityToken).await;
    let token = server.secret().expect("a token").clone();
    let ws_port = match server.listen() {
        codex_driver::testing::Listen::WebSocket { port } => *port,
        other => panic!("{other:?}"),
    };
    let cert = TestCert::new(&["localhost", "127.0.0.1"]);
    let proxy = TlsProxy::start(&cert, ws_port).await;
    let secure = |host: &str| WebSocketEndpoint::new(proxy.url(host)).capability_token(token.clone());
    let connect = |endpoint: WebSocketEndpoint| async move {
        within("connect", Codex::builder().websocket(endpoint).connect()).await
    };

    // Trusted through the DER certificate, built-in roots off: a turn over wss://.
    let codex = connect(secure("localhost").add_root_certificate_der(cert.der.clone()).without_builtin_roots())
        .await
        .expect("wss:// to localhost");
    assert_eq!(codex.metadata().endpoint, Some(Endpoint::WebSocket { url: proxy.url("localhost") }));
    let thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();
    assert_eq!(within("run", thread.run("over TLS")).await.unwrap().final_response(), Some("sealed"));
    codex.close().await;
    // The IP address name, trusted through PEM.
    let by_pem = secure("127.0.0.1")
        .add_root_certificates_pem(cert.pem.as_bytes())
        .expect("a PEM bundle")
        .without_builtin_roots();
    let codex = connect(by_pem).await.expect("wss:// to 127.0.0.1");
    within("model/list", codex.models()).await.expect("a request over TLS");
    codex.close().await;
    let trusted = proxy.handshakes.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(trusted, 2);

    // Untrusted: the built-in roots only; another certificate only; and this certificate
    // for a name it does not carry. Each is a TLS handshake error, never a connection.
    let stranger = TestCert::new(&["localhost"]);
    let localhost_only = TestCert::new(&["localhost"]);
    let localhost_proxy = TlsProxy::start(&localhost_only, ws_port).await;
    let untrusted = [
        ("built-in roots only", secure("localhost")),
        (
            "another certificate",
            secure("localhost").add_root_certificate_der(stranger.der.clone()).without_builtin_roots(),
        ),
        (
            "a certificate for another name",
            WebSocketEndpoint::new(localhost_proxy.url("127.0.0.1"))
                .capability_token(token.clone())
                .add_root_certificate_der(localhost_only.der.clone()),
        ),
    ];
    for (case, endpoint) in untrusted {
        let shown = endpoint.endpoint().to_string();
        match connect(endpoint).await {
            Err(Error::Handshake { endpoint, message }) => {
                assert_eq!(endpoint, shown, "{case}");
                assert!(message.starts_with("TLS"), "{case}: {message}");
            }
            Err(other) => panic!("{case}: expected a TLS handshake error, got {other:?}"),
            Ok(_) => panic!("{case}: connected"),
        }
    }
    assert_eq!(proxy.handshakes.load(std::sync::atomic::Ordering::SeqCst), trusted, "no refused client got through");
    // A PEM bundle without a certificate is refused up front.
    assert!(matches!(
        WebSocketEndpoint::new(proxy.url("localhost")).add_root_certificates_pem(b"no certificate here"),
        Err(Error::Handshake { .. })
    ));
    drop((proxy, localhost_proxy));
    drop(server);
    assert_nothing_left(&home).await;
}

// ----- 8. the unix control socket ---------------------------------------------------------------------

#[tokio::test]
async fn unix_control_socket_runs_a_turn_and_control_socket_resolves_the_same_socket() {
    let model = MockModel::start().await.unwrap();
    answer_by_prompt(&model);
    let home = CodexHome::new(&model.base_url()).unwrap();
    let mut server = match within("listen on the control socket", home.listen_control_socket(&codex_bin())).await {
        Ok(server) => server,
        Err(e) => panic!("cannot listen on the control socket: {e}\nstderr:\n{}", home.stderr_text()),
    };
    let path = control_socket_path(home.codex_home());
    assert_eq!(server.unix_endpoint().path(), path);

    let first = within("attach", Codex::builder().unix_socket(server.unix_endpoint()).connect())
        .await
        .expect("attach to the unix socket");
    assert_eq!(first.metadata().endpoint, Some(Endpoint::UnixSocket { path: path.clone() }));
    assert_eq!(first.metadata().codex_home.as_deref(), Some(home.codex_home()));
    let thread = within("thread/start", first.thread_start(&ThreadOptions::default())).await.unwrap();
    let result = within("run", thread.run("over the unix socket")).await.unwrap();
    assert_eq!(result.final_response(), Some(answer("over the unix socket").concat().as_str()));

    // `.control_socket()` with the home's config finds the same server: the thread is loaded
    // there, so a turn runs on it from this second client.
    let second = within(
        "attach via control_socket()",
        Codex::builder().config(home.client_config(&codex_bin())).control_socket().connect(),
    )
    .await
    .expect("attach to the home's control socket");
    assert_eq!(second.metadata().endpoint, Some(Endpoint::UnixSocket { path: path.clone() }));
    let same = within("thread/resume", second.thread_resume(thread.id(), &ThreadOptions::default()))
        .await
        .expect("the thread of the first client");
    assert_eq!(same.info().map(|t| t.turns.len()), Some(1));
    let again = within("run", same.run("from the second client")).await.unwrap();
    assert_eq!(again.final_response(), Some(answer("from the second client").concat().as_str()));

    // Closing both clients leaves the server running.
    first.close().await;
    second.close().await;
    assert!(server.is_running(), "closing attached clients stopped the server");
    drop(server);
    assert_nothing_left(&home).await;
}

// ----- 9. the managed daemon ---------------------------------------------------------------------------

#[tokio::test]
async fn daemon_is_started_on_demand_outlives_its_clients_and_stops_leaving_nothing() {
    let model = MockModel::start().await.unwrap();
    answer_by_prompt(&model);
    let home = CodexHome::new(&model.base_url()).unwrap();
    let root = home.codex_home().parent().unwrap().to_owned();
    let config = home.client_config(&codex_bin());
    let daemon = Daemon::new(config.launch.clone());
    let socket = control_socket_path(home.codex_home());
    assert_eq!(daemon.socket().map(|s| s.path().to_owned()), Some(socket.clone()));

    // Not running: status says so, and RequireRunning refuses to start it.
    let status = within("daemon status", daemon.status()).await.expect("status");
    assert_eq!(status.state, DaemonState::NotRunning, "{status:?}");
    match within(
        "attach, RequireRunning",
        Codex::builder().config(config.clone()).daemon(DaemonStart::RequireRunning).connect(),
    )
    .await
    {
        Err(Error::Daemon { .. }) => {}
        other => panic!("RequireRunning with no daemon: expected Error::Daemon, got {other:?}"),
    }
    assert!(processes_under(&root).is_empty(), "nothing was started: {:?}", processes_under(&root));

    // IfNotRunning starts it and attaches: two clients at once start one daemon; a turn runs.
    let attach = || Codex::builder().config(config.clone()).daemon(DaemonStart::IfNotRunning).connect();
    let (codex, twin) = within("two attaches, IfNotRunning", futures::future::join(attach(), attach())).await;
    let codex = codex.unwrap_or_else(|e| panic!("start and attach the daemon: {e}\nstderr:\n{}", home.stderr_text()));
    let twin = twin.unwrap_or_else(|e| panic!("start and attach the daemon (concurrently): {e}"));
    for client in [&codex, &twin] {
        assert_eq!(client.metadata().endpoint, Some(Endpoint::UnixSocket { path: socket.clone() }));
    }
    let daemons = |processes: &[(u32, String)]| {
        processes.iter().filter(|(_, cmd)| cmd.contains("app-server") && cmd.contains("--managed-daemon")).count()
    };
    assert_eq!(daemons(&processes_under(&root)), 1, "one daemon: {:?}", processes_under(&root));
    twin.close().await;
    let thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();
    let result = within("run", thread.run("to the daemon")).await.unwrap();
    assert_eq!(result.final_response(), Some(answer("to the daemon").concat().as_str()));
    // Where the socket really is (Codex links it into a shared directory), to clean up after.
    let socket_target = std::fs::read_link(&socket).ok();

    // Closing one client and dropping another leaves the daemon running.
    codex.close().await;
    let dropped = within(
        "attach, RequireRunning",
        Codex::builder().config(config.clone()).daemon(DaemonStart::RequireRunning).connect(),
    )
    .await
    .expect("the daemon runs");
    let listed = within("thread/list", dropped.thread_list(&ThreadListParams::default())).await.unwrap();
    assert!(listed.data.iter().any(|t| t.id == thread.id()), "the daemon kept the thread");
    drop(dropped);
    let status = within("daemon status", daemon.status()).await.expect("status");
    assert_eq!(status.state, DaemonState::Running, "{status:?}");
    assert_eq!(status.app_server_version.as_deref(), Some(codex_driver::PINNED_CODEX_VERSION));
    let running = processes_under(&root);
    assert_eq!(daemons(&running), 1, "the daemon process: {running:?}");

    // The blocking twin sees the same daemon and attaches to it.
    let blocking_config = config.clone();
    let (blocking_status, blocking_threads) = within(
        "blocking daemon",
        tokio::task::spawn_blocking(move || {
            let status = codex_driver::blocking::Daemon::new(blocking_config.launch.clone()).status();
            let listed = codex_driver::blocking::Codex::builder()
                .config(blocking_config)
                .daemon(DaemonStart::RequireRunning)
                .connect()
                .and_then(|codex| {
                    let listed = codex.thread_list(&ThreadListParams::default());
                    codex.close();
                    listed
                });
            (status, listed)
        }),
    )
    .await
    .unwrap();
    assert_eq!(blocking_status.expect("blocking status").state, DaemonState::Running);
    assert!(blocking_threads.expect("blocking attach").data.iter().any(|t| t.id == thread.id()));

    // stop() stops it; a client still attached sees its connection close, with the
    // socket's reason (no process of its own exited).
    let watcher = within(
        "attach, RequireRunning",
        Codex::builder().config(config.clone()).daemon(DaemonStart::RequireRunning).connect(),
    )
    .await
    .expect("the daemon runs");
    let stopped = within("daemon stop", daemon.stop()).await.expect("stop");
    assert_eq!(stopped.state, DaemonState::Stopped, "{stopped:?}");
    let closed = within("the attached client's connection to close", watcher.connection().closed()).await;
    match closed {
        Error::TransportClosed { endpoint, reason } => {
            assert_eq!(endpoint, format!("unix:{}", socket.display()));
            assert!(
                matches!(
                    reason,
                    CloseReason::EndOfStream | CloseReason::Io { .. } | CloseReason::WebSocketClosed { .. }
                ),
                "{reason:?}"
            );
        }
        other => panic!("expected TransportClosed, got {other:?}"),
    }
    assert_transport_closed_at_once(&watcher);
    let status = within("daemon status", daemon.status()).await.expect("status");
    assert_eq!(status.state, DaemonState::NotRunning, "{status:?}");

    // The blocking Daemon: start, status, stop, and RequireRunning refused once stopped.
    let blocking_config = config.clone();
    let blocking_socket = socket.clone();
    let (started, running, blocking_target, stopped, refused) = within(
        "blocking daemon start/stop",
        tokio::task::spawn_blocking(move || {
            let daemon = codex_driver::blocking::Daemon::new(blocking_config.launch.clone());
            let started = daemon.start();
            let running = daemon.status();
            let target = std::fs::read_link(&blocking_socket).ok();
            let stopped = daemon.stop();
            let refused = codex_driver::blocking::Codex::builder()
                .config(blocking_config)
                .daemon(DaemonStart::RequireRunning)
                .connect()
                .map(drop);
            (started, running, target, stopped, refused)
        }),
    )
    .await
    .unwrap();
    assert!(started.as_ref().is_ok_and(|s| s.state.is_running()), "blocking start: {started:?}");
    assert_eq!(running.expect("blocking status").state, DaemonState::Running);
    assert_eq!(stopped.expect("blocking stop").state, DaemonState::Stopped);
    assert!(matches!(refused, Err(Error::Daemon { .. })), "{refused:?}");

    // Nothing left for this home. The daemon app-server is gone; Codex's helper
    // `daemon pid-update-loop` outlives `stop` (measured: still there 10 s later), so it is
    // ended here by pid. Anything else still running is a failure.
    let leftovers = processes_under(&root);
    for (pid, cmdline) in &leftovers {
        assert!(cmdline.ends_with("app-server daemon pid-update-loop"), "still running after stop: {pid} {cmdline}");
        common::send_signal(*pid, "KILL");
    }
    assert_nothing_left(&home).await;
    // And the sockets Codex linked into its shared directory, with their locks, if they stayed.
    for target in [socket_target, blocking_target].into_iter().flatten() {
        let _ = std::fs::remove_file(&target);
        let _ = std::fs::remove_file(format!("{}.lock", target.display()));
    }
}

// ----- 10. secrets never show ---------------------------------------------------------------------------

#[tokio::test]
async fn tokens_and_shared_secrets_never_show_in_debug_errors_or_traces() {
    let (capture, _guard) = common::trace::Capture::install();
    // Callsites cached as "never" by another test's thread are re-evaluated with this
    // subscriber in place.
    tracing::callsite::rebuild_interest_cache();

    let model = MockModel::start().await.unwrap();
    answer_by_prompt(&model);
    let home = CodexHome::new(&model.base_url()).unwrap();
    let token_server = listen_ws(&home, ServerAuth::CapabilityToken).await;
    let jwt_home = CodexHome::new(&model.base_url()).unwrap();
    let jwt_server =
        listen_ws(&jwt_home, ServerAuth::SignedBearer { issuer: Some(ISSUER.into()), audience: Some(AUDIENCE.into()) })
            .await;
    let token = token_server.secret().unwrap().expose().to_owned();
    let shared_secret = jwt_server.secret().unwrap().expose().to_owned();
    let wrong_token = format!("wrong-{token}");
    let forbidden = [token.as_str(), shared_secret.as_str(), wrong_token.as_str()];
    let mut shown = Vec::new();

    // Endpoints, builders and connected clients.
    let token_endpoint = token_server.websocket_endpoint();
    let jwt_endpoint = jwt_server.websocket_endpoint();
    shown.push(format!("{token_endpoint:?} {jwt_endpoint:?}"));
    shown.push(format!("{:?}", SignedBearerToken::new(shared_secret.clone()).issuer(ISSUER)));
    shown.push(format!("{:?}", Codex::builder().websocket(token_endpoint.clone())));
    shown.push(format!("{:?}", Codex::builder().websocket(jwt_endpoint.clone())));
    for endpoint in [token_endpoint.clone(), jwt_endpoint.clone()] {
        let codex = attach_ws(endpoint).await;
        let thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();
        within("run", thread.run("a secret-free turn")).await.unwrap();
        shown.push(format!("{codex:?} {:?} {:?} {thread:?}", codex.metadata(), codex.connection()));
        codex.close().await;
    }

    // Refused connects: a wrong token, a token signed with a wrong secret, the right
    // credentials where nothing listens, and a URL carrying credentials in user info and
    // query (the endpoint shows neither).
    let token_url = token_server.url().unwrap();
    let jwt_url = jwt_server.url().unwrap();
    let nowhere = format!("ws://127.0.0.1:{}", free_port());
    let with_secret_url = format!("ws://user:{token}@127.0.0.1:{}/?token={token}", free_port());
    let refusals = [
        WebSocketEndpoint::new(&token_url).capability_token(wrong_token.clone()),
        WebSocketEndpoint::new(&jwt_url)
            .signed_bearer_token(SignedBearerToken::new(wrong_token.clone()).issuer(ISSUER).audience(AUDIENCE)),
        WebSocketEndpoint::new(&jwt_url)
            .signed_bearer_token(SignedBearerToken::new(shared_secret.clone()).issuer("wrong").audience(AUDIENCE)),
        WebSocketEndpoint::new(&nowhere).capability_token(token.clone()),
        WebSocketEndpoint::new(&with_secret_url).capability_token(token.clone()),
    ];
    for endpoint in refusals {
        shown.push(format!("{endpoint:?}"));
        let error = within("refused connect", Codex::builder().websocket(endpoint).connect()).await.unwrap_err();
        assert!(matches!(error, Error::Unauthorized { .. } | Error::Connect { .. }), "{error:?}");
        shown.push(format!("{error} {error:?}"));
        if let Some(source) = std::error::Error::source(&error) {
            shown.push(format!("{source} {source:?}"));
        }
    }
    drop(_guard);

    let traces = capture.lines().join("\n");
    // Not vacuous: the attach path and the requests were traced.
    assert!(traces.contains("attached to the codex app-server"), "{traces}");
    assert!(traces.contains(&token_url) && traces.contains("method=\"turn/start\""), "{traces}");
    let shown = shown.join("\n");
    for secret in forbidden {
        assert!(!shown.contains(secret), "a secret shows:\n{shown}");
        assert!(!traces.contains(secret), "a secret was traced:\n{traces}");
    }
    // No minted JWT either (every JWT starts with the base64 of `{"`), nor the header.
    for text in [&shown, &traces] {
        assert!(!text.contains("eyJ"), "a JWT shows:\n{text}");
        assert!(!text.contains("Bearer "), "an Authorization header shows:\n{text}");
    }
    drop((token_server, jwt_server));
    assert_nothing_left(&home).await;
    assert_nothing_left(&jwt_home).await;
}

// ----- 11. closing a client never closes the server ----------------------------------------------------

#[tokio::test]
async fn closing_or_dropping_an_attached_client_closes_its_connection_not_the_server() {
    let model = MockModel::start().await.unwrap();
    answer_by_prompt(&model);
    let home = CodexHome::new(&model.base_url()).unwrap();
    let mut server = listen_ws(&home, ServerAuth::CapabilityToken).await;
    let port = match server.listen() {
        codex_driver::testing::Listen::WebSocket { port } => *port,
        other => panic!("{other:?}"),
    };
    let connections_become = |n: usize| async move {
        within(&format!("{n} connection(s) at the server"), async {
            while established_to(port) != n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
    };
    assert_eq!(established_to(port), 0);

    // close(): its connection goes away, the server stays.
    let closed = attach_ws(server.websocket_endpoint()).await;
    let thread = within("thread/start", closed.thread_start(&ThreadOptions::default())).await.unwrap();
    within("run", thread.run("before close")).await.unwrap();
    connections_become(1).await;
    closed.close().await;
    assert!(matches!(
        closed.connection().close_error(),
        Some(Error::TransportClosed { reason: CloseReason::ClosedByClient, .. })
    ));
    assert_transport_closed_at_once(&closed);
    connections_become(0).await;
    assert!(server.is_running(), "close() stopped the server");

    // Dropped (every handle, with a thread handle and an idle turn history): the same.
    let dropped = attach_ws(server.websocket_endpoint()).await;
    let other = within("thread/start", dropped.thread_start(&ThreadOptions::default())).await.unwrap();
    within("run", other.run("before drop")).await.unwrap();
    connections_become(1).await;
    drop(other);
    drop(dropped);
    connections_become(0).await;
    assert!(server.is_running(), "dropping a client stopped the server");

    // A new client attaches and works on the first client's thread.
    let next = attach_ws(server.websocket_endpoint()).await;
    let resumed = within("thread/resume", next.thread_resume(thread.id(), &ThreadOptions::default())).await.unwrap();
    let result = within("run", resumed.run("after both left")).await.unwrap();
    assert_eq!(result.final_response(), Some(answer("after both left").concat().as_str()));
    next.close().await;
    connections_become(0).await;
    assert!(server.is_running());
    drop(server);
    assert_nothing_left(&home).await;
}
