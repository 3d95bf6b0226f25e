//! The spawned `codex app-server` process: spawning, the bounded stderr tail, exit
//! supervision. Its stdin and stdout become a newline-delimited [`Transport`](super::Transport).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Mutex, Weak};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::sync::{oneshot, watch};

use super::state::Shared;
use crate::config::ClientConfig;
use crate::endpoint::{CloseReason, Endpoint};
use crate::error::{Error, Result};

/// Bytes of stderr kept for error messages.
pub(crate) const STDERR_TAIL_BYTES: usize = 64 * 1024;
/// After the process exits, how long stdout may lag behind before the connection is closed
/// anyway (e.g. a grandchild still holds the pipe).
const EXIT_TO_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The last [`STDERR_TAIL_BYTES`] of the child's stderr.
#[derive(Default)]
pub(crate) struct StderrTail {
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

    pub(crate) fn snapshot(&self) -> String {
        let bytes = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        let (a, b) = bytes.as_slices();
        let mut all = Vec::with_capacity(a.len() + b.len());
        all.extend_from_slice(a);
        all.extend_from_slice(b);
        String::from_utf8_lossy(&all).into_owned()
    }
}

/// What the connection observes about its child process.
pub(crate) struct ProcessWatch {
    pub(crate) stderr: std::sync::Arc<StderrTail>,
    pub(crate) exit: watch::Receiver<Option<ExitStatus>>,
    pub(crate) stderr_done: watch::Receiver<bool>,
}

/// The pieces of a freshly spawned process, before the tasks are started.
pub(crate) struct SpawnedProcess {
    pub(crate) child: Child,
    pub(crate) stdout: tokio::process::ChildStdout,
    pub(crate) stdin: tokio::process::ChildStdin,
    pub(crate) stderr: tokio::process::ChildStderr,
    pub(crate) endpoint: Endpoint,
}

/// Starts `codex app-server` as configured.
pub(crate) fn spawn_process(config: &ClientConfig) -> Result<SpawnedProcess> {
    let argv = config.launch_argv()?;
    let program = PathBuf::from(&argv[0]);
    let mut command = Command::new(&program);
    command
        .args(&argv[1..])
        .envs(config.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for key in &config.env_remove {
        command.env_remove(key);
    }
    if let Some(cwd) = &config.cwd {
        command.current_dir(cwd);
    }
    let mut child = command.spawn().map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound && config.launch_args_override.is_some() {
            Error::BinaryNotFound { searched: format!("launch_args_override program `{}`", program.display()) }
        } else {
            Error::Spawn { binary: program.clone(), source }
        }
    })?;
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
    Ok(SpawnedProcess { child, stdout, stdin, stderr, endpoint: Endpoint::Process { program, pid } })
}

/// Drains stderr into the tail (and `tracing` at debug level) until EOF.
pub(crate) async fn stderr_task(
    mut stderr: tokio::process::ChildStderr,
    tail: std::sync::Arc<StderrTail>,
    done: watch::Sender<bool>,
) {
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

/// Owns the child: publishes its exit status, kills it when `kill` fires or its sender is
/// dropped, and closes the connection if stdout does not end shortly after the exit.
pub(crate) async fn supervise(
    mut child: Child,
    kill: oneshot::Receiver<()>,
    exit: watch::Sender<Option<ExitStatus>>,
    shared: Weak<Shared>,
) {
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
    // Usually stdout ends with the process and the reader closes the connection; give it a
    // moment, but do not outlive a connection that is already closed or gone. The watch
    // does not keep the connection alive, and ends when the connection is dropped.
    let Some(mut closed) = shared.upgrade().map(|s| s.closed_watch()) else {
        return;
    };
    let timed_out = tokio::time::timeout(EXIT_TO_CLOSE_GRACE, closed.wait_for(Option::is_some)).await.is_err();
    if timed_out {
        if let Some(shared) = shared.upgrade() {
            shared.close_from_transport(CloseReason::EndOfStream).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_tail_is_bounded() {
        let tail = StderrTail::default();
        tail.push(b"hello ");
        tail.push(&vec![b'x'; STDERR_TAIL_BYTES]);
        tail.push(b"end");
        let s = tail.snapshot();
        assert_eq!(s.len(), STDERR_TAIL_BYTES);
        assert!(s.ends_with("xend"));
        tail.push(&vec![b'y'; 3 * STDERR_TAIL_BYTES]);
        assert_eq!(tail.snapshot().len(), STDERR_TAIL_BYTES);
    }
}
