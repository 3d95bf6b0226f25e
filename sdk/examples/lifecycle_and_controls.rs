//! The thread lifecycle: run turns, rename, read back with turns, list, archive and
//! unarchive, fork, and compact.
//!
//! ```sh
//! cargo run --example lifecycle_and_controls [-- --offline]
//! ```
//!
//! A thread is stored (and listed) once it has a turn; archived threads are hidden from
//! `thread_list` unless asked for with `archived: Some(true)`. Compaction runs as a turn of
//! its own; subscribe to the thread's notifications before starting it to wait for its end.

mod support;

use codex_driver::testing::{MockModel, MockResponse};
use codex_driver::types::ThreadListParams;
use codex_driver::{Codex, ThreadOptions};

#[tokio::main]
async fn main() -> Result<(), support::BoxError> {
    let env = support::Env::new(offline_script).await?;
    let codex = Codex::spawn(env.config()).await?;
    let options = ThreadOptions::default().cwd(env.work_dir());

    let thread = codex.thread_start(&options).await?;
    let first = thread.run("One sentence about structured planning.").await?;
    let second = thread.run("Now restate it for a junior engineer.").await?;
    println!("thread {}", thread.id());
    println!("  first turn:  {} {:?}", first.id, first.status);
    println!("  second turn: {} {:?}", second.id, second.status);

    thread.set_name("sdk-lifecycle-demo").await?;
    let read = thread.read_with_turns().await?;
    println!("  read: name {:?}, {} turns, preview {:?}", read.name, read.turns.len(), read.preview);

    let count = |archived| {
        let codex = codex.clone();
        async move {
            let params = ThreadListParams { archived: Some(archived), limit: Some(50), ..Default::default() };
            codex.thread_list(&params).await.map(|page| page.data.len())
        }
    };
    println!("  listed: {} active, {} archived", count(false).await?, count(true).await?);
    codex.thread_archive(thread.id()).await?;
    println!("  archived: {} active, {} archived", count(false).await?, count(true).await?);
    let restored = codex.thread_unarchive(thread.id()).await?;
    println!("  unarchived {}: {} active, {} archived", restored.id(), count(false).await?, count(true).await?);

    // Archiving unloads the thread from this server: resume it to run turns on it again.
    let thread = codex.thread_resume(restored.id(), &options.clone()).await?;
    let third = thread.run("Continue in one short sentence.").await?;
    println!("resumed {}: {}", thread.id(), third.final_response().unwrap_or("?"));

    let fork = codex.thread_fork(thread.id(), &options).await?;
    let forked = fork.run("Take a different angle in one short sentence.").await?;
    println!("fork {} (from {}): {}", fork.id(), thread.id(), forked.final_response().unwrap_or("?"));

    // Compaction is a turn of its own, with a handle like any turn.
    let compaction = thread.compact().await?.run().await?;
    println!("compaction turn {} {:?}", compaction.id, compaction.status);

    codex.close().await;
    env.finish()
}

/// Offline runs only: three turns, the fork's turn, and the compaction summary.
fn offline_script(model: &MockModel) {
    model.push_all([
        MockResponse::text("Structured planning breaks a goal into ordered, checkable steps."),
        MockResponse::text("Plan by writing down small steps in order, and tick each one off."),
        MockResponse::text("Then check the steps against the goal as you go."),
        MockResponse::text("Planning is mostly deciding what not to do."),
        MockResponse::text("SUMMARY: the user asked about structured planning, twice."),
    ]);
}
