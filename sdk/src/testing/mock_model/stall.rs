//! Pause points in a scripted stream and the handle that releases them.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// Shared state of a pause point.
#[derive(Debug)]
pub(super) struct StallState {
    reached: watch::Sender<bool>,
    released: watch::Sender<bool>,
}

impl Default for StallState {
    fn default() -> Self {
        Self { reached: watch::Sender::new(false), released: watch::Sender::new(false) }
    }
}

impl StallState {
    /// Marks the pause as reached, then waits until released.
    pub(super) async fn wait(&self) {
        self.reached.send_replace(true);
        let mut released = self.released.subscribe();
        // The sender lives in `self`, so this only returns once released.
        let _ = released.wait_for(|released| *released).await;
    }
}

/// Controls a pause point created by [`ResponseStream::pause`](super::ResponseStream::pause) or
/// [`ResponseStream::stall`](super::ResponseStream::stall).
/// Dropping the handle does *not* release the stream.
#[derive(Debug, Clone)]
pub struct StallHandle {
    pub(super) state: Arc<StallState>,
}

impl StallHandle {
    /// Lets the stream go on past the pause point (also if it has not reached it yet).
    pub fn release(&self) {
        self.state.released.send_replace(true);
    }

    /// Whether the stream has reached the pause point.
    pub fn is_reached(&self) -> bool {
        *self.state.reached.borrow()
    }

    /// Waits until the stream reaches the pause point, i.e. the events before it were written.
    /// Returns `false` on timeout.
    pub async fn wait_reached(&self, timeout: Duration) -> bool {
        let mut reached = self.state.reached.subscribe();
        tokio::time::timeout(timeout, reached.wait_for(|reached| *reached)).await.is_ok_and(|result| result.is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reached_then_released() {
        let state = Arc::new(StallState::default());
        let handle = StallHandle { state: state.clone() };
        assert!(!handle.is_reached());
        let waiter = tokio::spawn(async move { state.wait().await });
        assert!(handle.wait_reached(Duration::from_secs(5)).await);
        assert!(!waiter.is_finished());
        handle.release();
        tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn released_before_reached_does_not_block() {
        let state = Arc::new(StallState::default());
        StallHandle { state: state.clone() }.release();
        tokio::time::timeout(Duration::from_secs(5), state.wait()).await.unwrap();
    }
}
