//! Server-sent events of the OpenAI Responses API, as Codex consumes them.
//!
//! [`SseEvent`] is one `event: <type>` / `data: <json>` record; the free functions build the
//! events the scripted responses are made of, for use with
//! [`MockResponse::sse`](super::MockResponse::sse) or [`ResponseStream::event`](super::ResponseStream::event).

use serde_json::{json, Value};

use super::response::Usage;

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    repr: Repr,
}

#[derive(Debug, Clone, PartialEq)]
enum Repr {
    Json { kind: String, data: Value },
    Raw(String),
}

impl SseEvent {
    /// An event of type `kind` with JSON `data`. When `data` is an object without a `type`
    /// field, `"type": kind` is added (Codex reads the type from the data).
    pub fn new(kind: impl Into<String>, data: Value) -> Self {
        let kind = kind.into();
        let data = match data {
            Value::Object(mut map) => {
                map.entry("type").or_insert_with(|| Value::String(kind.clone()));
                Value::Object(map)
            }
            other => other,
        };
        Self { repr: Repr::Json { kind, data } }
    }

    /// Text written to the stream verbatim (e.g. a malformed event, or a `: comment\n\n`).
    /// Include the terminating blank line yourself.
    pub fn raw(text: impl Into<String>) -> Self {
        Self { repr: Repr::Raw(text.into()) }
    }

    /// The event type, unless this is a raw event.
    pub fn kind(&self) -> Option<&str> {
        match &self.repr {
            Repr::Json { kind, .. } => Some(kind),
            Repr::Raw(_) => None,
        }
    }

    /// The JSON data, unless this is a raw event.
    pub fn data(&self) -> Option<&Value> {
        match &self.repr {
            Repr::Json { data, .. } => Some(data),
            Repr::Raw(_) => None,
        }
    }

    /// The wire form: `event: <type>\ndata: <json>\n\n` (serialized JSON holds no raw newline).
    pub fn to_wire(&self) -> String {
        match &self.repr {
            Repr::Json { kind, data } => format!("event: {kind}\ndata: {data}\n\n"),
            Repr::Raw(text) => text.clone(),
        }
    }
}

/// `response.created` for response `id`.
pub fn response_created(id: &str) -> SseEvent {
    SseEvent::new("response.created", json!({ "response": { "id": id } }))
}

/// `response.completed` for response `id`, with `usage`.
pub fn response_completed(id: &str, usage: &Usage) -> SseEvent {
    SseEvent::new("response.completed", json!({ "response": { "id": id, "usage": usage.to_json() } }))
}

/// `response.failed` for response `id` with an error `code` (e.g. `"server_error"`) and `message`.
pub fn response_failed(id: &str, code: &str, message: &str) -> SseEvent {
    SseEvent::new("response.failed", json!({ "response": { "id": id, "error": { "code": code, "message": message } } }))
}

/// `response.output_item.added` for `item` at `output_index`.
pub fn output_item_added(output_index: usize, item: Value) -> SseEvent {
    SseEvent::new("response.output_item.added", json!({ "output_index": output_index, "item": item }))
}

/// `response.output_item.done` for `item` at `output_index` (the item Codex records).
pub fn output_item_done(output_index: usize, item: Value) -> SseEvent {
    SseEvent::new("response.output_item.done", json!({ "output_index": output_index, "item": item }))
}

/// `response.output_text.delta`: a chunk of the text of message `item_id`.
pub fn output_text_delta(output_index: usize, item_id: &str, delta: &str) -> SseEvent {
    SseEvent::new(
        "response.output_text.delta",
        json!({ "output_index": output_index, "content_index": 0, "item_id": item_id, "delta": delta }),
    )
}

/// `response.reasoning_summary_part.added` for reasoning item `item_id`.
pub fn reasoning_summary_part_added(output_index: usize, item_id: &str, summary_index: usize) -> SseEvent {
    SseEvent::new(
        "response.reasoning_summary_part.added",
        json!({
            "output_index": output_index,
            "item_id": item_id,
            "summary_index": summary_index,
            "part": { "type": "summary_text", "text": "" },
        }),
    )
}

/// `response.reasoning_summary_text.delta`: a chunk of a reasoning summary.
pub fn reasoning_summary_text_delta(output_index: usize, item_id: &str, summary_index: usize, delta: &str) -> SseEvent {
    SseEvent::new(
        "response.reasoning_summary_text.delta",
        json!({
            "output_index": output_index,
            "item_id": item_id,
            "summary_index": summary_index,
            "delta": delta,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format() {
        let event = SseEvent::new("response.created", json!({ "response": { "id": "r1" } }));
        let wire = event.to_wire();
        let data = wire
            .strip_prefix("event: response.created\ndata: ")
            .and_then(|rest| rest.strip_suffix("\n\n"))
            .unwrap_or_else(|| panic!("bad framing: {wire:?}"));
        let data: Value = serde_json::from_str(data).unwrap();
        assert_eq!(data, json!({ "type": "response.created", "response": { "id": "r1" } }));
        assert_eq!(event.kind(), Some("response.created"));
    }

    #[test]
    fn newlines_stay_escaped_and_explicit_type_wins() {
        let event = SseEvent::new("x", json!({ "type": "y", "delta": "a\nb" }));
        let wire = event.to_wire();
        assert_eq!(wire.matches('\n').count(), 3, "{wire:?}");
        assert!(wire.contains("\"type\":\"y\""));
        assert_eq!(SseEvent::raw(": ping\n\n").to_wire(), ": ping\n\n");
    }

    #[test]
    fn usage_json() {
        let usage = Usage { cached_input_tokens: 2, reasoning_output_tokens: 1, ..Usage::new(10, 5) };
        assert_eq!(
            usage.to_json(),
            json!({
                "input_tokens": 10,
                "input_tokens_details": { "cached_tokens": 2 },
                "output_tokens": 5,
                "output_tokens_details": { "reasoning_tokens": 1 },
                "total_tokens": 15,
            })
        );
        let completed = response_completed("r", &usage);
        assert_eq!(completed.data().unwrap()["response"]["usage"]["total_tokens"], 15);
    }
}
