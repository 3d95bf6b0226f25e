//! Steer a running turn with more input, and interrupt another one; the thread stays usable.
//!
//! ```sh
//! cargo run --example steer_and_interrupt [-- --offline]
//! ```
//!
//! `TurnHandle::control()` (or `TurnEvents::control()`) is a cheap handle that steers
//! (`turn/steer`: the input joins the running turn, which carries on) or interrupts
//! (`turn/interrupt`: the turn ends with status `Interrupted`) while you consume the events.
//! Here both happen as soon as the first words of the answer stream in.

mod support;

use codex_driver::methods::ServerNotification;
use codex_driver::testing::{AssistantMessage, MockModel, MockResponse, ResponseStream};
use codex_driver::{Codex, ThreadOptions};
use futures::StreamExt;
use std::io::Write;

#[tokio::main]
async fn main() -> Result<(), support::BoxError> {
    let env = support::Env::new(offline_script).await?;
    let codex = Codex::spawn(env.config()).await?;
    let thread = codex.thread_start(&ThreadOptions::default()).await?;

    // Steer: once the answer starts, add an instruction to the same turn.
    let turn = thread.turn("Write a four-line poem about the sea.").await?;
    let control = turn.control();
    let mut events = turn.stream();
    let mut steered = false;
    print!("codex> ");
    while let Some(event) = events.next().await {
        match event? {
            ServerNotification::ItemAgentMessageDelta(d) => {
                print!("{}", d.delta);
                std::io::stdout().flush()?;
                if !steered {
                    steered = true;
                    match control.steer("Actually, write it in French.").await {
                        Ok(id) => println!("\n  [steered turn {id}: \"Actually, write it in French.\"]"),
                        Err(e) => println!("\n  [steer refused: {e}]"),
                    }
                    print!("codex> ");
                }
            }
            ServerNotification::TurnCompleted(done) => println!("\n  [turn ended: {:?}]", done.turn.status),
            _ => {}
        }
    }

    // Interrupt: stop a turn as soon as it starts answering.
    let turn = thread.turn("Count slowly from one to one hundred.").await?;
    let control = turn.control();
    let mut events = turn.stream();
    let mut interrupted = false;
    print!("codex> ");
    while let Some(event) = events.next().await {
        match event? {
            ServerNotification::ItemAgentMessageDelta(d) => {
                print!("{}", d.delta);
                std::io::stdout().flush()?;
                if !interrupted {
                    interrupted = true;
                    control.interrupt().await?;
                    println!("\n  [interrupt sent; what was already on its way still arrives]");
                    print!("codex> ");
                }
            }
            ServerNotification::TurnCompleted(done) => println!("\n  [turn ended: {:?}]", done.turn.status),
            _ => {}
        }
    }

    // The thread carries on.
    let next = thread.run("Just say 'ready'.").await?;
    println!("next turn ({:?}): {}", next.status, next.final_response().unwrap_or("(none)"));

    codex.close().await;
    env.finish()
}

/// Offline runs only. Each of the first answers stops mid-stream (as a slow model would), so
/// the steer and the interrupt reach a turn that is still running.
fn offline_script(model: &MockModel) {
    let (waves, _) = ResponseStream::new().message(AssistantMessage::new("The waves roll in, ").deltas(2)).stall();
    let french =
        MockResponse::text("Les vagues viennent,\nLes vagues s'en vont,\nLa mer se souvient,\nDu sable et du fond.");
    let (counting, _) =
        ResponseStream::new().message(AssistantMessage::new("One... two... three...").deltas(3)).stall();
    model.push_all([waves, french, counting, MockResponse::text("ready")]);
}
