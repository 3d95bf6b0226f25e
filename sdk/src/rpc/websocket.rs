//! The WebSocket transport: one JSON-RPC message per text frame, over any byte stream (TCP,
//! TLS, a unix socket). Framing, masking, ping/pong and the close handshake are
//! tokio-websockets'; this module maps messages to [`Inbound`] and close frames and errors
//! to a [`CloseReason`].
//!
//! Why tokio-websockets: it logs nothing. tungstenite logs the upgrade request (with its
//! `Authorization` header) and every frame (an API-key login among them) through `log` at
//! TRACE, which no setting of ours can turn off; a secret must reach no log record.
//!
//! Size limit: tokio-websockets reads a message whole before the SDK sees it, so it is given a hard
//! cap above `max_message_size` (twice the limit, and at least 1 MiB more). A text message
//! over `max_message_size` but under the cap is discarded like an oversized line (its
//! request fails with [`Error::MessageTooLarge`](crate::Error::MessageTooLarge) and the
//! connection carries on); one over the cap cannot be skipped and closes the connection
//! with [`CloseReason::Protocol`].

use std::io;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_websockets::{Error as WsError, Limits, Message, WebSocketStream};

use super::transport::{Inbound, Transport};
use crate::endpoint::{CloseReason, Endpoint};

/// How many leading bytes of an oversized message are kept (to find the request it answered).
const PREFIX_KEEP: usize = 256;

/// The read limits of a connection whose messages may be `limit` bytes.
pub(crate) fn limits(limit: usize) -> Limits {
    Limits::default().max_payload_len(Some(hard_limit(limit)))
}

/// The most tokio-websockets reads before giving up on a message.
fn hard_limit(limit: usize) -> usize {
    limit.saturating_add(limit.max(1 << 20))
}

/// WebSocket keepalive of an attached connection: a ping every `interval`, and a link on
/// which nothing at all arrives for `interval + timeout` (no pong, no message) is declared
/// dead ([`CloseReason::KeepaliveTimeout`]). A half-open link (the path stops forwarding,
/// TCP stays open) is then noticed within that bound instead of at a request's timeout, or
/// never for a stream. An idle connection to a live server stays up: the server answers
/// every ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Keepalive {
    /// How often a ping is sent.
    pub interval: Duration,
    /// How long after a ping the link may stay silent before it is declared dead.
    pub timeout: Duration,
}

impl Default for Keepalive {
    /// A ping every 10 s; dead after 30 s without a frame.
    fn default() -> Self {
        Keepalive { interval: Duration::from_secs(10), timeout: Duration::from_secs(20) }
    }
}

impl Keepalive {
    /// A ping every `interval`; dead after `interval + timeout` without a frame.
    pub fn new(interval: Duration, timeout: Duration) -> Self {
        Keepalive { interval: interval.max(Duration::from_millis(1)), timeout }
    }

    /// How long the link may stay silent before it is declared dead.
    pub fn dead_after(&self) -> Duration {
        self.interval.saturating_add(self.timeout)
    }
}

/// How long closing the WebSocket waits for the peer's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Outgoing messages waiting for the WebSocket writer (few: backpressure reaches the
/// connection's own queue, as with a direct sink).
const OUTGOING: usize = 1;

/// A [`Transport`] over an established WebSocket, with `keepalive` (or none).
pub(crate) fn transport<S>(
    ws: WebSocketStream<S>,
    limit: usize,
    endpoint: Endpoint,
    keepalive: Option<Keepalive>,
) -> Transport
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sink, stream) = ws.split();
    let dead_after = keepalive.map(|k| k.dead_after());
    let inbound = futures_util::stream::unfold(Some(stream), move |stream| async move {
        let mut stream = stream?;
        loop {
            let next = match dead_after {
                None => stream.next().await,
                Some(after) => match tokio::time::timeout(after, stream.next()).await {
                    Ok(next) => next,
                    Err(_) => return Some((Inbound::Closed(CloseReason::KeepaliveTimeout { after }), None)),
                },
            };
            let item = match next {
                Some(Ok(message)) => match inbound(message, limit) {
                    Some(item) => item,
                    None => continue,
                },
                Some(Err(e)) => Inbound::Closed(close_reason(e)),
                None => Inbound::Closed(CloseReason::EndOfStream),
            };
            let next = (!matches!(item, Inbound::Closed(_))).then_some(stream);
            return Some((item, next));
        }
    });
    // One task owns the sink: it writes the connection's messages and, between them, the
    // keepalive pings; the connection's writer closing its end closes the WebSocket.
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(OUTGOING);
    tokio::spawn(write_frames(sink, rx, keepalive));
    let outbound = futures_util::sink::unfold(tx, |tx, text: String| async move {
        tx.send(text)
            .await
            .map(|()| tx)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the WebSocket writer ended"))
    });
    Transport::new(inbound, outbound, endpoint)
}

/// Writes `rx`'s messages as text frames and a ping every `keepalive.interval`; closes the
/// WebSocket (a close frame) once `rx` ends, and ends at the first write error (the
/// connection's next send then fails, and its reader reports why).
async fn write_frames<S>(
    mut sink: futures_util::stream::SplitSink<WebSocketStream<S>, Message>,
    mut rx: tokio::sync::mpsc::Receiver<String>,
    keepalive: Option<Keepalive>,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut pings = keepalive.map(|k| tokio::time::interval_at(tokio::time::Instant::now() + k.interval, k.interval));
    loop {
        let ping = async {
            match pings.as_mut() {
                Some(pings) => {
                    pings.tick().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let written = tokio::select! {
            text = rx.recv() => match text {
                Some(text) => sink.send(Message::text(text)).await,
                None => {
                    // tokio-websockets' close waits for the peer's close frame: bounded,
                    // so a half-open link cannot hold this task (and its socket).
                    let _ = tokio::time::timeout(CLOSE_WAIT, sink.close()).await;
                    return;
                }
            },
            () = ping => sink.send(Message::ping(&b""[..])).await,
        };
        if let Err(e) = written {
            tracing::debug!(error = %e, "the WebSocket write failed; the writer ends");
            return;
        }
    }
}

/// What a received message means; `None` for control frames tokio-websockets already
/// handled (it answers pings; pongs carry nothing for us).
fn inbound(message: Message, limit: usize) -> Option<Inbound> {
    if let Some((code, reason)) = message.as_close() {
        return Some(Inbound::Closed(CloseReason::WebSocketClosed { code: code.into(), reason: reason.to_owned() }));
    }
    if message.is_ping() || message.is_pong() {
        return None;
    }
    let bytes: &[u8] = message.as_payload();
    Some(if message.is_binary() {
        Inbound::NotAMessage(format!("a binary frame of {} bytes", bytes.len()))
    } else if bytes.len() > limit {
        Inbound::TooLarge { size: bytes.len() as u64, prefix: bytes[..bytes.len().min(PREFIX_KEEP)].to_vec() }
    } else {
        Inbound::Message(bytes.to_vec())
    })
}

fn close_reason(error: WsError) -> CloseReason {
    match error {
        WsError::AlreadyClosed => CloseReason::EndOfStream,
        WsError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => CloseReason::EndOfStream,
        WsError::Io(e) => CloseReason::io(&e),
        WsError::PayloadTooLong { len, max_len } => CloseReason::Protocol {
            message: format!("a message of {len} bytes exceeds the {max_len}-byte most the WebSocket transport reads"),
        },
        other => CloseReason::Protocol { message: other.to_string() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_map_to_inbound() {
        assert_eq!(inbound(Message::text("{}"), 8), Some(Inbound::Message(b"{}".to_vec())));
        assert_eq!(
            inbound(Message::text("0123456789"), 8),
            Some(Inbound::TooLarge { size: 10, prefix: b"0123456789".to_vec() })
        );
        assert!(matches!(inbound(Message::binary(vec![1, 2]), 8), Some(Inbound::NotAMessage(_))));
        assert_eq!(inbound(Message::ping(&b"1"[..]), 8), None);
        assert_eq!(inbound(Message::pong(&b"1"[..]), 8), None);
        assert_eq!(
            inbound(Message::close(None, ""), 8),
            Some(Inbound::Closed(CloseReason::WebSocketClosed { code: 1005, reason: String::new() }))
        );
        assert_eq!(
            inbound(Message::close(Some(tokio_websockets::CloseCode::POLICY_VIOLATION), "bye"), 8),
            Some(Inbound::Closed(CloseReason::WebSocketClosed { code: 1008, reason: "bye".into() }))
        );
        assert_eq!(hard_limit(1024), 1024 + (1 << 20));
        assert_eq!(hard_limit(64 << 20), 128 << 20);
    }
}
