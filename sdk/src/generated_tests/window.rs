//! Every release of the supported window decodes: what an older Codex sends, generated from
//! that release's own schema (`schema/window.json` holds the shapes that differ from the
//! pin's), decodes with the pinned types. Where the pinned types cannot hold an older shape
//! (a union member older than its tag), the value is kept raw in an `Unrecognized`
//! fallback and counted.

use super::generated::registry::round_trip_named;
use codex_driver_codegen::window::Window;
use codex_driver_codegen::{bundle::Bundle, catalog, instances, Catalog};
use std::path::PathBuf;

#[test]
fn every_release_of_the_window_decodes_with_the_pinned_types() {
    let schema = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schema");
    let pin = Bundle::load(&schema.join("experimental")).expect("the pin's bundle");
    let window = Window::load(&schema).expect("schema/window.json");
    let releases = window.releases();
    let history = codex_driver_codegen::history::History::load(&schema).expect("history");
    let older = &history.window[..history.window.len() - 1];
    assert_eq!(releases, older, "window.json holds every release of history.json's window but the pin");
    let mut failures = Vec::new();
    let mut report = Vec::new();
    for release in releases {
        let bundle = window.bundle_of(&pin, release).expect("release bundle");
        let catalog = Catalog::build(&bundle).unwrap_or_else(|e| panic!("{release}: catalog: {e}"));
        let server_sent = catalog::server_sent_types(&catalog).expect("message roots");
        let (mut decoded, mut kept_raw, mut not_pinned) = (0, 0, 0);
        for case in instances::cases(&catalog).into_iter().filter(|c| server_sent.contains(&c.type_name)) {
            match round_trip_named(&case.type_name, case.value.clone()) {
                None => not_pinned += 1,
                Some(Err(e)) => failures
                    .push(format!("{release}: {} ({}): {e}\n  input: {}", case.type_name, case.label, case.value)),
                Some(Ok(result)) => {
                    decoded += 1;
                    kept_raw += usize::from(result.kept_raw);
                }
            }
        }
        report.push(format!(
            "{release}: {decoded} decoded ({kept_raw} with a part kept raw), {not_pinned} of types this build's surface lacks"
        ));
    }
    assert!(failures.is_empty(), "{} cases failed to decode:\n{}", failures.len(), failures.join("\n"));
    eprintln!("window:\n{}", report.join("\n"));
}
