//! Per-integration-key rate limits: a token bucket per key, so a storm on one
//! key is refused with `429` and `Retry-After` while every other key goes on.
//! Every event spends a token: a request carrying n alerts takes n, all or
//! none (Alertmanager retries a whole request). Limits are per node; a
//! cluster admits up to nodes × the limit.

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

    /// Takes `n` tokens for `key` (one per event), or none and says why.
    pub fn take(&self, key: &str, n: u32) -> Result<(), Refused> {
        self.take_at(key, n, Instant::now())
    }

    /// Whether `key` has a token left, taking none: a cheap refusal before
    /// a request's body is read.
    pub fn ready(&self, key: &str) -> Result<(), Refused> {
        self.take_at(key, 0, Instant::now())
    }

    fn take_at(&self, key: &str, n: u32, now: Instant) -> Result<(), Refused> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let n = f64::from(n);
        if n > self.burst {
            return Err(Refused::Never {
                burst: self.burst as u32,
            });
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
        let needed = n.max(1.0);
        if *tokens >= needed {
            *tokens -= n;
            Ok(())
        } else {
            Err(Refused::Wait(Duration::from_secs_f64(
                (needed - *tokens) / self.per_second,
            )))
        }
    }
}

/// Why a key's request is refused.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Refused {
    /// Not enough tokens now: retry after this long (`429`, `Retry-After`).
    Wait(Duration),
    /// More events than the bucket holds: no wait is long enough (`413`).
    Never { burst: u32 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storm_on_one_key_leaves_the_others_alone() {
        let rl = RateLimiter::new(10, 5);
        let t = Instant::now();
        for _ in 0..5 {
            assert!(rl.take_at("a", 1, t).is_ok());
        }
        let Err(Refused::Wait(wait)) = rl.take_at("a", 1, t) else {
            panic!("the sixth event at once is refused");
        };
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        assert!(rl.take_at("b", 1, t).is_ok());
        // Tokens come back at the sustained rate.
        assert!(rl.take_at("a", 1, t + Duration::from_millis(100)).is_ok());
        assert!(rl.take_at("a", 1, t + Duration::from_millis(100)).is_err());
    }

    #[test]
    fn a_request_spends_a_token_per_event_all_or_none() {
        let rl = RateLimiter::new(10, 100);
        let t = Instant::now();
        assert_eq!(rl.take_at("a", 60, t), Ok(()));
        // 40 left: 60 more wait for 20 tokens (2 s at 10/s), and take nothing.
        assert_eq!(
            rl.take_at("a", 60, t),
            Err(Refused::Wait(Duration::from_secs(2)))
        );
        assert_eq!(rl.take_at("a", 0, t), Ok(()), "tokens are left");
        assert_eq!(rl.take_at("a", 40, t), Ok(()));
        assert!(matches!(rl.take_at("a", 0, t), Err(Refused::Wait(_))));
    }

    #[test]
    fn more_events_than_the_bucket_holds_never_pass() {
        let rl = RateLimiter::new(10, 100);
        let t = Instant::now();
        assert_eq!(rl.take_at("a", 101, t), Err(Refused::Never { burst: 100 }));
        assert_eq!(rl.take_at("a", 100, t), Ok(()));
    }

    #[test]
    fn zero_disables_the_limit() {
        let rl = RateLimiter::new(0, 0);
        for _ in 0..1000 {
            assert!(rl.take("k", 5000).is_ok());
        }
    }
}
