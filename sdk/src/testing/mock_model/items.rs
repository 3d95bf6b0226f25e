//! Output items a scripted response can carry: assistant messages and `exec_command` calls.

use crate::types::MessagePhase;
use serde_json::{json, Value};

/// An assistant message for [`ResponseStream::message`](super::ResponseStream::message).
#[derive(Debug, Clone)]
pub struct AssistantMessage {
    pub(super) chunks: Vec<String>,
    pub(super) phase: Option<MessagePhase>,
    pub(super) id: Option<String>,
}

impl AssistantMessage {
    /// A message with `text`, streamed as a single delta.
    pub fn new(text: impl Into<String>) -> Self {
        Self { chunks: vec![text.into()], phase: None, id: None }
    }

    /// A message streamed as exactly these deltas; its text is their concatenation. With no
    /// chunk, only `output_item.done` is sent (no `output_item.added`, no delta).
    pub fn from_deltas<I, S>(chunks: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self { chunks: chunks.into_iter().map(Into::into).collect(), phase: None, id: None }
    }

    /// Re-splits the text into `n` deltas of nearly equal length (in characters; at most one
    /// per character). `0` sends no delta at all, only the finished item.
    pub fn deltas(mut self, n: usize) -> Self {
        let text: String = self.chunks.concat();
        let chars: Vec<char> = text.chars().collect();
        let n = n.min(chars.len().max(1));
        let mut start = 0;
        self.chunks = (1..=n)
            .map(|i| {
                let end = i * chars.len() / n;
                let chunk: String = chars[start..end].iter().collect();
                start = end;
                chunk
            })
            .collect();
        self
    }

    /// Sets the item's `phase`.
    pub fn phase(mut self, phase: MessagePhase) -> Self {
        self.phase = Some(phase);
        self
    }

    /// Sets the item id (default: generated, unique per response).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The full text.
    pub fn text(&self) -> String {
        self.chunks.concat()
    }
}

/// Arguments of an `exec_command` function call; see [`MockResponse::exec_command`](super::MockResponse::exec_command).
#[derive(Debug, Clone)]
pub struct ExecCommand {
    pub(super) call_id: String,
    cmd: String,
    workdir: Option<String>,
    justification: Option<String>,
}

impl ExecCommand {
    /// Runs `cmd` (a shell command line) under the call id `call_id`.
    pub fn new(call_id: impl Into<String>, cmd: impl Into<String>) -> Self {
        Self { call_id: call_id.into(), cmd: cmd.into(), workdir: None, justification: None }
    }

    /// Asks to run outside the sandbox (`sandbox_permissions: "require_escalated"`) with this
    /// justification: with `approval_policy = "on-request"` the client gets an
    /// `item/commandExecution/requestApproval` request.
    pub fn escalated(mut self, justification: impl Into<String>) -> Self {
        self.justification = Some(justification.into());
        self
    }

    /// The working directory of the command.
    pub fn workdir(mut self, workdir: impl Into<String>) -> Self {
        self.workdir = Some(workdir.into());
        self
    }

    /// The call id.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The `arguments` object of the function call.
    pub fn arguments(&self) -> Value {
        let mut arguments = json!({ "cmd": self.cmd });
        if let Some(workdir) = &self.workdir {
            arguments["workdir"] = Value::from(workdir.as_str());
        }
        if let Some(justification) = &self.justification {
            arguments["sandbox_permissions"] = Value::from("require_escalated");
            arguments["justification"] = Value::from(justification.as_str());
        }
        arguments
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_splitting() {
        let chunks = |message: AssistantMessage| message.chunks;
        assert_eq!(chunks(AssistantMessage::new("Hello world").deltas(3)), ["Hel", "lo w", "orld"]);
        assert_eq!(chunks(AssistantMessage::new("ab").deltas(5)), ["a", "b"]);
        assert_eq!(chunks(AssistantMessage::new("").deltas(2)), [""]);
        assert!(chunks(AssistantMessage::new("ab").deltas(0)).is_empty());
        assert_eq!(chunks(AssistantMessage::new("héllo").deltas(2)), ["hé", "llo"]);
        assert_eq!(AssistantMessage::from_deltas(["a", "b"]).text(), "ab");
    }

    #[test]
    fn exec_command_arguments() {
        let plain = ExecCommand::new("c", "ls").workdir("/w");
        assert_eq!(plain.arguments(), json!({ "cmd": "ls", "workdir": "/w" }));
        let escalated = ExecCommand::new("c", "touch x").escalated("needs it");
        assert_eq!(
            escalated.arguments(),
            json!({ "cmd": "touch x", "sandbox_permissions": "require_escalated", "justification": "needs it" })
        );
    }
}
