//! The writer task every transport shares: sends queued messages in batches, flushing once
//! per batch, and closes the transport's sink on shutdown.
//!
//! Shutdown does not travel through the (bounded) message queue: a server that stops
//! reading fills the socket and then the queue, and the shutdown must still get through.
//! Every send and flush races the shutdown signal; on shutdown the writer gives what is
//! already queued a bounded moment to go out, closes the sink (a WebSocket close frame,
//! or end of input), and ends.

use std::sync::Weak;
use std::time::Duration;

use futures_util::SinkExt;
use tokio::sync::{mpsc, watch};

use super::state::Shared;
use super::transport::OutboundSink;
use crate::endpoint::CloseReason;

/// How long flushing what is queued and closing the sink may take on shutdown (a peer that
/// stopped reading must not hold the task forever).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// A message for the writer task.
pub(crate) enum Outgoing {
    /// One encoded JSON-RPC message (no framing).
    Message(String),
}

/// Why the writer loop stopped.
enum Stop {
    /// Shutdown was requested (or the connection is gone).
    Shutdown,
    /// A send or flush failed.
    Failed(std::io::Error),
}

/// Writes queued messages until shut down, the queue closes, or a send fails; then marks
/// itself done in `done`.
pub(crate) async fn writer_task(
    mut sink: OutboundSink,
    mut rx: mpsc::Receiver<Outgoing>,
    mut shutdown: watch::Receiver<bool>,
    done: watch::Sender<bool>,
    shared: Weak<Shared>,
) {
    let stop = 'outer: loop {
        let first = tokio::select! {
            biased;
            _ = shutdown.wait_for(|s| *s) => break Stop::Shutdown,
            msg = rx.recv() => match msg {
                Some(msg) => msg,
                None => break Stop::Shutdown,
            },
        };
        // Send everything already queued, then flush once; each step gives way to shutdown.
        let mut next = Some(first);
        while let Some(Outgoing::Message(text)) = next.take() {
            tokio::select! {
                biased;
                _ = shutdown.wait_for(|s| *s) => break 'outer Stop::Shutdown,
                sent = sink.feed(text) => if let Err(e) = sent { break 'outer Stop::Failed(e) },
            }
            next = rx.try_recv().ok();
        }
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|s| *s) => break Stop::Shutdown,
            flushed = sink.flush() => if let Err(e) = flushed { break Stop::Failed(e) },
        }
    };
    if let Stop::Shutdown = stop {
        // Last words, bounded: what is queued, then the sink's own close.
        let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, async {
            while let Ok(Outgoing::Message(text)) = rx.try_recv() {
                if sink.feed(text).await.is_err() {
                    return;
                }
            }
            let _ = sink.close().await;
        })
        .await;
    }
    drop(sink);
    done.send_replace(true);
    if let Stop::Failed(e) = stop {
        tracing::debug!(error = %e, "writing to the codex app-server failed");
        if let Some(shared) = shared.upgrade() {
            shared.close_from_transport(CloseReason::io(&e)).await;
        }
    }
}
