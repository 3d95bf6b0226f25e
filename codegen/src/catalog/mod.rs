//! The schema, read for the emitters: [`Catalog::build`] sorts the bundle's definitions
//! into what typify generates (structs, aliases, untagged unions) and what this crate's
//! own emitters generate (`classify`: closed sets that must stay open to values a newer
//! Codex adds — string enums, tagged unions, keyed unions), reads the four method unions
//! that form the method table, each request with its response type resolved once
//! (`methods`), and answers which types each side sends (`reach`).

mod classify;
mod methods;
mod reach;

use classify::{classify, keep_untagged_branches_closed, title_untagged_branches};
use methods::methods;
pub use methods::RESPONSE_EXCEPTIONS;
pub use reach::{client_sent_types, message_roots, server_sent_types, MessageRoots};

use crate::bundle::Bundle;
use crate::normalize::normalize;
use serde_json::Value;
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
    /// The response's definition name (requests only; `None` for notifications), resolved
    /// once by [`Catalog::build`].
    pub response: Option<String>,
    /// Doc text.
    pub doc: Option<String>,
}

impl MethodDef {
    /// A request's response type (resolved by [`Catalog::build`]); an error for a
    /// notification, which has none.
    pub fn response_type(&self) -> Result<&str, String> {
        self.response.as_deref().ok_or_else(|| format!("`{}` is not a request: it has no response", self.method))
    }
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
        methods::resolve_responses(&mut catalog)?;
        Ok(catalog)
    }

    /// Whether `name` is emitted by this crate's enum emitter.
    pub fn is_own_enum(&self, name: &str) -> bool {
        self.enums.iter().any(|e| e.name == name)
    }

    /// Whether `name` is a type some emitter generates (typify's or an own enum).
    pub fn has_def(&self, name: &str) -> bool {
        self.typify_defs.contains_key(name) || self.is_own_enum(name)
    }
}
