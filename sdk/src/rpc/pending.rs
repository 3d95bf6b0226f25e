//! The table of requests waiting for their response.

use std::collections::HashMap;

use serde_json::value::RawValue;
use tokio::sync::oneshot;

use crate::error::Result;

/// The waiter side of one in-flight request.
pub(crate) struct PendingEntry {
    pub(crate) method: String,
    pub(crate) tx: oneshot::Sender<Result<Box<RawValue>>>,
}

/// In-flight requests by id.
#[derive(Default)]
pub(crate) struct Pending {
    map: HashMap<i64, PendingEntry>,
}

impl Pending {
    pub(crate) fn insert(&mut self, id: i64, method: &str, tx: oneshot::Sender<Result<Box<RawValue>>>) {
        self.map.insert(id, PendingEntry { method: method.to_owned(), tx });
    }

    pub(crate) fn remove(&mut self, id: i64) -> Option<PendingEntry> {
        self.map.remove(&id)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn drain(&mut self) -> impl Iterator<Item = PendingEntry> + '_ {
        self.map.drain().map(|(_, e)| e)
    }
}
