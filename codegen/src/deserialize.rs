//! Lean `Deserialize` impls for typify's structs with named fields, in place of serde's
//! derive: one map visitor per struct that matches each key against the wire names and
//! decodes the value into its field's slot. serde's derive also emits a field-identifier
//! type with its own visitor and a sequence visitor (a struct read from a JSON array,
//! which no message of the protocol is); type-checking and borrow-checking that code was
//! most of what building the types crates cost. The generated impls ask for a map
//! (`deserialize_map`), so not even serde's default sequence handler is built per struct.
//! The visitor is written as one call of the shared crate's `lean_struct!` macro, a line
//! per field (`name: "wireName" required`); its expansion is the visitor itself, with each
//! slot's type inferred from the field it fills.
//!
//! The behaviour is serde's: the same "missing field", "duplicate field" and "unknown
//! field" errors, `Option` fields absent read as `None`, `#[serde(default)]` fields as
//! their default, a field with `deserialize_with = "Option::deserialize"` required, a
//! flattened `extra` map gathering the keys no field names, unknown keys skipped unless the
//! struct denies them. A struct with any serde attribute not listed here keeps the derive.

use proc_macro2::TokenStream;
use quote::quote;
use syn::punctuated::Punctuated;
use syn::{Attribute, Item, ItemStruct, Token};

const DERIVE: &str = "::serde::Deserialize";
const OPTION_DESERIALIZE: &str = "::std::option::Option::deserialize";

/// Replaces serde's `Deserialize` derive on every struct this module can read with a
/// generated impl, appended to `items`.
pub fn replace_derives(items: &mut Vec<Item>) {
    let mut impls = Vec::new();
    for item in items.iter_mut() {
        let Item::Struct(s) = item else { continue };
        let Some(plan) = Plan::of(s) else { continue };
        if remove_derive(&mut s.attrs) {
            impls.push(syn::parse2(plan.emit(s)).expect("the generated impl parses"));
        }
    }
    items.extend(impls);
}

/// How one field is read.
struct Field {
    /// The field's `cfg`s (an experimental-only field): its slot, key and init carry them.
    cfgs: Vec<Attribute>,
    ident: syn::Ident,
    wire: String,
    absent: Absent,
}

/// What an absent field becomes.
enum Absent {
    /// A "missing field" error.
    Error,
    /// `Default::default()` (`None` for an `Option`).
    Default,
}

/// What a struct needs from its visitor.
struct Plan {
    fields: Vec<Field>,
    /// The field gathering the keys no other field names (`#[serde(flatten)]` map).
    extra: Option<syn::Ident>,
    deny_unknown: bool,
}

impl Plan {
    /// `None` when the struct is not one of ours to read: no serde derive, no named
    /// fields, or an attribute this module does not implement.
    fn of(s: &ItemStruct) -> Option<Plan> {
        let syn::Fields::Named(named) = &s.fields else { return None };
        if !derives(&s.attrs).iter().any(|d| d == DERIVE) || !s.generics.params.is_empty() {
            return None;
        }
        let mut deny_unknown = false;
        for attr in s.attrs.iter().filter(|a| a.path().is_ident("serde")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("deny_unknown_fields") {
                    deny_unknown = true;
                    Ok(())
                } else {
                    Err(meta.error("not read here"))
                }
            })
            .ok()?;
        }
        let mut fields = Vec::new();
        let mut extra = None;
        for field in &named.named {
            let ident = field.ident.clone()?;
            let mut wire = ident.to_string().trim_start_matches("r#").to_owned();
            let mut default = false;
            let mut required_option = false;
            let mut flatten = false;
            for attr in field.attrs.iter().filter(|a| a.path().is_ident("serde")) {
                attr.parse_nested_meta(|meta| {
                    if meta.path.is_ident("rename") {
                        wire = meta.value()?.parse::<syn::LitStr>()?.value();
                    } else if meta.path.is_ident("skip_serializing_if") {
                        meta.value()?.parse::<syn::LitStr>()?;
                    } else if meta.path.is_ident("default") && !meta.input.peek(Token![=]) {
                        default = true;
                    } else if meta.path.is_ident("deserialize_with") {
                        let with = meta.value()?.parse::<syn::LitStr>()?.value();
                        if with != OPTION_DESERIALIZE {
                            return Err(meta.error("not read here"));
                        }
                        required_option = true;
                    } else if meta.path.is_ident("flatten") {
                        flatten = true;
                    } else {
                        return Err(meta.error("not read here"));
                    }
                    Ok(())
                })
                .ok()?;
            }
            let ty = field.ty.clone();
            if flatten {
                if extra.is_some() || default || required_option || !is_json_map(&ty) {
                    return None;
                }
                extra = Some(ident);
                continue;
            }
            let absent = if default || (is_option(&ty) && !required_option) { Absent::Default } else { Absent::Error };
            fields.push(Field { cfgs: crate::surfaces::cfgs(&field.attrs), ident, wire, absent });
        }
        if deny_unknown && extra.is_some() {
            return None;
        }
        Some(Plan { fields, extra, deny_unknown })
    }

    /// One `lean_struct!` call (defined beside the helpers in the shared crate): a line per
    /// field, where the expanded visitor took a dozen.
    fn emit(&self, s: &ItemStruct) -> TokenStream {
        let name = &s.ident;
        let fields = self.fields.iter().map(|f| {
            let (cfgs, ident, wire) = (&f.cfgs, &f.ident, &f.wire);
            let required = matches!(f.absent, Absent::Error).then(|| quote! { required });
            quote! { #(#cfgs)* #ident: #wire #required }
        });
        let mode = match (&self.extra, self.deny_unknown) {
            (Some(extra), _) => quote! { extra #extra },
            (None, true) => quote! { deny },
            (None, false) => quote! {},
        };
        let item_cfgs = crate::surfaces::cfgs(&s.attrs);
        quote! {
            #(#item_cfgs)*
            crate::serde_helpers::lean_struct!(#name { #(#fields),* } #mode);
        }
    }
}

/// The paths of an item's `#[derive(...)]` lists, as text.
fn derives(attrs: &[Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .filter_map(|a| a.parse_args_with(Punctuated::<syn::Path, Token![,]>::parse_terminated).ok())
        .flatten()
        .map(|p| text_of(&p))
        .collect()
}

/// Drops `::serde::Deserialize` from the derive lists (and a list it leaves empty);
/// whether it was there.
fn remove_derive(attrs: &mut Vec<Attribute>) -> bool {
    let mut removed = false;
    attrs.retain_mut(|attr| {
        if !attr.path().is_ident("derive") {
            return true;
        }
        let Ok(paths) = attr.parse_args_with(Punctuated::<syn::Path, Token![,]>::parse_terminated) else {
            return true;
        };
        let kept: Vec<&syn::Path> = paths.iter().filter(|p| text_of(*p) != DERIVE).collect();
        if kept.len() == paths.len() {
            return true;
        }
        removed = true;
        *attr = syn::parse_quote!(#[derive(#(#kept),*)]);
        !kept.is_empty()
    });
    removed
}

/// Tokens as text without spaces, e.g. `::std::option::Option<T>`.
fn text_of(tokens: &impl quote::ToTokens) -> String {
    tokens.to_token_stream().to_string().replace(' ', "")
}

fn is_option(ty: &syn::Type) -> bool {
    text_of(ty).starts_with("::std::option::Option<")
}

fn is_json_map(ty: &syn::Type) -> bool {
    text_of(ty) == "::serde_json::Map<::std::string::String,::serde_json::Value>"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replaced(source: &str) -> String {
        let mut items = syn::parse_file(source).unwrap().items;
        replace_derives(&mut items);
        let text = prettyplease::unparse(&syn::File { shebang: None, attrs: vec![], items });
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn a_plain_struct_loses_the_derive_and_gains_an_impl() {
        let out = replaced(
            r#"
            #[derive(::serde::Deserialize, ::serde::Serialize, Clone)]
            pub struct A {
                #[serde(rename = "threadId")]
                pub thread_id: ::std::string::String,
                #[serde(default, skip_serializing_if = "::std::vec::Vec::is_empty")]
                pub list: ::std::vec::Vec<u8>,
                #[serde(skip_serializing_if = "::std::option::Option::is_none")]
                pub note: ::std::option::Option<::std::string::String>,
                #[serde(deserialize_with = "::std::option::Option::deserialize")]
                pub email: ::std::option::Option<::std::string::String>,
                pub r#type: ::std::string::String,
            }
            "#,
        );
        assert!(out.contains("#[derive(::serde::Serialize, Clone)] pub struct A"), "{out}");
        assert!(
            out.contains(
                r#"crate::serde_helpers::lean_struct!( A { thread_id : "threadId" required, list : "list", note : "note", email : "email" required, r#type : "type" required } );"#
            ),
            "{out}"
        );
    }

    #[test]
    fn denied_and_flattened_unknown_keys() {
        let out = replaced(
            r#"
            #[derive(::serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            pub struct Strict { pub a: i64 }
            #[derive(::serde::Deserialize)]
            pub struct Open {
                pub a: i64,
                #[serde(flatten)]
                pub extra: ::serde_json::Map<::std::string::String, ::serde_json::Value>,
            }
            "#,
        );
        assert!(out.contains("#[serde(deny_unknown_fields)] pub struct Strict"), "{out}");
        assert!(out.contains(r#"lean_struct!(Strict { a : "a" required } deny);"#), "{out}");
        assert!(out.contains(r#"lean_struct!(Open { a : "a" required } extra extra);"#), "{out}");
    }

    #[test]
    fn an_experimental_field_keeps_its_cfg() {
        let out = replaced(
            r#"
            #[derive(::serde::Deserialize)]
            pub struct Grows {
                pub a: i64,
                #[cfg(feature = "experimental")]
                pub b: ::std::option::Option<i64>,
            }
            "#,
        );
        assert!(
            out.contains(r#"lean_struct!( Grows { a : "a" required, #[cfg(feature = "experimental")] b : "b" } );"#),
            "{out}"
        );
    }

    #[test]
    fn what_it_does_not_read_keeps_the_derive() {
        let source = r#"
            #[derive(::serde::Deserialize)]
            #[serde(transparent)]
            pub struct Wrapped { pub inner: i64 }
            #[derive(::serde::Deserialize)]
            pub struct Tuple(pub i64);
            #[derive(::serde::Deserialize)]
            pub struct Custom {
                #[serde(deserialize_with = "my::reader")]
                pub a: i64,
            }
            #[derive(::serde::Deserialize)]
            pub struct DefaultFn {
                #[serde(default = "my::default")]
                pub a: i64,
            }
            #[derive(::serde::Deserialize)]
            pub struct FlatStruct {
                #[serde(flatten)]
                pub inner: Other,
            }
            #[derive(::serde::Deserialize)]
            #[serde(untagged)]
            pub enum E { A(i64) }
        "#;
        let out = replaced(source);
        assert_eq!(out.matches("#[derive(::serde::Deserialize)]").count(), 6, "{out}");
        assert!(!out.contains("lean_struct!"), "{out}");
    }
}
