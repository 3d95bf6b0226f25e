//! [`UnixSocketEndpoint`]: the app-server's unix control socket (WebSocket frames over a
//! unix socket; `codex app-server --listen unix://`, and the managed daemon).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::handshake::{upgrade, within, Deadline};
use crate::endpoint::Endpoint;
use crate::rpc::{Connection, ConnectionOptions, Transport};
use crate::LaunchConfig;
use crate::Result;

/// The control socket of the app-server whose `CODEX_HOME` is `codex_home`:
/// `<codex_home>/app-server-control/app-server-control.sock`.
pub fn control_socket_path(codex_home: &Path) -> PathBuf {
    codex_home.join("app-server-control").join("app-server-control.sock")
}

/// The `CODEX_HOME` an app-server started with `config` uses: `CODEX_HOME` from its
/// environment or this process's, else `$HOME/.codex`.
pub fn effective_codex_home(config: &LaunchConfig) -> Option<PathBuf> {
    if let Some(home) = config.effective_env("CODEX_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(home));
    }
    config.effective_env("HOME").filter(|v| !v.is_empty()).map(|home| PathBuf::from(home).join(".codex"))
}

/// An app-server listening on a unix socket.
#[derive(Debug, Clone)]
pub struct UnixSocketEndpoint {
    path: PathBuf,
    connect_timeout: Duration,
    keepalive: Option<super::Keepalive>,
    reconnect: Option<crate::rpc::ReconnectPolicy>,
}

impl UnixSocketEndpoint {
    /// The socket at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        UnixSocketEndpoint {
            path: path.into(),
            connect_timeout: super::DEFAULT_CONNECT_TIMEOUT,
            keepalive: Some(super::Keepalive::default()),
            reconnect: None,
        }
    }

    /// Replaces the link when it fails (off by default): connects to the same socket again
    /// as `policy` says — a restarted server with the same `CODEX_HOME` comes back there —
    /// initializes, and resumes this client's threads (see
    /// [`Connection::connect_with_reconnect`]).
    pub fn reconnect(mut self, policy: crate::rpc::ReconnectPolicy) -> Self {
        self.reconnect = Some(policy);
        self
    }

    /// The control socket under `codex_home` (see [`control_socket_path`]).
    pub fn control_socket(codex_home: &Path) -> Self {
        Self::new(control_socket_path(codex_home))
    }

    /// The control socket under the `CODEX_HOME` that `config` gives (see
    /// [`effective_codex_home`]); `None` when neither `CODEX_HOME` nor `HOME` is set.
    pub fn for_config(config: &LaunchConfig) -> Option<Self> {
        effective_codex_home(config).map(|home| Self::control_socket(&home))
    }

    /// How long connecting, the upgrade and — through
    /// [`CodexBuilder::connect`](crate::CodexBuilder::connect) — the `initialize` handshake
    /// may take together (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// WebSocket keepalive pings and the bound after which a silent link is declared dead
    /// (default [`Keepalive::default`](super::Keepalive::default): a ping every 10 s, dead
    /// after 30 s of silence); `None` turns it off.
    pub fn keepalive(mut self, keepalive: Option<super::Keepalive>) -> Self {
        self.keepalive = keepalive;
        self
    }

    /// The connect timeout (see [`connect_timeout`](Self::connect_timeout)).
    pub(crate) fn connect_budget(&self) -> Duration {
        self.connect_timeout
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The endpoint, as errors and [`ServerMetadata`](crate::rpc::ServerMetadata) show it.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::UnixSocket { path: self.path.clone() }
    }

    /// Connects and upgrades, without initializing: the message-level transport.
    pub async fn transport(&self, max_message_size: usize) -> Result<Transport> {
        let endpoint = self.endpoint();
        let shown = endpoint.to_string();
        #[cfg(unix)]
        {
            let deadline = Deadline::after(self.connect_timeout);
            let stream = within(deadline, &shown, tokio::net::UnixStream::connect(&self.path)).await?;
            // The server ignores the host; the path is the WebSocket one.
            upgrade(stream, "ws://localhost/", None, max_message_size, endpoint, deadline, self.keepalive).await
        }
        #[cfg(not(unix))]
        {
            let _ = (max_message_size, upgrade::<tokio::net::TcpStream>, within::<()>);
            Err(crate::Error::Connect {
                endpoint: shown,
                source: std::io::Error::new(std::io::ErrorKind::Unsupported, "unix sockets need a unix platform"),
            })
        }
    }

    /// Connects and upgrades: a [`Connection`] that is not yet initialized (and that
    /// reconnects, with [`reconnect`](Self::reconnect)).
    pub async fn connect(&self, options: ConnectionOptions) -> Result<Connection> {
        super::connect(self, self.reconnect, options).await
    }
}

impl crate::rpc::Dial for UnixSocketEndpoint {
    fn dial(&self, max_message_size: usize) -> super::Dialing<'_> {
        Box::pin(self.transport(max_message_size))
    }
}
