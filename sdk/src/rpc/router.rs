//! Notification routing tables: turn subscribers, turn reservations (early-event capture),
//! and thread-wide / client-wide subscriptions. Pure data; the caller holds the lock. Turn
//! state (what runs, whose it is) is the turn book's ([`super::turns`]), not the router's.

use std::collections::HashMap;
use std::sync::Arc;

use super::close_info::CloseInfo;
use super::message::Event;
use super::queue::{Pushed, Queue, Wakes};

use crate::method_names::{COMMAND_EXEC_OUTPUT_DELTA, TURN_COMPLETED};

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
    /// The `command/exec/outputDelta` notifications of this process id (the output of one
    /// command of [`Codex::exec`](crate::Codex::exec)).
    ExecOutput(String),
}

impl EventFilter {
    fn matches(&self, event: &Event) -> bool {
        match self {
            EventFilter::All => true,
            EventFilter::Unscoped => event.thread_id().is_none() && event.turn_id().is_none(),
            EventFilter::Thread(id) => event.thread_id() == Some(id.as_str()),
            EventFilter::ExecOutput(id) => event.method() == COMMAND_EXEC_OUTPUT_DELTA && is_output_of(event, id),
        }
    }
}

/// Whether a `command/exec/outputDelta` notification is the output of `process_id`.
fn is_output_of(event: &Event, process_id: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Delta<'a> {
        #[serde(rename = "processId", borrow)]
        process_id: std::borrow::Cow<'a, str>,
    }
    serde_json::from_str::<Delta>(event.params().get()).is_ok_and(|d| d.process_id == process_id)
}

struct Reservation {
    key: u64,
    per_turn: HashMap<String, Arc<Queue>>,
    /// The link dropped while the reservation was open: a turn queue made for it later
    /// starts with the gap (its earlier events may be missing).
    gap: Option<Arc<CloseInfo>>,
    /// The thread could not be resumed after a reconnect: a turn queue made for it later
    /// has ended already, saying why.
    lost: Option<String>,
}

impl Reservation {
    /// A new queue for one of the reservation's turns, starting with its gap if any.
    fn new_queue(&self, capacity: usize) -> Arc<Queue> {
        let queue = Queue::new(capacity);
        if let Some(info) = &self.gap {
            queue.gap(info);
        }
        if let Some(what) = &self.lost {
            queue.lose(what);
        }
        queue
    }
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

    /// Routes one notification to every interested queue; drops (and counts) it otherwise.
    /// The consumers to wake go to `wakes`.
    pub(crate) fn dispatch(&mut self, event: Event, wakes: &mut Wakes) {
        self.counters.notifications += 1;
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
                        let q = res.new_queue(self.turn_capacity);
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
        self.reservations
            .insert(thread_id.to_owned(), Reservation { key, per_turn: HashMap::new(), gap: None, lost: None });
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
            Some(r) if r.key == key => self
                .reservations
                .remove(thread_id)
                .map(|mut r| r.per_turn.remove(turn_id).unwrap_or_else(|| r.new_queue(self.turn_capacity))),
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

    /// Marks the link's drop in every live queue ([`Queue::gap`]), and in every open
    /// reservation for the turn queues it makes later.
    pub(crate) fn gap_all(&mut self, info: &Arc<CloseInfo>) {
        for reservation in self.reservations.values_mut() {
            reservation.gap = Some(info.clone());
        }
        let turns = self.turns.values().flatten();
        let reserved = self.reservations.values().flat_map(|r| r.per_turn.values());
        for queue in turns.chain(reserved).chain(self.subs.iter().map(|s| &s.queue)) {
            queue.gap(info);
        }
    }

    /// Ends the queues of `turns` and the turn queues of `thread_id`'s reservation with
    /// [`Queue::lose`] (the thread could not be resumed after a reconnect).
    pub(crate) fn lose_turns(&mut self, thread_id: &str, turns: &[String], what: &str) {
        for turn_id in turns {
            for queue in self.turns.remove(turn_id).into_iter().flatten() {
                queue.lose(what);
            }
        }
        if let Some(reservation) = self.reservations.get_mut(thread_id) {
            reservation.lost = Some(what.to_owned());
            for queue in reservation.per_turn.values() {
                queue.lose(what);
            }
        }
    }

    /// Whether a live queue follows `turn_id`.
    pub(crate) fn follows_turn(&self, turn_id: &str) -> bool {
        self.turns.contains_key(turn_id)
            || self.reservations.values().any(|r| r.per_turn.get(turn_id).is_some_and(|q| !q.is_ended()))
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
