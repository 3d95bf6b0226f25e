//! Rust functions the model can call: a thread's dynamic tools (experimental surface,
//! cargo feature `experimental`).
//!
//! [`Tools`] collects async functions, each with a name, a description and an argument
//! type (`schemars::JsonSchema` + `Deserialize`, whose schema the model sees);
//! [`Codex::thread_start_with_tools`](crate::Codex::thread_start_with_tools) offers them on
//! a new thread and answers the model's calls (`item/tool/call`) by running them. An
//! unknown tool, arguments that do not fit the type, a tool that fails or panics: each is a
//! failed call the model is told about, never a hung turn.
//!
//! ```no_run
//! # async fn demo(codex: codex_driver::Codex) -> codex_driver::Result<()> {
//! use codex_driver::tools::Tools;
//! use codex_driver::ThreadOptions;
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Add {
//!     a: i64,
//!     b: i64,
//! }
//!
//! let tools = Tools::new().tool("add", "Adds two integers.", |args: Add| async move {
//!     Ok::<_, String>((args.a + args.b).to_string())
//! });
//! let thread = codex.thread_start_with_tools(&ThreadOptions::default(), tools).await?;
//! let result = thread.run("What is 2 + 3? Use the add tool.").await?;
//! # Ok(()) }
//! ```

use crate::rpc::{RawServerRequest, RawServerRequestHandler};
use crate::types::{
    DynamicToolCallOutputContentItem, DynamicToolCallParams, DynamicToolCallResponse, DynamicToolSpec,
    FunctionDynamicToolSpec, InputTextDynamicToolCallOutputContentItem,
};
use crate::RpcError;
use futures_util::future::BoxFuture;
use futures_util::FutureExt as _;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

type Call = Arc<dyn Fn(Value) -> BoxFuture<'static, Result<String, String>> + Send + Sync>;

struct Tool {
    description: String,
    input_schema: Value,
    call: Call,
}

/// A set of dynamic tools: async Rust functions the model can call on a thread. Cheap to
/// clone.
#[derive(Clone, Default)]
pub struct Tools {
    by_name: BTreeMap<String, Arc<Tool>>,
}

impl std::fmt::Debug for Tools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tools").field("names", &self.by_name.keys().collect::<Vec<_>>()).finish()
    }
}

impl Tools {
    /// No tools.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the tool `name`: the model sees `description` and the JSON schema of `A`; a
    /// call's arguments are decoded into `A` and passed to `f`. `f`'s `Ok` text is the
    /// tool's output, its `Err` a failed call (both reach the model). A tool of the same
    /// name is replaced.
    pub fn tool<A, F, Fut, T, E>(mut self, name: impl Into<String>, description: impl Into<String>, f: F) -> Self
    where
        A: DeserializeOwned + schemars::JsonSchema + Send + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Into<String>,
        E: Display,
    {
        let name = name.into();
        let tool_name = name.clone();
        let f = Arc::new(f);
        let call: Call = Arc::new(move |arguments: Value| {
            let decoded = serde_json::from_value::<A>(arguments)
                .map_err(|e| format!("the arguments of `{tool_name}` do not fit its schema: {e}"));
            let f = f.clone();
            async move {
                let args = decoded?;
                f(args).await.map(Into::into).map_err(|e| e.to_string())
            }
            .boxed()
        });
        let tool = Tool { description: description.into(), input_schema: input_schema_for::<A>(), call };
        self.by_name.insert(name, Arc::new(tool));
        self
    }

    /// The tools' names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// The specs `thread/start` offers the model (`dynamicTools`).
    pub fn specs(&self) -> Vec<DynamicToolSpec> {
        self.by_name
            .iter()
            .map(|(name, tool)| {
                DynamicToolSpec::Function(FunctionDynamicToolSpec::new(
                    tool.description.clone(),
                    tool.input_schema.clone(),
                    name.clone(),
                ))
            })
            .collect()
    }

    /// Runs the call `params` names and makes its answer: the tool's output, or a failed
    /// call saying why (unknown tool, arguments that do not fit, the tool's error or panic).
    pub async fn answer(&self, params: &DynamicToolCallParams) -> DynamicToolCallResponse {
        let outcome = match self.by_name.get(&params.tool) {
            None => Err(format!("unknown tool `{}`; the tools are: {}", params.tool, self.list())),
            Some(tool) => match AssertUnwindSafe((tool.call)(params.arguments.clone())).catch_unwind().await {
                Ok(outcome) => outcome,
                Err(panic) => {
                    Err(format!("the tool `{}` panicked: {}", params.tool, crate::rpc::panic_message(panic.as_ref())))
                }
            },
        };
        if outcome.is_err() {
            // The reason may quote the arguments: it goes to the model, never to the logs.
            tracing::debug!(tool = %params.tool, call_id = %params.call_id, "dynamic tool call failed");
        }
        let (success, text) = match outcome {
            Ok(text) => (true, text),
            Err(why) => (false, why),
        };
        let text = DynamicToolCallOutputContentItem::InputText(InputTextDynamicToolCallOutputContentItem { text });
        DynamicToolCallResponse::new(vec![text], success)
    }

    fn list(&self) -> String {
        let names: Vec<&str> = self.names().collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    }
}

impl RawServerRequestHandler for Tools {
    fn handle(&self, request: RawServerRequest) -> BoxFuture<'_, Result<Value, RpcError>> {
        Box::pin(async move {
            let params: DynamicToolCallParams = serde_json::from_value(request.params)
                .map_err(|e| RpcError::invalid_params(format!("item/tool/call params: {e}")))?;
            let answer = self.answer(&params).await;
            serde_json::to_value(answer).map_err(|e| RpcError::internal(e.to_string()))
        })
    }
}

/// The JSON schema of a tool's arguments: subschemas inlined, no `$schema` or `title`.
fn input_schema_for<A: schemars::JsonSchema>() -> Value {
    let mut settings = schemars::generate::SchemaSettings::draft07();
    settings.inline_subschemas = true;
    let schema = settings.into_generator().into_root_schema_for::<A>();
    let mut value = serde_json::to_value(schema).unwrap_or_else(|_| serde_json::json!({"type": "object"}));
    if let Some(map) = value.as_object_mut() {
        map.remove("$schema");
        map.remove("title");
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Add {
        a: i64,
        b: i64,
    }

    fn tools() -> Tools {
        Tools::new()
            .tool("add", "Adds.", |args: Add| async move { Ok::<_, String>((args.a + args.b).to_string()) })
            .tool("fail", "Fails.", |_: Add| async { Err::<String, _>("no luck") })
            .tool("boom", "Panics.", |_: Add| async { panic!("kaboom") as Result<String, String> })
    }

    fn call(tool: &str, arguments: Value) -> DynamicToolCallParams {
        serde_json::from_value(
            json!({"arguments": arguments, "callId": "c", "threadId": "t", "tool": tool, "turnId": "u"}),
        )
        .unwrap()
    }

    fn text(answer: &DynamicToolCallResponse) -> String {
        match &answer.content_items[..] {
            [DynamicToolCallOutputContentItem::InputText(t)] => t.text.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn calls_and_failures() {
        let tools = tools();
        let ok = tools.answer(&call("add", json!({"a": 2, "b": 3}))).await;
        assert!(ok.success);
        assert_eq!(text(&ok), "5");
        let unknown = tools.answer(&call("mul", json!({}))).await;
        assert!(!unknown.success);
        assert_eq!(text(&unknown), "unknown tool `mul`; the tools are: add, boom, fail");
        let bad = tools.answer(&call("add", json!({"a": "two"}))).await;
        assert!(
            !bad.success && text(&bad).starts_with("the arguments of `add` do not fit its schema"),
            "{}",
            text(&bad)
        );
        let failed = tools.answer(&call("fail", json!({"a": 1, "b": 1}))).await;
        assert_eq!((failed.success, text(&failed)), (false, "no luck".to_owned()));
        let panicked = tools.answer(&call("boom", json!({"a": 1, "b": 1}))).await;
        assert_eq!((panicked.success, text(&panicked)), (false, "the tool `boom` panicked: kaboom".to_owned()));
    }

    #[test]
    fn specs_carry_the_argument_schema() {
        let specs = serde_json::to_value(tools().specs()).unwrap();
        let add = &specs[0];
        assert_eq!(add["type"], "function");
        assert_eq!(add["name"], "add");
        assert_eq!(add["inputSchema"]["type"], "object");
        assert_eq!(add["inputSchema"]["required"], json!(["a", "b"]));
        assert!(add["inputSchema"].get("$schema").is_none());
    }
}
