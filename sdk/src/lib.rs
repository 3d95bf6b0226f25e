//! Typed Rust SDK for the Codex app-server v2 protocol.
#![warn(missing_docs)]

pub mod protocol;
pub mod config;
pub mod error;
pub mod rpc;

pub use config::ClientConfig;
pub use error::{Error, ErrorCode, Result, RpcError, RpcErrorKind};
pub use rpc::{retry_on_overload, Connection, RetryPolicy};
mod codec;
#[allow(missing_docs, clippy::all, rustdoc::broken_intra_doc_links, rustdoc::bare_urls, rustdoc::invalid_html_tags)]
pub mod generated;

pub use generated::{methods, types};

#[cfg(test)]
mod generated_tests;

#[cfg(feature = "testing")]
pub mod testing;
