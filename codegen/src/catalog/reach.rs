//! Which types each side sends: the roots of every message by direction and what they
//! reach, for the semver classification, the crate split and the window test.

use super::{Catalog, EnumKind, MethodDef, ParamsShape};
use crate::bundle::ref_name;
use serde_json::Value;

/// Every type a server's message can hold: the types [`MessageRoots::server`] reach.
pub fn server_sent_types(catalog: &Catalog) -> Result<std::collections::BTreeSet<String>, String> {
    Ok(reachable(catalog, message_roots(catalog)?.server))
}

/// Every type a client's message can hold: the types [`MessageRoots::client`] reach.
pub fn client_sent_types(catalog: &Catalog) -> Result<std::collections::BTreeSet<String>, String> {
    Ok(reachable(catalog, message_roots(catalog)?.client))
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
    let params = |m: &MethodDef| match &m.params {
        ParamsShape::None => None,
        ParamsShape::Ref(p) | ParamsShape::OptionalRef(p) => Some(p.clone()),
    };
    let mut roots = MessageRoots { client: Vec::new(), server: Vec::new() };
    for m in &catalog.client_requests {
        roots.client.extend(params(m));
        roots.server.push(m.response_type()?.to_owned());
    }
    roots.client.extend(catalog.client_notifications.iter().filter_map(params));
    roots.server.extend(catalog.server_notifications.iter().filter_map(params));
    for m in &catalog.server_requests {
        roots.server.extend(params(m));
        roots.client.push(m.response_type()?.to_owned());
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
