//! The rule of `sdk/ARCHITECTURE.md`: handwritten SDK code names protocol methods through
//! the generated markers (`<methods::client_requests::TurnStart as Request>::METHOD`),
//! never as string literals, so that a method the schema renames or drops fails to compile
//! instead of failing at run time. Tests and doc text are out of scope.

mod sources;

use std::path::Path;
use syn::visit::Visit;

/// Every method name of the schema, both surfaces, every direction.
fn method_names(root: &Path) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for surface in ["stable", "experimental"] {
        let bundle = codex_driver_codegen::bundle::Bundle::load(&root.join("schema").join(surface)).unwrap();
        let catalog = codex_driver_codegen::Catalog::build(&bundle).unwrap();
        let all = catalog
            .client_requests
            .iter()
            .chain(&catalog.server_requests)
            .chain(&catalog.server_notifications)
            .chain(&catalog.client_notifications);
        names.extend(all.map(|m| m.method.clone()));
    }
    names
}

/// String literals outside attributes (docs) and `#[cfg(test)]` items.
struct Literals<'a> {
    methods: &'a std::collections::BTreeSet<String>,
    found: Vec<String>,
}

impl<'ast> Visit<'ast> for Literals<'_> {
    skip_tests_and_docs!();

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        // Literals inside macro calls (`format!`, `json!`, `matches!`) count too.
        for token in mac.tokens.clone() {
            if let proc_macro2::TokenTree::Literal(lit) = token {
                if let Ok(syn::Lit::Str(s)) = syn::parse_str::<syn::Lit>(&lit.to_string()) {
                    self.visit_lit_str(&s);
                }
            }
        }
    }

    fn visit_lit_str(&mut self, lit: &'ast syn::LitStr) {
        let value = lit.value();
        // `error` is also the JSON-RPC envelope's member of that name.
        if self.methods.contains(&value) && value != "error" {
            self.found.push(value);
        }
    }
}

#[test]
fn handwritten_sdk_code_names_methods_through_the_generated_markers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let methods = method_names(root);
    assert!(methods.len() > 100 && methods.contains("turn/start"), "{} methods", methods.len());
    // The handwritten files: not the generated code.
    let files = sources::rust_files(&root.join("sdk/src"), &["generated"]);
    assert!(files.len() > 30, "found only {} files", files.len());
    let mut offenders = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let mut literals = Literals { methods: &methods, found: Vec::new() };
        literals.visit_file(&parsed);
        for method in literals.found {
            offenders.push(format!("{}: \"{method}\"", file.strip_prefix(root).unwrap().display()));
        }
    }
    assert!(
        offenders.is_empty(),
        "method names written as strings (use the generated markers, see sdk/ARCHITECTURE.md):\n{}",
        offenders.join("\n")
    );
}
