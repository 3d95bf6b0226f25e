//! `cargo xtask downstream`: the test kit as a user's own crate sees it. Makes a temporary
//! crate outside this workspace (`tests/downstream/Cargo.toml.in`: the SDK as a path
//! dependency with the `testing` feature) whose test is the README's "Testing your code
//! offline" example, word for word, and runs it with no `CODEX_BIN`,
//! no `codex` on `PATH` and an empty per-user cache: `pinned_cli::find_or_install()` has
//! to install the pinned CLI with npm, then one turn runs against it.

use crate::{cargo_command, pinned, pinned_cli, root};
use std::path::{Path, PathBuf};

pub fn downstream() -> Result<(), String> {
    let root = root();
    let crate_dir = std::env::temp_dir().join(format!("codex-driver-downstream-{}", std::process::id()));
    let result = run(&root, &crate_dir);
    let _ = std::fs::remove_dir_all(&crate_dir);
    result
}

fn run(root: &Path, crate_dir: &Path) -> Result<(), String> {
    let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
    let template = root.join("tests/downstream");
    std::fs::create_dir_all(crate_dir.join("tests")).map_err(|e| io("create the crate", e))?;
    let manifest = std::fs::read_to_string(template.join("Cargo.toml.in")).map_err(|e| io("Cargo.toml.in", e))?;
    let sdk = root.join("sdk");
    std::fs::write(crate_dir.join("Cargo.toml"), manifest.replace("@SDK_PATH@", &sdk.to_string_lossy()))
        .map_err(|e| io("Cargo.toml", e))?;
    let readme = std::fs::read_to_string(root.join("README.md")).map_err(|e| io("README.md", e))?;
    std::fs::write(crate_dir.join("tests/offline.rs"), readme_example(&readme)?).map_err(|e| io("offline.rs", e))?;
    // The workspace's lock file: the same dependency versions, nothing to resolve anew.
    std::fs::copy(root.join("Cargo.lock"), crate_dir.join("Cargo.lock")).map_err(|e| io("Cargo.lock", e))?;

    let cache = crate_dir.join("cache");
    let target_dir = format!("build.target-dir={:?}", root.join("target/downstream").to_string_lossy());
    let manifest_path = crate_dir.join("Cargo.toml");
    let manifest_path = manifest_path.to_string_lossy();
    let mut command = cargo_command(&["test", "--manifest-path", &manifest_path, "--config", &target_dir]);
    command
        .current_dir(crate_dir)
        .env_remove(pinned::CODEX_BIN_ENV)
        .env_remove("CARGO_TARGET_DIR")
        .env(pinned_cli::CACHE_DIR_ENV, &cache)
        .env("PATH", path_without_codex(&crate_dir.join("bin")));
    let status = command.status().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("the downstream crate's offline test failed".into());
    }
    let installed = pinned_cli::native_binary_path(&pinned_cli::install_root_in(&cache, pinned::PINNED_CODEX_VERSION))
        .map_err(|e| e.to_string())?;
    if !installed.is_file() {
        return Err(format!(
            "find_or_install() did not install into the user cache ({} is missing)",
            installed.display()
        ));
    }
    println!("downstream: find_or_install() installed {} and one offline turn ran", installed.display());
    Ok(())
}

/// `PATH` without the directories that hold a `codex`, so the test cannot find one there;
/// `npm` and `node` (which may live beside a global `codex`) stay reachable through links
/// in `bin_dir`.
fn path_without_codex(bin_dir: &Path) -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    let _ = std::fs::create_dir_all(bin_dir);
    for tool in ["npm", "node"] {
        let found = dirs.iter().map(|dir| dir.join(tool)).find(|p| p.is_file());
        if let Some(found) = found.filter(|p| p.parent().is_some_and(|d| d.join("codex").exists())) {
            #[cfg(unix)]
            let _ = std::os::unix::fs::symlink(&found, bin_dir.join(tool));
        }
    }
    let kept = std::iter::once(bin_dir.to_path_buf()).chain(dirs.into_iter().filter(|dir| !dir.join("codex").exists()));
    std::env::join_paths(kept).unwrap_or(path)
}

/// The first Rust block of the README's "Testing your code offline" section.
fn readme_example(readme: &str) -> Result<String, String> {
    const SECTION: &str = "## Testing your code offline";
    let section = readme.split_once(SECTION).ok_or(format!("README.md has no `{SECTION}`"))?.1;
    let block = section.split_once("```rust").ok_or("the section has no Rust block")?.1;
    let body = block.split_once('\n').ok_or("an unterminated block")?.1;
    let code = body.split_once("\n```").ok_or("an unterminated block")?.0;
    Ok(format!("{code}\n"))
}
