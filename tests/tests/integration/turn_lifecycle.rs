//! Turns the Rust way, against the real `codex app-server`: giving up on a turn (dropping
//! its handle, stream or `run` future; a timeout) interrupts it on the server and leaves the
//! thread ready for a fresh turn; a busy thread is a typed error, never a silent merge; a
//! stream ends in the same result `run` returns; approvals answered from the turn's stream;
//! per-thread approval handlers; per-call timeouts.

use crate::common;
use codex_driver::methods::ServerNotification;
use codex_driver::testing::{MockResponse, ResponseStream, ServerAuth, StallHandle};
use codex_driver::types::AskForApproval;
use codex_driver::types::{
    CommandExecutionApprovalDecision as Decision, CommandExecutionStatus, ThreadItem, TurnStatus,
};
use codex_driver::{ApprovalHandler, Codex, Error, Thread, ThreadOptions};
use common::{within, World};
use futures::StreamExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

async fn new_thread(world: &World) -> Thread {
    within("thread/start", world.codex.thread_start(&ThreadOptions::default())).await.expect("thread/start")
}

/// A first answer that stalls after a delta (so its turn keeps running), then `second`.
fn stalled_then(world: &World, second: &str) -> StallHandle {
    let (first, stall) = ResponseStream::new().text("partial ").pause();
    world.model.push(first.text("never sent").completed());
    world.model.push(MockResponse::text(second));
    stall
}

async fn reached(stall: &StallHandle) {
    assert!(stall.wait_reached(common::WAIT).await, "the mock never reached its pause point");
}

/// The user texts of a turn as the server recorded it.
fn user_texts(turn: &codex_driver::types::Turn) -> Vec<String> {
    common::user_texts(&turn.items)
}

/// The turns of `thread` as the server records them.
async fn recorded_turns(thread: &Thread) -> Vec<codex_driver::types::Turn> {
    within("thread/read", thread.read_with_turns()).await.expect("thread/read").turns
}

/// The measurement, turned around: a `run` future given up on by a timeout
/// interrupts its turn, and the next `run` is a new turn with only its own input.
#[tokio::test]
async fn a_timed_out_run_interrupts_its_turn_and_the_next_run_is_a_fresh_turn() {
    let world = World::start().await;
    let stall = stalled_then(&world, "second answer");
    let thread = new_thread(&world).await;

    let mut run = Box::pin(thread.run("hang"));
    tokio::select! {
        _ = &mut run => panic!("the stalled turn completed"),
        _ = reached(&stall) => {}
    }
    drop(run); // as tokio::time::timeout does when it elapses

    let next = within("run", thread.run("next")).await.expect("the next run");
    assert_eq!(next.status, TurnStatus::Completed);
    assert_eq!(next.final_response(), Some("second answer"));
    let turns = recorded_turns(&thread).await;
    assert_eq!(turns.len(), 2, "{turns:?}");
    assert_eq!(turns[0].status, TurnStatus::Interrupted, "the abandoned turn ended interrupted");
    assert_ne!(turns[0].id, next.id, "a new turn, not the old one");
    assert_eq!(user_texts(&turns[0]), ["hang"]);
    assert_eq!(user_texts(&turns[1]), ["next"], "only its own input");
}

/// Dropping an unconsumed handle, or a stream halfway, interrupts the turn.
#[tokio::test]
async fn dropping_a_handle_or_its_stream_interrupts_the_turn() {
    let world = World::start().await;
    let first = stalled_then(&world, "after the handle");
    let thread = new_thread(&world).await;
    let handle = within("turn", thread.turn("one")).await.unwrap();
    assert!(handle.interrupts_on_drop());
    reached(&first).await;
    drop(handle);
    let after = within("run", thread.run("two")).await.unwrap();
    assert_eq!(after.final_response(), Some("after the handle"));

    let second = stalled_then(&world, "after the stream");
    let mut events = within("turn", thread.turn("three")).await.unwrap().stream();
    // Read up to the first delta, then walk away.
    loop {
        match within("event", events.next_event()).await {
            Some(Ok(ServerNotification::ItemAgentMessageDelta(_))) => break,
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    reached(&second).await;
    drop(events);
    let last = within("run", thread.run("four")).await.unwrap();
    assert_eq!(last.final_response(), Some("after the stream"));

    let statuses: Vec<TurnStatus> = recorded_turns(&thread).await.into_iter().map(|t| t.status).collect();
    assert_eq!(
        statuses,
        [TurnStatus::Interrupted, TurnStatus::Completed, TurnStatus::Interrupted, TurnStatus::Completed]
    );
}

/// A detached handle only observes: dropping it leaves the turn running, and a new turn on
/// the busy thread is refused with a typed error naming it; nothing is sent.
#[tokio::test]
async fn a_detached_turn_runs_on_and_a_busy_thread_is_a_typed_error() {
    let world = World::start().await;
    let (first, stall) = ResponseStream::new().text("first ").pause();
    world.model.push(first.text("done").completed());
    let thread = new_thread(&world).await;
    let handle = within("turn", thread.turn("long task")).await.unwrap().detach();
    assert!(!handle.interrupts_on_drop());
    let running_id = handle.id().to_owned();
    reached(&stall).await;
    drop(handle);

    let requests_before = world.model.request_count();
    match within("busy turn", thread.turn("sneak in")).await {
        Err(Error::ThreadBusy { thread_id, running_turn_id, merged }) => {
            assert_eq!(
                (thread_id.as_str(), running_turn_id.as_str(), merged),
                (thread.id(), running_id.as_str(), false)
            );
        }
        other => panic!("expected ThreadBusy, got {other:?}"),
    }
    assert_eq!(world.codex.connection().running_turn(thread.id()).as_deref(), Some(running_id.as_str()));

    // The turn goes on to its end, with only its own input.
    let mut watch = thread.notifications();
    stall.release();
    within("turn/completed", async {
        while let Some(event) = watch.next().await {
            if matches!(event, Ok(ServerNotification::TurnCompleted(_))) {
                break;
            }
        }
    })
    .await;
    let turns = recorded_turns(&thread).await;
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0].status, TurnStatus::Completed);
    assert_eq!(user_texts(&turns[0]), ["long task"], "the refused input never reached the turn");
    assert_eq!(world.model.request_count(), requests_before, "nothing was sent for the refused turn");
    assert_eq!(world.codex.connection().running_turn(thread.id()), None);
}

/// A turn started right after another (before its `turn/started` even arrives) is refused:
/// the first `turn/start` answer marks the thread busy.
#[tokio::test]
async fn a_turn_started_right_after_another_is_refused() {
    let world = World::start().await;
    let (first, stall) = ResponseStream::new().text("one ").pause();
    world.model.push(first.text("done").completed());
    let thread = new_thread(&world).await;
    let running = within("turn", thread.turn("first")).await.unwrap();
    match within("second turn", thread.turn("second")).await {
        Err(Error::ThreadBusy { running_turn_id, merged: false, .. }) => assert_eq!(running_turn_id, running.id()),
        other => panic!("expected ThreadBusy, got {other:?}"),
    }
    reached(&stall).await;
    stall.release();
    let result = within("run", running.run()).await.unwrap();
    assert_eq!(user_texts(&recorded_turns(&thread).await[0]), ["first"]);
    assert_eq!(result.final_response(), Some("done"));
}

/// On a shared server, a turn another client started is seen through the thread's events:
/// this client's turn is refused, not merged into it.
#[tokio::test]
async fn a_turn_running_for_another_client_makes_the_thread_busy_here() {
    let world = World::start().await;
    let server =
        within("listen", world.home.listen_websocket(&common::codex_bin(), ServerAuth::CapabilityToken)).await.unwrap();
    let attach = || within("attach", Codex::builder().websocket(server.websocket_endpoint()).connect());
    let (a, b) = (attach().await.unwrap(), attach().await.unwrap());
    let thread_a = within("thread/start", a.thread_start(&ThreadOptions::default())).await.unwrap();
    // A first turn gives the thread its rollout, so that B can load it.
    world.model.push(MockResponse::text("warm-up"));
    within("warm-up", thread_a.run("warm up")).await.unwrap();
    let thread_b = within("resume", b.thread_resume(thread_a.id(), &ThreadOptions::default())).await.unwrap();
    let (first, stall) = ResponseStream::new().text("a's ").pause();
    world.model.push(first.text("answer").completed());
    let turn_a = within("turn", thread_a.turn("a's work")).await.unwrap();
    reached(&stall).await;
    match within("b's turn", thread_b.turn("b's input")).await {
        Err(Error::ThreadBusy { running_turn_id, merged: false, .. }) => assert_eq!(running_turn_id, turn_a.id()),
        other => panic!("expected ThreadBusy, got {other:?}"),
    }
    stall.release();
    let result = within("a's run", turn_a.run()).await.unwrap();
    assert_eq!(result.final_response(), Some("answer"));
    let turns = recorded_turns(&thread_a).await;
    assert_eq!(user_texts(&turns[1]), ["a's work"], "b's input never reached a's turn");
    a.close().await;
    b.close().await;
}

/// A stream ends in the same result `run` returns, with nothing collected by hand.
#[tokio::test]
async fn a_stream_ends_in_the_turn_result() {
    let world = World::start().await;
    world.model.push(ResponseStream::new().text("streamed ").text("and collected").completed());
    let thread = new_thread(&world).await;
    let mut events = within("turn", thread.turn("go")).await.unwrap().stream();
    let mut deltas = String::new();
    while let Some(event) = within("event", events.next_event()).await {
        let event = event.unwrap();
        assert_eq!(event.thread_id(), Some(thread.id()), "{event:?}");
        if let ServerNotification::ItemAgentMessageDelta(d) = event {
            deltas.push_str(&d.delta);
        }
    }
    let result = within("result", events.result()).await.unwrap();
    assert_eq!(deltas, "streamed and collected");
    assert_eq!(result.status, TurnStatus::Completed);
    assert_eq!(result.final_response(), Some("and collected"));
    assert!(result.items.iter().any(|i| matches!(i, ThreadItem::UserMessage(_))), "{:?}", result.items);
    let turns = recorded_turns(&thread).await;
    assert_eq!(turns[0].id, result.id);

    // `result` on a stream that was not read at all reads it to the end.
    world.model.push(MockResponse::text("unread"));
    let unread = within("turn", thread.turn("again")).await.unwrap().stream();
    assert_eq!(within("result", unread.result()).await.unwrap().final_response(), Some("unread"));
}

/// A per-call timeout is a typed error and leaves no waiter behind; the default applies
/// elsewhere.
#[tokio::test]
async fn a_per_call_timeout_is_typed_and_leaves_nothing_pending() {
    let world = World::start().await;
    let thread = new_thread(&world).await;
    // The server is stopped while the short timeouts run: a timer of 1 ns still ends on
    // the runtime's next millisecond tick, and the server can answer `thread/list` sooner.
    let pid = world.codex.connection().pid().expect("a spawned app-server");
    common::stop_process(pid).await;
    let quick = world.codex.with_timeout(Duration::from_nanos(1));
    let error = quick.thread_list(&Default::default()).await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    let error = thread.with_timeout(Duration::from_nanos(1)).read().await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    use codex_driver::methods::ClientRequests;
    let error = world
        .codex
        .connection()
        .with_timeout(Duration::from_nanos(1))
        .thread_list(Default::default())
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(world.codex.connection().stats().pending_requests, 0);
    common::send_signal(pid, "CONT");
    // The default handle is unaffected.
    within("thread/list", world.codex.thread_list(&Default::default())).await.expect("default timeout");
}

/// A world whose approval policy asks, with the client's handler (the async builder's
/// `on_command_execution` shortcut) declining and counting its calls.
async fn approval_world() -> (World, Arc<AtomicUsize>) {
    let client_calls = Arc::new(AtomicUsize::new(0));
    let counter = client_calls.clone();
    let world = World::start_with(
        |h| h.approval_policy(AskForApproval::OnRequest),
        move |b| {
            b.on_command_execution(move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
                async { Decision::Decline }
            })
        },
    )
    .await;
    (world, client_calls)
}

/// A thread handler accepting every command, counting its calls.
fn accepting_handler() -> (ApprovalHandler, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let handler = ApprovalHandler::new().on_command_execution(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Decision::Accept }
    });
    (handler, calls)
}

/// A thread's own handler answers its approvals; another thread keeps the client's
/// (here the async builder's `on_command_execution` shortcut, declining).
#[tokio::test]
async fn a_thread_handler_answers_that_threads_approvals_only() {
    let (world, client_calls) = approval_world().await;
    let options = || ThreadOptions::default().cwd(world.home.work_dir());
    let trusted = within("thread/start", world.codex.thread_start(&options())).await.unwrap();
    let other = within("thread/start", world.codex.thread_start(&options())).await.unwrap();
    let (handler, thread_calls) = accepting_handler();
    trusted.set_handler(handler);

    world.model.push(common::exec("call_trusted", "trusted.txt"));
    world.model.push(MockResponse::text("ran"));
    let ran = within("run", trusted.run("write")).await.unwrap();
    world.model.push(common::exec("call_other", "other.txt"));
    world.model.push(MockResponse::text("declined"));
    let declined = within("run", other.run("write")).await.unwrap();

    assert_eq!(common::command_status(&ran), Some(CommandExecutionStatus::Completed), "{:#?}", ran.items);
    assert_eq!(common::command_status(&declined), Some(CommandExecutionStatus::Declined), "{:#?}", declined.items);
    assert_eq!((thread_calls.load(Ordering::SeqCst), client_calls.load(Ordering::SeqCst)), (1, 1));
    assert!(world.home.work_dir().join("trusted.txt").exists());
    assert!(!world.home.work_dir().join("other.txt").exists());

    // Cleared: the thread's requests go to the client's handler again.
    assert!(trusted.clear_handler());
    world.model.push(common::exec("call_again", "again.txt"));
    world.model.push(MockResponse::text("declined again"));
    let again = within("run", trusted.run("write again")).await.unwrap();
    assert_eq!(common::command_status(&again), Some(CommandExecutionStatus::Declined));
    assert_eq!(client_calls.load(Ordering::SeqCst), 2);
}

/// Approvals answered where the turn is consumed: `turn_with_requests` yields the thread's
/// requests as items with typed reply handles. Accepted runs the command, declined and
/// dropped (fail closed) do not; meanwhile another thread's approval still goes to the
/// client's handler, and the thread's own handler is neither asked during the turn nor
/// lost after it.
#[tokio::test]
async fn approvals_answered_from_the_turns_stream() {
    use codex_driver::methods::ServerRequest;
    use codex_driver::{TurnItem, TurnOptions};

    let (world, client_calls) = approval_world().await;
    let options = || ThreadOptions::default().cwd(world.home.work_dir());
    let thread = within("thread/start", world.codex.thread_start(&options())).await.unwrap();
    let other = within("thread/start", world.codex.thread_start(&options())).await.unwrap();
    let (handler, thread_calls) = accepting_handler();
    thread.set_handler(handler);

    for (answer, file) in [("accept", "accepted.txt"), ("decline", "declined.txt"), ("drop", "dropped.txt")] {
        world.model.push(common::exec(&format!("call_{answer}"), file));
        world.model.push(MockResponse::text("done"));
        let mut turn = within("turn/start", thread.turn_with_requests("write", &TurnOptions::default())).await.unwrap();
        let (mut requests, mut events) = (0, 0);
        while let Some(item) = within("next item", turn.next_item()).await {
            match item.expect("a turn item") {
                TurnItem::Request(request) => {
                    requests += 1;
                    match request.typed().expect("typed") {
                        ServerRequest::ItemCommandExecutionRequestApproval(p) => {
                            assert!(p.command.as_deref().is_some_and(|c| c.contains(file)), "{p:?}")
                        }
                        other => panic!("unexpected request {other:?}"),
                    }
                    match answer {
                        "accept" => request.accept().expect("an approval"),
                        "decline" => request.decline(),
                        _ => drop(request),
                    }
                }
                TurnItem::Event(_) => events += 1,
                other => panic!("unexpected item {other:?}"),
            }
        }
        let result = within("result", turn.result()).await.unwrap();
        assert_eq!(requests, 1, "{answer}");
        assert!(events > 0, "{answer}");
        let expected =
            if answer == "accept" { CommandExecutionStatus::Completed } else { CommandExecutionStatus::Declined };
        assert_eq!(common::command_status(&result), Some(expected), "{answer}: {:#?}", result.items);
        assert_eq!(world.home.work_dir().join(file).exists(), answer == "accept", "{answer}");
    }
    assert_eq!(thread_calls.load(Ordering::SeqCst), 0, "the thread's handler was not asked during those turns");

    // Another thread's approval goes to the client's handler.
    world.model.push(common::exec("call_other", "other.txt"));
    world.model.push(MockResponse::text("declined"));
    let declined = within("run", other.run("write")).await.unwrap();
    assert_eq!(common::command_status(&declined), Some(CommandExecutionStatus::Declined));
    assert_eq!(client_calls.load(Ordering::SeqCst), 1);

    // After the activity, the thread's own handler answers again.
    world.model.push(common::exec("call_after", "after.txt"));
    world.model.push(MockResponse::text("ran"));
    let ran = within("run", thread.run("write again")).await.unwrap();
    assert_eq!(common::command_status(&ran), Some(CommandExecutionStatus::Completed));
    assert_eq!((thread_calls.load(Ordering::SeqCst), client_calls.load(Ordering::SeqCst)), (1, 1));
}

/// The blocking API gives up the same way: `run_timeout` interrupts the turn, and so does
/// dropping an iterator halfway; the thread stays usable.
#[tokio::test]
async fn the_blocking_api_interrupts_on_timeout_and_on_drop() {
    let world = World::start().await;
    let first = stalled_then(&world, "after the timeout");
    let config = world.config();
    let (go, ready) = std::sync::mpsc::channel::<()>();
    let outcome = tokio::task::spawn_blocking(move || {
        let codex = codex_driver::blocking::Codex::spawn(config)?;
        let thread = codex.thread_start(&ThreadOptions::default())?;
        let handle = thread.turn("hang")?;
        // The stalled answer never completes: the timeout is sure to elapse.
        ready.recv().expect("the stall was reached");
        let timed_out = handle.run_timeout(Duration::from_millis(300));
        let next = thread.run("next")?;
        let turns = thread.read_with_turns()?.turns;
        Ok::<_, Error>((timed_out, next, turns))
    });
    reached(&first).await;
    go.send(()).unwrap();
    let (timed_out, next, turns) = within("blocking", outcome).await.unwrap().unwrap();
    assert!(timed_out.as_ref().is_err_and(Error::is_timeout), "{timed_out:?}");
    assert_eq!(next.final_response(), Some("after the timeout"));
    let statuses: Vec<TurnStatus> = turns.iter().map(|t| t.status.clone()).collect();
    assert_eq!(statuses, [TurnStatus::Interrupted, TurnStatus::Completed]);
}

/// Dropping a goal's `run` future while its turn runs interrupts that turn.
#[tokio::test]
async fn dropping_a_goal_run_interrupts_its_turn() {
    let world = World::start().await;
    let thread = new_thread(&world).await;
    let (stalled, stall) = ResponseStream::new().text("working").stall();
    world.model.push(stalled);
    let goal = within("start_goal", thread.start_goal("Long task")).await.unwrap();
    let control = goal.control();
    let mut run = Box::pin(goal.run());
    let turn_id = within("the goal's turn", async {
        loop {
            tokio::select! {
                outcome = &mut run => panic!("the stalled goal settled: {outcome:?}"),
                _ = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
            if let (true, Some(turn)) = (stall.is_reached(), control.current_turn_id()) {
                break turn;
            }
        }
    })
    .await;
    drop(run);
    let mut watch = thread.notifications();
    let status = within("turn/completed", async {
        loop {
            if world.codex.connection().running_turn(thread.id()).is_none() {
                break recorded_turns(&thread).await.into_iter().find(|t| t.id == turn_id).map(|t| t.status);
            }
            let _ = watch.next().await;
        }
    })
    .await;
    assert_eq!(status, Some(TurnStatus::Interrupted));
    stall.release();
}

/// The server end of an in-memory connection, for scripted answers.
struct Script {
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>>,
    w: tokio::io::WriteHalf<tokio::io::DuplexStream>,
}

impl Script {
    async fn next(&mut self) -> serde_json::Value {
        let line = within("a client message", self.lines.next_line()).await.unwrap().expect("client connected");
        serde_json::from_str(&line).unwrap()
    }

    async fn send(&mut self, message: serde_json::Value) {
        use tokio::io::AsyncWriteExt;
        self.w.write_all(format!("{message}\n").as_bytes()).await.unwrap();
    }
}

/// Another client's turn is known from its notifications, which can lag its end: when
/// this connection saw its `turn/started` but not yet its `turn/completed`, the server's
/// thread status decides (a scripted server, so each answer is chosen): `idle` lets the
/// turn start, `active` refuses it without sending `turn/start`.
#[tokio::test]
async fn a_stale_view_of_another_clients_turn_asks_the_server() {
    use common::payloads::{initialize_result, thread_json, turn_json};
    use serde_json::json;

    for status in ["idle", "active"] {
        let (client, server) = tokio::io::duplex(1 << 16);
        let (cr, cw) = tokio::io::split(client);
        let (sr, sw) = tokio::io::split(server);
        let mut script = Script { lines: tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(sr)), w: sw };
        let transport = codex_driver::rpc::Transport::lines(cr, cw, 1 << 20, codex_driver::Endpoint::custom("script"));
        let conn = codex_driver::rpc::Connection::from_transport(transport, Default::default());
        let init = tokio::spawn({
            let conn = conn.clone();
            async move { conn.initialize(&codex_driver::rpc::InitializeOptions::default()).await }
        });
        let request = script.next().await;
        script.send(json!({"id": request["id"], "result": initialize_result()})).await;
        assert_eq!(script.next().await["method"], "initialized");
        init.await.unwrap().unwrap();
        let codex = Codex::from_connection(conn).unwrap();
        let thread = codex.thread_handle("th-shared");
        // Another client's turn starts on the shared thread; its end has not arrived here.
        let started = turn_json("theirs", "inProgress", json!([]));
        script.send(json!({"method": "turn/started", "params": {"threadId": "th-shared", "turn": started}})).await;
        let turn = tokio::spawn(async move { thread.turn("mine").await });
        // This connection never resumed the thread: it subscribes first (an answer that
        // says nothing of the thread's status, so the stale view stands).
        let resume = script.next().await;
        assert_eq!(resume["method"], "thread/resume", "{resume}");
        assert_eq!(resume["params"], json!({"threadId": "th-shared", "excludeTurns": true}));
        script.send(json!({"id": resume["id"], "result": {}})).await;
        let read = script.next().await;
        assert_eq!(read["method"], "thread/read", "{read}");
        assert_eq!(read["params"], json!({"threadId": "th-shared", "includeTurns": false}));
        let mut listed = thread_json("th-shared");
        listed["status"] = json!({"type": status, "activeFlags": []});
        script.send(json!({"id": read["id"], "result": {"thread": listed}})).await;
        if status == "active" {
            match within("refused", turn).await.unwrap() {
                Err(Error::ThreadBusy { running_turn_id, merged: false, .. }) => assert_eq!(running_turn_id, "theirs"),
                other => panic!("expected ThreadBusy, got {other:?}"),
            }
        } else {
            let start = script.next().await;
            assert_eq!(start["method"], "turn/start", "{start}");
            script
                .send(json!({"id": start["id"], "result": {"turn": turn_json("mine", "inProgress", json!([]))}}))
                .await;
            // The turn's first item: the user message, tagged with the request's id (so the
            // client knows the turn is its own, not another client's that took the input).
            let tag = start["params"]["clientUserMessageId"].clone();
            assert!(tag.is_string(), "the input is tagged: {start}");
            let item = json!({"type": "userMessage", "id": "u1", "content": [], "clientId": tag});
            script
                .send(json!({"method": "item/started", "params": {"threadId": "th-shared", "turnId": "mine", "item": item}}))
                .await;
            let handle = within("started", turn).await.unwrap().expect("an idle thread takes the turn");
            assert_eq!(handle.id(), "mine");
            handle.detach();
        }
    }
}
