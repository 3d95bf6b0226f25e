//! The one background thread behind a blocking [`Codex`](super::Codex): it owns a
//! current-thread Tokio runtime that drives the connection (reader, writer, process
//! supervisor, server-request handlers); blocking calls wait on it.

use crate::error::{Error, Result};
use crate::rpc::Connection;
use std::future::Future;
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

/// The name of the runtime thread (and of its blocking-pool threads).
pub(crate) const RUNTIME_THREAD_NAME: &str = "codex-blocking";

/// How long the runtime waits, at shutdown, for blocking-pool work still running (sync
/// approval closures) before it stops anyway.
const BLOCKING_POOL_GRACE: Duration = Duration::from_secs(1);

/// Panics with a clear message when the calling thread drives asynchronous tasks (an
/// `async fn` on a Tokio runtime), where blocking would stall it or deadlock.
///
/// Blocking is fine on a plain thread and on a `spawn_blocking` thread, even though a
/// runtime handle is set there. Tokio has no query for "may this thread block?", so when
/// a handle is set we ask it the only way it answers: a blocking receive of an already
/// filled channel, which Tokio refuses (panics) exactly where blocking is not allowed.
#[track_caller]
pub(crate) fn assert_blocking_allowed(what: &str) {
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    let (tx, rx) = oneshot::channel::<()>();
    let _ = tx.send(());
    let allowed = quietly(move || {
        let _ = rx.blocking_recv();
    });
    if !allowed {
        panic!(
            "codex_driver::blocking::{what} cannot be used inside an async runtime; use the \
             async API (codex_driver::{what}) there, or call the blocking API from a plain \
             thread or `tokio::task::spawn_blocking`"
        );
    }
}

thread_local! {
    /// Set while [`quietly`] runs its probe on this thread.
    static PROBING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `probe` and says whether it returned without panicking, with the panic hook
/// silenced for a panic of `probe` on this thread only (so the caller's clear message is
/// the first and only one printed, not Tokio's and a backtrace first). The hook that
/// silences is installed once, the first time a blocking call is made where a runtime
/// handle is set, and hands every other panic to the hook it replaced.
fn quietly(probe: impl FnOnce()) -> bool {
    if cfg!(panic = "abort") {
        // Nothing can be caught: let Tokio's message print before the abort.
        probe();
        return true;
    }
    static QUIET_HOOK: std::sync::Once = std::sync::Once::new();
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !PROBING.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    PROBING.with(|p| p.set(true));
    let allowed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(probe)).is_ok();
    PROBING.with(|p| p.set(false));
    allowed
}

/// Shared by every blocking handle made from one [`Codex`](super::Codex); dropping the
/// last one stops the runtime thread.
pub(crate) struct Runtime {
    handle: tokio::runtime::Handle,
    /// The connection to close gracefully at shutdown (set once connected).
    conn: OnceLock<Connection>,
    stop: Mutex<Option<oneshot::Sender<Option<Connection>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("thread", &RUNTIME_THREAD_NAME).finish_non_exhaustive()
    }
}

impl Runtime {
    /// Starts the runtime thread and waits until it runs.
    pub(crate) fn start() -> Result<Self> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<Option<Connection>>();
        let thread = std::thread::Builder::new().name(RUNTIME_THREAD_NAME.into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .thread_name(RUNTIME_THREAD_NAME)
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                let _ = ready_tx.send(Ok(tokio::runtime::Handle::current()));
                // Runs (and drives every spawned task) until the last handle is dropped.
                if let Ok(Some(conn)) = stop_rx.await {
                    // Close stdin, wait for the app-server to exit (kill it after a grace
                    // period) and reap it, so no process outlives the client.
                    conn.close().await;
                }
            });
            runtime.shutdown_timeout(BLOCKING_POOL_GRACE);
        })?;
        let handle = match ready_rx.recv() {
            Ok(Ok(handle)) => handle,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(Error::Io(e));
            }
            Err(_) => {
                let _ = thread.join();
                return Err(Error::Io(std::io::Error::other("the blocking runtime thread exited at start")));
            }
        };
        Ok(Self { handle, conn: OnceLock::new(), stop: Mutex::new(Some(stop_tx)), thread: Mutex::new(Some(thread)) })
    }

    /// Remembers the connection to close when the runtime stops.
    pub(crate) fn set_connection(&self, conn: Connection) {
        let _ = self.conn.set(conn);
    }

    /// Runs `future` to completion from the calling thread; the runtime thread drives its
    /// I/O, timers and spawned tasks. Panics (clearly) inside an async runtime.
    #[track_caller]
    pub(crate) fn block_on<F: Future>(&self, what: &str, future: F) -> F::Output {
        assert_blocking_allowed(what);
        self.handle.block_on(future)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let conn = self.conn.take();
        if let Some(stop) = self.stop.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = stop.send(conn);
        }
        if let Some(thread) = self.thread.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            // Dropped on the runtime thread itself (a handle moved into a handler): it
            // stops on its own once the current task yields; joining would deadlock.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}
