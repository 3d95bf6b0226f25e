//! Options of thread and turn calls, with `Default` and chainable setters, plus the
//! approval and sandbox presets.

use crate::types::{
    ApprovalsReviewer, AskForApproval, Personality, ReasoningEffort, ReasoningSummary, SandboxMode, SandboxPolicy,
    ThreadForkParams, ThreadResumeParams, ThreadStartParams, TurnStartParams,
};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// Who answers approval requests and how: a preset of two protocol settings, the approval
/// policy ([`types::AskForApproval`](crate::types::AskForApproval), see
/// [`policy`](Self::policy)) and who reviews ([`types::ApprovalsReviewer`](crate::types::ApprovalsReviewer),
/// see [`reviewer`](Self::reviewer)). For a policy no preset names (e.g. `Granular`), set
/// the protocol's type on the params instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApprovalMode {
    /// Ask before escalating (`on-request`); the client's server-request handler answers.
    /// Without a handler the SDK declines every approval (fail closed).
    AskUser,
    /// Ask before escalating (`on-request`), answered by Codex's automatic reviewer.
    AutoReview,
    /// Ask before running anything not known to be safe (`untrusted`); the client answers.
    Untrusted,
    /// Never ask: anything needing approval is refused (`never`).
    DenyAll,
}

impl ApprovalMode {
    /// The approval policy this preset sends.
    pub fn policy(self) -> AskForApproval {
        match self {
            Self::AskUser | Self::AutoReview => AskForApproval::OnRequest,
            Self::Untrusted => AskForApproval::Untrusted,
            Self::DenyAll => AskForApproval::Never,
        }
    }

    /// The reviewer this preset sends (`None`: none is set).
    pub fn reviewer(self) -> Option<ApprovalsReviewer> {
        match self {
            Self::AutoReview => Some(ApprovalsReviewer::AutoReview),
            Self::AskUser | Self::Untrusted => Some(ApprovalsReviewer::User),
            Self::DenyAll => None,
        }
    }
}

/// Sandbox presets: each names one setting of the protocol at both levels — the thread's
/// [`types::SandboxMode`](crate::types::SandboxMode) ([`mode`](Self::mode)) and a turn's
/// [`types::SandboxPolicy`](crate::types::SandboxPolicy) ([`policy`](Self::policy));
/// `FullAccess` is the protocol's `danger-full-access`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sandbox {
    /// Read anywhere, write nowhere, no network.
    ReadOnly,
    /// Write inside the workspace, no network.
    WorkspaceWrite,
    /// No sandbox at all.
    FullAccess,
}

impl Sandbox {
    /// The thread-level mode.
    pub fn mode(self) -> SandboxMode {
        match self {
            Self::ReadOnly => SandboxMode::ReadOnly,
            Self::WorkspaceWrite => SandboxMode::WorkspaceWrite,
            Self::FullAccess => SandboxMode::DangerFullAccess,
        }
    }

    /// The turn-level policy.
    pub fn policy(self) -> SandboxPolicy {
        let wire = match self {
            Self::ReadOnly => json!({"type": "readOnly"}),
            Self::WorkspaceWrite => json!({"type": "workspaceWrite"}),
            Self::FullAccess => json!({"type": "dangerFullAccess"}),
        };
        serde_json::from_value(wire).expect("sandbox presets match the schema")
    }
}

/// Options of `thread/start`, `thread/resume` and `thread/fork`. Unset fields keep the
/// server's configuration.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ThreadOptions {
    /// Model name.
    pub model: Option<String>,
    /// Model provider id (from `config.toml`).
    pub model_provider: Option<String>,
    /// Working directory of the thread.
    pub cwd: Option<PathBuf>,
    /// Approval preset. Unset (and no `approval_policy` / `approvals_reviewer` config
    /// override), [`Codex::thread_start`](crate::Codex::thread_start) on a
    /// client with a server-request handler (an [`ApprovalHandler`](crate::ApprovalHandler)
    /// or any other) asks for [`ApprovalMode::AskUser`], so the handler that is set is asked;
    /// on a client without one it keeps the server's configuration. `thread_resume` and
    /// `thread_fork` change a thread's policy only when this is set.
    pub approval_mode: Option<ApprovalMode>,
    /// Sandbox preset.
    pub sandbox: Option<Sandbox>,
    /// Replaces the built-in base instructions.
    pub base_instructions: Option<String>,
    /// Extra developer instructions.
    pub developer_instructions: Option<String>,
    /// A thread that is not persisted.
    pub ephemeral: Option<bool>,
    /// Personality.
    pub personality: Option<Personality>,
    /// Service tier.
    pub service_tier: Option<String>,
    /// Config overrides (`key` → JSON value), as `-c key=value` would set them.
    pub config: Map<String, Value>,
}

macro_rules! setters {
    ($ty:ident { $( $(#[$doc:meta])* $name:ident : $arg:ty => $field:ident $conv:tt ),* $(,)? }) => {
        impl $ty {
            $(
                $(#[$doc])*
                pub fn $name(mut self, value: $arg) -> Self {
                    self.$field = setters!(@conv value $conv);
                    self
                }
            )*
        }
    };
    (@conv $v:ident into) => { Some($v.into()) };
    (@conv $v:ident some) => { Some($v) };
}

setters!(ThreadOptions {
    /// Sets the model.
    model: impl Into<String> => model into,
    /// Sets the model provider.
    model_provider: impl Into<String> => model_provider into,
    /// Sets the working directory.
    cwd: impl Into<PathBuf> => cwd into,
    /// Sets the approval preset.
    approval_mode: ApprovalMode => approval_mode some,
    /// Sets the sandbox preset.
    sandbox: Sandbox => sandbox some,
    /// Sets the base instructions.
    base_instructions: impl Into<String> => base_instructions into,
    /// Sets the developer instructions.
    developer_instructions: impl Into<String> => developer_instructions into,
    /// Makes the thread ephemeral (or not).
    ephemeral: bool => ephemeral some,
    /// Sets the personality.
    personality: Personality => personality some,
    /// Sets the service tier.
    service_tier: impl Into<String> => service_tier into,
});

/// Sets the fields that `thread/start`, `thread/resume` and `thread/fork` params share.
macro_rules! apply_thread_settings {
    ($params:ident, $options:expr) => {{
        let o = $options;
        $params.model = o.model.clone();
        $params.model_provider = o.model_provider.clone();
        $params.cwd = o.cwd_string();
        $params.approval_policy = o.approval_mode.map(ApprovalMode::policy);
        $params.approvals_reviewer = o.approval_mode.and_then(ApprovalMode::reviewer);
        $params.sandbox = o.sandbox.map(Sandbox::mode);
        $params.base_instructions = o.base_instructions.clone();
        $params.developer_instructions = o.developer_instructions.clone();
        $params.service_tier = o.service_tier.clone();
        $params.config = o.config_map();
    }};
}

impl ThreadOptions {
    /// Adds a config override.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.config.insert(key.into(), value.into());
        self
    }

    fn cwd_string(&self) -> Option<String> {
        self.cwd.as_ref().map(|p| p.to_string_lossy().into_owned())
    }

    fn config_map(&self) -> Option<Map<String, Value>> {
        (!self.config.is_empty()).then(|| self.config.clone())
    }

    /// `thread/start` params, as set (no client rule applied).
    pub fn to_start_params(&self) -> ThreadStartParams {
        let mut p = ThreadStartParams::default();
        apply_thread_settings!(p, self);
        p.ephemeral = self.ephemeral;
        p.personality = self.personality.clone();
        p
    }

    /// `thread/start` params of a client whose handler decides approvals or not: the one
    /// home of the rule "a handler that is set is asked" (see
    /// [`approval_mode`](Self::approval_mode)).
    pub(crate) fn to_start_params_for(&self, handler_decides_approvals: bool) -> ThreadStartParams {
        let mut p = self.to_start_params();
        let configured = ["approval_policy", "approvals_reviewer"].iter().any(|key| self.config.contains_key(*key));
        if self.approval_mode.is_none() && !configured && handler_decides_approvals {
            p.approval_policy = Some(ApprovalMode::AskUser.policy());
            p.approvals_reviewer = ApprovalMode::AskUser.reviewer();
        }
        p
    }

    /// `thread/resume` params for `thread_id`.
    pub fn to_resume_params(&self, thread_id: &str) -> ThreadResumeParams {
        let mut p = ThreadResumeParams::new(thread_id);
        apply_thread_settings!(p, self);
        p.personality = self.personality.clone();
        p
    }

    /// `thread/fork` params for `thread_id`.
    pub fn to_fork_params(&self, thread_id: &str) -> ThreadForkParams {
        let mut p = ThreadForkParams::new(thread_id);
        apply_thread_settings!(p, self);
        p.ephemeral = self.ephemeral;
        p
    }
}

/// Per-turn options of `turn/start`. Unset fields keep the thread's settings; set ones
/// persist to later turns of the thread (server behaviour).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct TurnOptions {
    /// Model for this and later turns.
    pub model: Option<String>,
    /// Reasoning effort, e.g. `"low"`, `"medium"`, `"high"`.
    pub effort: Option<String>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// Sandbox preset.
    pub sandbox: Option<Sandbox>,
    /// Approval preset.
    pub approval_mode: Option<ApprovalMode>,
    /// JSON Schema the final answer must follow.
    pub output_schema: Option<Value>,
    /// Personality.
    pub personality: Option<Personality>,
    /// Reasoning summary mode.
    pub summary: Option<ReasoningSummary>,
    /// Service tier.
    pub service_tier: Option<String>,
}

setters!(TurnOptions {
    /// Sets the model.
    model: impl Into<String> => model into,
    /// Sets the reasoning effort.
    effort: impl Into<String> => effort into,
    /// Sets the working directory.
    cwd: impl Into<PathBuf> => cwd into,
    /// Sets the sandbox preset.
    sandbox: Sandbox => sandbox some,
    /// Sets the approval preset.
    approval_mode: ApprovalMode => approval_mode some,
    /// Sets the output JSON Schema.
    output_schema: Value => output_schema some,
    /// Sets the personality.
    personality: Personality => personality some,
    /// Sets the reasoning summary mode.
    summary: ReasoningSummary => summary some,
    /// Sets the service tier.
    service_tier: impl Into<String> => service_tier into,
});

impl TurnOptions {
    /// `turn/start` params for `thread_id` with `input`.
    pub fn to_params(&self, thread_id: &str, input: Vec<crate::types::UserInput>) -> crate::Result<TurnStartParams> {
        let mut p = TurnStartParams::new(input, thread_id);
        p.model = self.model.clone();
        p.effort = match &self.effort {
            Some(e) => Some(ReasoningEffort::try_from(e.as_str()).map_err(|e| crate::Error::Encode {
                method: crate::method_names::TURN_START.into(),
                source: serde::ser::Error::custom(format!("invalid effort: {e}")),
            })?),
            None => None,
        };
        p.cwd = self.cwd.as_ref().map(|c| c.to_string_lossy().into_owned());
        p.sandbox_policy = self.sandbox.map(Sandbox::policy);
        p.approval_policy = self.approval_mode.map(ApprovalMode::policy);
        p.approvals_reviewer = self.approval_mode.and_then(ApprovalMode::reviewer);
        p.output_schema = self.output_schema.clone();
        p.personality = self.personality.clone();
        p.summary = self.summary.clone();
        p.service_tier = self.service_tier.clone();
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handler_that_is_set_is_asked_at_thread_start_only() {
        let unset = ThreadOptions::default();
        let asked = unset.to_start_params_for(true);
        assert_eq!(asked.approval_policy, Some(AskForApproval::OnRequest));
        assert_eq!(asked.approvals_reviewer, Some(ApprovalsReviewer::User));
        let no_handler = unset.to_start_params_for(false);
        assert_eq!((no_handler.approval_policy, no_handler.approvals_reviewer), (None, None));

        // A policy set through a config override is as explicit as a mode.
        let configured = ThreadOptions::default().config("approval_policy", "never").to_start_params_for(true);
        assert_eq!((configured.approval_policy, configured.approvals_reviewer), (None, None));

        let explicit = ThreadOptions::default().approval_mode(ApprovalMode::DenyAll).to_start_params_for(true);
        assert_eq!((explicit.approval_policy, explicit.approvals_reviewer), (Some(AskForApproval::Never), None));

        // Resuming and forking keep the thread's policy unless one is set.
        let resume = unset.to_resume_params("t");
        assert_eq!((resume.approval_policy, resume.approvals_reviewer), (None, None));
        let fork = unset.to_fork_params("t");
        assert_eq!((fork.approval_policy, fork.approvals_reviewer), (None, None));
    }
}
