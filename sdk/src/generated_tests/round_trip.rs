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
