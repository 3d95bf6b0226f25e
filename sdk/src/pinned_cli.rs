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

pub use crate::pinned::{install_hint, WINDOW_CODEX_VERSIONS};
use crate::pinned::{CODEX_BIN_ENV, PINNED_CODEX_VERSION};

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
/// (npm must be on `PATH` and the npm registry reachable; an unreachable registry fails after
/// npm's retries, within seconds), then checks that `codex --version` prints
/// `codex-cli <version>`.
pub fn ensure_installed(install_root: &Path, version: &str) -> io::Result<PathBuf> {
    npm_install(install_root, version, None)
}

/// The native binary under `install_root`, when it exists and reports `version`.
fn installed(install_root: &Path, version: &str) -> Option<PathBuf> {
    let bin = native_binary_path(install_root).ok()?;
    (bin.is_file() && binary_version(&bin).is_ok_and(|v| v == version)).then_some(bin)
}

/// [`ensure_installed`], from `registry` when given (else npm's configured registry).
fn npm_install(install_root: &Path, version: &str, registry: Option<&str>) -> io::Result<PathBuf> {
    if let Some(bin) = installed(install_root, version) {
        return Ok(bin);
    }
    std::fs::create_dir_all(install_root)?;
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let mut command = Command::new(npm);
    command
        .arg("install")
        .arg("--prefix")
        .arg(install_root)
        .args([
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--fetch-retry-mintimeout=1000",
            "--fetch-retry-maxtimeout=5000",
        ])
        .arg(format!("@openai/codex@{version}"))
        .stdin(Stdio::null());
    if let Some(registry) = registry {
        command.arg(format!("--registry={registry}"));
    }
    let status = command
        .status()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run `{npm}` (is Node.js installed?): {e}")))?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "`npm install @openai/codex@{version}` into {} failed ({status}; is the npm registry reachable? npm's output is above)",
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

/// Environment variable naming the per-user cache directory of [`find_or_install`]
/// (default: the platform's cache directory + `codex-driver`, see [`user_cache_dir`]).
pub const CACHE_DIR_ENV: &str = "CODEX_DRIVER_CACHE_DIR";

/// Finds a usable Codex CLI, or installs the pinned one into the per-user cache: the one
/// call a test (or any program) of any crate makes to get a `codex` binary.
///
/// First [`locate`]; when it finds nothing, `npm install @openai/codex@<pin>` into
/// `<`[`user_cache_dir`]`>/codex-cli/<pin>/` (npm on `PATH` and the npm registry
/// reachable; a concurrent install by another process is tolerated). Without npm or a
/// network the error says what was searched and why the install failed; npm's own
/// timeouts bound the wait.
pub fn find_or_install() -> io::Result<PathBuf> {
    let search = Search::from_env();
    let not_found = match search.locate() {
        Ok(bin) => return Ok(bin),
        Err(e) => e,
    };
    let root = install_root_in(&search.cache_dir.clone().ok_or(not_found)?, PINNED_CODEX_VERSION);
    install_once(&root, PINNED_CODEX_VERSION, None).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "no usable Codex CLI was found, and installing {PINNED_CODEX_VERSION} into {} failed: {e}",
                root.display()
            ),
        )
    })
}

/// Finds a usable Codex CLI without installing anything.
///
/// In order: the `CODEX_BIN` environment variable (any existing file, its version
/// unchecked: an explicit choice); the pinned release installed under the cargo target
/// directories of [`candidate_target_dirs`] (`cargo xtask install-codex` in the SDK's own
/// workspace) or in the per-user cache ([`find_or_install`]); a `codex` on `PATH` that
/// reports the pinned release; then one that reports any release of the window
/// ([`WINDOW_CODEX_VERSIONS`]). The error lists what was searched, with the versions found
/// on `PATH`, and says how to get the binary.
pub fn locate() -> io::Result<PathBuf> {
    Search::from_env().locate()
}

/// The per-user cache directory of [`find_or_install`]: `CODEX_DRIVER_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/codex-driver`, else `~/Library/Caches/codex-driver` (macOS),
/// `%LOCALAPPDATA%\\codex-driver` (Windows) or `~/.cache/codex-driver`. `None` when none of
/// those variables is set.
pub fn user_cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = var(CACHE_DIR_ENV) {
        return Some(dir);
    }
    let base = if cfg!(windows) {
        var("LOCALAPPDATA")
    } else if cfg!(target_os = "macos") {
        var("HOME").map(|home| home.join("Library").join("Caches"))
    } else {
        var("XDG_CACHE_HOME").or_else(|| var("HOME").map(|home| home.join(".cache")))
    };
    base.map(|dir| dir.join("codex-driver"))
}

/// Where [`locate`] looks: read from the environment once, so the order is testable.
#[derive(Debug, Clone, Default)]
struct Search {
    codex_bin: Option<PathBuf>,
    target_dirs: Vec<PathBuf>,
    cache_dir: Option<PathBuf>,
    path: Option<OsString>,
}

impl Search {
    fn from_env() -> Self {
        Search {
            codex_bin: std::env::var_os(CODEX_BIN_ENV).filter(|v| !v.is_empty()).map(PathBuf::from),
            target_dirs: candidate_target_dirs().unwrap_or_default(),
            cache_dir: user_cache_dir(),
            path: std::env::var_os("PATH"),
        }
    }

    fn locate(&self) -> io::Result<PathBuf> {
        if let Some(bin) = &self.codex_bin {
            return if bin.is_file() {
                Ok(bin.clone())
            } else {
                Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{CODEX_BIN_ENV}={} does not name a file", bin.display()),
                ))
            };
        }
        let mut searched = Vec::new();
        let installs = self.target_dirs.iter().chain(&self.cache_dir);
        for dir in installs {
            let bin = native_binary_path(&install_root_in(dir, PINNED_CODEX_VERSION))?;
            if bin.is_file() {
                return Ok(bin);
            }
            searched.push(format!("  {} (missing)", bin.display()));
        }
        let mut in_window = None;
        for bin in self.on_path() {
            match binary_version(&bin) {
                Ok(version) if version == PINNED_CODEX_VERSION => return Ok(bin),
                Ok(version) if WINDOW_CODEX_VERSIONS.contains(&version.as_str()) => {
                    in_window.get_or_insert(bin.clone());
                    searched.push(format!("  {} (on PATH: {version})", bin.display()));
                }
                Ok(version) => searched.push(format!("  {} (on PATH: {version}, outside the window)", bin.display())),
                Err(e) => searched.push(format!("  {} (on PATH: {e})", bin.display())),
            }
        }
        if let Some(bin) = in_window {
            return Ok(bin);
        }
        if self.path.is_some() && !searched.iter().any(|s| s.contains("on PATH")) {
            searched.push("  PATH (no `codex`)".to_owned());
        }
        let window = format!("{}..={PINNED_CODEX_VERSION}", WINDOW_CODEX_VERSIONS[0]);
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "no Codex CLI of the supported releases ({window}, preferably {PINNED_CODEX_VERSION}) found; \
call `codex_driver::testing::pinned_cli::find_or_install()` to install it into the per-user cache, or {}.\nSearched:\n{}",
                install_hint(),
                searched.join("\n")
            ),
        ))
    }

    /// Every file named `codex` in the `PATH` directories, in order.
    fn on_path(&self) -> Vec<PathBuf> {
        let name = if cfg!(windows) { "codex.cmd" } else { "codex" };
        let dirs = self.path.as_deref().map(std::env::split_paths).into_iter().flatten();
        let mut found: Vec<PathBuf> = dirs.map(|dir| dir.join(name)).filter(|bin| bin.is_file()).collect();
        found.dedup();
        found
    }
}

/// [`ensure_installed`] into `root` through a private directory beside it, renamed into
/// place: two processes installing at once leave one whole install, never a mix; within
/// one process (the tests of one binary), installs take turns. A root without a working
/// binary of `version` (a damaged install) is moved aside and replaced.
fn install_once(root: &Path, version: &str, registry: Option<&str>) -> io::Result<PathBuf> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    static STAGING: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(bin) = installed(root, version) {
        return Ok(bin);
    }
    let parent = root.parent().ok_or_else(|| io::Error::other("an install root has a parent"))?;
    std::fs::create_dir_all(parent)?;
    let unique = format!("{}-{}", std::process::id(), STAGING.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    if root.exists() {
        let aside = parent.join(format!(".{version}.damaged-{unique}"));
        if std::fs::rename(root, &aside).is_ok() {
            let _ = std::fs::remove_dir_all(&aside);
        }
    }
    let staging = parent.join(format!(".{version}.installing-{unique}"));
    let result = npm_install(&staging, version, registry).and_then(|_| match std::fs::rename(&staging, root) {
        Ok(()) => Ok(()),
        // Another process finished first: its install is as good as ours.
        Err(_) if installed(root, version).is_some() => Ok(()),
        Err(e) => Err(e),
    });
    let _ = std::fs::remove_dir_all(&staging);
    result?;
    installed(root, version).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, format!("{} holds no working Codex {version}", root.display()))
    })
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

    /// A directory with a fake `codex` that reports `version`.
    #[cfg(unix)]
    fn fake_codex(dir: &Path, version: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir).unwrap();
        let bin = dir.join("codex");
        std::fs::write(&bin, format!("#!/bin/sh\necho 'codex-cli {version}'\n")).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        bin
    }

    #[cfg(unix)]
    #[test]
    fn locate_prefers_the_pin_then_any_release_of_the_window_on_path() {
        let dir = std::env::temp_dir().join(format!("pinned-cli-path-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let old = fake_codex(&dir.join("old"), "0.1.0");
        let window = fake_codex(&dir.join("window"), WINDOW_CODEX_VERSIONS[0]);
        let pin = fake_codex(&dir.join("pin"), PINNED_CODEX_VERSION);
        let path = |dirs: &[&str]| Some(std::env::join_paths(dirs.iter().map(|d| dir.join(d))).unwrap());
        let search = |dirs: &[&str]| Search { path: path(dirs), ..Search::default() };

        assert_eq!(search(&["old", "window", "pin"]).locate().unwrap(), pin, "the pin wins, wherever it is");
        assert_eq!(search(&["old", "window"]).locate().unwrap(), window, "else a release of the window");
        let error = search(&["old"]).locate().unwrap_err().to_string();
        assert!(error.contains(&format!("{} (on PATH: 0.1.0, outside the window)", old.display())), "{error}");
        assert!(error.contains("find_or_install()") && error.contains("npm install -g"), "{error}");
        let error = search(&[]).locate().unwrap_err().to_string();
        assert!(error.contains("PATH (no `codex`)"), "{error}");

        // CODEX_BIN is an explicit choice; an install under a target or cache dir comes before PATH.
        let explicit = Search { codex_bin: Some(old.clone()), ..search(&["pin"]) };
        assert_eq!(explicit.locate().unwrap(), old);
        let cache = dir.join("cache");
        let cached = native_binary_path(&install_root_in(&cache, PINNED_CODEX_VERSION)).unwrap();
        std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
        std::fs::copy(&pin, &cached).unwrap();
        let in_cache = Search { cache_dir: Some(cache), ..search(&["window"]) };
        assert_eq!(in_cache.locate().unwrap(), cached);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Without a reachable registry the install fails, soon, saying so, and leaves nothing
    /// behind (needs npm, as every real-binary test does).
    #[test]
    fn an_install_without_a_registry_fails_clearly_and_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("pinned-cli-offline-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = install_root_in(&dir, PINNED_CODEX_VERSION);
        // Port 9 (discard) on loopback: the connection is refused at once.
        let error = install_once(&root, PINNED_CODEX_VERSION, Some("http://127.0.0.1:9/")).unwrap_err().to_string();
        assert!(error.contains("is the npm registry reachable?"), "{error}");
        assert!(!root.exists(), "a failed install leaves no install root");
        let leftovers: Vec<_> = std::fs::read_dir(dir.join("codex-cli")).unwrap().collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn target_dirs_include_workspace_target() {
        let dirs = candidate_target_dirs().unwrap();
        let workspace_target = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("target");
        assert!(dirs.contains(&workspace_target), "{dirs:?}");
    }
}
