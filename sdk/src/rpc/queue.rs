//! The bounded per-subscriber event queue behind every stream.
//!
//! Policy: a queue holds at most `capacity` events. When it is full an incoming event is
//! dropped and counted; the consumer sees [`Error::Lagged`] at exactly that position and
//! then the later events once there is room again. A turn's terminal `turn/completed` is
//! always admitted (capacity + 1), so a turn stream always ends. Pushing never blocks and
//! never allocates beyond `capacity` events plus lag markers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::close_info::CloseInfo;
use super::message::Event;
use crate::error::{Error, Result};

enum Slot {
    Event(Event),
    Lagged(u64),
    /// The link dropped here (a reconnecting connection): [`Error::Gap`].
    Gap(Arc<CloseInfo>),
}

enum End {
    /// The stream finished normally (a turn completed).
    Completed,
    /// The connection closed; the error is reported once.
    Closed { info: Arc<CloseInfo>, reported: bool },
    /// The stream cannot go on (its thread was lost in a reconnect): `StreamEnded`, once.
    Lost { what: String, reported: bool },
}

struct Inner {
    items: VecDeque<Slot>,
    events: usize,
    capacity: usize,
    end: Option<End>,
    waker: Option<Waker>,
}

/// The outcome of [`Queue::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Stored.
    Stored,
    /// Dropped because the queue was full (counted as lag).
    Lagged,
    /// Dropped because the queue has already ended.
    Ended,
}

/// The wakers of consumers whose queues received events, woken together: the reader hands
/// out every message it already has before it wakes anyone (and at least every
/// [`MAX_DEFERRED`] messages), so a burst of events wakes each consumer once instead of
/// once per event. Dropping it wakes what it holds: no wake-up is ever lost.
#[derive(Default)]
pub(crate) struct Wakes {
    wakers: Vec<Waker>,
    /// Events handed out since the last [`wake_all`](Self::wake_all).
    deferred: usize,
}

/// At most this many events are handed out before their consumers are woken.
pub(crate) const MAX_DEFERRED: usize = 32;

impl Wakes {
    /// One more event handed out; its consumer's waker, if it was waiting, is kept.
    fn defer(&mut self, waker: Option<Waker>) {
        self.deferred += 1;
        if let Some(waker) = waker {
            if !self.wakers.iter().any(|w| w.will_wake(&waker)) {
                self.wakers.push(waker);
            }
        }
    }

    /// Whether enough events wait for their consumers that they should be woken now.
    pub(crate) fn is_full(&self) -> bool {
        self.deferred >= MAX_DEFERRED
    }

    /// Wakes every collected consumer.
    pub(crate) fn wake_all(&mut self) {
        self.deferred = 0;
        for waker in self.wakers.drain(..) {
            waker.wake();
        }
    }
}

impl Drop for Wakes {
    fn drop(&mut self) {
        self.wake_all();
    }
}

/// A bounded single-consumer event queue.
pub(crate) struct Queue {
    inner: Mutex<Inner>,
}

impl Queue {
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Queue {
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                events: 0,
                capacity: capacity.max(1),
                end: None,
                waker: None,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `event`; with `terminal` the event is always stored and ends the queue. The
    /// consumer's waker goes to `wakes`, to be woken with the others the reader collected.
    pub(crate) fn push(&self, event: Event, terminal: bool, wakes: &mut Wakes) -> Pushed {
        let (outcome, waker, filling) = {
            let mut inner = self.lock();
            if inner.end.is_some() {
                return Pushed::Ended;
            }
            let outcome = if inner.events >= inner.capacity && !terminal {
                match inner.items.back_mut() {
                    Some(Slot::Lagged(n)) => *n += 1,
                    _ => inner.items.push_back(Slot::Lagged(1)),
                }
                Pushed::Lagged
            } else {
                inner.items.push_back(Slot::Event(event));
                inner.events += 1;
                if terminal {
                    inner.end = Some(End::Completed);
                }
                Pushed::Stored
            };
            (outcome, inner.waker.take(), inner.events * 2 >= inner.capacity)
        };
        if outcome == Pushed::Stored && !filling && !terminal {
            wakes.defer(waker);
        } else {
            // A queue that ends, fills up to half its capacity or lags wakes its consumer at
            // once, wherever its waker is (an earlier event may have deferred it): a turn's
            // end is never held back, and a consumer is woken while half of its buffer is
            // still free.
            if let Some(w) = waker {
                w.wake();
            }
            wakes.wake_all();
        }
        outcome
    }

    /// Marks the place where the link dropped ([`Error::Gap`]; no-op if the queue ended).
    /// Not counted against the capacity (gaps in a row are one), and the consumer is woken
    /// at once.
    pub(crate) fn gap(&self, info: &Arc<CloseInfo>) {
        self.end_or_mark(|inner| match inner.items.back_mut() {
            Some(Slot::Gap(last)) => *last = info.clone(),
            _ => inner.items.push_back(Slot::Gap(info.clone())),
        });
    }

    /// Ends the queue: what it holds is read, then [`Error::StreamEnded`] saying `what`
    /// (no-op if it already ended).
    pub(crate) fn lose(&self, what: &str) {
        self.end_or_mark(|inner| inner.end = Some(End::Lost { what: what.to_owned(), reported: false }));
    }

    /// Applies `change` to a queue that has not ended, and wakes its consumer.
    fn end_or_mark(&self, change: impl FnOnce(&mut Inner)) {
        let waker = {
            let mut inner = self.lock();
            if inner.end.is_some() {
                return;
            }
            change(&mut inner);
            inner.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Ends the queue with a transport error (no-op if it already ended).
    pub(crate) fn close(&self, info: &Arc<CloseInfo>) {
        let waker = {
            let mut inner = self.lock();
            if inner.end.is_none() {
                inner.end = Some(End::Closed { info: info.clone(), reported: false });
            }
            inner.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Whether the queue has ended (no further events will be stored).
    pub(crate) fn is_ended(&self) -> bool {
        self.lock().end.is_some()
    }

    /// Number of buffered events.
    pub(crate) fn len(&self) -> usize {
        self.lock().events
    }

    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Event>>> {
        let mut inner = self.lock();
        if let Some(slot) = inner.items.pop_front() {
            return Poll::Ready(Some(match slot {
                Slot::Event(e) => {
                    inner.events -= 1;
                    Ok(e)
                }
                Slot::Lagged(skipped) => Err(Error::Lagged { skipped }),
                Slot::Gap(info) => Err(Error::Gap { endpoint: info.endpoint.clone(), reason: info.reason.clone() }),
            }));
        }
        match &mut inner.end {
            Some(End::Completed) => Poll::Ready(None),
            Some(End::Closed { reported: true, .. }) | Some(End::Lost { reported: true, .. }) => Poll::Ready(None),
            Some(End::Closed { info, reported }) => {
                *reported = true;
                Poll::Ready(Some(Err(info.to_error())))
            }
            Some(End::Lost { what, reported }) => {
                *reported = true;
                Poll::Ready(Some(Err(Error::StreamEnded { what: what.clone() })))
            }
            None => {
                inner.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;
    use crate::rpc::message::RawNotification;

    /// A waker that counts its wake-ups.
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn event() -> Event {
        Arc::new(RawNotification::new("item/agentMessage/delta", serde_json::json!({"delta": "x"})))
    }

    /// Registers a counting waker as the consumer's (the queue is empty, so it waits).
    fn wait(queue: &Queue) -> Arc<Counter> {
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        assert!(queue.poll_next(&mut Context::from_waker(&waker)).is_pending());
        counter
    }

    #[test]
    fn a_burst_wakes_its_consumer_once_when_the_reader_is_done() {
        let queue = Queue::new(64);
        let woken = wait(&queue);
        let mut wakes = Wakes::default();
        for _ in 0..5 {
            assert_eq!(queue.push(event(), false, &mut wakes), Pushed::Stored);
        }
        assert_eq!(woken.0.load(Ordering::SeqCst), 0, "deferred until the reader has nothing more");
        wakes.wake_all();
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);
        assert_eq!(queue.len(), 5, "nothing was lost");
        // Dropping the collector wakes what it still holds.
        let woken = {
            let queue = Queue::new(64);
            let woken = wait(&queue);
            let mut wakes = Wakes::default();
            queue.push(event(), false, &mut wakes);
            woken
        };
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_queue_filling_up_or_ending_wakes_its_consumer_at_once() {
        // The terminal event of a turn is never deferred.
        let ending = Queue::new(64);
        let woken = wait(&ending);
        let mut wakes = Wakes::default();
        ending.push(event(), false, &mut wakes);
        ending.push(event(), true, &mut wakes);
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);
        assert!(ending.is_ended());
        let queue = Queue::new(4);
        let woken = wait(&queue);
        let mut wakes = Wakes::default();
        queue.push(event(), false, &mut wakes);
        assert_eq!(woken.0.load(Ordering::SeqCst), 0);
        // The second event of four makes the queue half full: no deferring.
        let woken = wait_after_drain(&queue, woken);
        queue.push(event(), false, &mut wakes);
        queue.push(event(), false, &mut wakes);
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);
        assert!(!wakes.is_full());
        // After MAX_DEFERRED deferred events the reader wakes everyone.
        let many = Queue::new(4 * MAX_DEFERRED);
        let _woken = wait(&many);
        let mut wakes = Wakes::default();
        for _ in 0..MAX_DEFERRED {
            many.push(event(), false, &mut wakes);
        }
        assert!(wakes.is_full());
    }

    /// Takes the one buffered event and waits again.
    fn wait_after_drain(queue: &Queue, old: Arc<Counter>) -> Arc<Counter> {
        let waker = Waker::from(old);
        assert!(matches!(queue.poll_next(&mut Context::from_waker(&waker)), Poll::Ready(Some(Ok(_)))));
        wait(queue)
    }
}
