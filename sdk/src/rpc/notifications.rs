//! Typed notification streams beyond a single turn: everything on a connection, or
//! everything about one thread (the runtime's raw streams, decoded to the generated
//! `ServerNotification`).

use super::message::Event;
use super::streams::EventStream;
use crate::error::{Error, Result};
use crate::methods::ServerNotification;
use futures_util::Stream;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Decodes a routed event into its typed notification.
pub(crate) fn decode_event(event: &Event) -> Result<ServerNotification> {
    // Straight from the raw params text: no intermediate `Value`.
    ServerNotification::decode_raw(event.method(), event.params())
        .map_err(|e| Error::Decode { method: e.method, source: e.source })
}

/// A typed stream of notifications (see [`Codex::notifications`](crate::Codex::notifications)
/// and [`Thread::notifications`](crate::Thread::notifications)).
///
/// Bounded: a subscriber that falls behind gets [`Error::Lagged`] where events were
/// dropped and then carries on; it never blocks the connection.
#[derive(Debug)]
pub struct Notifications {
    inner: EventStream,
}

impl Notifications {
    pub(crate) fn new(inner: EventStream) -> Self {
        Self { inner }
    }

    /// The next notification, without needing `futures::StreamExt` in scope (like
    /// [`TurnEvents::next_event`](crate::TurnEvents::next_event)): `None` once the
    /// connection closed and its [`Error::TransportClosed`](crate::Error::TransportClosed)
    /// was yielded. [`Error::Decode`](crate::Error::Decode), [`Error::Lagged`](crate::Error::Lagged)
    /// and [`Error::Gap`](crate::Error::Gap) are not the end: the notifications after them follow.
    pub async fn next_event(&mut self) -> Option<Result<ServerNotification>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl Stream for Notifications {
    type Item = Result<ServerNotification>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(event))) => Poll::Ready(Some(decode_event(&event))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
