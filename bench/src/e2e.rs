//! `codex-bench e2e`: whole turns through the real pinned app-server, the SDK's
//! `Thread::run` against a minimal hand-rolled client ([`RawClient`]).
//!
//! Each client has its own app-server process and isolated `CODEX_HOME`; both talk to one
//! scripted mock model running in a separate process (so its CPU is nobody's). Turns
//! alternate between the clients (A B, B A, A B, …) so that machine noise hits both alike.
//! Per turn: wall time, this process's CPU time (getrusage) and the app-server's
//! (`/proc/<pid>/stat`).

use std::time::{Duration, Instant};

use codex_app_server::testing::{pinned_cli, CodexHome};
use codex_app_server::{Codex, ThreadOptions};

use crate::measure::{median, percentile, process_cpu, self_cpu, Table};
use crate::mock::{MockProcess, ANSWER};
use crate::raw_client::RawClient;

/// The user message of every turn.
pub const PROMPT: &str = "Stream the benchmark answer.";

/// Settings of the end-to-end bench.
#[derive(Debug, Clone)]
pub struct Options {
    /// Measured turns per client.
    pub turns: usize,
    /// Unmeasured turns per client first.
    pub warmup: usize,
    /// Deltas of each answer.
    pub deltas: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Sdk,
    Raw,
}

/// Per-turn measurements of one client.
#[derive(Default)]
struct Samples {
    wall: Vec<f64>,
    client_cpu: Duration,
    server_cpu: Duration,
    notifications: u64,
}

/// Notifications a client has received so far: the SDK's connection counter; the lines the
/// hand-rolled client read, minus one response per request it sent.
fn notifications_seen(who: Client, codex: &Codex, raw: &RawClient) -> u64 {
    match who {
        Client::Sdk => codex.connection().stats().notifications_received,
        Client::Raw => raw.lines_read() - raw.requests_sent(),
    }
}

/// Runs the bench and prints its tables.
pub fn run(options: &Options) -> Result<(), String> {
    let bin = pinned_cli::locate()
        .map_err(|e| format!("{e} (run `cargo xtask install-codex` or set CODEX_BIN)"))?;
    let total = options.warmup + options.turns;
    let mock = MockProcess::start(2 * total, options.deltas)?;
    let home_sdk = CodexHome::new(mock.base_url()).map_err(|e| e.to_string())?;
    let home_raw = CodexHome::new(mock.base_url()).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;

    let codex = runtime
        .block_on(Codex::new(home_sdk.client_config(&bin)))
        .map_err(|e| format!("SDK connect: {e}\n{}", home_sdk.stderr_text()))?;
    let thread = runtime
        .block_on(codex.thread_start(ThreadOptions::default()))
        .map_err(|e| format!("SDK thread/start: {e}"))?;
    let sdk_pid = codex
        .connection()
        .pid()
        .ok_or("the SDK's app-server has no pid")?;
    let command = home_raw
        .app_server_std_command(&bin)
        .map_err(|e| e.to_string())?;
    let mut raw =
        RawClient::start(command).map_err(|e| format!("{e}\n{}", home_raw.stderr_text()))?;
    let raw_thread = raw.thread_start()?;
    let raw_pid = raw.pid();

    let mut sdk = Samples::default();
    let mut hand = Samples::default();
    for i in 0..total {
        let order = if i % 2 == 0 {
            [Client::Sdk, Client::Raw]
        } else {
            [Client::Raw, Client::Sdk]
        };
        for who in order {
            let pid = if who == Client::Sdk { sdk_pid } else { raw_pid };
            let seen0 = notifications_seen(who, &codex, &raw);
            let server0 = process_cpu(pid).map_err(|e| e.to_string())?;
            let (cpu0, t0) = (self_cpu(), Instant::now());
            let answer = match who {
                Client::Sdk => runtime
                    .block_on(thread.run(PROMPT))
                    .map(|r| r.final_response().unwrap_or_default().to_owned())
                    .map_err(|e| format!("SDK turn: {e}"))?,
                Client::Raw => raw.run_turn(&raw_thread, PROMPT)?,
            };
            let (wall, cpu) = (t0.elapsed(), self_cpu() - cpu0);
            let server = process_cpu(pid).map_err(|e| e.to_string())? - server0;
            if answer != ANSWER {
                return Err(format!("{who:?} turn {i} answered {answer:?}"));
            }
            if i < options.warmup {
                continue;
            }
            let samples = if who == Client::Sdk {
                &mut sdk
            } else {
                &mut hand
            };
            samples.wall.push(wall.as_secs_f64());
            samples.client_cpu += cpu;
            samples.server_cpu += server;
            samples.notifications += notifications_seen(who, &codex, &raw) - seen0;
        }
    }
    runtime.block_on(codex.close());
    raw.close();
    let summary = mock.finish()?;
    if summary.requests != 2 * total || summary.unscripted != 0 {
        return Err(format!(
            "the mock model expected {} requests, saw {summary:?}",
            2 * total
        ));
    }
    report(options, &sdk, &hand);
    Ok(())
}

fn report(options: &Options, sdk: &Samples, hand: &Samples) {
    let n = options.turns.max(1) as f64;
    let ms = |s: f64| format!("{:.2} ms", s * 1e3);
    println!("### End-to-end turns\n");
    println!(
        "{} measured turns per client (after {} warm-up turns), each answering with {} deltas, through the real \
         app-server (Codex CLI {}), one app-server per client, turns alternating between the clients. \
         Client CPU is this process's (getrusage); the mock model runs in another process.\n",
        options.turns,
        options.warmup,
        options.deltas,
        codex_app_server::testing::pinned_cli::PINNED_CODEX_VERSION,
    );
    let mut table = Table::new(&[
        "client",
        "median wall / turn",
        "p10 – p90",
        "client CPU / turn",
        "app-server CPU / turn",
        "notifications / turn",
    ]);
    for (label, s) in [
        ("SDK: `Thread::run`", sdk),
        ("hand-rolled: `std::process` + `serde_json::Value`", hand),
    ] {
        table.row(vec![
            label.to_owned(),
            ms(median(&s.wall)),
            format!(
                "{} – {}",
                ms(percentile(&s.wall, 0.1)),
                ms(percentile(&s.wall, 0.9))
            ),
            ms(s.client_cpu.as_secs_f64() / n),
            ms(s.server_cpu.as_secs_f64() / n),
            format!("{:.1}", s.notifications as f64 / n),
        ]);
    }
    println!("{}", table.render());
    let (a, b) = (median(&sdk.wall), median(&hand.wall));
    let paired: Vec<f64> = sdk
        .wall
        .iter()
        .zip(&hand.wall)
        .map(|(x, y)| x - y)
        .collect();
    let (ca, cb) = (
        sdk.client_cpu.as_secs_f64() / n,
        hand.client_cpu.as_secs_f64() / n,
    );
    let mut overhead = Table::new(&["SDK vs hand-rolled", "per turn", "ratio"]);
    overhead.row(vec![
        "wall time (difference of medians)".into(),
        format!("{:+.0} µs", (a - b) * 1e6),
        format!("{:.3}×", a / b),
    ]);
    overhead.row(vec![
        "wall time (median of paired differences)".into(),
        format!("{:+.0} µs", median(&paired) * 1e6),
        String::new(),
    ]);
    overhead.row(vec![
        "client CPU".into(),
        format!("{:+.0} µs", (ca - cb) * 1e6),
        format!("{:.2}×", ca / cb),
    ]);
    println!("{}", overhead.render());
}
