//! How to launch and talk to a Codex app-server ([`ClientConfig`]).
//!
//! Mirrors the Python SDK's `CodexConfig`; start from [`ClientConfig::default`] and adjust
//! with the `with_*` setters (or assign the public fields).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::rpc::RetryPolicy;

/// Default per-request timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Default maximum size of one incoming JSON-RPC message (64 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;
/// Default capacity of a turn event stream (events buffered before the consumer lags).
pub const DEFAULT_TURN_BUFFER: usize = 8192;
/// Default capacity of a thread-wide or client-wide event subscription.
pub const DEFAULT_SUBSCRIPTION_BUFFER: usize = 1024;
/// The environment variable naming the Codex binary.
pub const CODEX_BIN_ENV: &str = "CODEX_BIN";

/// Configuration of a client connection to a `codex app-server` process.
///
/// `Debug` shows the names of the environment variables and `--config` overrides set for
/// the process, never their values (they may be API keys or tokens), and only the program
/// of a [`launch_args_override`](Self::launch_args_override).
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientConfig {
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
    /// `clientInfo.name` (also the `originator` Codex reports upstream).
    pub client_name: String,
    /// `clientInfo.title`.
    pub client_title: Option<String>,
    /// `clientInfo.version`.
    pub client_version: String,
    /// `capabilities.experimentalApi` (default `true`, as in the Python SDK).
    pub experimental_api: bool,
    /// `capabilities.optOutNotificationMethods`: notifications the server should not send.
    pub opt_out_notification_methods: Vec<String>,
    /// Default timeout of each request (per-request override available).
    pub request_timeout: Duration,
    /// Maximum size of one incoming message; longer lines are discarded with a logged error.
    pub max_message_size: usize,
    /// Capacity of each turn event stream (and of the early-event buffer of a reservation).
    pub turn_buffer: usize,
    /// Capacity of each thread-wide / client-wide subscription.
    pub subscription_buffer: usize,
    /// Automatic retry of requests the server rejects as overloaded (`-32001`, see
    /// [`RpcError::is_overloaded`](crate::RpcError::is_overloaded)): every request, `turn/start`
    /// included, is sent again after an exponential backoff with jitter, up to
    /// `max_attempts` attempts in all; then it fails with
    /// [`Error::RetryLimitExceeded`]. Other errors are
    /// never retried. Default: `Some(RetryPolicy::default())` (3 attempts, 250 ms doubling
    /// up to 2 s, ±20 % jitter); `None` returns the overload error at once.
    pub overload_retry: Option<RetryPolicy>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            codex_bin: None,
            config_overrides: Vec::new(),
            launch_args_override: None,
            cwd: None,
            env: Vec::new(),
            env_remove: Vec::new(),
            client_name: "codex_rust_sdk".to_owned(),
            client_title: Some("Codex Rust SDK".to_owned()),
            client_version: env!("CARGO_PKG_VERSION").to_owned(),
            experimental_api: true,
            opt_out_notification_methods: Vec::new(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            turn_buffer: DEFAULT_TURN_BUFFER,
            subscription_buffer: DEFAULT_SUBSCRIPTION_BUFFER,
            overload_retry: Some(RetryPolicy::default()),
        }
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Vec<String> = self.env.iter().map(|(key, _)| format!("{key}=<redacted>")).collect();
        let overrides: Vec<String> = self.config_overrides.iter().map(|(key, _)| format!("{key}=<redacted>")).collect();
        let launch = self.launch_args_override.as_ref().map(|argv| {
            format!("{} (+{} args, redacted)", argv.first().map_or("", String::as_str), argv.len().saturating_sub(1))
        });
        f.debug_struct("ClientConfig")
            .field("codex_bin", &self.codex_bin)
            .field("config_overrides", &overrides)
            .field("launch_args_override", &launch)
            .field("cwd", &self.cwd)
            .field("env", &env)
            .field("env_remove", &self.env_remove)
            .field("client_name", &self.client_name)
            .field("client_title", &self.client_title)
            .field("client_version", &self.client_version)
            .field("experimental_api", &self.experimental_api)
            .field("opt_out_notification_methods", &self.opt_out_notification_methods)
            .field("request_timeout", &self.request_timeout)
            .field("max_message_size", &self.max_message_size)
            .field("turn_buffer", &self.turn_buffer)
            .field("subscription_buffer", &self.subscription_buffer)
            .field("overload_retry", &self.overload_retry)
            .finish()
    }
}

impl ClientConfig {
    /// The defaults (same as [`Default::default`]).
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

    /// Sets `clientInfo` name, title and version.
    pub fn with_client_info(
        mut self,
        name: impl Into<String>,
        title: Option<String>,
        version: impl Into<String>,
    ) -> Self {
        self.client_name = name.into();
        self.client_title = title;
        self.client_version = version.into();
        self
    }

    /// Sets [`experimental_api`](Self::experimental_api).
    pub fn with_experimental_api(mut self, enabled: bool) -> Self {
        self.experimental_api = enabled;
        self
    }

    /// Adds a notification method the server should not send.
    pub fn with_opt_out_notification(mut self, method: impl Into<String>) -> Self {
        self.opt_out_notification_methods.push(method.into());
        self
    }

    /// Sets the default request timeout (`Duration::MAX` disables it).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the maximum incoming message size in bytes.
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets the turn-stream and subscription capacities (each at least 1).
    pub fn with_buffers(mut self, turn_buffer: usize, subscription_buffer: usize) -> Self {
        self.turn_buffer = turn_buffer.max(1);
        self.subscription_buffer = subscription_buffer.max(1);
        self
    }

    /// Retries overloaded requests with `policy` (see
    /// [`overload_retry`](Self::overload_retry)).
    pub fn with_overload_retry(mut self, policy: RetryPolicy) -> Self {
        self.overload_retry = Some(policy);
        self
    }

    /// Turns the automatic overload retry off: an overloaded request fails at once with
    /// the server's [`Error::Rpc`] (retry it yourself with
    /// [`retry_on_overload`](crate::retry_on_overload) if you like).
    pub fn without_overload_retry(mut self) -> Self {
        self.overload_retry = None;
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
            return Err(Error::BinaryNotFound { searched: format!("ClientConfig::codex_bin = {}", path.display()) });
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
        let bin = self.resolve_codex_bin()?;
        let mut argv = vec![bin.into_os_string()];
        for (key, value) in &self.config_overrides {
            argv.push("--config".into());
            argv.push(format!("{key}={value}").into());
        }
        argv.extend(["app-server", "--listen", "stdio://"].map(OsString::from));
        Ok(argv)
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
        let config = ClientConfig::new()
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
        let cfg = ClientConfig::new()
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

        let cfg = ClientConfig::new().with_launch_args_override(["x", "y"]);
        assert_eq!(cfg.launch_argv().unwrap(), vec![OsString::from("x"), OsString::from("y")]);
    }

    #[test]
    fn missing_binary_is_a_clear_error() {
        let cfg = ClientConfig::new().with_codex_bin("/nonexistent/codex");
        let err = cfg.resolve_codex_bin().unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::BinaryNotFound { .. }));
        assert!(
            text.contains(&format!("npm install -g @openai/codex@{}", crate::pinned::PINNED_CODEX_VERSION)),
            "{text}"
        );
        assert!(text.contains("CODEX_BIN"), "{text}");

        let cfg = ClientConfig::new().with_env(CODEX_BIN_ENV, "/nonexistent/codex2");
        assert!(cfg.resolve_codex_bin().unwrap_err().to_string().contains("codex2"));

        let dir = std::env::temp_dir();
        let cfg = ClientConfig::new()
            .with_env(CODEX_BIN_ENV, "")
            .with_env("PATH", dir.join("definitely-not-here").to_string_lossy());
        // No walk up from the working directory to a development install: nothing else is found.
        match cfg.resolve_codex_bin() {
            Err(Error::BinaryNotFound { searched }) => assert_eq!(searched, "CODEX_BIN (unset), `codex` on PATH"),
            other => panic!("{other:?}"),
        }
    }
}
