//! Reconnecting through network faults, against the real app-server behind a
//! fault-injecting TCP proxy on 127.0.0.1 (tests/attach_support/fault_proxy.rs): a link
//! cut mid-turn, a turn that ends during the gap, a blackholed (half-open) link, a request
//! whose outcome is unknown, a server restarted on the same home, giving up.

use crate::{attach_support, common};
use attach_support::assert_nothing_left;
use attach_support::fault_proxy::FaultProxy;
use codex_driver::attach::{Keepalive, WebSocketEndpoint};
use codex_driver::rpc::{ConnectionState, ReconnectPolicy};
use codex_driver::testing::{
    CodexHome, CodexHomeBuilder, ListeningAppServer, MockModel, ResponseStream, ServerAuth, StallHandle,
};
use codex_driver::types::{
    AskForApproval, CommandExecutionApprovalDecision, CommandExecutionStatus, ThreadReadParams, TurnStatus,
};
use codex_driver::{ApprovalHandler, CloseReason, Codex, Error, ThreadOptions, TurnEvents};
use common::agent_texts;
use common::{codex_bin, command_status, exec, within};
use futures::StreamExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
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
        Setup::start_with(|home| home).await
    }

    async fn start_with(home: impl FnOnce(CodexHomeBuilder) -> CodexHomeBuilder) -> Setup {
        let model = MockModel::start().await.unwrap();
        let home = home(CodexHome::builder(&model.base_url())).build().unwrap();
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

    /// Cuts the link and refuses new ones; returns once the client is reconnecting.
    async fn hold_link_down(&self, codex: &Codex) {
        self.proxy.refuse(true);
        self.proxy.cut();
        wait_state(codex, "reconnecting", |s| matches!(s, ConnectionState::Reconnecting { .. })).await;
    }

    /// A client straight to the server (no proxy, no reconnect): the server's own record.
    async fn direct(&self) -> Codex {
        within("connect", Codex::builder().websocket(self.server.websocket_endpoint()).connect()).await.unwrap()
    }

    async fn stop(mut self) {
        drop(self.proxy);
        self.server.kill().await.unwrap();
        assert_nothing_left(&self.home).await;
        drop(self.model);
    }
}

/// Starts a thread on `codex` and a turn on it whose answer is an agent message `before`, a
/// pause, then a message `after`; returns once the model reached the pause.
async fn paused_turn(
    codex: &Codex,
    model: &MockModel,
    before: &str,
    after: &str,
) -> (codex_driver::Thread, codex_driver::TurnHandle, StallHandle) {
    let thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();
    let (stream, gate) = ResponseStream::new().text(before).pause();
    model.push(stream.text(after).completed());
    let handle = within("turn/start", thread.turn("hello")).await.unwrap();
    assert!(gate.wait_reached(Duration::from_secs(30)).await, "the model reached its pause");
    (thread, handle, gate)
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

/// Polls the server's record of a turn until its status is `wanted`.
async fn wait_record(direct: &Codex, thread_id: &str, turn_id: &str, wanted: impl Fn(&TurnStatus) -> bool) {
    within("the turn's status in the server's record", async {
        while !wanted(&record(direct, thread_id, turn_id).await.status) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
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
/// record of the turn. The drop, the attempt and the reconnect are traced.
#[tokio::test]
async fn a_link_cut_mid_turn_reconnects_and_the_result_is_the_servers_record() {
    let (capture, _guard) = common::trace::Capture::install();
    let setup = Setup::start().await;
    let codex = setup.client(setup.endpoint()).await;
    let (thread, handle, gate) = paused_turn(&codex, &setup.model, "before the cut", "after the cut").await;
    let mut events = handle.stream();

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
    // A tracing event for the drop, each attempt and the reconnect.
    let log = capture.lines().join("\n");
    for needle in [
        "dropped; reconnecting",
        "reconnecting to the codex app-server attempt=1",
        "reconnected to the codex app-server attempts=1",
    ] {
        assert!(log.contains(needle), "{needle} not logged:\n{log}");
    }
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
    let (thread, handle, gate) = paused_turn(&codex, &setup.model, "one ", "two").await;
    let turn_id = handle.id().to_owned();
    let run = tokio::spawn(handle.run());

    setup.hold_link_down(&codex).await;
    gate.release();
    let direct = setup.direct().await;
    wait_record(&direct, thread.id(), &turn_id, |status| *status != TurnStatus::InProgress).await;
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
    let (_thread, handle, gate) = paused_turn(&codex, &setup.model, "through ", "the hole").await;
    let mut events = handle.stream();

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

async fn listen_control_socket(home: &CodexHome) -> ListeningAppServer {
    within("listen", home.listen_control_socket(&codex_bin())).await.expect("a control socket")
}

/// A server killed mid-turn and started again on the same home (its control socket): the
/// client reconnects, resumes the thread, and the turn that was running reads back
/// `interrupted`, which `run` returns as the server records it (not a hang); the thread
/// then runs a next turn.
#[tokio::test]
async fn a_server_restarted_on_the_same_home_is_reconnected_and_the_cut_turn_is_interrupted() {
    let model = MockModel::start().await.unwrap();
    let home = CodexHome::new(&model.base_url()).unwrap();
    let mut server = listen_control_socket(&home).await;
    let endpoint = server.unix_endpoint().reconnect(quick_policy());
    let codex = within("connect", Codex::builder().unix_socket(endpoint).connect()).await.unwrap();
    let (thread, handle, gate) = paused_turn(&codex, &model, "before the restart", "never sent").await;
    let run = tokio::spawn(handle.run());

    server.kill().await.unwrap();
    wait_state(&codex, "reconnecting", |s| matches!(s, ConnectionState::Reconnecting { .. })).await;
    let mut restarted = listen_control_socket(&home).await;
    let result = within("run", run).await.unwrap().expect("the record's end of the turn");
    assert_eq!(result.status, TurnStatus::Interrupted);
    wait_state(&codex, "reconnected", |s| *s == ConnectionState::Connected).await;
    // The result is the restarted server's record of the turn (what the killed one had
    // persisted), not what this client saw before the kill.
    let direct = within("connect", Codex::builder().unix_socket(restarted.unix_endpoint()).connect()).await.unwrap();
    let record = record(&direct, thread.id(), &result.id).await;
    assert_eq!(record.status, TurnStatus::Interrupted);
    assert_eq!(agent_texts(&result.items), agent_texts(&record.items));
    direct.close().await;

    model.push(ResponseStream::new().text("after the restart").completed());
    let next = within("next turn", thread.run("again")).await.unwrap();
    assert_eq!(next.final_response(), Some("after the restart"));
    codex.close().await;
    restarted.kill().await.unwrap();
    gate.release();
    assert_nothing_left(&home).await;
}

/// A command approval pending when the link drops: the handler deciding it is cancelled
/// (no answer on the dead link), the server asks again once the thread is resumed on the
/// new link, and that answer decides: the command runs and the turn completes.
#[tokio::test]
async fn an_approval_pending_at_the_drop_is_asked_again_after_the_resume() {
    let setup = Setup::start_with(|home| home.approval_policy(AskForApproval::OnRequest)).await;
    let asked = Arc::new(AtomicUsize::new(0));
    let (first_asked, mut first_asked_rx) = tokio::sync::mpsc::unbounded_channel();
    let handler = ApprovalHandler::new().on_command_execution({
        let asked = asked.clone();
        move |_| {
            let nth = asked.fetch_add(1, Ordering::SeqCst) + 1;
            let first_asked = first_asked.clone();
            async move {
                if nth == 1 {
                    // The first ask is still being decided when the link drops.
                    let _ = first_asked.send(());
                    std::future::pending::<()>().await;
                }
                CommandExecutionApprovalDecision::Accept
            }
        }
    });
    let endpoint = setup.endpoint().reconnect(quick_policy());
    let codex = within("connect", Codex::builder().websocket(endpoint).handler(handler).connect()).await.unwrap();
    let options = ThreadOptions::default().cwd(setup.home.work_dir());
    let thread = within("thread/start", codex.thread_start(&options)).await.unwrap();
    setup.model.push(exec("call-1", "marker.txt"));
    setup.model.push(ResponseStream::new().text("ran it").completed());
    let run = tokio::spawn({
        let thread = thread.clone();
        async move { thread.run("write the marker").await }
    });
    within("the first ask", first_asked_rx.recv()).await.unwrap();

    setup.proxy.cut();
    let result = within("run", run).await.unwrap().expect("the turn completes");
    assert_eq!(asked.load(Ordering::SeqCst), 2, "asked again after the resume");
    assert_eq!(command_status(&result), Some(CommandExecutionStatus::Completed), "{:#?}", result.items);
    assert_eq!(std::fs::read_to_string(setup.home.work_dir().join("marker.txt")).unwrap(), "ok\n");
    assert_eq!(result.final_response(), Some("ran it"));
    codex.close().await;
    setup.stop().await;
}

/// A fresh client (a supervisor that restarted) finds the turn another client started
/// running on the thread, follows it to its end, and gets the same result as the client
/// that started it and as the server's record.
#[tokio::test]
async fn a_fresh_client_attaches_to_a_running_turn_and_gets_its_result() {
    let setup = Setup::start().await;
    let first = setup.direct().await;
    let (thread, handle, gate) = paused_turn(&first, &setup.model, "started by one", "finished for two").await;
    let turn_id = handle.id().to_owned();
    let started_run = tokio::spawn(handle.run());

    let fresh = setup.client(setup.endpoint()).await;
    let resumed = within("thread/resume", fresh.thread_resume(thread.id(), &ThreadOptions::default())).await.unwrap();
    let running = within("running_turn", resumed.running_turn()).await.unwrap().expect("a running turn");
    assert_eq!(running.id(), turn_id);
    gate.release();
    let attached = within("the attached turn's result", running.run()).await.unwrap();
    let started = within("the starter's result", started_run).await.unwrap().unwrap();
    let record = record(&first, thread.id(), &turn_id).await;
    assert_eq!(agent_texts(&attached.items), ["started by one", "finished for two"]);
    assert_eq!(agent_texts(&attached.items), agent_texts(&started.items));
    assert_eq!(agent_texts(&attached.items), agent_texts(&record.items));
    assert_eq!((&attached.status, &started.status), (&TurnStatus::Completed, &TurnStatus::Completed));
    fresh.close().await;
    first.close().await;
    setup.stop().await;
}

// ----- soak ----------------------------------------------------------------------------

/// The soak's size: threads, turns per thread, and the range of the wait between cuts.
const SOAK_THREADS: usize = 5;
const SOAK_TURNS: usize = 20;
const SOAK_CUT_EVERY_MS: (u64, u64) = (200, 2000);

/// A fixed-seed generator for the cut times (xorshift64*; the seed is printed).
struct Rng(u64);

impl Rng {
    fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        low + self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % (high - low + 1)
    }
}

/// What the soak counted.
#[derive(Debug, Default)]
struct SoakCounts {
    gaps_in_turns: usize,
    turns_recovered: usize,
    starts_unknown: usize,
    starts_unknown_that_ran: usize,
}

/// One turn of the soak as its client saw it.
#[derive(Debug, Clone)]
struct SoakTurn {
    turn_id: String,
    status: TurnStatus,
    texts: Vec<String>,
}

/// The model's answer to `prompt`: two messages with a pause between them, so turns span
/// cuts.
fn soak_answer(prompt: &str) -> codex_driver::testing::MockResponse {
    ResponseStream::new()
        .text(format!("{prompt}/a"))
        .delay(Duration::from_millis(300))
        .text(format!("{prompt}/b"))
        .completed()
}

/// The server's record of a turn whose user message is `prompt` and that is not one of
/// `known`, if it has one.
async fn new_turn_of_prompt(
    thread: &codex_driver::Thread,
    prompt: &str,
    known: &[SoakTurn],
) -> Option<codex_driver::types::Turn> {
    let read = within("thread/read", thread.read_with_turns()).await.expect("a read on the next link");
    read.turns.into_iter().find(|turn| {
        common::user_texts(&turn.items).iter().any(|text| text == prompt) && known.iter().all(|k| k.turn_id != turn.id)
    })
}

/// Follows one turn to its end, checking its events on the way: every event is the turn's
/// own (none misrouted) and no item completes twice (none duplicated).
async fn follow_soak_turn(
    handle: codex_driver::TurnHandle,
    prompt: &str,
    counts: &std::sync::Mutex<SoakCounts>,
) -> SoakTurn {
    let turn_id = handle.id().to_owned();
    let mut events = handle.stream();
    let mut completed_items = std::collections::HashSet::new();
    let mut gaps = 0;
    let drained = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(event) = events.next_event().await {
            match event {
                Ok(codex_driver::methods::ServerNotification::ItemCompleted(done)) => {
                    assert_eq!(done.turn_id, turn_id, "an event of another turn in {prompt}'s stream");
                    let item = serde_json::to_string(&done.item).unwrap();
                    assert!(completed_items.insert(item), "an item of {prompt} completed twice");
                }
                Ok(codex_driver::methods::ServerNotification::TurnCompleted(done)) => assert_eq!(done.turn.id, turn_id),
                Ok(_) => {}
                Err(Error::Gap { .. }) => gaps += 1,
                Err(other) => panic!("{prompt}'s stream: {other}"),
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "{prompt}'s turn hung");
    let result = within("the turn's result", events.result()).await.expect("the turn's result");
    let mut counts = counts.lock().unwrap();
    counts.gaps_in_turns += gaps;
    counts.turns_recovered += usize::from(gaps > 0);
    SoakTurn { turn_id, status: result.status.clone(), texts: agent_texts(&result.items) }
}

/// Runs `prompt` on `thread` to a completed turn; returns the turns it made (one). A
/// `turn/start` whose outcome is unknown is resolved from the server's record, never
/// resent blindly: the turn is followed if it runs, taken from the record if it ended, and
/// started again only if the server never saw it.
async fn soak_prompt(
    thread: &codex_driver::Thread,
    prompt: &str,
    counts: &std::sync::Mutex<SoakCounts>,
) -> Vec<SoakTurn> {
    let mut turns: Vec<SoakTurn> = Vec::new();
    loop {
        let turn = match thread.turn(prompt).await {
            Ok(handle) => follow_soak_turn(handle, prompt, counts).await,
            Err(Error::OutcomeUnknown { .. }) => {
                counts.lock().unwrap().starts_unknown += 1;
                let Some(record) = new_turn_of_prompt(thread, prompt, &turns).await else { continue };
                counts.lock().unwrap().starts_unknown_that_ran += 1;
                let running = match record.status {
                    TurnStatus::InProgress => {
                        within("running_turn", thread.running_turn()).await.expect("running_turn")
                    }
                    _ => None,
                };
                match running {
                    Some(handle) => follow_soak_turn(handle, prompt, counts).await,
                    None => {
                        let record = new_turn_of_prompt(thread, prompt, &turns).await.expect("the record");
                        SoakTurn { turn_id: record.id, status: record.status, texts: agent_texts(&record.items) }
                    }
                }
            }
            Err(other) => panic!("turn/start of {prompt}: {other}"),
        };
        assert_eq!(turn.status, TurnStatus::Completed, "{prompt}");
        turns.push(turn);
        return turns;
    }
}

/// ≥ 100 turns on 5 threads while the proxy cuts the link at random every 0.2–2 s (fixed
/// seed, printed; `SOAK_SEED` picks another): every turn's result is the server's record
/// of it (status and items) and every prompt ends in a completed turn with its own answer,
/// nothing hangs, no event is duplicated or misrouted, and no request whose outcome was
/// unknown is sent again (each thread's record holds exactly the turns its client knows).
/// (It found that a resume answer can report a turn that had just started `interrupted`
/// while the turn runs on: the SDK confirms such a status before it completes the turn.)
/// Prints the reconnects and their times (BENCHMARKS.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_many_turns_on_many_threads_through_random_cuts() {
    let seed: u64 = std::env::var("SOAK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_2026_1205);
    println!("soak seed: {seed}");
    let setup = Setup::start().await;
    setup.model.respond_with(|request| Some(soak_answer(request.last_user_text()?)));
    let codex = setup.client(setup.endpoint().keepalive(None)).await;

    // Every reconnect's time, from the drop to the link being back.
    let reconnects = Arc::new(std::sync::Mutex::new(Vec::new()));
    let watcher = tokio::spawn({
        let mut states = codex.connection().state_changes();
        let reconnects = reconnects.clone();
        async move {
            let mut down_since = None;
            while states.changed().await.is_ok() {
                let state = states.borrow_and_update().clone();
                match state {
                    ConnectionState::Reconnecting { since, .. } => down_since = Some(since),
                    ConnectionState::Connected => {
                        if let Some(since) = down_since.take() {
                            reconnects.lock().unwrap().push(since.elapsed());
                        }
                    }
                    _ => return,
                }
            }
        }
    });
    let counts = Arc::new(std::sync::Mutex::new(SoakCounts::default()));
    let started = std::time::Instant::now();
    let mut workers = Vec::new();
    let mut threads = Vec::new();
    for t in 0..SOAK_THREADS {
        let thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();
        threads.push(thread.id().to_owned());
        let counts = counts.clone();
        workers.push(tokio::spawn(async move {
            let mut turns = Vec::new();
            for n in 0..SOAK_TURNS {
                let prompt = format!("t{t}-{n}");
                let made = soak_prompt(&thread, &prompt, &counts).await;
                let done = made.last().expect("a turn");
                assert_eq!(done.texts, [format!("{prompt}/a"), format!("{prompt}/b")], "{prompt}'s result");
                turns.extend(made);
            }
            turns
        }));
    }
    let mut rng = Rng(seed | 1);
    let mut cuts = 0;
    let all_done = futures::future::join_all(workers);
    tokio::pin!(all_done);
    let results = loop {
        let wait = Duration::from_millis(rng.between(SOAK_CUT_EVERY_MS.0, SOAK_CUT_EVERY_MS.1));
        tokio::select! {
            results = &mut all_done => break results,
            _ = tokio::time::sleep(wait) => {
                setup.proxy.cut();
                cuts += 1;
            }
        }
    };
    let mut seen = Vec::new();
    for result in results {
        seen.push(result.expect("a soak worker"));
    }
    let elapsed = started.elapsed();
    codex.close().await;
    within("the state watcher", watcher).await.unwrap();

    let counts = std::mem::take(&mut *counts.lock().unwrap());
    let mut times = reconnects.lock().unwrap().clone();
    times.sort();
    let at = |q: f64| times.get(((times.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or_default();
    let turns: usize = seen.iter().map(Vec::len).sum();
    println!(
        "soak: seed {seed}, {turns} turns for {} prompts on {SOAK_THREADS} threads in {elapsed:.1?}; {cuts} cuts, \
         {} reconnects (time to reconnect p50 {:.1?}, p99 {:.1?}, max {:.1?}); {} turns recovered across {} gaps; \
         {} turn/start outcomes unknown ({} had reached the server)",
        SOAK_THREADS * SOAK_TURNS,
        times.len(),
        at(0.5),
        at(0.99),
        times.last().copied().unwrap_or_default(),
        counts.turns_recovered,
        counts.gaps_in_turns,
        counts.starts_unknown,
        counts.starts_unknown_that_ran,
    );
    assert!(cuts >= 3, "the soak cut the link {cuts} times");
    assert!(!times.is_empty(), "reconnected at least once");
    // Each thread's record holds exactly the turns its client saw, in order, each with the
    // status and agent texts the client got: no turn the client does not know of (nothing
    // whose outcome was unknown was sent again), none lost, every result the record's.
    let direct = setup.direct().await;
    for (thread_id, seen) in threads.iter().zip(&seen) {
        let mut params = ThreadReadParams::new(thread_id.clone());
        params.include_turns = Some(true);
        let read = within(
            "thread/read",
            direct.connection().request::<codex_driver::methods::client_requests::ThreadRead>(params),
        )
        .await
        .unwrap();
        let recorded: Vec<(String, TurnStatus, Vec<String>)> =
            read.thread.turns.iter().map(|t| (t.id.clone(), t.status.clone(), agent_texts(&t.items))).collect();
        let got: Vec<(String, TurnStatus, Vec<String>)> =
            seen.iter().map(|t| (t.turn_id.clone(), t.status.clone(), t.texts.clone())).collect();
        assert_eq!(got, recorded, "thread {thread_id}: what the client got vs. the server's record");
    }
    direct.close().await;
    setup.stop().await;
}

/// A turn this client started stays its own across a reconnect: its handle, dropped while
/// the link is down, owes an interrupt that goes out on the new link, and the server's
/// record shows the turn interrupted.
#[tokio::test]
async fn a_turn_started_before_the_drop_is_still_this_clients_to_interrupt() {
    let setup = Setup::start().await;
    let codex = setup.client(setup.endpoint()).await;
    let (thread, handle, gate) = paused_turn(&codex, &setup.model, "before", "never sent").await;
    let turn_id = handle.id().to_owned();

    setup.hold_link_down(&codex).await;
    drop(handle);
    setup.proxy.refuse(false);
    wait_state(&codex, "reconnected", |s| *s == ConnectionState::Connected).await;
    let direct = setup.direct().await;
    wait_record(&direct, thread.id(), &turn_id, |status| *status == TurnStatus::Interrupted).await;
    direct.close().await;
    codex.close().await;
    gate.release();
    setup.stop().await;
}

/// A thread the server behind the new link does not know (another server came up on the
/// endpoint) cannot be resumed: its turn's stream ends with `StreamEnded` saying so, and
/// `result()` returns that error instead of waiting for events that will never come.
#[tokio::test]
async fn a_thread_the_new_server_does_not_know_ends_its_turns_stream() {
    let model = MockModel::start().await.unwrap();
    let (first_home, second_home) =
        (CodexHome::new(&model.base_url()).unwrap(), CodexHome::new(&model.base_url()).unwrap());
    let bin = codex_bin();
    let mut first = within("listen", first_home.listen_websocket(&bin, ServerAuth::None)).await.unwrap();
    let mut second = within("listen", second_home.listen_websocket(&bin, ServerAuth::None)).await.unwrap();
    let port = |server: &ListeningAppServer| server.url().unwrap().rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let proxy = FaultProxy::start(port(&first)).await;
    let endpoint = WebSocketEndpoint::new(proxy.url()).reconnect(quick_policy());
    let codex = within("connect", Codex::builder().websocket(endpoint).connect()).await.unwrap();
    let (_thread, handle, gate) = paused_turn(&codex, &model, "before", "never sent").await;
    let mut events = handle.stream();

    proxy.set_upstream(port(&second));
    proxy.cut();
    assert!(matches!(next_error(&mut events).await, Error::Gap { .. }));
    match next_error(&mut events).await {
        Error::StreamEnded { what } => assert!(what.contains("could not be resumed"), "{what}"),
        other => panic!("expected StreamEnded, got {other:?}"),
    }
    assert!(matches!(within("result", events.result()).await, Err(Error::StreamEnded { .. })));
    assert_eq!(codex.connection().state(), ConnectionState::Connected);
    codex.close().await;
    gate.release();
    first.kill().await.unwrap();
    second.kill().await.unwrap();
    for home in [&first_home, &second_home] {
        assert_nothing_left(home).await;
    }
}
