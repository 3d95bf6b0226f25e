//! The consumer side of routing: [`TurnReservation`], [`TurnStream`] and [`EventStream`].
//!
//! Streams yield `Result<Event>`: events in arrival order, [`Error::Lagged`](crate::Error::Lagged)
//! where the subscriber's buffer overflowed (the stream continues), and
//! [`Error::TransportClosed`](crate::Error::TransportClosed) once if the connection dies (the
//! stream then ends). Streams do not keep the connection alive; dropping a stream
//! unsubscribes it.

use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use futures_util::Stream;
use tokio::sync::OwnedMutexGuard;

use super::message::Event;
use super::queue::Queue;
use super::state::Shared;
use crate::Result;

/// Captures the turn-scoped events of one thread that have no subscriber yet, from before
/// `turn/start` is sent until [`claim`](Self::claim).
///
/// Holding a reservation also holds the thread's turn lock: a second
/// [`Connection::reserve_turn`](super::Connection::reserve_turn) for the same thread waits
/// until this one is claimed or dropped, so only one `turn/start` per thread is in flight and
/// the claim is unambiguous. Dropping it unclaimed frees the captured events.
#[must_use = "a reservation captures events until it is claimed or dropped"]
pub struct TurnReservation {
    shared: Weak<Shared>,
    thread_id: String,
    key: u64,
    lock: Option<OwnedMutexGuard<()>>,
}

impl std::fmt::Debug for TurnReservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnReservation").field("thread_id", &self.thread_id).finish()
    }
}

impl TurnReservation {
    pub(crate) fn new(shared: &Arc<Shared>, thread_id: String, key: u64, lock: OwnedMutexGuard<()>) -> Self {
        TurnReservation { shared: Arc::downgrade(shared), thread_id, key, lock: Some(lock) }
    }

    /// The thread this reservation is for.
    pub fn thread_id(&self) -> &str {
        &self.thread_id
    }

    /// Turns the reservation into the event stream of `turn_id` (from the `turn/start`
    /// response): first every event of that turn captured so far — an early
    /// `turn/completed` included — then the live ones. Releases the thread's turn lock.
    pub fn claim(self, turn_id: impl Into<String>) -> TurnStream {
        self.claim_holding_lock(turn_id).0
    }

    /// [`claim`](Self::claim), also handing over the thread's turn lock (held until the
    /// guard is dropped), so the caller can settle the new turn's fate before another
    /// `turn/start` on the thread proceeds.
    pub(crate) fn claim_holding_lock(mut self, turn_id: impl Into<String>) -> (TurnStream, TurnLock) {
        let turn_id = turn_id.into();
        let queue = match self.shared.upgrade() {
            Some(shared) => {
                let mut state = shared.lock();
                match &state.closed {
                    Some(info) => {
                        let q = Queue::new(1);
                        q.close(info);
                        q
                    }
                    None => state.router.claim(&self.thread_id, self.key, &turn_id),
                }
            }
            None => dropped_queue(),
        };
        self.key = 0;
        let lock = TurnLock { shared: self.shared.clone(), thread_id: self.thread_id.clone(), guard: self.lock.take() };
        let interest =
            self.shared.upgrade().map(|s| Arc::new(super::subscriptions::ThreadInterest::new(&s, &self.thread_id)));
        let stream = TurnStream { shared: self.shared.clone(), turn_id, queue, _interest: interest };
        (stream, lock)
    }
}

/// A queue for a connection that no longer exists.
fn dropped_queue() -> Arc<Queue> {
    let q = Queue::new(1);
    q.close(&Arc::new(super::close_info::CloseInfo {
        endpoint: String::new(),
        reason: crate::endpoint::CloseReason::Dropped,
    }));
    q
}

impl Drop for TurnReservation {
    fn drop(&mut self) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        if self.key != 0 {
            shared.lock().router.unreserve(&self.thread_id, self.key);
        }
        release_turn_lock(&shared, &self.thread_id, self.lock.take());
    }
}

/// Releases a thread's turn lock, then forgets the lock entry if nobody else uses it.
pub(crate) fn release_turn_lock(shared: &Shared, thread_id: &str, guard: Option<OwnedMutexGuard<()>>) {
    let Some(guard) = guard else { return };
    drop(guard);
    let mut locks = shared.turn_locks.lock().unwrap_or_else(|e| e.into_inner());
    if locks.get(thread_id).is_some_and(|l| Arc::strong_count(l) == 1) {
        locks.remove(thread_id);
    }
}

/// A thread's turn lock held past [`TurnReservation::claim_holding_lock`]; released (and
/// its entry forgotten when unused) on drop.
pub(crate) struct TurnLock {
    shared: Weak<Shared>,
    thread_id: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for TurnLock {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            release_turn_lock(&shared, &self.thread_id, self.guard.take());
        }
    }
}

/// The notifications of one turn, ending after its `turn/completed`.
///
/// Bounded (see [`ConnectionOptions::turn_buffer`](crate::rpc::ConnectionOptions::turn_buffer)): if the
/// consumer falls behind, later events are dropped and reported as one `Err(Lagged)` at that
/// position, but `turn/completed` is always delivered, so the stream always terminates.
pub struct TurnStream {
    shared: Weak<Shared>,
    turn_id: String,
    queue: Arc<Queue>,
    /// For a claimed turn: keeps its thread subscribed on the server while it lives.
    _interest: Option<Arc<super::subscriptions::ThreadInterest>>,
}

impl std::fmt::Debug for TurnStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnStream").field("turn_id", &self.turn_id).finish()
    }
}

impl TurnStream {
    pub(crate) fn new(shared: &Arc<Shared>, turn_id: String, queue: Arc<Queue>) -> Self {
        TurnStream { shared: Arc::downgrade(shared), turn_id, queue, _interest: None }
    }

    /// The turn id.
    pub fn turn_id(&self) -> &str {
        &self.turn_id
    }

    /// The next item (`None` after `turn/completed` or after the close error).
    pub async fn next_event(&mut self) -> Option<Result<Event>> {
        std::future::poll_fn(|cx| self.queue.poll_next(cx)).await
    }
}

impl Stream for TurnStream {
    type Item = Result<Event>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.queue.poll_next(cx)
    }
}

impl Drop for TurnStream {
    fn drop(&mut self) {
        if self.queue.is_ended() {
            return;
        }
        if let Some(shared) = self.shared.upgrade() {
            shared.lock().router.unsubscribe_turn(&self.turn_id, &self.queue);
        }
    }
}

/// A thread-wide or client-wide subscription (see [`EventFilter`](super::EventFilter)).
///
/// Bounded (see [`ConnectionOptions::subscription_buffer`](crate::rpc::ConnectionOptions::subscription_buffer));
/// overflow is reported as `Err(Lagged)` and the stream continues. Ends only when the
/// connection closes.
pub struct EventStream {
    shared: Weak<Shared>,
    key: u64,
    queue: Arc<Queue>,
    /// For a thread's stream: keeps the thread subscribed on the server while it lives.
    _interest: Option<Arc<super::subscriptions::ThreadInterest>>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

impl EventStream {
    pub(crate) fn new(shared: &Arc<Shared>, key: u64, queue: Arc<Queue>) -> Self {
        EventStream { shared: Arc::downgrade(shared), key, queue, _interest: None }
    }

    /// This stream, keeping its thread subscribed while it lives.
    pub(crate) fn keeping(mut self, interest: Arc<super::subscriptions::ThreadInterest>) -> Self {
        self._interest = Some(interest);
        self
    }

    /// The next item (`None` after the close error).
    pub async fn next_event(&mut self) -> Option<Result<Event>> {
        std::future::poll_fn(|cx| self.queue.poll_next(cx)).await
    }
}

impl Stream for EventStream {
    type Item = Result<Event>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.queue.poll_next(cx)
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.lock().router.unsubscribe(self.key);
        }
    }
}
