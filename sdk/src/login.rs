//! ChatGPT sign-in flows: the browser (OAuth) flow and the device-code flow, each as a
//! handle that exposes what the user must open and resolves when the server reports the
//! outcome (`account/login/completed` for that login id).
//!
//! ```no_run
//! # async fn demo(codex: codex_driver::Codex) -> codex_driver::Result<()> {
//! let login = codex.login_chatgpt().await?;
//! println!("Open {} to sign in", login.auth_url());
//! match tokio::time::timeout(std::time::Duration::from_secs(300), login.wait()).await {
//!     Ok(outcome) => println!("{:?}", outcome?),
//!     Err(_) => {
//!         login.cancel().await?;
//!         println!("{:?}", login.wait().await?); // Cancelled { .. }
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Server behaviour (Codex 0.169.0): the browser flow serves its OAuth callback on
//! `127.0.0.1:1455` (one per machine: starting a login while another app-server process has
//! one pending cancels that one, whose handle then resolves `Failed` with "Login cancelled").
//! Cancelling resolves the handle with the server's message ("Login was not completed").
//! The device-code flow asks the auth server for a code before answering, so it fails
//! with a JSON-RPC error when that server is unreachable or does not offer device codes.
//! Nothing here logs URLs, codes or tokens.

use crate::error::{Error, Result};
use crate::methods::client_requests;
use crate::rpc::{Connection, EventFilter, EventStream};
use crate::types::{
    AccountLoginCompletedNotification, CancelLoginAccountParams, CancelLoginAccountStatus,
    ChatgptDeviceCodeLoginAccountParams, ChatgptLoginAccountParams, LoginAccountParams, LoginAccountResponse,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const COMPLETED: &str = crate::method_names::ACCOUNT_LOGIN_COMPLETED;

/// How a login ended, as `account/login/completed` reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginOutcome {
    /// Signed in; the credentials are stored in `CODEX_HOME`.
    Succeeded,
    /// Ended after [`cancel`](ChatgptLogin::cancel) on this handle; `message` is the server's.
    Cancelled {
        /// The server's error message (e.g. "Login was not completed").
        message: String,
    },
    /// Ended without success for another reason (denied, expired, replaced by another
    /// login, token exchange failed, …).
    Failed {
        /// The server's error message.
        message: String,
    },
}

impl LoginOutcome {
    /// Whether the login succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self, LoginOutcome::Succeeded)
    }

    /// The server's error message, unless it succeeded.
    pub fn error_message(&self) -> Option<&str> {
        match self {
            LoginOutcome::Succeeded => None,
            LoginOutcome::Cancelled { message } | LoginOutcome::Failed { message } => Some(message),
        }
    }
}

/// The shared part of both login handles: waits for this login's completion and cancels it.
#[derive(Debug)]
struct Waiter {
    conn: Connection,
    login_id: String,
    events: tokio::sync::Mutex<Option<EventStream>>,
    outcome: Mutex<Option<LoginOutcome>>,
    cancelled: AtomicBool,
}

impl Waiter {
    fn new(conn: Connection, login_id: String, events: EventStream) -> Arc<Self> {
        Arc::new(Waiter {
            conn,
            login_id,
            events: tokio::sync::Mutex::new(Some(events)),
            outcome: Mutex::new(None),
            cancelled: AtomicBool::new(false),
        })
    }

    fn known(&self) -> Option<LoginOutcome> {
        self.outcome.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn wait(&self) -> Result<LoginOutcome> {
        if let Some(outcome) = self.known() {
            return Ok(outcome);
        }
        let mut guard = self.events.lock().await;
        // Another waiter may have finished while this one queued for the lock.
        if let Some(outcome) = self.known() {
            return Ok(outcome);
        }
        let Some(events) = guard.as_mut() else {
            return Err(self.closed());
        };
        loop {
            match events.next_event().await {
                Some(Ok(event)) if event.method() == COMPLETED => {
                    let done: AccountLoginCompletedNotification = event.decode()?;
                    if done.login_id.as_deref() != Some(self.login_id.as_str()) {
                        continue;
                    }
                    let message = done.error.unwrap_or_default();
                    let outcome = if done.success {
                        LoginOutcome::Succeeded
                    } else if self.cancelled.load(Ordering::Acquire) {
                        LoginOutcome::Cancelled { message }
                    } else {
                        LoginOutcome::Failed { message }
                    };
                    tracing::debug!(login_id = %self.login_id, success = done.success, "login completed");
                    *self.outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome.clone());
                    *guard = None; // stop receiving account notifications
                    return Ok(outcome);
                }
                Some(Ok(_)) => {}
                Some(Err(Error::Lagged { skipped })) => {
                    tracing::warn!(login_id = %self.login_id, skipped, "login waiter lagged; the completion may have been dropped");
                }
                Some(Err(e)) => return Err(e),
                None => return Err(self.closed()),
            }
        }
    }

    fn closed(&self) -> Error {
        self.conn.close_error().unwrap_or_else(|| Error::StreamEnded {
            what: "the login's event stream ended before `account/login/completed`".into(),
        })
    }

    async fn cancel(&self) -> Result<CancelLoginAccountStatus> {
        // Set first: the completion may race the cancel's response.
        let already = self.cancelled.swap(true, Ordering::AcqRel);
        let params = CancelLoginAccountParams { login_id: self.login_id.clone() };
        match self.conn.request::<client_requests::AccountLoginCancel>(params).await {
            Ok(response) => {
                if response.status != CancelLoginAccountStatus::Canceled && !already {
                    self.cancelled.store(false, Ordering::Release);
                }
                tracing::debug!(login_id = %self.login_id, status = %response.status, "login cancel");
                Ok(response.status)
            }
            Err(e) => {
                if !already {
                    self.cancelled.store(false, Ordering::Release);
                }
                Err(e)
            }
        }
    }
}

/// Subscribes (before the start request, so a fast completion is kept), then starts a login.
async fn start(conn: &Connection, params: LoginAccountParams) -> Result<(LoginAccountResponse, EventStream)> {
    let events = conn.subscribe(EventFilter::Unscoped);
    let response = conn.request::<client_requests::AccountLoginStart>(params).await?;
    Ok((response, events))
}

fn unexpected(response: &LoginAccountResponse, wanted: &str) -> Error {
    let got = serde_json::to_value(response)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "?".into());
    Error::Decode {
        method: crate::method_names::ACCOUNT_LOGIN_START.into(),
        source: serde::de::Error::custom(format!("expected a `{wanted}` response, got `{got}`")),
    }
}

/// A pending ChatGPT browser sign-in (`account/login/start` with `type: "chatgpt"`).
/// Cheap to clone; [`wait`](Self::wait) and [`cancel`](Self::cancel) may run concurrently.
#[derive(Debug, Clone)]
pub struct ChatgptLogin {
    auth_url: String,
    waiter: Arc<Waiter>,
}

impl ChatgptLogin {
    pub(crate) async fn start(conn: &Connection, params: ChatgptLoginAccountParams) -> Result<Self> {
        let (response, events) = start(conn, LoginAccountParams::Chatgpt(params)).await?;
        match response {
            LoginAccountResponse::Chatgpt(r) => {
                tracing::debug!(login_id = %r.login_id, kind = "chatgpt", "login started");
                Ok(ChatgptLogin { auth_url: r.auth_url, waiter: Waiter::new(conn.clone(), r.login_id, events) })
            }
            other => Err(unexpected(&other, "chatgpt")),
        }
    }

    /// The login id.
    pub fn login_id(&self) -> &str {
        &self.waiter.login_id
    }

    /// The URL the user opens in a browser to sign in. Its redirect goes to the login
    /// server the app-server runs on `127.0.0.1`, so the browser must run on the same machine.
    pub fn auth_url(&self) -> &str {
        &self.auth_url
    }

    /// Waits for `account/login/completed` for this login (success, failure, or the
    /// cancellation). Returns the same outcome on every call once it is known. Unbounded:
    /// wrap it in a timeout. A closed connection is [`Error::TransportClosed`].
    pub async fn wait(&self) -> Result<LoginOutcome> {
        self.waiter.wait().await
    }

    /// The outcome, if the completion was already received by [`wait`](Self::wait).
    pub fn outcome(&self) -> Option<LoginOutcome> {
        self.waiter.known()
    }

    /// Cancels the login (`account/login/cancel`). `Canceled` means it was pending and
    /// [`wait`](Self::wait) then resolves [`LoginOutcome::Cancelled`]; `NotFound` means it
    /// had already ended.
    pub async fn cancel(&self) -> Result<CancelLoginAccountStatus> {
        self.waiter.cancel().await
    }
}

/// A pending ChatGPT device-code sign-in (`account/login/start` with
/// `type: "chatgptDeviceCode"`): the user opens [`verification_url`](Self::verification_url)
/// on any device and enters [`user_code`](Self::user_code). Cheap to clone.
#[derive(Debug, Clone)]
pub struct DeviceCodeLogin {
    verification_url: String,
    user_code: String,
    waiter: Arc<Waiter>,
}

impl DeviceCodeLogin {
    pub(crate) async fn start(conn: &Connection) -> Result<Self> {
        let params = LoginAccountParams::ChatgptDeviceCode(ChatgptDeviceCodeLoginAccountParams(Default::default()));
        let (response, events) = start(conn, params).await?;
        match response {
            LoginAccountResponse::ChatgptDeviceCode(r) => {
                tracing::debug!(login_id = %r.login_id, kind = "chatgptDeviceCode", "login started");
                Ok(DeviceCodeLogin {
                    verification_url: r.verification_url,
                    user_code: r.user_code,
                    waiter: Waiter::new(conn.clone(), r.login_id, events),
                })
            }
            other => Err(unexpected(&other, "chatgptDeviceCode")),
        }
    }

    /// The login id.
    pub fn login_id(&self) -> &str {
        &self.waiter.login_id
    }

    /// The URL where the user enters the code.
    pub fn verification_url(&self) -> &str {
        &self.verification_url
    }

    /// The one-time code the user enters.
    pub fn user_code(&self) -> &str {
        &self.user_code
    }

    /// See [`ChatgptLogin::wait`]. The server gives up after 15 minutes.
    pub async fn wait(&self) -> Result<LoginOutcome> {
        self.waiter.wait().await
    }

    /// See [`ChatgptLogin::outcome`].
    pub fn outcome(&self) -> Option<LoginOutcome> {
        self.waiter.known()
    }

    /// See [`ChatgptLogin::cancel`].
    pub async fn cancel(&self) -> Result<CancelLoginAccountStatus> {
        self.waiter.cancel().await
    }
}
