//! Escalation rules: CEL conditions over an event, its service and `now` that
//! set the priority and the starting level, add mandatory notification paths,
//! or suppress paging. This module owns compiling rules (with positioned
//! errors), evaluating them into one [`Decision`], and review dates. It never
//! reads a clock or does I/O: the caller hands it `now`.
//!
//! Evaluation order and merging: exception rules first, then the others, each
//! in declared order. Every matching rule applies: the most urgent priority
//! wins, the highest `start_level` wins, `notify` targets are unioned, and
//! `suppress` holds only when no exception rule matched.
//!
//! What rules read: `event` (the normalized event as JSON: `summary`,
//! `source`, `severity`, `labels`, `custom_details`, `timestamp`, …),
//! `service` (its attributes: `id`, `name`, `tier`, `data_classification`,
//! `customer_segment`, `revenue_per_hour`) and `now`, an RFC 3339 UTC string
//! (CEL's `timestamp` type needs the `chrono` feature, left out to keep
//! `core` light). Every JSON number is a CEL `double` (see `rules/json.rs`);
//! integer literals in arithmetic are read as doubles where they meet one
//! (see `ast::promote_int_literals`); CEL compares int and double by value.
//!
//! Absence is not failure: a rule whose outcome hangs on a missing field, a
//! missing list element or a null does not match, and records nothing. When
//! a rule hits both a missing field and a real fault (say `"a lot" >= 15`),
//! CEL reports one of the two: the rule does not match either way, but the
//! fault is only recorded if it is the one reported. Any other run-time
//! failure is recorded in [`Decision::errors`] and the rule skipped; the
//! event is never dropped. `a ?? b` gives `b` when `a` is absent or null: see
//! `rules/coalesce.rs` for how it is parsed and `ast::expand_coalesce` for
//! what it becomes.
//!
//! Cost: a rule whose estimated cost per event is over [`MAX_COST`] is
//! refused when it is compiled (`rules/cost.rs`), and each evaluation runs
//! within [`Limits`] — a number of comprehension iterations and a stop flag
//! the shell raises when its time runs out (`rules/fuel.rs`). A rule cut
//! short is recorded in [`Decision::errors`] like any other failure.

mod ast;
mod coalesce;
mod cost;
mod errors;
mod expr;
mod fuel;
mod json;
mod syntax;
#[cfg(test)]
mod tests;

pub use cost::{ASSUMED_LIST_SIZE, MAX_COST};
pub use expr::{ExprError, Expression, compile_expression};
pub use fuel::Limits;

use crate::config::Target;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// What rules can read.
pub const RULE_VARIABLES: [&str; 3] = ["event", "service", "now"];

/// Incident priority. `P1` is the most urgent and compares greatest:
/// `P1 > P2 > … > P5`, so the most urgent of several is their `max()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
    P5,
}

impl Priority {
    /// 1 for `P1` … 5 for `P5`.
    pub fn rank(self) -> u8 {
        self as u8 + 1
    }

    pub fn as_str(self) -> &'static str {
        ["P1", "P2", "P3", "P4", "P5"][self as usize]
    }
}

impl Ord for Priority {
    fn cmp(&self, other: &Self) -> Ordering {
        other.rank().cmp(&self.rank())
    }
}

impl PartialOrd for Priority {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A priority that is not `P1`…`P5`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("priority must be one of P1, P2, P3, P4, P5; found {0:?}")]
pub struct PriorityError(pub String);

impl std::str::FromStr for Priority {
    type Err = PriorityError;
    fn from_str(s: &str) -> Result<Self, PriorityError> {
        match s {
            "P1" => Ok(Priority::P1),
            "P2" => Ok(Priority::P2),
            "P3" => Ok(Priority::P3),
            "P4" => Ok(Priority::P4),
            "P5" => Ok(Priority::P5),
            _ => Err(PriorityError(s.to_owned())),
        }
    }
}

/// What a matching rule decides. Everything is optional; `notify` targets are
/// paged in parallel with the escalation policy, as mandatory paths.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Then {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// The escalation level (1-based) the incident starts at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_level: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<Target>,
    /// Record the event, page nobody. Ignored when an exception rule matched.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suppress: bool,
}

/// A rule as declared under `rules:`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleSpec {
    pub id: String,
    /// Evaluated first; cannot be overridden or suppressed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exception: bool,
    /// A CEL condition over `event`, `service` and `now`; `a ?? b` allowed.
    pub when: String,
    pub then: Then,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_by: Option<jiff::civil::Date>,
}

/// Why a rule was refused at validate/apply time. `index` is the rule's
/// 0-based place under `rules:`; `position` the 1-based line and column
/// within its `when` expression, when the fault is in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    pub rule: String,
    pub index: usize,
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rules[{}] `{}`", self.index, self.rule)?;
        if let Some((line, column)) = self.position {
            write!(f, ", when at {line}:{column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for RuleError {}

/// One rule that matched, and what it decided.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Matched {
    pub rule: String,
    pub exception: bool,
    pub decided: Then,
}

/// The merged outcome of all rules for one event. `priority`, `start_level`
/// and `notify` are filled in even when `suppressed`, for the record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub priority: Option<Priority>,
    pub start_level: Option<u32>,
    pub notify: Vec<Target>,
    pub suppressed: bool,
    /// In evaluation order: exception rules first.
    pub matched: Vec<Matched>,
    /// (rule id, reason) for each rule that failed at run time and was skipped.
    pub errors: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
struct CompiledRule {
    id: String,
    exception: bool,
    when: Expression,
    then: Then,
}

/// Rules compiled once per configuration revision, exception rules first.
/// `Send + Sync`: one instance serves every thread.
#[derive(Clone, Debug, Default)]
pub struct CompiledRules {
    rules: Vec<CompiledRule>,
}

const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<CompiledRules>();
    shared::<Expression>();
};

/// Compiles every rule, reporting every fault at once: bad or duplicate ids,
/// CEL syntax errors and misplaced `??` (with their position), unknown
/// variables, conditions that cannot be true or false, conditions whose
/// estimated cost is over [`MAX_COST`], a `start_level` of 0, an exception
/// rule that suppresses.
pub fn compile(rules: &[RuleSpec]) -> Result<CompiledRules, Vec<RuleError>> {
    let mut errors = Vec::new();
    let mut compiled = Vec::with_capacity(rules.len());
    for (index, spec) in rules.iter().enumerate() {
        let error = |position, message: String| RuleError {
            rule: spec.id.clone(),
            index,
            position,
            message,
        };
        if spec.id.trim().is_empty() {
            errors.push(error(None, "a rule needs an id".to_owned()));
        } else if let Some(first) = rules[..index].iter().position(|r| r.id == spec.id) {
            errors.push(error(
                None,
                format!("the id is already used by rules[{first}]"),
            ));
        }
        if spec.then.start_level == Some(0) {
            errors.push(error(None, "start_level counts from 1".to_owned()));
        }
        if spec.exception && spec.then.suppress {
            errors.push(error(
                None,
                "an exception rule cannot suppress: exceptions always page".to_owned(),
            ));
        }
        let when = match compile_expression(&spec.when) {
            Ok(when) => when,
            Err(e) => {
                errors.push(error(e.position, e.message));
                continue;
            }
        };
        if let Err(e) = when.check_variables(&RULE_VARIABLES) {
            errors.push(error(e.position, e.message));
            continue;
        }
        if let Some(what) = ast::certainly_not_boolean(when.tree()) {
            errors.push(error(
                None,
                format!("a condition must be true or false; this gives {what}"),
            ));
            continue;
        }
        if let Err(e) = when.check_cost(MAX_COST) {
            errors.push(error(e.position, e.message));
            continue;
        }
        compiled.push(CompiledRule {
            id: spec.id.clone(),
            exception: spec.exception,
            when,
            then: spec.then.clone(),
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // exceptions first, declared order kept within each group
    compiled.sort_by_key(|rule| !rule.exception);
    Ok(CompiledRules { rules: compiled })
}

impl CompiledRules {
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Runs every rule against one event, each within the default
    /// [`Limits`]. Never fails: a rule that errs is recorded in
    /// [`Decision::errors`] and skipped. `event` and `service` are JSON
    /// objects (see the module docs for their fields); `now` is given to
    /// rules as an RFC 3339 UTC string.
    pub fn evaluate(
        &self,
        event: &serde_json::Value,
        service: &serde_json::Value,
        now: jiff::Timestamp,
    ) -> Decision {
        self.evaluate_with(event, service, now, &Limits::default())
    }

    /// [`Self::evaluate`], each rule within `limits`: a rule that runs out
    /// of steps, or is running when `limits.stop` is raised, is recorded as
    /// failed and does not match; the rules after it still run (once the
    /// flag is up, any comprehension stops at its first element).
    pub fn evaluate_with(
        &self,
        event: &serde_json::Value,
        service: &serde_json::Value,
        now: jiff::Timestamp,
        limits: &Limits,
    ) -> Decision {
        let now = serde_json::Value::String(now.to_string());
        let ctx = expr::context(&[("event", event), ("service", service), ("now", &now)]);
        let mut decision = Decision::default();
        let mut exception_matched = false;
        let mut suppress = false;
        for rule in &self.rules {
            match rule.when.condition(&ctx, limits) {
                Ok(Some(true)) => {}
                Ok(Some(false) | None) => continue,
                Err(reason) => {
                    decision.errors.push((rule.id.clone(), reason));
                    continue;
                }
            }
            let then = &rule.then;
            exception_matched |= rule.exception;
            suppress |= then.suppress;
            decision.priority = decision.priority.max(then.priority);
            decision.start_level = decision.start_level.max(then.start_level);
            for target in &then.notify {
                if !decision.notify.contains(target) {
                    decision.notify.push(target.clone());
                }
            }
            decision.matched.push(Matched {
                rule: rule.id.clone(),
                exception: rule.exception,
                decided: then.clone(),
            });
        }
        decision.suppressed = suppress && !exception_matched;
        decision
    }

    /// The decision when the rules could not be run at all (their time ran
    /// out before they started): nothing matched, and every rule is recorded
    /// as failed for `reason`. The event pages as if no rule applied.
    pub fn not_evaluated(&self, reason: &str) -> Decision {
        Decision {
            errors: self
                .rules
                .iter()
                .map(|rule| (rule.id.clone(), reason.to_owned()))
                .collect(),
            ..Decision::default()
        }
    }
}

/// Rules whose `review_by` has passed (`within_days: None`), or falls within
/// the next `n` days, overdue ones included (`Some(n)`); soonest first.
pub fn due_for_review(
    rules: &[RuleSpec],
    today: jiff::civil::Date,
    within_days: Option<u32>,
) -> Vec<&RuleSpec> {
    let horizon = match within_days {
        None => today.yesterday().ok(),
        Some(days) => Some(
            jiff::Span::new()
                .try_days(i64::from(days))
                .and_then(|span| today.checked_add(span))
                .unwrap_or(jiff::civil::Date::MAX),
        ),
    };
    let mut due: Vec<&RuleSpec> = rules
        .iter()
        .filter(|r| r.review_by.zip(horizon).is_some_and(|(by, h)| by <= h))
        .collect();
    due.sort_by_key(|r| r.review_by);
    due
}
