//! Where CEL runs in the server: rules on ingest and in dry runs, generic
//! webhook mappings. An evaluation is CPU work of unknown length, so it runs
//! on tokio's blocking pool, a few at a time, and within a wall-clock limit;
//! the async workers that answer requests (`/healthz`, acknowledgements) are
//! never the ones evaluating. When the limit passes, the evaluation's stop
//! flag goes up: its comprehensions end at their next element (see
//! `escalator_core::rules::Limits`) and what it decided so far comes back,
//! the rule that was running recorded as failed.
//!
//! It never decides anything about an event: the caller does, from what
//! comes back (ingest pages as if a stopped rule had not matched).

use escalator_core::rules::Limits;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// How long an evaluation, once stopped, may take to come back (it stops at
/// its next comprehension element; the work between two is linear in the
/// event, whose size is capped). Past this its answer is given up.
const GRACE: Duration = Duration::from_secs(1);

/// A bounded set of evaluations on the blocking pool, each within `timeout`
/// (waiting for a place included). Cheap to clone: clones share the places.
#[derive(Clone, Debug)]
pub struct Evaluator {
    places: Arc<Semaphore>,
    timeout: Duration,
}

/// What an evaluation gave, and whether its time ran out.
#[derive(Debug)]
pub struct Evaluated<T> {
    /// `None` when it never started (no place within the time), did not
    /// come back within the grace after being stopped, or panicked.
    pub value: Option<T>,
    pub timed_out: bool,
}

impl Evaluator {
    /// At most `places` evaluations at once (at least one), each within `timeout`.
    pub fn new(places: usize, timeout: Duration) -> Self {
        Evaluator {
            places: Arc::new(Semaphore::new(places.max(1))),
            timeout,
        }
    }

    /// One place per core: evaluations are CPU-bound.
    pub fn per_core(timeout: Duration) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(cores, timeout)
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs `f` on the blocking pool with [`Limits`] whose stop flag goes up
    /// when the time runs out.
    pub async fn run<T, F>(&self, f: F) -> Evaluated<T>
    where
        T: Send + 'static,
        F: FnOnce(&Limits) -> T + Send + 'static,
    {
        let deadline = Instant::now() + self.timeout;
        let place =
            match tokio::time::timeout_at(deadline, self.places.clone().acquire_owned()).await {
                Ok(Ok(place)) => place,
                // the semaphore is never closed; no place in time
                _ => {
                    return Evaluated {
                        value: None,
                        timed_out: true,
                    };
                }
            };
        let stop = Arc::new(AtomicBool::new(false));
        let limits = Limits {
            stop: Some(stop.clone()),
            ..Limits::default()
        };
        let mut task = tokio::task::spawn_blocking(move || {
            // the place is held until the work ends, even after a timeout
            let _place = place;
            f(&limits)
        });
        match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(done) => Evaluated {
                value: done.ok(),
                timed_out: false,
            },
            Err(_) => {
                stop.store(true, Ordering::Relaxed);
                let value = tokio::time::timeout(GRACE, task)
                    .await
                    .ok()
                    .and_then(Result::ok);
                Evaluated {
                    value,
                    timed_out: true,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use escalator_core::rules::{RuleSpec, compile};
    use serde_json::json;
    use std::sync::Mutex;

    /// A rule within the validate budget (lists of 100 assumed) that is
    /// quadratic in the event's list: hours on 20 000 elements.
    fn slow_rules() -> escalator_core::rules::CompiledRules {
        let spec: RuleSpec = serde_json::from_value(json!({
            "id": "quadratic",
            "when": "event.xs.exists(a, a + 1.0 in event.xs)",
            "then": {"priority": "P1"}
        }))
        .expect("valid rule");
        compile(&[spec]).expect("within the budget")
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_slow_rule_runs_off_the_async_thread_and_is_stopped_when_its_time_runs_out() {
        let rules = Arc::new(slow_rules());
        let event = json!({"xs": vec![0; 20_000]});
        let order = Arc::new(Mutex::new(Vec::new()));
        let evaluator = Evaluator::new(1, Duration::from_secs(1));
        let evaluation = {
            let order = order.clone();
            async move {
                let evaluated = evaluator
                    .run(move |limits| {
                        rules.evaluate_with(&event, &json!({}), jiff::Timestamp::UNIX_EPOCH, limits)
                    })
                    .await;
                order.lock().unwrap().push("rules");
                evaluated
            }
        };
        // On this runtime's only thread: it runs while the rules do only if
        // they are evaluated elsewhere.
        let other = {
            let order = order.clone();
            async move {
                tokio::task::yield_now().await;
                order.lock().unwrap().push("other");
            }
        };
        let (evaluated, ()) = tokio::join!(evaluation, other);
        assert_eq!(*order.lock().unwrap(), ["other", "rules"]);
        assert!(evaluated.timed_out);
        let decision = evaluated.value.expect("came back once stopped");
        assert!(decision.matched.is_empty());
        assert_eq!(
            decision.errors,
            [(
                "quadratic".to_owned(),
                "stopped: it ran out of time".to_owned()
            )]
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_evaluation_waiting_for_a_place_past_its_time_gives_nothing() {
        let evaluator = Evaluator::new(1, Duration::from_secs(1));
        let held = evaluator.places.clone().acquire_owned().await.unwrap();
        let evaluated = evaluator.run(|_| 42).await;
        assert!(evaluated.timed_out);
        assert_eq!(evaluated.value, None);
        drop(held);
        let evaluated = evaluator.run(|_| 42).await;
        assert_eq!((evaluated.value, evaluated.timed_out), (Some(42), false));
    }
}
