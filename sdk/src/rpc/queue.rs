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

use super::message::Event;
use super::state::CloseInfo;
use crate::error::{Error, Result};

enum Slot {
    Event(Event),
    Lagged(u64),
}

enum End {
    /// The stream finished normally (a turn completed).
    Completed,
    /// The connection closed; the error is reported once.
    Closed { info: Arc<CloseInfo>, reported: bool },
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

    /// Appends `event`; with `terminal` the event is always stored and ends the queue.
    pub(crate) fn push(&self, event: Event, terminal: bool) -> Pushed {
        let (outcome, waker) = {
            let mut inner = self.lock();
            if inner.end.is_some() {
                return Pushed::Ended;
            }
            if inner.events >= inner.capacity && !terminal {
                match inner.items.back_mut() {
                    Some(Slot::Lagged(n)) => *n += 1,
                    _ => inner.items.push_back(Slot::Lagged(1)),
                }
                (Pushed::Lagged, inner.waker.take())
            } else {
                inner.items.push_back(Slot::Event(event));
                inner.events += 1;
                if terminal {
                    inner.end = Some(End::Completed);
                }
                (Pushed::Stored, inner.waker.take())
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
        outcome
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
            }));
        }
        match &mut inner.end {
            Some(End::Completed) => Poll::Ready(None),
            Some(End::Closed { reported: true, .. }) => Poll::Ready(None),
            Some(End::Closed { info, reported }) => {
                *reported = true;
                Poll::Ready(Some(Err(info.to_error())))
            }
            None => {
                inner.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
