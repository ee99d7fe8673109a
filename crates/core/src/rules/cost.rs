//! A static estimate of what one evaluation of a compiled CEL expression
//! costs, made once at compile time so that a rule which would stall every
//! event is refused at `validate`/`apply` rather than discovered in
//! production. It never evaluates anything and knows no clock.
//!
//! The unit is one node of the expression evaluated once. A comprehension
//! (`all`, `exists`, `exists_one`, `map`, `filter`) costs its list, plus the
//! size of that list times its body; nested comprehensions multiply. A
//! list's size is known when it is written in the expression (its
//! elements), or is the size of the list a `map`/`filter` or a `+` builds
//! from known ones; a list read from the event is assumed to hold
//! [`ASSUMED_LIST_SIZE`] elements. `x in list` costs the size of the list.
//!
//! The same unit bounds evaluation: see `rules/fuel.rs`. Every iteration
//! of a comprehension costs at least one unit here, so an expression within
//! [`MAX_COST`] whose lists are no longer than assumed is never stopped.

use cel::IdedExpr;
use cel::common::ast::{EntryExpr, Expr, operators};

/// What a rule (or a webhook mapping) may cost per evaluation: about ten
/// milliseconds of interpreter time in a release build (four nested `all`
/// over 50-element lists, 7 s per event, estimate 88 million). The rules of
/// the issue cost under 40, an `exists` over a list from the event about
/// 800, two nested over lists from the event about 90 000; three nested over
/// 50-element lists (1.5 million) are refused.
pub const MAX_COST: u64 = 100_000;

/// The size assumed for a list (or map) read from the event, the service or
/// anything else whose size is only known at run time.
pub const ASSUMED_LIST_SIZE: u64 = 100;

/// The estimated cost of evaluating `expr` once, saturating at `u64::MAX`.
pub(super) fn estimate(expr: &IdedExpr) -> u64 {
    match &expr.expr {
        Expr::Literal(_) | Expr::Ident(_) | Expr::Unspecified => 1,
        Expr::Select(select) => 1u64.saturating_add(estimate(&select.operand)),
        Expr::Call(call) => {
            let mut cost = call
                .target
                .as_deref()
                .into_iter()
                .chain(&call.args)
                .fold(1u64, |sum, e| sum.saturating_add(estimate(e)));
            if call.func_name == operators::IN
                && let Some(container) = call.args.get(1)
            {
                cost = cost.saturating_add(size(container));
            }
            cost
        }
        Expr::List(list) => list
            .elements
            .iter()
            .fold(1u64, |sum, e| sum.saturating_add(estimate(e))),
        Expr::Map(map) => map
            .entries
            .iter()
            .fold(1u64, |sum, e| sum.saturating_add(entry(&e.expr))),
        Expr::Struct(s) => s
            .entries
            .iter()
            .fold(1u64, |sum, e| sum.saturating_add(entry(&e.expr))),
        Expr::Comprehension(c) => {
            let per_item = estimate(&c.loop_cond).saturating_add(estimate(&c.loop_step));
            1u64.saturating_add(estimate(&c.iter_range))
                .saturating_add(estimate(&c.accu_init))
                .saturating_add(size(&c.iter_range).saturating_mul(per_item))
                .saturating_add(estimate(&c.result))
        }
    }
}

fn entry(entry: &EntryExpr) -> u64 {
    match entry {
        EntryExpr::MapEntry(e) => estimate(&e.key).saturating_add(estimate(&e.value)),
        EntryExpr::StructField(f) => estimate(&f.value),
    }
}

/// How many elements iterating `expr` visits, as far as the expression
/// tells; [`ASSUMED_LIST_SIZE`] when it does not.
fn size(expr: &IdedExpr) -> u64 {
    match &expr.expr {
        Expr::List(list) => list.elements.len() as u64,
        Expr::Map(map) => map.entries.len() as u64,
        // `map` and `filter` start from an empty list and give at most one
        // element per element of their own list
        Expr::Comprehension(c) if matches!(&c.accu_init.expr, Expr::List(l) if l.elements.is_empty()) => {
            size(&c.iter_range)
        }
        Expr::Call(call)
            if call.func_name == operators::ADD
                && call.target.is_none()
                && call.args.len() == 2
                && call.args.iter().any(|a| matches!(a.expr, Expr::List(_))) =>
        {
            size(&call.args[0]).saturating_add(size(&call.args[1]))
        }
        _ => ASSUMED_LIST_SIZE,
    }
}

/// The comprehension whose cost is the largest part of `expr`'s, with that
/// cost: where to point a person at when `expr` is over budget.
pub(super) fn costliest_comprehension(expr: &IdedExpr) -> Option<(u64, u64)> {
    let mut best: Option<(u64, u64)> = None;
    let mut visit = |e: &IdedExpr| {
        if let Expr::Comprehension(_) = e.expr {
            let cost = estimate(e);
            if best.is_none_or(|(_, c)| cost > c) {
                best = Some((e.id, cost));
            }
        }
    };
    walk(expr, &mut visit);
    best
}

fn walk(expr: &IdedExpr, visit: &mut impl FnMut(&IdedExpr)) {
    visit(expr);
    match &expr.expr {
        Expr::Select(select) => walk(&select.operand, visit),
        Expr::Call(call) => {
            for e in call.target.as_deref().into_iter().chain(&call.args) {
                walk(e, visit);
            }
        }
        Expr::List(list) => {
            for e in &list.elements {
                walk(e, visit);
            }
        }
        Expr::Map(map) => {
            for e in &map.entries {
                walk_entry(&e.expr, visit);
            }
        }
        Expr::Struct(s) => {
            for e in &s.entries {
                walk_entry(&e.expr, visit);
            }
        }
        Expr::Comprehension(c) => {
            for e in [
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ] {
                walk(e, visit);
            }
        }
        Expr::Literal(_) | Expr::Ident(_) | Expr::Unspecified => {}
    }
}

fn walk_entry(entry: &EntryExpr, visit: &mut impl FnMut(&IdedExpr)) {
    match entry {
        EntryExpr::MapEntry(e) => {
            walk(&e.key, visit);
            walk(&e.value, visit);
        }
        EntryExpr::StructField(f) => walk(&f.value, visit),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{MAX_COST, RuleSpec, compile, compile_expression};
    use serde_json::json;

    fn list(n: usize) -> String {
        let items: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
        format!("[{}]", items.join(", "))
    }

    fn cost(expr: &str) -> u64 {
        compile_expression(expr).expect("compiles").cost()
    }

    fn rule(id: &str, when: &str) -> RuleSpec {
        serde_json::from_value(json!({"id": id, "when": when, "then": {"priority": "P1"}}))
            .expect("valid rule")
    }

    #[test]
    fn four_nested_alls_over_fifty_element_lists_are_refused_with_the_estimate_and_the_budget() {
        let l = list(50);
        let when = format!("{l}.all(a, {l}.all(b, {l}.all(c, {l}.all(d, a + b + c + d > 0))))");
        let mut errors = compile(&[rule("slow", &when)]).expect_err("refused");
        let e = errors.remove(0);
        assert_eq!(e.rule, "slow");
        assert!(
            e.message
                .starts_with("too costly to evaluate on every event: its estimated cost is 88 "),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("over the budget of 100 000"),
            "{}",
            e.message
        );
        // at the outermost `all(`, where the cost is
        let paren = when.find(".all(").expect("has all") + ".all".len();
        assert_eq!(e.position, Some((1, paren + 1)), "{}", e.message);
    }

    #[test]
    fn three_nested_over_fifty_are_refused_two_nested_pass() {
        let l = list(50);
        assert!(
            cost(&format!(
                "{l}.all(a, {l}.all(b, {l}.all(c, a + b + c > 0)))"
            )) > MAX_COST
        );
        assert!(cost(&format!("{l}.all(a, {l}.all(b, a + b > 0))")) <= MAX_COST);
    }

    #[test]
    fn nesting_multiplies_by_the_size_of_each_list() {
        let one = cost("[1, 2, 3].exists(x, x == 2)");
        let nested = cost("[1, 2, 3].exists(x, [1, 2, 3, 4].exists(y, x == y))");
        assert!(nested > 4 * 3, "{one} {nested}");
        // a list from the event is assumed to hold ASSUMED_LIST_SIZE elements
        let from_event = cost("event.hosts.exists(h, h == \"db1\")");
        let literal_100 = cost(&format!("{}.exists(h, h == \"db1\")", list(100)));
        assert!(
            from_event.abs_diff(literal_100) <= 101,
            "{from_event} {literal_100}"
        );
        // map and filter give lists of the size of theirs
        assert!(cost("event.xs.map(x, x * 2).exists(y, event.ys.exists(z, y == z))") > 100 * 100);
        // `in` scans its list
        assert!(cost("event.a in event.list") > 100);
    }

    #[test]
    fn realistic_rules_are_far_within_budget() {
        for when in [
            r#"event.custom_details.category == "data_breach""#,
            r#"service.data_classification in ["pii", "regulated"] && event.severity == "critical""#,
            "event.custom_details.downtime_minutes >= 15 || event.custom_details.affected_users > 1000 || event.custom_details.failure_rate > 0.05",
            "service.revenue_per_hour * (event.custom_details.degraded_fraction ?? 0.0) > 10000",
            r#"event.custom_details.hosts.exists(h, h.startsWith("db"))"#,
            r#"event.labels.exists(k, k.startsWith("team") && event.labels[k] == "payments")"#,
            r#"has(event.labels.env) && !has(event.labels.region)"#,
        ] {
            let c = cost(when);
            assert!(c <= MAX_COST / 10, "{when}: {c}");
        }
    }
}
