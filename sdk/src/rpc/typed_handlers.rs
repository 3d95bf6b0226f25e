//! Typed server-request handling: the glue between the generated
//! [`ServerRequestHandler`](crate::methods::ServerRequestHandler) trait and the runtime —
//! the fail-closed default of each request, a typed reply as JSON, and the adapter that
//! runs a typed handler as a [`RawServerRequestHandler`].

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;

use super::server_requests::{fail_closed_reply, RawServerRequest, RawServerRequestHandler};
use crate::error::{ErrorCode, RpcError};
use crate::methods::{dispatch_server_request, ServerRequestHandler};
use crate::protocol::Request;

/// The fail-closed reply of `R`, typed.
pub(crate) fn fail_closed<R: Request>() -> Result<R::Response, RpcError> {
    let reply = fail_closed_reply(R::METHOD)?;
    serde_json::from_value(reply).map_err(|e| {
        RpcError::new(
            ErrorCode::INTERNAL_ERROR,
            format!("fail-closed reply of `{}` does not fit its type: {e}", R::METHOD),
        )
    })
}

/// A typed handler result as the JSON reply.
pub(crate) fn reply<T: Serialize>(result: Result<T, RpcError>) -> Result<Value, RpcError> {
    let value = result?;
    serde_json::to_value(value)
        .map_err(|e| RpcError::new(ErrorCode::INTERNAL_ERROR, format!("cannot encode the handler's reply: {e}")))
}

/// Malformed params of a known server request.
pub(crate) fn invalid_params(e: crate::protocol::DecodeError) -> RpcError {
    RpcError::new(ErrorCode::INVALID_PARAMS, e.to_string())
}

/// Runs a typed [`ServerRequestHandler`] on the connection.
pub(crate) struct Typed<H>(pub(crate) Arc<H>);

impl<H: ServerRequestHandler> RawServerRequestHandler for Typed<H> {
    fn handle(&self, request: RawServerRequest) -> BoxFuture<'_, Result<Value, RpcError>> {
        Box::pin(async move { dispatch_server_request(&*self.0, &request.method, request.params).await })
    }
}
