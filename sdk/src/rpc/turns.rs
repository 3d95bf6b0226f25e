//! The owner of turn state: per thread, what this connection knows of its turns and who
//! started them, and the rules that follow from it. Pure data behind the connection's one
//! lock; every other module asks it instead of keeping turn state of its own.
//!
//! What it learns from:
//! - `turn/started`, `turn/completed`, `thread/status/changed` and `thread/closed`
//!   notifications ([`TurnBook::observe`]);
//! - the answers to `thread/start`, `thread/resume`, `thread/fork`, `thread/read`,
//!   `thread/unsubscribe`, `turn/start` and `review/start`, whoever sent them (the typed API
//!   or a raw [`ClientRequests`](crate::methods::ClientRequests) stub;
//!   [`TurnBook::observe_answer`]).
//!
//! The rules it enforces (see `sdk/ARCHITECTURE.md`):
//! - **Only the owner interrupts by itself.** A turn is this client's when its `turn/start`
//!   (or `review/start`) answer came to this connection and named a turn that was not
//!   already running; dropping a handle queues `turn/interrupt` only for such a turn
//!   ([`TurnBook::owe_interrupt`]).
//! - **A busy thread is known from every source** ([`TurnBook::busy`]): this client's turns,
//!   other clients' `turn/started`, and the `active` status of a thread in an answer.
//! - **A turn starts only on a subscribed thread** ([`TurnBook::is_subscribed`]): the
//!   connection subscribes first, so its events cannot go elsewhere.
//! - **Server requests are answered by the turn's owner** ([`TurnBook::request_owner`]).
//! - **Close keeps the interrupts it owes** ([`TurnBook::owed`]): they are waited for.
//! - **A thread nobody needs is let go** ([`TurnBook::release`]): unsubscribed once no
//!   handle, stream or handler needs it and no turn runs on it.

use std::collections::{HashMap, VecDeque};

use serde::Deserialize;

use super::message::Event;
// The methods the book reads and learns from, named through the generated markers.
use crate::method_names::{
    ITEM_COMPLETED, ITEM_STARTED, REVIEW_START, THREAD_CLOSED, THREAD_FORK, THREAD_READ, THREAD_RESUME, THREAD_START,
    THREAD_STATUS_CHANGED, THREAD_UNSUBSCRIBE, TURN_COMPLETED, TURN_START, TURN_STARTED,
};

/// The notifications after which someone may be waiting on the book (a turn's end, its
/// opener, a thread's close): the reader wakes the waiters after routing them.
pub(crate) const WAKING_METHODS: [&str; 5] =
    [TURN_STARTED, TURN_COMPLETED, ITEM_STARTED, ITEM_COMPLETED, THREAD_CLOSED];

/// How many recent `turn/started` per thread are remembered (for a request whose answer
/// names no turn: see [`TurnBook::started_since`]).
const RECENT_STARTS: usize = 4;

/// How many completed turn ids are remembered (to tell a late answer of a finished turn).
const RECENTLY_COMPLETED: usize = 256;

/// The turn a thread runs, as far as this connection knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunningTurn {
    /// Its id; `None` when the server reported the thread `active` without naming the turn.
    pub(crate) turn_id: Option<String>,
    /// The notification count when this connection learnt of it.
    pub(crate) seen_at: u64,
}

/// Who answers a server request of a thread's turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestOwner {
    /// This client: its turn (or a goal it follows on the thread).
    Us,
    /// Another client (or nobody known): this client leaves it alone.
    NotUs,
    /// A `turn/start` of this client on the thread is still unanswered: ask again once it is.
    Undecided,
}

/// What a `turn/start` answer means for the turn it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartVerdict {
    /// A new turn, this client's: its `turn/started` had not arrived when the answer did.
    New,
    /// The server folded the input into a turn already running (known before the request
    /// was sent, or already this client's).
    Merged,
    /// The turn's `turn/started` arrived between the request and its answer: this client's
    /// new turn, or another client's that started at the same instant and took the input.
    /// Counted as this client's until the server's record says otherwise
    /// ([`TurnBook::disown`]).
    Raced,
}

/// What one thread's book says.
#[derive(Debug, Default)]
struct ThreadBook {
    /// This connection receives the thread's events (it started, resumed or forked it).
    subscribed: bool,
    running: Option<RunningTurn>,
    /// Turns this client started that have not completed.
    ours: Vec<String>,
    /// `turn/start` and `review/start` requests of this client in flight on the thread.
    starting: usize,
    /// `thread/resume` requests of this client in flight on the thread (the thread is not
    /// let go meanwhile: an unsubscribe sent after them would undo them).
    resuming: usize,
    /// The turn this client owes an interrupt (its handle was dropped), until it ends.
    owed: Option<String>,
    /// Handles, streams and handlers that need the thread's events.
    interest: usize,
    /// Goals this client follows on the thread: the turns the server starts for them are
    /// this client's.
    adopted: usize,
    /// The verdict on the last `turn/start` answer.
    last_start: Option<(String, StartVerdict)>,
    /// A review of this client running on the thread (the turn its `review/start` answer
    /// named), and the other id its `turn/started` carried, if any (see
    /// [`TurnBook::interrupt_id`]).
    review: Option<(String, Option<String>)>,
    /// The last turns whose `turn/started` arrived (bounded), and when (they may have ended
    /// since), oldest first.
    started: VecDeque<(String, u64)>,
}

impl ThreadBook {
    fn is_idle(&self) -> bool {
        self.running.is_none()
            && self.ours.is_empty()
            && self.owed.is_none()
            && self.starting == 0
            && self.resuming == 0
    }

    /// Nothing worth remembering (the last start's verdict is read right after it is made,
    /// by a caller whose handle keeps the thread's book).
    fn is_empty(&self) -> bool {
        !self.subscribed && self.is_idle() && self.interest == 0 && self.adopted == 0
    }
}

/// A thread as an answer carries it: its id, its status and any turn in progress.
#[derive(Deserialize)]
struct ThreadView<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(default)]
    status: Option<StatusView<'a>>,
    #[serde(default)]
    turns: Vec<TurnView<'a>>,
}

#[derive(Deserialize)]
struct StatusView<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
}

#[derive(Deserialize)]
struct TurnView<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    status: std::borrow::Cow<'a, str>,
}

/// The turn state of every thread this connection knows.
#[derive(Debug, Default)]
pub(crate) struct TurnBook {
    threads: HashMap<String, ThreadBook>,
    /// The ids of the last turns that completed (bounded).
    completed: VecDeque<String>,
    /// Per turn (the last ones, bounded), the `clientId` of the user message that opened it;
    /// `None` when its first item was no user message or had no `clientId`, or the turn
    /// ended first (nothing to tell).
    openers: HashMap<String, Option<String>>,
    /// The turns of `openers`, oldest first (to bound it).
    opener_order: VecDeque<String>,
    /// The `clientUserMessageId`s this client sent (the last ones, bounded).
    our_tags: VecDeque<String>,
}

impl TurnBook {
    /// The requests whose answers [`observe_answer`](Self::observe_answer) learns from.
    pub(crate) const OBSERVED_ANSWERS: [&'static str; 7] =
        [THREAD_START, THREAD_RESUME, THREAD_FORK, THREAD_READ, THREAD_UNSUBSCRIBE, TURN_START, REVIEW_START];

    fn thread(&mut self, thread_id: &str) -> &mut ThreadBook {
        if !self.threads.contains_key(thread_id) {
            self.threads.insert(thread_id.to_owned(), ThreadBook::default());
        }
        self.threads.get_mut(thread_id).expect("just inserted")
    }

    fn forget_if_empty(&mut self, thread_id: &str) {
        if self.threads.get(thread_id).is_some_and(ThreadBook::is_empty) {
            self.threads.remove(thread_id);
        }
    }

    pub(crate) fn recently_completed(&self, turn_id: &str) -> bool {
        self.completed.iter().any(|t| t == turn_id)
    }

    /// Learns from one notification (`seen_at`: the notification count). Returns the thread
    /// to let go if this notification ended the last thing that kept it
    /// ([`release`](Self::release)).
    pub(crate) fn observe(&mut self, event: &Event, seen_at: u64) -> Option<String> {
        let thread_id = event.thread_id()?;
        match (event.method(), event.turn_id()) {
            (TURN_STARTED, Some(turn_id)) => {
                let book = self.thread(thread_id);
                // A review's `turn/started` may name another id than its answer (the
                // pinned Codex does): the same turn, still this client's.
                if let Some((review, alias)) = &mut book.review {
                    if review != turn_id && book.ours.contains(review) {
                        *alias = Some(turn_id.to_owned());
                        return None;
                    }
                }
                book.running = Some(RunningTurn { turn_id: Some(turn_id.to_owned()), seen_at });
                if book.started.len() == RECENT_STARTS {
                    book.started.pop_front();
                }
                book.started.push_back((turn_id.to_owned(), seen_at));
                None
            }
            (TURN_COMPLETED, Some(turn_id)) => {
                self.note_opener(turn_id, || None);
                if self.completed.len() == RECENTLY_COMPLETED {
                    self.completed.pop_front();
                }
                self.completed.push_back(turn_id.to_owned());
                let book = self.thread(thread_id);
                if book.running.as_ref().is_some_and(|r| r.turn_id.as_deref().is_none_or(|t| t == turn_id)) {
                    book.running = None;
                }
                book.ours.retain(|t| t != turn_id);
                if book.owed.as_deref() == Some(turn_id) {
                    book.owed = None;
                }
                if let Some((review, alias)) = book.review.take() {
                    if review == turn_id || alias.as_deref() == Some(turn_id) {
                        // Either id ends the review (the pinned Codex completes it under the
                        // answer's id).
                        book.running = None;
                        book.ours.retain(|t| *t != review);
                        if book.owed.as_deref() == Some(review.as_str()) {
                            book.owed = None;
                        }
                    } else {
                        book.review = Some((review, alias));
                    }
                }
                self.let_go(thread_id)
            }
            (THREAD_CLOSED, _) => {
                if let Some(book) = self.threads.get_mut(thread_id) {
                    book.running = None;
                    book.owed = None;
                    book.ours.clear();
                    book.subscribed = false;
                }
                self.forget_if_empty(thread_id);
                None
            }
            (ITEM_STARTED | ITEM_COMPLETED, Some(turn_id)) => {
                self.note_opener(turn_id, || user_message_client_id(event).flatten());
                None
            }
            (THREAD_STATUS_CHANGED, _) => {
                let status = status_of(event)?;
                self.observe_status(thread_id, &status, seen_at);
                None
            }
            _ => None,
        }
    }

    /// Learns a thread's status (from a notification or an answer). An idle thread runs no
    /// other client's turn; this client's own turns end only with their `turn/completed`.
    fn observe_status(&mut self, thread_id: &str, status: &str, seen_at: u64) {
        self.set_status(thread_id, status, seen_at);
        self.forget_if_empty(thread_id);
    }

    fn set_status(&mut self, thread_id: &str, status: &str, seen_at: u64) {
        let book = self.thread(thread_id);
        match status {
            "active" => {
                if book.running.is_none() {
                    book.running = Some(RunningTurn { turn_id: None, seen_at });
                }
            }
            _ => {
                let ours =
                    book.running.as_ref().and_then(|r| r.turn_id.as_ref()).is_some_and(|t| book.ours.contains(t));
                if !ours {
                    book.running = None;
                }
            }
        }
    }

    /// Learns from the answer to `method` (raw `result`), sent with `params`; `mark` is
    /// the notification count when the request was sent.
    pub(crate) fn observe_answer(&mut self, method: &str, params: &str, result: &str, mark: u64, seen_at: u64) {
        match method {
            THREAD_START | THREAD_RESUME | THREAD_FORK | THREAD_READ => {
                #[derive(Deserialize)]
                struct Answer<'a> {
                    #[serde(borrow)]
                    thread: ThreadView<'a>,
                }
                let Ok(answer) = serde_json::from_str::<Answer>(result) else { return };
                let thread = answer.thread;
                if method != THREAD_READ {
                    self.thread(&thread.id).subscribed = true;
                }
                let Some(status) = thread.status else { return };
                self.observe_status(&thread.id, &status.kind, seen_at);
                if status.kind == "active" {
                    // The turn in progress, when the answer lists turns (`thread/resume`
                    // without `excludeTurns`, `thread/read` with `includeTurns`).
                    if let Some(turn) = thread.turns.iter().rev().find(|t| t.status == "inProgress") {
                        if !self.recently_completed(&turn.id) {
                            let book = self.thread(&thread.id);
                            let known = book.running.as_ref().and_then(|r| r.turn_id.as_deref()) == Some(&*turn.id);
                            if !known {
                                book.running = Some(RunningTurn { turn_id: Some(turn.id.to_string()), seen_at });
                            }
                        }
                    }
                }
            }
            THREAD_UNSUBSCRIBE => {
                if let Some(thread_id) = thread_id_param(params) {
                    if let Some(book) = self.threads.get_mut(&thread_id) {
                        book.subscribed = false;
                    }
                    self.forget_if_empty(&thread_id);
                }
            }
            TURN_START | REVIEW_START => {
                #[derive(Deserialize)]
                struct Started<'a> {
                    #[serde(borrow)]
                    turn: TurnView<'a>,
                    #[serde(default, rename = "reviewThreadId", borrow)]
                    review_thread_id: Option<std::borrow::Cow<'a, str>>,
                }
                let Some(thread_id) = thread_id_param(params) else { return };
                let Ok(started) = serde_json::from_str::<Started>(result) else { return };
                let thread_id = started.review_thread_id.map(|t| t.into_owned()).unwrap_or(thread_id);
                // A review's `turn/started` that came first, under another id (see `observe`).
                let announced = self
                    .threads
                    .get(&thread_id)
                    .and_then(|b| b.running.as_ref())
                    .filter(|r| r.seen_at > mark && r.turn_id.as_deref() != Some(&*started.turn.id))
                    .and_then(|r| r.turn_id.clone());
                let announced = if method == REVIEW_START { announced } else { None };
                if announced.is_some() {
                    self.thread(&thread_id).running = None;
                }
                self.record_start(&thread_id, &started.turn.id, mark, seen_at);
                let book = self.thread(&thread_id);
                if method == REVIEW_START && book.ours.iter().any(|t| *t == *started.turn.id) {
                    book.review = Some((started.turn.id.to_string(), announced));
                }
            }
            _ => {}
        }
    }

    /// The verdict on a turn id a `turn/start` answer named (see [`StartVerdict`]); a turn
    /// not merged counts as this client's.
    fn record_start(&mut self, thread_id: &str, turn_id: &str, mark: u64, seen_at: u64) {
        let completed = self.recently_completed(turn_id);
        let book = self.thread(thread_id);
        let seen = book.running.as_ref().filter(|r| r.turn_id.as_deref() == Some(turn_id)).map(|r| r.seen_at);
        let verdict = match seen {
            _ if book.ours.iter().any(|t| t == turn_id) => StartVerdict::Merged,
            Some(seen) if seen <= mark => StartVerdict::Merged,
            Some(_) => StartVerdict::Raced,
            None => StartVerdict::New,
        };
        book.last_start = Some((turn_id.to_owned(), verdict));
        if verdict == StartVerdict::Merged {
            return;
        }
        if !completed {
            book.ours.push(turn_id.to_owned());
            if seen.is_none() {
                book.running = Some(RunningTurn { turn_id: Some(turn_id.to_owned()), seen_at });
            }
        }
    }

    /// The verdict on the last `turn/start` answer on `thread_id`, if it named `turn_id`
    /// (see [`record_start`](Self::record_start)).
    pub(crate) fn start_verdict(&self, thread_id: &str, turn_id: &str) -> Option<StartVerdict> {
        let (turn, verdict) = self.threads.get(thread_id)?.last_start.as_ref()?;
        (turn == turn_id).then_some(*verdict)
    }

    /// Records who opened `turn_id` unless known: the first of its items tells (a user
    /// message's `clientId`), or its end (nothing).
    fn note_opener(&mut self, turn_id: &str, opener: impl FnOnce() -> Option<String>) {
        if self.openers.contains_key(turn_id) {
            return;
        }
        if self.opener_order.len() == RECENTLY_COMPLETED {
            if let Some(oldest) = self.opener_order.pop_front() {
                self.openers.remove(&oldest);
            }
        }
        self.opener_order.push_back(turn_id.to_owned());
        self.openers.insert(turn_id.to_owned(), opener());
    }

    /// The `clientId` of the user message that opened `turn_id`, once its first item (or
    /// its end) arrived: `Some(None)` when that tells nothing (another first item, a message
    /// without `clientId` from a server that does not echo `clientUserMessageId`).
    pub(crate) fn opener(&self, turn_id: &str) -> Option<Option<&str>> {
        self.openers.get(turn_id).map(Option::as_deref)
    }

    /// A turn counted as this client's is not (the server's record shows another client's
    /// input started it): it is another client's running turn from now on.
    pub(crate) fn disown(&mut self, thread_id: &str, turn_id: &str) {
        if let Some(book) = self.threads.get_mut(thread_id) {
            book.ours.retain(|t| t != turn_id);
            if let Some((turn, verdict)) = book.last_start.as_mut() {
                if turn == turn_id {
                    *verdict = StartVerdict::Merged;
                }
            }
        }
    }

    /// A request of this client on `thread_id` that the book waits for is about to be sent:
    /// a `turn/start` or `review/start` (`starting`, with the input's `clientUserMessageId`
    /// when it has one) or a `thread/resume`.
    pub(crate) fn begin(&mut self, thread_id: &str, starting: bool, tag: Option<String>) {
        let book = self.thread(thread_id);
        if starting {
            book.starting += 1;
        } else {
            book.resuming += 1;
        }
        if let Some(tag) = tag {
            if self.our_tags.len() == RECENTLY_COMPLETED {
                self.our_tags.pop_front();
            }
            self.our_tags.push_back(tag);
        }
    }

    /// The request counted by [`begin`](Self::begin) was answered (or failed, or was given
    /// up on).
    pub(crate) fn end(&mut self, thread_id: &str, starting: bool) -> Option<String> {
        let book = self.thread(thread_id);
        if starting {
            book.starting = book.starting.saturating_sub(1);
        } else {
            book.resuming = book.resuming.saturating_sub(1);
        }
        self.let_go(thread_id)
    }

    /// Whether a goal turn of `thread_id` may be this client's: a turn no other client's
    /// input opened (a turn the server started for a goal carries no tag, or one of ours).
    fn adoptable(&self, turn_id: &str) -> bool {
        match self.opener(turn_id) {
            Some(Some(tag)) => self.our_tags.iter().any(|t| t == tag),
            _ => true,
        }
    }

    /// The turn running on `thread_id`, as far as this connection knows, and whether it is
    /// this client's.
    pub(crate) fn busy(&self, thread_id: &str) -> Option<(RunningTurn, bool)> {
        let book = self.threads.get(thread_id)?;
        let running = book.running.clone()?;
        let ours = running.turn_id.as_ref().is_some_and(|t| book.ours.contains(t));
        Some((running, ours))
    }

    /// Whether `turn_id` is a turn this client started and that has not completed.
    pub(crate) fn is_ours(&self, thread_id: &str, turn_id: &str) -> bool {
        self.threads.get(thread_id).is_some_and(|b| b.ours.iter().any(|t| t == turn_id))
    }

    /// This connection was subscribed to `thread_id` (a `thread/resume` was answered).
    pub(crate) fn mark_subscribed(&mut self, thread_id: &str) {
        self.thread(thread_id).subscribed = true;
    }

    /// Whether this connection receives `thread_id`'s events.
    pub(crate) fn is_subscribed(&self, thread_id: &str) -> bool {
        self.threads.get(thread_id).is_some_and(|b| b.subscribed)
    }

    /// Who answers a server request of `turn_id` on `thread_id`. A request that names no
    /// turn (an MCP elicitation may not) is this client's unless another client's turn is
    /// known to run on the thread.
    pub(crate) fn request_owner(&self, thread_id: &str, turn_id: Option<&str>) -> RequestOwner {
        let Some(book) = self.threads.get(thread_id) else {
            return if turn_id.is_none() { RequestOwner::Us } else { RequestOwner::NotUs };
        };
        let Some(turn_id) = turn_id else {
            let running = book.running.as_ref().and_then(|r| r.turn_id.as_ref());
            let others = running.is_some_and(|t| !book.ours.contains(t)) && book.adopted == 0;
            return if others { RequestOwner::NotUs } else { RequestOwner::Us };
        };
        if book.ours.iter().any(|t| t == turn_id) {
            return RequestOwner::Us;
        }
        if book.starting > 0 {
            return RequestOwner::Undecided;
        }
        if book.adopted > 0 && self.adoptable(turn_id) {
            return RequestOwner::Us;
        }
        RequestOwner::NotUs
    }

    /// Records that this client owes `turn_id` an interrupt (its handle was dropped, or its
    /// deadline passed). `false` — nothing to send — when the turn already completed, or is
    /// not this client's and the caller did not `asked` for it on purpose.
    pub(crate) fn owe_interrupt(&mut self, thread_id: &str, turn_id: &str, asked: bool) -> bool {
        let adopted = self.threads.get(thread_id).is_some_and(|b| b.adopted > 0) && self.adoptable(turn_id);
        if self.recently_completed(turn_id) || !(asked || self.is_ours(thread_id, turn_id) || adopted) {
            return false;
        }
        self.thread(thread_id).owed = Some(turn_id.to_owned());
        true
    }

    /// The first turn whose `turn/started` arrived on `thread_id` after notification `mark`
    /// (running or already ended): the turn a request sent at `mark` whose answer names
    /// none started (a turn of another client starting later comes after it).
    pub(crate) fn started_since(&self, thread_id: &str, mark: u64) -> Option<String> {
        let book = self.threads.get(thread_id)?;
        book.started.iter().find(|(_, seen_at)| *seen_at > mark).map(|(turn_id, _)| turn_id.clone())
    }

    /// Counts `turn_id` as this client's (a turn its request started, found by
    /// [`started_since`](Self::started_since)), unless it already ended.
    pub(crate) fn own(&mut self, thread_id: &str, turn_id: &str) {
        if self.recently_completed(turn_id) {
            return;
        }
        let book = self.thread(thread_id);
        if !book.ours.iter().any(|t| t == turn_id) {
            book.ours.push(turn_id.to_owned());
        }
    }

    /// The id `turn/interrupt` needs for `turn_id`: the one a review's `turn/started` named
    /// when it differs from its `review/start` answer's (the pinned Codex checks that one),
    /// else `turn_id`.
    pub(crate) fn interrupt_id(&self, thread_id: &str, turn_id: &str) -> String {
        let review = self.threads.get(thread_id).and_then(|b| b.review.as_ref());
        match review {
            Some((review, Some(alias))) if review == turn_id => alias.clone(),
            _ => turn_id.to_owned(),
        }
    }

    /// Forgets the interrupt owed to `turn_id` (it failed, was never sent, or timed out).
    pub(crate) fn forgive_interrupt(&mut self, thread_id: &str, turn_id: &str) -> Option<String> {
        let book = self.threads.get_mut(thread_id)?;
        if book.owed.as_deref() == Some(turn_id) {
            book.owed = None;
        }
        self.let_go(thread_id)
    }

    /// The turn of `thread_id` this client owes an interrupt and that has not ended.
    pub(crate) fn owed_on(&self, thread_id: &str) -> Option<&str> {
        self.threads.get(thread_id)?.owed.as_deref()
    }

    /// Every `(thread, turn)` this client owes an interrupt.
    pub(crate) fn owed(&self) -> Vec<(String, String)> {
        let mut owed: Vec<_> =
            self.threads.iter().filter_map(|(th, b)| b.owed.clone().map(|t| (th.clone(), t))).collect();
        owed.sort();
        owed
    }

    /// Something (a handle, stream or handler) needs `thread_id`'s events.
    pub(crate) fn retain(&mut self, thread_id: &str) {
        self.thread(thread_id).interest += 1;
    }

    /// The thing counted by [`retain`](Self::retain) is gone. Returns the thread when it is
    /// now to be let go: subscribed, needed by nothing, and no turn of it running or owed.
    pub(crate) fn release(&mut self, thread_id: &str) -> Option<String> {
        let book = self.threads.get_mut(thread_id)?;
        book.interest = book.interest.saturating_sub(1);
        self.let_go(thread_id)
    }

    /// A goal this client follows on `thread_id`: the turns the server starts for it are
    /// this client's until [`unadopt`](Self::unadopt).
    pub(crate) fn adopt(&mut self, thread_id: &str) {
        self.thread(thread_id).adopted += 1;
    }

    /// Ends one [`adopt`](Self::adopt).
    pub(crate) fn unadopt(&mut self, thread_id: &str) -> Option<String> {
        let book = self.threads.get_mut(thread_id)?;
        book.adopted = book.adopted.saturating_sub(1);
        self.let_go(thread_id)
    }

    /// The thread, when nothing keeps it any more and it is still subscribed.
    fn let_go(&mut self, thread_id: &str) -> Option<String> {
        let book = self.threads.get(thread_id)?;
        if book.subscribed && book.interest == 0 && book.adopted == 0 && book.is_idle() {
            return Some(thread_id.to_owned());
        }
        self.forget_if_empty(thread_id);
        None
    }

    /// Whether `thread_id` may be unsubscribed now (re-checked just before sending it);
    /// if so it counts as unsubscribed from here on.
    pub(crate) fn take_for_unsubscribe(&mut self, thread_id: &str) -> bool {
        let Some(book) = self.threads.get_mut(thread_id) else { return false };
        if book.subscribed && book.interest == 0 && book.adopted == 0 && book.is_idle() {
            book.subscribed = false;
            self.forget_if_empty(thread_id);
            return true;
        }
        false
    }

    /// The link dropped: the server forgot this connection's subscriptions. Every thread
    /// counts as unsubscribed; returned are the ones to resume on the next link, those that
    /// were subscribed and that something still needs (a handle, stream, handler or goal,
    /// a turn of this client, an interrupt owed).
    pub(crate) fn link_dropped(&mut self) -> Vec<String> {
        let mut resume = Vec::new();
        for (id, book) in &mut self.threads {
            let was_subscribed = std::mem::replace(&mut book.subscribed, false);
            let needed = book.interest > 0
                || book.adopted > 0
                || book.starting > 0
                || !book.ours.is_empty()
                || book.owed.is_some();
            if was_subscribed && needed {
                resume.push(id.clone());
            }
        }
        resume.sort();
        resume
    }

    /// `thread_id` could not be resumed after a reconnect: its turns are lost to this
    /// client. Forgets them (and any interrupt owed) and returns their ids.
    pub(crate) fn lose_turns(&mut self, thread_id: &str) -> Vec<String> {
        let Some(book) = self.threads.get_mut(thread_id) else { return Vec::new() };
        let mut lost = std::mem::take(&mut book.ours);
        if let Some(turn_id) = book.running.take().and_then(|r| r.turn_id) {
            if !lost.contains(&turn_id) {
                lost.push(turn_id);
            }
        }
        book.owed = None;
        self.forget_if_empty(thread_id);
        lost
    }

    /// Whether the book counts `turn_id` as running on `thread_id` (whoever started it).
    pub(crate) fn is_running(&self, thread_id: &str, turn_id: &str) -> bool {
        self.threads.get(thread_id).is_some_and(|b| {
            b.ours.iter().any(|t| t == turn_id)
                || b.running.as_ref().and_then(|r| r.turn_id.as_deref()) == Some(turn_id)
        })
    }

    /// Threads known.
    #[cfg(test)]
    pub(crate) fn threads(&self) -> usize {
        self.threads.len()
    }
}

/// `params.threadId` of a request.
pub(crate) fn thread_id_param(params: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Params {
        #[serde(rename = "threadId")]
        thread_id: String,
    }
    serde_json::from_str::<Params>(params).ok().map(|p| p.thread_id)
}

/// For an `item/*` notification whose item is a user message: its `clientId`.
fn user_message_client_id(event: &Event) -> Option<Option<String>> {
    #[derive(Deserialize)]
    struct Item<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
        #[serde(rename = "clientId", default)]
        client_id: Option<String>,
    }
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(borrow)]
        item: Item<'a>,
    }
    let params = serde_json::from_str::<Params>(event.params().get()).ok()?;
    (params.item.kind == "userMessage").then_some(params.item.client_id)
}

/// `params.clientUserMessageId` of a request, if it carries one.
pub(crate) fn message_tag_param(params: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Params {
        #[serde(rename = "clientUserMessageId", default)]
        tag: Option<String>,
    }
    serde_json::from_str::<Params>(params).ok().and_then(|p| p.tag)
}

/// The status type of a `thread/status/changed`.
fn status_of(event: &Event) -> Option<String> {
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(borrow)]
        status: StatusView<'a>,
    }
    serde_json::from_str::<Params>(event.params().get()).ok().map(|p| p.status.kind.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(method: &str, params: serde_json::Value) -> Event {
        std::sync::Arc::new(super::super::message::RawNotification::new(method, params))
    }

    fn started(thread: &str, turn: &str) -> Event {
        event(
            TURN_STARTED,
            serde_json::json!({"threadId": thread, "turn": {"id": turn, "items": [], "status": "inProgress"}}),
        )
    }

    fn completed(thread: &str, turn: &str) -> Event {
        event(
            TURN_COMPLETED,
            serde_json::json!({"threadId": thread, "turn": {"id": turn, "items": [], "status": "completed"}}),
        )
    }

    #[test]
    fn only_this_clients_turns_are_owed_interrupts() {
        let mut book = TurnBook::default();
        book.observe(&started("th", "theirs"), 1);
        assert!(!book.owe_interrupt("th", "theirs", false), "another client's turn is never interrupted by a drop");
        assert!(book.owe_interrupt("th", "theirs", true), "unless the caller asked for it");
        book.observe(&completed("th", "theirs"), 2);
        book.begin("th", true, None);
        book.observe_answer(
            "turn/start",
            r#"{"threadId":"th"}"#,
            r#"{"turn":{"id":"mine","status":"inProgress"}}"#,
            2,
            3,
        );
        book.end("th", true);
        assert!(book.owe_interrupt("th", "mine", false));
        assert_eq!(book.owed(), [("th".to_owned(), "mine".to_owned())]);
        book.observe(&completed("th", "mine"), 4);
        assert!(book.owed().is_empty());
        assert!(!book.owe_interrupt("th", "mine", false), "a completed turn is owed nothing");
    }

    #[test]
    fn a_resume_answer_that_says_active_makes_the_thread_busy() {
        let mut book = TurnBook::default();
        let answer = r#"{"thread":{"id":"th","status":{"type":"active","activeFlags":[]},
            "turns":[{"id":"old","status":"completed"},{"id":"run","status":"inProgress"}]}}"#;
        book.observe_answer("thread/resume", r#"{"threadId":"th"}"#, answer, 0, 0);
        assert!(book.is_subscribed("th"));
        let (running, ours) = book.busy("th").unwrap();
        assert_eq!((running.turn_id.as_deref(), ours), (Some("run"), false));
        assert_eq!(book.request_owner("th", Some("run")), RequestOwner::NotUs);
        // Active without turns: busy, the turn unnamed.
        let answer = r#"{"thread":{"id":"t2","status":{"type":"active","activeFlags":[]},"turns":[]}}"#;
        book.observe_answer("thread/resume", r#"{"threadId":"t2"}"#, answer, 0, 0);
        assert_eq!(book.busy("t2").unwrap().0.turn_id, None);
        book.observe(
            &event(THREAD_STATUS_CHANGED, serde_json::json!({"threadId": "t2", "status": {"type": "idle"}})),
            1,
        );
        assert!(book.busy("t2").is_none());
    }

    #[test]
    fn a_start_answered_with_the_running_turn_is_a_merge() {
        let mut book = TurnBook::default();
        book.observe(&started("th", "theirs"), 1);
        book.observe_answer(
            "turn/start",
            r#"{"threadId":"th"}"#,
            r#"{"turn":{"id":"theirs","status":"inProgress"}}"#,
            1,
            2,
        );
        assert_eq!(book.start_verdict("th", "theirs"), Some(StartVerdict::Merged));
        assert!(!book.is_ours("th", "theirs"));
        // A turn whose turn/started raced ahead of the answer may be another client's that
        // took the input: counted as ours until the record says otherwise.
        book.observe(&completed("th", "theirs"), 3);
        book.observe(&started("th", "raced"), 4);
        let answer = r#"{"turn":{"id":"raced","status":"inProgress"}}"#;
        book.observe_answer("turn/start", r#"{"threadId":"th"}"#, answer, 3, 4);
        assert_eq!(book.start_verdict("th", "raced"), Some(StartVerdict::Raced));
        assert!(book.is_ours("th", "raced"));
        book.disown("th", "raced");
        assert!(!book.is_ours("th", "raced"));
        assert_eq!(book.busy("th").map(|(r, ours)| (r.turn_id, ours)), Some((Some("raced".to_owned()), false)));
        // A turn whose turn/started comes after the answer is new, and ours.
        book.observe(&completed("th", "raced"), 5);
        let answer = r#"{"turn":{"id":"new","status":"inProgress"}}"#;
        book.observe_answer("turn/start", r#"{"threadId":"th"}"#, answer, 6, 6);
        assert_eq!(book.start_verdict("th", "new"), Some(StartVerdict::New));
        assert!(book.is_ours("th", "new"));
    }

    #[test]
    fn requests_wait_while_a_start_is_unanswered_and_follow_adoption() {
        let mut book = TurnBook::default();
        book.retain("th");
        book.begin("th", true, None);
        assert_eq!(book.request_owner("th", Some("x")), RequestOwner::Undecided);
        book.end("th", true);
        assert_eq!(book.request_owner("th", Some("x")), RequestOwner::NotUs);
        book.adopt("th");
        assert_eq!(book.request_owner("th", Some("x")), RequestOwner::Us);
        book.unadopt("th");
        assert_eq!(book.request_owner("th", Some("x")), RequestOwner::NotUs);
    }

    #[test]
    fn goal_adoption_never_covers_a_turn_another_clients_input_opened() {
        let mut book = TurnBook::default();
        book.begin("th", true, Some("ours-1".into()));
        book.end("th", true);
        book.adopt("th");
        let user_message = |turn: &str, client_id: Option<&str>| {
            event(
                ITEM_STARTED,
                serde_json::json!({"threadId": "th", "turnId": turn,
                    "item": {"type": "userMessage", "id": "u", "content": [], "clientId": client_id}}),
            )
        };
        book.observe(&started("th", "goal-turn"), 1);
        book.observe(&user_message("goal-turn", None), 2);
        assert_eq!(book.request_owner("th", Some("goal-turn")), RequestOwner::Us);
        book.observe(&completed("th", "goal-turn"), 3);
        book.observe(&started("th", "theirs"), 4);
        book.observe(&user_message("theirs", Some("another-client")), 5);
        assert_eq!(book.request_owner("th", Some("theirs")), RequestOwner::NotUs);
        assert!(!book.owe_interrupt("th", "theirs", false), "a follower's drop never interrupts it");
        book.observe(&completed("th", "theirs"), 6);
        book.observe(&started("th", "mine"), 7);
        book.observe(&user_message("mine", Some("ours-1")), 8);
        assert_eq!(book.request_owner("th", Some("mine")), RequestOwner::Us);
    }

    #[test]
    fn a_request_naming_no_turn_is_ours_unless_another_clients_turn_runs() {
        let mut book = TurnBook::default();
        assert_eq!(book.request_owner("th", None), RequestOwner::Us);
        book.observe(&started("th", "theirs"), 1);
        assert_eq!(book.request_owner("th", None), RequestOwner::NotUs);
        book.observe(&completed("th", "theirs"), 2);
        assert_eq!(book.request_owner("th", None), RequestOwner::Us);
    }

    /// The pinned Codex announces a review with another turn id than its `review/start`
    /// answer, and `turn/interrupt` wants that one; either order of the two.
    #[test]
    fn a_review_announced_under_another_id_is_ours_and_interrupted_by_that_id() {
        let params = r#"{"threadId":"t"}"#;
        let answer = r#"{"turn":{"id":"r","status":"inProgress"},"reviewThreadId":"t"}"#;
        for started_first in [true, false] {
            let mut book = TurnBook::default();
            if started_first {
                book.observe(&started("t", "s"), 1);
                book.observe_answer(REVIEW_START, params, answer, 0, 2);
            } else {
                book.observe_answer(REVIEW_START, params, answer, 0, 1);
                book.observe(&started("t", "s"), 2);
            }
            let (running, ours) = book.busy("t").expect("the review runs");
            assert_eq!((running.turn_id.as_deref(), ours), (Some("r"), true), "started first: {started_first}");
            assert_eq!(book.interrupt_id("t", "r"), "s");
            assert!(book.owe_interrupt("t", "r", false));
            book.observe(&completed("t", "r"), 3);
            assert!(book.busy("t").is_none(), "the review's end frees the thread");
            assert_eq!(book.interrupt_id("t", "r"), "r");
        }
    }

    /// A request whose answer names no turn (`thread/compact/start`, `thread/shellCommand`)
    /// owns the turn that started after it was sent, even one that already ended; a turn
    /// from before the mark is not it.
    #[test]
    fn the_turn_started_after_a_mark_is_found_and_owned() {
        let mut book = TurnBook::default();
        book.mark_subscribed("t"); // the caller's `Thread` keeps the book
        book.observe(&started("t", "before"), 1);
        book.observe(&completed("t", "before"), 2);
        assert_eq!(book.started_since("t", 2), None);
        book.observe(&started("t", "compaction"), 3);
        assert_eq!(book.started_since("t", 2).as_deref(), Some("compaction"));
        book.own("t", "compaction");
        assert!(book.is_ours("t", "compaction") && book.owe_interrupt("t", "compaction", false));
        book.observe(&completed("t", "compaction"), 4);
        assert_eq!(book.started_since("t", 2).as_deref(), Some("compaction"), "found after its end too");
        book.observe(&started("t", "someone-elses"), 5);
        assert_eq!(book.started_since("t", 2).as_deref(), Some("compaction"), "the first after the mark, not the last");
        book.own("t", "compaction");
        assert!(!book.is_ours("t", "compaction"), "an ended turn is not owned again");
    }

    #[test]
    fn a_thread_is_not_let_go_while_a_resume_is_in_flight() {
        let mut book = TurnBook::default();
        book.observe_answer("thread/start", "{}", r#"{"thread":{"id":"th","status":{"type":"idle"}}}"#, 0, 0);
        book.retain("th");
        book.begin("th", false, None);
        assert_eq!(book.release("th"), None);
        assert!(!book.take_for_unsubscribe("th"));
        assert_eq!(book.end("th", false).as_deref(), Some("th"));
    }

    #[test]
    fn a_thread_is_let_go_once_nothing_needs_it_and_nothing_runs() {
        let mut book = TurnBook::default();
        book.observe_answer("thread/start", "{}", r#"{"thread":{"id":"th","status":{"type":"idle"}}}"#, 0, 0);
        book.retain("th");
        book.retain("th");
        assert_eq!(book.release("th"), None);
        book.begin("th", true, None);
        book.observe_answer("turn/start", r#"{"threadId":"th"}"#, r#"{"turn":{"id":"t","status":"inProgress"}}"#, 0, 1);
        book.end("th", true);
        assert_eq!(book.release("th"), None, "a turn still runs");
        assert_eq!(book.observe(&completed("th", "t"), 2).as_deref(), Some("th"));
        assert!(book.take_for_unsubscribe("th"));
        assert!(!book.is_subscribed("th"));
        assert_eq!(book.threads(), 0, "nothing left to remember");
    }
}
