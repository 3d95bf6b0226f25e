//! The protocol types only the server sends (responses, notifications, server-request params and what they hold), generated from the pinned schema (`cargo xtask regen`).
//!
//! One of the three crates the protocol types are built in, split by who sends them so
//! that rustc builds smaller units, two of them side by side. Use the types through the
//! `codex-driver` crate, which re-exports all of them as `codex_driver::types`.
//!
//! The default build is the stable protocol surface; the `experimental` feature adds the
//! `--experimental` schema's types, fields and variants (under `cfg`; no stable item changes).

// The source of the generated types is no reading for a user (and megabytes of HTML per
// crate): the docs link to the schema's names, not to lines of generated code.
#![doc(html_no_source)]
#![warn(missing_docs)]

#[allow(missing_docs, clippy::all)]
#[rustfmt::skip]
mod generated;

// The generated code calls the shared serde helpers as `crate::serde_helpers::…`.
use codex_driver_protocol_shared::serde_helpers;

pub use generated::*;
