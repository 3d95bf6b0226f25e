use super::generated::registry::request_types;
use crate::generated::methods::{
    CLIENT_NOTIFICATION_METHODS, CLIENT_REQUEST_METHODS, SERVER_NOTIFICATION_METHODS, SERVER_REQUEST_METHODS,
};
use serde_json::Value;
use std::collections::BTreeSet;

fn schema_methods(union: &str) -> BTreeSet<String> {
    let path = super::surface_schema_dir().join("codex_app_server_protocol.schemas.json");
    let root: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    root["definitions"][union]["oneOf"]
        .as_array()
        .unwrap_or_else(|| panic!("{union} has no oneOf"))
        .iter()
        .map(|b| b["properties"]["method"]["enum"][0].as_str().expect("method").to_owned())
        .collect()
}

fn set(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The generated method table covers exactly the methods of the schema, each with a
/// resolved response type, read straight from the JSON rather than from the codegen.
#[test]
fn method_table_covers_the_schema() {
    assert_eq!(set(CLIENT_REQUEST_METHODS), schema_methods("ClientRequest"));
    assert_eq!(set(SERVER_REQUEST_METHODS), schema_methods("ServerRequest"));
    assert_eq!(set(SERVER_NOTIFICATION_METHODS), schema_methods("ServerNotification"));
    assert_eq!(set(CLIENT_NOTIFICATION_METHODS), schema_methods("ClientNotification"));
    let with_types: BTreeSet<String> = request_types().iter().map(|(m, _, _)| m.to_string()).collect();
    let all_requests: BTreeSet<String> =
        set(CLIENT_REQUEST_METHODS).union(&set(SERVER_REQUEST_METHODS)).cloned().collect();
    assert_eq!(with_types, all_requests);
}
