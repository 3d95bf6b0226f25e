//! ChatGPT login handles, goals and typed structured output through the SDK's public API,
//! against the real pinned `codex app-server`, the scripted mock model, and a mock OAuth
//! issuer on 127.0.0.1 (`CODEX_APP_SERVER_LOGIN_ISSUER`): nothing leaves the machine.

use crate::{common, login_support};
use codex_driver::goals::{GoalOptions, GoalResult, GoalUpdate};
use codex_driver::login::LoginOutcome;
use codex_driver::methods::ServerNotification;
use codex_driver::testing::{MockResponse, ResponseStream, StallHandle, Usage};
use codex_driver::types::{CancelLoginAccountStatus, ThreadGoalStatus, TurnStatus};
use codex_driver::{Error, Thread, ThreadOptions, TurnOptions};
use common::{within, World, WAIT};
use login_support::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The browser flow's callback server is one fixed loopback port per machine: run the tests
/// that use it one at a time.
static CALLBACK_PORT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn query(url: &str) -> HashMap<String, String> {
    let decode = |s: &str| {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).unwrap()
    };
    url.split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// `GET url` on loopback without following redirects: the status line and `Location`.
async fn get_loopback(url: &str) -> (String, Option<String>) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    assert!(authority.starts_with("127.0.0.1:") || authority.starts_with("localhost:"), "not loopback: {url}");
    let mut stream =
        TcpStream::connect(authority.replace("localhost", "127.0.0.1")).await.expect("connect to the callback");
    let request = format!("GET /{path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    within("callback response", async {
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).await.unwrap();
        let mut location = None;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).await.unwrap() == 0 || header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.trim().eq_ignore_ascii_case("location") {
                    let value = value.trim();
                    location = Some(if value.starts_with('/') {
                        format!("http://{authority}{value}")
                    } else {
                        value.to_owned()
                    });
                }
            }
        }
        (status.trim().to_owned(), location)
    })
    .await
}

/// What the browser does after signing in: load the callback, then the loopback page it
/// redirects to (the login server finishes once that page was served). Returns the status
/// lines.
async fn browser_callback(redirect_uri: &str, query: &str) -> Vec<String> {
    let (status, location) = get_loopback(&format!("{redirect_uri}?{query}")).await;
    let mut statuses = vec![status];
    if let Some(location) = location {
        statuses.push(get_loopback(&location).await.0);
    }
    statuses
}

/// Whether a browser login of this test was ended by another process starting one.
fn preempted(outcome: &LoginOutcome) -> bool {
    matches!(outcome, LoginOutcome::Failed { message } if message.contains("Login cancelled"))
}

// ---------------------------------------------------------------------------------------
// Login
// ---------------------------------------------------------------------------------------

/// The server's record says the thread is idle with exactly `turns` turns: a goal that
/// was to run nothing more started no turn (a continuation turn is recorded before its
/// model request), asked of the server instead of waiting for a pause to pass.
async fn assert_idle_with_turns(thread: &Thread, turns: usize) {
    let read = within("thread/read", thread.read_with_turns()).await.expect("thread/read");
    assert!(!matches!(read.status, codex_driver::types::ThreadStatus::Active(_)), "{:?}", read.status);
    assert_eq!(read.turns.len(), turns, "{:#?}", read.turns);
}

#[tokio::test]
async fn chatgpt_login_start_cancel_and_wait() {
    let _port = CALLBACK_PORT.lock().await;
    let issuer = Issuer::start(vec![]).await;
    let world = login_world(&issuer).await;
    for attempt in 1..=3 {
        let login = within("login start", world.codex.login_chatgpt()).await.expect("account/login/start");
        assert!(!login.login_id().is_empty());
        assert!(login.auth_url().starts_with(&format!("{}/oauth/authorize?", issuer.url)), "{}", login.auth_url());
        let q = query(login.auth_url());
        assert_eq!(q.get("response_type").map(String::as_str), Some("code"));
        assert_eq!(q.get("code_challenge_method").map(String::as_str), Some("S256"));
        assert!(q.contains_key("state") && q.contains_key("code_challenge") && q.contains_key("client_id"), "{q:?}");
        let redirect = &q["redirect_uri"];
        assert!(redirect.starts_with("http://127.0.0.1:") || redirect.starts_with("http://localhost:"), "{redirect}");
        assert!(redirect.ends_with("/auth/callback"), "{redirect}");
        assert_eq!(login.outcome(), None);

        let status = within("login cancel", login.cancel()).await.expect("account/login/cancel");
        let outcome = within("login wait", login.wait()).await.expect("account/login/completed");
        if status == CancelLoginAccountStatus::NotFound && preempted(&outcome) && attempt < 3 {
            continue; // another process started a browser login at the same moment
        }
        assert_eq!(status, CancelLoginAccountStatus::Canceled);
        match &outcome {
            LoginOutcome::Cancelled { message } => assert!(message.contains("not completed"), "{message}"),
            other => panic!("expected a cancellation, got {other:?}"),
        }
        assert!(!outcome.is_success());
        // The outcome is kept; a second cancel finds nothing to cancel.
        assert_eq!(within("wait again", login.wait()).await.unwrap(), outcome);
        assert_eq!(login.outcome(), Some(outcome));
        assert_eq!(within("cancel again", login.cancel()).await.unwrap(), CancelLoginAccountStatus::NotFound);
        // Nothing was fetched from the issuer: only the URL was built.
        assert_eq!(issuer.request_count(), 0);
        return;
    }
}

#[tokio::test]
async fn chatgpt_login_completes_through_the_loopback_callback() {
    let _port = CALLBACK_PORT.lock().await;
    let issuer = Issuer::start(vec![token_route()]).await;
    let world = login_world(&issuer).await;
    let mut notifications = world.codex.notifications();
    for attempt in 1..=3 {
        let login = within("login start", world.codex.login_chatgpt()).await.unwrap();
        let q = query(login.auth_url());
        let callback = format!("code=auth-code-1&state={}", q["state"]);
        let status_lines = browser_callback(&q["redirect_uri"], &callback).await;
        let outcome = within("login wait", login.wait()).await.unwrap();
        if preempted(&outcome) && attempt < 3 {
            continue;
        }
        assert_eq!(outcome, LoginOutcome::Succeeded, "the callback answered {status_lines:?}");
        assert!(outcome.is_success() && outcome.error_message().is_none());
        // Codex exchanged our code with its PKCE verifier at the issuer.
        let exchange = issuer.requests("/oauth/token");
        assert!(!exchange.is_empty());
        assert_eq!(exchange[0].method, "POST");
        assert!(exchange[0].body.contains("grant_type=authorization_code"), "{}", exchange[0].body);
        assert!(exchange[0].body.contains("code=auth-code-1"), "{}", exchange[0].body);
        assert!(exchange[0].body.contains("code_verifier="), "{}", exchange[0].body);
        // The credentials are stored and the account change is announced.
        assert!(world.home.codex_home().join("auth.json").exists());
        let updated = within("account/updated", async {
            loop {
                match futures::StreamExt::next(&mut notifications).await {
                    Some(Ok(ServerNotification::AccountUpdated(u))) => break u,
                    Some(_) => {}
                    None => panic!("notifications ended"),
                }
            }
        })
        .await;
        let updated = serde_json::to_value(updated).unwrap();
        assert_eq!(updated["authMode"], "chatgpt", "{updated}");
        assert_eq!(updated["planType"], "plus", "{updated}");
        // Finished: cancelling now finds nothing.
        assert_eq!(within("cancel", login.cancel()).await.unwrap(), CancelLoginAccountStatus::NotFound);
        return;
    }
}

#[tokio::test]
async fn chatgpt_login_reports_a_denied_callback() {
    let _port = CALLBACK_PORT.lock().await;
    let issuer = Issuer::start(vec![token_route()]).await;
    let world = login_world(&issuer).await;
    for attempt in 1..=3 {
        let login = within("login start", world.codex.login_chatgpt()).await.unwrap();
        let q = query(login.auth_url());
        let callback = format!("error=access_denied&error_description=denied+by+user&state={}", q["state"]);
        browser_callback(&q["redirect_uri"], &callback).await;
        let outcome = within("login wait", login.wait()).await.unwrap();
        if preempted(&outcome) && attempt < 3 {
            continue;
        }
        match &outcome {
            LoginOutcome::Failed { message } => assert!(!message.is_empty()),
            other => panic!("expected a failure, got {other:?}"),
        }
        assert!(issuer.requests("/oauth/token").is_empty(), "no code, no exchange");
        assert!(!world.home.codex_home().join("auth.json").exists());
        return;
    }
}

#[tokio::test]
async fn device_code_login_polls_until_approved() {
    let polls = Arc::new(AtomicUsize::new(0));
    let issuer = Issuer::start(vec![usercode_route(), device_token_route(Some(1), polls.clone()), token_route()]).await;
    let world = login_world(&issuer).await;
    let login = within("device login start", world.codex.login_chatgpt_device_code()).await.expect("device code");
    assert_eq!(login.user_code(), "WXYZ-2345");
    assert_eq!(login.verification_url(), format!("{}/codex/device", issuer.url));
    assert!(!login.login_id().is_empty());
    let outcome = within("device login wait", login.wait()).await.unwrap();
    assert_eq!(outcome, LoginOutcome::Succeeded);
    assert!(polls.load(Ordering::SeqCst) >= 2, "pending once, then approved");
    let polled = issuer.requests("/api/accounts/deviceauth/token");
    assert!(polled[0].body.contains("dev-1") && polled[0].body.contains("WXYZ-2345"), "{}", polled[0].body);
    let exchange = issuer.requests("/oauth/token");
    assert!(exchange[0].body.contains("code=device-code-1"), "{}", exchange[0].body);
    assert!(world.home.codex_home().join("auth.json").exists());
}

#[tokio::test]
async fn device_code_login_cancel_and_unavailable() {
    let polls = Arc::new(AtomicUsize::new(0));
    let issuer = Issuer::start(vec![usercode_route(), device_token_route(None, polls.clone())]).await;
    let world = login_world(&issuer).await;
    let login = within("device login start", world.codex.login_chatgpt_device_code()).await.unwrap();
    let waiter = tokio::spawn({
        let login = login.clone();
        async move { login.wait().await }
    });
    // Cancel while it polls; the concurrent waiter sees the cancellation.
    within("a poll", async {
        while polls.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(within("cancel", login.cancel()).await.unwrap(), CancelLoginAccountStatus::Canceled);
    let outcome = within("waiter", waiter).await.unwrap().unwrap();
    assert!(
        matches!(&outcome, LoginOutcome::Cancelled { message } if message.contains("not completed")),
        "{outcome:?}"
    );
    assert!(!world.home.codex_home().join("auth.json").exists());

    // An issuer without device codes: the start request itself fails.
    let bare = Issuer::start(vec![]).await;
    let world = login_world(&bare).await;
    match within("device login start", world.codex.login_chatgpt_device_code()).await {
        Err(Error::Rpc(e)) => assert!(e.message.contains("device code login is not enabled"), "{e}"),
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Goals
// ---------------------------------------------------------------------------------------

async fn new_thread(world: &World) -> Thread {
    within("thread/start", world.codex.thread_start(&ThreadOptions::default())).await.expect("thread/start")
}

fn text(text: &str, tokens: u64) -> MockResponse {
    ResponseStream::new().text(text).usage(Usage::new(tokens, tokens)).completed()
}

fn update_goal(call_id: &str, status: &str) -> MockResponse {
    ResponseStream::new()
        .function_call(call_id, "update_goal", json!({"status": status}).to_string())
        .usage(Usage::new(5, 5))
        .completed()
}

async fn run_goal(thread: &Thread, objective: &str, options: GoalOptions) -> GoalResult {
    within("run_goal", thread.run_goal_with(objective, &options)).await.expect("run_goal")
}

const GOAL_CONTEXT: &str = "<codex_internal_context source=\"goal\">";

#[tokio::test]
async fn run_goal_follows_continuation_turns_until_complete() {
    let world = World::start().await;
    let thread = new_thread(&world).await;
    world.model.push_all([
        text("Drafted the first line.", 10),
        update_goal("call-done", "complete"),
        text("Goal achieved: the haiku is written.", 10),
    ]);
    let result = run_goal(&thread, "Write a haiku about rust", GoalOptions::default()).await;

    // Two turns: the one the server started for the new goal, then its continuation.
    assert_eq!(result.turns.len(), 2, "{result:#?}");
    assert!(result.turns.iter().all(|t| t.status == TurnStatus::Completed), "{result:#?}");
    assert_ne!(result.turns[0].id, result.turns[1].id);
    assert_eq!(result.turns[0].final_response(), Some("Drafted the first line."));
    assert_eq!(result.final_response(), Some("Goal achieved: the haiku is written."));
    assert!(result.is_complete(), "{:?}", result.status());
    let goal = result.goal.as_ref().unwrap();
    assert_eq!(goal.objective, "Write a haiku about rust");
    assert!(goal.tokens_used > 0);
    assert!(result.usage().is_some());
    assert_eq!(result.last_turn().map(|t| t.id.clone()), Some(result.turns[1].id.clone()));

    // What the model saw: the goal tools, the objective, the continuation prompt, and the
    // output of its `update_goal` call.
    let requests = world.model.wait_for_requests(3, WAIT).await.unwrap();
    assert_eq!(requests.len(), 3, "no continuation after the goal completed");
    let tools = requests[0].tool_names();
    for tool in ["get_goal", "create_goal", "update_goal"] {
        assert!(tools.contains(&tool), "{tool} missing from {tools:?}");
    }
    assert!(requests[0].body_contains("Write a haiku about rust"));
    assert!(requests[0].input_texts().iter().any(|t| t.starts_with(GOAL_CONTEXT)));
    assert!(requests[1].input_texts().iter().any(|t| t.starts_with(GOAL_CONTEXT)), "continuation prompt");
    let output = requests[2].function_call_output("call-done").expect("update_goal output");
    assert!(output.to_string().contains("complete"), "{output}");

    let stored = within("goal get", thread.goal()).await.unwrap().expect("a goal");
    assert_eq!(stored.status, ThreadGoalStatus::Complete);
}

#[tokio::test]
async fn goal_get_set_clear_and_start_replaces_the_old_goal() {
    let world = World::start().await;
    let thread = new_thread(&world).await;
    assert_eq!(within("goal get", thread.goal()).await.unwrap(), None);
    assert!(!within("clear", thread.clear_goal()).await.unwrap());

    // A paused goal: stored, but no turn starts.
    let paused = within(
        "goal set",
        thread
            .set_goal(&GoalUpdate::new().objective("Old objective").status(ThreadGoalStatus::Paused).token_budget(500)),
    )
    .await
    .unwrap();
    assert_eq!((paused.status.clone(), paused.token_budget), (ThreadGoalStatus::Paused, Some(500)));
    assert_eq!(within("goal get", thread.goal()).await.unwrap().map(|g| g.objective), Some("Old objective".into()));
    assert_idle_with_turns(&thread, 0).await;
    assert_eq!(world.model.request_count(), 0, "a paused goal runs nothing");

    // start_goal replaces it (fresh usage, no budget) and streams every turn.
    world.model.push_all([text("working", 10), update_goal("c1", "complete"), text("all done", 10)]);
    let handle = within("start_goal", thread.start_goal("New objective")).await.unwrap();
    assert_eq!(handle.goal().objective, "New objective");
    assert_eq!(handle.goal().status, ThreadGoalStatus::Active);
    assert_eq!((handle.goal().tokens_used, handle.goal().token_budget), (0, None));
    assert_eq!(handle.thread_id(), thread.id());
    let mut events = handle.stream();
    let seen = within("goal stream", async {
        let mut seen = Vec::new();
        while let Some(event) = events.next_event().await {
            seen.push(event.expect("goal event"));
        }
        seen
    })
    .await;
    let started: Vec<&str> = seen
        .iter()
        .filter_map(|e| match e {
            ServerNotification::TurnStarted(s) => Some(s.turn.id.as_str()),
            _ => None,
        })
        .collect();
    let completed = seen.iter().filter(|e| matches!(e, ServerNotification::TurnCompleted(_))).count();
    assert_eq!((started.len(), completed), (2, 2), "{seen:#?}");
    assert!(matches!(seen.last(), Some(ServerNotification::TurnCompleted(_))), "ends with the last turn");
    let statuses: Vec<ThreadGoalStatus> = seen
        .iter()
        .filter_map(|e| match e {
            ServerNotification::ThreadGoalUpdated(u) => Some(u.goal.status.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(statuses.last(), Some(&ThreadGoalStatus::Complete), "{statuses:?}");
    assert!(
        !seen.iter().any(|e| matches!(e, ServerNotification::ThreadGoalCleared(_))),
        "the old goal's clear is not part of it"
    );
    let result = within("result", events.result()).await.unwrap();
    assert_eq!(result.turns.len(), 2);
    assert!(result.is_complete());

    assert!(within("clear", thread.clear_goal()).await.unwrap());
    assert_eq!(within("goal get", thread.goal()).await.unwrap(), None);
}

#[tokio::test]
async fn goal_token_budget_ends_budget_limited() {
    let world = World::start().await;
    let thread = new_thread(&world).await;
    // 20 tokens per turn against a budget of 30: the second turn passes it.
    world.model.push_all([text("one", 10), text("two", 10), text("never requested", 10)]);
    let result = run_goal(&thread, "Count slowly", GoalOptions::default().token_budget(30)).await;
    assert_eq!(result.status(), Some(&ThreadGoalStatus::BudgetLimited), "{result:#?}");
    assert_eq!(result.turns.len(), 2);
    assert_eq!(result.goal.as_ref().map(|g| (g.token_budget, g.tokens_used)), Some((Some(30), 40)));
    assert_idle_with_turns(&thread, 2).await;
    assert_eq!(world.model.request_count(), 2, "no continuation past the budget");
    assert_eq!(world.model.pending(), 1);
}

#[tokio::test]
async fn goal_turn_budget_pauses_the_goal() {
    let world = World::start().await;
    let thread = new_thread(&world).await;
    world.model.push_all([text("first and only", 10), text("never requested", 10)]);
    let result = run_goal(&thread, "Keep going", GoalOptions::default().max_turns(1)).await;
    assert_eq!(result.turns.len(), 1, "{result:#?}");
    assert_eq!(result.turns[0].status, TurnStatus::Completed);
    assert_eq!(result.status(), Some(&ThreadGoalStatus::Paused));
    assert_idle_with_turns(&thread, 1).await;
    assert_eq!(world.model.request_count(), 1);
}

#[tokio::test]
async fn failed_goal_turn_blocks_the_goal() {
    let world = World::start().await;
    let thread = new_thread(&world).await;
    world.model.push(MockResponse::failed("upstream exploded"));
    let result = run_goal(&thread, "Do the impossible", GoalOptions::default()).await;
    assert_eq!(result.turns.len(), 1);
    assert_eq!(result.turns[0].status, TurnStatus::Failed);
    assert!(result.turns[0].error.is_some());
    assert_eq!(result.status(), Some(&ThreadGoalStatus::Blocked));
}

#[tokio::test]
async fn interrupted_goal_settles_and_resumes() {
    let world = World::start().await;
    let thread = new_thread(&world).await;
    let (stalled, stall): (MockResponse, StallHandle) = ResponseStream::new().text("partial").stall();
    world.model.push(stalled);
    let handle = within("start_goal", thread.start_goal("Long task")).await.unwrap();
    let control = handle.control();
    let run = tokio::spawn(handle.run());
    assert!(stall.wait_reached(WAIT).await, "the goal turn reached the model");
    within("current turn", async {
        while control.current_turn_id().is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    within("interrupt", control.interrupt()).await.unwrap();
    let result = within("goal run", run).await.unwrap().unwrap();
    assert_eq!(result.turns.len(), 1);
    assert_eq!(result.turns[0].status, TurnStatus::Interrupted);
    // The server leaves the goal active but starts no continuation.
    assert_eq!(result.status(), Some(&ThreadGoalStatus::Active));
    assert_eq!(control.current_turn_id(), None);

    // Resuming makes it active again: the server starts a turn, which completes the goal.
    world.model.push_all([update_goal("c-resume", "complete"), text("finished after resume", 10)]);
    let resumed = within("resume", thread.resume_goal()).await.unwrap();
    assert_eq!(resumed.goal().objective, "Long task");
    let result = within("resumed run", resumed.run()).await.unwrap();
    assert!(result.is_complete(), "{result:#?}");
    assert_eq!(result.turns.len(), 1);
    assert_eq!(result.final_response(), Some("finished after resume"));
}

#[tokio::test]
async fn goal_follower_recovers_when_its_subscription_lags() {
    let world = World::start().await;
    // A second app-server on the same home whose subscriptions hold 2 events: an unpolled
    // goal stream overflows at once, and the follower must re-read the goal and the thread.
    let mut config = world.config();
    config.connection = config.connection.with_buffers(8192, 2);
    let codex = within("connect", codex_driver::Codex::builder().config(config).connect()).await.unwrap();
    let thread = within("thread/start", codex.thread_start(&ThreadOptions::default())).await.unwrap();
    world.model.push_all([
        ResponseStream::new()
            .text("first turn, with several words")
            .reasoning("thinking")
            .usage(Usage::new(5, 5))
            .completed(),
        update_goal("c-lag", "complete"),
        text("second turn done", 5),
    ]);
    let mut events = within("start_goal", thread.start_goal("Survive the lag")).await.unwrap().stream();
    world.model.wait_for_requests(3, WAIT).await.unwrap();
    within("goal complete on the server", async {
        while thread.goal().await.unwrap().map(|g| g.status) != Some(ThreadGoalStatus::Complete) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // The last turn/completed has reached this client while the stream was not read (its
    // queue overflowed meanwhile): the server says the thread is idle, and that answer
    // comes after the turn/completed on the same connection.
    within("the last turn/completed", async {
        while matches!(thread.read().await.unwrap().status, codex_driver::types::ThreadStatus::Active(_)) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let mut lagged = 0;
    let mut seen = 0;
    within("drain", async {
        while let Some(event) = events.next_event().await {
            match event {
                Ok(_) => seen += 1,
                Err(Error::Lagged { .. }) => lagged += 1,
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await;
    assert!(lagged >= 1, "the subscription should have overflowed ({seen} events seen)");
    let result = within("result", events.result()).await.unwrap();
    assert!(result.is_complete(), "{result:#?}");
    assert_eq!(result.turns.len(), 2, "{result:#?}");
    assert!(result.turns.iter().all(|t| t.status == TurnStatus::Completed));
    assert_eq!(result.final_response(), Some("second turn done"));
    assert_eq!(result.turns[0].final_response(), Some("first turn, with several words"));
    codex.close().await;
}

// ---------------------------------------------------------------------------------------
// Typed structured output
// ---------------------------------------------------------------------------------------

#[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Verdict {
    Approve,
    RequestChanges,
}

/// A code review.
#[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
struct Review {
    verdict: Verdict,
    /// Problems found.
    issues: Vec<Issue>,
    summary: Option<String>,
}

#[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
struct Issue {
    file: String,
    line: u32,
}

#[tokio::test]
async fn run_typed_sends_a_strict_schema_and_parses_the_answer() {
    let world = World::start().await;
    let thread = new_thread(&world).await;
    world.model.push(MockResponse::text(
        r#"{"verdict":"request_changes","issues":[{"file":"src/lib.rs","line":7}],"summary":null}"#,
    ));
    let review = within("run_typed", thread.run_typed::<Review>("Review the diff")).await.expect("typed turn");
    assert_eq!(
        review.output,
        Review {
            verdict: Verdict::RequestChanges,
            issues: vec![Issue { file: "src/lib.rs".into(), line: 7 }],
            summary: None
        }
    );
    assert_eq!(review.turn.status, TurnStatus::Completed);

    let request = &world.model.wait_for_requests(1, WAIT).await.unwrap()[0];
    let format = &request.json().unwrap()["text"]["format"];
    assert_eq!(format["type"], "json_schema", "{format}");
    assert_eq!(format["strict"], true);
    assert_eq!(format["name"], "codex_output_schema");
    let schema = &format["schema"];
    assert_eq!(*schema, codex_driver::structured::output_schema_for::<Review>());
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["required"], json!(["issues", "summary", "verdict"]));
    assert_eq!(schema["$defs"]["Issue"]["additionalProperties"], false);
    assert_eq!(schema["$defs"]["Issue"]["required"], json!(["file", "line"]));
    assert_eq!(schema["properties"]["summary"]["type"], json!(["string", "null"]));
}

// The same review, derived against the SDK's re-exported schemars instead of this crate's
// own `schemars = "1"` dependency (which `Review` above uses: a user's habit since schemars 1).
/// A code review.
#[derive(Debug, PartialEq, serde::Deserialize, codex_driver::schemars::JsonSchema)]
#[schemars(crate = "codex_driver::schemars", rename = "Review")]
struct ReviewViaReexport {
    verdict: Verdict,
    /// Problems found.
    issues: Vec<Issue>,
    summary: Option<String>,
}

#[tokio::test]
async fn run_typed_takes_types_deriving_schemars_1_directly_or_through_the_reexport() {
    use codex_driver::structured::output_schema_for;
    assert_eq!(output_schema_for::<ReviewViaReexport>(), output_schema_for::<Review>());
    let world = World::start().await;
    let thread = new_thread(&world).await;
    world.model.push(MockResponse::text(r#"{"verdict":"approve","issues":[],"summary":"ok"}"#));
    let review = within("run_typed", thread.run_typed::<ReviewViaReexport>("Review")).await.expect("typed turn");
    assert_eq!(review.output.summary.as_deref(), Some("ok"));
}

#[tokio::test]
async fn run_typed_reports_an_answer_that_does_not_fit() {
    let world = World::start().await;
    let thread = new_thread(&world).await;
    world.model.push_all([
        MockResponse::text("Looks good to me!"),
        MockResponse::text(r#"{"verdict":"maybe","issues":[]}"#),
        MockResponse::text(r#"{"verdict":"approve","issues":[],"summary":"fine"}"#),
    ]);
    match within("prose", thread.run_typed::<Review>("Review it")).await {
        Err(Error::OutputMismatch(m)) => {
            assert_eq!(m.raw.as_deref(), Some("Looks good to me!"));
            assert!(m.source.is_syntax(), "{}", m.source);
            assert!(m.type_name.ends_with("Review"));
            assert_eq!(m.turn.status, TurnStatus::Completed);
            assert!(m.to_string().contains("Looks good to me!"), "{m}");
        }
        other => panic!("expected OutputMismatch, got {other:?}"),
    }
    match within("wrong shape", thread.run_typed::<Review>("Again")).await {
        Err(e @ Error::OutputMismatch(_)) => {
            let Error::OutputMismatch(m) = &e else { unreachable!() };
            assert!(m.source.is_data(), "{}", m.source);
            assert!(m.source.to_string().contains("maybe"), "{}", m.source);
            assert!(std::error::Error::source(&e).is_some());
        }
        other => panic!("expected OutputMismatch, got {other:?}"),
    }
    // The thread is still usable; `_with` keeps the other per-turn options.
    let options = TurnOptions::default().model("mock-model-b");
    let ok = within("third", thread.run_typed_with::<Review>("Once more", &options)).await.unwrap();
    assert_eq!(ok.into_output().summary.as_deref(), Some("fine"));
    let requests = world.model.wait_for_requests(3, WAIT).await.unwrap();
    assert_eq!(requests[2].model(), Some("mock-model-b"));
    assert_eq!(requests[2].json().unwrap()["text"]["format"]["strict"], true);
}

#[test]
fn strict_schema_is_stable_json() {
    let schema: Value = codex_driver::structured::output_schema_for::<Review>();
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["description"], "A code review.");
    assert_eq!(schema["properties"]["issues"]["description"], "Problems found.");
    assert_eq!(schema["$defs"]["Verdict"]["enum"], json!(["approve", "request_changes"]));
}
