//! Sorting the bundle's definitions into what typify generates (structs, aliases,
//! untagged unions) and what this crate's own emitters generate: closed sets that must
//! stay open to values a newer Codex adds (string enums, tagged unions, keyed unions)
//! and the four method unions that form the method table.

use crate::bundle::{ref_name, Bundle};
use crate::naming::{pascal, unique_variant_idents};
use crate::normalize::{is_null_schema, normalize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A string value of an enum.
#[derive(Debug, Clone)]
pub struct UnitVariant {
    /// The wire string.
    pub wire: String,
    /// The Rust variant name.
    pub ident: String,
    /// Doc text, if the schema has any.
    pub doc: Option<String>,
}

/// A variant carrying a payload type.
#[derive(Debug, Clone)]
pub struct TypedVariant {
    /// The tag value (tagged unions) or the single key (keyed unions).
    pub wire: String,
    /// The Rust variant name.
    pub ident: String,
    /// The definition name of the payload type.
    pub ty: String,
    /// Doc text, if the schema has any.
    pub doc: Option<String>,
}

/// How an enum is represented on the wire.
#[derive(Debug, Clone)]
pub enum EnumKind {
    /// A plain string from a set.
    Strings(Vec<UnitVariant>),
    /// An object whose `tag` property names the variant; the other properties are the payload.
    Tagged {
        /// The discriminating property, e.g. `type`.
        tag: String,
        /// One entry per branch.
        variants: Vec<TypedVariant>,
    },
    /// Either a plain string, or an object with a single key naming the variant.
    Keyed {
        /// Plain string variants.
        units: Vec<UnitVariant>,
        /// Single-key object variants.
        keyed: Vec<TypedVariant>,
    },
}

/// An enum emitted by this crate (with a fallback variant), not by typify.
#[derive(Debug, Clone)]
pub struct EnumDef {
    /// Definition (and Rust type) name.
    pub name: String,
    /// Doc text.
    pub doc: Option<String>,
    /// Wire representation and variants.
    pub kind: EnumKind,
}

/// The `params` of one method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamsShape {
    /// No `params` member, or `params: null`.
    None,
    /// `params` is the named definition.
    Ref(String),
    /// `params` is the named definition or null.
    OptionalRef(String),
}

/// One method of a method union.
#[derive(Debug, Clone)]
pub struct MethodDef {
    /// Wire name, e.g. `thread/start`.
    pub method: String,
    /// Rust name, e.g. `ThreadStart`.
    pub ident: String,
    /// Params shape.
    pub params: ParamsShape,
    /// Doc text.
    pub doc: Option<String>,
}

/// Everything the emitters need from one bundle.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Definitions handed to typify (normalized, hoisted union branches included).
    pub typify_defs: BTreeMap<String, Value>,
    /// Enums emitted by this crate.
    pub enums: Vec<EnumDef>,
    /// `ClientRequest` methods.
    pub client_requests: Vec<MethodDef>,
    /// `ServerRequest` methods.
    pub server_requests: Vec<MethodDef>,
    /// `ServerNotification` methods.
    pub server_notifications: Vec<MethodDef>,
    /// `ClientNotification` methods.
    pub client_notifications: Vec<MethodDef>,
}

/// Definitions not turned into Rust types: the JSON-RPC envelopes belong to the
/// handwritten runtime, and the method unions become the method table.
const NOT_TYPES: &[&str] = &[
    "JSONRPCError",
    "JSONRPCErrorError",
    "JSONRPCMessage",
    "JSONRPCNotification",
    "JSONRPCRequest",
    "JSONRPCResponse",
];

impl Catalog {
    /// Classifies every definition of `bundle`.
    pub fn build(bundle: &Bundle) -> Result<Self, String> {
        let mut defs = bundle.definitions.clone();
        for schema in defs.values_mut() {
            normalize(schema);
        }
        keep_untagged_branches_closed(&bundle.definitions, &mut defs);
        let mut catalog = Catalog {
            typify_defs: BTreeMap::new(),
            enums: Vec::new(),
            client_requests: methods(&defs, "ClientRequest")?,
            server_requests: methods(&defs, "ServerRequest")?,
            server_notifications: methods(&defs, "ServerNotification")?,
            client_notifications: methods(&defs, "ClientNotification")?,
        };
        let mut hoisted = BTreeMap::new();
        for (name, schema) in &defs {
            if NOT_TYPES.contains(&name.as_str())
                || ["ClientRequest", "ServerRequest", "ServerNotification", "ClientNotification"]
                    .contains(&name.as_str())
            {
                continue;
            }
            match classify(name, schema, &mut hoisted)? {
                Some(def) => catalog.enums.push(def),
                None => {
                    let mut schema = schema.clone();
                    title_untagged_branches(name, &mut schema);
                    catalog.typify_defs.insert(name.clone(), schema);
                }
            }
        }
        for (name, schema) in hoisted {
            if defs.contains_key(&name) || catalog.typify_defs.contains_key(&name) {
                return Err(format!("hoisted union branch `{name}` clashes with a definition"));
            }
            catalog.typify_defs.insert(name, schema);
        }
        Ok(catalog)
    }

    /// Whether `name` is emitted by this crate's enum emitter.
    pub fn is_own_enum(&self, name: &str) -> bool {
        self.enums.iter().any(|e| e.name == name)
    }
}

/// Branches of an untagged union of references are told apart only by the fields they
/// reject: the server closes them with `additionalProperties: false`, and without it an
/// MCP "legacy titled enum" would decode as the plain enum and lose `enumNames`. Those
/// objects (and only those) stay closed.
fn keep_untagged_branches_closed(original: &BTreeMap<String, Value>, defs: &mut BTreeMap<String, Value>) {
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

fn doc_of(schema: &Value) -> Option<String> {
    schema.get("description").and_then(Value::as_str).map(str::to_owned)
}

fn branches(schema: &Value) -> Option<&Vec<Value>> {
    schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array)
}

/// A `{type: string, enum: [...]}` schema's values.
fn string_values(schema: &Value) -> Option<Vec<String>> {
    if schema.get("type").and_then(Value::as_str) != Some("string") {
        return None;
    }
    schema.get("enum")?.as_array()?.iter().map(|v| v.as_str().map(str::to_owned)).collect()
}

fn classify(name: &str, schema: &Value, hoisted: &mut BTreeMap<String, Value>) -> Result<Option<EnumDef>, String> {
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
fn title_untagged_branches(name: &str, schema: &mut Value) {
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

fn tag_value<'a>(branch: &'a Value, tag: &str) -> Option<&'a str> {
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
fn strip_section_marker(doc: String) -> Option<String> {
    let rest = if let Some(rest) = doc.strip_prefix("DEPRECATED APIs below") {
        format!("Deprecated.{rest}")
    } else {
        ["NEW APIs", "NEW NOTIFICATIONS"].iter().find_map(|m| doc.strip_prefix(m)).map(str::to_owned).unwrap_or(doc)
    };
    let rest = rest.trim().to_owned();
    (!rest.is_empty()).then_some(rest)
}

/// The methods of one of the four method unions.
fn methods(defs: &BTreeMap<String, Value>, union: &str) -> Result<Vec<MethodDef>, String> {
    let schema = defs.get(union).ok_or_else(|| format!("bundle lacks `{union}`"))?;
    let branches = branches(schema).ok_or_else(|| format!("`{union}` is not a union"))?;
    let mut out = Vec::new();
    for branch in branches {
        let method = tag_value(branch, "method")
            .ok_or_else(|| format!("a `{union}` branch has no constant `method`"))?
            .to_owned();
        let params = match branch.get("properties").and_then(|p| p.get("params")) {
            None => ParamsShape::None,
            Some(p) if is_null_schema(p) => ParamsShape::None,
            Some(p) => match ref_name(p) {
                Some(r) => ParamsShape::Ref(r.to_owned()),
                None => {
                    let alts = p.get("anyOf").and_then(Value::as_array);
                    match alts.map(Vec::as_slice) {
                        Some([a, b]) if is_null_schema(b) && ref_name(a).is_some() => {
                            ParamsShape::OptionalRef(ref_name(a).expect("checked").to_owned())
                        }
                        _ => return Err(format!("`{method}` has params of an unsupported shape: {p}")),
                    }
                }
            },
        };
        out.push(MethodDef {
            ident: pascal(&method),
            method,
            params,
            doc: doc_of(branch).and_then(strip_section_marker),
        });
    }
    let idents = unique_variant_idents(out.iter().map(|m| m.method.as_str()));
    if idents.iter().zip(&out).any(|(a, m)| *a != m.ident) {
        return Err(format!("two `{union}` methods map to the same Rust name"));
    }
    Ok(out)
}

/// The types only the server sends: reachable from client-request responses, server
/// notifications and server-request params, and not from anything the client sends
/// (client-request params, client notifications, server-request responses).
///
/// The crate's semver policy: these structs are `#[non_exhaustive]` (read them, match them
/// with `..`), so a field a newer Codex (or the `experimental` feature) adds breaks nobody.
/// Types the client sends stay constructible, with `..Default::default()` or `new(required…)`.
pub fn server_only_types(catalog: &Catalog) -> Result<std::collections::BTreeSet<String>, String> {
    let roots = message_roots(catalog)?;
    let client = reachable(catalog, roots.client);
    Ok(reachable(catalog, roots.server).difference(&client).cloned().collect())
}

/// Every type a server's message can hold: the types [`MessageRoots::server`] reach.
pub fn server_sent_types(catalog: &Catalog) -> Result<std::collections::BTreeSet<String>, String> {
    Ok(reachable(catalog, message_roots(catalog)?.server))
}

/// The types `roots` name, and every type those name, transitively.
fn reachable(catalog: &Catalog, roots: Vec<String>) -> std::collections::BTreeSet<String> {
    let edges = |name: &str| -> Vec<String> {
        let mut out = Vec::new();
        if let Some(schema) = catalog.typify_defs.get(name) {
            collect_refs(schema, &mut out);
        }
        if let Some(def) = catalog.enums.iter().find(|e| e.name == name) {
            match &def.kind {
                EnumKind::Strings(_) => {}
                EnumKind::Tagged { variants, .. } => out.extend(variants.iter().map(|v| v.ty.clone())),
                EnumKind::Keyed { keyed, .. } => out.extend(keyed.iter().map(|v| v.ty.clone())),
            }
        }
        out
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut stack = roots;
    while let Some(name) = stack.pop() {
        if seen.insert(name.clone()) {
            stack.extend(edges(&name));
        }
    }
    seen
}

/// The types at the top of every message, by direction.
pub struct MessageRoots {
    /// What the client sends: client-request params, client notifications' params and
    /// server-request responses.
    pub client: Vec<String>,
    /// What the server sends: client-request responses, server notifications' params and
    /// server-request params.
    pub server: Vec<String>,
}

/// The [`MessageRoots`] of `catalog`.
pub fn message_roots(catalog: &Catalog) -> Result<MessageRoots, String> {
    let has_def = |name: &str| catalog.typify_defs.contains_key(name) || catalog.is_own_enum(name);
    let params = |m: &MethodDef| match &m.params {
        ParamsShape::None => None,
        ParamsShape::Ref(p) | ParamsShape::OptionalRef(p) => Some(p.clone()),
    };
    let mut roots = MessageRoots { client: Vec::new(), server: Vec::new() };
    for m in &catalog.client_requests {
        roots.client.extend(params(m));
        roots.server.push(crate::methods::response_type(m, has_def)?);
    }
    roots.client.extend(catalog.client_notifications.iter().filter_map(params));
    roots.server.extend(catalog.server_notifications.iter().filter_map(params));
    for m in &catalog.server_requests {
        roots.server.extend(params(m));
        roots.client.push(crate::methods::response_type(m, has_def)?);
    }
    Ok(roots)
}

fn collect_refs(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(name) = ref_name(schema) {
                out.push(name.to_owned());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}
