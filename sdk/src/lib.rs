//! Typed Rust SDK for the Codex app-server v2 protocol.
#![warn(missing_docs)]

pub mod protocol;

#[cfg(feature = "testing")]
pub mod testing;
