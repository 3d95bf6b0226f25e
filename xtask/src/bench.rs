//! `cargo xtask bench` (the `bench/` crate's benchmarks) and `cargo xtask compile-times`.
//! Both print markdown for BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime};

use super::{cargo_command, install_codex, root};

/// The benchmarks of `codex-bench`, in the order `cargo xtask bench` runs them.
const BENCHES: &[&str] = &["decode", "e2e", "memory"];

/// `cargo xtask bench [--smoke] [decode|e2e|memory]… [--turns N …] [--runtime multi|current]`: builds `codex-bench`
/// (release; the dev profile with `--smoke`) and runs each named bench (default: all) in
/// its own process, so that one bench's allocations never show in another's memory
/// figures. Every other argument is passed on to each bench.
pub fn bench(args: &[String]) -> Result<(), String> {
    let smoke = args.iter().any(|a| a == "--smoke");
    let mut names = Vec::new();
    let mut pass = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if BENCHES.contains(&arg.as_str()) {
            names.push(arg.as_str());
        } else if arg == "--runtime" {
            // Its value is a word (`multi` or `current`), which codex-bench checks.
            pass.push(arg.as_str());
            pass.extend(it.next().map(String::as_str));
        } else if arg.starts_with("--") || arg.parse::<usize>().is_ok() {
            pass.push(arg.as_str());
        } else {
            return Err(format!("no bench named `{arg}` (benches: {})", BENCHES.join(", ")));
        }
    }
    if names.is_empty() {
        names = BENCHES.to_vec();
    }
    let codex = install_codex()?;
    let started = Instant::now();
    let exe = build_bench(!smoke)?;
    println!("\n## Benchmarks{}\n", if smoke { " (smoke run: tiny sizes, dev profile)" } else { "" });
    print!("{}", machine());
    println!("- profile: {}\n", if smoke { "dev" } else { "release" });
    for name in names {
        let status = Command::new(&exe)
            .arg(name)
            .args(&pass)
            .env("CODEX_BIN", &codex)
            .current_dir(root())
            .status()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        if !status.success() {
            return Err(format!("bench `{name}` failed ({status})"));
        }
    }
    eprintln!("(`cargo xtask bench` took {:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

/// Builds the `codex-bench` binary and returns its path.
fn build_bench(release: bool) -> Result<PathBuf, String> {
    let mut args = vec!["build", "--package", "codex-driver-bench", "--bin", "codex-bench"];
    if release {
        args.push("--release");
    }
    args.push("--message-format=json-render-diagnostics");
    let output = cargo_command(&args).stderr(Stdio::inherit()).output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err("building codex-bench failed".into());
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "codex-bench")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "cargo reported no codex-bench executable".into())
}

/// The machine, as a markdown list: CPU model, cores, memory, rustc, load average.
fn machine() -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let field = |name: &str| {
        cpuinfo.lines().find_map(|l| {
            let (key, value) = l.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_owned())
        })
    };
    let cpu = format!(
        "{} (family {}, model {}, {} MHz)",
        field("model name").unwrap_or_else(|| "unknown CPU".into()),
        field("cpu family").unwrap_or_default(),
        field("model").unwrap_or_default(),
        field("cpu MHz").and_then(|m| m.parse::<f64>().ok()).map_or(String::new(), |m| format!("{m:.0}")),
    );
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kib: f64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let load = load_average();
    format!(
        "- machine: {cpu}, {cores} cores, {:.1} GiB RAM, Linux {}\n- {rustc}\n- load average at start (1, 5, 15 min): {load}\n",
        mem_kib / 1024.0 / 1024.0,
        read("/proc/sys/kernel/osrelease").trim(),
    )
}

/// `cargo xtask compile-times [--runs N] [--keep]`: build times of the SDK and of an example
/// that uses it, in a throw-away copy of the workspace with its own target dir (so touching
/// files never disturbs the checkout's builds): clean builds of the SDK with its default
/// features and with the attach features (`websocket,tls,jwt`: what their dependencies add),
/// the SDK crate alone with each, a clean build of the example, then N incremental rebuilds
/// (median) after touching a handwritten SDK source and the example.
pub fn compile_times(args: &[String]) -> Result<(), String> {
    let mut runs = 3usize;
    let mut peer_rounds = 2usize;
    let mut keep = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--runs" => {
                runs =
                    it.next().and_then(|n| n.parse().ok()).filter(|n| *n > 0).ok_or("--runs needs a positive number")?
            }
            "--peer-rounds" => {
                peer_rounds = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or("--peer-rounds needs a positive number")?
            }
            "--keep" => keep = true,
            other => {
                return Err(format!(
                "unknown argument `{other}` (usage: cargo xtask compile-times [--runs N] [--peer-rounds N] [--keep])"
            ))
            }
        }
    }
    // Under the target dir in use (`CARGO_TARGET_DIR`, else `target/`), removed afterwards.
    let scratch =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from).join("compile-times");
    let scratch = std::path::absolute(&scratch).map_err(|e| e.to_string())?;
    let workspace = scratch.join("workspace");
    let target = scratch.join("target");
    let _ = std::fs::remove_dir_all(&scratch);
    copy_workspace(&root(), &workspace).map_err(|e| format!("copying the workspace: {e}"))?;
    // Wall time, and the CPU time (user + system) of the whole cargo process tree: CPU time
    // is what competing load disturbs least, so the comparisons are made on both.
    let build = |args: &[&str]| timed_cargo(args, &workspace, &target, &scratch);
    let touch = |file: &str| -> Result<(), String> {
        let path = workspace.join(file);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(SystemTime::now()))
            .map_err(|e| format!("touching {}: {e}", path.display()))
    };
    const LIB: &[&str] = &["build", "-p", "codex-driver"];
    const LIB_ATTACH: &[&str] = &["build", "-p", "codex-driver", "--features", "websocket,tls,jwt"];
    const EXAMPLE: &[&str] = &["build", "-p", "codex-driver", "--example", "quickstart"];
    const SDK_FILE: &str = "sdk/src/thread.rs";
    const EXAMPLE_FILE: &str = "sdk/examples/quickstart.rs";

    let (started, machine) = (Instant::now(), machine());
    let clean_lib = build(LIB)?;
    build(&["clean", "-p", "codex-driver"])?;
    let sdk_only = build(LIB)?;
    // The attach features from an empty target dir again: what their dependencies add.
    let _ = std::fs::remove_dir_all(&target);
    let clean_attach = build(LIB_ATTACH)?;
    build(&["clean", "-p", "codex-driver"])?;
    let sdk_only_attach = build(LIB_ATTACH)?;
    let _ = std::fs::remove_dir_all(&target);
    let clean_example = build(EXAMPLE)?;
    build(LIB)?; // both feature sets of the SDK built once before the incremental runs
    let (mut lib_after_sdk, mut example_after_sdk, mut example_after_example) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        touch(SDK_FILE)?;
        lib_after_sdk.push(build(LIB)?);
        example_after_sdk.push(build(EXAMPLE)?);
        touch(EXAMPLE_FILE)?;
        example_after_example.push(build(EXAMPLE)?);
    }
    let peer = peer_builds(&workspace, &scratch, peer_rounds)?;
    if !keep {
        let _ = std::fs::remove_dir_all(&scratch);
    }

    println!("\n### Compile times\n");
    print!("{machine}");
    println!("- load average at the end (1, 5, 15 min): {}", load_average());
    println!(
        "- dev profile, a fresh copy of the workspace, its own target dir; wall time, and CPU time \
         (user + system of cargo and everything it ran); incremental rows: median (min – max) of {runs} runs\n"
    );
    let secs = |s: f64| format!("{s:.1} s");
    let cpu = |t: &Timing| t.cpu.map_or_else(|| "n/a".to_owned(), secs);
    print_markdown_table(&["build", "time", "CPU time", "peak RSS of one process"], &peer.rows());
    println!();
    let spread = |v: &[Timing], of: &dyn Fn(&Timing) -> Option<f64>| {
        let mut sorted: Vec<f64> = v.iter().filter_map(of).collect();
        if sorted.len() != v.len() {
            return "n/a".to_owned();
        }
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        format!("{} ({} – {})", secs(median), secs(sorted[0]), secs(sorted[sorted.len() - 1]))
    };
    let wall_of = |t: &Timing| Some(t.wall);
    let cpu_of = |t: &Timing| t.cpu;
    // `value (+difference, ratio×)` against the default-feature build.
    let versus = |value: Option<f64>, base: Option<f64>| match (value, base) {
        (Some(v), Some(b)) => format!("{} ({:+.1} s, {:.2}×)", secs(v), v - b, v / b),
        (Some(v), None) => secs(v),
        _ => "n/a".to_owned(),
    };
    let peak = |ts: &[Timing]| {
        let kib = ts.iter().filter_map(|t| t.peak_rss_kib).max();
        kib.map_or_else(|| "n/a".to_owned(), |k| format!("{:.2} GB", k as f64 * 1024.0 / 1e9))
    };
    let rows: Vec<Vec<String>> = vec![
        vec![
            "clean: `cargo build -p codex-driver` (the SDK and its dependencies)".to_owned(),
            secs(clean_lib.wall),
            cpu(&clean_lib),
            peak(std::slice::from_ref(&clean_lib)),
        ],
        vec![
            "the SDK crate alone (`cargo clean -p codex-driver`, dependencies built)".to_owned(),
            secs(sdk_only.wall),
            cpu(&sdk_only),
            peak(std::slice::from_ref(&sdk_only)),
        ],
        vec![
            "clean: `cargo build -p codex-driver --features websocket,tls,jwt` (vs the default features)".to_owned(),
            versus(Some(clean_attach.wall), Some(clean_lib.wall)),
            versus(clean_attach.cpu, clean_lib.cpu),
            peak(std::slice::from_ref(&clean_attach)),
        ],
        vec![
            "the SDK crate alone, `--features websocket,tls,jwt` (vs the default features)".to_owned(),
            versus(Some(sdk_only_attach.wall), Some(sdk_only.wall)),
            versus(sdk_only_attach.cpu, sdk_only.cpu),
            peak(std::slice::from_ref(&sdk_only_attach)),
        ],
        vec![
            "clean: `cargo build -p codex-driver --example quickstart` (SDK with `testing`, dev-dependencies, example)"
                .to_owned(),
            secs(clean_example.wall),
            cpu(&clean_example),
            peak(std::slice::from_ref(&clean_example)),
        ],
        vec![
            "incremental: touch `sdk/src/thread.rs`, `cargo build -p codex-driver`".to_owned(),
            spread(&lib_after_sdk, &wall_of),
            spread(&lib_after_sdk, &cpu_of),
            peak(&lib_after_sdk),
        ],
        vec![
            "incremental: touch `sdk/src/thread.rs`, build the example".to_owned(),
            spread(&example_after_sdk, &wall_of),
            spread(&example_after_sdk, &cpu_of),
            peak(&example_after_sdk),
        ],
        vec![
            "incremental: touch `sdk/examples/quickstart.rs`, build the example".to_owned(),
            spread(&example_after_example, &wall_of),
            spread(&example_after_example, &cpu_of),
            peak(&example_after_example),
        ],
    ];
    print_markdown_table(&["build", "time", "CPU time", "peak RSS of one process"], &rows);
    eprintln!("(`cargo xtask compile-times` took {:.0} s)", started.elapsed().as_secs_f64());
    Ok(())
}

/// One build's wall time and the CPU time of its process tree, in seconds, and the peak
/// resident memory of its largest process.
struct Timing {
    wall: f64,
    /// `None` where `/proc/self/stat` is not available.
    cpu: Option<f64>,
    /// Peak RSS in KiB of the largest process cargo ran (a rustc, in practice), from GNU
    /// time's `%M` (`ru_maxrss` of cargo, which covers every descendant it waited for);
    /// `None` without `/usr/bin/time`.
    peak_rss_kib: Option<u64>,
}

/// GNU time, which reports the peak RSS of the largest process in a tree.
const GNU_TIME: &str = "/usr/bin/time";

/// Runs `cargo args` in `dir` with `target` as its target dir, timed.
fn timed_cargo(args: &[&str], dir: &Path, target: &Path, scratch: &Path) -> Result<Timing, String> {
    let rss_file = scratch.join("peak-rss");
    let _ = std::fs::remove_file(&rss_file);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = if Path::new(GNU_TIME).exists() {
        let mut c = Command::new(GNU_TIME);
        c.arg("-f").arg("%M").arg("-o").arg(&rss_file).arg(&cargo);
        c
    } else {
        Command::new(&cargo)
    };
    println!("$ cargo {}   (in {})", args.join(" "), dir.display());
    command.args(args).current_dir(dir).env("CARGO_TARGET_DIR", target);
    let (started, cpu0) = (Instant::now(), children_cpu());
    let output = command.output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!("`cargo {}` failed:\n{}", args.join(" "), String::from_utf8_lossy(&output.stderr)));
    }
    Ok(Timing {
        wall: started.elapsed().as_secs_f64(),
        cpu: children_cpu().zip(cpu0).map(|(after, before)| after - before),
        peak_rss_kib: std::fs::read_to_string(&rss_file).ok().and_then(|s| s.trim().parse().ok()),
    })
}

/// The peer crate of the comparison, pinned: a typed Rust client of the same protocol.
const PEER: (&str, &str) = ("codex-codes", "=0.166.4");

/// Clean builds of three throw-away bin crates, as a user would make them: one depending on
/// the SDK (default features; the workspace's lock file), one on [`PEER`]; each its own
/// workspace and target dir, emptied before every build, incremental compilation off (so
/// the SDK, a path dependency here, builds as it would from crates.io); `rounds` × (SDK,
/// peer, floor) in the dev profile, then one release build of the SDK's and the peer's.
/// The floor is a third bin crate with the SDK's own dependencies alone (the same
/// versions and features, none of the SDK's crates): what no change to the SDK's code can
/// take off its build.
struct PeerBuilds {
    rounds: Vec<Round>,
    release: (Timing, Timing),
}

/// One dev round: the user crate on the SDK, on the peer, and on the SDK's dependencies.
struct Round {
    sdk: Timing,
    peer: Timing,
    floor: Timing,
}

fn peer_builds(workspace: &Path, scratch: &Path, rounds: usize) -> Result<PeerBuilds, String> {
    let lock = workspace.join("Cargo.lock");
    let sdk_user = user_crate(
        scratch,
        "user-sdk",
        &format!("codex-driver = {{ path = {:?} }}\n", workspace.join("sdk").display().to_string()),
        "println!(\"{:?}\", codex_driver::ClientConfig::default());",
        Some(&lock),
    )?;
    let peer_user = user_crate(
        scratch,
        "user-peer",
        &format!("{} = \"{}\"\n", PEER.0, PEER.1),
        "let builder = codex_codes::AppServerBuilder::new();\n    println!(\"{}\", std::mem::size_of_val(&builder));",
        None,
    )?;
    let floor_user = user_crate(
        scratch,
        "user-floor",
        &floor_dependencies(workspace)?,
        "println!(\"{}\", serde_json::json!({\"floor\": 1}));",
        Some(&lock),
    )?;
    let clean = |dir: &Path, args: &[&str]| {
        let target = dir.join("target");
        let _ = std::fs::remove_dir_all(&target);
        timed_cargo(args, dir, &target, scratch)
    };
    // Resolve and download first, so no build below pays for the registry.
    for dir in [&sdk_user, &peer_user, &floor_user] {
        timed_cargo(&["fetch"], dir, &dir.join("target"), scratch)?;
    }
    let mut measured = Vec::new();
    for _ in 0..rounds {
        let sdk = clean(&sdk_user, &["build"])?;
        let peer = clean(&peer_user, &["build"])?;
        let floor = clean(&floor_user, &["build"])?;
        measured.push(Round { sdk, peer, floor });
    }
    let release = (clean(&sdk_user, &["build", "--release"])?, clean(&peer_user, &["build", "--release"])?);
    Ok(PeerBuilds { rounds: measured, release })
}

/// A throw-away bin crate `scratch/name` as a user makes it: its own workspace, these
/// `[dependencies]` lines, `main` as the body of `fn main`, the given lock file if any. The
/// SDK is a path dependency in one of them, and cargo builds path dependencies
/// incrementally (extra work and memory on a clean build); from crates.io it is not, like
/// the peer: so none of them builds incrementally.
fn user_crate(
    scratch: &Path,
    name: &str,
    dependencies: &str,
    main: &str,
    lock: Option<&Path>,
) -> Result<PathBuf, String> {
    let dir = scratch.join(name);
    let write = |path: PathBuf, text: String| {
        std::fs::create_dir_all(path.parent().expect("a parent")).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\n{dependencies}\n[workspace]\n"
        ),
    )?;
    write(dir.join("src/main.rs"), format!("fn main() {{\n    {main}\n}}\n"))?;
    write(
        dir.join(".cargo/config.toml"),
        "# The crate's dependencies build as crates.io dependencies do: not incrementally.\n\
         [build]\nincremental = false\n"
            .into(),
    )?;
    if let Some(lock) = lock {
        std::fs::copy(lock, dir.join("Cargo.lock")).map_err(|e| e.to_string())?;
    }
    Ok(dir)
}

/// The floor's `[dependencies]`: the SDK's direct normal dependencies, each at the version
/// and with the features the SDK's build resolves (`cargo tree`), none of the workspace's
/// own crates.
fn floor_dependencies(workspace: &Path) -> Result<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["tree", "-p", "codex-driver", "-e", "normal", "--depth", "1", "--prefix", "none", "-f", "{p} [{f}]"])
        .current_dir(workspace)
        .output()
        .map_err(|e| format!("cargo tree: {e}"))?;
    if !output.status.success() {
        return Err(format!("cargo tree failed:\n{}", String::from_utf8_lossy(&output.stderr)));
    }
    let mut dependencies = String::new();
    for line in String::from_utf8_lossy(&output.stdout).lines().skip(1) {
        dependencies.push_str(&floor_dependency(line)?.unwrap_or_default());
    }
    if dependencies.is_empty() {
        return Err("`cargo tree` listed no registry dependency of the SDK".into());
    }
    Ok(dependencies)
}

/// One `cargo tree -f "{p} [{f}]"` line as a manifest line pinning that version with those
/// features: `name vX.Y.Z [feature,…]`, with ` (proc-macro)` after the version for a
/// proc-macro crate and ` (<source>)` for one not from crates.io — a path (the workspace's
/// own crates: `None`) or anything else (an error: the floor is built from the registry).
fn floor_dependency(line: &str) -> Result<Option<String>, String> {
    let unparsable = || format!("cannot read the `cargo tree` line {line:?} as a crates.io dependency");
    let mut parts = line.splitn(3, ' ');
    let (Some(name), Some(version), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(unparsable());
    };
    let rest = rest.strip_prefix("(proc-macro) ").unwrap_or(rest);
    if rest.starts_with("(/") {
        return Ok(None);
    }
    let features = rest.trim().strip_prefix('[').and_then(|f| f.strip_suffix(']')).ok_or_else(unparsable)?;
    let features: Vec<String> = features.split(',').filter(|f| !f.is_empty()).map(|f| format!("{f:?}")).collect();
    let version = version.strip_prefix('v').ok_or_else(unparsable)?;
    Ok(Some(format!(
        "{name} = {{ version = \"={version}\", default-features = false, features = [{}] }}\n",
        features.join(", ")
    )))
}

impl PeerBuilds {
    /// Markdown rows: each round, the medians of the dev rounds with their ratios, release.
    fn rows(&self) -> Vec<Vec<String>> {
        let secs = |s: f64| format!("{s:.1} s");
        let opt_secs = |s: Option<f64>| s.map_or_else(|| "n/a".to_owned(), secs);
        let gib = |k: Option<u64>| k.map_or_else(|| "n/a".to_owned(), |k| format!("{:.2} GB", k as f64 * 1024.0 / 1e9));
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied()
        };
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
            _ => "n/a".to_owned(),
        };
        let mut rows = Vec::new();
        let user = "clean dev build of a bin crate depending on";
        for (i, round) in self.rounds.iter().enumerate() {
            for (who, t) in [
                ("`codex-driver` (default features)", &round.sdk),
                ("`codex-codes = \"=0.166.4\"`", &round.peer),
                ("the SDK's dependencies alone (the floor)", &round.floor),
            ] {
                rows.push(vec![
                    format!("round {}: {user} {who}", i + 1),
                    secs(t.wall),
                    opt_secs(t.cpu),
                    gib(t.peak_rss_kib),
                ]);
            }
        }
        let of = |f: &dyn Fn(&Round) -> Option<f64>| median(self.rounds.iter().filter_map(f).collect());
        let max_rss = |f: &dyn Fn(&Round) -> Option<u64>| self.rounds.iter().filter_map(f).max().map(|k| k as f64);
        // Wall and CPU (medians), peak RSS (the larger round) of one crate's builds.
        let figures = |build: fn(&Round) -> &Timing| {
            (of(&|r| Some(build(r).wall)), of(&|r| build(r).cpu), max_rss(&|r| build(r).peak_rss_kib))
        };
        let (sdk, peer, floor) = (figures(|r| &r.sdk), figures(|r| &r.peer), figures(|r| &r.floor));
        let rounds = self.rounds.len();
        for (label, a, b) in [
            (format!("**SDK / peer**, dev (medians of {rounds} rounds; peak: the larger round)"), sdk, peer),
            (format!("**floor / peer**, dev (medians of {rounds} rounds; peak: the larger round)"), floor, peer),
        ] {
            rows.push(vec![label, ratio(a.0, b.0), ratio(a.1, b.1), ratio(a.2, b.2)]);
        }
        let (sdk, peer) = &self.release;
        for (who, t) in [("`codex-driver`", sdk), ("`codex-codes`", peer)] {
            rows.push(vec![
                format!("clean release build of a bin crate depending on {who}"),
                secs(t.wall),
                opt_secs(t.cpu),
                gib(t.peak_rss_kib),
            ]);
        }
        rows.push(vec![
            "**SDK / peer**, release".into(),
            ratio(Some(sdk.wall), Some(peer.wall)),
            ratio(sdk.cpu, peer.cpu),
            ratio(sdk.peak_rss_kib.map(|k| k as f64), peer.peak_rss_kib.map(|k| k as f64)),
        ]);
        rows
    }
}

/// Prints a markdown table with padded columns.
fn print_markdown_table(header: &[&str], rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([header[i].chars().count()]).max().unwrap_or(0))
        .collect();
    let line = |cells: Vec<String>| {
        let cells: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("| {} |", cells.join(" | "));
    };
    line(header.iter().map(|h| h.to_string()).collect());
    println!("|-{}-|", widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("-|-"));
    for row in rows {
        line(row.clone());
    }
}

/// User + system CPU time of this process's waited-for children and their waited-for
/// descendants (`cutime + cstime` of `/proc/self/stat`, in USER_HZ = 100 ticks per second):
/// after cargo exits, it includes every rustc, build script and linker cargo waited for.
fn children_cpu() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces):
    // `rest` starts at field 3, so cutime (16) and cstime (17) are at indices 13 and 14.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let cutime: u64 = fields.get(13)?.parse().ok()?;
    let cstime: u64 = fields.get(14)?.parse().ok()?;
    Some((cutime + cstime) as f64 / 100.0)
}

/// The load average (1, 5, 15 min), as /proc/loadavg gives it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Copies the workspace at `from` to `to`, without any `target/` directory and `.git/`.
fn copy_workspace(from: &Path, to: &Path) -> std::io::Result<()> {
    let kind = std::fs::symlink_metadata(from)?.file_type();
    if kind.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            let name = entry.file_name();
            if name == "target" || name == ".git" {
                continue;
            }
            copy_workspace(&entry.path(), &to.join(name))?;
        }
    } else if kind.is_file() {
        std::fs::copy(from, to)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{floor_dependencies, floor_dependency, root, user_crate};
    use std::process::Command;

    #[test]
    fn a_user_crate_is_a_manifest_cargo_reads_and_not_incremental() {
        let scratch = std::env::temp_dir().join(format!("xtask-user-crate-{}", std::process::id()));
        let dir = user_crate(&scratch, "user-check", "serde = \"1\"\n", "println!(\"hi\");", None).unwrap();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let output = Command::new(cargo)
            .args(["read-manifest", "--manifest-path"])
            .arg(dir.join("Cargo.toml"))
            .output()
            .unwrap();
        let manifest = String::from_utf8_lossy(&output.stdout).into_owned();
        let config = std::fs::read_to_string(dir.join(".cargo/config.toml")).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&scratch);
        assert!(config.contains("incremental = false"), "{config}");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert!(manifest.contains(r#""name":"user-check""#) && manifest.contains(r#""name":"serde""#), "{manifest}");
    }

    #[test]
    fn the_floor_of_this_workspace_is_the_sdks_registry_dependencies() {
        let manifest = floor_dependencies(&root()).unwrap();
        for dependency in ["tokio = ", "serde = ", "serde_json = ", "schemars = "] {
            assert!(manifest.contains(dependency), "{dependency} missing from\n{manifest}");
        }
        assert!(!manifest.contains("codex-driver"), "{manifest}");
    }

    #[test]
    fn the_floor_pins_registry_dependencies_and_leaves_out_the_workspace() {
        assert_eq!(
            floor_dependency("tokio v1.54.1 [io-util,macros,rt]").unwrap().unwrap(),
            "tokio = { version = \"=1.54.1\", default-features = false, features = [\"io-util\", \"macros\", \"rt\"] }\n"
        );
        assert_eq!(
            floor_dependency("serde_derive v1.0.229 (proc-macro) []").unwrap().unwrap(),
            "serde_derive = { version = \"=1.0.229\", default-features = false, features = [] }\n"
        );
        assert_eq!(floor_dependency("codex-driver-protocol-inbound v0.1.0 (/work/sdk/protocol/inbound) []"), Ok(None));
        for line in ["foo v1.0.0 (https://github.com/a/foo#0123abc) []", "foo", "foo 1.0.0 []", "foo v1.0.0 bar"] {
            assert!(floor_dependency(line).is_err(), "{line}");
        }
    }
}
