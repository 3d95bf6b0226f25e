//! Emits a test-only registry: decode-and-re-encode by definition name, and the
//! definition names of each method's params and response. The sdk's round-trip and
//! fixture tests drive every generated type through it.

use crate::catalog::{Catalog, ParamsShape};
use crate::surfaces::ExperimentalOnly;
use proc_macro2::{Ident, Span};
use quote::quote;

/// Rust source of `registry.rs` (compiled only under `cfg(test)`).
pub fn emit_registry(catalog: &Catalog, only: &ExperimentalOnly) -> Result<proc_macro2::TokenStream, String> {
    let names: Vec<&String> = catalog.typify_defs.keys().chain(catalog.enums.iter().map(|e| &e.name)).collect();
    let name_cfgs: Vec<Option<syn::Attribute>> = names.iter().map(|n| only.type_cfg(n)).collect();
    let idents: Vec<Ident> = names.iter().map(|n| Ident::new(n, Span::call_site())).collect();
    let mut methods = Vec::new();
    let mut params = Vec::new();
    let mut responses = Vec::new();
    let mut method_cfgs = Vec::new();
    for m in catalog.client_requests.iter().chain(&catalog.server_requests) {
        methods.push(m.method.clone());
        method_cfgs.push(only.method_cfg(&m.method));
        params.push(match &m.params {
            ParamsShape::None => quote! { None },
            ParamsShape::Ref(p) | ParamsShape::OptionalRef(p) => quote! { Some(#p) },
        });
        responses.push(m.response_type()?.to_owned());
    }
    Ok(quote! {
        use crate::types;

        /// What decoding a value gave: the value encoded again, and whether some part of it
        /// was kept raw (an `Unrecognized` fallback).
        pub(crate) struct Decoded {
            pub(crate) encoded: ::serde_json::Value,
            pub(crate) kept_raw: bool,
        }

        fn round_trip<T: ::serde::de::DeserializeOwned + ::serde::Serialize + ::std::fmt::Debug>(
            value: ::serde_json::Value,
        ) -> ::std::result::Result<Decoded, ::serde_json::Error> {
            let decoded = ::serde_json::from_value::<T>(value)?;
            let kept_raw = format!("{decoded:?}").contains("Unrecognized(");
            Ok(Decoded { encoded: ::serde_json::to_value(decoded)?, kept_raw })
        }

        /// Decodes `value` as the type generated for definition `name` and encodes it again.
        pub(crate) fn round_trip_named(
            name: &str,
            value: ::serde_json::Value,
        ) -> ::std::option::Option<::std::result::Result<Decoded, ::serde_json::Error>> {
            Some(match name {
                #( #name_cfgs #names => round_trip::<types::#idents>(value), )*
                _ => return None,
            })
        }

        /// `(method, params definition, response definition)` of every request of this
        /// build's surface, both directions.
        pub(crate) fn request_types() -> ::std::vec::Vec<(&'static str, ::std::option::Option<&'static str>, &'static str)> {
            let mut types = ::std::vec::Vec::new();
            #( #method_cfgs types.push((#methods, #params, #responses)); )*
            types
        }
    })
}
