//! Schema-driven sample instances for round-trip tests: for every definition a minimal
//! instance (required fields only, `null` where allowed) and a maximal one (every field,
//! one element per array and map), and one pair per branch of every union.

use crate::bundle::ref_name;
use crate::catalog::{Catalog, EnumKind};
use serde_json::{json, Map, Value};

/// One sample value of one definition.
#[derive(Debug, Clone)]
pub struct Case {
    /// The definition (Rust type) name.
    pub type_name: String,
    /// What the sample is, e.g. `maximal` or `variant agentMessage, minimal`.
    pub label: String,
    /// The JSON value.
    pub value: Value,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Min,
    Max,
}

const MAX_DEPTH: usize = 8;

/// Every case of every definition of `catalog`.
pub fn cases(catalog: &Catalog) -> Vec<Case> {
    let gen = Generator { catalog };
    let mut out = Vec::new();
    for (name, schema) in &catalog.typify_defs {
        for (mode, label) in [(Mode::Min, "minimal"), (Mode::Max, "maximal")] {
            let branches = schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array);
            match branches {
                Some(branches) if schema.get("properties").is_none() => {
                    for (i, branch) in branches.iter().enumerate() {
                        out.push(Case {
                            type_name: name.clone(),
                            label: format!("branch {i}, {label}"),
                            value: gen.instance(branch, mode, 0),
                        });
                    }
                }
                _ => out.push(Case {
                    type_name: name.clone(),
                    label: label.into(),
                    value: gen.instance(schema, mode, 0),
                }),
            }
        }
    }
    for def in &catalog.enums {
        for (mode, label) in [(Mode::Min, "minimal"), (Mode::Max, "maximal")] {
            for (variant, value) in gen.enum_variants(&def.name, mode, 0) {
                out.push(Case { type_name: def.name.clone(), label: format!("variant {variant}, {label}"), value });
            }
        }
    }
    out
}

struct Generator<'a> {
    catalog: &'a Catalog,
}

impl Generator<'_> {
    fn enum_variants(&self, name: &str, mode: Mode, depth: usize) -> Vec<(String, Value)> {
        let Some(def) = self.catalog.enums.iter().find(|e| e.name == name) else { return vec![] };
        match &def.kind {
            EnumKind::Strings(units) => units.iter().map(|u| (u.wire.clone(), json!(u.wire))).collect(),
            EnumKind::Tagged { tag, variants } => variants
                .iter()
                .map(|v| {
                    let mut value = self.named(&v.ty, mode, depth + 1);
                    if let Some(o) = value.as_object_mut() {
                        o.insert(tag.clone(), json!(v.wire));
                    }
                    (v.wire.clone(), value)
                })
                .collect(),
            EnumKind::Keyed { units, keyed } => units
                .iter()
                .map(|u| (u.wire.clone(), json!(u.wire)))
                .chain(keyed.iter().map(|k| {
                    let mut map = Map::new();
                    map.insert(k.wire.clone(), self.named(&k.ty, mode, depth + 1));
                    (k.wire.clone(), Value::Object(map))
                }))
                .collect(),
        }
    }

    fn named(&self, name: &str, mode: Mode, depth: usize) -> Value {
        if let Some(schema) = self.catalog.typify_defs.get(name) {
            return self.instance(schema, mode, depth);
        }
        let variants = self.enum_variants(name, mode, depth);
        let pick = if mode == Mode::Max { variants.last() } else { variants.first() };
        pick.map(|(_, v)| v.clone()).unwrap_or(Value::Null)
    }

    fn instance(&self, schema: &Value, mode: Mode, depth: usize) -> Value {
        let mode = if depth > MAX_DEPTH { Mode::Min } else { mode };
        if let Some(name) = ref_name(schema) {
            return self.named(name, mode, depth + 1);
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            let pick = if mode == Mode::Max { values.last() } else { values.first() };
            return pick.cloned().unwrap_or(Value::Null);
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            if let [single] = all.as_slice() {
                return self.instance(single, mode, depth);
            }
        }
        if let Some(branches) = schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array) {
            if schema.get("properties").is_none() {
                let non_null: Vec<&Value> = branches.iter().filter(|b| b.get("type") != Some(&json!("null"))).collect();
                let nullable = non_null.len() < branches.len();
                if nullable && mode == Mode::Min {
                    return Value::Null;
                }
                return non_null.first().map(|b| self.instance(b, mode, depth)).unwrap_or(Value::Null);
            }
        }
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ if schema.get("properties").is_some() => vec!["object"],
            _ => vec![],
        };
        if types.is_empty() {
            // Unconstrained: any JSON.
            return json!({ "any": [1, "two", null] });
        }
        if types.contains(&"null") && mode == Mode::Min {
            return Value::Null;
        }
        let ty = types.iter().copied().find(|t| *t != "null").unwrap_or("null");
        match ty {
            "string" => {
                let min_len = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
                let text = if mode == Mode::Max { "sample text".to_owned() } else { String::new() };
                json!(if text.len() < min_len { "x".repeat(min_len) } else { text })
            }
            "integer" => {
                let min = schema.get("minimum").and_then(Value::as_f64).unwrap_or(0.0) as i64;
                json!(if mode == Mode::Max { min.max(7) } else { min })
            }
            "number" => json!(if mode == Mode::Max { 1.5 } else { 0.0 }),
            "boolean" => json!(mode == Mode::Max),
            "array" => match (mode, schema.get("items")) {
                (Mode::Max, Some(items)) if items.is_object() => json!([self.instance(items, mode, depth + 1)]),
                _ => json!([]),
            },
            "object" => self.object(schema, mode, depth),
            _ => Value::Null,
        }
    }

    fn object(&self, schema: &Value, mode: Mode, depth: usize) -> Value {
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut out = Map::new();
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, prop) in props {
                if mode == Mode::Max || required.contains(&name.as_str()) {
                    out.insert(name.clone(), self.instance(prop, mode, depth + 1));
                }
            }
        }
        if mode == Mode::Max {
            if let Some(extra) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                out.insert("someKey".into(), self.instance(extra, mode, depth + 1));
            }
        }
        Value::Object(out)
    }
}

/// `value` with every `null` and `[]` object member removed, recursively: a `null` or
/// empty optional field and an absent one mean the same, and the generated types
/// re-encode them as absent.
pub fn without_empty_members(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
                .map(|(k, v)| (k.clone(), without_empty_members(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_empty_members).collect()),
        other => other.clone(),
    }
}

/// Whether `part` is `whole` with zero or more object members left out, recursively.
pub fn is_subset(part: &Value, whole: &Value) -> bool {
    match (part, whole) {
        (Value::Object(p), Value::Object(w)) => p.iter().all(|(k, v)| w.get(k).is_some_and(|wv| is_subset(v, wv))),
        (Value::Array(p), Value::Array(w)) => p.len() == w.len() && p.iter().zip(w).all(|(a, b)| is_subset(a, b)),
        (a, b) => a == b,
    }
}
