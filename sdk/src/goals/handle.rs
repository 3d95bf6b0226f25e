//! What a caller holds of a followed goal: [`GoalHandle`], [`GoalControl`] and the
//! [`GoalResult`] it settles in.

use super::*;

/// Pauses, resumes or interrupts a followed goal; cheap to clone.
#[derive(Debug, Clone)]
pub struct GoalControl {
    pub(super) conn: Connection,
    pub(super) thread_id: String,
    pub(super) current_turn: Arc<Mutex<Option<String>>>,
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
    pub(super) control: GoalControl,
    pub(super) goal: ThreadGoal,
    pub(super) follower: Box<Follower>,
}

impl GoalHandle {
    pub(super) fn new(
        conn: Connection,
        thread_id: String,
        goal: ThreadGoal,
        (events, adopted): (EventStream, crate::rpc::AdoptedTurns),
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
            _adopted: adopted,
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
        tracing::Instrument::instrument(self.stream().result(), span).await
    }
}
