//! Blocking ChatGPT sign-in handles: [`ChatgptLogin`] and [`DeviceCodeLogin`].

use super::runtime::Runtime;
use crate::login::LoginOutcome;
use crate::types::CancelLoginAccountStatus;
use crate::Result;
use std::sync::Arc;
use std::time::Duration;

/// A pending ChatGPT browser sign-in; the blocking twin of [`crate::login::ChatgptLogin`]. Cheap
/// to clone: [`wait`](Self::wait) on one thread and [`cancel`](Self::cancel) on another.
///
/// ```no_run
/// # fn demo(codex: codex_driver::blocking::Codex) -> codex_driver::Result<()> {
/// use std::time::Duration;
///
/// let login = codex.login_chatgpt()?;
/// println!("Open {} to sign in", login.auth_url());
/// match login.wait_timeout(Duration::from_secs(300))? {
///     Some(outcome) => println!("{outcome:?}"),
///     None => {
///         login.cancel()?;
///         println!("{:?}", login.wait()?); // Cancelled { .. }
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ChatgptLogin {
    inner: crate::login::ChatgptLogin,
    rt: Arc<Runtime>,
}

impl ChatgptLogin {
    pub(crate) fn new(inner: crate::login::ChatgptLogin, rt: Arc<Runtime>) -> Self {
        Self { inner, rt }
    }

    /// The login id.
    pub fn login_id(&self) -> &str {
        self.inner.login_id()
    }

    /// The URL the user opens in a browser (on this machine) to sign in.
    pub fn auth_url(&self) -> &str {
        self.inner.auth_url()
    }

    /// Waits for the login's outcome (success, failure, or the cancellation); the same
    /// outcome on every call once known. Unbounded: see [`wait_timeout`](Self::wait_timeout).
    pub fn wait(&self) -> Result<LoginOutcome> {
        self.rt.block_on("ChatgptLogin::wait", self.inner.wait())
    }

    /// [`wait`](Self::wait) for at most `timeout`: `Ok(None)` when it is still pending.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<Option<LoginOutcome>> {
        self.rt.block_on("ChatgptLogin::wait_timeout", async {
            tokio::time::timeout(timeout, self.inner.wait()).await.ok().transpose()
        })
    }

    /// The outcome, if a [`wait`](Self::wait) already received it.
    pub fn outcome(&self) -> Option<LoginOutcome> {
        self.inner.outcome()
    }

    /// Cancels the login (`account/login/cancel`); see [`crate::login::ChatgptLogin::cancel`].
    pub fn cancel(&self) -> Result<CancelLoginAccountStatus> {
        self.rt.block_on("ChatgptLogin::cancel", self.inner.cancel())
    }
}

/// A pending ChatGPT device-code sign-in; the blocking twin of [`crate::login::DeviceCodeLogin`].
/// The user opens [`verification_url`](Self::verification_url) on any device and enters
/// [`user_code`](Self::user_code). Cheap to clone.
#[derive(Debug, Clone)]
pub struct DeviceCodeLogin {
    inner: crate::login::DeviceCodeLogin,
    rt: Arc<Runtime>,
}

impl DeviceCodeLogin {
    pub(crate) fn new(inner: crate::login::DeviceCodeLogin, rt: Arc<Runtime>) -> Self {
        Self { inner, rt }
    }

    /// The login id.
    pub fn login_id(&self) -> &str {
        self.inner.login_id()
    }

    /// The URL where the user enters the code.
    pub fn verification_url(&self) -> &str {
        self.inner.verification_url()
    }

    /// The one-time code the user enters.
    pub fn user_code(&self) -> &str {
        self.inner.user_code()
    }

    /// See [`ChatgptLogin::wait`]. The server gives up after 15 minutes.
    pub fn wait(&self) -> Result<LoginOutcome> {
        self.rt.block_on("DeviceCodeLogin::wait", self.inner.wait())
    }

    /// See [`ChatgptLogin::wait_timeout`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<Option<LoginOutcome>> {
        self.rt.block_on("DeviceCodeLogin::wait_timeout", async {
            tokio::time::timeout(timeout, self.inner.wait()).await.ok().transpose()
        })
    }

    /// See [`ChatgptLogin::outcome`].
    pub fn outcome(&self) -> Option<LoginOutcome> {
        self.inner.outcome()
    }

    /// See [`ChatgptLogin::cancel`].
    pub fn cancel(&self) -> Result<CancelLoginAccountStatus> {
        self.rt.block_on("DeviceCodeLogin::cancel", self.inner.cancel())
    }
}
