//! JSON-RPC payloads shaped as Codex 0.169.0 sends them, for the scripted fake servers of
//! `faults.rs` (stdio) and `faults_ws.rs` (WebSocket).
#![allow(dead_code)]

use serde_json::{json, Value};

pub fn initialize_result() -> Value {
    json!({"userAgent": "codex_rust_sdk/0.169.0 (scripted fake server)", "codexHome": "/tmp/scripted/home",
        "platformFamily": "unix", "platformOs": "linux"})
}

pub fn thread_json(id: &str) -> Value {
    json!({"id": id, "environments": [{"environmentId": "local", "cwd": "/tmp/scripted/work",
        "runtimeWorkspaceRoots": ["/tmp/scripted/work"]}], "extra": null, "sessionId": id, "forkedFromId": null,
        "attachedToThreadId": null, "parentThreadId": null, "preview": "", "ephemeral": false, "section": null,
        "sectionEnteredAt": null, "projectId": null, "historyMode": "paginated", "modelProvider": "mock_provider",
        "model": "mock-model", "reasoningEffort": null, "createdAt": 1_795_472_788, "updatedAt": 1_795_472_788,
        "recencyAt": 1_795_472_788, "status": {"type": "idle"},
        "path": format!("/tmp/scripted/home/sessions/rollout-{id}.jsonl"), "cwd": "/tmp/scripted/work",
        "cliVersion": "0.169.0", "originator": "codex_rust_sdk", "source": "vscode", "canAcceptDirectInput": true,
        "threadSource": null, "agentNickname": null, "agentRole": null, "gitInfo": null, "name": null,
        "daybreakEnabled": null, "turns": []})
}

pub fn thread_start_result(id: &str) -> Value {
    json!({"thread": thread_json(id), "model": "mock-model", "modelProvider": "mock_provider", "serviceTier": null,
        "disabledPluginIds": [], "cwd": "/tmp/scripted/work", "runtimeWorkspaceRoots": ["/tmp/scripted/work"],
        "instructionSources": [], "approvalPolicy": "never", "approvalsReviewer": "user",
        "sandbox": {"type": "readOnly", "networkAccess": false}, "activePermissionProfile": null,
        "reasoningEffort": null, "multiAgentMode": "explicitRequestOnly"})
}

pub fn turn_json(id: &str, status: &str, items: Value) -> Value {
    let done = status != "inProgress";
    json!({"id": id, "rootTurnId": id, "items": items, "itemsView": if done { "summary" } else { "notLoaded" },
        "status": status, "error": null, "startedAt": 1_795_472_788,
        "completedAt": if done { json!(1_795_472_789) } else { Value::Null },
        "durationMs": if done { json!(248) } else { Value::Null }})
}

pub fn agent_message(id: &str, text: &str, done: bool) -> Value {
    json!({"type": "agentMessage", "moderation": null, "id": id, "text": text, "phase": null, "memoryCitation": null,
        "delivery": null, "questions": null, "startedAtMs": 1_795_472_789_200_i64,
        "completedAtMs": if done { json!(1_795_472_789_205_i64) } else { Value::Null }})
}
