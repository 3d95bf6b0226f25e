//! Stream a turn's events without async: `blocking::TurnHandle::stream()` is an `Iterator`
//! of typed notifications, ending after `turn/completed`.
//!
//! ```sh
//! cargo run --example stream_events_blocking [-- --offline]
//! ```
//!
//! A `TurnControl` (from `turn.control()`) is `Send`: another thread can steer or interrupt
//! the turn while this one iterates; here the main thread only prints.

mod support;

use codex_driver::blocking::Codex;
use codex_driver::methods::ServerNotification;
use codex_driver::testing::{AssistantMessage, MockModel, ResponseStream, Usage};
use codex_driver::ThreadOptions;
use std::io::Write;

fn main() -> Result<(), support::BoxError> {
    let env = support::Env::new_blocking(offline_script)?;
    let codex = Codex::spawn(env.config())?;
    let thread = codex.thread_start(&ThreadOptions::default())?;

    let turn = thread.turn("Explain in two sentences why streaming output matters.")?;
    println!("turn {} started", turn.id());
    let mut in_message = false;
    for event in turn.stream() {
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
                    ServerNotification::TurnCompleted(done) => {
                        println!("event: turn/completed, status {:?}", done.turn.status)
                    }
                    other => println!("event: {}", other.method()),
                }
            }
        }
    }

    codex.close();
    env.finish()
}

/// Offline runs only: an answer streamed in eight deltas.
fn offline_script(model: &MockModel) {
    let text = "Streaming shows progress as it happens. Users see the answer forming instead of waiting.";
    model.push(
        ResponseStream::new().message(AssistantMessage::new(text).deltas(8)).usage(Usage::new(30, 18)).completed(),
    );
}
