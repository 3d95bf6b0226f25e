//! Retrying calls the server rejected as overloaded.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::error::Result;

/// Exponential backoff for [`retry_on_overload`].
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
        self.initial_delay
            .saturating_mul(factor)
            .min(self.max_delay)
    }

    /// [`base_delay`](Self::base_delay) with jitter applied, still capped at `max_delay`.
    pub fn delay(&self, retry: u32) -> Duration {
        let base = self.base_delay(retry);
        let jitter = self.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 {
            return base;
        }
        let unit = random_unit() * 2.0 - 1.0; // [-1, 1)
        base.mul_f64((1.0 + unit * jitter).max(0.0))
            .min(self.max_delay)
    }
}

/// A uniform value in `[0, 1)` from std's randomly seeded hasher (no RNG dependency).
fn random_unit() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x9e37_79b9_7f4a_7c15);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Runs `op`, retrying with exponential backoff while it fails with an overload error
/// ([`Error::is_overloaded`](crate::Error::is_overloaded): a server-range code with a
/// `server_overloaded` marker in `data`, or a bare `-32001`). Any other error, or the last
/// attempt's error, is returned as is.
pub async fn retry_on_overload<T, F, Fut>(policy: RetryPolicy, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let attempts = policy.max_attempts.max(1);
    let mut retry = 0;
    loop {
        match op().await {
            Err(e) if e.is_overloaded() && retry + 1 < attempts => {
                let delay = policy.delay(retry);
                tracing::debug!(attempt = retry + 1, ?delay, error = %e, "server overloaded; retrying");
                tokio::time::sleep(delay).await;
                retry += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert!(
                d >= Duration::from_millis(200) && d <= Duration::from_millis(300),
                "{d:?}"
            );
        }
    }
}
