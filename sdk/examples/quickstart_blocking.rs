//! Quickstart without async: the `codex_driver::blocking` API (same names, options,
//! results and errors as the async one; no `#[tokio::main]`).
//!
//! ```sh
//! cargo run --example quickstart_blocking [-- --offline]
//! ```
//!
//! `blocking::Codex` runs the connection on one background thread of its own; each call
//! blocks the calling thread until its answer. Do not call it from inside async code (it
//! panics there, saying so): use the async API.

mod support;

use codex_driver::blocking::Codex;
use codex_driver::testing::{MockModel, MockResponse};
use codex_driver::ThreadOptions;

fn main() -> Result<(), support::BoxError> {
    let env = support::Env::new_blocking(offline_script)?;

    let codex = Codex::spawn(env.config())?;
    let meta = codex.metadata();
    println!(
        "Connected to Codex {} on {}",
        meta.server_version.as_deref().unwrap_or("?"),
        meta.platform_os.as_deref().unwrap_or("?")
    );

    let thread = codex.thread_start(&ThreadOptions::default())?;
    let result = thread.run("Say hello in one short sentence.")?;
    println!("Thread: {}", thread.id());
    println!("Answer: {}", result.final_response().unwrap_or("(no answer)"));

    codex.close();
    env.finish()
}

/// Offline runs only: what the scripted model answers.
fn offline_script(model: &MockModel) {
    model.push(MockResponse::text("Hello from Codex, no async required!"));
}
