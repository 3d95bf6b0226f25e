//! Errors and retries: what each kind of failure looks like and how to react to it.
//!
//! ```sh
//! cargo run --example error_handling_and_retry [-- --offline]
//! ```
//!
//! Every call returns `codex_driver::Error`:
//! - `BinaryNotFound` / `Spawn`: no Codex to start (the message says how to install one);
//! - `Rpc(RpcError)`: the server answered with a JSON-RPC error; `kind()` and the predicates
//!   (`is_overloaded()`, `code.is_invalid_request()`, …) classify it;
//! - `TurnFailed(result)`: the turn ended `failed`; the result carries the turn's error and the
//!   items completed before it;
//! - `TransportClosed`: the app-server went away (with its exit status and stderr tail);
//! - `RetryLimitExceeded`: every attempt of a request was rejected as overloaded.
//!
//! Every request is retried by itself, with exponential backoff and jitter, while Codex
//! rejects it as overloaded (`-32001`, bare or with a `server_overloaded` marker in the error
//! data: `is_overloaded()`; `mentions_overload()` and `kind()` classify more widely):
//! `ConnectionOptions::with_overload_retry` sets the policy, `without_overload_retry` turns it off
//! (then `retry_on_overload` does the same for any call). Any other error is returned at once.
//! The offline run scripts one upstream failure (HTTP 500).

mod support;

use codex_driver::rpc::RetryPolicy;
use codex_driver::testing::{MockModel, MockResponse};
use codex_driver::LaunchConfig;
use codex_driver::{ClientConfig, Codex, Error, RpcError, ThreadOptions};
use std::time::Duration;

const PROMPT: &str = "Summarize retry best practices in 3 bullets.";

#[tokio::main]
async fn main() -> Result<(), support::BoxError> {
    let env = support::Env::new(offline_script).await?;

    // 1. No binary: a clear error before anything runs.
    match Codex::spawn(ClientConfig::from(LaunchConfig::new().with_codex_bin("/nonexistent/codex"))).await {
        Err(e @ Error::BinaryNotFound { .. }) => println!("missing binary -> {}", first_line(&e)),
        other => println!("unexpected: {other:?}"),
    }

    // 2. Requests are retried while the server is overloaded (this policy instead of the
    //    default one); a turn that itself failed is tried once more by hand.
    let policy =
        RetryPolicy::default().with_max_attempts(4).with_delays(Duration::from_millis(250), Duration::from_secs(2));
    let mut config = env.config();
    config.connection = config.connection.with_overload_retry(policy);
    let codex = Codex::spawn(config).await?;
    let thread = codex.thread_start(&ThreadOptions::default()).await?;
    let mut attempt = 1;
    let result = loop {
        match thread.run(PROMPT).await {
            Ok(result) => break result,
            Err(e) if e.is_retry_limit_exceeded() => return Err(format!("still overloaded: {e}").into()),
            Err(Error::TurnFailed(failed)) if attempt < 2 => {
                let error = failed.error.as_ref();
                println!("turn {} failed: {}", failed.id, error.map(|e| e.message.as_str()).unwrap_or("?"));
                println!("  codex error info: {:?}", error.and_then(|e| e.codex_error_info.as_ref()));
                println!("  items completed before the failure: {}", failed.items.len());
                attempt += 1;
                println!("trying the turn again (attempt {attempt})");
            }
            Err(e) => return Err(e.into()),
        }
    };
    println!("answer:\n{}", result.final_response().unwrap_or("(none)"));

    // 3. A JSON-RPC error from the server: steering a turn that has already ended.
    let turn = thread.turn("One more, in five words.").await?;
    let control = turn.control();
    turn.run().await?;
    match control.steer("too late").await {
        Err(Error::Rpc(e)) => println!("late steer -> {:?}: {} (code {})", e.kind(), e.message, e.code),
        other => println!("late steer -> unexpected: {other:?}"),
    }

    // 4. How errors are classified (what the overload retry retries).
    let samples = [
        RpcError::new(-32001, "server overloaded"),
        RpcError::new(-32000, "busy").with_data(serde_json::json!({"codex_error_info": "server_overloaded"})),
        RpcError::new(-32000, "retry limit reached"),
        RpcError::new(-32600, "no active turn to steer"),
    ];
    for e in samples {
        println!(
            "{:>6} {:<28} -> {:?} (retried: {})",
            e.code.code(),
            format!("{:?}", e.message),
            e.kind(),
            e.is_overloaded()
        );
    }

    codex.close().await;
    env.finish()
}

fn first_line(e: &Error) -> String {
    e.to_string().lines().next().unwrap_or_default().to_owned()
}

/// Offline runs only: an upstream HTTP 500, the answer to the second attempt, and the answer
/// to the turn that is steered too late.
fn offline_script(model: &MockModel) {
    model.push(MockResponse::http_error(500, r#"{"error":{"message":"upstream exploded","type":"server_error"}}"#));
    model.push(MockResponse::text(
        "- Retry only what is safe to repeat\n- Back off exponentially, with jitter\n- Cap the attempts",
    ));
    model.push(MockResponse::text("Back off, then try again."));
}
