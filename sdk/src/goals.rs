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
use crate::events::decode_event;
use crate::methods::{client_requests, ServerNotification};
use crate::rpc::{Connection, Event, EventStream};
use crate::turn::{TurnCollector, TurnResult};
use crate::types::{
    ThreadGoal, ThreadGoalClearParams, ThreadGoalGetParams, ThreadGoalMutationOrigin, ThreadGoalSetParams,
    ThreadGoalStatus, ThreadReadParams, ThreadTokenUsage, Turn, TurnInterruptParams, TurnStatus,
};
use futures::future::BoxFuture;
use futures::Stream;
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
    let mut events = conn.subscribe_thread(thread_id);
    let mut replay = VecDeque::new();
    if get(conn, thread_id).await?.is_some() && clear(conn, thread_id).await? {
        // Let the old goal's `thread/goal/cleared` pass, so it is not taken for the new one's.
        wait_for_cleared(conn, &mut events, &mut replay).await?;
    }
    let mut update = GoalUpdate::new().objective(objective).status(ThreadGoalStatus::Active);
    update.token_budget = options.token_budget;
    let goal = set(conn, thread_id, &update).await?;
    Ok(GoalHandle::new(conn.clone(), thread_id.to_owned(), goal, events, replay, options))
}

/// Sets the existing goal `active` again and follows it.
pub(crate) async fn resume(conn: &Connection, thread_id: &str, options: &GoalOptions) -> Result<GoalHandle> {
    let events = conn.subscribe_thread(thread_id);
    let mut update = GoalUpdate::new().status(ThreadGoalStatus::Active);
    update.token_budget = options.token_budget;
    let goal = set(conn, thread_id, &update).await?;
    Ok(GoalHandle::new(conn.clone(), thread_id.to_owned(), goal, events, VecDeque::new(), options))
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
                "thread/goal/cleared" => return Ok(()),
                "thread/goal/updated" => {} // the old goal's
                _ => replay.push_back(event),
            },
            Ok(Some(Err(Error::Lagged { .. }))) => {}
            Ok(Some(Err(e))) => return Err(e),
            Ok(None) => return Err(conn.close_error().unwrap_or_else(Error::closed_unknown)),
        }
    }
}

/// Pauses, resumes or interrupts a followed goal; cheap to clone.
#[derive(Debug, Clone)]
pub struct GoalControl {
    conn: Connection,
    thread_id: String,
    current_turn: Arc<Mutex<Option<String>>>,
}

impl GoalControl {
    /// The thread id.
    pub fn thread_id(&self) -> &str {
        &self.thread_id
    }

    /// The id of the goal turn running now, as far as the follower has seen.
    pub fn current_turn_id(&self) -> Option<String> {
        self.current_turn.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Pauses the goal (`thread/goal/set` status `paused`): the running turn finishes, no
    /// continuation follows, and the handle then settles.
    pub async fn pause(&self) -> Result<ThreadGoal> {
        set(&self.conn, &self.thread_id, &GoalUpdate::new().status(ThreadGoalStatus::Paused)).await
    }

    /// Interrupts the running goal turn, if any (`turn/interrupt`); the goal stays `active`
    /// but no continuation follows, and the handle then settles.
    pub async fn interrupt(&self) -> Result<()> {
        let Some(turn_id) = self.current_turn_id() else { return Ok(()) };
        let params = TurnInterruptParams::new(self.thread_id.clone(), turn_id);
        self.conn.request::<client_requests::TurnInterrupt>(params).await?;
        Ok(())
    }

    /// Pauses the goal, then interrupts the running turn.
    pub async fn stop(&self) -> Result<()> {
        self.pause().await?;
        self.interrupt().await
    }
}

/// What a followed goal produced.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GoalResult {
    /// The goal as last reported (`None` once it was cleared).
    pub goal: Option<ThreadGoal>,
    /// Every turn followed, in completion order (failed and interrupted ones included).
    pub turns: Vec<TurnResult>,
}

impl GoalResult {
    /// The goal's final status (`None` once it was cleared).
    pub fn status(&self) -> Option<&ThreadGoalStatus> {
        self.goal.as_ref().map(|g| &g.status)
    }

    /// Whether the goal ended `complete`.
    pub fn is_complete(&self) -> bool {
        self.status() == Some(&ThreadGoalStatus::Complete)
    }

    /// The last turn.
    pub fn last_turn(&self) -> Option<&TurnResult> {
        self.turns.last()
    }

    /// The last turn, owned (what the Python SDK's `run_goal` returns).
    pub fn into_last_turn(self) -> Option<TurnResult> {
        self.turns.into_iter().last()
    }

    /// The final response of the last turn that has one.
    pub fn final_response(&self) -> Option<&str> {
        self.turns.iter().rev().find_map(TurnResult::final_response)
    }

    /// The token usage of the last turn that reported one (its `total` is the thread's).
    pub fn usage(&self) -> Option<&ThreadTokenUsage> {
        self.turns.iter().rev().find_map(|t| t.usage.as_ref())
    }
}

/// A goal being pursued: [`stream`](Self::stream) its events or [`run`](Self::run) it to
/// the end; [`control`](Self::control) pauses or interrupts it meanwhile. Dropping the
/// handle, its stream or the `run` future before the goal settles interrupts the turn it
/// is running (see [`TurnHandle`](crate::TurnHandle)'s cancellation policy).
#[derive(Debug)]
pub struct GoalHandle {
    control: GoalControl,
    goal: ThreadGoal,
    follower: Box<Follower>,
}

impl GoalHandle {
    fn new(
        conn: Connection,
        thread_id: String,
        goal: ThreadGoal,
        events: EventStream,
        replay: VecDeque<Event>,
        options: &GoalOptions,
    ) -> Self {
        let control = GoalControl { conn: conn.clone(), thread_id: thread_id.clone(), current_turn: Arc::default() };
        let follower = Box::new(Follower {
            control: control.clone(),
            events,
            replay,
            since: goal.updated_at,
            goal: Some(goal.clone()),
            running: Vec::new(),
            done: HashSet::new(),
            turns: Vec::new(),
            last_status: None,
            started: 0,
            max_turns: options.max_turns,
            pause_sent: false,
            idle_timeout: options.idle_timeout,
            idle_since: None,
            stalled: false,
            finished: false,
        });
        GoalHandle { control, goal, follower }
    }

    /// The thread id.
    pub fn thread_id(&self) -> &str {
        &self.control.thread_id
    }

    /// The goal as `thread/goal/set` returned it.
    pub fn goal(&self) -> &ThreadGoal {
        &self.goal
    }

    /// A handle to pause or interrupt the goal from elsewhere.
    pub fn control(&self) -> GoalControl {
        self.control.clone()
    }

    /// See [`GoalControl::pause`].
    pub async fn pause(&self) -> Result<ThreadGoal> {
        self.control.pause().await
    }

    /// See [`GoalControl::interrupt`].
    pub async fn interrupt(&self) -> Result<()> {
        self.control.interrupt().await
    }

    /// Every notification of the thread while the goal runs (turn starts, items, deltas,
    /// goal updates, …), typed, ending once the goal settles.
    pub fn stream(self) -> GoalEvents {
        GoalEvents { control: self.control, state: State::Ready(self.follower) }
    }

    /// Follows the goal until it settles and collects its turns.
    pub async fn run(self) -> Result<GoalResult> {
        let span = tracing::debug_span!("goal", thread_id = %self.control.thread_id);
        tracing::Instrument::instrument(self.stream().finish(), span).await
    }
}

type Step = (Box<Follower>, Option<Result<ServerNotification>>);

enum State {
    Ready(Box<Follower>),
    Busy(BoxFuture<'static, Step>),
    Gone,
}

/// The typed event stream of a goal (see [`GoalHandle::stream`]). Yields
/// [`Error::Lagged`] where events were dropped (the follower then re-reads the goal and the
/// thread, so no turn is lost) and ends once the goal settles.
pub struct GoalEvents {
    control: GoalControl,
    state: State,
}

impl std::fmt::Debug for GoalEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoalEvents").field("thread_id", &self.control.thread_id).finish_non_exhaustive()
    }
}

impl GoalEvents {
    /// A handle to pause or interrupt the goal.
    pub fn control(&self) -> GoalControl {
        self.control.clone()
    }

    /// The next event, without needing `futures::StreamExt` in scope.
    pub async fn next_event(&mut self) -> Option<Result<ServerNotification>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Drains the rest of the stream and returns the collected result (lag is recovered
    /// from; other errors are returned).
    pub async fn finish(self) -> Result<GoalResult> {
        let mut follower = match self.state {
            State::Ready(f) => f,
            State::Busy(step) => {
                let (mut f, item) = step.await;
                match item {
                    Some(Err(Error::Lagged { .. })) | Some(Ok(_)) | None => f,
                    Some(Err(e)) => {
                        // An error ends the follow, not the goal: no interrupt on drop.
                        f.finished = true;
                        return Err(e);
                    }
                }
            }
            State::Gone => return Err(Error::StreamEnded { what: "the goal stream was polled after a panic".into() }),
        };
        loop {
            match follower.next().await {
                None => break,
                Some(Ok(_)) | Some(Err(Error::Lagged { .. })) => {}
                Some(Err(e)) => {
                    follower.finished = true;
                    return Err(e);
                }
            }
        }
        Ok(follower.result())
    }
}

impl Stream for GoalEvents {
    type Item = Result<ServerNotification>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match std::mem::replace(&mut self.state, State::Gone) {
                State::Ready(mut follower) => {
                    self.state = State::Busy(Box::pin(async move {
                        let item = follower.next().await;
                        (follower, item)
                    }));
                }
                State::Busy(mut step) => match step.as_mut().poll(cx) {
                    Poll::Ready((follower, item)) => {
                        self.state = State::Ready(follower);
                        return Poll::Ready(item);
                    }
                    Poll::Pending => {
                        self.state = State::Busy(step);
                        return Poll::Pending;
                    }
                },
                State::Gone => return Poll::Ready(None),
            }
        }
    }
}

/// Dropping a goal's handle, stream or `run` future before it settles interrupts the turn
/// it is running (as a dropped [`TurnHandle`](crate::TurnHandle) does), which settles the goal.
impl Drop for Follower {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Some(turn_id) = self.control.current_turn_id() {
            self.control.conn.interrupt_dropped(&self.control.thread_id, &turn_id);
        }
    }
}

/// Follows the thread's notifications and decides when the goal has settled.
struct Follower {
    control: GoalControl,
    events: EventStream,
    /// Events received while clearing the previous goal, delivered first.
    replay: VecDeque<Event>,
    /// Unix seconds the goal was set: turns started before it are not the goal's.
    since: i64,
    goal: Option<ThreadGoal>,
    /// Running turns, in start order.
    running: Vec<(String, TurnCollector)>,
    done: HashSet<String>,
    turns: Vec<TurnResult>,
    last_status: Option<TurnStatus>,
    started: usize,
    max_turns: Option<usize>,
    pause_sent: bool,
    idle_timeout: Duration,
    idle_since: Option<Instant>,
    stalled: bool,
    finished: bool,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("thread_id", &self.control.thread_id)
            .field("goal", &self.goal.as_ref().map(|g| &g.status))
            .field("running", &self.running.iter().map(|(id, _)| id).collect::<Vec<_>>())
            .field("turns", &self.turns.len())
            .finish_non_exhaustive()
    }
}

enum Next {
    Item(Option<Result<Event>>),
    Idle,
}

impl Follower {
    fn goal_active(&self) -> bool {
        self.goal.as_ref().is_some_and(|g| g.status == ThreadGoalStatus::Active)
    }

    fn settled(&self) -> bool {
        if !self.running.is_empty() {
            return false;
        }
        if self.stalled || !self.goal_active() {
            return true;
        }
        matches!(self.last_status, Some(TurnStatus::Interrupted | TurnStatus::Failed))
    }

    fn settle(&mut self) {
        self.finished = true;
        *self.control.current_turn.lock().unwrap_or_else(|e| e.into_inner()) = None;
        tracing::debug!(
            thread_id = %self.control.thread_id,
            status = self.goal.as_ref().map(|g| g.status.to_string()).as_deref().unwrap_or("cleared"),
            turns = self.turns.len(),
            stalled = self.stalled,
            "goal settled"
        );
    }

    fn result(mut self) -> GoalResult {
        self.finished = true;
        GoalResult { goal: self.goal.take(), turns: std::mem::take(&mut self.turns) }
    }

    fn closed_error(&self) -> Error {
        self.control.conn.close_error().unwrap_or_else(|| Error::StreamEnded {
            what: "the goal's event stream ended before the goal settled".into(),
        })
    }

    /// The next event if one is already queued, without waiting.
    fn try_receive(&mut self) -> Option<Result<Event>> {
        if let Some(event) = self.replay.pop_front() {
            return Some(Ok(event));
        }
        futures::FutureExt::now_or_never(self.events.next_event()).flatten()
    }

    async fn receive(&mut self) -> Next {
        if let Some(event) = self.replay.pop_front() {
            return Next::Item(Some(Ok(event)));
        }
        if self.running.is_empty() && self.goal_active() {
            match tokio::time::timeout(IDLE_RESYNC.min(self.idle_timeout), self.events.next_event()).await {
                Ok(item) => Next::Item(item),
                Err(_) => Next::Idle,
            }
        } else {
            Next::Item(self.events.next_event().await)
        }
    }

    async fn next(&mut self) -> Option<Result<ServerNotification>> {
        loop {
            if self.finished {
                return None;
            }
            let received = if self.settled() {
                // Settled as far as seen; but events already queued (e.g. a continuation that
                // started before our pause was processed) still count.
                match self.try_receive() {
                    Some(item) => Next::Item(Some(item)),
                    None => {
                        self.settle();
                        return None;
                    }
                }
            } else {
                self.receive().await
            };
            match received {
                Next::Idle => {
                    let waited = IDLE_RESYNC.min(self.idle_timeout);
                    let since = *self.idle_since.get_or_insert_with(|| Instant::now() - waited);
                    if let Err(e) = self.resync().await {
                        return Some(Err(e));
                    }
                    if self.running.is_empty() && self.goal_active() && since.elapsed() >= self.idle_timeout {
                        tracing::warn!(thread_id = %self.control.thread_id, "goal still active but idle; giving up following it");
                        self.stalled = true;
                    }
                }
                Next::Item(None) => {
                    self.finished = true;
                    return Some(Err(self.closed_error()));
                }
                Next::Item(Some(Err(Error::Lagged { skipped }))) => {
                    self.idle_since = None;
                    if let Err(e) = self.resync().await {
                        return Some(Err(e));
                    }
                    return Some(Err(Error::Lagged { skipped }));
                }
                Next::Item(Some(Err(e))) => {
                    if e.is_transport_closed() {
                        self.finished = true;
                    }
                    return Some(Err(e));
                }
                Next::Item(Some(Ok(event))) => {
                    self.idle_since = None;
                    let notification = match decode_event(&event) {
                        Ok(n) => n,
                        Err(e) => return Some(Err(e)),
                    };
                    if let Err(e) = self.observe(&event, &notification).await {
                        return Some(Err(e));
                    }
                    return Some(Ok(notification));
                }
            }
        }
    }

    fn set_current(&self) {
        let current = self.running.last().map(|(id, _)| id.clone());
        *self.control.current_turn.lock().unwrap_or_else(|e| e.into_inner()) = current;
    }

    fn collector(&mut self, turn_id: &str, initial: impl FnOnce() -> Turn) -> Option<&mut TurnCollector> {
        if self.done.contains(turn_id) {
            return None;
        }
        let index = match self.running.iter().position(|(id, _)| id == turn_id) {
            Some(i) => i,
            None => {
                self.running.push((turn_id.to_owned(), TurnCollector::new(initial())));
                self.started += 1;
                self.idle_since = None;
                self.set_current();
                self.running.len() - 1
            }
        };
        Some(&mut self.running[index].1)
    }

    async fn observe(&mut self, event: &Event, notification: &ServerNotification) -> Result<()> {
        let before = self.started;
        match notification {
            ServerNotification::TurnStarted(started) => {
                let turn = started.turn.clone();
                self.collector(&started.turn.id, || turn);
            }
            ServerNotification::TurnCompleted(completed) => {
                let id = completed.turn.id.clone();
                let turn = completed.turn.clone();
                if self.collector(&id, || turn).is_some() {
                    let index = self.running.iter().position(|(t, _)| *t == id).expect("just ensured");
                    let (_, mut collector) = self.running.remove(index);
                    collector.observe(notification);
                    self.record(id, collector)?;
                }
            }
            ServerNotification::ThreadGoalUpdated(updated) => {
                // After a resync, updates queued before it may be older than what it read.
                let stale = self.goal.as_ref().is_some_and(|g| updated.goal.updated_at < g.updated_at);
                tracing::debug!(thread_id = %self.control.thread_id, status = %updated.goal.status, stale, "goal updated");
                if !stale {
                    self.goal = Some(updated.goal.clone());
                }
            }
            ServerNotification::ThreadGoalCleared(_) => {
                tracing::debug!(thread_id = %self.control.thread_id, "goal cleared");
                self.goal = None;
            }
            other => {
                if let Some(turn_id) = event.turn_id() {
                    let id = turn_id.to_owned();
                    let fresh = || in_progress(&id);
                    if let Some(collector) = self.collector(turn_id, fresh) {
                        collector.observe(other);
                    }
                }
            }
        }
        if self.started > before {
            if let Some(turn_id) = event.turn_id().filter(|id| self.running.iter().any(|(t, _)| t == id)) {
                tracing::debug!(thread_id = %self.control.thread_id, turn_id, n = self.started, "goal turn started");
                self.apply_max_turns(turn_id).await?;
            }
        }
        Ok(())
    }

    fn record(&mut self, id: String, collector: TurnCollector) -> Result<()> {
        let result = collector.finish_any()?;
        self.last_status = Some(result.status.clone());
        self.done.insert(id);
        self.turns.push(result);
        self.set_current();
        Ok(())
    }

    async fn apply_max_turns(&mut self, turn_id: &str) -> Result<()> {
        let Some(max) = self.max_turns else { return Ok(()) };
        // Best effort: the turn or the goal may have moved on meanwhile; a closed
        // connection surfaces on the next event anyway.
        if self.started == max && self.goal_active() && !self.pause_sent {
            self.pause_sent = true;
            tracing::debug!(thread_id = %self.control.thread_id, max, "goal turn budget reached; pausing the goal");
            match self.control.pause().await {
                Ok(goal) => self.goal = Some(goal),
                Err(e) => tracing::warn!(thread_id = %self.control.thread_id, error = %e, "could not pause the goal"),
            }
        } else if self.started > max {
            tracing::debug!(thread_id = %self.control.thread_id, turn_id, "interrupting a goal turn past the turn budget");
            let params = TurnInterruptParams::new(self.control.thread_id.clone(), turn_id.to_owned());
            if let Err(e) = self.control.conn.request::<client_requests::TurnInterrupt>(params).await {
                tracing::warn!(thread_id = %self.control.thread_id, turn_id, error = %e, "could not interrupt the goal turn");
            }
        }
        Ok(())
    }

    /// Re-reads the goal and the thread's turns after events may have been missed.
    async fn resync(&mut self) -> Result<()> {
        let conn = self.control.conn.clone();
        let thread_id = self.control.thread_id.clone();
        self.goal = get(&conn, &thread_id).await?;
        let mut params = ThreadReadParams::new(thread_id.clone());
        params.include_turns = Some(true);
        let thread = conn.request::<client_requests::ThreadRead>(params).await?.thread;
        for turn in thread.turns {
            if self.done.contains(&turn.id) {
                continue;
            }
            let known = self.running.iter().any(|(id, _)| *id == turn.id);
            if !known && turn.started_at.is_none_or(|t| t < self.since) {
                continue;
            }
            let id = turn.id.clone();
            let record = turn.clone();
            let before = self.started;
            self.collector(&id, || record);
            if turn.status == TurnStatus::InProgress {
                if self.started > before {
                    self.apply_max_turns(&id).await?;
                }
                continue;
            }
            let index = self.running.iter().position(|(t, _)| *t == id).expect("just ensured");
            let (_, mut collector) = self.running.remove(index);
            collector.complete_from_record(turn);
            self.record(id, collector)?;
        }
        tracing::debug!(thread_id = %thread_id, turns = self.turns.len(), running = self.running.len(), "goal resynced");
        Ok(())
    }
}

/// A placeholder for a turn first seen through one of its item events.
fn in_progress(id: &str) -> Turn {
    serde_json::from_value(serde_json::json!({"id": id, "items": [], "status": "inProgress"}))
        .expect("a minimal turn matches the schema")
}

#[cfg(test)]
mod tests {
    //! The follower against an in-memory fake app-server, for the races and stalls the real
    //! one rarely produces.
    use super::*;
    use crate::rpc::ConnectionOptions;
    use serde_json::{json, Value};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    struct Fake {
        lines: tokio::io::Lines<BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>>,
        writer: tokio::io::WriteHalf<tokio::io::DuplexStream>,
    }

    impl Fake {
        async fn recv(&mut self) -> Value {
            let line = tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
                .await
                .expect("a request within 10 s")
                .unwrap()
                .expect("an open pipe");
            serde_json::from_str(&line).unwrap()
        }

        async fn send(&mut self, msg: Value) {
            self.writer.write_all(format!("{msg}\n").as_bytes()).await.unwrap();
        }

        async fn notify(&mut self, method: &str, params: Value) {
            self.send(json!({"method": method, "params": params})).await;
        }

        /// Receives the next request, checks its method, answers `result`, returns its params.
        async fn answer(&mut self, method: &str, result: Value) -> Value {
            let request = self.recv().await;
            assert_eq!(request["method"], method, "{request}");
            self.send(json!({"id": request["id"], "result": result})).await;
            request["params"].clone()
        }
    }

    fn pair() -> (Connection, Fake) {
        let (client, server) = tokio::io::duplex(1 << 16);
        let (cr, cw) = tokio::io::split(client);
        let (sr, sw) = tokio::io::split(server);
        let conn = Connection::from_io(cr, cw, ConnectionOptions::default());
        (conn, Fake { lines: BufReader::new(sr).lines(), writer: sw })
    }

    fn goal(status: &str, updated_at: i64) -> Value {
        json!({"threadId": "th", "objective": "obj", "status": status, "tokensUsed": 0,
            "timeUsedSeconds": 0, "createdAt": 100, "updatedAt": updated_at})
    }

    fn thread(turns: Vec<Value>) -> Value {
        let mut thread = json!({"id": "th", "sessionId": "th", "cliVersion": "0.169.0", "createdAt": 100,
            "updatedAt": 100, "cwd": "/tmp", "ephemeral": false, "preview": "", "modelProvider": "mock",
            "source": "appServer", "status": {"type": "idle"}, "turns": turns});
        for nullable in [
            "agentNickname",
            "agentRole",
            "forkedFromId",
            "historyMode",
            "model",
            "name",
            "originator",
            "parentThreadId",
            "path",
            "projectId",
            "reasoningEffort",
            "recencyAt",
            "section",
            "sectionEnteredAt",
            "threadSource",
        ] {
            thread[nullable] = Value::Null;
        }
        json!({"thread": thread})
    }

    fn turn(id: &str, status: &str) -> Value {
        json!({"id": id, "items": [], "status": status, "startedAt": 100})
    }

    async fn started(fake: &mut Fake) {
        fake.answer("thread/goal/get", json!({"goal": null})).await;
        let set = fake.answer("thread/goal/set", json!({"goal": goal("active", 100)})).await;
        assert_eq!(
            (set["objective"].clone(), set["status"].clone(), set["origin"].clone()),
            (json!("obj"), json!("active"), json!("user"))
        );
    }

    #[tokio::test]
    async fn a_continuation_racing_the_turn_budget_is_interrupted() {
        let (conn, mut fake) = pair();
        let options = GoalOptions::default().max_turns(1);
        let server = tokio::spawn(async move {
            started(&mut fake).await;
            // A fast first turn whose continuation starts before the pause is processed: both
            // are on the wire ahead of the pause's response.
            fake.notify("turn/started", json!({"threadId": "th", "turn": turn("t1", "inProgress")})).await;
            fake.notify(
                "item/completed",
                json!({"threadId": "th", "turnId": "t1", "completedAtMs": 1,
                "item": {"type": "agentMessage", "id": "m1", "text": "one"}}),
            )
            .await;
            fake.notify("turn/completed", json!({"threadId": "th", "turn": turn("t1", "completed")})).await;
            fake.notify("turn/started", json!({"threadId": "th", "turn": turn("t2", "inProgress")})).await;
            let pause = fake.answer("thread/goal/set", json!({"goal": goal("paused", 101)})).await;
            assert_eq!(pause["status"], "paused");
            let interrupt = fake.answer("turn/interrupt", json!({})).await;
            assert_eq!(interrupt["turnId"], "t2");
            fake.notify("turn/completed", json!({"threadId": "th", "turn": turn("t2", "interrupted")})).await;
            fake
        });
        let handle = start(&conn, "th", "obj".into(), &options).await.unwrap();
        let result = tokio::time::timeout(Duration::from_secs(10), handle.run()).await.unwrap();
        let result = result.unwrap_or_else(|e| panic!("{e}"));
        let _fake = server.await.unwrap();
        let statuses: Vec<_> = result.turns.iter().map(|t| (t.id.as_str(), t.status.clone())).collect();
        assert_eq!(statuses, [("t1", TurnStatus::Completed), ("t2", TurnStatus::Interrupted)]);
        assert_eq!(result.status(), Some(&ThreadGoalStatus::Paused));
        assert_eq!(result.final_response(), Some("one"));
    }

    #[tokio::test]
    async fn an_idle_active_goal_is_resynced_then_given_up() {
        let (conn, mut fake) = pair();
        let options = GoalOptions::default().idle_timeout(Duration::from_millis(200));
        let server = tokio::spawn(async move {
            started(&mut fake).await;
            fake.notify("turn/started", json!({"threadId": "th", "turn": turn("t1", "inProgress")})).await;
            fake.notify("turn/completed", json!({"threadId": "th", "turn": turn("t1", "completed")})).await;
            // No continuation: the follower re-reads the goal and the thread, then gives up.
            loop {
                let request = fake.recv().await;
                let result = match request["method"].as_str().unwrap() {
                    "thread/goal/get" => json!({"goal": goal("active", 100)}),
                    "thread/read" => thread(vec![turn("t1", "completed")]),
                    other => panic!("unexpected {other}"),
                };
                fake.send(json!({"id": request["id"], "result": result})).await;
            }
        });
        let handle = start(&conn, "th", "obj".into(), &options).await.unwrap();
        let result = tokio::time::timeout(Duration::from_secs(10), handle.run()).await.unwrap().unwrap();
        server.abort();
        assert_eq!(result.turns.len(), 1);
        assert_eq!(result.status(), Some(&ThreadGoalStatus::Active), "gave up with the goal still active");
    }

    #[tokio::test]
    async fn a_missed_turn_is_recovered_by_the_idle_resync() {
        let (conn, mut fake) = pair();
        let options = GoalOptions::default().idle_timeout(Duration::from_millis(300));
        let server = tokio::spawn(async move {
            started(&mut fake).await;
            // Nothing is announced; the server's record shows a finished turn and a complete goal.
            let request = fake.recv().await;
            assert_eq!(request["method"], "thread/goal/get");
            fake.send(json!({"id": request["id"], "result": {"goal": goal("complete", 102)}})).await;
            let read = fake.recv().await;
            assert_eq!(read["params"]["includeTurns"], true);
            let done = json!({"id": "t9", "status": "completed", "startedAt": 101,
                "items": [{"type": "agentMessage", "id": "m", "text": "recovered"}]});
            let old = json!({"id": "t0", "status": "completed", "startedAt": 50, "items": []});
            fake.send(json!({"id": read["id"], "result": thread(vec![old, done])})).await;
            fake
        });
        let handle = start(&conn, "th", "obj".into(), &options).await.unwrap();
        let result = tokio::time::timeout(Duration::from_secs(10), handle.run()).await.unwrap().unwrap();
        let _fake = server.await.unwrap();
        assert!(result.is_complete());
        assert_eq!(
            result.turns.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["t9"],
            "turns before the goal are not its"
        );
        assert_eq!(result.final_response(), Some("recovered"));
    }
}
