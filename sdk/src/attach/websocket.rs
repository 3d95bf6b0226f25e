//! [`WebSocketEndpoint`]: a `ws://` or `wss://` URL and how to authenticate to it.

use std::time::Duration;

use super::auth::WebSocketAuth;
use super::handshake::{upgrade, within, Deadline};
use super::secret::Secret;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::rpc::{Connection, ConnectionOptions, Transport};

/// An app-server listening on a WebSocket (`codex app-server --listen ws://IP:PORT`), or a
/// TLS-terminating proxy in front of one (`wss://`, feature `tls`).
///
/// `Debug` shows the URL without user info or query, and never the credentials.
#[derive(Clone)]
pub struct WebSocketEndpoint {
    url: String,
    auth: WebSocketAuth,
    connect_timeout: Duration,
    /// Credentials may go over plain `ws://` to a host that is not loopback.
    insecure_remote: bool,
    keepalive: Option<super::Keepalive>,
    reconnect: Option<crate::rpc::ReconnectPolicy>,
    #[cfg(feature = "tls")]
    tls: super::tls::TlsRoots,
}

impl std::fmt::Debug for WebSocketEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match &self.auth {
            WebSocketAuth::None => "none",
            WebSocketAuth::CapabilityToken(_) => "capability token",
            #[cfg(feature = "jwt")]
            WebSocketAuth::SignedBearer(_) => "signed bearer token",
        };
        f.debug_struct("WebSocketEndpoint")
            .field("url", &crate::endpoint::redact_url(&self.url))
            .field("auth", &auth)
            .field("connect_timeout", &self.connect_timeout)
            .field("insecure_remote", &self.insecure_remote)
            .field("reconnect", &self.reconnect)
            .finish_non_exhaustive()
    }
}

impl WebSocketEndpoint {
    /// The app-server at `url` (`ws://host:port[/path]` or `wss://…`), without credentials.
    pub fn new(url: impl Into<String>) -> Self {
        WebSocketEndpoint {
            url: url.into(),
            auth: WebSocketAuth::None,
            connect_timeout: super::DEFAULT_CONNECT_TIMEOUT,
            insecure_remote: false,
            keepalive: Some(super::Keepalive::default()),
            reconnect: None,
            #[cfg(feature = "tls")]
            tls: super::tls::TlsRoots::default(),
        }
    }

    /// Replaces the link when it fails (off by default): dials the same URL with the same
    /// credentials again as `policy` says, initializes, and resumes this client's threads
    /// (see [`Connection::connect_with_reconnect`] for what callers then see).
    pub fn reconnect(mut self, policy: crate::rpc::ReconnectPolicy) -> Self {
        self.reconnect = Some(policy);
        self
    }

    /// Allows sending the credentials over plain `ws://` to a host that is not loopback
    /// (by default refused: anyone on the path could read the bearer token). Only for a
    /// private network you trust; prefer `wss://` (feature `tls`).
    pub fn allow_insecure_remote(mut self) -> Self {
        self.insecure_remote = true;
        self
    }

    /// Authenticates with a capability token (`--ws-auth capability-token`).
    pub fn capability_token(mut self, token: impl Into<Secret>) -> Self {
        self.auth = WebSocketAuth::CapabilityToken(token.into());
        self
    }

    /// Authenticates with a JWT minted from a shared secret for each connection
    /// (`--ws-auth signed-bearer-token`).
    #[cfg(feature = "jwt")]
    pub fn signed_bearer_token(mut self, token: super::SignedBearerToken) -> Self {
        self.auth = WebSocketAuth::SignedBearer(token);
        self
    }

    /// Sets the credentials.
    pub fn auth(mut self, auth: WebSocketAuth) -> Self {
        self.auth = auth;
        self
    }

    /// How long connecting, TLS, the upgrade and — through
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

    /// Trusts `der` (a DER-encoded certificate) as a root for `wss://`, besides the
    /// built-in webpki roots.
    #[cfg(feature = "tls")]
    pub fn add_root_certificate_der(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.tls.add_der(der.into());
        self
    }

    /// Trusts every certificate of a PEM bundle as a root for `wss://`.
    #[cfg(feature = "tls")]
    pub fn add_root_certificates_pem(mut self, pem: &[u8]) -> Result<Self> {
        self.tls.add_pem(pem).map_err(|message| Error::Handshake { endpoint: self.endpoint().to_string(), message })?;
        Ok(self)
    }

    /// Trusts only the roots added here, not the built-in webpki roots.
    #[cfg(feature = "tls")]
    pub fn without_builtin_roots(mut self) -> Self {
        self.tls.builtin = false;
        self
    }

    /// The endpoint, as errors and [`ServerMetadata`](crate::rpc::ServerMetadata) show it.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::websocket(&self.url)
    }

    /// Connects and upgrades, without initializing: the message-level transport.
    pub async fn transport(&self, max_message_size: usize) -> Result<Transport> {
        let endpoint = self.endpoint();
        let shown = endpoint.to_string();
        let invalid = |message: String| Error::Connect {
            endpoint: shown.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, message),
        };
        let uri: http::Uri = self.url.parse().map_err(|e| invalid(format!("not a URL: {e}")))?;
        let secure = match uri.scheme_str() {
            Some("ws") => false,
            Some("wss") => true,
            other => return Err(invalid(format!("the scheme must be ws or wss, not {}", other.unwrap_or("(none)")))),
        };
        let host = uri.host().ok_or_else(|| invalid("the URL has no host".into()))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        if let Err(message) = cleartext_credentials_allowed(
            secure,
            &host,
            !matches!(self.auth, WebSocketAuth::None),
            self.insecure_remote,
        ) {
            return Err(Error::Connect {
                endpoint: shown.clone(),
                source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, message),
            });
        }
        let bearer = self.auth.bearer().map_err(|message| Error::Handshake { endpoint: shown.clone(), message })?;
        let timeout = Deadline::after(self.connect_timeout);
        let tcp = within(timeout, &shown, tokio::net::TcpStream::connect((host.as_str(), port))).await?;
        let _ = tcp.set_nodelay(true);
        if secure {
            #[cfg(feature = "tls")]
            {
                let tls = within(timeout, &shown, self.tls.connect(&host, tcp)).await.map_err(|e| match e {
                    Error::Connect { endpoint, source } if source.kind() == std::io::ErrorKind::InvalidData => {
                        Error::Handshake { endpoint, message: format!("TLS: {source}") }
                    }
                    other => other,
                })?;
                return upgrade(tls, &self.url, bearer.as_ref(), max_message_size, endpoint, timeout, self.keepalive)
                    .await;
            }
            #[cfg(not(feature = "tls"))]
            return Err(invalid("wss:// needs the SDK's `tls` cargo feature".into()));
        }
        upgrade(tcp, &self.url, bearer.as_ref(), max_message_size, endpoint, timeout, self.keepalive).await
    }

    /// Connects and upgrades: a [`Connection`] that is not yet initialized (and that
    /// reconnects, with [`reconnect`](Self::reconnect)).
    pub async fn connect(&self, options: ConnectionOptions) -> Result<Connection> {
        super::connect(self, self.reconnect, options).await
    }
}

impl crate::rpc::Dial for WebSocketEndpoint {
    fn dial(&self, max_message_size: usize) -> super::Dialing<'_> {
        Box::pin(self.transport(max_message_size))
    }
}

/// Whether credentials may be sent on this connection: over `wss://` always; over plain
/// `ws://` only to a loopback host (`localhost`, 127.0.0.0/8, `::1`), unless the caller
/// allowed it by name ([`WebSocketEndpoint::allow_insecure_remote`]). Checked before any
/// connection is made.
fn cleartext_credentials_allowed(secure: bool, host: &str, credentials: bool, allowed: bool) -> Result<(), String> {
    let loopback =
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if secure || !credentials || loopback || allowed {
        return Ok(());
    }
    Err(format!(
        "refusing to send credentials in cleartext (ws://) to {host}, which is not a loopback host: \
         use wss:// (feature `tls`), or WebSocketEndpoint::allow_insecure_remote() on a private network you trust"
    ))
}

#[cfg(test)]
mod tests {
    use super::cleartext_credentials_allowed as allowed;

    #[test]
    fn credentials_go_in_cleartext_only_to_loopback_or_by_name() {
        for host in ["127.0.0.1", "127.3.2.1", "::1", "localhost", "LOCALHOST"] {
            assert!(allowed(false, host, true, false).is_ok(), "{host}");
        }
        for host in ["10.0.0.5", "192.168.1.2", "fd00::1", "example.com", "0.0.0.0"] {
            let refused = allowed(false, host, true, false).expect_err(host);
            assert!(refused.contains("allow_insecure_remote") && refused.contains(host), "{refused}");
            assert!(allowed(true, host, true, false).is_ok(), "wss:// to {host}");
            assert!(allowed(false, host, false, false).is_ok(), "no credentials to {host}");
            assert!(allowed(false, host, true, true).is_ok(), "allowed by name to {host}");
        }
    }
}
