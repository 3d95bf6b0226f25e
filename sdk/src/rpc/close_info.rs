//! [`CloseInfo`]: how a connection closed, as every waiter on it learns it.

use crate::endpoint::CloseReason;
use crate::Error;

/// Why the connection closed and where it went; turned into [`Error::TransportClosed`] for
/// everyone.
#[derive(Debug)]
pub(crate) struct CloseInfo {
    pub(crate) endpoint: String,
    pub(crate) reason: CloseReason,
}

impl CloseInfo {
    pub(crate) fn to_error(&self) -> Error {
        Error::TransportClosed { endpoint: self.endpoint.clone(), reason: self.reason.clone() }
    }
}
