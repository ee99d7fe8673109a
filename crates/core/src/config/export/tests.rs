use super::*;
use crate::config::load::tests::EXAMPLE;
use crate::config::{
    ContactMethod, Grouping, Integration, IntegrationKind, Level, NotificationRule, Secret,
    SlackChannel, SmtpChannel, Stakeholder, TwilioChannel, Urgency, load,
};
use crate::duration::Duration;
use crate::ids::{ContactMethodId, PolicyId, RoutingKey, ServiceId, TeamId, UserId};
use proptest::prelude::*;
use proptest::sample::{Index, select};

#[test]
fn round_trips_the_documented_example() {
    let config = load(EXAMPLE).expect("example is valid");
    let yaml = to_yaml(&config);
    assert_eq!(load(&yaml), Ok(config), "{yaml}");
}

#[test]
fn writes_the_documented_shape() {
    let config = load(EXAMPLE).expect("example is valid");
    let expected = r#"# Escalator configuration, exported
users:
  - id: alice
    name: "Alice Ng"
    time_zone: Europe/Berlin
    contact_methods:
      - {id: hook, type: webhook, url: "http://127.0.0.1:9999/alice"}
    notification_rules:
      - {contact_method: hook, after: 0s}
  - id: bob
    contact_methods:
      - {id: hook, type: webhook, url: "https://hooks.example.com/bob"}
teams:
  - id: sre
    name: SRE
    members: [alice, bob]
escalation_policies:
  - id: payments
    name: Payments
    repeat: 1
    levels:
      - targets: [{user: alice}]
        escalate_after: 15m
      - targets: [{user: bob}, {team: sre}]
        escalate_after: 15m
services:
  - id: payments-api
    name: "Payments API"
    escalation_policy: payments
    integrations:
      - {type: events_v2, key: "0123456789abcdef0123456789abcdef"}
"#;
    assert_eq!(to_yaml(&config), expected);
}

#[test]
fn channels_round_trip_with_secrets_as_written() {
    use crate::config::load::tests::CHANNELS_EXAMPLE;
    let config = load(CHANNELS_EXAMPLE).expect("example is valid");
    let yaml = to_yaml(&config);
    assert_eq!(load(&yaml), Ok(config), "{yaml}");
    let expected = r#"channels:
  smtp: {host: "127.0.0.1", port: 2525, from: "escalator@example.com", starttls: false, username: "ops", password: "${env:SMTP_PASSWORD}"}
  slack: {api_url: "https://slack.com/api", bot_token: "${env:SLACK_BOT_TOKEN}", signing_secret: "${env:SLACK_SIGNING_SECRET}"}
  twilio: {api_url: "https://api.twilio.com", account_sid: "AC123", auth_token: "${env:TWILIO_TOKEN}", from: "+15005550006"}
"#;
    assert!(yaml.contains(expected), "{yaml}");
    assert!(
        yaml.contains("{id: dm, type: slack, user: \"U024BE7LH\"}"),
        "{yaml}"
    );
    assert!(
        yaml.contains("{contact_method: phone, after: 2m, urgency: high}"),
        "{yaml}"
    );
}

#[test]
fn an_empty_config_exports_empty_sections() {
    let yaml = to_yaml(&Config::default());
    assert_eq!(
        yaml,
        "# Escalator configuration, exported\nusers: []\nteams: []\nescalation_policies: []\nservices: []\n"
    );
    assert_eq!(load(&yaml), Ok(Config::default()));
}

#[test]
fn quotes_whatever_yaml_could_misread() {
    for plain in ["alice", "Europe/Berlin", "a.b-c_d", "_x", "sre2"] {
        assert_eq!(scalar(plain), plain);
    }
    for tricky in [
        "", "123", "1e3", "0x1F", "true", "No", "null", "~", "-a", ".inf",
    ] {
        assert_eq!(scalar(tricky), format!("\"{tricky}\""));
    }
    assert_eq!(quoted("a \"b\" \\ c\nd"), r#""a \"b\" \\ c\nd""#);
    assert_eq!(quoted("\u{7}\u{2028}é"), r#""\u0007\u2028é""#);
}

// -- Random valid configurations ---------------------------------------

/// Text meant to trip a careless emitter: YAML indicators, quotes, escapes,
/// line breaks, words YAML reads as other types, and non-ASCII.
fn tricky_text() -> impl Strategy<Value = String> {
    let chars = select(vec![
        'a', 'Z', '0', '7', ' ', ':', '#', '\'', '"', '\\', '\n', '\t', '\r', '{', '}', '[', ']',
        ',', '&', '*', '!', '|', '>', '%', '@', '`', '-', '?', 'é', '漢', '😀', '\u{2028}',
        '\u{85}', '\u{1}', '\u{feff}',
    ]);
    prop_oneof![
        prop::collection::vec(chars, 0..12).prop_map(String::from_iter),
        select(vec![
            "", "true", "null", "~", "123", "0x1F", "1e3", "- a", "? x", "yes", " lead", "trail ",
            "a: b", "# no",
        ])
        .prop_map(str::to_owned),
    ]
}

fn raw_id() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(select(vec!['a', 'b', 'Z', '0', '9', '_', '.', '-']), 1..8)
            .prop_map(String::from_iter),
        select(vec![
            "true", "null", "123", "0x1F", "1e3", "no", "-", ".inf"
        ])
        .prop_map(str::to_owned),
    ]
}

/// `count` distinct ids, each valid for every id type.
fn ids(count: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(raw_id(), count).prop_map(|raw| {
        let mut seen = std::collections::HashSet::new();
        raw.into_iter()
            .enumerate()
            .map(|(i, id)| {
                let id = if seen.contains(&id) {
                    format!("{id}-{i}")
                } else {
                    id
                };
                seen.insert(id.clone());
                id
            })
            .collect()
    })
}

fn name() -> impl Strategy<Value = Option<String>> {
    prop::option::of(tricky_text())
}

fn id<T>(parse: fn(&str) -> Result<T, crate::ids::IdError>, s: &str) -> T {
    parse(s).expect("generated ids are valid")
}

/// (id, index into `ContactKind::TYPE_NAMES`, text, E.164 number, Slack id)
type RawMethod = (String, usize, String, String, String);

type RawUser = (
    Option<String>,
    Option<String>,
    Vec<RawMethod>,
    Vec<(Index, u64, Option<Urgency>)>,
);

fn raw_user() -> impl Strategy<Value = RawUser> {
    let method = (
        raw_id(),
        0usize..6,
        tricky_text(),
        "\\+[1-9][0-9]{7,14}",
        "[UWC][A-Z0-9]{2,12}",
    );
    let urgency = prop::option::of(select(Urgency::ALL.to_vec()));
    (
        name(),
        prop::option::of(select(vec!["UTC", "Europe/Berlin", "America/New_York"]))
            .prop_map(|tz| tz.map(str::to_owned)),
        prop::collection::vec(method, 0..=3),
        prop::collection::vec((any::<Index>(), 0u64..200_000, urgency), 0..3),
    )
}

/// The contact kind a raw method stands for; one whose channel `channels`
/// lacks becomes a webhook, so the configuration stays valid.
fn contact_kind(channels: &Channels, raw: (usize, String, String, String)) -> ContactKind {
    let (kind, text, number, slack_id) = raw;
    let kind = match kind {
        0 => ContactKind::Webhook {
            url: url_with(&text),
        },
        1 => {
            let local: String = text
                .chars()
                .filter(|c| !c.is_whitespace() && !c.is_control() && *c != '@')
                .collect();
            ContactKind::Email {
                address: format!("{local}x@example.com"),
            }
        }
        2 => ContactKind::Sms { number },
        3 => ContactKind::Voice { number },
        4 => ContactKind::Slack { user: slack_id },
        _ => ContactKind::Teams {
            webhook_url: url_with(&text),
        },
    };
    let declared = match kind.channel() {
        Some("smtp") => channels.smtp.is_some(),
        Some("slack") => channels.slack.is_some(),
        Some(_) => channels.twilio.is_some(),
        None => true,
    };
    if declared {
        kind
    } else {
        ContactKind::Webhook {
            url: url_with(&text),
        }
    }
}

fn secret() -> impl Strategy<Value = Secret> {
    "[A-Za-z_][A-Za-z0-9_]{0,10}"
        .prop_map(|n| Secret::parse(&format!("${{env:{n}}}")).expect("generated secrets are valid"))
}

fn non_empty_text() -> impl Strategy<Value = String> {
    tricky_text().prop_map(|t| if t.is_empty() { "x".to_owned() } else { t })
}

fn arb_channels() -> impl Strategy<Value = Channels> {
    let smtp = (
        non_empty_text(),
        1u16..,
        non_empty_text(),
        any::<bool>(),
        prop::option::of(tricky_text()),
        prop::option::of(secret()),
        prop::option::of(non_empty_text()),
    )
        .prop_map(
            |(host, port, from, starttls, username, password, ca_file)| SmtpChannel {
                host,
                port,
                from,
                starttls,
                username,
                password,
                ca_file: ca_file.filter(|_| starttls),
            },
        );
    let slack = (tricky_text(), secret(), prop::option::of(secret())).prop_map(
        |(path, bot_token, signing_secret)| SlackChannel {
            api_url: url_with(&path),
            bot_token,
            signing_secret,
        },
    );
    let twilio = (
        tricky_text(),
        non_empty_text(),
        secret(),
        "\\+[1-9][0-9]{7,14}",
        0u64..200,
    )
        .prop_map(
            |(path, account_sid, auth_token, from, secs)| TwilioChannel {
                api_url: url_with(&path),
                account_sid,
                auth_token,
                from,
                min_interval: Duration::from_secs(secs),
            },
        );
    (
        prop::option::of(smtp),
        prop::option::of(slack),
        prop::option::of(twilio),
    )
        .prop_map(|(smtp, slack, twilio)| Channels {
            smtp,
            slack,
            twilio,
        })
}

/// A valid webhook URL whose path carries what of `text` a URL may contain.
fn url_with(text: &str) -> String {
    let path: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect();
    format!("https://h.example/{path}")
}

fn arb_config() -> impl Strategy<Value = Config> {
    let users = (ids(1..=4), prop::collection::vec(raw_user(), 4));
    let teams = (
        ids(0..=3),
        prop::collection::vec((name(), prop::collection::vec(any::<Index>(), 1..4)), 3),
    );
    let level = (
        prop::collection::vec((any::<bool>(), any::<Index>()), 1..=3),
        1u64..10_000_000,
    );
    let policies = (
        ids(1..=3),
        prop::collection::vec((name(), 0u32..5, prop::collection::vec(level, 1..=3)), 3),
    );
    let services = (
        ids(0..=3),
        prop::collection::vec(
            (
                name(),
                any::<Index>(),
                prop::collection::vec("[A-Za-z0-9]{30}", 0..3),
            ),
            3,
        ),
    );
    (arb_channels(), users, teams, policies, services).prop_map(build)
}

type RawLevel = (Vec<(bool, Index)>, u64);
type Raw = (
    Channels,
    (Vec<String>, Vec<RawUser>),
    (Vec<String>, Vec<(Option<String>, Vec<Index>)>),
    (Vec<String>, Vec<(Option<String>, u32, Vec<RawLevel>)>),
    (Vec<String>, Vec<(Option<String>, Index, Vec<String>)>),
);

/// Turns independent random parts into a consistent configuration:
/// indexes pick among the users, teams and policies that exist.
fn build(raw: Raw) -> Config {
    let (
        channels,
        (user_ids, users),
        (team_ids, teams),
        (policy_ids, policies),
        (service_ids, services),
    ) = raw;
    let users: Vec<User> = user_ids
        .iter()
        .zip(users)
        .map(|(uid, (name, time_zone, methods, rules))| {
            let contact_methods: Vec<ContactMethod> = methods
                .into_iter()
                .enumerate()
                .map(|(i, (cid, kind, text, number, slack_id))| ContactMethod {
                    id: id(ContactMethodId::parse, &format!("{cid}{i}")),
                    kind: contact_kind(&channels, (kind, text, number, slack_id)),
                })
                .collect();
            // Rules need a contact method to point at.
            let rules = if contact_methods.is_empty() {
                Vec::new()
            } else {
                rules
            };
            let notification_rules = rules
                .into_iter()
                .map(|(pick, secs, urgency)| NotificationRule {
                    contact_method: pick.get(&contact_methods).id.clone(),
                    after: Duration::from_secs(secs),
                    urgency,
                })
                .collect();
            User {
                id: id(UserId::parse, uid),
                name,
                time_zone,
                contact_methods,
                notification_rules,
                skills: vec![],
                languages: vec![],
                region: None,
                away: vec![],
                handoff_notice: false,
            }
        })
        .collect();
    let teams: Vec<Team> = team_ids
        .iter()
        .zip(teams)
        .map(|(tid, (name, picks))| {
            let mut members: Vec<UserId> = Vec::new();
            for pick in picks {
                let member = pick.get(&users).id.clone();
                if !members.contains(&member) {
                    members.push(member);
                }
            }
            Team {
                id: id(TeamId::parse, tid),
                name,
                members,
            }
        })
        .collect();
    let escalation_policies: Vec<EscalationPolicy> = policy_ids
        .iter()
        .zip(policies)
        .map(|(pid, (name, repeat, levels))| EscalationPolicy {
            id: id(PolicyId::parse, pid),
            name,
            repeat,
            levels: levels
                .into_iter()
                .map(|(targets, secs)| Level {
                    targets: targets
                        .into_iter()
                        .map(|(team, pick)| {
                            if team && !teams.is_empty() {
                                Target::team(pick.get(&teams).id.clone())
                            } else {
                                Target::user(pick.get(&users).id.clone())
                            }
                        })
                        .collect(),
                    backup: vec![],
                    // Every other level keeps a stakeholder informed.
                    stakeholders: if secs % 2 == 1 {
                        vec![Stakeholder {
                            target: Target::user(users[0].id.clone()),
                            template: ["executive", "exec-short"][(secs % 4 / 2) as usize]
                                .to_owned(),
                        }]
                    } else {
                        vec![]
                    },
                    escalate_after: Duration::from_secs(secs),
                })
                .collect(),
        })
        .collect();
    let mut key_number = 0;
    let services = service_ids
        .iter()
        .zip(services)
        .map(|(sid, (name, pick, keys))| Service {
            id: id(ServiceId::parse, sid),
            name,
            escalation_policy: pick.get(&escalation_policies).id.clone(),
            tier: None,
            data_classification: None,
            customer_segment: None,
            revenue_per_hour: None,
            // Every other service groups, so the key round-trips too.
            grouping: (sid.len() % 2 == 0).then(|| Grouping {
                by: vec!["alertname".into(), "cluster name".into()],
                window: Duration::from_secs(60 * sid.len() as u64 + 1),
            }),
            integrations: keys
                .into_iter()
                .map(|key| {
                    // A distinct two-digit prefix keeps keys unique.
                    key_number += 1;
                    Integration {
                        kind: IntegrationKind::EventsV2,
                        key: RoutingKey::parse(&format!("{key_number:02}{key}"))
                            .expect("32 alphanumerics"),
                        mapping: None,
                    }
                })
                .collect(),
        })
        .collect();
    let users_first = users[0].id.clone();
    Config {
        channels,
        users,
        teams,
        schedules: vec![],
        escalation_policies,
        services,
        rules: vec![],
        detectors: vec![],
        // Named by stakeholders above.
        templates: vec![crate::templates::TemplateSpec {
            id: "exec-short".into(),
            audience: crate::templates::Audience::Executive,
            level: None,
            subject: "{{ title }}: \"{{ status }}\"".into(),
            text: "{% if update %}{{ update }}\n{% endif %}{{ url }}".into(),
        }],
        announcements: vec![crate::config::Announcement {
            priority: crate::rules::Priority::P1,
            notify: vec![Target::user(users_first.clone())],
            template: "exec-short".into(),
        }],
        // Default for every other configuration, so both ways round-trip.
        retention: match key_number % 2 {
            0 => crate::retention::Retention::default(),
            _ => crate::retention::Retention {
                notifications: crate::retention::Keep::Forever,
                samples: crate::retention::Keep::For(Duration::from_secs(3600 * key_number)),
                ..Default::default()
            },
        },
    }
}

#[test]
fn templates_round_trip() {
    const TEMPLATES: &str = r#"templates:
  - {id: exec-short, audience: executive, subject: "{{ title }}", text: "a\n{% if update %}{{ update }}{% endif %}"}
  - {id: l2, audience: responder, level: 2, subject: s, text: "yes"}
"#;
    let config = load(&format!("{EXAMPLE}{TEMPLATES}")).unwrap();
    assert_eq!(config.templates.len(), 2);
    assert_eq!(
        config.templates[0].text,
        "a\n{% if update %}{{ update }}{% endif %}"
    );
    assert_eq!(config.templates[1].level, Some(2));
    assert_eq!(load(&to_yaml(&config)), Ok(config));
}

proptest! {
    #[test]
    fn exported_yaml_loads_back_equal(config in arb_config()) {
        let yaml = to_yaml(&config);
        prop_assert_eq!(load(&yaml), Ok(config), "{}", yaml);
    }
}
