//! The shapes of the older releases of the window: for every definition whose schema in an
//! older release differs from the pin's, that older schema, so a test can generate what an
//! older Codex sends and decode it with the pinned types.
//!
//! `cargo xtask history` derives it from the schema bundles of every release in the window
//! (the `--experimental` bundles, which hold the stable ones) and writes `schema/window.json`.
//! Descriptions are left out: they do not change what a message looks like. Each distinct
//! shape is stored once; a release lists the definitions it shapes differently and those
//! it lacks.

use crate::bundle::Bundle;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// File name of the window's shapes inside `schema/`.
pub const WINDOW_FILE: &str = "window.json";

/// The older releases' shapes, relative to the pin.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
pub struct Window {
    /// Every distinct older shape.
    shapes: Vec<Value>,
    /// release → what differs from the pin.
    releases: BTreeMap<String, Release>,
}

/// What one older release shapes differently from the pin.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
struct Release {
    /// Definition → index into [`Window::shapes`].
    shaped: BTreeMap<String, usize>,
    /// Definitions of the pin the release does not have.
    absent: Vec<String>,
}

impl Window {
    /// Derives the window from the pin's bundle and every older release's, oldest first.
    pub fn derive(pin: &Bundle, releases: &[(String, Bundle)]) -> Self {
        let mut window = Window::default();
        let pin_shapes: BTreeMap<&String, Value> =
            pin.definitions.iter().map(|(name, schema)| (name, without_descriptions(schema))).collect();
        for (version, bundle) in releases {
            let mut release = Release::default();
            for (name, schema) in &bundle.definitions {
                let shape = without_descriptions(schema);
                if pin_shapes.get(name) == Some(&shape) {
                    continue;
                }
                let index = match window.shapes.iter().position(|s| *s == shape) {
                    Some(index) => index,
                    None => {
                        window.shapes.push(shape);
                        window.shapes.len() - 1
                    }
                };
                release.shaped.insert(name.clone(), index);
            }
            release.absent =
                pin.definitions.keys().filter(|name| !bundle.definitions.contains_key(*name)).cloned().collect();
            window.releases.insert(version.clone(), release);
        }
        window
    }

    /// The older releases this window holds, oldest first.
    pub fn releases(&self) -> Vec<&str> {
        let mut versions: Vec<&str> = self.releases.keys().map(String::as_str).collect();
        versions.sort_by_key(|v| v.split('.').map(|p| p.parse::<u32>().unwrap_or(0)).collect::<Vec<_>>());
        versions
    }

    /// The bundle of `version` rebuilt from the pin's: its own shapes in place of the pin's,
    /// without the definitions it lacks.
    pub fn bundle_of(&self, pin: &Bundle, version: &str) -> Result<Bundle, String> {
        let release = self.releases.get(version).ok_or_else(|| format!("{WINDOW_FILE} has no release {version}"))?;
        let mut bundle = pin.clone();
        for name in &release.absent {
            bundle.definitions.remove(name);
        }
        for (name, &index) in &release.shaped {
            let shape = self.shapes.get(index).ok_or_else(|| format!("{WINDOW_FILE}: shape {index} is missing"))?;
            bundle.definitions.insert(name.clone(), shape.clone());
        }
        Ok(bundle)
    }

    /// Reads `schema/window.json`.
    pub fn load(schema_dir: &Path) -> Result<Self, String> {
        let path = schema_dir.join(WINDOW_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{} is not a window of shapes: {e}", path.display()))
    }

    /// The file's text: one release or shape per line, so a bump reads as a small diff.
    pub fn to_json_text(&self) -> String {
        let mut out = String::from("{\n  \"releases\": {\n");
        let releases: Vec<String> = self
            .releases()
            .iter()
            .map(|version| {
                let release = &self.releases[*version];
                let entry = json!({ "shaped": release.shaped, "absent": release.absent });
                format!("    {}: {}", json!(version), entry)
            })
            .collect();
        out.push_str(&releases.join(",\n"));
        out.push_str("\n  },\n  \"shapes\": [\n");
        let shapes: Vec<String> = self.shapes.iter().map(|s| format!("    {s}")).collect();
        out.push_str(&shapes.join(",\n"));
        out.push_str("\n  ]\n}\n");
        out
    }
}

/// `schema` without its `description`s (the values of `description` keys, wherever they are).
fn without_descriptions(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let kept: Map<String, Value> = map
                .iter()
                .filter(|(key, value)| !(key.as_str() == "description" && value.is_string()))
                .map(|(key, value)| (key.clone(), without_descriptions(value)))
                .collect();
            Value::Object(kept)
        }
        Value::Array(items) => Value::Array(items.iter().map(without_descriptions).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(defs: Value) -> Bundle {
        Bundle::from_root(json!({ "definitions": defs })).unwrap()
    }

    #[test]
    fn an_older_release_is_rebuilt_from_the_pin_and_its_own_shapes() {
        let pin = bundle(json!({
            "A": {"type": "object", "properties": {"x": {"type": "string"}}, "description": "now"},
            "B": {"type": "string"},
            "New": {"type": "integer"},
        }));
        let old = bundle(json!({
            "A": {"type": "object", "properties": {"x": {"type": "string"}}, "description": "then"},
            "B": {"type": "object"},
            "Gone": {"type": "boolean"},
        }));
        let window = Window::derive(&pin, &[("0.1.0".into(), old)]);
        let text = window.to_json_text();
        let back: Window = serde_json::from_str(&text).unwrap();
        assert_eq!(back, window);
        let rebuilt = back.bundle_of(&pin, "0.1.0").unwrap();
        let names: Vec<&String> = rebuilt.definitions.keys().collect();
        assert_eq!(names, ["A", "B", "Gone"], "a description-only change keeps the pin's definition");
        assert_eq!(rebuilt.definitions["B"], json!({"type": "object"}));
        assert!(back.bundle_of(&pin, "0.2.0").is_err());
    }
}
