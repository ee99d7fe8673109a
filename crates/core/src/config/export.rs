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
    if !config.retention.is_default() {
        let r = &config.retention;
        out.push_str("retention:\n");
        for (key, keep) in [
            ("resolved_incidents", r.resolved_incidents),
            ("notifications", r.notifications),
            ("samples", r.samples),
            ("audit", r.audit),
        ] {
            line(&mut out, "  ", key, &keep.to_string());
        }
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
mod tests;
