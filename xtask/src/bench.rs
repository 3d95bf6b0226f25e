//! `cargo xtask bench` (the `bench/` crate's benchmarks) and `cargo xtask compile-times`.
//! Both print markdown for BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime};

use super::{cargo_command, install_codex, root};

/// The benchmarks of `codex-bench`, in the order `cargo xtask bench` runs them.
const BENCHES: &[&str] = &["decode", "e2e", "memory"];

/// `cargo xtask bench [--smoke] [decode|e2e|memory]… [--turns N …]`: builds `codex-bench`
/// (release; the dev profile with `--smoke`) and runs each named bench (default: all) in
/// its own process, so that one bench's allocations never show in another's memory
/// figures. Every other argument is passed on to each bench.
pub fn bench(args: &[String]) -> Result<(), String> {
    let smoke = args.iter().any(|a| a == "--smoke");
    let mut names = Vec::new();
    let mut pass = Vec::new();
    for arg in args {
        if BENCHES.contains(&arg.as_str()) {
            names.push(arg.as_str());
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
    let mut args = vec!["build", "--package", "codex-app-server-bench", "--bin", "codex-bench"];
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
    let mut keep = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--runs" => {
                runs =
                    it.next().and_then(|n| n.parse().ok()).filter(|n| *n > 0).ok_or("--runs needs a positive number")?
            }
            "--keep" => keep = true,
            other => {
                return Err(format!(
                    "unknown argument `{other}` (usage: cargo xtask compile-times [--runs N] [--keep])"
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
    let build = |args: &[&str]| -> Result<Timing, String> {
        let (started, cpu0) = (Instant::now(), children_cpu());
        let output = cargo_command(args)
            .current_dir(&workspace)
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(format!("`cargo {}` failed:\n{}", args.join(" "), String::from_utf8_lossy(&output.stderr)));
        }
        Ok(Timing {
            wall: started.elapsed().as_secs_f64(),
            cpu: children_cpu().zip(cpu0).map(|(after, before)| after - before),
        })
    };
    let touch = |file: &str| -> Result<(), String> {
        let path = workspace.join(file);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(SystemTime::now()))
            .map_err(|e| format!("touching {}: {e}", path.display()))
    };
    const LIB: &[&str] = &["build", "-p", "codex-app-server"];
    const LIB_ATTACH: &[&str] = &["build", "-p", "codex-app-server", "--features", "websocket,tls,jwt"];
    const EXAMPLE: &[&str] = &["build", "-p", "codex-app-server", "--example", "quickstart"];
    const SDK_FILE: &str = "sdk/src/thread.rs";
    const EXAMPLE_FILE: &str = "sdk/examples/quickstart.rs";

    let (started, machine) = (Instant::now(), machine());
    let clean_lib = build(LIB)?;
    build(&["clean", "-p", "codex-app-server"])?;
    let sdk_only = build(LIB)?;
    // The attach features from an empty target dir again: what their dependencies add.
    let _ = std::fs::remove_dir_all(&target);
    let clean_attach = build(LIB_ATTACH)?;
    build(&["clean", "-p", "codex-app-server"])?;
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
    let rows: Vec<(&str, String, String)> = vec![
        (
            "clean: `cargo build -p codex-app-server` (the SDK and its dependencies)",
            secs(clean_lib.wall),
            cpu(&clean_lib),
        ),
        (
            "the SDK crate alone (`cargo clean -p codex-app-server`, dependencies built)",
            secs(sdk_only.wall),
            cpu(&sdk_only),
        ),
        (
            "clean: `cargo build -p codex-app-server --features websocket,tls,jwt` (vs the default features)",
            versus(Some(clean_attach.wall), Some(clean_lib.wall)),
            versus(clean_attach.cpu, clean_lib.cpu),
        ),
        (
            "the SDK crate alone, `--features websocket,tls,jwt` (vs the default features)",
            versus(Some(sdk_only_attach.wall), Some(sdk_only.wall)),
            versus(sdk_only_attach.cpu, sdk_only.cpu),
        ),
        (
            "clean: `cargo build -p codex-app-server --example quickstart` (SDK with `testing`, dev-dependencies, example)",
            secs(clean_example.wall),
            cpu(&clean_example),
        ),
        (
            "incremental: touch `sdk/src/thread.rs`, `cargo build -p codex-app-server`",
            spread(&lib_after_sdk, &wall_of),
            spread(&lib_after_sdk, &cpu_of),
        ),
        (
            "incremental: touch `sdk/src/thread.rs`, build the example",
            spread(&example_after_sdk, &wall_of),
            spread(&example_after_sdk, &cpu_of),
        ),
        (
            "incremental: touch `sdk/examples/quickstart.rs`, build the example",
            spread(&example_after_example, &wall_of),
            spread(&example_after_example, &cpu_of),
        ),
    ];
    let width = |column: fn(&(&str, String, String)) -> usize, title: &str| {
        rows.iter().map(column).chain([title.chars().count()]).max().unwrap_or(0)
    };
    let w0 = width(|r| r.0.chars().count(), "build");
    let w1 = width(|r| r.1.chars().count(), "time");
    let w2 = width(|r| r.2.chars().count(), "CPU time");
    println!("| {:<w0$} | {:<w1$} | {:<w2$} |", "build", "time", "CPU time");
    println!("|-{}-|-{}-|-{}-|", "-".repeat(w0), "-".repeat(w1), "-".repeat(w2));
    for (build, time, cpu) in rows {
        println!("| {build:<w0$} | {time:<w1$} | {cpu:<w2$} |");
    }
    eprintln!("(`cargo xtask compile-times` took {:.0} s)", started.elapsed().as_secs_f64());
    Ok(())
}

/// One build's wall time and the CPU time of its process tree, in seconds.
struct Timing {
    wall: f64,
    /// `None` where `/proc/self/stat` is not available.
    cpu: Option<f64>,
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
