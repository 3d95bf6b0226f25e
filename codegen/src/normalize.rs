//! Schema rewrites that make typify's output correct on this schema.
//!
//! Each rewrite fixes a measured defect of raw typify output (see the project notes):
//! boolean schemas, `uint`, doubly nested nullables, closed objects that would reject
//! fields added by a newer Codex, and a variant that nests an `anyOf` of single-field
//! objects next to its own properties.

use serde_json::{json, Map, Value};

/// Applies every rewrite below `schema`, recursively.
pub fn normalize(schema: &mut Value) {
    match schema {
        // `true` accepts anything: an unconstrained schema. typify panics or emits an
        // uninhabited enum for it; `{}` becomes `serde_json::Value`.
        Value::Bool(true) => *schema = json!({}),
        Value::Bool(false) => *schema = json!({ "not": {} }),
        Value::Object(map) => {
            map.remove("$schema");
            // `uint` is a Rust `usize` in the server; typify would pick u32.
            if map.get("format").and_then(Value::as_str) == Some("uint") {
                map.insert("format".into(), json!("uint64"));
            }
            // Forward compatibility: a newer Codex may add fields anywhere.
            if map.get("additionalProperties") == Some(&Value::Bool(false)) {
                map.remove("additionalProperties");
            }
            move_default_to_docs(map);
            flatten_nested_nullable(map);
            inline_single_field_alternatives(map);
            any_of_as_one_of(map);
            for_each_subschema(map, normalize);
        }
        _ => {}
    }
}

/// Calls `f` on every schema nested directly in `map` (not on keyword maps such as
/// `properties` itself, whose keys are field names).
pub fn for_each_subschema(map: &mut Map<String, Value>, mut f: impl FnMut(&mut Value)) {
    for (key, value) in map.iter_mut() {
        match key.as_str() {
            "properties" | "definitions" | "patternProperties" => {
                if let Value::Object(children) = value {
                    children.values_mut().for_each(&mut f);
                }
            }
            "items" | "additionalProperties" | "not" | "propertyNames" | "contains" => match value {
                Value::Array(list) => list.iter_mut().for_each(&mut f),
                other => f(other),
            },
            "anyOf" | "oneOf" | "allOf" => {
                if let Value::Array(list) = value {
                    list.iter_mut().for_each(&mut f);
                }
            }
            _ => {}
        }
    }
}

/// Schema defaults are dropped: an absent field then stays an absent `Option` and
/// re-encodes as absent (no invented `false` or `[]`), and typify's default validation,
/// which rejects several of this schema's defaults, is not involved. A non-null
/// default is kept in the field's docs.
fn move_default_to_docs(map: &mut Map<String, Value>) {
    let Some(default) = map.remove("default") else { return };
    if default.is_null() {
        return;
    }
    let note = format!("Defaults to `{default}` when absent.");
    let description = match map.get("description").and_then(Value::as_str) {
        Some(d) => format!("{d}\n\n{note}"),
        None => note,
    };
    map.insert("description".into(), Value::String(description));
}

/// `anyOf: [ {anyOf: [X, null]}, null ]` → `anyOf: [X, null]`.
fn flatten_nested_nullable(map: &mut Map<String, Value>) {
    let Some(Value::Array(branches)) = map.get("anyOf") else { return };
    if branches.len() != 2 || !is_null_schema(&branches[1]) {
        return;
    }
    let Some(Value::Array(inner)) = branches[0].get("anyOf") else { return };
    if inner.len() == 2 && is_null_schema(&inner[1]) && branches[0].as_object().is_some_and(|o| o.len() == 1) {
        let inner = inner.clone();
        map.insert("anyOf".into(), Value::Array(inner));
    }
}

/// A general `anyOf` (two or more non-null alternatives) becomes `oneOf`: typify turns
/// `anyOf` into a struct of flattened optional fields, which rejects plain strings and
/// silently decodes objects to all-`None`. The alternatives here are disjoint, so
/// "exactly one" is what the server means.
fn any_of_as_one_of(map: &mut Map<String, Value>) {
    let Some(Value::Array(branches)) = map.get("anyOf") else { return };
    if branches.iter().filter(|b| !is_null_schema(b)).count() >= 2 {
        let branches = map.remove("anyOf").expect("checked");
        map.insert("oneOf".into(), branches);
    }
}

/// Whether `schema` is `{"type": "null"}`.
pub fn is_null_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

/// An object with `properties` plus an `anyOf` of objects that each require one field
/// (image input: `url` | `fileId`) gets those fields as optional properties and a note
/// in its description. Internal tagging of the enclosing union stays possible and no
/// data is lost; the "exactly one" rule moves to the docs.
fn inline_single_field_alternatives(map: &mut Map<String, Value>) {
    if !map.contains_key("properties") {
        return;
    }
    let Some(Value::Array(branches)) = map.get("anyOf") else { return };
    let mut fields = Vec::new();
    for branch in branches {
        let required = branch.get("required").and_then(Value::as_array);
        let props = branch.get("properties").and_then(Value::as_object);
        match (required, props) {
            (Some(req), Some(props)) if req.len() == 1 && props.len() == 1 => {
                let (name, schema) = props.iter().next().expect("one property");
                fields.push((name.clone(), schema.clone()));
            }
            _ => return,
        }
    }
    map.remove("anyOf");
    let names: Vec<String> = fields.iter().map(|(n, _)| format!("`{n}`")).collect();
    let note = format!("Exactly one of {} is set.", names.join(", "));
    let description = match map.get("description").and_then(Value::as_str) {
        Some(d) => format!("{d}\n\n{note}"),
        None => note,
    };
    map.insert("description".into(), Value::String(description));
    let props = map.get_mut("properties").and_then(Value::as_object_mut).expect("checked above");
    for (name, schema) in fields {
        props.insert(name, schema);
    }
}
