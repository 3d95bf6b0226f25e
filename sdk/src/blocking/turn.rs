//! Blocking [`TurnHandle`], [`TurnControl`] and the [`TurnEvents`] iterator.

use super::runtime::Runtime;
use crate::input::Inputs;
use crate::methods::ServerNotification;
use crate::turn::TurnResult;
use crate::types::Turn;
use crate::Result;
use std::sync::Arc;

/// Steers or interrupts a turn from any thread, also while another one iterates its
/// events; the blocking twin of [`crate::TurnControl`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TurnControl {
    inner: crate::TurnControl,
    rt: Arc<Runtime>,
}

impl TurnControl {
    /// The turn id.
    pub fn turn_id(&self) -> &str {
        self.inner.turn_id()
    }

    /// The thread id.
    pub fn thread_id(&self) -> &str {
        self.inner.thread_id()
    }

    /// Adds input to the running turn (`turn/steer`); returns the id of the turn that
    /// carries on. Fails (`-32600`) when the turn is no longer active.
    pub fn steer(&self, input: impl Into<Inputs>) -> Result<String> {
        self.rt.block_on("TurnControl::steer", self.inner.steer(input))
    }

    /// Interrupts the turn (`turn/interrupt`); its events then end with status
    /// `interrupted`.
    pub fn interrupt(&self) -> Result<()> {
        self.rt.block_on("TurnControl::interrupt", self.inner.interrupt())
    }
}

/// A started turn; the blocking twin of [`crate::TurnHandle`]. Consume it with
/// [`stream`](Self::stream) for its events as an [`Iterator`] or [`run`](Self::run) for
/// the collected result; [`control`](Self::control) steers or interrupts it meanwhile.
///
/// Dropping the handle or its iterator before `turn/completed` interrupts the turn on
/// the server, as in the async API (see [`crate::TurnHandle`]'s cancellation policy);
/// [`detach`](Self::detach) lets it run on.
#[derive(Debug)]
pub struct TurnHandle {
    inner: crate::TurnHandle,
    rt: Arc<Runtime>,
}

impl TurnHandle {
    pub(crate) fn new(inner: crate::TurnHandle, rt: Arc<Runtime>) -> Self {
        Self { inner, rt }
    }

    /// The turn id.
    pub fn id(&self) -> &str {
        self.inner.id()
    }

    /// The thread id.
    pub fn thread_id(&self) -> &str {
        self.inner.thread_id()
    }

    /// The turn as `turn/start` returned it.
    pub fn initial(&self) -> &Turn {
        self.inner.initial()
    }

    /// A handle to steer or interrupt this turn from elsewhere (another thread).
    pub fn control(&self) -> TurnControl {
        TurnControl { inner: self.inner.control(), rt: self.rt.clone() }
    }

    /// Lets the turn run on when this handle (or its iterator) is dropped; see
    /// [`crate::TurnHandle::detach`]. Without it, dropping the handle or its iterator
    /// before `turn/completed` interrupts the turn on the server.
    pub fn detach(self) -> Self {
        Self { inner: self.inner.detach(), rt: self.rt }
    }

    /// Whether dropping this handle interrupts the turn (`false` after [`detach`](Self::detach)).
    pub fn interrupts_on_drop(&self) -> bool {
        self.inner.interrupts_on_drop()
    }

    /// See [`TurnControl::steer`].
    pub fn steer(&self, input: impl Into<Inputs>) -> Result<String> {
        self.rt.block_on("TurnHandle::steer", self.inner.steer(input))
    }

    /// See [`TurnControl::interrupt`].
    pub fn interrupt(&self) -> Result<()> {
        self.rt.block_on("TurnHandle::interrupt", self.inner.interrupt())
    }

    /// This turn's notifications, typed, in order, as a blocking iterator; the last one
    /// is `turn/completed`. Nothing that arrived before the `turn/start` response is
    /// lost.
    ///
    /// ```no_run
    /// # fn demo(thread: codex_driver::blocking::Thread) -> codex_driver::Result<()> {
    /// use codex_driver::methods::ServerNotification;
    ///
    /// for event in thread.turn("Tell me a story")?.stream() {
    ///     if let ServerNotification::ItemAgentMessageDelta(delta) = event? {
    ///         print!("{}", delta.delta);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn stream(self) -> TurnEvents {
        TurnEvents { inner: self.inner.stream(), rt: self.rt }
    }

    /// Waits for the turn to end and collects its [`TurnResult`]. A failed turn is
    /// [`Error::TurnFailed`](crate::Error::TurnFailed); an interrupted one is `Ok` with
    /// status `Interrupted`.
    pub fn run(self) -> Result<TurnResult> {
        self.rt.block_on("TurnHandle::run", self.inner.run())
    }

    /// [`run`](Self::run) with a whole-turn deadline, as [`crate::TurnHandle::run_timeout`]:
    /// past `deadline` the turn is interrupted and the call fails with
    /// [`Error::TurnTimeout`](crate::Error::TurnTimeout) (`is_timeout()`), naming the turn
    /// and carrying its result after the interrupt.
    pub fn run_timeout(self, deadline: std::time::Duration) -> Result<TurnResult> {
        self.rt.block_on("TurnHandle::run_timeout", self.inner.run_timeout(deadline))
    }

    /// Gives up on the turn and returns how it ended (see [`crate::TurnHandle::cancel`]).
    pub fn cancel(self) -> Result<TurnResult> {
        self.rt.block_on("TurnHandle::cancel", self.inner.cancel())
    }

    /// Makes dropping this handle interrupt the turn, also another client's (see
    /// [`crate::TurnHandle::interrupt_on_drop`]).
    pub fn interrupt_on_drop(self) -> Self {
        Self { inner: self.inner.interrupt_on_drop(), rt: self.rt }
    }
}

/// The events of one turn as a blocking [`Iterator`] (see [`TurnHandle::stream`]); the
/// blocking twin of [`crate::TurnEvents`]. Dropping it before `turn/completed` interrupts
/// the turn (unless [detached](Self::detach)); [`result`](Self::result) ends it in the
/// [`TurnResult`].
///
/// Each `next()` waits for the turn's next notification. The iterator ends after
/// `turn/completed`, or after one [`Error::TransportClosed`](crate::Error::TransportClosed)
/// when the app-server goes away. [`Error::Lagged`](crate::Error::Lagged) marks events
/// dropped because the iterator fell behind; iteration carries on after it.
#[derive(Debug)]
pub struct TurnEvents {
    inner: crate::TurnEvents,
    rt: Arc<Runtime>,
}

impl TurnEvents {
    /// A handle to steer or interrupt this turn.
    pub fn control(&self) -> TurnControl {
        TurnControl { inner: self.inner.control(), rt: self.rt.clone() }
    }

    /// Lets the turn run on when this iterator is dropped (see [`TurnHandle::detach`]).
    pub fn detach(self) -> Self {
        Self { inner: self.inner.detach(), rt: self.rt }
    }

    /// A whole-turn deadline (see [`crate::TurnEvents::deadline`]).
    pub fn deadline(self, after: std::time::Duration) -> Self {
        Self { inner: self.inner.deadline(after), rt: self.rt }
    }

    /// An idle timeout between events that reports and leaves the turn running (see
    /// [`crate::TurnEvents::idle_timeout`]).
    pub fn idle_timeout(self, after: std::time::Duration) -> Self {
        Self { inner: self.inner.idle_timeout(after), rt: self.rt }
    }

    /// Gives up on the turn and returns how it ended (see [`crate::TurnEvents::cancel`]).
    pub fn cancel(self) -> Result<TurnResult> {
        self.rt.block_on("TurnEvents::cancel", self.inner.cancel())
    }

    /// The turn's [`TurnResult`], the same as [`TurnHandle::run`] returns: what was
    /// iterated so far plus the rest of the turn, read to its end first.
    pub fn result(self) -> Result<TurnResult> {
        self.rt.block_on("TurnEvents::result", self.inner.result())
    }
}

impl Iterator for TurnEvents {
    type Item = Result<ServerNotification>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rt.block_on("TurnEvents::next", self.inner.next_event())
    }
}

/// The blocking twin of [`crate::TurnActivity`] (from
/// [`Thread::turn_with_requests`](super::Thread::turn_with_requests)): an iterator of the
/// turn's events and of its thread's server requests, in the order they arrive, each
/// request with its reply handle ([`PendingRequest`](crate::PendingRequest): `accept`,
/// `decline`, … answer at once, without blocking). Ends after `turn/completed`; dropping
/// it before interrupts the turn (unless [`detach`](Self::detach)ed).
#[derive(Debug)]
pub struct TurnActivity {
    inner: crate::TurnActivity,
    rt: Arc<Runtime>,
}

impl TurnActivity {
    pub(crate) fn new(inner: crate::TurnActivity, rt: Arc<Runtime>) -> Self {
        Self { inner, rt }
    }

    /// A handle to steer or interrupt this turn.
    pub fn control(&self) -> TurnControl {
        TurnControl { inner: self.inner.control(), rt: self.rt.clone() }
    }

    /// Lets the turn run on when this iterator is dropped.
    pub fn detach(self) -> Self {
        Self { inner: self.inner.detach(), rt: self.rt }
    }

    /// The turn's [`TurnResult`]; the thread's requests that arrive meanwhile are declined
    /// (see [`crate::TurnActivity::result`]).
    pub fn result(self) -> Result<TurnResult> {
        self.rt.block_on("TurnActivity::result", self.inner.result())
    }
}

impl Iterator for TurnActivity {
    type Item = Result<crate::TurnItem>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rt.block_on("TurnActivity::next", self.inner.next_item())
    }
}
