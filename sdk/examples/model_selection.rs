//! Pick a model and a reasoning effort from `model/list`, then run turns with them.
//!
//! ```sh
//! cargo run --example model_selection [-- <model-id>] [--offline]
//! ```
//!
//! Without a model id, the example takes the server's default model, skipping models that
//! announce an upgrade to another listed one, and its highest supported reasoning effort.
//! The thread starts on that model; the second turn overrides the effort for itself (and,
//! as the server does, for later turns).

mod support;

use codex_driver::testing::{MockModel, ResponseStream, Usage};
use codex_driver::types::Model;
use codex_driver::{Codex, ThreadOptions, TurnOptions};

/// Reasoning efforts from least to most.
const EFFORT_ORDER: [&str; 8] = ["none", "minimal", "low", "medium", "high", "xhigh", "max", "ultra"];

fn rank(effort: &str) -> usize {
    EFFORT_ORDER.iter().position(|e| *e == effort).unwrap_or(0)
}

fn pick_model<'a>(models: &'a [Model], wanted: Option<&str>) -> Option<&'a Model> {
    if let Some(wanted) = wanted {
        return models.iter().find(|m| m.id == wanted || m.model == wanted);
    }
    let superseded = |m: &Model| m.upgrade.as_ref().is_some_and(|u| models.iter().any(|o| &o.id == u));
    models.iter().filter(|m| !m.hidden && !superseded(m)).max_by_key(|m| (m.is_default, m.model.clone()))
}

#[tokio::main]
async fn main() -> Result<(), support::BoxError> {
    let env = support::Env::new(offline_script).await?;
    let wanted = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let codex = Codex::spawn(env.config()).await?;

    let models = codex.models_including_hidden().await?.data;
    let model = pick_model(&models, wanted.as_deref()).ok_or("no such model")?;
    let efforts: Vec<&str> = model.supported_reasoning_efforts.iter().map(|e| e.reasoning_effort.as_str()).collect();
    let highest = efforts.iter().copied().max_by_key(|e| rank(e)).unwrap_or("medium");
    let lowest = efforts.iter().copied().min_by_key(|e| rank(e)).unwrap_or("low");
    println!("selected model:  {} ({})", model.model, model.display_name);
    println!("efforts:         {} (highest {highest}, lowest {lowest})", efforts.join(", "));

    let thread = codex
        .thread_start(&ThreadOptions::default().model(&model.model).config("model_reasoning_effort", highest))
        .await?;
    let first = thread.run("Give one short sentence about reliable production releases.").await?;
    println!("\n[{highest}] {}", first.final_response().unwrap_or("(none)"));
    if let Some(u) = &first.usage {
        println!(
            "  usage: {} in, {} out, {} reasoning",
            u.last.input_tokens, u.last.output_tokens, u.last.reasoning_output_tokens
        );
    }

    let quick = TurnOptions::default().effort(lowest);
    let second = thread.run_with("Now the same idea in five words.", &quick).await?;
    println!("\n[{lowest}] {}", second.final_response().unwrap_or("(none)"));
    if let Some(u) = &second.usage {
        println!(
            "  usage: {} in, {} out; thread total {}",
            u.last.input_tokens, u.last.output_tokens, u.total.total_tokens
        );
    }

    codex.close().await;
    env.finish()
}

/// Offline runs only: the two answers, with token usage.
fn offline_script(model: &MockModel) {
    model.push(
        ResponseStream::new()
            .text("Small, reversible changes shipped often keep releases boring.")
            .usage(Usage { reasoning_output_tokens: 64, ..Usage::new(812, 96) })
            .completed(),
    );
    model.push(ResponseStream::new().text("Ship small, ship often.").usage(Usage::new(860, 9)).completed());
}
