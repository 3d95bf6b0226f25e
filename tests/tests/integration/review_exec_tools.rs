//! The rest of Codex the Rust way, against the real `codex app-server`: a review is a turn
//! with a handle (stream, result, cancel-on-drop, busy-thread rule); `command/exec` is a
//! process; Rust functions are tools the model calls (experimental surface: run by the
//! `experimental` pass of `cargo xtask test`).

use crate::{common, scenarios};
use codex_driver::exec::{Command, OutputKind};
use codex_driver::testing::{ExecCommand, MockResponse, ResponseStream};
use codex_driver::types::{CommandExecutionStatus, ThreadItem, TurnStatus};
use codex_driver::{blocking, ApprovalMode, Error, Review, Sandbox, Thread, ThreadOptions, TurnItem, TurnOptions};
use common::{within, World};
use scenarios::client::off_thread;

async fn new_thread(world: &World) -> Thread {
    let options = ThreadOptions::default().cwd(world.home.work_dir());
    within("thread/start", world.codex.thread_start(&options)).await.expect("thread/start")
}

/// What the review model answers: the review output JSON Codex parses.
fn review_answer(explanation: &str) -> String {
    serde_json::json!({
        "findings": [],
        "overall_correctness": "patch is correct",
        "overall_explanation": explanation,
        "overall_confidence_score": 0.9
    })
    .to_string()
}

#[tokio::test]
async fn a_review_is_a_turn_with_a_result() {
    let world = World::start().await;
    world.model.push(MockResponse::text(review_answer("Nothing to fix in the marker.")));
    let thread = new_thread(&world).await;

    let handle = within("review/start", thread.review(Review::custom("check the marker file"))).await.expect("review");
    assert!(handle.interrupts_on_drop(), "this client's review is cancelled by a drop");
    let result = within("review", handle.run()).await.expect("the review's result");
    assert_eq!(result.status, TurnStatus::Completed);
    let kinds: Vec<&str> = result
        .items
        .iter()
        .filter_map(|item| match item {
            ThreadItem::EnteredReviewMode(_) => Some("entered"),
            ThreadItem::ExitedReviewMode(_) => Some("exited"),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["entered", "exited"], "{:#?}", result.items);
    let review = result.review().expect("the review's text");
    assert!(review.contains("Nothing to fix in the marker."), "{review}");
    let requests = world.model.wait_for_requests(1, common::WAIT).await.expect("the model was asked");
    assert!(requests[0].body_contains("check the marker file"), "the instructions reach the model");
}

/// A review follows the turn rules: refused on a busy thread before anything is sent;
/// dropped before its end, it is interrupted and the thread is free for the next turn.
#[tokio::test]
async fn a_review_is_refused_on_a_busy_thread_and_cancelled_by_a_drop() {
    let world = World::start().await;
    let (first, stall) = ResponseStream::new().text("working ").pause();
    world.model.push(first.text("done").completed());
    let thread = new_thread(&world).await;
    let running = within("turn", thread.turn("a long task")).await.expect("turn");
    assert!(stall.wait_reached(common::WAIT).await);
    let sent = world.model.request_count();
    match within("busy review", thread.review(Review::uncommitted_changes())).await {
        Err(Error::ThreadBusy { running_turn_id, merged: false, .. }) => assert_eq!(running_turn_id, running.id()),
        other => panic!("expected ThreadBusy, got {other:?}"),
    }
    assert_eq!(world.model.request_count(), sent, "nothing was sent for the refused review");
    stall.release();
    within("the running turn", running.run()).await.expect("the turn ends");

    // A review given up on halfway.
    let (review, stall) = ResponseStream::new().text("{").pause();
    world.model.push(review.text("}").completed());
    world.model.push(MockResponse::text("after the review"));
    let handle = within("review/start", thread.review(Review::custom("look closely"))).await.expect("review");
    let review_turn = handle.id().to_owned();
    assert!(stall.wait_reached(common::WAIT).await);
    drop(handle);
    let next = within("run", thread.run("next")).await.expect("the next turn");
    assert_eq!(next.final_response(), Some("after the review"));
    let turns = within("thread/read", thread.read_with_turns()).await.expect("thread/read").turns;
    let reviewed = turns.iter().find(|t| t.id == review_turn).expect("the review turn is recorded");
    assert_eq!(reviewed.status, TurnStatus::Interrupted);

    // Interrupted on purpose, through its control: the result says so.
    let (review, stall) = ResponseStream::new().text("{").pause();
    world.model.push(review.text("}").completed());
    let handle = within("review/start", thread.review(Review::custom("again"))).await.expect("review");
    let control = handle.control();
    assert!(stall.wait_reached(common::WAIT).await);
    within("interrupt", control.interrupt()).await.expect("turn/interrupt of a review");
    let result = within("review", handle.run()).await.expect("the interrupted review's result");
    assert_eq!(result.status, TurnStatus::Interrupted);
    // The pinned Codex still closes review mode, with a placeholder text.
    assert!(result.review().is_none_or(|text| !text.contains('{')), "{:?}", result.review());
}

/// The blocking mirror: `review`, `turn_with_requests` (an approval answered from the
/// iterator, in order with the turn's events) and `exec`.
#[tokio::test]
async fn blocking_review_and_turn_with_requests() {
    let world = World::start().await;
    world.model.push(MockResponse::text(review_answer("Blocking review done.")));
    world.model.push(MockResponse::exec_command(
        ExecCommand::new("call_blocking", "echo ok > blocking.txt").escalated("needs to write a marker"),
    ));
    world.model.push(MockResponse::text("wrote it"));
    let config = world.config();
    let cwd = world.home.work_dir().to_owned();
    let (review, events, result) = within(
        "blocking calls",
        off_thread(move || {
            let codex = blocking::Codex::spawn(config).expect("connect");
            let options = ThreadOptions::default().cwd(cwd).approval_mode(ApprovalMode::AskUser);
            let thread = codex.thread_start(&options).expect("thread/start");
            let review = thread.review(Review::custom("blocking")).and_then(|h| h.run()).expect("review");
            let mut activity = thread.turn_with_requests("write the marker", &TurnOptions::default()).expect("turn");
            let mut seen = Vec::new();
            for item in activity.by_ref() {
                match item.expect("an item") {
                    TurnItem::Request(request) => {
                        seen.push(format!("request {}", request.method()));
                        request.accept().expect("accept fits");
                    }
                    TurnItem::Event(event) => seen.push(format!("event {}", event.method())),
                    _ => {}
                }
            }
            let result = activity.result().expect("result");
            // A command as a blocking process: stdin in, chunks out, then its status.
            let command = Command::new("sh").args(["-c", "read x; echo got $x"]).pipe_stdin();
            let mut child = codex.exec(&command).expect("exec");
            child.write(b"it\n").expect("write");
            child.close_stdin().expect("close stdin");
            let stdout: Vec<u8> = child.by_ref().flat_map(|chunk| chunk.expect("a chunk").bytes).collect();
            assert_eq!(stdout, b"got it\n");
            assert!(child.wait().expect("status").success());
            codex.close();
            (review, seen, result)
        }),
    )
    .await;
    assert!(review.review().is_some_and(|r| r.contains("Blocking review done.")), "{:?}", review.review());
    let request_at =
        events.iter().position(|e| e.starts_with("request ")).expect("the approval came through the iterator");
    assert!(events[..request_at].iter().any(|e| e == "event item/started"), "{events:?}");
    assert_eq!(events.last().map(String::as_str), Some("event turn/completed"), "{events:?}");
    assert_eq!(result.final_response(), Some("wrote it"));
    let commands = common::commands(&result);
    assert_eq!(commands.len(), 1, "{:#?}", result.items);
    assert_eq!(commands[0].status, CommandExecutionStatus::Completed);
    assert!(world.home.work_dir().join("blocking.txt").exists());
}

/// `command/exec` as a process: streamed stdout and stderr, stdin written and closed, the
/// exit status; a failing command's code.
#[tokio::test]
async fn exec_streams_output_takes_stdin_and_reports_the_exit_status() {
    let world = World::start().await;
    let script = "read name; echo hello $name; echo oops >&2; exit 3";
    let command = Command::new("sh").args(["-c", script]).current_dir(world.home.work_dir()).pipe_stdin();
    let child = within("command/exec", world.codex.exec(&command)).await.expect("exec");
    assert!(child.id().starts_with("codex-driver-"), "{}", child.id());
    within("write", child.write(b"codex\n")).await.expect("stdin write");
    within("close stdin", child.close_stdin()).await.expect("close stdin");
    let output = within("output", child.wait_with_output()).await.expect("output");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hello codex\n");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "oops\n");
    assert_eq!(output.status.code, 3);
    assert!(!output.status.success());

    // Chunks as they come, then the status.
    let mut child =
        within("exec", world.codex.exec(&Command::new("sh").args(["-c", "echo one; echo two"]))).await.expect("exec");
    let mut stdout = Vec::new();
    while let Some(chunk) = within("chunk", child.next_output()).await {
        let chunk = chunk.expect("a chunk");
        assert_eq!(chunk.kind, OutputKind::Stdout);
        stdout.extend(chunk.bytes);
    }
    assert_eq!(stdout, b"one\ntwo\n");
    assert!(within("wait", child.wait()).await.expect("status").success());
}

/// Terminating a command ends it with a status; dropping a running `Child` terminates the
/// command (its later side effect never happens); a program that cannot start fails.
#[tokio::test]
async fn exec_terminate_and_drop_end_the_command() {
    let world = World::start().await;
    let mut child = within("exec", world.codex.exec(&Command::new("sleep").arg("30"))).await.expect("exec");
    // A `wait` given up on loses nothing.
    let gave_up = tokio::time::timeout(std::time::Duration::from_millis(200), child.wait()).await;
    assert!(gave_up.is_err(), "sleep 30 ended early: {gave_up:?}");
    within("terminate", child.terminate()).await.expect("terminate");
    let status = within("wait", child.wait()).await.expect("a status after terminate");
    assert!(!status.success(), "{status:?}");

    let marker = world.home.work_dir().join("late.txt");
    // The shell writes its pid, says it started, then works 2 s before the marker.
    let pid_file = world.home.work_dir().join("shell.pid");
    let script =
        format!("echo $$ > '{}'; echo started; sleep 2; echo late > '{}'", pid_file.display(), marker.display());
    let command = Command::new("sh").args(["-c", &script]).sandbox(Sandbox::FullAccess);
    let mut child = within("exec", world.codex.exec(&command)).await.expect("exec");
    let first = within("first chunk", child.next_output()).await.expect("a chunk").expect("output");
    assert_eq!(first.bytes, b"started\n");
    let pid = std::fs::read_to_string(&pid_file).expect("the shell wrote its pid before `started`");
    let pid = std::path::Path::new("/proc").join(pid.trim());
    assert!(pid.exists(), "{} names the running shell", pid.display());
    drop(child);
    // Waits for the shell itself to end (terminated, or after writing the marker).
    within("the dropped command ends", async {
        while pid.exists() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(!marker.exists(), "the dropped command ran on");

    // A program that cannot start ends with a failure status, not a hang.
    let mut child = within("exec", world.codex.exec(&Command::new("no-such-program-here"))).await.expect("exec");
    let status = within("wait", child.wait()).await.expect("a status");
    assert!(!status.success(), "{status:?}");
}

/// A command in a pseudo-terminal sees its size, and a resize.
#[tokio::test]
async fn exec_in_a_tty_sees_its_size_and_a_resize() {
    let world = World::start().await;
    let command = Command::new("sh").args(["-c", "stty size; read x; stty size"]).tty(80, 24);
    let mut child = within("exec", world.codex.exec(&command)).await.expect("exec");
    let mut seen = String::new();
    while !seen.contains("24 80") {
        let chunk = within("chunk", child.next_output()).await.expect("output").expect("a chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk.bytes));
    }
    within("resize", child.resize(100, 30)).await.expect("resize");
    within("write", child.write(b"\n")).await.expect("write");
    let output = within("output", child.wait_with_output()).await.expect("output");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("30 100"),
        "{:?}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(output.status.success());
}

#[cfg(feature = "experimental")]
mod tools {
    use super::*;
    use codex_driver::tools::Tools;

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Add {
        a: i64,
        b: i64,
    }

    fn tools() -> Tools {
        Tools::new()
            .tool(
                "add",
                "Adds two integers.",
                |args: Add| async move { Ok::<_, String>((args.a + args.b).to_string()) },
            )
            .tool("boom", "Panics.", |_: Add| async { panic!("kaboom (on purpose)") as Result<String, String> })
    }

    /// The model calls a Rust tool and uses its answer; a tool not served here, bad
    /// arguments and a panicking tool are failed calls the model sees, and the turn goes on.
    /// (A tool never offered is refused by Codex itself.)
    #[tokio::test]
    async fn the_model_calls_rust_tools_and_failures_reach_it() {
        let world = World::start().await;
        let call = |id: &str, name: &str, args: &str| ResponseStream::new().function_call(id, name, args).completed();
        world.model.push(call("call_add", "add", r#"{"a": 2, "b": 3}"#));
        world.model.push(call("call_unknown", "mul", r#"{"a": 2, "b": 3}"#));
        world.model.push(call("call_bad", "add", r#"{"a": "two"}"#));
        world.model.push(call("call_boom", "boom", r#"{"a": 1, "b": 1}"#));
        world.model.push(MockResponse::text("2 + 3 = 5"));
        let options = ThreadOptions::default().cwd(world.home.work_dir());
        // `mul` is offered to the model, but the tools served here lack it (as when a resumed
        // thread is served another set): Codex asks, and this client answers "unknown".
        let offered = tools()
            .tool("mul", "Multiplies.", |args: Add| async move { Ok::<_, String>((args.a * args.b).to_string()) });
        let thread =
            within("thread/start", world.codex.thread_start_with_tools(&options, offered)).await.expect("start");
        thread.serve_tools(tools());

        let result = within("turn", thread.run("add 2 and 3")).await.expect("the turn");
        assert_eq!(result.status, TurnStatus::Completed);
        assert_eq!(result.final_response(), Some("2 + 3 = 5"));
        let requests = world.model.wait_for_requests(5, common::WAIT).await.expect("five model requests");
        let tools_offered = requests[0].body_text().into_owned();
        assert!(tools_offered.contains("Adds two integers."), "the tool is offered: {tools_offered}");
        let output = |i: usize, id: &str| {
            requests[i].function_call_output(id).unwrap_or_else(|| panic!("no output for {id}")).to_string()
        };
        assert!(output(1, "call_add").contains('5'), "{}", output(1, "call_add"));
        assert!(output(2, "call_unknown").contains("unknown tool `mul`"), "{}", output(2, "call_unknown"));
        assert!(output(3, "call_bad").contains("do not fit its schema"), "{}", output(3, "call_bad"));
        assert!(output(4, "call_boom").contains("panicked: kaboom (on purpose)"), "{}", output(4, "call_boom"));
        assert!(thread.stop_serving_tools());
        assert!(!thread.stop_serving_tools(), "nothing left to stop");
    }

    /// The blocking twin: a thread started with tools, a call answered.
    #[tokio::test]
    async fn blocking_thread_start_with_tools() {
        let world = World::start().await;
        world.model.push(ResponseStream::new().function_call("call_add", "add", r#"{"a": 20, "b": 22}"#).completed());
        world.model.push(MockResponse::text("42"));
        let config = world.config();
        let result = within(
            "blocking",
            off_thread(move || {
                let codex = blocking::Codex::spawn(config).expect("connect");
                let thread = codex.thread_start_with_tools(&ThreadOptions::default(), tools()).expect("start");
                let result = thread.run("add 20 and 22").expect("turn");
                codex.close();
                result
            }),
        )
        .await;
        assert_eq!(result.final_response(), Some("42"));
        let requests = world.model.wait_for_requests(2, common::WAIT).await.expect("two model requests");
        assert!(requests[1].function_call_output("call_add").is_some_and(|o| o.to_string().contains("42")));
    }
}

/// `thread/shellCommand` is a turn of its own whose answer names no turn: the handle finds
/// it, streams its output and ends in its result; the thread is busy meanwhile.
#[tokio::test]
async fn a_shell_command_is_a_turn_with_a_handle() {
    let world = World::start().await;
    let thread = new_thread(&world).await;
    let handle =
        within("thread/shellCommand", thread.shell_command("echo from-the-shell; sleep 1")).await.expect("shell");
    assert!(handle.interrupts_on_drop(), "this client's turn");
    match within("busy", thread.turn("meanwhile")).await {
        Err(Error::ThreadBusy { running_turn_id, .. }) => assert_eq!(running_turn_id, handle.id()),
        other => panic!("expected ThreadBusy, got {other:?}"),
    }
    let result = within("shell turn", handle.run()).await.expect("result");
    assert_eq!(result.status, TurnStatus::Completed);
    let commands = common::commands(&result);
    assert_eq!(commands.len(), 1, "{:#?}", result.items);
    assert_eq!(commands[0].exit_code, Some(0));
    assert!(
        commands[0].aggregated_output.as_deref().is_some_and(|o| o.contains("from-the-shell")),
        "{:?}",
        commands[0]
    );
}
