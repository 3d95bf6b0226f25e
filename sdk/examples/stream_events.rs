//! Stream a turn's typed events as they arrive: agent-message deltas printed inline, every
//! other notification named, and the turn's status at `turn/completed`.
//!
//! ```sh
//! cargo run --example stream_events [-- --offline]
//! ```
//!
//! `TurnHandle::stream()` yields this turn's notifications only (a `futures::Stream` of
//! `Result<ServerNotification>`), ending after `turn/completed`. Events that arrive before
//! the `turn/start` response are kept, so nothing is missed.

mod support;

use codex_driver::methods::ServerNotification;
use codex_driver::testing::{AssistantMessage, MockModel, ResponseStream, Usage};
use codex_driver::{Codex, ThreadOptions};
use futures::StreamExt;
use std::io::Write;

#[tokio::main]
async fn main() -> Result<(), support::BoxError> {
    let env = support::Env::new(offline_script).await?;
    let codex = Codex::spawn(env.config()).await?;
    let thread = codex.thread_start(&ThreadOptions::default()).await?;

    let turn = thread.turn("Explain in two sentences why streaming output matters.").await?;
    println!("turn {} started", turn.id());
    let mut events = turn.stream();
    let mut in_message = false;
    while let Some(event) = events.next().await {
        match event? {
            ServerNotification::ItemAgentMessageDelta(delta) => {
                if !in_message {
                    print!("  delta> ");
                    in_message = true;
                }
                print!("{}", delta.delta);
                std::io::stdout().flush()?;
            }
            other => {
                if std::mem::take(&mut in_message) {
                    println!();
                }
                match other {
                    ServerNotification::ItemStarted(s) => println!("event: item/started ({})", s.item.kind()),
                    ServerNotification::ItemCompleted(c) => {
                        println!("event: item/completed ({})", c.item.kind())
                    }
                    ServerNotification::ThreadTokenUsageUpdated(u) => println!(
                        "event: thread/tokenUsage/updated ({} tokens this turn)",
                        u.token_usage.last.total_tokens
                    ),
                    ServerNotification::TurnCompleted(done) => {
                        println!("event: turn/completed, status {:?}", done.turn.status)
                    }
                    other => println!("event: {}", other.method()),
                }
            }
        }
    }

    codex.close().await;
    env.finish()
}

/// Offline runs only: an answer streamed in eight deltas.
fn offline_script(model: &MockModel) {
    let text = "Streaming shows progress as it happens. Users see the answer forming instead of waiting.";
    model.push(
        ResponseStream::new().message(AssistantMessage::new(text).deltas(8)).usage(Usage::new(30, 18)).completed(),
    );
}
