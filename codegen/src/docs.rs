//! Doc comments from schema descriptions.

use proc_macro2::TokenStream;
use quote::quote;

/// `#[doc = ...]` attributes for `text`, or nothing when there is no useful text.
pub fn doc_attrs(text: Option<&str>) -> TokenStream {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => {
            let lines = t.lines().map(|l| format!(" {}", l.trim_end()));
            quote! { #( #[doc = #lines] )* }
        }
        None => quote! {},
    }
}
