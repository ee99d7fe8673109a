//! Generators shared by the fuzzers: hostile text, arbitrary JSON (deep,
//! wide, huge numbers, odd Unicode), and byte-level mutations of valid seeds.

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::{Map, Number, Value};
use std::time::{Duration, Instant};

/// Cases per property: `default` (small, for `cargo test`), or
/// `PROPTEST_CASES` when set (`scripts/fuzz.sh` sets it high).
pub fn config(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        // A failure is shrunk and printed; it becomes a named test in
        // `regressions.rs` by hand, not a file beside the sources.
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        max_shrink_iters: 2048,
        ..Config::default()
    }
}

/// What one input may cost, in a debug build on a busy machine: far above
/// what a sane input takes, so only a hang or a blow-up trips it.
pub const BUDGET: Duration = Duration::from_secs(10);
/// The most memory one input may hold at once.
pub const MAX_BYTES: usize = 256 * 1024 * 1024;

/// Runs `f`, failing if it took longer than [`BUDGET`] or held more than
/// [`MAX_BYTES`].
pub fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let (out, bytes) = crate::meter::peak_bytes(f);
    let took = start.elapsed();
    assert!(took < BUDGET, "{what} took {took:?}");
    assert!(bytes < MAX_BYTES, "{what} held {bytes} bytes");
    out
}

/// Characters that break careless code: NUL and controls, quotes and
/// escapes, multi-byte and combining characters, right-to-left marks, the
/// BOM, a noncharacter, emoji, and the delimiters of JSON, YAML, CEL and
/// Jinja.
const ODD: &[char] = &[
    '\0',
    '\u{1}',
    '\t',
    '\n',
    '\r',
    '\u{b}',
    '\u{c}',
    '\u{7f}',
    '\u{85}',
    '\u{a0}',
    '\u{2028}',
    '\u{2029}',
    '\u{200b}',
    '\u{200e}',
    '\u{202e}',
    '\u{feff}',
    '\u{fffd}',
    '\u{ffff}',
    'é',
    'e',
    '\u{301}',
    'ß',
    'İ',
    'ﬀ',
    '日',
    '\u{1f4a9}',
    '\u{10ffff}',
    '"',
    '\'',
    '\\',
    '`',
    '/',
    '#',
    '%',
    '&',
    '*',
    '!',
    '|',
    '>',
    '<',
    '?',
    ':',
    ',',
    '-',
    '.',
    '{',
    '}',
    '[',
    ']',
    '(',
    ')',
    '$',
    '=',
    '+',
    '~',
    '@',
    ' ',
    '0',
    '9',
    'a',
    'Z',
    '_',
];

/// One character, mostly odd ones.
pub fn odd_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => proptest::sample::select(ODD),
        1 => any::<char>(),
    ]
}

/// Short strings of odd characters, sometimes very long runs of one.
pub fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::collection::vec(odd_char(), 0..24).prop_map(|v| v.into_iter().collect()),
        1 => (odd_char(), 1usize..2_000).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
        2 => any::<String>(),
    ]
}

/// Numbers at the edges: zero, signs, the integer limits, huge and tiny doubles.
pub fn edge_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        proptest::sample::select(vec![
            i64::MIN as f64,
            u64::MAX as f64,
            1e308,
            -1e308,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            -0.0,
            0.5,
            1e15,
            9007199254740993.0,
        ])
        .prop_filter_map("finite", Number::from_f64),
        any::<f64>().prop_filter_map("finite", Number::from_f64),
    ]
}

pub fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        edge_number().prop_map(Value::Number),
        odd_string().prop_map(Value::String),
    ]
}

/// Arbitrary JSON, keys from `keys` (and odd ones), nested a few levels.
pub fn json_with_keys(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        4 => proptest::sample::select(keys).prop_map(str::to_owned),
        1 => odd_string(),
    ];
    leaf().prop_recursive(6, 96, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Arbitrary JSON with any keys.
pub fn json() -> impl Strategy<Value = Value> {
    json_with_keys(&["a", "b", "", "0"])
}

/// One huge string: a run of one character, 10 KB to 1 MB.
pub fn huge_string() -> impl Strategy<Value = String> {
    (odd_char(), 10_000usize..1_000_000).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect())
}

/// `value` wrapped in `depth` lists or objects: up to and past serde_json's
/// recursion limit of 128, as text.
pub fn deeply_nested_text() -> impl Strategy<Value = String> {
    (1usize..400, any::<bool>(), any::<bool>()).prop_map(|(depth, objects, closed)| {
        let (open, close) = if objects {
            (r#"{"a":"#, "}")
        } else {
            ("[", "]")
        };
        let mut s = open.repeat(depth);
        s.push('1');
        if closed {
            s.push_str(&close.repeat(depth));
        }
        s
    })
}

/// Tokens worth splicing into a text format.
const TOKENS: &[&str] = &[
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "\\udfff",
    "\\uDBFF\\uDFFF",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "null",
    "true",
    "1e999",
    "-0",
    "1e-999",
    "18446744073709551616",
    "-9223372036854775809",
    "0.0000000000000000000000000000001",
    "\u{0}",
    "\u{feff}",
    "\u{1f4a9}",
    "é",
    "\n",
    "\r\n",
    "\t",
    "&a ",
    "*a",
    "<<: ",
    "!!binary ",
    "!tag ",
    "--- ",
    "...",
    "- ",
    "? ",
    "|",
    ">-",
    "%YAML 1.2\n",
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "??",
    "&&",
    "||",
    "has(",
    ".exists(x, ",
    "size(",
    "b\"",
    "r\"",
    "'''",
];

#[derive(Clone, Debug)]
pub enum Mutation {
    FlipBit(usize, u8),
    SetByte(usize, u8),
    InsertToken(usize, usize),
    InsertByte(usize, u8),
    Delete(usize, usize),
    Duplicate(usize, usize),
    Truncate(usize),
    Swap(usize, usize),
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        (at, 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (at, any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        (at, 0..TOKENS.len()).prop_map(|(i, t)| Mutation::InsertToken(i, t)),
        (at, any::<u8>()).prop_map(|(i, b)| Mutation::InsertByte(i, b)),
        (at, 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (at, 1usize..64).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        at.prop_map(Mutation::Truncate),
        (at, at).prop_map(|(a, b)| Mutation::Swap(a, b)),
    ]
}

/// Applies `mutations` to `seed`, in order.
pub fn mutate(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for m in mutations {
        let len = b.len();
        let pos = |i: usize| if len == 0 { 0 } else { i % (len + 1) };
        match *m {
            Mutation::FlipBit(i, bit) if len > 0 => b[i % len] ^= 1 << bit,
            Mutation::SetByte(i, v) if len > 0 => b[i % len] = v,
            Mutation::InsertToken(i, t) => {
                let at = pos(i);
                b.splice(at..at, TOKENS[t].bytes());
            }
            Mutation::InsertByte(i, v) => b.insert(pos(i), v),
            Mutation::Delete(i, n) if len > 0 => {
                let at = i % len;
                b.drain(at..(at + n).min(len));
            }
            Mutation::Duplicate(i, n) if len > 0 => {
                let at = i % len;
                let part = b[at..(at + n).min(len)].to_vec();
                b.splice(at..at, part);
            }
            Mutation::Truncate(i) => b.truncate(pos(i)),
            Mutation::Swap(i, j) if len > 0 => b.swap(i % len, j % len),
            _ => {}
        }
    }
    b
}

/// Mutations of one of `seeds`.
pub fn mutated(seeds: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::sample::select(seeds),
        proptest::collection::vec(mutation(), 1..8),
    )
        .prop_map(|(seed, ms)| mutate(seed.as_bytes(), &ms))
}

/// Mutations of one of `seeds`, as text (invalid UTF-8 replaced): for the
/// parsers that take `&str`.
pub fn mutated_text(seeds: &'static [&'static str]) -> impl Strategy<Value = String> {
    mutated(seeds).prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// A JSON value with one node somewhere replaced by another of any type:
/// a string where an object was, a list for a number, null for anything.
pub fn swap_types(value: Value) -> impl Strategy<Value = Value> {
    (any::<usize>(), leaf_or_container()).prop_map(move |(pick, replacement)| {
        let mut v = value.clone();
        let n = count(&v);
        replace_nth(&mut v, pick % n, replacement);
        v
    })
}

fn leaf_or_container() -> impl Strategy<Value = Value> {
    prop_oneof![
        leaf(),
        Just(Value::Array(vec![])),
        Just(Value::Object(Map::new())),
        json(),
    ]
}

fn count(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count).sum(),
        Value::Object(o) => o.values().map(count).sum(),
        _ => 0,
    }
}

fn replace_nth(v: &mut Value, mut n: usize, with: Value) -> usize {
    if n == 0 {
        *v = with;
        return usize::MAX;
    }
    n -= 1;
    let children: Vec<&mut Value> = match v {
        Value::Array(a) => a.iter_mut().collect(),
        Value::Object(o) => o.values_mut().collect(),
        _ => return n,
    };
    for child in children {
        n = replace_nth(child, n, with.clone());
        if n == usize::MAX {
            return n;
        }
    }
    n
}

/// `text` of a JSON object with `key` repeated at its end (JSON allows
/// duplicates; serde_json keeps the last, so the repeated one wins).
pub fn with_duplicate_key(text: &str, key: &str, value: &Value) -> String {
    match text.strip_suffix('}') {
        Some(rest) if rest.trim_end().ends_with('{') => {
            format!("{rest}{}:{value}}}", Value::String(key.to_owned()))
        }
        Some(rest) => format!("{rest},{}:{value}}}", Value::String(key.to_owned())),
        None => text.to_owned(),
    }
}
