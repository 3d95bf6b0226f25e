//! The app-server SIGKILLed mid-request, mid-turn and mid-approval, 50 times each, against
//! the real pinned binary and the scripted mock model: every pending request, turn stream
//! and server-request handler ends promptly with `Error::TransportClosed` carrying the exit
//! status and the stderr tail, an approval handler still waiting is cancelled (its future
//! dropped), later calls fail fast, the process is reaped, and nothing hangs (every wait is
//! bounded by `WAIT`).
//!
//! Each test runs its iterations a few at a time, each lane on its own `CODEX_HOME`, all
//! against one mock model whose answers depend on the prompt.

use crate::common;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use codex_driver::methods::ServerNotification;
use codex_driver::testing::{
    AssistantMessage, CodexHome, ExecCommand, MockModel, MockResponse, RecordedRequest, ResponseStream,
};
use codex_driver::types::AskForApproval;
use codex_driver::types::CommandExecutionApprovalDecision;
use codex_driver::{ApprovalHandler, ClientConfig, Codex, Error, ThreadOptions, TurnEvents};
use common::{codex_bin, first_delta, process_exists, send_signal, stop_process, within};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

/// Kills per moment.
const ITERATIONS: usize = 50;
/// Iterations in flight at once, each lane on its own `CODEX_HOME`.
const LANES: usize = 3;

/// What the wrapper shell writes to stderr before it execs the app-server (same pid).
fn probe(pid: u32) -> String {
    format!("reliability-probe: app-server {pid} starting")
}

/// The mock model's answers, by prompt: `approve-*` asks to run an escalated command (so the
/// client is asked for approval); anything else streams a partial answer and then stalls
/// for good (only the client hanging up ends that stream).
fn respond(request: &RecordedRequest) -> Option<MockResponse> {
    let prompt = request.last_user_text()?.to_owned();
    if prompt.starts_with("approve") {
        let call_id = format!("call-{prompt}");
        if request.function_call_output(&call_id).is_some() {
            return Some(MockResponse::text("unexpected: the approval was answered"));
        }
        let call = ExecCommand::new(call_id, "echo approved > approved.txt").escalated("needs to write a marker");
        return Some(MockResponse::exec_command(call));
    }
    let (response, _never_released) =
        ResponseStream::new().message(AssistantMessage::new(format!("partial answer to {prompt}")).deltas(2)).stall();
    Some(response)
}

/// The mock model and one `CODEX_HOME` per lane (approvals asked `on-request`).
struct Rig {
    model: MockModel,
    homes: Vec<CodexHome>,
}

impl Rig {
    async fn start() -> Rig {
        let model = MockModel::start().await.expect("mock model");
        model.respond_with(respond);
        let homes = (0..LANES)
            .map(|_| {
                CodexHome::builder(&model.base_url())
                    .approval_policy(AskForApproval::OnRequest)
                    .build()
                    .expect("codex home")
            })
            .collect();
        Rig { model, homes }
    }

    /// The app-server of `lane`'s home, started through a shell that first writes
    /// [`probe`] to stderr, so the stderr tail of every close error can be checked.
    fn config(&self, lane: usize) -> ClientConfig {
        let bin = codex_bin();
        let script = "echo \"reliability-probe: app-server $$ starting\" >&2; exec \"$0\" app-server --listen stdio://";
        ClientConfig::from(self.homes[lane].launch_config(&bin).with_launch_args_override([
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            script.to_owned(),
            bin.display().to_string(),
        ]))
    }

    async fn connect(&self, lane: usize, handler: Option<ApprovalHandler>) -> Codex {
        let mut builder = Codex::builder().config(self.config(lane));
        if let Some(handler) = handler {
            builder = builder.handler(handler);
        }
        within("connect", builder.connect()).await.unwrap_or_else(|e| panic!("cannot start the app-server: {e}"))
    }

    /// Runs `iteration(rig, lane, i)` for `i` in `0..ITERATIONS`, [`LANES`] at a time;
    /// returns the kill → last-failure latencies.
    async fn run<'a, F, Fut>(&'a self, iteration: F) -> Vec<Duration>
    where
        F: Fn(&'a Rig, usize, usize) -> Fut,
        Fut: std::future::Future<Output = Duration> + 'a,
    {
        let started = Instant::now();
        let lanes = (0..LANES).map(|lane| {
            let iteration = &iteration;
            async move {
                let mut latencies = Vec::new();
                for i in (lane..ITERATIONS).step_by(LANES) {
                    latencies.push(iteration(self, lane, i).await);
                }
                latencies
            }
        });
        let latencies: Vec<Duration> = futures::future::join_all(lanes).await.into_iter().flatten().collect();
        assert_eq!(latencies.len(), ITERATIONS);
        let max = latencies.iter().max().copied().unwrap_or_default();
        eprintln!(
            "{ITERATIONS} kills in {:?} ({LANES} lanes); slowest kill → last failure: {max:?}",
            started.elapsed()
        );
        assert_eq!(self.model.unscripted_requests(), 0);
        latencies
    }
}

/// Asserts `error` is the close error of the SIGKILLed `pid`: the exit status says so and
/// the stderr tail is that process's.
fn assert_killed(what: &str, error: &Error, pid: u32) {
    assert!(error.is_transport_closed(), "{what}: {error:?}");
    let Some(reason) = error.close_reason() else { unreachable!() };
    let stderr_tail = reason.stderr_tail();
    let status = reason.exit_status().unwrap_or_else(|| panic!("{what}: no exit status in {error:?}"));
    assert_eq!(status.signal(), Some(9), "{what}: {status:?}");
    assert!(stderr_tail.contains(&probe(pid)), "{what}: the stderr tail is not the app-server's: {stderr_tail:?}");
}

/// After the kill: the connection is closed with the same error, later calls fail fast
/// with it, nothing is left pending, and the process is reaped.
async fn assert_aftermath(codex: &Codex, pid: u32) {
    let conn = codex.connection();
    let closed = within("Connection::closed after the kill", conn.closed()).await;
    assert_killed("Connection::closed", &closed, pid);
    let later = within("a call after the kill", codex.models()).await.expect_err("a call on a dead connection");
    assert_killed("a call after the kill", &later, pid);
    let stats = conn.stats();
    assert_eq!((stats.pending_requests, stats.turn_subscriptions, stats.reservations), (0, 0, 0), "{stats:?}");
    within("the killed app-server is reaped", async {
        while process_exists(pid) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// The rest of a turn stream after a kill: no `turn/completed`, and exactly one error, the
/// last item.
async fn drain_after_kill(what: &str, events: &mut TurnEvents, pid: u32) {
    let rest: Vec<_> = within(what, events.by_ref().collect()).await;
    let errors: Vec<&Error> = rest.iter().filter_map(|e| e.as_ref().err()).collect();
    assert_eq!(errors.len(), 1, "{what}: {rest:?}");
    assert!(rest.last().is_some_and(Result::is_err), "{what}: {rest:?}");
    assert!(!rest.iter().any(|e| matches!(e, Ok(ServerNotification::TurnCompleted(_)))), "{what}: {rest:?}");
    assert_killed(what, errors[0], pid);
    assert!(within(what, events.next_event()).await.is_none());
}

fn pid_of(codex: &Codex) -> u32 {
    codex.connection().pid().expect("a spawned app-server has a pid")
}

// ----- mid-request ---------------------------------------------------------------------------

/// The app-server is stopped (SIGSTOP, and every thread seen stopped), so the requests sent
/// next are certainly pending, then killed: both requests fail with the close error.
async fn kill_mid_request(rig: &Rig, lane: usize, _i: usize) -> Duration {
    let codex = rig.connect(lane, None).await;
    let pid = pid_of(&codex);
    stop_process(pid).await;
    let models = tokio::spawn({
        let codex = codex.clone();
        async move { codex.models().await.map(|_| ()) }
    });
    let start = tokio::spawn({
        let codex = codex.clone();
        async move { codex.thread_start(&ThreadOptions::default()).await.map(|_| ()) }
    });
    within("both requests are pending", async {
        while codex.connection().stats().pending_requests < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert!(!models.is_finished() && !start.is_finished(), "a stopped app-server cannot answer");
    send_signal(pid, "KILL");
    let killed = Instant::now();
    let (models, start) =
        within("the pending requests after the kill", async { (models.await.unwrap(), start.await.unwrap()) }).await;
    let latency = killed.elapsed();
    assert_killed("model/list", &models.expect_err("model/list"), pid);
    assert_killed("thread/start", &start.expect_err("thread/start"), pid);
    assert_aftermath(&codex, pid).await;
    latency
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_request_fails_every_pending_request() {
    let rig = Rig::start().await;
    rig.run(kill_mid_request).await;
}

// ----- mid-turn ------------------------------------------------------------------------------

/// A turn whose model response stalled after a first delta is being streamed when the
/// app-server dies: the stream ends with the close error, without `turn/completed`.
async fn kill_mid_turn(rig: &Rig, lane: usize, i: usize) -> Duration {
    let codex = rig.connect(lane, None).await;
    let pid = pid_of(&codex);
    let thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.expect("thread/start");
    let turn = within("turn/start", thread.turn(format!("stall-{i}"))).await.expect("turn/start");
    let mut events = turn.stream();
    first_delta(&mut events).await;
    send_signal(pid, "KILL");
    let killed = Instant::now();
    drain_after_kill("the streamed turn after the kill", &mut events, pid).await;
    let latency = killed.elapsed();
    assert_aftermath(&codex, pid).await;
    latency
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_turn_ends_the_turn_stream() {
    let rig = Rig::start().await;
    rig.run(kill_mid_turn).await;
}

// ----- mid-approval --------------------------------------------------------------------------

/// Sends `()` when dropped.
struct DropSignal(Option<oneshot::Sender<()>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// Announces each command approval on `entered` (its turn id, and a receiver that fires
/// when the handler's future is dropped) and never answers it.
fn never_answering(entered: mpsc::UnboundedSender<(String, oneshot::Receiver<()>)>) -> ApprovalHandler {
    ApprovalHandler::new().on_command_execution(move |params| {
        let (dropped_tx, dropped_rx) = oneshot::channel();
        let guard = DropSignal(Some(dropped_tx));
        let _ = entered.send((params.turn_id.clone(), dropped_rx));
        async move {
            let _guard = guard;
            std::future::pending::<CommandExecutionApprovalDecision>().await
        }
    })
}

/// The client's approval handler is still deciding when the app-server dies: the turn
/// stream ends with the close error and the handler's future is dropped.
async fn kill_mid_approval(rig: &Rig, lane: usize, i: usize) -> Duration {
    let (entered_tx, mut entered) = mpsc::unbounded_channel();
    let codex = rig.connect(lane, Some(never_answering(entered_tx))).await;
    let pid = pid_of(&codex);
    let thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.expect("thread/start");
    let turn = within("turn/start", thread.turn(format!("approve-{i}"))).await.expect("turn/start");
    let turn_id = turn.id().to_owned();
    let mut events = turn.stream();
    let (asked_for, dropped) = within("the approval request", entered.recv()).await.expect("the handler was called");
    assert_eq!(asked_for, turn_id);
    send_signal(pid, "KILL");
    let killed = Instant::now();
    drain_after_kill("the turn awaiting approval after the kill", &mut events, pid).await;
    within("the pending approval handler is cancelled", dropped)
        .await
        .expect("the handler's future was dropped, not leaked");
    let latency = killed.elapsed();
    // `codex` is still alive here: the close, not the client's drop, cancelled the handler.
    assert_eq!(codex.connection().stats().server_requests, 1);
    assert_aftermath(&codex, pid).await;
    assert!(!rig.homes[lane].work_dir().join("approved.txt").exists(), "the unanswered command never ran");
    latency
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_approval_cancels_the_pending_handler() {
    let rig = Rig::start().await;
    rig.run(kill_mid_approval).await;
}
