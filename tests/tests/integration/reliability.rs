//! Reliability under load against the real pinned `codex app-server` and the scripted mock
//! model: a slow consumer blocks nobody and stays bounded; 50 concurrent turns over 10
//! threads on one connection are routed exactly (nothing lost, duplicated or misrouted).
//! (1,000 turns with nobody listening: `reliability_idle.rs`; kills: `reliability_kill.rs`;
//! drop/close leaks: `reliability_leaks.rs`.)

use crate::common;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use codex_driver::methods::ServerNotification;
use codex_driver::rpc::ConnectionStats;
use codex_driver::testing::{
    AssistantMessage, CodexHome, ExecCommand, MockModel, MockResponse, RecordedRequest, ResponseStream, StallHandle,
};
use codex_driver::types::AskForApproval;
use codex_driver::types::{CommandExecutionApprovalDecision, CommandExecutionStatus, ThreadItem, TurnStatus};
use codex_driver::{ApprovalHandler, Codex, Thread, ThreadOptions, TurnEvents};
use common::{codex_bin, commands, deltas, drain_counting_lag, within, WAIT};
use futures::StreamExt;
use serde_json::Value;

// ----- helpers --------------------------------------------------------------------------------

/// `(threadId, turnId)` of a notification (`turnId` or `turn.id`).
fn ids(event: &ServerNotification) -> (Option<String>, Option<String>) {
    let params = event.params_json().expect("params");
    let get = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let thread = get(params.get("threadId"));
    let turn = get(params.get("turnId")).or_else(|| get(params.get("turn").and_then(|t| t.get("id"))));
    (thread, turn)
}

/// `params.item.id` of an `item/started` or `item/completed`.
fn item_id(event: &ServerNotification) -> String {
    let params = event.params_json().expect("params");
    params["item"]["id"].as_str().unwrap_or_else(|| panic!("{} without item.id: {params}", event.method())).to_owned()
}

fn count(events: &[ServerNotification], method: &str) -> usize {
    events.iter().filter(|e| e.method() == method).count()
}

async fn start_thread(codex: &Codex, options: ThreadOptions) -> Thread {
    within("thread/start", codex.thread_start(&options)).await.expect("thread/start")
}

/// Waits until `stall` is reached (the mock streamed everything before its pause point).
async fn reached(stall: &StallHandle) {
    assert!(stall.wait_reached(WAIT).await, "the mock response never reached its pause point");
}

/// The stall handles of responder-made responses, by prompt.
#[derive(Clone, Default)]
struct Stalls(Arc<Mutex<HashMap<String, StallHandle>>>);

impl Stalls {
    fn insert(&self, prompt: &str, stall: StallHandle) {
        self.0.lock().unwrap().insert(prompt.to_owned(), stall);
    }

    async fn get(&self, prompt: &str) -> StallHandle {
        within(&format!("the model request of {prompt:?}"), async {
            loop {
                if let Some(stall) = self.0.lock().unwrap().get(prompt) {
                    return stall.clone();
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
    }
}

// ----- 1. a slow consumer ----------------------------------------------------------------------

/// The capacity of each turn stream and subscription in the slow-consumer test.
const SMALL_BUFFER: usize = 16;
/// The deltas each slow turn streams before its model response pauses.
const SLOW_DELTAS: usize = 200;

/// Two turns are never polled while far more events arrive for them than their buffers
/// hold: another thread's turn still runs to completion, its command approval is asked
/// and answered, and what the connection buffers stays within the configured bounds. Then
/// the unpolled stream reports the overflow as `Lagged` and still ends with
/// `turn/completed`, and `run()` on the other unpolled turn recovers every item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_blocks_nobody_and_stays_bounded() {
    let model = MockModel::start().await.expect("mock model");
    let stalls = Stalls::default();
    let slow_text = "s".repeat(SLOW_DELTAS);
    model.respond_with({
        let stalls = stalls.clone();
        let slow_text = slow_text.clone();
        move |request: &RecordedRequest| {
            let prompt = request.last_user_text()?.to_owned();
            if prompt == "approve" {
                if request.function_call_output("call-approve").is_some() {
                    return Some(MockResponse::text("approved and done"));
                }
                let call = ExecCommand::new("call-approve", "echo approved > approved.txt")
                    .escalated("needs to write a marker");
                return Some(MockResponse::exec_command(call));
            }
            let (first, stall) =
                ResponseStream::new().message(AssistantMessage::new(slow_text.clone()).deltas(SLOW_DELTAS)).pause();
            stalls.insert(&prompt, stall);
            Some(first.text(format!("end of {prompt}")).completed())
        }
    });
    let home =
        CodexHome::builder(&model.base_url()).approval_policy(AskForApproval::OnRequest).build().expect("codex home");
    let approvals = Arc::new(Mutex::new(Vec::new()));
    let handler = ApprovalHandler::new().on_command_execution({
        let approvals = approvals.clone();
        move |params| {
            approvals.lock().unwrap().push(params.turn_id.clone());
            async { CommandExecutionApprovalDecision::Accept }
        }
    });
    let mut config = home.client_config(&codex_bin());
    config.connection = config.connection.with_buffers(SMALL_BUFFER, SMALL_BUFFER);
    let codex = within("connect with small buffers", Codex::builder().config(config).handler(handler).connect())
        .await
        .expect("connect");
    let conn = codex.connection().clone();
    let options = ThreadOptions::default().cwd(home.work_dir());

    // Two turns nobody polls, each past its buffer: 200 deltas into 16 slots.
    let streamed_thread = start_thread(&codex, options.clone()).await;
    let run_thread = start_thread(&codex, options.clone()).await;
    let streamed = within("turn/start", streamed_thread.turn("slow-stream")).await.expect("turn/start");
    let ran = within("turn/start", run_thread.turn("slow-run")).await.expect("turn/start");
    let stall_streamed = stalls.get("slow-stream").await;
    let stall_ran = stalls.get("slow-run").await;
    reached(&stall_streamed).await;
    reached(&stall_ran).await;
    let overflowing = 2 * (SLOW_DELTAS - SMALL_BUFFER) as u64;
    within("both unpolled turns overflow their buffers", async {
        while conn.stats().events_lagged < overflowing {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let before = conn.stats();
    // Each buffer holds at most its capacity (+1 for a turn's final `turn/completed`).
    let bound = |s: &ConnectionStats| (s.turn_subscriptions + s.subscriptions + s.reservations) * (SMALL_BUFFER + 1);
    assert!(before.buffered_events <= bound(&before), "{before:?}");

    // Meanwhile, another thread's turn with an approval runs to completion.
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = tokio::spawn({
        let conn = conn.clone();
        let sampling = sampling.clone();
        async move {
            let mut samples = Vec::new();
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                samples.push(conn.stats());
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            samples
        }
    });
    let approval_thread = start_thread(&codex, options.clone()).await;
    let approved = within("a turn with an approval, past two unpolled turns", approval_thread.run("approve"))
        .await
        .expect("the approval turn");
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let samples = within("the sampler", sampler).await.unwrap();
    assert_eq!(approved.status, TurnStatus::Completed);
    assert_eq!(approved.final_response(), Some("approved and done"));
    assert_eq!(*approvals.lock().unwrap(), vec![approved.id.clone()]);
    let ran_commands = commands(&approved);
    assert_eq!(ran_commands.len(), 1, "{:#?}", approved.items);
    assert_eq!(ran_commands[0].status, CommandExecutionStatus::Completed);
    assert_eq!(std::fs::read_to_string(home.work_dir().join("approved.txt")).ok().as_deref(), Some("approved\n"));
    let after = conn.stats();
    assert!(after.notifications_received > before.notifications_received);
    assert!(after.server_requests >= 1);
    let max_buffered = samples.iter().map(|s| s.buffered_events).max().unwrap_or(0);
    for sample in &samples {
        assert!(sample.buffered_events <= bound(sample), "{sample:?}");
    }
    // Three turns at most were buffered at once, however much arrived.
    assert!(max_buffered <= 3 * (SMALL_BUFFER + 1), "{max_buffered}");
    eprintln!(
        "slow consumer: {} samples, buffered at most {max_buffered} events while {} notifications arrived ({} lagged)",
        samples.len(),
        after.notifications_received,
        after.events_lagged,
    );

    // The unpolled stream: the overflow as `Lagged`, then the rest, ending with turn/completed.
    stall_streamed.release();
    stall_ran.release();
    let mut events = streamed.stream();
    let (delivered, skipped) = drain_counting_lag(&mut events).await;
    assert!(skipped >= (SLOW_DELTAS - SMALL_BUFFER) as u64, "{skipped} skipped");
    match delivered.last() {
        Some(ServerNotification::TurnCompleted(done)) => {
            assert_eq!(done.turn.status, TurnStatus::Completed)
        }
        other => panic!("the stream did not end with turn/completed: {other:?}"),
    }
    assert_eq!(count(&delivered, "turn/completed"), 1);

    // `run()` on the other unpolled turn recovers the items lost to the overflow.
    let result = within("run after the overflow", ran.run()).await.expect("run");
    assert_eq!(result.status, TurnStatus::Completed);
    let agent_texts: Vec<&str> = result
        .items
        .iter()
        .filter_map(|item| match item {
            ThreadItem::AgentMessage(m) => Some(m.text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(agent_texts, [slow_text.as_str(), "end of slow-run"]);
    assert!(matches!(result.items.first(), Some(ThreadItem::UserMessage(_))));

    let end = conn.stats();
    assert_eq!(
        (end.buffered_events, end.turn_subscriptions, end.reservations, end.pending_requests),
        (0, 0, 0, 0),
        "{end:?}"
    );
    assert_eq!(model.unscripted_requests(), 0);
}

// ----- 2. concurrency soak -------------------------------------------------------------------

const SOAK_THREADS: usize = 10;
const SOAK_TURNS: usize = 5;
const SOAK_DELTAS: usize = 12;

/// The answer the mock streams for `prompt`.
fn soak_answer(prompt: &str) -> String {
    format!("answer {prompt}: {}", "abcdefghij".repeat(2))
}

/// Everything one turn's stream yielded, in order (an error fails the test).
async fn collect_turn(what: &str, mut events: TurnEvents) -> Vec<ServerNotification> {
    within(what, async {
        let mut seen = Vec::new();
        while let Some(event) = events.next_event().await {
            seen.push(event.unwrap_or_else(|e| panic!("{what}: stream error {e}")));
        }
        seen
    })
    .await
}

/// Checks one turn's events: all of this turn, deltas and the final text as expected,
/// item lifecycles paired, exactly one `turn/started` and one final `turn/completed`.
fn check_turn(prompt: &str, thread_id: &str, turn_id: &str, events: &[ServerNotification]) {
    for event in events {
        let (thread, turn) = ids(event);
        assert_eq!(turn.as_deref(), Some(turn_id), "{prompt}: foreign {event:?}");
        if let Some(thread) = thread {
            assert_eq!(thread, thread_id, "{prompt}: foreign {event:?}");
        }
    }
    let expected = soak_answer(prompt);
    let streamed = deltas(events);
    assert_eq!(streamed.len(), SOAK_DELTAS, "{prompt}: {streamed:?}");
    assert_eq!(streamed.concat(), expected, "{prompt}");
    assert_eq!(count(events, "turn/started"), 1, "{prompt}");
    assert_eq!(count(events, "turn/completed"), 1, "{prompt}");
    match events.last() {
        Some(ServerNotification::TurnCompleted(done)) => {
            assert_eq!(done.turn.status, TurnStatus::Completed, "{prompt}")
        }
        other => panic!("{prompt}: did not end with turn/completed: {other:?}"),
    }
    let started: Vec<String> = events.iter().filter(|e| e.method() == "item/started").map(item_id).collect();
    let completed: Vec<String> = events.iter().filter(|e| e.method() == "item/completed").map(item_id).collect();
    let unique: HashSet<&String> = completed.iter().collect();
    assert_eq!(unique.len(), completed.len(), "{prompt}: duplicate item ids {completed:?}");
    let mut paired = started.clone();
    paired.sort();
    let mut done = completed.clone();
    done.sort();
    assert_eq!(paired, done, "{prompt}: item/started vs item/completed");
    let finals: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            ServerNotification::ItemCompleted(c) => match &c.item {
                ThreadItem::AgentMessage(m) => Some(m.text.as_str()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(finals, [expected.as_str()], "{prompt}");
}

/// 50 turns over 10 threads on one connection, the threads running concurrently, each
/// turn's answer echoing its own prompt: every turn's stream holds exactly its own events
/// (the same ones, in the same order, as a connection-wide subscription saw for it), and
/// nothing is lost, duplicated, unrouted or lagged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_turns_over_ten_threads_route_exactly() {
    let model = MockModel::start().await.expect("mock model");
    model.respond_with(|request| {
        let prompt = request.last_user_text()?;
        let message = AssistantMessage::new(soak_answer(prompt)).deltas(SOAK_DELTAS);
        Some(ResponseStream::new().message(message).completed())
    });
    let home = CodexHome::new(&model.base_url()).expect("codex home");
    let mut config = home.client_config(&codex_bin());
    config.connection = config.connection.with_buffers(8192, 16384);
    let codex = within("connect", Codex::builder().config(config).connect()).await.expect("connect");
    let conn = codex.connection().clone();

    // Everything on the connection, drained as it comes, by turn id.
    let mut all = codex.notifications();
    let unrouted_before = conn.stats().notifications_unrouted;
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel::<()>();
    let watcher = tokio::spawn(async move {
        let mut by_turn: BTreeMap<String, Vec<ServerNotification>> = BTreeMap::new();
        let mut running = 0usize;
        let mut max_running = 0usize;
        loop {
            let event = tokio::select! {
                event = all.next() => event,
                _ = &mut done_rx => break,
            };
            let event = event.expect("open").expect("no lag, no decode error");
            match event.method() {
                "turn/started" => {
                    running += 1;
                    max_running = max_running.max(running);
                }
                "turn/completed" => running -= 1,
                _ => {}
            }
            if let (_, Some(turn)) = ids(&event) {
                by_turn.entry(turn).or_default().push(event);
            }
        }
        // Whatever is still buffered.
        while let Some(Some(event)) = futures::FutureExt::now_or_never(all.next()) {
            let event = event.expect("no lag");
            if let (_, Some(turn)) = ids(&event) {
                by_turn.entry(turn).or_default().push(event);
            }
        }
        (by_turn, max_running)
    });

    let mut threads = Vec::new();
    for _ in 0..SOAK_THREADS {
        threads.push(start_thread(&codex, ThreadOptions::default()).await);
    }
    let started = Instant::now();
    let runs = threads.iter().enumerate().map(|(t, thread)| async move {
        let mut turns = Vec::new();
        for n in 0..SOAK_TURNS {
            let prompt = format!("t{t}-{n}");
            let turn = within("turn/start", thread.turn(prompt.as_str()))
                .await
                .unwrap_or_else(|e| panic!("turn/start {prompt}: {e}"));
            let turn_id = turn.id().to_owned();
            let events = collect_turn(&prompt, turn.stream()).await;
            check_turn(&prompt, thread.id(), &turn_id, &events);
            turns.push((prompt, turn_id, events));
        }
        turns
    });
    let turns: Vec<_> = within("50 turns", futures::future::join_all(runs)).await.into_iter().flatten().collect();
    let elapsed = started.elapsed();
    assert_eq!(turns.len(), SOAK_THREADS * SOAK_TURNS);
    let turn_ids: HashSet<&String> = turns.iter().map(|(_, id, _)| id).collect();
    assert_eq!(turn_ids.len(), turns.len(), "turn ids are unique");

    // Let the trailing notifications of the last turns arrive, then stop the watcher.
    within("a round trip after the turns", codex.models()).await.expect("model/list");
    let _ = done_tx.send(());
    let (by_turn, max_running) = within("the watcher", watcher).await.unwrap();
    assert_eq!(by_turn.len(), turns.len(), "turns seen connection-wide");
    for (prompt, turn_id, events) in &turns {
        let wide = &by_turn[turn_id];
        let seen = |list: &[ServerNotification]| -> Vec<(String, Value)> {
            list.iter().map(|e| (e.method().to_owned(), e.params_json().expect("params"))).collect()
        };
        assert_eq!(seen(events), seen(wide), "{prompt}: its stream differs from what the connection carried for it");
    }
    assert!(max_running > 1, "the turns never overlapped");

    let stats = conn.stats();
    assert_eq!(
        (
            stats.events_lagged,
            stats.notifications_unrouted - unrouted_before,
            stats.invalid_messages,
            stats.unmatched_responses,
        ),
        (0, 0, 0, 0),
        "{stats:?}"
    );
    assert_eq!((stats.turn_subscriptions, stats.reservations, stats.pending_requests), (0, 0, 0), "{stats:?}");
    let prompts: HashSet<String> =
        model.requests().iter().filter_map(|r| r.last_user_text().map(str::to_owned)).collect();
    assert_eq!(prompts.len(), turns.len(), "one model request per turn");
    assert_eq!(model.request_count(), turns.len());
    eprintln!(
        "{} turns over {SOAK_THREADS} threads in {elapsed:?}; up to {max_running} turns in flight at once; {} notifications",
        turns.len(),
        stats.notifications_received
    );
}
