//! The one pass over an incoming line: the JSON-RPC envelope's fields, the routing keys of
//! its `params`, and where the params' text lies in the line.
//!
//! The params are read by the routing-key visitor (the routing fields parsed, everything
//! else skipped, nothing built), and their text is then placed in the line between the
//! envelope's neighbouring tokens: after `"params"` and its `:`, up to the `,` before the
//! next key or the envelope's closing `}`. JSON allows only whitespace around those tokens,
//! and the parse has checked the line, so the span is exact; a key it cannot place (one
//! written with escapes) leaves the params to be read again ([`ParamsAt::Unplaced`]).
//!
//! Strings lent by the parse (the method, the routing ids) come out as spans of the line
//! too ([`Part`]), so a notification can keep the line and copy nothing out of it.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use codex_driver_protocol_shared::serde_helpers::{fill, FieldName};
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::routing_keys::RoutingKeys;
use super::wire::{span_in, Part, RequestId};
use crate::RpcError;

/// A message's envelope as the pass over its line read it; strings lent from the line are
/// spans of it.
pub(crate) struct Envelope {
    pub(crate) id: Option<RequestId>,
    pub(crate) method: Option<Part>,
    pub(crate) params: ParamsAt,
    /// `None` when the envelope has no `result` member (`"result": null` is `Some(null)`).
    pub(crate) result: Option<Box<RawValue>>,
    pub(crate) error: Option<RpcError>,
    pub(crate) emitted_at_ms: Option<i64>,
}

/// Where a message's params are.
pub(crate) enum ParamsAt {
    /// No params, or `null`.
    Absent,
    /// This span of the line, with these routing ids.
    Span { span: Range<usize>, thread_id: Option<Part>, turn_id: Option<Part> },
    /// Present, but their key or the key after them is written with escapes: read the
    /// line again.
    Unplaced,
}

/// Reads `line` (a whole message) in one pass.
pub(crate) fn read(line: &str) -> serde_json::Result<Envelope> {
    let pass: EnvelopePass<'_> = serde_json::from_str(line)?;
    let params = match pass.params {
        None | Some(ParamsSeen { keys: None, .. }) => ParamsAt::Absent,
        Some(ParamsSeen { keys: Some(keys), key, next }) => match params_span(line, key, next) {
            Some(span) => ParamsAt::Span {
                span,
                thread_id: keys.thread_id.map(|id| Part::of(line, id)),
                turn_id: keys.turn_id.map(|id| Part::of(line, id)),
            },
            None => ParamsAt::Unplaced,
        },
    };
    Ok(Envelope {
        id: pass.id,
        method: pass.method.map(|m| Part::of(line, m)),
        params,
        result: pass.result,
        error: pass.error,
        emitted_at_ms: pass.emitted_at_ms,
    })
}

/// What the pass reads, lending from the line.
struct EnvelopePass<'a> {
    id: Option<RequestId>,
    method: Option<Cow<'a, str>>,
    params: Option<ParamsSeen<'a>>,
    result: Option<Box<RawValue>>,
    error: Option<RpcError>,
    emitted_at_ms: Option<i64>,
}

/// What the pass saw of a `params` member.
struct ParamsSeen<'a> {
    /// `None` for `"params": null`.
    keys: Option<RoutingKeys<'a>>,
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
    EscapedKey,
}

/// The span of the `params` value in `line`: from after `"params"`, spaces, `:` and
/// spaces, to before the spaces, `,` and spaces ahead of the next key's opening quote (or
/// ahead of the envelope's closing `}`, when nothing follows).
fn params_span(line: &str, key: Option<&str>, next: Next<'_>) -> Option<Range<usize>> {
    let bytes = line.as_bytes();
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    // The last non-space byte before `end`; the first at or after `start`.
    let last_before = |end: usize| bytes[..end].iter().rposition(|b| !is_space(b));
    let first_from = |start: usize| bytes.get(start..)?.iter().position(|b| !is_space(b)).map(|i| start + i);

    let after_key = span_in(line, key?)?.end;
    if bytes.get(after_key) != Some(&b'"') {
        return None;
    }
    let colon = first_from(after_key + 1).filter(|&i| bytes[i] == b':')?;
    let start = first_from(colon + 1)?;
    let end = match next {
        Next::EscapedKey => return None,
        Next::End => {
            let close = last_before(bytes.len()).filter(|&i| bytes[i] == b'}')?;
            last_before(close)?
        }
        Next::Key(key) => {
            let quote = span_in(line, key)?.start.checked_sub(1).filter(|&i| bytes[i] == b'"')?;
            let comma = last_before(quote).filter(|&i| bytes[i] == b',')?;
            last_before(comma)?
        }
    };
    // Both ends are ASCII, so the span is on character boundaries.
    (start <= end).then_some(start..end + 1)
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
                        Cow::Owned(_) => Next::EscapedKey,
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
            method: method.flatten().map(|Str(method)| method),
            params,
            // Present as `null` is a result (`null`); absent is none.
            result: result.map(|result: Option<Box<RawValue>>| result.unwrap_or_else(|| RawValue::NULL.to_owned())),
            error: error.flatten(),
            emitted_at_ms: emitted_at_ms.flatten(),
        })
    }
}

/// A string value, lent from the input where it can be.
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        codex_driver_protocol_shared::serde_helpers::deserialize_str(deserializer).map(Str)
    }
}
