//! The traits that tie a JSON-RPC method name to its Rust types.
//!
//! The generated method table implements these for every method in the pinned schema;
//! the client runtime is written against them.

use serde::{de::DeserializeOwned, Serialize};

/// A client → server request: `METHOD` with `Params`, answered by `Response`.
pub trait Request {
    /// The JSON-RPC method name, e.g. `"thread/start"`.
    const METHOD: &'static str;
    /// The `params` payload.
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
