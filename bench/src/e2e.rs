//! `codex-bench e2e`: whole turns through the real pinned app-server — the SDK's
//! `Thread::run` over stdio, a minimal hand-rolled blocking stdio client ([`RawClient`]),
//! the same hand-rolled client on Tokio ([`RawTokioClient`]), that one again with its lines
//! read by a task of their own, and the SDK's `Thread::run` attached over WebSocket.
//!
//! Each client has its own app-server process and isolated `CODEX_HOME`, all of the same
//! pinned build and the same bundled model name (so no client's server logs a warning per
//! turn): four spawned on stdio (`--listen stdio://`), one started by the testing kit
//! listening on `ws://127.0.0.1:<port>` with a capability token
//! ([`CodexHome::listen_websocket`]). All five talk to one scripted mock model running in
//! a separate process (so its CPU is nobody's). Turns rotate through ten orders of the
//! five clients (a Williams design, see [`orders`]: every client takes every place, every
//! pair runs in both orders, and every client follows every other one, equally often) so
//! that machine noise hits all alike. Per turn: wall time, this process's CPU time (getrusage) and the
//! app-server's (`/proc/<pid>/stat`).
//!
//! The Tokio clients (`--runtime current` for a current-thread runtime; the default is the
//! multi-thread one `#[tokio::main]` builds) separate what any async client pays the
//! runtime, and what a reader task handing each message to the caller pays on top (the
//! SDK's shape), from what the SDK adds.

use std::time::{Duration, Instant};

use codex_driver::attach::WebSocketEndpoint;
use codex_driver::testing::{pinned_cli, CodexHome, ServerAuth};
use codex_driver::{Codex, ThreadOptions};

use crate::measure::{median, percentile, process_cpu, self_usage, Table};
use crate::mock::{MockProcess, ANSWER};
use crate::raw_client::RawClient;
use crate::raw_tokio_client::RawTokioClient;

/// The user message of every turn.
pub const PROMPT: &str = "Stream the benchmark answer.";

/// The model every client's app-server is configured with: a bundled one, so the server
/// does not warn about an unknown model on every turn (on stderr, which the SDK reads and
/// the hand-rolled clients' servers write to a file).
const MODEL: &str = "gpt-5.5";

/// Settings of the end-to-end bench.
#[derive(Debug, Clone)]
pub struct Options {
    /// Measured turns per client.
    pub turns: usize,
    /// Unmeasured turns per client first.
    pub warmup: usize,
    /// Deltas of each answer.
    pub deltas: usize,
    /// A current-thread Tokio runtime instead of the multi-thread one.
    pub current_thread: bool,
}

/// The clients compared; the discriminant indexes their [`Samples`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    /// `Thread::run` on a spawned app-server (stdio).
    Sdk = 0,
    /// The hand-rolled stdio client.
    Raw = 1,
    /// `Thread::run` attached over WebSocket.
    Ws = 2,
    /// The hand-rolled stdio client on Tokio.
    Tokio = 3,
    /// The same, its lines read by a task of their own.
    TokioTask = 4,
}

const CLIENTS: usize = 5;

/// Every client; [`orders`] numbers them by their place here.
const ALL: [Client; CLIENTS] = [Client::Sdk, Client::Raw, Client::Ws, Client::Tokio, Client::TokioTask];

/// The orders the rounds run the clients in (round `i` takes order `i` modulo their
/// number): a Williams design — the row `0, 1, n-1, 2, n-2, …`, the `n` rows made by adding
/// `r` to each entry (mod `n`), and their reverses. Every client takes every place equally
/// often, every pair runs in both orders equally often, every client runs right after every
/// other one equally often within the rounds, and no client runs twice in a row across a
/// round's end (the last order wrapping to the first included). The balance is exact when
/// the turns are a multiple of `2 × CLIENTS`.
fn orders() -> Vec<[Client; CLIENTS]> {
    let mut first = [0; CLIENTS];
    let (mut low, mut high) = (1, CLIENTS - 1);
    for (place, slot) in first.iter_mut().enumerate().skip(1) {
        if place % 2 == 1 {
            *slot = low;
            low += 1;
        } else {
            *slot = high;
            high -= 1;
        }
    }
    let rows: Vec<[Client; CLIENTS]> = (0..CLIENTS).map(|r| first.map(|client| ALL[(client + r) % CLIENTS])).collect();
    let reverses = rows.iter().map(|row| {
        let mut row = *row;
        row.reverse();
        row
    });
    rows.iter().copied().chain(reverses).collect()
}

/// Per-turn measurements of one client.
#[derive(Default)]
struct Samples {
    /// Wall time of each measured turn, in seconds.
    wall: Vec<f64>,
    /// This process's CPU time during each measured turn, in seconds.
    cpu: Vec<f64>,
    client_cpu: Duration,
    server_cpu: Duration,
    /// This process's context switches during the measured turns.
    switches: u64,
    notifications: u64,
}

/// The clients under test.
struct Clients<'a> {
    sdk: &'a Codex,
    ws: &'a Codex,
    raw: &'a RawClient,
    tokio: &'a RawTokioClient,
    tokio_task: &'a RawTokioClient,
}

/// Notifications a client has received so far: the SDK connection's counter; the lines a
/// hand-rolled client read, minus one response per request it sent.
fn notifications_seen(who: Client, clients: &Clients<'_>) -> u64 {
    match who {
        Client::Sdk => clients.sdk.connection().stats().notifications_received,
        Client::Ws => clients.ws.connection().stats().notifications_received,
        Client::Raw => clients.raw.lines_read() - clients.raw.requests_sent(),
        Client::Tokio => clients.tokio.lines_read() - clients.tokio.requests_sent(),
        Client::TokioTask => clients.tokio_task.lines_read() - clients.tokio_task.requests_sent(),
    }
}

/// Runs the bench and prints its tables.
pub fn run(options: &Options) -> Result<(), String> {
    let bin = pinned_cli::locate().map_err(|e| format!("{e} (run `cargo xtask install-codex` or set CODEX_BIN)"))?;
    let total = options.warmup + options.turns;
    let requests = CLIENTS * total;
    let mock = MockProcess::start(requests, options.deltas)?;
    let home = || CodexHome::builder(mock.base_url()).model(MODEL).build().map_err(|e| e.to_string());
    let (home_sdk, home_raw, home_ws, home_tokio, home_task) = (home()?, home()?, home()?, home()?, home()?);
    let runtime = if options.current_thread {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()
    }
    .map_err(|e| e.to_string())?;

    let codex = runtime
        .block_on(Codex::spawn(home_sdk.client_config(&bin)))
        .map_err(|e| format!("SDK connect: {e}\n{}", home_sdk.stderr_text()))?;
    let thread = runtime
        .block_on(codex.thread_start(&ThreadOptions::default()))
        .map_err(|e| format!("SDK thread/start: {e}"))?;
    let sdk_pid = codex.connection().pid().ok_or("the SDK's app-server has no pid")?;
    let command = home_raw.app_server_std_command(&bin).map_err(|e| e.to_string())?;
    let mut raw = RawClient::start(command).map_err(|e| format!("{e}\n{}", home_raw.stderr_text()))?;
    let raw_thread = raw.thread_start()?;
    let raw_pid = raw.pid();
    let command = home_tokio.app_server_command(&bin).map_err(|e| e.to_string())?;
    let mut tokio_client =
        runtime.block_on(RawTokioClient::start(command)).map_err(|e| format!("{e}\n{}", home_tokio.stderr_text()))?;
    let tokio_thread = runtime.block_on(tokio_client.thread_start())?;
    let tokio_pid = tokio_client.pid().ok_or("the Tokio client's app-server has no pid")?;
    let command = home_task.app_server_command(&bin).map_err(|e| e.to_string())?;
    let mut task_client = runtime
        .block_on(RawTokioClient::start_with_reader_task(command))
        .map_err(|e| format!("{e}\n{}", home_task.stderr_text()))?;
    let task_thread = runtime.block_on(task_client.thread_start())?;
    let task_pid = task_client.pid().ok_or("the reader-task client's app-server has no pid")?;
    // The same binary listening on a loopback WebSocket; the client attaches with the
    // capability token, and the same client settings as the stdio SDK client.
    let mut server = runtime
        .block_on(home_ws.listen_websocket(&bin, ServerAuth::CapabilityToken))
        .map_err(|e| format!("WebSocket app-server: {e}\n{}", home_ws.stderr_text()))?;
    let endpoint: WebSocketEndpoint = server.websocket_endpoint();
    let ws = runtime
        .block_on(Codex::builder().config(home_ws.client_config(&bin)).websocket(endpoint).connect())
        .map_err(|e| format!("WebSocket connect: {e}\n{}", home_ws.stderr_text()))?;
    let ws_thread = runtime
        .block_on(ws.thread_start(&ThreadOptions::default()))
        .map_err(|e| format!("WebSocket thread/start: {e}"))?;
    let ws_pid = server.pid();

    let mut samples: [Samples; CLIENTS] = Default::default();
    let orders = orders();
    for i in 0..total {
        for who in orders[i % orders.len()] {
            let pid = match who {
                Client::Sdk => sdk_pid,
                Client::Raw => raw_pid,
                Client::Ws => ws_pid,
                Client::Tokio => tokio_pid,
                Client::TokioTask => task_pid,
            };
            let clients = Clients { sdk: &codex, ws: &ws, raw: &raw, tokio: &tokio_client, tokio_task: &task_client };
            let seen0 = notifications_seen(who, &clients);
            let server0 = process_cpu(pid).map_err(|e| e.to_string())?;
            let (usage0, t0) = (self_usage(), Instant::now());
            let answer = match who {
                Client::Sdk => runtime
                    .block_on(thread.run(PROMPT))
                    .map(|r| r.final_response().unwrap_or_default().to_owned())
                    .map_err(|e| format!("SDK turn: {e}"))?,
                Client::Ws => runtime
                    .block_on(ws_thread.run(PROMPT))
                    .map(|r| r.final_response().unwrap_or_default().to_owned())
                    .map_err(|e| format!("WebSocket turn: {e}"))?,
                Client::Raw => raw.run_turn(&raw_thread, PROMPT)?,
                Client::Tokio => runtime.block_on(tokio_client.run_turn(&tokio_thread, PROMPT))?,
                Client::TokioTask => runtime.block_on(task_client.run_turn(&task_thread, PROMPT))?,
            };
            let (wall, usage) = (t0.elapsed(), self_usage());
            let cpu = usage.cpu - usage0.cpu;
            let server_cpu = process_cpu(pid).map_err(|e| e.to_string())? - server0;
            if answer != ANSWER {
                return Err(format!("{who:?} turn {i} answered {answer:?}"));
            }
            if i < options.warmup {
                continue;
            }
            let s = &mut samples[who as usize];
            s.wall.push(wall.as_secs_f64());
            s.cpu.push(cpu.as_secs_f64());
            s.client_cpu += cpu;
            s.server_cpu += server_cpu;
            s.switches += usage.switches - usage0.switches;
            let clients = Clients { sdk: &codex, ws: &ws, raw: &raw, tokio: &tokio_client, tokio_task: &task_client };
            s.notifications += notifications_seen(who, &clients) - seen0;
        }
    }
    runtime.block_on(codex.close());
    runtime.block_on(ws.close());
    raw.close();
    runtime.block_on(tokio_client.close());
    runtime.block_on(task_client.close());
    runtime.block_on(server.kill()).map_err(|e| format!("stopping the WebSocket app-server: {e}"))?;
    let summary = mock.finish()?;
    if summary.requests != requests || summary.unscripted != 0 {
        return Err(format!("the mock model expected {requests} requests, saw {summary:?}"));
    }
    report(options, &samples);
    Ok(())
}

fn report(options: &Options, samples: &[Samples; CLIENTS]) {
    let n = options.turns.max(1) as f64;
    let ms = |s: f64| format!("{:.2} ms", s * 1e3);
    println!("### End-to-end turns\n");
    println!(
        "{} measured turns per client (after {} warm-up turns), each answering with {} deltas, through the real \
         app-server (Codex CLI {}, model `{MODEL}`), one app-server per client (four on stdio, one listening on \
         ws://127.0.0.1 with a capability token), turns rotating through ten orders of the five \
         clients, awaited with `block_on` on a {} Tokio runtime. Client CPU is this process's (getrusage): \
         mean and median per turn; the mock model runs in another process. Context switches are this \
         process's too (all threads, getrusage), per turn.\n",
        options.turns,
        options.warmup,
        options.deltas,
        codex_driver::PINNED_CODEX_VERSION,
        if options.current_thread { "current-thread" } else { "multi-thread" },
    );
    let mut table = Table::new(&[
        "client",
        "median wall / turn",
        "p10 – p90",
        "client CPU / turn (mean)",
        "client CPU / turn (median)",
        "app-server CPU / turn",
        "notifications / turn",
        "context switches / turn",
    ]);
    let [sdk, hand, ws, tokio, task] = samples;
    for (label, s) in [
        ("SDK: `Thread::run` (stdio)", sdk),
        ("hand-rolled: `std::process` + `serde_json::Value` (stdio)", hand),
        ("hand-rolled on Tokio: `tokio::process` + `serde_json::Value` (stdio)", tokio),
        ("hand-rolled on Tokio + a reader task and channel (stdio)", task),
        ("SDK: `Thread::run` over WebSocket", ws),
    ] {
        table.row(vec![
            label.to_owned(),
            ms(median(&s.wall)),
            format!("{} – {}", ms(percentile(&s.wall, 0.1)), ms(percentile(&s.wall, 0.9))),
            ms(s.client_cpu.as_secs_f64() / n),
            ms(median(&s.cpu)),
            ms(s.server_cpu.as_secs_f64() / n),
            format!("{:.1}", s.notifications as f64 / n),
            format!("{:.1}", s.switches as f64 / n),
        ]);
    }
    println!("{}", table.render());
    println!("{}", compare("SDK vs hand-rolled", "ratio", sdk, hand, n));
    println!("{}", compare("SDK vs hand-rolled on Tokio", "ratio", sdk, tokio, n));
    println!("{}", compare("SDK vs hand-rolled on Tokio with a reader task", "ratio", sdk, task, n));
    println!("{}", compare("hand-rolled on Tokio vs blocking", "ratio", tokio, hand, n));
    println!("{}", compare("hand-rolled on Tokio: with a reader task vs without", "ratio", task, tokio, n));
    println!("{}", compare("WebSocket vs stdio (both `Thread::run`)", "ratio WS / stdio", ws, sdk, n));
}

/// Client `a` against client `b`: wall time (difference of medians and median of the
/// differences within each round), client CPU (mean and median) and app-server CPU.
fn compare(title: &str, ratio: &str, a: &Samples, b: &Samples, n: f64) -> String {
    let paired = |x: &[f64], y: &[f64]| -> Vec<f64> { x.iter().zip(y).map(|(x, y)| x - y).collect() };
    let (wa, wb) = (median(&a.wall), median(&b.wall));
    let (ca, cb) = (a.client_cpu.as_secs_f64() / n, b.client_cpu.as_secs_f64() / n);
    let (ma, mb) = (median(&a.cpu), median(&b.cpu));
    let (sa, sb) = (a.server_cpu.as_secs_f64() / n, b.server_cpu.as_secs_f64() / n);
    let us = |d: f64| format!("{:+.0} µs", d * 1e6);
    let mut table = Table::new(&[title, "per turn", ratio]);
    table.row(vec!["wall time (difference of medians)".into(), us(wa - wb), format!("{:.3}×", wa / wb)]);
    table.row(vec![
        "wall time (median of paired differences)".into(),
        us(median(&paired(&a.wall, &b.wall))),
        String::new(),
    ]);
    table.row(vec!["client CPU (difference of means)".into(), us(ca - cb), format!("{:.2}×", ca / cb)]);
    table.row(vec!["client CPU (difference of medians)".into(), us(ma - mb), format!("{:.2}×", ma / mb)]);
    table.row(vec!["app-server CPU (difference of means)".into(), us(sa - sb), format!("{:.2}×", sa / sb)]);
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every order is a permutation; every client takes every place equally often; every
    /// pair runs in both orders equally often; every client runs right after every other one
    /// equally often within the orders; none runs twice in a row across two orders.
    #[test]
    fn the_orders_are_balanced() {
        let orders = orders();
        assert_eq!(orders.len(), 2 * CLIENTS);
        let position = |order: &[Client; CLIENTS], who: Client| order.iter().position(|&c| c == who).unwrap();
        for order in &orders {
            assert!(ALL.iter().all(|&who| order.iter().filter(|&&c| c == who).count() == 1), "{order:?}");
        }
        for who in ALL {
            for place in 0..CLIENTS {
                let times = orders.iter().filter(|o| o[place] == who).count();
                assert_eq!(times, orders.len() / CLIENTS, "{who:?} at {place}");
            }
            for other in ALL.into_iter().filter(|&o| o != who) {
                let before = orders.iter().filter(|o| position(o, who) < position(o, other)).count();
                assert_eq!(before, orders.len() / 2, "{who:?} before {other:?}");
                let right_before = orders.iter().filter(|o| position(o, who) + 1 == position(o, other)).count();
                assert_eq!(right_before, 2, "{who:?} right before {other:?}");
            }
        }
        for (i, order) in orders.iter().enumerate() {
            let next = orders[(i + 1) % orders.len()];
            assert_ne!(order[CLIENTS - 1], next[0], "{:?} twice in a row after order {i}", next[0]);
        }
    }
}
