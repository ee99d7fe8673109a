//! CEL syntax errors in words a person reads. cel-rust reports what its
//! ANTLR parser says (`mismatched input '<EOF>' expecting {'[', …,
//! NUM_FLOAT, IDENTIFIER}`), and a parser failure as the debug output of
//! its error value; this turns both into one sentence saying what was found
//! and what was expected. The position is reported beside it, not in it.

/// The message for a parse error `msg` as cel-rust gives it.
pub(super) fn readable(msg: &str) -> String {
    let msg = msg.strip_prefix("Syntax error: ").unwrap_or(msg).trim();
    if let Some(limit) = between(msg, "Recursion limit of ", " exceeded") {
        return format!("the expression nests too deeply (more than {limit} levels)");
    }
    if let Some(rest) = msg
        .strip_prefix("mismatched input ")
        .or_else(|| msg.strip_prefix("extraneous input "))
        && let Some((found, expected)) = rest.split_once(" expecting ")
    {
        let expected = expected_tokens(expected);
        return match token(found) {
            None => format!("the expression ends too early: expected {expected}"),
            Some(found) => format!("unexpected {found}: expected {expected}"),
        };
    }
    if let Some(input) = msg.strip_prefix("no viable alternative at input ") {
        return match token(input) {
            None => "the expression ends too early".to_owned(),
            Some(found) => format!("unexpected {found}"),
        };
    }
    if let Some(rest) = msg.strip_prefix("missing ")
        && let Some((missing, at)) = rest.split_once(" at ")
    {
        let missing = token(missing).unwrap_or_else(|| "something".to_owned());
        return match token(at) {
            None => format!("missing {missing} at the end"),
            Some(at) => format!("missing {missing} before {at}"),
        };
    }
    if let Some(text) = msg.strip_prefix("token recognition error at: ") {
        let text = unquote(text);
        return match text.chars().next() {
            Some('"' | '\'') => "a string is not closed: it needs a matching quote".to_owned(),
            Some('=') => "`=` is not an operator: compare with `==`".to_owned(),
            Some('&') => "`&` is not an operator: use `&&`".to_owned(),
            Some('|') => "`|` is not an operator: use `||`".to_owned(),
            Some(c) => format!("unexpected character `{c}`"),
            None => "unexpected character".to_owned(),
        };
    }
    if msg.is_empty() || msg == "UNKNOWN" || looks_like_debug_output(msg) {
        return "the expression does not parse".to_owned();
    }
    // cel's own messages ("argument must be a simple name", "invalid
    // argument to has() macro", …) are already sentences
    msg.to_owned()
}

/// `'x'` as `` `x` ``; `None` for the end of the input.
fn token(quoted: &str) -> Option<String> {
    let text = unquote(quoted.trim());
    if text == "<EOF>" || text.is_empty() {
        return None;
    }
    Some(format!("`{text}`"))
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .unwrap_or(s)
}

/// Tokens that begin an operand: when a parser expects all of them, it
/// expects a value.
const VALUE_STARTS: [&str; 14] = [
    "'['",
    "'{'",
    "'('",
    "'.'",
    "'-'",
    "'!'",
    "'true'",
    "'false'",
    "'null'",
    "NUM_FLOAT",
    "NUM_INT",
    "NUM_UINT",
    "STRING",
    "IDENTIFIER",
];

/// `{'[', ')', NUM_INT, …}` or a single token, as words.
fn expected_tokens(expected: &str) -> String {
    let expected = expected.trim();
    let tokens: Vec<&str> = match expected.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        Some(set) => set.split(", ").map(str::trim).collect(),
        None => vec![expected],
    };
    let expects_value = ["IDENTIFIER", "NUM_INT", "STRING"]
        .iter()
        .all(|t| tokens.contains(t));
    let mut words: Vec<String> = Vec::new();
    if expects_value {
        words.push("a value (a field, number, string, list or parenthesised expression)".into());
    }
    for t in tokens {
        if expects_value && (VALUE_STARTS.contains(&t) || t == "BYTES") {
            continue;
        }
        let word = match t {
            "NUM_FLOAT" | "NUM_INT" | "NUM_UINT" => "a number".to_owned(),
            "STRING" => "a string".to_owned(),
            "BYTES" => "bytes".to_owned(),
            "IDENTIFIER" | "ESC_IDENTIFIER" => "a name".to_owned(),
            "<EOF>" | "'<EOF>'" => "the end of the expression".to_owned(),
            other => format!("`{}`", unquote(other)),
        };
        if !words.contains(&word) {
            words.push(word);
        }
    }
    match words.len() {
        0 => "something else".to_owned(),
        1 => words.remove(0),
        n => {
            let last = words.remove(n - 1);
            format!("{} or {last}", words.join(", "))
        }
    }
}

fn between<'s>(s: &'s str, start: &str, end: &str) -> Option<&'s str> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(&s[from..from + len])
}

/// A Rust debug rendering (`OtherError(ParseError { source: None, … })`),
/// which no person should be shown.
fn looks_like_debug_output(msg: &str) -> bool {
    msg.contains("Error(") || msg.contains(" { ") || msg.contains("source: ")
}

#[cfg(test)]
mod tests {
    use super::super::compile_expression;

    fn error(expr: &str) -> (Option<(usize, usize)>, String) {
        let e = compile_expression(expr).expect_err("does not compile");
        (e.position, e.message)
    }

    #[test]
    fn an_expression_that_ends_early_says_a_value_was_expected() {
        assert_eq!(
            error("event.severity =="),
            (
                Some((1, 18)),
                "the expression ends too early: expected a value (a field, number, string, list or parenthesised expression)".to_owned()
            )
        );
    }

    #[test]
    fn an_unclosed_list_or_call_names_what_would_close_it() {
        assert_eq!(
            error("[1, 2").1,
            "the expression ends too early: expected `]` or `,`"
        );
        assert_eq!(error("(event.a").1, "missing `)` at the end");
        assert_eq!(
            error("f(").1,
            "the expression ends too early: expected a value (a field, number, string, list or parenthesised expression) or `)`"
        );
    }

    #[test]
    fn a_stray_token_is_named() {
        let (position, message) = error("1 +* 2");
        assert_eq!(position, Some((1, 4)));
        assert!(
            message.starts_with("unexpected `*`: expected a value"),
            "{message}"
        );
        assert_eq!(error("event..a").1, "unexpected `..`");
        assert_eq!(
            error("event.a == 0x").1,
            "unexpected `x`: expected the end of the expression"
        );
    }

    #[test]
    fn single_equals_and_unclosed_strings_get_a_hint() {
        assert_eq!(
            error("event.a = 1"),
            (
                Some((1, 9)),
                "`=` is not an operator: compare with `==`".to_owned()
            )
        );
        assert_eq!(
            error("event.a == \"x").1,
            "a string is not closed: it needs a matching quote"
        );
    }

    #[test]
    fn too_deep_a_nesting_is_said_in_words_not_debug_output() {
        let deep = format!("{}1{} == 1", "(".repeat(120), ")".repeat(120));
        let (position, message) = error(&deep);
        assert_eq!(
            message,
            "the expression nests too deeply (more than 96 levels)"
        );
        assert!(position.is_some());
    }

    #[test]
    fn no_syntax_error_shows_parser_jargon_or_debug_output() {
        for expr in [
            "event.a ==",
            "1 +* 2",
            "(event.a",
            "{1: 2",
            "a.b.c(",
            "event.a.exists(x x)",
            "event.a = 1",
            "event.a & true",
            &format!("{}1{}", "[".repeat(100), "]".repeat(100)),
        ] {
            let (_, message) = error(expr);
            for jargon in [
                "IDENTIFIER",
                "NUM_",
                "<EOF>",
                "mismatched",
                "extraneous",
                "Error(",
                "{",
            ] {
                assert!(!message.contains(jargon), "{expr}: {message}");
            }
        }
    }
}
