//! Typed Rust SDK for the Codex app-server v2 protocol.
//!
//! Start a `codex app-server`, run turns on threads, stream their events, answer
//! approvals, and reach every protocol method typed. Generated from the JSON schema of
//! the pinned Codex CLI (see [`PINNED_CODEX_VERSION`]).
//!
//! ```no_run
//! use codex_driver::{ApprovalHandler, Codex, ClientConfig, ThreadOptions};
//! use codex_driver::types::CommandExecutionApprovalDecision;
//!
//! #[tokio::main]
//! async fn main() -> codex_driver::Result<()> {
//!     let codex = Codex::builder()
//!         .config(ClientConfig::default()) // finds `codex`: CODEX_BIN, then PATH
//!         .handler(ApprovalHandler::new().on_command_execution(|req| async move {
//!             println!("approve {:?}?", req.command);
//!             CommandExecutionApprovalDecision::Decline
//!         }))
//!         .connect()
//!         .await?;
//!     let thread = codex.thread_start(&ThreadOptions::default().model("gpt-5.5")).await?;
//!     let result = thread.run("Summarize this repository in one sentence").await?;
//!     println!("{}", result.final_response().unwrap_or_default());
//!     Ok(())
//! }
//! ```
//!
//! Without a handler every approval is declined and other server requests are refused
//! (fail closed). The `testing` feature adds an offline kit: a scripted mock model on
//! 127.0.0.1 and an isolated `CODEX_HOME`.
//!
//! Giving up on a turn is dropping it: a dropped [`TurnHandle`], [`TurnEvents`] stream or
//! `run` future interrupts the turn on the server (see [`TurnHandle`]'s cancellation
//! policy), and a thread whose turn still runs refuses a new one with
//! [`Error::ThreadBusy`] instead of letting the server merge the input into it.
//!
//! By default the SDK spawns its own app-server over stdio. With the `websocket` feature,
//! [`attach`] reaches one that is already running: a `ws://` URL (`wss://` with `tls`;
//! signed bearer tokens with `jwt`), the unix control socket, or the managed daemon — same
//! API, see [`CodexBuilder::websocket`], [`CodexBuilder::unix_socket`] and
//! [`CodexBuilder::daemon`]. Underneath, [`rpc`] is transport-agnostic: any message-level
//! [`Transport`](rpc::Transport) works.
//!
//! Any Codex release works, not just the pin: the SDK reads the server's release at connect,
//! [`Codex::supports`] answers from the protocol's history over a window of releases, and a
//! request the server predates fails at once with [`Error::Unsupported`] (see [`version`]).
//!
//! A map of the modules (which one owns routing, approvals, processes, transports,
//! results) is in `sdk/ARCHITECTURE.md`.
#![warn(missing_docs)]
// docs.rs (`--cfg docsrs`, see Cargo.toml): every feature-gated item says which feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "websocket")]
pub mod attach;
#[cfg(feature = "blocking")]
pub mod blocking;
mod codex;
mod config;
mod endpoint;
mod error;
pub mod exec;
pub mod goals;
mod handlers;
mod input;
pub mod login;
mod method_names;
mod options;
mod pinned;
#[cfg(any(test, feature = "testing"))]
mod pinned_cli;
mod process;
pub mod protocol;
mod results;
mod review;
pub mod rpc;
pub mod structured;
mod thread;
#[cfg(feature = "experimental")]
pub mod tools;
mod turn;
mod turn_requests;
pub mod version;

// The front door: what every user needs, at one path each. Everything else lives in
// exactly one module (`codegen/tests/public_paths.rs` checks it).
pub use codex::{Codex, CodexBuilder};
pub use config::{ClientConfig, LaunchConfig};
pub use endpoint::{CloseReason, Endpoint};
pub use error::{Error, ErrorCode, Result, RpcError, RpcErrorKind};
pub use handlers::ApprovalHandler;
pub use input::{Input, Inputs};
pub use options::{ApprovalMode, Sandbox, ThreadOptions, TurnOptions};
pub use pinned::{CODEX_BIN_ENV, PINNED_CODEX_VERSION};
pub use review::Review;
pub use rpc::notifications::Notifications;
/// The `schemars` (1.x) whose `JsonSchema` [`Thread::run_typed`] and
/// [`structured::output_schema_for`] take, so a type can derive against the SDK's own copy.
pub use schemars;
pub use thread::{Thread, ThreadSettings};
pub use turn::{TurnControl, TurnEvents, TurnHandle, TurnResult, UndecodableEvent};
pub use turn_requests::{PendingRequest, TurnActivity, TurnItem, UnfitAnswer};
// Generated from the pinned schema (`cargo xtask regen`); its modules are public at the root.
#[allow(missing_docs, clippy::all)]
#[rustfmt::skip]
mod generated;

pub use generated::{methods, types};

#[cfg(test)]
mod generated_tests;

#[cfg(feature = "testing")]
pub mod testing;
