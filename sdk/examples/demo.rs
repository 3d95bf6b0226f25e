//! The SDK in one run, offline: `cargo xtask demo` (or `cargo run --example demo`).
//!
//! A real `codex app-server` (the pinned Codex CLI) runs a real thread through this SDK, but its
//! model is a scripted mock of the OpenAI Responses API on 127.0.0.1 (the SDK's
//! `codex_driver::testing` kit), inside a throwaway `CODEX_HOME`: no account, no network.
//! Three turns show:
//!
//! 1. streaming: the answer's deltas printed as they arrive;
//! 2. an approval: the model asks to run a command outside the sandbox, the client's handler
//!    accepts it, Codex runs it, and its output goes back to the model;
//! 3. structured output: `run_typed::<T>` sends `T`'s JSON Schema and parses the answer into `T`.
//!
//! What the mock answers is scripted below (`script`); everything else is the real thing.

use codex_driver::methods::ServerNotification;
use codex_driver::testing::{
    pinned_cli, sse, AssistantMessage, CodexHome, ExecCommand, MockModel, ResponseStream, Usage,
};
use codex_driver::types::MessagePhase;
use codex_driver::types::{CommandExecutionApprovalDecision, ThreadItem};
use codex_driver::{ApprovalHandler, ApprovalMode, Codex, Thread, ThreadOptions, TurnResult};
use futures::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use std::io::Write;
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The structured answer of turn 3, as Rust; its JSON Schema is derived.
#[derive(Debug, Deserialize, JsonSchema)]
struct LineReport {
    files: Vec<FileLines>,
    total: u32,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct FileLines {
    name: String,
    lines: u32,
}

const STREAMED_ANSWER: &str = "This is a real Codex app-server, driven by the Rust SDK over JSON-RPC, \
talking to a scripted model on 127.0.0.1: every event you see came through the real protocol.";
const COMMAND: &str = "wc -l notes.txt todo.txt";

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let started = Instant::now();
    heading("Codex app-server Rust SDK demo (offline)");

    // The offline kit: the scripted model, an isolated home, the pinned CLI.
    let model = MockModel::start().await?;
    let home = CodexHome::new(&model.base_url())?;
    let codex_bin = pinned_cli::find_or_install()?;
    script(&model);
    std::fs::write(home.work_dir().join("notes.txt"), "buy milk\ncall Ada\nwrite the demo\n")?;
    std::fs::write(home.work_dir().join("todo.txt"), "ship it\ncelebrate\n")?;
    println!("codex binary  {}", codex_bin.display());
    println!("mock model    {} (scripted; the only server Codex talks to)", model.base_url());
    println!("CODEX_HOME    {} (throwaway)", home.codex_home().display());
    println!("working dir   {} (notes.txt, todo.txt)", home.work_dir().display());

    // Connect, with a handler that decides command approvals.
    let t = Instant::now();
    let handler = ApprovalHandler::new().on_command_execution(|request| async move {
        // Called when the server asks; the command waits for this answer.
        println!("  ? approval requested to run: {}", request.command.as_deref().unwrap_or("?"));
        println!("    reason: {}", request.reason.as_deref().unwrap_or("(none)"));
        println!("    the handler accepts");
        CommandExecutionApprovalDecision::Accept
    });
    let codex = Codex::builder().config(home.client_config(&codex_bin)).handler(handler).connect().await?;
    let meta = codex.metadata();
    println!(
        "\nconnected     codex app-server {} on {} (pid {}) in {} ms",
        meta.server_version.as_deref().unwrap_or("?"),
        meta.platform_os.as_deref().unwrap_or("?"),
        codex.connection().pid().map(|p| p.to_string()).unwrap_or_default(),
        t.elapsed().as_millis()
    );
    // Approvals go to this client's handler (the SDK declines them when there is none).
    let options = ThreadOptions::default().cwd(home.work_dir()).approval_mode(ApprovalMode::AskUser);
    let thread = codex.thread_start(&options).await?;
    let settings = thread.settings().expect("thread/start reports the settings");
    println!("thread        {} (model {}, approvals asked of this client)", thread.id(), settings.model);

    heading("1. Streaming: deltas as they arrive");
    let result = stream_turn(&thread, "What am I looking at? One sentence.").await?;
    summary(&result);

    heading("2. An approval: a command outside the sandbox");
    let result = stream_turn(&thread, "How many lines are in my notes and todo list?").await?;
    summary(&result);
    // The mock recorded what Codex sent back to the model after running the command.
    let sent = model.requests().last().and_then(|r| r.function_call_output("call_wc").cloned());
    let sent = sent.map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())).unwrap_or_default();
    println!("  what Codex sent back to the model (function_call_output):");
    for line in sent.lines() {
        println!("  > {line}");
    }

    heading("3. Structured output: a Rust type in, a Rust value out");
    let prompt = "Give me that as JSON: each file's lines and the total.";
    println!("you> {prompt}");
    println!("     (run_typed::<LineReport>: the turn's output schema is LineReport's JSON Schema)");
    let typed = thread.run_typed::<LineReport>(prompt).await?;
    let (report, result) = (typed.output, typed.turn);
    println!("codex> {}", result.final_response().unwrap_or_default());
    let format = model.last_request().and_then(|r| r.json().map(|b| b["text"]["format"]["type"].clone()));
    println!("  (the schema reached the model as text.format {})", format.unwrap_or_default());
    println!("  parsed: {report:?}");
    for file in &report.files {
        println!("    {:<10} {:>2} lines", file.name, file.lines);
    }
    println!("    {:<10} {:>2} lines", "total", report.total);

    heading("Done");
    let usage = result.usage.as_ref().map(|u| u.total.total_tokens).unwrap_or(0);
    println!(
        "3 turns, {} model requests, {usage} tokens (scripted), {:.1} s in all.",
        model.request_count(),
        started.elapsed().as_secs_f64()
    );
    println!("Next: `cargo xtask examples` runs every example offline; `cargo run --example quickstart` uses your Codex login.");
    codex.close().await;
    if model.pending() != 0 || model.unscripted_requests() != 0 {
        return Err("the model was not asked what the script expected".into());
    }
    Ok(())
}

/// Runs a turn, printing its events as they arrive, and returns its result: the stream
/// ends in the same `TurnResult` that `run()` returns.
async fn stream_turn(thread: &Thread, prompt: &str) -> Result<TurnResult, BoxError> {
    println!("you> {prompt}");
    let mut events = thread.turn(prompt).await?.stream();
    let mut open_line = false;
    let end_line = |open: &mut bool| {
        if std::mem::take(open) {
            println!();
        }
    };
    while let Some(event) = events.next().await {
        match event? {
            ServerNotification::ItemAgentMessageDelta(d) => {
                if !open_line {
                    print!("codex> ");
                    open_line = true;
                }
                print!("{}", d.delta);
                std::io::stdout().flush()?;
            }
            ServerNotification::ItemCompleted(c) => {
                end_line(&mut open_line);
                if let ThreadItem::CommandExecution(c) = &c.item {
                    let exit = c.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "-".into());
                    println!("  $ {}    (status {:?}, exit code {exit})", c.command, c.status);
                    for line in c.aggregated_output.as_deref().unwrap_or_default().lines() {
                        println!("  | {line}");
                    }
                }
            }
            ServerNotification::TurnCompleted(_) => end_line(&mut open_line),
            _ => {}
        }
    }
    Ok(events.result().await?)
}

/// One line about a finished turn.
fn summary(result: &TurnResult) {
    println!(
        "  [turn {:?} in {} ms; items: {}]",
        result.status,
        result.duration_ms.unwrap_or_default(),
        result.items.iter().map(ThreadItem::kind).collect::<Vec<_>>().join(", ")
    );
}

fn heading(text: &str) {
    println!("\n== {text} {}", "=".repeat(70usize.saturating_sub(text.len())));
}

/// A response whose assistant message streams a few characters at a time, `pace` apart, as a
/// real model's would (`ResponseStream::message` sends its deltas all at once).
fn slow_message(id: &str, text: &str, pace: Duration) -> ResponseStream {
    let item = json!({"type": "message", "role": "assistant", "id": id,
        "content": [{"type": "output_text", "text": text, "annotations": []}]});
    let mut added = item.clone();
    added["content"] = json!([]);
    let mut stream = ResponseStream::new().event(sse::output_item_added(0, added));
    let chars: Vec<char> = text.chars().collect();
    for chunk in chars.chunks(6) {
        let chunk: String = chunk.iter().collect();
        stream = stream.delay(pace).event(sse::output_text_delta(0, id, &chunk));
    }
    stream.event(sse::output_item_done(0, item))
}

/// What the mock model answers, request by request.
fn script(model: &MockModel) {
    let pace = Duration::from_millis(30);
    // Turn 1: one streamed answer.
    model.push(slow_message("msg_intro", STREAMED_ANSWER, pace).usage(Usage::new(900, 40)).completed());
    // Turn 2: a word of commentary and an escalated command (Codex asks the client), then,
    // once Codex sends the command's output back, the answer.
    model.push(
        ResponseStream::new()
            .message(AssistantMessage::new("Let me count them.").phase(MessagePhase::Commentary))
            .exec_command(ExecCommand::new("call_wc", COMMAND).escalated("count the lines of your two files"))
            .usage(Usage::new(960, 30))
            .completed(),
    );
    model.push(
        slow_message("msg_count", "notes.txt has 3 lines and todo.txt has 2: 5 in all.", pace)
            .usage(Usage::new(1010, 20))
            .completed(),
    );
    // Turn 3: the JSON answer the schema asked for.
    let report = json!({"files": [{"name": "notes.txt", "lines": 3}, {"name": "todo.txt", "lines": 2}], "total": 5});
    model.push(ResponseStream::new().text(report.to_string()).usage(Usage::new(1050, 35)).completed());
}
