//! Splits the generated protocol types into three crates by who sends them, so rustc
//! builds them as three smaller units, the last two side by side: the types both the
//! client and the server send ([`Part::Shared`]), the types only the client sends
//! ([`Part::Outbound`]: request params and what they hold) and the types only the server
//! sends ([`Part::Inbound`]: responses, notifications and what they hold). `Outbound` and
//! `Inbound` depend on `Shared` only, never on each other.
//!
//! The split works on the Rust items themselves (what a struct's fields, an enum's
//! variants and every impl name), so whatever typify invents besides the schema's
//! definitions lands where its users are, and every item is checked to name only types
//! of its own part or of `Shared`.

use std::collections::{BTreeMap, BTreeSet};

use syn::visit::Visit;

use crate::catalog::MessageRoots;

/// One of the three type crates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// Types both directions carry.
    Shared,
    /// Types only the client sends.
    Outbound,
    /// Types only the server sends.
    Inbound,
}

impl Part {
    /// The three parts, in build order.
    pub const ALL: [Part; 3] = [Part::Shared, Part::Outbound, Part::Inbound];

    /// The part's directory under `sdk/protocol/` and the suffix of its crate name.
    pub fn name(self) -> &'static str {
        match self {
            Part::Shared => "shared",
            Part::Outbound => "outbound",
            Part::Inbound => "inbound",
        }
    }

    /// What the part's types are, for docs.
    pub fn what(self) -> &'static str {
        match self {
            Part::Shared => "the protocol types both the client and the server send",
            Part::Outbound => "the protocol types only the client sends (request params and what they hold)",
            Part::Inbound => {
                "the protocol types only the server sends (responses, notifications, server-request params and \
                 what they hold)"
            }
        }
    }

    /// Where a type used by types of `self` and `other` must live; `None` when one is
    /// `Outbound` and the other `Inbound`.
    fn join(self, other: Part) -> Option<Part> {
        match (self, other) {
            (Part::Shared, p) | (p, Part::Shared) => Some(p),
            (a, b) if a == b => Some(a),
            _ => None,
        }
    }
}

/// The items of each part, in [`Part::ALL`] order, each in the order it came.
pub fn split(items: Vec<syn::Item>, roots: &MessageRoots) -> Result<[Vec<syn::Item>; 3], String> {
    let names: BTreeSet<String> = items.iter().filter_map(defined_name).collect();
    let owners: Vec<Option<String>> = items.iter().map(|item| owner(item, &names)).collect();
    // Everything each type's items name (its definition and all of its impls).
    let mut uses: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (item, owner) in items.iter().zip(&owners) {
        if let Some(owner) = owner {
            let mut found = referenced(item, &names);
            found.remove(owner);
            uses.entry(owner).or_default().extend(found);
        }
    }
    let reach = |roots: &[String]| {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = roots.iter().map(String::as_str).collect();
        while let Some(name) = stack.pop() {
            if seen.insert(name.to_owned()) {
                stack.extend(uses.get(name).into_iter().flatten().map(String::as_str));
            }
        }
        seen
    };
    let (client, server) = (reach(&roots.client), reach(&roots.server));
    let mut parts: BTreeMap<&str, Part> = BTreeMap::new();
    for name in &names {
        let part = match (client.contains(name), server.contains(name)) {
            (true, true) => Part::Shared,
            (true, false) => Part::Outbound,
            (false, true) => Part::Inbound,
            (false, false) => continue,
        };
        parts.insert(name, part);
    }
    // A type no message reaches goes with the types it uses (to `Shared` if none).
    loop {
        let mut changed = false;
        for name in &names {
            if client.contains(name) || server.contains(name) {
                continue;
            }
            let mut part = Part::Shared;
            for used in uses.get(name.as_str()).into_iter().flatten() {
                let of = parts.get(used.as_str()).copied().unwrap_or(Part::Shared);
                part = part.join(of).ok_or_else(|| {
                    format!("`{name}` is sent by nobody but uses both client-only and server-only types")
                })?;
            }
            if parts.insert(name, part) != Some(part) {
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut out: [Vec<syn::Item>; 3] = Default::default();
    for (item, owner) in items.into_iter().zip(owners) {
        let part = owner.as_deref().map_or(Part::Shared, |o| parts[o]);
        for used in referenced(&item, &names) {
            let of = parts[used.as_str()];
            if of != Part::Shared && of != part {
                let what = owner.as_deref().unwrap_or("an item without a type");
                return Err(format!(
                    "`{what}` ({}) names `{used}` ({}): the type crates would depend on each other",
                    part.name(),
                    of.name()
                ));
            }
        }
        out[part as usize].push(item);
    }
    Ok(out)
}

/// The type an item defines.
fn defined_name(item: &syn::Item) -> Option<String> {
    match item {
        syn::Item::Struct(s) => Some(s.ident.to_string()),
        syn::Item::Enum(e) => Some(e.ident.to_string()),
        syn::Item::Type(t) => Some(t.ident.to_string()),
        _ => None,
    }
}

/// The generated type an item belongs with: the type it defines, or an impl's self type
/// (for an impl on a foreign type, such as `From<Generated> for u8`, the generated type
/// in its trait). `None` for items of no type (the `error` module).
fn owner(item: &syn::Item, names: &BTreeSet<String>) -> Option<String> {
    if let Some(name) = defined_name(item) {
        return Some(name);
    }
    // A `lean_struct!(Name { … })` call implements `Deserialize` for `Name`.
    if let syn::Item::Macro(call) = item {
        let first = call.mac.tokens.clone().into_iter().next();
        return first.map(|t| t.to_string()).filter(|name| names.contains(name));
    }
    let syn::Item::Impl(imp) = item else { return None };
    let mut self_names = Names { names, found: BTreeSet::new() };
    self_names.visit_type(&imp.self_ty);
    if let syn::Type::Path(p) = &*imp.self_ty {
        let last = p.path.segments.last().map(|s| s.ident.to_string());
        if let Some(last) = last.filter(|l| names.contains(l)) {
            return Some(last);
        }
    }
    let mut in_trait = Names { names, found: BTreeSet::new() };
    if let Some((_, path, _)) = &imp.trait_ {
        in_trait.visit_path(path);
    }
    self_names.found.into_iter().chain(in_trait.found).next()
}

/// Every generated type an item names.
fn referenced(item: &syn::Item, names: &BTreeSet<String>) -> BTreeSet<String> {
    let mut visitor = Names { names, found: BTreeSet::new() };
    visitor.visit_item(item);
    visitor.found
}

/// Collects the generated types paths name: a path's first segment (after `self::`), so
/// `ThreadItem::AgentMessage` names `ThreadItem` and never a type that shares a variant's
/// name; generic arguments are paths of their own.
struct Names<'a> {
    names: &'a BTreeSet<String>,
    found: BTreeSet<String>,
}

impl<'ast> Visit<'ast> for Names<'_> {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() {
            let mut segments = path.segments.iter();
            let first = segments.next().filter(|s| s.ident != "self").or_else(|| segments.next());
            if let Some(segment) = first {
                let ident = segment.ident.to_string();
                if self.names.contains(&ident) {
                    self.found.insert(ident);
                }
            }
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_item_struct(&mut self, item: &'ast syn::ItemStruct) {
        // Its own name is not a use.
        for field in &item.fields {
            self.visit_field(field);
        }
        self.visit_generics(&item.generics);
    }

    fn visit_item_enum(&mut self, item: &'ast syn::ItemEnum) {
        for variant in &item.variants {
            self.visit_variant(variant);
        }
        self.visit_generics(&item.generics);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(client: &[&str], server: &[&str]) -> MessageRoots {
        let owned = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
        MessageRoots { client: owned(client), server: owned(server) }
    }

    fn names(items: &[syn::Item]) -> Vec<String> {
        items.iter().filter_map(|item| owner(item, &items.iter().filter_map(defined_name).collect())).collect()
    }

    fn items() -> Vec<syn::Item> {
        let file: syn::File = syn::parse_quote! {
            pub struct Params { pub mode: Mode, pub input: Input }
            pub struct Input { pub text: String }
            pub struct Response { pub mode: Mode, pub item: Item }
            pub enum Item { Message(Message) }
            pub struct Message { pub text: String }
            pub enum Mode { A, B }
            impl From<&str> for Mode { fn from(_: &str) -> Self { Mode::A } }
            impl From<Message> for Item { fn from(m: Message) -> Self { Item::Message(m) } }
            impl From<Input> for String { fn from(i: Input) -> Self { i.text } }
            pub struct Orphan { pub message: Message }
            pub struct Lonely { pub n: u8 }
            pub mod error { pub struct ConversionError; }
        };
        file.items
    }

    #[test]
    fn each_type_goes_where_its_senders_are_and_impls_follow_their_type() {
        let [shared, outbound, inbound] = split(items(), &roots(&["Params"], &["Response"])).unwrap();
        let shared_names = names(&shared);
        assert_eq!(shared_names, ["Mode", "Mode", "Lonely"]);
        assert_eq!(shared.len(), 4, "the `error` module goes to shared");
        assert_eq!(
            names(&outbound),
            ["Params", "Input", "Input"],
            "the foreign `From<Input> for String` follows Input"
        );
        // Orphan is sent by nobody and uses an inbound type.
        assert_eq!(names(&inbound), ["Response", "Item", "Message", "Item", "Orphan"]);
    }

    #[test]
    fn a_type_both_sides_send_is_shared_with_everything_it_uses() {
        let [shared, outbound, inbound] = split(items(), &roots(&["Params", "Message"], &["Response"])).unwrap();
        assert!(names(&shared).contains(&"Message".to_owned()));
        assert!(names(&outbound).contains(&"Input".to_owned()));
        assert!(!names(&inbound).contains(&"Message".to_owned()));
    }

    #[test]
    fn a_type_of_nobody_that_needs_both_sides_is_an_error() {
        let mut items = items();
        items.push(syn::parse_quote!(
            pub struct Both {
                pub input: Input,
                pub message: Message,
            }
        ));
        let error = split(items, &roots(&["Params"], &["Response"])).unwrap_err();
        assert!(error.contains("`Both`"), "{error}");
    }
}
