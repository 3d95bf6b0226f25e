//! Rust names for wire names.

use heck::ToUpperCamelCase;

/// `thread/start` → `ThreadStart`, `on-request` → `OnRequest`, `userMessage` → `UserMessage`.
pub fn pascal(wire: &str) -> String {
    let cleaned: String = wire.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' }).collect();
    // heck keeps inner capitals (`agentMessage` → `AgentMessage`) and joins words.
    let mut name = cleaned
        .split_whitespace()
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<String>()
        .to_upper_camel_case();
    if name.is_empty() {
        name.push_str("Empty");
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, 'V');
    }
    name
}

/// The name of every enum's fallback variant; no wire value may take it.
pub const FALLBACK_VARIANT: &str = "Unrecognized";

/// Variant names for `wires`, unique within the enum and never the fallback's name.
pub fn unique_variant_idents<'a>(wires: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for wire in wires {
        let base = pascal(wire);
        let base = if base == FALLBACK_VARIANT { format!("{base}Value") } else { base };
        let mut ident = base.clone();
        let mut n = 2;
        while out.contains(&ident) {
            ident = format!("{base}{n}");
            n += 1;
        }
        out.push(ident);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_cases_wire_names() {
        assert_eq!(pascal("thread/start"), "ThreadStart");
        assert_eq!(pascal("item/agentMessage/delta"), "ItemAgentMessageDelta");
        assert_eq!(pascal("on-request"), "OnRequest");
        assert_eq!(pascal("contextWindowExceeded"), "ContextWindowExceeded");
        assert_eq!(pascal("read_only"), "ReadOnly");
        assert_eq!(pascal("Thread/startedNotification"), "ThreadStartedNotification");
        assert_eq!(pascal("2xx"), "V2xx");
    }

    #[test]
    fn variant_idents_are_unique() {
        assert_eq!(unique_variant_idents(["a-b", "a_b", "Unrecognized"]), ["Ab", "Ab2", "UnrecognizedValue"]);
    }
}
