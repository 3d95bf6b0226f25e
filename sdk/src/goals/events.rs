//! [`GoalEvents`]: a goal's turns as one stream of notifications.

use super::*;

pub(super) type Step = (Box<Follower>, Option<Result<ServerNotification>>);

pub(super) enum State {
    Ready(Box<Follower>),
    Busy(BoxFuture<'static, Step>),
    Gone,
}

/// The typed event stream of a goal (see [`GoalHandle::stream`]). Yields
/// [`Error::Lagged`] where events were dropped (the follower then re-reads the goal and the
/// thread, so no turn is lost) and ends once the goal settles.
pub struct GoalEvents {
    pub(super) control: GoalControl,
    pub(super) state: State,
}

impl std::fmt::Debug for GoalEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoalEvents").field("thread_id", &self.control.thread_id).finish_non_exhaustive()
    }
}

impl GoalEvents {
    /// A handle to pause or interrupt the goal.
    pub fn control(&self) -> GoalControl {
        self.control.clone()
    }

    /// The next event, without needing `futures::StreamExt` in scope.
    pub async fn next_event(&mut self) -> Option<Result<ServerNotification>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Drains the rest of the stream and returns the collected result (lag is recovered
    /// from; other errors are returned).
    pub async fn result(self) -> Result<GoalResult> {
        let mut follower = match self.state {
            State::Ready(f) => f,
            State::Busy(step) => {
                let (mut f, item) = step.await;
                match item {
                    Some(Err(e)) if e.is_missed_events() => f,
                    Some(Ok(_)) | None => f,
                    Some(Err(e)) => {
                        // An error ends the follow, not the goal: no interrupt on drop.
                        f.finished = true;
                        return Err(e);
                    }
                }
            }
            State::Gone => return Err(Error::StreamEnded { what: "the goal stream was polled after a panic".into() }),
        };
        loop {
            match follower.next().await {
                None => break,
                Some(Ok(_)) => {}
                Some(Err(e)) if e.is_missed_events() => {}
                Some(Err(e)) => {
                    follower.finished = true;
                    return Err(e);
                }
            }
        }
        Ok(follower.result())
    }
}

impl Stream for GoalEvents {
    type Item = Result<ServerNotification>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match std::mem::replace(&mut self.state, State::Gone) {
                State::Ready(mut follower) => {
                    self.state = State::Busy(Box::pin(async move {
                        let item = follower.next().await;
                        (follower, item)
                    }));
                }
                State::Busy(mut step) => match step.as_mut().poll(cx) {
                    Poll::Ready((follower, item)) => {
                        self.state = State::Ready(follower);
                        return Poll::Ready(item);
                    }
                    Poll::Pending => {
                        self.state = State::Busy(step);
                        return Poll::Pending;
                    }
                },
                State::Gone => return Poll::Ready(None),
            }
        }
    }
}
