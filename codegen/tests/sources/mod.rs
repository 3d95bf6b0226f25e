//! What the source checks of this directory share: the SDK's non-test `.rs` files, and a
//! `syn` visitor's way of skipping tests and doc text.

use std::path::{Path, PathBuf};

/// The `.rs` files under `dir`, except test files (`tests.rs`, and the directories
/// `generated_tests`, `tests`) and the directories named in `skip`.
pub fn rust_files(dir: &Path, skip: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    collect(dir, skip, &mut out);
    out.sort();
    out
}

fn collect(dir: &Path, skip: &[&str], out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !["generated_tests", "tests"].contains(&name.as_str()) && !skip.contains(&name.as_str()) {
                collect(&path, skip, out);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" {
            out.push(path);
        }
    }
}

/// Whether an item is compiled for tests only: `#[cfg(test)]` or `#[cfg(all(test, …))]`
/// (not `#[cfg(feature = "testing")]`, nor `#[cfg(any(test, …))]`, which are compiled
/// outside tests too).
pub fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| a.path().is_ident("cfg") && a.parse_args::<syn::Meta>().is_ok_and(|m| test_only(&m)))
}

fn test_only(meta: &syn::Meta) -> bool {
    match meta {
        syn::Meta::Path(p) => p.is_ident("test"),
        syn::Meta::List(list) if list.path.is_ident("all") => list
            .parse_args_with(syn::punctuated::Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated)
            .is_ok_and(|all| all.iter().any(test_only)),
        _ => false,
    }
}

/// The `Visit` methods that skip attributes (doc text) and `#[cfg(test)]` modules and
/// functions: expand inside a `impl Visit for …` block.
#[macro_export]
macro_rules! skip_tests_and_docs {
    () => {
        fn visit_attribute(&mut self, _: &'ast syn::Attribute) {}

        fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
            if !sources::is_cfg_test(&item.attrs) {
                syn::visit::visit_item_mod(self, item);
            }
        }

        fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
            if !sources::is_cfg_test(&item.attrs) {
                syn::visit::visit_item_fn(self, item);
            }
        }
    };
}
