//! The state shared by the connection handle and its background tasks, and the one place
//! where the connection is closed.

use std::collections::HashMap;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::handler::RawServerRequestHandler;
use super::pending::Pending;
use super::router::Router;
use super::transport::{Outgoing, ProcessWatch};
use crate::error::{Error, Result};

/// How long the reader waits for the exit status and the rest of stderr after stdout closes.
/// A process that died is reaped within milliseconds, so this is only waited out in full
/// by one that closed its stdout and lives on, or on a starved machine (where a shorter
/// grace was seen to lose the exit status of a SIGKILLed server).
pub(crate) const EXIT_STATUS_GRACE: Duration = Duration::from_secs(2);

/// Why and how the connection closed; turned into [`Error::TransportClosed`] for everyone.
#[derive(Debug)]
pub(crate) struct CloseInfo {
    pub(crate) exit_status: Option<ExitStatus>,
    pub(crate) stderr_tail: String,
    pub(crate) reason: &'static str,
}

impl CloseInfo {
    pub(crate) fn to_error(&self) -> Error {
        Error::TransportClosed {
            exit_status: self.exit_status,
            stderr_tail: self.stderr_tail.clone(),
        }
    }
}

/// Everything behind the single state lock.
pub(crate) struct State {
    pub(crate) pending: Pending,
    pub(crate) router: Router,
    pub(crate) closed: Option<Arc<CloseInfo>>,
}

/// Counters kept outside the lock.
#[derive(Default)]
pub(crate) struct WireCounters {
    pub(crate) invalid_messages: AtomicU64,
    pub(crate) unmatched_responses: AtomicU64,
    pub(crate) server_requests: AtomicU64,
}

/// Shared between [`Connection`](super::Connection) handles and the background tasks.
pub(crate) struct Shared {
    state: Mutex<State>,
    pub(crate) outgoing: mpsc::Sender<Outgoing>,
    pub(crate) handler: Arc<dyn RawServerRequestHandler>,
    pub(crate) process: Option<ProcessWatch>,
    pub(crate) next_id: AtomicI64,
    pub(crate) counters: WireCounters,
    pub(crate) max_message_size: usize,
    pub(crate) turn_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    closed_tx: watch::Sender<Option<Arc<CloseInfo>>>,
}

impl Shared {
    pub(crate) fn new(
        outgoing: mpsc::Sender<Outgoing>,
        handler: Arc<dyn RawServerRequestHandler>,
        process: Option<ProcessWatch>,
        router: Router,
        max_message_size: usize,
    ) -> Self {
        Shared {
            state: Mutex::new(State {
                pending: Pending::default(),
                router,
                closed: None,
            }),
            outgoing,
            handler,
            process,
            next_id: AtomicI64::new(0),
            counters: WireCounters::default(),
            max_message_size,
            turn_locks: Mutex::new(HashMap::new()),
            closed_tx: watch::channel(None).0,
        }
    }

    /// Locks the state. Never held across an `.await`.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn next_request_id(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The close error if the connection is closed.
    pub(crate) fn closed_error(&self) -> Option<Error> {
        self.lock().closed.as_ref().map(|i| i.to_error())
    }

    /// Fails with the close error if closed.
    pub(crate) fn ensure_open(&self) -> Result<()> {
        match self.closed_error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Queues one encoded line for the writer.
    pub(crate) async fn send_line(&self, line: Vec<u8>) -> Result<()> {
        self.ensure_open()?;
        if self.outgoing.send(Outgoing::Line(line)).await.is_err() {
            return Err(self.closed_error().unwrap_or(Error::TransportClosed {
                exit_status: None,
                stderr_tail: String::new(),
            }));
        }
        Ok(())
    }

    /// A receiver that observes the close.
    pub(crate) fn closed_watch(&self) -> watch::Receiver<Option<Arc<CloseInfo>>> {
        self.closed_tx.subscribe()
    }

    /// What we know about the process right now (exit status, stderr tail).
    pub(crate) fn snapshot_close_info(&self, reason: &'static str) -> CloseInfo {
        let (exit_status, stderr_tail) = match &self.process {
            Some(p) => (*p.exit.borrow(), p.stderr.snapshot()),
            None => (None, String::new()),
        };
        CloseInfo {
            exit_status,
            stderr_tail,
            reason,
        }
    }

    /// Closes after the transport ended: waits briefly for the exit status and the rest of
    /// stderr so the error can carry them, then closes.
    pub(crate) async fn close_from_transport(&self, reason: &'static str) {
        if let Some(p) = &self.process {
            let mut exit = p.exit.clone();
            let mut stderr_done = p.stderr_done.clone();
            let _ = tokio::time::timeout(EXIT_STATUS_GRACE, async {
                let _ = exit.wait_for(Option::is_some).await;
                let _ = stderr_done.wait_for(|done| *done).await;
            })
            .await;
        }
        self.close(self.snapshot_close_info(reason));
    }

    /// Closes the connection (idempotent): every pending request, stream and reservation
    /// gets [`Error::TransportClosed`]; later calls fail fast with it.
    pub(crate) fn close(&self, info: CloseInfo) {
        let info = Arc::new(info);
        let waiters: Vec<_> = {
            let mut state = self.lock();
            if state.closed.is_some() {
                return;
            }
            state.closed = Some(info.clone());
            state.router.close_all(&info);
            state.pending.drain().collect()
        };
        tracing::debug!(
            reason = info.reason,
            exit_status = ?info.exit_status,
            pending = waiters.len(),
            "codex app-server connection closed"
        );
        for waiter in waiters {
            let _ = waiter.tx.send(Err(info.to_error()));
        }
        self.closed_tx.send_replace(Some(info));
        // Let the writer finish what is queued and close the sink.
        let _ = self.outgoing.try_send(Outgoing::Shutdown);
    }
}
