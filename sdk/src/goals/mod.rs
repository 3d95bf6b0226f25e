//! Thread goals (`thread/goal/*`): an objective Codex pursues over as many turns as it
//! takes, plus the handle that follows those turns.
//!
//! # How the server runs a goal (Codex 0.169.0)
//!
//! - `thread/goal/set` with an objective on an idle thread makes the goal `active` and the
//!   server **starts a turn by itself** (no `turn/start`; its input is an internal
//!   "continue working toward the active thread goal" prompt, and the model gets the
//!   `get_goal`, `create_goal` and `update_goal` tools).
//! - When a turn completes and the goal is still `active`, the server starts a
//!   continuation turn right away, and so on.
//! - The goal leaves `active` when the model calls `update_goal` (`complete`, `blocked`,
//!   `paused`), when a turn fails (`blocked`), when `tokensUsed` passes the token budget
//!   (`budgetLimited`), on usage limits (`usageLimited`), or when a client sets the status
//!   (`paused`). The running turn still finishes; no continuation follows. Each change is a
//!   `thread/goal/updated` notification; `thread/goal/clear` sends `thread/goal/cleared`.
//! - Interrupting a goal turn leaves the goal `active` but starts no continuation.
//! - Setting a new objective on an existing goal edits it in place (status, usage and
//!   budget are kept; a running turn is told about the edit), so
//!   [`Thread::start_goal`](crate::Thread::start_goal) clears any existing goal first.
//!
//! A [`GoalHandle`] subscribes to the thread before setting the goal and follows every turn
//! until the goal *settles*: no turn is running and the goal is no longer `active`, was
//! cleared, or the last turn was interrupted or failed — or the server stayed idle with the
//! goal active for [`GoalOptions::idle_timeout`].

use crate::error::{Error, Result};
use crate::methods::{client_requests, ServerNotification};
use crate::rpc::notifications::decode_event;
use crate::rpc::{Connection, Event, EventStream};
use crate::turn::{TurnCollector, TurnResult};
use crate::types::{
    ThreadGoal, ThreadGoalClearParams, ThreadGoalGetParams, ThreadGoalMutationOrigin, ThreadGoalSetParams,
    ThreadGoalStatus, ThreadReadParams, ThreadTokenUsage, Turn, TurnInterruptParams, TurnStatus,
};
use futures_util::future::BoxFuture;
use futures_util::Stream;
use std::collections::{HashSet, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How long to wait for `thread/goal/cleared` after clearing a goal before setting a new one.
const CLEAR_WAIT: Duration = Duration::from_secs(5);
/// While the goal is active and no turn runs, re-read the goal and the thread this often.
const IDLE_RESYNC: Duration = Duration::from_secs(5);
/// Default [`GoalOptions::idle_timeout`].
pub const DEFAULT_GOAL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Options of [`Thread::start_goal_with`](crate::Thread::start_goal_with) and
/// [`Thread::run_goal_with`](crate::Thread::run_goal_with).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GoalOptions {
    /// Server-side token budget: the goal becomes `budgetLimited` once its `tokensUsed`
    /// passes it (checked when a turn's usage is accounted, so the last turn may overshoot).
    pub token_budget: Option<i64>,
    /// Client-side budget: when the `max_turns`-th turn starts, the SDK pauses the goal
    /// (that turn still finishes; no continuation follows, and a continuation that raced the
    /// pause is interrupted). The goal then ends `paused` unless the model completed it.
    pub max_turns: Option<usize>,
    /// Give up following when the goal stays `active` with no turn running and no
    /// notification for this long (the server normally starts a continuation within
    /// milliseconds). Default [`DEFAULT_GOAL_IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
}

impl Default for GoalOptions {
    fn default() -> Self {
        GoalOptions { token_budget: None, max_turns: None, idle_timeout: DEFAULT_GOAL_IDLE_TIMEOUT }
    }
}

impl GoalOptions {
    /// Sets the server-side token budget.
    pub fn token_budget(mut self, tokens: i64) -> Self {
        self.token_budget = Some(tokens);
        self
    }

    /// Sets the client-side turn budget (at least 1).
    pub fn max_turns(mut self, turns: usize) -> Self {
        self.max_turns = Some(turns.max(1));
        self
    }

    /// Sets the idle timeout.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }
}

/// A change to a thread's goal (`thread/goal/set`); unset fields are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GoalUpdate {
    /// New objective text (creates the goal when there is none).
    pub objective: Option<String>,
    /// New status (`Active` resumes a paused goal and starts a turn on an idle thread).
    pub status: Option<ThreadGoalStatus>,
    /// New token budget.
    pub token_budget: Option<i64>,
}

impl GoalUpdate {
    /// An empty update.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the objective.
    pub fn objective(mut self, objective: impl Into<String>) -> Self {
        self.objective = Some(objective.into());
        self
    }

    /// Sets the status.
    pub fn status(mut self, status: ThreadGoalStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Sets the token budget.
    pub fn token_budget(mut self, tokens: i64) -> Self {
        self.token_budget = Some(tokens);
        self
    }

    pub(crate) fn to_params(&self, thread_id: &str) -> ThreadGoalSetParams {
        ThreadGoalSetParams {
            objective: self.objective.clone(),
            origin: Some(ThreadGoalMutationOrigin::User),
            status: self.status.clone(),
            thread_id: thread_id.to_owned(),
            token_budget: self.token_budget,
        }
    }
}

pub(crate) async fn get(conn: &Connection, thread_id: &str) -> Result<Option<ThreadGoal>> {
    let params = ThreadGoalGetParams { thread_id: thread_id.to_owned() };
    Ok(conn.request::<client_requests::ThreadGoalGet>(params).await?.goal)
}

pub(crate) async fn set(conn: &Connection, thread_id: &str, update: &GoalUpdate) -> Result<ThreadGoal> {
    let goal = conn.request::<client_requests::ThreadGoalSet>(update.to_params(thread_id)).await?.goal;
    tracing::debug!(thread_id, status = %goal.status, "goal set");
    Ok(goal)
}

pub(crate) async fn clear(conn: &Connection, thread_id: &str) -> Result<bool> {
    let params =
        ThreadGoalClearParams { origin: Some(ThreadGoalMutationOrigin::User), thread_id: thread_id.to_owned() };
    Ok(conn.request::<client_requests::ThreadGoalClear>(params).await?.cleared)
}

/// Clears any goal of the thread, sets `objective` as a new active goal and follows it.
pub(crate) async fn start(
    conn: &Connection,
    thread_id: &str,
    objective: String,
    options: &GoalOptions,
) -> Result<GoalHandle> {
    conn.ensure_subscribed(thread_id).await?;
    let adopted = conn.adopt_turns(thread_id);
    let mut events = conn.subscribe_thread(thread_id);
    let mut replay = VecDeque::new();
    if get(conn, thread_id).await?.is_some() && clear(conn, thread_id).await? {
        // Let the old goal's `thread/goal/cleared` pass, so it is not taken for the new one's.
        wait_for_cleared(conn, &mut events, &mut replay).await?;
    }
    let mut update = GoalUpdate::new().objective(objective).status(ThreadGoalStatus::Active);
    update.token_budget = options.token_budget;
    let goal = set(conn, thread_id, &update).await?;
    Ok(GoalHandle::new(conn.clone(), thread_id.to_owned(), goal, (events, adopted), replay, options))
}

/// Sets the existing goal `active` again and follows it.
pub(crate) async fn resume(conn: &Connection, thread_id: &str, options: &GoalOptions) -> Result<GoalHandle> {
    conn.ensure_subscribed(thread_id).await?;
    let adopted = conn.adopt_turns(thread_id);
    let events = conn.subscribe_thread(thread_id);
    let mut update = GoalUpdate::new().status(ThreadGoalStatus::Active);
    update.token_budget = options.token_budget;
    let goal = set(conn, thread_id, &update).await?;
    Ok(GoalHandle::new(conn.clone(), thread_id.to_owned(), goal, (events, adopted), VecDeque::new(), options))
}

async fn wait_for_cleared(conn: &Connection, events: &mut EventStream, replay: &mut VecDeque<Event>) -> Result<()> {
    let deadline = tokio::time::Instant::now() + CLEAR_WAIT;
    loop {
        match tokio::time::timeout_at(deadline, events.next_event()).await {
            Err(_) => {
                tracing::debug!("no `thread/goal/cleared` after clearing the goal; going on");
                return Ok(());
            }
            Ok(Some(Ok(event))) => match event.method() {
                crate::method_names::THREAD_GOAL_CLEARED => return Ok(()),
                crate::method_names::THREAD_GOAL_UPDATED => {} // the old goal's
                _ => replay.push_back(event),
            },
            Ok(Some(Err(e))) if e.is_missed_events() => {}
            Ok(Some(Err(e))) => return Err(e),
            Ok(None) => return Err(conn.close_error().unwrap_or_else(Error::closed_unknown)),
        }
    }
}

mod events;
mod follower;
mod handle;
#[cfg(test)]
mod tests;

pub use events::GoalEvents;
use events::State;
use follower::Follower;
pub use handle::{GoalControl, GoalHandle, GoalResult};
