//! Blocking [`Daemon`]: the managed daemon's commands without async.

use super::runtime::assert_blocking_allowed;
use crate::attach::{self, DaemonStatus, UnixSocketEndpoint};
use crate::LaunchConfig;
use crate::Result;

/// The managed app-server daemon of one `CODEX_HOME`; the blocking twin of
/// [`attach::Daemon`]. Attach with [`CodexBuilder::daemon`](super::CodexBuilder::daemon).
#[derive(Debug, Clone)]
pub struct Daemon {
    inner: attach::Daemon,
}

impl Daemon {
    /// The daemon of the `CODEX_HOME` that `launch` gives.
    pub fn new(launch: LaunchConfig) -> Self {
        Daemon { inner: attach::Daemon::new(launch) }
    }

    /// The control socket the daemon listens on.
    pub fn socket(&self) -> Option<UnixSocketEndpoint> {
        self.inner.socket()
    }

    /// `codex app-server daemon version`; see [`attach::Daemon::status`].
    pub fn status(&self) -> Result<DaemonStatus> {
        run("Daemon::status", self.inner.status())
    }

    /// `codex app-server daemon start`; see [`attach::Daemon::start`].
    pub fn start(&self) -> Result<DaemonStatus> {
        run("Daemon::start", self.inner.start())
    }

    /// `codex app-server daemon stop`; see [`attach::Daemon::stop`].
    pub fn stop(&self) -> Result<DaemonStatus> {
        run("Daemon::stop", self.inner.stop())
    }
}

/// Runs a daemon command on a throwaway current-thread runtime.
fn run<T>(what: &str, future: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    assert_blocking_allowed(what);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(future)
}
