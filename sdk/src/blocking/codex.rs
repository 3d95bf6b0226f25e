//! Blocking [`Codex`] and [`CodexBuilder`].

use super::runtime::{assert_blocking_allowed, Runtime};
use super::{ChatgptLogin, DeviceCodeLogin, Notifications, Thread};
use crate::methods::ServerRequestHandler;
use crate::options::ThreadOptions;
use crate::rpc::{Connection, RawServerRequestHandler, ServerMetadata};
use crate::types::{
    ChatgptLoginAccountParams, CommandExecutionApprovalDecision, CommandExecutionRequestApprovalParams,
    FileChangeApprovalDecision, FileChangeRequestApprovalParams, GetAccountResponse, ModelListResponse,
    ThreadListParams, ThreadListResponse,
};
use crate::ApprovalHandler;
use crate::ClientConfig;
use crate::Result;
use std::future::Future;
use std::sync::Arc;

/// A connected, initialized Codex app-server, driven by a background runtime thread; the
/// blocking twin of [`crate::Codex`].
///
/// Cheap to clone. The runtime thread, and the app-server with it (closed gracefully,
/// then reaped), stop when the last clone and every [`Thread`], turn handle, event
/// iterator and [`TurnControl`](super::TurnControl) made from it are dropped.
///
/// ```no_run
/// use codex_driver::blocking::Codex;
/// use codex_driver::{ClientConfig, ThreadOptions};
///
/// let codex = Codex::spawn(ClientConfig::default())?;
/// let thread = codex.thread_start(&ThreadOptions::default())?;
/// let result = thread.run("Say hello")?;
/// println!("{}", result.final_response().unwrap_or_default());
/// # Ok::<(), codex_driver::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Codex {
    inner: crate::Codex,
    // Last: the async handles above are dropped before the runtime stops.
    rt: Arc<Runtime>,
}

/// Builds a blocking [`Codex`] with a server-request handler; the blocking twin of
/// [`crate::CodexBuilder`].
#[derive(Debug, Default)]
pub struct CodexBuilder {
    inner: crate::CodexBuilder,
    approvals: Option<ApprovalHandler>,
}

impl CodexBuilder {
    /// Sets the launch and client configuration.
    pub fn config(mut self, config: ClientConfig) -> Self {
        self.inner = self.inner.config(config);
        self
    }

    /// Answers server requests (approvals, …) with a typed handler; it runs on the
    /// runtime thread, so it must not block (for an [`ApprovalHandler`] whose closures
    /// block, use [`on_command_execution`](Self::on_command_execution) and
    /// [`on_file_change`](Self::on_file_change) instead). Without a handler (here or the
    /// config's `connection.handler`), every approval is declined and other requests are
    /// refused (fail closed).
    ///
    /// Replaces any handler or approval closure set before.
    pub fn handler(mut self, handler: impl ServerRequestHandler) -> Self {
        self.inner = self.inner.handler(handler);
        self.approvals = None;
        self
    }

    /// Answers server requests with a raw JSON handler (runs on the runtime thread).
    /// Replaces any handler or approval closure set before.
    pub fn raw_handler(mut self, handler: impl RawServerRequestHandler) -> Self {
        self.inner = self.inner.raw_handler(handler);
        self.approvals = None;
        self
    }

    /// Decides command-execution approvals with a plain (blocking) closure. It runs on
    /// the runtime's blocking pool, so it may take its time (ask a human, …) without
    /// stalling the connection; if it panics, the command is declined.
    ///
    /// With [`on_file_change`](Self::on_file_change) this makes an [`ApprovalHandler`]
    /// that replaces any handler set before; requests without a closure keep the
    /// fail-closed default.
    ///
    /// ```no_run
    /// use codex_driver::blocking::Codex;
    /// use codex_driver::types::CommandExecutionApprovalDecision as Decision;
    ///
    /// let codex = Codex::builder()
    ///     .on_command_execution(|request| {
    ///         if request.command.as_deref().is_some_and(|c| c.starts_with("ls")) {
    ///             Decision::Accept
    ///         } else {
    ///             Decision::Decline
    ///         }
    ///     })
    ///     .connect()?;
    /// # Ok::<(), codex_driver::Error>(())
    /// ```
    pub fn on_command_execution<F>(mut self, decide: F) -> Self
    where
        F: Fn(CommandExecutionRequestApprovalParams) -> CommandExecutionApprovalDecision + Send + Sync + 'static,
    {
        let decide = Arc::new(decide);
        let approvals = self.approvals.take().unwrap_or_default();
        self.approvals = Some(approvals.on_command_execution(move |params| {
            let decide = decide.clone();
            async move {
                tokio::task::spawn_blocking(move || decide(params)).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "the command approval closure failed; declining");
                    CommandExecutionApprovalDecision::Decline
                })
            }
        }));
        self
    }

    /// Decides file-change approvals with a plain (blocking) closure; see
    /// [`on_command_execution`](Self::on_command_execution).
    pub fn on_file_change<F>(mut self, decide: F) -> Self
    where
        F: Fn(FileChangeRequestApprovalParams) -> FileChangeApprovalDecision + Send + Sync + 'static,
    {
        let decide = Arc::new(decide);
        let approvals = self.approvals.take().unwrap_or_default();
        self.approvals = Some(approvals.on_file_change(move |params| {
            let decide = decide.clone();
            async move {
                tokio::task::spawn_blocking(move || decide(params)).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "the file-change approval closure failed; declining");
                    FileChangeApprovalDecision::Decline
                })
            }
        }));
        self
    }

    /// Attaches to the app-server at `endpoint` instead of spawning one (feature
    /// `websocket`); see [`crate::CodexBuilder::websocket`].
    #[cfg(feature = "websocket")]
    pub fn websocket(mut self, endpoint: crate::attach::WebSocketEndpoint) -> Self {
        self.inner = self.inner.websocket(endpoint);
        self
    }

    /// Attaches to the app-server on a unix socket (feature `websocket`); see
    /// [`crate::CodexBuilder::unix_socket`].
    #[cfg(feature = "websocket")]
    pub fn unix_socket(mut self, endpoint: crate::attach::UnixSocketEndpoint) -> Self {
        self.inner = self.inner.unix_socket(endpoint);
        self
    }

    /// Attaches to the control socket under the config's `CODEX_HOME` (feature
    /// `websocket`); see [`crate::CodexBuilder::control_socket`].
    #[cfg(feature = "websocket")]
    pub fn control_socket(mut self) -> Self {
        self.inner = self.inner.control_socket();
        self
    }

    /// Attaches to the managed daemon (feature `websocket`); see
    /// [`crate::CodexBuilder::daemon`].
    #[cfg(feature = "websocket")]
    pub fn daemon(mut self, start: crate::attach::DaemonStart) -> Self {
        self.inner = self.inner.daemon(start);
        self
    }

    /// Starts the runtime thread, spawns the app-server (or attaches to it) and completes
    /// the `initialize` handshake.
    ///
    /// # Panics
    ///
    /// When called from async code (a thread driving a Tokio runtime): use
    /// [`crate::CodexBuilder::connect`] there.
    pub fn connect(self) -> Result<Codex> {
        assert_blocking_allowed("CodexBuilder::connect");
        let rt = Arc::new(Runtime::start()?);
        let mut builder = self.inner;
        if let Some(approvals) = self.approvals {
            builder = builder.handler(approvals);
        }
        let inner = rt.block_on("CodexBuilder::connect", builder.connect())?;
        rt.set_connection(inner.connection().clone());
        Ok(Codex { inner, rt })
    }
}

impl Codex {
    /// Spawns the app-server with `config` (server requests answered by
    /// `config.connection.handler`: fail closed by default) and initializes it.
    ///
    /// # Panics
    ///
    /// When called from async code; use [`crate::Codex::spawn`] there. The same holds for
    /// every blocking method of this module.
    pub fn spawn(config: ClientConfig) -> Result<Self> {
        Self::builder().config(config).connect()
    }

    /// A builder, to set a server-request handler.
    pub fn builder() -> CodexBuilder {
        CodexBuilder::default()
    }

    /// The low-level connection: every protocol method is reachable on it, typed,
    /// through [`ClientRequests`](crate::methods::ClientRequests); run those calls with
    /// [`block_on`](Self::block_on).
    pub fn connection(&self) -> &Connection {
        self.inner.connection()
    }

    /// This client with a per-request timeout of `timeout` for every call made through
    /// the returned handle; see [`crate::Codex::with_timeout`].
    pub fn with_timeout(&self, timeout: std::time::Duration) -> Codex {
        Codex { inner: self.inner.with_timeout(timeout), rt: self.rt.clone() }
    }

    /// Runs any future on this client's runtime and waits for it: the way to reach the
    /// async-only parts of the SDK, e.g. a typed protocol request.
    ///
    /// ```no_run
    /// use codex_driver::blocking::Codex;
    /// use codex_driver::methods::ClientRequests;
    /// use codex_driver::ClientConfig;
    /// use codex_driver::types::ConfigReadParams;
    ///
    /// let codex = Codex::spawn(ClientConfig::default())?;
    /// let config = codex.block_on(codex.connection().config_read(ConfigReadParams::default()))?;
    /// # Ok::<(), codex_driver::Error>(())
    /// ```
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.rt.block_on("Codex::block_on", future)
    }

    /// What the server reported at `initialize`.
    pub fn metadata(&self) -> &ServerMetadata {
        self.inner.metadata()
    }

    /// The server's Codex release ([`crate::Codex::server_version`]).
    pub fn server_version(&self) -> Option<crate::version::CodexVersion> {
        self.inner.server_version()
    }

    /// Whether the server's release has the request `R` ([`crate::Codex::supports`]).
    pub fn supports<R: crate::protocol::Request>(&self) -> bool {
        self.inner.supports::<R>()
    }

    /// Whether the server's release sends the notification `N`.
    pub fn supports_notification<N: crate::protocol::Notification>(&self) -> bool {
        self.inner.supports_notification::<N>()
    }

    /// Whether the server's release has the field `field` of the protocol type `ty`.
    pub fn supports_field(&self, ty: &str, field: &str) -> bool {
        self.inner.supports_field(ty, field)
    }

    /// Every notification the server sends from now on, typed, as a blocking iterator
    /// (bounded; see [`crate::Notifications`]). Turn events are also delivered to their
    /// turn's stream.
    pub fn notifications(&self) -> Notifications {
        Notifications::new(self.inner.notifications(), self.rt.clone())
    }

    /// Closes the connection as [`crate::Codex::close`] does: first delivers the interrupts
    /// promised by dropped turn handles (bounded; the report names any turn left running),
    /// then closes the app-server's stdin and waits briefly for it to exit (then kills it).
    /// Dropping the last handle closes without the first step.
    pub fn close(&self) -> crate::rpc::CloseReport {
        self.rt.block_on("Codex::close", self.inner.close())
    }

    fn wrap(&self, thread: crate::Thread) -> Thread {
        Thread::new(thread, self.rt.clone())
    }

    /// A handle for an existing thread id, without loading it (see
    /// [`thread_resume`](Self::thread_resume) to load it into this server).
    pub fn thread_handle(&self, id: impl Into<String>) -> Thread {
        self.wrap(self.inner.thread_handle(id))
    }

    /// Runs a command on the app-server's machine; see [`crate::Codex::exec`].
    pub fn exec(&self, command: &crate::exec::Command) -> Result<super::Child> {
        let child = self.rt.block_on("Codex::exec", self.inner.exec(command))?;
        Ok(super::Child::new(child, self.rt.clone()))
    }

    /// Starts a thread that offers `tools` to the model and answers their calls; see
    /// [`crate::Codex::thread_start_with_tools`] (experimental surface). The tools run on the
    /// client's runtime thread: they must not block.
    #[cfg(feature = "experimental")]
    pub fn thread_start_with_tools(&self, options: &ThreadOptions, tools: crate::tools::Tools) -> Result<Thread> {
        self.rt
            .block_on("Codex::thread_start_with_tools", self.inner.thread_start_with_tools(options, tools))
            .map(|t| self.wrap(t))
    }

    /// Starts a thread.
    pub fn thread_start(&self, options: &ThreadOptions) -> Result<Thread> {
        self.rt.block_on("Codex::thread_start", self.inner.thread_start(options)).map(|t| self.wrap(t))
    }

    /// Lists stored threads.
    pub fn thread_list(&self, params: &ThreadListParams) -> Result<ThreadListResponse> {
        self.rt.block_on("Codex::thread_list", self.inner.thread_list(params))
    }

    /// Loads a stored thread into this server so turns can run on it (see
    /// [`crate::Codex::thread_resume`]).
    pub fn thread_resume(&self, id: &str, options: &ThreadOptions) -> Result<Thread> {
        self.rt.block_on("Codex::thread_resume", self.inner.thread_resume(id, options)).map(|t| self.wrap(t))
    }

    /// Forks a thread into a new one.
    pub fn thread_fork(&self, id: &str, options: &ThreadOptions) -> Result<Thread> {
        self.rt.block_on("Codex::thread_fork", self.inner.thread_fork(id, options)).map(|t| self.wrap(t))
    }

    /// Archives a thread (hidden from `thread_list` unless `archived: true`).
    pub fn thread_archive(&self, id: &str) -> Result<()> {
        self.rt.block_on("Codex::thread_archive", self.inner.thread_archive(id))
    }

    /// Restores an archived thread.
    pub fn thread_unarchive(&self, id: &str) -> Result<Thread> {
        self.rt.block_on("Codex::thread_unarchive", self.inner.thread_unarchive(id)).map(|t| self.wrap(t))
    }

    /// Lists the models the user can pick (hidden ones left out).
    pub fn models(&self) -> Result<ModelListResponse> {
        self.rt.block_on("Codex::models", self.inner.models())
    }

    /// Lists every model, hidden ones included.
    pub fn models_including_hidden(&self) -> Result<ModelListResponse> {
        self.rt.block_on("Codex::models_including_hidden", self.inner.models_including_hidden())
    }

    /// The signed-in account.
    pub fn account(&self) -> Result<GetAccountResponse> {
        self.rt.block_on("Codex::account", self.inner.account())
    }

    /// The signed-in account, its token refreshed first.
    pub fn account_with_token_refresh(&self) -> Result<GetAccountResponse> {
        self.rt.block_on("Codex::account_with_token_refresh", self.inner.account_with_token_refresh())
    }

    /// Signs in with an OpenAI API key (see [`crate::Codex::login_api_key`]).
    pub fn login_api_key(&self, api_key: impl Into<String>) -> Result<()> {
        self.rt.block_on("Codex::login_api_key", self.inner.login_api_key(api_key))
    }

    /// Starts a ChatGPT browser sign-in: open [`ChatgptLogin::auth_url`] in a browser on
    /// this machine, then [`wait`](ChatgptLogin::wait) for the outcome or
    /// [`cancel`](ChatgptLogin::cancel) it.
    pub fn login_chatgpt(&self) -> Result<ChatgptLogin> {
        let login = self.rt.block_on("Codex::login_chatgpt", self.inner.login_chatgpt())?;
        Ok(ChatgptLogin::new(login, self.rt.clone()))
    }

    /// [`login_chatgpt`](Self::login_chatgpt) with explicit params (app brand, hosted
    /// success page, …).
    pub fn login_chatgpt_with(&self, params: &ChatgptLoginAccountParams) -> Result<ChatgptLogin> {
        let login = self.rt.block_on("Codex::login_chatgpt_with", self.inner.login_chatgpt_with(params))?;
        Ok(ChatgptLogin::new(login, self.rt.clone()))
    }

    /// Starts a ChatGPT device-code sign-in: show [`DeviceCodeLogin::verification_url`]
    /// and [`DeviceCodeLogin::user_code`] to the user, then
    /// [`wait`](DeviceCodeLogin::wait). Fails with a JSON-RPC error when the auth service
    /// is unreachable.
    pub fn login_chatgpt_device_code(&self) -> Result<DeviceCodeLogin> {
        let login = self.rt.block_on("Codex::login_chatgpt_device_code", self.inner.login_chatgpt_device_code())?;
        Ok(DeviceCodeLogin::new(login, self.rt.clone()))
    }

    /// Signs out.
    pub fn logout(&self) -> Result<()> {
        self.rt.block_on("Codex::logout", self.inner.logout())
    }
}
