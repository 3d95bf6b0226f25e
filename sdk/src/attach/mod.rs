//! Attach to an app-server the SDK did not spawn (cargo feature `websocket`): a `ws://` or
//! `wss://` URL ([`WebSocketEndpoint`], with a capability token or a signed bearer token),
//! a unix socket ([`UnixSocketEndpoint`], by default the control socket under
//! `CODEX_HOME`), or the managed daemon ([`Daemon`], started on demand).
//!
//! Every way speaks WebSocket frames (the unix control socket too) and ends in the same
//! [`Connection`](crate::rpc::Connection), so `Codex` → `Thread` → `TurnHandle` work unchanged:
//!
//! ```no_run
//! # async fn demo() -> codex_driver::Result<()> {
//! use codex_driver::attach::WebSocketEndpoint;
//! use codex_driver::{Codex, ThreadOptions};
//!
//! let endpoint = WebSocketEndpoint::new("ws://127.0.0.1:4500")
//!     .capability_token(std::env::var("CODEX_WS_TOKEN").unwrap_or_default());
//! let codex = Codex::builder().websocket(endpoint).connect().await?;
//! let thread = codex.thread_start(&ThreadOptions::default()).await?;
//! println!("{:?}", thread.run("Hello").await?.final_response());
//! codex.close().await; // closes this connection; the server keeps running
//! # Ok(()) }
//! ```
//!
//! Closing or dropping an attached client closes its connection, never the server;
//! stopping the daemon is an explicit [`Daemon::stop`]. Faults have typed outcomes:
//! refused credentials are [`Error::Unauthorized`](crate::Error::Unauthorized) (HTTP 401),
//! nothing listening is [`Error::Connect`](crate::Error::Connect) naming the endpoint, and
//! a server that goes away mid-turn closes every pending request and stream with
//! [`Error::TransportClosed`](crate::Error::TransportClosed) and a
//! [`CloseReason`](crate::CloseReason) — or, on an endpoint with
//! [`reconnect`](WebSocketEndpoint::reconnect), the client dials again, resumes its
//! threads and carries on (see [`ReconnectPolicy`](crate::rpc::ReconnectPolicy)). Tokens never
//! appear in `Debug` output, errors or logs, the WebSocket library's included (it logs
//! nothing).

mod auth;
mod daemon;
mod handshake;
mod secret;
#[cfg(feature = "tls")]
mod tls;
mod unix;
mod websocket;

pub use crate::rpc::websocket::Keepalive;
#[cfg(feature = "jwt")]
pub use auth::SignedBearerToken;
pub use auth::WebSocketAuth;
pub use daemon::{Daemon, DaemonStart, DaemonState, DaemonStatus};
pub use secret::Secret;
pub use unix::{control_socket_path, effective_codex_home, UnixSocketEndpoint};
pub use websocket::WebSocketEndpoint;

/// What [`Dial::dial`](crate::rpc::Dial::dial) returns.
type Dialing<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = crate::Result<crate::rpc::Transport>> + Send + 'a>>;

/// A connection to `endpoint`: made from the endpoint itself (it dials again) with a
/// reconnect policy, else from one transport.
async fn connect<E: crate::rpc::Dial + Clone>(
    endpoint: &E,
    reconnect: Option<crate::rpc::ReconnectPolicy>,
    options: crate::rpc::ConnectionOptions,
) -> crate::Result<crate::rpc::Connection> {
    match reconnect {
        Some(policy) => {
            crate::rpc::Connection::connect_with_reconnect(std::sync::Arc::new(endpoint.clone()), options, policy).await
        }
        None => Ok(crate::rpc::Connection::from_transport(endpoint.dial(options.max_message_size).await?, options)),
    }
}

/// How long connecting (TCP or unix socket, TLS and the WebSocket upgrade) may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
