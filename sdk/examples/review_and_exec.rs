//! A review as a turn, and a command as a process.
//!
//! ```sh
//! cargo run --example review_and_exec [-- --offline]
//! ```
//!
//! `thread.review(Review::uncommitted_changes())` returns the same `TurnHandle` a turn does
//! (stream it, run it, drop it to cancel it); `TurnResult::review()` is the review's text.
//! `codex.exec(&Command)` runs a command on the app-server's machine and hands back a
//! `Child`: its output as a stream of chunks, stdin writes, its exit status.

mod support;

use codex_driver::exec::{Command, OutputKind};
use codex_driver::testing::{MockModel, MockResponse};
use codex_driver::{Codex, Review, ThreadOptions};

#[tokio::main]
async fn main() -> Result<(), support::BoxError> {
    let env = support::Env::new(offline_script).await?;
    let codex = Codex::spawn(env.config()).await?;
    let thread = codex.thread_start(&ThreadOptions::default()).await?;

    let review = thread.review(Review::custom("Check the README for broken commands.")).await?.run().await?;
    println!("review ({:?}):\n{}", review.status, review.review().unwrap_or("(none)"));

    let command = Command::new("sh").args(["-c", "read name; echo hello $name; echo done >&2"]).pipe_stdin();
    let mut child = codex.exec(&command).await?;
    child.write(b"codex\n").await?;
    child.close_stdin().await?;
    while let Some(chunk) = child.next_output().await {
        let chunk = chunk?;
        let stream = if chunk.kind == OutputKind::Stderr { "stderr" } else { "stdout" };
        print!("{stream}: {}", String::from_utf8_lossy(&chunk.bytes));
    }
    println!("exit status: {}", child.wait().await?.code);

    codex.close().await;
    env.finish()
}

/// Offline runs only: the reviewer's answer.
fn offline_script(model: &MockModel) {
    let review = serde_json::json!({
        "findings": [],
        "overall_correctness": "patch is correct",
        "overall_explanation": "Every command in the README runs as written.",
        "overall_confidence_score": 0.8
    });
    model.push(MockResponse::text(review.to_string()));
}
