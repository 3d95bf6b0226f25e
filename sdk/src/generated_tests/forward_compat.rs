//! A newer Codex must not break this SDK: methods, union variants and enum values that
//! no schema contains decode into an explicit fallback and re-encode unchanged.

use crate::generated::methods::{ServerNotification, ServerRequest};
use crate::generated::types::{ThreadItem, TurnStatus};
use serde_json::{json, Value};

fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(value: &Value) -> (T, Value) {
    let decoded: T = serde_json::from_value(value.clone()).expect("decodes");
    let back = serde_json::to_value(&decoded).unwrap();
    (decoded, back)
}

#[test]
fn unknown_notification_method_is_kept() {
    let params = json!({"threadId": "t1", "futureField": [1, 2]});
    let note = ServerNotification::decode("thread/teleported", params.clone()).unwrap();
    match &note {
        ServerNotification::Unrecognized { method, params: raw } => {
            assert_eq!(method, "thread/teleported");
            assert_eq!(raw, &params);
        }
        other => panic!("expected Unrecognized, got {other:?}"),
    }
    assert_eq!(note.method(), "thread/teleported");
    assert_eq!(note.params_json().unwrap(), params);
}

#[test]
fn unknown_server_request_method_is_kept() {
    let req = ServerRequest::decode("item/hologram/requestApproval", json!({"x": 1})).unwrap();
    assert!(matches!(req, ServerRequest::Unrecognized { ref method, .. } if method == "item/hologram/requestApproval"));
}

#[test]
fn malformed_params_of_a_known_method_name_the_method() {
    let err = ServerNotification::decode("turn/completed", json!({"threadId": 5})).unwrap_err();
    assert_eq!(err.method, "turn/completed");
    assert!(err.to_string().contains("turn/completed"), "{err}");
}

#[test]
fn unknown_thread_item_type_is_kept_verbatim() {
    let item = json!({"type": "holographicDisplay", "id": "item-9", "frames": [{"n": 1}], "startedAtMs": null});
    let (decoded, back): (ThreadItem, _) = round_trip(&item);
    match &decoded {
        ThreadItem::Unrecognized(raw) => assert_eq!(raw, &item),
        other => panic!("expected Unrecognized, got {other:?}"),
    }
    assert_eq!(decoded.kind(), "holographicDisplay");
    assert_eq!(back, item);
}

#[test]
fn unknown_item_inside_a_known_notification() {
    let params = json!({
        "threadId": "t1", "turnId": "u1", "completedAtMs": 5,
        "item": {"type": "holographicDisplay", "id": "item-9"}
    });
    let note = ServerNotification::decode("item/completed", params.clone()).unwrap();
    let ServerNotification::ItemCompleted(done) = &note else { panic!("expected ItemCompleted: {note:?}") };
    assert!(matches!(done.item, ThreadItem::Unrecognized(_)));
    assert_eq!(note.params_json().unwrap(), params);
}

#[test]
fn unknown_enum_value_is_kept() {
    let (status, back): (TurnStatus, _) = round_trip(&json!("paused"));
    assert_eq!(status, TurnStatus::Unrecognized("paused".into()));
    assert_eq!(back, json!("paused"));
    let (known, _): (TurnStatus, _) = round_trip(&json!("completed"));
    assert_eq!(known, TurnStatus::Completed);
    assert_eq!(known.to_string(), "completed");
}

#[test]
fn unknown_enum_value_inside_a_turn() {
    let params = json!({
        "threadId": "t1",
        "turn": {"id": "u1", "items": [], "status": "paused", "error": null}
    });
    let note = ServerNotification::decode("turn/completed", params).unwrap();
    let ServerNotification::TurnCompleted(done) = note else { panic!("expected TurnCompleted") };
    assert_eq!(done.turn.status, TurnStatus::Unrecognized("paused".into()));
}

#[test]
fn unknown_fields_are_accepted() {
    let params = json!({"threadId": "t1", "turnId": "u1", "itemId": "i1", "delta": "hi", "sparkle": true});
    let note = ServerNotification::decode("item/agentMessage/delta", params).unwrap();
    let ServerNotification::ItemAgentMessageDelta(delta) = note else { panic!("expected a delta") };
    assert_eq!(delta.delta, "hi");
}

#[test]
fn a_known_variant_with_bad_fields_is_an_error_naming_it() {
    let err = serde_json::from_value::<ThreadItem>(json!({"type": "agentMessage", "id": 3})).unwrap_err();
    assert!(err.to_string().contains("agentMessage"), "{err}");
}
