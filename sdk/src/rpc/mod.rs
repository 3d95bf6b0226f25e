//! The async JSON-RPC runtime: transport, request/response correlation, notification
//! routing, server-request dispatch.
//!
//! # Routing
//!
//! One reader task owns the server's output. Each message goes to exactly the places that
//! asked for it:
//!
//! - **responses** → the waiting [`Connection::request`] call (unknown or duplicate ids are
//!   logged, counted and dropped);
//! - **notifications** → by the turn id in `params.turnId` / `params.turn.id` to that turn's
//!   [`TurnStream`] — or, while a [`TurnReservation`] is open for the thread
//!   (`params.threadId` / `params.thread.id`) and the turn has no stream yet, into the
//!   reservation's buffer, so events that race the `turn/start` response (even
//!   `turn/completed`) are never lost — and additionally to every [`EventStream`] whose
//!   [`EventFilter`] matches. A notification nobody asked for is counted and dropped.
//! - **server requests** → the [`RawServerRequestHandler`], each in its own task; the reply is
//!   always sent (a handler error or panic becomes a JSON-RPC error reply).
//!
//! # Buffering policy
//!
//! Every stream has a bounded buffer (defaults: 8192 events per turn stream and per
//! reservation-captured turn, 1024 per [`EventStream`]; see
//! [`ClientConfig`](crate::ClientConfig)). The reader never waits for a consumer: when a
//! buffer is full the event is dropped for that subscriber only and the stream yields
//! [`Error::Lagged`](crate::Error::Lagged) `{ skipped }` at that position, then continues.
//! A turn's `turn/completed` is always delivered, so a turn stream always ends. Other
//! streams, other turns, responses and server-request replies are unaffected by a slow
//! consumer.
//!
//! # Overload
//!
//! A request the server answers with an overload error (`-32001`; see
//! [`RpcError::is_overloaded`](crate::RpcError::is_overloaded)) was not processed, so
//! [`Connection::call`] — the path of every request — sends it again after an exponential
//! backoff with jitter, as [`ConnectionOptions::overload_retry`] says (default
//! [`RetryPolicy::default`]), logging a warning per retry. When every attempt was
//! overloaded it fails with [`Error::RetryLimitExceeded`](crate::Error::RetryLimitExceeded).
//! Nothing else (other JSON-RPC errors, timeouts, a closed transport) is retried.
//!
//! # Closing
//!
//! When the transport ends, every pending request, stream and later call gets
//! [`Error::TransportClosed`](crate::Error::TransportClosed) with a [`CloseReason`](crate::CloseReason) saying
//! what closed: a spawned process's exit status and the last 64 KiB of its stderr, a
//! WebSocket close code, a stream that ended or failed, or the client itself. A
//! server-request handler still running then is cancelled: its future is dropped and no
//! reply is sent. Dropping the last [`Connection`] clone stops every task and kills a
//! spawned process; an attached server is disconnected from, never stopped.
//!
//! # Reconnecting
//!
//! A connection made from a [`Dial`] with a [`ReconnectPolicy`]
//! ([`Connection::connect_with_reconnect`], or an attach endpoint's `reconnect`) does not
//! close when its link fails: it dials again, initializes, resumes the threads it still
//! needs, and carries on. Requests written to the dropped link fail with
//! [`Error::OutcomeUnknown`](crate::Error::OutcomeUnknown) (reads are sent again), streams
//! yield [`Error::Gap`](crate::Error::Gap) in place, and [`Connection::state`] says where
//! the link stands. See `link.rs` for the rules.
//!
//! # Transports
//!
//! The runtime is message-oriented: a [`Transport`] yields whole incoming messages
//! ([`Inbound`]) and takes whole outgoing ones, and a [`Connection`] is made one way: from
//! a transport ([`Connection::from_transport`]), or from a [`Dial`] that makes a fresh one
//! after a link failure ([`Connection::connect_with_reconnect`]). Newline framing over any
//! byte streams ([`Transport::lines`]), a spawned app-server (its stdio:
//! [`LaunchConfig::spawn`](crate::LaunchConfig::spawn)) and WebSocket text frames
//! (`ws://`, `wss://`, the unix control socket; feature `websocket`) are transports;
//! everything above is shared, and nothing here knows a process exists.

mod close_info;
mod connection;
mod envelope;
mod handshake;
mod lifecycle;
mod lines;
mod link;
mod message;
pub(crate) mod notifications;
mod pending;
mod queue;
mod reader;
mod retry;
mod router;
mod routing_keys;
mod server_requests;
mod state;
mod streams;
mod subscriptions;
mod transport;
mod turns;
pub(crate) mod typed_handlers;
#[cfg(feature = "websocket")]
pub(crate) mod websocket;
mod wire;
mod writer;

#[cfg(test)]
mod tests;

pub use connection::{
    Connection, ConnectionOptions, ConnectionStats, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_SUBSCRIPTION_BUFFER, DEFAULT_TURN_BUFFER,
};
pub use handshake::{InitializeOptions, ServerMetadata};
pub(crate) use lifecycle::AdoptedTurns;
pub use lifecycle::{CloseReport, TurnRef, CLOSE_INTERRUPT_WAIT};
pub use link::{ConnectionState, Dial, ReconnectPolicy};
#[cfg(test)]
pub(crate) use message::parsed_both_ways;
pub use message::{Event, RawNotification};
pub use retry::{retry_on_overload, RetryPolicy};
pub use router::EventFilter;
#[cfg(feature = "experimental")] // the panic reports of `tools`
pub(crate) use server_requests::panic_message;
pub use server_requests::{
    fail_closed_reply, handler_fn, FailClosedHandler, FnHandler, RawServerRequest, RawServerRequestHandler,
    MAX_SERVER_REQUESTS_IN_FLIGHT,
};
pub(crate) use streams::TurnLock;
pub use streams::{EventStream, TurnReservation, TurnStream};
pub(crate) use subscriptions::ThreadInterest;
pub use transport::{Inbound, InboundStream, OutboundSink, Transport};
pub(crate) use turns::StartVerdict;
pub use wire::RequestId;
