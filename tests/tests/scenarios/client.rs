//! One interface over both public APIs, so each scenario is written once (and connects
//! to any [`Target`] the same way in both): implemented by the async types
//! (`codex_driver::Codex`, …) by awaiting them, and by the blocking types
//! (`codex_driver::blocking::Codex`, …) by calling them on a plain thread of their own
//! while the test's runtime keeps serving the mock model.
//!
//! A blocking call runs on a fresh `std::thread` rather than `spawn_blocking`: if a
//! scenario times out, the stuck thread is left behind instead of keeping the test's
//! runtime from shutting down (it waits for its blocking pool), so every wait stays
//! bounded. `spawn_blocking` itself is covered by `tests/blocking.rs`.
#![allow(async_fn_in_trait)]

use codex_driver::attach::{UnixSocketEndpoint, WebSocketEndpoint};
use codex_driver::blocking;
use codex_driver::goals::{GoalControl, GoalHandle, GoalOptions, GoalResult};
use codex_driver::login::{DeviceCodeLogin, LoginOutcome};
use codex_driver::methods::ServerNotification;
use codex_driver::structured::TypedTurnResult;
use codex_driver::types::{
    CancelLoginAccountStatus, CommandExecutionApprovalDecision, CommandExecutionRequestApprovalParams,
    ModelListResponse, ThreadGoal, ThreadListParams, ThreadListResponse,
};
use codex_driver::{
    ApprovalHandler, ClientConfig, Codex, Result, Thread, ThreadOptions, TurnControl, TurnHandle, TurnOptions,
    TurnResult,
};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// A plain approval decision for command executions.
pub type Decide = Arc<dyn Fn(CommandExecutionRequestApprovalParams) -> CommandExecutionApprovalDecision + Send + Sync>;

/// Where a client connects: an app-server it spawns over stdio, or one already listening
/// that it attaches to (with default client settings: a config's launch settings would
/// not apply).
#[derive(Debug, Clone)]
pub enum Target {
    /// Spawn `codex app-server` with this config.
    Spawn(ClientConfig),
    /// Attach over a WebSocket.
    WebSocket(WebSocketEndpoint),
    /// Attach over a unix socket.
    UnixSocket(UnixSocketEndpoint),
}

impl Target {
    /// An async builder aimed at this target.
    pub fn builder(self) -> codex_driver::CodexBuilder {
        match self {
            Target::Spawn(config) => Codex::builder().config(config),
            Target::WebSocket(endpoint) => Codex::builder().websocket(endpoint),
            Target::UnixSocket(endpoint) => Codex::builder().unix_socket(endpoint),
        }
    }

    /// A blocking builder aimed at this target.
    pub fn blocking_builder(self) -> blocking::CodexBuilder {
        match self {
            Target::Spawn(config) => blocking::Codex::builder().config(config),
            Target::WebSocket(endpoint) => blocking::Codex::builder().websocket(endpoint),
            Target::UnixSocket(endpoint) => blocking::Codex::builder().unix_socket(endpoint),
        }
    }
}

/// A connected client of either API.
pub trait Client: Clone + Send + Sync + 'static {
    /// Its threads.
    type Thread: ClientThread<Turn = Self::Turn>;
    /// Its turn handles.
    type Turn: ClientTurn<Control = Self::Control>;
    /// Its turn controls.
    type Control: ClientControl;
    /// Its device-code sign-ins.
    type DeviceLogin: ClientDeviceLogin;

    /// Connects to `target`; command approvals go to `on_command` when given (the async
    /// API through an `ApprovalHandler`, the blocking one through a plain closure).
    async fn connect(target: Target, on_command: Option<Decide>) -> Result<Self>;
    /// The spawned app-server's pid; `None` when attached.
    fn pid(&self) -> Option<u32>;
    async fn thread_start(&self, options: ThreadOptions) -> Result<Self::Thread>;
    async fn thread_fork(&self, id: &str, options: ThreadOptions) -> Result<Self::Thread>;
    async fn thread_archive(&self, id: &str) -> Result<()>;
    async fn thread_unarchive(&self, id: &str) -> Result<Self::Thread>;
    async fn thread_list(&self, params: ThreadListParams) -> Result<ThreadListResponse>;
    async fn models(&self, include_hidden: bool) -> Result<ModelListResponse>;
    async fn login_chatgpt_device_code(&self) -> Result<Self::DeviceLogin>;
    async fn close(&self);
}

/// A device-code sign-in of either API.
pub trait ClientDeviceLogin: Clone + Send + Sync + 'static {
    fn user_code(&self) -> String;
    fn verification_url(&self) -> String;
    async fn wait(&self) -> Result<LoginOutcome>;
    async fn cancel(&self) -> Result<CancelLoginAccountStatus>;
}

/// A followed goal of either API.
pub trait ClientGoal: Send + 'static {
    type Control: ClientGoalControl;
    fn objective(&self) -> String;
    fn control(&self) -> Self::Control;
    async fn run(self) -> Result<GoalResult>;
    /// Every item of `stream()` until it ends.
    async fn events(self) -> Vec<Result<ServerNotification>>;
}

/// A goal control of either API.
pub trait ClientGoalControl: Clone + Send + Sync + 'static {
    fn current_turn_id(&self) -> Option<String>;
    async fn interrupt(&self) -> Result<()>;
}

/// A thread of either API.
pub trait ClientThread: Clone + Send + Sync + std::fmt::Debug + 'static {
    type Turn: ClientTurn;
    type Goal: ClientGoal;
    fn id(&self) -> String;
    fn info(&self) -> Option<codex_driver::types::Thread>;
    async fn run(&self, input: &str) -> Result<TurnResult>;
    async fn run_with(&self, input: &str, options: TurnOptions) -> Result<TurnResult>;
    async fn turn(&self, input: &str) -> Result<Self::Turn>;
    async fn read(&self, include_turns: bool) -> Result<codex_driver::types::Thread>;
    async fn set_name(&self, name: &str) -> Result<()>;
    async fn run_typed<T: JsonSchema + DeserializeOwned + Send + 'static>(
        &self,
        input: &str,
    ) -> Result<TypedTurnResult<T>>;
    async fn goal(&self) -> Result<Option<ThreadGoal>>;
    async fn start_goal(&self, objective: &str) -> Result<Self::Goal>;
    async fn resume_goal(&self) -> Result<Self::Goal>;
    async fn run_goal_with(&self, objective: &str, options: GoalOptions) -> Result<GoalResult>;
}

/// A started turn of either API.
pub trait ClientTurn: Send + 'static {
    type Control: ClientControl;
    fn id(&self) -> String;
    fn thread_id(&self) -> String;
    fn control(&self) -> Self::Control;
    async fn steer(&self, input: &str) -> Result<String>;
    async fn run(self) -> Result<TurnResult>;
    /// Every item of `stream()` until it ends.
    async fn events(self) -> Vec<Result<ServerNotification>>;
}

/// A turn control of either API.
pub trait ClientControl: Clone + Send + Sync + 'static {
    fn turn_id(&self) -> String;
    async fn steer(&self, input: &str) -> Result<String>;
    async fn interrupt(&self) -> Result<()>;
}

// ----- the async API -----------------------------------------------------------------------

impl Client for Codex {
    type Thread = Thread;
    type Turn = TurnHandle;
    type Control = TurnControl;
    type DeviceLogin = DeviceCodeLogin;

    async fn connect(target: Target, on_command: Option<Decide>) -> Result<Self> {
        let mut builder = target.builder();
        if let Some(decide) = on_command {
            builder = builder.handler(ApprovalHandler::new().on_command_execution(move |params| {
                let decision = decide(params);
                async move { decision }
            }));
        }
        builder.connect().await
    }
    fn pid(&self) -> Option<u32> {
        self.connection().pid()
    }
    async fn thread_start(&self, options: ThreadOptions) -> Result<Thread> {
        Codex::thread_start(self, &options).await
    }
    async fn thread_fork(&self, id: &str, options: ThreadOptions) -> Result<Thread> {
        Codex::thread_fork(self, id, &options).await
    }
    async fn thread_archive(&self, id: &str) -> Result<()> {
        Codex::thread_archive(self, id).await
    }
    async fn thread_unarchive(&self, id: &str) -> Result<Thread> {
        Codex::thread_unarchive(self, id).await
    }
    async fn thread_list(&self, params: ThreadListParams) -> Result<ThreadListResponse> {
        Codex::thread_list(self, &params).await
    }
    async fn models(&self, include_hidden: bool) -> Result<ModelListResponse> {
        if include_hidden {
            Codex::models_including_hidden(self).await
        } else {
            Codex::models(self).await
        }
    }
    async fn login_chatgpt_device_code(&self) -> Result<DeviceCodeLogin> {
        Codex::login_chatgpt_device_code(self).await
    }
    async fn close(&self) {
        Codex::close(self).await;
    }
}

impl ClientThread for Thread {
    type Turn = TurnHandle;
    type Goal = GoalHandle;
    fn id(&self) -> String {
        Thread::id(self).to_owned()
    }
    fn info(&self) -> Option<codex_driver::types::Thread> {
        Thread::info(self).cloned()
    }
    async fn run(&self, input: &str) -> Result<TurnResult> {
        Thread::run(self, input).await
    }
    async fn run_with(&self, input: &str, options: TurnOptions) -> Result<TurnResult> {
        Thread::run_with(self, input, &options).await
    }
    async fn turn(&self, input: &str) -> Result<TurnHandle> {
        Thread::turn(self, input).await
    }
    async fn read(&self, include_turns: bool) -> Result<codex_driver::types::Thread> {
        if include_turns {
            Thread::read_with_turns(self).await
        } else {
            Thread::read(self).await
        }
    }
    async fn set_name(&self, name: &str) -> Result<()> {
        Thread::set_name(self, name).await
    }
    async fn run_typed<T: JsonSchema + DeserializeOwned + Send + 'static>(
        &self,
        input: &str,
    ) -> Result<TypedTurnResult<T>> {
        Thread::run_typed(self, input).await
    }
    async fn goal(&self) -> Result<Option<ThreadGoal>> {
        Thread::goal(self).await
    }
    async fn start_goal(&self, objective: &str) -> Result<GoalHandle> {
        Thread::start_goal(self, objective).await
    }
    async fn resume_goal(&self) -> Result<GoalHandle> {
        Thread::resume_goal(self).await
    }
    async fn run_goal_with(&self, objective: &str, options: GoalOptions) -> Result<GoalResult> {
        Thread::run_goal_with(self, objective, &options).await
    }
}

impl ClientDeviceLogin for DeviceCodeLogin {
    fn user_code(&self) -> String {
        DeviceCodeLogin::user_code(self).to_owned()
    }
    fn verification_url(&self) -> String {
        DeviceCodeLogin::verification_url(self).to_owned()
    }
    async fn wait(&self) -> Result<LoginOutcome> {
        DeviceCodeLogin::wait(self).await
    }
    async fn cancel(&self) -> Result<CancelLoginAccountStatus> {
        DeviceCodeLogin::cancel(self).await
    }
}

impl ClientGoal for GoalHandle {
    type Control = GoalControl;
    fn objective(&self) -> String {
        self.goal().objective.clone()
    }
    fn control(&self) -> GoalControl {
        GoalHandle::control(self)
    }
    async fn run(self) -> Result<GoalResult> {
        GoalHandle::run(self).await
    }
    async fn events(self) -> Vec<Result<ServerNotification>> {
        let mut events = self.stream();
        let mut seen = Vec::new();
        while let Some(event) = events.next_event().await {
            seen.push(event);
        }
        seen
    }
}

impl ClientGoalControl for GoalControl {
    fn current_turn_id(&self) -> Option<String> {
        GoalControl::current_turn_id(self)
    }
    async fn interrupt(&self) -> Result<()> {
        GoalControl::interrupt(self).await
    }
}

impl ClientTurn for TurnHandle {
    type Control = TurnControl;
    fn id(&self) -> String {
        TurnHandle::id(self).to_owned()
    }
    fn thread_id(&self) -> String {
        TurnHandle::thread_id(self).to_owned()
    }
    fn control(&self) -> TurnControl {
        TurnHandle::control(self)
    }
    async fn steer(&self, input: &str) -> Result<String> {
        TurnHandle::steer(self, input).await
    }
    async fn run(self) -> Result<TurnResult> {
        TurnHandle::run(self).await
    }
    async fn events(self) -> Vec<Result<ServerNotification>> {
        let mut events = self.stream();
        let mut seen = Vec::new();
        while let Some(event) = events.next_event().await {
            seen.push(event);
        }
        seen
    }
}

impl ClientControl for TurnControl {
    fn turn_id(&self) -> String {
        TurnControl::turn_id(self).to_owned()
    }
    async fn steer(&self, input: &str) -> Result<String> {
        TurnControl::steer(self, input).await
    }
    async fn interrupt(&self) -> Result<()> {
        TurnControl::interrupt(self).await
    }
}

// ----- the blocking API --------------------------------------------------------------------

/// Runs `f` on a new plain thread and awaits its result (re-raising its panic).
pub async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("blocking-caller".into())
        .spawn(move || {
            let _ = tx.send(std::panic::catch_unwind(AssertUnwindSafe(f)));
        })
        .expect("spawn a caller thread");
    match rx.await.expect("the caller thread ended without a result") {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

impl Client for blocking::Codex {
    type Thread = blocking::Thread;
    type Turn = blocking::TurnHandle;
    type Control = blocking::TurnControl;
    type DeviceLogin = blocking::DeviceCodeLogin;

    async fn connect(target: Target, on_command: Option<Decide>) -> Result<Self> {
        off_thread(move || {
            let mut builder = target.blocking_builder();
            if let Some(decide) = on_command {
                builder = builder.on_command_execution(move |params| decide(params));
            }
            builder.connect()
        })
        .await
    }
    fn pid(&self) -> Option<u32> {
        self.connection().pid()
    }
    async fn thread_start(&self, options: ThreadOptions) -> Result<blocking::Thread> {
        let codex = self.clone();
        off_thread(move || codex.thread_start(&options)).await
    }
    async fn thread_fork(&self, id: &str, options: ThreadOptions) -> Result<blocking::Thread> {
        let (codex, id) = (self.clone(), id.to_owned());
        off_thread(move || codex.thread_fork(&id, &options)).await
    }
    async fn thread_archive(&self, id: &str) -> Result<()> {
        let (codex, id) = (self.clone(), id.to_owned());
        off_thread(move || codex.thread_archive(&id)).await
    }
    async fn thread_unarchive(&self, id: &str) -> Result<blocking::Thread> {
        let (codex, id) = (self.clone(), id.to_owned());
        off_thread(move || codex.thread_unarchive(&id)).await
    }
    async fn thread_list(&self, params: ThreadListParams) -> Result<ThreadListResponse> {
        let codex = self.clone();
        off_thread(move || codex.thread_list(&params)).await
    }
    async fn models(&self, include_hidden: bool) -> Result<ModelListResponse> {
        let codex = self.clone();
        off_thread(move || if include_hidden { codex.models_including_hidden() } else { codex.models() }).await
    }
    async fn login_chatgpt_device_code(&self) -> Result<blocking::DeviceCodeLogin> {
        let codex = self.clone();
        off_thread(move || codex.login_chatgpt_device_code()).await
    }
    async fn close(&self) {
        let codex = self.clone();
        off_thread(move || codex.close()).await;
    }
}

impl ClientThread for blocking::Thread {
    type Turn = blocking::TurnHandle;
    type Goal = blocking::GoalHandle;
    fn id(&self) -> String {
        blocking::Thread::id(self).to_owned()
    }
    fn info(&self) -> Option<codex_driver::types::Thread> {
        blocking::Thread::info(self).cloned()
    }
    async fn run(&self, input: &str) -> Result<TurnResult> {
        let (thread, input) = (self.clone(), input.to_owned());
        off_thread(move || thread.run(input)).await
    }
    async fn run_with(&self, input: &str, options: TurnOptions) -> Result<TurnResult> {
        let (thread, input) = (self.clone(), input.to_owned());
        off_thread(move || thread.run_with(input, &options)).await
    }
    async fn turn(&self, input: &str) -> Result<blocking::TurnHandle> {
        let (thread, input) = (self.clone(), input.to_owned());
        off_thread(move || thread.turn(input)).await
    }
    async fn read(&self, include_turns: bool) -> Result<codex_driver::types::Thread> {
        let thread = self.clone();
        off_thread(move || if include_turns { thread.read_with_turns() } else { thread.read() }).await
    }
    async fn set_name(&self, name: &str) -> Result<()> {
        let (thread, name) = (self.clone(), name.to_owned());
        off_thread(move || thread.set_name(name)).await
    }
    async fn run_typed<T: JsonSchema + DeserializeOwned + Send + 'static>(
        &self,
        input: &str,
    ) -> Result<TypedTurnResult<T>> {
        let (thread, input) = (self.clone(), input.to_owned());
        off_thread(move || thread.run_typed::<T>(input)).await
    }
    async fn goal(&self) -> Result<Option<ThreadGoal>> {
        let thread = self.clone();
        off_thread(move || thread.goal()).await
    }
    async fn start_goal(&self, objective: &str) -> Result<blocking::GoalHandle> {
        let (thread, objective) = (self.clone(), objective.to_owned());
        off_thread(move || thread.start_goal(objective)).await
    }
    async fn resume_goal(&self) -> Result<blocking::GoalHandle> {
        let thread = self.clone();
        off_thread(move || thread.resume_goal()).await
    }
    async fn run_goal_with(&self, objective: &str, options: GoalOptions) -> Result<GoalResult> {
        let (thread, objective) = (self.clone(), objective.to_owned());
        off_thread(move || thread.run_goal_with(objective, &options)).await
    }
}

impl ClientDeviceLogin for blocking::DeviceCodeLogin {
    fn user_code(&self) -> String {
        blocking::DeviceCodeLogin::user_code(self).to_owned()
    }
    fn verification_url(&self) -> String {
        blocking::DeviceCodeLogin::verification_url(self).to_owned()
    }
    async fn wait(&self) -> Result<LoginOutcome> {
        let login = self.clone();
        off_thread(move || login.wait()).await
    }
    async fn cancel(&self) -> Result<CancelLoginAccountStatus> {
        let login = self.clone();
        off_thread(move || login.cancel()).await
    }
}

impl ClientGoal for blocking::GoalHandle {
    type Control = blocking::GoalControl;
    fn objective(&self) -> String {
        self.goal().objective.clone()
    }
    fn control(&self) -> blocking::GoalControl {
        blocking::GoalHandle::control(self)
    }
    async fn run(self) -> Result<GoalResult> {
        off_thread(move || blocking::GoalHandle::run(self)).await
    }
    async fn events(self) -> Vec<Result<ServerNotification>> {
        off_thread(move || self.stream().collect()).await
    }
}

impl ClientGoalControl for blocking::GoalControl {
    fn current_turn_id(&self) -> Option<String> {
        blocking::GoalControl::current_turn_id(self)
    }
    async fn interrupt(&self) -> Result<()> {
        let control = self.clone();
        off_thread(move || control.interrupt()).await
    }
}

impl ClientTurn for blocking::TurnHandle {
    type Control = blocking::TurnControl;
    fn id(&self) -> String {
        blocking::TurnHandle::id(self).to_owned()
    }
    fn thread_id(&self) -> String {
        blocking::TurnHandle::thread_id(self).to_owned()
    }
    fn control(&self) -> blocking::TurnControl {
        blocking::TurnHandle::control(self)
    }
    async fn steer(&self, input: &str) -> Result<String> {
        let (control, input) = (self.control(), input.to_owned());
        off_thread(move || control.steer(input)).await
    }
    async fn run(self) -> Result<TurnResult> {
        off_thread(move || blocking::TurnHandle::run(self)).await
    }
    async fn events(self) -> Vec<Result<ServerNotification>> {
        // The iterator, as a blocking caller would use it.
        off_thread(move || self.stream().collect()).await
    }
}

impl ClientControl for blocking::TurnControl {
    fn turn_id(&self) -> String {
        blocking::TurnControl::turn_id(self).to_owned()
    }
    async fn steer(&self, input: &str) -> Result<String> {
        let (control, input) = (self.clone(), input.to_owned());
        off_thread(move || control.steer(input)).await
    }
    async fn interrupt(&self) -> Result<()> {
        let control = self.clone();
        off_thread(move || control.interrupt()).await
    }
}
