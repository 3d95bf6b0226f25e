//! Retrying calls the server rejected as overloaded.
//!
//! Codex answers `-32001` ("Server overloaded; retry later.") when its request ingress is
//! full; such a request was not processed, so sending it again is safe. Every
//! [`Connection`](super::Connection) request does this by itself with the
//! [`ConnectionOptions::overload_retry`](crate::rpc::ConnectionOptions::overload_retry) policy
//! ([`retry_overloaded`]); [`retry_on_overload`] is the same backoff for callers that turned
//! the automatic retry off, or that want to retry a whole operation.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::error::{Error, Result};

/// Exponential backoff with jitter for retrying overloaded calls: the automatic retry of
/// every request ([`ConnectionOptions::overload_retry`](crate::rpc::ConnectionOptions::overload_retry)) and
/// [`retry_on_overload`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Total attempts including the first (default 3).
    pub max_attempts: u32,
    /// Delay before the first retry (default 250 ms); doubles on each retry.
    pub initial_delay: Duration,
    /// Upper bound of any delay (default 2 s).
    pub max_delay: Duration,
    /// Relative jitter applied to each delay, e.g. `0.2` = ±20 % (default).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(2),
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// Sets the total number of attempts (at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the initial and maximum delays.
    pub fn with_delays(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_delay = initial;
        self.max_delay = max;
        self
    }

    /// Sets the relative jitter (clamped to `0.0..=1.0`).
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter.clamp(0.0, 1.0);
        self
    }

    /// The delay before retry number `retry` (0-based), without jitter:
    /// `min(max_delay, initial_delay * 2^retry)`.
    pub fn base_delay(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        self.initial_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// [`base_delay`](Self::base_delay) with jitter applied, still capped at `max_delay`.
    pub fn delay(&self, retry: u32) -> Duration {
        let base = self.base_delay(retry);
        let jitter = self.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 {
            return base;
        }
        let unit = random_unit() * 2.0 - 1.0; // [-1, 1)
        base.mul_f64((1.0 + unit * jitter).max(0.0)).min(self.max_delay)
    }
}

/// A uniform value in `[0, 1)` from std's randomly seeded hasher (no RNG dependency).
fn random_unit() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x9e37_79b9_7f4a_7c15);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Runs `op`, retrying with exponential backoff while it fails with Codex's overload
/// rejection (`-32001`, bare or with a `server_overloaded` marker: a request the server
/// did not process) — the same test the automatic retry uses. Any other error, or the last
/// attempt's error, is returned as is.
///
/// Requests already retry by themselves (see
/// [`ConnectionOptions::overload_retry`](crate::rpc::ConnectionOptions::overload_retry)); use this when that
/// is turned off, or to retry an operation made of several calls.
pub async fn retry_on_overload<T, F, Fut>(policy: RetryPolicy, op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    backoff(&policy, "", op, rejected_as_overloaded, tokio::time::sleep).await.0
}

/// The one test both retries use: [`Error::is_overloaded`], Codex's overload rejection of a
/// request it did not process (so resending it cannot do anything twice).
fn rejected_as_overloaded(error: &Error) -> bool {
    error.is_overloaded()
}

/// The automatic retry of one request: runs `op` up to `policy.max_attempts` times while it
/// fails with Codex's overload rejection, waiting with `wait(`[`RetryPolicy::delay`]`)`
/// between attempts (the connection's wait also ends when it closes) and logging a warning
/// for each retry. When every attempt was overloaded, the result is
/// [`Error::RetryLimitExceeded`] carrying the last [`RpcError`](crate::RpcError); any other
/// error (or success) ends the loop at once and is returned as is.
pub(crate) async fn retry_overloaded<T, F, Fut, W, WaitFut>(
    policy: &RetryPolicy,
    method: &str,
    op: F,
    wait: W,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
    W: FnMut(Duration) -> WaitFut,
    WaitFut: Future<Output = ()>,
{
    match backoff(policy, method, op, rejected_as_overloaded, wait).await {
        (Err(Error::Rpc(last)), attempts) if last.is_overloaded() => {
            tracing::warn!(method, attempts, code = last.code.code(), "server still overloaded; giving up");
            Err(Error::RetryLimitExceeded { method: method.to_owned(), attempts, last })
        }
        (other, _) => other,
    }
}

/// The loop of both retries: runs `op` while it fails with an error `retryable` accepts and
/// attempts remain, waiting `wait(delay)` in between. Returns the last outcome and the
/// number of attempts made.
async fn backoff<T, F, Fut, W, WaitFut>(
    policy: &RetryPolicy,
    method: &str,
    mut op: F,
    retryable: impl Fn(&Error) -> bool,
    mut wait: W,
) -> (Result<T>, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
    W: FnMut(Duration) -> WaitFut,
    WaitFut: Future<Output = ()>,
{
    let attempts = policy.max_attempts.max(1);
    let mut attempt = 1;
    loop {
        let outcome = op().await;
        match &outcome {
            Err(e) if retryable(e) && attempt < attempts => {
                let delay = policy.delay(attempt - 1);
                tracing::warn!(method, attempt, max_attempts = attempts, ?delay, error = %e, "server overloaded; retrying");
                wait(delay).await;
                attempt += 1;
            }
            _ => return (outcome, attempt),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RpcError;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn delays() {
        let p = RetryPolicy::default().with_jitter(0.0);
        assert_eq!(p.delay(0), Duration::from_millis(250));
        assert_eq!(p.delay(1), Duration::from_millis(500));
        assert_eq!(p.delay(3), Duration::from_secs(2));
        assert_eq!(p.delay(40), Duration::from_secs(2));
        let p = RetryPolicy::default();
        for _ in 0..100 {
            let d = p.delay(0);
            assert!(d >= Duration::from_millis(200) && d <= Duration::from_millis(300), "{d:?}");
        }
    }

    async fn attempts_until(error: RpcError, policy: RetryPolicy) -> (u32, Result<()>) {
        let attempts = AtomicU32::new(0);
        let result = retry_overloaded(
            &policy,
            "m/x",
            || {
                attempts.fetch_add(1, Ordering::SeqCst);
                let e = error.clone();
                async move { Err::<(), _>(Error::Rpc(e)) }
            },
            tokio::time::sleep,
        )
        .await;
        (attempts.load(Ordering::SeqCst), result)
    }

    #[tokio::test(start_paused = true)]
    async fn automatic_retry_ends_in_retry_limit_exceeded() {
        let policy = RetryPolicy::default().with_jitter(0.0);
        let busy = RpcError::new(-32001, "Server overloaded; retry later.");
        let start = tokio::time::Instant::now();
        let (n, result) = attempts_until(busy.clone(), policy.with_max_attempts(4)).await;
        assert_eq!(n, 4);
        // 250 + 500 + 1000 ms of backoff, and no wait after the last attempt.
        assert_eq!(start.elapsed(), Duration::from_millis(1750));
        let err = result.unwrap_err();
        match &err {
            Error::RetryLimitExceeded { method, attempts, last } => {
                assert_eq!((method.as_str(), *attempts, last), ("m/x", 4, &busy));
            }
            other => panic!("{other:?}"),
        }
        assert!(err.is_retry_limit_exceeded() && !err.is_overloaded());
        assert_eq!(err.rpc_error(), Some(&busy));
        let text = err.to_string();
        assert!(text.contains("m/x") && text.contains("after 4 attempt") && text.contains("retry later"), "{text}");

        // One attempt allowed: no retry, still the exhausted error.
        let (n, result) = attempts_until(busy, policy.with_max_attempts(1)).await;
        assert_eq!(n, 1);
        assert!(matches!(result, Err(Error::RetryLimitExceeded { attempts: 1, .. })));

        // Anything that is not Codex's overload rejection is returned at once, untouched:
        // another server-range code carrying the overload marker included (nothing says
        // that request was not processed).
        let marked = serde_json::json!({"codex_error_info": "server_overloaded"});
        let samples = [-32600, -32601, -32603, -32000]
            .map(|code| RpcError::new(code, "no"))
            .into_iter()
            .chain([RpcError::new(-32000, "busy").with_data(marked.clone())]);
        for error in samples {
            let code = error.code.code();
            let (n, result) = attempts_until(error, policy).await;
            assert_eq!(n, 1, "code {code}");
            assert_eq!(result.unwrap_err().rpc_error().map(|e| e.code.code()), Some(code));
        }
        let attempts = AtomicU32::new(0);
        let result: Result<()> = retry_overloaded(
            &policy,
            "m/x",
            || {
                attempts.fetch_add(1, Ordering::SeqCst);
                async { Err(Error::Timeout { method: "m/x".into(), after: Duration::from_secs(1) }) }
            },
            tokio::time::sleep,
        )
        .await;
        assert!(matches!(result, Err(Error::Timeout { .. })));
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }
}
