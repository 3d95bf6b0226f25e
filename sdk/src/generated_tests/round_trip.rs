use super::generated::registry::round_trip_named;
use codex_driver_codegen::{bundle::Bundle, instances, Catalog};

/// Every definition and every union branch, as a minimal and a maximal instance,
/// decodes into its generated type and re-encodes to the same JSON.
#[test]
fn every_definition_round_trips() {
    let bundle = Bundle::load(&super::surface_schema_dir()).expect("schema bundle");
    let catalog = Catalog::build(&bundle).expect("catalog");
    let cases = instances::cases(&catalog);
    assert!(cases.len() > 2000, "suspiciously few cases: {}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        match round_trip_named(&case.type_name, case.value.clone()) {
            None => failures.push(format!("{}: no generated type", case.type_name)),
            Some(Err(e)) => failures
                .push(format!("{} ({}): decode failed: {e}\n  input: {}", case.type_name, case.label, case.value)),
            Some(Ok(decoded)) => {
                let back = decoded.encoded;
                let (want, got) =
                    (instances::without_empty_members(&case.value), instances::without_empty_members(&back));
                if want != got {
                    failures.push(format!(
                        "{} ({}): changed\n  input:  {want}\n  output: {got}",
                        case.type_name, case.label
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    eprintln!("round trip: {} cases passed", cases.len());
}

/// Every union answers the questions a string enum does: its branch's wire name
/// (`kind()`) and `Display`, for a keyed union (`AskForApproval`: strings and a keyed
/// object), a tagged one, and values this SDK does not know.
#[test]
fn unions_name_their_branch_like_string_enums() {
    use crate::types::{AskForApproval, DynamicToolSpec, SandboxMode};
    let granular: AskForApproval = serde_json::from_value(serde_json::json!({"granular": {
        "mcp_elicitations": true, "rules": false, "sandbox_approval": true
    }}))
    .unwrap();
    assert_eq!((granular.kind(), granular.to_string()), ("granular", "granular".to_owned()));
    assert_eq!(AskForApproval::OnRequest.to_string(), "on-request");
    let unknown: AskForApproval = serde_json::from_value(serde_json::json!("sometimes")).unwrap();
    assert_eq!(unknown.kind(), "sometimes");
    let unknown: AskForApproval = serde_json::from_value(serde_json::json!({"later": {}})).unwrap();
    assert_eq!(unknown.to_string(), "later");
    let tagged: DynamicToolSpec = serde_json::from_value(
        serde_json::json!({"type": "function", "name": "f", "description": "d", "inputSchema": {}}),
    )
    .unwrap();
    assert_eq!(tagged.to_string(), "function");
    assert_eq!(SandboxMode::WorkspaceWrite.to_string(), "workspace-write", "as a string enum does");
}
