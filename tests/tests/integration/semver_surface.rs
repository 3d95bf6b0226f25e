//! The crate's semver policy, compiled: code written against the stable protocol surface
//! in the ways the policy promises keeps compiling when the surface grows, whether by a
//! Codex bump or by another crate in the graph turning on `experimental` (which adds
//! experimental fields and variants to stable types, under `cfg`, and changes no stable
//! item: one tree, each type classified once). `cargo xtask test` builds this file on both
//! surfaces.
//!
//! - Types the server sends are `#[non_exhaustive]`: read their fields, destructure them
//!   with `..`.
//! - Types the client sends stay constructible: `..Default::default()` where every field
//!   is optional, `new(required…)` otherwise; no struct literal names every field.
//! - Enums are `#[non_exhaustive]` with an `Unrecognized` fallback: matches have a `_` arm.

use crate::common;
use codex_driver::types::{
    AccountSession, CollaborationMode, ModeKind, Settings, Thread, ThreadItem, ThreadListParams, ThreadListResponse,
    ThreadStartParams, TurnStartParams, UserInput,
};
use serde_json::json;

/// A `thread/list` answer as Codex sends it.
fn list_response() -> ThreadListResponse {
    let thread = common::payloads::thread_json("th");
    serde_json::from_value(json!({"data": [thread], "nextCursor": "c2"})).expect("a thread/list answer decodes")
}

#[test]
fn server_types_are_read_and_destructured_with_rest_patterns() {
    let ThreadListResponse { data, next_cursor, .. } = list_response();
    assert_eq!(next_cursor.as_deref(), Some("c2"));
    let [Thread { id, preview, .. }] = &data[..] else { panic!("one thread: {data:?}") };
    assert_eq!((id.as_str(), preview.as_str()), ("th", ""));
}

#[test]
fn client_types_are_built_from_defaults_or_constructors() {
    let list = ThreadListParams { limit: Some(5), ..Default::default() };
    assert_eq!(serde_json::to_value(&list).unwrap(), json!({"limit": 5}));
    let start = ThreadStartParams { cwd: Some("/w".into()), ..Default::default() };
    assert_eq!(serde_json::to_value(&start).unwrap()["cwd"], "/w");
    let input = vec![UserInput::Text(serde_json::from_value(json!({"text": "hi"})).unwrap())];
    let mut turn = TurnStartParams::new(input, "th");
    turn.model = Some("mock-model".into());
    let wire = serde_json::to_value(&turn).unwrap();
    assert_eq!((wire["threadId"].clone(), wire["model"].clone()), (json!("th"), json!("mock-model")));
}

#[test]
fn enum_matches_keep_a_wildcard_arm() {
    let item: ThreadItem = serde_json::from_value(json!({"type": "someItemFromTheFuture", "id": "i1"})).unwrap();
    let kind = match &item {
        ThreadItem::AgentMessage(message) => format!("agent: {}", message.text),
        ThreadItem::UserMessage(_) => "user".to_owned(),
        _ => format!("other: {}", item.kind()),
    };
    assert_eq!(kind, "other: someItemFromTheFuture");
}

/// A type is constructible or `#[non_exhaustive]` on both surfaces alike. Before the
/// surfaces were one tree, `CollaborationMode` (which experimental `turn/start` params carry)
/// was `#[non_exhaustive]` on the stable surface and constructible with `experimental`, so
/// code that built one compiled only with the feature; `AccountSession` was the other way
/// round. Now a type a client sends on either surface is constructible on both, and a type
/// only servers send is read with `..` on both.
#[test]
fn a_type_is_classified_once_for_both_surfaces() {
    let settings = Settings { reasoning_effort: None, ..Settings::new("mock-model") };
    let mode = CollaborationMode::new(ModeKind::Default, settings);
    let again = CollaborationMode { mode: ModeKind::Plan, ..mode };
    assert_eq!(serde_json::to_value(&again).unwrap()["mode"], "plan");
    let session: AccountSession = serde_json::from_value(json!({
        "isActive": true, "lastUsedAt": 5, "sessionId": "s1", "workspaces": [], "email": "a@b.c"
    }))
    .unwrap();
    let AccountSession { session_id, email, .. } = session;
    assert_eq!((session_id.as_str(), email.as_deref()), ("s1", Some("a@b.c")));
}
