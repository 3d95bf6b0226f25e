//! The generated struct deserializers (the codegen's `deserialize` module) against serde's
//! derive: for each serde attribute they implement, a real generated type and a mirror
//! struct deriving `Deserialize` with the same attributes decode the same inputs to the
//! same JSON and fail with the same message, position included.

use crate::generated::types::{self, ThreadItem};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

/// Decodes `text` as both types: both succeed with the same JSON, or fail alike.
fn same<Ours: DeserializeOwned + Serialize, Mirror: DeserializeOwned + Serialize>(text: &str) {
    let ours = serde_json::from_str::<Ours>(text).map(|v| serde_json::to_value(v).unwrap()).map_err(|e| e.to_string());
    let mirror =
        serde_json::from_str::<Mirror>(text).map(|v| serde_json::to_value(v).unwrap()).map_err(|e| e.to_string());
    assert_eq!(ours, mirror, "input: {text}");
    // Through a `Value` (another deserializer), too; a `Value` has no duplicate keys.
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        let ours = serde_json::from_value::<Ours>(value.clone()).map(|v| serde_json::to_value(v).unwrap());
        let mirror = serde_json::from_value::<Mirror>(value).map(|v| serde_json::to_value(v).unwrap());
        assert_eq!(ours.map_err(|e| e.to_string()), mirror.map_err(|e| e.to_string()), "input as a Value: {text}");
    }
}

#[test]
fn renamed_required_optional_and_required_option_fields() {
    for text in [
        r#"{"email":"a@b.c","planType":"plus","workspaceName":"w"}"#,
        r#"{"email":null,"planType":"plus"}"#,
        r#"{"planType":"plus","email":"a","workspaceName":null}"#,
        r#"{"planType":"plus"}"#,
        r#"{"email":"a"}"#,
        r#"{"email":"a","email":"b","planType":"plus"}"#,
        r#"{"email":"a","planType":"plus","workspaceName":"w","workspaceName":"x"}"#,
        r#"{"email":"a","planType":"plus","unknown":{"deep":[1,2,{"x":null}]}}"#,
        r#"{"email":3,"planType":"plus"}"#,
        r#"{"email":"a","planType":"a-plan-from-a-newer-codex"}"#,
        r#"{"email":"a","planType":"plus""#,
        r#""a string""#,
        "null",
        "{}",
    ] {
        same::<types::ChatgptAccount, mirror::ChatgptAccount>(text);
    }
}

#[test]
fn denied_unknown_fields_are_named_with_the_expected_ones() {
    for text in [
        r#"{"type":"boolean","default":true}"#,
        r#"{"type":"boolean","extra":1}"#,
        r#"{"extra":1}"#,
        r#"{"default":false}"#,
    ] {
        same::<types::McpElicitationBooleanSchema, mirror::McpElicitationBooleanSchema>(text);
    }
}

#[test]
fn a_flattened_map_gathers_every_key_no_field_names() {
    for text in [r#"{"enabled":true,"a":1,"b":[2,{"c":null}]}"#, r#"{"a":"x"}"#, "{}", r#"{"enabled":"yes"}"#] {
        same::<types::AnalyticsConfig, mirror::AnalyticsConfig>(text);
    }
    let config: types::AnalyticsConfig = serde_json::from_str(r#"{"enabled":false,"sample":0.5}"#).unwrap();
    assert_eq!((config.enabled, config.extra), (Some(false), json!({"sample": 0.5}).as_object().unwrap().clone()));
}

#[test]
fn defaulted_fields_and_the_tag_of_an_enclosing_union() {
    for text in [
        r#"{"id":"r1"}"#,
        r#"{"id":"r1","content":["a"],"summary":["b"],"startedAtMs":1}"#,
        r#"{"id":"r1","content":null}"#,
        r#"{"type":"reasoning","id":"r1","summary":["s"]}"#,
        r#"{"content":[]}"#,
    ] {
        same::<types::ReasoningThreadItem, mirror::ReasoningThreadItem>(text);
    }
    let item: ThreadItem = serde_json::from_str(r#"{"type":"reasoning","id":"r1","summary":["s"]}"#).unwrap();
    let ThreadItem::Reasoning(reasoning) = item else { panic!("not reasoning: {item:?}") };
    assert_eq!((reasoning.id.as_str(), reasoning.summary, reasoning.content), ("r1", vec!["s".to_owned()], vec![]));
}

#[test]
fn an_array_is_not_a_struct() {
    // serde's derive also reads a struct from a JSON array of its fields in order; no
    // message of the protocol is one, and the generated deserializers refuse it.
    let err = serde_json::from_str::<types::ReasoningThreadItem>(r#"[null, [], "r1"]"#).unwrap_err();
    assert_eq!(err.to_string(), "invalid type: sequence, expected struct ReasoningThreadItem at line 1 column 0");
    assert!(serde_json::from_str::<mirror::ReasoningThreadItem>(r#"[null, [], "r1", null, []]"#).is_ok());
}

/// serde's derive, with the attributes of the generated types of the same names.
mod mirror {
    use crate::generated::types::{McpElicitationBooleanType, PlanType};
    use serde::{Deserialize, Serialize};
    use serde_json::{Map, Value};

    #[derive(Deserialize, Serialize)]
    pub struct ChatgptAccount {
        #[serde(deserialize_with = "Option::deserialize")]
        pub email: Option<String>,
        #[serde(rename = "planType")]
        pub plan_type: PlanType,
        #[serde(rename = "workspaceName", skip_serializing_if = "Option::is_none")]
        pub workspace_name: Option<String>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct McpElicitationBooleanSchema {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub default: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub description: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub title: Option<String>,
        #[serde(rename = "type")]
        pub type_: McpElicitationBooleanType,
    }

    #[derive(Deserialize, Serialize)]
    pub struct AnalyticsConfig {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub enabled: Option<bool>,
        #[serde(flatten)]
        pub extra: Map<String, Value>,
    }

    #[derive(Deserialize, Serialize)]
    pub struct ReasoningThreadItem {
        #[serde(rename = "completedAtMs", skip_serializing_if = "Option::is_none")]
        pub completed_at_ms: Option<i64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub content: Vec<String>,
        pub id: String,
        #[serde(rename = "startedAtMs", skip_serializing_if = "Option::is_none")]
        pub started_at_ms: Option<i64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub summary: Vec<String>,
    }
}

#[test]
fn a_decoded_union_goes_back_to_text_with_its_tag_once() {
    // `idle` carries a transparent map, which keeps every key it was decoded from.
    for text in [r#"{"type":"idle"}"#, r#"{"type":"idle","since":3}"#] {
        let status: types::ThreadStatus = serde_json::from_str(text).unwrap();
        let back = serde_json::to_string(&status).unwrap();
        assert_eq!(back.matches("\"type\"").count(), 1, "{back}");
        assert_eq!(serde_json::from_str::<Value>(&back).unwrap(), serde_json::from_str::<Value>(text).unwrap());
    }
}

#[test]
fn a_malformed_variant_deep_in_a_message_names_one_position() {
    let text = r#"{"threadId":"t","turnId":"u","completedAtMs":1,"item":{"type":"agentMessage","id":3,"text":"x"}}"#;
    let err = serde_json::from_str::<types::ItemCompletedNotification>(text).unwrap_err().to_string();
    assert!(err.starts_with("ThreadItem `agentMessage`: invalid type: integer `3`, expected a string"), "{err}");
    assert_eq!(err.matches(" at line ").count(), 1, "{err}");
}
