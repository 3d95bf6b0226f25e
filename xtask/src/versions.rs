//! Keeping up with Codex: `bump`, `history`, `compat` and `record`.

use crate::{cargo_command, pinned, pinned_cli, root, SCHEMA_SURFACES};
use codex_driver_codegen::bundle::{Bundle, BUNDLE_FILE};
use codex_driver_codegen::history::{self, History, Names, HISTORY_FILE};
use codex_driver_codegen::window::{Window, WINDOW_FILE};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The npm package of the Codex CLI.
const NPM_PACKAGE: &str = "@openai/codex";

/// Installs Codex CLI `version` under `target/codex-cli/<version>/` (when missing) and
/// returns its native binary.
pub fn install(version: &str) -> Result<PathBuf, String> {
    let target = pinned_cli::candidate_target_dirs()
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .ok_or("no cargo target directory")?;
    pinned_cli::ensure_installed(&pinned_cli::install_root_in(&target, version), version).map_err(|e| e.to_string())
}

/// Writes `<out>/<surface>/` with what `bin app-server generate-json-schema` emits for each
/// surface of `schema/`.
pub fn emit_schema(bin: &Path, out: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(out);
    for surface in SCHEMA_SURFACES {
        let dir = out.join(surface);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(bin);
        cmd.args(["app-server", "generate-json-schema", "--out"]).arg(&dir);
        if surface == "experimental" {
            cmd.arg("--experimental");
        }
        let output = cmd.output().map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        if !output.status.success() {
            return Err(format!(
                "{} generate-json-schema failed: {}",
                bin.display(),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        // Only the full bundle is kept: the other files are subsets of it.
        for entry in std::fs::read_dir(&dir).map_err(|e| e.to_string())?.flatten() {
            if entry.file_name() != BUNDLE_FILE {
                let path = entry.path();
                let _ = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            }
        }
    }
    Ok(())
}

/// The releases npm has of the CLI (`x.y.z` only, no pre-releases), oldest first.
fn npm_releases() -> Result<Vec<String>, String> {
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let output = Command::new(npm)
        .args(["view", NPM_PACKAGE, "versions", "--json"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{npm}` (is Node.js installed?): {e}"))?;
    if !output.status.success() {
        return Err(format!("`npm view {NPM_PACKAGE} versions` failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let all: Vec<String> =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("npm printed no version list: {e}"))?;
    let mut releases: Vec<String> = all.into_iter().filter(|v| release_key(v).is_some()).collect();
    releases.sort_by_key(|v| release_key(v));
    Ok(releases)
}

/// `(major, minor, patch)` of a plain release number, `None` for anything else.
fn release_key(version: &str) -> Option<(u32, u32, u32)> {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok().filter(|_| p.bytes().all(|b| b.is_ascii_digit())));
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(Some(a)), Some(Some(b)), Some(Some(c)), None) => Some((a, b, c)),
        _ => None,
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| e.to_string())?;
    for entry in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))?.flatten() {
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if src.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(|e| format!("{}: {e}", src.display()))?;
        }
    }
    Ok(())
}

/// `cargo xtask bump VERSION`: pins Codex CLI VERSION. Everything is generated in a scratch
/// copy of `schema/` first; `schema/` and the generated directories change only when the codegen
/// accepts the new schema.
pub fn bump(args: &[String]) -> Result<(), String> {
    let [version] = args else {
        return Err("usage: cargo xtask bump VERSION (major.minor.patch, as npm lists it)".into());
    };
    let new_key =
        release_key(version).ok_or_else(|| format!("`{version}` is not a release number (major.minor.patch)"))?;
    let root = root();
    let schema_dir = root.join("schema");
    let pin = codex_driver_codegen::pinned_version(&schema_dir)?;
    if *version == pin {
        return Err(format!("Codex CLI {pin} is the pin already"));
    }
    if Some(new_key) < release_key(&pin) {
        return Err(format!("{version} is older than the pin {pin}: the history only grows forward"));
    }
    let bin = install(version)?;
    let scratch = root.join("target/xtask-bump");
    let staged = scratch.join("schema");
    let _ = std::fs::remove_dir_all(&scratch);
    copy_dir(&schema_dir, &staged)?;
    emit_schema(&bin, &scratch.join("emitted"))?;
    for surface in SCHEMA_SURFACES {
        std::fs::copy(scratch.join("emitted").join(surface).join(BUNDLE_FILE), staged.join(surface).join(BUNDLE_FILE))
            .map_err(|e| e.to_string())?;
    }
    write(&staged.join("CODEX_VERSION"), &format!("{version}\n"))?;
    let old_stable = Bundle::load(&schema_dir.join("stable"))?;
    let (old_exp, new_exp) =
        (Bundle::load(&schema_dir.join("experimental"))?, Bundle::load(&staged.join("experimental"))?);
    let mut table = History::load(&schema_dir)?;
    table.extend(&Names::of(&old_exp), version, &Names::of(&new_exp));
    write(&staged.join(HISTORY_FILE), &table.to_json_text())?;
    // The older releases' shapes, now relative to the new pin: each rebuilt from the old pin.
    let old_window = Window::load(&schema_dir)?;
    let mut older = Vec::new();
    for release in old_window.releases() {
        older.push((release.to_owned(), old_window.bundle_of(&old_exp, release)?));
    }
    older.push((pin.clone(), old_exp.clone()));
    write(&staged.join(WINDOW_FILE), &Window::derive(&new_exp, &older).to_json_text())?;

    let files = codex_driver_codegen::generate(&staged).map_err(|e| {
        format!("Codex CLI {version}'s schema does not generate: {e}\n(nothing was changed; fix the codegen, then run `cargo xtask bump {version}` again)")
    })?;
    copy_dir(&staged, &schema_dir)?;
    let stale = codex_driver_codegen::stale_files(&root, &files);
    codex_driver_codegen::write_files(&root, &files).map_err(|e| e.to_string())?;

    println!("Pinned Codex CLI {version} (was {pin}); {} generated files changed.\n", stale.len());
    for (surface, old) in [("stable", old_stable), ("experimental", old_exp)] {
        let new = Bundle::load(&schema_dir.join(surface))?;
        println!("## {surface} surface, {pin} → {version}\n{}", history::changes(&old, &new));
    }
    println!("Next: `cargo xtask record` (transcripts of the new pin), `cargo xtask test`, and a CHANGELOG entry.");
    Ok(())
}

/// `cargo xtask history [--from VERSION]`: rebuilds `schema/history.json` from every npm
/// release from VERSION (default: the current window's start) through the pin, installing
/// the CLIs it lacks under `target/codex-cli/`.
pub fn history(args: &[String]) -> Result<(), String> {
    let root = root();
    let schema_dir = root.join("schema");
    let pin = codex_driver_codegen::pinned_version(&schema_dir)?;
    let from = match args {
        [] => History::load(&schema_dir)?.window.first().cloned().ok_or("the history has an empty window")?,
        [flag, version] if flag == "--from" => version.clone(),
        _ => return Err("usage: cargo xtask history [--from VERSION]".into()),
    };
    let (start, end) = (release_key(&from).ok_or("--from takes a release like 0.163.0")?, release_key(&pin));
    let window: Vec<String> =
        npm_releases()?.into_iter().filter(|v| release_key(v).is_some_and(|k| k >= start && Some(k) < end)).collect();
    let mut releases = Vec::new();
    let mut bundles = Vec::new();
    for version in &window {
        let bin = install(version)?;
        let out = root.join("target/xtask-history").join(version);
        emit_schema(&bin, &out)?;
        let bundle = Bundle::load(&out.join("experimental"))?;
        releases.push((version.clone(), Names::of(&bundle)));
        bundles.push((version.clone(), bundle));
        println!("read Codex CLI {version}");
    }
    let pin_bundle = Bundle::load(&schema_dir.join("experimental"))?;
    let window_shapes = Window::derive(&pin_bundle, &bundles);
    write(&schema_dir.join(WINDOW_FILE), &window_shapes.to_json_text())?;
    // The pin's names come from the committed schema, so the table matches what is generated.
    releases.push((pin.clone(), Names::of(&pin_bundle)));
    let table = History::derive(&releases);
    write(&schema_dir.join(HISTORY_FILE), &table.to_json_text())?;
    let rows: usize = table.spans.values().map(|t| t.len()).sum();
    println!(
        "schema/{HISTORY_FILE}: {} releases ({} … {pin}), {rows} names that changed; run `cargo xtask regen`",
        table.window.len(),
        table.window[0]
    );
    Ok(())
}

/// `cargo xtask compat [VERSION…|latest]`: the real-binary API scenarios (the transport
/// matrix of `parity` and the version checks of `compat`) against each CLI, default the
/// window's oldest release. Prints the wall time per version.
pub fn compat(args: &[String]) -> Result<(), String> {
    let root = root();
    let mut versions = Vec::new();
    for arg in args {
        if arg == "latest" {
            versions.push(npm_releases()?.pop().ok_or("npm lists no release")?);
        } else {
            release_key(arg).ok_or_else(|| format!("`{arg}` is not a release like 0.163.0 (or `latest`)"))?;
            versions.push(arg.clone());
        }
    }
    if versions.is_empty() {
        versions.push(History::load(&root.join("schema"))?.window[0].clone());
    }
    let mut times = Vec::new();
    for version in &versions {
        let bin = install(version)?;
        let started = Instant::now();
        let status =
            cargo_command(&["test", "-p", "codex-driver-tests", "--test", "integration", "--", "parity::", "compat::"])
                .env(pinned::CODEX_BIN_ENV, &bin)
                .status()
                .map_err(|e| e.to_string())?;
        let took = started.elapsed().as_secs_f64();
        if !status.success() {
            return Err(format!("the API scenarios failed against Codex CLI {version} ({status}, {took:.1} s)"));
        }
        times.push(format!("Codex CLI {version}: passed in {took:.1} s"));
    }
    println!("{}", times.join("\n"));
    Ok(())
}

/// `cargo xtask record`: runs the raw-protocol scenarios of `harness_smoke` against the
/// pinned CLI and keeps their wire transcripts in `tests/fixtures/codex-<pin>/`.
pub fn record() -> Result<(), String> {
    let root = root();
    let bin = crate::install_codex()?;
    let out = root.join("tests/fixtures").join(format!("codex-{}", pinned::PINNED_CODEX_VERSION));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let status = cargo_command(&["test", "-p", "codex-driver-tests", "--test", "integration", "--", "harness_smoke::"])
        .env(pinned::CODEX_BIN_ENV, &bin)
        .env("CODEX_RECORD_DIR", &out)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("recording failed ({status})"));
    }
    let count = std::fs::read_dir(&out).map_err(|e| e.to_string())?.count();
    println!("recorded {count} transcripts into {}", out.display());
    Ok(())
}
