//! `cargo xtask fuzz [--seconds N] [target…]`: builds the fuzz targets in `fuzz/` on the
//! stable toolchain and runs each for N seconds; fails on any crash.
//!
//! `fuzz/` is a cargo-fuzz crate (`cargo fuzz run <target>` works on nightly). On stable
//! this builds it the way cargo-fuzz does, minus the nightly-only sanitizers: libFuzzer from
//! `libfuzzer-sys`, with LLVM's sanitizer-coverage instrumentation (stable `-C` flags),
//! `--cfg fuzzing`, debug assertions and overflow checks, for the host target only (so
//! build scripts and proc macros stay uninstrumented). Everything lands in
//! `<target dir>/fuzz/`: the build, the growing corpus (`corpus/<target>/`), crash inputs
//! (`artifacts/<target>/`) and libFuzzer's log (`logs/<target>.log`).
//!
//! Each target starts from `fuzz/seeds/<target>/`, `fuzz/regressions/<target>/` and, when
//! `shared/` sits beside the repository, the real wire transcripts of the pinned Codex CLI
//! (`shared/fixtures/codex-<version>/*.jsonl`, converted into this target's input format).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The fuzz targets (binaries of `fuzz/Cargo.toml`).
pub const TARGETS: &[&str] = &["decode_route", "typed_decode"];
/// Seconds per target of `cargo xtask fuzz` without `--seconds`, and in `cargo xtask test`.
pub const SHORT_RUN_SECONDS: u64 = 15;

/// Instrumentation flags for a libFuzzer build on stable: what `cargo fuzz build -O` passes
/// (cargo-fuzz 0.13), without the nightly-only `-Zsanitizer=address`, and without
/// `-Ccodegen-units=1` and stack-depth tracking, which slow the build for little gain here.
const RUSTFLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "-Cllvm-args=-simplifycfg-branch-fold-threshold=0",
    "--cfg",
    "fuzzing",
    "-Cdebug-assertions",
    "-Coverflow-checks",
];

/// `cargo xtask fuzz [--seconds N] [target…]`.
pub fn fuzz(args: &[String]) -> Result<(), String> {
    let mut seconds = SHORT_RUN_SECONDS;
    let mut targets = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = args.next().ok_or("--seconds needs a number")?;
                seconds = value.parse().map_err(|_| format!("--seconds {value}: not a number"))?;
            }
            target if TARGETS.contains(&target) => targets.push(target),
            other => return Err(format!("unknown fuzz target or option `{other}` (targets: {})", TARGETS.join(", "))),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.to_vec();
    }
    run(&targets, seconds)
}

/// The short run of `cargo xtask test`: every target for [`SHORT_RUN_SECONDS`].
pub fn short_run() -> Result<(), String> {
    run(TARGETS, SHORT_RUN_SECONDS)
}

fn run(targets: &[&str], seconds: u64) -> Result<(), String> {
    let root = crate::root();
    let work = fuzz_dir(&root);
    let started = Instant::now();
    let bin_dir = build(&root, &work)?;
    println!("built the fuzz targets in {:.1} s", started.elapsed().as_secs_f64());
    let mut failures = Vec::new();
    for target in targets {
        let seeds = fixture_seeds(&root, &work, target)?;
        match run_target(&root, &work, &bin_dir, target, seconds, seeds) {
            Ok(summary) => println!("  ok  {target}: {summary}"),
            Err(message) => {
                println!("  FAILED {target}");
                failures.push(format!("{target}: {message}"));
            }
        }
    }
    println!("fuzzing took {:.1} s in all", started.elapsed().as_secs_f64());
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

/// `<cargo target dir>/fuzz`.
fn fuzz_dir(root: &Path) -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => std::env::current_dir().unwrap_or_else(|_| root.to_path_buf()).join(dir),
        None => root.join("target"),
    };
    target.join("fuzz")
}

fn host_triple() -> Result<String, String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(&rustc).arg("-vV").output().map_err(|e| format!("cannot run {rustc}: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .ok_or_else(|| format!("`{rustc} -vV` names no host"))
}

/// Builds every target instrumented (release, as cargo-fuzz does); returns the binaries' dir.
fn build(root: &Path, work: &Path) -> Result<PathBuf, String> {
    let host = host_triple()?;
    let manifest = root.join("fuzz/Cargo.toml");
    let manifest = manifest.to_str().ok_or("non-UTF-8 path")?;
    let status =
        crate::cargo_command(&["build", "--release", "--bins", "--manifest-path", manifest, "--target", &host])
            .env("CARGO_TARGET_DIR", work)
            .env("CARGO_ENCODED_RUSTFLAGS", RUSTFLAGS.join("\x1f"))
            .status()
            .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("building the fuzz targets failed".into());
    }
    Ok(work.join(host).join("release"))
}

/// Runs one target for `seconds` from its seeds; a summary, or why it failed.
fn run_target(
    root: &Path,
    work: &Path,
    bin_dir: &Path,
    target: &str,
    seconds: u64,
    fixture_seeds: Option<PathBuf>,
) -> Result<String, String> {
    let corpus = work.join("corpus").join(target);
    let artifacts = work.join("artifacts").join(target);
    let logs = work.join("logs");
    for dir in [&corpus, &artifacts, &logs] {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let log_path = logs.join(format!("{target}.log"));
    let log = std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut seeds = vec![root.join("fuzz/seeds").join(target), root.join("fuzz/regressions").join(target)];
    seeds.extend(fixture_seeds);
    let mut command = Command::new(bin_dir.join(target));
    command
        .arg(format!("-max_total_time={seconds}"))
        .arg("-timeout=30")
        .arg("-rss_limit_mb=4096")
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg(&corpus)
        .args(&seeds)
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
    println!("fuzzing {target} for {seconds} s (log: {})", log_path.display());
    let mut child = command.spawn().map_err(|e| format!("cannot run {}: {e}", bin_dir.join(target).display()))?;
    // libFuzzer stops itself; this only guards against a wedged process.
    let deadline = Instant::now() + Duration::from_secs(seconds + 300);
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("libFuzzer did not stop; see {}", log_path.display()));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    if status.success() {
        return Ok(summary(&text));
    }
    let tail: Vec<&str> = text.lines().rev().take(60).collect();
    let tail: String = tail.into_iter().rev().map(|l| format!("      | {l}\n")).collect();
    let crash =
        text.lines().find_map(|l| l.split("Test unit written to ").nth(1)).unwrap_or("(see the log)").trim().to_owned();
    let bin = bin_dir.join(target);
    Err(format!(
        "libFuzzer failed ({status}); the input is {crash}\n{tail}\
         To keep it as a regression test, minimize it:\n  {} -minimize_crash=1 -runs=100000 {crash}\n\
         copy the result into fuzz/regressions/{target}/ and run\n  \
         cargo test -p codex-driver --test fuzz_regressions",
        bin.display()
    ))
}

/// `N runs (N/s), cov N, ft N, corpus N` from libFuzzer's output.
fn summary(log: &str) -> String {
    let stat = |name: &str| {
        log.lines()
            .find_map(|l| l.strip_prefix(&format!("stat::{name}:")).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| "?".into())
    };
    let last_status = log.lines().rev().find(|l| l.starts_with('#') && l.contains("cov: ")).unwrap_or("");
    let field = |name: &str| last_status.split_whitespace().skip_while(|w| *w != name).nth(1).unwrap_or("?").to_owned();
    format!(
        "{} runs ({}/s), cov {}, ft {}, corpus {}, no crash",
        stat("number_of_executed_units"),
        stat("average_exec_per_sec"),
        field("cov:"),
        field("ft:"),
        field("corp:"),
    )
}

/// Converts the recorded wire transcripts (`tests/fixtures/codex-<version>/*.jsonl` of the
/// repository and `shared/fixtures/codex-<version>/*.jsonl` beside it) into seeds for
/// `target`, in `<work>/fixture-seeds/<target>/`. `None` when there are none.
fn fixture_seeds(root: &Path, work: &Path, target: &str) -> Result<Option<PathBuf>, String> {
    let dirs: Vec<PathBuf> = [root.join("tests/fixtures"), root.join("../shared/fixtures")]
        .iter()
        .flat_map(|parent| std::fs::read_dir(parent).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("codex-")))
        .collect();
    let entries: Vec<PathBuf> =
        dirs.iter().flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten()).map(|e| e.path()).collect();
    if entries.is_empty() {
        return Ok(None);
    }
    let out = work.join("fixture-seeds").join(target);
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut count = 0;
    for path in entries {
        if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let records: Vec<(String, serde_json::Value)> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|r| Some((r["dir"].as_str()?.to_owned(), r.get("msg")?.clone())))
            .collect();
        let version = path.parent().and_then(|d| d.file_name()).unwrap_or_default().to_string_lossy();
        let stem = format!("{version}-{}", path.file_stem().unwrap_or_default().to_string_lossy());
        let seeds = match target {
            "decode_route" => vec![(stem, route_seed(&records))],
            _ => typed_seeds(&stem, &records),
        };
        for (name, bytes) in seeds {
            std::fs::write(out.join(&name), bytes).map_err(|e| format!("{name}: {e}"))?;
            count += 1;
        }
    }
    println!(
        "{count} seeds for {target} from {}",
        dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    Ok(Some(out))
}

/// A transcript as a `decode_route` input: the client's requests become `#call` commands
/// (so the server's responses find their waiters), the server's messages are the data.
fn route_seed(records: &[(String, serde_json::Value)]) -> Vec<u8> {
    let mut out = String::from("#opts 65536 8 8 4096\n");
    for (dir, msg) in records {
        let method = msg["method"].as_str();
        if dir == "->" {
            if let (Some(method), Some(_)) = (method, msg.get("id")) {
                match msg["params"]["threadId"].as_str() {
                    Some(thread) if method == "turn/start" => out.push_str(&format!("#call turn/start {thread}\n")),
                    _ => out.push_str(&format!("#call {method}\n")),
                }
            }
            continue;
        }
        out.push_str(&msg.to_string());
        out.push('\n');
        if let Some(thread) = msg["result"]["thread"]["id"].as_str() {
            out.push_str(&format!("#thread {thread}\n#drain\n"));
        }
    }
    out.into_bytes()
}

/// Every server notification and request of a transcript as a `typed_decode` input.
fn typed_seeds(stem: &str, records: &[(String, serde_json::Value)]) -> Vec<(String, Vec<u8>)> {
    records
        .iter()
        .filter(|(dir, _)| dir == "<-")
        .filter_map(|(_, msg)| Some((msg["method"].as_str()?, msg.get("params").cloned().unwrap_or_default())))
        .enumerate()
        .map(|(i, (method, params))| (format!("{stem}-{i:03}"), format!("{method}\n{params}\n").into_bytes()))
        .collect()
}
