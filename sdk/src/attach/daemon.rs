//! [`Daemon`]: the managed app-server daemon (`codex app-server daemon start | stop |
//! version`), reached through its unix control socket.

use std::path::PathBuf;

use serde_json::Value;

use super::unix::{effective_codex_home, UnixSocketEndpoint};
use crate::error::{Error, Result};
use crate::rpc::{Connection, ConnectionOptions};
use crate::LaunchConfig;

/// What to do when attaching to a daemon that is not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DaemonStart {
    /// Start it (`codex app-server daemon start`), then attach.
    #[default]
    IfNotRunning,
    /// Fail with [`Error::Daemon`] instead.
    RequireRunning,
}

/// The daemon's state as `daemon version` / `start` / `stop` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DaemonState {
    /// Running (`version`).
    Running,
    /// Just started (`start`).
    Started,
    /// Was already running (`start`).
    AlreadyRunning,
    /// Just stopped (`stop`).
    Stopped,
    /// Not running (`stop`, or `version` failing to reach the socket).
    NotRunning,
    /// A status this SDK does not know, as reported.
    Other(String),
}

impl DaemonState {
    /// Whether the daemon runs after the command.
    pub fn is_running(&self) -> bool {
        matches!(self, DaemonState::Running | DaemonState::Started | DaemonState::AlreadyRunning)
    }

    fn parse(status: &str) -> Self {
        match status {
            "running" => DaemonState::Running,
            "started" => DaemonState::Started,
            "alreadyRunning" => DaemonState::AlreadyRunning,
            "stopped" => DaemonState::Stopped,
            "notRunning" => DaemonState::NotRunning,
            other => DaemonState::Other(other.to_owned()),
        }
    }
}

/// What a daemon command reported.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DaemonStatus {
    /// The state.
    pub state: DaemonState,
    /// The control socket to attach to.
    pub socket_path: Option<PathBuf>,
    /// The version of the CLI that ran the command.
    pub cli_version: Option<String>,
    /// The version of the running app-server, when one runs.
    pub app_server_version: Option<String>,
    /// The daemon's process id, when reported (`start`).
    pub pid: Option<u32>,
    /// The whole JSON report (empty object when the command printed none).
    pub raw: Value,
}

impl DaemonStatus {
    fn from_json(raw: Value) -> Self {
        let string = |key: &str| raw.get(key).and_then(Value::as_str).map(str::to_owned);
        DaemonStatus {
            state: DaemonState::parse(&string("status").unwrap_or_default()),
            socket_path: string("socketPath").map(PathBuf::from),
            cli_version: string("cliVersion"),
            app_server_version: string("appServerVersion"),
            pid: raw.get("pid").and_then(Value::as_u64).and_then(|p| u32::try_from(p).ok()),
            raw,
        }
    }
}

/// The managed app-server daemon of one `CODEX_HOME`, driven through the `codex` binary
/// that `launch` resolves (its environment and `--config` overrides apply).
///
/// Attach with [`CodexBuilder::daemon`](crate::CodexBuilder::daemon) or
/// [`Daemon::attach`]. Dropping a client never stops the daemon: [`stop`](Self::stop) does.
#[derive(Debug, Clone)]
pub struct Daemon {
    launch: LaunchConfig,
}

impl Daemon {
    /// The daemon of the `CODEX_HOME` that `launch` gives.
    pub fn new(launch: LaunchConfig) -> Self {
        Daemon { launch }
    }

    /// The control socket the daemon listens on.
    pub fn socket(&self) -> Option<UnixSocketEndpoint> {
        UnixSocketEndpoint::for_config(&self.launch)
    }

    /// `codex app-server daemon version`: whether it runs, and its versions.
    pub async fn status(&self) -> Result<DaemonStatus> {
        match self.run("version").await {
            Ok(status) => Ok(status),
            // `version` exits 1 when nothing listens on the control socket.
            Err(Error::Daemon { message, .. }) if message.contains("failed to connect") => Ok(DaemonStatus {
                state: DaemonState::NotRunning,
                socket_path: self.socket().map(|s| s.path().to_owned()),
                cli_version: None,
                app_server_version: None,
                pid: None,
                raw: Value::Object(Default::default()),
            }),
            Err(e) => Err(e),
        }
    }

    /// `codex app-server daemon start`: starts it unless it runs (installing the managed
    /// copy the first time, which takes a few seconds).
    pub async fn start(&self) -> Result<DaemonStatus> {
        self.run("start").await
    }

    /// `codex app-server daemon stop`: stops it (connected clients see their connection
    /// close). Stopping a daemon that is not running reports [`DaemonState::NotRunning`].
    pub async fn stop(&self) -> Result<DaemonStatus> {
        self.run("stop").await
    }

    /// Attaches to the daemon's socket (starting the daemon first as `start` says): a
    /// [`Connection`] that is not yet initialized.
    pub async fn attach(&self, start: DaemonStart, options: ConnectionOptions) -> Result<Connection> {
        let mut status = self.status().await?;
        if !status.state.is_running() {
            if start == DaemonStart::RequireRunning {
                return Err(Error::Daemon {
                    command: "version".into(),
                    message: "the daemon is not running (DaemonStart::RequireRunning)".into(),
                });
            }
            status = self.start().await?;
        }
        let socket = match status.socket_path.clone() {
            Some(path) => UnixSocketEndpoint::new(path),
            None => self.socket().ok_or_else(|| Error::Daemon {
                command: "version".into(),
                message: "no socket path reported, and neither CODEX_HOME nor HOME is set".into(),
            })?,
        };
        socket.connect(options).await
    }

    async fn run(&self, command: &str) -> Result<DaemonStatus> {
        let failed = |message: String| Error::Daemon { command: command.to_owned(), message };
        let argv = self.launch.codex_argv(&["app-server", "daemon", command])?;
        if effective_codex_home(&self.launch).is_none() {
            return Err(failed("neither CODEX_HOME nor HOME is set".into()));
        }
        let output = self
            .launch
            .command(&argv)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| failed(format!("cannot run {}: {e}", argv[0].to_string_lossy())))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        // The report is the last line that parses as a JSON object.
        let report =
            stdout.lines().rev().find_map(|line| serde_json::from_str::<Value>(line).ok().filter(Value::is_object));
        match (output.status.success(), report) {
            (true, Some(report)) => Ok(DaemonStatus::from_json(report)),
            (true, None) => Err(failed(format!("no JSON status in its output: {}", stdout.trim()))),
            (false, _) => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                // The error and its cause, without the backtrace and warnings.
                let message: Vec<&str> = stderr
                    .lines()
                    .map(str::trim)
                    .take_while(|l| !l.starts_with("Stack backtrace"))
                    .filter(|l| !l.is_empty() && !l.starts_with("WARNING:"))
                    .collect();
                Err(failed(format!("{} ({})", message.join(" "), output.status)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_parse() {
        let s = DaemonStatus::from_json(
            serde_json::json!({"status":"started","pid":7,"socketPath":"/s","cliVersion":"1","appServerVersion":"1"}),
        );
        assert_eq!(
            (s.state.clone(), s.pid, s.socket_path.as_deref()),
            (DaemonState::Started, Some(7), Some(std::path::Path::new("/s")))
        );
        assert!(s.state.is_running());
        assert_eq!(DaemonState::parse("weird"), DaemonState::Other("weird".into()));
        assert!(!DaemonState::NotRunning.is_running());
    }
}
