//! The integration tests that share one process: against the real `codex app-server` (the
//! pinned CLI, installed on first use), the scripted mock model on 127.0.0.1 and scripted
//! servers, one module per area. Run one area with a filter:
//! `cargo test -p codex-driver-tests --test integration -- reconnect::`.
//!
//! The tests that measure their own process stay binaries of their own beside this one:
//! `blocking` (counts the runtime's threads), `reliability_idle` (memory at rest),
//! `reliability_leaks` (tasks and processes left), `sdk_tracing` (the process's tracing
//! callsites), `secret_memory` (a global allocator), `dependency_logs` (a global `log`
//! logger) and `faults` (a global tracing subscriber).

#[path = "../attach_support/mod.rs"]
mod attach_support;
#[path = "../common/mod.rs"]
mod common;
#[path = "../login_support/mod.rs"]
mod login_support;
#[path = "../scenarios/mod.rs"]
mod scenarios;

mod attach;
mod compat;
mod faults_ws;
mod harness_smoke;
mod login_goals_structured;
mod parity;
mod reconnect;
mod reliability;
mod reliability_kill;
mod review_exec_tools;
mod semver_surface;
mod settings_and_skills;
mod shared_interleaving;
mod shared_turns;
mod smoke_sdk;
mod threads_and_approvals;
mod turn_lifecycle;
mod turns;
