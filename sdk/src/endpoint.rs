//! Where a connection goes ([`Endpoint`]) and why it ended ([`CloseReason`]): plain data,
//! shared by the runtime, the errors and [`ServerMetadata`](crate::rpc::ServerMetadata).

use std::fmt;
use std::path::PathBuf;
use std::process::ExitStatus;

/// The app-server a connection talks to. Never holds a secret: a WebSocket URL is kept
/// without its user info and query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// A `codex app-server` process the SDK spawned, over its stdin and stdout.
    Process {
        /// The program that was started.
        program: PathBuf,
        /// Its process id.
        pid: Option<u32>,
    },
    /// A WebSocket URL (`ws://…` or `wss://…`).
    WebSocket {
        /// The URL, without user info or query.
        url: String,
    },
    /// A unix socket (the app-server's control socket, or the managed daemon's).
    UnixSocket {
        /// The socket path.
        path: PathBuf,
    },
    /// A transport the caller supplied to
    /// [`Connection::from_transport`](crate::rpc::Connection::from_transport).
    Custom {
        /// What the caller called it.
        description: String,
    },
}

impl Endpoint {
    /// A WebSocket endpoint for `url`, with user info and query removed.
    pub fn websocket(url: &str) -> Self {
        Endpoint::WebSocket { url: redact_url(url) }
    }

    /// A caller-supplied transport described as `description`.
    pub fn custom(description: impl Into<String>) -> Self {
        Endpoint::Custom { description: description.into() }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Process { program, pid: Some(pid) } => write!(f, "process {} (pid {pid})", program.display()),
            Endpoint::Process { program, pid: None } => write!(f, "process {}", program.display()),
            Endpoint::WebSocket { url } => f.write_str(url),
            Endpoint::UnixSocket { path } => write!(f, "unix:{}", path.display()),
            Endpoint::Custom { description } => f.write_str(description),
        }
    }
}

/// `url` without `user:password@` and without `?query` / `#fragment`: what may be shown.
pub(crate) fn redact_url(url: &str) -> String {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..cut];
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// Why a connection closed: what every pending request, stream and later call is told in
/// [`Error::TransportClosed`](crate::Error::TransportClosed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The spawned app-server process is gone (or closed its stdout).
    ProcessExited {
        /// Its exit status; `None` when it had not exited when the connection closed.
        status: Option<ExitStatus>,
        /// The last bytes (at most 64 KiB) it wrote to stderr.
        stderr_tail: String,
    },
    /// The server closed the WebSocket with a close frame.
    WebSocketClosed {
        /// The close code (1000 normal, 1001 going away, 1009 too big, …); 1005 when the
        /// frame carried none.
        code: u16,
        /// The close reason text the server sent (often empty).
        reason: String,
    },
    /// The stream ended without a goodbye (end of file, or a WebSocket dropped without a
    /// close frame): the server went away or the network path broke — the client cannot
    /// tell which, and the message says both.
    EndOfStream,
    /// Reading or writing failed (connection reset, broken pipe, …).
    Io {
        /// The I/O error kind.
        kind: std::io::ErrorKind,
        /// The error text.
        message: String,
    },
    /// The peer broke the wire protocol (an invalid WebSocket frame, a message far over
    /// the size limit that cannot be skipped).
    Protocol {
        /// What was wrong.
        message: String,
    },
    /// Nothing arrived on the WebSocket for `after` although the client kept pinging: a
    /// half-open link (see [`attach::Keepalive`](crate::attach::Keepalive)).
    KeepaliveTimeout {
        /// How long the link was silent.
        after: std::time::Duration,
    },
    /// The link dropped and reconnecting gave up (see
    /// [`ReconnectPolicy`](crate::rpc::ReconnectPolicy)): `attempts` dials failed over `after`.
    ReconnectFailed {
        /// Why the link dropped in the first place.
        dropped: Box<CloseReason>,
        /// How many dials were tried.
        attempts: u32,
        /// How long the client tried.
        after: std::time::Duration,
        /// The last attempt's error.
        last_error: String,
    },
    /// This client closed the connection ([`Connection::close`](crate::rpc::Connection::close)).
    ClosedByClient,
    /// The last [`Connection`](crate::rpc::Connection) handle was dropped.
    Dropped,
}

impl CloseReason {
    /// The process exit status, when a spawned process exited.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        match self {
            CloseReason::ProcessExited { status, .. } => *status,
            _ => None,
        }
    }

    /// The spawned process's stderr tail (empty for other transports).
    pub fn stderr_tail(&self) -> &str {
        match self {
            CloseReason::ProcessExited { stderr_tail, .. } => stderr_tail,
            _ => "",
        }
    }

    pub(crate) fn io(error: &std::io::Error) -> Self {
        CloseReason::Io { kind: error.kind(), message: error.to_string() }
    }

    /// Whether the link itself failed (the server went away, the network broke, a close
    /// frame, a half-open link): what a connection with a
    /// [`ReconnectPolicy`](crate::rpc::ReconnectPolicy) re-dials after. A protocol violation, a
    /// spawned process's exit and the client's own close or drop are not.
    pub fn is_link_failure(&self) -> bool {
        matches!(
            self,
            CloseReason::WebSocketClosed { .. }
                | CloseReason::EndOfStream
                | CloseReason::Io { .. }
                | CloseReason::KeepaliveTimeout { .. }
        )
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::ProcessExited { status, stderr_tail } => {
                match status {
                    Some(status) => write!(f, "the app-server process exited ({status})")?,
                    None => f.write_str("the app-server process closed its output")?,
                }
                let tail = stderr_tail.trim_end();
                if !tail.is_empty() {
                    write!(f, "; stderr tail:\n{tail}")?;
                }
                Ok(())
            }
            CloseReason::WebSocketClosed { code, reason } if reason.is_empty() => {
                write!(f, "the server closed the WebSocket (code {code})")
            }
            CloseReason::WebSocketClosed { code, reason } => {
                write!(f, "the server closed the WebSocket (code {code}: {reason})")
            }
            CloseReason::EndOfStream => {
                f.write_str("the stream ended without a goodbye (the server went away, or the network path broke)")
            }
            CloseReason::Io { message, .. } => write!(f, "the transport failed: {message}"),
            CloseReason::Protocol { message } => write!(f, "protocol violation: {message}"),
            CloseReason::KeepaliveTimeout { after } => {
                write!(f, "nothing arrived for {after:?} although the client kept pinging (a half-open link)")
            }
            CloseReason::ReconnectFailed { dropped, attempts, after, last_error } => write!(
                f,
                "the link dropped ({dropped}) and {attempts} reconnect attempt(s) over {after:?} failed; the last: {last_error}"
            ),
            CloseReason::ClosedByClient => f.write_str("closed by the client"),
            CloseReason::Dropped => f.write_str("the connection was dropped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_credentials_and_queries() {
        assert_eq!(redact_url("ws://user:pw@127.0.0.1:4500/rpc?token=x#f"), "ws://127.0.0.1:4500/rpc");
        assert_eq!(redact_url("wss://h:1"), "wss://h:1");
        assert_eq!(redact_url("ws://a@b@h/p@q"), "ws://h/p@q");
        assert_eq!(Endpoint::websocket("ws://t@h:1/?k=v").to_string(), "ws://h:1/");
    }

    #[test]
    fn reasons_read_well() {
        let ws = CloseReason::WebSocketClosed { code: 1000, reason: String::new() };
        assert_eq!(ws.to_string(), "the server closed the WebSocket (code 1000)");
        assert_eq!(ws.exit_status(), None);
        assert_eq!(ws.stderr_tail(), "");
        let p = CloseReason::ProcessExited { status: None, stderr_tail: "boom\n".into() };
        assert_eq!(p.to_string(), "the app-server process closed its output; stderr tail:\nboom");
    }
}
