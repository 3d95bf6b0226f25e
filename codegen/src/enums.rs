//! Emits the enums that must stay open to values a newer Codex adds: each gets a
//! fallback variant that keeps the raw JSON and re-encodes it unchanged, plus
//! hand-rolled serde impls that read the discriminant first, so a malformed known
//! variant is an error that names the variant rather than "did not match any variant".
//! The unions read their value as JSON text and decode the known variant from it
//! (`serde_helpers` in the shared types crate), so no `serde_json::Value` is built on the
//! way and each payload type keeps the one deserializer a `serde_json::from_str` gives it.

use crate::catalog::{EnumDef, EnumKind, TypedVariant, UnitVariant};
use crate::docs::doc_attrs;
use crate::naming::FALLBACK_VARIANT;
use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

fn ident(s: &str) -> Ident {
    Ident::new(s, Span::call_site())
}

/// Rust source for one enum.
pub fn emit_enum(def: &EnumDef) -> TokenStream {
    match &def.kind {
        EnumKind::Strings(units) => emit_string_enum(def, units),
        EnumKind::Tagged { tag, variants } => emit_tagged(def, tag, variants),
        EnumKind::Keyed { units, keyed } => emit_keyed(def, units, keyed),
    }
}

fn unit_doc(u: &UnitVariant) -> TokenStream {
    let text = match &u.doc {
        Some(d) => format!("`{}`: {d}", u.wire),
        None => format!("`{}`", u.wire),
    };
    doc_attrs(Some(&text))
}

fn typed_doc(v: &TypedVariant) -> TokenStream {
    let text = match &v.doc {
        Some(d) => format!("`{}`: {d}", v.wire),
        None => format!("`{}`", v.wire),
    };
    doc_attrs(Some(&text))
}

fn emit_string_enum(def: &EnumDef, units: &[UnitVariant]) -> TokenStream {
    let name = ident(&def.name);
    let fallback = ident(FALLBACK_VARIANT);
    let doc = doc_attrs(def.doc.as_deref());
    let docs = units.iter().map(unit_doc);
    let idents: Vec<Ident> = units.iter().map(|u| ident(&u.ident)).collect();
    let wires: Vec<&str> = units.iter().map(|u| u.wire.as_str()).collect();
    quote! {
        #doc
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum #name {
            #( #docs #idents, )*
            /// A value this version of the SDK does not know (from a newer Codex), kept verbatim.
            #fallback(String),
        }

        impl #name {
            /// The wire string.
            pub fn as_str(&self) -> &str {
                match self {
                    #( Self::#idents => #wires, )*
                    Self::#fallback(other) => other,
                }
            }
        }

        impl ::std::convert::From<&str> for #name {
            fn from(value: &str) -> Self {
                match value {
                    #( #wires => Self::#idents, )*
                    other => Self::#fallback(other.to_owned()),
                }
            }
        }

        impl ::std::str::FromStr for #name {
            type Err = ::std::convert::Infallible;
            fn from_str(value: &str) -> ::std::result::Result<Self, Self::Err> {
                Ok(Self::from(value))
            }
        }

        impl ::std::fmt::Display for #name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for #name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for #name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {
                Ok(Self::from(crate::serde_helpers::deserialize_str(deserializer)?.as_ref()))
            }
        }
    }
}

fn emit_tagged(def: &EnumDef, tag: &str, variants: &[TypedVariant]) -> TokenStream {
    let name = ident(&def.name);
    let name_str = &def.name;
    let fallback = ident(FALLBACK_VARIANT);
    let doc = doc_attrs(def.doc.as_deref());
    let docs = variants.iter().map(typed_doc);
    let idents: Vec<Ident> = variants.iter().map(|v| ident(&v.ident)).collect();
    let tys: Vec<Ident> = variants.iter().map(|v| ident(&v.ty)).collect();
    let wires: Vec<&str> = variants.iter().map(|v| v.wire.as_str()).collect();
    let fallback_doc = format!(
        " A `{tag}` this version of the SDK does not know (from a newer Codex), or an object without a `{tag}` (an older shape): the whole object, kept verbatim."
    );
    quote! {
        #doc
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum #name {
            #( #docs #idents(#tys), )*
            #[doc = #fallback_doc]
            #fallback(::serde_json::Value),
        }

        impl #name {
            #[doc = concat!(" The `", #tag, "` discriminant as sent on the wire.")]
            pub fn kind(&self) -> &str {
                match self {
                    #( Self::#idents(_) => #wires, )*
                    Self::#fallback(value) => value.get(#tag).and_then(::serde_json::Value::as_str).unwrap_or(""),
                }
            }
        }

        impl ::std::fmt::Display for #name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.kind())
            }
        }

        #( impl ::std::convert::From<#tys> for #name {
            fn from(value: #tys) -> Self { Self::#idents(value) }
        } )*

        impl ::serde::Serialize for #name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {
                match self {
                    #( Self::#idents(inner) => crate::serde_helpers::serialize_tagged(serializer, #tag, #wires, inner), )*
                    Self::#fallback(value) => ::serde::Serialize::serialize(value, serializer),
                }
            }
        }

        impl<'de> ::serde::Deserialize<'de> for #name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {
                let text = crate::serde_helpers::deserialize_json_text(deserializer)?;
                let Some(kind) = crate::serde_helpers::tag_of(&text, #tag) else {
                    return crate::serde_helpers::untagged(&text, #name_str, #tag).map(Self::#fallback);
                };
                match kind.as_ref() {
                    #( #wires => crate::serde_helpers::decode_variant(&text, #name_str, #wires).map(Self::#idents), )*
                    _ => crate::serde_helpers::unknown(&text).map(Self::#fallback),
                }
            }
        }
    }
}

fn emit_keyed(def: &EnumDef, units: &[UnitVariant], keyed: &[TypedVariant]) -> TokenStream {
    let name = ident(&def.name);
    let name_str = &def.name;
    let fallback = ident(FALLBACK_VARIANT);
    let doc = doc_attrs(def.doc.as_deref());
    let unit_docs = units.iter().map(unit_doc);
    let unit_idents: Vec<Ident> = units.iter().map(|u| ident(&u.ident)).collect();
    let unit_wires: Vec<&str> = units.iter().map(|u| u.wire.as_str()).collect();
    let keyed_docs = keyed.iter().map(typed_doc);
    let keyed_idents: Vec<Ident> = keyed.iter().map(|v| ident(&v.ident)).collect();
    let keyed_tys: Vec<Ident> = keyed.iter().map(|v| ident(&v.ty)).collect();
    let keyed_wires: Vec<&str> = keyed.iter().map(|v| v.wire.as_str()).collect();
    quote! {
        #doc
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum #name {
            #( #unit_docs #unit_idents, )*
            #( #keyed_docs #keyed_idents(#keyed_tys), )*
            /// A value this version of the SDK does not know (from a newer Codex), kept verbatim.
            #fallback(::serde_json::Value),
        }

        impl #name {
            /// The branch as named on the wire: the string of a plain value, the key of a keyed one.
            pub fn kind(&self) -> &str {
                match self {
                    #( Self::#unit_idents => #unit_wires, )*
                    #( Self::#keyed_idents(_) => #keyed_wires, )*
                    Self::#fallback(value) => crate::serde_helpers::unknown_keyed_kind(value),
                }
            }
        }

        impl ::std::fmt::Display for #name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.kind())
            }
        }

        impl ::serde::Serialize for #name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {
                match self {
                    #( Self::#unit_idents => serializer.serialize_str(#unit_wires), )*
                    #( Self::#keyed_idents(inner) => crate::serde_helpers::serialize_keyed(serializer, #keyed_wires, inner), )*
                    Self::#fallback(value) => ::serde::Serialize::serialize(value, serializer),
                }
            }
        }

        impl<'de> ::serde::Deserialize<'de> for #name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {
                let text = crate::serde_helpers::deserialize_json_text(deserializer)?;
                match crate::serde_helpers::keyed_parts(&text) {
                    crate::serde_helpers::Keyed::Str(s) => Ok(match s.as_ref() {
                        #( #unit_wires => Self::#unit_idents, )*
                        _ => Self::#fallback(::serde_json::Value::String(s.into_owned())),
                    }),
                    crate::serde_helpers::Keyed::Entry(key, inner) => match key.as_ref() {
                        #( #keyed_wires => crate::serde_helpers::decode_variant(inner, #name_str, #keyed_wires).map(Self::#keyed_idents), )*
                        _ => crate::serde_helpers::unknown(&text).map(Self::#fallback),
                    },
                    crate::serde_helpers::Keyed::Other => crate::serde_helpers::unknown(&text).map(Self::#fallback),
                }
            }
        }
    }
}
