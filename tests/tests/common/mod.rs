//! Shared setup for the tests against the real `codex app-server`: a scripted mock model
//! on 127.0.0.1, an isolated CODEX_HOME/HOME, and a connected [`Codex`].
#![allow(dead_code)]

use codex_app_server::testing::{pinned_cli, CodexHome, CodexHomeBuilder, MockModel};
use codex_app_server::{ClientConfig, Codex, CodexBuilder};
use std::path::PathBuf;
use std::time::Duration;

/// Generous bound for anything a test waits on; no test should get near it.
pub const WAIT: Duration = Duration::from_secs(60);

/// The pinned binary, or a failure that says how to install it.
pub fn codex_bin() -> PathBuf {
    pinned_cli::locate().unwrap_or_else(|e| {
        panic!("the integration tests need the pinned Codex CLI: {e}\n(run `cargo xtask install-codex`, or set CODEX_BIN)")
    })
}

/// A test world: the mock model, the isolated home, and a connected client.
pub struct World {
    pub model: MockModel,
    pub home: CodexHome,
    pub codex: Codex,
}

impl World {
    /// Default home (approval `never`, read-only sandbox) and fail-closed client.
    pub async fn start() -> World {
        World::start_with(|h| h, |b| b).await
    }

    /// Customizes the home and the client builder.
    pub async fn start_with(
        home: impl FnOnce(CodexHomeBuilder) -> CodexHomeBuilder,
        client: impl FnOnce(CodexBuilder) -> CodexBuilder,
    ) -> World {
        let model = MockModel::start().await.expect("mock model");
        let home = home(CodexHome::builder(&model.base_url())).build().expect("codex home");
        let codex = connect(&home, client).await;
        World { model, home, codex }
    }

    /// The client configuration of this world's home.
    pub fn config(&self) -> ClientConfig {
        self.home.client_config(&codex_bin())
    }

    /// A second app-server process on the same CODEX_HOME.
    pub async fn second_client(&self) -> Codex {
        connect(&self.home, |b| b).await
    }
}

async fn connect(home: &CodexHome, client: impl FnOnce(CodexBuilder) -> CodexBuilder) -> Codex {
    let config = home.client_config(&codex_bin());
    let connecting = client(Codex::builder().config(config)).connect();
    match tokio::time::timeout(WAIT, connecting).await {
        Ok(Ok(codex)) => codex,
        Ok(Err(e)) => panic!("cannot start the app-server: {e}\nstderr:\n{}", home.stderr_text()),
        Err(_) => panic!("the app-server did not initialize within {WAIT:?}"),
    }
}

/// `fut`, or a panic naming `what` after [`WAIT`].
pub async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut).await.unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// The agent-message deltas among `events`, in order.
pub fn deltas(events: &[codex_app_server::ServerNotification]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            codex_app_server::ServerNotification::ItemAgentMessageDelta(d) => Some(d.delta.clone()),
            _ => None,
        })
        .collect()
}

/// The command-execution items of a turn.
pub fn commands(result: &codex_app_server::TurnResult) -> Vec<&codex_app_server::types::CommandExecutionThreadItem> {
    result
        .items
        .iter()
        .filter_map(|item| match item {
            codex_app_server::types::ThreadItem::CommandExecution(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// SIGKILLs `pid`.
pub fn kill_9(pid: u32) {
    let status = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().expect("run kill");
    assert!(status.success(), "kill -9 {pid} failed");
}

/// Asserts `result` is `Error::TransportClosed`.
pub fn assert_transport_closed<T: std::fmt::Debug>(what: &str, result: codex_app_server::Result<T>) {
    match result {
        Err(codex_app_server::Error::TransportClosed { .. }) => {}
        other => panic!("{what}: expected TransportClosed, got {other:?}"),
    }
}
