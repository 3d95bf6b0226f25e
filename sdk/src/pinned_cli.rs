//! The pinned Codex CLI for tests: where it is installed, how to install it, how tests
//! find it. Compiled with the `testing` feature (the test kit re-exports it as
//! `testing::pinned_cli`) and for the SDK's own tests; a normal build has none of it (the
//! SDK's own binary lookup never walks the filesystem for a development install).
//!
//! This file uses the standard library and `crate::pinned` only, so that `xtask` can include
//! both with `#[path = "../../sdk/src/…"]`.
//!
//! Layout: the CLI is installed with npm into an *install root*,
//! `<cargo target dir>/codex-cli/<version>/`, and the native binary lives at
//! `<install root>/node_modules/@openai/codex-<platform>/vendor/<target triple>/bin/codex`.
//! The native binary is used rather than the `node_modules/.bin/codex` Node wrapper: it starts
//! faster and the child pid is Codex's own.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use crate::pinned::{install_hint, CODEX_BIN_ENV, PINNED_CODEX_VERSION};

/// The npm platform package and the fallback vendor triple for the running machine.
fn platform_package() -> io::Result<(&'static str, &'static str)> {
    use std::env::consts::{ARCH, OS};
    match (OS, ARCH) {
        ("linux", "x86_64") => Ok(("codex-linux-x64", "x86_64-unknown-linux-musl")),
        ("linux", "aarch64") => Ok(("codex-linux-arm64", "aarch64-unknown-linux-musl")),
        ("macos", "x86_64") => Ok(("codex-darwin-x64", "x86_64-apple-darwin")),
        ("macos", "aarch64") => Ok(("codex-darwin-arm64", "aarch64-apple-darwin")),
        (os, arch) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("no pinned Codex CLI package for {os}/{arch}; set {CODEX_BIN_ENV}=/path/to/codex"),
        )),
    }
}

/// The install root for `version` under a cargo target directory: `<target_dir>/codex-cli/<version>`.
pub fn install_root_in(target_dir: &Path, version: &str) -> PathBuf {
    target_dir.join("codex-cli").join(version)
}

/// The path of the native `codex` binary under `install_root`.
///
/// The platform package is chosen from the running OS and architecture; the target-triple
/// directory under its `vendor/` is discovered (the first one holding `bin/codex`), falling
/// back to the expected musl/apple triple. The returned path may not exist.
pub fn native_binary_path(install_root: &Path) -> io::Result<PathBuf> {
    let (package, default_triple) = platform_package()?;
    let vendor = install_root.join("node_modules").join("@openai").join(package).join("vendor");
    let discovered = std::fs::read_dir(&vendor).ok().and_then(|entries| {
        let mut candidates: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.path().join("bin").join("codex"))
            .filter(|path| path.is_file())
            .collect();
        candidates.sort();
        candidates.into_iter().next()
    });
    Ok(discovered.unwrap_or_else(|| vendor.join(default_triple).join("bin").join("codex")))
}

/// Runs `<bin> --version` and returns the version it reports (`codex-cli 0.169.0` → `0.169.0`).
pub fn binary_version(bin: &Path) -> io::Result<String> {
    let output = Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run `{} --version`: {e}", bin.display())))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().next().unwrap_or("").trim();
    match line.strip_prefix("codex-cli ") {
        Some(version) if output.status.success() => Ok(version.trim().to_owned()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "`{} --version` printed {line:?} ({}), expected `codex-cli <version>`",
                bin.display(),
                output.status
            ),
        )),
    }
}

/// Returns the native binary of `version` under `install_root`, installing it with npm first when
/// it is missing or reports another version.
///
/// Runs `npm install --prefix <install_root> --no-save --no-audit --no-fund @openai/codex@<version>`
/// (npm must be on `PATH` and the npm registry reachable), then checks that
/// `codex --version` prints `codex-cli <version>`.
pub fn ensure_installed(install_root: &Path, version: &str) -> io::Result<PathBuf> {
    let bin = native_binary_path(install_root)?;
    if bin.is_file() && binary_version(&bin).is_ok_and(|v| v == version) {
        return Ok(bin);
    }
    std::fs::create_dir_all(install_root)?;
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let status = Command::new(npm)
        .arg("install")
        .arg("--prefix")
        .arg(install_root)
        .args(["--no-save", "--no-audit", "--no-fund"])
        .arg(format!("@openai/codex@{version}"))
        .stdin(Stdio::null())
        .status()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run `{npm}` (is Node.js installed?): {e}")))?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "`npm install @openai/codex@{version}` into {} failed ({status})",
            install_root.display()
        )));
    }
    let bin = native_binary_path(install_root)?;
    let installed = binary_version(&bin)?;
    if installed != version {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} reports version {installed}, expected {version}", bin.display()),
        ));
    }
    Ok(bin)
}

/// Installs the pinned CLI into [`default_install_root`]; the body of `cargo xtask install-codex`.
pub fn install_pinned() -> io::Result<PathBuf> {
    ensure_installed(&default_install_root()?, PINNED_CODEX_VERSION)
}

/// Finds the pinned Codex binary for tests, without installing anything.
///
/// Order: the `CODEX_BIN` environment variable (any existing file; its version is not checked),
/// then the install roots of [`candidate_target_dirs`]. The error lists the paths searched and
/// says how to install the binary ([`install_hint`]).
pub fn locate() -> io::Result<PathBuf> {
    if let Some(bin) = std::env::var_os(CODEX_BIN_ENV).filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{CODEX_BIN_ENV}={} does not name a file", bin.display()),
            ))
        };
    }
    let mut searched = Vec::new();
    for target_dir in candidate_target_dirs()? {
        let bin = native_binary_path(&install_root_in(&target_dir, PINNED_CODEX_VERSION))?;
        if bin.is_file() {
            return Ok(bin);
        }
        searched.push(format!("  {}", bin.display()));
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("Codex CLI {PINNED_CODEX_VERSION} not found; {}.\nSearched:\n{}", install_hint(), searched.join("\n")),
    ))
}

/// The install root `cargo xtask install-codex` uses: `<target dir>/codex-cli/<pinned version>`,
/// where the target dir is the first of [`candidate_target_dirs`].
pub fn default_install_root() -> io::Result<PathBuf> {
    let target_dir = candidate_target_dirs()?
        .into_iter()
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no cargo target directory found"))?;
    Ok(install_root_in(&target_dir, PINNED_CODEX_VERSION))
}

/// The cargo target directories searched for an installed CLI, most specific first:
/// `CARGO_TARGET_DIR` when set (a relative value is resolved against the workspace root, as when
/// cargo is run from there), then `<workspace root>/target`.
///
/// The workspace root is the nearest ancestor of `CARGO_MANIFEST_DIR` (set by cargo for tests
/// and `cargo run`), or else of the current directory, that contains a `Cargo.lock`.
pub fn candidate_target_dirs() -> io::Result<Vec<PathBuf>> {
    let cwd = std::env::current_dir()?;
    let workspace = workspace_root(&cwd);
    let base = workspace.clone().unwrap_or_else(|| cwd.clone());
    let mut dirs = Vec::new();
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        dirs.push(absolutize(&base, target));
    }
    if let Some(workspace) = workspace {
        dirs.push(workspace.join("target"));
    }
    if dirs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no Cargo.lock above {} and CARGO_TARGET_DIR is unset; {}", cwd.display(), install_hint()),
        ));
    }
    dirs.dedup();
    Ok(dirs)
}

fn absolutize(base: &Path, path: OsString) -> PathBuf {
    let path = PathBuf::from(path);
    if path.is_absolute() {
        path
    } else {
        base.join(path)
    }
}

/// The nearest ancestor of `CARGO_MANIFEST_DIR` (else of `cwd`) holding a `Cargo.lock`.
fn workspace_root(cwd: &Path) -> Option<PathBuf> {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .filter(|v| !v.is_empty())
        .map(|dir| absolutize(cwd, dir))
        .unwrap_or_else(|| cwd.to_path_buf());
    start.ancestors().find(|dir| dir.join("Cargo.lock").is_file()).map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_root_layout() {
        let root = install_root_in(Path::new("/t"), "1.2.3");
        assert_eq!(root, Path::new("/t/codex-cli/1.2.3"));
    }

    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    #[test]
    fn native_binary_default_and_discovered() {
        let dir = std::env::temp_dir().join(format!("pinned-cli-test-{}", std::process::id()));
        let expected = dir.join("node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex");
        assert_eq!(native_binary_path(&dir).unwrap(), expected);

        let other = dir.join("node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-gnu/bin");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("codex"), b"").unwrap();
        assert_eq!(native_binary_path(&dir).unwrap(), other.join("codex"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn target_dirs_include_workspace_target() {
        let dirs = candidate_target_dirs().unwrap();
        let workspace_target = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("target");
        assert!(dirs.contains(&workspace_target), "{dirs:?}");
    }
}
