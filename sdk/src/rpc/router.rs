//! Notification routing tables: turn subscribers, turn reservations (early-event capture),
//! and thread-wide / client-wide subscriptions. Pure data; the caller holds the lock.

use std::collections::HashMap;
use std::sync::Arc;

use super::message::Event;
use super::queue::{Pushed, Queue, Wakes};
use super::state::CloseInfo;

/// The method that ends a turn stream.
pub(crate) const TURN_COMPLETED: &str = "turn/completed";
/// The method that starts a turn.
pub(crate) const TURN_STARTED: &str = "turn/started";
/// A thread was unloaded.
const THREAD_CLOSED: &str = "thread/closed";
/// A thread's status changed (`{"status": {"type": "idle" | "active" | …}}`).
const THREAD_STATUS_CHANGED: &str = "thread/status/changed";

/// Whether a `thread/status/changed` says the thread is idle.
fn status_is_idle(event: &Event) -> bool {
    #[derive(serde::Deserialize)]
    struct Status<'a> {
        #[serde(rename = "type", borrow)]
        kind: &'a str,
    }
    #[derive(serde::Deserialize)]
    struct Params<'a> {
        #[serde(borrow)]
        status: Status<'a>,
    }
    serde_json::from_str::<Params>(event.params().get()).is_ok_and(|p| p.status.kind == "idle")
}

/// How many completed turn ids are remembered (to tell a dropped handle of a finished turn).
const RECENTLY_COMPLETED: usize = 256;

/// A turn this connection saw start and not yet complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunningTurn {
    pub(crate) turn_id: String,
    /// The notification count when its `turn/started` arrived.
    pub(crate) seen_at: u64,
}
/// At most this many distinct turns are captured by one reservation.
pub(crate) const MAX_RESERVED_TURNS: usize = 16;

/// Which notifications a thread-wide or client-wide subscription receives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventFilter {
    /// Every notification (turn- and thread-scoped ones included).
    All,
    /// Notifications with neither a thread id nor a turn id (account, config, MCP, …).
    Unscoped,
    /// Every notification whose thread id is this one (including its turns' events).
    Thread(String),
}

impl EventFilter {
    fn matches(&self, event: &Event) -> bool {
        match self {
            EventFilter::All => true,
            EventFilter::Unscoped => event.thread_id().is_none() && event.turn_id().is_none(),
            EventFilter::Thread(id) => event.thread_id() == Some(id.as_str()),
        }
    }
}

struct Reservation {
    key: u64,
    per_turn: HashMap<String, Arc<Queue>>,
}

struct Subscription {
    key: u64,
    filter: EventFilter,
    queue: Arc<Queue>,
}

/// Counters of the routing layer.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RouteCounters {
    pub(crate) notifications: u64,
    pub(crate) unrouted: u64,
    pub(crate) lagged: u64,
}

pub(crate) struct Router {
    /// Per thread, the turn that started and has not completed yet.
    running: HashMap<String, RunningTurn>,
    /// Per thread, the turn this client interrupted because its handle was dropped, until
    /// its `turn/completed` arrives.
    dropped: HashMap<String, String>,
    /// The ids of the last turns that completed (bounded).
    completed: std::collections::VecDeque<String>,
    turns: HashMap<String, Vec<Arc<Queue>>>,
    reservations: HashMap<String, Reservation>,
    subs: Vec<Subscription>,
    next_key: u64,
    turn_capacity: usize,
    subscription_capacity: usize,
    pub(crate) counters: RouteCounters,
}

impl Router {
    pub(crate) fn new(turn_capacity: usize, subscription_capacity: usize) -> Self {
        Router {
            running: HashMap::new(),
            dropped: HashMap::new(),
            completed: std::collections::VecDeque::new(),
            turns: HashMap::new(),
            reservations: HashMap::new(),
            subs: Vec::new(),
            next_key: 0,
            turn_capacity,
            subscription_capacity,
            counters: RouteCounters::default(),
        }
    }

    fn key(&mut self) -> u64 {
        self.next_key += 1;
        self.next_key
    }

    fn count(counters: &mut RouteCounters, pushed: Pushed) -> bool {
        match pushed {
            Pushed::Stored => true,
            Pushed::Lagged => {
                counters.lagged += 1;
                true
            }
            Pushed::Ended => false,
        }
    }

    /// Keeps [`running`](Self::running) up to date: set by `turn/started`, cleared by
    /// `turn/completed`, and also when the thread goes idle or is closed (so a missed
    /// `turn/completed` cannot leave the thread busy forever).
    fn track_running(&mut self, event: &Event) {
        let Some(thread_id) = event.thread_id() else { return };
        match (event.method(), event.turn_id()) {
            (TURN_STARTED, Some(turn_id)) => {
                let running = RunningTurn { turn_id: turn_id.to_owned(), seen_at: self.counters.notifications };
                self.running.insert(thread_id.to_owned(), running);
            }
            (TURN_COMPLETED, Some(turn_id)) => {
                if self.running.get(thread_id).is_some_and(|r| r.turn_id == turn_id) {
                    self.running.remove(thread_id);
                }
                if self.dropped.get(thread_id).is_some_and(|t| t == turn_id) {
                    self.dropped.remove(thread_id);
                }
                if self.completed.len() == RECENTLY_COMPLETED {
                    self.completed.pop_front();
                }
                self.completed.push_back(turn_id.to_owned());
            }
            (THREAD_CLOSED, _) => {
                self.running.remove(thread_id);
                self.dropped.remove(thread_id);
            }
            (THREAD_STATUS_CHANGED, _) if status_is_idle(event) => {
                self.running.remove(thread_id);
            }
            _ => {}
        }
    }

    /// Records `turn_id`, just returned by `turn/start`, as the running turn of `thread_id`
    /// unless it already completed (its `turn/started` may come after the response).
    pub(crate) fn note_started(&mut self, thread_id: &str, turn_id: &str) {
        if self.completed.iter().any(|t| t == turn_id) {
            return;
        }
        let seen_at = self.counters.notifications;
        self.running
            .entry(thread_id.to_owned())
            .or_insert_with(|| RunningTurn { turn_id: turn_id.to_owned(), seen_at });
    }

    /// Whether a stream of this client already follows `turn_id`.
    pub(crate) fn has_turn_stream(&self, turn_id: &str) -> bool {
        self.turns.contains_key(turn_id)
    }

    /// Forgets that this client interrupts the dropped turn of `thread_id` (its interrupt
    /// failed or was never sent).
    pub(crate) fn unmark_dropped(&mut self, thread_id: &str, turn_id: &str) {
        if self.dropped.get(thread_id).is_some_and(|t| t == turn_id) {
            self.dropped.remove(thread_id);
        }
    }

    /// Records that this client interrupts `turn_id` of `thread_id` (its handle was
    /// dropped); `false` when that turn already completed.
    pub(crate) fn mark_dropped(&mut self, thread_id: &str, turn_id: &str) -> bool {
        if self.completed.iter().any(|t| t == turn_id) {
            return false;
        }
        self.dropped.insert(thread_id.to_owned(), turn_id.to_owned());
        true
    }

    /// The dropped turn of `thread_id` whose `turn/completed` has not arrived yet.
    pub(crate) fn dropped(&self, thread_id: &str) -> Option<&str> {
        self.dropped.get(thread_id).map(String::as_str)
    }

    /// The turn of `thread_id` that started and has not completed, as far as this
    /// connection has seen.
    pub(crate) fn running(&self, thread_id: &str) -> Option<&RunningTurn> {
        self.running.get(thread_id)
    }

    /// Routes one notification to every interested queue; drops (and counts) it otherwise.
    /// The consumers to wake go to `wakes`.
    pub(crate) fn dispatch(&mut self, event: Event, wakes: &mut Wakes) {
        self.counters.notifications += 1;
        self.track_running(&event);
        let mut delivered = false;
        if let Some(turn_id) = event.turn_id() {
            let terminal = event.method() == TURN_COMPLETED;
            if let Some(queues) = self.turns.get(turn_id) {
                for queue in queues {
                    delivered |= Self::count(&mut self.counters, queue.push(event.clone(), terminal, wakes));
                }
                if terminal {
                    self.turns.remove(turn_id);
                }
            } else if let Some(res) = event.thread_id().and_then(|t| self.reservations.get_mut(t)) {
                let queue = match res.per_turn.get(turn_id) {
                    Some(q) => Some(q.clone()),
                    None if res.per_turn.len() < MAX_RESERVED_TURNS => {
                        let q = Queue::new(self.turn_capacity);
                        res.per_turn.insert(turn_id.to_owned(), q.clone());
                        Some(q)
                    }
                    None => None,
                };
                if let Some(q) = queue {
                    delivered |= Self::count(&mut self.counters, q.push(event.clone(), terminal, wakes));
                }
            }
        }
        for sub in &self.subs {
            if sub.filter.matches(&event) {
                delivered |= Self::count(&mut self.counters, sub.queue.push(event.clone(), false, wakes));
            }
        }
        if !delivered {
            self.counters.unrouted += 1;
        }
    }

    /// Starts capturing unclaimed turn events of `thread_id`.
    pub(crate) fn reserve(&mut self, thread_id: &str) -> u64 {
        let key = self.key();
        self.reservations.insert(thread_id.to_owned(), Reservation { key, per_turn: HashMap::new() });
        key
    }

    /// Ends a reservation without claiming; its buffers are freed.
    pub(crate) fn unreserve(&mut self, thread_id: &str, key: u64) {
        if self.reservations.get(thread_id).is_some_and(|r| r.key == key) {
            self.reservations.remove(thread_id);
        }
    }

    /// Ends a reservation and turns the captured events of `turn_id` into a live turn queue.
    pub(crate) fn claim(&mut self, thread_id: &str, key: u64, turn_id: &str) -> Arc<Queue> {
        let captured = match self.reservations.get(thread_id) {
            Some(r) if r.key == key => self.reservations.remove(thread_id).and_then(|mut r| r.per_turn.remove(turn_id)),
            _ => None,
        };
        let queue = captured.unwrap_or_else(|| Queue::new(self.turn_capacity));
        if !queue.is_ended() {
            self.turns.entry(turn_id.to_owned()).or_default().push(queue.clone());
        }
        queue
    }

    /// A live queue for an already known turn (no early events).
    pub(crate) fn subscribe_turn(&mut self, turn_id: &str) -> Arc<Queue> {
        let queue = Queue::new(self.turn_capacity);
        self.turns.entry(turn_id.to_owned()).or_default().push(queue.clone());
        queue
    }

    pub(crate) fn unsubscribe_turn(&mut self, turn_id: &str, queue: &Arc<Queue>) {
        if let Some(queues) = self.turns.get_mut(turn_id) {
            queues.retain(|q| !Arc::ptr_eq(q, queue));
            if queues.is_empty() {
                self.turns.remove(turn_id);
            }
        }
    }

    pub(crate) fn subscribe(&mut self, filter: EventFilter) -> (u64, Arc<Queue>) {
        let key = self.key();
        let queue = Queue::new(self.subscription_capacity);
        self.subs.push(Subscription { key, filter, queue: queue.clone() });
        (key, queue)
    }

    pub(crate) fn unsubscribe(&mut self, key: u64) {
        self.subs.retain(|s| s.key != key);
    }

    /// Ends every queue with `info` and empties all tables.
    pub(crate) fn close_all(&mut self, info: &Arc<CloseInfo>) {
        for queue in self.turns.drain().flat_map(|(_, qs)| qs) {
            queue.close(info);
        }
        for queue in self.reservations.drain().flat_map(|(_, r)| r.per_turn.into_values()) {
            queue.close(info);
        }
        for sub in self.subs.drain(..) {
            sub.queue.close(info);
        }
    }

    pub(crate) fn turn_subscriptions(&self) -> usize {
        self.turns.values().map(Vec::len).sum()
    }

    pub(crate) fn reservations(&self) -> usize {
        self.reservations.len()
    }

    pub(crate) fn subscriptions(&self) -> usize {
        self.subs.len()
    }

    /// Events currently buffered in all queues (turns, reservations, subscriptions).
    pub(crate) fn buffered_events(&self) -> usize {
        let turns: usize = self.turns.values().flatten().map(|q| q.len()).sum();
        let reserved: usize = self.reservations.values().flat_map(|r| r.per_turn.values()).map(|q| q.len()).sum();
        let subs: usize = self.subs.iter().map(|s| s.queue.len()).sum();
        turns + reserved + subs
    }
}
