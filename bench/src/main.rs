//! `codex-bench`: benchmarks of the codex-driver SDK, each printing markdown tables.
//! Run them with `cargo xtask bench [--smoke] [decode|e2e|memory]…` (release build); see
//! BENCHMARKS.md for what each measures.
//!
//! - `decode`: decode + route throughput over the recorded transcripts vs a bare
//!   `serde_json::Value` loop ([`decode`]).
//! - `e2e`: turns through `Thread::run` vs a hand-rolled JSON-RPC client on the real
//!   app-server over stdio (blocking, on Tokio, and on Tokio with a reader task), and
//!   `Thread::run` attached over WebSocket to the same build ([`e2e`]).
//! - `memory`: client RSS with N threads ([`memory`]).
//! - `mock-model <responses> <deltas>`: internal, the mock model process ([`mock`]).
//!
//! Options (each bench reads its own): `--smoke` (tiny sizes, proves the bench still works),
//! `--messages N`, `--rounds N`, `--lanes N`, `--turns N`, `--warmup N`, `--deltas N`,
//! `--threads N`.

mod corpus;
mod decode;
mod e2e;
mod measure;
mod memory;
mod mock;
mod raw_client;
mod raw_tokio_client;

use std::process::ExitCode;

const USAGE: &str = "usage: codex-bench <decode|e2e|memory> [--smoke] [--messages N] [--rounds N] [--lanes N] \
                     [--turns N] [--warmup N] [--deltas N] [--threads N] [--runtime multi|current]";

/// Parsed `--name N` options, with smoke-mode defaults.
struct Args {
    smoke: bool,
    /// `--runtime current`: the e2e and decode benches on a current-thread Tokio runtime.
    current_thread: bool,
    numbers: Vec<(String, usize)>,
}

impl Args {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut parsed = Args { smoke: false, current_thread: false, numbers: Vec::new() };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--smoke" => parsed.smoke = true,
                "--runtime" => {
                    parsed.current_thread = match it.next().map(String::as_str) {
                        Some("multi") => false,
                        Some("current") => true,
                        _ => return Err(format!("--runtime needs `multi` or `current`\n{USAGE}")),
                    }
                }
                "--messages" | "--rounds" | "--lanes" | "--turns" | "--warmup" | "--deltas" | "--threads" => {
                    let value = it.next().ok_or_else(|| format!("{arg} needs a number"))?;
                    let n = value.parse().map_err(|_| format!("{arg} {value}: not a number"))?;
                    parsed.numbers.push((arg[2..].to_owned(), n));
                }
                other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
            }
        }
        Ok(parsed)
    }

    /// `--name N`, else the default (`smoke` in smoke mode).
    fn get(&self, name: &str, full: usize, smoke: usize) -> usize {
        self.numbers.iter().rev().find(|(n, _)| n == name).map(|(_, v)| *v).unwrap_or(if self.smoke {
            smoke
        } else {
            full
        })
    }
}

fn run(argv: &[String]) -> Result<(), String> {
    let (command, rest) = argv.split_first().ok_or(USAGE)?;
    if command == "mock-model" {
        let number = |i: usize| rest.get(i).and_then(|s| s.parse().ok()).ok_or(USAGE);
        return mock::serve(number(0)?, number(1)?);
    }
    let args = Args::parse(rest)?;
    match command.as_str() {
        "decode" => decode::run(&decode::Options {
            messages: args.get("messages", 100_000, 2_000),
            rounds: args.get("rounds", 5, 1).max(1),
            lanes: args.get("lanes", 4, 4),
            current_thread: args.current_thread,
        }),
        "e2e" => e2e::run(&e2e::Options {
            turns: args.get("turns", 200, 3).max(1),
            warmup: args.get("warmup", 5, 1),
            deltas: args.get("deltas", 20, 20),
            current_thread: args.current_thread,
        }),
        "memory" => memory::run(&memory::Options {
            threads: args.get("threads", 10, 2).max(1),
            deltas: args.get("deltas", 20, 20),
        }),
        other => Err(format!("unknown bench `{other}`\n{USAGE}")),
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match run(&argv) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
