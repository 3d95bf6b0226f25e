//! Typed structured output: derive a JSON Schema from a Rust type with `schemars`, send it
//! as the turn's `outputSchema`, and parse the final answer back into the type.
//!
//! Codex forwards `outputSchema` to the model as the Responses API's
//! `text.format = {"type": "json_schema", "name": "codex_output_schema", "strict": true, "schema": …}`.
//! Strict mode accepts a subset of JSON Schema, so [`output_schema_for`] rewrites what
//! `schemars` emits ([`make_strict`]): every object gets `additionalProperties: false` and
//! lists all its properties as `required` (an `Option<T>` field stays nullable, so the model
//! answers `null` for it), `oneOf` becomes `anyOf`, single-element `allOf` wrappers are
//! merged into their parent, definitions live under `$defs`, and keywords strict mode
//! rejects (`default`, `examples`, unsupported `format`s such as `uint32`, …) are dropped.
//!
//! ```no_run
//! # async fn demo(thread: codex_driver::Thread) -> codex_driver::Result<()> {
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Review {
//!     verdict: String,
//!     issues: Vec<String>,
//! }
//!
//! let review = thread.run_typed::<Review>("Review the last commit").await?;
//! println!("{}: {} issue(s)", review.output.verdict, review.output.issues.len());
//! # Ok(()) }
//! ```
//!
//! The bound is schemars **1**'s `JsonSchema`. Derive it with your own `schemars = "1"`, or
//! with the SDK's copy, re-exported as [`codex_driver::schemars`](crate::schemars):
//! `#[derive(codex_driver::schemars::JsonSchema)] #[schemars(crate = "codex_driver::schemars")]`.
//!
//! Limits: the root should be a struct (the Responses API wants an object at the root), and
//! maps (`HashMap<String, T>`, whose schema is an `additionalProperties` schema) are kept
//! as they are but are not accepted by strict mode.

pub use crate::results::OutputMismatch;
use crate::turn::TurnResult;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The `format` values the Responses API's strict mode accepts; others are dropped.
const STRICT_FORMATS: &[&str] = &["date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"];

/// Keywords dropped everywhere: strict mode rejects them or they carry no constraint.
const DROPPED_KEYWORDS: &[&str] = &["$schema", "default", "examples", "readOnly", "writeOnly", "deprecated", "$id"];

/// The strict-mode JSON Schema of `T`, ready for
/// [`TurnOptions::output_schema`](crate::TurnOptions::output_schema) (see the module docs for
/// the rewrite rules).
pub fn output_schema_for<T: JsonSchema>() -> Value {
    let root = schemars::generate::SchemaSettings::draft2019_09().into_generator().into_root_schema_for::<T>();
    let mut schema = root.to_value();
    make_strict(&mut schema);
    schema
}

/// Rewrites a JSON Schema in place for the Responses API's strict mode (see the module
/// docs). Idempotent; a hand-written schema that is already strict is left as it is.
pub fn make_strict(schema: &mut Value) {
    if let Value::Object(root) = schema {
        if let Some(definitions) = root.remove("definitions") {
            match root.get_mut("$defs") {
                Some(Value::Object(defs)) => {
                    if let Value::Object(more) = definitions {
                        for (k, v) in more {
                            defs.entry(k).or_insert(v);
                        }
                    }
                }
                _ => {
                    root.insert("$defs".to_owned(), definitions);
                }
            }
        }
    }
    strictify(schema);
}

fn strictify(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    for keyword in DROPPED_KEYWORDS {
        map.remove(*keyword);
    }
    if let Some(Value::String(format)) = map.get("format") {
        if !STRICT_FORMATS.contains(&format.as_str()) {
            map.remove("format");
        }
    }
    if let Some(Value::String(reference)) = map.get_mut("$ref") {
        if let Some(rest) = reference.strip_prefix("#/definitions/") {
            *reference = format!("#/$defs/{rest}");
        }
    }
    if let Some(one_of) = map.remove("oneOf") {
        match map.get_mut("anyOf") {
            Some(Value::Array(any)) => {
                if let Value::Array(more) = one_of {
                    any.extend(more);
                }
            }
            _ => {
                map.insert("anyOf".to_owned(), one_of);
            }
        }
    }
    merge_single_all_of(map);

    // Recurse first, so nested objects are fixed whatever the parent is.
    for key in ["properties", "$defs", "definitions", "patternProperties"] {
        if let Some(Value::Object(children)) = map.get_mut(key) {
            children.values_mut().for_each(strictify);
        }
    }
    for key in ["anyOf", "allOf", "prefixItems"] {
        if let Some(Value::Array(children)) = map.get_mut(key) {
            children.iter_mut().for_each(strictify);
        }
    }
    match map.get_mut("items") {
        Some(Value::Array(children)) => children.iter_mut().for_each(strictify),
        Some(item @ Value::Object(_)) => strictify(item),
        _ => {}
    }
    if let Some(extra @ Value::Object(_)) = map.get_mut("additionalProperties") {
        strictify(extra);
    }

    if is_object_schema(map) {
        if !map.contains_key("properties") {
            map.insert("properties".to_owned(), Value::Object(Map::new()));
        }
        let names: Vec<Value> = match map.get("properties") {
            Some(Value::Object(props)) => props.keys().cloned().map(Value::String).collect(),
            _ => Vec::new(),
        };
        map.insert("required".to_owned(), Value::Array(names));
        match map.get("additionalProperties") {
            None | Some(Value::Bool(true)) => {
                map.insert("additionalProperties".to_owned(), Value::Bool(false));
            }
            _ => {}
        }
    }
}

/// `{"description": …, "allOf": [{"$ref": …}]}` (how schemars documents a field whose type
/// is a reference) becomes `{"description": …, "$ref": …}`.
fn merge_single_all_of(map: &mut Map<String, Value>) {
    let single = matches!(map.get("allOf"), Some(Value::Array(items)) if items.len() == 1);
    if !single {
        return;
    }
    let Some(Value::Array(mut items)) = map.remove("allOf") else { return };
    match items.pop() {
        Some(Value::Object(inner)) if inner.keys().all(|k| !map.contains_key(k)) => {
            map.extend(inner);
        }
        Some(other) => {
            map.insert("allOf".to_owned(), Value::Array(vec![other]));
        }
        None => {}
    }
}

fn is_object_schema(map: &Map<String, Value>) -> bool {
    match map.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
        _ => map.contains_key("properties"),
    }
}

/// A finished typed turn: the parsed answer and the turn it came from.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TypedTurnResult<T> {
    /// The final response, parsed.
    pub output: T,
    /// The turn (items, usage, timing).
    pub turn: TurnResult,
}

impl<T> TypedTurnResult<T> {
    /// The parsed answer, dropping the turn.
    pub fn into_output(self) -> T {
        self.output
    }
}

/// Parses a turn's final response as `T`: the text as JSON, or — leniently — the JSON
/// inside a single Markdown code fence. A response that does not fit (or no response) is
/// [`Error::OutputMismatch`](crate::Error::OutputMismatch).
pub fn parse_final_response<T: DeserializeOwned>(turn: TurnResult) -> crate::Result<TypedTurnResult<T>> {
    let type_name = std::any::type_name::<T>();
    let mismatch =
        |raw, source, turn| crate::Error::OutputMismatch(Box::new(OutputMismatch { type_name, raw, source, turn }));
    let Some(raw) = turn.final_response().map(str::to_owned) else {
        let source = <serde_json::Error as serde::de::Error>::custom(format!(
            "the turn ended `{}` without a final response",
            turn.status
        ));
        return Err(mismatch(None, source, turn));
    };
    match serde_json::from_str::<T>(raw.trim()) {
        Ok(output) => Ok(TypedTurnResult { output, turn }),
        Err(source) => match unfence(&raw).map(serde_json::from_str::<T>) {
            Some(Ok(output)) => Ok(TypedTurnResult { output, turn }),
            _ => Err(mismatch(Some(raw), source, turn)),
        },
    }
}

/// The body of a text that is exactly one Markdown code fence (```` ```json … ``` ````).
fn unfence(text: &str) -> Option<&str> {
    let body = text.trim().strip_prefix("```")?.strip_suffix("```")?;
    let (first_line, rest) = body.split_once('\n')?;
    let tag = first_line.trim();
    (tag.is_empty() || tag.eq_ignore_ascii_case("json")).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ThreadItem, TurnStatus};
    use serde::Deserialize;
    use serde_json::json;

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    struct Inner {
        /// A documented reference field.
        level: Level,
        count: u32,
    }

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    enum Level {
        Low,
        High,
    }

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    #[serde(tag = "kind")]
    enum Shape {
        Circle { radius: f64 },
        Square { side: f64 },
    }

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    struct Outer {
        title: String,
        note: Option<String>,
        #[serde(default)]
        tags: Vec<String>,
        /// Nested struct.
        inner: Inner,
        maybe_inner: Option<Inner>,
        shapes: Vec<Shape>,
        when: Option<u64>,
    }

    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a Map<String, Value>>) {
        match v {
            Value::Object(m) => {
                out.push(m);
                m.values().for_each(|c| walk(c, out));
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }

    #[test]
    fn schema_is_strict() {
        let schema = output_schema_for::<Outer>();
        let text = schema.to_string();
        for banned in [
            "\"oneOf\"",
            "\"allOf\"",
            "\"definitions\"",
            "\"$schema\"",
            "\"default\"",
            "uint32",
            "uint64",
            "\"double\"",
        ] {
            assert!(!text.contains(banned), "{banned} left in {schema:#}");
        }
        assert!(text.contains("#/$defs/Inner"), "{schema:#}");
        let mut objects = Vec::new();
        walk(&schema, &mut objects);
        let mut checked = 0;
        for map in objects {
            if let Some(Value::Object(props)) = map.get("properties") {
                checked += 1;
                assert_eq!(map.get("additionalProperties"), Some(&json!(false)), "{map:?}");
                let required: Vec<&str> =
                    map["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
                let names: Vec<&str> = props.keys().map(String::as_str).collect();
                assert_eq!(required, names);
            }
        }
        assert!(checked >= 4, "root, Inner and two Shape variants: {schema:#}");
        // Options stay nullable; the documented reference keeps its description.
        assert_eq!(schema["properties"]["note"]["type"], json!(["string", "null"]));
        assert_eq!(schema["properties"]["inner"]["$ref"], json!("#/$defs/Inner"));
        assert_eq!(schema["properties"]["inner"]["description"], json!("Nested struct."));
        assert!(schema["$defs"]["Shape"]["anyOf"].is_array());
        // Idempotent.
        let mut again = schema.clone();
        make_strict(&mut again);
        assert_eq!(again, schema);
    }

    #[test]
    fn hand_written_schema_is_kept() {
        let mut schema = json!({"type": "object", "properties": {"a": {"type": "integer"}},
            "required": ["a"], "additionalProperties": false});
        let before = schema.clone();
        make_strict(&mut schema);
        assert_eq!(schema, before);
        // Maps keep their value schema (strict mode rejects them; nothing to rewrite to).
        let mut map = json!({"type": "object", "additionalProperties": {"type": "string"}});
        make_strict(&mut map);
        assert_eq!(map["additionalProperties"], json!({"type": "string"}));
    }

    fn turn(text: Option<&str>) -> TurnResult {
        let items: Vec<ThreadItem> = text
            .map(|t| vec![serde_json::from_value(json!({"type": "agentMessage", "id": "m", "text": t})).unwrap()])
            .unwrap_or_default();
        let turn: crate::types::Turn =
            serde_json::from_value(json!({"id": "t1", "items": [], "status": "completed"})).unwrap();
        let mut collector = crate::turn::TurnCollector::new(turn.clone());
        for item in items {
            collector.observe(&crate::methods::ServerNotification::ItemCompleted(
                serde_json::from_value(json!({"completedAtMs": 1, "item": item, "threadId": "th", "turnId": "t1"}))
                    .unwrap(),
            ));
        }
        collector.observe(&crate::methods::ServerNotification::TurnCompleted(
            serde_json::from_value(json!({"threadId": "th", "turn": turn})).unwrap(),
        ));
        collector.finish().unwrap()
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Answer {
        a: u32,
    }

    #[test]
    fn parses_plain_and_fenced_json() {
        assert_eq!(parse_final_response::<Answer>(turn(Some(" {\"a\": 1}\n"))).unwrap().output, Answer { a: 1 });
        let fenced = "```json\n{\"a\": 2}\n```";
        assert_eq!(parse_final_response::<Answer>(turn(Some(fenced))).unwrap().output, Answer { a: 2 });
        let r = parse_final_response::<Answer>(turn(Some("{\"a\": 3}"))).unwrap();
        assert_eq!((r.turn.status.clone(), r.into_output()), (TurnStatus::Completed, Answer { a: 3 }));
    }

    fn mismatch(turn: TurnResult) -> OutputMismatch {
        match parse_final_response::<Answer>(turn) {
            Err(crate::Error::OutputMismatch(m)) => *m,
            other => panic!("expected OutputMismatch, got {other:?}"),
        }
    }

    #[test]
    fn mismatch_carries_raw_text_and_serde_error() {
        let e = mismatch(turn(Some("{\"b\": true}")));
        assert_eq!(e.raw.as_deref(), Some("{\"b\": true}"));
        assert!(e.source.to_string().contains("missing field `a`"), "{}", e.source);
        assert!(e.to_string().contains("does not fit"), "{e}");
        assert!(e.type_name.ends_with("Answer"));
        let e = mismatch(turn(None));
        assert_eq!(e.raw, None);
        assert!(e.to_string().contains("without a final response"), "{e}");
        let long = "x".repeat(1000);
        let e = mismatch(turn(Some(&long)));
        assert!(e.to_string().len() < 400, "{e}");
    }
}
