//! The `??` operator, which CEL lacks: `a ?? b` is `a` when it is present and
//! not null, else `b`. This module only rewrites the source text, before CEL
//! parses it, into the call `__coalesce__(a, b)` (expanded in [`super::ast`]),
//! and maps positions in the rewritten text back to what the user wrote.
//! It never evaluates anything.
//!
//! `??` binds tighter than any other operator: its left operand is the postfix
//! expression written just before it (`event.custom_details.x`, `labels["k"]`,
//! a parenthesised group), its right operand the single operand just after it
//! (a literal, a path, a parenthesised group, with an optional leading `-` or
//! `!`). So `x ?? 0 >= 15` is `(x ?? 0) >= 15` and `a * b ?? 1.0` is
//! `a * (b ?? 1.0)`. Chains (`a ?? b ?? c`) try each in turn.

/// The call that stands for `??` between this rewrite and the AST expansion.
pub(super) const COALESCE_FN: &str = "__coalesce__";

/// The source as CEL will see it, and how to find the user's positions in it.
#[derive(Debug)]
pub(super) struct Rewritten {
    pub text: String,
    /// Text inserted by the rewrite: (char offset in `text`, char length,
    /// char offset in the original), in order.
    insertions: Vec<(usize, usize, usize)>,
}

impl Rewritten {
    /// The original char offset of a char offset in the rewritten text; a
    /// position inside inserted text maps to where it was inserted.
    pub fn original_offset(&self, rewritten: usize) -> usize {
        let mut shift = 0;
        for &(at, len, original) in &self.insertions {
            if rewritten >= at + len {
                shift += len;
            } else if rewritten >= at {
                return original;
            } else {
                break;
            }
        }
        rewritten - shift
    }
}

/// Rewrites every `a ?? b` in `source`. On failure, the char offset of the
/// offending `??` and the reason.
pub(super) fn rewrite(source: &str) -> Result<Rewritten, (usize, String)> {
    let chars: Vec<char> = source.chars().collect();
    let tokens = lex(&chars);
    if !tokens.iter().any(|t| t.kind == Kind::Coalesce) {
        return Ok(Rewritten {
            text: source.to_owned(),
            insertions: Vec::new(),
        });
    }
    let partner = match_brackets(&tokens);
    // (char offset, closes before opens, text)
    let mut edits: Vec<(usize, bool, &'static str)> = Vec::new();
    for (q, token) in tokens.iter().enumerate() {
        if token.kind != Kind::Coalesce {
            continue;
        }
        let fail = |why: &str| (token.start, format!("`??` {why}"));
        let left = left_operand(&tokens, &partner, q)
            .ok_or_else(|| fail("needs a field path or a parenthesised value on its left"))?;
        let right = right_operand(&tokens, &partner, q)
            .ok_or_else(|| fail("needs a value on its right"))?;
        edits.push((tokens[left].start, false, "__coalesce__("));
        edits.push((tokens[right].end, true, ")"));
    }
    edits.sort_by_key(|&(at, is_close, _)| (at, !is_close));

    let mut text = String::with_capacity(source.len() + edits.len() * 13);
    let mut insertions = Vec::new();
    let mut inserted = 0;
    let mut edits = edits.into_iter().peekable();
    let coalesce_at: Vec<usize> = tokens
        .iter()
        .filter(|t| t.kind == Kind::Coalesce)
        .map(|t| t.start)
        .collect();
    for i in 0..=chars.len() {
        while let Some(&(at, _, insert)) = edits.peek() {
            if at != i {
                break;
            }
            let len = insert.chars().count();
            insertions.push((i + inserted, len, i));
            inserted += len;
            text.push_str(insert);
            edits.next();
        }
        let Some(&c) = chars.get(i) else { break };
        // `??` becomes `, `: same length, so nothing after it moves
        if coalesce_at.binary_search(&i).is_ok() {
            text.push(',');
        } else if i > 0 && coalesce_at.binary_search(&(i - 1)).is_ok() {
            text.push(' ');
        } else {
            text.push(c);
        }
    }
    Ok(Rewritten { text, insertions })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ident,
    Literal,
    Open(char),
    Close,
    Dot,
    Question,
    Coalesce,
    /// Operators, keywords such as `in`, commas: anything that ends an operand.
    Other(char),
}

#[derive(Clone, Copy, Debug)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// Just enough of CEL's lexical grammar to find operands: strings (quoted,
/// triple-quoted, raw, bytes) and comments are opaque, brackets are tracked.
fn lex(s: &[char]) -> Vec<Token> {
    let mut tokens: Vec<Token> = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let start = i;
        let kind = if c.is_whitespace() {
            i += 1;
            continue;
        } else if c == '/' && s.get(i + 1) == Some(&'/') {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
            continue;
        } else if let Some(end) = string_end(s, i) {
            i = end;
            Kind::Literal
        } else if c.is_ascii_alphabetic() || c == '_' {
            while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == '_') {
                i += 1;
            }
            match s[start..i].iter().collect::<String>().as_str() {
                "in" => Kind::Other('i'),
                "true" | "false" | "null" => Kind::Literal,
                _ => Kind::Ident,
            }
        } else if c == '`' {
            i += 1;
            while i < s.len() && s[i] != '`' {
                i += 1;
            }
            i = (i + 1).min(s.len());
            Kind::Ident
        } else if c.is_ascii_digit()
            || (c == '.'
                && s.get(i + 1).is_some_and(char::is_ascii_digit)
                && !tokens.last().is_some_and(|t| ends_operand(t.kind)))
        {
            let hex = c == '0' && matches!(s.get(i + 1), Some('x' | 'X'));
            i += 1;
            while i < s.len() {
                let d = s[i];
                let exponent_sign = !hex && matches!(d, '+' | '-') && matches!(s[i - 1], 'e' | 'E');
                if d.is_ascii_alphanumeric() || d == '.' || d == '_' || exponent_sign {
                    i += 1;
                } else {
                    break;
                }
            }
            Kind::Literal
        } else {
            i += 1;
            match c {
                '(' | '[' | '{' => Kind::Open(c),
                ')' | ']' | '}' => Kind::Close,
                '.' => Kind::Dot,
                '?' if s.get(i) == Some(&'?') => {
                    i += 1;
                    Kind::Coalesce
                }
                '?' => Kind::Question,
                _ => Kind::Other(c),
            }
        };
        tokens.push(Token {
            kind,
            start,
            end: i,
        });
    }
    tokens
}

/// The end of the string or bytes literal starting at `i`, if one does.
fn string_end(s: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    let mut raw = false;
    while j < s.len() && j - i < 2 && matches!(s[j], 'r' | 'R' | 'b' | 'B') {
        raw |= matches!(s[j], 'r' | 'R');
        j += 1;
    }
    let quote = *s.get(j).filter(|c| matches!(c, '"' | '\''))?;
    let triple = s.get(j + 1) == Some(&quote) && s.get(j + 2) == Some(&quote);
    j += if triple { 3 } else { 1 };
    while j < s.len() {
        if s[j] == '\\' && !raw {
            j += 2;
        } else if triple && s[j..].starts_with(&[quote, quote, quote]) {
            return Some(j + 3);
        } else if !triple && s[j] == quote {
            return Some(j + 1);
        } else if !triple && s[j] == '\n' {
            return Some(j);
        } else {
            j += 1;
        }
    }
    Some(s.len())
}

fn ends_operand(kind: Kind) -> bool {
    matches!(kind, Kind::Ident | Kind::Literal | Kind::Close)
}

/// For each bracket token, the index of its partner, when balanced.
fn match_brackets(tokens: &[Token]) -> Vec<Option<usize>> {
    let mut partner = vec![None; tokens.len()];
    let mut open = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        match t.kind {
            Kind::Open(_) => open.push(i),
            Kind::Close => {
                if let Some(o) = open.pop() {
                    partner[o] = Some(i);
                    partner[i] = Some(o);
                }
            }
            _ => {}
        }
    }
    partner
}

/// The first token of the left operand of the `??` at `q`. Walks back over a
/// postfix chain: `a.b`, `a.?b`, `f(x)`, `a[k]`, `(…)`, and earlier `??`s.
fn left_operand(tokens: &[Token], partner: &[Option<usize>], q: usize) -> Option<usize> {
    let mut j = q.checked_sub(1)?;
    loop {
        let start = match tokens[j].kind {
            Kind::Ident | Kind::Literal => j,
            Kind::Close => partner[j]?,
            _ => return None,
        };
        let Some(prev) = start.checked_sub(1) else {
            return Some(start);
        };
        let is_group = matches!(tokens[start].kind, Kind::Open('(' | '['));
        match tokens[prev].kind {
            Kind::Dot | Kind::Coalesce => j = prev.checked_sub(1)?,
            Kind::Question if prev > 0 && tokens[prev - 1].kind == Kind::Dot => {
                j = prev.checked_sub(2)?
            }
            Kind::Ident | Kind::Close if is_group => j = prev,
            _ => return Some(start),
        }
    }
}

/// The last token of the right operand of the `??` at `q`.
fn right_operand(tokens: &[Token], partner: &[Option<usize>], q: usize) -> Option<usize> {
    let mut i = q + 1;
    while matches!(tokens.get(i)?.kind, Kind::Other('-' | '!')) {
        i += 1;
    }
    let mut end = match tokens[i].kind {
        Kind::Ident | Kind::Literal => i,
        Kind::Open(_) => partner[i]?,
        _ => return None,
    };
    loop {
        match tokens.get(end + 1).map(|t| t.kind) {
            Some(Kind::Dot) => {
                let mut k = end + 2;
                if tokens.get(k)?.kind == Kind::Question {
                    k += 1;
                }
                if tokens.get(k)?.kind != Kind::Ident {
                    return None;
                }
                end = k;
            }
            Some(Kind::Open('(' | '[')) => end = partner[end + 1]?,
            _ => return Some(end),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    /// The rewritten text, whitespace normalised (`??` becomes `, ` in place).
    fn text(source: &str) -> String {
        let text = rewrite(source).expect("rewrites").text;
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn leaves_sources_without_coalesce_untouched() {
        assert_eq!(text(r#"a.b == "x ?? y""#), r#"a.b == "x ?? y""#);
    }

    #[test]
    fn coalesce_binds_tighter_than_any_other_operator() {
        assert_eq!(
            text("s.r * (e.d.f ?? 0.0) > 10000"),
            "s.r * (__coalesce__(e.d.f , 0.0)) > 10000"
        );
        assert_eq!(text("x ?? 0 >= 15"), "__coalesce__(x , 0) >= 15");
        assert_eq!(text("a * b.c ?? -1.5"), "a * __coalesce__(b.c , -1.5)");
        assert_eq!(
            text(r#"e.labels["k"] ?? e.x.y"#),
            r#"__coalesce__(e.labels["k"] , e.x.y)"#
        );
        assert_eq!(text("f(x) ?? (1 + 2)"), "__coalesce__(f(x) , (1 + 2))");
    }

    #[test]
    fn coalesce_chains_nest_to_the_left() {
        assert_eq!(text("a??b ?? c"), "__coalesce__(__coalesce__(a, b) , c)");
    }

    #[test]
    fn coalesce_without_operand_is_refused_at_its_position() {
        assert_eq!(rewrite("1 + ?? 2").unwrap_err().0, 4);
        assert_eq!(rewrite("a ?? ").unwrap_err().0, 2);
    }

    #[test]
    fn positions_map_back_to_the_original_text() {
        let r = rewrite("x ?? 0 >= 15 && y").expect("rewrites");
        assert_eq!(r.text, "__coalesce__(x ,  0) >= 15 && y");
        let y = r.text.find('y').expect("y");
        assert_eq!(r.original_offset(y), 16);
        assert_eq!(r.original_offset(0), 0);
        assert_eq!(r.original_offset(13), 0);
    }
}
