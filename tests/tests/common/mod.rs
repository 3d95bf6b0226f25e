//! Shared setup for the tests against the real `codex app-server`: a scripted mock model
//! on 127.0.0.1, an isolated CODEX_HOME/HOME, and a connected [`Codex`].

pub mod payloads;
pub mod trace;

use codex_driver::testing::{pinned_cli, CodexHome, CodexHomeBuilder, MockModel};
use codex_driver::{ClientConfig, Codex, CodexBuilder};
use std::path::PathBuf;
use std::time::Duration;

/// Generous bound for anything a test waits on; no test should get near it.
pub const WAIT: Duration = Duration::from_secs(60);

/// The Codex binary under test: found, or installed into the per-user cache on first use
/// (so a plain `cargo test` in a fresh clone works), or a failure that says why and how to
/// install it.
pub fn codex_bin() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        pinned_cli::find_or_install().unwrap_or_else(|e| {
            panic!("the integration tests need a Codex CLI: {e}\n(run `cargo xtask install-codex`, or set CODEX_BIN)")
        })
    })
    .clone()
}

/// The version the Codex binary under test reports (`codex --version`): the pin, or
/// another release under `cargo xtask compat`.
pub fn codex_version() -> String {
    codex_driver::testing::pinned_cli::binary_version(&codex_bin()).unwrap_or_else(|e| panic!("{e}"))
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
        let codex = connect_home(&home, client).await;
        World { model, home, codex }
    }

    /// The client configuration of this world's home.
    pub fn config(&self) -> ClientConfig {
        self.home.client_config(&codex_bin())
    }

    /// A second app-server process on the same CODEX_HOME.
    pub async fn second_client(&self) -> Codex {
        connect_home(&self.home, |b| b).await
    }
}

/// Connects a client to an app-server in `home` (the setup of [`World`], also for tests that
/// open many clients on one home).
pub async fn connect_home(home: &CodexHome, client: impl FnOnce(CodexBuilder) -> CodexBuilder) -> Codex {
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
pub fn deltas(events: &[codex_driver::methods::ServerNotification]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            codex_driver::methods::ServerNotification::ItemAgentMessageDelta(d) => Some(d.delta.clone()),
            _ => None,
        })
        .collect()
}

/// The command-execution items of a turn.
pub fn commands(result: &codex_driver::TurnResult) -> Vec<&codex_driver::types::CommandExecutionThreadItem> {
    result
        .items
        .iter()
        .filter_map(|item| match item {
            codex_driver::types::ThreadItem::CommandExecution(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// SIGKILLs `pid`.
pub fn kill_9(pid: u32) {
    send_signal(pid, "KILL");
}

/// Asserts `result` is `Error::TransportClosed`.
pub fn assert_transport_closed<T: std::fmt::Debug>(what: &str, result: codex_driver::Result<T>) {
    match result {
        Err(codex_driver::Error::TransportClosed { .. }) => {}
        other => panic!("{what}: expected TransportClosed, got {other:?}"),
    }
}

/// Sends `signal` (a name such as `"STOP"` or `"KILL"`) to `pid`.
pub fn send_signal(pid: u32, signal: &str) {
    let status =
        std::process::Command::new("kill").args([format!("-{signal}"), pid.to_string()]).status().expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// Whether `pid` has a `/proc` entry (alive, or a zombie nobody reaped yet).
pub fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether every thread of `pid` is stopped (state `T`), e.g. by SIGSTOP. `kill` returns
/// before a running thread has actually stopped.
pub fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut any = false;
    for task in tasks.filter_map(|t| t.ok()) {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // `pid (comm) S ...`: the state follows the last ')'.
        let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
        if state != Some('T') {
            return false;
        }
        any = true;
    }
    any
}

/// SIGSTOPs `pid` and waits (within [`WAIT`]) until all its threads have stopped.
pub async fn stop_process(pid: u32) {
    send_signal(pid, "STOP");
    within("the stopped process's threads stop", async {
        while !all_threads_stopped(pid) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
}

/// Reads a turn stream to its end: the events delivered, and how many `Error::Lagged`
/// reported skipped. Any other error fails the test.
pub async fn drain_counting_lag(
    events: &mut codex_driver::TurnEvents,
) -> (Vec<codex_driver::methods::ServerNotification>, u64) {
    let mut delivered = Vec::new();
    let mut skipped = 0;
    within("the turn stream to end", async {
        while let Some(event) = events.next_event().await {
            match event {
                Ok(e) => delivered.push(e),
                Err(codex_driver::Error::Lagged { skipped: n }) => skipped += n,
                Err(e) => panic!("unexpected stream error {e}"),
            }
        }
    })
    .await;
    (delivered, skipped)
}

/// Waits for the first agent-message delta of a streamed turn.
pub async fn first_delta(events: &mut codex_driver::TurnEvents) {
    within("the first delta", async {
        loop {
            match events.next_event().await {
                Some(Ok(codex_driver::methods::ServerNotification::ItemAgentMessageDelta(_))) => break,
                Some(Ok(_)) => {}
                other => panic!("the turn ended before its first delta: {other:?}"),
            }
        }
    })
    .await;
}

/// The texts of the agent messages among `items`.
pub fn agent_texts(items: &[codex_driver::types::ThreadItem]) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| match item {
            codex_driver::types::ThreadItem::AgentMessage(m) => Some(m.text.clone()),
            _ => None,
        })
        .collect()
}

/// The text inputs of the user messages among `items`, in order.
pub fn user_texts(items: &[codex_driver::types::ThreadItem]) -> Vec<String> {
    use codex_driver::types::{ThreadItem, UserInput};
    items
        .iter()
        .filter_map(|item| match item {
            ThreadItem::UserMessage(m) => Some(m),
            _ => None,
        })
        .flat_map(|m| m.content.iter())
        .filter_map(|input| match input {
            UserInput::Text(t) => Some(t.text.clone()),
            _ => None,
        })
        .collect()
}

/// A model answer that runs `echo ok > file` with escalation (so it asks for approval).
pub fn exec(id: &str, file: &str) -> codex_driver::testing::MockResponse {
    use codex_driver::testing::{ExecCommand, MockResponse};
    MockResponse::exec_command(ExecCommand::new(id, format!("echo ok > {file}")).escalated("write a marker"))
}

/// The status of a turn's (first) command execution.
pub fn command_status(r: &codex_driver::TurnResult) -> Option<codex_driver::types::CommandExecutionStatus> {
    r.items.iter().find_map(|item| match item {
        codex_driver::types::ThreadItem::CommandExecution(c) => Some(c.status.clone()),
        _ => None,
    })
}
