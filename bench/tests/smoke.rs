//! Every bench still runs: `codex-bench <bench> --smoke` (tiny sizes) succeeds and prints its
//! table. The benches check their own work as they go (every notification routed and decoded
//! exactly once, every turn answered with the scripted text, the mock model asked exactly
//! once per turn) and fail otherwise. No timing is asserted.

use std::process::Command;

fn smoke(bench: &str, table_headers: &[&str]) {
    smoke_with(bench, &[], table_headers);
}

fn smoke_with(bench: &str, options: &[&str], table_headers: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_codex-bench"))
        .args([bench, "--smoke"])
        .args(options)
        .output()
        .expect("run codex-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "codex-bench {bench} --smoke failed ({}):\n{stdout}\n{stderr}", output.status);
    for table_header in table_headers {
        assert!(stdout.contains(table_header), "codex-bench {bench} printed no `{table_header}` table:\n{stdout}");
    }
}

#[test]
fn decode() {
    smoke("decode", &["| path ", "-worker Tokio runtime"]);
}

#[test]
fn decode_on_one_thread() {
    smoke_with("decode", &["--runtime", "current"], &["| path ", "on a current-thread Tokio runtime"]);
}

#[test]
fn end_to_end() {
    smoke(
        "e2e",
        &[
            "| SDK vs hand-rolled ",
            "| WebSocket vs stdio ",
            "| SDK: `Thread::run` over WebSocket ",
            "| hand-rolled on Tokio + a reader task and channel ",
            "| SDK vs hand-rolled on Tokio with a reader task ",
            "| hand-rolled on Tokio: with a reader task vs without ",
            "context switches / turn",
        ],
    );
}

#[test]
fn memory() {
    smoke("memory", &["| stage "]);
}
