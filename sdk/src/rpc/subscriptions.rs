//! Thread subscriptions on the server: who needs a thread's events ([`ThreadInterest`]),
//! and letting a thread go (`thread/unsubscribe`) once nothing does. The turn book
//! ([`super::turns`]) decides when; this module sends.

use std::sync::{Arc, Weak};

use super::state::Shared;
use super::turns::TurnBook;

/// Keeps a thread's events coming to this connection while it lives: held by every
/// [`Thread`](crate::Thread), turn handle and stream, thread subscription and per-thread
/// handler. The last one to go lets the thread go (once no turn runs on it).
pub(crate) struct ThreadInterest {
    shared: Weak<Shared>,
    thread_id: String,
}

impl std::fmt::Debug for ThreadInterest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadInterest").field("thread_id", &self.thread_id).finish()
    }
}

impl ThreadInterest {
    pub(crate) fn new(shared: &Arc<Shared>, thread_id: &str) -> Self {
        shared.lock().turns.retain(thread_id);
        ThreadInterest { shared: Arc::downgrade(shared), thread_id: thread_id.to_owned() }
    }
}

impl Drop for ThreadInterest {
    fn drop(&mut self) {
        let Some(shared) = self.shared.upgrade() else { return };
        let let_go = shared.lock().turns.release(&self.thread_id);
        if let Some(thread_id) = let_go {
            unsubscribe(&shared, thread_id);
        }
    }
}

/// How long the unsubscribe task waits for the answer (holding the thread's turn lock).
const UNSUBSCRIBE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Sends `thread/unsubscribe` for `thread_id` from a task of its own (on the connection's
/// runtime), holding the thread's turn lock (so a turn started meanwhile subscribes again
/// after it), if the book still agrees when the lock is held.
pub(crate) fn unsubscribe(shared: &Arc<Shared>, thread_id: String) {
    let runtime = shared.runtime.clone();
    let shared = Arc::downgrade(shared);
    runtime.spawn(async move {
        let Some(lock) = shared.upgrade().map(|s| thread_lock(&s, &thread_id)) else { return };
        let guard = lock.lock_owned().await;
        let Some(shared) = shared.upgrade() else { return };
        let take = {
            let mut state = shared.lock();
            state.closed.is_none() && state.turns.take_for_unsubscribe(&thread_id)
        };
        if take {
            tracing::debug!(thread_id, "no handle needs the thread any more; unsubscribing");
            let params = crate::types::ThreadUnsubscribeParams { thread_id: thread_id.clone() };
            let params = serde_json::value::to_raw_value(&params).expect("strings serialize");
            if let Some(reply) = shared.send_request_detached(crate::method_names::THREAD_UNSUBSCRIBE, &params) {
                if tokio::time::timeout(UNSUBSCRIBE_WAIT, reply).await.is_err() {
                    tracing::warn!(thread_id, "thread/unsubscribe got no answer in time");
                }
            }
        }
        super::streams::release_turn_lock(&shared, &thread_id, Some(guard));
    });
}

/// The per-thread turn lock (one `turn/start` or unsubscribe in flight per thread).
pub(crate) fn thread_lock(shared: &Shared, thread_id: &str) -> Arc<tokio::sync::Mutex<()>> {
    let mut locks = shared.turn_locks.lock().unwrap_or_else(|e| e.into_inner());
    locks.entry(thread_id.to_owned()).or_default().clone()
}

/// Whether `method`'s answer teaches the turn book something ([`TurnBook::observe_answer`]).
pub(crate) fn answer_is_observed(method: &str) -> bool {
    TurnBook::OBSERVED_ANSWERS.contains(&method)
}
