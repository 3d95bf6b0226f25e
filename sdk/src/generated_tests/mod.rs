//! Proofs that the generated code matches the schema it came from and the real wire.

mod fixtures;
#[allow(clippy::all)]
#[rustfmt::skip]
mod generated {
    //! The registry of every generated type, generated beside the types (`cargo xtask regen`).
    pub(crate) mod registry;
}
mod forward_compat;
mod lean_deserialize;
mod method_table;
mod round_trip;
mod window;

use std::path::PathBuf;

/// The schema directory of the surface this build compiled.
fn surface_schema_dir() -> PathBuf {
    let surface = if cfg!(feature = "experimental") { "experimental" } else { "stable" };
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schema").join(surface)
}
