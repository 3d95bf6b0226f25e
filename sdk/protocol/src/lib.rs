//! The Codex app-server v2 protocol types, generated from the pinned schema
//! (`cargo xtask regen`). Use them through the `codex-driver` crate, which re-exports
//! them as `codex_driver::types`.
//!
//! The types are built in three crates split by who sends them, so that rustc builds
//! smaller units, two of them side by side, and a change to the SDK never recompiles them:
//! `codex-driver-protocol-shared` (types both sides send),
//! `codex-driver-protocol-outbound` (types only the client sends) and
//! `codex-driver-protocol-inbound` (types only the server sends; the last two depend on
//! the shared crate only). This crate gathers them under one path, [`types`].
//!
//! The default build is the stable protocol surface; the `experimental` feature adds the
//! `--experimental` schema's types, fields and variants (under `cfg`; no stable item changes).

#![warn(missing_docs)]

#[rustfmt::skip]
mod generated;

pub use generated::*;
