//! Goals: give a thread an objective and let Codex pursue it over as many turns as it takes,
//! within a budget.
//!
//! ```sh
//! cargo run --example goal_turns [-- --offline]
//! ```
//!
//! `Thread::run_goal_with(objective, options)` sets the thread's goal (`thread/goal/set`);
//! the server then starts turns by itself (a continuation after each, while the goal stays
//! `active`) until the model marks the goal `complete` or `blocked` with its `update_goal`
//! tool, a budget stops it, or it is paused. The SDK follows every turn and returns them
//! all with the goal's final state. `GoalOptions::max_turns` is a client-side turn budget
//! (the SDK pauses the goal when the last allowed turn starts); `token_budget` a
//! server-side one. `start_goal` returns a handle to stream the turns or pause them instead.

mod support;

use codex_driver::goals::GoalOptions;
use codex_driver::testing::{MockModel, MockResponse, ResponseStream, Usage};
use codex_driver::{Codex, ThreadOptions};

#[tokio::main]
async fn main() -> Result<(), support::BoxError> {
    let env = support::Env::new(offline_script).await?;
    let codex = Codex::spawn(env.config()).await?;
    let thread = codex.thread_start(&ThreadOptions::default().cwd(env.work_dir())).await?;

    let objective = "Write a haiku about the borrow checker, then check that its lines have 5, 7 and 5 syllables.";
    let budget = GoalOptions::default().max_turns(3);
    let result = thread.run_goal_with(objective, &budget).await?;

    println!("goal:    {objective}");
    println!("status:  {:?} after {} turn(s)", result.status(), result.turns.len());
    for (i, turn) in result.turns.iter().enumerate() {
        let kinds: Vec<&str> = turn.items.iter().map(|item| item.kind()).collect();
        println!("  turn {}: {:?}, items: {}", i + 1, turn.status, kinds.join(", "));
    }
    println!("answer:\n{}", result.final_response().unwrap_or("(none)"));
    if let Some(usage) = result.usage() {
        println!("tokens:  {} in the thread", usage.total.total_tokens);
    }

    codex.close().await;
    env.finish()
}

/// Offline runs only: a first turn that makes progress (the goal stays active, so the
/// server continues), then a turn that marks the goal complete and answers.
fn offline_script(model: &MockModel) {
    model.push(
        ResponseStream::new()
            .text("Draft:\nOwnership, strict friend\nborrows end before they dangle\nno data races here")
            .usage(Usage::new(1200, 40))
            .completed(),
    );
    model.push(
        ResponseStream::new()
            .text("Checked: 5, 7 and 5 syllables. Marking the goal complete.")
            .function_call("call_goal", "update_goal", r#"{"status":"complete"}"#)
            .usage(Usage::new(1300, 30))
            .completed(),
    );
    model.push(MockResponse::text("Ownership, strict friend\nborrows end before they dangle\nno data races here"));
}
