//! One CEL expression: compiled once (syntax, `??`, number literals), then
//! evaluated many times over JSON variables. Shared by the rules and by the
//! generic-webhook mapping. Pure: no clock, no I/O.

use super::fuel::{self, Limits};
use super::{ast, coalesce, cost, json, syntax};
use cel::common::functions::Function;
use cel::common::types::{
    CelBool, CelDouble, CelInt, CelNull, CelOptional, CelString, CelUInt, DYN_TYPE,
};
use cel::common::value::{CowVal, Val};
use cel::{Context, Env, ExecutionError, IdedExpr, Value as CelValue};
use std::fmt;
use std::sync::{Arc, LazyLock};

/// CEL's standard library and our path lookup, built once per process. It is
/// immutable and `Send + Sync`, as is every [`Expression`]: compiled rules are
/// shared by all threads; only the per-evaluation [`Context`] is not.
static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    for arity in 1..=ast::GET_MAX_ARGS {
        for (name, function) in [
            (ast::GET_FN, get_path as Function),
            (ast::GET_OR_FN, get_path_or as Function),
        ] {
            let declared = env.add_overload(
                name,
                &format!("{name}_{arity}"),
                (0..arity).map(|_| DYN_TYPE).collect(),
                function,
            );
            debug_assert!(declared.is_ok(), "{declared:?}");
        }
    }
    let declared = env.add_overload(
        fuel::TICK_FN,
        fuel::TICK_FN,
        vec![DYN_TYPE],
        fuel::tick as Function,
    );
    debug_assert!(declared.is_ok(), "{declared:?}");
    Arc::new(env)
});

static NULL: CelNull = CelNull;

/// `__get__(root, k1, …)`: `root[k1]…`, borrowed, or null when a step is
/// missing, null, or not a container. See [`ast::expand_coalesce`].
fn get_path<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    Ok(lookup(args.into_iter()).unwrap_or(CowVal::Borrowed(&NULL)))
}

/// `__get_or__(default, root, k1, …)`: as `__get__`, `default` instead of null.
fn get_path_or<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let mut args = args.into_iter();
    let default = args.next().unwrap_or(CowVal::Borrowed(&NULL));
    Ok(lookup(args).unwrap_or(default))
}

fn lookup<'b, 'v>(mut path: impl Iterator<Item = CowVal<'b, 'v>>) -> Option<CowVal<'b, 'v>> {
    let mut value = path.next();
    for key in path {
        value = child(value?, key.as_ref());
    }
    value.filter(|v| v.downcast_ref::<CelNull>().is_none())
}

fn child<'b, 'v>(value: CowVal<'b, 'v>, key: &dyn Val) -> Option<CowVal<'b, 'v>> {
    match value {
        CowVal::Borrowed(v) => v.as_indexer()?.get(key).ok(),
        CowVal::Owned(v) => v
            .as_indexer()?
            .get(key)
            .ok()
            .map(|c| CowVal::Owned(c.into_owned())),
    }
}

/// A compiled CEL expression, e.g. `body.state == "ok" ? "resolve" : "trigger"`.
#[derive(Clone, Debug)]
pub struct Expression {
    source: String,
    ast: IdedExpr,
    /// Free variables, with where each is first named.
    variables: Vec<(String, Option<(usize, usize)>)>,
    /// The estimated cost of one evaluation (see `rules/cost.rs`) and, when
    /// it has a comprehension, where its costliest one starts.
    cost: u64,
    costliest_at: Option<(usize, usize)>,
}

/// Why an expression does not compile: the reason and, when known, the 1-based
/// line and column (in characters) within the expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((line, column)) = self.position {
            write!(f, "at {line}:{column}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExprError {}

/// Compiles `expr`: CEL, plus `a ?? b` (see `rules/coalesce.rs`). Integer
/// literals in arithmetic are read as doubles where they meet a JSON number
/// (see `ast::promote_int_literals`). Which variables exist is the
/// caller's business: see [`Expression::check_variables`].
pub fn compile_expression(expr: &str) -> Result<Expression, ExprError> {
    if expr.trim().is_empty() {
        return Err(ExprError {
            position: None,
            message: "the expression is empty".to_owned(),
        });
    }
    let rewritten = coalesce::rewrite(expr).map_err(|(offset, message)| ExprError {
        position: Some(line_column(expr, offset)),
        message,
    })?;
    let text = rewritten.text.as_str();
    let (mut tree, info) = ENV
        .parser()
        .parse_with_source_info(text)
        .map_err(|errors| {
            let first = errors.errors.first();
            let position = first
                .filter(|e| e.pos.0 > 0 && e.pos.1 > 0)
                .map(|e| char_offset(text, e.pos.0 as usize, e.pos.1 as usize))
                .map(|at| line_column(expr, rewritten.original_offset(at)));
            let message = first.map_or_else(
                || "the expression does not parse".to_owned(),
                |e| syntax::readable(&e.msg),
            );
            ExprError { position, message }
        })?;
    let position_of = |id: u64| {
        let (start, _) = info.offset_for(id)?;
        let chars = text.get(..start as usize)?.chars().count();
        Some(line_column(expr, rewritten.original_offset(chars)))
    };
    ast::expand_coalesce(&mut tree).map_err(|(id, message)| ExprError {
        position: position_of(id),
        message,
    })?;
    ast::promote_int_literals(&mut tree);
    ast::unroll_in_literal_lists(&mut tree);
    ast::index_variable_fields(&mut tree);
    let variables = ast::free_variables(&tree)
        .into_iter()
        .map(|(name, id)| (name, position_of(id)))
        .collect();
    // estimated on what runs, before the ticks that bound it are added
    let cost = cost::estimate(&tree);
    let costliest_at = cost::costliest_comprehension(&tree).and_then(|(id, _)| position_of(id));
    fuel::add_ticks(&mut tree);
    Ok(Expression {
        source: expr.to_owned(),
        ast: tree,
        variables,
        cost,
        costliest_at,
    })
}

impl Expression {
    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The variables it reads (`event`, `body`…), comprehension variables excluded.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.variables.iter().map(|(name, _)| name.as_str())
    }

    /// Refuses a variable outside `allowed`, naming it and where it is read.
    pub fn check_variables(&self, allowed: &[&str]) -> Result<(), ExprError> {
        match self
            .variables
            .iter()
            .find(|(name, _)| !allowed.contains(&name.as_str()))
        {
            None => Ok(()),
            Some((name, position)) => Err(ExprError {
                position: *position,
                message: format!(
                    "unknown variable `{name}`; the expression can read {}",
                    allowed.join(", ")
                ),
            }),
        }
    }

    /// The estimated cost of one evaluation, in the unit of
    /// [`cost::MAX_COST`](super::MAX_COST).
    pub fn cost(&self) -> u64 {
        self.cost
    }

    /// Refuses an expression whose estimated cost is over `budget`, saying
    /// both and pointing at its costliest comprehension.
    pub fn check_cost(&self, budget: u64) -> Result<(), ExprError> {
        if self.cost <= budget {
            return Ok(());
        }
        Err(ExprError {
            position: self.costliest_at,
            message: format!(
                "too costly to evaluate on every event: its estimated cost is {}, over the budget of {} \
                 (each all/exists/exists_one/map/filter multiplies the cost of its body by the length of its list: \
                 the number of elements of a list written in the rule, else {} for a list read from the event)",
                thousands(self.cost),
                thousands(budget),
                cost::ASSUMED_LIST_SIZE,
            ),
        })
    }

    /// Evaluates to a string: `None` when the value is absent (a missing field
    /// read without `??`) or null; numbers and booleans are formatted; a list
    /// or a map is an error. Runs within the default [`Limits`].
    pub fn eval_string(
        &self,
        vars: &[(&str, &serde_json::Value)],
    ) -> Result<Option<String>, String> {
        self.eval_string_with(vars, &Limits::default())
    }

    /// [`Self::eval_string`] within `limits`.
    pub fn eval_string_with(
        &self,
        vars: &[(&str, &serde_json::Value)],
        limits: &Limits,
    ) -> Result<Option<String>, String> {
        self.eval_with(&context(vars), limits, string_of)
    }

    /// Evaluates a condition: `None` when it reads an absent field or null.
    /// Runs within the default [`Limits`].
    pub fn eval_bool(&self, vars: &[(&str, &serde_json::Value)]) -> Result<Option<bool>, String> {
        self.eval_with(&context(vars), &Limits::default(), bool_of)
    }

    /// The condition over an already built context: `Ok(None)` when absent.
    pub(super) fn condition(
        &self,
        ctx: &Context<'_, '_>,
        limits: &Limits,
    ) -> Result<Option<bool>, String> {
        self.eval_with(ctx, limits, bool_of)
    }

    pub(super) fn tree(&self) -> &IdedExpr {
        &self.ast
    }

    fn eval_with<R>(
        &self,
        ctx: &Context<'_, '_>,
        limits: &Limits,
        read: impl FnOnce(&dyn Val) -> Result<Option<R>, String>,
    ) -> Result<Option<R>, String> {
        let (outcome, stopped) =
            fuel::run(limits, || match CelValue::resolve_val(&self.ast, ctx) {
                Ok(value) => read(value.as_ref()),
                Err(error) if is_absence(&error) => Ok(None),
                Err(error) => Err(super::errors::readable(&error)),
            });
        // cut short, whatever CEL made of the error (`stopped || true`)
        match stopped {
            Some(stopped) => Err(stopped.to_string()),
            None => outcome,
        }
    }
}

/// A context binding JSON values to names; built once per evaluation.
pub(super) fn context<'p, 'v>(vars: &[(&str, &'v serde_json::Value)]) -> Context<'p, 'v> {
    let mut ctx = Context::with_env(Arc::clone(&ENV));
    for (name, value) in vars {
        ctx.add_variable_as_val(*name, json::to_val(value));
    }
    ctx
}

/// Errors that only say a field is missing, or that a value is null: the
/// expression reads something that is not there, which is no failure.
fn is_absence(error: &ExecutionError) -> bool {
    match error {
        ExecutionError::NoSuchKey(_) | ExecutionError::IndexOutOfBounds(_) => true,
        ExecutionError::NoSuchOverload(overload) => {
            overload.argument_types().iter().any(|t| t == "null_type")
        }
        ExecutionError::ValuesNotComparable(a, b)
        | ExecutionError::UnsupportedBinaryOperator(_, a, b) => {
            matches!(a, CelValue::Null) || matches!(b, CelValue::Null)
        }
        _ => false,
    }
}

fn bool_of(value: &dyn Val) -> Result<Option<bool>, String> {
    if let Some(b) = value.downcast_ref::<CelBool>() {
        return Ok(Some(*b.inner()));
    }
    if value.downcast_ref::<CelNull>().is_some() {
        return Ok(None);
    }
    if let Some(optional) = value.downcast_ref::<CelOptional>() {
        return optional.inner().map_or(Ok(None), bool_of);
    }
    Err(format!(
        "gives a {}, not true or false",
        value.get_type().name()
    ))
}

fn string_of(value: &dyn Val) -> Result<Option<String>, String> {
    if let Some(s) = value.downcast_ref::<CelString>() {
        Ok(Some(s.inner().to_owned()))
    } else if value.downcast_ref::<CelNull>().is_some() {
        Ok(None)
    } else if let Some(optional) = value.downcast_ref::<CelOptional>() {
        optional.inner().map_or(Ok(None), string_of)
    } else if let Some(d) = value.downcast_ref::<CelDouble>() {
        Ok(Some(format_number(*d.inner())))
    } else if let Some(i) = value.downcast_ref::<CelInt>() {
        Ok(Some(i.inner().to_string()))
    } else if let Some(u) = value.downcast_ref::<CelUInt>() {
        Ok(Some(u.inner().to_string()))
    } else if let Some(b) = value.downcast_ref::<CelBool>() {
        Ok(Some(b.inner().to_string()))
    } else {
        Err(format!("gives a {}, not a string", value.get_type().name()))
    }
}

/// `3` rather than `3.0` for the integers that JSON numbers usually are.
fn format_number(d: f64) -> String {
    if d.is_finite() && d.fract() == 0.0 && d.abs() < 1e15 {
        format!("{}", d as i64)
    } else {
        d.to_string()
    }
}

/// 1-based line and column, in characters, of char offset `at` in `text`.
pub(super) fn line_column(text: &str, at: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for c in text.chars().take(at) {
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

/// The char offset of a 1-based line and column in `text`.
fn char_offset(text: &str, line: usize, column: usize) -> usize {
    let before: usize = text
        .split_inclusive('\n')
        .take(line - 1)
        .map(|l| l.chars().count())
        .sum();
    before + column - 1
}

/// `1234567` as `1 234 567`, as the README writes figures.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}
