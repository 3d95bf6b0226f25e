//! A tiny command-line chat: one thread, one turn per line you type, answers streamed as
//! they arrive, with the turn's status and token usage after each. `/exit` (or end of
//! input) quits.
//!
//! ```sh
//! cargo run --example mini_chat
//! printf 'Hello!\nWhat can you do?\n/exit\n' | cargo run --example mini_chat -- --offline
//! ```
//!
//! Offline, the scripted model echoes what you typed.

mod support;

use codex_driver::methods::ServerNotification;
use codex_driver::testing::{AssistantMessage, MockResponse, Usage};
use codex_driver::types::ThreadTokenUsage;
use codex_driver::{Codex, ThreadOptions};
use futures::StreamExt;
use std::io::{IsTerminal, Write};

#[tokio::main]
async fn main() -> Result<(), support::BoxError> {
    let env = support::Env::new(|_| {}).await?;
    let codex = Codex::spawn(env.config()).await?;
    let thread = codex.thread_start(&ThreadOptions::default()).await?;
    println!("Codex mini chat (thread {}). Type /exit to quit.", thread.id());

    let interactive = std::io::stdin().is_terminal();
    loop {
        print!("you> ");
        std::io::stdout().flush()?;
        let Some(line) = read_line().await? else { break };
        let line = line.trim();
        if !interactive {
            println!("{line}"); // echo piped input so the transcript reads well
        }
        if line.is_empty() {
            continue;
        }
        if line == "/exit" || line == "/quit" {
            break;
        }
        offline_answer(&env, line);

        let mut events = thread.turn(line).await?.stream();
        let mut usage: Option<ThreadTokenUsage> = None;
        print!("codex> ");
        while let Some(event) = events.next().await {
            match event? {
                ServerNotification::ItemAgentMessageDelta(d) => {
                    print!("{}", d.delta);
                    std::io::stdout().flush()?;
                }
                ServerNotification::ThreadTokenUsageUpdated(u) => usage = Some(u.token_usage),
                ServerNotification::TurnCompleted(done) => {
                    println!();
                    let tokens = usage
                        .as_ref()
                        .map(|u| format!("{} tokens, {} in thread", u.last.total_tokens, u.total.total_tokens));
                    println!("      [{:?}{}]", done.turn.status, tokens.map(|t| format!(", {t}")).unwrap_or_default());
                    if let Some(error) = done.turn.error {
                        println!("      error: {}", error.message);
                    }
                }
                _ => {}
            }
        }
    }
    println!("bye");
    codex.close().await;
    env.finish()
}

/// The next line of stdin (`None` at end of input), read off the async runtime's threads.
async fn read_line() -> std::io::Result<Option<String>> {
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let read = std::io::stdin().read_line(&mut line)?;
        Ok((read > 0).then_some(line))
    })
    .await?
}

/// Offline runs only: the scripted model echoes each line.
fn offline_answer(env: &support::Env, line: &str) {
    if let Some(offline) = env.offline() {
        let answer = AssistantMessage::new(format!("You said: {line:?}. (Offline echo.)")).deltas(4);
        offline
            .model
            .push(MockResponse::stream().message(answer).usage(Usage::new(20 + line.len() as u64, 12)).completed());
    }
}
