//! Which definitions this crate's enum emitter generates instead of typify: string enums,
//! tagged unions and keyed unions, each kept open to what a newer Codex adds.

use super::{EnumDef, EnumKind, TypedVariant, UnitVariant};
use crate::bundle::ref_name;
use crate::naming::{pascal, unique_variant_idents};
use crate::normalize::is_null_schema;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Branches of an untagged union of references are told apart only by the fields they
/// reject: the server closes them with `additionalProperties: false`, and without it an
/// MCP "legacy titled enum" would decode as the plain enum and lose `enumNames`. Those
/// objects (and only those) stay closed.
pub(super) fn keep_untagged_branches_closed(original: &BTreeMap<String, Value>, defs: &mut BTreeMap<String, Value>) {
    let mut closed = Vec::new();
    for schema in original.values() {
        let Some(branches) = branches(schema) else { continue };
        let refs: Vec<&str> = branches.iter().filter_map(ref_name).collect();
        if refs.len() >= 2 && refs.len() == branches.len() {
            closed.extend(
                refs.into_iter().filter(|r| {
                    original.get(*r).and_then(|d| d.get("additionalProperties")) == Some(&Value::Bool(false))
                }),
            );
        }
    }
    for name in closed {
        if let Some(Value::Object(def)) = defs.get_mut(name) {
            def.insert("additionalProperties".into(), Value::Bool(false));
        }
    }
}

/// A Rust type name from a schema title; the server's titles sometimes carry a Rust
/// module path (`ApiKeyv2::LoginAccountParams`), which is dropped.
fn type_name_from_title(title: &str) -> String {
    pascal(&title.replace("v2::", ""))
}

pub(super) fn doc_of(schema: &Value) -> Option<String> {
    schema.get("description").and_then(Value::as_str).map(str::to_owned)
}

pub(super) fn branches(schema: &Value) -> Option<&Vec<Value>> {
    schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array)
}

/// A `{type: string, enum: [...]}` schema's values.
fn string_values(schema: &Value) -> Option<Vec<String>> {
    if schema.get("type").and_then(Value::as_str) != Some("string") {
        return None;
    }
    schema.get("enum")?.as_array()?.iter().map(|v| v.as_str().map(str::to_owned)).collect()
}

pub(super) fn classify(
    name: &str,
    schema: &Value,
    hoisted: &mut BTreeMap<String, Value>,
) -> Result<Option<EnumDef>, String> {
    let doc = doc_of(schema);
    if let Some(values) = string_values(schema) {
        let units = unit_variants(values.into_iter().map(|v| (v, None)).collect());
        return Ok(Some(EnumDef { name: name.into(), doc, kind: EnumKind::Strings(units) }));
    }
    let Some(branches) = branches(schema) else { return Ok(None) };
    // A nullable reference or any other union with a null branch stays with typify.
    if branches.iter().any(is_null_schema) {
        return Ok(None);
    }
    // oneOf of documented string values.
    if branches.iter().all(|b| string_values(b).is_some()) {
        let mut values = Vec::new();
        for b in branches {
            let vals = string_values(b).expect("checked");
            let single_doc = if vals.len() == 1 { doc_of(b) } else { None };
            values.extend(vals.into_iter().map(|v| (v, single_doc.clone())));
        }
        let units = unit_variants(values);
        return Ok(Some(EnumDef { name: name.into(), doc, kind: EnumKind::Strings(units) }));
    }
    if let Some(tag) = common_tag(branches) {
        return tagged_union(name, schema, branches, &tag, hoisted).map(Some);
    }
    if let Some(def) = keyed_union(name, schema, branches, hoisted)? {
        return Ok(Some(def));
    }
    Ok(None)
}

/// Gives every untitled object branch of an untagged union a title (typify's variant
/// name) from the required field that only that branch has, instead of `VariantN`.
pub(super) fn title_untagged_branches(name: &str, schema: &mut Value) {
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(branches)) = schema.get_mut(key) {
            title_branches(name, branches);
        }
    }
}

fn title_branches(name: &str, branches: &mut [Value]) {
    let required: Vec<Vec<String>> = branches
        .iter()
        .map(|b| {
            b.get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default()
        })
        .collect();
    for (i, branch) in branches.iter_mut().enumerate() {
        let Some(obj) = branch.as_object_mut() else { continue };
        if obj.contains_key("title") || obj.get("type").and_then(Value::as_str) != Some("object") {
            continue;
        }
        let unique =
            required[i].iter().find(|field| required.iter().enumerate().all(|(j, r)| j == i || !r.contains(field)));
        if let Some(field) = unique {
            obj.insert("title".into(), Value::String(format!("{}{name}", pascal(field))));
        }
    }
}

fn unit_variants(values: Vec<(String, Option<String>)>) -> Vec<UnitVariant> {
    let idents = unique_variant_idents(values.iter().map(|(w, _)| w.as_str()));
    values.into_iter().zip(idents).map(|((wire, doc), ident)| UnitVariant { wire, ident, doc }).collect()
}

/// The single-value enum property, required in every branch, that names the branch.
fn common_tag(branches: &[Value]) -> Option<String> {
    let first = branches.first()?;
    let props = first.get("properties")?.as_object()?;
    props.keys().find(|key| branches.iter().all(|b| tag_value(b, key).is_some())).cloned()
}

pub(super) fn tag_value<'a>(branch: &'a Value, tag: &str) -> Option<&'a str> {
    let required = branch.get("required")?.as_array()?;
    if !required.iter().any(|r| r == tag) {
        return None;
    }
    let values = branch.get("properties")?.get(tag)?.get("enum")?.as_array()?;
    match values.as_slice() {
        [Value::String(v)] => Some(v),
        _ => None,
    }
}

fn tagged_union(
    name: &str,
    schema: &Value,
    branches: &[Value],
    tag: &str,
    hoisted: &mut BTreeMap<String, Value>,
) -> Result<EnumDef, String> {
    let outer_props = schema.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
    let outer_required: Vec<Value> = schema.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
    let wires: Vec<String> = branches.iter().map(|b| tag_value(b, tag).expect("tag").to_owned()).collect();
    let idents = unique_variant_idents(wires.iter().map(String::as_str));
    let mut variants = Vec::new();
    for ((branch, wire), ident) in branches.iter().zip(wires).zip(idents) {
        let ty = match branch.get("title").and_then(Value::as_str) {
            Some(title) => type_name_from_title(title),
            None => format!("{ident}{name}"),
        };
        let mut body: Map<String, Value> = branch.as_object().cloned().unwrap_or_default();
        let props = body.entry("properties").or_insert_with(|| Value::Object(Map::new()));
        let props = props.as_object_mut().ok_or("branch properties")?;
        props.remove(tag);
        for (k, v) in &outer_props {
            props.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let mut required: Vec<Value> = body
            .get("required")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r != tag)
            .collect();
        for r in &outer_required {
            if !required.contains(r) {
                required.push(r.clone());
            }
        }
        body.insert("required".into(), Value::Array(required));
        body.insert("type".into(), "object".into());
        body.insert("title".into(), Value::String(ty.clone()));
        let doc = doc_of(branch);
        hoisted.insert(ty.clone(), Value::Object(body));
        variants.push(TypedVariant { wire, ident, ty, doc });
    }
    Ok(EnumDef { name: name.into(), doc: doc_of(schema), kind: EnumKind::Tagged { tag: tag.into(), variants } })
}

/// A union of string values and single-key objects (externally tagged).
fn keyed_union(
    name: &str,
    schema: &Value,
    branches: &[Value],
    hoisted: &mut BTreeMap<String, Value>,
) -> Result<Option<EnumDef>, String> {
    let mut units = Vec::new();
    let mut keyed = Vec::new();
    for branch in branches {
        if let Some(values) = string_values(branch) {
            let doc = if values.len() == 1 { doc_of(branch) } else { None };
            units.extend(values.into_iter().map(|v| (v, doc.clone())));
            continue;
        }
        // `{type: [string, object]}`: the server's own "anything else" branch, which
        // the fallback variant covers.
        if branch.as_object().is_some_and(|o| o.len() == 1) && branch.get("type").is_some_and(Value::is_array) {
            continue;
        }
        let props = branch.get("properties").and_then(Value::as_object);
        let required = branch.get("required").and_then(Value::as_array);
        match (props, required) {
            (Some(p), Some(r)) if p.len() == 1 && r.len() == 1 => {
                let (key, payload) = p.iter().next().expect("one");
                let title = branch.get("title").and_then(Value::as_str);
                keyed.push((key.clone(), payload.clone(), title.map(str::to_owned), doc_of(branch)));
            }
            _ => return Ok(None),
        }
    }
    if keyed.is_empty() {
        return Ok(None);
    }
    let all: Vec<&str> =
        units.iter().map(|(w, _): &(String, _)| w.as_str()).chain(keyed.iter().map(|k| k.0.as_str())).collect();
    let idents = unique_variant_idents(all.iter().copied());
    let (unit_idents, keyed_idents) = idents.split_at(units.len());
    let units = units
        .into_iter()
        .zip(unit_idents)
        .map(|((wire, doc), ident)| UnitVariant { wire, ident: ident.clone(), doc })
        .collect();
    let mut typed = Vec::new();
    for ((key, payload, title, doc), ident) in keyed.into_iter().zip(keyed_idents) {
        let ty = match ref_name(&payload) {
            Some(r) => r.to_owned(),
            None => {
                let ty = match title {
                    Some(t) => type_name_from_title(&t),
                    None => format!("{ident}{name}"),
                };
                let mut body = payload.clone();
                if let Some(o) = body.as_object_mut() {
                    o.insert("title".into(), Value::String(ty.clone()));
                    if let (None, Some(d)) = (o.get("description"), &doc) {
                        o.insert("description".into(), Value::String(d.clone()));
                    }
                }
                hoisted.insert(ty.clone(), body);
                ty
            }
        };
        typed.push(TypedVariant { wire: key, ident: ident.clone(), ty, doc });
    }
    Ok(Some(EnumDef { name: name.into(), doc: doc_of(schema), kind: EnumKind::Keyed { units, keyed: typed } }))
}

/// Drops the source file's section markers ("NEW APIs", "NEW NOTIFICATIONS") that leak
/// into method descriptions; a `DEPRECATED` marker becomes a plain "Deprecated." note.
pub(super) fn strip_section_marker(doc: String) -> Option<String> {
    let rest = if let Some(rest) = doc.strip_prefix("DEPRECATED APIs below") {
        format!("Deprecated.{rest}")
    } else {
        ["NEW APIs", "NEW NOTIFICATIONS"].iter().find_map(|m| doc.strip_prefix(m)).map(str::to_owned).unwrap_or(doc)
    };
    let rest = rest.trim().to_owned();
    (!rest.is_empty()).then_some(rest)
}
