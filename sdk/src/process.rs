//! A spawned `codex app-server` as one more [`Transport`]: its stdout is the incoming
//! stream, its stdin the outgoing sink, and the process's life is the transport's.
//!
//! - The incoming stream ends with [`CloseReason::ProcessExited`] (the exit status and the
//!   last 64 KiB of stderr) once the process is reaped, or when its stdout ends; a process
//!   that exits while a grandchild keeps stdout open ends the stream shortly after anyway.
//! - Closing the sink closes stdin, gives the process [`CLOSE_GRACE`] to exit, then kills
//!   it and reaps it.
//! - Dropping either half kills the process (a connection that is gone leaves no child).
//!
//! The runtime (`rpc/`) never sees any of this: it runs on the [`Transport`].

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{Sink, Stream};
use tokio::io::AsyncReadExt;
use tokio::process::Child;
use tokio::sync::{oneshot, watch};
use tokio::task::AbortHandle;

use crate::endpoint::{CloseReason, Endpoint};
use crate::error::{Error, Result};
use crate::rpc::{Inbound, InboundStream, OutboundSink, Transport};
use crate::LaunchConfig;

/// Bytes of stderr kept for error messages.
const STDERR_TAIL_BYTES: usize = 64 * 1024;
/// How long a closed sink waits for the process to exit after closing its stdin, and then
/// again after killing it.
const CLOSE_GRACE: Duration = Duration::from_secs(3);
/// After the process exits, how long stdout may lag behind before the stream ends anyway
/// (e.g. a grandchild still holds the pipe).
const EXIT_TO_CLOSE_GRACE: Duration = Duration::from_secs(1);
/// While messages flow, the exit is looked at once per this many (and whenever stdout has
/// nothing ready).
const EXIT_CHECK_EVERY: u32 = 256;
/// How long the stream waits for the exit status and the rest of stderr after stdout ends.
/// A process that died is reaped within milliseconds, so this is only waited out in full
/// by one that closed its stdout and lives on, or on a starved machine (where a shorter
/// grace was seen to lose the exit status of a SIGKILLed server).
const EXIT_STATUS_GRACE: Duration = Duration::from_secs(2);

impl LaunchConfig {
    /// Starts `codex app-server` as configured and returns it as a [`Transport`] for
    /// [`Connection::from_transport`](crate::rpc::Connection::from_transport); incoming
    /// messages over `max_message_size` bytes are discarded. The transport's stream ends
    /// with [`CloseReason::ProcessExited`](crate::CloseReason::ProcessExited) (exit
    /// status, last 64 KiB of stderr); closing its sink closes stdin and kills the process
    /// after 3 s; dropping it kills the process. Must be called within a Tokio runtime.
    pub fn spawn(&self, max_message_size: usize) -> Result<Transport> {
        let argv = self.launch_argv()?;
        let program = PathBuf::from(&argv[0]);
        let mut child =
            self.command(&argv).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(
                |source| {
                    if source.kind() == io::ErrorKind::NotFound && self.launch_args_override.is_some() {
                        Error::BinaryNotFound {
                            searched: format!("launch_args_override program `{}`", program.display()),
                        }
                    } else {
                        Error::Spawn { binary: program.clone(), source }
                    }
                },
            )?;
        let pid = child.id();
        // The program and the argument names only: `--config key=value` values may be secrets.
        let shown: Vec<String> = argv[1..]
            .iter()
            .map(|a| {
                a.to_string_lossy()
                    .split_once('=')
                    .map_or_else(|| a.to_string_lossy().into_owned(), |(k, _)| format!("{k}=…"))
            })
            .collect();
        tracing::debug!(?pid, program = %program.display(), args = ?shown, "spawned codex app-server");
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");

        let tail = Arc::new(StderrTail::default());
        let (exit_tx, exit) = watch::channel(None);
        let (stderr_done_tx, stderr_done) = watch::channel(false);
        let (kill_tx, kill_rx) = oneshot::channel();
        let killer = Arc::new(Killer(Mutex::new(Some(kill_tx))));
        let stderr_task = tokio::spawn(drain_stderr(stderr, tail.clone(), stderr_done_tx)).abort_handle();
        tokio::spawn(supervise(child, kill_rx, exit_tx));

        let endpoint = Endpoint::Process { program, pid };
        let lines = Transport::lines(stdout, stdin, max_message_size, endpoint.clone());
        let inbound = ProcessInbound {
            lines: lines.inbound,
            exit_grace: Box::pin(exited_a_while_ago(exit.clone())),
            finishing: None,
            since_exit_check: 0,
            done: false,
            watch: ProcessWatch { tail, exit: exit.clone(), stderr_done },
            stderr_task,
            killer: killer.clone(),
        };
        let outbound = ProcessSink { stdin: Some(lines.outbound), exit, closing: None, killer };
        Ok(Transport::new(inbound, outbound, endpoint))
    }
}

/// The last [`STDERR_TAIL_BYTES`] of the child's stderr.
#[derive(Default)]
struct StderrTail {
    bytes: Mutex<VecDeque<u8>>,
}

impl StderrTail {
    fn push(&self, chunk: &[u8]) {
        let mut bytes = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        let chunk = &chunk[chunk.len().saturating_sub(STDERR_TAIL_BYTES)..];
        let overflow = (bytes.len() + chunk.len()).saturating_sub(STDERR_TAIL_BYTES);
        bytes.drain(..overflow);
        bytes.extend(chunk);
    }

    fn snapshot(&self) -> String {
        let bytes = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        let (a, b) = bytes.as_slices();
        let mut all = Vec::with_capacity(a.len() + b.len());
        all.extend_from_slice(a);
        all.extend_from_slice(b);
        String::from_utf8_lossy(&all).into_owned()
    }
}

/// What the incoming stream observes about its process.
#[derive(Clone)]
struct ProcessWatch {
    tail: Arc<StderrTail>,
    exit: watch::Receiver<Option<ExitStatus>>,
    stderr_done: watch::Receiver<bool>,
}

impl ProcessWatch {
    /// Why the stream ends: the exit status and the stderr tail, once both are in (bounded
    /// by [`EXIT_STATUS_GRACE`]).
    fn close_reason(&self) -> BoxFuture<'static, CloseReason> {
        let mut watch = self.clone();
        Box::pin(async move {
            let _ = tokio::time::timeout(EXIT_STATUS_GRACE, async {
                let _ = watch.exit.wait_for(Option::is_some).await;
                let _ = watch.stderr_done.wait_for(|done| *done).await;
            })
            .await;
            let status = *watch.exit.borrow();
            CloseReason::ProcessExited { status, stderr_tail: watch.tail.snapshot() }
        })
    }
}

/// Kills the process once: when asked, or when dropped by the last half.
struct Killer(Mutex<Option<oneshot::Sender<()>>>);

impl Killer {
    fn kill(&self) {
        if let Some(tx) = self.0.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(());
        }
    }
}

/// Resolves [`EXIT_TO_CLOSE_GRACE`] after the process exited.
async fn exited_a_while_ago(mut exit: watch::Receiver<Option<ExitStatus>>) {
    if exit.wait_for(Option::is_some).await.is_err() {
        // The supervisor is gone without a status (waiting failed): the stream ends on
        // stdout alone.
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(EXIT_TO_CLOSE_GRACE).await;
}

/// The process's stdout as [`Inbound`] messages, ending with
/// [`CloseReason::ProcessExited`].
struct ProcessInbound {
    lines: InboundStream,
    /// Ready a moment after the process exited, whether or not stdout ended.
    exit_grace: BoxFuture<'static, ()>,
    /// After stdout ended: the wait for the exit status and the rest of stderr.
    finishing: Option<BoxFuture<'static, CloseReason>>,
    /// Messages since the exit was last looked at.
    since_exit_check: u32,
    done: bool,
    watch: ProcessWatch,
    stderr_task: AbortHandle,
    killer: Arc<Killer>,
}

impl Stream for ProcessInbound {
    type Item = Inbound;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Inbound>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            if let Some(finishing) = &mut this.finishing {
                let reason = ready!(finishing.as_mut().poll(cx));
                this.finishing = None;
                this.done = true;
                return Poll::Ready(Some(Inbound::Closed(reason)));
            }
            match this.lines.as_mut().poll_next(cx) {
                // Whatever ended stdout (EOF, a read error), the process says why.
                Poll::Ready(Some(Inbound::Closed(_)) | None) => {}
                Poll::Ready(Some(item)) => {
                    // A grandchild that keeps writing after the exit must not hold the
                    // stream open: the exit is looked at now and then while messages flow;
                    // once it is a while ago, this message is the process's last word here.
                    this.since_exit_check += 1;
                    if this.since_exit_check == EXIT_CHECK_EVERY {
                        this.since_exit_check = 0;
                        if this.exit_grace.as_mut().poll(cx).is_ready() {
                            this.finishing = Some(this.watch.close_reason());
                        }
                    }
                    return Poll::Ready(Some(item));
                }
                Poll::Pending => ready!(this.exit_grace.as_mut().poll(cx)),
            }
            this.finishing = Some(this.watch.close_reason());
        }
    }
}

impl Drop for ProcessInbound {
    fn drop(&mut self) {
        self.stderr_task.abort();
        // Dropped before its end: nobody listens any more. After its end the sink decides
        // (a closing connection gives the process its grace).
        if !self.done {
            self.killer.kill();
        }
    }
}

/// The process's stdin; closing it ends the process (gracefully, then by force).
struct ProcessSink {
    /// `None` once closed.
    stdin: Option<OutboundSink>,
    exit: watch::Receiver<Option<ExitStatus>>,
    /// After stdin closed: the wait for the exit (and the kill after [`CLOSE_GRACE`]).
    closing: Option<BoxFuture<'static, ()>>,
    killer: Arc<Killer>,
}

impl ProcessSink {
    fn stdin(&mut self) -> io::Result<&mut OutboundSink> {
        self.stdin.as_mut().ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "stdin is closed"))
    }
}

impl Sink<String> for ProcessSink {
    type Error = io::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().stdin()?.as_mut().poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: String) -> io::Result<()> {
        self.get_mut().stdin()?.as_mut().start_send(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().stdin()?.as_mut().poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(mut stdin) = this.stdin.take() {
            let mut exit = this.exit.clone();
            let killer = this.killer.clone();
            this.closing = Some(Box::pin(async move {
                // One grace from here: flushing what is buffered (a server that stopped
                // reading cannot hold it), then the exit.
                let deadline = tokio::time::Instant::now() + CLOSE_GRACE;
                let _ = tokio::time::timeout_at(deadline, futures_util::SinkExt::close(&mut stdin)).await;
                // Only dropping the pipe closes it (a pipe's shutdown does not).
                drop(stdin);
                if tokio::time::timeout_at(deadline, exit.wait_for(Option::is_some)).await.is_err() {
                    killer.kill();
                    let _ = tokio::time::timeout(CLOSE_GRACE, exit.wait_for(Option::is_some)).await;
                }
            }));
        }
        if let Some(closing) = &mut this.closing {
            ready!(closing.as_mut().poll(cx));
            this.closing = None;
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for ProcessSink {
    fn drop(&mut self) {
        self.killer.kill();
    }
}

/// Drains stderr into the tail (and `tracing` at debug level) until EOF.
async fn drain_stderr(mut stderr: tokio::process::ChildStderr, tail: Arc<StderrTail>, done: watch::Sender<bool>) {
    let mut buf = vec![0u8; 8192];
    loop {
        match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.push(&buf[..n]);
                tracing::debug!(
                    target: "codex_driver::stderr",
                    "{}",
                    String::from_utf8_lossy(&buf[..n]).trim_end()
                );
            }
        }
    }
    done.send_replace(true);
}

/// Owns the child: publishes its exit status, and kills it when `kill` fires or its
/// sender is dropped.
async fn supervise(mut child: Child, kill: oneshot::Receiver<()>, exit: watch::Sender<Option<ExitStatus>>) {
    let status = tokio::select! {
        status = child.wait() => status,
        _ = kill => {
            let _ = child.start_kill();
            child.wait().await
        }
    };
    match status {
        Ok(status) => {
            tracing::debug!(%status, "codex app-server exited");
            exit.send_replace(Some(status));
        }
        Err(e) => tracing::warn!(error = %e, "failed to wait for the codex app-server"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::{Connection, ConnectionOptions, InitializeOptions};
    use serde_json::{json, Value};

    const WAIT: Duration = Duration::from_secs(30);

    fn connect(launch: &LaunchConfig) -> Connection {
        let options = ConnectionOptions::default();
        Connection::from_transport(launch.spawn(options.max_message_size).unwrap(), options)
    }

    /// The real pinned binary; fails with install instructions when it is missing.
    #[tokio::test]
    async fn real_binary_initialize_reports_version() {
        let bin = crate::pinned_cli::find_or_install().unwrap_or_else(|e| panic!("{e}"));
        let codex_home = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        std::fs::write(codex_home.path().join("config.toml"), "[features]\nplugins = false\n").unwrap();
        let launch = LaunchConfig::new()
            .with_codex_bin(&bin)
            .with_cwd(home.path())
            .with_env("CODEX_HOME", codex_home.path().to_string_lossy())
            .with_env("HOME", home.path().to_string_lossy())
            .with_env("RUST_LOG", "warn");
        let client = InitializeOptions::default().with_client_info("rust_sdk_test", None, "0.0.1");
        let conn = connect(&launch);
        conn.initialize(&client).await.unwrap();
        let meta = conn.metadata().unwrap().clone();
        let version = crate::pinned_cli::binary_version(&bin).unwrap();
        assert_eq!(meta.server_version.as_deref(), Some(version.as_str()), "{meta:?}");
        assert_eq!(meta.codex_home.as_deref(), Some(codex_home.path()));
        assert!(meta.platform_family.is_some() && meta.platform_os.is_some());
        assert!(matches!(conn.initialize(&client).await, Err(Error::AlreadyInitialized)));
        // A method whose params are optional works with omitted params.
        conn.request_raw(
            <crate::methods::client_requests::ConfigRequirementsRead as crate::protocol::Request>::METHOD,
            Value::Null,
        )
        .await
        .unwrap();
        // A server-side error keeps the connection usable (Codex answers unknown methods with -32600).
        let err = conn.request_raw("no/such/method", json!({})).await.unwrap_err();
        assert!(err.rpc_error().is_some_and(|e| e.code.is_invalid_request()), "{err:?}");
        conn.close().await;
        match conn.closed().await {
            Error::TransportClosed { reason, .. } => assert_eq!(reason, CloseReason::ClosedByClient),
            other => panic!("{other:?}"),
        }
        assert!(matches!(conn.request_raw("x", Value::Null).await, Err(Error::TransportClosed { .. })));
    }

    /// The process dies: pending requests get TransportClosed with the exit status and stderr.
    #[cfg(unix)]
    #[tokio::test]
    async fn process_death_reports_exit_status_and_stderr() {
        let script = "read line; echo 'fatal: something broke' >&2; exit 3";
        let conn = connect(&LaunchConfig::new().with_launch_args_override(["/bin/sh", "-c", script]));
        assert!(conn.pid().is_some());
        match conn.request_raw(crate::method_names::INITIALIZE, json!({})).await {
            Err(e @ Error::TransportClosed { .. }) => {
                let reason = e.close_reason().unwrap();
                assert_eq!(reason.exit_status().and_then(|s| s.code()), Some(3));
                assert!(reason.stderr_tail().contains("fatal: something broke"), "{reason:?}");
                assert!(matches!(e.close_reason(), Some(CloseReason::ProcessExited { .. })));
                let text = e.to_string();
                assert!(text.contains("something broke") && text.contains('3'), "{text}");
            }
            other => panic!("{other:?}"),
        }

        let missing = LaunchConfig::new().with_launch_args_override(["/nonexistent/codex-xyz"]);
        assert!(matches!(missing.spawn(1024), Err(Error::BinaryNotFound { .. })));
    }

    /// Dropping the last handle kills the child process.
    #[cfg(unix)]
    #[tokio::test]
    async fn dropping_the_connection_kills_the_process() {
        let conn = connect(&LaunchConfig::new().with_launch_args_override(["/bin/sh", "-c", "exec sleep 300"]));
        let pid = conn.pid().unwrap();
        assert!(alive(pid));
        drop(conn);
        wait_dead(pid).await;
    }

    /// Either half of the transport dropped, unclosed, kills the process: nothing waits for
    /// a grace (a closing sink would wait 3 s for `sleep`, which ignores its stdin).
    #[cfg(unix)]
    #[tokio::test]
    async fn dropping_either_half_kills_the_process_at_once() {
        use futures_util::StreamExt;
        let sleeper = LaunchConfig::new().with_launch_args_override(["/bin/sh", "-c", "exec sleep 300"]);
        for drop_inbound in [true, false] {
            let Transport { mut inbound, outbound, endpoint } = sleeper.spawn(1024).unwrap();
            let Endpoint::Process { pid: Some(pid), .. } = endpoint else { panic!("{endpoint:?}") };
            if drop_inbound {
                drop(inbound);
                wait_dead(pid).await;
                drop(outbound);
            } else {
                drop(outbound);
                // The stream ends with the kill: SIGKILL, not the end of a grace.
                match tokio::time::timeout(WAIT, inbound.next()).await.unwrap() {
                    Some(Inbound::Closed(CloseReason::ProcessExited { status, .. })) => {
                        use std::os::unix::process::ExitStatusExt;
                        assert_eq!(status.and_then(|s| s.signal()), Some(9), "{status:?}");
                    }
                    other => panic!("{other:?}"),
                }
                assert!(!alive(pid));
            }
        }
    }

    /// A process that exits by itself within the grace after its stdin closes is not
    /// killed: its own exit code is the close reason.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_closed_sink_gives_the_process_its_grace() {
        use futures_util::{SinkExt, StreamExt};
        let launch =
            LaunchConfig::new().with_launch_args_override(["/bin/sh", "-c", "cat >/dev/null; sleep 1; exit 5"]);
        let Transport { mut inbound, mut outbound, .. } = launch.spawn(1024).unwrap();
        tokio::time::timeout(WAIT, outbound.close()).await.unwrap().unwrap();
        match tokio::time::timeout(WAIT, inbound.next()).await.unwrap() {
            Some(Inbound::Closed(CloseReason::ProcessExited { status, .. })) => {
                assert_eq!(status.and_then(|s| s.code()), Some(5), "{status:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    /// A write that fails because the process closed its stdin does not kill it: the
    /// connection ends with the process's own exit code and stderr, not a broken pipe or
    /// a SIGKILL.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_write_to_a_closed_stdin_reports_how_the_process_ended() {
        let script = "exec 0<&-; echo 'stdin closed' >&2; sleep 1; exit 4";
        let conn = connect(&LaunchConfig::new().with_launch_args_override(["/bin/sh", "-c", script]));
        let pid = conn.pid().unwrap();
        let deadline = std::time::Instant::now() + WAIT;
        while std::path::Path::new(&format!("/proc/{pid}/fd/0")).exists() {
            assert!(std::time::Instant::now() < deadline, "the script never closed its stdin");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        match conn.request_raw(crate::method_names::INITIALIZE, json!({})).await {
            Err(e @ Error::TransportClosed { .. }) => match e.close_reason() {
                Some(CloseReason::ProcessExited { status, stderr_tail }) => {
                    assert_eq!(status.and_then(|s| s.code()), Some(4), "{status:?}");
                    assert!(stderr_tail.contains("stdin closed"), "{stderr_tail}");
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    fn alive(pid: u32) -> bool {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ")
    }

    async fn wait_dead(pid: u32) {
        let deadline = std::time::Instant::now() + WAIT;
        while alive(pid) {
            assert!(std::time::Instant::now() < deadline, "child {pid} still alive");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The transport alone: closing the sink closes stdin; the process exits by itself and
    /// the stream ends with its status and stderr after reaping.
    #[cfg(unix)]
    #[tokio::test]
    async fn closing_the_sink_closes_stdin_and_the_stream_ends_with_the_exit() {
        use futures_util::{SinkExt, StreamExt};
        let script = "read line; echo \"got $line\" >&2; cat >/dev/null; echo bye >&2; exit 7";
        let launch = LaunchConfig::new().with_launch_args_override(["/bin/sh", "-c", script]);
        let Transport { mut inbound, mut outbound, .. } = launch.spawn(1024).unwrap();
        outbound.send("hello".to_owned()).await.unwrap();
        tokio::time::timeout(WAIT, outbound.close()).await.expect("the sink closes once the process exits").unwrap();
        let last = tokio::time::timeout(WAIT, inbound.next()).await.unwrap();
        match last {
            Some(Inbound::Closed(CloseReason::ProcessExited { status, stderr_tail })) => {
                assert_eq!(status.and_then(|s| s.code()), Some(7));
                assert_eq!(stderr_tail, "got hello\nbye\n");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(inbound.next().await, None);
    }

    /// A process that ignores its closed stdin is killed after the grace, and reaped.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_process_that_ignores_its_closed_stdin_is_killed_after_the_grace() {
        use futures_util::{SinkExt, StreamExt};
        use std::os::unix::process::ExitStatusExt;
        let launch = LaunchConfig::new().with_launch_args_override(["/bin/sh", "-c", "exec sleep 300"]);
        let Transport { mut inbound, mut outbound, endpoint } = launch.spawn(1024).unwrap();
        let Endpoint::Process { pid: Some(pid), .. } = endpoint else { panic!("{endpoint:?}") };
        tokio::time::timeout(WAIT, outbound.close()).await.expect("the sink's close is bounded").unwrap();
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "process {pid} was reaped");
        match tokio::time::timeout(WAIT, inbound.next()).await.unwrap() {
            Some(Inbound::Closed(CloseReason::ProcessExited { status, .. })) => {
                assert_eq!(status.and_then(|s| s.signal()), Some(9), "{status:?}");
            }
            other => panic!("{other:?}"),
        }
    }
}
