//! [`Codex`]: one running `codex app-server` and the calls that are not about one thread.

use crate::login::{ChatgptLogin, DeviceCodeLogin};
use crate::methods::{client_requests, ServerRequestHandler};
use crate::options::ThreadOptions;
use crate::rpc::typed_handlers::Typed;
use crate::rpc::{Connection, RawServerRequestHandler, ServerMetadata};
use crate::thread::{Thread, ThreadSettings};
use crate::types::{
    ApiKeyLoginAccountParams, ChatgptLoginAccountParams, GetAccountParams, GetAccountResponse, LoginAccountParams,
    ModelListParams, ModelListResponse, ThreadArchiveParams, ThreadListParams, ThreadListResponse,
    ThreadUnarchiveParams,
};
use crate::ClientConfig;
use crate::Result;
use std::sync::Arc;

/// A connected, initialized Codex app-server. Cheap to clone; the connection ends when the
/// last clone (and every [`Thread`] and turn handle made from it) is dropped, or on
/// [`close`](Self::close). A spawned process ends with it; an attached server (WebSocket,
/// unix socket, daemon) keeps running.
///
/// ```no_run
/// # async fn demo() -> codex_driver::Result<()> {
/// use codex_driver::{ClientConfig, Codex, ThreadOptions};
///
/// let codex = Codex::spawn(ClientConfig::default()).await?;
/// let thread = codex.thread_start(&ThreadOptions::default()).await?;
/// let result = thread.run("Say hello").await?;
/// println!("{}", result.final_response().unwrap_or_default());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Codex {
    conn: Connection,
}

/// Builds a [`Codex`]: where the app-server is (spawned over stdio by default; with the
/// `websocket` feature, a WebSocket URL, a unix socket or the managed daemon), the client
/// configuration and the server-request handler.
#[derive(Default)]
pub struct CodexBuilder {
    config: ClientConfig,
    handler: Option<Arc<dyn RawServerRequestHandler>>,
    approvals: Option<crate::ApprovalHandler>,
    target: Target,
}

/// Where [`CodexBuilder::connect`] goes.
#[derive(Debug, Clone, Default)]
enum Target {
    /// Spawn `codex app-server` over stdio.
    #[default]
    Spawn,
    #[cfg(feature = "websocket")]
    WebSocket(crate::attach::WebSocketEndpoint),
    #[cfg(feature = "websocket")]
    UnixSocket(Option<crate::attach::UnixSocketEndpoint>),
    #[cfg(feature = "websocket")]
    Daemon(crate::attach::DaemonStart),
}

impl std::fmt::Debug for CodexBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodexBuilder")
            .field("config", &self.config)
            .field("handler", &(self.handler.is_some() || self.approvals.is_some()))
            .field("target", &self.target)
            .finish()
    }
}

impl CodexBuilder {
    /// Sets the launch and client configuration.
    pub fn config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// Answers server requests (approvals, …) with a typed handler, in place of the
    /// config's raw `connection.handler`. Without either, every approval is declined and
    /// other requests are refused (fail closed). Replaces any handler or approval closure
    /// set before.
    pub fn handler(mut self, handler: impl ServerRequestHandler) -> Self {
        self.handler = Some(Arc::new(Typed(Arc::new(handler))));
        self.approvals = None;
        self
    }

    /// Answers server requests with a raw JSON handler. Replaces any handler or approval
    /// closure set before.
    pub fn raw_handler(mut self, handler: impl RawServerRequestHandler) -> Self {
        self.handler = Some(Arc::new(handler));
        self.approvals = None;
        self
    }

    /// Decides command-execution approvals with an async closure (a shortcut for
    /// [`handler`](Self::handler) with an [`ApprovalHandler`](crate::ApprovalHandler));
    /// with [`on_file_change`](Self::on_file_change) both go into one handler. Requests
    /// without a closure keep the fail-closed default.
    pub fn on_command_execution<F, Fut>(mut self, decide: F) -> Self
    where
        F: Fn(crate::types::CommandExecutionRequestApprovalParams) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = crate::types::CommandExecutionApprovalDecision> + Send + 'static,
    {
        self.approvals = Some(self.approvals.take().unwrap_or_default().on_command_execution(decide));
        self.handler = None;
        self
    }

    /// Decides file-change approvals with an async closure; see
    /// [`on_command_execution`](Self::on_command_execution).
    pub fn on_file_change<F, Fut>(mut self, decide: F) -> Self
    where
        F: Fn(crate::types::FileChangeRequestApprovalParams) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = crate::types::FileChangeApprovalDecision> + Send + 'static,
    {
        self.approvals = Some(self.approvals.take().unwrap_or_default().on_file_change(decide));
        self.handler = None;
        self
    }

    /// Attaches to the app-server at `endpoint` instead of spawning one (feature
    /// `websocket`). The config's client settings (timeouts, buffers, client info) apply;
    /// its launch settings do not.
    #[cfg(feature = "websocket")]
    pub fn websocket(mut self, endpoint: crate::attach::WebSocketEndpoint) -> Self {
        self.target = Target::WebSocket(endpoint);
        self
    }

    /// Attaches to the app-server on a unix socket instead of spawning one (feature
    /// `websocket`).
    #[cfg(feature = "websocket")]
    pub fn unix_socket(mut self, endpoint: crate::attach::UnixSocketEndpoint) -> Self {
        self.target = Target::UnixSocket(Some(endpoint));
        self
    }

    /// Attaches to the control socket under the effective `CODEX_HOME` of the config
    /// (its environment's `CODEX_HOME`, this process's, else `~/.codex`; feature `websocket`).
    #[cfg(feature = "websocket")]
    pub fn control_socket(mut self) -> Self {
        self.target = Target::UnixSocket(None);
        self
    }

    /// Attaches to the managed daemon of the config's `CODEX_HOME`, starting it through
    /// the config's `codex` binary when `start` says so (feature `websocket`). Dropping or
    /// closing the client leaves the daemon running; see [`crate::attach::Daemon::stop`].
    #[cfg(feature = "websocket")]
    pub fn daemon(mut self, start: crate::attach::DaemonStart) -> Self {
        self.target = Target::Daemon(start);
        self
    }

    /// Spawns the app-server (or attaches to it) and completes the `initialize` handshake.
    pub async fn connect(self) -> Result<Codex> {
        let mut options = self.config.connection.clone();
        let approvals = self.approvals.map(|a| Arc::new(Typed(Arc::new(a))) as Arc<dyn RawServerRequestHandler>);
        if let Some(handler) = self.handler.or(approvals) {
            options = options.with_handler(handler);
        }
        let started = std::time::Instant::now();
        // An attached server's connect timeout covers the `initialize` handshake too: a
        // server that upgrades and never answers cannot hold `connect` for the request
        // timeout.
        #[allow(unused_mut)] // only the attach targets (feature `websocket`) set it
        let mut budget: Option<std::time::Duration> = None;
        let conn = match self.target {
            Target::Spawn => {
                let transport = self.config.launch.spawn(options.max_message_size)?;
                Connection::from_transport(transport, options)
            }
            #[cfg(feature = "websocket")]
            Target::WebSocket(endpoint) => {
                budget = Some(endpoint.connect_budget());
                endpoint.connect(options).await?
            }
            #[cfg(feature = "websocket")]
            Target::UnixSocket(endpoint) => {
                let endpoint = match endpoint {
                    Some(endpoint) => endpoint,
                    None => crate::attach::UnixSocketEndpoint::for_config(&self.config.launch).ok_or_else(|| {
                        crate::Error::Connect {
                            endpoint: "the control socket".into(),
                            source: std::io::Error::new(
                                std::io::ErrorKind::NotFound,
                                "neither CODEX_HOME nor HOME is set",
                            ),
                        }
                    })?,
                };
                budget = Some(endpoint.connect_budget());
                endpoint.connect(options).await?
            }
            #[cfg(feature = "websocket")]
            Target::Daemon(start) => {
                crate::attach::Daemon::new(self.config.launch.clone()).attach(start, options).await?
            }
        };
        let initialize = conn.initialize(&self.config.client);
        match budget {
            None => initialize.await?,
            Some(budget) => {
                let left = budget.saturating_sub(started.elapsed());
                match tokio::time::timeout(left, initialize).await {
                    Ok(metadata) => metadata?,
                    Err(_) => {
                        return Err(crate::Error::Connect {
                            endpoint: conn.endpoint().to_string(),
                            source: std::io::Error::new(
                                std::io::ErrorKind::TimedOut,
                                format!("the server accepted the connection but did not answer `initialize` within the connect timeout ({budget:?})"),
                            ),
                        })
                    }
                }
            }
        };
        Ok(Codex { conn })
    }
}

impl Codex {
    /// Spawns the app-server with `config` (server requests answered by
    /// `config.connection.handler`: fail closed by default) and initializes it; for
    /// a handler, or to attach to a running server, use [`builder`](Self::builder).
    pub async fn spawn(config: ClientConfig) -> Result<Self> {
        Self::builder().config(config).connect().await
    }

    /// A builder, to set a server-request handler.
    pub fn builder() -> CodexBuilder {
        CodexBuilder::default()
    }

    /// Wraps a connection that completed [`Connection::initialize`]: a `Codex` always
    /// knows its server ([`metadata`](Self::metadata)). A connection that was never
    /// initialized (or whose `initialize` is still running or failed) is
    /// [`Error::NotInitialized`](crate::Error::NotInitialized).
    pub fn from_connection(conn: Connection) -> Result<Self> {
        match conn.metadata() {
            Some(_) => Ok(Self { conn }),
            None => Err(crate::Error::NotInitialized),
        }
    }

    /// This client with a per-request timeout of `timeout` (instead of the configured
    /// default) for every call made through the returned handle and the threads and turns
    /// made from it; a timed-out call is [`Error::Timeout`](crate::Error::Timeout)
    /// (`is_timeout()`) and leaves no waiter behind. See [`Connection::with_timeout`].
    pub fn with_timeout(&self, timeout: std::time::Duration) -> Codex {
        Codex { conn: self.conn.with_timeout(timeout) }
    }

    /// The low-level connection: every protocol method is reachable on it, typed,
    /// through [`ClientRequests`](crate::methods::ClientRequests).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// What the server reported at `initialize`.
    pub fn metadata(&self) -> &ServerMetadata {
        self.conn.metadata().expect("a Codex is only made from an initialized connection")
    }

    /// The server's Codex release, when its version is a release number (development
    /// builds report `0.0.0`). See [`crate::version`].
    pub fn server_version(&self) -> Option<crate::version::CodexVersion> {
        self.conn.server_version()
    }

    /// Whether the server's release has the request `R` (e.g.
    /// `codex.supports::<client_requests::FeedbackSave>()`), from the SDK's protocol
    /// history. A request it lacks fails with [`Error::Unsupported`](crate::Error::Unsupported)
    /// before anything is sent.
    pub fn supports<R: crate::protocol::Request>(&self) -> bool {
        self.conn.supports::<R>()
    }

    /// Whether the server's release sends the notification `N`.
    pub fn supports_notification<N: crate::protocol::Notification>(&self) -> bool {
        self.conn.supports_notification::<N>()
    }

    /// Whether the server's release has the field `field` (wire name) of the protocol type
    /// `ty`, e.g. `("ThreadListParams", "includedThreadIds")`.
    pub fn supports_field(&self, ty: &str, field: &str) -> bool {
        self.conn.supports_field(ty, field)
    }

    /// Every notification the server sends from now on, typed (bounded; see
    /// [`Notifications`](crate::Notifications)). Turn events are also delivered to their
    /// turn's stream.
    pub fn notifications(&self) -> crate::Notifications {
        self.conn.notifications()
    }

    /// Closes the connection. First the interrupts promised by dropped turn handles are
    /// delivered: each such turn is waited for (at most
    /// [`CLOSE_INTERRUPT_WAIT`](crate::rpc::CLOSE_INTERRUPT_WAIT) in all) until the server
    /// reports it ended; the returned [`CloseReport`](crate::rpc::CloseReport) names any it
    /// had to leave running. Then a spawned app-server gets its stdin closed and a moment to
    /// exit (then is killed); an attached one keeps running.
    pub async fn close(&self) -> crate::rpc::CloseReport {
        self.conn.close().await
    }

    fn thread(&self, thread: crate::types::Thread, settings: Option<ThreadSettings>) -> Thread {
        Thread::new(self.conn.clone(), thread.id.clone(), Some(thread), settings)
    }

    /// A handle for an existing thread id, without loading it (see
    /// [`thread_resume`](Self::thread_resume) to load it into this server).
    pub fn thread_handle(&self, id: impl Into<String>) -> Thread {
        Thread::new(self.conn.clone(), id.into(), None, None)
    }

    /// Runs a command on the app-server's machine (`command/exec`, outside any thread) and
    /// returns it as a process: output stream, stdin, resize, terminate, exit status. See
    /// [`exec`](crate::exec). Dropping the [`Child`](crate::exec::Child) before the command
    /// exits terminates it.
    pub async fn exec(&self, command: &crate::exec::Command) -> Result<crate::exec::Child> {
        crate::exec::Child::spawn(&self.conn, command).await
    }

    /// Starts a thread.
    ///
    /// Options are passed by reference here as everywhere in the SDK (`run_with`,
    /// `turn_with`, `run_goal_with`, `initialize`): they are read into the request, and
    /// one value can serve many calls.
    ///
    /// On a client with a server-request handler, options without an approval mode ask
    /// for [`ApprovalMode::AskUser`](crate::ApprovalMode::AskUser): the handler that is set
    /// is asked (see [`ThreadOptions::approval_mode`]).
    pub async fn thread_start(&self, options: &ThreadOptions) -> Result<Thread> {
        let params = options.to_start_params_for(self.conn.decides_approvals());
        let response = self.conn.request::<client_requests::ThreadStart>(params).await?;
        let settings = ThreadSettings::from(&response);
        Ok(self.thread(response.thread, Some(settings)))
    }

    /// Starts a thread that offers `tools` to the model (`dynamicTools`) and answers their
    /// calls on this connection (see [`tools`](crate::tools); experimental surface). Options
    /// follow [`thread_start`](Self::thread_start).
    #[cfg(feature = "experimental")]
    pub async fn thread_start_with_tools(&self, options: &ThreadOptions, tools: crate::tools::Tools) -> Result<Thread> {
        let mut params = options.to_start_params_for(self.conn.decides_approvals());
        params.dynamic_tools = Some(tools.specs());
        let response = self.conn.request::<client_requests::ThreadStart>(params).await?;
        let settings = ThreadSettings::from(&response);
        self.conn.serve_tools(&response.thread.id, Arc::new(tools));
        Ok(self.thread(response.thread, Some(settings)))
    }

    /// Lists stored threads. The generated [`ThreadListParams`] are this call's options
    /// (filters, sort, paging; all optional, `Default` lists everything): a handwritten
    /// copy would only mirror them and lag behind the schema.
    pub async fn thread_list(&self, params: &ThreadListParams) -> Result<ThreadListResponse> {
        self.conn.request::<client_requests::ThreadList>(params.clone()).await
    }

    /// Loads a stored thread into this server so turns can run on it. A thread still
    /// loaded by another app-server process is refused (`-32600`, "already has an active
    /// writer") until that process releases it.
    pub async fn thread_resume(&self, id: &str, options: &ThreadOptions) -> Result<Thread> {
        let response = self.conn.request::<client_requests::ThreadResume>(options.to_resume_params(id)).await?;
        let settings = ThreadSettings::from(&response);
        Ok(self.thread(response.thread, Some(settings)))
    }

    /// Forks a thread into a new one.
    pub async fn thread_fork(&self, id: &str, options: &ThreadOptions) -> Result<Thread> {
        let response = self.conn.request::<client_requests::ThreadFork>(options.to_fork_params(id)).await?;
        let settings = ThreadSettings::from(&response);
        Ok(self.thread(response.thread, Some(settings)))
    }

    /// Archives a thread (hidden from `thread_list` unless `archived: true`).
    pub async fn thread_archive(&self, id: &str) -> Result<()> {
        self.conn.request::<client_requests::ThreadArchive>(ThreadArchiveParams { thread_id: id.to_owned() }).await?;
        Ok(())
    }

    /// Restores an archived thread.
    pub async fn thread_unarchive(&self, id: &str) -> Result<Thread> {
        let params = ThreadUnarchiveParams { thread_id: id.to_owned() };
        let response = self.conn.request::<client_requests::ThreadUnarchive>(params).await?;
        Ok(self.thread(response.thread, None))
    }

    /// Lists the models the user can pick (hidden ones left out; see
    /// [`models_including_hidden`](Self::models_including_hidden)).
    pub async fn models(&self) -> Result<ModelListResponse> {
        self.model_list(false).await
    }

    /// Lists every model, hidden ones included.
    pub async fn models_including_hidden(&self) -> Result<ModelListResponse> {
        self.model_list(true).await
    }

    async fn model_list(&self, include_hidden: bool) -> Result<ModelListResponse> {
        let params = ModelListParams { include_hidden: Some(include_hidden), ..Default::default() };
        self.conn.request::<client_requests::ModelList>(params).await
    }

    /// The signed-in account (see also
    /// [`account_with_token_refresh`](Self::account_with_token_refresh)).
    pub async fn account(&self) -> Result<GetAccountResponse> {
        self.account_read(false).await
    }

    /// The signed-in account, its token refreshed first.
    pub async fn account_with_token_refresh(&self) -> Result<GetAccountResponse> {
        self.account_read(true).await
    }

    async fn account_read(&self, refresh_token: bool) -> Result<GetAccountResponse> {
        let params = GetAccountParams { refresh_token: Some(refresh_token) };
        self.conn.request::<client_requests::AccountRead>(params).await
    }

    /// Signs in with an OpenAI API key. The key is stored and sent only to providers that
    /// use OpenAI auth (`requires_openai_auth`, e.g. the built-in `openai` provider); with
    /// another provider the call succeeds but [`account`](Self::account) stays empty.
    pub async fn login_api_key(&self, api_key: impl Into<String>) -> Result<()> {
        let params = LoginAccountParams::ApiKey(ApiKeyLoginAccountParams { api_key: api_key.into() });
        self.conn.request::<client_requests::AccountLoginStart>(params).await?;
        Ok(())
    }

    /// Starts a ChatGPT browser sign-in: open [`ChatgptLogin::auth_url`] in a browser on
    /// this machine, then [`wait`](ChatgptLogin::wait) for the outcome or
    /// [`cancel`](ChatgptLogin::cancel) it.
    pub async fn login_chatgpt(&self) -> Result<ChatgptLogin> {
        ChatgptLogin::start(&self.conn, ChatgptLoginAccountParams::default()).await
    }

    /// [`login_chatgpt`](Self::login_chatgpt) with explicit params (app brand, hosted
    /// success page, …).
    pub async fn login_chatgpt_with(&self, params: &ChatgptLoginAccountParams) -> Result<ChatgptLogin> {
        ChatgptLogin::start(&self.conn, params.clone()).await
    }

    /// Starts a ChatGPT device-code sign-in: show [`DeviceCodeLogin::verification_url`] and
    /// [`DeviceCodeLogin::user_code`] to the user (any device will do), then
    /// [`wait`](DeviceCodeLogin::wait). The server asks the auth service for the code before
    /// answering, so this fails with a JSON-RPC error when that service is unreachable.
    pub async fn login_chatgpt_device_code(&self) -> Result<DeviceCodeLogin> {
        DeviceCodeLogin::start(&self.conn).await
    }

    /// Signs out.
    pub async fn logout(&self) -> Result<()> {
        self.conn.request::<client_requests::AccountLogout>(()).await?;
        Ok(())
    }
}

impl crate::protocol::RequestSender for Connection {
    type Error = crate::Error;

    fn send_request<R: crate::protocol::Request>(
        &self,
        params: R::Params,
    ) -> impl std::future::Future<Output = Result<R::Response>> + Send {
        self.request::<R>(params)
    }
}
