//! Writes a [`Config`] as YAML in the documented shape, so that
//! `load(&to_yaml(c)) == Ok(c)`. It owns quoting: it must never emit a scalar
//! that a YAML reader could take for a number, a boolean, null or syntax.

use super::{
    Channels, Config, ContactKind, EscalationPolicy, Rotation, Schedule, Service, Target,
    TargetKind, Team, User, Window,
};

/// The configuration as YAML, in the key order of the documentation.
pub fn to_yaml(config: &Config) -> String {
    let mut out = String::from("# Escalator configuration, exported\n");
    channels(&mut out, &config.channels);
    section(&mut out, "users", &config.users, user);
    section(&mut out, "teams", &config.teams, team);
    if !config.schedules.is_empty() {
        section(&mut out, "schedules", &config.schedules, schedule);
    }
    section(
        &mut out,
        "escalation_policies",
        &config.escalation_policies,
        policy,
    );
    section(&mut out, "services", &config.services, service);
    if !config.rules.is_empty() {
        section(&mut out, "rules", &config.rules, rule);
    }
    if !config.detectors.is_empty() {
        section(&mut out, "detectors", &config.detectors, detector);
    }
    if !config.templates.is_empty() {
        section(&mut out, "templates", &config.templates, template);
    }
    if !config.announcements.is_empty() {
        section(
            &mut out,
            "announcements",
            &config.announcements,
            announcement,
        );
    }
    out
}

fn announcement(out: &mut String, a: &super::Announcement) {
    line(out, "", "priority", a.priority.as_str());
    let notify: Vec<String> = a.notify.iter().map(target).collect();
    line(out, ITEM, "notify", &flow_list(&notify));
    line(out, ITEM, "template", &scalar(&a.template));
}

fn template(out: &mut String, t: &super::TemplateSpec) {
    line(out, "", "id", &scalar(&t.id));
    line(out, ITEM, "audience", t.audience.as_str());
    if let Some(level) = t.level {
        line(out, ITEM, "level", &level.to_string());
    }
    line(out, ITEM, "subject", &quoted(&t.subject));
    line(out, ITEM, "text", &quoted(&t.text));
}

/// Secrets are written exactly as they were read: a reference stays a reference.
fn channels(out: &mut String, c: &Channels) {
    if c.is_empty() {
        return;
    }
    out.push_str("channels:\n");
    if let Some(s) = &c.smtp {
        let mut pairs = vec![
            ("host", quoted(&s.host)),
            ("port", s.port.to_string()),
            ("from", quoted(&s.from)),
            ("starttls", s.starttls.to_string()),
        ];
        if let Some(u) = &s.username {
            pairs.push(("username", quoted(u)));
        }
        if let Some(p) = &s.password {
            pairs.push(("password", quoted(p.as_written())));
        }
        if let Some(f) = &s.ca_file {
            pairs.push(("ca_file", quoted(f)));
        }
        line(out, "  ", "smtp", &flow_map(&pairs));
    }
    if let Some(s) = &c.slack {
        let mut pairs = vec![
            ("api_url", quoted(&s.api_url)),
            ("bot_token", quoted(s.bot_token.as_written())),
        ];
        if let Some(secret) = &s.signing_secret {
            pairs.push(("signing_secret", quoted(secret.as_written())));
        }
        line(out, "  ", "slack", &flow_map(&pairs));
    }
    if let Some(t) = &c.twilio {
        let mut pairs = vec![
            ("api_url", quoted(&t.api_url)),
            ("account_sid", quoted(&t.account_sid)),
            ("auth_token", quoted(t.auth_token.as_written())),
            ("from", quoted(&t.from)),
        ];
        if t.min_interval != crate::config::channels::default_min_interval() {
            pairs.push(("min_interval", t.min_interval.to_string()));
        }
        line(out, "  ", "twilio", &flow_map(&pairs));
    }
}

fn contact_address_key(kind: &ContactKind) -> &'static str {
    match kind {
        ContactKind::Webhook { .. } => "url",
        ContactKind::Email { .. } => "address",
        ContactKind::Sms { .. } | ContactKind::Voice { .. } => "number",
        ContactKind::Slack { .. } => "user",
        ContactKind::Teams { .. } => "webhook_url",
    }
}

fn detector(out: &mut String, d: &super::DetectorSpec) {
    use crate::anomaly::Method;
    line(out, "", "id", &scalar(&d.id));
    line(out, ITEM, "service", &scalar(d.service.as_str()));
    line(out, ITEM, "metric", &scalar(&d.metric));
    match &d.method {
        Method::Anomaly { sensitivity } => {
            line(out, ITEM, "method", "anomaly");
            line(out, ITEM, "sensitivity", &format!("{sensitivity:?}"));
        }
        Method::Threshold {
            above,
            below,
            for_secs,
        } => {
            line(out, ITEM, "method", "threshold");
            if let Some(a) = above {
                line(out, ITEM, "above", &format!("{a:?}"));
            }
            if let Some(b) = below {
                line(out, ITEM, "below", &format!("{b:?}"));
            }
            line(
                out,
                ITEM,
                "for",
                &crate::duration::Duration::from_secs(*for_secs).to_string(),
            );
        }
        Method::Zscore => line(out, ITEM, "method", "anomaly"),
    }
    line(out, ITEM, "severity", &d.severity);
    line(out, ITEM, "resolve_after", &d.resolve_after.to_string());
}

fn rule(out: &mut String, r: &crate::rules::RuleSpec) {
    line(out, "", "id", &scalar(&r.id));
    if r.exception {
        line(out, ITEM, "exception", "true");
    }
    line(out, ITEM, "when", &quoted(&r.when));
    let t = &r.then;
    let mut pairs = Vec::new();
    if let Some(p) = t.priority {
        pairs.push(("priority", p.as_str().to_owned()));
    }
    if let Some(l) = t.start_level {
        pairs.push(("start_level", l.to_string()));
    }
    if !t.notify.is_empty() {
        pairs.push((
            "notify",
            flow_list(&t.notify.iter().map(target).collect::<Vec<_>>()),
        ));
    }
    if t.suppress {
        pairs.push(("suppress", "true".to_owned()));
    }
    line(out, ITEM, "then", &flow_map(&pairs));
    optional(out, "owner", r.owner.as_deref());
    if let Some(d) = r.review_by {
        line(out, ITEM, "review_by", &quoted(&d.to_string()));
    }
}

/// Indentation of an item's keys after the first, which follows `  - `.
const ITEM: &str = "    ";

fn section<T>(out: &mut String, key: &str, items: &[T], write: fn(&mut String, &T)) {
    if items.is_empty() {
        line(out, "", key, "[]");
        return;
    }
    out.push_str(key);
    out.push_str(":\n");
    for item in items {
        out.push_str("  - ");
        write(out, item);
    }
}

fn user(out: &mut String, user: &User) {
    line(out, "", "id", &scalar(user.id.as_str()));
    optional(out, "name", user.name.as_deref());
    optional(out, "time_zone", user.time_zone.as_deref());
    block_list(out, "contact_methods", &user.contact_methods, |cm| {
        flow_map(&[
            ("id", scalar(cm.id.as_str())),
            ("type", cm.kind.type_name().to_owned()),
            (contact_address_key(&cm.kind), quoted(cm.kind.address())),
        ])
    });
    if !user.notification_rules.is_empty() {
        block_list(
            out,
            "notification_rules",
            &user.notification_rules,
            |rule| {
                let mut pairs = vec![
                    ("contact_method", scalar(rule.contact_method.as_str())),
                    ("after", rule.after.to_string()),
                ];
                if let Some(u) = rule.urgency {
                    pairs.push(("urgency", u.as_str().to_owned()));
                }
                flow_map(&pairs)
            },
        );
    }
    if !user.skills.is_empty() {
        line(
            out,
            ITEM,
            "skills",
            &flow_list(&user.skills.iter().map(|s| scalar(s)).collect::<Vec<_>>()),
        );
    }
    if !user.languages.is_empty() {
        line(
            out,
            ITEM,
            "languages",
            &flow_list(&user.languages.iter().map(|s| scalar(s)).collect::<Vec<_>>()),
        );
    }
    optional(out, "region", user.region.as_deref());
    if !user.away.is_empty() {
        block_list(out, "away", &user.away, window);
    }
    if user.handoff_notice {
        line(out, ITEM, "handoff_notice", "true");
    }
}

fn window(w: &Window) -> String {
    flow_map(&[
        ("from", quoted(&w.from.to_string())),
        ("to", quoted(&w.to.to_string())),
    ])
}

fn schedule(out: &mut String, s: &Schedule) {
    line(out, "", "id", &scalar(s.id.as_str()));
    optional(out, "name", s.name.as_deref());
    line(out, ITEM, "time_zone", &scalar(&s.time_zone));
    out.push_str(ITEM);
    out.push_str("layers:\n");
    for l in &s.layers {
        line(out, "      - ", "id", &scalar(l.id.as_str()));
        let deeper = "        ";
        if let Some(z) = &l.time_zone {
            line(out, deeper, "time_zone", &scalar(z));
        }
        line(
            out,
            deeper,
            "start",
            &quoted(&l.start.strftime("%Y-%m-%dT%H:%M:%S").to_string()),
        );
        let rotation = match l.rotation {
            Rotation::Hourly => "hourly".to_owned(),
            Rotation::Daily => "daily".to_owned(),
            Rotation::Weekly => "weekly".to_owned(),
            Rotation::Every(d) => flow_map(&[("every", d.to_string())]),
        };
        line(out, deeper, "rotation", &rotation);
        let members: Vec<String> = l.members.iter().map(|m| scalar(m.as_str())).collect();
        line(out, deeper, "members", &flow_list(&members));
        if !l.restrictions.is_empty() {
            out.push_str(deeper);
            out.push_str("restrictions:\n");
            for r in &l.restrictions {
                let days: Vec<String> = r.days.iter().map(|d| d.as_str().to_owned()).collect();
                let time = |t: jiff::civil::Time| quoted(&t.strftime("%H:%M:%S").to_string());
                let map = flow_map(&[
                    ("days", flow_list(&days)),
                    ("from", time(r.from)),
                    ("to", time(r.to)),
                ]);
                out.push_str(&format!("{deeper}  - {map}\n"));
            }
        }
    }
    if !s.overrides.is_empty() {
        block_list(out, "overrides", &s.overrides, |o| {
            let mut pairs = vec![("user", scalar(o.user.as_str()))];
            if let Some(r) = &o.replaces {
                pairs.push(("replaces", scalar(r.as_str())));
            }
            pairs.push(("from", quoted(&o.from.to_string())));
            pairs.push(("to", quoted(&o.to.to_string())));
            flow_map(&pairs)
        });
    }
}

fn team(out: &mut String, team: &Team) {
    line(out, "", "id", &scalar(team.id.as_str()));
    optional(out, "name", team.name.as_deref());
    let members: Vec<String> = team.members.iter().map(|m| scalar(m.as_str())).collect();
    line(out, ITEM, "members", &flow_list(&members));
}

fn policy(out: &mut String, policy: &EscalationPolicy) {
    line(out, "", "id", &scalar(policy.id.as_str()));
    optional(out, "name", policy.name.as_deref());
    if policy.repeat != 0 {
        line(out, ITEM, "repeat", &policy.repeat.to_string());
    }
    if policy.levels.is_empty() {
        line(out, ITEM, "levels", "[]");
        return;
    }
    out.push_str(ITEM);
    out.push_str("levels:\n");
    for level in &policy.levels {
        let targets: Vec<String> = level.targets.iter().map(target).collect();
        line(out, "      - ", "targets", &flow_list(&targets));
        if !level.backup.is_empty() {
            let backup: Vec<String> = level.backup.iter().map(target).collect();
            line(out, "        ", "backup", &flow_list(&backup));
        }
        if !level.stakeholders.is_empty() {
            let stakeholders: Vec<String> = level
                .stakeholders
                .iter()
                .map(|s| {
                    let mut t = target(&s.target);
                    t.pop();
                    format!("{t}, template: {}}}", scalar(&s.template))
                })
                .collect();
            line(out, "        ", "stakeholders", &flow_list(&stakeholders));
        }
        line(
            out,
            "        ",
            "escalate_after",
            &level.escalate_after.to_string(),
        );
    }
}

fn target(target: &Target) -> String {
    let mut pairs = vec![match &target.kind {
        TargetKind::User(id) => ("user", scalar(id.as_str())),
        TargetKind::Team(id) => ("team", scalar(id.as_str())),
        TargetKind::Schedule(id) => ("schedule", scalar(id.as_str())),
    }];
    let f = &target.filter;
    for (key, value) in [
        ("skill", &f.skill),
        ("language", &f.language),
        ("region", &f.region),
    ] {
        if let Some(v) = value {
            pairs.push((key, scalar(v)));
        }
    }
    flow_map(&pairs)
}

fn service(out: &mut String, service: &Service) {
    line(out, "", "id", &scalar(service.id.as_str()));
    optional(out, "name", service.name.as_deref());
    line(
        out,
        ITEM,
        "escalation_policy",
        &scalar(service.escalation_policy.as_str()),
    );
    if let Some(t) = service.tier {
        line(out, ITEM, "tier", &t.to_string());
    }
    if let Some(d) = service.data_classification {
        line(out, ITEM, "data_classification", d.as_str());
    }
    optional(out, "customer_segment", service.customer_segment.as_deref());
    if let Some(r) = service.revenue_per_hour {
        line(out, ITEM, "revenue_per_hour", &format!("{r:?}"));
    }
    if let Some(g) = &service.grouping {
        let by: Vec<String> = g.by.iter().map(|l| scalar(l)).collect();
        let value = flow_map(&[("by", flow_list(&by)), ("window", g.window.to_string())]);
        line(out, ITEM, "grouping", &value);
    }
    block_list(out, "integrations", &service.integrations, |i| {
        let mut pairs = vec![
            ("type", i.kind.type_name().to_owned()),
            ("key", quoted(i.key.as_str())),
        ];
        if let Some(m) = &i.mapping {
            let fields: Vec<(&str, String)> = m
                .expressions()
                .into_iter()
                .map(|(k, e)| (k, quoted(e)))
                .collect();
            pairs.push(("mapping", flow_map(&fields)));
        }
        flow_map(&pairs)
    });
}

// -- Layout -------------------------------------------------------------------

fn line(out: &mut String, indent: &str, key: &str, value: &str) {
    out.push_str(indent);
    out.push_str(key);
    out.push_str(": ");
    out.push_str(value);
    out.push('\n');
}

fn optional(out: &mut String, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        line(out, ITEM, key, &scalar(value));
    }
}

/// `key:` then one `- {…}` line per item, or `key: []`.
fn block_list<T>(out: &mut String, key: &str, items: &[T], render: impl Fn(&T) -> String) {
    if items.is_empty() {
        line(out, ITEM, key, "[]");
        return;
    }
    out.push_str(ITEM);
    out.push_str(key);
    out.push_str(":\n");
    for item in items {
        out.push_str(ITEM);
        out.push_str("  - ");
        out.push_str(&render(item));
        out.push('\n');
    }
}

fn flow_map(pairs: &[(&str, String)]) -> String {
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn flow_list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

// -- Scalars ------------------------------------------------------------------

/// `s` bare when no YAML reader could misread it, otherwise double-quoted.
fn scalar(s: &str) -> String {
    if is_plain_safe(s) {
        s.to_owned()
    } else {
        quoted(s)
    }
}

/// Words that YAML 1.1 or 1.2 readers take for booleans, null or special floats.
const RESERVED: [&str; 12] = [
    "true", "false", "yes", "no", "on", "off", "y", "n", "null", "nan", "inf", "infinity",
];

/// Starts with a letter or `_` (so never a number, an indicator or a comment),
/// continues with `[A-Za-z0-9_./-]`, and is not a reserved word.
fn is_plain_safe(s: &str) -> bool {
    let starts_well = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    starts_well
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'))
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str())
}

/// A YAML double-quoted scalar. Escapes everything YAML would not keep as
/// written: controls, and the characters YAML 1.1 treats as line breaks.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control()
                || matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
                ) =>
            {
                out.push_str(&format!("\\u{:04X}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
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
            'a', 'Z', '0', '7', ' ', ':', '#', '\'', '"', '\\', '\n', '\t', '\r', '{', '}', '[',
            ']', ',', '&', '*', '!', '|', '>', '%', '@', '`', '-', '?', 'é', '漢', '😀',
            '\u{2028}', '\u{85}', '\u{1}', '\u{feff}',
        ]);
        prop_oneof![
            prop::collection::vec(chars, 0..12).prop_map(String::from_iter),
            select(vec![
                "", "true", "null", "~", "123", "0x1F", "1e3", "- a", "? x", "yes", " lead",
                "trail ", "a: b", "# no",
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
        "[A-Za-z_][A-Za-z0-9_]{0,10}".prop_map(|n| {
            Secret::parse(&format!("${{env:{n}}}")).expect("generated secrets are valid")
        })
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
}
