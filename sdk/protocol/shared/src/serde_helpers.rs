//! Serde helpers shared by the generated enums (kept out of the generated code so each
//! helper is compiled once, not once per enum).

use serde::de::DeserializeOwned;
use serde::ser::{Error as _, SerializeMap};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Reads a string (owned: `serde_json::Value` never lends borrowed strings).
pub fn deserialize_str<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    String::deserialize(deserializer)
}

/// Decodes the payload of a known variant, naming the union and variant on failure.
pub fn decode_variant<T: DeserializeOwned, E: serde::de::Error>(
    value: Value,
    union: &str,
    variant: &str,
) -> Result<T, E> {
    T::deserialize(value).map_err(|e| E::custom(format_args!("{union} `{variant}`: {e}")))
}

/// Serializes `inner` (an object) with `tag: wire` added.
pub fn serialize_tagged<S: Serializer, T: Serialize>(
    serializer: S,
    tag: &str,
    wire: &str,
    inner: &T,
) -> Result<S::Ok, S::Error> {
    let mut value = serde_json::to_value(inner).map_err(S::Error::custom)?;
    match &mut value {
        Value::Object(map) => {
            map.insert(tag.to_owned(), Value::String(wire.to_owned()));
        }
        _ => return Err(S::Error::custom(format_args!("variant `{wire}` did not serialize to an object"))),
    }
    value.serialize(serializer)
}

/// Serializes `{ key: inner }`.
pub fn serialize_keyed<S: Serializer, T: Serialize>(serializer: S, key: &str, inner: &T) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(1))?;
    map.serialize_entry(key, inner)?;
    map.end()
}

/// The shapes a keyed (externally tagged) union value can take.
pub enum Keyed {
    /// A plain string.
    Str(String),
    /// An object with exactly one entry.
    Entry(String, Value),
    /// Anything else.
    Other(Value),
}

/// Splits a keyed union value into its shape.
pub fn keyed_parts(value: Value) -> Keyed {
    match value {
        Value::String(s) => Keyed::Str(s),
        Value::Object(map) if map.len() == 1 => {
            let (key, inner) = map.into_iter().next().expect("one entry");
            Keyed::Entry(key, inner)
        }
        other => Keyed::Other(other),
    }
}

/// Puts a single-entry object back together.
pub fn rebuild_keyed(key: String, inner: Value) -> Value {
    let mut map = Map::new();
    map.insert(key, inner);
    Value::Object(map)
}
