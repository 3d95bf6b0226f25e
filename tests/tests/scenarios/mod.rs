//! Scenarios against the real `codex app-server` and the scripted mock model, each written
//! once over [`Client`] and [`Transport`], and run through both the async and the blocking
//! API over stdio, WebSocket and the unix control socket (see `integration/parity.rs`).

pub mod client;

use crate::common::{codex_bin, commands, deltas, kill_9, within, WAIT};
use crate::login_support::{device_token_route, token_route, usercode_route, Issuer};
use client::{
    Client, ClientControl, ClientDeviceLogin, ClientGoal, ClientGoalControl, ClientThread, ClientTurn, Decide, Target,
};
use codex_driver::goals::GoalOptions;
use codex_driver::login::LoginOutcome;
use codex_driver::methods::ServerNotification;
use codex_driver::testing::{
    AssistantMessage, CodexHome, CodexHomeBuilder, ExecCommand, ListeningAppServer, MockModel, MockResponse,
    ResponseStream, ServerAuth, StallHandle, Usage,
};
use codex_driver::types::AskForApproval;
use codex_driver::types::{
    CancelLoginAccountStatus, CommandExecutionApprovalDecision, CommandExecutionStatus, ThreadGoalStatus, ThreadItem,
    ThreadListParams, TurnStatus, UserInput,
};
use codex_driver::{ApprovalMode, ClientConfig, CloseReason, Error, ThreadOptions, TurnOptions};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ----- setup -------------------------------------------------------------------------------

/// How a scenario's client reaches the app-server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The client spawns `codex app-server` and talks over its stdin/stdout.
    Stdio,
    /// The client attaches to `codex app-server --listen ws://127.0.0.1:…` (capability
    /// token).
    WebSocket,
    /// The client attaches to `codex app-server --listen unix://` (the home's control
    /// socket).
    UnixSocket,
}

/// The mock model and an isolated home; clients of either API connect to it over its
/// [`Transport`].
pub struct Env {
    /// The listening app-server of an attached transport. Declared first: dropped (killed
    /// and reaped) before its home is deleted.
    server: Option<ListeningAppServer>,
    pub transport: Transport,
    pub model: MockModel,
    pub home: CodexHome,
}

impl Env {
    /// Default home, clients over `transport`.
    pub async fn on(transport: Transport) -> Env {
        Env::on_with(transport, |h| h).await
    }

    /// A customized home, clients over `transport`: for an attached one, an app-server
    /// listening in the home is started here and lives as long as the `Env`.
    pub async fn on_with(transport: Transport, home: impl FnOnce(CodexHomeBuilder) -> CodexHomeBuilder) -> Env {
        let model = MockModel::start().await.expect("mock model");
        let home = home(CodexHome::builder(&model.base_url())).build().expect("codex home");
        let listening = match transport {
            Transport::Stdio => None,
            Transport::WebSocket => {
                Some(within("listen (ws)", home.listen_websocket(&codex_bin(), ServerAuth::CapabilityToken)).await)
            }
            Transport::UnixSocket => Some(within("listen (unix)", home.listen_control_socket(&codex_bin())).await),
        };
        let server = listening.map(|started| {
            started
                .unwrap_or_else(|e| panic!("cannot start a listening app-server: {e}\nstderr:\n{}", home.stderr_text()))
        });
        Env { server, transport, model, home }
    }

    /// The spawn configuration of this home.
    pub fn config(&self) -> ClientConfig {
        self.home.client_config(&codex_bin())
    }

    /// Where clients of this `Env` connect.
    pub fn target(&self) -> Target {
        match (&self.server, self.transport) {
            (None, _) => Target::Spawn(self.config()),
            (Some(server), Transport::WebSocket) => Target::WebSocket(server.websocket_endpoint()),
            (Some(server), _) => Target::UnixSocket(server.unix_endpoint()),
        }
    }

    /// A connected client of API `C` (fail-closed approvals unless `on_command`).
    pub async fn connect<C: Client>(&self, on_command: Option<Decide>) -> C {
        match within("connect", C::connect(self.target(), on_command)).await {
            Ok(client) => client,
            Err(e) => panic!("cannot connect over {:?}: {e}\nstderr:\n{}", self.transport, self.home.stderr_text()),
        }
    }

    /// The pid of the app-server `codex` talks to: the spawned one, or the listening one
    /// (an attached client knows no pid).
    pub fn server_pid<C: Client>(&self, codex: &C) -> u32 {
        match &self.server {
            None => codex.pid().expect("a spawned app-server has a pid"),
            Some(server) => {
                assert_eq!(codex.pid(), None, "an attached client has no process");
                server.pid()
            }
        }
    }

    fn in_work_dir(&self) -> ThreadOptions {
        ThreadOptions::default().cwd(self.home.work_dir())
    }

    fn marker(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.home.work_dir().join(name)).ok()
    }
}

async fn new_thread<C: Client>(codex: &C, options: ThreadOptions) -> C::Thread {
    within("thread/start", codex.thread_start(options)).await.expect("thread/start")
}

async fn reached(stall: &StallHandle) {
    assert!(stall.wait_reached(WAIT).await, "the mock response never reached its pause point");
}

async fn listed<C: Client>(codex: &C, archived: Option<bool>) -> Vec<String> {
    let params = ThreadListParams { archived, ..Default::default() };
    let page = within("thread/list", codex.thread_list(params)).await.expect("thread/list");
    page.data.into_iter().map(|t| t.id).collect()
}

// ----- scenarios ---------------------------------------------------------------------------

/// `run` returns the final response, the items in order, the usage and the timing.
pub async fn run_returns_final_response_and_usage<C: Client>(transport: Transport) {
    let env = Env::on(transport).await;
    let usage = Usage {
        input_tokens: 120,
        cached_input_tokens: 20,
        output_tokens: 30,
        reasoning_output_tokens: 5,
        total_tokens: 150,
    };
    env.model.push(ResponseStream::new().text("The answer is 42").usage(usage).completed());
    env.model.push(ResponseStream::new().text("Second").usage(Usage::new(10, 5)).completed());
    let codex: C = env.connect(None).await;
    let thread = new_thread(&codex, ThreadOptions::default()).await;

    let result = within("run", thread.run("What is the answer?")).await.expect("run");
    assert_eq!(result.status, TurnStatus::Completed);
    assert_eq!(result.error, None);
    assert_eq!(result.final_response(), Some("The answer is 42"));
    let usage = result.usage.as_ref().expect("usage");
    assert_eq!(
        (usage.last.input_tokens, usage.last.cached_input_tokens, usage.last.output_tokens, usage.last.total_tokens),
        (120, 20, 30, 150)
    );
    match result.items.first() {
        Some(ThreadItem::UserMessage(user)) => match user.content.as_slice() {
            [UserInput::Text(text)] => assert_eq!(text.text, "What is the answer?"),
            other => panic!("unexpected user content {other:?}"),
        },
        other => panic!("first item is not the user message: {other:?}"),
    }
    assert!(matches!(result.items.last(), Some(ThreadItem::AgentMessage(_))), "{:?}", result.items);
    let (started, completed) = (result.started_at.expect("started_at"), result.completed_at.expect("completed_at"));
    assert!(started > 1_600_000_000 && completed >= started, "{started} .. {completed}");

    // Per-turn options, and the usage total accumulating over the thread.
    let options = TurnOptions::default().model("gpt-5.5");
    let second = within("run_with", thread.run_with("Again", options)).await.expect("run_with");
    assert_eq!(second.final_response(), Some("Second"));
    assert_ne!(second.id, result.id);
    assert_eq!(second.usage.expect("usage").total.total_tokens, 165);
    let requests = env.model.wait_for_requests(2, WAIT).await.expect("requests");
    assert_eq!(requests[1].model(), Some("gpt-5.5"));
    codex.close().await;
}

/// `stream()` yields every delta in order, then exactly one `turn/completed`, then ends.
pub async fn stream_yields_deltas_then_turn_completed<C: Client>(transport: Transport) {
    let env = Env::on(transport).await;
    let text = "Streaming works, one small piece at a time.";
    env.model.push(ResponseStream::new().message(AssistantMessage::new(text).deltas(7)).completed());
    let codex: C = env.connect(None).await;
    let thread = new_thread(&codex, ThreadOptions::default()).await;

    let turn = within("turn/start", thread.turn("stream it")).await.expect("turn/start");
    let (turn_id, thread_id) = (turn.id(), turn.thread_id());
    assert_eq!(thread_id, thread.id());
    let events: Vec<ServerNotification> = within("stream", turn.events())
        .await
        .into_iter()
        .map(|e| e.unwrap_or_else(|e| panic!("stream error {e}")))
        .collect();
    assert_eq!(deltas(&events).len(), 7, "{:?}", deltas(&events));
    assert_eq!(deltas(&events).concat(), text);
    match events.last() {
        Some(ServerNotification::TurnCompleted(done)) => {
            assert_eq!(done.turn.id, turn_id);
            assert_eq!(done.turn.status, TurnStatus::Completed);
        }
        other => panic!("the stream did not end with turn/completed: {other:?}"),
    }
    let completions = events.iter().filter(|e| matches!(e, ServerNotification::TurnCompleted(_))).count();
    assert_eq!(completions, 1);
    for event in &events {
        let params = event.params_json().expect("params");
        let turn = params.get("turnId").or_else(|| params.get("turn").and_then(|t| t.get("id")));
        assert_eq!(turn.and_then(|t| t.as_str()), Some(turn_id.as_str()), "{}", event.method());
    }
    codex.close().await;
}

/// `steer` adds input to the running turn; steering a finished turn is refused.
pub async fn steer_adds_input_to_the_running_turn<C: Client>(transport: Transport) {
    let env = Env::on(transport).await;
    let (first, stall) = ResponseStream::new().text("Working on it").stall();
    env.model.push(first);
    let codex: C = env.connect(None).await;
    let thread = new_thread(&codex, ThreadOptions::default()).await;
    let turn = within("turn/start", thread.turn("Write a poem")).await.expect("turn/start");
    reached(&stall).await;

    env.model.push(MockResponse::text("Un poème"));
    let control = turn.control();
    let steered = within("turn/steer", turn.steer("Actually, in French")).await.expect("steer");
    assert_eq!(steered, turn.id());
    let result = within("steered run", turn.run()).await.expect("run");
    assert_eq!(result.status, TurnStatus::Completed);
    assert_eq!(result.final_response(), Some("Un poème"));
    let requests = env.model.wait_for_requests(2, WAIT).await.expect("requests");
    let texts = requests[1].user_texts();
    assert!(texts.contains(&"Write a poem") && texts.contains(&"Actually, in French"), "{texts:?}");

    let late = within("late steer", control.steer("too late")).await.unwrap_err();
    let rpc = late.rpc_error().unwrap_or_else(|| panic!("expected an RPC error, got {late:?}"));
    assert!(rpc.code.is_invalid_request(), "{rpc:?}");
    stall.release();
    codex.close().await;
}

/// `interrupt` (from elsewhere, while `run` waits) ends the turn as interrupted; the thread
/// takes a follow-up turn.
pub async fn interrupt_then_a_follow_up_turn<C: Client>(transport: Transport) {
    let env = Env::on(transport).await;
    let (first, stall) = ResponseStream::new().text("Partial thoughts").stall();
    env.model.push(first);
    let codex: C = env.connect(None).await;
    let thread = new_thread(&codex, ThreadOptions::default()).await;
    let turn = within("turn/start", thread.turn("Take your time")).await.expect("turn/start");
    let control = turn.control();
    let interrupt = async {
        reached(&stall).await;
        control.interrupt().await
    };
    let (result, interrupted) = within("interrupted run", async { tokio::join!(turn.run(), interrupt) }).await;
    interrupted.expect("turn/interrupt");
    let result = result.expect("an interrupted turn is Ok");
    assert_eq!(result.status, TurnStatus::Interrupted);
    assert_eq!(result.id, control.turn_id());

    env.model.push(MockResponse::text("Fresh start"));
    let next = within("follow-up run", thread.run("Now quickly")).await.expect("follow-up");
    assert_eq!(next.final_response(), Some("Fresh start"));
    let read = within("thread/read", thread.read(true)).await.expect("read");
    let statuses: Vec<_> = read.turns.iter().map(|t| t.status.clone()).collect();
    assert_eq!(statuses, [TurnStatus::Interrupted, TurnStatus::Completed]);
    stall.release();
    codex.close().await;
}

/// A failed turn is `Error::TurnFailed` carrying the turn's error; the thread stays usable.
pub async fn failed_turn_is_an_error<C: Client>(transport: Transport) {
    let env = Env::on(transport).await;
    env.model.push(MockResponse::failed("the mock model melted"));
    env.model.push(MockResponse::text("recovered"));
    let codex: C = env.connect(None).await;
    let thread = new_thread(&codex, ThreadOptions::default()).await;

    let err = within("failing turn", thread.run("fail please")).await.unwrap_err();
    let Error::TurnFailed(result) = &err else { panic!("expected TurnFailed, got {err:?}") };
    assert_eq!(result.status, TurnStatus::Failed);
    let message = &result.error.as_ref().expect("the turn's error").message;
    assert!(message.contains("the mock model melted"), "{message}");
    assert!(err.to_string().contains("the mock model melted"), "{err}");

    let ok = within("turn after failure", thread.run("again")).await.expect("run");
    assert_eq!(ok.final_response(), Some("recovered"));
    codex.close().await;
}

/// `set_name`, `read` (with and without turns), `thread_fork`, `thread_archive`,
/// `thread_unarchive` and `thread_list`.
pub async fn thread_lifecycle<C: Client>(transport: Transport) {
    let env = Env::on(transport).await;
    env.model.push_all([MockResponse::text("first answer"), MockResponse::text("fork answer")]);
    let codex: C = env.connect(None).await;
    let thread = new_thread(&codex, env.in_work_dir()).await;
    let id = thread.id();
    assert_eq!(thread.info().map(|t| t.id), Some(id.clone()));

    within("set_name", thread.set_name("Lifecycle thread")).await.expect("set_name");
    let result = within("run", thread.run("first question")).await.expect("run");
    let read = within("read", thread.read(false)).await.expect("read");
    assert_eq!(read.name.as_deref(), Some("Lifecycle thread"));
    assert!(read.turns.is_empty(), "no turns without include_turns");
    let read = within("read", thread.read(true)).await.expect("read");
    let turn_ids: Vec<&str> = read.turns.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(turn_ids, [result.id.as_str()]);

    let fork = within("fork", codex.thread_fork(&id, env.in_work_dir())).await.expect("fork");
    assert_ne!(fork.id(), id);
    assert_eq!(fork.info().and_then(|t| t.forked_from_id), Some(id.clone()));
    let forked = within("fork run", fork.run("fork question")).await.expect("fork run");
    assert_eq!(forked.final_response(), Some("fork answer"));
    let requests = env.model.wait_for_requests(2, WAIT).await.expect("requests");
    assert!(requests[1].input_texts().contains(&"first question"), "the fork carries the history");

    assert!(listed(&codex, None).await.contains(&id));
    within("archive", codex.thread_archive(&id)).await.expect("archive");
    assert!(!listed(&codex, None).await.contains(&id), "archived threads are hidden");
    assert!(listed(&codex, Some(true)).await.contains(&id));
    let restored = within("unarchive", codex.thread_unarchive(&id)).await.expect("unarchive");
    assert_eq!(restored.id(), id);
    assert!(listed(&codex, None).await.contains(&id));
    codex.close().await;
}

/// An escalated command is put to the client's approval decision; accepted, it runs.
pub async fn accepted_command_approval_runs<C: Client>(transport: Transport) {
    let env = Env::on_with(transport, |h| h.approval_policy(AskForApproval::OnRequest)).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();
    let decide: Decide = Arc::new(move |params| {
        recorder.lock().unwrap().push(params);
        CommandExecutionApprovalDecision::Accept
    });
    env.model.push(MockResponse::exec_command(
        ExecCommand::new("call_accept", "echo accepted > accepted.txt").escalated("needs to write a marker"),
    ));
    env.model.push(MockResponse::text("ran it"));
    let codex: C = env.connect(Some(decide)).await;
    let thread = new_thread(&codex, env.in_work_dir()).await;

    let result = within("run", thread.run("write the marker")).await.expect("run");
    assert_eq!(result.final_response(), Some("ran it"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert!(seen[0].command.as_deref().is_some_and(|c| c.contains("echo accepted")), "{seen:#?}");
    assert_eq!((seen[0].thread_id.as_str(), seen[0].turn_id.as_str()), (thread.id().as_str(), result.id.as_str()));
    let commands = commands(&result);
    assert_eq!(commands.len(), 1, "{:#?}", result.items);
    assert_eq!(commands[0].status, CommandExecutionStatus::Completed);
    assert_eq!(env.marker("accepted.txt").as_deref(), Some("accepted\n"));
    codex.close().await;
}

/// Without a handler, an approval is declined: the command never runs, the turn goes on.
pub async fn approvals_fail_closed_without_a_handler<C: Client>(transport: Transport) {
    let env = Env::on(transport).await;
    env.model.push(MockResponse::exec_command(
        ExecCommand::new("call_cmd", "echo nope > failclosed.txt").escalated("needs to write a marker"),
    ));
    env.model.push(MockResponse::text("nothing ran"));
    let codex: C = env.connect(None).await;
    let options = env.in_work_dir().approval_mode(ApprovalMode::AskUser);
    let thread = new_thread(&codex, options).await;

    let result = within("run", thread.run("try it")).await.expect("run");
    assert_eq!(result.status, TurnStatus::Completed);
    assert_eq!(result.final_response(), Some("nothing ran"));
    let commands = commands(&result);
    assert_eq!(commands.len(), 1, "{:#?}", result.items);
    assert_eq!(commands[0].status, CommandExecutionStatus::Declined);
    assert_eq!(env.marker("failclosed.txt"), None, "the command did not run");
    codex.close().await;
}

/// The app-server killed mid-turn: the running `run` and `stream()` end with
/// `TransportClosed` promptly, and every later call fails fast with it, all telling the
/// same honest reason (see [`assert_killed`]).
pub async fn killed_app_server_is_transport_closed<C: Client>(transport: Transport) {
    let env = Env::on(transport).await;
    let (run_response, run_stall) = MockResponse::stall();
    let (stream_response, stream_stall) = ResponseStream::new().text("half").stall();
    let codex: C = env.connect(None).await;
    let run_thread = new_thread(&codex, ThreadOptions::default()).await;
    let stream_thread = new_thread(&codex, ThreadOptions::default()).await;
    env.model.push(run_response);
    let run_turn = within("turn/start (run)", run_thread.turn("run me")).await.expect("turn/start");
    reached(&run_stall).await;
    env.model.push(stream_response);
    let stream_turn = within("turn/start (stream)", stream_thread.turn("stream me")).await.expect("turn/start");
    reached(&stream_stall).await;

    let pid = env.server_pid(&codex);
    let (run_result, events) = within("turns after the kill", async {
        tokio::join!(run_turn.run(), async {
            kill_9(pid);
            stream_turn.events().await
        })
    })
    .await;
    let reason = match &run_result {
        Err(e) => assert_killed(transport, "run()", e),
        Ok(result) => panic!("run(): expected TransportClosed, got {result:?}"),
    };
    match events.last() {
        Some(Err(e)) => assert_eq!(assert_killed(transport, "stream()", e), reason),
        other => panic!("stream(): expected TransportClosed last, got {other:?} in {events:?}"),
    }
    assert_eq!(events.iter().filter(|e| e.is_err()).count(), 1, "{events:?}");

    assert_closed_as("thread.run", within("run after kill", run_thread.run("anyone?")).await, &reason);
    assert_closed_as("thread.read", within("read after kill", stream_thread.read(false)).await, &reason);
    assert_closed_as("models", within("models after kill", codex.models(false)).await, &reason);
    assert_closed_as(
        "thread_start",
        within("thread_start after kill", codex.thread_start(ThreadOptions::default())).await,
        &reason,
    );
    run_stall.release();
    stream_stall.release();
}

/// Asserts `error` tells honestly how the app-server behind `transport` went after a
/// SIGKILL, and returns the reason. Over stdio: the process exited by signal 9. Attached,
/// the client sees no process, only its connection ending without a goodbye (a killed
/// server sends no close frame): the end of the stream (what comes here: the client has
/// nothing in flight), or a reset when the server died with input it had not read yet
/// (the kernel then resets a TCP or unix stream instead of ending it).
fn assert_killed(transport: Transport, what: &str, error: &Error) -> CloseReason {
    let Some(reason) = error.close_reason() else { panic!("{what}: expected TransportClosed, got {error:?}") };
    match (transport, reason) {
        (Transport::Stdio, CloseReason::ProcessExited { status: Some(status), .. }) => {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(9), "{what}: {status:?}");
        }
        (
            Transport::WebSocket | Transport::UnixSocket,
            CloseReason::EndOfStream | CloseReason::Io { kind: std::io::ErrorKind::ConnectionReset, .. },
        ) => {}
        (transport, other) => panic!("{what}: not how a killed app-server over {transport:?} closes: {other:?}"),
    }
    reason.clone()
}

/// Asserts `result` is `Error::TransportClosed` with `reason`.
fn assert_closed_as<T: std::fmt::Debug>(what: &str, result: codex_driver::Result<T>, reason: &CloseReason) {
    match result {
        Err(e) if e.close_reason() == Some(reason) => {}
        other => panic!("{what}: expected TransportClosed ({reason:?}), got {other:?}"),
    }
}

/// `run_typed` parses a final answer that fits the type, and reports one that does not as
/// `Error::OutputMismatch` with the raw text.
pub async fn typed_output_parses_or_reports_a_mismatch<C: Client>(transport: Transport) {
    #[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
    struct Issue {
        file: String,
        line: u32,
    }
    let env = Env::on(transport).await;
    env.model
        .push_all([MockResponse::text(r#"{"file":"src/lib.rs","line":7}"#), MockResponse::text("Looks good to me!")]);
    let codex: C = env.connect(None).await;
    let thread = new_thread(&codex, ThreadOptions::default()).await;

    let typed = within("run_typed", thread.run_typed::<Issue>("Find one issue")).await.expect("typed turn");
    assert_eq!(typed.output, Issue { file: "src/lib.rs".into(), line: 7 });
    assert_eq!(typed.turn.status, TurnStatus::Completed);
    let request = &env.model.wait_for_requests(1, WAIT).await.expect("request")[0];
    assert_eq!(request.json().expect("json")["text"]["format"]["strict"], true);

    match within("prose", thread.run_typed::<Issue>("Again")).await {
        Err(Error::OutputMismatch(m)) => assert_eq!(m.raw.as_deref(), Some("Looks good to me!")),
        other => panic!("expected OutputMismatch, got {other:?}"),
    }
    codex.close().await;
}

fn goal_text(text: &str) -> MockResponse {
    ResponseStream::new().text(text).usage(Usage::new(10, 10)).completed()
}

fn update_goal(call_id: &str, status: &str) -> MockResponse {
    ResponseStream::new()
        .function_call(call_id, "update_goal", json!({"status": status}).to_string())
        .usage(Usage::new(5, 5))
        .completed()
}

/// `run_goal_with` follows the server's turns until the goal completes; an interrupted goal
/// settles still `active`, and `resume_goal` + `stream()` follow it to completion.
pub async fn goal_runs_interrupts_and_resumes<C: Client>(transport: Transport) {
    let env = Env::on(transport).await;
    let codex: C = env.connect(None).await;

    let thread = new_thread(&codex, ThreadOptions::default()).await;
    env.model.push_all([goal_text("Drafted."), update_goal("call-done", "complete"), goal_text("Done.")]);
    let result =
        within("run_goal", thread.run_goal_with("Write a haiku", GoalOptions::default())).await.expect("run_goal");
    assert_eq!(result.turns.len(), 2, "{result:#?}");
    assert!(result.is_complete(), "{:?}", result.status());
    assert_eq!(result.final_response(), Some("Done."));
    let stored = within("goal", thread.goal()).await.expect("goal").expect("a goal");
    assert_eq!(stored.status, ThreadGoalStatus::Complete);

    let thread = new_thread(&codex, ThreadOptions::default()).await;
    let (stalled, stall) = ResponseStream::new().text("partial").stall();
    env.model.push(stalled);
    let goal = within("start_goal", thread.start_goal("Long task")).await.expect("start_goal");
    assert_eq!(goal.objective(), "Long task");
    let control = goal.control();
    let interrupt = async {
        reached(&stall).await;
        while control.current_turn_id().is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        control.interrupt().await
    };
    let (result, interrupted) = within("interrupted goal", async { tokio::join!(goal.run(), interrupt) }).await;
    interrupted.expect("interrupt");
    let result = result.expect("goal run");
    assert_eq!(result.turns.iter().map(|t| t.status.clone()).collect::<Vec<_>>(), [TurnStatus::Interrupted]);
    assert_eq!(result.status(), Some(&ThreadGoalStatus::Active));

    env.model.push_all([update_goal("c-resume", "complete"), goal_text("finished after resume")]);
    let resumed = within("resume_goal", thread.resume_goal()).await.expect("resume_goal");
    let events: Vec<ServerNotification> = within("goal stream", resumed.events())
        .await
        .into_iter()
        .map(|e| e.unwrap_or_else(|e| panic!("goal stream error {e}")))
        .collect();
    let completed = events.iter().filter(|e| matches!(e, ServerNotification::TurnCompleted(_))).count();
    assert_eq!(completed, 1, "{:?}", events.iter().map(|e| e.method()).collect::<Vec<_>>());
    assert!(events
        .iter()
        .any(|e| matches!(e, ServerNotification::ThreadGoalUpdated(u) if u.goal.status == ThreadGoalStatus::Complete)));
    let stored = within("goal", thread.goal()).await.expect("goal").expect("a goal");
    assert_eq!(stored.status, ThreadGoalStatus::Complete);
    stall.release();
    codex.close().await;
}

/// A device-code sign-in against a mock issuer: approved after one pending poll, it
/// succeeds; cancelled while polling, a concurrent `wait` sees the cancellation.
pub async fn device_code_login_succeeds_or_is_cancelled<C: Client>(transport: Transport) {
    let polls = Arc::new(AtomicUsize::new(0));
    let issuer = Issuer::start(vec![usercode_route(), device_token_route(Some(1), polls.clone()), token_route()]).await;
    let url = issuer.url.clone();
    let env = Env::on_with(transport, |h| h.env_var("CODEX_APP_SERVER_LOGIN_ISSUER", url)).await;
    let codex: C = env.connect(None).await;
    let login = within("device login", codex.login_chatgpt_device_code()).await.expect("device code");
    assert_eq!(login.user_code(), "WXYZ-2345");
    assert_eq!(login.verification_url(), format!("{}/codex/device", issuer.url));
    assert_eq!(within("wait", login.wait()).await.expect("wait"), LoginOutcome::Succeeded);
    assert!(polls.load(Ordering::SeqCst) >= 2, "pending once, then approved");
    assert!(env.home.codex_home().join("auth.json").exists());
    codex.close().await;
    drop((codex, env));

    let polls = Arc::new(AtomicUsize::new(0));
    let issuer = Issuer::start(vec![usercode_route(), device_token_route(None, polls.clone())]).await;
    let url = issuer.url.clone();
    let env = Env::on_with(transport, |h| h.env_var("CODEX_APP_SERVER_LOGIN_ISSUER", url)).await;
    let codex: C = env.connect(None).await;
    let login = within("device login", codex.login_chatgpt_device_code()).await.expect("device code");
    let cancel = async {
        while polls.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        login.cancel().await
    };
    let (outcome, status) = within("wait and cancel", async { tokio::join!(login.wait(), cancel) }).await;
    assert_eq!(status.expect("cancel"), CancelLoginAccountStatus::Canceled);
    let outcome = outcome.expect("wait");
    assert!(matches!(&outcome, LoginOutcome::Cancelled { .. }), "{outcome:?}");
    assert!(!env.home.codex_home().join("auth.json").exists());
    codex.close().await;
}
