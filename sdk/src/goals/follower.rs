//! The follower: tracks the server's continuation turns until the goal settles, and
//! interrupts the running turn when it is dropped before that.

use super::*;

/// Dropping a goal's handle, stream or `run` future before it settles interrupts the turn
/// it is running (as a dropped [`TurnHandle`](crate::TurnHandle) does), which settles the goal.
impl Drop for Follower {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Some(turn_id) = self.control.current_turn_id() {
            self.control.conn.interrupt_dropped(&self.control.thread_id, &turn_id, false);
        }
    }
}

/// Follows the thread's notifications and decides when the goal has settled.
pub(super) struct Follower {
    pub(super) control: GoalControl,
    pub(super) events: EventStream,
    /// Events received while clearing the previous goal, delivered first.
    pub(super) replay: VecDeque<Event>,
    /// Unix seconds the goal was set: turns started before it are not the goal's.
    pub(super) since: i64,
    pub(super) goal: Option<ThreadGoal>,
    /// Running turns, in start order.
    pub(super) running: Vec<(String, TurnCollector)>,
    pub(super) done: HashSet<String>,
    pub(super) turns: Vec<TurnResult>,
    pub(super) last_status: Option<TurnStatus>,
    pub(super) started: usize,
    pub(super) max_turns: Option<usize>,
    pub(super) pause_sent: bool,
    pub(super) idle_timeout: Duration,
    pub(super) idle_since: Option<Instant>,
    pub(super) stalled: bool,
    pub(super) finished: bool,
    /// The turns the server starts on the thread while the goal is followed are this
    /// client's (their approvals answered here, interrupted when the follower is dropped).
    pub(super) _adopted: crate::rpc::AdoptedTurns,
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

pub(super) enum Next {
    Item(Option<Result<Event>>),
    Idle,
}

impl Follower {
    pub(super) fn goal_active(&self) -> bool {
        self.goal.as_ref().is_some_and(|g| g.status == ThreadGoalStatus::Active)
    }

    pub(super) fn settled(&self) -> bool {
        if !self.running.is_empty() {
            return false;
        }
        if self.stalled || !self.goal_active() {
            return true;
        }
        matches!(self.last_status, Some(TurnStatus::Interrupted | TurnStatus::Failed))
    }

    pub(super) fn settle(&mut self) {
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

    pub(super) fn result(mut self) -> GoalResult {
        self.finished = true;
        GoalResult { goal: self.goal.take(), turns: std::mem::take(&mut self.turns) }
    }

    pub(super) fn closed_error(&self) -> Error {
        self.control.conn.close_error().unwrap_or_else(|| Error::StreamEnded {
            what: "the goal's event stream ended before the goal settled".into(),
        })
    }

    /// The next event if one is already queued, without waiting.
    pub(super) fn try_receive(&mut self) -> Option<Result<Event>> {
        if let Some(event) = self.replay.pop_front() {
            return Some(Ok(event));
        }
        futures_util::FutureExt::now_or_never(self.events.next_event()).flatten()
    }

    pub(super) async fn receive(&mut self) -> Next {
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

    pub(super) async fn next(&mut self) -> Option<Result<ServerNotification>> {
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
                Next::Item(Some(Err(missed))) if missed.is_missed_events() => {
                    self.idle_since = None;
                    if let Err(e) = self.resync().await {
                        return Some(Err(e));
                    }
                    return Some(Err(missed));
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

    pub(super) fn set_current(&self) {
        let current = self.running.last().map(|(id, _)| id.clone());
        *self.control.current_turn.lock().unwrap_or_else(|e| e.into_inner()) = current;
    }

    pub(super) fn collector(&mut self, turn_id: &str, initial: impl FnOnce() -> Turn) -> Option<&mut TurnCollector> {
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

    pub(super) async fn observe(&mut self, event: &Event, notification: &ServerNotification) -> Result<()> {
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

    pub(super) fn record(&mut self, id: String, collector: TurnCollector) -> Result<()> {
        let result = collector.finish_any()?;
        self.last_status = Some(result.status.clone());
        self.done.insert(id);
        self.turns.push(result);
        self.set_current();
        Ok(())
    }

    pub(super) async fn apply_max_turns(&mut self, turn_id: &str) -> Result<()> {
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
    pub(super) async fn resync(&mut self) -> Result<()> {
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
pub(super) fn in_progress(id: &str) -> Turn {
    serde_json::from_value(serde_json::json!({"id": id, "items": [], "status": "inProgress"}))
        .expect("a minimal turn matches the schema")
}
