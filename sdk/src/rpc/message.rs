//! Wire shapes: request ids, incoming message classification, outgoing message encoding,
//! and [`RawNotification`], the event type every stream yields.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use codex_driver_protocol_shared::serde_helpers::{lend_raw_value, raw_value_from_parsed};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::envelope::{self, Envelope, ParamsAt};
use super::routing_keys::RoutingKeys;
use super::wire::{Part, RequestId};
use crate::error::{Error, Result, RpcError};

/// A server notification as received: method, raw params and routing keys.
///
/// Streams hand these out as [`Event`] (`Arc<RawNotification>`), shared between all
/// subscribers that receive the same notification. Decode the payload with
/// [`decode`](Self::decode) / [`decode_params`](Self::decode_params), or look at it with
/// [`params_value`](Self::params_value).
#[derive(Clone)]
pub struct RawNotification {
    /// The message as received (the whole line); for one whose params were read apart
    /// (built by [`new`](Self::new), or read the plain way), the params' text.
    text: String,
    method: Part,
    /// The params' span of `text`; `None` when absent or `null`.
    params: Option<Range<usize>>,
    emitted_at_ms: Option<i64>,
    thread_id: Option<Part>,
    turn_id: Option<Part>,
}

/// A shared, immutable notification.
pub type Event = Arc<RawNotification>;

impl RawNotification {
    /// Builds a notification from a method and params (routing keys are extracted from the
    /// params as the reader does). Mostly useful for tests.
    pub fn new(method: impl Into<String>, params: Value) -> Self {
        let text = serde_json::to_string(&params).expect("a Value always serializes");
        Self::from_params_text(method.into(), text, None)
    }

    /// A notification whose params (`text`, one JSON value) were read apart from its line.
    fn from_params_text(method: String, text: String, emitted_at_ms: Option<i64>) -> Self {
        let keys = RoutingKeys::extract(&text);
        let (thread_id, turn_id) =
            (keys.thread_id.map(|id| Part::of(&text, id)), keys.turn_id.map(|id| Part::of(&text, id)));
        let params = (text != "null").then_some(0..text.len());
        RawNotification { method: Part::Own(method), params, emitted_at_ms, thread_id, turn_id, text }
    }

    /// The JSON-RPC method, e.g. `"turn/completed"`.
    pub fn method(&self) -> &str {
        self.method.get(&self.text)
    }

    /// The raw `params` JSON (`null` when absent).
    pub fn params(&self) -> &RawValue {
        let Some(text) = self.params.clone().and_then(|span| self.text.get(span)) else { return RawValue::NULL };
        // Read whole as one JSON value when received: lent as it is, or (should serde_json
        // stop lending raw values that way) checked once more.
        lend_raw_value(text).unwrap_or_else(|| {
            serde_json::from_str(text).unwrap_or_else(|e| unreachable!("params read whole are one JSON value: {e}"))
        })
    }

    /// The params parsed into a [`Value`].
    pub fn params_value(&self) -> Result<Value> {
        self.decode()
    }

    /// The params decoded into `T`; a failure is [`Error::Decode`] naming the method.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(self.params().get())
            .map_err(|source| Error::Decode { method: self.method().to_owned(), source })
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
        self.thread_id.as_ref().map(|id| id.get(&self.text))
    }

    /// The turn this notification belongs to (`params.turnId` or `params.turn.id`).
    pub fn turn_id(&self) -> Option<&str> {
        self.turn_id.as_ref().map(|id| id.get(&self.text))
    }
}

impl fmt::Debug for RawNotification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawNotification")
            .field("method", &self.method())
            .field("thread_id", &self.thread_id())
            .field("turn_id", &self.turn_id())
            .field("params", &self.params().get())
            .finish()
    }
}

/// One classified incoming line.
pub(crate) enum Incoming {
    /// A reply to one of our requests.
    Response { id: RequestId, result: Result<Box<RawValue>, RpcError> },
    /// A reply with neither `result` nor `error`: a protocol violation.
    EmptyResponse { id: RequestId },
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

/// A line that could not be classified, handed back with the reason.
#[derive(Debug)]
pub(crate) struct Unreadable {
    pub(crate) why: Malformed,
    pub(crate) line: Vec<u8>,
}

/// `null` as an owned [`RawValue`].
fn null_raw() -> Box<RawValue> {
    RawValue::NULL.to_owned()
}

impl Incoming {
    /// Classifies one line. A notification whose params the one pass placed keeps the line,
    /// with spans of it for its method, params and routing ids.
    pub(crate) fn parse(line: Vec<u8>) -> std::result::Result<Incoming, Unreadable> {
        // One UTF-8 check of the whole line, then one pass that checks no string again and
        // reads the params' routing keys and their place on the way ([`envelope::read`]).
        // What that pass cannot read or place is read the plain way, and so is a line that
        // is not UTF-8 (its error then names the position).
        let text = match String::from_utf8(line) {
            Ok(text) => text,
            Err(e) => return Self::parse_plainly_or_hand_back(e.into_bytes()),
        };
        let Ok(Envelope { id, method, params, result, error, emitted_at_ms }) = envelope::read(&text) else {
            // A lone surrogate escape or a number beyond f64 in a routing field, an
            // array for an envelope: valid JSON the plain way skips or reads by position.
            return Self::parse_plainly_or_hand_back(text.into_bytes());
        };
        let (id, method, params) = match (id, method, params) {
            (None, Some(method), ParamsAt::Span { span, thread_id, turn_id }) => {
                // Kept while buffered: no more than a little slack (a line read in several
                // chunks may have grown to twice its length).
                let mut text = text;
                if text.capacity() - text.len() > 1024 {
                    text.shrink_to_fit();
                }
                let params = Some(span);
                let notification = RawNotification { text, method, params, emitted_at_ms, thread_id, turn_id };
                return Ok(Incoming::Notification(notification));
            }
            (_, _, ParamsAt::Unplaced) => return Self::parse_plainly_or_hand_back(text.into_bytes()),
            (id, method, ParamsAt::Absent) => (id, method, null_raw()),
            (id, method, ParamsAt::Span { span, .. }) => {
                (id, method, raw_value_from_parsed(text.get(span).unwrap_or("null")))
            }
        };
        let method = method.map(|m| m.get(&text).to_owned());
        Self::classify(id, method, params, result, error, emitted_at_ms)
            .map_err(|why| Unreadable { why, line: text.into_bytes() })
    }

    /// [`parse_plainly`](Self::parse_plainly), handing the line back if it cannot be read.
    fn parse_plainly_or_hand_back(line: Vec<u8>) -> std::result::Result<Incoming, Unreadable> {
        Self::parse_plainly(&line).map_err(|why| Unreadable { why, line })
    }

    /// [`parse`](Self::parse) the plain way: the params copied whole, then their routing
    /// keys read in a second pass. For what the one pass cannot read or place, and the
    /// reference it is tested against.
    fn parse_plainly(line: &[u8]) -> std::result::Result<Incoming, Malformed> {
        #[derive(Deserialize)]
        struct PlainEnvelope {
            #[serde(default)]
            id: Option<RequestId>,
            #[serde(default)]
            method: Option<String>,
            #[serde(default)]
            params: Option<Box<RawValue>>,
            #[serde(default, deserialize_with = "present")]
            result: Option<Box<RawValue>>,
            #[serde(default)]
            error: Option<RpcError>,
            #[serde(default, rename = "emittedAtMs")]
            emitted_at_ms: Option<i64>,
        }
        /// A member that is there, `null` included (`None` only when absent).
        fn present<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Box<RawValue>>, D::Error> {
            Box::<RawValue>::deserialize(d).map(Some)
        }
        let env: PlainEnvelope = serde_json::from_slice(line).map_err(Malformed::Json)?;
        let params = env.params.unwrap_or_else(null_raw);
        Self::classify(env.id, env.method, params, env.result, env.error, env.emitted_at_ms)
    }

    /// Everything but a notification whose params kept their place in its line.
    fn classify(
        id: Option<RequestId>,
        method: Option<String>,
        params: Box<RawValue>,
        result: Option<Box<RawValue>>,
        error: Option<RpcError>,
        emitted_at_ms: Option<i64>,
    ) -> std::result::Result<Incoming, Malformed> {
        match (id, method) {
            (Some(id), Some(method)) => Ok(Incoming::Request { id, method, params }),
            (None, Some(method)) => Ok(Incoming::Notification(RawNotification::from_params_text(
                method,
                Box::<str>::from(params).into(),
                emitted_at_ms,
            ))),
            (Some(id), None) => match (error, result) {
                (Some(error), _) => Ok(Incoming::Response { id, result: Err(error) }),
                (None, Some(result)) => Ok(Incoming::Response { id, result: Ok(result) }),
                // Neither: a protocol violation, not a `null` result.
                (None, None) => Ok(Incoming::EmptyResponse { id }),
            },
            (None, None) => match error {
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

/// Test support: what the reader's one pass and the plain way make of `line`, each
/// described as text (equal when they agree).
#[cfg(test)]
pub(crate) fn parsed_both_ways(line: &[u8]) -> (String, String) {
    let one = Incoming::parse(line.to_vec()).map_err(|e| e.why);
    (describe(&one), describe(&Incoming::parse_plainly(line)))
}

#[cfg(test)]
/// What a parse made of a line, for comparing two parses.
fn describe(parsed: &std::result::Result<Incoming, Malformed>) -> String {
    match parsed {
        Ok(Incoming::Notification(n)) => format!(
            "notification {} {:?} {:?} {:?} {}",
            n.method(),
            n.thread_id(),
            n.turn_id(),
            n.emitted_at_ms(),
            n.params().get()
        ),
        Ok(Incoming::Request { id, method, params }) => format!("request {id} {method} {}", params.get()),
        Ok(Incoming::Response { id, result }) => format!("response {id} {:?}", result.as_ref().map(|r| r.get())),
        Ok(Incoming::EmptyResponse { id }) => format!("empty response {id}"),
        Ok(Incoming::OrphanError(e)) => format!("orphan {e:?}"),
        // The messages may differ: an array is "neither `id` nor `method`" to the plain
        // way and "invalid type: sequence" to the one pass.
        Err(_) => "malformed".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn routing_keys() {
        let raw = |v: Value| serde_json::to_string(&v).unwrap();
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

    /// Whether the envelope's one pass placed the params itself (no second read).
    fn placed_in_one_pass(line: &str) -> bool {
        !matches!(envelope::read(line).expect("an envelope").params, ParamsAt::Unplaced)
    }

    #[test]
    fn one_pass_matches_the_plain_way() {
        let spaced = "{ \"method\" :\t\"item/started\" ,\r\n \"params\" : \n{ \"item\" : { \"id\" : \"i\", \"a\": [1, {\"threadId\": \"nested\"}] } ,\t\"threadId\":\"t\" , \"turnId\" :\"u\"\n}\r , \"emittedAtMs\" : 7 }";
        let placed = [
            r#"{"method":"item/agentMessage/delta","params":{"threadId":"t","turnId":"u","itemId":"i","delta":"hé \"q\" 😀"},"emittedAtMs":1}"#,
            r#"{"method":"item/started","params":{"item":{"type":"agentMessage","id":"i","text":""},"threadId":"t","turnId":"u","startedAtMs":3}}"#,
            r#"{"method":"turn/completed","params":{"threadId":"t","turn":{"id":"u","items":[{"id":"not it"}],"status":"completed"}}}"#,
            r#"{"method":"thread/started","params":{"thread":{"turns":[],"id":"t"}}}"#,
            r#"{"params":{"turnId":"u","threadId":"t"},"emittedAtMs":2,"method":"before"}"#,
            spaced,
            // Routing fields of other shapes, escaped later keys, repeats.
            r#"{"method":"m","params":{"threadId":5,"turn":"x","turnId":null,"thread":{"id":7}}}"#,
            r#"{"method":"m","params":{"a":1,"\u0074urnId":"u","thread\u0049d":"t"}}"#,
            r#"{"method":"m","params":{"threadId":"a","threadId":"b","turnId":"u"}}"#,
            r#"{"method":"m","params":{"x":1,"x":2}}"#,
            r#"{"method":"m","params":{"":"empty key","threadId":"t\u00e9"}}"#,
            r#"{"id":"s1","method":"item/commandExecution/requestApproval","params":{"threadId":"t","turnId":"u","command":"ls"}}"#,
            r#"{"id":4,"method":"item/fileChange/requestApproval","params":{"threadId":"t"}}"#,
            // Any shape of params, and escapes anywhere but in the keys around them.
            r#"{"method":"m","params":{"\u0074hreadId":"t","turnId":"u"}}"#,
            r#"{"method":"m","params":{}}"#,
            "{\"method\":\"m\",\"params\":{ \n },\"x\":1}",
            r#"{"method":"m","params":[{"threadId":"t"}, "u"]}"#,
            r#"{"method":"m","params":"te\"xt"}"#,
            r#"{"method":"m","params":-1.5e3 }"#,
            "{\"method\":\"m\",\"params\":true\t}\n",
        ];
        let read_again = [
            r#"{"method":"m","par\u0061ms":{"threadId":"t"}}"#,
            r#"{"method":"m","params":{"threadId":"t"},"emitted\u0041tMs":5}"#,
        ];
        for line in placed {
            assert!(placed_in_one_pass(line), "not placed in one pass: {line}");
        }
        for line in read_again {
            assert!(!placed_in_one_pass(line), "placed in one pass: {line}");
        }
        let others = [
            r#"{"method":"m","params":null}"#,
            r#"{"method":"m"}"#,
            r#"{"id":3,"result":{"threadId":"t"}}"#,
            r#"{"error":{"code":-1,"message":"x"},"id":"z"}"#,
            r#"{"error":{"code":-1,"message":"x"}}"#,
            r#"{"method":"m","params":{"a":1},"params":{"b":2}}"#,
            r#"{"method":"m","params":{"a":1"#,
            r#"{"method":"m","params":{"a":1}} trailing"#,
            "[]",
        ];
        // Valid JSON the one pass cannot read: it reads the routing fields (and the params'
        // keys) whole, the plain way skips them or reads an envelope array by position.
        let read_plainly = [
            r#"{"method":"m","params":{"\ud800":1,"threadId":"t"}}"#,
            r#"{"method":"m","params":{"threadId":1e400,"turnId":"u"}}"#,
            r#"{"method":"m","params":1e400}"#,
            r#"{"id":1,"method":"x","params":{"turnId":"\udc00"}}"#,
            r#"[null,"m",{"threadId":"t"}]"#,
        ];
        for line in read_plainly {
            assert!(envelope::read(line).is_err(), "{line}");
            assert!(Incoming::parse(line.into()).is_ok(), "{line}");
        }
        for line in placed.iter().chain(&read_again).chain(&others).chain(&read_plainly) {
            let (one, plain) = parsed_both_ways(line.as_bytes());
            assert_eq!(one, plain, "{line}");
        }
        // The spaced params are cut exactly: from their `{` to their `}`, whitespace kept.
        let Ok(Incoming::Notification(n)) = Incoming::parse(spaced.into()) else { panic!() };
        assert!(n.params().get().starts_with("{ \"item\"") && n.params().get().ends_with("\"u\"\n}"));
        assert_eq!((n.thread_id(), n.turn_id(), n.emitted_at_ms()), (Some("t"), Some("u"), Some(7)));
        // A notification keeps its line: method, params and ids are spans of it, and an id
        // written with escapes is the only string of its own.
        let text = placed[0];
        let Ok(Incoming::Notification(n)) = Incoming::parse(text.into()) else { panic!() };
        assert_eq!(n.text, text);
        assert!(matches!(
            (&n.method, &n.thread_id, &n.turn_id),
            (Part::Span(_), Some(Part::Span(_)), Some(Part::Span(_)))
        ));
        assert_eq!(n.params().get().as_ptr(), n.text[n.params.clone().unwrap()].as_ptr());
        let Ok(Incoming::Notification(n)) = Incoming::parse(placed[10].into()) else { panic!() };
        assert!(matches!(&n.thread_id, Some(Part::Own(id)) if id == "t\u{e9}"));
    }

    /// Random JSON-RPC lines (a fixed seed): every token surrounded by random JSON
    /// whitespace, keys and strings sometimes written with escapes, the envelope's members
    /// in any order, routing fields of every shape, params of every kind.
    struct RandomLines(u64);

    impl RandomLines {
        fn next(&mut self) -> u64 {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn pick(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn space(&mut self) -> &'static str {
            ["", "", "", "", " ", "\t", "\n  ", "\r\n", "  "][self.pick(9)]
        }

        /// A JSON string of `text`, its first character sometimes escaped.
        fn string(&mut self, text: &str) -> String {
            match (self.pick(5), text.chars().next()) {
                (0, Some(c)) if c.is_ascii() => format!("\"\\u{:04x}{}\"", c as u32, &text[1..]),
                _ => serde_json::to_string(text).unwrap(),
            }
        }

        fn value(&mut self, depth: u32) -> String {
            let texts = ["t", "u-1", "hé \"q\" 😀", "", "a\\b\nc"];
            match self.pick(if depth > 2 { 3 } else { 6 }) {
                0 => ["0", "-12", "3.5e2", "true", "null", "false"][self.pick(6)].to_owned(),
                1 | 2 => {
                    let text = texts[self.pick(texts.len())];
                    self.string(text)
                }
                3 => {
                    let items: Vec<String> = (0..self.pick(3)).map(|_| self.value(depth + 1)).collect();
                    format!("[{}{}{}]", self.space(), items.join(","), self.space())
                }
                _ => {
                    let keys = ["id", "threadId", "turnId", "thread", "turn", "item", "x"];
                    let members = (0..self.pick(4)).map(|_| keys[self.pick(keys.len())]).collect::<Vec<_>>();
                    self.object(&members, depth + 1)
                }
            }
        }

        fn object(&mut self, keys: &[&str], depth: u32) -> String {
            let members: Vec<String> = keys
                .iter()
                .map(|key| {
                    let (key, value) = (self.string(key), self.value(depth));
                    format!("{}{key}{}:{}{value}{}", self.space(), self.space(), self.space(), self.space())
                })
                .collect();
            format!("{{{}{}}}", members.join(","), self.space())
        }

        fn line(&mut self) -> String {
            let mut members: Vec<(&str, String)> = Vec::new();
            if self.pick(8) != 0 {
                let method = ["item/agentMessage/delta", "turn/started", "m"][self.pick(3)];
                let method = self.string(method);
                members.push(("method", method));
            }
            if self.pick(4) == 0 {
                members.push(("id", ["7", "\"s1\""][self.pick(2)].to_owned()));
            }
            if self.pick(8) != 0 {
                let keys = ["threadId", "turnId", "thread", "turn", "item", "delta"];
                let chosen: Vec<&str> = keys.iter().copied().filter(|_| self.pick(2) == 0).collect();
                let params = if self.pick(6) == 0 { self.value(0) } else { self.object(&chosen, 1) };
                members.push(("params", params));
            }
            for extra in ["emittedAtMs", "x"] {
                if self.pick(3) == 0 {
                    members.push((extra, if extra == "x" { self.value(1) } else { "5".to_owned() }));
                }
            }
            for i in (1..members.len()).rev() {
                let j = self.pick(i + 1);
                members.swap(i, j);
            }
            let members: Vec<String> = members
                .into_iter()
                .map(|(key, value)| {
                    let key = self.string(key);
                    format!("{}{key}{}:{}{value}{}", self.space(), self.space(), self.space(), self.space())
                })
                .collect();
            format!("{}{{{}}}{}", self.space(), members.join(","), self.space())
        }
    }

    #[test]
    fn one_pass_matches_the_plain_way_on_random_lines() {
        let mut lines = RandomLines(0x9e37_79b9_7f4a_7c15);
        let (mut placed, mut notifications) = (0, 0);
        for _ in 0..20_000 {
            let line = lines.line();
            let (one, plain) = parsed_both_ways(line.as_bytes());
            assert_eq!(one, plain, "{line}");
            notifications += usize::from(one.starts_with("notification"));
            placed += usize::from(envelope::read(&line).is_ok_and(|e| matches!(e.params, ParamsAt::Span { .. })));
        }
        // The generator reaches the one pass's own path, not only the plain way.
        assert!(notifications > 8_000 && placed > 8_000, "{notifications} notifications, {placed} placed");
    }

    #[test]
    fn classify() {
        let n = Incoming::parse(
            br#"{"method":"turn/started","params":{"threadId":"a","turn":{"id":"b"}},"emittedAtMs":5}"#.to_vec(),
        );
        let Ok(Incoming::Notification(n)) = n else { panic!() };
        assert_eq!(
            (n.method(), n.thread_id(), n.turn_id(), n.emitted_at_ms()),
            ("turn/started", Some("a"), Some("b"), Some(5))
        );

        let Ok(Incoming::Request { id, method, .. }) = Incoming::parse(br#"{"id":"s1","method":"x"}"#.to_vec()) else {
            panic!()
        };
        assert_eq!((id, method.as_str()), (RequestId::Str("s1".into()), "x"));

        let Ok(Incoming::Response { id, result }) = Incoming::parse(br#"{"id":3,"result":null}"#.to_vec()) else {
            panic!()
        };
        assert_eq!(id, RequestId::Int(3));
        assert_eq!(result.unwrap().get(), "null");

        let Ok(Incoming::Response { result, .. }) =
            Incoming::parse(br#"{"error":{"code":-32600,"message":"no"},"id":6}"#.to_vec())
        else {
            panic!()
        };
        assert_eq!(result.unwrap_err().code.code(), -32600);

        assert!(Incoming::parse(b"{}".to_vec()).is_err());
        assert!(Incoming::parse(b"not json".to_vec()).is_err());
        assert!(Incoming::parse(b"{\"method\":\"\xff\"}".to_vec()).is_err());
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
