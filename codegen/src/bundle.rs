//! Loading a schema bundle emitted by `codex app-server generate-json-schema`.
//!
//! The full bundle nests the v2 definitions under `definitions.v2`; typify resolves a
//! `$ref` by its last path segment, so they are hoisted next to the top-level ones and
//! every reference is rewritten to the flat form.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// File name of the full bundle inside a schema directory.
pub const BUNDLE_FILE: &str = "codex_app_server_protocol.schemas.json";

/// All definitions of one bundle, flat and ordered by name.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Definition name → JSON schema.
    pub definitions: BTreeMap<String, Value>,
}

impl Bundle {
    /// Reads `<dir>/codex_app_server_protocol.schemas.json`.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let path = dir.join(BUNDLE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let root: Value = serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
        Self::from_root(root)
    }

    /// Builds a bundle from the parsed root document.
    pub fn from_root(mut root: Value) -> Result<Self, String> {
        let Some(Value::Object(mut top)) = root.get_mut("definitions").map(Value::take) else {
            return Err("schema bundle has no `definitions` object".into());
        };
        let nested = match top.remove("v2") {
            Some(Value::Object(v2)) => v2,
            Some(_) => return Err("`definitions.v2` is not an object".into()),
            None => Map::new(),
        };
        let mut definitions = BTreeMap::new();
        for (name, schema) in top.into_iter().chain(nested) {
            if let Some(previous) = definitions.get(&name) {
                if !same_ignoring_title(previous, &schema) {
                    return Err(format!("definition `{name}` appears twice with different shapes"));
                }
            }
            definitions.insert(name, schema);
        }
        for schema in definitions.values_mut() {
            flatten_refs(schema);
        }
        Ok(Self { definitions })
    }

    /// The schema of a definition, if present.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.definitions.get(name)
    }
}

fn same_ignoring_title(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("title");
            o.remove("$schema");
        }
        v
    };
    strip(a) == strip(b)
}

/// Rewrites `#/definitions/v2/X` to `#/definitions/X` everywhere below `schema`.
fn flatten_refs(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref") {
                if let Some(name) = r.strip_prefix("#/definitions/v2/") {
                    *r = format!("#/definitions/{name}");
                }
            }
            map.values_mut().for_each(flatten_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(flatten_refs),
        _ => {}
    }
}

/// The definition name a `$ref` points at, if `schema` is a plain reference.
pub fn ref_name(schema: &Value) -> Option<&str> {
    schema.get("$ref")?.as_str()?.strip_prefix("#/definitions/")
}
