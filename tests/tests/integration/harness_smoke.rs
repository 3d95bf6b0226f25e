//! Proves the offline test kit (`codex_driver::testing`) against the real pinned
//! `codex app-server`, speaking raw newline-delimited JSON-RPC (no SDK client involved).
//!
//! The pinned binary must be installed (`cargo xtask install-codex`) or named by `CODEX_BIN`:
//! these tests fail, not skip, when it is missing.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use codex_driver::testing::{
    pinned_cli, AssistantMessage, CodexHome, ExecCommand, MockModel, MockResponse, ResponseStream, Usage,
};
use codex_driver::types::AskForApproval;
use codex_driver::types::MessagePhase;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// Upper bound for any single wait on the app-server.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

fn codex_bin() -> PathBuf {
    pinned_cli::find_or_install().unwrap_or_else(|error| panic!("{error}"))
}

/// A raw JSON-RPC session with a spawned `codex app-server --listen stdio://`.
struct RawAppServer<'h> {
    home: &'h CodexHome,
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    next_id: i64,
    /// Messages read while waiting for something else, in arrival order.
    backlog: VecDeque<Value>,
    /// Every message received, for failure reports.
    transcript: Vec<Value>,
    /// Both directions as `{"dir": "->" | "<-", "msg": …}`, for `cargo xtask record`.
    wire: Vec<Value>,
}

impl<'h> RawAppServer<'h> {
    async fn spawn(home: &'h CodexHome) -> Self {
        let mut child =
            home.app_server_command(&codex_bin()).expect("app-server command").spawn().expect("spawn codex app-server");
        let stdin = child.stdin.take().expect("piped stdin");
        let lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        Self {
            home,
            child,
            stdin,
            lines,
            next_id: 0,
            backlog: VecDeque::new(),
            transcript: Vec::new(),
            wire: Vec::new(),
        }
    }

    /// Spawns and performs the `initialize` → `initialized` handshake.
    async fn start(home: &'h CodexHome) -> Self {
        let mut server = Self::spawn(home).await;
        let result = server
            .request(
                "initialize",
                json!({ "clientInfo": { "name": "harness_smoke", "title": "Harness Smoke", "version": "0.0.1" } }),
            )
            .await;
        assert!(result["userAgent"].as_str().is_some_and(|ua| ua.starts_with("harness_smoke/")), "{result}");
        server.send(json!({ "method": "initialized" })).await;
        server
    }

    fn fail(&self, what: &str) -> ! {
        let transcript: Vec<String> = self.transcript.iter().map(Value::to_string).collect();
        panic!(
            "{what}\n--- received ---\n{}\n--- app-server stderr ---\n{}",
            transcript.join("\n"),
            self.home.stderr_text()
        );
    }

    async fn send(&mut self, message: Value) {
        self.wire.push(json!({ "dir": "->", "msg": message }));
        let mut line = message.to_string();
        line.push('\n');
        if let Err(error) = self.stdin.write_all(line.as_bytes()).await {
            self.fail(&format!("writing {message}: {error}"));
        }
    }

    async fn read(&mut self) -> Value {
        let line = match tokio::time::timeout(STEP_TIMEOUT, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => self.fail("app-server closed stdout"),
            Ok(Err(error)) => self.fail(&format!("reading stdout: {error}")),
            Err(_) => self.fail(&format!("no message within {STEP_TIMEOUT:?}")),
        };
        let message: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| self.fail(&format!("bad line {line:?}: {e}")));
        self.transcript.push(message.clone());
        self.wire.push(json!({ "dir": "<-", "msg": message }));
        message
    }

    /// Sends a request and returns its `result`, keeping other messages for later.
    async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "id": id, "method": method, "params": params })).await;
        loop {
            let message = self.read().await;
            if message.get("id") == Some(&json!(id)) && message.get("method").is_none() {
                match message.get("result") {
                    Some(result) => return result.clone(),
                    None => self.fail(&format!("{method} failed: {message}")),
                }
            }
            self.backlog.push_back(message);
        }
    }

    /// The next message not consumed yet.
    async fn next_message(&mut self) -> Value {
        match self.backlog.pop_front() {
            Some(message) => message,
            None => self.read().await,
        }
    }

    /// Consumes messages up to the notification `method`; returns the ones before it and its params.
    async fn until_notification(&mut self, method: &str) -> (Vec<Value>, Value) {
        let mut before = Vec::new();
        for _ in 0..10_000 {
            let message = self.next_message().await;
            if message.get("method") == Some(&json!(method)) && message.get("id").is_none() {
                return (before, message["params"].clone());
            }
            before.push(message);
        }
        self.fail(&format!("no {method} notification"))
    }

    /// The next server → client request.
    async fn next_server_request(&mut self) -> Value {
        for _ in 0..10_000 {
            let message = self.next_message().await;
            if message.get("method").is_some() && message.get("id").is_some() {
                return message;
            }
        }
        self.fail("no server request")
    }

    async fn start_thread(&mut self, params: Value) -> String {
        let result = self.request("thread/start", params).await;
        result["thread"]["id"].as_str().expect("thread id").to_owned()
    }

    async fn start_turn(&mut self, thread_id: &str, text: &str) -> String {
        let result = self
            .request("turn/start", json!({ "threadId": thread_id, "input": [{ "type": "text", "text": text }] }))
            .await;
        result["turn"]["id"].as_str().expect("turn id").to_owned()
    }

    /// Closes stdin and waits for a clean exit. With `CODEX_RECORD_DIR` set (`cargo xtask
    /// record`), first writes the wire transcript there as `<test name>.jsonl`, with the
    /// home's temporary paths rewritten to `/tmp/lab/…`.
    async fn shutdown(mut self) {
        if let Some(dir) = std::env::var_os("CODEX_RECORD_DIR") {
            self.write_transcript(std::path::Path::new(&dir));
        }
        drop(self.stdin);
        match tokio::time::timeout(STEP_TIMEOUT, self.child.wait()).await {
            Ok(Ok(_status)) => {}
            _ => {
                let _ = self.child.kill().await;
            }
        }
    }
}

impl RawAppServer<'_> {
    fn write_transcript(&self, dir: &std::path::Path) {
        let name = std::thread::current().name().expect("libtest names test threads").replace("::", "-");
        let home = self.home;
        let root = home.codex_home().parent().expect("the home has a root");
        let rewrites = [
            (home.codex_home(), "/tmp/lab/codex_home"),
            (home.home(), "/tmp/lab/home"),
            (home.work_dir(), "/tmp/lab/work"),
            (root, "/tmp/lab"),
        ];
        let mut text = String::new();
        for record in &self.wire {
            let mut line = record.to_string();
            for (path, lab) in &rewrites {
                line = line.replace(&*path.to_string_lossy(), lab);
            }
            text.push_str(&line);
            text.push('\n');
        }
        let path = dir.join(format!("{name}.jsonl"));
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}

/// `item/completed` params of the given item type among `messages`.
fn completed_items<'a>(messages: &'a [Value], item_type: &str) -> Vec<&'a Value> {
    messages
        .iter()
        .filter(|m| m["method"] == "item/completed" && m["params"]["item"]["type"] == item_type)
        .map(|m| &m["params"]["item"])
        .collect()
}

fn notifications<'a>(messages: &'a [Value], method: &str) -> Vec<&'a Value> {
    messages.iter().filter(|m| m["method"] == method && m.get("id").is_none()).map(|m| &m["params"]).collect()
}

#[tokio::test]
async fn text_turn_round_trip() {
    let model = MockModel::start().await.expect("start mock model");
    model.push(MockResponse::text("Hello from the mock"));
    let home = CodexHome::new(&model.base_url()).expect("codex home");
    let mut server = RawAppServer::start(&home).await;

    let thread_id = server.start_thread(json!({})).await;
    server.start_turn(&thread_id, "hello").await;
    let (messages, completed) = server.until_notification("turn/completed").await;

    assert_eq!(completed["turn"]["status"], "completed", "{completed}");
    let agent_messages = completed_items(&messages, "agentMessage");
    assert_eq!(agent_messages.len(), 1, "{messages:?}");
    assert_eq!(agent_messages[0]["text"], "Hello from the mock");

    let requests = model.wait_for_requests(1, STEP_TIMEOUT).await.expect("one model request");
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!((request.method(), request.path()), ("POST", "/v1/responses"));
    assert!(request.body_contains("hello"));
    assert_eq!(request.last_user_text(), Some("hello"));
    assert_eq!(request.model(), Some("mock-model"));
    assert_eq!(request.header("originator"), Some("harness_smoke"));
    assert_eq!(model.pending(), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn streamed_reasoning_phase_and_usage() {
    let model = MockModel::start().await.expect("start mock model");
    model.push(
        ResponseStream::new()
            .reasoning("Thinking it over")
            .message(AssistantMessage::new("Hello world").deltas(3).phase(MessagePhase::FinalAnswer))
            .usage(Usage { cached_input_tokens: 4, ..Usage::new(10, 5) })
            .completed(),
    );
    let home = CodexHome::new(&model.base_url()).expect("codex home");
    let mut server = RawAppServer::start(&home).await;
    let thread_id = server.start_thread(json!({ "cwd": home.work_dir() })).await;
    server.start_turn(&thread_id, "think").await;
    let (messages, completed) = server.until_notification("turn/completed").await;

    assert_eq!(completed["turn"]["status"], "completed", "{completed}");
    let reasoning = completed_items(&messages, "reasoning");
    assert_eq!(reasoning.len(), 1, "{messages:?}");
    assert_eq!(reasoning[0]["summary"], json!(["Thinking it over"]));
    let deltas: Vec<&Value> =
        notifications(&messages, "item/agentMessage/delta").into_iter().map(|params| &params["delta"]).collect();
    assert_eq!(deltas, [&json!("Hel"), &json!("lo w"), &json!("orld")]);
    let agent = completed_items(&messages, "agentMessage");
    assert_eq!((agent[0]["text"].as_str(), agent[0]["phase"].as_str()), (Some("Hello world"), Some("final_answer")));
    let usage = notifications(&messages, "thread/tokenUsage/updated");
    let last = &usage.last().expect("token usage")["tokenUsage"]["last"];
    assert_eq!((last["inputTokens"].as_u64(), last["cachedInputTokens"].as_u64()), (Some(10), Some(4)));
    assert_eq!((last["outputTokens"].as_u64(), last["totalTokens"].as_u64()), (Some(5), Some(15)));
    server.shutdown().await;
}

#[tokio::test]
async fn upstream_failures_fail_the_turn() {
    let model = MockModel::start().await.expect("start mock model");
    model.push_all([
        MockResponse::http_error(500, "kaputt"),
        MockResponse::http_error(401, r#"{"error":{"message":"bad key"}}"#),
        MockResponse::http_error(429, "slow down"),
        MockResponse::failed("boom"),
        MockResponse::cut(),
    ]);
    let home = CodexHome::new(&model.base_url()).expect("codex home");
    let mut server = RawAppServer::start(&home).await;
    let thread_id = server.start_thread(json!({ "cwd": home.work_dir() })).await;

    // The sixth turn finds the script empty.
    let expected = [
        json!("internalServerError"),
        json!({ "httpConnectionFailed": { "httpStatusCode": 401 } }),
        json!({ "responseTooManyFailedAttempts": { "httpStatusCode": 429 } }),
        json!("other"),
        json!("other"),
        json!("internalServerError"),
    ];
    let mut error_messages = Vec::new();
    for (turn, expected_info) in expected.iter().enumerate() {
        server.start_turn(&thread_id, &format!("turn {turn}")).await;
        let (messages, completed) = server.until_notification("turn/completed").await;
        assert_eq!(completed["turn"]["status"], "failed", "turn {turn}: {completed}");
        let errors = notifications(&messages, "error");
        assert_eq!(errors.len(), 1, "turn {turn}: {messages:?}");
        assert_eq!(errors[0]["willRetry"], false);
        assert_eq!(&errors[0]["error"]["codexErrorInfo"], expected_info, "turn {turn}");
        error_messages.push(errors[0]["error"]["message"].as_str().unwrap_or_default().to_owned());
    }
    assert!(error_messages[1].contains("bad key"), "{error_messages:?}");
    assert!(error_messages[3].contains("boom"), "{error_messages:?}");
    assert!(error_messages[4].contains("response.completed"), "{error_messages:?}");
    assert_eq!((model.request_count(), model.pending(), model.unscripted_requests()), (6, 0, 1));
    server.shutdown().await;
}

#[tokio::test]
async fn command_approval_and_bearer_token() {
    let model = MockModel::start().await.expect("start mock model");
    model.push_all([
        MockResponse::exec_command(ExecCommand::new("call_1", "echo approved > out.txt").escalated("write a file")),
        MockResponse::text("ran it"),
    ]);
    let home = CodexHome::builder(&model.base_url())
        .approval_policy(AskForApproval::OnRequest)
        .env_key("MOCK_API_KEY")
        .env_var("MOCK_API_KEY", "sk-mock")
        .build()
        .expect("codex home");
    let mut server = RawAppServer::start(&home).await;
    let thread_id = server.start_thread(json!({ "cwd": home.work_dir() })).await;
    server.start_turn(&thread_id, "run it").await;

    let request = server.next_server_request().await;
    assert_eq!(request["method"], "item/commandExecution/requestApproval", "{request}");
    assert_eq!(request["params"]["reason"], "write a file", "{request}");
    server.send(json!({ "id": request["id"], "result": { "decision": "accept" } })).await;
    let (messages, completed) = server.until_notification("turn/completed").await;
    assert_eq!(completed["turn"]["status"], "completed", "{completed}");
    let commands = completed_items(&messages, "commandExecution");
    assert_eq!((commands[0]["id"].as_str(), commands[0]["status"].as_str()), (Some("call_1"), Some("completed")));
    assert_eq!(completed_items(&messages, "agentMessage")[0]["text"], "ran it");
    let written = std::fs::read_to_string(home.work_dir().join("out.txt")).expect("command output file");
    assert_eq!(written, "approved\n");

    let requests = model.wait_for_requests(2, STEP_TIMEOUT).await.expect("two model requests");
    assert!(requests.iter().all(|r| r.header("authorization") == Some("Bearer sk-mock")));
    assert!(requests[0].tool_names().contains(&"exec_command"), "{:?}", requests[0].tool_names());
    assert!(requests[0].function_call_output("call_1").is_none());
    let output = requests[1].function_call_output("call_1").expect("function_call_output for call_1");
    assert!(output.to_string().contains("exited with code 0"), "{output}");
    server.shutdown().await;
}

#[tokio::test]
async fn apply_patch_with_file_change_approval() {
    let model = MockModel::start().await.expect("start mock model");
    model.push_all([
        MockResponse::apply_patch("call_p", "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch\n"),
        MockResponse::text("patched"),
    ]);
    let home =
        CodexHome::builder(&model.base_url()).approval_policy(AskForApproval::OnRequest).build().expect("codex home");
    let mut server = RawAppServer::start(&home).await;
    // `apply_patch` is offered to bundled models only.
    let thread_id = server.start_thread(json!({ "cwd": home.work_dir(), "model": "gpt-5.5" })).await;
    server.start_turn(&thread_id, "patch it").await;

    let request = server.next_server_request().await;
    assert_eq!(request["method"], "item/fileChange/requestApproval", "{request}");
    server.send(json!({ "id": request["id"], "result": { "decision": "accept" } })).await;
    let (messages, completed) = server.until_notification("turn/completed").await;
    assert_eq!(completed["turn"]["status"], "completed", "{completed}");
    assert_eq!(completed_items(&messages, "fileChange")[0]["status"], "completed");
    assert_eq!(std::fs::read_to_string(home.work_dir().join("hello.txt")).expect("patched file"), "hi\n");
    let requests = model.wait_for_requests(2, STEP_TIMEOUT).await.expect("two model requests");
    assert_eq!(requests[0].model(), Some("gpt-5.5"));
    assert!(requests[1].custom_tool_call_output("call_p").is_some());
    server.shutdown().await;
}

#[tokio::test]
async fn stalled_stream_allows_interrupt_and_steer() {
    let model = MockModel::start().await.expect("start mock model");
    let (interrupted, first_stall) = ResponseStream::new().text("partial").stall();
    let (steered, second_stall) = MockResponse::stall();
    model.push_all([interrupted, steered, MockResponse::text("after steer")]);
    let home = CodexHome::new(&model.base_url()).expect("codex home");
    let mut server = RawAppServer::start(&home).await;
    let thread_id = server.start_thread(json!({ "cwd": home.work_dir() })).await;

    let turn_id = server.start_turn(&thread_id, "first").await;
    assert!(first_stall.wait_reached(STEP_TIMEOUT).await, "first stream never stalled");
    server.request("turn/interrupt", json!({ "threadId": thread_id, "turnId": turn_id })).await;
    let (_, completed) = server.until_notification("turn/completed").await;
    assert_eq!(completed["turn"]["status"], "interrupted", "{completed}");

    let turn_id = server.start_turn(&thread_id, "second").await;
    assert!(second_stall.wait_reached(STEP_TIMEOUT).await, "second stream never stalled");
    let steer = json!({ "threadId": thread_id, "expectedTurnId": turn_id, "input": [{ "type": "text", "text": "steer text" }] });
    let result = server.request("turn/steer", steer).await;
    assert_eq!(result["turnId"], turn_id.as_str());
    let (messages, completed) = server.until_notification("turn/completed").await;
    assert_eq!(completed["turn"]["status"], "completed", "{completed}");
    assert_eq!(completed_items(&messages, "agentMessage").last().expect("agent message")["text"], "after steer");

    let requests = model.wait_for_requests(3, STEP_TIMEOUT).await.expect("three model requests");
    assert_eq!(requests[2].last_user_text(), Some("steer text"));
    assert_eq!(model.pending(), 0);
    server.shutdown().await;
}
