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

/// Rewrites schema prose into Markdown that rustdoc reads without warnings: a bracketed
/// name that is no link (`[UNSTABLE]`, `[codex_protocol::…]`, paths of Codex's own source)
/// is escaped, or shown as code when it already is code; a bare URL gets angle brackets.
pub fn rustdoc_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find(['[', 'h']) {
        out.push_str(&rest[..open]);
        rest = &rest[open..];
        if rest.starts_with("http://") || rest.starts_with("https://") {
            let end = rest.find(|c: char| c.is_whitespace() || c == ')' || c == '>').unwrap_or(rest.len());
            let (url, tail) = rest.split_at(end);
            let url = url.trim_end_matches(['.', ',', ';', ':']);
            let already_wrapped = out.ends_with('<') || out.ends_with('(');
            if already_wrapped {
                out.push_str(url);
            } else {
                out.push('<');
                out.push_str(url);
                out.push('>');
            }
            rest = &rest[url.len()..];
            let _ = tail;
            continue;
        }
        if rest.starts_with('[') {
            if let Some(close) = rest.find(']') {
                let inner = &rest[1..close];
                let after = &rest[close + 1..];
                let is_link = after.starts_with('(') || after.starts_with('[') || inner.contains('[');
                if !is_link && !inner.is_empty() {
                    if inner.len() > 1 && inner.starts_with('`') && inner.ends_with('`') {
                        out.push_str(inner);
                    } else {
                        out.push_str("\\[");
                        out.push_str(inner);
                        out.push_str("\\]");
                    }
                    rest = after;
                    continue;
                }
            }
        }
        let c = rest.chars().next().expect("found a char");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// Applies [`rustdoc_safe`] to every `description` below `schema`.
pub fn sanitize_descriptions(schema: &mut serde_json::Value) {
    use serde_json::Value;
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(text)) = map.get_mut("description") {
                *text = rustdoc_safe(text);
            }
            for (key, value) in map.iter_mut() {
                // A property named `description` holds a schema, not prose.
                if key != "description" || !value.is_string() {
                    sanitize_descriptions(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(sanitize_descriptions),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::rustdoc_safe;

    #[test]
    fn prose_becomes_warning_free_markdown() {
        assert_eq!(rustdoc_safe("[UNSTABLE] Experimental."), "\\[UNSTABLE\\] Experimental.");
        assert_eq!(
            rustdoc_safe("Superset of [`codex_file_search::FileMatch`]"),
            "Superset of `codex_file_search::FileMatch`"
        );
        assert_eq!(rustdoc_safe("See [the docs](https://x.io/a) now"), "See [the docs](https://x.io/a) now");
        assert_eq!(rustdoc_safe("See https://x.io/a?b=c#d. Then"), "See <https://x.io/a?b=c#d>. Then");
        assert_eq!(rustdoc_safe("Already <https://x.io>"), "Already <https://x.io>");
        assert_eq!(rustdoc_safe("a [] b, hello"), "a [] b, hello");
        assert_eq!(rustdoc_safe("ünïcode [X] ok"), "ünïcode \\[X\\] ok");
    }
}
