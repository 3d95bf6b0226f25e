//! Shared by the examples: which Codex they talk to.
//!
//! By default an example talks to your real Codex: the `codex` binary found by
//! [`ClientConfig::default`] (`CODEX_BIN`, then `PATH`),
//! with your own login and `~/.codex` configuration.
//!
//! With `CODEX_EXAMPLES_OFFLINE=1` in the environment, or `--offline` on the command line, it
//! runs against the SDK's offline kit instead (`codex_driver::testing`): the real pinned
//! `codex app-server`, but in a throwaway `CODEX_HOME` whose model provider is a mock
//! Responses API on 127.0.0.1, scripted with the answers that example needs. No account, no
//! network. `cargo xtask examples` runs every example this way.
#![allow(dead_code)]

use codex_driver::testing::{pinned_cli, CodexHome, MockModel};
use codex_driver::ClientConfig;
use std::path::PathBuf;

/// The error type of the examples' `main`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Whether the examples run offline (`CODEX_EXAMPLES_OFFLINE=1` or `--offline`).
pub fn offline_requested() -> bool {
    std::env::var("CODEX_EXAMPLES_OFFLINE").is_ok_and(|v| !v.is_empty() && v != "0")
        || std::env::args().skip(1).any(|a| a == "--offline")
}

/// Where an example's Codex comes from; keep it alive as long as the `Codex` made from it.
pub struct Env {
    config: ClientConfig,
    offline: Option<Offline>,
    /// Blocking examples only: the runtime that serves the mock model (dropped last).
    runtime: Option<tokio::runtime::Runtime>,
}

/// The offline kit: the scripted model and the isolated home.
pub struct Offline {
    /// The mock Responses API on 127.0.0.1.
    pub model: MockModel,
    /// The throwaway `CODEX_HOME` (plus `HOME` and a working directory).
    pub home: CodexHome,
}

impl Env {
    /// The real Codex, or (offline) the mock model scripted by `script`.
    pub async fn new(script: impl FnOnce(&MockModel)) -> Result<Env, BoxError> {
        if !offline_requested() {
            return Ok(Env { config: ClientConfig::default(), offline: None, runtime: None });
        }
        let model = MockModel::start().await?;
        let home = CodexHome::new(&model.base_url())?;
        let codex = pinned_cli::find_or_install()?;
        let config = home.client_config(&codex);
        script(&model);
        Ok(Env { config, offline: Some(Offline { model, home }), runtime: None })
    }

    /// [`new`](Self::new) for examples without an async runtime of their own: offline, the
    /// mock model is served by a small runtime kept in the returned `Env`.
    pub fn new_blocking(script: impl FnOnce(&MockModel)) -> Result<Env, BoxError> {
        if !offline_requested() {
            return Ok(Env { config: ClientConfig::default(), offline: None, runtime: None });
        }
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let env = runtime.block_on(Self::new(script))?;
        Ok(Env { runtime: Some(runtime), ..env })
    }

    /// The client configuration to connect with.
    pub fn config(&self) -> ClientConfig {
        self.config.clone()
    }

    /// Whether this is the offline run.
    pub fn is_offline(&self) -> bool {
        self.offline.is_some()
    }

    /// The offline kit, in the offline run.
    pub fn offline(&self) -> Option<&Offline> {
        self.offline.as_ref()
    }

    /// The `codex` binary the example's config resolves (the pinned install offline).
    pub fn codex_bin(&self) -> Result<PathBuf, BoxError> {
        Ok(self.config.launch.resolve_codex_bin()?)
    }

    /// A directory the example may use as the thread's working directory: the current
    /// directory for real runs, the throwaway working directory offline.
    pub fn work_dir(&self) -> PathBuf {
        match &self.offline {
            Some(offline) => offline.home.work_dir().to_path_buf(),
            None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        }
    }

    /// Offline: checks that the model was asked exactly what the example scripted (every
    /// scripted answer used, no request left unanswered), so a drifting example fails in CI.
    /// Real runs: nothing to check.
    pub fn finish(self) -> Result<(), BoxError> {
        let Some(offline) = &self.offline else { return Ok(()) };
        let (left, unscripted) = (offline.model.pending(), offline.model.unscripted_requests());
        if left != 0 || unscripted != 0 {
            let problem = format!("{left} scripted answer(s) unused, {unscripted} unscripted request(s)");
            return Err(format!("offline script mismatch: {problem}").into());
        }
        Ok(())
    }
}
