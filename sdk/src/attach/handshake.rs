//! The WebSocket upgrade over an established byte stream, shared by every way to attach,
//! with its failures mapped to the SDK's typed errors.

use std::time::Duration;

use http::{header, HeaderValue, Uri};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_websockets::Error as WsError;

use super::secret::Secret;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::rpc::Transport;

/// Upgrades `stream` to a WebSocket at `url` (sending `bearer` as `Authorization: Bearer …`)
/// and wraps it as a [`Transport`] to `endpoint` with `keepalive`, by `deadline` (the connect
/// deadline, shared with the steps before it).
pub(crate) async fn upgrade<S>(
    stream: S,
    url: &str,
    bearer: Option<&Secret>,
    max_message_size: usize,
    endpoint: Endpoint,
    deadline: Deadline,
    keepalive: Option<super::Keepalive>,
) -> Result<Transport>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let shown = endpoint.to_string();
    let handshake_error = |message: String| Error::Handshake { endpoint: shown.clone(), message };
    let uri: Uri = url.parse().map_err(|e| handshake_error(format!("not a URL: {e}")))?;
    let mut request =
        tokio_websockets::ClientBuilder::from_uri(uri).limits(crate::rpc::websocket::limits(max_message_size));
    if let Some(bearer) = bearer {
        // Built in one allocation and wiped after: the header value (the `http` crate's) and
        // the upgrade request's write buffer are the copies left to the dependencies.
        let mut text = zeroize::Zeroizing::new(String::with_capacity("Bearer ".len() + bearer.expose().len()));
        text.push_str("Bearer ");
        text.push_str(bearer.expose());
        let mut value = HeaderValue::from_str(&text)
            .map_err(|_| handshake_error("the bearer token is not a valid HTTP header value".into()))?;
        value.set_sensitive(true);
        request = request.add_header(header::AUTHORIZATION, value).map_err(|e| handshake_error(e.to_string()))?;
    }
    let handshake = request.connect_on(stream);
    let (ws, _response) = match tokio::time::timeout_at(deadline.at, handshake).await {
        Err(_) => {
            return Err(Error::Connect {
                endpoint: shown,
                source: std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no WebSocket upgrade within the {:?} connect timeout", deadline.total),
                ),
            })
        }
        Ok(Err(error)) => return Err(upgrade_error(error, &shown)),
        Ok(Ok(done)) => done,
    };
    tracing::debug!(endpoint = %shown, "attached to the codex app-server");
    Ok(crate::rpc::websocket::transport(ws, max_message_size, endpoint, keepalive))
}

/// The typed error for a failed upgrade; never includes the request (it holds the token).
fn upgrade_error(error: WsError, endpoint: &str) -> Error {
    match error {
        WsError::Upgrade(tokio_websockets::upgrade::Error::DidNotSwitchProtocols(status @ (401 | 403))) => {
            Error::Unauthorized { endpoint: endpoint.to_owned(), status }
        }
        WsError::Upgrade(tokio_websockets::upgrade::Error::DidNotSwitchProtocols(status)) => Error::Handshake {
            endpoint: endpoint.to_owned(),
            message: format!("the server answered the upgrade with HTTP {status}"),
        },
        WsError::Io(source) => Error::Connect { endpoint: endpoint.to_owned(), source },
        other => Error::Handshake { endpoint: endpoint.to_owned(), message: other.to_string() },
    }
}

/// One connect timeout for every step of attaching (connect, TLS, upgrade).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: tokio::time::Instant,
    total: Duration,
}

impl Deadline {
    /// `total` from now.
    pub(crate) fn after(total: Duration) -> Self {
        let at = tokio::time::Instant::now()
            .checked_add(total)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86_400 * 365));
        Deadline { at, total }
    }
}

/// Runs one step of connecting by `deadline`, naming `endpoint` in the error.
pub(crate) async fn within<T>(
    deadline: Deadline,
    endpoint: &str,
    connect: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T> {
    let timeout = deadline.total;
    match tokio::time::timeout_at(deadline.at, connect).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(source)) => Err(Error::Connect { endpoint: endpoint.to_owned(), source }),
        Err(_) => Err(Error::Connect {
            endpoint: endpoint.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::TimedOut, format!("not connected within {timeout:?}")),
        }),
    }
}
