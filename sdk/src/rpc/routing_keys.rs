//! The keys a notification is routed by: `threadId` / `turnId` of its params, else the
//! `id` of a `thread` / `turn` object. Read leniently: a field of another shape counts as
//! absent, and a routing field given twice leaves both keys out. One visitor reads them,
//! inside the envelope's pass over a line ([`super::envelope`]) or over params on their own.

use std::borrow::Cow;
use std::fmt;

use codex_driver_protocol_shared::serde_helpers::FieldName;
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// Thread and turn ids of a notification's params, lent from the text they were read from
/// where it holds them without escapes.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct RoutingKeys<'a> {
    pub(crate) thread_id: Option<Cow<'a, str>>,
    pub(crate) turn_id: Option<Cow<'a, str>>,
}

impl<'a> RoutingKeys<'a> {
    /// The keys of `params` (JSON text) on their own: one pass; other fields are skipped,
    /// not built.
    pub(crate) fn extract(params: &'a str) -> Self {
        serde_json::from_str(params).unwrap_or_default()
    }

    /// The keys from the four routing fields as read: a direct id wins over a nested one.
    fn from_fields([thread_id, turn_id, thread, turn]: [Lenient<'a>; 4]) -> Self {
        let id = |direct: Lenient<'a>, nested: Lenient<'a>| {
            let direct = match direct {
                Lenient::Str(s) => Some(s),
                _ => None,
            };
            let nested = match nested {
                Lenient::WithId(s) => Some(s),
                _ => None,
            };
            direct.or(nested)
        };
        RoutingKeys { thread_id: id(thread_id, thread), turn_id: id(turn_id, turn) }
    }
}

/// Reads any JSON value: an object yields its keys; anything else, none. Fails on
/// malformed JSON, and on valid JSON serde_json cannot read whole where it reads: a lone
/// surrogate escape in a key or an id, a number beyond `f64` in a routing field.
impl<'de: 'a, 'a> Deserialize<'de> for RoutingKeys<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeysVisitor)
    }
}

struct KeysVisitor;

impl<'de> Visitor<'de> for KeysVisitor {
    type Value = RoutingKeys<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // threadId, turnId, thread, turn.
        let mut fields: [Option<Lenient<'de>>; 4] = Default::default();
        let mut repeated = false;
        while let Some(FieldName(key)) = map.next_key()? {
            let slot = match key.as_ref() {
                "threadId" => 0,
                "turnId" => 1,
                "thread" => 2,
                "turn" => 3,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            repeated |= fields[slot].replace(map.next_value()?).is_some();
        }
        if repeated {
            return Ok(RoutingKeys::default());
        }
        Ok(RoutingKeys::from_fields(fields.map(Option::unwrap_or_default)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(RoutingKeys::default())
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(RoutingKeys::default())
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(RoutingKeys::default())
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(RoutingKeys::default())
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(RoutingKeys::default())
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(RoutingKeys::default())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(RoutingKeys::default())
    }
}

/// A routing field as found: a string, an object
/// with a string `id` (its other fields skipped), or anything else (skipped; not an error).
#[derive(Default)]
enum Lenient<'a> {
    Str(Cow<'a, str>),
    WithId(Cow<'a, str>),
    #[default]
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Lenient<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Lenient<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Lenient::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Lenient::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut id = None;
                while let Some(FieldName(key)) = map.next_key()? {
                    if key == "id" && id.is_none() {
                        if let Lenient::Str(s) = map.next_value::<Lenient<'de>>()? {
                            id = Some(s);
                        }
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(id.map_or(Lenient::Other, Lenient::WithId))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Lenient::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Lenient::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Lenient::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Lenient::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Lenient::Other)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Lenient::Other)
            }
        }
        deserializer.deserialize_any(V)
    }
}
