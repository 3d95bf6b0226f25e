//! The one pass over an incoming line: the JSON-RPC envelope's fields, the routing keys of
//! its `params`, and where the params' text lies in the line.
//!
//! The params are read by the routing-key visitor (the routing fields parsed, everything
//! else skipped, nothing built), and their text is then cut from the line between the
//! envelope's neighbouring tokens: after `"params"` and its `:`, up to the `,` before the
//! next key or the envelope's closing `}`. JSON allows only whitespace around those tokens,
//! and the parse has checked the line, so the cut is exact; a key it cannot place (one
//! written with escapes) leaves the text to be read again ([`EnvelopePass::params`]).

use std::borrow::Cow;
use std::fmt;

use codex_app_server_protocol_shared::serde_helpers::{fill, raw_value_from_parsed, FieldName};
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::message::RequestId;
use super::routing_keys::RoutingKeys;
use crate::error::RpcError;

/// A message's envelope as one pass over its line reads it.
pub(crate) struct EnvelopePass<'a> {
    pub(crate) id: Option<RequestId>,
    pub(crate) method: Option<String>,
    params: Option<ParamsSeen<'a>>,
    pub(crate) result: Option<Box<RawValue>>,
    pub(crate) error: Option<RpcError>,
    pub(crate) emitted_at_ms: Option<i64>,
}

/// What the pass saw of a `params` member.
struct ParamsSeen<'a> {
    /// `None` for `"params": null`.
    keys: Option<RoutingKeys>,
    /// The member's key as lent from the line; `None` when it was written with escapes.
    key: Option<&'a str>,
    /// What follows the member.
    next: Next<'a>,
}

/// What follows the `params` member in the envelope.
enum Next<'a> {
    /// The envelope's end.
    End,
    /// Another member, whose key is lent from the line.
    Key(&'a str),
    /// Another member, whose key was written with escapes.
    Unplaced,
}

impl<'a> EnvelopePass<'a> {
    /// Reads `line` (a whole message).
    pub(crate) fn read(line: &'a str) -> serde_json::Result<Self> {
        serde_json::from_str(line)
    }

    /// The params (`null` when absent) and their routing keys; `line` is the text this
    /// pass read. `read_again` supplies them when the text cannot be placed.
    pub(crate) fn params(
        &mut self,
        line: &'a str,
        read_again: impl FnOnce() -> (Box<RawValue>, RoutingKeys),
    ) -> (Box<RawValue>, RoutingKeys) {
        match self.params.take() {
            None | Some(ParamsSeen { keys: None, .. }) => (null_raw(), RoutingKeys::default()),
            Some(ParamsSeen { keys: Some(keys), key, next }) => match params_text(line, key, next) {
                Some(text) => (raw_value_from_parsed(text), keys),
                None => read_again(),
            },
        }
    }
}

/// `null` as a [`RawValue`].
pub(crate) fn null_raw() -> Box<RawValue> {
    raw_value_from_parsed("null")
}

/// The text of the `params` value in `line`: from after `"params"`, spaces, `:` and spaces,
/// to before the spaces, `,` and spaces ahead of the next key's opening quote (or ahead of
/// the envelope's closing `}`, when nothing follows).
fn params_text<'a>(line: &'a str, key: Option<&str>, next: Next<'_>) -> Option<&'a str> {
    let bytes = line.as_bytes();
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let base = line.as_ptr() as usize;
    // Where `lent` (a slice of `line`) starts in it.
    let offset =
        |lent: &str| (lent.as_ptr() as usize).checked_sub(base).filter(|start| start + lent.len() <= bytes.len());
    // The last non-space byte before `end`.
    let last_before = |end: usize| bytes[..end].iter().rposition(|b| !is_space(b));
    let first_from = |start: usize| bytes.get(start..)?.iter().position(|b| !is_space(b)).map(|i| start + i);

    let key = key?;
    let after_key = offset(key)? + key.len();
    if bytes.get(after_key) != Some(&b'"') {
        return None;
    }
    let colon = first_from(after_key + 1).filter(|&i| bytes[i] == b':')?;
    let start = first_from(colon + 1)?;
    let end = match next {
        Next::Unplaced => return None,
        Next::End => {
            let close = last_before(bytes.len()).filter(|&i| bytes[i] == b'}')?;
            last_before(close)?
        }
        Next::Key(key) => {
            let quote = offset(key)?.checked_sub(1).filter(|&i| bytes[i] == b'"')?;
            let comma = last_before(quote).filter(|&i| bytes[i] == b',')?;
            last_before(comma)?
        }
    };
    if start > end {
        return None;
    }
    line.get(start..=end)
}

impl<'de: 'a, 'a> Deserialize<'de> for EnvelopePass<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = EnvelopePass<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC message object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut id, mut method, mut result, mut error, mut emitted_at_ms) = (None, None, None, None, None);
        let mut params: Option<ParamsSeen<'de>> = None;
        let mut after_params = false;
        while let Some(FieldName(key)) = map.next_key()? {
            if std::mem::take(&mut after_params) {
                if let Some(seen) = &mut params {
                    seen.next = match key {
                        Cow::Borrowed(key) => Next::Key(key),
                        Cow::Owned(_) => Next::Unplaced,
                    };
                }
            }
            match key.as_ref() {
                "id" => fill(&mut id, "id", &mut map)?,
                "method" => fill(&mut method, "method", &mut map)?,
                "params" => {
                    if params.is_some() {
                        return Err(serde::de::Error::duplicate_field("params"));
                    }
                    let key = match key {
                        Cow::Borrowed(key) => Some(key),
                        Cow::Owned(_) => None,
                    };
                    params = Some(ParamsSeen { keys: map.next_value()?, key, next: Next::End });
                    after_params = true;
                }
                "result" => fill(&mut result, "result", &mut map)?,
                "error" => fill(&mut error, "error", &mut map)?,
                "emittedAtMs" => fill(&mut emitted_at_ms, "emittedAtMs", &mut map)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(EnvelopePass {
            id: id.flatten(),
            method: method.flatten(),
            params,
            result: result.flatten(),
            error: error.flatten(),
            emitted_at_ms: emitted_at_ms.flatten(),
        })
    }
}
