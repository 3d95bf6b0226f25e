//! Serde helpers shared by the generated enums (kept out of the generated code so each
//! helper is compiled once, not once per enum).
//!
//! The open unions (tagged and keyed) read their value as JSON text first, find the
//! discriminant in it, and then decode the known variant straight from that text: every
//! payload type has the one deserializer a top-level `serde_json::from_str` gives it, and
//! no `serde_json::Value` is built unless the variant is unknown.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{Error as _, Impossible, SerializeMap, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The name serde_json's own `RawValue` asks for: a serde_json deserializer (reading text,
/// bytes, a reader or a `Value`) answers it with the value's JSON text. Any other
/// deserializer, such as the buffer behind `#[serde(untagged)]`, treats it as an ordinary
/// newtype name, and [`deserialize_json_text`] then rebuilds the text through a `Value`:
/// slower, never wrong, including under a serde_json that renamed it.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Reads a string, borrowed from the input where the deserializer lends it.
pub fn deserialize_str<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Cow<'de, str>, D::Error> {
    deserializer.deserialize_str(StrVisitor)
}

/// Reads one value as its JSON text, borrowed from the input where it can be.
pub fn deserialize_json_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Cow<'de, str>, D::Error> {
    deserializer.deserialize_newtype_struct(RAW_VALUE_TOKEN, JsonText)
}

/// `text` as a [`RawValue`] without parsing it again, for text a serde_json parse has
/// just read whole as one value (a span it lent, or the exact slice around what it lent):
/// [`lend_raw_value`], copied, so its only cost is the copy; should serde_json ever change
/// the protocol that relies on, it falls back to [`RawValue::from_string`], which validates.
pub fn raw_value_from_parsed(text: &str) -> Box<RawValue> {
    lend_raw_value(text).map(RawValue::to_owned).unwrap_or_else(|| {
        RawValue::from_string(text.to_owned())
            .unwrap_or_else(|e| unreachable!("text a parse read whole is one JSON value: {e}"))
    })
}

/// `text` lent as a [`RawValue`] without parsing it, for text a serde_json parse has read
/// whole as one value; `None` if serde_json no longer lends raw values through the private
/// protocol its own `&RawValue` deserializer speaks (then parse it with `serde_json::from_str`).
pub fn lend_raw_value(text: &str) -> Option<&RawValue> {
    use serde::de::value::{BorrowedStrDeserializer, Error, MapDeserializer};
    let entry = std::iter::once((RAW_VALUE_TOKEN, BorrowedStrDeserializer::<Error>::new(text)));
    <&RawValue>::deserialize(MapDeserializer::<_, Error>::new(entry)).ok()
}

/// The string value of `tag` in the object `text`; `None` when `text` is not an object or
/// its `tag` is missing or not a string.
pub fn tag_of<'a>(text: &'a str, tag: &str) -> Option<Cow<'a, str>> {
    serde_json::Deserializer::from_str(text).deserialize_map(TagSeek { tag }).ok().flatten()
}

/// An object key, as the generated struct visitors and these helpers read it: borrowed
/// from the input where the deserializer lends it.
pub struct FieldName<'de>(pub Cow<'de, str>);

impl<'de> Deserialize<'de> for FieldName<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(StrVisitor).map(FieldName)
    }
}

/// Decodes the map's next value into a struct field's empty slot; a second value for
/// the same field is serde's "duplicate field" error.
pub fn fill<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    slot: &mut Option<T>,
    field: &'static str,
    map: &mut A,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(<A::Error as serde::de::Error>::duplicate_field(field));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

/// Skips the map's next value (a key no field names).
pub fn skip_value<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(drop)
}

/// A required field's value, or serde's "missing field" error.
pub fn required<T, E: serde::de::Error>(slot: Option<T>, field: &'static str) -> Result<T, E> {
    match slot {
        Some(value) => Ok(value),
        None => Err(E::missing_field(field)),
    }
}

/// Decodes the payload of a known variant from its JSON text, naming the union and
/// variant on failure.
pub fn decode_variant<T: DeserializeOwned, E: serde::de::Error>(
    text: &str,
    union: &str,
    variant: &str,
) -> Result<T, E> {
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(e) => Err(E::custom(format_args!("{union} `{variant}`: {}", without_position(&e)))),
    }
}

/// An error's message without serde_json's " at line L column C": a position within a
/// variant's own text would mislead, and the enclosing deserializer adds the right one.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&suffix) {
        Some(message) if e.line() > 0 => message.to_owned(),
        _ => text,
    }
}

/// A value no known variant matches, kept as a `Value`.
pub fn unknown<E: serde::de::Error>(text: &str) -> Result<Value, E> {
    serde_json::from_str(text).map_err(E::custom)
}

/// An object without its union's tag (the shape an older Codex sent before the union was
/// tagged), kept as a `Value`; anything but an object is an error naming the union.
pub fn untagged<E: serde::de::Error>(text: &str, union: &str, tag: &str) -> Result<Value, E> {
    match serde_json::from_str(text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(E::custom(format_args!("{union}: expected an object with a string field `{tag}`"))),
        Err(e) => Err(E::custom(e)),
    }
}

/// Serializes `inner` (an object) with `tag: wire` as its first entry.
pub fn serialize_tagged<S: Serializer, T: Serialize>(
    serializer: S,
    tag: &'static str,
    wire: &'static str,
    inner: &T,
) -> Result<S::Ok, S::Error> {
    inner.serialize(TagFirst { inner: serializer, tag, wire })
}

/// Serializes `{ key: inner }`.
pub fn serialize_keyed<S: Serializer, T: Serialize>(serializer: S, key: &str, inner: &T) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(1))?;
    map.serialize_entry(key, inner)?;
    map.end()
}

/// The shapes a keyed (externally tagged) union value can take.
pub enum Keyed<'a> {
    /// A plain string.
    Str(Cow<'a, str>),
    /// An object with exactly one entry: its key and the JSON text of its value.
    Entry(Cow<'a, str>, &'a str),
    /// Anything else.
    Other,
}

/// Splits a keyed union value into its shape.
pub fn keyed_parts(text: &str) -> Keyed<'_> {
    serde_json::Deserializer::from_str(text).deserialize_any(KeyedSeek).unwrap_or(Keyed::Other)
}

/// The JSON text of a value: handed over by a serde_json deserializer, rebuilt through a
/// `Value` from any other.
struct JsonText;

impl JsonText {
    fn of(value: Value) -> Cow<'static, str> {
        Cow::Owned(value.to_string())
    }
}

impl<'de> Visitor<'de> for JsonText {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    /// serde_json's answer, `{RAW_VALUE_TOKEN: text}`; or an ordinary object from a
    /// deserializer that reads newtypes as their content.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(FieldName(first)) = map.next_key()? else {
            return Ok(Cow::Borrowed("{}"));
        };
        if first == RAW_VALUE_TOKEN {
            // The text comes as a string value, read like a key.
            return map.next_value::<FieldName>().map(|FieldName(text)| text);
        }
        let mut object = Map::new();
        object.insert(first.into_owned(), map.next_value()?);
        while let Some((key, value)) = map.next_entry()? {
            object.insert(key, value);
        }
        Ok(Self::of(Value::Object(object)))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        Value::deserialize(deserializer).map(Self::of)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq)).map(Self::of)
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Self::of(Value::from(v)))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Self::of(Value::from(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Self::of(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Self::of(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Self::of(Value::from(v)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Self::of(Value::Null))
    }
}

/// A string, borrowed where the input lends it.
struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }

    fn visit_borrowed_bytes<E: serde::de::Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
        std::str::from_utf8(v).map(Cow::Borrowed).map_err(|_| E::invalid_value(serde::de::Unexpected::Bytes(v), &self))
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        match std::str::from_utf8(v) {
            Ok(s) => Ok(Cow::Owned(s.to_owned())),
            Err(_) => Err(E::invalid_value(serde::de::Unexpected::Bytes(v), &self)),
        }
    }
}

/// Any value: `Some` with its text if it is a string, `None` otherwise (skipped).
struct MaybeStr<'de>(Option<Cow<'de, str>>);

impl<'de> Deserialize<'de> for MaybeStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MaybeStrVisitor).map(MaybeStr)
    }
}

struct MaybeStrVisitor;

impl<'de> Visitor<'de> for MaybeStrVisitor {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// Finds one key's string value in an object, skipping the rest. Like a `Value` built
/// from the object, the last occurrence of a repeated key wins.
struct TagSeek<'t> {
    tag: &'t str,
}

impl<'de> Visitor<'de> for TagSeek<'_> {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(FieldName(key)) = map.next_key()? {
            if key == self.tag {
                found = map.next_value::<MaybeStr>()?.0;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Reads a keyed union value's shape.
struct KeyedSeek;

impl<'de> Visitor<'de> for KeyedSeek {
    type Value = Keyed<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or an object with one entry")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Keyed::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Keyed::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(FieldName(key)) = map.next_key()? else {
            return Ok(Keyed::Other);
        };
        let inner: &'de RawValue = map.next_value()?;
        if map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Keyed::Other);
        }
        Ok(Keyed::Entry(key, inner.get()))
    }
}

/// A serializer that puts `tag: wire` first in the object its value serializes to (the
/// internally tagged layout), and refuses values that are not objects.
struct TagFirst<S> {
    inner: S,
    tag: &'static str,
    wire: &'static str,
}

impl<S: Serializer> TagFirst<S> {
    fn not_an_object(&self) -> S::Error {
        S::Error::custom(format_args!("variant `{}` did not serialize to an object", self.wire))
    }
}

/// `TagFirst`'s refusal of every value but an object, one method per serde data type.
macro_rules! refuse {
    ($($method:ident($($arg:ty),*);)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<S::Ok, S::Error> {
            Err(self.not_an_object())
        })*
    };
}

impl<S: Serializer> Serializer for TagFirst<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Impossible<S::Ok, S::Error>;
    type SerializeTuple = Impossible<S::Ok, S::Error>;
    type SerializeTupleStruct = Impossible<S::Ok, S::Error>;
    type SerializeTupleVariant = Impossible<S::Ok, S::Error>;
    type SerializeMap = TagFirstMap<S::SerializeMap>;
    type SerializeStruct = S::SerializeStruct;
    type SerializeStructVariant = Impossible<S::Ok, S::Error>;

    refuse! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<S::Ok, S::Error> {
        value.serialize(self)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, value: &T) -> Result<S::Ok, S::Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<S::Ok, S::Error> {
        Err(self.not_an_object())
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        Err(self.not_an_object())
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, S::Error> {
        Err(self.not_an_object())
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, S::Error> {
        Err(self.not_an_object())
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        Err(self.not_an_object())
    }

    /// A map payload (a transparent `Map`, or a struct with a flattened one) decoded from
    /// the wire still holds the tag; it is written once, first, with the variant's value.
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let mut map = self.inner.serialize_map(None)?;
        map.serialize_entry(self.tag, self.wire)?;
        Ok(TagFirstMap { inner: map, tag: self.tag, skipping: false })
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<S::SerializeStruct, S::Error> {
        let mut object = self.inner.serialize_struct(name, len + 1)?;
        object.serialize_field(self.tag, self.wire)?;
        Ok(object)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        Err(self.not_an_object())
    }
}

/// A map after its tag entry: skips the payload's own entry of the tag key.
pub struct TagFirstMap<M> {
    inner: M,
    tag: &'static str,
    /// The key just given was the tag: its value is skipped too.
    skipping: bool,
}

impl<M> TagFirstMap<M> {
    fn is_tag<K: ?Sized + Serialize>(&self, key: &K) -> bool {
        matches!(serde_json::to_value(key), Ok(Value::String(k)) if k == self.tag)
    }
}

impl<M: SerializeMap> SerializeMap for TagFirstMap<M> {
    type Ok = M::Ok;
    type Error = M::Error;

    fn serialize_key<K: ?Sized + Serialize>(&mut self, key: &K) -> Result<(), M::Error> {
        self.skipping = self.is_tag(key);
        if self.skipping {
            return Ok(());
        }
        self.inner.serialize_key(key)
    }

    fn serialize_value<V: ?Sized + Serialize>(&mut self, value: &V) -> Result<(), M::Error> {
        if std::mem::take(&mut self.skipping) {
            return Ok(());
        }
        self.inner.serialize_value(value)
    }

    fn serialize_entry<K: ?Sized + Serialize, V: ?Sized + Serialize>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), M::Error> {
        if self.is_tag(key) {
            return Ok(());
        }
        self.inner.serialize_entry(key, value)
    }

    fn end(self) -> Result<M::Ok, M::Error> {
        self.inner.end()
    }
}

/// The `Deserialize` impl of a generated struct with named fields: one map visitor that
/// matches each key against the fields' wire names and decodes the value into that field's
/// slot ([`fill`]), the behaviour of serde's derive for these structs (the same "missing
/// field", "duplicate field" and "unknown field" errors, an absent optional field empty,
/// an absent `required` one an error). Each field is `name: "wireName"`, with `required`
/// when it must be present; `#[cfg]`s on a field apply to its slot, key and value. After
/// the fields, `deny` rejects unknown keys and `extra field` gathers them in a JSON map
/// field; without either they are skipped.
///
/// Generated code calls it once per struct: the codegen writes a line per field instead of
/// the expanded visitor (the same code once expanded, so the same decoding speed).
#[doc(hidden)]
#[macro_export]
macro_rules! lean_struct {
    ($name:ident { $($(#[$cfg:meta])* $field:ident: $wire:literal $($required:ident)?),* $(,)? } $($mode:ident $($extra:ident)?)?) => {
        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {
                struct Visitor;
                impl<'de> ::serde::de::Visitor<'de> for Visitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter) -> ::std::fmt::Result {
                        f.write_str(concat!("struct ", stringify!($name)))
                    }
                    fn visit_map<A: ::serde::de::MapAccess<'de>>(self, mut map: A) -> ::std::result::Result<$name, A::Error> {
                        $($(#[$cfg])* let mut $field = ::std::option::Option::None;)*
                        $crate::lean_struct!(@extra_slot extra $($mode $($extra)?)?);
                        while let ::std::option::Option::Some($crate::serde_helpers::FieldName(key)) = ::serde::de::MapAccess::next_key(&mut map)? {
                            // One `?` for all the arms: a `?` per field was much of the MIR rustc checks.
                            match &*key {
                                $($(#[$cfg])* $wire => $crate::serde_helpers::fill(&mut $field, $wire, &mut map),)*
                                _ => $crate::lean_struct!(@unknown map key extra [$($wire),*] $($mode $($extra)?)?),
                            }?;
                        }
                        ::std::result::Result::Ok($name {
                            $($(#[$cfg])* $field: $crate::lean_struct!(@take $field $wire $($required)?),)*
                            $($($extra: extra,)?)?
                        })
                    }
                }
                deserializer.deserialize_map(Visitor)
            }
        }
    };
    (@take $field:ident $wire:literal required) => { $crate::serde_helpers::required($field, $wire)? };
    (@take $field:ident $wire:literal) => { $field.unwrap_or_default() };
    (@extra_slot $slot:ident extra $field:ident) => { let mut $slot = ::serde_json::Map::new(); };
    (@extra_slot $slot:ident $($rest:tt)*) => {};
    (@unknown $map:ident $key:ident $slot:ident [$($wire:literal),*]) => {
        $crate::serde_helpers::skip_value(&mut $map)
    };
    (@unknown $map:ident $key:ident $slot:ident [$($wire:literal),*] deny) => {
        ::std::result::Result::Err(<A::Error as ::serde::de::Error>::unknown_field(&$key, &[$($wire),*]))
    };
    (@unknown $map:ident $key:ident $slot:ident [$($wire:literal),*] extra $field:ident) => {
        ::serde::de::MapAccess::next_value(&mut $map).map(|value| {
            $slot.insert($key.into_owned(), value);
        })
    };
}

#[doc(hidden)]
pub use crate::lean_struct;

/// The `kind()` of a keyed union's value this SDK does not know: the string itself, or an
/// object's (first) key.
pub fn unknown_keyed_kind(value: &serde_json::Value) -> &str {
    match value {
        serde_json::Value::String(s) => s,
        serde_json::Value::Object(map) => map.keys().next().map_or("", String::as_str),
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_text_becomes_a_raw_value_without_a_second_parse() {
        // The fast paths take the text as it is: proven by text no parse would accept.
        assert_eq!(raw_value_from_parsed("{not json").get(), "{not json");
        let text = String::from("[not json");
        let lent = lend_raw_value(&text).expect("serde_json's raw-value protocol");
        assert_eq!((lent.get(), lent.get().as_ptr()), ("[not json", text.as_ptr()));
        assert_eq!(raw_value_from_parsed(r#"{"a": [1, "b"]}"#).get(), r#"{"a": [1, "b"]}"#);
    }

    #[test]
    fn the_tag_is_found_wherever_it_is_and_borrowed_when_unescaped() {
        let item = r#"{"id":"a","nested":{"type":"inner"},"list":[1,{"type":"x"}],"type":"agentMessage"}"#;
        let tag = tag_of(item, "type").unwrap();
        assert_eq!(tag, "agentMessage");
        assert!(matches!(tag, Cow::Borrowed(_)));
        let escaped = r#"{"type":"agent\u004dessage"}"#;
        assert_eq!(tag_of(escaped, "type").unwrap(), "agentMessage");
    }

    #[test]
    fn no_tag_when_missing_not_a_string_or_not_an_object() {
        for text in [r#"{"id":"a"}"#, r#"{"type":7}"#, r#"{"type":{"type":"x"}}"#, r#""type""#, "[1]", "null"] {
            assert_eq!(tag_of(text, "type"), None, "{text}");
        }
    }

    #[test]
    fn the_last_of_a_repeated_tag_wins_as_in_a_value() {
        let text = r#"{"type":"a","type":"b"}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(tag_of(text, "type").as_deref(), value["type"].as_str());
    }

    #[test]
    fn keyed_shapes() {
        assert!(matches!(keyed_parts(r#""never""#), Keyed::Str(s) if s == "never"));
        let Keyed::Entry(key, inner) = keyed_parts(r#"{"granular":{"a":[1,2]}}"#) else { panic!("not an entry") };
        assert_eq!((key.as_ref(), inner), ("granular", r#"{"a":[1,2]}"#));
        for text in ["{}", r#"{"a":1,"b":2}"#, "[]", "3", "null"] {
            assert!(matches!(keyed_parts(text), Keyed::Other), "{text}");
        }
    }

    #[derive(Serialize)]
    struct Payload {
        id: &'static str,
        #[serde(flatten)]
        extra: std::collections::BTreeMap<&'static str, u8>,
    }

    #[derive(Serialize)]
    struct Plain {
        id: &'static str,
    }

    struct Tagged<T>(T);

    impl<T: Serialize> Serialize for Tagged<T> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serialize_tagged(serializer, "type", "thing", &self.0)
        }
    }

    #[test]
    fn the_tag_goes_first_in_structs_and_maps_on_any_serializer() {
        assert_eq!(serde_json::to_string(&Tagged(Plain { id: "a" })).unwrap(), r#"{"type":"thing","id":"a"}"#);
        let flat = Tagged(Payload { id: "a", extra: [("n", 1)].into() });
        assert_eq!(serde_json::to_string(&flat).unwrap(), r#"{"type":"thing","id":"a","n":1}"#);
        assert_eq!(serde_json::to_value(&flat).unwrap(), serde_json::json!({"type": "thing", "id": "a", "n": 1}));
        assert_eq!(
            serde_json::to_string_pretty(&Tagged(Plain { id: "a" })).unwrap(),
            "{\n  \"type\": \"thing\",\n  \"id\": \"a\"\n}"
        );
    }

    #[test]
    fn a_map_payload_that_kept_the_tag_writes_it_once() {
        let kept: Map<String, Value> = serde_json::from_str(r#"{"n":1,"type":"stale","m":2}"#).unwrap();
        let text = serde_json::to_string(&Tagged(kept.clone())).unwrap();
        assert_eq!(text, r#"{"type":"thing","m":2,"n":1}"#);
        let mut entries = serde_json::Serializer::new(Vec::new());
        let mut map = TagFirst { inner: &mut entries, tag: "type", wire: "thing" }.serialize_map(None).unwrap();
        map.serialize_key("type").unwrap();
        map.serialize_value("stale").unwrap();
        map.serialize_key("n").unwrap();
        map.serialize_value(&1).unwrap();
        map.end().unwrap();
        assert_eq!(String::from_utf8(entries.into_inner()).unwrap(), r#"{"type":"thing","n":1}"#);
    }

    #[test]
    fn a_variant_error_has_one_position_the_enclosing_one() {
        #[derive(Debug)]
        struct Variant;
        impl<'de> Deserialize<'de> for Variant {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = deserialize_json_text(deserializer)?;
                decode_variant::<Vec<u8>, D::Error>(&text, "Union", "kind").map(|_| Variant)
            }
        }
        let err = serde_json::from_str::<Vec<Variant>>("[\n [1, \"x\"]]").unwrap_err().to_string();
        assert_eq!(err, "Union `kind`: invalid type: string \"x\", expected u8 at line 2 column 10");
    }

    #[test]
    fn a_payload_that_is_not_an_object_is_refused_by_name() {
        let err = serde_json::to_string(&Tagged("text")).unwrap_err();
        assert_eq!(err.to_string(), "variant `thing` did not serialize to an object");
        assert!(serde_json::to_value(Tagged(Some(3))).is_err());
    }

    #[test]
    fn decoded_strings_are_borrowed_from_text_and_owned_from_a_value() {
        let text = r#""plain""#;
        let mut de = serde_json::Deserializer::from_str(text);
        assert!(matches!(deserialize_str(&mut de).unwrap(), Cow::Borrowed("plain")));
        let owned = deserialize_str(Value::String("plain".into())).unwrap();
        assert!(matches!(owned, Cow::Owned(ref s) if s == "plain"));
    }

    #[test]
    fn serde_json_hands_over_the_text_borrowed_from_text_and_owned_from_a_value() {
        // The fast path: if serde_json ever renames its raw-value token, this fails (decoding
        // would still be right, through a `Value`, but slower).
        let text = r#"{"type": "a", "n": [1, 2.5, null]}"#;
        let mut de = serde_json::Deserializer::from_str(text);
        assert!(matches!(deserialize_json_text(&mut de).unwrap(), Cow::Borrowed(t) if t == text));
        let mut de = serde_json::Deserializer::from_reader(text.as_bytes());
        assert_eq!(deserialize_json_text(&mut de).unwrap(), text);
        let value: Value = serde_json::from_str(text).unwrap();
        let from_value = deserialize_json_text(value.clone()).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&from_value).unwrap(), value);
        assert_eq!(serde_json::from_str::<Value>(&deserialize_json_text(&value).unwrap()).unwrap(), value);
    }

    #[test]
    fn other_deserializers_get_the_text_through_a_value() {
        use serde::de::value::{Error, MapDeserializer, SeqDeserializer, StrDeserializer};
        use serde::de::IntoDeserializer;
        // The buffer behind `#[serde(untagged)]` visits a newtype.
        fn owned_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
            deserialize_json_text(deserializer).map(Cow::into_owned)
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(#[serde(deserialize_with = "owned_text")] String),
        }
        let Either::Text(text) = serde_json::from_str(r#"{"type":"a","n":[1,{}]}"#).unwrap();
        assert_eq!(text, r#"{"n":[1,{}],"type":"a"}"#);
        // Deserializers that read a newtype as its content visit it directly.
        let text = deserialize_json_text(StrDeserializer::<Error>::new("never")).unwrap();
        assert_eq!(text, r#""never""#);
        let map = MapDeserializer::<_, Error>::new([("a", 1u8), ("b", 2)].into_iter());
        assert_eq!(deserialize_json_text(map).unwrap(), r#"{"a":1,"b":2}"#);
        let seq = SeqDeserializer::<_, Error>::new([true, false].into_iter());
        assert_eq!(deserialize_json_text(seq).unwrap(), "[true,false]");
        assert_eq!(
            deserialize_json_text(7u64.into_deserializer() as serde::de::value::U64Deserializer<Error>).unwrap(),
            "7"
        );
    }
}
