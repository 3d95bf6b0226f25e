//! Continue an existing thread: start one, let it end, then load it again by id with
//! `thread_resume` and keep talking: the model sees the earlier turns.
//!
//! ```sh
//! cargo run --example existing_thread [-- --offline]
//! cargo run --example existing_thread -- <thread-id>   # resume one of yours
//! ```
//!
//! Threads persist under `CODEX_HOME` once they have a turn, so a thread id can be resumed by
//! a later process. A thread still loaded by another app-server process is refused ("already
//! has an active writer") until that process lets go of it.

mod support;

use codex_driver::testing::{MockModel, MockResponse};
use codex_driver::{Codex, ThreadOptions};

#[tokio::main]
async fn main() -> Result<(), support::BoxError> {
    let env = support::Env::new(offline_script).await?;
    let given = std::env::args().skip(1).find(|a| !a.starts_with("--"));

    let id = match given {
        Some(id) => id,
        None => {
            // Make a thread to come back to, in a first app-server process.
            let first = Codex::spawn(env.config()).await?;
            let thread = first.thread_start(&ThreadOptions::default()).await?;
            let result = thread.run("Remember the word 'pineapple'. Reply with one short sentence.").await?;
            println!("first process, thread {}: {}", thread.id(), result.final_response().unwrap_or("?"));
            first.close().await; // releases the thread
            thread.id().to_owned()
        }
    };

    // A new process loads the stored thread and carries on.
    let codex = Codex::spawn(env.config()).await?;
    let thread = codex.thread_resume(&id, &ThreadOptions::default()).await?;
    let stored = thread.info().map(|t| t.turns.len()).unwrap_or(0);
    println!("resumed {} with {stored} stored turn(s)", thread.id());
    let result = thread.run("Which word did I ask you to remember?").await?;
    println!("answer: {}", result.final_response().unwrap_or("?"));

    codex.close().await;
    env.finish()
}

/// Offline runs only: the answers to the two turns.
fn offline_script(model: &MockModel) {
    model.push(MockResponse::text("Noted: pineapple."));
    model.push(MockResponse::text("You asked me to remember 'pineapple'."));
}
