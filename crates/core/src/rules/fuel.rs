//! A budget for one evaluation. cel-rust has no fuel of its own, so every
//! comprehension is given a tick at compile time (`__tick__(x)` is `x`,
//! having spent one step; see [`add_ticks`]) and the ticks draw on a budget
//! held by the thread that evaluates. When it runs out, or when the caller
//! raises its stop flag (a wall-clock limit kept by the shell), the next
//! tick fails and the evaluation ends with that error at once.
//!
//! Only comprehensions loop; everything else in CEL is linear in the
//! expression and its input, which the shell caps in size. The budget is
//! thread-local because an interpreter function receives its arguments and
//! nothing else; an evaluation never leaves the thread it started on.

use super::ast::call_expr;
use cel::common::ast::{Expr, operators};
use cel::common::value::CowVal;
use cel::{ExecutionError, IdedExpr};
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The function a tick calls; registered by `rules/expr.rs`.
pub(super) const TICK_FN: &str = "__tick__";

/// What one evaluation may spend: `steps` iterations of comprehensions in
/// all, and, when `stop` is set, no further once it is raised.
#[derive(Clone, Debug)]
pub struct Limits {
    pub steps: u64,
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for Limits {
    /// [`super::cost::MAX_COST`] steps (see `rules/cost.rs` for why that
    /// never stops an expression within budget whose lists are no longer
    /// than assumed), no stop flag.
    fn default() -> Self {
        Limits {
            steps: super::cost::MAX_COST,
            stop: None,
        }
    }
}

/// Why an evaluation was cut short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// It used every step of its budget.
    OutOfSteps(u64),
    /// The caller raised the stop flag (its time ran out).
    Asked,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stopped::OutOfSteps(steps) => write!(
                f,
                "stopped after {steps} iterations of all/exists/map/filter, its budget: \
                 the lists it reads are longer than it can afford"
            ),
            Stopped::Asked => f.write_str("stopped: it ran out of time"),
        }
    }
}

struct Tank {
    left: Cell<u64>,
    budget: u64,
    stop: Option<Arc<AtomicBool>>,
    stopped: Cell<Option<Stopped>>,
}

thread_local! {
    static TANK: RefCell<Option<Tank>> = const { RefCell::new(None) };
}

/// Runs `f` (one evaluation) with `limits`; tells, with its result, whether
/// a tick stopped it. Nested calls keep the outer budget.
pub(super) fn run<R>(limits: &Limits, f: impl FnOnce() -> R) -> (R, Option<Stopped>) {
    let nested = TANK.with(|t| t.borrow().is_some());
    if nested {
        return (f(), None);
    }
    TANK.with(|t| {
        *t.borrow_mut() = Some(Tank {
            left: Cell::new(limits.steps),
            budget: limits.steps,
            stop: limits.stop.clone(),
            stopped: Cell::new(None),
        })
    });
    // emptied even if `f` panics, so the thread's next evaluation starts afresh
    struct Drain;
    impl Drop for Drain {
        fn drop(&mut self) {
            TANK.with(|t| t.borrow_mut().take());
        }
    }
    let drain = Drain;
    let result = f();
    let stopped = TANK.with(|t| t.borrow().as_ref().and_then(|t| t.stopped.get()));
    drop(drain);
    (result, stopped)
}

/// `__tick__(x)`: `x`, or an error once the budget is spent or the stop flag
/// is raised. Without a budget (outside [`run`]) it only passes `x` on.
pub(super) fn tick<'b, 'v>(
    mut args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let stopped = TANK.with(|t| {
        let t = t.borrow();
        let t = t.as_ref()?;
        if let Some(stopped) = t.stopped.get() {
            return Some(stopped);
        }
        let stopped = if t.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
            Some(Stopped::Asked)
        } else if t.left.get() == 0 {
            Some(Stopped::OutOfSteps(t.budget))
        } else {
            t.left.set(t.left.get() - 1);
            None
        };
        t.stopped.set(stopped);
        stopped
    });
    if let Some(stopped) = stopped {
        return Err(ExecutionError::function_error(TICK_FN, stopped));
    }
    args.pop()
        .ok_or_else(|| ExecutionError::invalid_argument_count(1, 0))
}

/// Gives every comprehension in `expr` a tick per iteration, where the
/// interpreter evaluates it on every element and without losing its fast
/// paths: in the condition that `all`/`exists`/`exists_one` check before each
/// element; for `map`/`filter` (whose condition the interpreter needs to be a
/// literal to build the result in place), around the filter or the mapped
/// value.
pub(super) fn add_ticks(expr: &mut IdedExpr) {
    for child in super::ast::children(expr) {
        add_ticks(child);
    }
    let Expr::Comprehension(c) = &mut expr.expr else {
        return;
    };
    let id = c.loop_cond.id;
    let accu = c.accu_var.as_str();
    let is_accu = |e: &IdedExpr| matches!(&e.expr, Expr::Ident(n) if n == accu);
    let appends = |e: &IdedExpr| match &e.expr {
        Expr::Call(call) => {
            call.func_name == operators::ADD
                && call.target.is_none()
                && call.args.len() == 2
                && is_accu(&call.args[0])
                && matches!(&call.args[1].expr, Expr::List(l) if l.elements.len() == 1)
        }
        _ => false,
    };
    let in_place = is_accu(&c.result) && matches!(c.loop_cond.expr, Expr::Literal(_));
    let shape = match &c.loop_step.expr {
        _ if !in_place => Shape::Other,
        Expr::Call(call)
            if call.func_name == operators::CONDITIONAL
                && call.target.is_none()
                && call.args.len() == 3
                && appends(&call.args[1])
                && is_accu(&call.args[2]) =>
        {
            Shape::Filter
        }
        _ if appends(&c.loop_step) => Shape::Map,
        _ => Shape::Other,
    };
    let place = match (shape, &mut c.loop_step.expr) {
        (Shape::Filter, Expr::Call(call)) => &mut call.args[0],
        (Shape::Map, Expr::Call(call)) => match &mut call.args[1].expr {
            Expr::List(list) => &mut list.elements[0],
            _ => &mut c.loop_cond,
        },
        _ => &mut c.loop_cond,
    };
    let inner = std::mem::take(place);
    *place = call_expr(id, TICK_FN, None, vec![inner]);
}

/// Where a comprehension's tick goes.
#[derive(Clone, Copy)]
enum Shape {
    /// `cond ? accu + [x] : accu`: around `cond`.
    Filter,
    /// `accu + [x]`: around `x`.
    Map,
    /// Anything else: around the loop condition.
    Other,
}

#[cfg(test)]
mod tests {
    use super::super::{Limits, RuleSpec, compile, compile_expression};
    use serde_json::{Value, json};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn rule(id: &str, when: &str) -> RuleSpec {
        serde_json::from_value(json!({"id": id, "when": when, "then": {"priority": "P2"}}))
            .expect("valid rule")
    }

    fn now() -> jiff::Timestamp {
        "2026-03-01T12:00:05Z".parse().expect("valid timestamp")
    }

    fn limits(steps: u64) -> Limits {
        Limits { steps, stop: None }
    }

    #[test]
    fn a_rule_whose_lists_are_longer_than_its_steps_is_stopped_recorded_and_not_matched() {
        let rules = compile(&[
            rule("scan", "event.xs.exists(x, x == 999)"),
            rule("plain", "event.severity == \"critical\""),
        ])
        .expect("compiles");
        let xs: Vec<u32> = (0..1000).collect();
        let event = json!({"xs": xs, "severity": "critical"});
        let d = rules.evaluate_with(&event, &json!({}), now(), &limits(100));
        assert_eq!(d.matched.len(), 1, "{d:?}");
        assert_eq!(d.matched[0].rule, "plain");
        assert_eq!(d.errors.len(), 1, "{d:?}");
        assert_eq!(d.errors[0].0, "scan");
        assert!(
            d.errors[0].1.starts_with("stopped after 100 iterations"),
            "{}",
            d.errors[0].1
        );
        // with enough steps it matches
        let d = rules.evaluate_with(&event, &json!({}), now(), &limits(1000));
        assert_eq!(d.matched.len(), 2, "{d:?}");
    }

    #[test]
    fn each_rule_has_its_own_steps() {
        let rules = compile(&[
            rule("a", "event.xs.exists(x, x == 59)"),
            rule("b", "event.xs.exists(x, x == 59)"),
        ])
        .expect("compiles");
        let xs: Vec<u32> = (0..60).collect();
        let d = rules.evaluate_with(&json!({"xs": xs}), &json!({}), now(), &limits(60));
        assert_eq!(d.matched.len(), 2, "{d:?}");
    }

    #[test]
    fn a_raised_stop_flag_stops_a_running_rule_and_the_others_still_run() {
        // within the cost budget (lists of 100 assumed), quadratic on a long list
        let rules = compile(&[
            rule("quadratic", "event.xs.exists(a, a + 1.0 in event.xs)"),
            rule("plain", "event.severity == \"critical\""),
        ])
        .expect("compiles");
        let xs = vec![0; 20_000];
        let event = json!({"xs": xs, "severity": "critical"});
        let stop = Arc::new(AtomicBool::new(false));
        let unlimited = Limits {
            steps: u64::MAX,
            stop: Some(stop.clone()),
        };
        // Hours of work without the flag; whenever the flag goes up (before
        // the rule starts or while it runs) it ends at its next element.
        let d = std::thread::scope(|s| {
            let worker = s.spawn(|| rules.evaluate_with(&event, &json!({}), now(), &unlimited));
            stop.store(true, Ordering::Relaxed);
            worker.join().expect("no panic")
        });
        assert_eq!(d.errors.len(), 1, "{d:?}");
        assert_eq!(
            d.errors[0],
            (
                "quadratic".to_owned(),
                "stopped: it ran out of time".to_owned()
            )
        );
        assert_eq!(d.matched.len(), 1);
        assert_eq!(d.matched[0].rule, "plain");
    }

    #[test]
    fn ticks_change_no_result() {
        let e = json!({"xs": [1, 2, 3], "m": {"a": 1, "b": 2}, "mixed": [1, "two"]});
        for (expr, expected) in [
            ("event.xs.all(x, x > 0)", Some(true)),
            ("event.xs.exists(x, x > 2)", Some(true)),
            ("event.xs.map(x, x * 2) == [2.0, 4.0, 6.0]", Some(true)),
            ("event.xs.map(x, x > 1, x * 2) == [4.0, 6.0]", Some(true)),
            ("event.xs.filter(x, x > 1) == [2.0, 3.0]", Some(true)),
            ("event.m.all(k, k in [\"a\", \"b\"])", Some(true)),
            ("[].exists(x, x)", Some(false)),
            // an error beside a decisive element is absorbed, as in CEL
            ("event.mixed.exists(x, x > 0)", Some(true)),
            ("event.xs.all(a, event.xs.exists(b, a == b))", Some(true)),
        ] {
            let compiled = compile_expression(expr).expect("compiles");
            assert_eq!(compiled.eval_bool(&[("event", &e)]), Ok(expected), "{expr}");
        }
    }

    #[test]
    fn a_mapping_within_limits_is_stopped_too() {
        let e = compile_expression("body.xs.filter(x, x > 0).size() > 0 ? \"a\" : \"b\"")
            .expect("compiles");
        let xs: Vec<Value> = (0..50).map(|i| json!(i)).collect();
        let body = json!({"xs": xs});
        let err = e
            .eval_string_with(&[("body", &body)], &limits(10))
            .expect_err("stopped");
        assert!(err.starts_with("stopped after 10 iterations"), "{err}");
        assert_eq!(e.eval_string(&[("body", &body)]), Ok(Some("a".into())));
    }
}
