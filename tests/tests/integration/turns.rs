//! Turns through the SDK's public API, against the real `codex app-server` and the scripted
//! mock model: results and usage, final-response phase rules, per-turn params, failures,
//! delta streaming, routing of concurrent turns, unpolled streams, steer, interrupt, image
//! inputs, and the app-server dying mid-turn.

use crate::common;
use codex_driver::methods::ServerNotification;
use codex_driver::testing::{AssistantMessage, MockResponse, RecordedRequest, ResponseStream, StallHandle, Usage};
use codex_driver::types::{MessagePhase, ThreadItem, TurnStatus, UserInput};
use codex_driver::{Codex, Error, Input, Thread, ThreadOptions, TurnEvents, TurnOptions};
use common::{assert_transport_closed, deltas, drain_counting_lag, kill_9, within, World};
use serde_json::Value;
use std::time::Duration;

// ----- helpers --------------------------------------------------------------------------

async fn new_thread(world: &World) -> Thread {
    within("thread/start", world.codex.thread_start(&ThreadOptions::default())).await.expect("thread/start")
}

/// Waits until the mock has streamed up to `stall`'s pause point (so its request was taken).
async fn reached(stall: &StallHandle) {
    assert!(stall.wait_reached(common::WAIT).await, "the mock response never reached its pause point");
}

/// The `n`-th (1-based) model request, waiting for it.
async fn request(world: &World, n: usize) -> RecordedRequest {
    let requests = world.model.wait_for_requests(n, common::WAIT).await.expect("model request");
    requests[n - 1].clone()
}

/// Every event of a turn stream up to its end, failing on an error item.
async fn drain(what: &str, events: &mut TurnEvents) -> Vec<ServerNotification> {
    within(what, async {
        let mut seen = Vec::new();
        while let Some(event) = events.next_event().await {
            seen.push(event.unwrap_or_else(|e| panic!("{what}: stream error {e}")));
        }
        seen
    })
    .await
}

/// `(threadId, turnId)` of a notification's params (`turnId` or `turn.id`).
fn ids(event: &ServerNotification) -> (Option<String>, Option<String>) {
    let params = event.params_json().expect("params");
    let get = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let thread = get(params.get("threadId"));
    let turn = get(params.get("turnId")).or_else(|| get(params.get("turn").and_then(|t| t.get("id"))));
    (thread, turn)
}

fn completed_status(events: &[ServerNotification]) -> TurnStatus {
    match events.last() {
        Some(ServerNotification::TurnCompleted(done)) => done.turn.status.clone(),
        other => panic!("the stream did not end with turn/completed: {other:?}"),
    }
}

fn agent_messages(items: &[ThreadItem]) -> Vec<(String, Option<MessagePhase>)> {
    items
        .iter()
        .filter_map(|item| match item {
            ThreadItem::AgentMessage(m) => Some((m.text.clone(), m.phase.clone())),
            _ => None,
        })
        .collect()
}

fn message(text: &str, phase: Option<MessagePhase>) -> AssistantMessage {
    let m = AssistantMessage::new(text);
    match phase {
        Some(p) => m.phase(p),
        None => m,
    }
}

/// A response made of these assistant messages, then `response.completed`.
fn messages(list: &[(&str, Option<MessagePhase>)]) -> MockResponse {
    list.iter().fold(ResponseStream::new(), |s, (text, phase)| s.message(message(text, phase.clone()))).completed()
}

// 1x1 red PNG, as a data URL.
const RED_PIXEL_DATA_URL: &str =
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

// 2x2 blue PNG.
const BLUE_2X2_PNG: [u8; 72] = [
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 2, 0, 0, 0, 2, 8, 2, 0, 0, 0, 253, 212, 154,
    115, 0, 0, 0, 15, 73, 68, 65, 84, 120, 156, 99, 96, 96, 248, 15, 70, 96, 10, 0, 23, 246, 3, 253, 126, 235, 55, 243,
    0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];

// ----- 1. result, usage, items, timing --------------------------------------------------

#[tokio::test]
async fn run_returns_final_response_usage_items_and_timing() {
    let world = World::start().await;
    let usage = Usage {
        input_tokens: 120,
        cached_input_tokens: 20,
        output_tokens: 30,
        reasoning_output_tokens: 5,
        total_tokens: 150,
    };
    world.model.push(ResponseStream::new().text("The answer is 42").usage(usage).completed());
    world.model.push(ResponseStream::new().text("Second").usage(Usage::new(10, 5)).completed());
    let thread = new_thread(&world).await;

    let handle = within("turn/start", thread.turn("What is the answer?")).await.unwrap();
    let turn_id = handle.id().to_owned();
    assert_eq!(handle.thread_id(), thread.id());
    let result = within("run", handle.run()).await.unwrap();

    assert_eq!(result.id, turn_id);
    assert_eq!(result.status, TurnStatus::Completed);
    assert_eq!(result.error, None);
    assert_eq!(result.final_response(), Some("The answer is 42"));

    let usage = result.usage.as_ref().expect("usage from thread/tokenUsage/updated");
    let last = &usage.last;
    assert_eq!(
        (
            last.input_tokens,
            last.cached_input_tokens,
            last.output_tokens,
            last.reasoning_output_tokens,
            last.total_tokens
        ),
        (120, 20, 30, 5, 150)
    );
    assert_eq!(usage.total, usage.last, "first turn: total equals last");

    // Items in order: the user's message first, the agent's answer last.
    match result.items.first() {
        Some(ThreadItem::UserMessage(user)) => match user.content.as_slice() {
            [UserInput::Text(text)] => assert_eq!(text.text, "What is the answer?"),
            other => panic!("unexpected user content {other:?}"),
        },
        other => panic!("first item is not the user message: {other:?}"),
    }
    match result.items.last() {
        Some(ThreadItem::AgentMessage(agent)) => assert_eq!(agent.text, "The answer is 42"),
        other => panic!("last item is not the agent message: {other:?}"),
    }

    // Timing.
    let started = result.started_at.expect("started_at");
    let completed = result.completed_at.expect("completed_at");
    assert!(started > 1_600_000_000 && completed >= started, "{started} .. {completed}");
    assert!(result.duration_ms.expect("duration_ms") >= 0);

    // A second turn: `last` is that turn's, `total` accumulates over the thread.
    let second = within("second run", thread.run("Again")).await.unwrap();
    assert_eq!(second.final_response(), Some("Second"));
    let usage2 = second.usage.expect("usage of the second turn");
    assert_eq!((usage2.last.input_tokens, usage2.last.output_tokens, usage2.last.total_tokens), (10, 5, 15));
    assert_eq!(usage2.total.total_tokens, 165);
    assert_eq!(usage2.total.input_tokens, 130);
    assert_ne!(second.id, result.id);
}

// ----- 2. final_response phase rules ------------------------------------------------------

#[tokio::test]
async fn final_response_follows_the_phase_rules() {
    use MessagePhase::{Commentary, FinalAnswer};
    let world = World::start().await;
    let thread = new_thread(&world).await;

    // The last `final_answer` wins over a later unphased message.
    world.model.push(messages(&[
        ("Let me think", Some(Commentary)),
        ("Early final", Some(FinalAnswer)),
        ("The real final", Some(FinalAnswer)),
        ("Trailing unphased", None),
    ]));
    let result = within("final_answer turn", thread.run("one")).await.unwrap();
    assert_eq!(
        agent_messages(&result.items),
        [
            ("Let me think".to_owned(), Some(MessagePhase::Commentary)),
            ("Early final".to_owned(), Some(MessagePhase::FinalAnswer)),
            ("The real final".to_owned(), Some(MessagePhase::FinalAnswer)),
            ("Trailing unphased".to_owned(), None),
        ],
        "every scripted message arrives as an agentMessage, in order, with its phase"
    );
    assert_eq!(result.final_response(), Some("The real final"));

    // No final_answer: the last unphased message, even an empty one; commentary after it
    // is not promoted.
    world.model.push(messages(&[("first unphased", None), ("", None), ("narration", Some(Commentary))]));
    let result = within("unphased turn", thread.run("two")).await.unwrap();
    assert_eq!(agent_messages(&result.items).len(), 3, "{:?}", result.items);
    assert_eq!(result.final_response(), Some(""));

    world.model.push(messages(&[("alpha", None), ("beta", None), ("gamma", Some(Commentary))]));
    let result = within("last unphased turn", thread.run("three")).await.unwrap();
    assert_eq!(result.final_response(), Some("beta"));

    // Only commentary: no final response, and the turn is still a success.
    world.model.push(messages(&[("thinking aloud", Some(Commentary)), ("still thinking", Some(Commentary))]));
    let result = within("commentary turn", thread.run("four")).await.unwrap();
    assert_eq!(result.status, TurnStatus::Completed);
    assert_eq!(agent_messages(&result.items).len(), 2);
    assert_eq!(result.final_response(), None);
}

// ----- 3. turn params reach the model -------------------------------------------------------

#[tokio::test]
async fn turn_options_reach_the_model_request() {
    let world = World::start().await;
    world.model.push_all([MockResponse::text("one"), MockResponse::text("two"), MockResponse::text("three")]);
    let thread = new_thread(&world).await;

    within("default turn", thread.run("default")).await.unwrap();
    let first = request(&world, 1).await;
    assert_eq!(first.model(), Some("mock-model"), "the home's configured model");

    let options = TurnOptions::default().model("gpt-5.5").effort("high");
    let result = within("turn with options", thread.run_with("with options", &options)).await.unwrap();
    assert_eq!(result.final_response(), Some("two"));
    let second = request(&world, 2).await;
    assert_eq!(second.model(), Some("gpt-5.5"));
    let body = second.json().expect("json body");
    assert_eq!(body["reasoning"]["effort"], "high", "reasoning: {}", body["reasoning"]);
    assert_eq!(second.last_user_text(), Some("with options"));

    // Turn-level overrides persist to later turns of the thread.
    within("later turn", thread.run("later")).await.unwrap();
    let third = request(&world, 3).await;
    assert_eq!(third.model(), Some("gpt-5.5"));
    assert_eq!(third.json().unwrap()["reasoning"]["effort"], "high");

    // The schema's `ReasoningEffort` is any non-empty string: an empty one is refused
    // before anything is sent.
    let bad = thread.run_with("x", &TurnOptions::default().effort("")).await;
    assert!(matches!(bad, Err(Error::Encode { .. })), "{bad:?}");
    assert_eq!(world.model.request_count(), 3);
}

// ----- 4. failed turns ----------------------------------------------------------------------

#[tokio::test]
async fn failed_turn_is_an_error_and_the_thread_stays_usable() {
    let world = World::start().await;
    let thread = new_thread(&world).await;

    // `response.failed` with a message.
    world.model.push(MockResponse::failed("the mock model melted"));
    let err = within("failing turn", thread.run("fail please")).await.unwrap_err();
    let Error::TurnFailed(result) = &err else { panic!("expected TurnFailed, got {err:?}") };
    assert_eq!(result.status, TurnStatus::Failed);
    let error = result.error.as_ref().expect("the turn's error");
    assert!(error.message.contains("the mock model melted"), "message: {}", error.message);
    assert!(err.to_string().contains("the mock model melted"), "{err}");
    assert!(err.to_string().contains(&result.id));
    assert!(
        matches!(result.items.first(), Some(ThreadItem::UserMessage(_))),
        "the items completed before the failure are kept: {:?}",
        result.items
    );

    // The thread is still usable.
    world.model.push(MockResponse::text("recovered"));
    let ok = within("turn after failure", thread.run("again")).await.unwrap();
    assert_eq!(ok.final_response(), Some("recovered"));

    // HTTP 500.
    world
        .model
        .push(MockResponse::http_error(500, r#"{"error":{"message":"upstream exploded","type":"server_error"}}"#));
    let err = within("http 500 turn", thread.run("500 please")).await.unwrap_err();
    let Error::TurnFailed(result) = &err else { panic!("expected TurnFailed, got {err:?}") };
    let error = result.error.as_ref().expect("the turn's error");
    assert!(!error.message.is_empty());
    assert!(error.codex_error_info.is_some(), "{error:?}");
    assert_ne!(result.id, ok.id);

    world.model.push(MockResponse::text("recovered again"));
    let ok = within("turn after http 500", thread.run("again")).await.unwrap();
    assert_eq!(ok.final_response(), Some("recovered again"));
    assert_eq!(world.model.unscripted_requests(), 0);
    assert_eq!(world.model.request_count(), 4);
}

// ----- 5. delta streaming -------------------------------------------------------------------

#[tokio::test]
async fn stream_yields_deltas_in_order_then_turn_completed() {
    let world = World::start().await;
    let text = "Streaming works, one small piece at a time.";
    let message = AssistantMessage::new(text).deltas(7);
    let expected_chunks: Vec<String> = {
        // The same split the mock will send.
        let chars: Vec<char> = text.chars().collect();
        (1..=7).map(|i| chars[(i - 1) * chars.len() / 7..i * chars.len() / 7].iter().collect()).collect()
    };
    world.model.push(ResponseStream::new().message(message).completed());
    let thread = new_thread(&world).await;

    let handle = within("turn/start", thread.turn("stream it")).await.unwrap();
    let turn_id = handle.id().to_owned();
    let mut events = handle.stream();
    let seen = drain("stream", &mut events).await;

    assert_eq!(deltas(&seen), expected_chunks, "every delta, in order");
    assert_eq!(deltas(&seen).concat(), text);
    assert!(matches!(seen.last(), Some(ServerNotification::TurnCompleted(_))));
    assert_eq!(completed_status(&seen), TurnStatus::Completed);
    assert_eq!(seen.iter().filter(|e| matches!(e, ServerNotification::TurnCompleted(_))).count(), 1);

    // Every event is this turn's; deltas belong to the agent message that completes after them.
    for event in &seen {
        let (thread_id, event_turn) = ids(event);
        if let Some(t) = thread_id {
            assert_eq!(t, thread.id(), "{}", event.method());
        }
        assert_eq!(event_turn.as_deref(), Some(turn_id.as_str()), "{}", event.method());
    }
    let agent_done = seen
        .iter()
        .position(|e| matches!(e, ServerNotification::ItemCompleted(c) if matches!(&c.item, ThreadItem::AgentMessage(m) if m.text == text)))
        .expect("item/completed for the agent message");
    let last_delta = seen.iter().rposition(|e| matches!(e, ServerNotification::ItemAgentMessageDelta(_))).unwrap();
    assert!(last_delta < agent_done);
    let ServerNotification::ItemCompleted(done) = &seen[agent_done] else { unreachable!() };
    let ThreadItem::AgentMessage(agent) = &done.item else { unreachable!() };
    for event in &seen {
        if let ServerNotification::ItemAgentMessageDelta(d) = event {
            assert_eq!(d.item_id, agent.id);
        }
    }

    // The stream is over after turn/completed, and stays over.
    assert!(within("end of stream", events.next_event()).await.is_none());
    assert!(within("end of stream again", events.next_event()).await.is_none());
}

// ----- 6. concurrent turns on one connection ------------------------------------------------

#[tokio::test]
async fn concurrent_turns_on_several_threads_route_by_turn_id() {
    let world = World::start().await;
    let names = ["alpha", "bravo", "charlie"];
    let mut threads = Vec::new();
    for _ in names {
        threads.push(new_thread(&world).await);
    }

    let mut all = world.codex.connection().subscribe_all();
    // Each thread's turn takes its own response (started one after the other so the FIFO
    // mock pairs them deterministically); each response pauses between two messages, so
    // the connection carries the turns' events interleaved.
    let mut started = Vec::new();
    for (name, thread) in names.iter().zip(&threads) {
        let (first_half, stall) =
            ResponseStream::new().message(AssistantMessage::new(format!("{name} one, ")).deltas(3)).pause();
        world.model.push(first_half.message(AssistantMessage::new(format!("{name} two")).deltas(3)).completed());
        let handle = within("turn/start", thread.turn(format!("talk about {name}"))).await.unwrap();
        reached(&stall).await;
        started.push((handle, stall));
    }

    let mut consumers = Vec::new();
    let mut stalls = Vec::new();
    for (handle, stall) in started {
        let turn_id = handle.id().to_owned();
        let mut events = handle.stream();
        consumers.push(async move {
            let seen = drain("concurrent stream", &mut events).await;
            (turn_id, seen)
        });
        stalls.push(stall);
    }
    let mut consumers = consumers.into_iter();
    let (a, b, c) = (consumers.next().unwrap(), consumers.next().unwrap(), consumers.next().unwrap());
    let release = async {
        // Release in reverse order, so the later turns finish first.
        for stall in stalls.iter().rev() {
            stall.release();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (a, b, c, ()) = tokio::join!(a, b, c, release);

    let mut turn_ids = Vec::new();
    for ((name, thread), (turn_id, seen)) in names.iter().zip(&threads).zip([a, b, c]) {
        assert_eq!(completed_status(&seen), TurnStatus::Completed, "{name}");
        for event in &seen {
            let (thread_id, event_turn) = ids(event);
            assert_eq!(event_turn.as_deref(), Some(turn_id.as_str()), "{name}: foreign event {}", event.method());
            if let Some(t) = thread_id {
                assert_eq!(t, thread.id(), "{name}: foreign thread in {}", event.method());
            }
        }
        assert_eq!(deltas(&seen).concat(), format!("{name} one, {name} two"), "{name}");
        turn_ids.push(turn_id);
    }

    // The connection really carried the turns interleaved: every turn had started before
    // any of them completed.
    let mut order: Vec<(String, &'static str)> = Vec::new();
    within("the connection-wide view of the three turns", async {
        while order.iter().filter(|(_, m)| *m == "completed").count() < names.len() {
            let event = all.next_event().await.expect("open subscription").expect("event");
            let kind = match event.method() {
                "turn/started" => "started",
                "turn/completed" => "completed",
                _ => continue,
            };
            order.push((event.turn_id().expect("turn id").to_owned(), kind));
        }
    })
    .await;
    let last_start = order.iter().rposition(|(_, m)| *m == "started").expect("turn/started seen");
    let first_completion = order.iter().position(|(_, m)| *m == "completed").unwrap();
    assert!(last_start < first_completion, "{order:?}");
    let mut started_ids: Vec<&String> = order.iter().filter(|(_, m)| *m == "started").map(|(t, _)| t).collect();
    started_ids.sort();
    let mut expected: Vec<&String> = turn_ids.iter().collect();
    expected.sort();
    assert_eq!(started_ids, expected);
}

// ----- 7. an unpolled stream blocks nothing ----------------------------------------------------

#[tokio::test]
async fn unpolled_stream_does_not_block_other_requests() {
    let world = World::start().await;
    let slow_text = "x".repeat(300);
    let (slow, stall) = ResponseStream::new().message(AssistantMessage::new(slow_text.clone()).deltas(300)).pause();
    world.model.push(slow.message(AssistantMessage::new(" and done")).completed());
    let slow_thread = new_thread(&world).await;
    let slow_turn = within("slow turn/start", slow_thread.turn("slow one")).await.unwrap();
    reached(&stall).await;
    // 300 delta notifications are now queued for a stream nobody polls.

    let models = within("model/list while a stream is unpolled", world.codex.models()).await.unwrap();
    assert!(!models.data.is_empty());
    let read = within("thread/read while a stream is unpolled", slow_thread.read()).await.unwrap();
    assert_eq!(read.id, slow_thread.id());

    world.model.push(MockResponse::text("fast answer"));
    let fast_thread = new_thread(&world).await;
    let fast = within("another thread's turn", fast_thread.run("fast one")).await.unwrap();
    assert_eq!(fast.final_response(), Some("fast answer"));

    // The unpolled stream lost nothing.
    stall.release();
    let mut events = slow_turn.stream();
    let seen = drain("slow stream", &mut events).await;
    assert_eq!(deltas(&seen).concat(), format!("{slow_text} and done"));
    assert_eq!(completed_status(&seen), TurnStatus::Completed);
}

/// Same, with a turn buffer far smaller than what the unpolled turn receives: the reader
/// drops and counts instead of blocking, and the stream still ends with `turn/completed`.
#[tokio::test]
async fn overflowing_unpolled_stream_lags_instead_of_blocking() {
    let world = World::start().await;
    let mut config = world.config();
    config.connection = config.connection.with_buffers(32, 64);
    let codex = within("connect with small buffers", Codex::builder().config(config).connect()).await.unwrap();
    let (slow, stall) = ResponseStream::new().message(AssistantMessage::new("y".repeat(300)).deltas(300)).pause();
    world.model.push(slow.completed());
    let slow_thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();
    let slow_turn = within("slow turn/start", slow_thread.turn("overflow")).await.unwrap();
    reached(&stall).await;

    within("model/list past a full turn queue", codex.models()).await.unwrap();
    world.model.push(MockResponse::text("still fast"));
    let fast_thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();
    let fast = within("another turn past a full turn queue", fast_thread.run("fast")).await.unwrap();
    assert_eq!(fast.final_response(), Some("still fast"));

    stall.release();
    let mut events = slow_turn.stream();
    let (delivered, skipped) = drain_counting_lag(&mut events).await;
    assert!(skipped > 0, "300 deltas into a 32-slot queue must overflow");
    // Nothing vanished unaccounted: 300 deltas plus the turn's other events were either
    // delivered or counted as skipped; most were skipped (only about a queue's worth came).
    assert!(delivered.len() + skipped as usize > 300, "{} delivered, {skipped} skipped", delivered.len());
    assert!(delivered.len() < 100, "{} events delivered", delivered.len());
    assert_eq!(completed_status(&delivered), TurnStatus::Completed, "turn/completed is never dropped");
}

/// `run()` on a handle whose buffer overflowed while nobody polled it still returns the
/// whole result: the items lost to the overflow are re-read from the server's record.
#[tokio::test]
async fn run_after_an_overflow_recovers_the_items() {
    let world = World::start().await;
    let mut config = world.config();
    config.connection = config.connection.with_buffers(32, 64);
    let codex = within("connect with small buffers", Codex::builder().config(config).connect()).await.unwrap();
    let text = "z".repeat(300);
    world.model.push(MockResponse::stream().message(AssistantMessage::new(text.clone()).deltas(300)).completed());
    let thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();
    let turn = within("turn/start", thread.turn("overflow, then run")).await.unwrap();
    // Let the whole turn arrive (and overflow the 32-slot queue) before anyone polls it.
    within("the turn completes on the server", async {
        loop {
            // Until the turn is persisted the server may refuse to list turns: keep polling.
            if let Ok(read) = thread.read_with_turns().await {
                if read.turns.iter().any(|t| t.id == turn.id() && t.status == TurnStatus::Completed) {
                    break;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    let result = within("run after overflow", turn.run()).await.unwrap();
    assert_eq!(result.status, TurnStatus::Completed);
    assert_eq!(result.final_response(), Some(text.as_str()));
    assert!(matches!(result.items.first(), Some(ThreadItem::UserMessage(_))), "{:?}", result.items.first());
}

// ----- 8. steer --------------------------------------------------------------------------------

#[tokio::test]
async fn steer_adds_input_to_the_running_turn() {
    let world = World::start().await;
    let (first, stall) = ResponseStream::new().text("Working on it").stall();
    world.model.push(first);
    let thread = new_thread(&world).await;
    let handle = within("turn/start", thread.turn("Write a poem")).await.unwrap();
    reached(&stall).await;

    world.model.push(MockResponse::text("Un poème"));
    let control = handle.control();
    let steered = within("turn/steer", handle.steer("Actually, in French")).await.unwrap();
    assert_eq!(steered, handle.id());

    let result = within("steered run", handle.run()).await.unwrap();
    assert_eq!(result.status, TurnStatus::Completed);
    assert_eq!(result.final_response(), Some("Un poème"));

    let second = request(&world, 2).await;
    let texts = second.user_texts();
    assert!(texts.contains(&"Write a poem"), "{texts:?}");
    assert!(texts.contains(&"Actually, in French"), "{texts:?}");
    assert_eq!(world.model.request_count(), 2);

    // The turn is over: steering it now is refused by the server.
    let late = within("late steer", control.steer("too late")).await.unwrap_err();
    let rpc = late.rpc_error().unwrap_or_else(|| panic!("expected an RPC error, got {late:?}"));
    assert!(rpc.code.is_invalid_request(), "{rpc:?}");
    stall.release();
}

// ----- 9. interrupt ----------------------------------------------------------------------------

#[tokio::test]
async fn interrupt_then_a_follow_up_turn() {
    let world = World::start().await;
    let (first, stall) = ResponseStream::new().text("Partial thoughts").stall();
    world.model.push(first);
    let thread = new_thread(&world).await;
    let handle = within("turn/start", thread.turn("Take your time")).await.unwrap();
    let control = handle.control();
    let interrupt = async {
        reached(&stall).await;
        control.interrupt().await
    };
    let (result, interrupted) = within("interrupted run", async { tokio::join!(handle.run(), interrupt) }).await;
    interrupted.expect("turn/interrupt");
    let result = result.expect("an interrupted turn is Ok");
    assert_eq!(result.status, TurnStatus::Interrupted);
    assert_eq!(result.id, control.turn_id());
    assert_eq!(result.error, None);

    world.model.push(MockResponse::text("Fresh start"));
    let next = within("follow-up run", thread.run("Now quickly")).await.unwrap();
    assert_eq!(next.status, TurnStatus::Completed);
    assert_eq!(next.final_response(), Some("Fresh start"));
    assert_eq!(world.model.last_user_text().as_deref(), Some("Now quickly"));

    let read = within("thread/read", thread.read_with_turns()).await.unwrap();
    let statuses: Vec<_> = read.turns.iter().map(|t| (t.id.clone(), t.status.clone())).collect();
    assert_eq!(statuses, [(result.id.clone(), TurnStatus::Interrupted), (next.id.clone(), TurnStatus::Completed)]);
    stall.release();
}

// ----- 10. image inputs ------------------------------------------------------------------------

#[tokio::test]
async fn text_and_images_reach_the_model() {
    let world = World::start().await;
    let png = world.home.work_dir().join("blue.png");
    std::fs::write(&png, BLUE_2X2_PNG).unwrap();
    world.model.push(MockResponse::text("A red pixel and a blue square"));
    let thread = new_thread(&world).await;

    let input =
        vec![Input::text("What is in these images?"), Input::image_url(RED_PIXEL_DATA_URL), Input::local_image(&png)];
    let result = within("image turn", thread.run(input)).await.unwrap();
    assert_eq!(result.final_response(), Some("A red pixel and a blue square"));

    let request = request(&world, 1).await;
    let urls = request.input_image_urls();
    assert_eq!(urls.len(), 2, "{urls:?}");
    assert_eq!(urls[0], RED_PIXEL_DATA_URL, "the data URL is sent as is");
    assert!(
        urls[1].starts_with("data:image/png;base64,"),
        "the local file is sent inline: {}",
        &urls[1][..40.min(urls[1].len())]
    );
    assert_ne!(urls[1], RED_PIXEL_DATA_URL);
    assert!(request.user_texts().contains(&"What is in these images?"));

    // The user message item echoes the three inputs, in order.
    let Some(ThreadItem::UserMessage(user)) = result.items.first() else { panic!("{:?}", result.items) };
    match user.content.as_slice() {
        [UserInput::Text(t), UserInput::Image(i), UserInput::LocalImage(l)] => {
            assert_eq!(t.text, "What is in these images?");
            assert_eq!(i.url.as_deref(), Some(RED_PIXEL_DATA_URL));
            assert_eq!(l.path, png.to_string_lossy());
        }
        other => panic!("unexpected user content {other:?}"),
    }
}

// ----- 11. the app-server dies mid-turn ----------------------------------------------------------

#[tokio::test]
async fn killed_app_server_fails_running_and_later_calls_promptly() {
    let world = World::start().await;
    let (run_response, run_stall) = MockResponse::stall();
    let (stream_response, stream_stall) = ResponseStream::new().text("half").stall();
    let run_thread = new_thread(&world).await;
    let stream_thread = new_thread(&world).await;

    world.model.push(run_response);
    let run_turn = within("turn/start (run)", run_thread.turn("run me")).await.unwrap();
    reached(&run_stall).await;
    world.model.push(stream_response);
    let stream_turn = within("turn/start (stream)", stream_thread.turn("stream me")).await.unwrap();
    reached(&stream_stall).await;

    let pid = world.codex.connection().pid().expect("a spawned app-server has a pid");
    let mut events = stream_turn.stream();
    let (run_result, stream_outcome) = within("turns after the kill", async {
        tokio::join!(run_turn.run(), async {
            kill_9(pid);
            let mut outcome = Vec::new();
            while let Some(event) = events.next_event().await {
                outcome.push(event.map(|e| e.method().to_owned()));
            }
            outcome
        })
    })
    .await;

    match &run_result {
        Err(e @ Error::TransportClosed { .. }) if e.close_reason().and_then(|r| r.exit_status()).is_some() => {
            let status = e.close_reason().and_then(|r| r.exit_status()).unwrap();
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(9), "the error reports how the server died: {status:?}");
        }
        other => panic!("run() of the running turn: expected TransportClosed with an exit status, got {other:?}"),
    }
    // The stream ends with exactly one TransportClosed, after whatever came before.
    let last = stream_outcome.last().expect("the stream yields the close error");
    assert!(matches!(last, Err(Error::TransportClosed { .. })), "{stream_outcome:?}");
    assert_eq!(stream_outcome.iter().filter(|e| e.is_err()).count(), 1, "{stream_outcome:?}");
    assert!(world.codex.connection().is_closed());

    // Every later call fails fast with the same error: it is already decided on its first
    // poll, without a round trip to the (dead) server.
    use futures::FutureExt;
    assert_transport_closed("thread.run", run_thread.run("anyone?").now_or_never().expect("thread.run fails at once"));
    assert_transport_closed("thread.read", stream_thread.read().now_or_never().expect("thread.read fails at once"));
    assert_transport_closed("models", world.codex.models().now_or_never().expect("models fails at once"));
    assert_transport_closed(
        "thread_start",
        world.codex.thread_start(&ThreadOptions::default()).now_or_never().expect("thread_start fails at once"),
    );
    run_stall.release();
    stream_stall.release();
}
