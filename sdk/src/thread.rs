//! A Codex thread: run turns on it, read it, rename it, compact it.

use crate::error::Result;
use crate::input::Inputs;
use crate::methods::client_requests;
use crate::options::TurnOptions;
use crate::rpc::Connection;
use crate::turn::{TurnHandle, TurnResult};
use crate::types::{
    ApprovalsReviewer, AskForApproval, ReasoningEffort, SandboxPolicy, ThreadCompactStartParams,
    ThreadForkResponse, ThreadReadParams, ThreadResumeResponse, ThreadSetNameParams, ThreadStartResponse,
};

/// The settings a thread runs with, as the server reported them when the thread was
/// started, resumed or forked.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ThreadSettings {
    /// Model.
    pub model: String,
    /// Model provider id.
    pub model_provider: String,
    /// Approval policy.
    pub approval_policy: AskForApproval,
    /// Who reviews approval requests.
    pub approvals_reviewer: ApprovalsReviewer,
    /// Sandbox policy.
    pub sandbox: SandboxPolicy,
    /// Working directory.
    pub cwd: String,
    /// Reasoning effort, when set.
    pub reasoning_effort: Option<ReasoningEffort>,
    /// Service tier, when set.
    pub service_tier: Option<String>,
}

macro_rules! settings_from {
    ($($response:ty),*) => {$(
        impl From<&$response> for ThreadSettings {
            fn from(r: &$response) -> Self {
                ThreadSettings {
                    model: r.model.clone(),
                    model_provider: r.model_provider.clone(),
                    approval_policy: r.approval_policy.clone(),
                    approvals_reviewer: r.approvals_reviewer.clone(),
                    sandbox: r.sandbox.clone(),
                    cwd: r.cwd.to_string(),
                    reasoning_effort: r.reasoning_effort.clone(),
                    service_tier: r.service_tier.clone(),
                }
            }
        }
    )*};
}

settings_from!(ThreadStartResponse, ThreadResumeResponse, ThreadForkResponse);

/// A thread on a [`Codex`](crate::Codex) connection. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Thread {
    conn: Connection,
    id: String,
    info: Option<crate::types::Thread>,
    settings: Option<ThreadSettings>,
}

impl Thread {
    pub(crate) fn new(
        conn: Connection,
        id: String,
        info: Option<crate::types::Thread>,
        settings: Option<ThreadSettings>,
    ) -> Self {
        Self { conn, id, info, settings }
    }

    /// The settings the server reported when this handle was made by
    /// `thread_start`, `thread_resume` or `thread_fork` (`None` otherwise). Per-turn
    /// options change them for later turns; resume or fork to see the current ones.
    pub fn settings(&self) -> Option<&ThreadSettings> {
        self.settings.as_ref()
    }

    /// The thread id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The thread as the call that produced this handle returned it (`None` for a handle
    /// made from a bare id).
    pub fn info(&self) -> Option<&crate::types::Thread> {
        self.info.as_ref()
    }

    /// Every notification about this thread from now on (its turns' events included),
    /// typed and bounded.
    pub fn notifications(&self) -> crate::Notifications {
        crate::Notifications::new(self.conn.subscribe_thread(&self.id))
    }

    /// Runs a turn to completion with the thread's settings.
    pub async fn run(&self, input: impl Into<Inputs>) -> Result<TurnResult> {
        self.turn(input).await?.run().await
    }

    /// Runs a turn to completion with per-turn options.
    pub async fn run_with(&self, input: impl Into<Inputs>, options: &TurnOptions) -> Result<TurnResult> {
        self.turn_with(input, options).await?.run().await
    }

    /// Starts a turn and returns its handle (stream it, steer it, interrupt it, or run it).
    pub async fn turn(&self, input: impl Into<Inputs>) -> Result<TurnHandle> {
        self.turn_with(input, &TurnOptions::default()).await
    }

    /// Starts a turn with per-turn options. Events that race the `turn/start` response
    /// are kept for the turn's stream.
    pub async fn turn_with(&self, input: impl Into<Inputs>, options: &TurnOptions) -> Result<TurnHandle> {
        let params = options.to_params(&self.id, input.into().into_user_inputs())?;
        let reservation = self.conn.reserve_turn(&self.id).await?;
        let response = self.conn.request::<client_requests::TurnStart>(params).await?;
        let stream = reservation.claim(response.turn.id.clone());
        Ok(TurnHandle::new(self.conn.clone(), self.id.clone(), response.turn, stream))
    }

    /// Reads the thread (`thread/read`), with its turns when `include_turns`.
    pub async fn read(&self, include_turns: bool) -> Result<crate::types::Thread> {
        let mut params = ThreadReadParams::new(self.id.clone());
        params.include_turns = Some(include_turns);
        Ok(self.conn.request::<client_requests::ThreadRead>(params).await?.thread)
    }

    /// Renames the thread.
    pub async fn set_name(&self, name: impl Into<String>) -> Result<()> {
        let params = ThreadSetNameParams::new(name, self.id.clone());
        self.conn.request::<client_requests::ThreadNameSet>(params).await?;
        Ok(())
    }

    /// Starts compacting the thread's history (`thread/compact/start`) and returns once
    /// the server accepted it. The compaction runs as a turn of its own (one
    /// `contextCompaction` item); to wait for it, watch [`notifications`](Self::notifications)
    /// (subscribed before calling this) for its `turn/completed`.
    pub async fn compact(&self) -> Result<()> {
        let params = ThreadCompactStartParams { thread_id: self.id.clone() };
        self.conn.request::<client_requests::ThreadCompactStart>(params).await?;
        Ok(())
    }
}
