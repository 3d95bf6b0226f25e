//! How to launch and talk to a Codex app-server: [`ClientConfig`] is three parts, each
//! setting in exactly one of them — [`LaunchConfig`] (how to start the process),
//! [`ConnectionOptions`] (timeouts, sizes, buffers, retry, the server-request handler) and
//! [`InitializeOptions`] (what the client says in `initialize`).
//!
//! Start from [`ClientConfig::default`] and adjust a part with its `with_*` setters, or
//! assign the public fields.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::pinned::CODEX_BIN_ENV;
use crate::rpc::{ConnectionOptions, InitializeOptions};

/// Everything a [`Codex`](crate::Codex) needs: how to launch the app-server, how the
/// connection behaves, and what the client tells the server. Each setting lives in one
/// part; an attached server ([`CodexBuilder::websocket`](crate::CodexBuilder::websocket),
/// …) uses `connection` and `client` and ignores `launch`, except that the daemon and the
/// control socket find `CODEX_HOME` (and the daemon its `codex`) through it.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ClientConfig {
    /// How to start `codex app-server`.
    pub launch: LaunchConfig,
    /// The connection's runtime options.
    pub connection: ConnectionOptions,
    /// The `initialize` handshake's client info and capabilities.
    pub client: InitializeOptions,
}

impl ClientConfig {
    /// The defaults (same as [`Default::default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`launch`](Self::launch).
    pub fn with_launch(mut self, launch: LaunchConfig) -> Self {
        self.launch = launch;
        self
    }

    /// Sets [`connection`](Self::connection).
    pub fn with_connection(mut self, connection: ConnectionOptions) -> Self {
        self.connection = connection;
        self
    }

    /// Sets [`client`](Self::client).
    pub fn with_client(mut self, client: InitializeOptions) -> Self {
        self.client = client;
        self
    }
}

impl From<LaunchConfig> for ClientConfig {
    fn from(launch: LaunchConfig) -> Self {
        ClientConfig { launch, ..ClientConfig::default() }
    }
}

/// How to start a `codex app-server` process: which binary, its `--config` overrides, its
/// working directory and environment.
///
/// `Debug` shows the names of the environment variables and `--config` overrides set for
/// the process, never their values (they may be API keys or tokens), and only the program
/// of a [`launch_args_override`](Self::launch_args_override).
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct LaunchConfig {
    /// Explicit path to the `codex` binary. When unset: `CODEX_BIN`, then `codex` on `PATH`.
    pub codex_bin: Option<PathBuf>,
    /// `--config key=value` overrides passed before `app-server`, in order.
    pub config_overrides: Vec<(String, String)>,
    /// Replaces the whole command line (program first); binary discovery is then skipped.
    pub launch_args_override: Option<Vec<String>>,
    /// Working directory of the app-server process.
    pub cwd: Option<PathBuf>,
    /// Environment variables set on the process, merged over the inherited environment.
    pub env: Vec<(String, String)>,
    /// Environment variables removed from the inherited environment.
    pub env_remove: Vec<String>,
}

impl std::fmt::Debug for LaunchConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Vec<String> = self.env.iter().map(|(key, _)| format!("{key}=<redacted>")).collect();
        let overrides: Vec<String> = self.config_overrides.iter().map(|(key, _)| format!("{key}=<redacted>")).collect();
        let launch = self.launch_args_override.as_ref().map(|argv| {
            format!("{} (+{} args, redacted)", argv.first().map_or("", String::as_str), argv.len().saturating_sub(1))
        });
        f.debug_struct("LaunchConfig")
            .field("codex_bin", &self.codex_bin)
            .field("config_overrides", &overrides)
            .field("launch_args_override", &launch)
            .field("cwd", &self.cwd)
            .field("env", &env)
            .field("env_remove", &self.env_remove)
            .finish()
    }
}

impl LaunchConfig {
    /// The defaults (same as [`Default::default`]): `codex` from `CODEX_BIN` or `PATH`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`codex_bin`](Self::codex_bin).
    pub fn with_codex_bin(mut self, path: impl Into<PathBuf>) -> Self {
        self.codex_bin = Some(path.into());
        self
    }

    /// Appends a `--config key=value` override.
    pub fn with_config_override(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config_overrides.push((key.into(), value.into()));
        self
    }

    /// Sets [`launch_args_override`](Self::launch_args_override) (program first).
    pub fn with_launch_args_override<I, S>(mut self, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.launch_args_override = Some(argv.into_iter().map(Into::into).collect());
        self
    }

    /// Sets [`cwd`](Self::cwd).
    pub fn with_cwd(mut self, cwd: impl Into<PathBuf>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// Sets one environment variable for the process.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }

    /// Removes `key` from the environment the app-server inherits.
    pub fn without_env(mut self, key: impl Into<String>) -> Self {
        self.env_remove.push(key.into());
        self
    }

    /// The value of `key` as the child will see it: [`env`](Self::env) first, then the
    /// current process environment.
    pub fn effective_env(&self, key: &str) -> Option<OsString> {
        match self.env.iter().rev().find(|(k, _)| k == key) {
            Some((_, v)) => Some(OsString::from(v)),
            None => std::env::var_os(key),
        }
    }

    /// Finds the Codex binary: [`codex_bin`](Self::codex_bin) → `CODEX_BIN` → `codex` on
    /// `PATH`. Errors with [`Error::BinaryNotFound`] (including install instructions) when
    /// none exists. Nothing else is searched: a development install of the pinned CLI is the
    /// test kit's business (`testing::pinned_cli::locate`).
    pub fn resolve_codex_bin(&self) -> Result<PathBuf> {
        if let Some(path) = &self.codex_bin {
            if path.is_file() {
                return Ok(path.clone());
            }
            return Err(Error::BinaryNotFound { searched: format!("LaunchConfig::codex_bin = {}", path.display()) });
        }
        if let Some(value) = self.effective_env(CODEX_BIN_ENV).filter(|v| !v.is_empty()) {
            let path = PathBuf::from(value);
            if path.is_file() {
                return Ok(path);
            }
            return Err(Error::BinaryNotFound { searched: format!("{CODEX_BIN_ENV} = {}", path.display()) });
        }
        let path_var = self.effective_env("PATH");
        if let Some(found) = path_var.as_deref().and_then(|p| find_on_path("codex", p)) {
            return Ok(found);
        }
        Err(Error::BinaryNotFound { searched: format!("{CODEX_BIN_ENV} (unset), `codex` on PATH") })
    }

    /// The full command line: `[bin, --config k=v…, app-server, --listen, stdio://]`, or
    /// [`launch_args_override`](Self::launch_args_override).
    pub fn launch_argv(&self) -> Result<Vec<OsString>> {
        if let Some(argv) = &self.launch_args_override {
            if argv.is_empty() {
                return Err(Error::BinaryNotFound { searched: "an empty `launch_args_override`".to_owned() });
            }
            return Ok(argv.iter().map(OsString::from).collect());
        }
        self.codex_argv(&["app-server", "--listen", "stdio://"])
    }

    /// `[bin, --config k=v…, args…]`: a `codex` subcommand run with this configuration.
    pub(crate) fn codex_argv(&self, args: &[&str]) -> Result<Vec<OsString>> {
        let bin = self.resolve_codex_bin()?;
        let mut argv = vec![bin.into_os_string()];
        for (key, value) in &self.config_overrides {
            argv.push("--config".into());
            argv.push(format!("{key}={value}").into());
        }
        argv.extend(args.iter().map(OsString::from));
        Ok(argv)
    }

    /// A command for `argv` (program first) with this configuration's environment and
    /// working directory, killed when dropped.
    pub(crate) fn command(&self, argv: &[OsString]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&argv[0]);
        command.args(&argv[1..]).envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str()))).kill_on_drop(true);
        for key in &self.env_remove {
            command.env_remove(key);
        }
        if let Some(cwd) = &self.cwd {
            command.current_dir(cwd);
        }
        command
    }
}

fn find_on_path(program: &str, path_var: &std::ffi::OsStr) -> Option<PathBuf> {
    std::env::split_paths(path_var).find_map(|dir| {
        candidate_names(program).into_iter().map(|name| dir.join(name)).find(|candidate| is_executable(candidate))
    })
}

fn candidate_names(program: &str) -> Vec<String> {
    if cfg!(windows) {
        vec![format!("{program}.exe"), format!("{program}.cmd"), program.to_owned()]
    } else {
        vec![program.to_owned()]
    }
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_environment_values() {
        let config = LaunchConfig::new()
            .with_env("OPENAI_API_KEY", "sk-very-secret")
            .with_config_override("model_providers.p.experimental_bearer_token", "\"sk-also-secret\"")
            .with_launch_args_override(["/bin/codex", "--token", "sk-third-secret"]);
        let shown = format!("{config:?}");
        assert!(!shown.contains("sk-also-secret") && !shown.contains("sk-third-secret"), "{shown}");
        assert!(shown.contains("OPENAI_API_KEY=<redacted>"), "{shown}");
        assert!(!shown.contains("sk-very-secret"), "{shown}");
    }

    #[test]
    fn argv_layout() {
        let exe = std::env::current_exe().unwrap();
        let cfg = LaunchConfig::new()
            .with_codex_bin(&exe)
            .with_config_override("features.plugins", "false")
            .with_config_override("model", "\"m\"");
        let argv = cfg.launch_argv().unwrap();
        let argv: Vec<_> = argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(
            argv[1..],
            ["--config", "features.plugins=false", "--config", "model=\"m\"", "app-server", "--listen", "stdio://"]
        );
        assert_eq!(argv[0], exe.to_string_lossy());

        let cfg = LaunchConfig::new().with_launch_args_override(["x", "y"]);
        assert_eq!(cfg.launch_argv().unwrap(), vec![OsString::from("x"), OsString::from("y")]);
    }

    #[test]
    fn missing_binary_is_a_clear_error() {
        let cfg = LaunchConfig::new().with_codex_bin("/nonexistent/codex");
        let err = cfg.resolve_codex_bin().unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::BinaryNotFound { .. }));
        assert!(
            text.contains(&format!("npm install -g @openai/codex@{}", crate::pinned::PINNED_CODEX_VERSION)),
            "{text}"
        );
        assert!(text.contains("CODEX_BIN"), "{text}");

        let cfg = LaunchConfig::new().with_env(CODEX_BIN_ENV, "/nonexistent/codex2");
        assert!(cfg.resolve_codex_bin().unwrap_err().to_string().contains("codex2"));

        let dir = std::env::temp_dir();
        let cfg = LaunchConfig::new()
            .with_env(CODEX_BIN_ENV, "")
            .with_env("PATH", dir.join("definitely-not-here").to_string_lossy());
        // No walk up from the working directory to a development install: nothing else is found.
        match cfg.resolve_codex_bin() {
            Err(Error::BinaryNotFound { searched }) => assert_eq!(searched, "CODEX_BIN (unset), `codex` on PATH"),
            other => panic!("{other:?}"),
        }
    }
}
