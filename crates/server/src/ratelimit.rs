//! Per-integration-key rate limits: a token bucket per key, so a storm on one
//! key is refused with `429` and `Retry-After` while every other key goes on.
//! Limits are per node; a cluster admits up to nodes × the limit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// `per_second` sustained, up to `burst` at once. Zero disables limiting.
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_second: per_second.into(),
            burst: burst.max(1).into(),
            buckets: Mutex::default(),
        }
    }

    /// Takes one token for `key`, or says how long until one is free.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            // Keys are checked against the configuration before this point, so this
            // only trims buckets of keys long idle (full again anyway).
            buckets.retain(|_, (_, last)| now.duration_since(*last) < Duration::from_secs(60));
        }
        let (tokens, last) = buckets.entry(key.to_owned()).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storm_on_one_key_leaves_the_others_alone() {
        let rl = RateLimiter::new(10, 5);
        let t = Instant::now();
        for _ in 0..5 {
            assert!(rl.check_at("a", t).is_ok());
        }
        let wait = rl.check_at("a", t).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        assert!(rl.check_at("b", t).is_ok());
        // Tokens come back at the sustained rate.
        assert!(rl.check_at("a", t + Duration::from_millis(100)).is_ok());
        assert!(rl.check_at("a", t + Duration::from_millis(100)).is_err());
    }

    #[test]
    fn zero_disables_the_limit() {
        let rl = RateLimiter::new(0, 0);
        for _ in 0..1000 {
            assert!(rl.check("k").is_ok());
        }
    }
}
