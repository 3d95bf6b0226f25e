//! Emits the sdk's view of the pin and of the protocol's history: `pin.rs` (the pinned
//! version, included by `sdk/src/pinned_cli.rs`, which `xtask` shares) and `history.rs`
//! (the window and the availability of each name that changed inside it).

use crate::history::History;
use proc_macro2::TokenStream;
use quote::quote;

/// The generated file holding the pin, in `sdk/src/generated/`.
pub const PIN_FILE: &str = "pin.rs";

/// `pin.rs`: the pin and the window as strings, so that `include!` works from any module
/// (and from `xtask`, which has no `CodexVersion`).
pub fn pin_file(pin: &str, window: &[String]) -> String {
    let releases: Vec<String> = window.iter().map(|v| format!("    \"{v}\",\n")).collect();
    format!(
        "/// The Codex CLI version this SDK is generated from and tested against (`schema/CODEX_VERSION`).\n\
pub const PINNED_CODEX_VERSION: &str = \"{pin}\";\n\n\
/// The Codex CLI releases the SDK speaks to (the protocol history's window), oldest first;\n\
/// the last is [`PINNED_CODEX_VERSION`].\n\
pub const WINDOW_CODEX_VERSIONS: &[&str] = &[\n{}];\n",
        releases.concat()
    )
}

fn version(text: &str) -> Result<TokenStream, String> {
    let parts: Vec<u32> = text
        .split('.')
        .map(|p| p.parse::<u32>().map_err(|_| format!("`{text}` is not a release like 0.1.0")))
        .collect::<Result<_, _>>()?;
    let [major, minor, patch] = parts[..] else {
        return Err(format!("`{text}` is not a release like 0.1.0"));
    };
    let [major, minor, patch] = [major, minor, patch].map(proc_macro2::Literal::u32_unsuffixed);
    Ok(quote! { CodexVersion::new(#major, #minor, #patch) })
}

fn optional(text: Option<&str>) -> Result<TokenStream, String> {
    Ok(match text {
        Some(t) => {
            let v = version(t)?;
            quote! { Some(#v) }
        }
        None => quote! { None },
    })
}

/// A sorted table of the names of `kind` with their availability, and its lookup.
fn lookup(history: &History, kind: &str, fn_name: &str, what: &str) -> Result<TokenStream, String> {
    let name = proc_macro2::Ident::new(fn_name, proc_macro2::Span::call_site());
    let table = proc_macro2::Ident::new(&kind.to_uppercase(), proc_macro2::Span::call_site());
    let mut rows = Vec::new();
    for (key, span) in history.spans.get(kind).into_iter().flatten() {
        let since = optional(span.since.as_deref())?;
        let removed = optional(span.removed.as_deref())?;
        rows.push(quote! { (#key, Availability::new(#since, #removed)) });
    }
    let table_doc = format!(" Every {what} that appeared or disappeared inside [`WINDOW`], sorted by name.");
    let fn_doc = format!(
        " When {what} appeared or disappeared inside [`WINDOW`]; `None` when it was in every release of the window (or in none)."
    );
    Ok(quote! {
        #[doc = #table_doc]
        pub static #table: &[(&str, Availability)] = &[#(#rows),*];

        #[doc = #fn_doc]
        pub fn #name(name: &str) -> Option<Availability> {
            crate::version::lookup(#table, name)
        }
    })
}

/// `history.rs`: the window, and one lookup per kind of name.
pub fn emit_history(history: &History, pin: &str) -> Result<TokenStream, String> {
    let pinned = version(pin)?;
    let window: Vec<TokenStream> = history.window.iter().map(|v| version(v)).collect::<Result<_, _>>()?;
    let lookups = [
        ("client_requests", "client_request", "client request (by wire method name)"),
        ("server_requests", "server_request", "server request (by wire method name)"),
        ("server_notifications", "server_notification", "server notification (by wire method name)"),
        ("client_notifications", "client_notification", "client notification (by wire method name)"),
        ("definitions", "definition", "protocol type (by definition name)"),
        ("fields", "field", "field (keyed `Type.wireName`, e.g. `ThreadListParams.includedThreadIds`)"),
    ];
    let mut fns = Vec::new();
    for (kind, fn_name, what) in lookups {
        fns.push(lookup(history, kind, fn_name, what)?);
    }
    Ok(quote! {
        //! When each part of the protocol appeared, derived from the schemas of a window of
        //! Codex releases (`schema/history.json`, rebuilt by `cargo xtask history`).

        use crate::version::{Availability, CodexVersion};

        /// The Codex CLI version this SDK is generated from (`schema/CODEX_VERSION`).
        pub const PINNED: CodexVersion = #pinned;

        /// The releases whose schemas the history compares, oldest first; the last is [`PINNED`].
        pub const WINDOW: &[CodexVersion] = &[#(#window),*];

        #(#fns)*
    })
}
