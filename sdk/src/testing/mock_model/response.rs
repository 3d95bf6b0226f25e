//! Scripted responses: what the mock model answers to one `POST /v1/responses`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::items::{AssistantMessage, ExecCommand};
use super::sse::{self, SseEvent};
use super::stall::{StallHandle, StallState};

/// One scripted answer, consumed by one request. Build a streamed answer with
/// [`MockResponse::stream`] (or a shortcut such as [`MockResponse::text`]), or a plain HTTP
/// error with [`MockResponse::http_error`].
#[derive(Debug)]
pub struct MockResponse {
    pub(super) kind: ResponseKind,
}

#[derive(Debug)]
pub(super) enum ResponseKind {
    /// A non-streamed reply with a `Content-Length` body.
    Http { status: u16, content_type: &'static str, body: String },
    /// `200 text/event-stream`, the steps in order, then the connection is closed.
    Stream(Vec<Step>),
}

#[derive(Debug)]
pub(super) enum Step {
    Event(SseEvent),
    Delay(Duration),
    Pause(Arc<StallState>),
}

impl MockResponse {
    /// A streamed response builder; see [`ResponseStream`].
    pub fn stream() -> ResponseStream {
        ResponseStream::new()
    }

    /// An assistant message with `text` (one delta), then `response.completed`.
    pub fn text(text: impl Into<String>) -> Self {
        ResponseStream::new().text(text).completed()
    }

    /// An `exec_command` function call, then `response.completed`. Codex runs the command (or
    /// asks for approval) and sends a second request with the `function_call_output`: script
    /// the answer to it too.
    pub fn exec_command(call: ExecCommand) -> Self {
        ResponseStream::new().exec_command(call).completed()
    }

    /// An `apply_patch` custom tool call with `patch` (`*** Begin Patch` … `*** End Patch`), then
    /// `response.completed`. Codex offers `apply_patch` only to bundled models: start the
    /// thread with e.g. `model: "gpt-5.5"` or use [`CodexHomeBuilder::model`](crate::testing::CodexHomeBuilder::model).
    pub fn apply_patch(call_id: impl Into<String>, patch: impl Into<String>) -> Self {
        ResponseStream::new().apply_patch(call_id, patch).completed()
    }

    /// A non-streamed HTTP error (e.g. 500, 401, 429) with `body`, sent as `application/json`
    /// when it parses as JSON, else as `text/plain`.
    pub fn http_error(status: u16, body: impl Into<String>) -> Self {
        let body = body.into();
        let content_type =
            if serde_json::from_str::<Value>(&body).is_ok() { "application/json" } else { "text/plain; charset=utf-8" };
        Self { kind: ResponseKind::Http { status, content_type, body } }
    }

    /// A stream that ends with `response.failed` (`code` `"server_error"`, `message`).
    pub fn failed(message: impl Into<String>) -> Self {
        ResponseStream::new().failed("server_error", message)
    }

    /// A stream closed after `response.created`, before `response.completed`.
    pub fn cut() -> Self {
        ResponseStream::new().cut()
    }

    /// A stream that stalls after `response.created` until the handle is released; see
    /// [`ResponseStream::stall`].
    pub fn stall() -> (Self, StallHandle) {
        ResponseStream::new().stall()
    }

    /// A stream of exactly `events` (no `response.created`/`response.completed` added), closed
    /// after the last one.
    pub fn sse(events: impl IntoIterator<Item = SseEvent>) -> Self {
        Self { kind: ResponseKind::Stream(events.into_iter().map(Step::Event).collect()) }
    }
}

/// Builder of a streamed response: `response.created`, then the output items and control steps
/// in call order, then an ending ([`completed`](Self::completed), [`failed`](Self::failed),
/// [`cut`](Self::cut) or [`stall`](Self::stall)).
#[derive(Debug)]
pub struct ResponseStream {
    id: String,
    steps: Vec<Step>,
    output_index: usize,
    usage: Usage,
}

static NEXT_RESPONSE: AtomicU64 = AtomicU64::new(1);

impl Default for ResponseStream {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseStream {
    /// A stream starting with `response.created`; response ids are unique per process.
    pub fn new() -> Self {
        let id = format!("resp_mock_{}", NEXT_RESPONSE.fetch_add(1, Ordering::Relaxed));
        let steps = vec![Step::Event(sse::response_created(&id))];
        Self { id, steps, output_index: 0, usage: Usage::default() }
    }

    /// The response id used in `response.created`/`completed`.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn next_item_id(&mut self, prefix: &str) -> (usize, String) {
        let index = self.output_index;
        self.output_index += 1;
        (index, format!("{prefix}_{}_{index}", self.id.trim_start_matches("resp_")))
    }

    fn push(&mut self, event: SseEvent) {
        self.steps.push(Step::Event(event));
    }

    /// An assistant message with `text`, streamed as one delta.
    pub fn text(self, text: impl Into<String>) -> Self {
        self.message(AssistantMessage::new(text))
    }

    /// An assistant message: `output_item.added`, its text deltas, `output_item.done`.
    pub fn message(mut self, message: AssistantMessage) -> Self {
        let (index, generated_id) = self.next_item_id("msg");
        let id = message.id.unwrap_or(generated_id);
        let text: String = message.chunks.concat();
        let mut item = json!({
            "type": "message",
            "role": "assistant",
            "id": id,
            "content": [{ "type": "output_text", "text": text, "annotations": [] }],
        });
        if let Some(phase) = &message.phase {
            item["phase"] = Value::from(phase.as_str());
        }
        if !message.chunks.is_empty() {
            let mut added = item.clone();
            added["content"] = json!([]);
            self.push(sse::output_item_added(index, added));
            for chunk in &message.chunks {
                self.push(sse::output_text_delta(index, &id, chunk));
            }
        }
        self.push(sse::output_item_done(index, item));
        self
    }

    /// A reasoning item whose summary is `summary` (streamed as one summary delta).
    pub fn reasoning(mut self, summary: impl Into<String>) -> Self {
        let summary = summary.into();
        let (index, id) = self.next_item_id("rs");
        self.push(sse::output_item_added(index, json!({ "type": "reasoning", "id": id, "summary": [] })));
        self.push(sse::reasoning_summary_part_added(index, &id, 0));
        self.push(sse::reasoning_summary_text_delta(index, &id, 0, &summary));
        self.push(sse::output_item_done(
            index,
            json!({
                "type": "reasoning",
                "id": id,
                "summary": [{ "type": "summary_text", "text": summary }],
            }),
        ));
        self
    }

    /// A `function_call` item calling tool `name` with `arguments` (a JSON text).
    pub fn function_call(
        mut self,
        call_id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        let (index, id) = self.next_item_id("fc");
        self.push(sse::output_item_done(
            index,
            json!({
                "type": "function_call",
                "id": id,
                "call_id": call_id.into(),
                "name": name.into(),
                "arguments": arguments.into(),
            }),
        ));
        self
    }

    /// An `exec_command` function call.
    pub fn exec_command(self, call: ExecCommand) -> Self {
        let arguments = call.arguments().to_string();
        self.function_call(call.call_id, "exec_command", arguments)
    }

    /// A `custom_tool_call` item calling freeform tool `name` with `input`.
    pub fn custom_tool_call(
        mut self,
        call_id: impl Into<String>,
        name: impl Into<String>,
        input: impl Into<String>,
    ) -> Self {
        let (index, id) = self.next_item_id("ctc");
        self.push(sse::output_item_done(
            index,
            json!({
                "type": "custom_tool_call",
                "id": id,
                "call_id": call_id.into(),
                "name": name.into(),
                "input": input.into(),
            }),
        ));
        self
    }

    /// An `apply_patch` custom tool call; see [`MockResponse::apply_patch`].
    pub fn apply_patch(self, call_id: impl Into<String>, patch: impl Into<String>) -> Self {
        self.custom_tool_call(call_id, "apply_patch", patch)
    }

    /// Any event, written as is.
    pub fn event(mut self, event: SseEvent) -> Self {
        self.push(event);
        self
    }

    /// Waits `delay` before the next step.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.steps.push(Step::Delay(delay));
        self
    }

    /// Stops streaming here until the returned handle is [released](StallHandle::release),
    /// then goes on with the next steps. The connection is closed early if the client hangs
    /// up (e.g. on `turn/interrupt`) or the [`MockModel`](super::MockModel) is dropped.
    pub fn pause(mut self) -> (Self, StallHandle) {
        let state = Arc::new(StallState::default());
        self.steps.push(Step::Pause(state.clone()));
        (self, StallHandle { state })
    }

    /// The usage reported by [`completed`](Self::completed) (default: all zero).
    pub fn usage(mut self, usage: Usage) -> Self {
        self.usage = usage;
        self
    }

    /// Ends with `response.completed`.
    pub fn completed(mut self) -> MockResponse {
        let completed = sse::response_completed(&self.id, &self.usage);
        self.push(completed);
        self.finish()
    }

    /// Ends with `response.failed` carrying `code` and `message`.
    pub fn failed(mut self, code: &str, message: impl Into<String>) -> MockResponse {
        let failed = sse::response_failed(&self.id, code, &message.into());
        self.push(failed);
        self.finish()
    }

    /// Ends by closing the connection without `response.completed` (a dropped stream).
    pub fn cut(self) -> MockResponse {
        self.finish()
    }

    /// Stalls after the steps so far; once released, ends with `response.completed`.
    /// Until then the request stays open (Codex keeps waiting), which makes room for
    /// `turn/interrupt` or `turn/steer`.
    pub fn stall(self) -> (MockResponse, StallHandle) {
        let (stream, handle) = self.pause();
        (stream.completed(), handle)
    }

    fn finish(self) -> MockResponse {
        MockResponse { kind: ResponseKind::Stream(self.steps) }
    }
}

/// Token counts reported in `response.completed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// `input_tokens`.
    pub input_tokens: u64,
    /// `input_tokens_details.cached_tokens`.
    pub cached_input_tokens: u64,
    /// `output_tokens`.
    pub output_tokens: u64,
    /// `output_tokens_details.reasoning_tokens`.
    pub reasoning_output_tokens: u64,
    /// `total_tokens`.
    pub total_tokens: u64,
}

impl Usage {
    /// Input and output counts, no cached or reasoning tokens, total = input + output.
    pub fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Self { input_tokens, output_tokens, total_tokens: input_tokens + output_tokens, ..Self::default() }
    }

    /// The Responses API `usage` object.
    pub fn to_json(&self) -> Value {
        json!({
            "input_tokens": self.input_tokens,
            "input_tokens_details": { "cached_tokens": self.cached_input_tokens },
            "output_tokens": self.output_tokens,
            "output_tokens_details": { "reasoning_tokens": self.reasoning_output_tokens },
            "total_tokens": self.total_tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::MessagePhase;

    fn events(response: &MockResponse) -> Vec<&SseEvent> {
        match &response.kind {
            ResponseKind::Stream(steps) => steps
                .iter()
                .filter_map(|step| match step {
                    Step::Event(event) => Some(event),
                    _ => None,
                })
                .collect(),
            ResponseKind::Http { .. } => panic!("not a stream"),
        }
    }

    fn kinds(response: &MockResponse) -> Vec<&str> {
        events(response).iter().filter_map(|e| e.kind()).collect()
    }

    #[test]
    fn text_sequence() {
        let response = ResponseStream::new()
            .message(AssistantMessage::new("Hello world").deltas(3).phase(MessagePhase::FinalAnswer))
            .usage(Usage::new(7, 3))
            .completed();
        assert_eq!(
            kinds(&response),
            [
                "response.created",
                "response.output_item.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let events = events(&response);
        let deltas: Vec<_> = events[2..5].iter().map(|e| e.data().unwrap()["delta"].as_str().unwrap()).collect();
        assert_eq!(deltas, ["Hel", "lo w", "orld"]);
        let done = &events[5].data().unwrap()["item"];
        assert_eq!(done["content"][0]["text"], "Hello world");
        assert_eq!(done["phase"], "final_answer");
        assert_eq!(events[2].data().unwrap()["item_id"], done["id"]);
        assert_eq!(events[6].data().unwrap()["response"]["usage"]["total_tokens"], 10);
    }

    #[test]
    fn message_without_deltas_sends_only_done() {
        let only_done = ResponseStream::new().message(AssistantMessage::from_deltas(Vec::<String>::new())).cut();
        assert_eq!(kinds(&only_done), ["response.created", "response.output_item.done"]);
    }

    #[test]
    fn exec_command_call() {
        let response = MockResponse::exec_command(ExecCommand::new("call_1", "touch x").escalated("needs it"));
        let done = events(&response)[1].data().unwrap()["item"].clone();
        assert_eq!(done["name"], "exec_command");
        assert_eq!(done["call_id"], "call_1");
        let arguments: Value = serde_json::from_str(done["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(arguments["sandbox_permissions"], "require_escalated");
    }

    #[test]
    fn endings() {
        assert_eq!(kinds(&MockResponse::failed("boom")), ["response.created", "response.failed"]);
        assert_eq!(kinds(&MockResponse::cut()), ["response.created"]);
        let (stalled, handle) = MockResponse::stall();
        assert_eq!(kinds(&stalled), ["response.created", "response.completed"]);
        assert!(!handle.is_reached());
        match MockResponse::http_error(429, "{\"error\":{}}").kind {
            ResponseKind::Http { status, content_type, .. } => {
                assert_eq!((status, content_type), (429, "application/json"));
            }
            ResponseKind::Stream(_) => panic!("not http"),
        }
    }
}
