//! Run a turn to completion and inspect everything its `TurnResult` carries: id, status,
//! timing, token usage, every completed item in order, and the final response.
//!
//! ```sh
//! cargo run --example turn_run [-- --offline]
//! ```
//!
//! `final_response()` is the last agent message whose phase is `final_answer` (else the last
//! one without a phase); commentary is never promoted. A failed turn is `Err(Error::TurnFailed)`
//! carrying the same result; an interrupted one is `Ok` with status `Interrupted`.

mod support;

use codex_driver::testing::{AssistantMessage, MockModel, ResponseStream, Usage};
use codex_driver::types::MessagePhase;
use codex_driver::types::ThreadItem;
use codex_driver::{Codex, ThreadOptions};

#[tokio::main]
async fn main() -> Result<(), support::BoxError> {
    let env = support::Env::new(offline_script).await?;
    let codex = Codex::spawn(env.config()).await?;
    let thread = codex.thread_start(&ThreadOptions::default()).await?;

    let result = thread.run("Name three prime numbers, then say which is largest.").await?;

    println!("turn id:     {}", result.id);
    println!("status:      {:?}", result.status);
    println!("error:       {:?}", result.error);
    println!("started at:  {:?} (unix s)", result.started_at);
    println!("completed:   {:?} (unix s)", result.completed_at);
    println!("duration:    {:?} ms", result.duration_ms);
    match &result.usage {
        Some(usage) => println!(
            "usage:       last turn {} tokens ({} in, {} out, {} reasoning); thread total {}",
            usage.last.total_tokens,
            usage.last.input_tokens,
            usage.last.output_tokens,
            usage.last.reasoning_output_tokens,
            usage.total.total_tokens
        ),
        None => println!("usage:       (not reported)"),
    }
    println!("items ({}):", result.items.len());
    for item in &result.items {
        match item {
            ThreadItem::UserMessage(m) => println!("  - userMessage ({} input part(s))", m.content.len()),
            ThreadItem::AgentMessage(m) => println!("  - agentMessage [{:?}] {:?}", m.phase, m.text),
            ThreadItem::Reasoning(r) => println!("  - reasoning: {:?}", r.summary),
            other => println!("  - {}", other.kind()),
        }
    }
    println!("final response: {}", result.final_response().unwrap_or("(none)"));

    codex.close().await;
    env.finish()
}

/// Offline runs only: a reasoning summary, a commentary message, then the final answer.
fn offline_script(model: &MockModel) {
    model.push(
        ResponseStream::new()
            .reasoning("Listing small primes.")
            .message(AssistantMessage::new("Let me list a few.").phase(MessagePhase::Commentary))
            .message(AssistantMessage::new("2, 3 and 5; the largest is 5.").phase(MessagePhase::FinalAnswer))
            .usage(Usage::new(42, 17))
            .completed(),
    );
}
