//! Attach to an app-server that is already running, over WebSocket with a capability token;
//! stream a turn; attach a second client that finds the thread; see a refused token as a
//! typed error. Closing the clients leaves the server running.
//!
//! ```sh
//! # a server of your own:
//! #   codex app-server --listen ws://127.0.0.1:4500 --ws-auth capability-token --ws-token-file ~/.codex/ws-token
//! CODEX_WS_URL=ws://127.0.0.1:4500 CODEX_WS_TOKEN_FILE=~/.codex/ws-token cargo run --example attach_websocket
//! cargo run --example attach_websocket -- --offline   # starts a listening server in a throwaway home
//! ```
//!
//! Needs the SDK's `websocket` feature (`wss://` also needs `tls`).

mod support;

use codex_driver::attach::{Secret, WebSocketEndpoint};
use codex_driver::methods::ServerNotification;
use codex_driver::testing::{MockModel, MockResponse, ServerAuth};
use codex_driver::types::ThreadListParams;
use codex_driver::{Codex, ThreadOptions};
use futures::StreamExt;

#[tokio::main]
async fn main() -> Result<(), support::BoxError> {
    let env = support::Env::new(offline_script).await?;
    // Offline, a real app-server listens on a loopback port in the throwaway home.
    let listening = match env.offline() {
        Some(offline) => Some(offline.home.listen_websocket(&env.codex_bin()?, ServerAuth::CapabilityToken).await?),
        None => None,
    };
    let endpoint = match &listening {
        Some(server) => server.websocket_endpoint(),
        None => {
            let url = std::env::var("CODEX_WS_URL").unwrap_or_else(|_| "ws://127.0.0.1:4500".into());
            let endpoint = WebSocketEndpoint::new(url);
            match std::env::var_os("CODEX_WS_TOKEN_FILE") {
                Some(file) => endpoint.capability_token(Secret::from_file(file)?),
                None => endpoint,
            }
        }
    };
    println!("endpoint: {endpoint:?}"); // the token never shows

    let codex = Codex::builder().config(env.config()).websocket(endpoint.clone()).connect().await?;
    let meta = codex.metadata();
    println!("attached to Codex {} at {}", meta.server_version.as_deref().unwrap_or("?"), endpoint.endpoint());

    let thread = codex.thread_start(&ThreadOptions::default()).await?;
    let mut events = thread.turn("Say hello over the wire.").await?.stream();
    print!("answer: ");
    while let Some(event) = events.next().await {
        if let ServerNotification::ItemAgentMessageDelta(delta) = event? {
            print!("{}", delta.delta);
        }
    }
    println!();

    // A second client on the same server sees the thread the first one started.
    let other = Codex::builder().config(env.config()).websocket(endpoint.clone()).connect().await?;
    let listed = other.thread_list(&ThreadListParams::default()).await?;
    println!(
        "the second client lists {} thread(s), ours included: {}",
        listed.data.len(),
        listed.data.iter().any(|t| t.id == thread.id())
    );
    other.close().await;

    // A wrong token is refused at the upgrade: a typed error, not a closed transport.
    let wrong = endpoint.clone().capability_token("not-the-token");
    match Codex::builder().config(env.config()).websocket(wrong).connect().await {
        Err(e) if e.is_unauthorized() => println!("a wrong token: {e}"),
        Err(e) => return Err(e.into()),
        Ok(_) => println!("this server does not check tokens"),
    }

    codex.close().await; // the connection closes; the server keeps running
    if let Some(mut server) = listening {
        println!("server still running after the clients closed: {}", server.is_running());
    }
    env.finish()
}

/// Offline runs only: what the scripted model answers.
fn offline_script(model: &MockModel) {
    model.push(MockResponse::text("Hello from a server I did not spawn!"));
}
