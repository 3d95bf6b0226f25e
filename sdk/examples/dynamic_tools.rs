//! Rust functions as tools the model calls (experimental surface).
//!
//! ```sh
//! cargo run --features experimental --example dynamic_tools [-- --offline]
//! ```
//!
//! `Tools::new().tool(name, description, async fn)` registers a function whose argument
//! type derives `Deserialize` and `JsonSchema` (the schema the model sees);
//! `codex.thread_start_with_tools` offers them and answers the model's calls. A failing or
//! panicking tool, or arguments that do not fit, are failed calls the model is told about.

mod support;

use codex_driver::testing::{MockModel, MockResponse, ResponseStream};
use codex_driver::tools::Tools;
use codex_driver::{Codex, ThreadOptions};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Weather {
    /// The city to look up.
    city: String,
}

#[tokio::main]
async fn main() -> Result<(), support::BoxError> {
    let env = support::Env::new(offline_script).await?;
    let codex = Codex::spawn(env.config()).await?;
    let tools = Tools::new().tool("weather", "Today's weather in a city.", |args: Weather| async move {
        match args.city.as_str() {
            "" => Err("no city given"),
            city => Ok(format!("Sunny and 21 °C in {city}.")),
        }
    });
    let thread = codex.thread_start_with_tools(&ThreadOptions::default(), tools).await?;
    let result = thread.run("What's the weather in Lisbon? Use the weather tool.").await?;
    for item in &result.items {
        if let codex_driver::types::ThreadItem::DynamicToolCall(call) = item {
            println!("tool call: {} {} -> {:?}", call.tool, call.arguments, call.success);
        }
    }
    println!("answer: {}", result.final_response().unwrap_or("(none)"));

    codex.close().await;
    env.finish()
}

/// Offline runs only: the model calls the tool, then answers with what it said.
fn offline_script(model: &MockModel) {
    model.push(ResponseStream::new().function_call("call_weather", "weather", r#"{"city": "Lisbon"}"#).completed());
    model.push(MockResponse::text("It's sunny and 21 °C in Lisbon."));
}
