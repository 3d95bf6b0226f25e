//! Blocking [`Child`]: a command run by the app-server, as [`crate::exec::Child`].

use super::runtime::Runtime;
use crate::exec::{ExitStatus, Output, OutputChunk};
use crate::Result;
use std::sync::Arc;

/// The blocking twin of [`crate::exec::Child`] (from [`Codex::exec`](super::Codex::exec)):
/// its output is an iterator of [`OutputChunk`]s; dropping it before the command exits
/// terminates the command.
#[derive(Debug)]
pub struct Child {
    inner: crate::exec::Child,
    rt: Arc<Runtime>,
}

impl Child {
    pub(crate) fn new(inner: crate::exec::Child, rt: Arc<Runtime>) -> Self {
        Self { inner, rt }
    }

    /// The connection-scoped process id the SDK gave the command.
    pub fn id(&self) -> &str {
        self.inner.id()
    }

    /// Writes `bytes` to the command's stdin.
    pub fn write(&self, bytes: &[u8]) -> Result<()> {
        self.rt.block_on("Child::write", self.inner.write(bytes))
    }

    /// Closes the command's stdin.
    pub fn close_stdin(&self) -> Result<()> {
        self.rt.block_on("Child::close_stdin", self.inner.close_stdin())
    }

    /// Resizes the command's pseudo-terminal.
    pub fn resize(&self, cols: u16, rows: u16) -> Result<()> {
        self.rt.block_on("Child::resize", self.inner.resize(cols, rows))
    }

    /// Terminates the command.
    pub fn terminate(&self) -> Result<()> {
        self.rt.block_on("Child::terminate", self.inner.terminate())
    }

    /// Waits for the command to exit.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        self.rt.block_on("Child::wait", self.inner.wait())
    }

    /// Reads the command's output to its end and waits for its exit.
    pub fn wait_with_output(self) -> Result<Output> {
        self.rt.block_on("Child::wait_with_output", self.inner.wait_with_output())
    }
}

impl Iterator for Child {
    type Item = Result<OutputChunk>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rt.block_on("Child::next", self.inner.next_output())
    }
}
