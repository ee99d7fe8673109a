//! Every input the fuzzers found that crashed a parser or broke one of its
//! promises, as a named test. A finding whose fix lies outside this branch
//! is `#[ignore]`d with the reason, and its `KNOWN_…` switch lets the
//! fuzzers step over it meanwhile; fixing it means deleting both.

use escalator_core::events_v2::parse;
use escalator_core::rules::compile_expression;
use serde_json::json;

const KEY: &str = "0123456789abcdef0123456789abcdef";

/// `events_v2::parse` refuses `"routing_key": null` with an empty error list,
/// so the API answers 400 without saying why.
pub const KNOWN_NULL_ROUTING_KEY_UNNAMED: bool = false;

#[test]
fn a_null_routing_key_is_named() {
    let errors = parse(&json!({"routing_key": null, "event_action": "trigger",
        "payload": {"summary": "s", "source": "x", "severity": "info"}}))
    .unwrap_err();
    assert_eq!(errors, vec!["'routing_key' is missing"]);
}

#[test]
fn a_null_event_action_is_named() {
    let errors = parse(&json!({"routing_key": KEY, "event_action": null})).unwrap_err();
    assert_eq!(errors, vec!["'event_action' is missing"]);
}

/// `events_v2::parse` accepts an acknowledge or resolve whose `dedup_key` is
/// `null`; the server then makes up a key, acknowledges nothing and answers 202.
pub const KNOWN_NULL_DEDUP_KEY_ACCEPTED: bool = false;

#[test]
fn a_null_dedup_key_cannot_acknowledge() {
    for action in ["acknowledge", "resolve"] {
        let errors = parse(&json!({"routing_key": KEY, "event_action": action, "dedup_key": null}))
            .unwrap_err();
        assert_eq!(
            errors,
            vec!["'dedup_key' is required to acknowledge or resolve"]
        );
    }
}

/// `events_v2::parse` checks that a summary is not blank before cutting it to
/// 1024 characters: 1024 blanks and then text become a blank title.
pub const KNOWN_SUMMARY_CUT_TO_BLANKS: bool = false;

#[test]
fn a_summary_cut_to_blanks_is_refused() {
    let summary = format!("{}disk full", " ".repeat(1024));
    let got = parse(&json!({"routing_key": KEY, "event_action": "trigger",
        "payload": {"summary": summary, "source": "x", "severity": "info"}}));
    match got {
        Ok(e) => assert!(!e.payload.unwrap().summary.trim().is_empty()),
        Err(errors) => assert_eq!(errors, vec!["'payload.summary' must not be empty"]),
    }
}

/// Found by `config::hostile_yaml_is_bounded`: every alias measured the depth
/// and size of its anchored node again, even past the expansion limit, so
/// 50 000 aliases of a 50 000-item list took minutes. Fixed in
/// `config/load/tree.rs` (measured once per anchor; nothing expanded past the limit).
#[test]
fn many_aliases_of_a_large_node_load_in_linear_time() {
    use crate::config::Hostile;
    for nested in [false, true] {
        let text = Hostile::ManyAliases {
            size: 50_000,
            aliases: 100_000,
            nested,
        }
        .text();
        let start = std::time::Instant::now();
        let errors = escalator_core::config::load(&text).unwrap_err();
        let took = start.elapsed();
        assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
        assert!(
            errors.iter().any(|e| e.message.contains("aliases")),
            "{:?}",
            &errors[..1]
        );
    }
}

// ---------------------------------------------------------------------------
// CEL: deep expression trees overflow the stack of a server thread.

/// CEL conditions and mappings whose tree is a long chain (`1 + 1 + …`,
/// `event.a.a.a…`) overflow a 2 MiB worker stack when compiled
/// (`rules::ast::expand_coalesce` and the other passes recurse per node) or
/// evaluated (`cel`'s `resolve_val` recurses per node); the parser's
/// recursion limit only counts brackets. The process aborts: on a 2 MiB
/// stack from about 100 links in a debug build and 800–1 600 in a release
/// build (`1 + 1 + …` of 1 600 terms is 6.4 KB of text). Until a depth
/// limit in `rules::compile_expression` refuses them, the fuzzers keep
/// generated chains below [`SAFE_CHAIN`].
pub const KNOWN_DEEP_CEL_OVERFLOWS: bool = true;
pub const SAFE_CHAIN: usize = 40;

fn cel_chain_in_child(shape: crate::rules::Long, n: usize) {
    if !crate::meter::in_child() {
        return;
    }
    let when = shape.text(n);
    crate::meter::on_worker_stack(|| {
        let _ = crate::rules::check_rule(&when, &json!({"a": 1}), &json!({}));
    });
}

#[test]
#[ignore = "run in a child process by cel_long_chains_are_refused_or_evaluated"]
fn child_cel_sum_of_3000_terms() {
    cel_chain_in_child(crate::rules::Long::Sum, 3000);
}

#[test]
#[ignore = "run in a child process by cel_long_chains_are_refused_or_evaluated"]
fn child_cel_path_of_3000_fields() {
    cel_chain_in_child(crate::rules::Long::Path, 3000);
}

#[test]
#[ignore = "run in a child process by cel_long_chains_are_refused_or_evaluated"]
fn child_cel_index_of_3000_keys() {
    cel_chain_in_child(crate::rules::Long::Index, 3000);
}

#[test]
#[ignore = "run in a child process by cel_long_chains_are_refused_or_evaluated"]
fn child_cel_concat_of_5000_strings() {
    cel_chain_in_child(crate::rules::Long::Concat, 5000);
}

#[test]
#[ignore = "finding: core/src/rules/expr.rs `compile_expression` has no limit on the depth of the tree (stack overflow in rules/ast.rs passes and cel's resolve_val)"]
fn cel_long_chains_are_refused_or_evaluated() {
    for child in [
        "regressions::child_cel_sum_of_3000_terms",
        "regressions::child_cel_path_of_3000_fields",
        "regressions::child_cel_index_of_3000_keys",
        "regressions::child_cel_concat_of_5000_strings",
    ] {
        assert_eq!(crate::meter::child_survives(child), Ok(()), "{child}");
    }
}

#[test]
fn cel_chains_below_the_known_limit_are_evaluated() {
    for shape in crate::rules::Long::ALL {
        let when = shape.text(SAFE_CHAIN);
        crate::meter::on_worker_stack(|| {
            crate::rules::check_rule(&when, &json!({"a": 1}), &json!({})).unwrap();
        });
    }
}

/// Found by `config::hostile_yaml_is_bounded` (30 000 cases): a rule whose
/// `when` is 872 465 `!` held 289 MB while loading: cel's ANTLR parser
/// keeps a token object per character (~330 bytes each) before its
/// recursion limit refuses the expression. The configuration API takes
/// 2 MB bodies, so an administrator's request can cost ~660 MB.
pub const KNOWN_CEL_PARSE_MEMORY: bool = true;

#[test]
#[ignore = "finding: core/src/rules/expr.rs `compile_expression` parses expressions of any length (no length limit before cel's parser)"]
fn a_long_condition_is_parsed_in_bounded_memory() {
    let when = "!".repeat(1_000_000);
    let (_, bytes) = crate::meter::peak_bytes(|| compile_expression(&when));
    assert!(bytes < 64 << 20, "{bytes} bytes");
}

// ---------------------------------------------------------------------------
// Templates: fuel bounds instructions, not memory.

// minijinja's fuel counts instructions, not bytes: `indent(width)` makes a
// string of `width` spaces (a panic for `usize::MAX`, a failed allocation —
// an abort — for 100 GB), and a loop or a `join` builds output far past the
// 16 KiB kept before it is cut (22 GB within the fuel seen here). The
// template grammar of the fuzzers stays clear of these sizes meanwhile.

#[test]
#[ignore = "finding: core/src/templates/mod.rs renders with minijinja's `indent` filter unbounded: `capacity overflow` panic"]
fn an_indent_wider_than_memory_is_an_error_not_a_panic() {
    let got = std::panic::catch_unwind(|| {
        crate::templates::render_text("{{ title|indent(18446744073709551615) }}")
    });
    assert!(matches!(got, Ok(Err(_))), "{got:?}");
}

#[test]
#[ignore = "run in a child process by an_indent_too_large_to_allocate_is_an_error_not_an_abort"]
fn child_template_indent_of_100_gb() {
    if crate::meter::in_child() {
        let _ = crate::templates::render_text("{{ title|indent(100000000000) }}");
    }
}

#[test]
#[ignore = "finding: core/src/templates/mod.rs: `indent(100000000000)` aborts the process (memory allocation of 100000000000 bytes failed)"]
fn an_indent_too_large_to_allocate_is_an_error_not_an_abort() {
    let child = "regressions::child_template_indent_of_100_gb";
    assert_eq!(crate::meter::child_survives(child), Ok(()));
}

/// Templates whose output or intermediate strings are ~100 MB, cheap to
/// run; their larger forms (a loop of 1 000, a join of 100 000) took 22 GB.
const TEMPLATE_BOMBS: [&str; 3] = [
    "{% for i in range(100) %}{{ 'x' * 1000000 }}{% endfor %}",
    "{{ range(1000)|join('x' * 100000) }}",
    "{{ title|indent(100000000) }}",
];

#[test]
#[ignore = "finding: core/src/templates/mod.rs renders into an unbounded String; output past MAX_TEXT and filter results are built whole"]
fn rendering_holds_little_more_than_what_is_kept() {
    for template in TEMPLATE_BOMBS {
        let (_, bytes) = crate::meter::peak_bytes(|| crate::templates::render_text(template));
        assert!(bytes < 32 << 20, "{template}: {bytes} bytes");
    }
}
