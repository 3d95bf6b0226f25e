//! What the mock model received: one [`RecordedRequest`] per HTTP request.

use std::borrow::Cow;

use serde_json::Value;

/// One request received by the [`MockModel`](super::MockModel), in arrival order.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    json: Option<Value>,
}

impl RecordedRequest {
    pub(super) fn new(method: String, path: String, headers: Vec<(String, String)>, body: Vec<u8>) -> Self {
        let json = serde_json::from_slice(&body).ok();
        Self { method, path, headers, body, json }
    }

    /// The HTTP method, e.g. `"POST"`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request target, e.g. `"/v1/responses"` (with any query string).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// All headers in order, names in lower case.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first value of header `name` (case-insensitive), e.g. `authorization`, `originator`,
    /// `session-id`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// The body bytes (de-chunked when sent with `Transfer-Encoding: chunked`).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as text (lossy UTF-8).
    pub fn body_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body parsed as JSON; `None` when it is not JSON (compressed bodies are not decoded).
    pub fn json(&self) -> Option<&Value> {
        self.json.as_ref()
    }

    /// The `model` field of the body.
    pub fn model(&self) -> Option<&str> {
        self.json.as_ref()?.get("model")?.as_str()
    }

    /// The items of the body's `input` array (empty if absent).
    pub fn input(&self) -> &[Value] {
        self.json
            .as_ref()
            .and_then(|json| json.get("input"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The names of the tools offered in the body's `tools` array (`name`, or `type` for
    /// built-in tools without one).
    pub fn tool_names(&self) -> Vec<&str> {
        self.json
            .as_ref()
            .and_then(|json| json.get("tools"))
            .and_then(Value::as_array)
            .map(|tools| {
                tools
                    .iter()
                    .filter_map(|tool| tool.get("name").or_else(|| tool.get("type")))
                    .filter_map(Value::as_str)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Content parts of the `input` messages sent with `role`, in order.
    fn content_parts<'a>(&'a self, role: Option<&'a str>) -> impl Iterator<Item = &'a Value> + 'a {
        self.input()
            .iter()
            .filter(|item| item.get("type").and_then(Value::as_str) == Some("message"))
            .filter(move |item| role.is_none() || item.get("role").and_then(Value::as_str) == role)
            .filter_map(|item| item.get("content").and_then(Value::as_array))
            .flatten()
    }

    /// Every text of the `input` messages, any role (`input_text` and `output_text` parts).
    pub fn input_texts(&self) -> Vec<&str> {
        self.content_parts(None)
            .filter(|part| matches!(part.get("type").and_then(Value::as_str), Some("input_text" | "output_text")))
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect()
    }

    /// The `input_text` parts of `user` messages, in order. Codex also sends context (e.g.
    /// `<environment_context>`) as user messages, so prefer [`last_user_text`](Self::last_user_text)
    /// or a `contains` check.
    pub fn user_texts(&self) -> Vec<&str> {
        self.content_parts(Some("user"))
            .filter(|part| part.get("type").and_then(Value::as_str) == Some("input_text"))
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect()
    }

    /// The last `input_text` of a `user` message: for a plain turn, what the user typed.
    pub fn last_user_text(&self) -> Option<&str> {
        self.user_texts().pop()
    }

    /// The `image_url` of every `input_image` part of user messages (data URLs for local images).
    pub fn input_image_urls(&self) -> Vec<&str> {
        self.content_parts(Some("user"))
            .filter(|part| part.get("type").and_then(Value::as_str) == Some("input_image"))
            .filter_map(|part| part.get("image_url").and_then(Value::as_str))
            .collect()
    }

    /// The `output` of the `function_call_output` input item for `call_id`.
    pub fn function_call_output(&self, call_id: &str) -> Option<&Value> {
        self.call_output("function_call_output", call_id)
    }

    /// The `output` of the `custom_tool_call_output` input item for `call_id`.
    pub fn custom_tool_call_output(&self, call_id: &str) -> Option<&Value> {
        self.call_output("custom_tool_call_output", call_id)
    }

    fn call_output(&self, kind: &str, call_id: &str) -> Option<&Value> {
        self.input()
            .iter()
            .find(|item| {
                item.get("type").and_then(Value::as_str) == Some(kind)
                    && item.get("call_id").and_then(Value::as_str) == Some(call_id)
            })
            .and_then(|item| item.get("output"))
    }

    /// Whether the raw body contains `needle` (JSON-escaped text will not match raw quotes or
    /// newlines; use [`input_texts`](Self::input_texts) for those).
    pub fn body_contains(&self, needle: &str) -> bool {
        self.body_text().contains(needle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accessors() {
        let body = json!({
            "model": "mock-model",
            "input": [
                { "type": "message", "role": "developer", "content": [{ "type": "input_text", "text": "rules" }] },
                { "type": "message", "role": "user", "content": [{ "type": "input_text", "text": "<environment_context/>" }] },
                { "type": "message", "role": "user", "content": [
                    { "type": "input_text", "text": "hello" },
                    { "type": "input_image", "image_url": "data:image/png;base64,AAAA" },
                ] },
                { "type": "message", "role": "assistant", "content": [{ "type": "output_text", "text": "hi" }] },
                { "type": "function_call_output", "call_id": "c1", "output": "done" },
            ],
            "tools": [{ "type": "function", "name": "exec_command" }, { "type": "web_search" }],
        });
        let request = RecordedRequest::new(
            "POST".into(),
            "/v1/responses".into(),
            vec![("authorization".into(), "Bearer k".into())],
            body.to_string().into_bytes(),
        );
        assert_eq!(request.header("Authorization"), Some("Bearer k"));
        assert_eq!(request.model(), Some("mock-model"));
        assert_eq!(request.input_texts(), ["rules", "<environment_context/>", "hello", "hi"]);
        assert_eq!(request.user_texts(), ["<environment_context/>", "hello"]);
        assert_eq!(request.last_user_text(), Some("hello"));
        assert_eq!(request.input_image_urls(), ["data:image/png;base64,AAAA"]);
        assert_eq!(request.function_call_output("c1"), Some(&json!("done")));
        assert_eq!(request.custom_tool_call_output("c1"), None);
        assert_eq!(request.tool_names(), ["exec_command", "web_search"]);
        assert!(request.body_contains("hello"));

        let not_json = RecordedRequest::new("GET".into(), "/x".into(), Vec::new(), b"nope".to_vec());
        assert!(not_json.json().is_none() && not_json.input().is_empty());
    }
}
