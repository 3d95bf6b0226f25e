//! The blocking [`Notifications`] iterator.

use super::runtime::Runtime;
use crate::methods::ServerNotification;
use crate::Result;
use futures_util::StreamExt;
use std::sync::Arc;

/// A typed notification subscription as a blocking [`Iterator`] (see
/// [`Codex::notifications`](super::Codex::notifications) and
/// [`Thread::notifications`](super::Thread::notifications)); the blocking twin of
/// [`crate::Notifications`].
///
/// Each `next()` waits for the next notification. Bounded: a subscriber that falls
/// behind gets [`Error::Lagged`](crate::Error::Lagged) where events were dropped and
/// then carries on. When the connection closes it yields one
/// [`Error::TransportClosed`](crate::Error::TransportClosed) and ends.
#[derive(Debug)]
pub struct Notifications {
    inner: crate::Notifications,
    rt: Arc<Runtime>,
}

impl Notifications {
    pub(crate) fn new(inner: crate::Notifications, rt: Arc<Runtime>) -> Self {
        Self { inner, rt }
    }
}

impl Iterator for Notifications {
    type Item = Result<ServerNotification>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rt.block_on("Notifications::next", self.inner.next())
    }
}
