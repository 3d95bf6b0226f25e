//! The single reader task: takes each message from the transport, classifies it and hands
//! it on — responses to their waiter, notifications to the router, server requests to a
//! handler task. It never awaits anything but the next message, so no consumer can stall it.
//!
//! Consumers of notifications are woken once the transport has nothing more ready (or every
//! [`MAX_DEFERRED`](super::queue::MAX_DEFERRED) events): a burst that arrives in one read
//! wakes each stream once, not once per event.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::StreamExt;

use super::message::{Incoming, Unreadable};
use super::queue::Wakes;
use super::server_requests::spawn_server_request;
use super::state::Shared;
use super::transport::{Inbound, InboundStream};
use super::wire::RequestId;
use crate::endpoint::CloseReason;
use crate::Error;

/// Reads link `generation` to its end, then hands its close reason on: to the reconnect
/// attempt still setting this link up (`handover`), else to
/// [`link_ended`](super::link::link_ended), which closes the connection or reconnects.
pub(crate) async fn reader_task(
    shared: Arc<Shared>,
    inbound: InboundStream,
    generation: u64,
    handover: Option<super::link::HandoverCell>,
) {
    let reason = read_link(&shared, inbound, generation).await;
    super::link::reader_ended(&shared, generation, handover, reason).await;
}

/// Routes everything the link brings until it ends; returns why it ended.
async fn read_link(shared: &Arc<Shared>, mut inbound: InboundStream, generation: u64) -> CloseReason {
    let shared = shared.clone();
    let mut wakes = Wakes::default();
    let reason = loop {
        if wakes.is_full() {
            wakes.wake_all();
        }
        let next = std::future::poll_fn(|cx| {
            let next = inbound.poll_next_unpin(cx);
            if next.is_pending() {
                // Nothing more is ready: the consumers of what was handed out run now.
                wakes.wake_all();
            }
            next
        })
        .await;
        match next {
            Some(Inbound::Message(message)) => handle_line(&shared, message, generation, &mut wakes),
            Some(Inbound::TooLarge { size, prefix }) => handle_too_large(&shared, size, &prefix),
            Some(Inbound::NotAMessage(what)) => {
                invalid(&shared);
                tracing::error!(what = %what, "skipping something from the codex app-server that is not a message");
            }
            Some(Inbound::Closed(reason)) => break reason,
            None => break CloseReason::EndOfStream,
        }
    };
    wakes.wake_all();
    if let CloseReason::Io { message, .. } | CloseReason::Protocol { message } = &reason {
        tracing::warn!(error = %message, "reading from the codex app-server failed");
    }
    reason
}

fn invalid(shared: &Shared) {
    shared.counters.invalid_messages.fetch_add(1, Ordering::Relaxed);
}

/// Classifies one message of link `generation` and hands it on; the consumers of a
/// notification go to `wakes`. A server request is answered on that link only.
pub(crate) fn handle_line(shared: &Arc<Shared>, line: Vec<u8>, generation: u64, wakes: &mut Wakes) {
    let message = match Incoming::parse(line) {
        Ok(m) => m,
        Err(Unreadable { why, line }) => {
            invalid(shared);
            let shown = String::from_utf8_lossy(&line[..line.len().min(200)]).into_owned();
            tracing::error!(error = %why, line = %shown, "skipping a malformed message from the codex app-server");
            return;
        }
    };
    match message {
        Incoming::Response { id, result } => {
            let entry = match id {
                RequestId::Int(i) => shared.lock().pending.remove(i),
                RequestId::Str(_) => None,
            };
            match entry {
                Some(entry) => {
                    let _ = entry.tx.send(result.map_err(Error::Rpc));
                }
                None => {
                    shared.counters.unmatched_responses.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%id, "dropping a response with an unknown, timed-out or duplicate id");
                }
            }
        }
        Incoming::Notification(notification) => {
            // What the turn book's waiters wait for: a turn's end, its opener, a thread's close.
            let wakes_waiters = super::turns::WAKING_METHODS.contains(&notification.method());
            if notification.method() == crate::method_names::SERVER_REQUEST_RESOLVED {
                super::server_requests::resolved_elsewhere(shared, &notification);
            }
            let event = Arc::new(notification);
            let let_go = {
                let mut state = shared.lock();
                state.router.dispatch(event.clone(), wakes);
                let seen_at = state.router.counters.notifications;
                state.turns.observe(&event, seen_at)
            };
            if wakes_waiters {
                shared.turns_changed.notify_waiters();
            }
            if let Some(thread_id) = let_go {
                super::subscriptions::unsubscribe(shared, thread_id);
            }
        }
        Incoming::Request { id, method, params } => {
            shared.counters.server_requests.fetch_add(1, Ordering::Relaxed);
            spawn_server_request(shared.clone(), id, method, params, generation);
        }
        Incoming::EmptyResponse { id } => {
            // A reply with neither `result` nor `error`: its request fails with a decode error
            // naming its method, not `Ok(null)`.
            invalid(shared);
            let entry = match id {
                RequestId::Int(i) => shared.lock().pending.remove(i),
                RequestId::Str(_) => None,
            };
            tracing::error!(%id, "the codex app-server answered with neither `result` nor `error`");
            if let Some(entry) = entry {
                let source =
                    serde::de::Error::custom("the response has neither `result` nor `error` (a protocol violation)");
                let _ = entry.tx.send(Err(Error::Decode { method: entry.method, source }));
            }
        }
        Incoming::OrphanError(error) => {
            invalid(shared);
            tracing::error!(%error, "the codex app-server reported an error without a request id");
        }
    }
}

/// Best-effort: the id of a response whose line starts like `{"id":N,"result"…` or
/// `{"id":N,"error"…`.
fn sniff_response_id(prefix: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(prefix).ok().or_else(|| {
        // The prefix may end in the middle of a UTF-8 sequence.
        let valid = std::str::from_utf8(prefix).err()?.valid_up_to();
        std::str::from_utf8(&prefix[..valid]).ok()
    })?;
    let rest = text.trim_start().strip_prefix('{')?.trim_start().strip_prefix("\"id\"")?;
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let digits_end = rest
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || (*i == 0 && *c == '-')))
        .map_or(rest.len(), |(i, _)| i);
    let id = rest[..digits_end].parse().ok()?;
    let after = rest[digits_end..].trim_start().strip_prefix(',')?.trim_start();
    (after.starts_with("\"result\"") || after.starts_with("\"error\"")).then_some(id)
}

fn handle_too_large(shared: &Arc<Shared>, size: u64, prefix: &[u8]) {
    invalid(shared);
    let limit = shared.max_message_size;
    let entry = sniff_response_id(prefix).and_then(|id| shared.lock().pending.remove(id));
    tracing::error!(
        size,
        limit,
        answered = entry.as_ref().map(|e| e.method.as_str()),
        "discarding a message from the codex app-server that exceeds the size limit"
    );
    if let Some(entry) = entry {
        let method = Some(entry.method.clone());
        let _ = entry.tx.send(Err(Error::MessageTooLarge { method, size, limit }));
    }
}

#[cfg(test)]
mod tests {
    use super::sniff_response_id;

    #[test]
    fn sniffs_ids() {
        assert_eq!(sniff_response_id(br#"{"id":12,"result":{"x"#), Some(12));
        assert_eq!(sniff_response_id(br#"{ "id" : 3 , "error":{"#), Some(3));
        assert_eq!(sniff_response_id(br#"{"id":3,"method":"x"#), None);
        assert_eq!(sniff_response_id(br#"{"method":"x","id":3"#), None);
        assert_eq!(sniff_response_id(b"{\"id\":4,\"result\":\"\xe2\x82"), Some(4));
    }
}
