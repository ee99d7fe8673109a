//! The loader's specification.

use super::*;
use crate::config::{ContactKind, IntegrationKind, Target};
use crate::duration::Duration;
use crate::ids::{IdError, TeamId, UserId};
use check::is_http_url;
use tree::{MAX_ALIASED_NODES, Pos};

/// The example from the configuration documentation, with `bob` defined.
pub(in crate::config) const EXAMPLE: &str = r#"
users:
  - id: alice
    name: Alice Ng
    time_zone: Europe/Berlin
    contact_methods:
      - {id: hook, type: webhook, url: "http://127.0.0.1:9999/alice"}
    notification_rules:
      - {contact_method: hook, after: 0s}
  - id: bob
    contact_methods:
      - {id: hook, type: webhook, url: "https://hooks.example.com/bob"}
teams:
  - {id: sre, name: SRE, members: [alice, bob]}
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
    name: Payments API
    escalation_policy: payments
    integrations:
      - {type: events_v2, key: "0123456789abcdef0123456789abcdef"}
"#;

/// `(line, column, path, message)` of each error, for compact assertions.
fn errors(text: &str) -> Vec<(usize, usize, String, String)> {
    match load(text) {
        Ok(config) => panic!("expected errors, loaded {config:?}"),
        Err(errors) => errors
            .into_iter()
            .map(|e| (e.line, e.column, e.path, e.message))
            .collect(),
    }
}

fn one_error(text: &str) -> (usize, usize, String, String) {
    let mut all = errors(text);
    assert_eq!(all.len(), 1, "expected exactly one error, got {all:#?}");
    all.remove(0)
}

fn e(line: usize, column: usize, path: &str, message: &str) -> (usize, usize, String, String) {
    (line, column, path.to_owned(), message.to_owned())
}

#[test]
fn loads_the_documented_example() {
    let config = load(EXAMPLE).expect("example is valid");
    let alice = &config.users[0];
    assert_eq!(alice.id.as_str(), "alice");
    assert_eq!(alice.name.as_deref(), Some("Alice Ng"));
    assert_eq!(alice.time_zone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(
        alice.contact_methods[0].kind,
        ContactKind::Webhook {
            url: "http://127.0.0.1:9999/alice".into()
        }
    );
    assert_eq!(alice.notification_rules[0].after, Duration::ZERO);
    assert!(config.users[1].notification_rules.is_empty());
    assert_eq!(config.teams[0].members.len(), 2);
    let policy = &config.escalation_policies[0];
    assert_eq!(policy.repeat, 1);
    assert_eq!(policy.levels[1].escalate_after.as_secs(), 900);
    assert_eq!(
        policy.levels[1].targets,
        vec![
            Target::user(UserId::parse("bob").unwrap()),
            Target::team(TeamId::parse("sre").unwrap())
        ]
    );
    let service = &config.services[0];
    assert_eq!(service.escalation_policy.as_str(), "payments");
    assert_eq!(service.integrations[0].kind, IntegrationKind::EventsV2);
}

#[test]
fn empty_documents_are_empty_configs() {
    for text in [
        "",
        "\n",
        "# nothing yet\n",
        "---\n",
        "{}",
        "users: []\nteams:\n",
    ] {
        assert_eq!(load(text), Ok(Config::default()), "{text:?}");
    }
}

#[test]
fn reports_every_error_with_line_column_and_path() {
    let text = "\
users:
  - id: alice
    time_zone: Mars/Base
    contact_methods:
      - {id: hook, type: pager, url: \"ftp://x\"}
      - {id: mail, type: webhook, url: \"ftp://x\"}
teams:
  - {id: sre}
escalation_policies:
  - id: payments
    repeat: \"1\"
    levels:
      - targets: []
        escalate_after: 15x
services:
  - id: api
    escalation_policy: pay
    integrations:
      - {type: events_v2, key: short}
";
    assert_eq!(
        errors(text),
        vec![
            e(
                3,
                16,
                "users[0].time_zone",
                "unknown time zone \"Mars/Base\""
            ),
            e(
                5,
                26,
                "users[0].contact_methods[0].type",
                "unknown type \"pager\"; expected one of: webhook, email, sms, voice, slack, teams"
            ),
            e(
                6,
                40,
                "users[0].contact_methods[1].url",
                "url must be an absolute http or https URL, or ${env:NAME}"
            ),
            e(
                8,
                5,
                "teams[0].members",
                "required key \"members\" is missing"
            ),
            e(
                11,
                13,
                "escalation_policies[0].repeat",
                "repeat must be a non-negative integer, written without quotes"
            ),
            e(
                13,
                18,
                "escalation_policies[0].levels[0].targets",
                "must have at least one target"
            ),
            e(
                14,
                25,
                "escalation_policies[0].levels[0].escalate_after",
                "\"15x\" is not a duration; write it as 30s, 15m or 1h30m (units d, h, m, s)"
            ),
            e(
                17,
                24,
                "services[0].escalation_policy",
                "unknown escalation policy \"pay\""
            ),
            e(
                19,
                32,
                "services[0].integrations[0].key",
                "must be 32 letters or digits"
            ),
        ]
    );
}

#[test]
fn a_yaml_syntax_error_is_one_error_at_its_position() {
    let text = "users: [alice, bob\nteams: []\n";
    let (line, column, path, message) = one_error(text);
    assert_eq!((line, column, path.as_str()), (2, 6, ""));
    assert!(message.contains("':'"), "{message}");
}

#[test]
fn unknown_key_names_the_expected_keys() {
    let text = "\
escalation_policies:
  - id: p
    levels:
      - targets: [{user: alice}]
        escalate_afer: 15m
users: [{id: alice}]
";
    assert_eq!(
        errors(text),
        vec![
            // The level is located at its first key, where the missing key belongs.
            e(
                4,
                9,
                "escalation_policies[0].levels[0].escalate_after",
                "required key \"escalate_after\" is missing"
            ),
            e(
                5,
                9,
                "escalation_policies[0].levels[0].escalate_afer",
                "unknown key \"escalate_afer\"; expected one of: targets, backup, escalate_after, stakeholders"
            ),
        ]
    );
}

#[test]
fn unknown_top_level_keys_are_errors() {
    assert_eq!(
        one_error("users: []\nservice: []\n"),
        e(
            2,
            1,
            "service",
            "unknown key \"service\"; expected one of: channels, users, teams, schedules, escalation_policies, services, rules, detectors, templates, announcements, retention"
        )
    );
    assert_eq!(one_error("- users\n"), e(1, 1, "", "expected a mapping"));
}

#[test]
fn rejects_escalate_after_below_one_second() {
    let text = "\
users: [{id: a}]
escalation_policies:
  - id: p
    levels: [{targets: [{user: a}], escalate_after: 0s}]
";
    assert_eq!(
        one_error(text),
        e(
            4,
            53,
            "escalation_policies[0].levels[0].escalate_after",
            "must be at least 1s"
        )
    );
}

#[test]
fn notification_rules_may_fire_at_once() {
    let text = "\
users:
  - id: a
    contact_methods: [{id: hook, type: webhook, url: \"http://h\"}]
    notification_rules: [{contact_method: hook, after: 0}]
";
    let config = load(text).expect("valid");
    assert_eq!(config.users[0].notification_rules[0].after, Duration::ZERO);
}

#[test]
fn cross_reference_errors_point_at_the_reference() {
    let text = "\
users:
  - id: alice
    contact_methods: [{id: hook, type: webhook, url: \"http://h\"}]
    notification_rules: [{contact_method: phone, after: 5m}]
teams:
  - {id: sre, members: [alice, bob]}
escalation_policies:
  - id: p
    levels:
      - targets: [{team: ops}, {user: carol}]
        escalate_after: 5m
services:
  - {id: s, escalation_policy: q}
";
    assert_eq!(
        errors(text),
        vec![
            e(
                4,
                43,
                "users[0].notification_rules[0].contact_method",
                "unknown contact method \"phone\" for user \"alice\""
            ),
            e(6, 32, "teams[0].members[1]", "unknown user \"bob\""),
            e(
                10,
                26,
                "escalation_policies[0].levels[0].targets[0].team",
                "unknown team \"ops\""
            ),
            e(
                10,
                39,
                "escalation_policies[0].levels[0].targets[1].user",
                "unknown user \"carol\""
            ),
            e(
                13,
                32,
                "services[0].escalation_policy",
                "unknown escalation policy \"q\""
            ),
        ]
    );
}

#[test]
fn duplicate_ids_point_at_the_second_definition() {
    let text = "\
users:
  - id: alice
    contact_methods:
      - {id: hook, type: webhook, url: \"http://h\"}
      - {id: hook, type: webhook, url: \"http://h\"}
  - id: alice
teams:
  - {id: sre, members: [alice, alice]}
  - {id: sre, members: [alice]}
";
    assert_eq!(
        errors(text),
        vec![
            e(
                5,
                14,
                "users[0].contact_methods[1].id",
                "duplicate id \"hook\" (first defined at line 4)"
            ),
            e(
                6,
                9,
                "users[1].id",
                "duplicate id \"alice\" (first defined at line 2)"
            ),
            e(
                8,
                32,
                "teams[0].members[1]",
                "duplicate member \"alice\" (first listed at line 8)"
            ),
            e(
                9,
                10,
                "teams[1].id",
                "duplicate id \"sre\" (first defined at line 8)"
            ),
        ]
    );
}

#[test]
fn integration_keys_are_unique_across_services() {
    let text = "\
escalation_policies: [{id: p, levels: [{targets: [{user: a}], escalate_after: 1m}]}]
users: [{id: a}]
services:
  - id: first
    escalation_policy: p
    integrations: [{type: events_v2, key: 0123456789abcdef0123456789abcdef}]
  - id: second
    escalation_policy: p
    integrations: [{type: events_v2, key: 0123456789abcdef0123456789abcdef}]
";
    assert_eq!(
        one_error(text),
        e(
            9,
            43,
            "services[1].integrations[0].key",
            "integration key is already used by service \"first\""
        )
    );
}

#[test]
fn plain_numbers_are_accepted_as_ids_and_names() {
    let text = "\
users: [{id: 123, name: 4.5}]
teams: [{id: 7, members: [123]}]
";
    let config = load(text).expect("valid");
    assert_eq!(config.users[0].id.as_str(), "123");
    assert_eq!(config.users[0].name.as_deref(), Some("4.5"));
    assert_eq!(config.teams[0].members[0].as_str(), "123");
}

#[test]
fn repeat_must_be_a_plain_non_negative_integer() {
    let policy = |repeat: &str| {
        format!(
            "users: [{{id: a}}]\nescalation_policies:\n  - id: p\n    repeat: {repeat}\n    levels: [{{targets: [{{user: a}}], escalate_after: 1m}}]\n"
        )
    };
    assert_eq!(
        load(&policy("3")).expect("valid").escalation_policies[0].repeat,
        3
    );
    for bad in ["-1", "1.5", "many", "[1]", "99999999999"] {
        let (line, column, path, message) = one_error(&policy(bad));
        assert_eq!(
            (line, column, path.as_str()),
            (4, 13, "escalation_policies[0].repeat")
        );
        assert!(
            message.starts_with("repeat must be a non-negative integer"),
            "{message}"
        );
    }
}

#[test]
fn structural_errors_name_the_expected_shape() {
    let text = "\
users: {id: alice}
teams:
  - id: sre
    members: []
escalation_policies:
  - id: p
    levels:
  - id: q
    levels:
      - targets: [alice, {user: a, team: b}, {}]
        escalate_after: 1m
";
    assert_eq!(
        errors(text),
        vec![
            e(1, 8, "users", "expected a list"),
            e(4, 14, "teams[0].members", "must have at least one member"),
            e(
                7,
                5,
                "escalation_policies[0].levels",
                "must have at least one level"
            ),
            e(
                10,
                19,
                "escalation_policies[1].levels[0].targets[0]",
                "expected a mapping such as {user: alice}, {team: sre} or {schedule: primary}"
            ),
            e(
                10,
                26,
                "escalation_policies[1].levels[0].targets[1]",
                "a target names one user, one team or one schedule"
            ),
            e(
                10,
                46,
                "escalation_policies[1].levels[0].targets[2]",
                "expected a mapping such as {user: alice}, {team: sre} or {schedule: primary}"
            ),
        ]
    );
}

#[test]
fn ids_are_checked_with_the_id_rules() {
    let (line, column, path, message) = one_error("users: [{id: \"al ice\"}]\n");
    assert_eq!((line, column, path.as_str()), (1, 14, "users[0].id"));
    assert_eq!(message, IdError::BadChar { found: ' ' }.to_string());
    assert_eq!(
        one_error("users: [{name: x}]\n"),
        e(1, 9, "users[0].id", "required key \"id\" is missing")
    );
}

#[test]
fn duplicate_keys_in_one_mapping_are_errors() {
    assert_eq!(
        one_error("users:\n  - id: a\n    id: b\n"),
        e(
            3,
            5,
            "users[0].id",
            "duplicate key \"id\" (first at line 2)"
        )
    );
}

#[test]
fn aliases_stand_for_the_anchored_node() {
    let text = "\
users: [{id: a}, {id: b}]
escalation_policies:
  - id: p
    levels:
      - &first {targets: [{user: a}], escalate_after: 5m}
      - targets: [{user: b}]
        escalate_after: 5m
  - id: q
    levels: [*first]
";
    let config = load(text).expect("valid");
    assert_eq!(
        config.escalation_policies[1].levels[0],
        config.escalation_policies[0].levels[0]
    );
    assert_eq!(
        one_error("users: &u [*u]\n"),
        e(
            1,
            12,
            "",
            "an alias cannot refer to a node that contains it"
        )
    );
}

#[test]
fn alias_expansion_is_bounded() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let all = errors(&text);
    assert!(
        all.iter()
            .any(|e| e.3 == format!("aliases expand to more than {MAX_ALIASED_NODES} nodes"))
    );
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let blocks = "- ".repeat(100_000) + "x\n";
    assert_eq!(
        one_error(&blocks),
        e(1, 129, "", "lists and mappings nest deeper than 64 levels")
    );
    let indented: String = (0..3_000)
        .map(|i| format!("{}a:\n", " ".repeat(i)))
        .collect();
    assert_eq!(one_error(&indented).0, 65);
    let mut aliases = String::from("a0: &a0 [[[[[[[[[[x]]]]]]]]]]\n");
    for i in 1..10 {
        aliases.push_str(&format!("a{i}: &a{i} [[[[[[[[[[*a{}]]]]]]]]]]\n", i - 1));
    }
    assert!(
        errors(&aliases)
            .iter()
            .any(|e| e.3 == "aliases nest lists and mappings deeper than 64 levels")
    );
}

#[test]
fn merge_keys_tags_and_extra_documents_are_refused() {
    assert_eq!(
        errors("users:\n  - <<: {id: a}\n"),
        vec![
            e(2, 5, "users[0]", "merge keys (<<) are not supported"),
            e(2, 5, "users[0].id", "required key \"id\" is missing"),
        ]
    );
    assert_eq!(
        one_error("users: !!set [{id: a}]\n").3,
        "tag !!set is not supported here"
    );
    assert_eq!(
        one_error("users: []\n---\nteams: []\n"),
        e(
            2,
            1,
            "",
            "expected a single YAML document; found a second one"
        )
    );
    let config = load("users: [{id: !!str 12}]\n").expect("!!str is fine");
    assert_eq!(config.users[0].id.as_str(), "12");
}

#[test]
fn webhook_urls_must_be_absolute_http() {
    for good in [
        "http://h",
        "https://hooks.example.com/x?y=1#z",
        "HTTP://127.0.0.1:9999/a",
        "http://user:pw@host:80/",
        "http://[::1]:8080/p",
    ] {
        assert!(is_http_url(good), "{good}");
    }
    for bad in [
        "",
        "hooks.example.com",
        "ftp://h",
        "http://",
        "http:///path",
        "http://h:port/",
        "http://h x/",
        "http://[::1/",
        "http://@/",
    ] {
        assert!(!is_http_url(bad), "{bad}");
    }
}

#[test]
fn errors_display_as_line_column_path_message() {
    let error = Pos {
        line: 3,
        column: 7,
        index: 0,
    }
    .error("users[0].id", "must not be empty");
    assert_eq!(error.to_string(), "3:7: users[0].id: must not be empty");
}

const GROUPED: &str = "\
users: [{id: alice}]
escalation_policies:
  - {id: p, levels: [{targets: [{user: alice}], escalate_after: 5m}]}
services:
  - id: api
    escalation_policy: p
    grouping: {by: [alertname, cluster], window: 5m}
";

#[test]
fn grouping_reads_its_labels_and_window() {
    let config = load(GROUPED).expect("valid");
    let grouping = config.services[0].grouping.as_ref().expect("grouping");
    assert_eq!(grouping.by, vec!["alertname", "cluster"]);
    assert_eq!(grouping.window.as_secs(), 300);
    assert_eq!(load("services: []\n").unwrap().services.len(), 0);
}

#[test]
fn grouping_without_labels_or_window_is_an_error_naming_the_key() {
    let text = GROUPED.replace(
        "{by: [alertname, cluster], window: 5m}",
        "{by: [], window: 0s}",
    );
    let errors = errors(&text);
    let paths: Vec<&str> = errors.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(
        paths,
        vec!["services[0].grouping.by", "services[0].grouping.window"],
        "{errors:?}"
    );
    assert!(errors[0].3.contains("at least one label"), "{errors:?}");
    let text = GROUPED.replace("window: 5m}", "windw: 5m}");
    let misspelt = super::tests::errors(&text);
    assert!(
        misspelt
            .iter()
            .any(|e| e.2 == "services[0].grouping.window"),
        "{misspelt:?}"
    );
}
// -- Channels, contact method kinds, urgency ----------------------------------

/// The channels example from the documentation.
pub(in crate::config) const CHANNELS_EXAMPLE: &str = r#"
channels:
  smtp: {host: 127.0.0.1, port: 2525, from: "escalator@example.com", starttls: false, username: ops, password: "${env:SMTP_PASSWORD}"}
  slack: {api_url: "https://slack.com/api", bot_token: "${env:SLACK_BOT_TOKEN}", signing_secret: "${env:SLACK_SIGNING_SECRET}"}
  twilio: {api_url: "https://api.twilio.com", account_sid: AC123, auth_token: "${env:TWILIO_TOKEN}", from: "+15005550006"}
users:
  - id: alice
    contact_methods:
      - {id: hook, type: webhook, url: "https://hooks.example/alice"}
      - {id: mail, type: email, address: alice@example.com}
      - {id: phone, type: sms, number: "+4915112345678"}
      - {id: call, type: voice, number: "+4915112345678"}
      - {id: dm, type: slack, user: U024BE7LH}
      - {id: teams, type: teams, webhook_url: "https://example.webhook.office.com/x"}
    notification_rules:
      - {contact_method: dm, after: 0s}
      - {contact_method: phone, after: 2m, urgency: high}
"#;

#[test]
fn loads_channels_every_contact_kind_and_urgency() {
    use crate::config::Urgency;
    let config = load(CHANNELS_EXAMPLE).expect("example is valid");
    let smtp = config.channels.smtp.as_ref().unwrap();
    assert_eq!(
        (smtp.host.as_str(), smtp.port, smtp.starttls),
        ("127.0.0.1", 2525, false)
    );
    assert_eq!(
        smtp.password.as_ref().unwrap().env_name(),
        Some("SMTP_PASSWORD")
    );
    let slack = config.channels.slack.as_ref().unwrap();
    assert_eq!(slack.bot_token.as_written(), "${env:SLACK_BOT_TOKEN}");
    let twilio = config.channels.twilio.as_ref().unwrap();
    assert_eq!(twilio.from, "+15005550006");
    let kinds: Vec<&str> = config.users[0]
        .contact_methods
        .iter()
        .map(|cm| cm.kind.type_name())
        .collect();
    assert_eq!(
        kinds,
        ["webhook", "email", "sms", "voice", "slack", "teams"]
    );
    assert_eq!(
        config.users[0].contact_methods[4].kind,
        ContactKind::Slack {
            user: "U024BE7LH".into()
        }
    );
    let rules = &config.users[0].notification_rules;
    assert_eq!(
        (rules[0].urgency, rules[1].urgency),
        (None, Some(Urgency::High))
    );
}

#[test]
fn channel_defaults_apply_when_keys_are_left_out() {
    let config = load(
        "channels:\n  smtp: {host: mail, from: a@b.c}\n  slack: {bot_token: \"${env:T}\"}\n  twilio: {account_sid: AC1, auth_token: \"${env:T}\", from: \"+15005550006\"}\n",
    )
    .unwrap();
    let smtp = config.channels.smtp.unwrap();
    assert_eq!((smtp.port, smtp.starttls), (25, true));
    let slack = config.channels.slack.unwrap();
    assert_eq!(slack.api_url, "https://slack.com/api");
    assert_eq!(slack.signing_secret, None);
    assert_eq!(
        config.channels.twilio.unwrap().api_url,
        "https://api.twilio.com"
    );
}

#[test]
fn contact_addresses_are_checked_for_their_kind() {
    let text = r#"
channels:
  smtp: {host: mail, from: a@b.c}
  slack: {bot_token: "${env:T}"}
  twilio: {account_sid: AC1, auth_token: "${env:T}", from: "+15005550006"}
users:
  - id: alice
    contact_methods:
      - {id: a, type: email, address: "alice@localhost"}
      - {id: b, type: email, address: "a@b@c.d"}
      - {id: c, type: sms, number: "4915112345678"}
      - {id: d, type: voice, number: "+49151"}
      - {id: e, type: slack, user: u024be7lh}
      - {id: f, type: teams, webhook_url: "ftp://x"}
"#;
    assert_eq!(
        errors(text),
        vec![
            e(
                9,
                39,
                "users[0].contact_methods[0].address",
                r#""alice@localhost" is not an email address such as alice@example.com"#
            ),
            e(
                10,
                39,
                "users[0].contact_methods[1].address",
                r#""a@b@c.d" is not an email address such as alice@example.com"#
            ),
            e(
                11,
                36,
                "users[0].contact_methods[2].number",
                r#""4915112345678" is not an E.164 number such as +4915112345678 (+ and 8 to 15 digits)"#
            ),
            e(
                12,
                38,
                "users[0].contact_methods[3].number",
                r#""+49151" is not an E.164 number such as +4915112345678 (+ and 8 to 15 digits)"#
            ),
            e(
                13,
                36,
                "users[0].contact_methods[4].user",
                r#""u024be7lh" is not a Slack member or channel id such as U024BE7LH"#
            ),
            e(
                14,
                43,
                "users[0].contact_methods[5].webhook_url",
                "webhook_url must be an absolute http or https URL, or ${env:NAME}"
            ),
        ]
    );
}

#[test]
fn a_webhook_url_with_a_token_may_come_from_the_environment() {
    let text = r#"
users:
  - id: alice
    contact_methods:
      - {id: a, type: webhook, url: "${env:ALICE_HOOK}"}
      - {id: b, type: webhook, url: "${env:not a name}"}
"#;
    let found = errors(text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].2, "users[0].contact_methods[1].url");
    assert!(
        found[0].3.contains("not a valid environment reference"),
        "{found:?}"
    );
}

#[test]
fn a_contact_method_needs_its_channel_section() {
    let text = r#"
users:
  - id: alice
    contact_methods:
      - {id: a, type: email, address: alice@example.com}
      - {id: b, type: sms, number: "+4915112345678"}
      - {id: c, type: voice, number: "+4915112345678"}
      - {id: d, type: slack, user: U024BE7LH}
      - {id: e, type: teams, webhook_url: "https://x.example/y"}
"#;
    let missing = |line, path: &str, t: &str, section: &str| {
        e(
            line,
            23,
            path,
            &format!(
                "a contact method of type {t:?} needs the channels.{section} section, which is missing"
            ),
        )
    };
    assert_eq!(
        errors(text),
        vec![
            missing(5, "users[0].contact_methods[0].type", "email", "smtp"),
            missing(6, "users[0].contact_methods[1].type", "sms", "twilio"),
            missing(7, "users[0].contact_methods[2].type", "voice", "twilio"),
            missing(8, "users[0].contact_methods[3].type", "slack", "slack"),
        ]
    );
}

#[test]
fn a_broken_channel_section_is_not_also_reported_missing() {
    let text = "channels:\n  slack: {signing_secret: \"${env:S}\"}\nusers:\n  - id: alice\n    contact_methods:\n      - {id: d, type: slack, user: U024BE7LH}\n";
    assert_eq!(
        one_error(text),
        e(
            2,
            10,
            "channels.slack.bot_token",
            r#"required key "bot_token" is missing"#
        )
    );
}

#[test]
fn a_contact_method_takes_only_its_own_address_key() {
    let text = "users:\n  - id: alice\n    contact_methods:\n      - {id: a, type: sms, url: \"https://x.example\"}\n";
    assert_eq!(
        errors(text),
        vec![
            e(
                4,
                9,
                "users[0].contact_methods[0].number",
                r#"required key "number" is missing"#
            ),
            e(
                4,
                28,
                "users[0].contact_methods[0].url",
                r#"a contact method of type "sms" takes number, not url"#
            ),
        ]
    );
    let (_, _, path, message) = one_error(
        "users:\n  - id: alice\n    contact_methods:\n      - {id: a, type: pager, url: \"https://x.example\"}\n",
    );
    assert_eq!(path, "users[0].contact_methods[0].type");
    assert_eq!(
        message,
        r#"unknown type "pager"; expected one of: webhook, email, sms, voice, slack, teams"#
    );
}

#[test]
fn urgency_is_high_or_low() {
    let text = "users:\n  - id: alice\n    contact_methods:\n      - {id: a, type: webhook, url: \"https://x.example\"}\n    notification_rules:\n      - {contact_method: a, after: 0s, urgency: urgent}\n";
    assert_eq!(
        one_error(text),
        e(
            6,
            49,
            "users[0].notification_rules[0].urgency",
            r#"unknown type "urgent"; expected one of: high, low"#
        )
    );
}

#[test]
fn an_smtp_ca_file_is_kept_and_needs_starttls() {
    let config = load(
        "channels:\n  smtp: {host: mail, from: a@b.c, ca_file: /etc/escalator/relay-ca.pem}\n",
    )
    .unwrap();
    assert_eq!(
        config.channels.smtp.unwrap().ca_file.as_deref(),
        Some("/etc/escalator/relay-ca.pem")
    );
    assert_eq!(
        errors("channels:\n  smtp: {host: mail, from: a@b.c, starttls: false, ca_file: ca.pem}\n"),
        vec![e(
            2,
            61,
            "channels.smtp.ca_file",
            "ca_file is for STARTTLS, which starttls: false turns off"
        )]
    );
}

#[test]
fn channel_settings_are_checked() {
    let text = r#"
channels:
  smtp: {host: "", port: 70000, from: a@b.c, password: "${env:NO-DASH}"}
  slack: {api_url: "slack.com", bot_token: ""}
  twilio: {account_sid: AC1, auth_token: "${env:T}", from: "015005550006", region: eu}
"#;
    assert_eq!(
        errors(text),
        vec![
            e(3, 16, "channels.smtp.host", "host must not be empty"),
            e(
                3,
                26,
                "channels.smtp.port",
                "port must be an integer from 1 to 65535"
            ),
            e(
                3,
                56,
                "channels.smtp.password",
                r#""${env:NO-DASH}" is not a valid environment reference; write ${env:NAME} with NAME of letters, digits and _"#
            ),
            e(
                4,
                20,
                "channels.slack.api_url",
                "api_url must be an absolute http or https URL"
            ),
            e(
                4,
                44,
                "channels.slack.bot_token",
                "a secret must not be empty"
            ),
            e(
                5,
                60,
                "channels.twilio.from",
                r#""015005550006" is not an E.164 number such as +4915112345678 (+ and 8 to 15 digits)"#
            ),
            e(
                5,
                76,
                "channels.twilio.region",
                r#"unknown key "region"; expected one of: api_url, account_sid, auth_token, from, min_interval"#
            ),
        ]
    );
}

#[test]
fn env_syntax_is_not_special_outside_secrets() {
    let config =
        load("channels:\n  smtp: {host: mail, from: \"${env:FROM}\", password: \"${env:PW}\"}\n")
            .unwrap();
    let smtp = config.channels.smtp.unwrap();
    assert_eq!(smtp.from, "${env:FROM}");
    assert_eq!(smtp.password.unwrap().env_name(), Some("PW"));
}

#[test]
fn contact_value_rules() {
    use super::channels::{is_e164, is_email, is_slack_id};
    assert!(is_email("alice@example.com") && is_email("a.b+c@mail.example.co.uk"));
    for bad in [
        "alice",
        "alice@",
        "@example.com",
        "a@b",
        "a@.b",
        "a@b.",
        "a b@c.d",
    ] {
        assert!(!is_email(bad), "{bad}");
    }
    assert!(is_e164("+4915112345678") && is_e164("+15005550006") && is_e164("+12345678"));
    for bad in [
        "+1234567",
        "+1234567890123456",
        "4915112345678",
        "+49 151",
        "+0123456789",
    ] {
        assert!(!is_e164(bad), "{bad}");
    }
    assert!(is_slack_id("U024BE7LH") && is_slack_id("W012A3CDE") && is_slack_id("C1234567"));
    for bad in ["u024be7lh", "X024BE7LH", "U", "U02-4"] {
        assert!(!is_slack_id(bad), "{bad}");
    }
}

/// `EXAMPLE` followed by `more`; the first line of `more` is line `base + 1`.
fn example_with(more: &str) -> (String, usize) {
    (format!("{EXAMPLE}{more}"), EXAMPLE.lines().count())
}

#[test]
fn loads_templates_per_audience_and_level() {
    let (text, _) = example_with(
        "templates:\n  - {id: exec-short, audience: executive, subject: \"{{ title }}\", text: \"{{ status }}\"}\n  - {id: l2-responder, audience: responder, level: 2, subject: s, text: t}\n",
    );
    let config = load(&text).unwrap();
    assert_eq!(
        config.templates[0].audience,
        crate::templates::Audience::Executive
    );
    assert_eq!(config.templates[1].level, Some(2));
    assert_eq!(config.template("responder", 2).unwrap().id, "l2-responder");
}

#[test]
fn a_template_syntax_error_names_the_template_and_the_position() {
    let (text, base) = example_with(
        "templates:\n  - id: exec-short\n    audience: executive\n    subject: ok\n    text: \"fine\\n{{ oops\"\n",
    );
    let (line, column, path, message) = one_error(&text);
    assert_eq!((line, column), (base + 5, 11));
    assert_eq!(path, "templates[0].text");
    assert!(
        message.starts_with("template \"exec-short\": text: syntax error")
            && message.ends_with("(line 2 of the template)"),
        "{message}"
    );
}

#[test]
fn template_keys_are_checked() {
    let (text, base) = example_with(
        "templates:\n  - {id: a, audience: board, subject: s, text: t}\n  - {id: default-executive, audience: executive, subject: s, text: t}\n  - {id: b, audience: responder, level: 0, subject: s, text: t}\n  - {id: c, audience: responder, text: t}\n  - {id: c, audience: responder, subject: s, text: t, channel: x}\n",
    );
    let found: Vec<(usize, String, String)> = errors(&text)
        .into_iter()
        .map(|(line, _, path, message)| (line - base, path, message))
        .collect();
    let expected: Vec<(usize, String, String)> = [
        (
            2,
            "templates[0].audience",
            "unknown type \"board\"; expected one of: responder, stakeholder, executive, external"
                .to_owned(),
        ),
        (
            3,
            "templates[1].id",
            "ids starting with \"default-\" name the built-in templates".to_owned(),
        ),
        (
            4,
            "templates[2].level",
            "levels are numbered from 1".to_owned(),
        ),
        (
            5,
            "templates[3].subject",
            "required key \"subject\" is missing".to_owned(),
        ),
        (
            6,
            "templates[4].id",
            format!("duplicate id \"c\" (first defined at line {})", base + 5),
        ),
        (
            6,
            "templates[4].channel",
            "unknown key \"channel\"; expected one of: id, audience, level, subject, text"
                .to_owned(),
        ),
    ]
    .into_iter()
    .map(|(l, p, m)| (l, p.to_owned(), m))
    .collect();
    assert_eq!(found, expected);
}

/// `EXAMPLE` with level 2 of `payments` keeping `stakeholders` (flow YAML) informed.
fn with_stakeholders(stakeholders: &str) -> (String, usize) {
    let text = EXAMPLE.replacen(
        "      - targets: [{user: bob}, {team: sre}]\n        escalate_after: 15m\n",
        &format!(
            "      - targets: [{{user: bob}}, {{team: sre}}]\n        escalate_after: 15m\n        stakeholders: {stakeholders}\n"
        ),
        1,
    );
    let line = text
        .lines()
        .position(|l| l.contains("stakeholders:"))
        .expect("inserted")
        + 1;
    (text, line)
}

#[test]
fn loads_stakeholders_per_level_with_their_template() {
    let (text, _) = with_stakeholders("[{user: alice, template: executive}, {team: sre}]");
    let config = load(&text).unwrap();
    let level = &config.escalation_policies[0].levels[1];
    assert_eq!(level.stakeholders.len(), 2);
    assert_eq!(level.stakeholders[0].template, "executive");
    assert_eq!(level.stakeholders[1].template, "stakeholder", "the default");
    assert_eq!(
        level.stakeholders[1].target,
        Target::team(TeamId::parse("sre").unwrap())
    );
    assert_eq!(load(&crate::config::to_yaml(&config)), Ok(config));
}

#[test]
fn stakeholders_must_name_known_people_and_templates() {
    let (text, line) = with_stakeholders(
        "[{user: zed, template: executive}, {team: sre, template: board-memo}, {user: alice, team: sre}]",
    );
    let all = errors(&text);
    let paths: Vec<(usize, &str, &str)> = all
        .iter()
        .map(|(l, _, p, m)| (*l, p.as_str(), m.as_str()))
        .collect();
    let path = "escalation_policies[0].levels[1].stakeholders";
    assert_eq!(
        paths,
        vec![
            (line, &*format!("{path}[0].user"), "unknown user \"zed\""),
            (
                line,
                &*format!("{path}[1].template"),
                "unknown template \"board-memo\"; expected a template id or one of: responder, stakeholder, executive, external"
            ),
            (
                line,
                &*format!("{path}[2]"),
                "a stakeholder names one user or one team"
            ),
        ]
    );
}

#[test]
fn a_stakeholder_may_name_a_configured_template() {
    let (text, _) = with_stakeholders("[{user: alice, template: exec-short}]");
    let text = format!(
        "{text}templates:\n  - {{id: exec-short, audience: executive, subject: s, text: t}}\n"
    );
    assert!(load(&text).is_ok());
}

#[test]
fn loads_announcements_by_priority() {
    let (text, base) = example_with(
        "announcements:\n  - {priority: P1, notify: [{team: sre}], template: executive}\n  - {priority: P9, notify: []}\n",
    );
    let all = errors(&text);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_eq!(
        (all[0].0, all[0].2.as_str()),
        (base + 3, "announcements[1].priority")
    );
    assert_eq!(
        (all[1].0, all[1].2.as_str()),
        (base + 3, "announcements[1].notify")
    );
    assert_eq!(all[1].3, "must name at least one user or team");
    let (text, _) = example_with("announcements:\n  - {priority: P1, notify: [{team: sre}]}\n");
    let config = load(&text).unwrap();
    assert_eq!(config.announcements[0].template, "executive");
    assert_eq!(
        config
            .announcements_for(Some(crate::rules::Priority::P1))
            .len(),
        1
    );
    assert!(
        config
            .announcements_for(Some(crate::rules::Priority::P2))
            .is_empty()
    );
    assert_eq!(load(&crate::config::to_yaml(&config)), Ok(config));
}

#[test]
fn retention_keeps_its_defaults_unless_told_and_refuses_typos() {
    let (text, _) = example_with("");
    assert_eq!(load(&text).unwrap().retention, Default::default());
    let (text, _) = example_with("retention: {resolved_incidents: 2y, samples: 400s, notes: 1d}\n");
    let all = errors(&text);
    let paths: Vec<&str> = all.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(
        paths,
        [
            "retention.resolved_incidents",
            "retention.samples",
            "retention.notes"
        ],
        "{all:#?}"
    );
    assert!(all[0].3.contains("not a duration"), "{}", all[0].3);
    assert!(all[1].3.contains("at least 1h"), "{}", all[1].3);
    assert!(all[2].3.contains("unknown key \"notes\""), "{}", all[2].3);
    let (text, _) = example_with("retention:\n  notifications: 30d\n  audit: forever\n");
    let config = load(&text).unwrap();
    assert_eq!(config.retention.notifications.to_string(), "30d");
    assert_eq!(config.retention.audit, crate::retention::Keep::Forever);
    assert_eq!(config.retention.resolved_incidents.to_string(), "400d");
    assert_eq!(load(&crate::config::to_yaml(&config)), Ok(config));
}

#[test]
fn a_secret_written_out_is_refused_with_the_way_to_write_it() {
    let text = "channels:\n  slack: {bot_token: xoxb-123}\n";
    let (line, column, path, message) = one_error(text);
    assert_eq!(
        (line, column, path.as_str()),
        (2, 22, "channels.slack.bot_token")
    );
    assert!(message.contains("${env:NAME}"), "{message}");
}

#[test]
fn a_rule_or_a_mapping_too_costly_for_every_event_is_refused_where_it_is_written() {
    let l: Vec<String> = (1..=50).map(|i| i.to_string()).collect();
    let l = format!("[{}]", l.join(", "));
    let nested = format!("{l}.all(a, {l}.all(b, {l}.all(c, a + b + c > 0)))");
    let text = format!(
        "{EXAMPLE}      - type: generic\n        key: \"abcdefabcdefabcdefabcdefabcdef12\"\n        mapping: {{summary: '{nested} ? \"many\" : \"few\"'}}\nrules:\n  - id: costly\n    when: '{nested}'\n    then: {{priority: P1}}\n"
    );
    let all = errors(&text);
    assert_eq!(all.len(), 2, "{all:#?}");
    let (line, column, path, message) = &all[0];
    assert_eq!(
        (*line, *column, path.as_str()),
        (32, 28, "services[0].integrations[1].mapping.summary")
    );
    assert!(
        message.starts_with("invalid CEL expression: at 1:")
            && message.contains("over the budget of 100 000"),
        "{message}"
    );
    let (line, column, path, message) = &all[1];
    assert_eq!((*line, *column, path.as_str()), (35, 11, "rules[0].when"));
    assert!(
        message.starts_with(
            "rule \"costly\": too costly to evaluate on every event: its estimated cost is 1 5"
        ),
        "{message}"
    );
}
