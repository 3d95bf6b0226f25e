//! The protocol method names handwritten code matches on or sends by name, each taken from
//! its generated marker, so that a method the schema renames or drops fails to compile.
//! (The turn book keeps its own in `rpc/turns.rs`, the same way.) The rule, and the test
//! that holds it, are in `sdk/ARCHITECTURE.md`.

use crate::methods::{
    client_notifications as client_notification, client_requests as request, server_notifications as notification,
    server_requests as server_request,
};
use crate::protocol::{Notification, Request};

pub(crate) const INITIALIZE: &str = <request::Initialize as Request>::METHOD;
pub(crate) const INITIALIZED: &str = <client_notification::Initialized as Notification>::METHOD;
pub(crate) const TURN_START: &str = <request::TurnStart as Request>::METHOD;
pub(crate) const ACCOUNT_LOGIN_START: &str = <request::AccountLoginStart as Request>::METHOD;
pub(crate) const ACCOUNT_LOGIN_COMPLETED: &str = <notification::AccountLoginCompleted as Notification>::METHOD;
pub(crate) const THREAD_GOAL_CLEARED: &str = <notification::ThreadGoalCleared as Notification>::METHOD;
pub(crate) const THREAD_GOAL_UPDATED: &str = <notification::ThreadGoalUpdated as Notification>::METHOD;
pub(crate) const COMMAND_APPROVAL: &str = <server_request::ItemCommandExecutionRequestApproval as Request>::METHOD;
pub(crate) const FILE_CHANGE_APPROVAL: &str = <server_request::ItemFileChangeRequestApproval as Request>::METHOD;
pub(crate) const PERMISSIONS_APPROVAL: &str = <server_request::ItemPermissionsRequestApproval as Request>::METHOD;
pub(crate) const MCP_ELICITATION: &str = <server_request::McpServerElicitationRequest as Request>::METHOD;
pub(crate) const EXEC_COMMAND_APPROVAL: &str = <server_request::ExecCommandApproval as Request>::METHOD;
pub(crate) const APPLY_PATCH_APPROVAL: &str = <server_request::ApplyPatchApproval as Request>::METHOD;
