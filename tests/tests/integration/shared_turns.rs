//! Turns on a shared server, against the real `codex app-server` over WebSocket with two
//! clients (and over stdio where it applies): no client harms another's turn, nothing
//! waits forever, closing keeps its promises, a stream ended by the connection is
//! `TransportClosed` everywhere, a caller can give up and learn the outcome, approvals are
//! answered by the turn's owner, and threads nothing needs are let go.

use crate::common;
use codex_driver::methods::ServerNotification;
use codex_driver::testing::{ListeningAppServer, MockResponse, ResponseStream, ServerAuth, StallHandle};
use codex_driver::types::AskForApproval;
use codex_driver::types::{CommandExecutionApprovalDecision as Decision, CommandExecutionStatus};
use codex_driver::types::{Turn, TurnStatus};
use codex_driver::{ApprovalHandler, Codex, Error, Thread, ThreadOptions};
use common::{within, World};
use futures::{FutureExt, StreamExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A world with a WebSocket app-server on its home, and a way to attach clients to it.
struct Shared {
    world: World,
    server: ListeningAppServer,
}

impl Shared {
    async fn start() -> Shared {
        Shared::start_with(|h| h).await
    }

    async fn start_with(
        home: impl FnOnce(codex_driver::testing::CodexHomeBuilder) -> codex_driver::testing::CodexHomeBuilder,
    ) -> Shared {
        let world = World::start_with(home, |b| b).await;
        let server = within("listen", world.home.listen_websocket(&common::codex_bin(), ServerAuth::CapabilityToken))
            .await
            .expect("a listening app-server");
        Shared { world, server }
    }

    async fn client(&self) -> Codex {
        self.client_with(|b| b).await
    }

    async fn client_with(&self, f: impl FnOnce(codex_driver::CodexBuilder) -> codex_driver::CodexBuilder) -> Codex {
        let builder = f(Codex::builder().config(self.world.config()).websocket(self.server.websocket_endpoint()));
        within("attach", builder.connect()).await.expect("attach")
    }

    /// A thread started by `client` with a first turn (so another client can load it).
    async fn warm_thread(&self, client: &Codex) -> Thread {
        let options = ThreadOptions::default().cwd(self.world.home.work_dir());
        let thread = within("thread/start", client.thread_start(&options)).await.unwrap();
        self.world.model.push(MockResponse::text("warm"));
        within("warm-up", thread.run("warm up")).await.unwrap();
        thread
    }

    /// The next model answer stalls after a delta (its turn keeps running) until released.
    fn stalled(&self, rest: &str) -> StallHandle {
        let (first, stall) = ResponseStream::new().text("partial ").pause();
        self.world.model.push(first.text(rest).completed());
        stall
    }
}

/// A shared server, two clients attached to it, and a thread that `a` started (with a first
/// turn, so `b` can load it).
async fn two_clients() -> (Shared, Codex, Codex, Thread) {
    let shared = Shared::start().await;
    let (a, b) = (shared.client().await, shared.client().await);
    let thread_a = shared.warm_thread(&a).await;
    (shared, a, b, thread_a)
}

async fn reached(stall: &StallHandle) {
    assert!(stall.wait_reached(common::WAIT).await, "the mock never reached its pause point");
}

/// The turns of `thread` as the server records them.
async fn recorded(thread: &Thread) -> Vec<Turn> {
    within("thread/read", thread.read_with_turns()).await.expect("thread/read").turns
}

/// Waits until the server records `turn_id` of `thread` as no longer in progress.
async fn ended(thread: &Thread, turn_id: &str) -> TurnStatus {
    within("the turn to end", async {
        loop {
            let turns = recorded(thread).await;
            let turn = turns.iter().find(|t| t.id == turn_id).expect("the turn is recorded");
            if turn.status != TurnStatus::InProgress {
                return turn.status.clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// Point 1: B resumes A's thread while A's turn runs. The resume answer says the thread is
/// active, so B's turn is refused (nothing merged); B can follow A's turn with a handle,
/// and dropping that handle does not interrupt A's turn.
#[tokio::test]
async fn another_clients_running_turn_is_busy_here_and_never_interrupted_by_a_drop() {
    let (shared, a, b, thread_a) = two_clients().await;
    let stall = shared.stalled("answer");
    let turn_a = within("turn", thread_a.turn("a's work")).await.unwrap();
    reached(&stall).await;

    let thread_b = within("resume", b.thread_resume(thread_a.id(), &ThreadOptions::default())).await.unwrap();
    assert_eq!(b.connection().running_turn(thread_b.id()).as_deref(), Some(turn_a.id()), "known from the answer");
    let requests = shared.world.model.request_count();
    match within("b's turn", thread_b.turn("b's input")).await {
        Err(Error::ThreadBusy { running_turn_id, merged: false, .. }) => assert_eq!(running_turn_id, turn_a.id()),
        other => panic!("expected ThreadBusy, got {other:?}"),
    }
    // B follows A's turn, then walks away: only watching stops.
    let followed = within("running_turn", thread_b.running_turn()).await.unwrap().expect("a running turn");
    assert_eq!(followed.id(), turn_a.id());
    assert!(!followed.interrupts_on_drop());
    drop(followed);
    drop(thread_b);
    // B closes: a close first delivers every interrupt its client owes, so an interrupt a
    // drop had queued would reach the server (and end a's turn) before this returns.
    b.close().await;

    stall.release();
    let result = within("a's run", turn_a.run()).await.unwrap();
    assert_eq!(result.status, TurnStatus::Completed);
    assert_eq!(result.final_response(), Some("answer"));
    assert_eq!(shared.world.model.request_count(), requests, "b's input never reached the model");
    let turns = recorded(&thread_a).await;
    assert_eq!(common::user_texts(&turns[1].items), ["a's work"], "b's input never reached a's turn");
    assert!(a.close().await.is_clean());
}

/// A compaction's answer names no turn: its handle's turn is the one that starts on the
/// thread after the request. On a shared thread, the other client sees that turn as busy
/// (for a turn and for a compaction of its own), and the compaction's handle ends in its
/// result with the `contextCompaction` item.
#[tokio::test]
async fn a_compaction_on_a_shared_thread_is_its_clients_turn_and_busy_for_the_other() {
    let (shared, a, b, thread_a) = two_clients().await;
    let thread_b = within("resume", b.thread_resume(thread_a.id(), &ThreadOptions::default())).await.unwrap();
    let stall = shared.stalled("SUMMARY: warm up");
    let compaction = within("compact", thread_a.compact()).await.expect("compact");
    assert!(compaction.interrupts_on_drop(), "a's compaction is a's turn");
    reached(&stall).await;

    for attempt in ["turn", "compact"] {
        let refused = match attempt {
            "turn" => within("b's turn", thread_b.turn("b's input")).await.map(|_| ()),
            _ => within("b's compaction", thread_b.compact()).await.map(|_| ()),
        };
        match refused {
            Err(Error::ThreadBusy { running_turn_id, merged: false, .. }) => {
                assert_eq!(running_turn_id, compaction.id(), "{attempt}")
            }
            other => panic!("{attempt}: expected ThreadBusy, got {other:?}"),
        }
    }

    stall.release();
    let result = within("a's compaction", compaction.run()).await.unwrap();
    assert_eq!(result.status, TurnStatus::Completed);
    assert!(
        result.items.iter().any(|i| matches!(i, codex_driver::types::ThreadItem::ContextCompaction(_))),
        "{:#?}",
        result.items
    );
    assert!(a.close().await.is_clean());
    b.close().await;
}

/// Point 1 from the other side: a handle for another client's turn streams it to its end
/// and its result carries the turn's items (re-read from the server's record).
#[tokio::test]
async fn a_followed_turn_of_another_client_ends_in_its_result() {
    let (shared, a, b, thread_a) = two_clients().await;
    let stall = shared.stalled("answer");
    let turn_a = within("turn", thread_a.turn("a's work")).await.unwrap();
    reached(&stall).await;
    let followed = within("running_turn", b.thread_handle(thread_a.id()).running_turn()).await.unwrap();
    let followed = followed.expect("b sees a's turn after subscribing");
    stall.release();
    let seen = within("b's result", followed.run()).await.unwrap();
    let own = within("a's run", turn_a.run()).await.unwrap();
    assert_eq!((seen.id.as_str(), seen.status.clone()), (own.id.as_str(), TurnStatus::Completed));
    assert_eq!(seen.final_response(), Some("answer"));
    a.close().await;
    b.close().await;
}

/// Point 2: a turn on a thread this connection never resumed returns: the SDK subscribes
/// first (a settings-free resume), so the turn's events come here.
#[tokio::test]
async fn a_turn_on_a_thread_never_resumed_here_returns() {
    let (shared, a, b, thread_a) = two_clients().await;
    let settings = thread_a.settings().cloned();
    let handle = b.thread_handle(thread_a.id());
    assert!(!b.connection().is_subscribed(handle.id()));
    shared.world.model.push(MockResponse::text("b's answer"));
    let result = within("b's run", handle.run("from b")).await.expect("b's run returns");
    assert_eq!(result.final_response(), Some("b's answer"));
    assert!(b.connection().is_subscribed(handle.id()));
    // The thread's settings did not change.
    let resumed = within("resume", a.thread_resume(thread_a.id(), &ThreadOptions::default())).await.unwrap();
    assert_eq!(resumed.settings().map(|s| &s.model), settings.as_ref().map(|s| &s.model));
    assert_eq!(resumed.settings().map(|s| &s.approval_policy), settings.as_ref().map(|s| &s.approval_policy));
    a.close().await;
    b.close().await;
}

/// Point 3: give up on a turn, then close at once: the close delivers the interrupt (the
/// turn ends `interrupted` on the server) and reports nothing left running. Several
/// rounds, as the loss was intermittent.
#[tokio::test]
async fn close_right_after_giving_up_delivers_the_interrupt() {
    let shared = Shared::start().await;
    let observer = shared.client().await;
    for round in 0..4 {
        let a = shared.client().await;
        let thread_a = shared.warm_thread(&a).await;
        let stall = shared.stalled("never");
        let run = thread_a.run("hang");
        let timed_out =
            tokio::time::timeout(Duration::from_millis(1500), async { tokio::join!(run, reached(&stall)).0 }).await;
        assert!(timed_out.is_err(), "round {round}: the stalled turn completed");
        let turn_id = a.connection().running_turn(thread_a.id()).expect("the turn is still known");
        let report = within("close", a.close()).await;
        assert!(report.is_clean(), "round {round}: {report:?}");
        let thread_o = observer.thread_handle(thread_a.id());
        assert_eq!(ended(&thread_o, &turn_id).await, TurnStatus::Interrupted, "round {round}");
        stall.release();
    }
    observer.close().await;
}

/// Point 4 (stdio): the server dies while a turn is streamed: the stream yields
/// `TransportClosed`, and so does `result()` afterwards.
#[tokio::test]
async fn a_stream_cut_by_a_dead_server_is_transport_closed_in_its_result_too() {
    let world = World::start().await;
    let thread = within("thread/start", world.codex.thread_start(&ThreadOptions::default())).await.unwrap();
    let (first, stall) = ResponseStream::new().text("partial ").pause();
    world.model.push(first.text("never").completed());
    let mut events = within("turn", thread.turn("hang")).await.unwrap().stream();
    reached(&stall).await;
    common::kill_9(world.codex.connection().pid().expect("a spawned server"));
    let mut closed = false;
    while let Some(event) = within("event", events.next()).await {
        if let Err(e) = event {
            closed |= e.is_transport_closed();
        }
    }
    assert!(closed, "the stream yielded TransportClosed");
    let result = within("result", events.result()).await;
    common::assert_transport_closed("result() after the stream ended", result);
    stall.release();
}

/// Points 5 and 6: a whole-turn deadline interrupts and names the turn with its result;
/// `cancel()` gives up and returns the interrupted result; an idle timeout reports and
/// leaves the turn running.
#[tokio::test]
async fn deadlines_cancel_and_idle_timeouts_report_the_outcome() {
    let world = World::start().await;
    let thread = within("thread/start", world.codex.thread_start(&ThreadOptions::default())).await.unwrap();

    let (first, stall) = ResponseStream::new().text("partial ").pause();
    world.model.push(first.text("never").completed());
    let handle = within("turn", thread.turn("deadline")).await.unwrap();
    let turn_id = handle.id().to_owned();
    match within("run_timeout", handle.run_timeout(Duration::from_millis(800))).await {
        Err(Error::TurnTimeout { turn_id: named, result: Some(result), .. }) => {
            assert_eq!(named, turn_id);
            assert_eq!(result.status, TurnStatus::Interrupted);
        }
        other => panic!("expected TurnTimeout with the interrupted result, got {other:?}"),
    }
    stall.release();

    let (first, stall) = ResponseStream::new().text("partial ").pause();
    world.model.push(first.text("never").completed());
    let handle = within("turn", thread.turn("cancel")).await.unwrap();
    reached(&stall).await;
    let result = within("cancel", handle.cancel()).await.expect("the outcome");
    assert_eq!(result.status, TurnStatus::Interrupted);
    stall.release();

    let (first, stall) = ResponseStream::new().text("partial ").pause();
    world.model.push(first.text("done").completed());
    let mut events =
        within("turn", thread.turn("idle")).await.unwrap().stream().idle_timeout(Duration::from_millis(300));
    let idle = within("idle", async {
        loop {
            match events.next().await {
                Some(Err(e @ Error::TurnIdle { .. })) => return e,
                Some(_) => {}
                None => panic!("the stream ended before an idle report"),
            }
        }
    })
    .await;
    assert!(idle.is_timeout());
    stall.release();
    let result = within("result", events.result()).await.unwrap();
    assert_eq!((&result.status, result.final_response()), (&TurnStatus::Completed, Some("done")));
    assert_eq!(recorded(&thread).await.last().map(|t| t.status.clone()), Some(TurnStatus::Completed));
}

fn accepting() -> (ApprovalHandler, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let handler = ApprovalHandler::new().on_command_execution(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        async {
            // Slower than a bystander's automatic answer would be.
            tokio::time::sleep(Duration::from_millis(50)).await;
            Decision::Accept
        }
    });
    (handler, calls)
}

/// Point 8, in both orders: the client whose turn asks for an approval answers it; a
/// client that merely resumed the thread (no handler) never declines it by default.
#[tokio::test]
async fn a_bystander_never_declines_the_owners_approvals() {
    let shared = Shared::start_with(|h| h.approval_policy(AskForApproval::OnRequest)).await;
    for (round, owner_started_thread) in [true, false, true, false].into_iter().enumerate() {
        let (handler, calls) = accepting();
        let owner = shared.client_with(|b| b.handler(handler.clone())).await;
        let bystander = shared.client().await;
        let (first, second) = if owner_started_thread { (&owner, &bystander) } else { (&bystander, &owner) };
        let started = shared.warm_thread(first).await;
        let resumed = within("resume", second.thread_resume(started.id(), &ThreadOptions::default())).await.unwrap();
        let owners_thread = if owner_started_thread { &started } else { &resumed };
        let file = format!("owner-{round}.txt");
        shared.world.model.push(common::exec(&format!("call_{round}"), &file));
        shared.world.model.push(MockResponse::text("ran"));
        let result = within("owner's run", owners_thread.run("write")).await.unwrap();
        assert_eq!(
            common::command_status(&result),
            Some(CommandExecutionStatus::Completed),
            "round {round}: {:#?}",
            result.items
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1, "round {round}");
        assert!(shared.world.home.work_dir().join(&file).exists(), "round {round}");
        assert!(
            bystander.connection().stats().server_requests_left >= 1,
            "round {round}: the bystander saw it and left it"
        );
        owner.close().await;
        bystander.close().await;
    }
}

/// Point 9: a thread nothing needs any more is unsubscribed, so a long-lived client stops
/// receiving its events; a later turn from that client subscribes again.
#[tokio::test]
async fn a_thread_no_handle_needs_is_let_go() {
    let (shared, a, b, thread_a) = two_clients().await;
    let id = thread_a.id().to_owned();
    let mut all_a = a.notifications();
    drop(thread_a);
    within("unsubscribed", async {
        while a.connection().is_subscribed(&id) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // B runs a turn on the thread: A receives none of it.
    shared.world.model.push(MockResponse::text("b's answer"));
    let result = within("b's run", b.thread_handle(&id).run("from b")).await.unwrap();
    assert_eq!(result.final_response(), Some("b's answer"));
    // A round trip on A: whatever the server sent A before its answer is queued by now.
    within("a's round trip", a.thread_handle(&id).read()).await.unwrap();
    let mut leaked = false;
    while let Some(Some(event)) = all_a.next().now_or_never() {
        leaked |= matches!(event, Ok(ServerNotification::TurnCompleted(done)) if done.thread_id == id);
    }
    assert!(!leaked, "a still received the thread's turn events");
    // A comes back: a turn subscribes again and runs.
    shared.world.model.push(MockResponse::text("a again"));
    let again = within("a's run", a.thread_handle(&id).run("from a")).await.unwrap();
    assert_eq!(again.final_response(), Some("a again"));
    a.close().await;
    b.close().await;
}
