//! A running turn: its typed event stream, steering and interruption, and the collected
//! [`TurnResult`].

use crate::error::{Error, Result};
use crate::input::Inputs;
use crate::methods::{client_requests, ServerNotification};
pub use crate::results::{TurnResult, UndecodableEvent};
use crate::rpc::{Connection, ThreadInterest, TurnStream};
use crate::types::{ThreadItem, ThreadReadParams, ThreadTokenUsage, Turn, TurnStatus, TurnSteerParams};
use futures_util::Stream;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Steers or interrupts a turn; cheap to clone and usable while the turn is streamed.
#[derive(Debug, Clone)]
pub struct TurnControl {
    conn: Connection,
    thread_id: String,
    turn_id: String,
    /// Keeps the thread's events coming while any handle of the turn lives.
    _interest: Arc<ThreadInterest>,
}

impl TurnControl {
    /// The turn id.
    pub fn turn_id(&self) -> &str {
        &self.turn_id
    }

    /// The thread id.
    pub fn thread_id(&self) -> &str {
        &self.thread_id
    }

    /// Adds input to the running turn (`turn/steer`); returns the id of the turn that
    /// carries on. Fails (`-32600`) when the turn is no longer active.
    pub async fn steer(&self, input: impl Into<Inputs>) -> Result<String> {
        let params =
            TurnSteerParams::new(self.turn_id.clone(), input.into().into_user_inputs(), self.thread_id.clone());
        let response = self.conn.request::<client_requests::TurnSteer>(params).await?;
        Ok(response.turn_id)
    }

    /// Interrupts the turn (`turn/interrupt`) — this client's or, on a shared server,
    /// another's: an explicit call is the caller's decision. Its stream then ends with status
    /// `interrupted`.
    pub async fn interrupt(&self) -> Result<()> {
        let params = self.conn.interrupt_params(&self.thread_id, &self.turn_id);
        self.conn.request::<client_requests::TurnInterrupt>(params).await?;
        Ok(())
    }
}

/// Interrupts the turn on the server when dropped while armed: the cancellation policy of
/// [`TurnHandle`], [`TurnEvents`] and the futures of `run`. Armed for a turn this client
/// started; for another client's turn only when the caller asked
/// ([`TurnHandle::interrupt_on_drop`]).
#[derive(Debug)]
struct InterruptOnDrop {
    control: TurnControl,
    armed: bool,
    /// The caller armed it on purpose (for a turn that may not be this client's).
    asked: bool,
}

impl InterruptOnDrop {
    /// Interrupts now, from anywhere (a `Drop`, a poll), and disarms.
    fn fire(&mut self) {
        self.armed = false;
        let control = &self.control;
        control.conn.interrupt_dropped(&control.thread_id, &control.turn_id, self.asked);
    }
}

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.fire();
        }
    }
}

/// A started turn, or a turn already running that this client follows
/// ([`Thread::running_turn`](crate::Thread::running_turn)). Consume it with
/// [`stream`](Self::stream) for typed events (ending in the [`TurnResult`]) or
/// [`run`](Self::run) for the result alone; [`control`](Self::control) steers or
/// interrupts it meanwhile.
///
/// # Cancellation
///
/// Dropping the handle of a turn this client started, its [`TurnEvents`] stream, or the
/// future of [`run`](Self::run) (or of [`Thread::run`](crate::Thread::run), `run_typed`, …)
/// before `turn/completed` interrupts the turn on the server: the connection sends
/// `turn/interrupt` by itself (nothing blocks in `Drop`), the turn ends `interrupted`, the
/// next turn started on the thread from this client waits for that, and
/// [`Codex::close`](crate::Codex::close) waits for it too. So a dropped task or a `select!`
/// gives up on a turn the Rust way. A handle for another client's turn only stops watching
/// when dropped (unless [`interrupt_on_drop`](Self::interrupt_on_drop)); to let a turn of
/// this client run on unwatched, [`detach`](Self::detach) it.
///
/// A borrowed stream cancels only when it is dropped: `tokio::time::timeout(d, drain(&mut
/// events))` leaves the turn running while `events` lives. For a deadline, use
/// [`run_timeout`](Self::run_timeout) or [`TurnEvents::deadline`]; to give up and learn the
/// outcome, [`cancel`](Self::cancel).
#[derive(Debug)]
pub struct TurnHandle {
    guard: InterruptOnDrop,
    initial: Turn,
    stream: TurnStream,
    /// Followed from the middle (a running turn found on the server): the result's items
    /// are re-read from the server's record once it completes.
    partial: bool,
}

impl TurnHandle {
    /// A handle for a turn this client started (`owned`: interrupts on drop) or follows.
    pub(crate) fn new(conn: Connection, thread_id: String, initial: Turn, stream: TurnStream, owned: bool) -> Self {
        let _interest = conn.thread_interest(&thread_id);
        let control = TurnControl { conn, thread_id, turn_id: initial.id.clone(), _interest };
        Self { guard: InterruptOnDrop { control, armed: owned, asked: false }, initial, stream, partial: !owned }
    }

    /// The turn id.
    pub fn id(&self) -> &str {
        &self.guard.control.turn_id
    }

    /// The thread id.
    pub fn thread_id(&self) -> &str {
        &self.guard.control.thread_id
    }

    /// The turn as `turn/start` returned it (for a followed turn: its id and status only).
    pub fn initial(&self) -> &Turn {
        &self.initial
    }

    /// A handle to steer or interrupt this turn from elsewhere.
    pub fn control(&self) -> TurnControl {
        self.guard.control.clone()
    }

    /// Lets the turn run on when this handle (or its stream, or its `run` future) is
    /// dropped: the returned handle only observes.
    pub fn detach(mut self) -> Self {
        self.guard.armed = false;
        self
    }

    /// Makes dropping this handle (or its stream, or its `run` future) before the turn
    /// completes interrupt the turn, also when it is another client's turn: the caller's
    /// explicit choice.
    pub fn interrupt_on_drop(mut self) -> Self {
        self.guard.armed = true;
        self.guard.asked = true;
        self
    }

    /// Whether dropping this handle interrupts the turn (`false` after [`detach`](Self::detach),
    /// and for another client's turn).
    pub fn interrupts_on_drop(&self) -> bool {
        self.guard.armed
    }

    /// See [`TurnControl::steer`].
    pub async fn steer(&self, input: impl Into<Inputs>) -> Result<String> {
        self.guard.control.steer(input).await
    }

    /// See [`TurnControl::interrupt`].
    pub async fn interrupt(&self) -> Result<()> {
        self.guard.control.interrupt().await
    }

    /// Gives up on the turn and returns how it ended: interrupts it, waits (within the
    /// request timeout) for its `turn/completed`, and returns its [`TurnResult`] — status
    /// `Interrupted` and the items so far, or the real end if it finished first.
    pub async fn cancel(self) -> Result<TurnResult> {
        self.stream().cancel().await
    }

    /// [`run`](Self::run) with a whole-turn deadline: past `deadline` the turn is
    /// interrupted and the call fails with [`Error::TurnTimeout`] naming the turn and
    /// carrying its result after the interrupt (status `Interrupted`, the items so far).
    pub async fn run_timeout(self, deadline: Duration) -> Result<TurnResult> {
        self.stream().deadline(deadline).result().await
    }

    /// This turn's notifications, typed, in order; the last one is `turn/completed`.
    /// Nothing that arrived before the `turn/start` response is lost. After the stream
    /// ends, [`TurnEvents::result`] gives the same [`TurnResult`] as [`run`](Self::run).
    ///
    /// A notification whose params do not decode is yielded in place as
    /// [`Error::Decode`] (naming the method) and the stream carries on with the next one;
    /// so does [`Error::Lagged`]. After [`Error::TransportClosed`] it ends. Dropping the
    /// stream before `turn/completed` interrupts the turn (see [Cancellation](Self#cancellation)).
    pub fn stream(self) -> TurnEvents {
        let collector = TurnCollector::new(self.initial);
        TurnEvents {
            guard: self.guard,
            inner: self.stream,
            done: false,
            collector,
            lagged: self.partial,
            closed: None,
            deadline: None,
            idle: None,
        }
    }

    /// Waits for the turn to end and collects its [`TurnResult`]. A failed turn is
    /// [`Error::TurnFailed`]; an interrupted one is `Ok` with status `Interrupted`.
    ///
    /// A notification of the turn whose params do not decode (a server newer or buggier
    /// than this SDK) does not abandon the turn and loses nothing: `run` logs a warning,
    /// keeps it (method, raw params, error) in [`TurnResult::undecodable`], follows the
    /// turn to `turn/completed`, and then returns [`Error::UndecodableTurnEvents`] carrying
    /// the whole result (a failed turn is still [`Error::TurnFailed`], whose result lists
    /// them too). Other turns and requests are unaffected.
    ///
    /// If the handle was left unpolled long enough for its buffer to overflow
    /// ([`Error::Lagged`]), lived through a reconnect ([`Error::Gap`]), or follows a turn
    /// from its middle, the items are recovered from the server's record of the turn
    /// (`thread/read`) once it completes; the usage is then unknown (`None`) unless an
    /// update arrived after the last missed event (the record holds none).
    ///
    /// A connection that closes before the turn ends is [`Error::TransportClosed`].
    /// Dropping the future before the turn completes interrupts the turn (see
    /// [Cancellation](Self#cancellation)).
    pub async fn run(self) -> Result<TurnResult> {
        let span = tracing::debug_span!("turn", thread_id = %self.thread_id(), turn_id = %self.id());
        tracing::Instrument::instrument(self.stream().result(), span).await
    }
}

/// A whole-turn deadline of a [`TurnEvents`] stream.
#[derive(Debug)]
struct Deadline {
    after: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
    passed: bool,
}

/// An idle timeout between a [`TurnEvents`] stream's events.
#[derive(Debug)]
struct Idle {
    after: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

/// The typed event stream of one turn (see [`TurnHandle::stream`]): every notification in
/// order, with [`Error::Decode`] in place of one whose params do not decode (then the
/// stream carries on), ending after `turn/completed`; then [`result`](Self::result) gives
/// the turn's [`TurnResult`]. Dropping it before `turn/completed` interrupts a turn this
/// client started (see [`TurnHandle`]'s cancellation policy).
///
/// Timeouts, in the forms a caller writes: [`deadline`](Self::deadline) interrupts the turn
/// when the whole turn runs too long; [`idle_timeout`](Self::idle_timeout) reports a quiet
/// spell and leaves the turn running; [`cancel`](Self::cancel) gives up and returns the
/// outcome.
#[derive(Debug)]
pub struct TurnEvents {
    guard: InterruptOnDrop,
    inner: TurnStream,
    done: bool,
    collector: TurnCollector,
    lagged: bool,
    /// The close error the stream yielded, for [`result`](Self::result).
    closed: Option<Error>,
    deadline: Option<Deadline>,
    idle: Option<Idle>,
}

impl TurnEvents {
    /// A handle to steer or interrupt this turn.
    pub fn control(&self) -> TurnControl {
        self.guard.control.clone()
    }

    /// The turn id.
    pub fn turn_id(&self) -> &str {
        &self.guard.control.turn_id
    }

    /// Lets the turn run on when this stream is dropped (see [`TurnHandle::detach`]).
    pub fn detach(mut self) -> Self {
        self.guard.armed = false;
        self
    }

    /// A whole-turn deadline, counted from now: when it passes before `turn/completed`,
    /// the turn is interrupted, the stream yields [`Error::TurnTimeout`] once (without a
    /// result) and goes on to the turn's end; [`result`](Self::result) then fails with
    /// [`Error::TurnTimeout`] carrying the interrupted turn's result.
    pub fn deadline(mut self, after: Duration) -> Self {
        self.deadline = Some(Deadline { after, sleep: Box::pin(tokio::time::sleep(after)), passed: false });
        self
    }

    /// An idle timeout: whenever no event arrives for `after`, the stream yields
    /// [`Error::TurnIdle`] and goes on waiting; the turn is left running (call
    /// [`cancel`](Self::cancel) to give up on it). [`result`](Self::result) ignores it.
    pub fn idle_timeout(mut self, after: Duration) -> Self {
        self.idle = Some(Idle { after, sleep: Box::pin(tokio::time::sleep(after)) });
        self
    }

    /// The next event, without needing `futures::StreamExt` in scope (like
    /// [`TurnStream::next_event`]): `None` once `turn/completed` was yielded or the stream
    /// ended after a [`Error::TransportClosed`]. An [`Error::Decode`], [`Error::Lagged`],
    /// [`Error::TurnTimeout`] or [`Error::TurnIdle`] item is not the end: the events after
    /// it follow.
    pub async fn next_event(&mut self) -> Option<Result<ServerNotification>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Gives up on the turn and returns how it ended: interrupts it (an explicit
    /// interrupt, also for another client's turn), reads the rest of the stream (within
    /// the request timeout) and returns the [`TurnResult`] — status `Interrupted` and the
    /// items so far, or the turn's real end if it finished first. A failed turn is a result
    /// here too.
    pub async fn cancel(mut self) -> Result<TurnResult> {
        self.deadline = None;
        self.idle = None;
        if !self.done {
            // Queued at once and owed (a dropped `cancel` future, or a close right after it,
            // still delivers it); an interrupt of a turn that ended meanwhile is forgiven.
            self.guard.asked = true;
            self.guard.fire();
        }
        let timeout = self.guard.control.conn.request_timeout();
        let turn_id = self.turn_id().to_owned();
        match tokio::time::timeout(timeout, self.result()).await {
            Ok(Err(Error::TurnFailed(result))) => Ok(*result),
            Ok(outcome) => outcome,
            Err(_) => {
                tracing::warn!(%turn_id, ?timeout, "a cancelled turn did not end in time");
                Err(Error::Timeout { method: crate::method_names::TURN_INTERRUPT.into(), after: timeout })
            }
        }
    }

    /// The turn's [`TurnResult`], exactly as [`TurnHandle::run`] returns it: what the
    /// stream yielded so far plus the rest of the turn, which is read to its end first.
    /// A stream that ended because the connection closed returns [`Error::TransportClosed`]
    /// with its close reason, also when that error was already yielded.
    pub async fn result(mut self) -> Result<TurnResult> {
        while let Some(event) = self.next_event().await {
            if let Err(e @ (Error::TransportClosed { .. } | Error::StreamEnded { .. })) = event {
                return Err(e);
            }
        }
        if !self.collector.completed {
            if let Some(closed) = self.closed.take().or_else(|| self.guard.control.conn.close_error()) {
                return Err(closed);
            }
        }
        let timed_out = self.deadline.as_ref().filter(|d| d.passed).map(|d| d.after);
        let TurnEvents { guard, mut collector, lagged, .. } = self;
        let control = &guard.control;
        if lagged && collector.completed {
            let mut params = ThreadReadParams::new(control.thread_id.clone());
            params.include_turns = Some(true);
            // Best effort: a thread the server cannot list turns of yet (or an ephemeral
            // one) keeps the items that were delivered.
            match control.conn.request::<client_requests::ThreadRead>(params).await {
                Ok(read) => {
                    if let Some(turn) = read.thread.turns.into_iter().find(|t| t.id == control.turn_id) {
                        collector.items = turn.items;
                    }
                }
                Err(e) => tracing::debug!(error = %e, "cannot re-read the turn; keeping the delivered items"),
            }
        }
        match timed_out {
            Some(after) => Err(Error::TurnTimeout {
                thread_id: control.thread_id.clone(),
                turn_id: control.turn_id.clone(),
                after,
                result: collector.finish_any().ok().map(Box::new),
            }),
            None => collector.finish(),
        }
    }

    /// The deadline passed: interrupt the turn (once) and report it.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Option<Error> {
        let deadline = self.deadline.as_mut().filter(|d| !d.passed)?;
        deadline.sleep.as_mut().poll(cx).is_ready().then(|| {
            deadline.passed = true;
            let after = deadline.after;
            tracing::debug!(turn_id = %self.guard.control.turn_id, ?after, "the turn's deadline passed; interrupting it");
            // A deadline is the caller's explicit choice, also on another client's turn.
            self.guard.asked = true;
            self.guard.fire();
            Error::TurnTimeout {
                thread_id: self.guard.control.thread_id.clone(),
                turn_id: self.guard.control.turn_id.clone(),
                after,
                result: None,
            }
        })
    }

    /// No event for the idle timeout: report it and wait again.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Option<Error> {
        let idle = self.idle.as_mut()?;
        idle.sleep.as_mut().poll(cx).is_ready().then(|| {
            let after = idle.after;
            idle.sleep.as_mut().reset(tokio::time::Instant::now() + after);
            let _ = idle.sleep.as_mut().poll(cx);
            Error::TurnIdle {
                thread_id: self.guard.control.thread_id.clone(),
                turn_id: self.guard.control.turn_id.clone(),
                after,
            }
        })
    }
}

impl Stream for TurnEvents {
    type Item = Result<ServerNotification>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_next(cx);
        if let (Poll::Ready(_), Some(idle)) = (&polled, this.idle.as_mut()) {
            idle.sleep.as_mut().reset(tokio::time::Instant::now() + idle.after);
        }
        match polled {
            Poll::Ready(Some(Ok(event))) => {
                let decoded = crate::rpc::notifications::decode_event(&event);
                match &decoded {
                    Ok(notification) => {
                        this.collector.observe(notification);
                        if let ServerNotification::TurnCompleted(done) = notification {
                            log_turn_completed(&this.guard.control, &done.turn);
                            this.done = true;
                            this.guard.armed = false;
                        }
                    }
                    Err(e) => {
                        warn_undecodable(&this.guard.control, event.method(), e);
                        this.collector.undecodable.push(undecodable_event(&event, e));
                    }
                }
                Poll::Ready(Some(decoded))
            }
            Poll::Ready(Some(Err(e))) => {
                match &e {
                    missed if missed.is_missed_events() => {
                        tracing::debug!(
                            turn = this.guard.control.turn_id(),
                            error = %missed,
                            "events of the turn are missing; its items will be re-read"
                        );
                        this.lagged = true;
                        // A usage update may have been among them: unknown until the next.
                        this.collector.usage = None;
                    }
                    // Nothing left to interrupt on a closed connection.
                    Error::TransportClosed { .. } => {
                        this.guard.armed = false;
                        this.closed = Some(e.clone_closed());
                    }
                    _ => {}
                }
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            // The deadline and the idle timeout count only while nothing is ready: a turn
            // whose end is already queued is not reported late.
            Poll::Pending => match this.poll_deadline(cx).or_else(|| this.poll_idle(cx)) {
                Some(timeout) => Poll::Ready(Some(Err(timeout))),
                None => Poll::Pending,
            },
        }
    }
}

fn log_turn_completed(control: &TurnControl, turn: &Turn) {
    tracing::debug!(
        thread_id = %control.thread_id,
        turn_id = %turn.id,
        status = %turn.status,
        duration_ms = turn.duration_ms,
        "turn completed"
    );
}

fn warn_undecodable(control: &TurnControl, method: &str, error: &Error) {
    tracing::warn!(
        thread_id = %control.thread_id,
        turn_id = %control.turn_id,
        method,
        %error,
        "a notification of the turn does not decode; keeping it and carrying on"
    );
}

/// Keeps an undecodable notification whole.
fn undecodable_event(event: &crate::rpc::Event, error: &Error) -> UndecodableEvent {
    let error = match error {
        Error::Decode { source, .. } => source.to_string(),
        other => other.to_string(),
    };
    UndecodableEvent {
        method: event.method().to_owned(),
        params: event.params_value().unwrap_or(serde_json::Value::Null),
        error,
    }
}

/// Folds a turn's notifications into a [`TurnResult`].
#[derive(Debug)]
pub(crate) struct TurnCollector {
    turn: Turn,
    items: Vec<ThreadItem>,
    usage: Option<ThreadTokenUsage>,
    completed: bool,
    pub(crate) undecodable: Vec<UndecodableEvent>,
}

impl TurnCollector {
    pub(crate) fn new(initial: Turn) -> Self {
        Self { turn: initial, items: Vec::new(), usage: None, completed: false, undecodable: Vec::new() }
    }

    /// Keeps what the result needs from `event` (completed items, usage, the final turn);
    /// deltas and the rest are not copied.
    pub(crate) fn observe(&mut self, event: &ServerNotification) {
        match event {
            ServerNotification::ItemCompleted(done) => self.items.push(done.item.clone()),
            ServerNotification::ThreadTokenUsageUpdated(update) => self.usage = Some(update.token_usage.clone()),
            ServerNotification::TurnCompleted(done) => {
                self.turn = done.turn.clone();
                self.completed = true;
            }
            _ => {}
        }
    }

    /// Completes the turn from the server's record (`thread/read`), for a turn whose
    /// `turn/completed` was missed; the record's items replace the observed ones.
    pub(crate) fn complete_from_record(&mut self, turn: Turn) {
        if !turn.items.is_empty() || self.items.is_empty() {
            self.items = turn.items.clone();
        }
        self.turn = turn;
        self.completed = true;
    }

    /// Like [`finish`](Self::finish), but a failed turn is a result too.
    pub(crate) fn finish_any(self) -> Result<TurnResult> {
        match self.finish() {
            Err(Error::TurnFailed(result)) => Ok(*result),
            other => other,
        }
    }

    pub(crate) fn finish(self) -> Result<TurnResult> {
        if !self.completed {
            return Err(Error::StreamEnded { what: "the turn's event stream ended before `turn/completed`".into() });
        }
        let turn = self.turn;
        // The completed turn may carry its items; prefer the ones seen as they completed.
        let items = if self.items.is_empty() { turn.items.clone() } else { self.items };
        let result = TurnResult {
            id: turn.id,
            status: turn.status,
            error: turn.error,
            started_at: turn.started_at,
            completed_at: turn.completed_at,
            duration_ms: turn.duration_ms,
            items,
            usage: self.usage,
            undecodable: self.undecodable,
        };
        if result.status == TurnStatus::Failed {
            return Err(Error::TurnFailed(Box::new(result)));
        }
        if !result.undecodable.is_empty() {
            return Err(Error::UndecodableTurnEvents(Box::new(result)));
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn agent(text: &str, phase: Option<&str>) -> ThreadItem {
        let mut item = json!({"type": "agentMessage", "id": format!("m-{text}"), "text": text});
        if let Some(phase) = phase {
            item["phase"] = json!(phase);
        }
        serde_json::from_value(item).unwrap()
    }

    fn result(items: Vec<ThreadItem>) -> TurnResult {
        TurnResult {
            id: "t".into(),
            status: TurnStatus::Completed,
            error: None,
            started_at: None,
            completed_at: None,
            duration_ms: None,
            items,
            usage: None,
            undecodable: Vec::new(),
        }
    }

    fn user() -> ThreadItem {
        serde_json::from_value(json!({"type": "userMessage", "id": "u", "content": [{"type": "text", "text": "hi"}]}))
            .unwrap()
    }

    #[test]
    fn final_response_phase_rules() {
        // The last final_answer wins, even over later unphased messages.
        let r = result(vec![
            user(),
            agent("a", Some("final_answer")),
            agent("b", Some("final_answer")),
            agent("c", None),
            agent("d", Some("commentary")),
        ]);
        assert_eq!(r.final_response(), Some("b"));
        // Else the last unphased one, an empty text included.
        let r = result(vec![agent("x", None), agent("", None), agent("note", Some("commentary"))]);
        assert_eq!(r.final_response(), Some(""));
        // Commentary, partial answers and unknown phases are never promoted.
        let r = result(vec![
            agent("c", Some("commentary")),
            agent("p", Some("partial_answer")),
            agent("n", Some("some_future_phase")),
        ]);
        assert_eq!(r.final_response(), None);
        assert_eq!(result(vec![user()]).final_response(), None);
        assert_eq!(result(Vec::new()).final_response(), None);
    }

    #[test]
    fn collector_keeps_items_usage_and_maps_failure() {
        let turn = |status: &str| -> Turn {
            serde_json::from_value(json!({"id": "t1", "items": [], "status": status})).unwrap()
        };
        let mut c = TurnCollector::new(turn("inProgress"));
        assert!(matches!(TurnCollector::new(turn("inProgress")).finish(), Err(Error::StreamEnded { .. })));
        c.observe(
            &ServerNotification::decode(
                "item/completed",
                json!({"completedAtMs": 1, "item": agent("done", None), "threadId": "th", "turnId": "t1"}),
            )
            .unwrap(),
        );
        let breakdown = json!({"cachedInputTokens": 0, "inputTokens": 3, "outputTokens": 4,
            "reasoningOutputTokens": 0, "totalTokens": 7});
        c.observe(
            &ServerNotification::decode(
                "thread/tokenUsage/updated",
                json!({"threadId": "th", "turnId": "t1", "tokenUsage": {"last": breakdown, "total": breakdown}}),
            )
            .unwrap(),
        );
        c.observe(
            &ServerNotification::decode(
                "turn/completed",
                json!({"threadId": "th", "turn": {"id": "t1", "items": [], "status": "failed",
                "error": {"message": "boom"}}}),
            )
            .unwrap(),
        );
        match c.finish() {
            Err(Error::TurnFailed(r)) => {
                assert_eq!(r.error.as_ref().map(|e| e.message.as_str()), Some("boom"));
                assert_eq!(r.final_response(), Some("done"));
                assert_eq!(r.usage.as_ref().map(|u| u.last.total_tokens), Some(7));
            }
            other => panic!("{other:?}"),
        }
    }
}
