//! `codex-bench memory`: the resident memory of a process holding a connected client, before
//! connecting, after `thread/start` × N, and after one turn on each thread. The app-server
//! and the mock model are other processes and are not counted.

use codex_driver::testing::{pinned_cli, CodexHome};
use codex_driver::{Codex, ThreadOptions};

use crate::e2e::PROMPT;
use crate::measure::{memory, Memory, Table};
use crate::mock::{MockProcess, ANSWER};

/// Settings of the memory bench.
#[derive(Debug, Clone)]
pub struct Options {
    /// Threads started on the one connection.
    pub threads: usize,
    /// Deltas of each answer.
    pub deltas: usize,
}

/// Runs the bench and prints its table.
pub fn run(options: &Options) -> Result<(), String> {
    let mem = || memory().map_err(|e| e.to_string());
    let start = mem()?;
    let bin = pinned_cli::locate().map_err(|e| format!("{e} (run `cargo xtask install-codex` or set CODEX_BIN)"))?;
    let mock = MockProcess::start(options.threads, options.deltas)?;
    let home = CodexHome::new(mock.base_url()).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let workers = runtime.metrics().num_workers();
    let before = mem()?;
    let codex = runtime
        .block_on(Codex::spawn(home.client_config(&bin)))
        .map_err(|e| format!("connect: {e}\n{}", home.stderr_text()))?;
    let connected = mem()?;
    let mut threads = Vec::new();
    for _ in 0..options.threads {
        let thread = runtime
            .block_on(codex.thread_start(&ThreadOptions::default()))
            .map_err(|e| format!("thread/start: {e}"))?;
        threads.push(thread);
    }
    let started = mem()?;
    for thread in &threads {
        let result = runtime.block_on(thread.run(PROMPT)).map_err(|e| format!("turn: {e}"))?;
        if result.final_response() != Some(ANSWER) {
            return Err(format!("unexpected answer {:?}", result.final_response()));
        }
    }
    let turned = mem()?;
    runtime.block_on(codex.close());
    let summary = mock.finish()?;
    if summary.requests != options.threads || summary.unscripted != 0 {
        return Err(format!("the mock model expected {} requests, saw {summary:?}", options.threads));
    }

    println!("### Client memory\n");
    println!(
        "One process, one connection, {n} threads ({workers}-worker Tokio runtime); each answer has {d} deltas. \
         VmRSS / VmHWM from /proc/self/status; the app-server and the mock model are other processes.\n",
        n = options.threads,
        d = options.deltas,
    );
    let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
    let mut table = Table::new(&["stage", "VmRSS", "VmHWM", "RSS since before connecting"]);
    for (stage, m) in [
        ("process start".to_owned(), start),
        ("Tokio runtime started, before connecting".to_owned(), before),
        ("connected (`Codex::spawn`: spawn + initialize)".to_owned(), connected),
        (format!("+ {} × `thread_start`", options.threads), started),
        (format!("+ one {}-delta turn on each thread", options.deltas), turned),
    ] {
        let Memory { rss_kib, hwm_kib } = m;
        let delta = rss_kib as i64 - before.rss_kib as i64;
        table.row(vec![stage, mib(rss_kib), mib(hwm_kib), format!("{:+.1} MiB", delta as f64 / 1024.0)]);
    }
    println!("{}", table.render());
    Ok(())
}
