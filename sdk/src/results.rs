//! What finished turns produce ([`TurnResult`], [`UndecodableEvent`], [`OutputMismatch`]):
//! plain data over the generated types, so the error module can carry it without depending
//! on the turn layer.

use crate::types::{MessagePhase, ThreadItem, ThreadTokenUsage, TurnError, TurnStatus};

/// A notification of a turn whose params did not decode into the SDK's types (see
/// [`TurnResult::undecodable`]): kept whole, so nothing the server sent is lost.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UndecodableEvent {
    /// The JSON-RPC method, e.g. `"item/completed"`.
    pub method: String,
    /// The params exactly as received (valid JSON; only the typed decode failed).
    pub params: serde_json::Value,
    /// Why the typed decode failed.
    pub error: String,
}

/// What a finished turn produced.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TurnResult {
    /// Turn id.
    pub id: String,
    /// Final status (`Completed` or `Interrupted`; failures are [`Error::TurnFailed`](crate::Error::TurnFailed)).
    pub status: TurnStatus,
    /// The turn's error, if any.
    pub error: Option<TurnError>,
    /// Unix seconds when the turn started.
    pub started_at: Option<i64>,
    /// Unix seconds when the turn completed.
    pub completed_at: Option<i64>,
    /// Duration in milliseconds.
    pub duration_ms: Option<i64>,
    /// The turn's completed items, in completion order.
    pub items: Vec<ThreadItem>,
    /// Token usage: the last `thread/tokenUsage/updated` of the turn; `None` when none
    /// came, or events were missed after the last one ([`Error::Lagged`](crate::Error::Lagged),
    /// [`Error::Gap`](crate::Error::Gap)): it is unknown then.
    pub usage: Option<ThreadTokenUsage>,
    /// Notifications of the turn whose params did not decode (empty normally; see
    /// [`TurnHandle::run`](crate::TurnHandle::run)).
    pub undecodable: Vec<UndecodableEvent>,
}

impl TurnResult {
    /// The assistant's final answer: the last agent message whose phase is `final_answer`,
    /// else the last one without a phase (an empty text counts). Commentary is never
    /// promoted: if every message is commentary, there is no final response.
    pub fn final_response(&self) -> Option<&str> {
        let messages = || {
            self.items.iter().rev().filter_map(|item| match item {
                ThreadItem::AgentMessage(m) => Some(m),
                _ => None,
            })
        };
        messages()
            .find(|m| m.phase == Some(MessagePhase::FinalAnswer))
            .or_else(|| messages().find(|m| m.phase.is_none()))
            .map(|m| m.text.as_str())
    }

    /// The review a review turn ([`Thread::review`](crate::Thread::review)) produced: the
    /// text of its last `exitedReviewMode` item. `None` for other turns and for a review
    /// that ended before leaving review mode; an interrupted review may carry Codex's
    /// placeholder (the pinned Codex: "Reviewer failed to output a response.").
    pub fn review(&self) -> Option<&str> {
        self.items.iter().rev().find_map(|item| match item {
            ThreadItem::ExitedReviewMode(exited) => Some(exited.review.as_str()),
            _ => None,
        })
    }
}

/// The final answer of a typed turn did not parse as the requested type (carried by
/// [`Error::OutputMismatch`](crate::Error::OutputMismatch)).
#[derive(Debug, thiserror::Error)]
#[error(
    "the final response of turn {} does not fit `{type_name}`: {source}{}",
    turn.id,
    raw.as_deref().map(|r| format!(" (response: {})", snippet(r))).unwrap_or_else(|| " (no final response)".to_owned())
)]
#[non_exhaustive]
pub struct OutputMismatch {
    /// The Rust type that was requested.
    pub type_name: &'static str,
    /// The final response text, or `None` when the turn produced none.
    pub raw: Option<String>,
    /// Why it did not deserialize.
    #[source]
    pub source: serde_json::Error,
    /// The whole turn (items, usage, status).
    pub turn: TurnResult,
}

fn snippet(text: &str) -> String {
    const MAX: usize = 200;
    let mut end = text.len().min(MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if end < text.len() {
        format!("{:?}…", &text[..end])
    } else {
        format!("{text:?}")
    }
}
