//! Maintainer tasks: `cargo xtask <command>`.
//!
//! - `regen [--check]`: writes (or compares) `sdk/src/generated/`,
//!   `sdk/protocol/{shared,outbound,inbound}/src/generated/` and the test registry in
//!   `sdk/src/generated_tests/generated/` from `schema/`.
//! - `schema [--check]`: installs the pinned Codex CLI and rewrites (or compares) `schema/`.
//! - `install-codex`: installs the pinned Codex CLI under `target/codex-cli/<version>/`.
//! - `demo`: installs the pinned CLI if missing, then runs the SDK's offline demo
//!   (`cargo run --example demo`): a real app-server and a scripted mock model on 127.0.0.1.
//! - `examples [-v] [name…]`: builds the SDK's examples once and runs each offline
//!   (`CODEX_EXAMPLES_OFFLINE=1`), one after the other with a time limit; fails if any fails.
//! - `test`: the whole suite, as CI runs it: freshness, `fmt --check`, clippy, the tests on
//!   both protocol surfaces, the examples, `compat` against the window's oldest CLI, fuzzing.
//! - `downstream`: the test kit from a crate outside this workspace: a temporary crate
//!   whose offline test installs the pinned CLI with `pinned_cli::find_or_install()` into an
//!   empty per-user cache and runs one turn.
//! - `package`: the part of `test` that checks the published crates: docs as docs.rs
//!   builds them (no warnings, both surfaces), and `cargo package` of all of them together.
//! - `bench [--smoke] [decode|e2e|memory]…`: the benchmarks of `bench/` (release build), as
//!   markdown tables; `--smoke` runs each with tiny sizes (dev build). See BENCHMARKS.md.
//! - `compile-times [--runs N]`: clean and incremental build times of the SDK and an example,
//!   in a throw-away copy of the workspace.
//! - `fuzz [--seconds N] [target…]`: builds the fuzz targets of `fuzz/` on stable and runs
//!   each for N seconds (default 15); fails on any crash. See fuzz/README.md.
//! - `bump VERSION`: pins another Codex CLI: installs it, rewrites `schema/` (the pin, both
//!   bundles, the history), regenerates, and prints what changed in the protocol.
//! - `history [--from VERSION]`: rebuilds `schema/history.json` from the schemas of every
//!   release from VERSION (default: the current window's start) through the pin.
//! - `compat [VERSION…|latest]`: runs the real-binary API scenarios against other CLIs
//!   (default: the window's oldest release).
//! - `record`: records wire transcripts from the pinned CLI into `tests/fixtures/codex-<pin>/`.

mod bench;
mod downstream;
mod fuzz;
#[path = "../../sdk/src/pinned.rs"]
mod pinned;
// xtask uses part of the test kit's installer.
#[allow(dead_code)]
#[path = "../../sdk/src/pinned_cli.rs"]
mod pinned_cli;
mod versions;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = args.iter().any(|a| a == "--check");
    let result = match args.first().map(String::as_str) {
        Some("regen") => regen(check),
        Some("schema") => schema(check),
        Some("install-codex") => install_codex().map(|bin| println!("{}", bin.display())),
        Some("demo") => demo(),
        Some("examples") => examples(&args[1..]),
        Some("test") => test(),
        Some("downstream") => downstream::downstream(),
        Some("package") => docs_and_package(),
        Some("bench") => bench::bench(&args[1..]),
        Some("compile-times") => bench::compile_times(&args[1..]),
        Some("fuzz") => fuzz::fuzz(&args[1..]),
        Some("bump") => versions::bump(&args[1..]),
        Some("history") => versions::history(&args[1..]),
        Some("compat") => versions::compat(&args[1..]),
        Some("record") => versions::record(),
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

const USAGE: &str =
    "usage: cargo xtask <regen [--check] | schema [--check] | install-codex | demo | examples [-v] [name...] | test | package | bench [--smoke] [name...] | compile-times [--runs N] | fuzz [--seconds N] [target...] | bump VERSION | history [--from VERSION] | compat [VERSION...|latest] | record>";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Writes or checks the generated sources.
fn regen(check: bool) -> Result<(), String> {
    let root = root();
    let started = std::time::Instant::now();
    let files = codex_driver_codegen::generate(&root.join("schema"))?;
    let elapsed = started.elapsed();
    let stale = codex_driver_codegen::stale_files(&root, &files);
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
    codex_driver_codegen::write_files(&root, &files).map_err(|e| e.to_string())?;
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
    let pin = codex_driver_codegen::pinned_version(&root.join("schema"))?;
    if pin != pinned::PINNED_CODEX_VERSION {
        return Err(format!(
            "schema/CODEX_VERSION says {pin} but the generated pin is {}: run `cargo xtask regen`",
            pinned::PINNED_CODEX_VERSION
        ));
    }
    let scratch = root.join("target/xtask-schema");
    versions::emit_schema(&bin, &scratch)?;
    let mut differences = Vec::new();
    for surface in SCHEMA_SURFACES {
        let name = codex_driver_codegen::bundle::BUNDLE_FILE;
        let fresh = std::fs::read(scratch.join(surface).join(name)).map_err(|e| e.to_string())?;
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
            "{} differ from what Codex CLI {pin} emits: run `cargo xtask schema` and `cargo xtask regen`",
            differences.join(", "),
        ));
    }
    println!("schema/ {} Codex CLI {pin}", if check { "matches" } else { "rewritten from" });
    Ok(())
}

/// The schema surfaces kept in `schema/`, each emitted by `generate-json-schema`.
const SCHEMA_SURFACES: [&str; 2] = ["stable", "experimental"];

/// `cargo <args>` in the workspace root (the cargo that runs xtask), echoed first.
fn cargo_command(args: &[&str]) -> Command {
    println!("$ cargo {}", args.join(" "));
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(args).current_dir(root());
    command
}

fn cargo(args: &[&str]) -> Result<(), String> {
    let status = cargo_command(args).status().map_err(|e| e.to_string())?;
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
    // One style, and no lint warnings (every feature on, so the attach code is linted too).
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"])?;
    docs_and_package()?;
    // The attach features are additive: the sdk builds without them and with each alone.
    for features in ["", "websocket", "tls", "jwt"] {
        cargo(&["check", "-p", "codex-driver", "--no-default-features", "--features", features])?;
    }
    // The stable surface (the default), everything.
    cargo(&["test", "--workspace"])?;
    // The experimental surface: the sdk's own tests and the real-binary tests again.
    cargo(&[
        "test",
        "-p",
        "codex-driver",
        "-p",
        "codex-driver-tests",
        "--features",
        "codex-driver-tests/experimental",
    ])?;
    // Every example, offline (built on the experimental surface, as the step above built the sdk).
    examples(&[])?;
    // The test kit from a user's own crate, outside this workspace.
    downstream::downstream()?;
    // The real-binary API scenarios against the oldest release of the protocol history's
    // window (the pin ran above): a fixed version, so the gate never moves on its own.
    versions::compat(&[])?;
    // A short fuzzing run of every fuzz target (stable toolchain).
    fuzz::short_run()?;
    Ok(())
}

/// The features docs.rs documents (`[package.metadata.docs.rs]` of `sdk/Cargo.toml`).
const DOCS_FEATURES: &str = "blocking,testing,websocket,tls,jwt";

/// The published crates (name, directory), in dependency order: the three protocol type
/// crates and the SDK, which gathers their types.
const PUBLISHED: [(&str, &str); 4] = [
    ("codex-driver-protocol-shared", "sdk/protocol/shared"),
    ("codex-driver-protocol-outbound", "sdk/protocol/outbound"),
    ("codex-driver-protocol-inbound", "sdk/protocol/inbound"),
    ("codex-driver", "sdk"),
];

/// The crates' docs build as docs.rs builds them (`--cfg docsrs`, feature badges) without a
/// single rustdoc warning, on both protocol surfaces; and the crates package and build
/// from their `.crate` files alone.
fn docs_and_package() -> Result<(), String> {
    let surfaces = [(DOCS_FEATURES.to_owned(), ""), (format!("{DOCS_FEATURES},experimental"), "experimental")];
    for (features, protocol_features) in &surfaces {
        for (package, _) in PUBLISHED {
            let features = if package == "codex-driver" { features.as_str() } else { protocol_features };
            let status = cargo_command(&["doc", "-p", package, "--no-deps", "--features", features])
                // `doc_cfg` is a nightly feature on docs.rs; the stable toolchain takes it this way.
                .env("RUSTC_BOOTSTRAP", "1")
                .env("RUSTDOCFLAGS", "--cfg docsrs -D warnings")
                .status()
                .map_err(|e| e.to_string())?;
            if !status.success() {
                return Err(format!("`cargo doc -p {package}` with features {features:?} has warnings or errors"));
            }
        }
    }
    forget_extracted_packages()?;
    // All published crates at once: each is verified against the others as packaged.
    let mut args = vec!["package"];
    for (package, _) in PUBLISHED {
        args.extend(["-p", package]);
    }
    args.push("--allow-dirty");
    cargo(&args)
}

/// Removes cargo's extracted copies of earlier packagings of the published crates
/// (`$CARGO_HOME/registry/src/*/<crate>-<version>/`). `cargo package` verifies each crate
/// against the others through a temporary registry, and cargo reuses an extracted
/// `<crate>-<version>` it finds there: with the version unchanged, it would build the
/// previous packaging's sources instead of this one's.
fn forget_extracted_packages() -> Result<(), String> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .ok_or("neither CARGO_HOME nor HOME is set")?;
    let mut extracted_names = Vec::new();
    for (package, dir) in PUBLISHED {
        let version = package_version(&root().join(dir).join("Cargo.toml"))?;
        extracted_names.push(format!("{package}-{version}"));
    }
    let Ok(registries) = std::fs::read_dir(cargo_home.join("registry/src")) else { return Ok(()) };
    for registry in registries.flatten() {
        for name in &extracted_names {
            let extracted = registry.path().join(name);
            if extracted.is_dir() {
                std::fs::remove_dir_all(&extracted).map_err(|e| format!("removing {}: {e}", extracted.display()))?;
            }
        }
    }
    Ok(())
}

/// The `version` of a package manifest.
fn package_version(manifest: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(manifest).map_err(|e| format!("reading {}: {e}", manifest.display()))?;
    text.lines()
        .find_map(|line| line.strip_prefix("version = \"").and_then(|rest| rest.strip_suffix('"')))
        .map(str::to_owned)
        .ok_or_else(|| format!("{} has no `version = \"…\"` line", manifest.display()))
}

/// `cargo xtask demo`: the pinned CLI (installed when missing), then the offline demo example.
fn demo() -> Result<(), String> {
    let started = Instant::now();
    let bin = install_codex()?;
    println!("Codex CLI {}: {}", pinned::PINNED_CODEX_VERSION, bin.display());
    println!("building and running the demo (`cargo run --example demo`; a first build takes a few minutes)");
    let status = cargo_command(&["run", "--package", "codex-driver", "--example", "demo"])
        .env("CODEX_BIN", &bin)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("the demo failed ({status})"));
    }
    println!("(`cargo xtask demo` took {:.1} s in all)", started.elapsed().as_secs_f64());
    Ok(())
}

/// Standard input given to examples that read it; every other example gets none.
const EXAMPLE_STDIN: &[(&str, &str)] = &[("mini_chat", "Hello!\nWhat can you do?\n/exit\n")];

/// The longest any one example may take offline, unless `XTASK_EXAMPLE_TIMEOUT_SECS` says.
const EXAMPLE_TIMEOUT: Duration = Duration::from_secs(120);

fn example_timeout() -> Duration {
    std::env::var("XTASK_EXAMPLE_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(EXAMPLE_TIMEOUT)
}

/// `cargo xtask examples [-v] [name…]`: builds every example of the SDK once, then runs each
/// (or the named ones) offline against the scripted mock, sequentially, each with a time
/// limit (120 s, or `XTASK_EXAMPLE_TIMEOUT_SECS`). `-v` prints every example's output, not
/// only a failing one's.
fn examples(args: &[String]) -> Result<(), String> {
    let verbose = args.iter().any(|a| a == "-v" || a == "--verbose");
    let wanted: Vec<&str> = args.iter().map(String::as_str).filter(|a| !a.starts_with('-')).collect();
    let bin = install_codex()?;
    let mut built = build_examples()?;
    if !wanted.is_empty() {
        if let Some(unknown) = wanted.iter().find(|w| !built.iter().any(|(name, _)| name == *w)) {
            let names: Vec<&str> = built.iter().map(|(name, _)| name.as_str()).collect();
            return Err(format!("no example named `{unknown}` (examples: {})", names.join(", ")));
        }
        built.retain(|(name, _)| wanted.contains(&name.as_str()));
    }
    let timeout = example_timeout();
    println!(
        "running {} examples offline (CODEX_EXAMPLES_OFFLINE=1, each within {} s)",
        built.len(),
        timeout.as_secs()
    );
    let started = Instant::now();
    let mut failed = Vec::new();
    for (name, exe) in &built {
        let stdin = EXAMPLE_STDIN.iter().find(|(n, _)| n == name).map(|(_, input)| *input);
        let run = run_example(exe, &bin, stdin, timeout)?;
        let verdict = match run.outcome {
            Outcome::Passed => "ok",
            Outcome::Failed(_) => "FAILED",
            Outcome::TimedOut => "TIMED OUT",
        };
        println!("  {verdict:<9} {name:<28} {:>5.1} s", run.elapsed.as_secs_f64());
        let passed = matches!(run.outcome, Outcome::Passed);
        if verbose || !passed {
            let indent = |text: &str| text.lines().map(|l| format!("      | {l}\n")).collect::<String>();
            print!("{}", indent(&run.stdout));
            if !run.stderr.trim().is_empty() {
                println!("      stderr:");
                print!("{}", indent(&run.stderr));
            }
        }
        if !passed {
            failed.push(match run.outcome {
                Outcome::Failed(status) => format!("{name} ({status})"),
                _ => format!("{name} (timed out)"),
            });
        }
    }
    println!("{} examples in {:.1} s", built.len(), started.elapsed().as_secs_f64());
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{} example(s) failed offline: {}", failed.len(), failed.join(", ")))
    }
}

/// Builds the SDK's examples and returns `(name, executable)` for each, sorted by name.
fn build_examples() -> Result<Vec<(String, PathBuf)>, String> {
    // With the experimental surface, so its examples build too (the stable surface's build
    // of every other example is checked by `cargo test --workspace`).
    let args = [
        "build",
        "--package",
        "codex-driver",
        "--features",
        "experimental",
        "--examples",
        "--message-format=json-render-diagnostics",
    ];
    let output = cargo_command(&args).stderr(Stdio::inherit()).output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err("building the examples failed".into());
    }
    let mut built = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let is_example = message["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "example"));
        if message["reason"] != "compiler-artifact" || !is_example {
            continue;
        }
        if let (Some(name), Some(exe)) = (message["target"]["name"].as_str(), message["executable"].as_str()) {
            built.push((name.to_owned(), PathBuf::from(exe)));
        }
    }
    if built.is_empty() {
        return Err("cargo built no example".into());
    }
    built.sort();
    Ok(built)
}

enum Outcome {
    Passed,
    Failed(std::process::ExitStatus),
    TimedOut,
}

struct ExampleRun {
    outcome: Outcome,
    elapsed: Duration,
    stdout: String,
    stderr: String,
}

/// Runs one example offline with `stdin` (or none), killing it after `timeout`.
fn run_example(exe: &Path, codex_bin: &Path, stdin: Option<&str>, timeout: Duration) -> Result<ExampleRun, String> {
    let started = Instant::now();
    let mut child = Command::new(exe)
        .env("CODEX_EXAMPLES_OFFLINE", "1")
        .env("CODEX_BIN", codex_bin)
        .current_dir(root())
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let input = input.to_owned();
        std::thread::spawn(move || pipe.write_all(input.as_bytes()));
    }
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let outcome = loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) if status.success() => break Outcome::Passed,
            Some(status) => break Outcome::Failed(status),
            None if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break Outcome::TimedOut;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let elapsed = started.elapsed();
    Ok(ExampleRun {
        outcome,
        elapsed,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}
