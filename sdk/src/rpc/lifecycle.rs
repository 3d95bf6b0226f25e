//! The turn lifecycle's side of [`Connection`]: per-thread handlers, the turn book's answers
//! (what runs, whose it is, who opened it), subscribing a thread before a turn, the
//! interests that keep threads subscribed, dropped turns' interrupts and what `close` owes.
//! The decisions are the turn book's ([`super::turns`]); this module only reaches it.

use std::sync::Arc;
use std::time::Duration;

use super::connection::Connection;
use super::message::to_raw;
use super::server_requests::RawServerRequestHandler;
use super::state::Shared;
use crate::error::{Error, Result};
use crate::protocol::Request;
use crate::types::TurnInterruptParams;

impl Connection {
    /// Answers the server requests (approvals, …) of `thread_id` with `handler` instead of
    /// the connection's handler, until [`clear_thread_handler`](Self::clear_thread_handler)
    /// (or the connection closes). Requests without a `threadId` go to the connection's.
    ///
    /// While set, the handler keeps the thread subscribed (its requests keep coming here).
    pub fn set_thread_handler(&self, thread_id: &str, handler: Arc<dyn RawServerRequestHandler>) {
        let interest = self.thread_interest(thread_id);
        self.shared().thread_handlers.lock().unwrap_or_else(|e| e.into_inner()).insert(thread_id.to_owned(), handler);
        let previous = self
            .shared()
            .handler_interests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(thread_id.to_owned(), interest);
        drop(previous);
    }

    /// Answers the `item/tool/call` requests of `thread_id` — every turn's, whoever started
    /// it — with `tools` (a thread's dynamic tools live with the client that serves them),
    /// before any handler; keeps the thread subscribed meanwhile. Replaces what served them.
    pub fn serve_tools(&self, thread_id: &str, tools: Arc<dyn RawServerRequestHandler>) {
        let interest = self.thread_interest(thread_id);
        let previous = self
            .shared()
            .thread_tools
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(thread_id.to_owned(), (tools, interest));
        drop(previous);
    }

    /// Stops answering the tool calls of `thread_id` ([`serve_tools`](Self::serve_tools));
    /// they go to the handlers again.
    pub fn stop_serving_tools(&self, thread_id: &str) -> bool {
        let removed = self.shared().thread_tools.lock().unwrap_or_else(|e| e.into_inner()).remove(thread_id);
        removed.is_some()
    }

    /// Removes the handler of `thread_id`; its requests go to the connection's handler again.
    pub fn clear_thread_handler(&self, thread_id: &str) -> bool {
        let removed =
            self.shared().thread_handlers.lock().unwrap_or_else(|e| e.into_inner()).remove(thread_id).is_some();
        let interest = self.shared().handler_interests.lock().unwrap_or_else(|e| e.into_inner()).remove(thread_id);
        drop(interest);
        removed
    }

    /// Sets the handler of `thread_id`, returning the one it replaces.
    pub(crate) fn replace_thread_handler(
        &self,
        thread_id: &str,
        handler: Arc<dyn RawServerRequestHandler>,
    ) -> Option<Arc<dyn RawServerRequestHandler>> {
        self.shared().thread_handlers.lock().unwrap_or_else(|e| e.into_inner()).insert(thread_id.to_owned(), handler)
    }

    /// Puts `previous` back as the handler of `thread_id` if `ours` is still the one set.
    pub(crate) fn restore_thread_handler(
        &self,
        thread_id: &str,
        ours: &Arc<dyn RawServerRequestHandler>,
        previous: Option<Arc<dyn RawServerRequestHandler>>,
    ) {
        let mut handlers = self.shared().thread_handlers.lock().unwrap_or_else(|e| e.into_inner());
        if handlers.get(thread_id).is_some_and(|current| Arc::ptr_eq(current, ours)) {
            match previous {
                Some(previous) => handlers.insert(thread_id.to_owned(), previous),
                None => handlers.remove(thread_id),
            };
        }
    }

    /// The turn running on `thread_id` as far as this connection knows — this client's, or
    /// another client's on a shared server (from its `turn/started`, or from a `thread/*`
    /// answer that reported the thread `active` with that turn in progress).
    pub fn running_turn(&self, thread_id: &str) -> Option<String> {
        self.shared().lock().turns.busy(thread_id).and_then(|(running, _)| running.turn_id)
    }

    /// The running turn of `thread_id` (its id may be unknown) and whether it is this client's.
    pub(crate) fn busy(&self, thread_id: &str) -> Option<(super::turns::RunningTurn, bool)> {
        self.shared().lock().turns.busy(thread_id)
    }

    /// The verdict on the last `turn/start` answer on `thread_id`, if it named `turn_id`.
    pub(crate) fn start_verdict(&self, thread_id: &str, turn_id: &str) -> Option<super::turns::StartVerdict> {
        self.shared().lock().turns.start_verdict(thread_id, turn_id)
    }

    /// The `clientId` of the user message that opened `turn_id`, waiting up to `timeout`
    /// for it: `Some(None)` for a message without one, `None` when it did not arrive.
    pub(crate) async fn turn_opener(&self, turn_id: &str, timeout: Duration) -> Option<Option<String>> {
        wait_for_turns(self.shared(), timeout, |state| {
            if state.closed.is_some() {
                return Some(None);
            }
            state.turns.opener(turn_id).map(|opener| Some(opener.map(str::to_owned)))
        })
        .await
        .flatten()
    }

    /// `turn_id` turned out to be another client's turn that took this client's input.
    pub(crate) fn disown_turn(&self, thread_id: &str, turn_id: &str) {
        self.shared().lock().turns.disown(thread_id, turn_id);
    }

    /// Whether this connection receives `thread_id`'s events (it started, resumed or forked it).
    pub fn is_subscribed(&self, thread_id: &str) -> bool {
        self.shared().lock().turns.is_subscribed(thread_id)
    }

    /// Subscribes this connection to `thread_id`'s events unless it is already: a
    /// `thread/resume` naming the thread alone (no overrides, so the thread's settings stay;
    /// no turns in the answer). The answer also tells whether a turn runs on it.
    pub(crate) async fn ensure_subscribed(&self, thread_id: &str) -> Result<()> {
        if self.is_subscribed(thread_id) {
            return Ok(());
        }
        tracing::debug!(thread_id, "subscribing to the thread before starting a turn on it");
        let mut params = crate::types::ThreadResumeParams::new(thread_id.to_owned());
        params.exclude_turns = Some(true);
        // Only the side effect matters here (and the thread's status, which the turn book
        // reads from the answer): the answer is not decoded.
        let method = <crate::methods::client_requests::ThreadResume as Request>::METHOD;
        self.call(method, &to_raw(method, &params)?, self.request_timeout()).await?;
        self.shared().lock().turns.mark_subscribed(thread_id);
        Ok(())
    }

    /// Keeps `thread_id` subscribed while the returned interest lives (see [`super::subscriptions`]).
    pub(crate) fn thread_interest(&self, thread_id: &str) -> Arc<super::subscriptions::ThreadInterest> {
        Arc::new(super::subscriptions::ThreadInterest::new(self.shared(), thread_id))
    }

    /// Counts the turns the server starts on `thread_id` (a goal's continuation turns) as
    /// this client's while the returned guard lives.
    pub(crate) fn adopt_turns(&self, thread_id: &str) -> AdoptedTurns {
        self.shared().lock().turns.adopt(thread_id);
        AdoptedTurns { shared: Arc::downgrade(self.shared()), thread_id: thread_id.to_owned() }
    }

    /// The count of notifications received so far: a mark to tell what arrived after it.
    pub(crate) fn notification_mark(&self) -> u64 {
        self.shared().lock().router.counters.notifications
    }

    /// Waits (within the request timeout) for the turn that starts on `thread_id` after
    /// notification `mark` — the turn a request whose answer names none started, like
    /// `thread/compact/start` — and counts it as this client's.
    pub(crate) async fn claim_started_turn(&self, thread_id: &str, mark: u64, method: &str) -> Result<String> {
        let shared = self.shared();
        let timeout = self.request_timeout();
        let found = wait_for_turns(shared, timeout, |state| {
            if let Some(info) = &state.closed {
                return Some(Err(info.to_error()));
            }
            state.turns.started_since(thread_id, mark).map(Ok)
        })
        .await;
        let turn_id = found.unwrap_or(Err(crate::Error::Timeout { method: method.to_owned(), after: timeout }))?;
        shared.lock().turns.own(thread_id, &turn_id);
        Ok(turn_id)
    }

    /// Queues `R` (waiting for room in the writer's queue, so a request sent after this
    /// returns is written after it) and returns the future of its answer, which no request
    /// timeout bounds (for requests answered when their work ends, like `command/exec`). A
    /// closed connection is its close error.
    pub(crate) async fn send_in_order<R: crate::protocol::Request>(
        &self,
        params: &R::Params,
    ) -> Result<impl std::future::Future<Output = Result<R::Response>> + Send + 'static> {
        let raw = super::message::to_raw(R::METHOD, params)?;
        let Some(reply) = self.shared().send_request_in_order(R::METHOD, &raw).await else {
            return Err(self
                .close_error()
                .unwrap_or(crate::Error::StreamEnded { what: "the connection closed".into() }));
        };
        Ok(async move {
            let raw = reply
                .await
                .map_err(|_| crate::Error::StreamEnded { what: format!("the answer to `{}`", R::METHOD) })??;
            serde_json::from_str(raw.get())
                .map_err(|source| crate::Error::Decode { method: R::METHOD.to_owned(), source })
        })
    }

    /// Sends `R` without waiting for (or reading) its answer: from a `Drop`, which cannot
    /// wait. Nothing is sent on a closed connection.
    pub(crate) fn send_detached<R: crate::protocol::Request>(&self, params: &R::Params) {
        if let Ok(raw) = super::message::to_raw(R::METHOD, params) {
            drop(self.shared().send_request_detached(R::METHOD, &raw));
        }
    }

    /// The `turn/interrupt` params for `turn_id` (see `TurnBook::interrupt_id`).
    pub(crate) fn interrupt_params(&self, thread_id: &str, turn_id: &str) -> TurnInterruptParams {
        let turn_id = self.shared().lock().turns.interrupt_id(thread_id, turn_id);
        TurnInterruptParams::new(thread_id.to_owned(), turn_id)
    }

    /// Interrupts a turn whose handle was dropped (or whose deadline passed): queues
    /// `turn/interrupt` from here, without blocking or needing a runtime. Only a turn this
    /// client started (or a goal turn it follows) is interrupted — never another client's,
    /// unless the caller `asked` for it on purpose — and the connection then owes it: a new
    /// turn on the thread waits for its end ([`wait_dropped_turn`](Self::wait_dropped_turn)),
    /// and so does [`close`](Self::close).
    pub(crate) fn interrupt_dropped(&self, thread_id: &str, turn_id: &str, asked: bool) {
        let shared = self.shared();
        let params = {
            let mut state = shared.lock();
            if state.closed.is_some() || !state.turns.owe_interrupt(thread_id, turn_id, asked) {
                return;
            }
            TurnInterruptParams::new(thread_id.to_owned(), state.turns.interrupt_id(thread_id, turn_id))
        };
        tracing::debug!(thread_id, turn_id, "a turn handle was dropped before the turn completed; interrupting it");
        let params = serde_json::value::to_raw_value(&params).expect("strings serialize");
        let reply = shared.send_request_detached(INTERRUPT, &params);
        // An error reply (the turn had already ended, …) means no turn/completed will come
        // for it: forgive the debt, so nothing waits for it.
        let forgive = {
            let (shared, thread_id, turn_id) = (Arc::downgrade(shared), thread_id.to_owned(), turn_id.to_owned());
            move || {
                if let Some(shared) = shared.upgrade() {
                    let let_go = shared.lock().turns.forgive_interrupt(&thread_id, &turn_id);
                    shared.turns_changed.notify_waiters();
                    if let Some(thread_id) = let_go {
                        super::subscriptions::unsubscribe(&shared, thread_id);
                    }
                }
            }
        };
        match reply {
            None => forgive(),
            Some(reply) => {
                let weak = Arc::downgrade(shared);
                shared.runtime.spawn(async move {
                    let mut reply = reply;
                    loop {
                        match reply.await {
                            // The link dropped under it: whether it arrived is unknown, and
                            // an interrupt is harmless twice — send it again on the new link.
                            Ok(Err(Error::OutcomeUnknown { .. })) => {
                                let again = weak.upgrade().and_then(|s| s.send_request_detached(INTERRUPT, &params));
                                match again {
                                    Some(again) => reply = again,
                                    None => return,
                                }
                            }
                            Ok(Err(_)) => return forgive(),
                            _ => return,
                        }
                    }
                });
            }
        }
    }

    /// Waits (within this handle's request timeout) until a turn of `thread_id` that this
    /// client interrupted by dropping its handle has completed.
    pub(crate) async fn wait_dropped_turn(&self, thread_id: &str) -> Result<()> {
        let shared = self.shared();
        let timeout = self.request_timeout();
        let waited = wait_for_turns(shared, timeout, |state| {
            if let Some(info) = &state.closed {
                return Some(Err(info.to_error()));
            }
            state.turns.owed_on(thread_id).is_none().then_some(Ok(()))
        })
        .await;
        match waited {
            Some(outcome) => outcome,
            None => {
                // Do not make every later turn wait for it again.
                let let_go = {
                    let mut state = shared.lock();
                    let owed = state.turns.owed_on(thread_id).map(str::to_owned);
                    owed.and_then(|turn_id| state.turns.forgive_interrupt(thread_id, &turn_id))
                };
                if let Some(thread_id) = let_go {
                    super::subscriptions::unsubscribe(shared, thread_id);
                }
                Err(Error::Timeout { method: INTERRUPT.into(), after: timeout })
            }
        }
    }

    /// Delivers what dropping turn handles promised before a close: waits, at most
    /// [`CLOSE_INTERRUPT_WAIT`] in all, until every turn owed an interrupt has ended;
    /// reports the ones left running.
    pub(super) async fn deliver_owed_interrupts(&self) -> CloseReport {
        let shared = self.shared();
        let owed = wait_for_turns(shared, CLOSE_INTERRUPT_WAIT, |state| {
            (state.closed.is_some() || state.turns.owed().is_empty()).then_some(())
        })
        .await;
        let left_running: Vec<TurnRef> = match owed {
            Some(()) => Vec::new(),
            None => shared
                .lock()
                .turns
                .owed()
                .into_iter()
                .map(|(thread_id, turn_id)| TurnRef { thread_id, turn_id })
                .collect(),
        };
        if !left_running.is_empty() {
            tracing::warn!(turns = ?left_running, "closing with interrupted turns the server had not ended yet");
        }
        CloseReport { left_running }
    }
}

/// What [`Connection::close`] could not deliver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloseReport {
    /// Turns this client owed an interrupt (their handles were dropped) that the server had
    /// not ended within [`CLOSE_INTERRUPT_WAIT`]: they may run on after the close.
    pub left_running: Vec<TurnRef>,
}

impl CloseReport {
    /// Whether every promised interrupt was delivered.
    pub fn is_clean(&self) -> bool {
        self.left_running.is_empty()
    }
}

/// A turn, by its thread and its id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TurnRef {
    /// The thread id.
    pub thread_id: String,
    /// The turn id.
    pub turn_id: String,
}

/// How long [`Connection::close`] waits, in all, for the turns it owes an interrupt to end.
pub const CLOSE_INTERRUPT_WAIT: Duration = Duration::from_secs(2);

/// The method of an interrupt.
const INTERRUPT: &str = crate::method_names::TURN_INTERRUPT;

/// Waits until `done` says so, re-checked under the state lock whenever the turn book may
/// have changed; `None` after `timeout`.
pub(crate) async fn wait_for_turns<T>(
    shared: &Shared,
    timeout: Duration,
    mut done: impl FnMut(&super::state::State) -> Option<T>,
) -> Option<T> {
    let wait = async {
        loop {
            let changed = shared.turns_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(value) = done(&shared.lock()) {
                return value;
            }
            changed.await;
        }
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(value) => Some(value),
        // A change that woke nobody (or came as the time ran out) is not missed.
        Err(_) => done(&shared.lock()),
    }
}

/// Counts a goal's continuation turns on a thread as this client's while it lives.
#[derive(Debug)]
pub(crate) struct AdoptedTurns {
    shared: std::sync::Weak<Shared>,
    thread_id: String,
}

impl Drop for AdoptedTurns {
    fn drop(&mut self) {
        let Some(shared) = self.shared.upgrade() else { return };
        let let_go = shared.lock().turns.unadopt(&self.thread_id);
        if let Some(thread_id) = let_go {
            super::subscriptions::unsubscribe(&shared, thread_id);
        }
    }
}
