//! Commands run by the app-server (`command/exec`) as processes, shaped like
//! `tokio::process`: a [`Command`] builder, [`Codex::exec`](crate::Codex::exec) → a
//! [`Child`] with its output as a stream, stdin writes, resize, terminate and its
//! [`ExitStatus`].
//!
//! ```no_run
//! # async fn demo(codex: codex_driver::Codex) -> codex_driver::Result<()> {
//! use codex_driver::exec::Command;
//!
//! let mut child = codex.exec(&Command::new("sh").arg("-c").arg("read name; echo hi $name").pipe_stdin()).await?;
//! child.write(b"codex\n").await?;
//! child.close_stdin().await?;
//! let output = child.wait_with_output().await?;
//! assert_eq!(output.stdout, b"hi codex\n");
//! assert!(output.status.success());
//! # Ok(()) }
//! ```

use crate::error::{Error, Result};
use crate::method_names::COMMAND_EXEC_OUTPUT_DELTA;
use crate::methods::client_requests;
use crate::rpc::{Connection, EventFilter, EventStream};
use crate::types::{
    CommandExecOutputDeltaNotification, CommandExecOutputStream, CommandExecParams, CommandExecResizeParams,
    CommandExecResponse, CommandExecTerminalSize, CommandExecTerminateParams, CommandExecWriteParams,
};
use base64::Engine as _;
use futures_util::Stream;
use std::collections::BTreeMap;
use std::future::Future as _;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::oneshot;

/// A command for [`Codex::exec`](crate::Codex::exec): the program, its arguments and how it
/// runs. Unset options keep the server's defaults (its cwd, its environment, its sandbox
/// policy, its timeout). Stdin is closed unless [`pipe_stdin`](Self::pipe_stdin) is set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Command {
    argv: Vec<String>,
    cwd: Option<PathBuf>,
    env: BTreeMap<String, Option<String>>,
    timeout: Option<Duration>,
    sandbox: Option<crate::Sandbox>,
    tty: Option<(u16, u16)>,
    stdin: bool,
    output_cap: Option<u64>,
}

impl Command {
    /// A command running `program`.
    pub fn new(program: impl Into<String>) -> Self {
        Command { argv: vec![program.into()], ..Default::default() }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.argv.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.argv.extend(args.into_iter().map(Into::into));
        self
    }

    /// The working directory (default: the server's).
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Sets an environment variable (merged into the server-computed environment).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), Some(value.into()));
        self
    }

    /// Removes an inherited environment variable.
    pub fn env_remove(mut self, key: impl Into<String>) -> Self {
        self.env.insert(key.into(), None);
        self
    }

    /// Kills the command after `timeout` (`Duration::MAX`: never; default: the server's).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Runs the command under a sandbox preset (default: the user's configured policy).
    pub fn sandbox(mut self, sandbox: crate::Sandbox) -> Self {
        self.sandbox = Some(sandbox);
        self
    }

    /// Runs the command in a pseudo-terminal of `cols` × `rows` (stdin piped; stdout and
    /// stderr arrive merged as stdout).
    pub fn tty(mut self, cols: u16, rows: u16) -> Self {
        self.tty = Some((cols, rows));
        self.stdin = true;
        self
    }

    /// Keeps stdin open for [`Child::write`] until [`Child::close_stdin`].
    pub fn pipe_stdin(mut self) -> Self {
        self.stdin = true;
        self
    }

    /// Caps the captured output per stream at `bytes` (later output is dropped and the last
    /// chunk says [`OutputChunk::cap_reached`]).
    pub fn output_cap(mut self, bytes: u64) -> Self {
        self.output_cap = Some(bytes);
        self
    }

    /// The params (an empty program is the server's to refuse).
    fn to_params(&self, process_id: &str) -> CommandExecParams {
        let mut p = CommandExecParams::new(self.argv.clone());
        p.process_id = Some(process_id.to_owned());
        p.stream_stdout_stderr = Some(true);
        p.stream_stdin = Some(self.stdin);
        p.cwd = self.cwd.as_ref().map(|c| c.to_string_lossy().into_owned());
        if !self.env.is_empty() {
            p.env = Some(self.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        }
        match self.timeout {
            Some(Duration::MAX) => p.disable_timeout = Some(true),
            Some(t) => p.timeout_ms = Some(i64::try_from(t.as_millis()).unwrap_or(i64::MAX)),
            None => {}
        }
        p.sandbox_policy = self.sandbox.map(crate::Sandbox::policy);
        if let Some((cols, rows)) = self.tty {
            p.tty = Some(true);
            p.size = Some(CommandExecTerminalSize { cols, rows });
        }
        p.output_bytes_cap = self.output_cap;
        p
    }
}

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutputKind {
    /// Standard output (a pseudo-terminal's output too).
    Stdout,
    /// Standard error.
    Stderr,
}

/// One chunk of a command's output, as it was produced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutputChunk {
    /// The stream it came from.
    pub kind: OutputKind,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The output cap of [`Command::output_cap`] cut the stream after this chunk.
    pub cap_reached: bool,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExitStatus {
    /// The exit code (a signal's death is reported by the server as a code too).
    pub code: i32,
}

impl ExitStatus {
    /// Whether the command exited with code 0.
    pub fn success(&self) -> bool {
        self.code == 0
    }
}

/// A finished command's status and its whole output (see [`Child::wait_with_output`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Output {
    /// How it ended.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
}

/// A running command (from [`Codex::exec`](crate::Codex::exec)). Its output is a
/// [`Stream`] of [`OutputChunk`]s (or [`next_output`](Self::next_output)); [`wait`](Self::wait)
/// for its [`ExitStatus`]. Dropping a `Child` before the command exits terminates it
/// (`command/exec/terminate`), as dropping a turn's handle interrupts the turn.
#[derive(Debug)]
pub struct Child {
    conn: Connection,
    process_id: String,
    output: Option<EventStream>,
    exit: Option<oneshot::Receiver<Result<CommandExecResponse>>>,
    status: Option<ExitStatus>,
}

impl Child {
    pub(crate) async fn spawn(conn: &Connection, command: &Command) -> Result<Child> {
        let process_id = unique_process_id();
        let params = command.to_params(&process_id);
        // Subscribed before the request is sent: no chunk can come first. Only this
        // process's output is kept (the router filters), so other commands cannot make it lag.
        let output = conn.subscribe(EventFilter::ExecOutput(process_id.clone()));
        // Queued before this returns, so a `write` or `terminate` is written after it. The
        // answer comes when the process exits: no request timeout applies.
        let answer = conn.send_in_order::<client_requests::CommandExec>(&params).await?;
        let (tx, exit) = oneshot::channel();
        tokio::spawn(async move {
            let _ = tx.send(answer.await);
        });
        Ok(Child { conn: conn.clone(), process_id, output: Some(output), exit: Some(exit), status: None })
    }

    /// The connection-scoped process id the SDK gave the command.
    pub fn id(&self) -> &str {
        &self.process_id
    }

    /// Writes `bytes` to the command's stdin ([`Command::pipe_stdin`] or a tty).
    pub async fn write(&self, bytes: &[u8]) -> Result<()> {
        let mut params = CommandExecWriteParams::new(self.process_id.clone());
        params.delta_base64 = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
        self.conn.request::<client_requests::CommandExecWrite>(params).await?;
        Ok(())
    }

    /// Closes the command's stdin (end of input).
    pub async fn close_stdin(&self) -> Result<()> {
        let mut params = CommandExecWriteParams::new(self.process_id.clone());
        params.close_stdin = Some(true);
        self.conn.request::<client_requests::CommandExecWrite>(params).await?;
        Ok(())
    }

    /// Resizes the command's pseudo-terminal ([`Command::tty`]).
    pub async fn resize(&self, cols: u16, rows: u16) -> Result<()> {
        let params = CommandExecResizeParams::new(self.process_id.clone(), CommandExecTerminalSize { cols, rows });
        self.conn.request::<client_requests::CommandExecResize>(params).await?;
        Ok(())
    }

    /// Terminates the command; [`wait`](Self::wait) then returns its status.
    pub async fn terminate(&self) -> Result<()> {
        let params = CommandExecTerminateParams::new(self.process_id.clone());
        self.conn.request::<client_requests::CommandExecTerminate>(params).await?;
        Ok(())
    }

    /// The next output chunk; `None` once the command has exited and all its output was read.
    pub async fn next_output(&mut self) -> Option<Result<OutputChunk>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Waits for the command to exit (output not read yet is dropped; see
    /// [`wait_with_output`](Self::wait_with_output)).
    ///
    /// Cancel-safe: a `wait` given up on (a timeout around it) loses nothing; a later
    /// `wait` (or dropping the `Child`, which terminates the command) carries on.
    pub async fn wait(&mut self) -> Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let exit =
            self.exit.as_mut().ok_or(Error::StreamEnded { what: "the command's exit status was lost".into() })?;
        let answer = exit.await;
        self.exit = None;
        let answer =
            answer.unwrap_or_else(|_| Err(Error::StreamEnded { what: "the command/exec task ended".into() }))?;
        let status = ExitStatus { code: answer.exit_code };
        self.status = Some(status);
        Ok(status)
    }

    /// Reads the command's output to its end and waits for its exit.
    pub async fn wait_with_output(mut self) -> Result<Output> {
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        while let Some(chunk) = self.next_output().await {
            let chunk = chunk?;
            match chunk.kind {
                OutputKind::Stdout => stdout.extend(chunk.bytes),
                OutputKind::Stderr => stderr.extend(chunk.bytes),
            }
        }
        let status = self.wait().await?;
        Ok(Output { status, stdout, stderr })
    }

    fn chunk(&self, delta: CommandExecOutputDeltaNotification) -> Result<OutputChunk> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(delta.delta_base64.as_bytes()).map_err(|e| {
            Error::Decode {
                method: COMMAND_EXEC_OUTPUT_DELTA.into(),
                source: serde::de::Error::custom(format_args!("`deltaBase64` is not base64: {e}")),
            }
        })?;
        let kind = match delta.stream {
            CommandExecOutputStream::Stderr => OutputKind::Stderr,
            _ => OutputKind::Stdout,
        };
        Ok(OutputChunk { kind, bytes, cap_reached: delta.cap_reached })
    }
}

impl Stream for Child {
    type Item = Result<OutputChunk>;

    /// The output chunks in order; ends when the command has exited (its exit answer comes
    /// after its last output) or the connection closed.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            let Some(output) = this.output.as_mut() else { return Poll::Ready(None) };
            match Pin::new(output).poll_next(cx) {
                Poll::Ready(Some(Ok(event))) => {
                    let chunk = event.decode::<CommandExecOutputDeltaNotification>().and_then(|d| this.chunk(d));
                    return Poll::Ready(Some(chunk));
                }
                Poll::Ready(Some(Err(e))) => {
                    if !e.is_missed_events() {
                        this.output = None;
                    }
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    this.output = None;
                    return Poll::Ready(None);
                }
                Poll::Pending => {}
            }
            // No output queued. Once the exit answer is in, every chunk was queued before it
            // (the reader hands both over in order): the output is over.
            if this.status.is_some() {
                this.output = None;
                return Poll::Ready(None);
            }
            // Without its answer (taken by a failed `wait`) nothing more is coming.
            let Some(exit) = this.exit.as_mut() else {
                this.output = None;
                return Poll::Ready(None);
            };
            match Pin::new(exit).poll(cx) {
                Poll::Ready(answer) => {
                    this.exit = None;
                    match answer {
                        Ok(Ok(response)) => this.status = Some(ExitStatus { code: response.exit_code }),
                        Ok(Err(e)) => {
                            this.output = None;
                            return Poll::Ready(Some(Err(e)));
                        }
                        Err(_) => {
                            this.output = None;
                            return Poll::Ready(None);
                        }
                    }
                    // Round again: a chunk may have been queued just before the answer.
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let exited = self.status.is_some() || self.exit.as_mut().is_some_and(|exit| exit.try_recv().is_ok());
        if exited || self.exit.is_none() {
            return;
        }
        let params = CommandExecTerminateParams::new(self.process_id.clone());
        self.conn.send_detached::<client_requests::CommandExecTerminate>(&params);
    }
}

/// A process id no other command of this process carries.
fn unique_process_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("codex-driver-{}-{n}", std::process::id())
}
