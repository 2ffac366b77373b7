//! When a refused request is worth sending again, and after how long. Real clouds
//! answer 429 (rate limit) and 503 (an API worker busy or restarting) to any call, and
//! 409 to a delete whose resource is still being released (a port Nova has not yet
//! unbound, a subnet whose router interface is going away): each goes after a pause
//! instead of failing the teardown on its first try.

use std::time::Duration;

use reqwest::{Method, StatusCode};

/// Exponential backoff: `base`, doubled each attempt, at most `cap`, `attempts` tries
/// in all; a `Retry-After` the cloud sends is honoured up to `max_retry_after`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
    pub max_retry_after: Duration,
}

/// Six tries over about 15 s (0.5 + 1 + 2 + 4 + 8).
pub const POLICY: Retry = Retry {
    attempts: 6,
    base: Duration::from_millis(500),
    cap: Duration::from_secs(8),
    max_retry_after: Duration::from_secs(30),
};

/// Is `status` to `method` worth another try? 429 and 503 say the request was not
/// done, whatever its method. 409 is retried on DELETE and PUT only: on a POST it is a
/// quota or a state the caller must see (Neutron's OverQuota is a 409). 502 and 504 (a
/// gateway lost the answer) only on methods safe to repeat.
pub fn retryable(method: &Method, status: StatusCode) -> bool {
    let idempotent = matches!(
        *method,
        Method::GET | Method::DELETE | Method::PUT | Method::HEAD
    );
    match status.as_u16() {
        429 | 503 => true,
        409 => matches!(*method, Method::DELETE | Method::PUT),
        502 | 504 => idempotent,
        _ => false,
    }
}

impl Retry {
    /// The pause before trying again after the `attempt`-th try (1-based) was refused
    /// with `status`; `None`: give up and report the error.
    pub fn delay(
        &self,
        method: &Method,
        status: StatusCode,
        attempt: u32,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if attempt >= self.attempts || !retryable(method, status) {
            return None;
        }
        let backoff = self
            .base
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(self.cap);
        Some(match retry_after {
            Some(r) => r.min(self.max_retry_after).max(backoff),
            None => backoff,
        })
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare on these APIs and ignored).
pub fn retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_answers_are_tried_again() {
        let s = |n| StatusCode::from_u16(n).unwrap();
        assert!(retryable(&Method::POST, s(429)));
        assert!(retryable(&Method::POST, s(503)));
        assert!(!retryable(&Method::POST, s(409)), "a quota is not retried");
        assert!(retryable(&Method::DELETE, s(409)));
        assert!(retryable(&Method::PUT, s(409)));
        assert!(retryable(&Method::GET, s(502)));
        assert!(!retryable(&Method::POST, s(504)));
        assert!(!retryable(&Method::DELETE, s(404)));
        assert!(!retryable(&Method::GET, s(500)));
        assert!(!retryable(&Method::GET, s(403)));
    }

    #[test]
    fn backoff_doubles_to_its_cap_and_stops() {
        let d = |attempt, ra| POLICY.delay(&Method::DELETE, StatusCode::CONFLICT, attempt, ra);
        let ms = |m| Some(Duration::from_millis(m));
        assert_eq!(
            (1..=6).map(|a| d(a, None)).collect::<Vec<_>>(),
            vec![ms(500), ms(1000), ms(2000), ms(4000), ms(8000), None]
        );
        // Retry-After is honoured, bounded, and never shortens the backoff.
        assert_eq!(d(1, Some(Duration::from_secs(3))), ms(3000));
        assert_eq!(d(1, Some(Duration::from_secs(300))), ms(30_000));
        assert_eq!(d(4, Some(Duration::from_secs(1))), ms(4000));
        assert_eq!(
            POLICY.delay(&Method::POST, StatusCode::CONFLICT, 1, None),
            None
        );
        assert_eq!(retry_after(Some(" 7 ")), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    }
}
