//! The protocol method names handwritten code matches on or sends by name, each taken from
//! its generated marker, so that a method the schema renames or drops fails to compile.
//! The one home of them all; the rule, and the test that holds it, are in
//! `sdk/ARCHITECTURE.md`.

use crate::methods::{
    client_notifications as client_notification, client_requests as request, server_notifications as notification,
    server_requests as server_request,
};
use crate::protocol::{Notification, Request};

pub(crate) const INITIALIZE: &str = <request::Initialize as Request>::METHOD;
pub(crate) const INITIALIZED: &str = <client_notification::Initialized as Notification>::METHOD;
pub(crate) const TURN_START: &str = <request::TurnStart as Request>::METHOD;
pub(crate) const THREAD_COMPACT_START: &str = <request::ThreadCompactStart as Request>::METHOD;
pub(crate) const THREAD_SHELL_COMMAND: &str = <request::ThreadShellCommand as Request>::METHOD;
pub(crate) const COMMAND_EXEC_OUTPUT_DELTA: &str = <notification::CommandExecOutputDelta as Notification>::METHOD;
pub(crate) const ACCOUNT_LOGIN_START: &str = <request::AccountLoginStart as Request>::METHOD;
pub(crate) const ACCOUNT_LOGIN_COMPLETED: &str = <notification::AccountLoginCompleted as Notification>::METHOD;
pub(crate) const THREAD_GOAL_CLEARED: &str = <notification::ThreadGoalCleared as Notification>::METHOD;
pub(crate) const THREAD_GOAL_UPDATED: &str = <notification::ThreadGoalUpdated as Notification>::METHOD;
pub(crate) const COMMAND_APPROVAL: &str = <server_request::ItemCommandExecutionRequestApproval as Request>::METHOD;
pub(crate) const FILE_CHANGE_APPROVAL: &str = <server_request::ItemFileChangeRequestApproval as Request>::METHOD;
pub(crate) const PERMISSIONS_APPROVAL: &str = <server_request::ItemPermissionsRequestApproval as Request>::METHOD;
pub(crate) const ITEM_TOOL_CALL: &str = <server_request::ItemToolCall as Request>::METHOD;
pub(crate) const MCP_ELICITATION: &str = <server_request::McpServerElicitationRequest as Request>::METHOD;
pub(crate) const EXEC_COMMAND_APPROVAL: &str = <server_request::ExecCommandApproval as Request>::METHOD;
pub(crate) const APPLY_PATCH_APPROVAL: &str = <server_request::ApplyPatchApproval as Request>::METHOD;

/// The method that ends a turn stream.
pub(crate) const TURN_COMPLETED: &str = <notification::TurnCompleted as Notification>::METHOD;
/// The method that starts a turn.
pub(crate) const TURN_STARTED: &str = <notification::TurnStarted as Notification>::METHOD;
/// A thread was unloaded.
pub(crate) const THREAD_CLOSED: &str = <notification::ThreadClosed as Notification>::METHOD;
/// A thread's status changed (`{"status": {"type": "idle" | "active" | …}}`).
pub(crate) const THREAD_STATUS_CHANGED: &str = <notification::ThreadStatusChanged as Notification>::METHOD;
/// A request was answered, by any client.
pub(crate) const SERVER_REQUEST_RESOLVED: &str = <notification::ServerRequestResolved as Notification>::METHOD;
/// An item started / completed (the first user message of a turn tells who opened it).
pub(crate) const ITEM_STARTED: &str = <notification::ItemStarted as Notification>::METHOD;
pub(crate) const ITEM_COMPLETED: &str = <notification::ItemCompleted as Notification>::METHOD;

/// The requests whose answers the turn book learns from, or that it counts in flight.
pub(crate) const THREAD_START: &str = <request::ThreadStart as Request>::METHOD;
pub(crate) const THREAD_RESUME: &str = <request::ThreadResume as Request>::METHOD;
pub(crate) const THREAD_FORK: &str = <request::ThreadFork as Request>::METHOD;
pub(crate) const THREAD_READ: &str = <request::ThreadRead as Request>::METHOD;
pub(crate) const THREAD_UNSUBSCRIBE: &str = <request::ThreadUnsubscribe as Request>::METHOD;
pub(crate) const REVIEW_START: &str = <request::ReviewStart as Request>::METHOD;
pub(crate) const TURN_INTERRUPT: &str = <request::TurnInterrupt as Request>::METHOD;
