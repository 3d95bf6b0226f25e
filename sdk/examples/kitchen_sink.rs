//! One turn using most of the optional thread and turn parameters, with a structured
//! answer: `run_typed_with::<T>` sends `T`'s JSON Schema and parses the answer into `T`.
//!
//! ```sh
//! cargo run --example kitchen_sink [-- --offline]
//! ```
//!
//! Thread options set the thread's defaults (model, working directory, approvals, sandbox,
//! instructions, config overrides); turn options override them for this turn and, as the
//! server does, for later turns too. `run_typed_with::<T>` derives a strict-mode JSON Schema
//! from `T` (`schemars::JsonSchema`), sends it as the turn's output schema, and parses the
//! final answer; an answer that does not fit is `Error::OutputMismatch`. (For a hand-written
//! schema, set `TurnOptions::output_schema(json)` and parse `final_response()` yourself.)

mod support;

use codex_driver::testing::{MockModel, ResponseStream, Usage};
use codex_driver::types::{Personality, ReasoningSummary};
use codex_driver::{ApprovalMode, Codex, Sandbox, ThreadOptions, TurnOptions};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// The answer's shape, as Rust; its JSON Schema is derived.
#[derive(Debug, Deserialize, JsonSchema)]
struct RolloutPlan {
    summary: String,
    actions: Vec<String>,
}

#[tokio::main]
async fn main() -> Result<(), support::BoxError> {
    let env = support::Env::new(offline_script).await?;
    let codex = Codex::spawn(env.config()).await?;

    // The server's default model, and an effort it supports.
    let models = codex.models().await?.data;
    let model = models.iter().find(|m| m.is_default).or(models.first()).ok_or("no model available")?;
    let effort = if model.supported_reasoning_efforts.iter().any(|e| e.reasoning_effort.as_str() == "medium") {
        "medium".to_owned()
    } else {
        model.default_reasoning_effort.to_string()
    };

    let thread = codex
        .thread_start(
            &ThreadOptions::default()
                .model(&model.model)
                .cwd(env.work_dir())
                .approval_mode(ApprovalMode::DenyAll)
                .sandbox(Sandbox::ReadOnly)
                .developer_instructions("Be brief. Prefer concrete, checkable steps.")
                .config("model_reasoning_effort", "high"),
        )
        .await?;

    let options = TurnOptions::default()
        .model(&model.model)
        .effort(effort.as_str())
        .cwd(env.work_dir())
        .sandbox(Sandbox::ReadOnly)
        .approval_mode(ApprovalMode::DenyAll)
        .personality(Personality::Pragmatic)
        .summary(ReasoningSummary::Concise);
    let prompt = "Plan a safe rollout of a feature flag in production. Answer with JSON matching the schema.";
    let typed = thread.run_typed_with::<RolloutPlan>(prompt, &options).await?;
    let (plan, result) = (typed.output, typed.turn);

    println!("model:   {} (effort {effort})", model.model);
    println!("status:  {:?}", result.status);
    println!("summary: {}", plan.summary);
    for (i, action) in plan.actions.iter().enumerate() {
        println!("  {}. {action}", i + 1);
    }
    if let Some(usage) = &result.usage {
        println!("usage:   {} tokens", usage.last.total_tokens);
    }
    if let Some(offline) = env.offline() {
        let request = offline.model.last_request().expect("one model request");
        let body = request.json().cloned().unwrap_or_default();
        println!(
            "(sent to the model: model {:?}, effort {}, text.format {})",
            request.model().unwrap_or("?"),
            body["reasoning"]["effort"],
            body["text"]["format"]["type"]
        );
    }

    codex.close().await;
    env.finish()
}

/// Offline runs only: the structured answer.
fn offline_script(model: &MockModel) {
    let answer = json!({
        "summary": "Ship dark, ramp gradually, watch the metrics, keep a kill switch.",
        "actions": ["Deploy with the flag off", "Enable for 1% of traffic", "Ramp to 100% while error rates stay flat"],
    });
    model.push(ResponseStream::new().text(answer.to_string()).usage(Usage::new(1400, 60)).completed());
}
