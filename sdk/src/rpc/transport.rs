//! The message-level seam between the runtime and the wire: a [`Transport`] yields whole
//! incoming JSON-RPC messages ([`Inbound`]) and accepts whole outgoing ones. How messages
//! are framed — newline-delimited lines (stdio, [`Transport::lines`]),
//! WebSocket text frames — is each transport's own business; routing, size limits, close
//! semantics and everything above are shared.

use std::io;
use std::pin::Pin;

use futures_util::{Sink, Stream};

use crate::endpoint::{CloseReason, Endpoint};

/// One thing a transport received.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Inbound {
    /// One whole JSON-RPC message (a line without its terminator, a WebSocket text frame).
    Message(Vec<u8>),
    /// A message longer than the connection's `max_message_size`; its content was
    /// discarded. `prefix` holds its first bytes when the transport kept them (used to find
    /// the request it answered).
    TooLarge {
        /// Its size in bytes.
        size: u64,
        /// Its first bytes (at most 256; may be empty).
        prefix: Vec<u8>,
    },
    /// Something that is not a message (a binary WebSocket frame, …): counted as invalid
    /// and skipped.
    NotAMessage(String),
    /// The transport ended; nothing follows.
    Closed(CloseReason),
}

/// The receiving half of a [`Transport`]: a stream of [`Inbound`] that ends with
/// [`Inbound::Closed`] (a stream that just ends counts as [`CloseReason::EndOfStream`]).
pub type InboundStream = Pin<Box<dyn Stream<Item = Inbound> + Send>>;

/// The sending half of a [`Transport`]: takes one encoded JSON-RPC message (no framing) at
/// a time. Flushed after each batch; closed when the connection shuts down.
pub type OutboundSink = Pin<Box<dyn Sink<String, Error = io::Error> + Send>>;

/// A message-oriented transport to one app-server: what
/// [`Connection::from_transport`](super::Connection::from_transport) runs on.
pub struct Transport {
    pub(crate) inbound: InboundStream,
    pub(crate) outbound: OutboundSink,
    pub(crate) endpoint: Endpoint,
}

impl Transport {
    /// A transport from its two halves; `endpoint` says where it goes (for errors and
    /// [`ServerMetadata`](super::ServerMetadata)).
    ///
    /// The incoming stream must enforce the size limit itself (yield [`Inbound::TooLarge`]
    /// instead of an oversized message) and should never block on the consumer. It must
    /// return `Pending` when it has nothing ready rather than block inside `poll_next`: the
    /// reader wakes the consumers of a burst of notifications when the stream is `Pending`
    /// (or after 32 of them; a turn's end and a filling buffer wake at once).
    pub fn new<I, O>(inbound: I, outbound: O, endpoint: Endpoint) -> Self
    where
        I: Stream<Item = Inbound> + Send + 'static,
        O: Sink<String, Error = io::Error> + Send + 'static,
    {
        Transport { inbound: Box::pin(inbound), outbound: Box::pin(outbound), endpoint }
    }

    /// Where this transport goes.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}
