//! The rules between the SDK's rooms (`sdk/ARCHITECTURE.md`, "Rooms and the rules between
//! them"), checked on the source: every `crate::…` path a handwritten (or generated) file
//! names, outside tests and doc text, is one its room may name.
//!
//! - `rpc/` (the runtime) and `generated/` never reach the high-level API (`Codex`,
//!   `Thread`, turns, goals, streams of typed notifications, logins, exec, tools, the
//!   handlers, `attach/`, `blocking/`, `testing/`): the runtime knows messages, not what a
//!   user does with them.
//! - `attach/` reaches the runtime only through what `rpc` makes public, and nothing
//!   above it.
//! - Only `blocking/` names `blocking`, and only `testing/` (and `pinned_cli.rs`, compiled
//!   with it) names `testing`.

mod sources;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// The crate-level modules and root items the runtime rooms may name.
const LOW_LEVEL: &[&str] = &[
    // modules
    "endpoint",
    "error",
    "method_names",
    "protocol",
    "types",
    "methods",
    "version",
    "pinned",
    "rpc",
    // root re-exports of those modules' items
    "Error",
    "Result",
    "RpcError",
    "ErrorCode",
    "RpcErrorKind",
    "CloseReason",
    "Endpoint",
    "Connection",
    "ConnectionState",
    "Dial",
    "ReconnectPolicy",
    "RetryPolicy",
    "ServerMetadata",
    "Transport",
    "PINNED_CODEX_VERSION",
    "ClientRequests",
    "ServerNotification",
    "ServerRequest",
    "ServerRequestHandler",
];

/// The high-level API `attach/` may not name (besides `blocking` and `testing`).
const HIGH_LEVEL: &[&str] = &[
    "codex",
    "thread",
    "turn",
    "goals",
    "events",
    "login",
    "exec",
    "tools",
    "review",
    "structured",
    "handlers",
    "options",
    "input",
    "turn_requests",
    "results",
    "Codex",
    "CodexBuilder",
    "Thread",
    "TurnHandle",
    "TurnEvents",
    "TurnResult",
    "Notifications",
    "GoalHandle",
    "ApprovalHandler",
    "ThreadOptions",
    "TurnOptions",
];

/// The second segment of every `crate::…` path and `use crate::…` tree, outside
/// attributes (doc text) and `#[cfg(test)]` items.
#[derive(Default)]
struct CrateNames(BTreeSet<String>);

impl CrateNames {
    fn use_tree(&mut self, tree: &syn::UseTree, after_crate: bool) {
        match tree {
            syn::UseTree::Path(path) if path.ident == "crate" && !after_crate => self.use_tree(&path.tree, true),
            syn::UseTree::Path(path) if after_crate => {
                self.0.insert(path.ident.to_string());
            }
            syn::UseTree::Name(name) if after_crate => {
                self.0.insert(name.ident.to_string());
            }
            syn::UseTree::Rename(rename) if after_crate => {
                self.0.insert(rename.ident.to_string());
            }
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.use_tree(tree, after_crate);
                }
            }
            _ => {}
        }
    }
}

impl<'ast> Visit<'ast> for CrateNames {
    skip_tests_and_docs!();

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        if !sources::is_cfg_test(&item.attrs) {
            self.use_tree(&item.tree, false);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let mut segments = path.segments.iter();
        if segments.next().is_some_and(|s| s.ident == "crate") {
            if let Some(second) = segments.next() {
                self.0.insert(second.ident.to_string());
            }
        }
        syn::visit::visit_path(self, path);
    }
}

/// The crate names each file under `dir` uses.
fn names_in(dir: &Path) -> Vec<(PathBuf, BTreeSet<String>)> {
    sources::rust_files(dir, &[])
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).unwrap();
            let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let mut names = CrateNames::default();
            names.visit_file(&parsed);
            (file, names.0)
        })
        .collect()
}

fn sdk_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/src")
}

#[test]
fn the_runtime_and_the_generated_code_never_reach_the_high_level_api() {
    let mut broken = Vec::new();
    for room in ["rpc", "generated"] {
        for (file, names) in names_in(&sdk_src().join(room)) {
            for name in names.iter().filter(|n| !LOW_LEVEL.contains(&n.as_str())) {
                broken.push(format!("{}: crate::{name}", file.display()));
            }
        }
    }
    assert!(broken.is_empty(), "the runtime names what is above it:\n{}", broken.join("\n"));
}

#[test]
fn attach_reaches_the_runtime_through_its_public_items_only() {
    let mut broken = Vec::new();
    for (file, names) in names_in(&sdk_src().join("attach")) {
        for name in
            names.iter().filter(|n| HIGH_LEVEL.contains(&n.as_str()) || ["blocking", "testing"].contains(&n.as_str()))
        {
            broken.push(format!("{}: crate::{name}", file.display()));
        }
    }
    assert!(broken.is_empty(), "attach/ names the high-level API:\n{}", broken.join("\n"));
}

#[test]
fn only_blocking_names_blocking_and_only_the_kit_names_testing() {
    let mut broken = Vec::new();
    for (file, names) in names_in(&sdk_src()) {
        let relative = file.strip_prefix(sdk_src()).unwrap().to_string_lossy().into_owned();
        if names.contains("blocking") && !relative.starts_with("blocking") && relative != "lib.rs" {
            broken.push(format!("{relative}: crate::blocking"));
        }
        let kit = relative.starts_with("testing") || relative == "pinned_cli.rs" || relative == "lib.rs";
        if names.contains("testing") && !kit {
            broken.push(format!("{relative}: crate::testing"));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// The checker sees what it should: a file of the runtime that named `crate::Codex` would
/// be reported.
#[test]
fn the_checker_finds_a_path_and_a_use() {
    let parsed = syn::parse_file(
        "use crate::{rpc::Connection, codex::Codex};\nfn f() { let _ = crate::Notifications::new; }\n#[cfg(test)] mod tests { use crate::testing::X; }",
    )
    .unwrap();
    let mut names = CrateNames::default();
    names.visit_file(&parsed);
    assert_eq!(names.0.into_iter().collect::<Vec<_>>(), ["Notifications", "codex", "rpc"]);
}
