//! Maintainer tasks: `cargo xtask <command>`.
//!
//! - `regen [--check]`: writes (or compares) `sdk/src/generated/` from `schema/`.
//! - `schema [--check]`: installs the pinned Codex CLI and rewrites (or compares) `schema/`.
//! - `install-codex`: installs the pinned Codex CLI under `target/codex-cli/<version>/`.
//! - `test`: the whole suite, as CI runs it.

#[path = "../../sdk/src/pinned_cli.rs"]
mod pinned_cli;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = args.iter().any(|a| a == "--check");
    let result = match args.first().map(String::as_str) {
        Some("regen") => regen(check),
        Some("schema") => schema(check),
        Some("install-codex") => install_codex().map(|bin| println!("{}", bin.display())),
        Some("test") => test(),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <regen [--check] | schema [--check] | install-codex | test>";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Writes or checks the generated sources.
fn regen(check: bool) -> Result<(), String> {
    let root = root();
    let started = std::time::Instant::now();
    let files = codex_app_server_codegen::generate(&root.join("schema"))?;
    let elapsed = started.elapsed();
    let out_dir = root.join("sdk/src/generated");
    let stale = codex_app_server_codegen::stale_files(&out_dir, &files);
    if check {
        if stale.is_empty() {
            println!("generated code is up to date ({} files)", files.len());
            return Ok(());
        }
        return Err(format!(
            "generated code differs from what schema/ produces: {}\nrun `cargo xtask regen` and commit the result",
            stale.join(", ")
        ));
    }
    codex_app_server_codegen::write_files(&out_dir, &files).map_err(|e| e.to_string())?;
    let lines: usize = files.iter().map(|f| f.contents.lines().count()).sum();
    println!(
        "generated {} files, {lines} lines in {:.2} s ({} changed)",
        files.len(),
        elapsed.as_secs_f64(),
        stale.len()
    );
    Ok(())
}

fn install_codex() -> Result<PathBuf, String> {
    pinned_cli::install_pinned().map_err(|e| e.to_string())
}

/// Regenerates `schema/` from the pinned CLI, or checks that it is what the CLI emits.
fn schema(check: bool) -> Result<(), String> {
    let bin = install_codex()?;
    let root = root();
    let pinned = std::fs::read_to_string(root.join("schema/CODEX_VERSION")).map_err(|e| e.to_string())?;
    if pinned.trim() != pinned_cli::PINNED_CODEX_VERSION {
        return Err(format!(
            "schema/CODEX_VERSION says {} but the installer pins {}",
            pinned.trim(),
            pinned_cli::PINNED_CODEX_VERSION
        ));
    }
    let scratch = root.join("target/xtask-schema");
    let _ = std::fs::remove_dir_all(&scratch);
    let mut differences = Vec::new();
    for (surface, extra) in [("stable", None), ("experimental", Some("--experimental"))] {
        let out = scratch.join(surface);
        std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&bin);
        cmd.args(["app-server", "generate-json-schema", "--out"]).arg(&out);
        cmd.args(extra);
        let status = cmd.output().map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        if !status.status.success() {
            return Err(format!("{} generate-json-schema failed: {}", bin.display(), String::from_utf8_lossy(&status.stderr)));
        }
        let name = codex_app_server_codegen::bundle::BUNDLE_FILE;
        let fresh = std::fs::read(out.join(name)).map_err(|e| e.to_string())?;
        let committed_path = root.join("schema").join(surface).join(name);
        if check {
            if std::fs::read(&committed_path).ok().as_deref() != Some(&fresh[..]) {
                differences.push(format!("schema/{surface}/{name}"));
            }
        } else {
            std::fs::create_dir_all(committed_path.parent().unwrap()).map_err(|e| e.to_string())?;
            std::fs::write(&committed_path, fresh).map_err(|e| e.to_string())?;
        }
    }
    if !differences.is_empty() {
        return Err(format!(
            "{} differ from what Codex CLI {} emits: run `cargo xtask schema` and `cargo xtask regen`",
            differences.join(", "),
            pinned_cli::PINNED_CODEX_VERSION
        ));
    }
    println!("schema/ {} Codex CLI {}", if check { "matches" } else { "rewritten from" }, pinned_cli::PINNED_CODEX_VERSION);
    Ok(())
}

fn cargo(args: &[&str]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("$ cargo {}", args.join(" "));
    let status = Command::new(cargo).args(args).current_dir(root()).status().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed", args.join(" ")))
    }
}

/// The whole suite: freshness checks, then the workspace tests on both protocol surfaces.
fn test() -> Result<(), String> {
    install_codex()?;
    schema(true)?;
    regen(true)?;
    // The stable surface (the default), everything.
    cargo(&["test", "--workspace"])?;
    // The experimental surface: the sdk's own tests and the real-binary tests again.
    cargo(&["test", "-p", "codex-app-server", "-p", "codex-app-server-tests", "--features", "codex-app-server/experimental"])?;
    Ok(())
}
