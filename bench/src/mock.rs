//! The scripted mock model in a process of its own, so that its CPU time and memory are not
//! counted as the client's: the bench binary re-runs itself as `codex-bench mock-model`.
//!
//! Child side ([`serve`]): starts [`MockModel`] on 127.0.0.1 with `responses` scripted
//! answers (each [`ANSWER`] streamed as `deltas` deltas), prints its base URL, waits for
//! stdin to close, then prints `requests <n> unscripted <m>`.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use codex_driver::testing::{AssistantMessage, MockModel, MockResponse};

/// The text of every scripted answer.
pub const ANSWER: &str = "The benchmark answer streams word by word, delta after delta, \
until every chunk of this sentence has reached the client and the turn completes.";

/// One scripted answer: [`ANSWER`] in `deltas` deltas, then `response.completed`.
fn answer(deltas: usize) -> MockResponse {
    MockResponse::stream().message(AssistantMessage::new(ANSWER).deltas(deltas)).completed()
}

/// The child side: serve until stdin closes.
pub fn serve(responses: usize, deltas: usize) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let model = MockModel::start().await.map_err(|e| e.to_string())?;
        model.push_all((0..responses).map(|_| answer(deltas)));
        println!("{}", model.base_url());
        std::io::stdout().flush().map_err(|e| e.to_string())?;
        tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        println!("requests {} unscripted {}", model.request_count(), model.unscripted_requests());
        Ok(())
    })
}

/// What the mock model saw, reported when it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MockSummary {
    /// Requests received.
    pub requests: usize,
    /// Requests that found no scripted answer.
    pub unscripted: usize,
}

/// The parent side: a running `codex-bench mock-model` process.
pub struct MockProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    base_url: String,
}

impl MockProcess {
    /// Starts the mock with `responses` answers of `deltas` deltas each.
    pub fn start(responses: usize, deltas: usize) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args(["mock-model", &responses.to_string(), &deltas.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the mock model process: {e}"))?;
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut base_url = String::new();
        stdout.read_line(&mut base_url).map_err(|e| e.to_string())?;
        let base_url = base_url.trim().to_owned();
        if !base_url.starts_with("http://127.0.0.1:") {
            let _ = child.kill();
            return Err(format!("the mock model process said {base_url:?}"));
        }
        Ok(MockProcess { child, stdin, stdout, base_url })
    }

    /// `http://127.0.0.1:<port>/v1`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Stops the mock and returns what it saw.
    pub fn finish(mut self) -> Result<MockSummary, String> {
        drop(self.stdin.take());
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).map_err(|e| e.to_string())?;
        let _ = self.child.wait();
        let words: Vec<&str> = rest.split_whitespace().collect();
        match words.as_slice() {
            ["requests", requests, "unscripted", unscripted] => Ok(MockSummary {
                requests: requests.parse().map_err(|_| rest.clone())?,
                unscripted: unscripted.parse().map_err(|_| rest.clone())?,
            }),
            _ => Err(format!("unexpected mock model summary {rest:?}")),
        }
    }
}

impl Drop for MockProcess {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
