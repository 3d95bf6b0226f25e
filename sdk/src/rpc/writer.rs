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

/// How long writing what is queued may take on shutdown (a peer that stopped reading must
/// not hold the task forever).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the sink's own close may take on shutdown: a WebSocket's close handshake, a
/// spawned process's grace to exit and then its kill — bounded, whatever the transport.
const SINK_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A message for the writer task.
pub(crate) enum Outgoing {
    /// One encoded JSON-RPC message (no framing): a notification.
    Message(String),
    /// One encoded request with its id: on a reconnecting connection the writer marks it
    /// written before handing it to the link (see [`super::link`]).
    Request(i64, String),
    /// One encoded reply to a server request that came on link `generation`: on a
    /// reconnecting connection it goes only to that link (the server asks again on a new
    /// link, and a restarted server's ids mean other requests).
    Reply(u64, String),
}

impl Outgoing {
    fn text(self) -> String {
        match self {
            Outgoing::Message(text) | Outgoing::Request(_, text) | Outgoing::Reply(_, text) => text,
        }
    }
}

/// What a reconnecting connection tells its writer (see [`super::link`]).
pub(crate) enum LinkChange {
    /// A new link (generation, sink) is ready: write the queued messages to it.
    Up(u64, OutboundSink),
    /// The link of this generation dropped: stop writing to it and hold the queue.
    Down(u64),
}

/// Why the writer loop stopped.
enum Stop {
    /// Shutdown was requested (or the connection is gone).
    Shutdown,
    /// A send or flush failed.
    Failed(std::io::Error),
}

/// The next change of link, or never without a link channel.
async fn next_change(links: &mut Option<mpsc::UnboundedReceiver<LinkChange>>) -> Option<LinkChange> {
    match links {
        Some(links) => links.recv().await,
        None => std::future::pending().await,
    }
}

/// Writes queued messages until shut down, the queue closes, or a send fails; then marks
/// itself done in `done`. With `links` (a reconnecting connection) the sink is replaced as
/// links come and go: while there is none the queue is held, and a failed write reports the
/// link lost instead of ending the writer.
pub(crate) async fn writer_task(
    sink: OutboundSink,
    mut rx: mpsc::Receiver<Outgoing>,
    mut shutdown: watch::Receiver<bool>,
    done: watch::Sender<bool>,
    shared: Weak<Shared>,
    mut links: Option<mpsc::UnboundedReceiver<LinkChange>>,
) {
    let marks = links.is_some();
    let mut link: Option<(u64, OutboundSink)> = Some((0, sink));
    // A message taken from the queue for a link that had dropped: the next link's first.
    let mut carried: Option<Outgoing> = None;
    let stop = loop {
        let Some((generation, sink)) = link.as_mut() else {
            // No link: hold the queue until a new one is up.
            tokio::select! {
                biased;
                _ = shutdown.wait_for(|s| *s) => break Stop::Shutdown,
                change = next_change(&mut links) => match change {
                    Some(change) => apply(&mut link, change),
                    None => break Stop::Shutdown,
                },
            }
            continue;
        };
        let generation = *generation;
        let first = match carried.take() {
            Some(message) => message,
            None => tokio::select! {
                biased;
                _ = shutdown.wait_for(|s| *s) => break Stop::Shutdown,
                change = next_change(&mut links) => match change {
                    Some(change) => {
                        apply(&mut link, change);
                        continue;
                    }
                    None => break Stop::Shutdown,
                },
                msg = rx.recv() => match msg {
                    Some(msg) => msg,
                    None => break Stop::Shutdown,
                },
            },
        };
        // Send everything already queued, then flush once; each step gives way to shutdown
        // and to the link dropping.
        let written = async {
            let mut next = Some(first);
            while let Some(message) = next.take() {
                match if marks { claim(&shared, generation, &message) } else { Claim::Write } {
                    Claim::Write => sink.feed(message.text()).await.map_err(Unwritten::Failed)?,
                    Claim::Hold => return Err(Unwritten::Held(message)),
                    Claim::Stale => tracing::debug!("dropping a reply to a server request of a link that dropped"),
                }
                next = rx.try_recv().ok();
            }
            sink.flush().await.map_err(Unwritten::Failed)
        };
        let step = tokio::select! {
            biased;
            _ = shutdown.wait_for(|s| *s) => break Stop::Shutdown,
            change = next_change(&mut links) => Err(change),
            written = written => Ok(written),
        };
        let failed = match step {
            Err(Some(change)) => {
                apply(&mut link, change);
                continue;
            }
            Err(None) => break Stop::Shutdown,
            Ok(Ok(())) => continue,
            Ok(Err(Unwritten::Held(message))) => {
                // The link dropped before this message was written: it goes out first on
                // the next one.
                carried = Some(message);
                link = None;
                continue;
            }
            Ok(Err(Unwritten::Failed(e))) => e,
        };
        if !marks {
            break Stop::Failed(failed);
        }
        // A reconnecting connection loses this link only: the queue waits for the next.
        link = None;
        if let Some(shared) = shared.upgrade() {
            super::link::link_dropped(&shared, generation, CloseReason::io(&failed));
        }
    };
    if let (Stop::Shutdown, Some((_, sink))) = (&stop, link.as_mut()) {
        // Last words, bounded: what is queued, then the sink's own close — tried whatever
        // became of the last words (a spawned process's close gives it its grace, then
        // kills it; a WebSocket's sends a close frame).
        let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, async {
            if let Some(message) = carried.take() {
                sink.feed(message.text()).await?;
            }
            while let Ok(message) = rx.try_recv() {
                sink.feed(message.text()).await?;
            }
            Ok::<_, std::io::Error>(())
        })
        .await;
        let _ = tokio::time::timeout(SINK_CLOSE_TIMEOUT, sink.close()).await;
    }
    if let Stop::Failed(e) = stop {
        tracing::debug!(error = %e, "writing to the codex app-server failed");
        // Nothing more is queued: a sender learns at once that the writer ended.
        rx.close();
        // The sink is kept meanwhile: dropping a spawned process's would kill it before
        // its stream could say how it ended.
        if let Some(shared) = shared.upgrade() {
            shared.close_after_write_failure(&e).await;
        }
    }
    drop(link);
    done.send_replace(true);
}

/// Why a batch was not written whole.
enum Unwritten {
    /// The link had already dropped (a reconnecting connection): this message was not
    /// written.
    Held(Outgoing),
    /// Writing failed.
    Failed(std::io::Error),
}

/// Whether `message` may go out on link `generation` (still the current one), marking a
/// request written, in one step under the state lock: a link that drops meanwhile either
/// finds the request marked (its outcome is unknown) or the message is held for the next
/// link — never written and left waiting. A reply to a request of another link is stale.
fn claim(shared: &Weak<Shared>, generation: u64, message: &Outgoing) -> Claim {
    if let Outgoing::Reply(asked_on, _) = message {
        if *asked_on != generation {
            return Claim::Stale;
        }
    }
    let Some(shared) = shared.upgrade() else { return Claim::Write };
    let mut state = shared.lock();
    if !shared.link.as_ref().is_some_and(|link| link.is_current(generation)) {
        return Claim::Hold;
    }
    if let Outgoing::Request(id, _) = message {
        state.pending.mark_written(*id);
    }
    Claim::Write
}

/// What [`claim`] says of a message.
enum Claim {
    /// Write it to the link.
    Write,
    /// The link dropped: keep it for the next one.
    Hold,
    /// A reply to a request of an earlier link: drop it.
    Stale,
}

/// Applies a change of link: a new link replaces any; a drop ends the link it names.
fn apply(link: &mut Option<(u64, OutboundSink)>, change: LinkChange) {
    match change {
        LinkChange::Up(generation, sink) => *link = Some((generation, sink)),
        LinkChange::Down(generation) if link.as_ref().is_some_and(|(current, _)| *current == generation) => {
            *link = None;
        }
        LinkChange::Down(_) => {}
    }
}
