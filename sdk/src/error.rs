//! The SDK's error type and the JSON-RPC error classification.
//!
//! Every fallible call returns [`Error`]. Errors the app-server answers with are
//! [`Error::Rpc`] carrying the untouched [`RpcError`] (code, message, data); the
//! classification the Python SDK expresses as exception classes is available as
//! predicates ([`RpcError::is_overloaded`], [`RpcError::is_retry_limit_exceeded`], …)
//! and as [`RpcError::kind`], so no information is lost by picking a variant.
//!
//! Overload (`-32001`) is retried automatically by every request, with the
//! [`ConnectionOptions::overload_retry`](crate::rpc::ConnectionOptions::overload_retry) policy; when every
//! attempt was overloaded the call fails with [`Error::RetryLimitExceeded`], whose
//! [`rpc_error`](Error::rpc_error) is the server's last answer. With the retry turned off,
//! the overload is the plain [`Error::Rpc`] ([`Error::is_overloaded`]).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::endpoint::CloseReason;
use crate::version::CodexVersion;

fn fmt_availability(since: Option<CodexVersion>, removed: Option<CodexVersion>) -> String {
    match (since, removed) {
        (Some(since), Some(gone)) => format!("it exists from Codex {since} until {gone}"),
        (Some(since), None) => format!("it needs Codex {since} or later"),
        (None, Some(gone)) => format!("Codex {gone} removed it"),
        (None, None) => "the server lacks it".to_owned(),
    }
}

/// `Result` with the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to a Codex app-server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The app-server process could not be started.
    #[error("failed to spawn the Codex app-server `{}`: {source}", binary.display())]
    Spawn {
        /// The program that was executed.
        binary: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// No Codex CLI binary could be located.
    #[error("Codex CLI binary not found (looked at: {searched}): {}", crate::pinned::install_hint())]
    BinaryNotFound {
        /// Where the SDK looked, in order.
        searched: String,
    },

    /// The connection is gone: the process exited, the server closed the WebSocket, the
    /// stream ended or failed, or the client closed or dropped it.
    ///
    /// Every pending request, every event stream and every later call gets this error.
    #[error("the Codex app-server connection{} is closed: {reason}", fmt_endpoint(endpoint))]
    TransportClosed {
        /// Where the connection went (see [`Endpoint`](crate::Endpoint)); empty when unknown.
        endpoint: String,
        /// What closed it.
        reason: CloseReason,
    },

    /// No connection could be made: nothing listens at the endpoint, the socket file is
    /// missing, the URL is not one the SDK can reach, or connecting timed out.
    #[error("cannot connect to the Codex app-server at {endpoint}: {source}")]
    Connect {
        /// The endpoint (without credentials).
        endpoint: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The server refused the credentials: the WebSocket upgrade was answered with HTTP
    /// 401 (no token, a wrong token, an expired or mis-signed JWT) or 403.
    #[error("the Codex app-server at {endpoint} refused the credentials (HTTP {status})")]
    Unauthorized {
        /// The endpoint (without credentials).
        endpoint: String,
        /// The HTTP status of the refused upgrade (401 or 403).
        status: u16,
    },

    /// The WebSocket or TLS handshake failed for another reason (an HTTP status other
    /// than 101, a certificate the client does not trust, …).
    #[error("the handshake with the Codex app-server at {endpoint} failed: {message}")]
    Handshake {
        /// The endpoint (without credentials).
        endpoint: String,
        /// What went wrong.
        message: String,
    },

    /// A `codex app-server daemon …` command failed, or the daemon is not running when it
    /// was required to be.
    #[error("`codex app-server daemon {command}` failed: {message}")]
    Daemon {
        /// The daemon subcommand (`version`, `start`, `stop`).
        command: String,
        /// What went wrong (the command's stderr, trimmed).
        message: String,
    },

    /// A turn was started on a thread whose previous turn is still running (see
    /// [`Thread::turn_with`](crate::Thread::turn_with)). With `merged: false` nothing was
    /// sent; with `merged: true` the server already added the input to the running turn.
    #[error(
        "thread {thread_id} is busy: turn {running_turn_id} is still running{}",
        if *merged { " (the server added the new input to it; use steer to add input on purpose)" } else { "" }
    )]
    ThreadBusy {
        /// The thread.
        thread_id: String,
        /// Its running turn.
        running_turn_id: String,
        /// Whether the server already folded the new input into the running turn.
        merged: bool,
    },

    /// An event stream ended before what it was followed for (a turn's `turn/completed`, a
    /// login's outcome, a goal's end) while the connection stayed open.
    #[error("{what}")]
    StreamEnded {
        /// What ended early.
        what: String,
    },

    /// The caller gave up on the call (dropped its future) before its request was sent:
    /// nothing was sent. (An early end of an event stream is [`Error::StreamEnded`].)
    #[error("the caller gave up before `{method}` was sent")]
    GaveUp {
        /// The request that was not sent.
        method: String,
    },

    /// An I/O error on the transport.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// A payload could not be decoded into the expected type.
    #[error("failed to decode the payload of `{method}`: {source}")]
    Decode {
        /// The JSON-RPC method whose payload failed to decode.
        method: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },

    /// Request params could not be encoded as JSON.
    #[error("failed to encode the params of `{method}`: {source}")]
    Encode {
        /// The JSON-RPC method.
        method: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },

    /// No response arrived within the request timeout; the pending entry was removed.
    #[error("`{method}` timed out after {after:?}")]
    Timeout {
        /// The JSON-RPC method.
        method: String,
        /// The timeout that elapsed.
        after: Duration,
    },

    /// A turn's deadline ([`TurnHandle::run_timeout`](crate::TurnHandle::run_timeout),
    /// [`TurnEvents::deadline`](crate::TurnEvents::deadline)) passed: the turn was
    /// interrupted. `result` is the turn as it ended after the interrupt (status
    /// `Interrupted`, the items so far), when its end arrived.
    #[error("turn {turn_id} of thread {thread_id} ran past its deadline of {after:?} and was interrupted")]
    TurnTimeout {
        /// The thread.
        thread_id: String,
        /// The turn given up on.
        turn_id: String,
        /// The deadline that passed.
        after: Duration,
        /// The turn's result after the interrupt, when its end arrived.
        result: Option<Box<crate::TurnResult>>,
    },

    /// No event of a turn arrived within its idle timeout
    /// ([`TurnEvents::idle_timeout`](crate::TurnEvents::idle_timeout)). The turn runs on;
    /// the stream goes on too (call [`TurnEvents::cancel`](crate::TurnEvents::cancel) to
    /// give up on it).
    #[error("no event of turn {turn_id} of thread {thread_id} for {after:?}; the turn runs on")]
    TurnIdle {
        /// The thread.
        thread_id: String,
        /// The turn.
        turn_id: String,
        /// The idle time that elapsed.
        after: Duration,
    },

    /// The app-server answered with a JSON-RPC error.
    #[error(transparent)]
    Rpc(#[from] RpcError),

    /// Every attempt of a request was rejected as overloaded: the automatic retry
    /// ([`ConnectionOptions::overload_retry`](crate::rpc::ConnectionOptions::overload_retry)) gave up after
    /// `attempts` attempts. `last` is the server's last answer (also reachable through
    /// [`Error::rpc_error`]).
    #[error("`{method}`: the server was still overloaded after {attempts} attempt(s): {last}")]
    RetryLimitExceeded {
        /// The JSON-RPC method.
        method: String,
        /// How many attempts were made (the policy's `max_attempts`).
        attempts: u32,
        /// The overload error of the last attempt.
        #[source]
        last: RpcError,
    },

    /// `initialize` was already sent on this connection.
    #[error("the connection is already initialized")]
    AlreadyInitialized,

    /// The connection has not completed `initialize`, and the call needs a server that
    /// has (e.g. [`Codex::from_connection`](crate::Codex::from_connection)). Run
    /// [`Connection::initialize`](crate::rpc::Connection::initialize) first.
    #[error("the connection is not initialized: call `Connection::initialize` first")]
    NotInitialized,

    /// The connected server's Codex release predates the method (or no longer has it), as
    /// the SDK's protocol history says ([`crate::version`]). Nothing was sent.
    #[error("`{method}` is not in Codex {server_version}: {}", fmt_availability(*since, *removed))]
    Unsupported {
        /// The wire method name.
        method: String,
        /// The first release that has it, if later than the oldest release the SDK knows.
        since: Option<CodexVersion>,
        /// The first release that no longer has it.
        removed: Option<CodexVersion>,
        /// The server's version, from `initialize`.
        server_version: CodexVersion,
    },

    /// The link dropped while this request was on the wire: the server may or may not have
    /// acted on it, and the SDK does not send it again (only reads, methods named `…/read`
    /// or `…/list`, are retried on the new link). Check the server's state (e.g.
    /// `thread/read`) before repeating it. Only a connection with a
    /// [`ReconnectPolicy`](crate::rpc::ReconnectPolicy) reports this; without one the connection
    /// closes with [`Error::TransportClosed`].
    #[error("the link to the Codex app-server{} dropped while `{method}` was unanswered ({reason}): its outcome is unknown and it was not sent again", fmt_endpoint(endpoint))]
    OutcomeUnknown {
        /// The request's method.
        method: String,
        /// Where the link went.
        endpoint: String,
        /// Why the link dropped.
        reason: CloseReason,
    },

    /// The link dropped at this point of a stream and the client is reconnecting: events
    /// the server sent meanwhile may be missing here. The stream continues on the new link
    /// (or ends with [`Error::TransportClosed`] if reconnecting gives up). A turn's
    /// [`TurnResult`](crate::TurnResult) is completed from the server's record, as after
    /// [`Error::Lagged`].
    #[error(
        "the link to the Codex app-server{} dropped ({reason}); events sent until it is back may be missing here",
        fmt_endpoint(endpoint)
    )]
    Gap {
        /// Where the link went.
        endpoint: String,
        /// Why the link dropped.
        reason: CloseReason,
    },

    /// An event subscriber did not keep up: `skipped` events were dropped at this point of
    /// the stream. The stream continues after this error.
    #[error("event subscriber lagged: {skipped} event(s) dropped")]
    Lagged {
        /// How many events were dropped.
        skipped: u64,
    },

    /// An incoming message exceeded the configured maximum size and was discarded.
    #[error("a message of {size} bytes{} exceeded the {limit}-byte limit and was discarded",
        method.as_deref().map(|m| format!(" (response to `{m}`)")).unwrap_or_default())]
    MessageTooLarge {
        /// The method of the request whose response was too large, when known.
        method: Option<String>,
        /// The size of the discarded message in bytes.
        size: u64,
        /// The configured limit in bytes.
        limit: usize,
    },

    /// A turn ended with status `failed`; the result carries the turn's error and
    /// whatever items completed before it failed.
    #[error("turn {} failed: {}", .0.id, .0.error.as_ref().map(|e| e.message.as_str()).unwrap_or("no error message"))]
    TurnFailed(Box<crate::results::TurnResult>),

    /// A turn completed, but some of its notifications did not decode (see
    /// [`TurnHandle::run`](crate::TurnHandle::run)); the result carries everything else
    /// and, in [`undecodable`](crate::TurnResult::undecodable), those notifications whole.
    #[error(
        "turn {} completed, but {} of its notifications did not decode (first: `{}`: {})",
        .0.id,
        .0.undecodable.len(),
        .0.undecodable.first().map_or("", |e| e.method.as_str()),
        .0.undecodable.first().map_or("", |e| e.error.as_str())
    )]
    UndecodableTurnEvents(Box<crate::results::TurnResult>),

    /// The final response of a typed turn ([`Thread::run_typed`](crate::Thread::run_typed))
    /// does not parse as the requested type; carries the raw text, the serde error and
    /// the turn.
    #[error(transparent)]
    OutputMismatch(Box<crate::results::OutputMismatch>),
}

fn fmt_endpoint(endpoint: &str) -> String {
    if endpoint.is_empty() {
        String::new()
    } else {
        format!(" ({endpoint})")
    }
}

impl Error {
    /// The JSON-RPC error the server answered with: the error of [`Error::Rpc`], or the
    /// last overload error of [`Error::RetryLimitExceeded`].
    pub fn rpc_error(&self) -> Option<&RpcError> {
        match self {
            Error::Rpc(e) => Some(e),
            Error::RetryLimitExceeded { last, .. } => Some(last),
            _ => None,
        }
    }

    /// Codex rejected the call as overloaded without processing it (an [`Error::Rpc`] for
    /// which [`RpcError::is_overloaded`] holds): what the SDK retries. `false` for
    /// [`Error::RetryLimitExceeded`]: the SDK already retried as configured.
    pub fn is_overloaded(&self) -> bool {
        match self {
            Error::Rpc(e) => e.is_overloaded(),
            _ => false,
        }
    }

    /// Retries were exhausted: the SDK's automatic overload retry gave up
    /// ([`Error::RetryLimitExceeded`]), or the server gave up after its own retries (see
    /// [`RpcError::is_retry_limit_exceeded`]).
    pub fn is_retry_limit_exceeded(&self) -> bool {
        match self {
            Error::RetryLimitExceeded { .. } => true,
            Error::Rpc(e) => e.is_retry_limit_exceeded(),
            _ => false,
        }
    }

    /// Events may be missing at this point of a stream, which goes on:
    /// [`Error::Lagged`] (a slow consumer) or [`Error::Gap`] (the link dropped).
    pub fn is_missed_events(&self) -> bool {
        matches!(self, Error::Lagged { .. } | Error::Gap { .. })
    }

    /// The link dropped while the request was unanswered ([`Error::OutcomeUnknown`]).
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, Error::OutcomeUnknown { .. })
    }

    /// The connection is gone ([`Error::TransportClosed`]).
    pub fn is_transport_closed(&self) -> bool {
        matches!(self, Error::TransportClosed { .. })
    }

    /// Why the connection closed, for [`Error::TransportClosed`].
    pub fn close_reason(&self) -> Option<&CloseReason> {
        match self {
            Error::TransportClosed { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// Something got no answer in time: a request ([`Error::Timeout`]), a turn past its
    /// deadline ([`Error::TurnTimeout`]) or idle too long ([`Error::TurnIdle`]).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. } | Error::TurnTimeout { .. } | Error::TurnIdle { .. })
    }

    /// The server's release lacks the method ([`Error::Unsupported`]).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Error::Unsupported { .. })
    }

    /// The server refused the credentials ([`Error::Unauthorized`]).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Error::Unauthorized { .. })
    }

    /// A copy of an [`Error::TransportClosed`] (any other error: [`closed_unknown`](Self::closed_unknown)).
    pub(crate) fn clone_closed(&self) -> Self {
        match self {
            Error::TransportClosed { endpoint, reason } => {
                Error::TransportClosed { endpoint: endpoint.clone(), reason: reason.clone() }
            }
            _ => Error::closed_unknown(),
        }
    }

    /// A closed-connection error when nothing more is known (the connection state is gone).
    pub(crate) fn closed_unknown() -> Self {
        Error::TransportClosed { endpoint: String::new(), reason: CloseReason::Dropped }
    }
}

/// A JSON-RPC error code: an open set over `i64` with the standard codes as constants.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrorCode(pub i64);

impl ErrorCode {
    /// -32700: the message was not valid JSON.
    pub const PARSE_ERROR: ErrorCode = ErrorCode(-32700);
    /// -32600: invalid request. Codex 0.169.0 also uses it for unknown methods, bad params,
    /// "Not initialized" and "Already initialized".
    pub const INVALID_REQUEST: ErrorCode = ErrorCode(-32600);
    /// -32601: method not found.
    pub const METHOD_NOT_FOUND: ErrorCode = ErrorCode(-32601);
    /// -32602: invalid params.
    pub const INVALID_PARAMS: ErrorCode = ErrorCode(-32602);
    /// -32603: internal error.
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(-32603);
    /// -32001: the server-error code Codex uses for "server overloaded".
    pub const SERVER_OVERLOADED: ErrorCode = ErrorCode(-32001);
    /// Lowest code of the implementation-defined server-error range (-32099).
    pub const SERVER_ERROR_MIN: ErrorCode = ErrorCode(-32099);
    /// Highest code of the implementation-defined server-error range (-32000).
    pub const SERVER_ERROR_MAX: ErrorCode = ErrorCode(-32000);

    /// The numeric code.
    pub const fn code(self) -> i64 {
        self.0
    }
    /// -32700.
    pub const fn is_parse_error(self) -> bool {
        self.0 == Self::PARSE_ERROR.0
    }
    /// -32600.
    pub const fn is_invalid_request(self) -> bool {
        self.0 == Self::INVALID_REQUEST.0
    }
    /// -32601.
    pub const fn is_method_not_found(self) -> bool {
        self.0 == Self::METHOD_NOT_FOUND.0
    }
    /// -32602.
    pub const fn is_invalid_params(self) -> bool {
        self.0 == Self::INVALID_PARAMS.0
    }
    /// -32603.
    pub const fn is_internal(self) -> bool {
        self.0 == Self::INTERNAL_ERROR.0
    }
    /// In the server-error range -32099..=-32000.
    pub const fn is_server_error(self) -> bool {
        self.0 >= Self::SERVER_ERROR_MIN.0 && self.0 <= Self::SERVER_ERROR_MAX.0
    }

    fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::PARSE_ERROR => "ParseError",
            Self::INVALID_REQUEST => "InvalidRequest",
            Self::METHOD_NOT_FOUND => "MethodNotFound",
            Self::INVALID_PARAMS => "InvalidParams",
            Self::INTERNAL_ERROR => "InternalError",
            Self::SERVER_OVERLOADED => "ServerOverloaded",
            _ => return None,
        })
    }
}

impl From<i64> for ErrorCode {
    fn from(code: i64) -> Self {
        ErrorCode(code)
    }
}

impl From<ErrorCode> for i64 {
    fn from(code: ErrorCode) -> Self {
        code.0
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "ErrorCode({} {name})", self.0),
            None => write!(f, "ErrorCode({})", self.0),
        }
    }
}

/// The classification of an [`RpcError`], mirroring the Python SDK's exception classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RpcErrorKind {
    /// -32700.
    ParseError,
    /// -32600.
    InvalidRequest,
    /// -32601.
    MethodNotFound,
    /// -32602.
    InvalidParams,
    /// -32603.
    Internal,
    /// Server-error range with an overload marker, or a bare -32001: retryable.
    ServerOverloaded,
    /// Server-error range whose message says the server's own retries were exhausted.
    RetryLimitExceeded,
    /// Any other code in -32099..=-32000.
    Server,
    /// Any other code.
    Other,
}

/// A JSON-RPC error object (`{code, message, data?}`), as received or as sent in a reply.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[error("JSON-RPC error {code}: {message}")]
pub struct RpcError {
    /// The error code.
    pub code: ErrorCode,
    /// The human-readable message.
    pub message: String,
    /// Optional structured details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

const OVERLOAD_INFO_KEYS: [&str; 3] = ["codex_error_info", "codexErrorInfo", "errorInfo"];
const OVERLOAD_MARKERS: [&str; 2] = ["server_overloaded", "serverOverloaded"];

impl RpcError {
    /// An error with `code` and `message` and no data.
    pub fn new(code: impl Into<ErrorCode>, message: impl Into<String>) -> Self {
        RpcError { code: code.into(), message: message.into(), data: None }
    }

    /// Attaches `data`.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// -32601 for `method`.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(ErrorCode::METHOD_NOT_FOUND, format!("method not supported by this client: {method}"))
    }

    /// -32602 with `message`.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INVALID_PARAMS, message)
    }

    /// -32603 with `message`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INTERNAL_ERROR, message)
    }

    /// Codex rejected the request as overloaded, without processing it: `-32001`, bare or
    /// with a `server_overloaded` marker in `data`. Exactly what the SDK retries (the
    /// automatic retry and [`retry_on_overload`](crate::rpc::retry_on_overload)): resending such
    /// a request cannot do anything twice.
    pub fn is_overloaded(&self) -> bool {
        self.code == ErrorCode::SERVER_OVERLOADED && self.mentions_overload()
    }

    /// The wider classification, as the Python SDK makes it: any server-range code
    /// (-32099..=-32000) whose `data` holds, at any depth, a `codex_error_info` /
    /// `codexErrorInfo` / `errorInfo` entry saying `server_overloaded` (or
    /// `serverOverloaded`), and a bare `-32001`. [`kind`](Self::kind) reports these as
    /// [`RpcErrorKind::ServerOverloaded`]; whether to retry one that is not
    /// [`is_overloaded`](Self::is_overloaded) (it may have been processed) is the caller's call.
    pub fn mentions_overload(&self) -> bool {
        if !self.code.is_server_error() {
            return false;
        }
        match &self.data {
            None => self.code == ErrorCode::SERVER_OVERLOADED,
            Some(data) => data_says_overloaded(data),
        }
    }

    /// The server exhausted its own retries ("retry limit" / "too many failed attempts"
    /// in the message of a server-range error).
    pub fn is_retry_limit_exceeded(&self) -> bool {
        if !self.code.is_server_error() || self.mentions_overload() {
            return false;
        }
        let message = self.message.to_ascii_lowercase();
        message.contains("retry limit") || message.contains("too many failed attempts")
    }

    /// The classification of this error.
    pub fn kind(&self) -> RpcErrorKind {
        match self.code {
            ErrorCode::PARSE_ERROR => RpcErrorKind::ParseError,
            ErrorCode::INVALID_REQUEST => RpcErrorKind::InvalidRequest,
            ErrorCode::METHOD_NOT_FOUND => RpcErrorKind::MethodNotFound,
            ErrorCode::INVALID_PARAMS => RpcErrorKind::InvalidParams,
            ErrorCode::INTERNAL_ERROR => RpcErrorKind::Internal,
            _ if self.mentions_overload() => RpcErrorKind::ServerOverloaded,
            _ if self.is_retry_limit_exceeded() => RpcErrorKind::RetryLimitExceeded,
            c if c.is_server_error() => RpcErrorKind::Server,
            _ => RpcErrorKind::Other,
        }
    }
}

/// Whether `value` contains, anywhere, an error-info key whose value names the overload marker.
fn data_says_overloaded(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(key, v)| {
            (OVERLOAD_INFO_KEYS.contains(&key.as_str()) && names_overload(v)) || data_says_overloaded(v)
        }),
        Value::Array(items) => items.iter().any(data_says_overloaded),
        _ => false,
    }
}

/// Whether an error-info value names the overload marker (as a string, an object key, or nested).
fn names_overload(value: &Value) -> bool {
    match value {
        Value::String(s) => OVERLOAD_MARKERS.contains(&s.as_str()),
        Value::Object(map) => map.iter().any(|(k, v)| OVERLOAD_MARKERS.contains(&k.as_str()) || names_overload(v)),
        Value::Array(items) => items.iter().any(names_overload),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn overload_detection() {
        let bare = RpcError::new(-32001, "busy");
        assert!(bare.is_overloaded());
        assert_eq!(bare.kind(), RpcErrorKind::ServerOverloaded);

        // The wider classification: any server-range code with the marker.
        let nested =
            RpcError::new(-32000, "x").with_data(json!({"details": {"codex_error_info": "server_overloaded"}}));
        assert!(nested.mentions_overload() && !nested.is_overloaded(), "not -32001: not retried");
        assert_eq!(nested.kind(), RpcErrorKind::ServerOverloaded);
        let camel = RpcError::new(-32050, "x").with_data(json!({"codexErrorInfo": "serverOverloaded"}));
        assert!(camel.mentions_overload() && !camel.is_overloaded());
        let object = RpcError::new(-32001, "x").with_data(json!([{"errorInfo": {"server_overloaded": {}}}]));
        assert!(object.is_overloaded() && object.mentions_overload());

        // Marker outside an error-info key does not count; -32001 with unrelated data neither.
        let unrelated = RpcError::new(-32001, "x").with_data(json!({"note": "server_overloaded"}));
        assert!(!unrelated.is_overloaded() && !unrelated.mentions_overload());
        // Outside the server range never.
        let invalid = RpcError::new(-32600, "x").with_data(json!({"codexErrorInfo": "serverOverloaded"}));
        assert!(!invalid.is_overloaded() && !invalid.mentions_overload());
        assert_eq!(invalid.kind(), RpcErrorKind::InvalidRequest);
    }

    #[test]
    fn retry_limit_and_codes() {
        let e = RpcError::new(-32000, "Retry limit exceeded for upstream");
        assert!(e.is_retry_limit_exceeded());
        assert_eq!(e.kind(), RpcErrorKind::RetryLimitExceeded);
        let e = RpcError::new(-32002, "too many failed attempts");
        assert!(e.is_retry_limit_exceeded());
        assert!(!RpcError::new(-32600, "retry limit").is_retry_limit_exceeded());
        assert_eq!(RpcError::new(-32010, "boom").kind(), RpcErrorKind::Server);
        assert_eq!(RpcError::new(7, "boom").kind(), RpcErrorKind::Other);

        assert!(ErrorCode(-32700).is_parse_error());
        assert!(ErrorCode(-32601).is_method_not_found());
        assert!(ErrorCode(-32602).is_invalid_params());
        assert!(ErrorCode(-32603).is_internal());
        assert!(ErrorCode(-32099).is_server_error() && ErrorCode(-32000).is_server_error());
        assert!(!ErrorCode(-32100).is_server_error());
        assert_eq!(format!("{:?}", ErrorCode::INVALID_REQUEST), "ErrorCode(-32600 InvalidRequest)");

        let wire: RpcError = serde_json::from_value(json!({"code": -32600, "message": "m", "data": null})).unwrap();
        assert_eq!(wire.data, None);
        assert_eq!(serde_json::to_value(&wire).unwrap(), json!({"code": -32600, "message": "m"}));
    }
}
