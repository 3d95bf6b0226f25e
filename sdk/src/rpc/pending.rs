//! The table of requests waiting for their response.

use std::collections::HashMap;

use serde_json::value::RawValue;
use tokio::sync::oneshot;

use crate::Result;

/// The waiter side of one in-flight request.
pub(crate) struct PendingEntry {
    pub(crate) method: String,
    pub(crate) tx: oneshot::Sender<Result<Box<RawValue>>>,
    /// Handed to the link (a reconnecting connection's writer marks it): if the link drops
    /// now, whether the server acted on it is unknown.
    written: bool,
}

/// In-flight requests by id.
#[derive(Default)]
pub(crate) struct Pending {
    map: HashMap<i64, PendingEntry>,
}

impl Pending {
    pub(crate) fn insert(&mut self, id: i64, method: &str, tx: oneshot::Sender<Result<Box<RawValue>>>) {
        self.map.insert(id, PendingEntry { method: method.to_owned(), tx, written: false });
    }

    pub(crate) fn remove(&mut self, id: i64) -> Option<PendingEntry> {
        self.map.remove(&id)
    }

    /// Notes that request `id` is being written to the link.
    pub(crate) fn mark_written(&mut self, id: i64) {
        if let Some(entry) = self.map.get_mut(&id) {
            entry.written = true;
        }
    }

    /// Takes the requests that were written to a link that dropped; the ones still queued
    /// stay, to go out on the next link.
    pub(crate) fn take_written(&mut self) -> Vec<PendingEntry> {
        let ids: Vec<i64> = self.map.iter().filter(|(_, e)| e.written).map(|(id, _)| *id).collect();
        ids.into_iter().filter_map(|id| self.map.remove(&id)).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn drain(&mut self) -> impl Iterator<Item = PendingEntry> + '_ {
        self.map.drain().map(|(_, e)| e)
    }
}
