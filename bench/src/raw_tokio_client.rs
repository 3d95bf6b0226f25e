//! The second baseline of the end-to-end bench: the same minimal hand-rolled JSON-RPC
//! client as [`RawClient`](crate::raw_client::RawClient), on Tokio — `tokio::process`, a
//! buffered line reader, one `serde_json::Value` per line, no routing, no types, awaited
//! with `block_on` like the SDK. What any async client pays to the runtime (readiness
//! polling, the hand-off from the worker that polls the driver to the waiting thread) is in
//! this figure too; the SDK's own cost is the difference.
//!
//! [`RawTokioClient::start_with_reader_task`] gives the same loop a reader task, as the SDK
//! has one: a spawned task reads the lines and hands each to the waiting caller through a
//! channel, a fresh `String` per line that the caller frees (the SDK's reader, too, hands
//! each notification on with its own line). What that hand-off costs — a second task
//! polled, the caller woken per line, an allocation per line — is what any client with a
//! reader of its own pays, whatever it does with the lines. (The SDK's reader wakes its
//! consumers once per burst rather than per line, and the SDK writes through a writer task
//! this client does not have.)

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;

use crate::raw_client::{initialize_params, refusal, response_step, thread_id_of, turn_start_params, Step, TurnReader};

/// One app-server spoken to directly, asynchronously.
pub struct RawTokioClient {
    child: Child,
    stdin: ChildStdin,
    lines: LineSource,
    next_id: i64,
    line: String,
    lines_read: u64,
}

/// Where the client's lines come from.
enum LineSource {
    /// Read by the caller itself.
    Direct(BufReader<ChildStdout>),
    /// Read by a task of their own and handed over one by one; the task is aborted at
    /// [`close`](RawTokioClient::close) if it has not ended with the app-server's output.
    Task { lines: mpsc::UnboundedReceiver<Result<String, String>>, reader: tokio::task::JoinHandle<()> },
}

impl RawTokioClient {
    /// Spawns `command` (stdin and stdout piped) and performs `initialize` + `initialized`;
    /// the caller reads the lines itself.
    pub async fn start(command: Command) -> Result<Self, String> {
        Self::start_with(command, false).await
    }

    /// [`start`](Self::start), the lines read by a spawned task and handed to the caller
    /// through a channel (the task ends with the app-server's output).
    pub async fn start_with_reader_task(command: Command) -> Result<Self, String> {
        Self::start_with(command, true).await
    }

    async fn start_with(mut command: Command, reader_task: bool) -> Result<Self, String> {
        let mut child = command.spawn().map_err(|e| format!("cannot start the app-server: {e}"))?;
        let stdin = child.stdin.take().ok_or("stdin is not piped")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("stdout is not piped")?);
        let lines = if reader_task { spawn_reader(stdout) } else { LineSource::Direct(stdout) };
        let mut client = RawTokioClient { child, stdin, lines, next_id: 0, line: String::new(), lines_read: 0 };
        client.request("initialize", initialize_params()).await?;
        client.send(&json!({"method": "initialized"})).await?;
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
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    async fn send(&mut self, message: &Value) -> Result<(), String> {
        let mut text = serde_json::to_string(message).map_err(|e| e.to_string())?;
        text.push('\n');
        self.stdin.write_all(text.as_bytes()).await.map_err(|e| format!("writing to the app-server: {e}"))
    }

    async fn read(&mut self) -> Result<Value, String> {
        const CLOSED: &str = "the app-server closed its output";
        match &mut self.lines {
            LineSource::Direct(stdout) => {
                self.line.clear();
                let n =
                    stdout.read_line(&mut self.line).await.map_err(|e| format!("reading from the app-server: {e}"))?;
                if n == 0 {
                    return Err(CLOSED.into());
                }
            }
            LineSource::Task { lines, .. } => self.line = lines.recv().await.ok_or(CLOSED)??,
        }
        self.lines_read += 1;
        serde_json::from_str(&self.line).map_err(|e| format!("bad line from the app-server: {e}"))
    }

    async fn send_request(&mut self, method: &str, params: Value) -> Result<i64, String> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"id": id, "method": method, "params": params})).await?;
        Ok(id)
    }

    async fn request(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.send_request(method, params).await?;
        loop {
            let message = self.read().await?;
            match response_step(message, id, method)? {
                Step::Continue => {}
                Step::Refuse(request) => self.send(&refusal(&request)).await?,
                Step::Done(result) => return Ok(result),
            }
        }
    }

    /// `thread/start` with no params; returns the thread id.
    pub async fn thread_start(&mut self) -> Result<String, String> {
        thread_id_of(self.request("thread/start", json!({})).await?)
    }

    /// `turn/start` with one text input, then reads until `turn/completed`; returns the
    /// agent message text assembled from its deltas.
    pub async fn run_turn(&mut self, thread_id: &str, text: &str) -> Result<String, String> {
        let id = self.send_request("turn/start", turn_start_params(thread_id, text)).await?;
        let mut turn = TurnReader::new(id);
        loop {
            let message = self.read().await?;
            match turn.step(message)? {
                Step::Continue => {}
                Step::Refuse(request) => self.send(&refusal(&request)).await?,
                Step::Done(answer) => return Ok(answer),
            }
        }
    }

    /// Closes stdin and waits for the process to exit (and a reader task to end).
    pub async fn close(mut self) {
        drop(self.stdin);
        if tokio::time::timeout(std::time::Duration::from_secs(2), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
        if let LineSource::Task { reader, .. } = self.lines {
            reader.abort();
            let _ = reader.await;
        }
    }
}

/// Reads `stdout` line by line on a task of its own, sending each line on, until it ends,
/// fails (the error is sent too) or the receiver is gone.
fn spawn_reader(mut stdout: BufReader<ChildStdout>) -> LineSource {
    let (tx, lines) = mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        loop {
            let mut line = String::new();
            let sent = match stdout.read_line(&mut line).await {
                Ok(0) => break,
                Ok(_) => tx.send(Ok(line)),
                Err(e) => {
                    let _ = tx.send(Err(format!("reading from the app-server: {e}")));
                    break;
                }
            };
            if sent.is_err() {
                break;
            }
        }
    });
    LineSource::Task { lines, reader }
}
