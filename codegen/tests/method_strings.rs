//! The rule of `sdk/ARCHITECTURE.md`: handwritten SDK code names protocol methods through
//! the generated markers (`<methods::client_requests::TurnStart as Request>::METHOD`),
//! never as string literals, so that a method the schema renames or drops fails to compile
//! instead of failing at run time. Tests and doc text are out of scope.

use std::path::{Path, PathBuf};
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

/// The handwritten source files of `sdk/src` (not the generated code, not test files).
fn handwritten(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !["generated", "generated_tests", "tests"].contains(&name.as_str()) {
                handwritten(&path, out);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" {
            out.push(path);
        }
    }
}

/// String literals outside attributes (docs) and `#[cfg(test)]` items.
struct Literals<'a> {
    methods: &'a std::collections::BTreeSet<String>,
    found: Vec<String>,
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| a.path().is_ident("cfg") && quote::quote!(#a).to_string().contains("test"))
}

impl<'ast> Visit<'ast> for Literals<'_> {
    fn visit_attribute(&mut self, _: &'ast syn::Attribute) {}

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if !is_cfg_test(&item.attrs) {
            syn::visit::visit_item_mod(self, item);
        }
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        if !is_cfg_test(&item.attrs) {
            syn::visit::visit_item_fn(self, item);
        }
    }

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
    let mut files = Vec::new();
    handwritten(&root.join("sdk/src"), &mut files);
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
