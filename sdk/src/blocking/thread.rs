//! Blocking [`Thread`].

use super::runtime::Runtime;
use super::{GoalHandle, Notifications, TurnHandle};
use crate::goals::{GoalOptions, GoalResult, GoalUpdate};
use crate::input::Inputs;
use crate::options::TurnOptions;
use crate::structured::TypedTurnResult;
use crate::thread::ThreadSettings;
use crate::turn::TurnResult;
use crate::types::ThreadGoal;
use crate::Result;
use std::sync::Arc;

/// A thread on a blocking [`Codex`](super::Codex); the blocking twin of
/// [`crate::Thread`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Thread {
    inner: crate::Thread,
    rt: Arc<Runtime>,
}

impl Thread {
    pub(crate) fn new(inner: crate::Thread, rt: Arc<Runtime>) -> Self {
        Self { inner, rt }
    }

    /// This thread with a per-request timeout of `timeout` for every call made through the
    /// returned handle; see [`crate::Thread::with_timeout`]. To bound a whole turn, use
    /// [`TurnHandle::run_timeout`](super::TurnHandle::run_timeout).
    pub fn with_timeout(&self, timeout: std::time::Duration) -> Thread {
        Thread { inner: self.inner.with_timeout(timeout), rt: self.rt.clone() }
    }

    /// Answers this thread's server requests with `handler` instead of the client's; see
    /// [`crate::Thread::set_handler`]. It runs on the runtime thread, so it must not block.
    pub fn set_handler(&self, handler: impl crate::methods::ServerRequestHandler) {
        self.inner.set_handler(handler)
    }

    /// Answers this thread's dynamic tool calls with `tools`; see
    /// [`crate::Thread::serve_tools`] (experimental surface).
    #[cfg(feature = "experimental")]
    pub fn serve_tools(&self, tools: crate::tools::Tools) {
        self.inner.serve_tools(tools)
    }

    /// Removes the handler set with [`set_handler`](Self::set_handler).
    pub fn clear_handler(&self) -> bool {
        self.inner.clear_handler()
    }

    /// The settings the server reported when this handle was made by `thread_start`,
    /// `thread_resume` or `thread_fork` (`None` otherwise); see
    /// [`crate::Thread::settings`].
    pub fn settings(&self) -> Option<&ThreadSettings> {
        self.inner.settings()
    }

    /// The thread id.
    pub fn id(&self) -> &str {
        self.inner.id()
    }

    /// The thread as the call that produced this handle returned it (`None` for a handle
    /// made from a bare id).
    pub fn info(&self) -> Option<&crate::types::Thread> {
        self.inner.info()
    }

    /// Every notification about this thread from now on (its turns' events included),
    /// typed and bounded, as a blocking iterator.
    pub fn notifications(&self) -> Notifications {
        Notifications::new(self.inner.notifications(), self.rt.clone())
    }

    /// Runs a turn to completion with the thread's settings. A failed turn is
    /// [`Error::TurnFailed`](crate::Error::TurnFailed).
    pub fn run(&self, input: impl Into<Inputs>) -> Result<TurnResult> {
        self.rt.block_on("Thread::run", self.inner.run(input))
    }

    /// Runs a turn to completion with per-turn options.
    pub fn run_with(&self, input: impl Into<Inputs>, options: &TurnOptions) -> Result<TurnResult> {
        self.rt.block_on("Thread::run_with", self.inner.run_with(input, options))
    }

    /// Starts a turn and returns its handle (iterate its events, steer it, interrupt it,
    /// or run it).
    pub fn turn(&self, input: impl Into<Inputs>) -> Result<TurnHandle> {
        let handle = self.rt.block_on("Thread::turn", self.inner.turn(input))?;
        Ok(TurnHandle::new(handle, self.rt.clone()))
    }

    /// Starts a turn with per-turn options. Events that race the `turn/start` response
    /// are kept for the turn's stream.
    pub fn turn_with(&self, input: impl Into<Inputs>, options: &TurnOptions) -> Result<TurnHandle> {
        let handle = self.rt.block_on("Thread::turn_with", self.inner.turn_with(input, options))?;
        Ok(TurnHandle::new(handle, self.rt.clone()))
    }

    /// Starts a turn whose thread's server requests come as items of its iterator, in
    /// order with its events; see [`crate::Thread::turn_with_requests`]. What a CLI uses to
    /// keep approvals and streamed text in one ordered flow.
    pub fn turn_with_requests(&self, input: impl Into<Inputs>, options: &TurnOptions) -> Result<super::TurnActivity> {
        let activity = self.rt.block_on("Thread::turn_with_requests", self.inner.turn_with_requests(input, options))?;
        Ok(super::TurnActivity::new(activity, self.rt.clone()))
    }

    /// Starts a review of `target` on this thread; see [`crate::Thread::review`].
    pub fn review(&self, target: impl Into<crate::types::ReviewTarget>) -> Result<TurnHandle> {
        let handle = self.rt.block_on("Thread::review", self.inner.review(target))?;
        Ok(TurnHandle::new(handle, self.rt.clone()))
    }

    /// A handle for the turn running on this thread right now (another client's, or this
    /// client's), or `None` when the thread is idle; see [`crate::Thread::running_turn`].
    /// Dropping it only stops watching.
    pub fn running_turn(&self) -> Result<Option<TurnHandle>> {
        let handle = self.rt.block_on("Thread::running_turn", self.inner.running_turn())?;
        Ok(handle.map(|handle| TurnHandle::new(handle, self.rt.clone())))
    }

    /// Runs a turn whose final answer must be a `T` (its JSON Schema is sent as the
    /// turn's `outputSchema`) and parses it; see [`crate::Thread::run_typed`]. An answer
    /// that does not parse is [`Error::OutputMismatch`](crate::Error::OutputMismatch).
    ///
    /// ```no_run
    /// # fn demo(thread: codex_driver::blocking::Thread) -> codex_driver::Result<()> {
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Summary {
    ///     title: String,
    ///     risk: Option<String>,
    /// }
    /// let summary = thread.run_typed::<Summary>("Summarize the diff")?.output;
    /// # Ok(()) }
    /// ```
    pub fn run_typed<T>(&self, input: impl Into<Inputs>) -> Result<TypedTurnResult<T>>
    where
        T: schemars::JsonSchema + serde::de::DeserializeOwned,
    {
        self.rt.block_on("Thread::run_typed", self.inner.run_typed(input))
    }

    /// [`run_typed`](Self::run_typed) with per-turn options (their `output_schema` is
    /// replaced by `T`'s).
    pub fn run_typed_with<T>(&self, input: impl Into<Inputs>, options: &TurnOptions) -> Result<TypedTurnResult<T>>
    where
        T: schemars::JsonSchema + serde::de::DeserializeOwned,
    {
        self.rt.block_on("Thread::run_typed_with", self.inner.run_typed_with(input, options))
    }

    /// The thread's goal (`thread/goal/get`), if it has one.
    pub fn goal(&self) -> Result<Option<ThreadGoal>> {
        self.rt.block_on("Thread::goal", self.inner.goal())
    }

    /// Changes the thread's goal (`thread/goal/set`) and returns it; see
    /// [`crate::Thread::set_goal`] (an `active` goal on an idle thread starts turns).
    pub fn set_goal(&self, update: &GoalUpdate) -> Result<ThreadGoal> {
        self.rt.block_on("Thread::set_goal", self.inner.set_goal(update))
    }

    /// Pauses the thread's goal: a running turn finishes, no continuation follows.
    pub fn pause_goal(&self) -> Result<ThreadGoal> {
        self.rt.block_on("Thread::pause_goal", self.inner.pause_goal())
    }

    /// Removes the thread's goal (`thread/goal/clear`); `false` when there was none.
    pub fn clear_goal(&self) -> Result<bool> {
        self.rt.block_on("Thread::clear_goal", self.inner.clear_goal())
    }

    /// Sets `objective` as the thread's new goal (clearing any previous one) and returns a
    /// handle that follows the turns the server runs for it.
    pub fn start_goal(&self, objective: impl Into<String>) -> Result<GoalHandle> {
        let handle = self.rt.block_on("Thread::start_goal", self.inner.start_goal(objective))?;
        Ok(GoalHandle::new(handle, self.rt.clone()))
    }

    /// [`start_goal`](Self::start_goal) with a token and/or turn budget.
    pub fn start_goal_with(&self, objective: impl Into<String>, options: &GoalOptions) -> Result<GoalHandle> {
        let handle = self.rt.block_on("Thread::start_goal_with", self.inner.start_goal_with(objective, options))?;
        Ok(GoalHandle::new(handle, self.rt.clone()))
    }

    /// Starts a goal and follows it until it settles; returns every turn it ran and the
    /// goal's final state (a failed turn is part of the result, not an error).
    pub fn run_goal(&self, objective: impl Into<String>) -> Result<GoalResult> {
        self.rt.block_on("Thread::run_goal", self.inner.run_goal(objective))
    }

    /// [`run_goal`](Self::run_goal) with a token and/or turn budget.
    pub fn run_goal_with(&self, objective: impl Into<String>, options: &GoalOptions) -> Result<GoalResult> {
        self.rt.block_on("Thread::run_goal_with", self.inner.run_goal_with(objective, options))
    }

    /// Makes the existing goal `active` again and follows the turns the server then runs.
    pub fn resume_goal(&self) -> Result<GoalHandle> {
        let handle = self.rt.block_on("Thread::resume_goal", self.inner.resume_goal())?;
        Ok(GoalHandle::new(handle, self.rt.clone()))
    }

    /// [`resume_goal`](Self::resume_goal) with options (a new token budget replaces the
    /// old one).
    pub fn resume_goal_with(&self, options: &GoalOptions) -> Result<GoalHandle> {
        let handle = self.rt.block_on("Thread::resume_goal_with", self.inner.resume_goal_with(options))?;
        Ok(GoalHandle::new(handle, self.rt.clone()))
    }

    /// Reads the thread (`thread/read`) without its turns.
    pub fn read(&self) -> Result<crate::types::Thread> {
        self.rt.block_on("Thread::read", self.inner.read())
    }

    /// Reads the thread with its turns and their items.
    pub fn read_with_turns(&self) -> Result<crate::types::Thread> {
        self.rt.block_on("Thread::read_with_turns", self.inner.read_with_turns())
    }

    /// Renames the thread.
    pub fn set_name(&self, name: impl Into<String>) -> Result<()> {
        self.rt.block_on("Thread::set_name", self.inner.set_name(name))
    }

    /// Runs `command` in the thread's shell (unsandboxed) as a turn of its own; see
    /// [`crate::Thread::shell_command`].
    pub fn shell_command(&self, command: impl Into<String>) -> Result<TurnHandle> {
        let handle = self.rt.block_on("Thread::shell_command", self.inner.shell_command(command))?;
        Ok(TurnHandle::new(handle, self.rt.clone()))
    }

    /// Compacts the thread's history: a turn of its own, returned as its handle; see
    /// [`crate::Thread::compact`].
    pub fn compact(&self) -> Result<TurnHandle> {
        let handle = self.rt.block_on("Thread::compact", self.inner.compact())?;
        Ok(TurnHandle::new(handle, self.rt.clone()))
    }
}
