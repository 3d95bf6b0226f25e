//! Drives typify over the definitions the catalog leaves to it, then completes its output.
//!
//! typify is configured for what it can do itself ([`typify_items`]'s settings): no
//! builders, `BTreeMap` for maps, `PartialEq` on every type, and the enums this crate
//! emits itself (`enums`) substituted by name as replacement types. What it
//! cannot be told to do is done on its output, each in one place:
//!
//! - `Tidy` drops the JSON-schema dump and the placeholder doc comments typify writes
//!   into every item's docs (typify has no setting for its doc text);
//! - `constructor` writes `new(required…)` for a struct without `Default` (typify's
//!   builders are a different API, a type per struct);
//! - [`finish`] marks `#[non_exhaustive]` the structs no client sends (typify's patches
//!   rename and add derives, not attributes) and replaces serde's `Deserialize` derive on
//!   structs with the lean impls of the `deserialize` module (typify only derives).
//!
//! typify is pinned (`=0.8.0` in the workspace): an upgrade that changes its output fails
//! `cargo xtask regen --check` and the codegen's tests here, not downstream.

use crate::catalog::Catalog;
use schemars::schema::Schema;
use syn::visit_mut::VisitMut;
use typify::{TypeSpace, TypeSpaceImpl, TypeSpaceSettings};

/// Rust items typify generates for `catalog`, tidied, before [`finish`] adds what depends
/// on the surfaces being merged (constructors, `#[non_exhaustive]`, the lean deserializers).
pub fn typify_items(catalog: &Catalog) -> Result<Vec<syn::Item>, String> {
    let mut settings = TypeSpaceSettings::default();
    settings.with_struct_builder(false);
    settings.with_map_type("::std::collections::BTreeMap");
    settings.with_derive("PartialEq".to_string());
    for def in &catalog.enums {
        let impls = [TypeSpaceImpl::FromStr, TypeSpaceImpl::Display];
        let impls: &[TypeSpaceImpl] = match def.kind {
            crate::catalog::EnumKind::Strings(_) => &impls,
            _ => &[],
        };
        settings.with_replacement(&def.name, &def.name, impls.iter().cloned());
    }
    let mut space = TypeSpace::new(&settings);
    let mut defs = Vec::new();
    for (name, schema) in &catalog.typify_defs {
        let schema: Schema = serde_json::from_value(schema.clone())
            .map_err(|e| format!("definition `{name}` is not a JSON schema typify reads: {e}"))?;
        defs.push((name.clone(), schema));
    }
    // Enums the catalog emits itself must still be resolvable as references.
    for def in &catalog.enums {
        defs.push((def.name.clone(), Schema::Object(Default::default())));
    }
    space.add_ref_types(defs).map_err(|e| format!("typify: {e}"))?;
    let file: syn::File = syn::parse2(space.to_stream()).map_err(|e| format!("typify output does not parse: {e}"))?;
    let mut items = file.items;
    for item in &mut items {
        Tidy.visit_item_mut(item);
    }
    Ok(items)
}

/// Completes the merged typify items: a `new(required…)` for every constructible struct
/// without `Default`, `#[non_exhaustive]` on the structs in `server_only`, and the lean
/// `Deserialize` impls.
pub fn finish(
    mut items: Vec<syn::Item>,
    server_only: &std::collections::BTreeSet<String>,
) -> Result<Vec<syn::Item>, String> {
    let constructors: Vec<syn::Item> =
        items.iter().map(constructor).collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect();
    for item in &mut items {
        if let syn::Item::Struct(s) = item {
            if matches!(s.fields, syn::Fields::Named(_)) && server_only.contains(&s.ident.to_string()) {
                s.attrs.push(syn::parse_quote!(#[non_exhaustive]));
            }
        }
    }
    items.extend(constructors);
    crate::deserialize::replace_derives(&mut items);
    Ok(items)
}

/// Whether a `#[serde(...)]` attribute has a bare `default` flag (not inside a string).
fn serde_default_flag(attr: &syn::Attribute) -> bool {
    let mut found = false;
    let _ = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("default") {
            found = true;
        }
        if meta.input.peek(syn::Token![=]) {
            let _: syn::Expr = meta.value()?.parse()?;
        }
        Ok(())
    });
    found
}

/// `impl T { pub fn new(required…) -> Self }` for a struct without `Default`: every
/// optional field starts empty. Code that builds params this way keeps compiling when a
/// newer schema adds optional fields (a struct literal would not).
/// A struct's experimental-only fields start empty under their `cfg`, so the signature is the
/// same with the `experimental` feature on or off; a required experimental field is an error.
fn constructor(item: &syn::Item) -> Result<Option<syn::Item>, String> {
    let syn::Item::Struct(s) = item else { return Ok(None) };
    let syn::Fields::Named(fields) = &s.fields else { return Ok(None) };
    let derives_default =
        s.attrs.iter().any(|a| a.path().is_ident("derive") && quote::quote!(#a).to_string().contains("Default"));
    if derives_default || fields.named.is_empty() {
        return Ok(None);
    }
    let mut params = Vec::new();
    let mut inits = Vec::new();
    for field in &fields.named {
        let Some(name) = field.ident.as_ref() else { return Ok(None) };
        let ty = &field.ty;
        let ty_text = quote::quote!(#ty).to_string().replace(' ', "");
        let has_serde_default = field.attrs.iter().any(|a| a.path().is_ident("serde") && serde_default_flag(a));
        let cfgs = crate::surfaces::cfgs(&field.attrs);
        if ty_text.starts_with("::std::option::Option<") {
            inits.push(quote::quote! { #(#cfgs)* #name: ::std::option::Option::None });
        } else if has_serde_default {
            inits.push(quote::quote! { #(#cfgs)* #name: ::std::default::Default::default() });
        } else if !cfgs.is_empty() {
            return Err(format!(
                "`{}.{name}` is required and experimental: `new` would change with the feature",
                s.ident
            ));
        } else if ty_text == "::std::string::String" {
            params.push(quote::quote! { #name: impl ::std::convert::Into<::std::string::String> });
            inits.push(quote::quote! { #name: #name.into() });
        } else {
            params.push(quote::quote! { #name: #ty });
            inits.push(quote::quote! { #name });
        }
    }
    let ident = &s.ident;
    let doc = format!(" A `{ident}` with the required fields set and every optional field empty.");
    let item_cfgs = crate::surfaces::cfgs(&s.attrs);
    Ok(Some(syn::parse_quote! {
        #(#item_cfgs)*
        impl #ident {
            #[doc = #doc]
            #[allow(clippy::too_many_arguments)]
            pub fn new(#(#params),*) -> Self {
                Self { #(#inits),* }
            }
        }
    }))
}

/// Drops doc text that carries no information.
struct Tidy;

impl VisitMut for Tidy {
    fn visit_attributes_mut(&mut self, attrs: &mut Vec<syn::Attribute>) {
        let mut docs: Vec<String> = Vec::new();
        let mut rest = Vec::new();
        for attr in attrs.drain(..) {
            match doc_text(&attr) {
                Some(text) => docs.push(text),
                None => rest.push(attr),
            }
        }
        let lines: Vec<String> = docs.iter().flat_map(|d| d.split('\n').map(str::to_owned)).collect();
        for line in tidy_doc(&lines) {
            let line = format!(" {}", line.trim_end().strip_prefix(' ').unwrap_or(line.trim_end()));
            attrs.push(syn::parse_quote!(#[doc = #line]));
        }
        attrs.extend(rest);
    }

    fn visit_item_struct_mut(&mut self, item: &mut syn::ItemStruct) {
        self.visit_attributes_mut(&mut item.attrs);
        for field in item.fields.iter_mut() {
            self.visit_attributes_mut(&mut field.attrs);
        }
    }

    fn visit_item_enum_mut(&mut self, item: &mut syn::ItemEnum) {
        self.visit_attributes_mut(&mut item.attrs);
        for v in item.variants.iter_mut() {
            self.visit_attributes_mut(&mut v.attrs);
            for field in v.fields.iter_mut() {
                self.visit_attributes_mut(&mut field.attrs);
            }
        }
    }
}

fn doc_text(attr: &syn::Attribute) -> Option<String> {
    if !attr.path().is_ident("doc") {
        return None;
    }
    match &attr.meta {
        syn::Meta::NameValue(nv) => match &nv.value {
            syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    }
}

/// Removes typify's `<details>` JSON-schema dump and docs that only repeat a name.
fn tidy_doc(lines: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_details = false;
    for line in lines {
        let t = line.trim();
        if t.starts_with("<details>") {
            in_details = true;
            continue;
        }
        if in_details {
            if t.starts_with("</details>") {
                in_details = false;
            }
            continue;
        }
        out.push(line.clone());
    }
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    while out.first().is_some_and(|l| l.trim().is_empty()) {
        out.remove(0);
    }
    // A lone "`Name`" or "Name" (typify's placeholder, or a title) says nothing.
    if out.len() == 1 {
        let t = out[0].trim().trim_matches('`');
        if !t.contains(' ') {
            out.clear();
        }
    }
    out
}

/// Every type the emitters refer to by definition name must exist under that exact name.
pub fn check_names(items: &[syn::Item], catalog: &Catalog) -> Result<(), String> {
    let mut defined = std::collections::BTreeSet::new();
    for item in items {
        match item {
            syn::Item::Struct(s) => defined.insert(s.ident.to_string()),
            syn::Item::Enum(e) => defined.insert(e.ident.to_string()),
            syn::Item::Type(t) => defined.insert(t.ident.to_string()),
            _ => false,
        };
    }
    let mut missing = Vec::new();
    for name in catalog.typify_defs.keys() {
        if !defined.contains(name) {
            missing.push(name.clone());
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("typify named these definitions differently (or dropped them): {missing:?}"))
    }
}
