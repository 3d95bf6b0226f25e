//! Wire shapes: request ids, incoming message classification, outgoing message encoding,
//! and [`RawNotification`], the event type every stream yields.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::{Error, Result, RpcError};

/// A JSON-RPC request id. Server → client requests use their own id space and may use
/// integers or strings; replies echo the id exactly as received.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    /// An integer id.
    Int(i64),
    /// A string id.
    Str(String),
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestId::Int(i) => write!(f, "{i}"),
            RequestId::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// A server notification as received: method, raw params and routing keys.
///
/// Streams hand these out as [`Event`] (`Arc<RawNotification>`), shared between all
/// subscribers that receive the same notification. Decode the payload with
/// [`decode`](Self::decode) / [`decode_params`](Self::decode_params), or look at it with
/// [`params_value`](Self::params_value).
#[derive(Clone)]
pub struct RawNotification {
    method: String,
    params: Box<RawValue>,
    emitted_at_ms: Option<i64>,
    thread_id: Option<String>,
    turn_id: Option<String>,
}

/// A shared, immutable notification.
pub type Event = Arc<RawNotification>;

impl RawNotification {
    /// Builds a notification from a method and params (routing keys are extracted from the
    /// params as the reader does). Mostly useful for tests.
    pub fn new(method: impl Into<String>, params: Value) -> Self {
        let params = serde_json::value::to_raw_value(&params).expect("a Value always serializes");
        Self::from_raw(method.into(), params, None)
    }

    pub(crate) fn from_raw(method: String, params: Box<RawValue>, emitted_at_ms: Option<i64>) -> Self {
        let keys = RoutingKeys::extract(&params);
        RawNotification { method, params, emitted_at_ms, thread_id: keys.thread_id, turn_id: keys.turn_id }
    }

    /// The JSON-RPC method, e.g. `"turn/completed"`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The raw `params` JSON (`null` when absent).
    pub fn params(&self) -> &RawValue {
        &self.params
    }

    /// The params parsed into a [`Value`].
    pub fn params_value(&self) -> Result<Value> {
        self.decode()
    }

    /// The params decoded into `T`; a failure is [`Error::Decode`] naming the method.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(self.params.get()).map_err(|source| Error::Decode { method: self.method.clone(), source })
    }

    /// The params decoded as `N::Params` (does not check that the method matches).
    pub fn decode_params<N: crate::protocol::Notification>(&self) -> Result<N::Params> {
        self.decode()
    }

    /// The top-level `emittedAtMs` the server adds to every notification.
    pub fn emitted_at_ms(&self) -> Option<i64> {
        self.emitted_at_ms
    }

    /// The thread this notification belongs to (`params.threadId` or `params.thread.id`).
    pub fn thread_id(&self) -> Option<&str> {
        self.thread_id.as_deref()
    }

    /// The turn this notification belongs to (`params.turnId` or `params.turn.id`).
    pub fn turn_id(&self) -> Option<&str> {
        self.turn_id.as_deref()
    }
}

impl fmt::Debug for RawNotification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawNotification")
            .field("method", &self.method)
            .field("thread_id", &self.thread_id)
            .field("turn_id", &self.turn_id)
            .field("params", &self.params.get())
            .finish()
    }
}

/// Thread and turn ids of a notification's params, extracted leniently.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct RoutingKeys {
    pub(crate) thread_id: Option<String>,
    pub(crate) turn_id: Option<String>,
}

impl RoutingKeys {
    /// One pass over `params`: `threadId`/`turnId`, else the `id` of a `thread`/`turn`
    /// object (whose other fields are skipped, not parsed). A field of another shape
    /// counts as absent.
    pub(crate) fn extract(params: &RawValue) -> Self {
        #[derive(Deserialize)]
        struct Fields<'a> {
            #[serde(rename = "threadId", borrow, default)]
            thread_id: Lenient<'a>,
            #[serde(rename = "turnId", borrow, default)]
            turn_id: Lenient<'a>,
            #[serde(borrow, default)]
            thread: Lenient<'a>,
            #[serde(borrow, default)]
            turn: Lenient<'a>,
        }
        let Ok(fields) = serde_json::from_str::<Fields<'_>>(params.get()) else {
            return RoutingKeys::default();
        };
        let id = |direct: Lenient<'_>, nested: Lenient<'_>| {
            let direct = match direct {
                Lenient::Str(s) => Some(s),
                _ => None,
            };
            let nested = match nested {
                Lenient::WithId(s) => Some(s),
                _ => None,
            };
            direct.or(nested).map(std::borrow::Cow::into_owned)
        };
        RoutingKeys { thread_id: id(fields.thread_id, fields.thread), turn_id: id(fields.turn_id, fields.turn) }
    }
}

/// A routing field as found, read in the same pass as its neighbours: a string, an object
/// with a string `id` (its other fields skipped), or anything else (skipped; not an error).
#[derive(Default)]
enum Lenient<'a> {
    Str(std::borrow::Cow<'a, str>),
    WithId(std::borrow::Cow<'a, str>),
    #[default]
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Lenient<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        use std::borrow::Cow;
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Lenient<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Self::Value, E> {
                Ok(Lenient::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(Lenient::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
                let mut id = None;
                // Keys read as `Lenient` are borrowed unless escaped (a `Cow<str>` key would
                // always be copied).
                while let Some(key) = map.next_key::<Lenient<'de>>()? {
                    if matches!(&key, Lenient::Str(k) if k == "id") && id.is_none() {
                        if let Lenient::Str(s) = map.next_value::<Lenient<'de>>()? {
                            id = Some(s);
                        }
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(id.map_or(Lenient::Other, Lenient::WithId))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Lenient::Other)
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<Self::Value, E> {
                Ok(Lenient::Other)
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<Self::Value, E> {
                Ok(Lenient::Other)
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<Self::Value, E> {
                Ok(Lenient::Other)
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<Self::Value, E> {
                Ok(Lenient::Other)
            }
            fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
                Ok(Lenient::Other)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// One classified incoming line.
pub(crate) enum Incoming {
    /// A reply to one of our requests.
    Response { id: RequestId, result: Result<Box<RawValue>, RpcError> },
    /// A notification.
    Notification(RawNotification),
    /// A server → client request.
    Request { id: RequestId, method: String, params: Box<RawValue> },
    /// An error object without a usable id.
    OrphanError(RpcError),
}

/// Why a line could not be classified.
#[derive(Debug)]
pub(crate) enum Malformed {
    Json(serde_json::Error),
    Shape(&'static str),
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Json(e) => write!(f, "invalid JSON: {e}"),
            Malformed::Shape(s) => f.write_str(s),
        }
    }
}

fn null_raw() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).expect("`null` is valid JSON")
}

impl Incoming {
    pub(crate) fn parse(line: &[u8]) -> std::result::Result<Incoming, Malformed> {
        #[derive(Deserialize)]
        struct Envelope {
            #[serde(default)]
            id: Option<RequestId>,
            #[serde(default)]
            method: Option<String>,
            #[serde(default)]
            params: Option<Box<RawValue>>,
            #[serde(default)]
            result: Option<Box<RawValue>>,
            #[serde(default)]
            error: Option<RpcError>,
            #[serde(default, rename = "emittedAtMs")]
            emitted_at_ms: Option<i64>,
        }
        // One UTF-8 check of the whole line, then a parse that checks no string again (the
        // raw `params` text included). Invalid UTF-8 goes through `from_slice` for its
        // error, which names the position.
        let env: Envelope = match std::str::from_utf8(line) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(line),
        }
        .map_err(Malformed::Json)?;
        let params = env.params.unwrap_or_else(null_raw);
        match (env.id, env.method) {
            (Some(id), Some(method)) => Ok(Incoming::Request { id, method, params }),
            (None, Some(method)) => {
                Ok(Incoming::Notification(RawNotification::from_raw(method, params, env.emitted_at_ms)))
            }
            (Some(id), None) => {
                let result = match env.error {
                    Some(error) => Err(error),
                    None => Ok(env.result.unwrap_or_else(null_raw)),
                };
                Ok(Incoming::Response { id, result })
            }
            (None, None) => match env.error {
                Some(error) => Ok(Incoming::OrphanError(error)),
                None => Err(Malformed::Shape("neither `id` nor `method`")),
            },
        }
    }
}

#[derive(Serialize)]
struct OutRequest<'a> {
    id: i64,
    method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a RawValue>,
}

#[derive(Serialize)]
struct OutNotification<'a> {
    method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a RawValue>,
}

#[derive(Serialize)]
struct OutReply<'a> {
    id: &'a RequestId,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a RpcError>,
}

fn non_null(params: &RawValue) -> Option<&RawValue> {
    (params.get() != "null").then_some(params)
}

/// `{"id":…,"method":…,"params":…}` (params omitted when `null`).
pub(crate) fn encode_request(id: i64, method: &str, params: &RawValue) -> String {
    let msg = OutRequest { id, method, params: non_null(params) };
    serde_json::to_string(&msg).expect("request serializes")
}

/// `{"method":…,"params":…}` (params omitted when `null`).
pub(crate) fn encode_notification(method: &str, params: &RawValue) -> String {
    let msg = OutNotification { method, params: non_null(params) };
    serde_json::to_string(&msg).expect("notification serializes")
}

/// `{"id":…,"result":…}` or `{"id":…,"error":…}`.
pub(crate) fn encode_reply(id: &RequestId, reply: &std::result::Result<Value, RpcError>) -> String {
    let msg = match reply {
        Ok(value) => OutReply { id, result: Some(value), error: None },
        Err(error) => OutReply { id, result: None, error: Some(error) },
    };
    serde_json::to_string(&msg).expect("reply serializes")
}

/// Encodes `params` as raw JSON for `method`.
pub(crate) fn to_raw<T: Serialize + ?Sized>(method: &str, params: &T) -> Result<Box<RawValue>> {
    serde_json::value::to_raw_value(params).map_err(|source| Error::Encode { method: method.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn routing_keys() {
        let raw = |v: Value| serde_json::value::to_raw_value(&v).unwrap();
        assert_eq!(
            RoutingKeys::extract(&raw(json!({"threadId": "t", "turnId": "u", "x": [1]}))),
            RoutingKeys { thread_id: Some("t".into()), turn_id: Some("u".into()) }
        );
        assert_eq!(
            RoutingKeys::extract(&raw(json!({"threadId": "t", "turn": {"id": "u", "items": []}}))),
            RoutingKeys { thread_id: Some("t".into()), turn_id: Some("u".into()) }
        );
        assert_eq!(
            RoutingKeys::extract(&raw(json!({"thread": {"id": "t", "turns": []}}))),
            RoutingKeys { thread_id: Some("t".into()), turn_id: None }
        );
        // Odd shapes are not errors, just unscoped.
        assert_eq!(
            RoutingKeys::extract(&raw(json!({"threadId": 5, "turn": "x", "turnId": null}))),
            RoutingKeys::default()
        );
        assert_eq!(
            RoutingKeys::extract(&raw(json!({"thread": {"id": 7}, "turn": [{"id": "u"}]}))),
            RoutingKeys::default()
        );
        // Escaped ids; an `id` deeper in the object is not the object's.
        assert_eq!(
            RoutingKeys::extract(&raw(json!({"threadId": "a\"b", "turn": {"items": [{"id": "not it"}], "id": "u"}}))),
            RoutingKeys { thread_id: Some("a\"b".into()), turn_id: Some("u".into()) }
        );
        assert_eq!(RoutingKeys::extract(&raw(json!([1, 2]))), RoutingKeys::default());
        assert_eq!(RoutingKeys::extract(&raw(json!(null))), RoutingKeys::default());
    }

    #[test]
    fn classify() {
        let n = Incoming::parse(
            br#"{"method":"turn/started","params":{"threadId":"a","turn":{"id":"b"}},"emittedAtMs":5}"#,
        );
        let Ok(Incoming::Notification(n)) = n else { panic!() };
        assert_eq!(
            (n.method(), n.thread_id(), n.turn_id(), n.emitted_at_ms()),
            ("turn/started", Some("a"), Some("b"), Some(5))
        );

        let Ok(Incoming::Request { id, method, .. }) = Incoming::parse(br#"{"id":"s1","method":"x"}"#) else {
            panic!()
        };
        assert_eq!((id, method.as_str()), (RequestId::Str("s1".into()), "x"));

        let Ok(Incoming::Response { id, result }) = Incoming::parse(br#"{"id":3,"result":null}"#) else { panic!() };
        assert_eq!(id, RequestId::Int(3));
        assert_eq!(result.unwrap().get(), "null");

        let Ok(Incoming::Response { result, .. }) =
            Incoming::parse(br#"{"error":{"code":-32600,"message":"no"},"id":6}"#)
        else {
            panic!()
        };
        assert_eq!(result.unwrap_err().code.code(), -32600);

        assert!(Incoming::parse(b"{}").is_err());
        assert!(Incoming::parse(b"not json").is_err());
        assert!(Incoming::parse(b"{\"method\":\"\xff\"}").is_err());
    }

    #[test]
    fn encode() {
        let null = null_raw();
        assert_eq!(encode_notification("initialized", &null), "{\"method\":\"initialized\"}");
        let p = to_raw("m", &json!({"a": 1})).unwrap();
        assert_eq!(encode_request(7, "m", &p), "{\"id\":7,\"method\":\"m\",\"params\":{\"a\":1}}");
        assert_eq!(
            encode_reply(&RequestId::Str("x".into()), &Ok(json!({"decision": "decline"}))),
            "{\"id\":\"x\",\"result\":{\"decision\":\"decline\"}}"
        );
        assert_eq!(
            encode_reply(&RequestId::Int(0), &Err(RpcError::new(-32601, "no"))),
            "{\"id\":0,\"error\":{\"code\":-32601,\"message\":\"no\"}}"
        );
    }
}
