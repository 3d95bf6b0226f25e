//! One tree for both protocol surfaces: the items generated for the stable schema and for
//! the `--experimental` one are merged so that the `experimental` cargo feature only adds.
//!
//! An item both surfaces generate alike is emitted once. An item only the experimental
//! surface has, a struct field or an enum variant only it has, is emitted under
//! `#[cfg(feature = "experimental")]`. A trait impl whose body differs (a `Deserialize`
//! that reads one more field) is emitted twice, each under its own `cfg`: its signature is
//! the same either way. Anything else — a stable item the experimental surface lacks or
//! shapes differently, an inherent impl whose signatures differ — is an error: the feature
//! would change a stable item.

use quote::ToTokens;
use std::collections::{BTreeMap, BTreeSet};
use syn::{Attribute, Item};

/// `#[cfg(feature = "experimental")]`.
pub fn experimental() -> Attribute {
    syn::parse_quote!(#[cfg(feature = "experimental")])
}

/// `#[cfg(not(feature = "experimental"))]`.
fn stable_only() -> Attribute {
    syn::parse_quote!(#[cfg(not(feature = "experimental"))])
}

/// The docs line and docs.rs badge of an experimental-only item.
fn experimental_marks() -> [Attribute; 2] {
    [syn::parse_quote!(#[doc = ""]), syn::parse_quote!(#[doc = " Experimental: needs the `experimental` feature."])]
}

/// The `cfg` attributes among `attrs`.
pub fn cfgs(attrs: &[Attribute]) -> Vec<Attribute> {
    attrs.iter().filter(|a| a.path().is_ident("cfg")).cloned().collect()
}

/// The methods and definitions only the experimental surface has.
#[derive(Debug, Default, Clone)]
pub struct ExperimentalOnly {
    /// Wire method names, of every kind of method.
    pub methods: BTreeSet<String>,
    /// Definition names (typify's and the catalog's own enums).
    pub types: BTreeSet<String>,
}

impl ExperimentalOnly {
    /// What `experimental` has and `stable` lacks.
    pub fn of(stable: &crate::Catalog, experimental: &crate::Catalog) -> Self {
        let methods = |c: &crate::Catalog| -> BTreeSet<String> {
            c.client_requests
                .iter()
                .chain(&c.server_requests)
                .chain(&c.server_notifications)
                .chain(&c.client_notifications)
                .map(|m| m.method.clone())
                .collect()
        };
        let types = |c: &crate::Catalog| -> BTreeSet<String> {
            c.typify_defs.keys().cloned().chain(c.enums.iter().map(|e| e.name.clone())).collect()
        };
        ExperimentalOnly {
            methods: methods(experimental).difference(&methods(stable)).cloned().collect(),
            types: types(experimental).difference(&types(stable)).cloned().collect(),
        }
    }

    /// `#[cfg(feature = "experimental")]` for an experimental-only method, else nothing.
    pub fn method_cfg(&self, method: &str) -> Option<Attribute> {
        self.methods.contains(method).then(experimental)
    }

    /// `#[cfg(feature = "experimental")]` for an experimental-only type, else nothing.
    pub fn type_cfg(&self, name: &str) -> Option<Attribute> {
        self.types.contains(name).then(experimental)
    }
}

/// Merges the stable surface's items into the experimental surface's; the merged items
/// come in the experimental surface's order.
pub fn merge(stable: Vec<Item>, experimental_items: Vec<Item>) -> Result<Vec<Item>, String> {
    let mut stable_by_key: BTreeMap<String, Vec<Item>> = BTreeMap::new();
    for item in stable {
        stable_by_key.entry(key(&item)).or_default().push(item);
    }
    let mut merged = Vec::new();
    // Stable types whose shape the merge changes (see [`RESHAPED`]).
    let mut reshaped = BTreeSet::new();
    // A struct the stable schema gives no properties (typify makes it an open map) and
    // the experimental one gives only experimental ones: the struct of the experimental
    // surface, every field under the feature. Its stable newtype and the impls typify wrote
    // for the newtype go. Breaking for stable code, so only the listed types may.
    for item in &experimental_items {
        let Item::Struct(new) = item else { continue };
        let name = new.ident.to_string();
        let Some(Item::Struct(old)) = stable_by_key.get(&name).and_then(|items| items.first()) else { continue };
        if matches!(old.fields, syn::Fields::Unnamed(_))
            && is_open_map(old)
            && matches!(new.fields, syn::Fields::Named(_))
        {
            if !RESHAPED.contains(&name.as_str()) {
                return Err(format!(
                    "`{name}` is an open map on the stable surface and a struct on the experimental one: \
                     a breaking change for stable code; if it is meant, add it to surfaces::RESHAPED and \
                     list it in the CHANGELOG"
                ));
            }
            for items in stable_by_key.values_mut() {
                items.retain(|item| defined_name(item).as_deref() != Some(&name) && !newtype_impl_of(item, &name));
            }
            reshaped.insert(name);
        }
    }
    for item in experimental_items {
        let key = key(&item);
        if defined_name(&item).is_some_and(|name| reshaped.contains(&name)) {
            let Item::Struct(mut new) = item else { unreachable!("only structs are reshaped") };
            new.fields.iter_mut().for_each(|field| {
                field.attrs.push(experimental());
                field.attrs.extend(experimental_marks());
            });
            merged.push(Item::Struct(new));
            continue;
        }
        // The experimental impls of a reshaped struct belong to the struct both surfaces have.
        if let Item::Impl(imp) = &item {
            if reshaped.contains(&text_of(&imp.self_ty)) {
                merged.push(item);
                continue;
            }
        }
        let twin = stable_by_key.get_mut(&key).and_then(|items| {
            let same = items.iter().position(|s| text_of(s) == text_of(&item));
            let at = same.unwrap_or(0);
            (!items.is_empty()).then(|| items.remove(at))
        });
        let Some(old) = twin else {
            merged.push(mark_experimental(item));
            continue;
        };
        if text_of(&old) == text_of(&item) {
            merged.push(item);
            continue;
        }
        match (old, item) {
            (Item::Struct(old), Item::Struct(new)) => merged.push(Item::Struct(merge_struct(old, new)?)),
            (Item::Enum(old), Item::Enum(new)) => merged.push(Item::Enum(merge_enum(old, new)?)),
            (Item::Impl(old), Item::Impl(new)) => {
                if old.trait_.is_none() && signatures(&old) != signatures(&new) {
                    return Err(format!("`{key}`: the experimental surface changes its methods' signatures"));
                }
                let (mut old, mut new) = (old, new);
                old.attrs.push(stable_only());
                new.attrs.push(experimental());
                merged.push(Item::Impl(old));
                merged.push(Item::Impl(new));
            }
            (_, _) => return Err(format!("`{key}`: the experimental surface shapes this item differently")),
        }
    }
    let missing: Vec<&String> = stable_by_key.iter().filter(|(_, items)| !items.is_empty()).map(|(k, _)| k).collect();
    if !missing.is_empty() {
        return Err(format!("the experimental surface lacks these stable items: {missing:?}"));
    }
    Ok(merged)
}

/// A stable struct with the experimental surface's extra fields, each under the `cfg`.
fn merge_struct(old: syn::ItemStruct, new: syn::ItemStruct) -> Result<syn::ItemStruct, String> {
    let name = new.ident.to_string();
    let (syn::Fields::Named(old_fields), syn::Fields::Named(_)) = (&old.fields, &new.fields) else {
        return Err(format!("struct `{name}`: the surfaces differ in a struct without named fields"));
    };
    if attrs_text(&old.attrs) != attrs_text(&new.attrs) {
        return Err(format!("struct `{name}`: the surfaces differ in its attributes"));
    }
    let stable = old_fields.named.iter().map(|f| (member_name(&f.ident), field_text(f))).collect();
    let mut merged = new;
    let members = merged.fields.iter_mut().map(|f| (member_name(&f.ident), field_text(f), &mut f.attrs));
    add_members("struct", &name, "field", stable, members)?;
    Ok(merged)
}

/// A stable enum with the experimental surface's extra variants, each under the `cfg`.
fn merge_enum(old: syn::ItemEnum, new: syn::ItemEnum) -> Result<syn::ItemEnum, String> {
    let name = new.ident.to_string();
    if attrs_text(&old.attrs) != attrs_text(&new.attrs) {
        return Err(format!("enum `{name}`: the surfaces differ in its attributes"));
    }
    let stable = old.variants.iter().map(|v| (v.ident.to_string(), variant_text(v))).collect();
    let mut merged = new;
    let members = merged.variants.iter_mut().map(|v| (v.ident.to_string(), variant_text(v), &mut v.attrs));
    add_members("enum", &name, "variant", stable, members)?;
    Ok(merged)
}

/// Marks the members (fields or variants, as name, shape and attributes) the experimental
/// surface adds to a stable item; a stable member it lacks or shapes differently is an error.
fn add_members<'a>(
    item: &str,
    name: &str,
    member: &str,
    stable: BTreeMap<String, String>,
    members: impl Iterator<Item = (String, String, &'a mut Vec<Attribute>)>,
) -> Result<(), String> {
    let mut seen = 0;
    for (ident, shape, attrs) in members {
        match stable.get(&ident) {
            Some(old) if *old == shape => seen += 1,
            Some(_) => return Err(format!("{item} `{name}`: the surfaces shape {member} `{ident}` differently")),
            None => {
                attrs.push(experimental());
                attrs.extend(experimental_marks());
            }
        }
    }
    if seen != stable.len() {
        return Err(format!("{item} `{name}`: the experimental surface lacks some of its stable {member}s"));
    }
    Ok(())
}

fn member_name(ident: &Option<syn::Ident>) -> String {
    ident.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// Stable types that may change shape with the merge (an open map on the stable schema, no
/// properties, that the experimental schema gives experimental ones): each one a
/// breaking change listed in the CHANGELOG.
pub const RESHAPED: &[&str] = &["ThreadItemOutputDeferral"];

/// Whether `item` is an impl typify writes for a newtype `name`: on `name` itself
/// (`Deref`, `From<inner>`), or `From<name>` for its inner type.
fn newtype_impl_of(item: &Item, name: &str) -> bool {
    let Item::Impl(imp) = item else { return false };
    if text_of(&imp.self_ty) == name {
        return true;
    }
    let Some((_, path, _)) = &imp.trait_ else { return false };
    let Some(last) = path.segments.last() else { return false };
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else { return false };
    last.ident == "From" && args.args.len() == 1 && text_of(&args.args[0]) == name
}

/// A tuple struct around a JSON object (`serde_json::Map`), typify's type for an object
/// schema without properties.
fn is_open_map(s: &syn::ItemStruct) -> bool {
    s.fields.len() == 1 && s.fields.iter().all(|f| text_of(&f.ty).replace(' ', "").starts_with("::serde_json::Map<"))
}

fn mark_experimental(mut item: Item) -> Item {
    if let Some(attrs) = attrs_mut(&mut item) {
        attrs.push(experimental());
        if matches!(item, Item::Struct(_) | Item::Enum(_) | Item::Type(_)) {
            if let Some(attrs) = attrs_mut(&mut item) {
                attrs.extend(experimental_marks());
            }
        }
    }
    item
}

fn attrs_mut(item: &mut Item) -> Option<&mut Vec<Attribute>> {
    match item {
        Item::Struct(s) => Some(&mut s.attrs),
        Item::Enum(e) => Some(&mut e.attrs),
        Item::Type(t) => Some(&mut t.attrs),
        Item::Impl(i) => Some(&mut i.attrs),
        Item::Mod(m) => Some(&mut m.attrs),
        Item::Const(c) => Some(&mut c.attrs),
        Item::Fn(f) => Some(&mut f.attrs),
        Item::Use(u) => Some(&mut u.attrs),
        _ => None,
    }
}

/// Which item of the other surface an item is compared with: a type by its name, an impl
/// by its trait and self type.
fn key(item: &Item) -> String {
    match item {
        Item::Impl(imp) => {
            let trait_ = imp.trait_.as_ref().map(|(_, path, _)| text_of(path)).unwrap_or_default();
            format!("impl {trait_} for {}", text_of(&imp.self_ty))
        }
        Item::Mod(m) => format!("mod {}", m.ident),
        other => defined_name(other).unwrap_or_else(|| text_of(other)),
    }
}

fn defined_name(item: &Item) -> Option<String> {
    match item {
        Item::Struct(s) => Some(s.ident.to_string()),
        Item::Enum(e) => Some(e.ident.to_string()),
        Item::Type(t) => Some(t.ident.to_string()),
        _ => None,
    }
}

/// An inherent impl's method signatures.
fn signatures(imp: &syn::ItemImpl) -> Vec<String> {
    imp.items
        .iter()
        .map(|item| match item {
            syn::ImplItem::Fn(f) => text_of(&f.sig),
            other => text_of(other),
        })
        .collect()
}

/// The attributes but the docs, as text.
fn attrs_text(attrs: &[Attribute]) -> String {
    without_docs(attrs).iter().map(text_of).collect::<Vec<_>>().join(" ")
}

fn without_docs(attrs: &[Attribute]) -> Vec<Attribute> {
    attrs.iter().filter(|a| !a.path().is_ident("doc")).cloned().collect()
}

fn field_text(field: &syn::Field) -> String {
    let mut field = field.clone();
    field.attrs = without_docs(&field.attrs);
    text_of(&field)
}

fn variant_text(variant: &syn::Variant) -> String {
    let mut variant = variant.clone();
    variant.attrs = without_docs(&variant.attrs);
    text_of(&variant)
}

fn text_of<T: ToTokens>(tokens: &T) -> String {
    tokens.to_token_stream().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(file: syn::File) -> Vec<Item> {
        file.items
    }

    #[test]
    fn the_experimental_surface_only_adds() {
        let stable = items(syn::parse_quote! {
            pub struct Same { pub a: u8 }
            pub struct Grows { pub a: u8 }
            pub enum Kinds { A }
            impl Default for Grows { fn default() -> Self { Grows { a: 0 } } }
        });
        let experimental = items(syn::parse_quote! {
            pub struct Same { pub a: u8 }
            /// Docs may differ.
            pub struct Grows { pub a: u8, pub b: Option<u8> }
            pub enum Kinds { A, B }
            impl Default for Grows { fn default() -> Self { Grows { a: 0, b: None } } }
            pub struct New;
        });
        let merged = merge(stable, experimental).unwrap();
        let text: Vec<String> = merged.iter().map(text_of).collect();
        assert_eq!(text.len(), 6, "{text:#?}");
        assert!(text[1].contains("# [cfg (feature = \"experimental\")] # [doc"), "{}", text[1]);
        assert!(text[2].contains("# [cfg (feature = \"experimental\")] # [doc = \"\"] # [doc = \" Experimental"));
        assert!(text[3].starts_with("# [cfg (not (feature"));
        assert!(text[4].starts_with("# [cfg (feature"));
        assert!(text[5].starts_with("# [cfg (feature = \"experimental\")]") && text[5].ends_with("pub struct New ;"));
    }

    #[test]
    fn a_change_to_a_stable_item_is_an_error() {
        let stable = items(syn::parse_quote! { pub struct S { pub a: u8 } });
        let retyped = items(syn::parse_quote! { pub struct S { pub a: u16 } });
        assert!(merge(stable.clone(), retyped).unwrap_err().contains("field `a`"));
        assert!(merge(stable, vec![]).unwrap_err().contains("lacks"));
        let open_map = items(syn::parse_quote! { pub struct M(pub ::serde_json::Map<String, ::serde_json::Value>); });
        let now_struct = items(syn::parse_quote! { pub struct M { pub a: Option<u8> } });
        assert!(merge(open_map, now_struct).unwrap_err().contains("RESHAPED"));
        let inherent = items(syn::parse_quote! { impl S { pub fn f(&self) {} } });
        let changed = items(syn::parse_quote! { impl S { pub fn f(&self, x: u8) {} } });
        assert!(merge(inherent, changed).unwrap_err().contains("signatures"));
    }
}
