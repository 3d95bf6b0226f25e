//! The traits that tie a JSON-RPC method name to its Rust types.
//!
//! The generated method table implements these for every method in the pinned schema;
//! the client runtime is written against them.

use serde::{de::DeserializeOwned, Serialize};
use std::future::Future;

/// A request (client → server or server → client): `METHOD` with `Params`, answered by `Response`.
pub trait Request {
    /// The JSON-RPC method name, e.g. `"thread/start"`.
    const METHOD: &'static str;
    /// The `params` payload (`()` for methods without params).
    type Params: Serialize + DeserializeOwned + Send + 'static;
    /// The `result` payload of a successful response.
    type Response: Serialize + DeserializeOwned + Send + 'static;
}

/// A notification (no reply) sent in either direction.
pub trait Notification {
    /// The JSON-RPC method name, e.g. `"turn/completed"`.
    const METHOD: &'static str;
    /// The `params` payload.
    type Params: Serialize + DeserializeOwned + Send + 'static;
}

/// Anything that can send a typed client request and await its response.
///
/// Implementing this one method gives the implementor every generated per-method stub
/// of [`ClientRequests`](crate::methods::ClientRequests).
pub trait RequestSender {
    /// The error a request can end with.
    type Error;

    /// Sends `R` with `params` and waits for its response.
    fn send_request<R: Request>(
        &self,
        params: R::Params,
    ) -> impl Future<Output = Result<R::Response, Self::Error>> + Send;
}

/// A message whose method is known but whose params do not match the schema.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode `{method}` params: {source}")]
pub struct DecodeError {
    /// The method whose params were malformed.
    pub method: String,
    /// What serde reported.
    #[source]
    pub source: serde_json::Error,
}

impl DecodeError {
    /// A decode error for `method`.
    pub fn new(method: &str, source: serde_json::Error) -> Self {
        Self { method: method.to_owned(), source }
    }
}
