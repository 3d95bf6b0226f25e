//! A Codex thread: run turns on it, read it, rename it, compact it.

use crate::error::{Error, Result};
use crate::goals::{GoalHandle, GoalOptions, GoalResult, GoalUpdate};
use crate::input::Inputs;
use crate::methods::client_requests;
use crate::options::TurnOptions;
use crate::rpc::{Connection, StartVerdict};
use crate::structured::TypedTurnResult;
use crate::turn::{TurnHandle, TurnResult};
use crate::types::{
    ApprovalsReviewer, AskForApproval, ReasoningEffort, SandboxPolicy, ThreadCompactStartParams, ThreadForkResponse,
    ThreadReadParams, ThreadResumeResponse, ThreadSetNameParams, ThreadStartResponse,
};

/// The settings a thread runs with, as the server reported them when the thread was
/// started, resumed or forked.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ThreadSettings {
    /// Model.
    pub model: String,
    /// Model provider id.
    pub model_provider: String,
    /// Approval policy.
    pub approval_policy: AskForApproval,
    /// Who reviews approval requests.
    pub approvals_reviewer: ApprovalsReviewer,
    /// Sandbox policy.
    pub sandbox: SandboxPolicy,
    /// Working directory.
    pub cwd: String,
    /// Reasoning effort, when set.
    pub reasoning_effort: Option<ReasoningEffort>,
    /// Service tier, when set.
    pub service_tier: Option<String>,
}

macro_rules! settings_from {
    ($($response:ty),*) => {$(
        impl From<&$response> for ThreadSettings {
            fn from(r: &$response) -> Self {
                ThreadSettings {
                    model: r.model.clone(),
                    model_provider: r.model_provider.clone(),
                    approval_policy: r.approval_policy.clone(),
                    approvals_reviewer: r.approvals_reviewer.clone(),
                    sandbox: r.sandbox.clone(),
                    cwd: r.cwd.to_string(),
                    reasoning_effort: r.reasoning_effort.clone(),
                    service_tier: r.service_tier.clone(),
                }
            }
        }
    )*};
}

settings_from!(ThreadStartResponse, ThreadResumeResponse, ThreadForkResponse);

/// A thread on a [`Codex`](crate::Codex) connection. Cheap to clone.
///
/// While any handle of the thread lives (a `Thread`, a turn handle or stream of it, its
/// [`notifications`](Self::notifications), a handler [set](Self::set_handler) on it), the
/// connection receives the thread's events; once none does and no turn runs on it, the
/// connection unsubscribes from it (`thread/unsubscribe`), so a long-lived client does not
/// keep receiving the events of every thread it ever touched. A turn started later on the
/// thread subscribes again first.
#[derive(Debug, Clone)]
pub struct Thread {
    conn: Connection,
    id: String,
    info: Option<crate::types::Thread>,
    settings: Option<ThreadSettings>,
    _interest: std::sync::Arc<crate::rpc::ThreadInterest>,
}

impl Thread {
    pub(crate) fn new(
        conn: Connection,
        id: String,
        info: Option<crate::types::Thread>,
        settings: Option<ThreadSettings>,
    ) -> Self {
        let _interest = conn.thread_interest(&id);
        Self { conn, id, info, settings, _interest }
    }

    /// This thread with a per-request timeout of `timeout` for every call made through
    /// the returned handle (and the turns started from it); see
    /// [`Connection::with_timeout`]. To bound a whole turn, use
    /// [`TurnHandle::run_timeout`] (the error names the turn and carries its interrupted
    /// result), or wrap the future: `tokio::time::timeout(d, thread.run(input))` — on
    /// expiry the dropped future interrupts the turn.
    pub fn with_timeout(&self, timeout: std::time::Duration) -> Thread {
        Thread { conn: self.conn.with_timeout(timeout), ..self.clone() }
    }

    /// Answers this thread's server requests (command and file-change approvals, …) with
    /// `handler` instead of the one fixed at connect, from now until
    /// [`clear_handler`](Self::clear_handler); other threads keep theirs. Typically an
    /// [`ApprovalHandler`](crate::ApprovalHandler) whose closures know this thread's
    /// context. A request the handler does not implement is refused (fail closed).
    ///
    /// The connection keeps the handler until it is cleared or the connection closes: a
    /// handler that holds this `Thread` (or its `Codex`) keeps the connection alive while
    /// the handler is set, so capture ids and channels instead, or clear it when done.
    ///
    /// ```no_run
    /// # async fn demo(thread: codex_driver::Thread) -> codex_driver::Result<()> {
    /// use codex_driver::ApprovalHandler;
    /// use codex_driver::types::CommandExecutionApprovalDecision as Decision;
    /// thread.set_handler(ApprovalHandler::new().on_command_execution(|req| async move {
    ///     if req.command.as_deref() == Some("cargo test") { Decision::Accept } else { Decision::Decline }
    /// }));
    /// let result = thread.run("Run the tests").await?;
    /// # Ok(()) }
    /// ```
    pub fn set_handler(&self, handler: impl crate::methods::ServerRequestHandler) {
        let handler = crate::rpc::typed_handlers::Typed(std::sync::Arc::new(handler));
        self.conn.set_thread_handler(&self.id, std::sync::Arc::new(handler));
    }

    /// Removes the handler set with [`set_handler`](Self::set_handler); `false` if none was set.
    pub fn clear_handler(&self) -> bool {
        self.conn.clear_thread_handler(&self.id)
    }

    /// The settings the server reported when this handle was made by
    /// `thread_start`, `thread_resume` or `thread_fork` (`None` otherwise). Per-turn
    /// options change them for later turns; resume or fork to see the current ones.
    pub fn settings(&self) -> Option<&ThreadSettings> {
        self.settings.as_ref()
    }

    /// The thread id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The thread as the call that produced this handle returned it (`None` for a handle
    /// made from a bare id).
    pub fn info(&self) -> Option<&crate::types::Thread> {
        self.info.as_ref()
    }

    /// Every notification about this thread from now on (its turns' events included),
    /// typed and bounded.
    pub fn notifications(&self) -> crate::Notifications {
        crate::Notifications::new(self.conn.subscribe_thread(&self.id))
    }

    /// Runs a turn to completion with the thread's settings.
    pub async fn run(&self, input: impl Into<Inputs>) -> Result<TurnResult> {
        self.turn(input).await?.run().await
    }

    /// Runs a turn to completion with per-turn options.
    pub async fn run_with(&self, input: impl Into<Inputs>, options: &TurnOptions) -> Result<TurnResult> {
        self.turn_with(input, options).await?.run().await
    }

    /// Starts a turn and returns its handle (stream it, steer it, interrupt it, or run it).
    pub async fn turn(&self, input: impl Into<Inputs>) -> Result<TurnHandle> {
        self.turn_with(input, &TurnOptions::default()).await
    }

    /// Starts a turn with per-turn options. Events that race the `turn/start` response
    /// are kept for the turn's stream.
    ///
    /// # A thread this connection does not follow
    ///
    /// The server sends a thread's events only to the connections subscribed to it (those
    /// that started, resumed or forked it). Before starting a turn on a thread this
    /// connection is not subscribed to — a handle from [`Codex::thread_handle`](crate::Codex::thread_handle),
    /// or one let go since — the SDK subscribes it with a `thread/resume` that names the
    /// thread alone (its settings stay as they are), so the turn's events cannot go
    /// elsewhere and nothing waits forever.
    ///
    /// # A busy thread
    ///
    /// The server folds a `turn/start` on a thread whose turn is still running into that
    /// turn. The SDK refuses to do that silently: when a turn is known to run on the thread
    /// — this client's, another client's seen through its `turn/started`, or one the server
    /// reported in a `thread/start` / `thread/resume` / `thread/read` answer as `active` —
    /// the call fails with [`Error::ThreadBusy`] naming the running turn, before anything is
    /// sent. (Another client's turn is confirmed with the server first, by a metadata-only
    /// `thread/read`: its end may not have reached this connection yet.) Two clients
    /// starting on an idle thread at the same instant cannot be told apart beforehand
    /// (`turn/start` has no precondition): when the server answers with a turn that was
    /// already running, or that this client already follows, the call fails with
    /// [`Error::ThreadBusy`] `{ merged: true }` (the input went into that turn). Wait for the
    /// running turn ([`running_turn`](Self::running_turn)), interrupt it, or add input to it
    /// on purpose with [`TurnControl::steer`](crate::TurnControl::steer). A turn this client
    /// gave up on by dropping its handle is waited for instead (it is being interrupted).
    ///
    /// To tell a merge from a new turn, the input carries a unique `clientUserMessageId`,
    /// and the call returns once the turn's first item (its user message, echoing that id)
    /// or its end has arrived — right after the answer on a real server; at most 10 s.
    pub async fn turn_with(&self, input: impl Into<Inputs>, options: &TurnOptions) -> Result<TurnHandle> {
        let params = options.to_params(&self.id, input.into().into_user_inputs())?;
        self.start(TurnStart::Input(Box::new(params))).await
    }

    /// Starts a review of `target` on this thread (`review/start`, delivered inline: the
    /// review is a turn of this thread) and returns its handle, with everything
    /// [`turn_with`](Self::turn_with) promises: the stream from the turn's first event,
    /// [`TurnResult`] (the review's text in [`TurnResult::review`]), cancel-on-drop, and
    /// [`Error::ThreadBusy`] on a thread whose turn is still running.
    ///
    /// ```no_run
    /// # async fn demo(thread: codex_driver::Thread) -> codex_driver::Result<()> {
    /// use codex_driver::Review;
    ///
    /// let result = thread.review(Review::base_branch("main")).await?.run().await?;
    /// println!("{}", result.review().unwrap_or("no review"));
    /// # Ok(()) }
    /// ```
    pub async fn review(&self, target: impl Into<crate::types::ReviewTarget>) -> Result<TurnHandle> {
        let params =
            crate::types::ReviewStartParams { delivery: None, target: target.into(), thread_id: self.id.clone() };
        self.start(TurnStart::Review(params)).await
    }

    /// Starts a turn by `start`; the shared body of [`turn_with`](Self::turn_with) and
    /// [`review`](Self::review).
    async fn start(&self, start: TurnStart) -> Result<TurnHandle> {
        // A closed connection fails at once (on the first poll).
        if let Some(closed) = self.conn.close_error() {
            return Err(closed);
        }
        // Starting runs in a task of its own, so a caller who gives up halfway (drops this
        // future) cannot leave a started turn without a handle: the task finishes the start,
        // finds nobody to hand the turn to, and drops the handle, which interrupts it.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let this = self.clone();
        tokio::spawn(async move {
            let (started, turn_lock) = match this.start_turn(start, &tx).await {
                Ok((handle, lock)) => (Ok(handle), Some(lock)),
                Err(e) => (Err(e), None),
            };
            // The thread's turn lock is held until the turn is handed over or, abandoned,
            // marked as being interrupted: the next turn/start then waits for it. (A caller
            // that gives up just after the hand-over marks it a moment later; a turn/start
            // racing into that moment is answered with the running turn and refused as
            // merged.)
            if let Err(Ok(abandoned)) = tx.send(started) {
                drop(abandoned);
            }
            drop(turn_lock);
        });
        rx.await
            .unwrap_or_else(|_| Err(Error::StreamEnded { what: "the turn/start task ended without an answer".into() }))
    }

    /// Starts a turn (as [`turn_with`](Self::turn_with)) whose thread's server requests —
    /// approvals, tool calls, questions — come as [`TurnItem::Request`](crate::TurnItem::Request)s
    /// of its stream, between its notifications, each with a typed reply handle
    /// ([`PendingRequest`](crate::PendingRequest): accept, decline, cancel, respond; dropped
    /// unanswered, declined). Other threads keep their handlers; this thread's handler
    /// (from [`set_handler`](Self::set_handler), else the connection's) answers again
    /// once the returned [`TurnActivity`](crate::TurnActivity) ends or is dropped.
    ///
    /// The forwarding starts before `turn/start` is sent, so no request of the turn can
    /// reach another handler first.
    ///
    /// ```no_run
    /// # async fn demo(thread: codex_driver::Thread) -> codex_driver::Result<()> {
    /// use codex_driver::{TurnItem, TurnOptions};
    ///
    /// let mut turn = thread.turn_with_requests("tidy the repo", &TurnOptions::default()).await?;
    /// while let Some(item) = turn.next_item().await {
    ///     match item? {
    ///         TurnItem::Request(request) if request.method() == "item/commandExecution/requestApproval" => {
    ///             let _ = request.accept();
    ///         }
    ///         TurnItem::Request(other) => other.decline(),
    ///         TurnItem::Event(event) => println!("{event:?}"),
    ///         _ => {}
    ///     }
    /// }
    /// let result = turn.result().await?;
    /// # Ok(()) }
    /// ```
    pub async fn turn_with_requests(
        &self,
        input: impl Into<Inputs>,
        options: &TurnOptions,
    ) -> Result<crate::TurnActivity> {
        let requests = crate::turn_requests::forward(&self.conn, &self.id);
        let handle = self.turn_with(input, options).await?;
        Ok(crate::TurnActivity::new(handle.stream(), requests))
    }

    /// The body of [`turn_with`](Self::turn_with); gives up before sending anything once
    /// `caller` is gone.
    async fn start_turn(
        &self,
        start: TurnStart,
        caller: &tokio::sync::oneshot::Sender<Result<TurnHandle>>,
    ) -> Result<(TurnHandle, crate::rpc::TurnLock)> {
        let reservation = self.conn.reserve_turn(&self.id).await?;
        self.conn.wait_dropped_turn(&self.id).await?;
        self.conn.ensure_subscribed(&self.id).await?;
        if let Some((running, ours)) = self.conn.busy(&self.id) {
            // A turn of this client is known exactly. Another connection's turn is known from
            // its notifications or an answer, which may lag its end: the server decides.
            let running = if ours { running.turn_id } else { self.server_running_turn().await? };
            if let Some(running_turn_id) = running {
                return Err(Error::ThreadBusy { thread_id: self.id.clone(), running_turn_id, merged: false });
            }
        }
        if caller.is_closed() {
            return Err(Error::GaveUp { method: start.method().into() });
        }
        let (turn, tag) = match start {
            TurnStart::Input(mut params) => {
                // Tag the input, so the turn's first user message tells whose input opened it.
                let tag = params.client_user_message_id.get_or_insert_with(unique_message_id).clone();
                (self.conn.request::<client_requests::TurnStart>(*params).await?.turn, Some(tag))
            }
            // A review has no input to tag: only the turn book's verdict tells a merge.
            TurnStart::Review(params) => (self.conn.request::<client_requests::ReviewStart>(params).await?.turn, None),
            // The answers of these two name no turn: theirs is the one that starts next.
            TurnStart::Compact => {
                let mark = self.conn.notification_mark();
                let params = ThreadCompactStartParams { thread_id: self.id.clone() };
                self.conn.request::<client_requests::ThreadCompactStart>(params).await?;
                (self.started_since(mark, crate::method_names::THREAD_COMPACT_START).await?, None)
            }
            TurnStart::Shell(params) => {
                let mark = self.conn.notification_mark();
                self.conn.request::<client_requests::ThreadShellCommand>(params).await?;
                (self.started_since(mark, crate::method_names::THREAD_SHELL_COMMAND).await?, None)
            }
        };
        let turn_id = turn.id.clone();
        let merged = match (self.conn.start_verdict(&self.id, &turn_id), tag) {
            (Some(StartVerdict::Merged), _) => true,
            // Another client may have started this turn at the same instant, and the server
            // folded this input into it: the turn's first user message says whose it is.
            (Some(_), Some(tag)) => {
                let opener = self.conn.turn_opener(&turn_id, OPENER_WAIT).await;
                // A message without a `clientId` (a server that does not echo it) tells nothing.
                let another = matches!(&opener, Some(Some(opener)) if *opener != tag);
                if another {
                    self.conn.disown_turn(&self.id, &turn_id);
                }
                another
            }
            _ => false,
        };
        if merged {
            tracing::warn!(thread_id = %self.id, %turn_id, "turn/start was merged into the running turn");
            return Err(Error::ThreadBusy { thread_id: self.id.clone(), running_turn_id: turn_id, merged: true });
        }
        let (stream, lock) = reservation.claim_holding_lock(turn_id);
        tracing::debug!(thread_id = %self.id, turn_id = %turn.id, "turn started");
        Ok((TurnHandle::new(self.conn.clone(), self.id.clone(), turn, stream, true), lock))
    }

    /// The turn that started on this thread after notification `mark`, as this client's
    /// (for `method`, whose answer names no turn).
    async fn started_since(&self, mark: u64, method: &str) -> Result<crate::types::Turn> {
        let turn_id = self.conn.claim_started_turn(&self.id, mark, method).await?;
        Ok(crate::types::Turn::new(turn_id, Vec::new(), crate::types::TurnStatus::InProgress))
    }

    /// The turn the server runs on this thread, asked with `thread/read` (metadata only, or
    /// with turns when the turn is not named yet); the answer also updates the turn book.
    /// `None` when the thread is not active. An active thread whose running turn cannot be
    /// named is reported with an empty id.
    async fn server_running_turn(&self) -> Result<Option<String>> {
        let params = crate::types::ThreadReadParams { include_turns: Some(false), thread_id: self.id.clone() };
        let read = self.conn.request::<client_requests::ThreadRead>(params).await?;
        if !matches!(read.thread.status, crate::types::ThreadStatus::Active(_)) {
            return Ok(None);
        }
        if let Some(turn_id) = self.conn.running_turn(&self.id) {
            return Ok(Some(turn_id));
        }
        let turns = self.read_with_turns().await?.turns;
        let running = turns.into_iter().rev().find(|t| t.status == crate::types::TurnStatus::InProgress);
        Ok(Some(running.map(|t| t.id).unwrap_or_default()))
    }

    /// A handle for the turn running on this thread right now — another client's on a
    /// shared server, or one this client started — or `None` when the thread is idle.
    /// Subscribes this connection to the thread first when it is not (see
    /// [`turn_with`](Self::turn_with)).
    ///
    /// The handle streams the turn's events from now on and ends in its [`TurnResult`],
    /// whose items are re-read from the server's record once the turn completes (the events
    /// before this call did not reach this handle). Dropping it only stops watching: it
    /// interrupts the turn only if [`interrupt_on_drop`](TurnHandle::interrupt_on_drop) asks
    /// for that; [`TurnHandle::cancel`] and [`TurnHandle::interrupt`] interrupt it at once.
    pub async fn running_turn(&self) -> Result<Option<TurnHandle>> {
        self.conn.ensure_subscribed(&self.id).await?;
        for _ in 0..2 {
            match self.conn.follow_running_turn(&self.id) {
                Ok(Some(stream)) => {
                    let initial: crate::types::Turn = serde_json::from_value(serde_json::json!({
                        "id": stream.turn_id(), "items": [], "status": "inProgress"
                    }))
                    .map_err(|source| Error::Decode { method: "turn".into(), source })?;
                    return Ok(Some(TurnHandle::new(self.conn.clone(), self.id.clone(), initial, stream, false)));
                }
                Ok(None) => return Ok(None),
                // Active, the turn not named yet: the record names it (and tells the book).
                Err(()) => {
                    self.read_with_turns().await?;
                }
            }
        }
        Ok(None)
    }

    /// Runs a turn whose final answer must be a `T`: the strict-mode JSON Schema of `T`
    /// ([`output_schema_for`](crate::structured::output_schema_for)) is sent as the turn's
    /// `outputSchema`, and the final response is parsed into `T`. An answer that does not
    /// parse is [`Error::OutputMismatch`](crate::Error::OutputMismatch) (raw text, serde error and the turn); a failed
    /// turn is [`Error::TurnFailed`](crate::Error::TurnFailed).
    ///
    /// ```no_run
    /// # async fn demo(thread: codex_driver::Thread) -> codex_driver::Result<()> {
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Summary {
    ///     title: String,
    ///     risk: Option<String>,
    /// }
    /// let summary = thread.run_typed::<Summary>("Summarize the diff").await?.output;
    /// # Ok(()) }
    /// ```
    pub async fn run_typed<T>(&self, input: impl Into<Inputs>) -> Result<TypedTurnResult<T>>
    where
        T: schemars::JsonSchema + serde::de::DeserializeOwned,
    {
        self.run_typed_with(input, &TurnOptions::default()).await
    }

    /// [`run_typed`](Self::run_typed) with per-turn options (their `output_schema` is
    /// replaced by `T`'s).
    pub async fn run_typed_with<T>(&self, input: impl Into<Inputs>, options: &TurnOptions) -> Result<TypedTurnResult<T>>
    where
        T: schemars::JsonSchema + serde::de::DeserializeOwned,
    {
        let options = options.clone().output_schema(crate::structured::output_schema_for::<T>());
        let turn = self.run_with(input, &options).await?;
        crate::structured::parse_final_response(turn)
    }

    /// The thread's goal (`thread/goal/get`), if it has one.
    pub async fn goal(&self) -> Result<Option<crate::types::ThreadGoal>> {
        crate::goals::get(&self.conn, &self.id).await
    }

    /// Changes the thread's goal (`thread/goal/set`) and returns it. Note that making a goal
    /// `active` on an idle thread (a new objective, or status `Active`) makes the server
    /// start turns by itself; use [`start_goal`](Self::start_goal) to follow them.
    pub async fn set_goal(&self, update: &GoalUpdate) -> Result<crate::types::ThreadGoal> {
        crate::goals::set(&self.conn, &self.id, update).await
    }

    /// Pauses the thread's goal: a running turn finishes, no continuation follows.
    pub async fn pause_goal(&self) -> Result<crate::types::ThreadGoal> {
        self.set_goal(&GoalUpdate::new().status(crate::types::ThreadGoalStatus::Paused)).await
    }

    /// Removes the thread's goal (`thread/goal/clear`); `false` when there was none.
    pub async fn clear_goal(&self) -> Result<bool> {
        crate::goals::clear(&self.conn, &self.id).await
    }

    /// Sets `objective` as the thread's new goal (clearing any previous one, so usage and
    /// budget start from zero) and returns a handle that follows the turns the server runs
    /// for it. See [`goals`](crate::goals) for how the server pursues a goal.
    pub async fn start_goal(&self, objective: impl Into<String>) -> Result<GoalHandle> {
        self.start_goal_with(objective, &GoalOptions::default()).await
    }

    /// [`start_goal`](Self::start_goal) with a token and/or turn budget.
    pub async fn start_goal_with(&self, objective: impl Into<String>, options: &GoalOptions) -> Result<GoalHandle> {
        crate::goals::start(&self.conn, &self.id, objective.into(), options).await
    }

    /// Starts a goal and follows it until it settles (complete, blocked, paused, budget- or
    /// usage-limited, cleared, or its last turn interrupted or failed); returns every turn
    /// it ran and the goal's final state. A failed turn is part of the result, not an error.
    ///
    /// ```no_run
    /// # async fn demo(thread: codex_driver::Thread) -> codex_driver::Result<()> {
    /// use codex_driver::goals::GoalOptions;
    /// let result = thread.run_goal_with("Make the test suite pass", &GoalOptions::default().max_turns(10)).await?;
    /// println!("{:?} after {} turn(s): {}", result.status(), result.turns.len(), result.final_response().unwrap_or_default());
    /// # Ok(()) }
    /// ```
    pub async fn run_goal(&self, objective: impl Into<String>) -> Result<GoalResult> {
        self.start_goal(objective).await?.run().await
    }

    /// [`run_goal`](Self::run_goal) with a token and/or turn budget.
    pub async fn run_goal_with(&self, objective: impl Into<String>, options: &GoalOptions) -> Result<GoalResult> {
        self.start_goal_with(objective, options).await?.run().await
    }

    /// Makes the existing goal `active` again (e.g. after a pause, a budget stop or an
    /// interrupt) and follows the turns the server then runs.
    pub async fn resume_goal(&self) -> Result<GoalHandle> {
        self.resume_goal_with(&GoalOptions::default()).await
    }

    /// [`resume_goal`](Self::resume_goal) with options (a new token budget replaces the old one).
    pub async fn resume_goal_with(&self, options: &GoalOptions) -> Result<GoalHandle> {
        crate::goals::resume(&self.conn, &self.id, options).await
    }

    /// Reads the thread (`thread/read`) without its turns (see
    /// [`read_with_turns`](Self::read_with_turns)).
    pub async fn read(&self) -> Result<crate::types::Thread> {
        self.thread_read(false).await
    }

    /// Reads the thread (`thread/read`) with its turns and their items.
    pub async fn read_with_turns(&self) -> Result<crate::types::Thread> {
        self.thread_read(true).await
    }

    async fn thread_read(&self, include_turns: bool) -> Result<crate::types::Thread> {
        let mut params = ThreadReadParams::new(self.id.clone());
        params.include_turns = Some(include_turns);
        Ok(self.conn.request::<client_requests::ThreadRead>(params).await?.thread)
    }

    /// Renames the thread.
    pub async fn set_name(&self, name: impl Into<String>) -> Result<()> {
        let params = ThreadSetNameParams::new(name, self.id.clone());
        self.conn.request::<client_requests::ThreadNameSet>(params).await?;
        Ok(())
    }

    /// Answers this thread's dynamic tool calls (`item/tool/call`) with `tools` on this
    /// connection — for a thread started with tools elsewhere, or resumed here; see
    /// [`Codex::thread_start_with_tools`](crate::Codex::thread_start_with_tools)
    /// (experimental surface).
    /// Serving lasts until [`stop_serving_tools`](Self::stop_serving_tools) or the
    /// connection closes, and keeps the thread subscribed meanwhile.
    #[cfg(feature = "experimental")]
    pub fn serve_tools(&self, tools: crate::tools::Tools) {
        self.conn.serve_tools(&self.id, std::sync::Arc::new(tools));
    }

    /// Stops answering this thread's tool calls here ([`serve_tools`](Self::serve_tools),
    /// [`Codex::thread_start_with_tools`](crate::Codex::thread_start_with_tools)); `false`
    /// when none were served (experimental surface).
    #[cfg(feature = "experimental")]
    pub fn stop_serving_tools(&self) -> bool {
        self.conn.stop_serving_tools(&self.id)
    }

    /// Compacts the thread's history (`thread/compact/start`): the compaction is a turn of
    /// its own (one `contextCompaction` item), returned as a [`TurnHandle`] with what
    /// [`turn_with`](Self::turn_with) promises (stream, result, cancel-on-drop,
    /// [`Error::ThreadBusy`] on a busy thread). The answer names no turn: the handle's turn
    /// is the one that starts on the thread after the request is sent (the thread is known
    /// idle then; a turn another client starts at that same instant is refused by the
    /// server or merged, as with `turn/start`).
    pub async fn compact(&self) -> Result<TurnHandle> {
        self.start(TurnStart::Compact).await
    }

    /// Runs `command` in the thread's shell as a turn of its own (`thread/shellCommand`):
    /// the user's own command, evaluated by the thread's configured shell with its syntax
    /// (pipes, redirects), **unsandboxed, with full access**, and recorded in the thread as
    /// a `commandExecution` item. Returned as a [`TurnHandle`] found as
    /// [`compact`](Self::compact)'s is (the answer names no turn): the stream carries its
    /// output deltas, the result its item (exit code, aggregated output).
    pub async fn shell_command(&self, command: impl Into<String>) -> Result<TurnHandle> {
        let params = crate::types::ThreadShellCommandParams::new(command, self.id.clone());
        self.start(TurnStart::Shell(params)).await
    }
}

/// What starts a turn: input (`turn/start`), a review (`review/start`), a compaction
/// (`thread/compact/start`), a shell command (`thread/shellCommand`).
enum TurnStart {
    Input(Box<crate::types::TurnStartParams>),
    Review(crate::types::ReviewStartParams),
    Compact,
    Shell(crate::types::ThreadShellCommandParams),
}

impl TurnStart {
    /// The request that starts the turn.
    fn method(&self) -> &'static str {
        use crate::method_names::{REVIEW_START, THREAD_COMPACT_START, THREAD_SHELL_COMMAND, TURN_START};
        match self {
            TurnStart::Input(_) => TURN_START,
            TurnStart::Review(_) => REVIEW_START,
            TurnStart::Compact => THREAD_COMPACT_START,
            TurnStart::Shell(_) => THREAD_SHELL_COMMAND,
        }
    }
}

/// How long a started turn waits for its first user message, to tell whose input opened it.
const OPENER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A `clientUserMessageId` no other input carries: the process, a counter, the time.
fn unique_message_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("codex-rs-{}-{nanos:x}-{n}", std::process::id())
}
