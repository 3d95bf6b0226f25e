//! An isolated Codex home for one test: temp `CODEX_HOME`, `HOME` and working directory, and a
//! `config.toml` that points Codex at a [`MockModel`](super::MockModel).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::types::{AskForApproval, SandboxMode};

/// Variables removed from a spawned app-server's environment so the host's credentials and
/// endpoints cannot leak into a test.
pub const SCRUBBED_ENV_VARS: &[&str] = &["OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_API_KEY"];

/// Builder for a [`CodexHome`]; start with [`CodexHome::builder`].
#[derive(Debug, Clone)]
pub struct CodexHomeBuilder {
    base_url: String,
    model: String,
    approval_policy: AskForApproval,
    sandbox_mode: SandboxMode,
    env_key: Option<String>,
    env_vars: Vec<(OsString, OsString)>,
    features: Vec<(String, bool)>,
    extra_toml: Vec<String>,
}

impl CodexHomeBuilder {
    /// The `model` setting (default `"mock-model"`). A bundled model name such as `"gpt-5.5"`
    /// enables tools like `apply_patch` that Codex offers only to known models.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    /// The `approval_policy` setting, the protocol's [`AskForApproval`] (default
    /// [`AskForApproval::Never`]; `Granular` is written as a TOML table).
    pub fn approval_policy(mut self, policy: AskForApproval) -> Self {
        self.approval_policy = policy;
        self
    }

    /// The `sandbox_mode` setting, the protocol's [`SandboxMode`] (default
    /// [`SandboxMode::ReadOnly`]).
    pub fn sandbox_mode(mut self, mode: SandboxMode) -> Self {
        self.sandbox_mode = mode;
        self
    }

    /// Sets `env_key = "<name>"` on the mock provider: Codex then sends
    /// `Authorization: Bearer $<name>` and fails turns when the variable is missing.
    /// Pair with [`env_var`](Self::env_var) to provide the value.
    pub fn env_key(mut self, name: impl Into<String>) -> Self {
        self.env_key = Some(name.into());
        self
    }

    /// Adds a variable to [`CodexHome::env`] (and so to the spawned app-server).
    pub fn env_var(mut self, name: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env_vars.push((name.into(), value.into()));
        self
    }

    /// Sets a flag in the `[features]` table, which by default holds `plugins = false` and
    /// `shell_snapshot = false`; a later call for the same name wins. `plugins` stays `false`
    /// whatever is asked: with plugins on, Codex contacts internet hosts at startup.
    pub fn feature(mut self, name: impl Into<String>, enabled: bool) -> Self {
        self.features.push((name.into(), enabled));
        self
    }

    /// Appends raw lines to `config.toml`. They are written after the top-level keys and
    /// before the tables, so a bare `key = value` stays top-level and a new `[table]` header
    /// works. Do not repeat the tables the kit writes (`[model_providers.mock_provider]`,
    /// `[features]`, `[analytics]`): use [`feature`](Self::feature) for feature flags.
    pub fn extra_toml(mut self, toml: impl Into<String>) -> Self {
        self.extra_toml.push(toml.into());
        self
    }

    /// Creates the directories and writes `config.toml`.
    pub fn build(self) -> io::Result<CodexHome> {
        let root = tempfile::Builder::new().prefix("codex-test-").tempdir()?;
        let codex_home = root.path().join("codex_home");
        let home = root.path().join("home");
        let work_dir = root.path().join("work");
        for dir in [&codex_home, &home, &work_dir] {
            std::fs::create_dir(dir)?;
        }
        std::fs::write(codex_home.join("config.toml"), self.config_toml())?;
        Ok(CodexHome {
            codex_home,
            home,
            work_dir,
            stderr_log: root.path().join("app-server.stderr.log"),
            env_vars: self.env_vars,
            _root: root,
        })
    }

    /// The `config.toml` text [`build`](Self::build) writes.
    pub fn config_toml(&self) -> String {
        let mut toml = String::new();
        let _ = writeln!(toml, "model = {}", quote(&self.model));
        let _ = writeln!(toml, "model_provider = \"mock_provider\"");
        // A policy with no TOML form (an unknown value kept as `null`) is left out: Codex's default.
        if let Some(policy) = serde_json::to_value(&self.approval_policy).ok().as_ref().and_then(toml_value) {
            let _ = writeln!(toml, "approval_policy = {policy}");
        }
        let _ = writeln!(toml, "sandbox_mode = {}", quote(self.sandbox_mode.as_str()));
        for extra in &self.extra_toml {
            let _ = writeln!(toml, "{extra}");
        }
        let _ = writeln!(toml);
        let _ = writeln!(toml, "[model_providers.mock_provider]");
        let _ = writeln!(toml, "name = \"mock\"");
        let _ = writeln!(toml, "base_url = {}", quote(&self.base_url));
        let _ = writeln!(toml, "wire_api = \"responses\"");
        let _ = writeln!(toml, "request_max_retries = 0");
        let _ = writeln!(toml, "stream_max_retries = 0");
        if let Some(env_key) = &self.env_key {
            let _ = writeln!(toml, "env_key = {}", quote(env_key));
        }
        let _ = writeln!(toml);
        // `plugins = false` is mandatory: without it Codex contacts internet hosts at startup.
        let _ = writeln!(toml, "[features]");
        let mut features = vec![("plugins".to_owned(), false), ("shell_snapshot".to_owned(), false)];
        for (name, enabled) in &self.features {
            let enabled = *enabled && name != "plugins";
            match features.iter_mut().find(|(known, _)| known == name) {
                Some(entry) => entry.1 = enabled,
                None => features.push((name.clone(), enabled)),
            }
        }
        for (name, enabled) in features {
            let _ = writeln!(toml, "{} = {enabled}", key(&name));
        }
        let _ = writeln!(toml);
        let _ = writeln!(toml, "[analytics]");
        let _ = writeln!(toml, "enabled = false");
        toml
    }
}

/// A TOML key: bare when possible, else quoted.
fn key(name: &str) -> String {
    let bare = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        name.to_owned()
    } else {
        quote(name)
    }
}

/// A JSON value as a TOML value: strings, numbers and booleans as they are, objects as
/// inline tables, arrays as arrays (what an `approval_policy` can be); `null` has no TOML
/// form (`None`, and left out of tables and arrays).
fn toml_value(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    Some(match value {
        Value::Null => return None,
        Value::String(s) => quote(s),
        Value::Object(map) => {
            let entries: Vec<String> =
                map.iter().filter_map(|(k, v)| Some(format!("{} = {}", quote(k), toml_value(v)?))).collect();
            format!("{{ {} }}", entries.join(", "))
        }
        Value::Array(items) => format!("[{}]", items.iter().filter_map(toml_value).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    })
}

/// A TOML basic string.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An isolated Codex environment: fresh temp directories for `CODEX_HOME`, `HOME` and a working
/// directory, all removed on drop, plus a `config.toml` that points Codex at a mock model.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use codex_driver::testing::{pinned_cli, CodexHome, MockModel, MockResponse};
/// let model = MockModel::start().await?;
/// model.push(MockResponse::text("Hello!"));
/// let home = CodexHome::new(&model.base_url())?;
/// let mut child = home.app_server_command(&pinned_cli::find_or_install()?)?.spawn()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct CodexHome {
    codex_home: PathBuf,
    home: PathBuf,
    work_dir: PathBuf,
    stderr_log: PathBuf,
    env_vars: Vec<(OsString, OsString)>,
    _root: tempfile::TempDir,
}

impl CodexHome {
    /// A home with the default settings for the mock Responses API at `base_url`
    /// (e.g. [`MockModel::base_url`](super::MockModel::base_url), `http://127.0.0.1:<port>/v1`).
    pub fn new(base_url: &str) -> io::Result<Self> {
        Self::builder(base_url).build()
    }

    /// A builder for a home pointing at `base_url`, with the defaults of [`new`](Self::new).
    pub fn builder(base_url: &str) -> CodexHomeBuilder {
        CodexHomeBuilder {
            base_url: base_url.to_owned(),
            model: "mock-model".to_owned(),
            approval_policy: AskForApproval::Never,
            sandbox_mode: SandboxMode::ReadOnly,
            env_key: None,
            env_vars: Vec::new(),
            features: Vec::new(),
            extra_toml: Vec::new(),
        }
    }

    /// The `CODEX_HOME` directory (holds `config.toml`, and the rollout files of threads).
    pub fn codex_home(&self) -> &Path {
        &self.codex_home
    }

    /// The empty `HOME` directory (keeps the login shell away from the user's rc files).
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// An empty working directory; spawned app-servers start there. Pass it as `cwd` to
    /// `thread/start` so tools never touch the real checkout.
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// The file that collects the stderr of app-servers spawned with the command helpers.
    pub fn stderr_log(&self) -> &Path {
        &self.stderr_log
    }

    /// The stderr collected so far (empty if nothing was written yet).
    pub fn stderr_text(&self) -> String {
        std::fs::read(&self.stderr_log).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
    }

    /// The environment a spawned app-server needs: `CODEX_HOME`, `HOME`, `RUST_LOG=warn`, then
    /// the variables added with [`CodexHomeBuilder::env_var`].
    pub fn env(&self) -> Vec<(OsString, OsString)> {
        let mut env = vec![
            (OsString::from("CODEX_HOME"), self.codex_home.clone().into_os_string()),
            (OsString::from("HOME"), self.home.clone().into_os_string()),
            (OsString::from("RUST_LOG"), OsString::from("warn")),
        ];
        env.extend(self.env_vars.iter().cloned());
        env
    }

    /// The value [`env`](Self::env) gives `name` (the last one when set twice).
    pub fn env_value(&self, name: &str) -> Option<OsString> {
        self.env().into_iter().rev().find(|(key, _)| key == name).map(|(_, value)| value)
    }

    /// The arguments that start the app-server on stdio: `app-server --listen stdio://`.
    pub fn app_server_args() -> [&'static str; 3] {
        ["app-server", "--listen", "stdio://"]
    }

    /// A `std::process::Command` for `<codex_bin> app-server --listen stdio://` with [`env`](Self::env),
    /// [`SCRUBBED_ENV_VARS`] removed, the working directory set to [`work_dir`](Self::work_dir),
    /// stdin/stdout piped and stderr appended to [`stderr_log`](Self::stderr_log).
    pub fn app_server_std_command(&self, codex_bin: &Path) -> io::Result<std::process::Command> {
        let mut command = std::process::Command::new(codex_bin);
        command
            .args(Self::app_server_args())
            .current_dir(&self.work_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(self.open_stderr_log()?));
        for name in SCRUBBED_ENV_VARS {
            command.env_remove(name);
        }
        command.envs(self.env());
        Ok(command)
    }

    /// The tokio version of [`app_server_std_command`](Self::app_server_std_command), with
    /// `kill_on_drop(true)`.
    pub fn app_server_command(&self, codex_bin: &Path) -> io::Result<tokio::process::Command> {
        let mut command = tokio::process::Command::from(self.app_server_std_command(codex_bin)?);
        command.kill_on_drop(true);
        Ok(command)
    }

    /// A [`LaunchConfig`](crate::LaunchConfig) that starts `codex_bin` as an
    /// app-server in this home: [`env`](Self::env) set, [`SCRUBBED_ENV_VARS`] removed,
    /// working directory [`work_dir`](Self::work_dir).
    pub fn launch_config(&self, codex_bin: &Path) -> crate::LaunchConfig {
        let mut launch = crate::LaunchConfig::new().with_codex_bin(codex_bin).with_cwd(&self.work_dir);
        for name in SCRUBBED_ENV_VARS {
            launch = launch.without_env(*name);
        }
        for (key, value) in self.env() {
            launch = launch.with_env(key.to_string_lossy(), value.to_string_lossy());
        }
        launch
    }

    /// A [`ClientConfig`](crate::ClientConfig) with [`launch_config`](Self::launch_config)
    /// and the default connection and client settings. Hand it to
    /// [`Codex::spawn`](crate::Codex::spawn) or [`Codex::builder`](crate::Codex::builder).
    pub fn client_config(&self, codex_bin: &Path) -> crate::ClientConfig {
        crate::ClientConfig::from(self.launch_config(codex_bin))
    }

    /// Kills every process whose command line names a path inside this home (Linux; a no-op
    /// elsewhere) and returns their pids: e.g. the managed daemon's `pid-update-loop`
    /// helper, which Codex leaves running after `daemon stop`. Runs on drop too, so nothing
    /// started from a home outlives it.
    pub fn kill_leftover_processes(&self) -> Vec<u32> {
        let pids = self.processes();
        for pid in &pids {
            let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).stderr(Stdio::null()).status();
        }
        pids
    }

    /// The pids of live processes whose command line names a path inside this home (Linux;
    /// empty elsewhere).
    pub fn processes(&self) -> Vec<u32> {
        self.codex_home.parent().map(processes_mentioning).unwrap_or_default()
    }

    pub(super) fn open_stderr_log(&self) -> io::Result<File> {
        OpenOptions::new().create(true).append(true).open(&self.stderr_log)
    }
}

impl Drop for CodexHome {
    fn drop(&mut self) {
        self.kill_leftover_processes();
    }
}

/// Live (not zombie) processes other than this one whose command line mentions `root`.
fn processes_mentioning(root: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let needle = root.as_os_str().as_encoded_bytes();
    let me = std::process::id();
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            !needle.is_empty() && cmdline.windows(needle.len()).any(|w| w == needle)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn default_config() {
        let home = CodexHome::new("http://127.0.0.1:4242/v1").unwrap();
        let toml = std::fs::read_to_string(home.codex_home().join("config.toml")).unwrap();
        assert_eq!(
            toml,
            "model = \"mock-model\"\nmodel_provider = \"mock_provider\"\napproval_policy = \"never\"\n\
             sandbox_mode = \"read-only\"\n\n[model_providers.mock_provider]\nname = \"mock\"\n\
             base_url = \"http://127.0.0.1:4242/v1\"\nwire_api = \"responses\"\nrequest_max_retries = 0\n\
             stream_max_retries = 0\n\n[features]\nplugins = false\nshell_snapshot = false\n\n\
             [analytics]\nenabled = false\n"
        );
        assert!(home.home().is_dir() && home.work_dir().is_dir());
        let codex_home = home.env_value("CODEX_HOME");
        assert_eq!(codex_home.as_deref(), Some(home.codex_home().as_os_str()));
        let rust_log = home.env_value("RUST_LOG");
        assert_eq!(rust_log.as_deref(), Some(OsStr::new("warn")));
    }

    #[test]
    fn options_and_cleanup() {
        let home = CodexHome::builder("http://127.0.0.1:1/v1")
            .approval_policy(AskForApproval::OnRequest)
            .sandbox_mode(SandboxMode::WorkspaceWrite)
            .env_key("MOCK_KEY")
            .env_var("MOCK_KEY", "sk-test")
            .extra_toml("model_reasoning_summary = \"detailed\"")
            .feature("plugins", true)
            .feature("shell_snapshot", true)
            .feature("odd key", false)
            .model("gpt-\"5\"")
            .build()
            .unwrap();
        let toml = std::fs::read_to_string(home.codex_home().join("config.toml")).unwrap();
        assert!(toml.contains("approval_policy = \"on-request\"\n"));
        assert!(toml.contains("sandbox_mode = \"workspace-write\"\n"));
        assert!(toml.contains("stream_max_retries = 0\nenv_key = \"MOCK_KEY\"\n"));
        assert!(toml.contains("sandbox_mode = \"workspace-write\"\nmodel_reasoning_summary = \"detailed\"\n"));
        assert!(toml.starts_with("model = \"gpt-\\\"5\\\"\"\n"));
        assert!(toml.contains("[features]\nplugins = false\nshell_snapshot = true\n\"odd key\" = false\n"));
        let key = home.env_value("MOCK_KEY");
        assert_eq!(key.as_deref(), Some(OsStr::new("sk-test")));

        // The protocol's policy as written: a keyed one as a table, an unknown `null` left out.
        let granular: AskForApproval = serde_json::from_value(serde_json::json!({"granular": {
            "mcp_elicitations": true, "rules": false, "sandbox_approval": true
        }}))
        .unwrap();
        let toml = CodexHome::builder("http://127.0.0.1:1/v1").approval_policy(granular).config_toml();
        assert!(
            toml.contains("approval_policy = { \"granular\" = { \"mcp_elicitations\" = true, \"rules\" = false, \"sandbox_approval\" = true } }\n"),
            "{toml}"
        );
        let unknown = AskForApproval::Unrecognized(serde_json::Value::Null);
        let toml = CodexHome::builder("http://127.0.0.1:1/v1").approval_policy(unknown).config_toml();
        assert!(!toml.contains("approval_policy"), "{toml}");

        let command = home.app_server_std_command(Path::new("/bin/codex")).unwrap();
        let args: Vec<_> = command.get_args().collect();
        assert_eq!(args, ["app-server", "--listen", "stdio://"]);
        assert_eq!(command.get_current_dir(), Some(home.work_dir()));
        assert!(command.get_envs().any(|(k, v)| k == "OPENAI_API_KEY" && v.is_none()));

        let root = home.codex_home().parent().unwrap().to_path_buf();
        drop(home);
        assert!(!root.exists());
    }
}
