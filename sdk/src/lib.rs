//! Typed Rust SDK for the Codex app-server v2 protocol.
#![warn(missing_docs)]

pub mod pinned_cli;
pub mod protocol;
pub mod config;
pub mod error;
pub mod rpc;

mod codec;
mod codex;
mod events;
pub mod handlers;
mod input;
mod options;
mod thread;
mod turn;

pub use codex::{Codex, CodexBuilder};
pub use config::ClientConfig;
pub use events::Notifications;
pub use error::{Error, ErrorCode, Result, RpcError, RpcErrorKind};
pub use handlers::ApprovalHandler;
pub use input::{Input, Inputs};
pub use methods::{ClientRequests, ServerNotification, ServerRequest, ServerRequestHandler};
pub use options::{ApprovalMode, Sandbox, ThreadOptions, TurnOptions};
pub use rpc::{retry_on_overload, Connection, RetryPolicy, ServerMetadata};
pub use thread::Thread;
pub use turn::{TurnControl, TurnEvents, TurnHandle, TurnResult};
#[allow(missing_docs, clippy::all, rustdoc::broken_intra_doc_links, rustdoc::bare_urls, rustdoc::invalid_html_tags)]
pub mod generated;

pub use generated::{methods, types};

#[cfg(test)]
mod generated_tests;

#[cfg(feature = "testing")]
pub mod testing;
