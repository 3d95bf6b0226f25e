//! Quickstart: start Codex, open a thread, run one turn, print the answer.
//!
//! ```sh
//! cargo run --example quickstart              # your Codex login
//! cargo run --example quickstart -- --offline # the scripted mock model, no account
//! ```
//!
//! `Codex::spawn` spawns `codex app-server` (found through `CODEX_BIN`, then `PATH`) and
//! completes the `initialize` handshake; the process ends
//! when the last handle is dropped or on `close()`.

mod support;

use codex_driver::testing::{MockModel, MockResponse};
use codex_driver::{Codex, ThreadOptions};

#[tokio::main]
async fn main() -> Result<(), support::BoxError> {
    let env = support::Env::new(offline_script).await?;

    let codex = Codex::spawn(env.config()).await?;
    let meta = codex.metadata();
    println!(
        "Connected to Codex {} on {}",
        meta.server_version.as_deref().unwrap_or("?"),
        meta.platform_os.as_deref().unwrap_or("?")
    );

    let thread = codex.thread_start(&ThreadOptions::default()).await?;
    let result = thread.run("Say hello in one short sentence.").await?;
    println!("Thread: {}", thread.id());
    println!("Answer: {}", result.final_response().unwrap_or("(no answer)"));

    codex.close().await;
    env.finish()
}

/// Offline runs only: what the scripted model answers.
fn offline_script(model: &MockModel) {
    model.push(MockResponse::text("Hello from Codex!"));
}
