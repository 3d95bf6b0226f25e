//! Offline test kit (cargo feature `testing`): run the real `codex app-server` against a
//! scripted mock model, with no network and no account.
//!
//! - [`pinned_cli`]: finding a Codex CLI the SDK speaks to, or installing the pinned one:
//!   [`pinned_cli::find_or_install`] (from any crate, test or program) and [`pinned_cli::locate`].
//! - [`CodexHome`]: temp `CODEX_HOME`/`HOME`/working directory and a `config.toml` pointing at
//!   the mock, plus the command that spawns `codex app-server --listen stdio://`.
//! - [`MockModel`]: a loopback OpenAI Responses API serving a FIFO queue of [`MockResponse`]s
//!   and recording every request.
//!
//! The usual path: a [`Codex`](crate::Codex) on the real app-server in an isolated home,
//! with the model's answers scripted.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use codex_driver::testing::{pinned_cli, CodexHome, MockModel, MockResponse};
//! use codex_driver::{Codex, ThreadOptions};
//!
//! let model = MockModel::start().await?;
//! model.push(MockResponse::text("A one-line summary."));
//! let home = CodexHome::new(&model.base_url())?;
//! let codex = Codex::spawn(home.client_config(&pinned_cli::find_or_install()?)).await?;
//! let thread = codex.thread_start(&ThreadOptions::default()).await?;
//! let result = thread.run("Summarize this repository").await?;
//! assert_eq!(result.final_response(), Some("A one-line summary."));
//! assert_eq!(model.pending(), 0, "every scripted answer was used");
//! codex.close().await;
//! # Ok(()) }
//! ```
//!
//! The raw protocol, for tests of the wire itself:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use codex_driver::testing::{pinned_cli, CodexHome, MockModel, MockResponse};
//!
//! let model = MockModel::start().await?;
//! model.push(MockResponse::text("Hello from the mock"));
//! let home = CodexHome::new(&model.base_url())?;
//! let codex = pinned_cli::find_or_install()?; // CODEX_BIN, an install, PATH, else npm
//! let child = home.app_server_command(&codex)?.spawn()?;
//! // ... speak JSON-RPC on the child's stdin/stdout, then:
//! let requests = model.wait_for_requests(1, std::time::Duration::from_secs(10)).await?;
//! assert!(requests[0].body_contains("hello"));
//! # drop(child); Ok(()) }
//! ```

mod codex_home;
#[cfg(feature = "websocket")]
mod listening;
mod mock_model;
/// The Codex CLI for tests: [`find_or_install`](pinned_cli::find_or_install) (`CODEX_BIN`,
/// the pinned release installed under a cargo target dir or the per-user cache, a release
/// of the window on `PATH`, else npm into the per-user cache), [`locate`](pinned_cli::locate)
/// (the same without installing), and the npm install layout.
pub mod pinned_cli {
    pub use crate::pinned_cli::*;
}

pub use codex_home::{CodexHome, CodexHomeBuilder, SCRUBBED_ENV_VARS};
#[cfg(feature = "websocket")]
pub use listening::{Listen, ListeningAppServer, ServerAuth};
pub use mock_model::{
    sse, AssistantMessage, ExecCommand, MockModel, MockResponse, RecordedRequest, ResponseStream, StallHandle, Usage,
    WaitTimeout,
};
