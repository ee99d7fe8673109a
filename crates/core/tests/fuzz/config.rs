//! The YAML configuration loader (`core::config::load`): arbitrary text,
//! mutated configurations, and hostile YAML (alias bombs, deep nesting,
//! huge scalars, tags, merge keys, many documents).

use crate::inputs::{self, config, timed};
use escalator_core::config::{ConfigError, load, to_yaml};
use proptest::prelude::*;

/// Configurations that load: the quick start, and one that uses every
/// section (rules, templates, schedules, channels, mappings, grouping).
pub const SEEDS: &[&str] = &[include_str!("../../../../examples/quickstart.yaml"), FULL];

pub const FULL: &str = r#"
channels:
  slack: {bot_token: "${env:SLACK_TOKEN}", signing_secret: "${env:SLACK_SECRET}"}
  twilio: {account_sid: AC1, auth_token: "${env:TWILIO_TOKEN}", from: "+15550001111", min_interval: 1m}
users:
  - id: alice
    name: Alice Ng
    time_zone: Europe/Berlin
    skills: [db]
    languages: [de]
    region: eu
    contact_methods:
      - {id: hook, type: webhook, url: "http://127.0.0.1:9999/alice"}
      - {id: sms, type: sms, number: "+4915112345678"}
      - {id: chat, type: slack, user: U024BE7LH}
    notification_rules:
      - {contact_method: hook, after: 0s}
      - {contact_method: sms, after: 5m, urgency: high}
    away: [{from: "2030-01-01T00:00:00Z", to: "2030-01-02T00:00:00Z"}]
  - id: bob
    contact_methods:
      - {id: hook, type: webhook, url: "https://hooks.example.com/bob"}
teams:
  - {id: sre, name: SRE, members: [alice, bob]}
schedules:
  - id: primary
    time_zone: Europe/Berlin
    layers:
      - id: week
        start: "2026-11-30T09:00"
        rotation: weekly
        members: [alice, bob]
        restrictions: [{days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}]
    overrides: [{user: bob, from: "2030-01-01T00:00:00Z", to: "2030-01-02T00:00:00Z"}]
escalation_policies:
  - id: payments
    repeat: 1
    levels:
      - targets: [{schedule: primary}]
        backup: [{user: bob}]
        escalate_after: 15m
        stakeholders: [{team: sre, template: stakeholder}]
      - targets: [{team: sre, skill: db}]
        escalate_after: 1h30m
templates:
  - id: short
    audience: stakeholder
    level: 2
    subject: "{{ status | capitalize }}: {{ title }}"
    text: "{% for x in [1, 2] %}{{ x }}{% endfor %} {{ service.name or service.id }}"
announcements:
  - {priority: P1, notify: [{team: sre}], template: executive}
services:
  - id: payments-api
    name: Payments API
    escalation_policy: payments
    tier: 1
    data_classification: pii
    revenue_per_hour: 12000.5
    grouping: {by: [alertname, cluster], window: 5m}
    integrations:
      - {type: events_v2, key: "0123456789abcdef0123456789abcdef"}
      - {type: alertmanager, key: "1123456789abcdef0123456789abcdef"}
      - type: generic
        key: "2123456789abcdef0123456789abcdef"
        mapping:
          summary: 'body.title'
          dedup_key: 'body.id'
          severity: 'body.level ?? "error"'
          action: 'body.state == "ok" ? "resolve" : "trigger"'
rules:
  - id: breach
    exception: true
    when: 'event.custom_details.category == "data_breach"'
    then: {priority: P1, start_level: 2, notify: [{team: sre}]}
    owner: alice
    review_by: 2027-03-01
  - id: quiet
    when: 'event.severity == "info" && (event.custom_details.users ?? 0) < 10'
    then: {suppress: true}
detectors:
  - {id: latency, service: payments-api, metric: p99, method: threshold, above: 2.5, for: 5m}
"#;

/// What every load must satisfy: errors located inside the text and in
/// order; an accepted configuration exports to YAML that loads back equal.
pub fn check(text: &str) -> Result<(), TestCaseError> {
    match timed("config::load", || load(text)) {
        Ok(config) => {
            let yaml = to_yaml(&config);
            let again = timed("config::load of the export", || load(&yaml));
            prop_assert_eq!(again, Ok(config), "{}", yaml);
        }
        Err(errors) => {
            prop_assert!(!errors.is_empty());
            // YAML breaks lines at \n, \r\n and a lone \r.
            let lines = text.replace("\r\n", "\n").matches(['\n', '\r']).count() + 2;
            for e in &errors {
                prop_assert!(
                    located(e, lines),
                    "{e:?} is outside the text ({lines} lines)"
                );
                prop_assert!(!e.message.is_empty());
            }
            let positions: Vec<_> = errors.iter().map(|e| (e.line, e.column)).collect();
            prop_assert!(positions.is_sorted(), "errors out of order: {positions:?}");
        }
    }
    Ok(())
}

fn located(e: &ConfigError, lines: usize) -> bool {
    e.line >= 1 && e.column >= 1 && e.line <= lines
}

/// YAML meant to hurt a loader, by its parameters (a failure prints these,
/// not megabytes of text).
#[derive(Clone, Debug)]
pub enum Hostile {
    /// "Billion laughs": each anchor aliases the one before `fanout` times.
    Laughs {
        levels: usize,
        fanout: usize,
        in_config: bool,
    },
    /// `aliases` aliases of one anchored list of `size` items.
    ManyAliases {
        size: usize,
        aliases: usize,
        nested: bool,
    },
    /// Lists nested `depth` deep in flow style, closed or not.
    DeepFlow { depth: usize, closed: bool },
    /// Mappings or lists of mappings nested `depth` deep in block style.
    DeepBlock { depth: usize, lists: bool },
    /// A scalar of `len` copies of `c`, in one of four places and styles.
    Huge { c: char, len: usize, style: usize },
    /// Tags, merge keys, anchors redefined or undefined, many documents.
    Odd(&'static str),
}

impl Hostile {
    pub fn text(&self) -> String {
        match *self {
            Hostile::Laughs {
                levels,
                fanout,
                in_config,
            } => {
                let mut s = String::from(if in_config {
                    "users:\n  - id: a\n    skills: "
                } else {
                    ""
                });
                s.push_str("&a0 [lol]\n");
                for l in 1..levels {
                    let items = vec![format!("*a{}", l - 1); fanout].join(", ");
                    s.push_str(&format!("x{l}: &a{l} [{items}]\n"));
                }
                s
            }
            Hostile::ManyAliases {
                size,
                aliases,
                nested,
            } => {
                // `nested`: the anchored list is deeper than an alias may go.
                let mut items = vec!["x".to_owned(); size];
                if nested {
                    items.push(format!("{}{}", "[".repeat(61), "]".repeat(61)));
                }
                let many = vec!["*big"; aliases].join(", ");
                format!("a: &big [{}]\nb: [[{many}]]\n", items.join(", "))
            }
            Hostile::DeepFlow { depth, closed } => {
                let mut s = "users: ".to_owned() + &"[".repeat(depth);
                if closed {
                    s.push_str(&"]".repeat(depth));
                }
                s
            }
            Hostile::DeepBlock { depth, lists } => (0..depth)
                .map(|d| {
                    if lists {
                        format!("{}- a:\n", "    ".repeat(d))
                    } else {
                        format!("{}k{d}:\n", "  ".repeat(d))
                    }
                })
                .collect(),
            Hostile::Huge { c, len, style } => {
                let c = if c.is_control() || c == '\'' { 'x' } else { c };
                // Known: a long CEL expression costs ~330 bytes a character
                // to parse (`regressions::a_long_condition_is_parsed_in_bounded_memory`).
                let len = if style == 3 && crate::regressions::KNOWN_CEL_PARSE_MEMORY {
                    len.min(200_000)
                } else {
                    len
                };
                let s: String = std::iter::repeat_n(c, len).collect();
                match style {
                    0 => format!("users:\n  - id: {s}\n"),
                    1 => format!("users:\n  - id: alice\n    name: {s:?}\n"),
                    2 => format!(
                        "templates:\n  - id: t\n    audience: responder\n    subject: s\n    text: |\n      {s}\n"
                    ),
                    _ => format!(
                        "rules:\n  - id: r\n    when: '{s}'\n    then: {{suppress: true}}\n"
                    ),
                }
            }
            Hostile::Odd(text) => text.to_owned(),
        }
    }
}

fn hostile() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        (1usize..12, 2usize..12, any::<bool>())
            .prop_map(|(levels, fanout, in_config)| Hostile::Laughs { levels, fanout, in_config }),
        (1usize..60_000, 1usize..60_000, any::<bool>())
            .prop_map(|(size, aliases, nested)| Hostile::ManyAliases { size, aliases, nested }),
        (1usize..300, any::<bool>()).prop_map(|(depth, closed)| Hostile::DeepFlow { depth, closed }),
        (1usize..200, any::<bool>()).prop_map(|(depth, lists)| Hostile::DeepBlock { depth, lists }),
        (inputs::odd_char(), 10_000usize..1_000_000, 0usize..4)
            .prop_map(|(c, len, style)| Hostile::Huge { c, len, style }),
        proptest::sample::select(vec![
            "users: !!binary aGVsbG8=",
            "users: !custom [a]",
            "users: !<tag:yaml.org,2002:map> {}",
            "users: !!map {}",
            "users: !!seq []",
            "? [a, b]\n: c",
            "a: &x 1\nb: &x 2\nc: *x",
            "a: *missing",
            "a: &x [*x]",
            "base: &b {id: a}\nusers:\n  - <<: *b\n",
            "---\nusers: []\n---\nteams: []\n...\n---\n",
            "%YAML 1.2\n%TAG ! tag:example.com,2000:\n--- !foo\nusers: []",
            "users: [\"\\u0000\", '\u{0}']",
            "\u{feff}users: []",
            "users:\n\t- id: a",
            "{a: 1, a: 2}",
            "users: {id: 1e999}",
            "escalation_policies: [{id: p, repeat: 99999999999999999999, levels: []}]",
            "escalation_policies: [{id: p, repeat: -1, levels: [{targets: [], escalate_after: 99999999999d}]}]",
        ])
        .prop_map(Hostile::Odd),
    ]
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn arbitrary_text_is_loaded_or_refused_with_located_errors(text in inputs::odd_string()) {
        check(&text)?;
    }

    #[test]
    fn mutated_configurations_are_loaded_or_refused_with_located_errors(text in inputs::mutated_text(SEEDS)) {
        check(&text)?;
    }

    #[test]
    fn hostile_yaml_is_bounded(yaml in hostile()) {
        check(&yaml.text())?;
    }
}

#[test]
fn the_seeds_load() {
    for seed in SEEDS {
        if let Err(errors) = load(seed) {
            panic!("{errors:#?}");
        }
    }
}
