//! Passes over a parsed CEL expression, run once at compile time: expanding
//! `??`, letting integer literals meet JSON numbers in arithmetic, two
//! rewrites that spare the interpreter work on every event (`x in [a, b]`,
//! `v.f`), and listing the free variables. Nothing here runs per event.

use super::coalesce::COALESCE_FN;
use cel::IdedExpr;
use cel::common::ast::{CallExpr, Expr, LiteralValue, operators};
use cel::common::types::{CelDouble, CelString};

/// The function a `??` path lookup calls: `__get__(root, k1, …, kn)` is
/// `root[k1]…[kn]`, or null when any step is missing, null, or not a
/// container. Registered in the environment by [`super::expr`] for up to
/// [`GET_MAX_ARGS`] arguments; longer paths nest.
pub(super) const GET_FN: &str = "__get__";
pub(super) const GET_MAX_ARGS: usize = 8;
/// `__get_or__(default, root, k1, …)`: the same lookup, `default` when null.
pub(super) const GET_OR_FN: &str = "__get_or__";

/// Replaces every `__coalesce__(a, b)` left by [`super::coalesce`] with
///
/// ```text
/// __get__(v, k1, …) != null ? __get__(v, k1, …) : b
/// ```
///
/// where `a` is the path `v.k1[k2]…` from a variable `v`, or, when `b` is a
/// literal, `__get_or__(b, v, k1, …)`. A missing field
/// anywhere along the path, a null, or a field of a value that has none
/// gives `b`, which is only evaluated then. The lookup borrows: nothing is
/// copied, unlike CEL's optional selection (`a.?b`), which clones what it
/// wraps at every step. On failure, the id of the node at fault and why.
pub(super) fn expand_coalesce(expr: &mut IdedExpr) -> Result<(), (u64, String)> {
    if let Expr::Call(call) = &mut expr.expr
        && is_coalesce(call)
    {
        // (a ?? b) ?? c is a ?? (b ?? c): a chain is read left to right
        while call.args.len() == 2 && call.args.first_mut().and_then(as_coalesce).is_some() {
            let mut args = std::mem::take(&mut call.args).into_iter();
            let (Some(inner), Some(c)) = (args.next(), args.next()) else {
                break;
            };
            let Expr::Call(inner_call) = inner.expr else {
                break;
            };
            let mut ab = inner_call.args.into_iter();
            let (Some(a), Some(b)) = (ab.next(), ab.next()) else {
                break;
            };
            call.args = vec![a, call_expr(inner.id, COALESCE_FN, None, vec![b, c])];
        }
        let id = expr.id;
        let (Some(mut default), Some(left)) = (call.args.pop(), call.args.pop()) else {
            return Err((id, "`??` takes two operands".to_owned()));
        };
        expand_coalesce(&mut default)?;
        // the call's position is where its left operand starts
        let (root, keys) = path(left).ok_or_else(|| {
            (
                id,
                "the left side of `??` must be a field path such as event.custom_details.x"
                    .to_owned(),
            )
        })?;
        // JSON numbers are doubles: so is a default such as `?? 0`
        if let Expr::Literal(LiteralValue::Int(n)) = &default.expr {
            default.expr = Expr::Literal(LiteralValue::Double(CelDouble::from(*n.inner() as f64)));
        }
        // a literal default cannot fail, so it can be passed eagerly
        let literal_default = matches!(default.expr, Expr::Literal(_));
        let room = GET_MAX_ARGS - 1 - usize::from(literal_default);
        let mut lookup = root;
        let mut keys = keys;
        while keys.len() > room {
            let rest = keys.split_off(GET_MAX_ARGS - 1);
            let mut args = vec![lookup];
            args.extend(std::mem::replace(&mut keys, rest));
            lookup = call_expr(id, GET_FN, None, args);
        }
        if literal_default {
            let mut args = vec![default, lookup];
            args.extend(keys);
            *expr = call_expr(id, GET_OR_FN, None, args);
            return Ok(());
        }
        let mut args = vec![lookup];
        args.extend(keys);
        let lookup = call_expr(id, GET_FN, None, args);
        let is_present = call_expr(
            id,
            operators::NOT_EQUALS,
            None,
            vec![lookup.clone(), null(id)],
        );
        *expr = call_expr(
            id,
            operators::CONDITIONAL,
            None,
            vec![is_present, lookup, default],
        );
        return Ok(());
    }
    for child in children(expr) {
        expand_coalesce(child)?;
    }
    Ok(())
}

fn is_coalesce(call: &CallExpr) -> bool {
    call.func_name == COALESCE_FN && call.target.is_none()
}

fn as_coalesce(expr: &mut IdedExpr) -> Option<&mut CallExpr> {
    match &mut expr.expr {
        Expr::Call(call) if is_coalesce(call) && call.args.len() == 2 => Some(call),
        _ => None,
    }
}

/// `v.a[k].?b` as the variable `v` and the keys `"a"`, `k`, `"b"`; `None`
/// when `expr` is not such a path.
fn path(expr: IdedExpr) -> Option<(IdedExpr, Vec<IdedExpr>)> {
    let id = expr.id;
    match expr.expr {
        Expr::Ident(_) => Some((expr, Vec::new())),
        Expr::Select(select) if !select.test => {
            let (root, mut keys) = path(*select.operand)?;
            keys.push(IdedExpr {
                id,
                expr: Expr::Literal(LiteralValue::String(CelString::from(select.field))),
            });
            Some((root, keys))
        }
        Expr::Call(call)
            if call.target.is_none()
                && call.args.len() == 2
                && matches!(
                    call.func_name.as_str(),
                    operators::INDEX | operators::OPT_INDEX | operators::OPT_SELECT
                ) =>
        {
            let mut args = call.args.into_iter();
            let (root, mut keys) = path(args.next()?)?;
            keys.push(args.next()?);
            Some((root, keys))
        }
        _ => None,
    }
}

/// `x in [l1, l2]` with a short list of literals as `x == l1 || x == l2`:
/// the same answer without building the list on every evaluation.
pub(super) fn unroll_in_literal_lists(expr: &mut IdedExpr) {
    const MAX_UNROLLED: usize = 4;
    for child in children(expr) {
        unroll_in_literal_lists(child);
    }
    let id = expr.id;
    let Expr::Call(call) = &mut expr.expr else {
        return;
    };
    if call.func_name != operators::IN || call.target.is_some() || call.args.len() != 2 {
        return;
    }
    let Expr::List(list) = &call.args[1].expr else {
        return;
    };
    let unrollable = (1..=MAX_UNROLLED).contains(&list.elements.len())
        && list.optional_indices.is_empty()
        && list
            .elements
            .iter()
            .all(|e| matches!(e.expr, Expr::Literal(_)));
    if !unrollable {
        return;
    }
    let mut args = std::mem::take(&mut call.args).into_iter();
    let (Some(x), Some(list)) = (args.next(), args.next()) else {
        return;
    };
    let Expr::List(list) = list.expr else {
        return;
    };
    let mut equalities = list
        .elements
        .into_iter()
        .map(|literal| call_expr(id, operators::EQUALS, None, vec![x.clone(), literal]));
    let Some(first) = equalities.next() else {
        return;
    };
    *expr = equalities.fold(first, |any, next| {
        call_expr(id, operators::LOGICAL_OR, None, vec![any, next])
    });
}

pub(super) fn call_expr(
    id: u64,
    func: &str,
    target: Option<IdedExpr>,
    args: Vec<IdedExpr>,
) -> IdedExpr {
    IdedExpr {
        id,
        expr: Expr::Call(CallExpr {
            func_name: func.to_owned(),
            target: target.map(Box::new),
            args,
        }),
    }
}

fn null(id: u64) -> IdedExpr {
    IdedExpr {
        id,
        expr: Expr::Literal(LiteralValue::Null),
    }
}

/// Makes `v.f` on a variable `v` an index, `v["f"]`, which means the same
/// for our JSON variables. The interpreter otherwise reads a select chain on
/// a variable as a qualified name (`event.custom_details.x` could name a
/// variable called that, or a type), and tries each prefix, joining strings,
/// on every evaluation: the largest cost of a typical rule.
pub(super) fn index_variable_fields(expr: &mut IdedExpr) {
    for child in children(expr) {
        index_variable_fields(child);
    }
    let id = expr.id;
    if let Expr::Select(select) = &mut expr.expr
        && !select.test
        && matches!(select.operand.expr, Expr::Ident(_))
    {
        let operand = std::mem::take(&mut *select.operand);
        let field = IdedExpr {
            id,
            expr: Expr::Literal(LiteralValue::String(CelString::from(std::mem::take(
                &mut select.field,
            )))),
        };
        *expr = call_expr(id, operators::INDEX, None, vec![operand, field]);
    }
}

/// JSON numbers reach CEL as doubles, and CEL refuses `double * int`. So an
/// integer literal in `+ - * /` whose other operand is not known to be an
/// integer (a literal, `size()`, `int()`, integer arithmetic) becomes a
/// double: `service.revenue_per_hour * 2` works, `size(x) + 1` stays integral.
/// Comparisons need nothing: CEL compares int and double by value.
pub(super) fn promote_int_literals(expr: &mut IdedExpr) {
    for child in children(expr) {
        promote_int_literals(child);
    }
    let Expr::Call(call) = &mut expr.expr else {
        return;
    };
    let arithmetic = matches!(
        call.func_name.as_str(),
        operators::ADD | operators::SUBSTRACT | operators::MULTIPLY | operators::DIVIDE
    );
    if !arithmetic || call.target.is_some() || call.args.len() != 2 {
        return;
    }
    for i in 0..2 {
        if is_integral(&call.args[1 - i]) {
            continue;
        }
        if let Expr::Literal(literal) = &mut call.args[i].expr {
            match literal {
                LiteralValue::Int(n) => {
                    *literal = LiteralValue::Double(CelDouble::from(*n.inner() as f64))
                }
                LiteralValue::UInt(n) => {
                    *literal = LiteralValue::Double(CelDouble::from(*n.inner() as f64))
                }
                _ => {}
            }
        }
    }
}

/// Whether `expr` certainly gives an int or uint.
fn is_integral(expr: &IdedExpr) -> bool {
    match &expr.expr {
        Expr::Literal(LiteralValue::Int(_) | LiteralValue::UInt(_)) => true,
        Expr::Call(call) => match call.func_name.as_str() {
            "size" | "int" | "uint" | operators::MODULO => true,
            operators::ADD | operators::SUBSTRACT | operators::MULTIPLY | operators::DIVIDE => {
                call.args.iter().all(is_integral)
            }
            operators::NEGATE => call.args.iter().all(is_integral),
            _ => false,
        },
        _ => false,
    }
}

/// The variables `expr` reads, with the id of a node naming each, in order of
/// appearance; comprehension variables (`x` in `l.exists(x, …)`) excluded.
pub(super) fn free_variables(expr: &IdedExpr) -> Vec<(String, u64)> {
    fn walk<'e>(expr: &'e IdedExpr, bound: &mut Vec<&'e str>, out: &mut Vec<(String, u64)>) {
        match &expr.expr {
            Expr::Ident(name) => {
                if !bound.contains(&name.as_str()) && !out.iter().any(|(n, _)| n == name) {
                    out.push((name.clone(), expr.id));
                }
            }
            Expr::Comprehension(c) => {
                walk(&c.iter_range, bound, out);
                walk(&c.accu_init, bound, out);
                let depth = bound.len();
                bound.push(&c.iter_var);
                bound.extend(c.iter_var2.as_deref());
                bound.push(&c.accu_var);
                walk(&c.loop_cond, bound, out);
                walk(&c.loop_step, bound, out);
                walk(&c.result, bound, out);
                bound.truncate(depth);
            }
            Expr::Select(select) => walk(&select.operand, bound, out),
            Expr::Call(call) => {
                if let Some(target) = &call.target {
                    walk(target, bound, out);
                }
                for arg in &call.args {
                    walk(arg, bound, out);
                }
            }
            Expr::List(list) => {
                for e in &list.elements {
                    walk(e, bound, out);
                }
            }
            Expr::Map(map) => {
                for entry in &map.entries {
                    if let cel::common::ast::EntryExpr::MapEntry(e) = &entry.expr {
                        walk(&e.key, bound, out);
                        walk(&e.value, bound, out);
                    }
                }
            }
            Expr::Struct(s) => {
                for entry in &s.entries {
                    if let cel::common::ast::EntryExpr::StructField(f) = &entry.expr {
                        walk(&f.value, bound, out);
                    }
                }
            }
            Expr::Literal(_) | Expr::Unspecified => {}
        }
    }
    let mut out = Vec::new();
    walk(expr, &mut Vec::new(), &mut out);
    out
}

/// What `expr` certainly gives when that is not a boolean, e.g. "a number"
/// for `a + 1`: a condition written as such can never match.
pub(super) fn certainly_not_boolean(expr: &IdedExpr) -> Option<&'static str> {
    match &expr.expr {
        Expr::Literal(LiteralValue::Boolean(_)) => None,
        Expr::Literal(LiteralValue::String(_)) => Some("a string"),
        Expr::Literal(LiteralValue::Null) => Some("null"),
        Expr::Literal(LiteralValue::Bytes(_)) => Some("bytes"),
        Expr::Literal(_) => Some("a number"),
        Expr::List(_) => Some("a list"),
        Expr::Map(_) => Some("a map"),
        Expr::Call(call) => match call.func_name.as_str() {
            operators::ADD
            | operators::SUBSTRACT
            | operators::MULTIPLY
            | operators::DIVIDE
            | operators::MODULO
            | operators::NEGATE => Some("a value, not a condition"),
            "size" | "int" | "uint" | "double" => Some("a number"),
            "string" => Some("a string"),
            _ => None,
        },
        _ => None,
    }
}

/// The direct sub-expressions of `expr`, for the passes above.
pub(super) fn children(expr: &mut IdedExpr) -> Vec<&mut IdedExpr> {
    use cel::common::ast::EntryExpr;
    match &mut expr.expr {
        Expr::Call(call) => call
            .target
            .as_deref_mut()
            .into_iter()
            .chain(call.args.iter_mut())
            .collect(),
        Expr::Select(select) => vec![&mut *select.operand],
        Expr::List(list) => list.elements.iter_mut().collect(),
        Expr::Map(map) => map
            .entries
            .iter_mut()
            .flat_map(|entry| match &mut entry.expr {
                EntryExpr::MapEntry(e) => vec![&mut e.key, &mut e.value],
                EntryExpr::StructField(f) => vec![&mut f.value],
            })
            .collect(),
        Expr::Struct(s) => s
            .entries
            .iter_mut()
            .flat_map(|entry| match &mut entry.expr {
                EntryExpr::MapEntry(e) => vec![&mut e.key, &mut e.value],
                EntryExpr::StructField(f) => vec![&mut f.value],
            })
            .collect(),
        Expr::Comprehension(c) => vec![
            &mut c.iter_range,
            &mut c.accu_init,
            &mut c.loop_cond,
            &mut c.loop_step,
            &mut c.result,
        ],
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => Vec::new(),
    }
}
