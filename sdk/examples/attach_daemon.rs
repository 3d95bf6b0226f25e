//! Attach to the managed app-server daemon (`codex app-server daemon`): read its status,
//! start it when it is not running, attach to its control socket, run a turn. Dropping the
//! client leaves the daemon running; stopping it is an explicit call.
//!
//! ```sh
//! cargo run --example attach_daemon              # your ~/.codex daemon (left running)
//! cargo run --example attach_daemon -- --stop    # ... and stop it at the end
//! cargo run --example attach_daemon -- --offline # a daemon in a throwaway CODEX_HOME, stopped at the end
//! ```
//!
//! Needs the SDK's `websocket` feature (the control socket speaks WebSocket frames).

mod support;

use codex_driver::attach::{Daemon, DaemonStart};
use codex_driver::testing::{MockModel, MockResponse};
use codex_driver::{Codex, ThreadOptions};

#[tokio::main]
async fn main() -> Result<(), support::BoxError> {
    let env = support::Env::new(offline_script).await?;
    let daemon = Daemon::new(env.config().launch);

    let before = daemon.status().await?;
    println!("daemon before: {:?}", before.state);

    // Starts the daemon if needed (the first start installs a managed copy: a few seconds).
    let codex = Codex::builder().config(env.config()).daemon(DaemonStart::IfNotRunning).connect().await?;
    println!("attached at {}", codex.metadata().endpoint.as_ref().map(ToString::to_string).unwrap_or_default());

    let thread = codex.thread_start(&ThreadOptions::default().cwd(env.work_dir())).await?;
    let result = thread.run("Say hello from the daemon.").await?;
    println!("answer: {}", result.final_response().unwrap_or("(no answer)"));

    codex.close().await; // closes this client's connection only
    let after = daemon.status().await?;
    println!(
        "daemon after the client closed: {:?} (app-server {})",
        after.state,
        after.app_server_version.as_deref().unwrap_or("?")
    );

    if env.is_offline() || std::env::args().any(|a| a == "--stop") {
        let stopped = daemon.stop().await?;
        println!("daemon stopped: {:?}", stopped.state);
    } else {
        println!("the daemon keeps running; stop it with `codex app-server daemon stop` (or --stop)");
    }
    env.finish()
}

/// Offline runs only: what the scripted model answers.
fn offline_script(model: &MockModel) {
    model.push(MockResponse::text("Hello from the daemon!"));
}
