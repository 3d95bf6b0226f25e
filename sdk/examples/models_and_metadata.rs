//! What the server says about itself at `initialize`, and the models it offers.
//!
//! ```sh
//! cargo run --example models_and_metadata [-- --offline]
//! ```
//!
//! `Codex::metadata()` is parsed from the `initialize` response (server name and version,
//! platform, `CODEX_HOME`, user agent); `Codex::models(include_hidden)` is `model/list`.
//! Neither calls the model.

mod support;

use codex_driver::Codex;

#[tokio::main]
async fn main() -> Result<(), support::BoxError> {
    // Nothing to script offline: metadata and the model list never reach the model.
    let env = support::Env::new(|_| {}).await?;
    let codex = Codex::spawn(env.config()).await?;

    let meta = codex.metadata();
    println!(
        "server:     {} {}",
        meta.server_name.as_deref().unwrap_or("?"),
        meta.server_version.as_deref().unwrap_or("?")
    );
    println!(
        "platform:   {} / {}",
        meta.platform_family.as_deref().unwrap_or("?"),
        meta.platform_os.as_deref().unwrap_or("?")
    );
    println!("codex home: {}", meta.codex_home.as_ref().map(|p| p.display().to_string()).unwrap_or_default());
    println!("user agent: {}", meta.user_agent.as_deref().unwrap_or("?"));

    let visible = codex.models().await?.data;
    println!("\n{} models:", visible.len());
    for model in &visible {
        let efforts: Vec<&str> =
            model.supported_reasoning_efforts.iter().map(|e| e.reasoning_effort.as_str()).collect();
        println!(
            "  {}{:<22} {:<28} efforts: {}",
            if model.is_default { "* " } else { "  " },
            model.id,
            model.display_name,
            efforts.join(", ")
        );
    }
    let all = codex.models_including_hidden().await?.data;
    println!("(and {} hidden; * = default)", all.len() - visible.len());

    codex.close().await;
    env.finish()
}
