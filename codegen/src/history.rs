//! The protocol's history across a window of Codex releases: in which release each client
//! request, server request, notification, definition and field first appeared, and in which
//! it disappeared.
//!
//! `cargo xtask history` derives it from the schema bundles of every release in the window
//! and writes `schema/history.json`; `cargo xtask bump` extends it by one release. The
//! codegen reads it to write "Since Codex …" into the docs and the sdk's availability table.
//! Only what changed inside the window is listed: anything absent from the table was there
//! in every release of the window.

use crate::bundle::Bundle;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// File name of the history table inside `schema/`.
pub const HISTORY_FILE: &str = "history.json";

/// The kinds of names the history tracks, as they are keyed in `history.json`.
pub const KINDS: &[&str] =
    &["client_requests", "server_requests", "server_notifications", "client_notifications", "definitions", "fields"];

/// Everything one release's bundle names, per kind of [`KINDS`]. Fields are keyed
/// `Definition.field`, where a titled union branch counts as a definition of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names(pub BTreeMap<&'static str, BTreeSet<String>>);

impl Names {
    /// The names of `bundle`.
    pub fn of(bundle: &Bundle) -> Self {
        let mut names = Names::default();
        for kind in KINDS {
            names.0.insert(kind, BTreeSet::new());
        }
        let unions = [
            ("client_requests", "ClientRequest"),
            ("server_requests", "ServerRequest"),
            ("server_notifications", "ServerNotification"),
            ("client_notifications", "ClientNotification"),
        ];
        for (kind, union) in unions {
            let methods = bundle.get(union).map(union_methods).unwrap_or_default();
            names.0.insert(kind, methods);
        }
        for (name, schema) in &bundle.definitions {
            names.insert("definitions", name.clone());
            if unions.iter().any(|(_, union)| union == name) {
                continue; // Their branches are the methods, tracked above.
            }
            for (owner, field) in fields(name, schema) {
                names.insert("fields", format!("{owner}.{field}"));
            }
        }
        names
    }

    fn insert(&mut self, kind: &'static str, name: String) {
        self.0.entry(kind).or_default().insert(name);
    }

    /// The names of `kind`.
    pub fn get(&self, kind: &str) -> impl Iterator<Item = &String> {
        self.0.get(kind).into_iter().flatten()
    }
}

/// The wire method names of a method union's branches.
fn union_methods(schema: &Value) -> BTreeSet<String> {
    let branches = schema.get("oneOf").and_then(Value::as_array);
    branches.into_iter().flatten().filter_map(branch_method).map(str::to_owned).collect()
}

/// The wire method name of one branch of a method union.
fn branch_method(branch: &Value) -> Option<&str> {
    let method = branch.get("properties")?.get("method")?;
    method.get("enum").and_then(|e| e.get(0)).or_else(|| method.get("const"))?.as_str()
}

/// `(owner, field)` for the properties of a definition and of its titled union branches.
fn fields<'a>(name: &'a str, schema: &'a Value) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::new();
    let props = |owner: &'a str, schema: &'a Value, out: &mut Vec<(&'a str, &'a str)>| {
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            out.extend(props.keys().map(|k| (owner, k.as_str())));
        }
    };
    props(name, schema, &mut out);
    for key in ["oneOf", "anyOf"] {
        for branch in schema.get(key).and_then(Value::as_array).into_iter().flatten() {
            if let Some(title) = branch.get("title").and_then(Value::as_str) {
                props(title, branch, &mut out);
            }
        }
    }
    out
}

/// When a name was present: from `since` (`None`: the window's first release or earlier)
/// up to, not including, `removed` (`None`: still present at the window's last release).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Span {
    /// The first release of the window that has it, when later than the window's start.
    pub since: Option<String>,
    /// The first release after its last appearance that lacks it.
    pub removed: Option<String>,
}

/// The history table: the window of releases and the spans of the names that changed in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// The releases compared, oldest first.
    pub window: Vec<String>,
    /// kind → name → span, for names not present in every release of the window.
    pub spans: BTreeMap<String, BTreeMap<String, Span>>,
}

impl History {
    /// Derives the table from the names of each release, oldest first.
    pub fn derive(releases: &[(String, Names)]) -> Self {
        let window: Vec<String> = releases.iter().map(|(v, _)| v.clone()).collect();
        let mut spans: BTreeMap<String, BTreeMap<String, Span>> = BTreeMap::new();
        for kind in KINDS {
            let all: BTreeSet<&String> = releases.iter().flat_map(|(_, n)| n.get(kind)).collect();
            let mut table = BTreeMap::new();
            for name in all {
                let present: Vec<bool> = releases.iter().map(|(_, n)| n.0[kind].contains(name)).collect();
                let last = present.iter().rposition(|p| *p).expect("a name comes from some release");
                // The last unbroken run of releases that has it.
                let first = present[..=last].iter().rposition(|p| !p).map_or(0, |i| i + 1);
                let span =
                    Span { since: (first > 0).then(|| window[first].clone()), removed: window.get(last + 1).cloned() };
                if span != Span::default() {
                    table.insert(name.clone(), span);
                }
            }
            spans.insert((*kind).to_owned(), table);
        }
        History { window, spans }
    }

    /// Extends the table by one release whose names are `next`, given the names of the
    /// window's last release (`previous`): what `cargo xtask bump` does without reinstalling
    /// the window.
    pub fn extend(&mut self, previous: &Names, version: &str, next: &Names) {
        for kind in KINDS {
            let table = self.spans.entry((*kind).to_owned()).or_default();
            let before: BTreeSet<&String> = previous.get(kind).collect();
            let after: BTreeSet<&String> = next.get(kind).collect();
            for added in after.difference(&before) {
                // A name that comes back starts a new run.
                table.insert((*added).clone(), Span { since: Some(version.to_owned()), removed: None });
            }
            for gone in before.difference(&after) {
                table.entry((*gone).clone()).or_default().removed = Some(version.to_owned());
            }
        }
        self.window.push(version.to_owned());
    }

    /// The span of `name` of `kind`, if it changed inside the window.
    pub fn span(&self, kind: &str, name: &str) -> Option<&Span> {
        self.spans.get(kind)?.get(name)
    }

    /// The release that introduced `name` of `kind`, when later than the window's start.
    pub fn since(&self, kind: &str, name: &str) -> Option<&str> {
        self.span(kind, name)?.since.as_deref()
    }

    /// Reads `schema/history.json`.
    pub fn load(schema_dir: &Path) -> Result<Self, String> {
        let path = schema_dir.join(HISTORY_FILE);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e} (run `cargo xtask history` to derive it)", path.display()))?;
        let root: Value = serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
        Self::from_json(&root).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn from_json(root: &Value) -> Result<Self, String> {
        let strings = |v: &Value| -> Result<Vec<String>, String> {
            v.as_array()
                .ok_or("`window` is not an array")?
                .iter()
                .map(|s| s.as_str().map(str::to_owned).ok_or_else(|| "a release is not a string".to_owned()))
                .collect()
        };
        let window = strings(root.get("window").ok_or("no `window`")?)?;
        let mut spans = BTreeMap::new();
        for kind in KINDS {
            let mut table = BTreeMap::new();
            for (name, span) in root.get(*kind).and_then(Value::as_object).into_iter().flatten() {
                let text = |key: &str| span.get(key).and_then(Value::as_str).map(str::to_owned);
                table.insert(name.clone(), Span { since: text("since"), removed: text("removed") });
            }
            spans.insert((*kind).to_owned(), table);
        }
        Ok(History { window, spans })
    }

    /// The table as `schema/history.json` holds it: one line per name, sorted.
    pub fn to_json_text(&self) -> String {
        let mut out = String::from("{\n");
        out.push_str(&format!("  \"window\": {},\n", json!(self.window)));
        let kinds: Vec<String> = KINDS
            .iter()
            .map(|kind| {
                let rows: Vec<String> = self
                    .spans
                    .get(*kind)
                    .into_iter()
                    .flatten()
                    .map(|(name, span)| {
                        let mut entry = Map::new();
                        if let Some(s) = &span.since {
                            entry.insert("since".into(), json!(s));
                        }
                        if let Some(r) = &span.removed {
                            entry.insert("removed".into(), json!(r));
                        }
                        format!("    {}: {}", json!(name), Value::Object(entry))
                    })
                    .collect();
                if rows.is_empty() {
                    format!("  \"{kind}\": {{}}")
                } else {
                    format!("  \"{kind}\": {{\n{}\n  }}", rows.join(",\n"))
                }
            })
            .collect();
        out.push_str(&kinds.join(",\n"));
        out.push_str("\n}\n");
        out
    }

    /// Writes "Since Codex X." into the descriptions of the definitions, fields and method
    /// branches of `bundle` that appeared after the window's start.
    pub fn annotate(&self, bundle: &mut Bundle) {
        let note = |schema: &mut Value, since: &str| {
            if let Some(obj) = schema.as_object_mut() {
                let text = obj.get("description").and_then(Value::as_str).map(str::trim).unwrap_or("");
                let sep = if text.is_empty() { "" } else { "\n\n" };
                obj.insert("description".into(), json!(format!("{text}{sep}Since Codex {since}.")));
            }
        };
        let unions = [
            ("ClientRequest", "client_requests"),
            ("ServerRequest", "server_requests"),
            ("ServerNotification", "server_notifications"),
            ("ClientNotification", "client_notifications"),
        ];
        for (name, schema) in bundle.definitions.iter_mut() {
            if let Some((_, kind)) = unions.iter().find(|(u, _)| u == name) {
                for branch in schema.get_mut("oneOf").and_then(Value::as_array_mut).into_iter().flatten() {
                    let since = branch_method(branch).and_then(|m| self.since(kind, m)).map(str::to_owned);
                    if let Some(since) = since {
                        note(branch, &since);
                    }
                }
                continue;
            }
            if let Some(since) = self.since("definitions", name) {
                note(schema, since);
            }
            self.annotate_fields(name, name, schema, &note);
            for key in ["oneOf", "anyOf"] {
                for branch in schema.get_mut(key).and_then(Value::as_array_mut).into_iter().flatten() {
                    if let Some(title) = branch.get("title").and_then(Value::as_str).map(str::to_owned) {
                        self.annotate_fields(&title, name, branch, &note);
                    }
                }
            }
        }
    }

    /// Notes the fields newer than their owner (a new type's fields are as new as the type).
    fn annotate_fields(&self, owner: &str, parent: &str, schema: &mut Value, note: &impl Fn(&mut Value, &str)) {
        let owner_since = self.since("definitions", owner).or_else(|| self.since("definitions", parent));
        let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else { return };
        for (field, prop) in props.iter_mut() {
            match self.since("fields", &format!("{owner}.{field}")) {
                Some(since) if Some(since) != owner_since => note(prop, since),
                _ => {}
            }
        }
    }
}

/// What changed between two releases' bundles: the summary `cargo xtask bump` prints (names
/// added and removed per kind, and the definitions present in both whose schema changed).
pub fn changes(before: &Bundle, after: &Bundle) -> String {
    let mut out = name_changes(&Names::of(before), &Names::of(after));
    let changed: Vec<&String> = after
        .definitions
        .iter()
        .filter(|(name, schema)| before.get(name).is_some_and(|old| old != *schema))
        .map(|(name, _)| name)
        .collect();
    out.push_str(&format!("definitions changed: {}\n", changed.len()));
    for name in changed {
        out.push_str(&format!("  ~ {name}\n"));
    }
    out
}

fn name_changes(before: &Names, after: &Names) -> String {
    let mut out = String::new();
    for kind in KINDS {
        let old: BTreeSet<&String> = before.get(kind).collect();
        let new: BTreeSet<&String> = after.get(kind).collect();
        let added: Vec<&&String> = new.difference(&old).collect();
        let removed: Vec<&&String> = old.difference(&new).collect();
        let label = kind.replace('_', " ");
        if added.is_empty() && removed.is_empty() {
            out.push_str(&format!("{label}: unchanged ({})\n", new.len()));
            continue;
        }
        out.push_str(&format!("{label}: {} → {} (+{} −{})\n", old.len(), new.len(), added.len(), removed.len()));
        for name in added {
            out.push_str(&format!("  + {name}\n"));
        }
        for name in removed {
            out.push_str(&format!("  - {name}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(methods: &[&str], fields: &[&str]) -> Names {
        let mut n = Names::default();
        for kind in KINDS {
            n.0.insert(kind, BTreeSet::new());
        }
        n.0.insert("client_requests", methods.iter().map(|s| s.to_string()).collect());
        n.0.insert("fields", fields.iter().map(|s| s.to_string()).collect());
        n
    }

    #[test]
    fn spans_name_the_first_release_and_the_release_that_dropped_it() {
        let releases = vec![
            ("1".to_owned(), names(&["a", "gone"], &["T.x"])),
            ("2".to_owned(), names(&["a", "b", "gone"], &["T.x", "T.y"])),
            ("3".to_owned(), names(&["a", "b"], &["T.x", "T.y"])),
        ];
        let history = History::derive(&releases);
        assert_eq!(history.window, ["1", "2", "3"]);
        assert_eq!(history.span("client_requests", "a"), None, "present throughout");
        assert_eq!(history.since("client_requests", "b"), Some("2"));
        assert_eq!(history.span("client_requests", "gone").unwrap().removed.as_deref(), Some("3"));
        assert_eq!(history.since("fields", "T.y"), Some("2"));
        // Extending by one release gives what deriving over the longer window gives.
        let mut extended = History::derive(&releases[..2]);
        extended.extend(&releases[1].1, "3", &releases[2].1);
        assert_eq!(extended, history);
        // And the text form reads back.
        let text = history.to_json_text();
        assert_eq!(History::from_json(&serde_json::from_str(&text).unwrap()).unwrap(), history);
    }

    #[test]
    fn a_name_that_comes_back_starts_a_new_run() {
        let releases = vec![
            ("1".to_owned(), names(&["a"], &[])),
            ("2".to_owned(), names(&[], &[])),
            ("3".to_owned(), names(&["a"], &[])),
        ];
        let history = History::derive(&releases);
        assert_eq!(history.span("client_requests", "a"), Some(&Span { since: Some("3".into()), removed: None }));
    }

    #[test]
    fn changes_list_what_was_added_and_removed() {
        let text = name_changes(&names(&["a", "gone"], &[]), &names(&["a", "b"], &[]));
        assert!(text.contains("client requests: 2 → 2 (+1 −1)\n  + b\n  - gone\n"), "{text}");
        assert!(text.contains("server requests: unchanged (0)"), "{text}");
    }
}
