//! A fleet: one program driving threads on several app-servers at once over WebSocket,
//! choosing a server per thread — the shape an orchestrator takes when one machine is not
//! enough. Each task goes to the server with the fewest threads in flight; all run
//! concurrently; a server that fails does not stop the others, and a dropped link to one is
//! dialled again (`reconnect`) with its threads resumed.
//!
//! ```sh
//! CODEX_FLEET="wss://build-1.example:4500,wss://build-2.example:4500" CODEX_FLEET_TOKEN_FILE=~/.codex/ws-token \
//!     cargo run --example fleet
//! # plain ws:// to hosts that are not loopback carries the token in cleartext: refused
//! # unless CODEX_FLEET_INSECURE=1 (a private network you trust)
//! cargo run --example fleet -- --offline   # three local servers, distinct ports and CODEX_HOMEs
//! ```
//!
//! Needs the SDK's `websocket` feature.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use codex_driver::attach::{Secret, WebSocketEndpoint};
use codex_driver::rpc::ReconnectPolicy;
use codex_driver::testing::{CodexHome, ListeningAppServer, MockModel, MockResponse, ServerAuth};
use codex_driver::{Codex, ThreadOptions};

const TASKS: [&str; 6] = [
    "Summarize module a",
    "Summarize module b",
    "Summarize module c",
    "Summarize module d",
    "Summarize module e",
    "Summarize module f",
];

/// One app-server of the fleet and the threads it runs right now.
struct Member {
    name: String,
    codex: Codex,
    in_flight: AtomicUsize,
}

#[tokio::main]
async fn main() -> Result<(), support::BoxError> {
    let env = support::Env::new(offline_script).await?;
    // Offline: three real app-servers, each in its own CODEX_HOME on its own loopback port,
    // all answered by the same mock model. Kept alive until the end.
    let mut local: Vec<(CodexHome, ListeningAppServer)> = Vec::new();
    let endpoints: Vec<WebSocketEndpoint> = match env.offline() {
        Some(offline) => {
            let bin = env.codex_bin()?;
            for _ in 0..3 {
                let home = CodexHome::new(&offline.model.base_url())?;
                let server = home.listen_websocket(&bin, ServerAuth::CapabilityToken).await?;
                local.push((home, server));
            }
            local.iter().map(|(_, server)| server.websocket_endpoint()).collect()
        }
        None => {
            let urls = std::env::var("CODEX_FLEET")
                .map_err(|_| "set CODEX_FLEET to comma-separated ws:// URLs (or use --offline)")?;
            let token = std::env::var_os("CODEX_FLEET_TOKEN_FILE").map(Secret::from_file).transpose()?;
            urls.split(',')
                .map(|url| {
                    let mut endpoint = WebSocketEndpoint::new(url.trim());
                    if std::env::var_os("CODEX_FLEET_INSECURE").is_some_and(|v| v == "1") {
                        endpoint = endpoint.allow_insecure_remote();
                    }
                    match &token {
                        Some(token) => endpoint.capability_token(token.clone()),
                        None => endpoint,
                    }
                })
                .collect()
        }
    };

    // Attach to every server at once; each link is dialled again if it drops.
    let endpoints: Vec<WebSocketEndpoint> =
        endpoints.into_iter().map(|endpoint| endpoint.reconnect(ReconnectPolicy::default())).collect();
    let attaching =
        endpoints.iter().map(|endpoint| Codex::builder().config(env.config()).websocket(endpoint.clone()).connect());
    let mut fleet = Vec::new();
    for (endpoint, attached) in endpoints.iter().zip(futures::future::join_all(attaching).await) {
        match attached {
            Ok(codex) => fleet.push(Arc::new(Member {
                name: endpoint.endpoint().to_string(),
                codex,
                in_flight: AtomicUsize::new(0),
            })),
            Err(e) => eprintln!("skipping {}: {e}", endpoint.endpoint()),
        }
    }
    if fleet.is_empty() {
        return Err("no server of the fleet could be reached".into());
    }
    println!("fleet of {} app-servers", fleet.len());

    // Place each task on the least busy server, then run them all concurrently.
    let runs = TASKS.iter().map(|task| {
        let member = fleet.iter().min_by_key(|m| m.in_flight.load(Ordering::SeqCst)).expect("non-empty").clone();
        member.in_flight.fetch_add(1, Ordering::SeqCst);
        let work_dir = env.work_dir();
        async move {
            let outcome = async {
                let thread = member.codex.thread_start(&ThreadOptions::default().cwd(work_dir)).await?;
                let result = thread.run(*task).await?;
                Ok::<_, codex_driver::Error>(result.final_response().unwrap_or_default().to_owned())
            }
            .await;
            member.in_flight.fetch_sub(1, Ordering::SeqCst);
            (task, member.name.clone(), outcome)
        }
    });
    let mut failures = 0;
    for (task, server, outcome) in futures::future::join_all(runs).await {
        match outcome {
            Ok(answer) => println!("{task:<20} on {server}: {answer}"),
            Err(e) => {
                failures += 1;
                // A link that dropped under `turn/start` leaves it unknown whether the turn
                // started: look at the thread on the server before running it again.
                let hint = if e.is_outcome_unknown() { " (read the thread before retrying)" } else { "" };
                println!("{task:<20} on {server}: FAILED: {e}{hint}");
            }
        }
    }

    for member in &fleet {
        member.codex.close().await;
    }
    drop(local);
    if failures > 0 {
        return Err(format!("{failures} task(s) failed").into());
    }
    env.finish()
}

/// Offline runs only: the tasks arrive in any order, so the answer echoes the task.
fn offline_script(model: &MockModel) {
    model.respond_with(|request| {
        let task = request.last_user_text()?;
        Some(MockResponse::text(format!("done: {}", task.to_lowercase())))
    });
}
