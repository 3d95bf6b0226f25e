//! The Codex app-server v2 protocol types, generated from the pinned schema
//! (`cargo xtask regen`). Use them through the `codex-app-server` crate, which re-exports
//! them as `codex_app_server::types`; they live in a crate of their own so that they build
//! in parallel with the SDK's runtime and a change to the SDK never recompiles them.
//!
//! The default build is the stable protocol surface; the `experimental` feature swaps in
//! the surface generated from the `--experimental` schema.

#![warn(missing_docs)]

#[allow(missing_docs, clippy::all)]
#[rustfmt::skip]
mod generated;
mod serde_helpers;

pub use generated::*;
