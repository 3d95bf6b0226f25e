//! The pinned Codex CLI version and how to get it: what every build needs (the error of a
//! missing binary names them). Standard library only: `xtask` includes this file too.

// `PINNED_CODEX_VERSION`: generated from `schema/CODEX_VERSION`, the one place the pin is
// written; `WINDOW_CODEX_VERSIONS` (the releases the SDK speaks to) serves the test kit and
// `xtask`.
#[allow(dead_code)]
mod pin {
    include!("generated/pin.rs");
}
pub use pin::*;

/// Environment variable naming the `codex` binary to use (read by the test kit's `locate`
/// and by `xtask`).
pub const CODEX_BIN_ENV: &str = "CODEX_BIN";

/// How to get the pinned Codex CLI: the one install hint, part of every "not found" error
/// of the SDK and of the test kit.
pub fn install_hint() -> String {
    format!(
        "install Codex CLI {PINNED_CODEX_VERSION} with `npm install -g @openai/codex@{PINNED_CODEX_VERSION}` \
(in the SDK's own workspace: `cargo xtask install-codex`), or point {CODEX_BIN_ENV} (or \
`LaunchConfig::codex_bin`) at an existing `codex` binary"
    )
}
