//! Reconnecting through network faults, against the real app-server behind a
//! fault-injecting TCP proxy on 127.0.0.1 (tests/attach_support/fault_proxy.rs): a link
//! cut mid-turn, a turn that ends during the gap, a blackholed (half-open) link, a request
//! whose outcome is unknown, a server restarted on the same home, giving up.

mod attach_support;
mod common;

use attach_support::fault_proxy::FaultProxy;
use attach_support::processes_under;
use codex_driver::attach::{Keepalive, WebSocketEndpoint};
use codex_driver::testing::{CodexHome, ListeningAppServer, MockModel, ResponseStream, ServerAuth, StallHandle};
use codex_driver::types::{ThreadItem, ThreadReadParams, TurnStatus};
use codex_driver::{CloseReason, Codex, ConnectionState, Error, ReconnectPolicy, ThreadOptions, TurnEvents};
use common::{codex_bin, within};
use futures::StreamExt;
use std::time::Duration;

/// Reconnects fast, and gives up within the test's patience.
fn quick_policy() -> ReconnectPolicy {
    ReconnectPolicy::default()
        .with_delays(Duration::from_millis(20), Duration::from_millis(200))
        .with_attempt_timeout(Duration::from_secs(5))
        .with_give_up_after(Duration::from_secs(30))
}

struct Setup {
    model: MockModel,
    home: CodexHome,
    server: ListeningAppServer,
    proxy: FaultProxy,
}

impl Setup {
    async fn start() -> Setup {
        let model = MockModel::start().await.unwrap();
        let home = CodexHome::new(&model.base_url()).unwrap();
        let server = match within("listen", home.listen_websocket(&codex_bin(), ServerAuth::CapabilityToken)).await {
            Ok(server) => server,
            Err(e) => panic!("cannot start a listening app-server: {e}\nstderr:\n{}", home.stderr_text()),
        };
        let port = server.url().unwrap().rsplit(':').next().unwrap().parse().unwrap();
        let proxy = FaultProxy::start(port).await;
        Setup { model, home, server, proxy }
    }

    /// The server's endpoint, through the proxy.
    fn endpoint(&self) -> WebSocketEndpoint {
        let token = self.server.secret().expect("a capability token").clone();
        WebSocketEndpoint::new(self.proxy.url()).capability_token(token)
    }

    /// A client through the proxy that reconnects.
    async fn client(&self, endpoint: WebSocketEndpoint) -> Codex {
        within("connect", Codex::builder().websocket(endpoint.reconnect(quick_policy())).connect()).await.unwrap()
    }

    /// A client straight to the server (no proxy, no reconnect): the server's own record.
    async fn direct(&self) -> Codex {
        within("connect", Codex::builder().websocket(self.server.websocket_endpoint()).connect()).await.unwrap()
    }

    async fn stop(mut self) {
        drop(self.proxy);
        self.server.kill().await.unwrap();
        let root = self.home.codex_home().parent().unwrap().to_owned();
        within("the home's processes to exit", async {
            while !processes_under(&root).is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        drop(self.model);
    }
}

/// A response with an agent message `before`, a pause, then a message `after`.
fn paused_answer(before: &str, after: &str) -> (codex_driver::testing::MockResponse, StallHandle) {
    let (stream, gate) = ResponseStream::new().text(before).pause();
    (stream.text(after).completed(), gate)
}

fn agent_texts(items: &[ThreadItem]) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| match item {
            ThreadItem::AgentMessage(message) => Some(message.text.clone()),
            _ => None,
        })
        .collect()
}

/// Waits until the connection's state matches.
async fn wait_state(codex: &Codex, what: &str, wanted: impl Fn(&ConnectionState) -> bool) -> ConnectionState {
    let mut states = codex.connection().state_changes();
    within(what, async {
        let state = states.wait_for(|s| wanted(s)).await.expect("the connection's state");
        state.clone()
    })
    .await
}

/// The next event that is not a delta-like success: returns the first error.
async fn next_error(events: &mut TurnEvents) -> Error {
    within("an error in the stream", async {
        loop {
            match events.next_event().await {
                Some(Ok(_)) => continue,
                Some(Err(e)) => return e,
                None => panic!("the stream ended without an error"),
            }
        }
    })
    .await
}

/// The server's record of a turn, read by a client of its own.
async fn record(direct: &Codex, thread_id: &str, turn_id: &str) -> codex_driver::types::Turn {
    let mut params = ThreadReadParams::new(thread_id.to_owned());
    params.include_turns = Some(true);
    let read = within(
        "thread/read",
        direct.connection().request::<codex_driver::methods::client_requests::ThreadRead>(params),
    )
    .await
    .unwrap();
    read.thread.turns.into_iter().find(|t| t.id == turn_id).expect("the turn in the record")
}

/// A link cut mid-turn: the stream reports the gap in place, the client reconnects and
/// resumes the thread, the turn's later events arrive, and the result equals the server's
/// record of the turn.
#[tokio::test]
async fn a_link_cut_mid_turn_reconnects_and_the_result_is_the_servers_record() {
    let setup = Setup::start().await;
    let codex = setup.client(setup.endpoint()).await;
    let thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();
    let (answer, gate) = paused_answer("before the cut", "after the cut");
    setup.model.push(answer);
    let mut events = within("turn/start", thread.turn("hello")).await.unwrap().stream();
    assert!(gate.wait_reached(Duration::from_secs(30)).await, "the model reached its pause");

    setup.proxy.cut();
    let gap = next_error(&mut events).await;
    assert!(matches!(&gap, Error::Gap { reason, .. } if reason.is_link_failure()), "{gap:?}");
    wait_state(&codex, "reconnected", |s| *s == ConnectionState::Connected).await;
    assert_eq!(setup.proxy.accepted(), 2, "one reconnect");

    gate.release();
    let result = within("the turn's result", events.result()).await.unwrap();
    assert_eq!(result.status, TurnStatus::Completed);
    let direct = setup.direct().await;
    let record = record(&direct, thread.id(), &result.id).await;
    assert_eq!(agent_texts(&result.items), agent_texts(&record.items));
    assert_eq!(agent_texts(&result.items), ["before the cut", "after the cut"]);
    direct.close().await;
    codex.close().await;
    setup.stop().await;
}

/// A turn that ends while the link is down: no `turn/completed` comes after the resume,
/// so the turn is completed from the resume answer's record and `run` returns it.
#[tokio::test]
async fn a_turn_that_ends_during_the_gap_is_completed_from_the_record() {
    let setup = Setup::start().await;
    let codex = setup.client(setup.endpoint()).await;
    let thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();
    let (answer, gate) = paused_answer("one ", "two");
    setup.model.push(answer);
    let handle = within("turn/start", thread.turn("hello")).await.unwrap();
    let turn_id = handle.id().to_owned();
    let run = tokio::spawn(handle.run());
    assert!(gate.wait_reached(Duration::from_secs(30)).await);

    setup.proxy.refuse(true);
    setup.proxy.cut();
    wait_state(&codex, "reconnecting", |s| matches!(s, ConnectionState::Reconnecting { .. })).await;
    gate.release();
    let direct = setup.direct().await;
    within("the turn to end on the server", async {
        while record(&direct, thread.id(), &turn_id).await.status == TurnStatus::InProgress {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    setup.proxy.refuse(false);

    let result = within("run", run).await.unwrap().unwrap();
    let record = record(&direct, thread.id(), &turn_id).await;
    assert_eq!((&result.status, &record.status), (&TurnStatus::Completed, &TurnStatus::Completed));
    assert_eq!(agent_texts(&result.items), agent_texts(&record.items));
    assert_eq!(agent_texts(&result.items), ["one ", "two"]);
    assert!(setup.proxy.accepted() >= 3, "refused attempts, then the link");
    // The thread is not busy any more: a next turn runs.
    setup.model.push(ResponseStream::new().text("again").completed());
    assert_eq!(within("next turn", thread.run("again")).await.unwrap().final_response(), Some("again"));
    direct.close().await;
    codex.close().await;
    setup.stop().await;
}

/// A blackholed link (the path stops forwarding, TCP stays open) is declared dead by the
/// keepalive within its bound, and with the path back the client recovers and the turn
/// completes.
#[tokio::test]
async fn a_blackholed_link_is_declared_dead_by_the_keepalive_and_recovers() {
    let setup = Setup::start().await;
    let keepalive = Keepalive::new(Duration::from_millis(200), Duration::from_millis(300));
    let codex = setup.client(setup.endpoint().keepalive(Some(keepalive))).await;
    let thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();
    let (answer, gate) = paused_answer("through ", "the hole");
    setup.model.push(answer);
    let mut events = within("turn/start", thread.turn("hello")).await.unwrap().stream();
    assert!(gate.wait_reached(Duration::from_secs(30)).await);

    setup.proxy.blackhole(true);
    let dropped = std::time::Instant::now();
    let gap = next_error(&mut events).await;
    let noticed = dropped.elapsed();
    match &gap {
        Error::Gap { reason: CloseReason::KeepaliveTimeout { after }, .. } => {
            assert_eq!(*after, keepalive.dead_after())
        }
        other => panic!("expected a keepalive gap, got {other:?}"),
    }
    assert!(noticed < Duration::from_secs(5), "declared dead after {noticed:?}");
    setup.proxy.cut();
    setup.proxy.blackhole(false);
    wait_state(&codex, "reconnected", |s| *s == ConnectionState::Connected).await;
    gate.release();
    let result = within("the turn's result", events.result()).await.unwrap();
    assert_eq!(agent_texts(&result.items), ["through ", "the hole"]);
    codex.close().await;
    setup.stop().await;
}

/// A request on the wire when the link drops has an unknown outcome: it fails with
/// `OutcomeUnknown` and is not sent again (the server never created the thread); a read
/// sent at the same time is sent again on the new link and answered.
#[tokio::test]
async fn a_request_lost_with_the_link_fails_as_outcome_unknown_and_a_read_is_resent() {
    let setup = Setup::start().await;
    let codex = setup.client(setup.endpoint().keepalive(None)).await;
    let direct = setup.direct().await;
    let threads_before = within("thread/list", direct.thread_list(&Default::default())).await.unwrap().data.len();

    setup.proxy.blackhole(true);
    let start = tokio::spawn({
        let codex = codex.clone();
        async move { codex.thread_start(&ThreadOptions::default()).await.map(|t| t.id().to_owned()) }
    });
    let list = tokio::spawn({
        let codex = codex.clone();
        async move { codex.thread_list(&Default::default()).await.map(|threads| threads.data.len()) }
    });
    within("both requests on the wire", async {
        while setup.proxy.swallowed_messages() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    setup.proxy.cut();
    setup.proxy.blackhole(false);

    match within("thread/start", start).await.unwrap() {
        Err(Error::OutcomeUnknown { method, reason, .. }) => {
            assert_eq!(method, "thread/start");
            assert!(reason.is_link_failure(), "{reason}");
        }
        other => panic!("expected OutcomeUnknown, got {other:?}"),
    }
    assert_eq!(within("thread/list", list).await.unwrap().unwrap(), threads_before, "the read was answered");
    let threads_after = within("thread/list", direct.thread_list(&Default::default())).await.unwrap().data.len();
    assert_eq!(threads_after, threads_before, "the lost thread/start was not sent again");
    direct.close().await;
    codex.close().await;
    setup.stop().await;
}

/// With nothing to reconnect to, the client gives up after the policy's bound and closes
/// with `ReconnectFailed`, failing the streams that waited.
#[tokio::test]
async fn reconnecting_gives_up_after_its_bound_and_closes() {
    let setup = Setup::start().await;
    let policy = quick_policy().with_give_up_after(Duration::from_millis(800));
    let codex =
        within("connect", Codex::builder().websocket(setup.endpoint().reconnect(policy)).connect()).await.unwrap();
    let mut all = codex.notifications();
    setup.proxy.refuse(true);
    setup.proxy.cut();
    let closed = within("closed", codex.connection().closed()).await;
    match closed.close_reason() {
        Some(CloseReason::ReconnectFailed { attempts, dropped, .. }) => {
            assert!(*attempts >= 2, "{attempts} attempts");
            assert!(dropped.is_link_failure());
        }
        other => panic!("expected ReconnectFailed, got {other:?}"),
    }
    assert!(matches!(codex.connection().state(), ConnectionState::Closed(CloseReason::ReconnectFailed { .. })));
    assert!(matches!(within("gap", all.next()).await, Some(Err(Error::Gap { .. }))));
    assert!(matches!(within("close", all.next()).await, Some(Err(Error::TransportClosed { .. }))));
    setup.stop().await;
}
