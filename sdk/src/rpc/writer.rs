//! The writer task every transport shares: sends queued messages in batches, flushing once
//! per batch, and closes the transport's sink on shutdown.

use std::sync::Weak;
use std::time::Duration;

use futures::SinkExt;
use tokio::sync::mpsc;

use super::state::Shared;
use super::transport::OutboundSink;
use crate::endpoint::CloseReason;

/// How long closing the sink may take (a WebSocket close frame to a peer that stopped
/// reading must not hold the task forever).
const SINK_CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// A message for the writer task.
pub(crate) enum Outgoing {
    /// One encoded JSON-RPC message (no framing).
    Message(String),
    /// Flush, close the sink and stop; then tell the sender, if it waits.
    Shutdown(Option<tokio::sync::oneshot::Sender<()>>),
}

/// Writes queued messages until shut down, the channel closes, or a send fails.
pub(crate) async fn writer_task(mut sink: OutboundSink, mut rx: mpsc::Receiver<Outgoing>, shared: Weak<Shared>) {
    let mut failed = None;
    let mut done = None;
    'outer: while let Some(msg) = rx.recv().await {
        let mut next = Some(msg);
        // Send everything already queued, then flush once.
        while let Some(msg) = next.take() {
            match msg {
                Outgoing::Message(text) => {
                    if let Err(e) = sink.feed(text).await {
                        failed = Some(e);
                        break 'outer;
                    }
                }
                Outgoing::Shutdown(ack) => {
                    done = ack;
                    break 'outer;
                }
            }
            next = rx.try_recv().ok();
        }
        if let Err(e) = sink.flush().await {
            failed = Some(e);
            break;
        }
    }
    let _ = tokio::time::timeout(SINK_CLOSE_TIMEOUT, sink.close()).await;
    drop(sink);
    if let Some(done) = done {
        let _ = done.send(());
    }
    if let Some(e) = failed {
        tracing::debug!(error = %e, "writing to the codex app-server failed");
        if let Some(shared) = shared.upgrade() {
            shared.close_from_transport(CloseReason::io(&e)).await;
        }
    }
}
