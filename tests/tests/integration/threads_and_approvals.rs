//! Thread management, models/metadata, compaction, approvals and API-key login through the
//! SDK's public API, against the real pinned `codex app-server` and the scripted mock model.

use crate::common;
use std::path::Path;
use std::sync::{Arc, Mutex};

use codex_driver::methods::{ServerNotification, ServerRequestHandler};
use codex_driver::testing::{ExecCommand, MockResponse, RecordedRequest};
use codex_driver::types::{
    Account, ApprovalsReviewer, AskForApproval, CommandExecutionApprovalDecision,
    CommandExecutionRequestApprovalParams, CommandExecutionRequestApprovalResponse, CommandExecutionStatus,
    FileChangeApprovalDecision, FileChangeRequestApprovalParams, FileChangeThreadItem, PatchApplyStatus, ThreadItem,
    ThreadListParams, TurnStatus,
};
use codex_driver::ApprovalHandler;
use codex_driver::{ApprovalMode, Codex, Error, ErrorCode, RpcError, Thread, ThreadOptions, TurnResult};
use common::{agent_texts, commands, user_texts, within, World, WAIT};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Thread options rooted in the world's scratch working directory.
fn in_work_dir(world: &World) -> ThreadOptions {
    ThreadOptions::default().cwd(world.home.work_dir())
}

async fn start_thread(codex: &Codex, options: ThreadOptions) -> Thread {
    within("thread/start", codex.thread_start(&options)).await.expect("thread/start")
}

async fn run(thread: &Thread, input: &str) -> TurnResult {
    within("turn run", thread.run(input)).await.unwrap_or_else(|e| panic!("turn {input:?} failed: {e}"))
}

/// The ids of the threads `thread/list` returns with `archived`.
async fn listed_ids(codex: &Codex, archived: Option<bool>) -> Vec<String> {
    let params = ThreadListParams { archived, ..Default::default() };
    let page = within("thread/list", codex.thread_list(&params)).await.expect("thread/list");
    page.data.into_iter().map(|t| t.id).collect()
}

/// The `n` first model requests (waits for them).
async fn model_requests(world: &World, n: usize) -> Vec<RecordedRequest> {
    world.model.wait_for_requests(n, WAIT).await.unwrap_or_else(|e| panic!("{n} model requests: {e}"))
}

fn file_changes(result: &TurnResult) -> Vec<&FileChangeThreadItem> {
    result
        .items
        .iter()
        .filter_map(|item| match item {
            ThreadItem::FileChange(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// A world whose threads ask the client before escalating, answered by `handler`.
async fn approval_world(handler: impl ServerRequestHandler) -> World {
    World::start_with(|h| h.approval_policy(AskForApproval::OnRequest), |b| b.handler(handler)).await
}

/// Scripts one escalated `exec_command` call, then (if given) the model's answer after it.
fn script_command(world: &World, call_id: &str, cmd: &str, then: Option<&str>) {
    world.model.push(MockResponse::exec_command(ExecCommand::new(call_id, cmd).escalated("needs to write a marker")));
    if let Some(text) = then {
        world.model.push(MockResponse::text(text));
    }
}

/// Records what a closure handler was asked.
#[derive(Clone)]
struct Seen<T>(Arc<Mutex<Vec<T>>>);

impl<T: Clone> Seen<T> {
    fn new() -> Self {
        Seen(Arc::default())
    }
    fn push(&self, value: T) {
        self.0.lock().unwrap().push(value);
    }
    fn all(&self) -> Vec<T> {
        self.0.lock().unwrap().clone()
    }
}

/// An [`ApprovalHandler`] answering every command approval with `decision`, recording the
/// requests in `seen`.
fn command_handler(
    decision: CommandExecutionApprovalDecision,
    seen: &Seen<CommandExecutionRequestApprovalParams>,
) -> ApprovalHandler {
    let seen = seen.clone();
    ApprovalHandler::new().on_command_execution(move |params| {
        seen.push(params);
        let decision = decision.clone();
        async move { decision }
    })
}

/// Checks the one recorded command approval: the command, the reason, and the ids.
fn assert_one_command_approval(
    seen: &Seen<CommandExecutionRequestApprovalParams>,
    thread: &Thread,
    turn_id: &str,
    call_id: &str,
    cmd: &str,
) {
    let seen = seen.all();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    let request = &seen[0];
    assert!(request.command.as_deref().is_some_and(|c| c.contains(cmd)), "{request:#?}");
    assert_eq!(request.reason.as_deref(), Some("needs to write a marker"));
    assert_eq!((request.thread_id.as_str(), request.turn_id.as_str()), (thread.id(), turn_id));
    assert_eq!(request.item_id, call_id);
}

fn marker(world: &World, name: &str) -> Option<String> {
    std::fs::read_to_string(world.home.work_dir().join(name)).ok()
}

// ---------------------------------------------------------------------------------------
// 1. Thread lifecycle
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn set_name_and_read_with_turns() {
    let world = World::start().await;
    world.model.push(MockResponse::text("first answer"));
    let thread = start_thread(&world.codex, in_work_dir(&world)).await;
    assert_eq!(thread.info().map(|t| t.id.as_str()), Some(thread.id()));

    within("set_name", thread.set_name("Lifecycle thread")).await.expect("set_name");
    let read = within("read", thread.read()).await.expect("read");
    assert_eq!(read.id, thread.id());
    assert_eq!(read.name.as_deref(), Some("Lifecycle thread"));

    let result = run(&thread, "first question").await;
    assert_eq!(result.final_response(), Some("first answer"));
    let read = within("read", thread.read()).await.expect("read");
    assert!(read.turns.is_empty(), "no turns without include_turns: {:?}", read.turns);

    let read = within("read", thread.read_with_turns()).await.expect("read with turns");
    assert_eq!(read.name.as_deref(), Some("Lifecycle thread"));
    assert_eq!(read.turns.len(), 1, "{:#?}", read.turns);
    let turn = &read.turns[0];
    assert_eq!(turn.id, result.id);
    assert_eq!(turn.status, TurnStatus::Completed);
    assert_eq!(user_texts(&turn.items), ["first question"]);
    assert_eq!(agent_texts(&turn.items), ["first answer"]);
    assert_eq!(read.preview, "first question");
}

#[tokio::test]
async fn list_archive_and_unarchive_round_trip() {
    let world = World::start().await;
    world.model.push(MockResponse::text("stored"));
    let thread = start_thread(&world.codex, in_work_dir(&world)).await;
    let id = thread.id().to_owned();
    // A thread is only persisted (and listed) once it has a turn.
    assert!(!listed_ids(&world.codex, None).await.contains(&id), "not listed before its first turn");
    run(&thread, "keep me").await;

    assert!(listed_ids(&world.codex, None).await.contains(&id), "listed by default");
    assert!(!listed_ids(&world.codex, Some(true)).await.contains(&id), "not archived yet");

    within("archive", world.codex.thread_archive(&id)).await.expect("archive");
    assert!(!listed_ids(&world.codex, None).await.contains(&id), "archived threads are hidden by default");
    assert!(!listed_ids(&world.codex, Some(false)).await.contains(&id), "archived: false hides them too");
    assert!(listed_ids(&world.codex, Some(true)).await.contains(&id), "listed with archived: true");

    let restored = within("unarchive", world.codex.thread_unarchive(&id)).await.expect("unarchive");
    assert_eq!(restored.id(), id);
    assert!(listed_ids(&world.codex, None).await.contains(&id), "listed again after unarchive");
    assert!(!listed_ids(&world.codex, Some(true)).await.contains(&id), "no longer archived");
}

#[tokio::test]
async fn fork_gives_a_distinct_thread_with_the_history() {
    let world = World::start().await;
    world.model.push_all([MockResponse::text("original answer"), MockResponse::text("fork answer")]);
    let thread = start_thread(&world.codex, in_work_dir(&world)).await;
    run(&thread, "original question").await;

    let fork = within("fork", world.codex.thread_fork(thread.id(), &in_work_dir(&world))).await.expect("fork");
    assert_ne!(fork.id(), thread.id());
    let info = fork.info().expect("fork returns the thread");
    assert_eq!(info.forked_from_id.as_deref(), Some(thread.id()));

    // The fork carries the original's history into its first model request.
    let result = run(&fork, "fork question").await;
    assert_eq!(result.final_response(), Some("fork answer"));
    let requests = model_requests(&world, 2).await;
    let texts = requests[1].input_texts();
    assert!(texts.contains(&"original question") && texts.contains(&"original answer"), "{texts:?}");
    assert_eq!(requests[1].last_user_text(), Some("fork question"));
    assert_eq!(requests[1].header("thread-id"), Some(fork.id()));

    // The original is untouched by the fork's turn.
    let original = within("read", thread.read_with_turns()).await.expect("read original");
    assert_eq!(original.turns.len(), 1);
}

#[tokio::test]
async fn resume_in_a_second_process_continues_the_thread() {
    let world = World::start().await;
    world.model.push_all([MockResponse::text("noted: pineapple"), MockResponse::text("it was pineapple")]);
    let thread = start_thread(&world.codex, in_work_dir(&world)).await;
    run(&thread, "remember the word pineapple").await;
    let id = thread.id().to_owned();

    let second = world.second_client().await;
    assert_ne!(second.connection().pid(), world.codex.connection().pid(), "a distinct app-server process");
    // While the first process holds the thread, the second cannot take it over.
    match within("resume", second.thread_resume(&id, &in_work_dir(&world))).await {
        Err(Error::Rpc(e)) => {
            assert_eq!(e.code, ErrorCode::INVALID_REQUEST, "{e:?}");
            assert!(e.message.contains("active writer"), "{e:?}");
        }
        other => panic!("resume of a thread held by another process: {other:?}"),
    }
    world.codex.close().await;

    let resumed = within("resume", second.thread_resume(&id, &in_work_dir(&world))).await.expect("resume");
    assert_eq!(resumed.id(), id);
    let info = resumed.info().expect("resume returns the thread");
    assert_eq!(info.turns.len(), 1, "resume returns the stored turns");
    assert_eq!(user_texts(&info.turns[0].items), ["remember the word pineapple"]);

    let result = run(&resumed, "which word?").await;
    assert_eq!(result.final_response(), Some("it was pineapple"));
    let requests = model_requests(&world, 2).await;
    let texts = requests[1].input_texts();
    assert!(
        texts.contains(&"remember the word pineapple") && texts.contains(&"noted: pineapple"),
        "the resumed turn's request carries the earlier history: {texts:?}"
    );
    assert_eq!(requests[1].last_user_text(), Some("which word?"));
    assert_eq!(requests[1].header("thread-id"), Some(id.as_str()));

    // Both turns are now stored under the thread.
    let read = within("read", resumed.read_with_turns()).await.expect("read");
    assert_eq!(read.turns.len(), 2);
    second.close().await;
}

// ---------------------------------------------------------------------------------------
// 2. Models and metadata
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn models_and_metadata() {
    let world = World::start().await;
    let meta = world.codex.metadata();
    let version = common::codex_version();
    assert_eq!(meta.server_version.as_deref(), Some(version.as_str()));
    assert_eq!(meta.codex_version.map(|v| v.to_string()), Some(version.clone()));
    assert_eq!(meta.platform_family.as_deref(), Some(if cfg!(unix) { "unix" } else { "windows" }));
    assert_eq!(meta.platform_os.as_deref(), Some(std::env::consts::OS));
    assert_eq!(meta.codex_home.as_deref(), Some(world.home.codex_home()));
    assert!(meta.user_agent.as_deref().is_some_and(|ua| ua.contains(&format!("/{version}"))), "{meta:?}");

    // Offline, the list is the binary's bundled catalogue (the mock provider has no /models).
    let visible = within("models", world.codex.models()).await.expect("models").data;
    assert!(!visible.is_empty());
    assert!(visible.iter().all(|m| !m.hidden), "include_hidden = false lists no hidden model");
    assert_eq!(visible.iter().filter(|m| m.is_default).count(), 1, "exactly one default model");
    assert!(visible.iter().any(|m| m.id == "gpt-5.5"), "{:?}", visible.iter().map(|m| &m.id).collect::<Vec<_>>());
    assert!(visible.iter().all(|m| !m.id.is_empty() && !m.display_name.is_empty()));

    let all = within("models", world.codex.models_including_hidden()).await.expect("models incl. hidden").data;
    assert!(all.len() > visible.len(), "hidden models appear with include_hidden");
    assert!(all.iter().any(|m| m.hidden));
    assert!(visible.iter().all(|v| all.iter().any(|m| m.id == v.id)));
    assert_eq!(world.model.request_count(), 0, "listing models never calls the model");
}

// ---------------------------------------------------------------------------------------
// 3. Compaction
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn compact_asks_the_model_for_a_summary() {
    let world = World::start().await;
    world.model.push_all([
        MockResponse::text("first answer"),
        MockResponse::text("SUMMARY: the user said hello"),
        MockResponse::text("after compaction"),
    ]);
    let thread = start_thread(&world.codex, in_work_dir(&world)).await;
    run(&thread, "hello there").await;

    // The compaction is a turn of its own, with a handle: its stream carries the
    // contextCompaction item, its result says how it ended.
    let handle = within("compact", thread.compact()).await.expect("compact");
    assert!(handle.interrupts_on_drop(), "this client's compaction");
    let mut events = handle.stream();
    let mut compaction_items = 0;
    while let Some(event) = within("compaction event", events.next_event()).await {
        if let ServerNotification::ItemCompleted(done) = event.expect("event") {
            compaction_items += usize::from(matches!(done.item, ThreadItem::ContextCompaction(_)));
        }
    }
    let compacted = within("compaction result", events.result()).await.expect("result");
    assert_eq!(compacted.status, TurnStatus::Completed);
    assert_eq!(compaction_items, 1);
    assert!(compacted.items.iter().any(|i| matches!(i, ThreadItem::ContextCompaction(_))), "{:#?}", compacted.items);

    let requests = model_requests(&world, 2).await;
    let compaction = &requests[1];
    let texts = compaction.input_texts();
    assert!(texts.contains(&"hello there") && texts.contains(&"first answer"), "history is sent: {texts:?}");
    assert!(
        compaction.last_user_text().is_some_and(|t| t.contains("CONTEXT CHECKPOINT COMPACTION")),
        "{:?}",
        compaction.last_user_text()
    );
    assert!(compaction.tool_names().is_empty(), "a compaction request offers no tools");

    // Later turns start from the summary.
    run(&thread, "go on").await;
    let requests = model_requests(&world, 3).await;
    assert!(requests[2].body_contains("SUMMARY: the user said hello"), "the summary replaces the history");
    assert_eq!(requests[2].last_user_text(), Some("go on"));

    let read = within("read", thread.read_with_turns()).await.expect("read");
    let kinds: Vec<Vec<&str>> = read.turns.iter().map(|t| t.items.iter().map(ThreadItem::kind).collect()).collect();
    assert!(kinds.iter().any(|k| k.as_slice() == ["contextCompaction"]), "{kinds:?}");
}

// ---------------------------------------------------------------------------------------
// 4. Approvals through the typed handlers
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn accepted_command_runs() {
    let seen = Seen::new();
    let world = approval_world(command_handler(CommandExecutionApprovalDecision::Accept, &seen)).await;
    script_command(&world, "call_accept", "echo accepted > accepted.txt", Some("ran it"));
    let thread = start_thread(&world.codex, in_work_dir(&world)).await;

    let result = run(&thread, "write the marker").await;
    assert_eq!(result.status, TurnStatus::Completed);
    assert_eq!(result.final_response(), Some("ran it"));
    assert_one_command_approval(&seen, &thread, &result.id, "call_accept", "echo accepted > accepted.txt");

    let commands = commands(&result);
    assert_eq!(commands.len(), 1, "{:#?}", result.items);
    assert_eq!(commands[0].id, "call_accept");
    assert_eq!(commands[0].status, CommandExecutionStatus::Completed);
    assert_eq!(commands[0].exit_code, Some(0));
    assert_eq!(marker(&world, "accepted.txt").as_deref(), Some("accepted\n"));

    let requests = model_requests(&world, 2).await;
    let output = requests[1].function_call_output("call_accept").expect("the command's output goes back");
    assert!(output.to_string().contains("exited with code 0"), "{output}");
}

#[tokio::test]
async fn declined_command_does_not_run_and_the_turn_goes_on() {
    let seen = Seen::new();
    let world = approval_world(command_handler(CommandExecutionApprovalDecision::Decline, &seen)).await;
    script_command(&world, "call_decline", "echo declined > declined.txt", Some("ok, not running it"));
    let thread = start_thread(&world.codex, in_work_dir(&world)).await;

    let result = run(&thread, "write the marker").await;
    assert_eq!(result.status, TurnStatus::Completed);
    assert_eq!(result.final_response(), Some("ok, not running it"));
    assert_one_command_approval(&seen, &thread, &result.id, "call_decline", "echo declined > declined.txt");

    let commands = commands(&result);
    assert_eq!(commands.len(), 1, "{:#?}", result.items);
    assert_eq!(commands[0].status, CommandExecutionStatus::Declined);
    assert_eq!(marker(&world, "declined.txt"), None, "a declined command never runs");
    // The model is told, and answers in a second request.
    let requests = model_requests(&world, 2).await;
    assert!(requests[1].function_call_output("call_decline").is_some());
}

#[tokio::test]
async fn cancelled_command_interrupts_the_turn() {
    let seen = Seen::new();
    let world = approval_world(command_handler(CommandExecutionApprovalDecision::Cancel, &seen)).await;
    script_command(&world, "call_cancel", "echo cancelled > cancelled.txt", None);
    let thread = start_thread(&world.codex, in_work_dir(&world)).await;

    let result = run(&thread, "write the marker").await;
    assert_eq!(result.status, TurnStatus::Interrupted);
    assert_one_command_approval(&seen, &thread, &result.id, "call_cancel", "echo cancelled > cancelled.txt");
    assert_eq!(marker(&world, "cancelled.txt"), None, "a cancelled command never runs");
    assert_eq!(world.model.request_count(), 1, "no follow-up model request after cancel");
    assert_eq!(world.model.unscripted_requests(), 0);

    // The thread stays usable.
    world.model.push(MockResponse::text("still here"));
    assert_eq!(run(&thread, "are you there?").await.final_response(), Some("still here"));
}

#[tokio::test]
async fn accepted_file_change_applies_the_patch() {
    let seen: Seen<FileChangeRequestApprovalParams> = Seen::new();
    let recorder = seen.clone();
    let handler = ApprovalHandler::new().on_file_change(move |params| {
        recorder.push(params);
        async { FileChangeApprovalDecision::Accept }
    });
    let world = approval_world(handler).await;
    world.model.push_all([
        MockResponse::apply_patch("call_patch", "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch\n"),
        MockResponse::text("patched"),
    ]);
    // `apply_patch` is offered to bundled models only.
    let thread = start_thread(&world.codex, in_work_dir(&world).model("gpt-5.5")).await;

    let result = run(&thread, "add hello.txt").await;
    assert_eq!(result.status, TurnStatus::Completed);
    assert_eq!(result.final_response(), Some("patched"));
    let seen = seen.all();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert_eq!((seen[0].thread_id.as_str(), seen[0].turn_id.as_str()), (thread.id(), result.id.as_str()));
    assert_eq!(seen[0].item_id, "call_patch");

    let changes = file_changes(&result);
    assert_eq!(changes.len(), 1, "{:#?}", result.items);
    assert_eq!(changes[0].status, PatchApplyStatus::Completed);
    assert!(changes[0].changes.iter().any(|c| Path::new(&c.path).ends_with("hello.txt")), "{:?}", changes[0].changes);
    assert_eq!(marker(&world, "hello.txt").as_deref(), Some("hi\n"));
    let requests = model_requests(&world, 2).await;
    assert_eq!(requests[0].model(), Some("gpt-5.5"));
    assert!(requests[1].custom_tool_call_output("call_patch").is_some());
}

/// A hand-written implementation of the generated trait: an allow-list by command text.
/// File-change approvals keep the trait's fail-closed default.
struct AllowListHandler {
    asked: Seen<String>,
}

impl ServerRequestHandler for AllowListHandler {
    fn item_command_execution_request_approval(
        &self,
        params: CommandExecutionRequestApprovalParams,
    ) -> impl std::future::Future<Output = Result<CommandExecutionRequestApprovalResponse, RpcError>> + Send {
        let command = params.command.unwrap_or_default();
        let decision = if command.contains("allowed") {
            CommandExecutionApprovalDecision::Accept
        } else {
            CommandExecutionApprovalDecision::Decline
        };
        self.asked.push(command);
        std::future::ready(Ok(CommandExecutionRequestApprovalResponse { decision }))
    }
}

#[tokio::test]
async fn custom_server_request_handler_decides_per_command() {
    let asked = Seen::new();
    let world = approval_world(AllowListHandler { asked: asked.clone() }).await;
    world.model.push_all([
        MockResponse::exec_command(ExecCommand::new("call_ok", "echo yes > allowed.txt").escalated("first")),
        MockResponse::exec_command(ExecCommand::new("call_no", "echo no > refused.txt").escalated("second")),
        MockResponse::apply_patch("call_patch", "*** Begin Patch\n*** Add File: patched.txt\n+x\n*** End Patch\n"),
        MockResponse::text("done"),
    ]);
    let thread = start_thread(&world.codex, in_work_dir(&world).model("gpt-5.5")).await;

    let result = run(&thread, "do three things").await;
    assert_eq!(result.status, TurnStatus::Completed);
    assert_eq!(result.final_response(), Some("done"));
    let asked = asked.all();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(asked[0].contains("echo yes > allowed.txt") && asked[1].contains("echo no > refused.txt"), "{asked:?}");

    let statuses: Vec<_> = commands(&result).iter().map(|c| (c.id.as_str(), c.status.clone())).collect();
    assert_eq!(
        statuses,
        [("call_ok", CommandExecutionStatus::Completed), ("call_no", CommandExecutionStatus::Declined)]
    );
    assert_eq!(marker(&world, "allowed.txt").as_deref(), Some("yes\n"));
    assert_eq!(marker(&world, "refused.txt"), None);
    // The file change was not handled by this impl: the trait's default declined it.
    let changes = file_changes(&result);
    assert_eq!(changes.len(), 1, "{:#?}", result.items);
    assert_eq!(changes[0].status, PatchApplyStatus::Declined);
    assert_eq!(marker(&world, "patched.txt"), None);
    assert_eq!(world.model.request_count(), 4);
}

// ---------------------------------------------------------------------------------------
// 5. Fail-closed default
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn without_a_handler_approvals_are_declined() {
    // No handler on the client; approvals asked through the thread's AskUser preset.
    let world = World::start().await;
    world.model.push_all([
        MockResponse::exec_command(
            ExecCommand::new("call_cmd", "echo nope > failclosed.txt").escalated("needs to write a marker"),
        ),
        MockResponse::apply_patch("call_patch", "*** Begin Patch\n*** Add File: unpatched.txt\n+x\n*** End Patch\n"),
        MockResponse::text("nothing ran"),
    ]);
    let options = in_work_dir(&world).model("gpt-5.5").approval_mode(ApprovalMode::AskUser);
    let thread = start_thread(&world.codex, options).await;

    let result = run(&thread, "try both").await;
    assert_eq!(result.status, TurnStatus::Completed);
    assert_eq!(result.final_response(), Some("nothing ran"));
    let commands = commands(&result);
    assert_eq!(commands.len(), 1, "{:#?}", result.items);
    assert_eq!(commands[0].status, CommandExecutionStatus::Declined);
    assert_eq!(marker(&world, "failclosed.txt"), None, "the command did not run");
    let changes = file_changes(&result);
    assert_eq!(changes.len(), 1, "{:#?}", result.items);
    assert_eq!(changes[0].status, PatchApplyStatus::Declined);
    assert_eq!(marker(&world, "unpatched.txt"), None, "the patch was not applied");
    assert_eq!(world.model.request_count(), 3);
}

/// The README's first example, offline on the kit's home (`approval_policy = "never"`):
/// a client with a handler and options without an approval mode. The handler is asked
/// (the thread asks for on-request approvals reviewed by the user), and the declined
/// command is in the result.
#[tokio::test]
async fn a_handler_that_is_set_is_asked_on_the_kits_home() {
    let seen = Seen::new();
    let world =
        World::start_with(|h| h, |b| b.handler(command_handler(CommandExecutionApprovalDecision::Decline, &seen)))
            .await;
    script_command(&world, "call_readme", "echo hi > readme.txt", Some("not running it"));
    let thread = start_thread(&world.codex, in_work_dir(&world).model("gpt-5.5")).await;
    let settings = thread.settings().expect("thread/start settings");
    assert_eq!(settings.approval_policy, AskForApproval::OnRequest);
    assert_eq!(settings.approvals_reviewer, ApprovalsReviewer::User);

    let result = run(&thread, "Summarize this repository in one sentence").await;
    assert_eq!(result.final_response(), Some("not running it"));
    assert_one_command_approval(&seen, &thread, &result.id, "call_readme", "echo hi > readme.txt");
    let commands = commands(&result);
    assert_eq!(commands.len(), 1, "{:#?}", result.items);
    assert_eq!(commands[0].status, CommandExecutionStatus::Declined);
    assert_eq!(marker(&world, "readme.txt"), None);
}

/// An approval mode the caller sets wins over the rule: `DenyAll` on a client with a
/// handler is never asked.
#[tokio::test]
async fn an_explicit_approval_mode_wins_over_the_handler_rule() {
    let seen = Seen::new();
    let world =
        World::start_with(|h| h, |b| b.handler(command_handler(CommandExecutionApprovalDecision::Accept, &seen))).await;
    script_command(&world, "call_deny", "echo hi > denied.txt", Some("refused"));
    let options = in_work_dir(&world).approval_mode(ApprovalMode::DenyAll);
    let thread = start_thread(&world.codex, options).await;
    assert_eq!(thread.settings().expect("settings").approval_policy, AskForApproval::Never);

    let result = run(&thread, "write the marker").await;
    assert_eq!(result.final_response(), Some("refused"));
    assert!(seen.all().is_empty(), "the handler was asked: {:#?}", seen.all());
    assert_eq!(marker(&world, "denied.txt"), None);
}

// ---------------------------------------------------------------------------------------
// 6. API-key login
// ---------------------------------------------------------------------------------------

/// `CODEX_HOME/auth.json`, where an API-key login is stored.
fn stored_auth(world: &World) -> Option<String> {
    std::fs::read_to_string(world.home.codex_home().join("auth.json")).ok()
}

/// A client whose mock provider takes OpenAI auth (`requires_openai_auth = true`), set with
/// a `--config` override on top of the kit's `config.toml`.
async fn openai_auth_client(world: &World) -> Codex {
    let mut config = world.config();
    config.launch = config.launch.with_config_override("model_providers.mock_provider.requires_openai_auth", "true");
    within("connect", Codex::builder().config(config).connect()).await.expect("connect")
}

#[tokio::test]
async fn api_key_login_authenticates_model_requests() {
    let world = World::start().await;
    world.codex.close().await;
    let codex = openai_auth_client(&world).await;
    world.model.push_all([MockResponse::text("as key holder"), MockResponse::text("anonymous")]);

    let before = within("account", codex.account()).await.expect("account");
    assert!(before.requires_openai_auth);
    assert_eq!(before.account, None);

    within("login", codex.login_api_key("sk-test-12345")).await.expect("login");
    assert!(
        stored_auth(&world).is_some_and(|auth| auth.contains("sk-test-12345")),
        "the key is stored in CODEX_HOME/auth.json"
    );
    let after = within("account", codex.account()).await.expect("account");
    assert!(matches!(after.account, Some(Account::ApiKey(_))), "{after:?}");

    let thread = start_thread(&codex, in_work_dir(&world)).await;
    assert_eq!(run(&thread, "who am I").await.final_response(), Some("as key holder"));
    let requests = model_requests(&world, 1).await;
    assert_eq!(requests[0].header("authorization"), Some("Bearer sk-test-12345"));

    within("logout", codex.logout()).await.expect("logout");
    assert_eq!(stored_auth(&world), None, "logout removes auth.json");
    let out = within("account", codex.account()).await.expect("account");
    assert_eq!(out.account, None);
    run(&thread, "and now?").await;
    let requests = model_requests(&world, 2).await;
    assert_eq!(requests[1].header("authorization"), None, "no credentials after logout");
    codex.close().await;
}

#[tokio::test]
async fn api_key_login_is_ignored_by_a_provider_without_openai_auth() {
    // The kit's default provider neither requires nor uses OpenAI auth: the login call
    // succeeds and the key is stored, but no account is reported and the key never
    // reaches the model.
    let world = World::start().await;
    world.model.push(MockResponse::text("hi"));
    let before = within("account", world.codex.account()).await.expect("account");
    assert!(!before.requires_openai_auth);

    within("login", world.codex.login_api_key("sk-test-ignored")).await.expect("login");
    assert!(stored_auth(&world).is_some_and(|auth| auth.contains("sk-test-ignored")), "the key is stored all the same");
    let after = within("account", world.codex.account()).await.expect("account");
    assert_eq!(after.account, None, "{after:?}");

    let thread = start_thread(&world.codex, in_work_dir(&world)).await;
    run(&thread, "hello").await;
    let requests = model_requests(&world, 1).await;
    assert_eq!(requests[0].header("authorization"), None);
}
