//! Blocking goal handles: [`GoalHandle`], [`GoalControl`] and the [`GoalEvents`] iterator
//! (see [`crate::goals`] for how the server pursues a goal).

use super::runtime::Runtime;
use crate::goals::GoalResult;
use crate::methods::ServerNotification;
use crate::types::ThreadGoal;
use crate::Result;
use std::sync::Arc;

/// Pauses or interrupts a followed goal from any thread; the blocking twin of
/// [`crate::goals::GoalControl`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct GoalControl {
    inner: crate::goals::GoalControl,
    rt: Arc<Runtime>,
}

impl GoalControl {
    /// The thread id.
    pub fn thread_id(&self) -> &str {
        self.inner.thread_id()
    }

    /// The id of the goal turn running now, as far as the follower has seen.
    pub fn current_turn_id(&self) -> Option<String> {
        self.inner.current_turn_id()
    }

    /// Pauses the goal: the running turn finishes, no continuation follows, and the
    /// handle then settles.
    pub fn pause(&self) -> Result<ThreadGoal> {
        self.rt.block_on("GoalControl::pause", self.inner.pause())
    }

    /// Interrupts the running goal turn, if any; the goal stays `active` but no
    /// continuation follows, and the handle then settles.
    pub fn interrupt(&self) -> Result<()> {
        self.rt.block_on("GoalControl::interrupt", self.inner.interrupt())
    }

    /// Pauses the goal, then interrupts the running turn.
    pub fn stop(&self) -> Result<()> {
        self.rt.block_on("GoalControl::stop", self.inner.stop())
    }
}

/// A goal being pursued; the blocking twin of [`crate::goals::GoalHandle`]. Iterate its events
/// with [`stream`](Self::stream) or [`run`](Self::run) it to the end;
/// [`control`](Self::control) pauses or interrupts it meanwhile.
#[derive(Debug)]
pub struct GoalHandle {
    inner: crate::goals::GoalHandle,
    rt: Arc<Runtime>,
}

impl GoalHandle {
    pub(crate) fn new(inner: crate::goals::GoalHandle, rt: Arc<Runtime>) -> Self {
        Self { inner, rt }
    }

    /// The thread id.
    pub fn thread_id(&self) -> &str {
        self.inner.thread_id()
    }

    /// The goal as `thread/goal/set` returned it.
    pub fn goal(&self) -> &ThreadGoal {
        self.inner.goal()
    }

    /// A handle to pause or interrupt the goal from elsewhere (another thread).
    pub fn control(&self) -> GoalControl {
        GoalControl { inner: self.inner.control(), rt: self.rt.clone() }
    }

    /// See [`GoalControl::pause`].
    pub fn pause(&self) -> Result<ThreadGoal> {
        self.rt.block_on("GoalHandle::pause", self.inner.pause())
    }

    /// See [`GoalControl::interrupt`].
    pub fn interrupt(&self) -> Result<()> {
        self.rt.block_on("GoalHandle::interrupt", self.inner.interrupt())
    }

    /// Every notification of the thread while the goal runs, typed, as a blocking
    /// iterator that ends once the goal settles.
    pub fn stream(self) -> GoalEvents {
        GoalEvents { inner: self.inner.stream(), rt: self.rt }
    }

    /// Follows the goal until it settles and collects its turns.
    pub fn run(self) -> Result<GoalResult> {
        self.rt.block_on("GoalHandle::run", self.inner.run())
    }
}

/// The events of a goal as a blocking [`Iterator`] (see [`GoalHandle::stream`]); the
/// blocking twin of [`crate::goals::GoalEvents`]. Yields
/// [`Error::Lagged`](crate::Error::Lagged) where events were dropped (no turn is lost) and
/// ends once the goal settles.
#[derive(Debug)]
pub struct GoalEvents {
    inner: crate::goals::GoalEvents,
    rt: Arc<Runtime>,
}

impl GoalEvents {
    /// A handle to pause or interrupt the goal.
    pub fn control(&self) -> GoalControl {
        GoalControl { inner: self.inner.control(), rt: self.rt.clone() }
    }

    /// Drains the rest of the events and returns the collected result (lag is recovered
    /// from; other errors are returned).
    pub fn result(self) -> Result<GoalResult> {
        self.rt.block_on("GoalEvents::result", self.inner.result())
    }
}

impl Iterator for GoalEvents {
    type Item = Result<ServerNotification>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rt.block_on("GoalEvents::next", self.inner.next_event())
    }
}
