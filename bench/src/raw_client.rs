//! The baseline of the end-to-end bench: a minimal hand-rolled JSON-RPC client — blocking
//! `std::process`, one `serde_json::Value` per line, no routing, no types.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command};

use serde_json::{json, Value};

/// One app-server spoken to directly.
pub struct RawClient {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    next_id: i64,
    line: String,
    lines_read: u64,
}

impl RawClient {
    /// Spawns `command` (stdin and stdout piped) and performs `initialize` + `initialized`.
    pub fn start(mut command: Command) -> Result<Self, String> {
        let mut child = command.spawn().map_err(|e| format!("cannot start the app-server: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().ok_or("stdout is not piped")?);
        let mut client = RawClient { child, stdin, stdout, next_id: 0, line: String::new(), lines_read: 0 };
        client.request("initialize", initialize_params())?;
        client.send(&json!({"method": "initialized"}))?;
        Ok(client)
    }

    /// Messages read from the app-server so far.
    pub fn lines_read(&self) -> u64 {
        self.lines_read
    }

    /// Requests sent so far (each gets one response line).
    pub fn requests_sent(&self) -> u64 {
        self.next_id as u64
    }

    /// The app-server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn send(&mut self, message: &Value) -> Result<(), String> {
        let mut text = serde_json::to_string(message).map_err(|e| e.to_string())?;
        text.push('\n');
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        stdin.write_all(text.as_bytes()).map_err(|e| format!("writing to the app-server: {e}"))
    }

    /// The next message.
    fn read(&mut self) -> Result<Value, String> {
        self.line.clear();
        let n = self.stdout.read_line(&mut self.line).map_err(|e| format!("reading from the app-server: {e}"))?;
        if n == 0 {
            return Err("the app-server closed its output".into());
        }
        self.lines_read += 1;
        serde_json::from_str(&self.line).map_err(|e| format!("bad line from the app-server: {e}"))
    }

    /// Refuses a server → client request (none is expected with approvals off).
    fn refuse(&mut self, request: &Value) -> Result<(), String> {
        self.send(&refusal(request))
    }

    fn send_request(&mut self, method: &str, params: Value) -> Result<i64, String> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"id": id, "method": method, "params": params}))?;
        Ok(id)
    }

    /// Sends a request and reads until its response, skipping notifications.
    pub fn request(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.send_request(method, params)?;
        loop {
            let message = self.read()?;
            match response_step(message, id, method)? {
                Step::Continue => {}
                Step::Refuse(request) => self.refuse(&request)?,
                Step::Done(result) => return Ok(result),
            }
        }
    }

    /// `thread/start` with no params; returns the thread id.
    pub fn thread_start(&mut self) -> Result<String, String> {
        thread_id_of(self.request("thread/start", json!({}))?)
    }

    /// `turn/start` with one text input, then reads until `turn/completed`; returns the
    /// agent message text assembled from its deltas.
    pub fn run_turn(&mut self, thread_id: &str, text: &str) -> Result<String, String> {
        let id = self.send_request("turn/start", turn_start_params(thread_id, text))?;
        let mut turn = TurnReader::new(id);
        loop {
            let message = self.read()?;
            match turn.step(message)? {
                Step::Continue => {}
                Step::Refuse(request) => self.refuse(&request)?,
                Step::Done(answer) => return Ok(answer),
            }
        }
    }

    /// Closes stdin and waits for the process (killing it if it lingers).
    pub fn close(mut self) {
        drop(self.stdin.take());
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RawClient {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The `initialize` params both hand-rolled clients send.
pub fn initialize_params() -> Value {
    json!({
        "clientInfo": {"name": "bench_raw_client", "title": "Bench raw client", "version": "0.0.1"},
        "capabilities": {"experimentalApi": true},
    })
}

/// The `turn/start` params of one text input.
pub fn turn_start_params(thread_id: &str, text: &str) -> Value {
    json!({"threadId": thread_id, "input": [{"type": "text", "text": text}]})
}

/// The thread id in a `thread/start` result.
pub fn thread_id_of(result: Value) -> Result<String, String> {
    result["thread"]["id"].as_str().map(str::to_owned).ok_or_else(|| format!("thread/start returned {result}"))
}

/// The reply refusing a server → client request.
pub fn refusal(request: &Value) -> Value {
    json!({"id": request["id"], "error": {"code": -32601, "message": "not supported"}})
}

/// What a hand-rolled client does with one message it read.
pub enum Step<T> {
    /// Read the next one.
    Continue,
    /// Refuse this server → client request, then read on.
    Refuse(Value),
    /// The wait is over.
    Done(T),
}

/// Reading for the response to request `id` (`method`): its result, or its error as `Err`.
pub fn response_step(mut message: Value, id: i64, method: &str) -> Result<Step<Value>, String> {
    if message.get("method").is_some() {
        return Ok(if message.get("id").is_some() { Step::Refuse(message) } else { Step::Continue });
    }
    if message["id"] != id {
        return Ok(Step::Continue);
    }
    if let Some(error) = message.get("error") {
        return Err(format!("{method} failed: {error}"));
    }
    Ok(Step::Done(message["result"].take()))
}

/// One turn's messages as both hand-rolled clients read them: the answer assembled from the
/// agent message deltas, done at `turn/completed`.
pub struct TurnReader {
    id: i64,
    answer: String,
}

impl TurnReader {
    /// The turn started by request `id`.
    pub fn new(id: i64) -> Self {
        TurnReader { id, answer: String::new() }
    }

    /// Takes one message.
    pub fn step(&mut self, message: Value) -> Result<Step<String>, String> {
        match (message.get("method").and_then(Value::as_str), message.get("id")) {
            (Some("item/agentMessage/delta"), None) => {
                self.answer.push_str(message["params"]["delta"].as_str().unwrap_or_default());
            }
            (Some("turn/completed"), None) => {
                let status = &message["params"]["turn"]["status"];
                if status != "completed" {
                    return Err(format!("the turn ended {status}"));
                }
                return Ok(Step::Done(std::mem::take(&mut self.answer)));
            }
            (Some(_), Some(_)) => return Ok(Step::Refuse(message)),
            (None, Some(reply)) if *reply == self.id => {
                if let Some(error) = message.get("error") {
                    return Err(format!("turn/start failed: {error}"));
                }
            }
            _ => {}
        }
        Ok(Step::Continue)
    }
}
