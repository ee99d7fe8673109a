//! Message templates (minijinja), one per audience, each making a `subject`
//! and a `text`. Templates are user input: every render runs with a fuel
//! budget and a recursion limit, writes into a buffer that refuses to grow
//! past [`MAX_OUTPUT`] (a render that would is an error, and a value too
//! large to fit is never copied into it), and is then cut to
//! [`MAX_SUBJECT`] or [`MAX_TEXT`]. [`compile`] also renders each template
//! with sample values, so that one whose own constants make it too large or
//! too slow (`{{ 'x' * 100000000 }}`) is refused when it is configured.
//!
//! Redaction is structural, not a filter: only responder templates are given
//! the incident's details ([`ResponderView`]); stakeholder, executive and
//! external templates are rendered from [`RedactedView`], a type with no field
//! that could carry labels, links, `custom_details` or any diagnostic payload.

#[cfg(test)]
mod tests;

use crate::directory::Catalog;
use crate::engine::Incident;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

/// Instructions one render may spend: far more than any sensible message
/// needs, few enough that a hostile loop stops within milliseconds.
pub const FUEL: u64 = 50_000;
/// How deep macros, recursive loops and nested blocks may go.
pub const RECURSION_LIMIT: usize = 16;
/// Longest subject and text kept, in bytes; the rest is cut.
pub const MAX_SUBJECT: usize = 512;
pub const MAX_TEXT: usize = 16 * 1024;
/// Most a subject or a text may render to before it is cut: past this the
/// render stops with an error (the notifier then falls back to the built-in
/// words, so the page still goes out).
pub const MAX_OUTPUT: usize = 64 * 1024;

/// Who a message is for, which decides what its template may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// The people paged: the full incident, details included.
    Responder,
    /// People kept informed: the redacted view.
    Stakeholder,
    Executive,
    /// Customers and partners: the redacted view.
    External,
}

impl Audience {
    pub const ALL: [Audience; 4] = [
        Audience::Responder,
        Audience::Stakeholder,
        Audience::Executive,
        Audience::External,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Responder => "responder",
            Audience::Stakeholder => "stakeholder",
            Audience::Executive => "executive",
            Audience::External => "external",
        }
    }

    pub fn parse(s: &str) -> Option<Audience> {
        Audience::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Whether its templates see the incident's details.
    pub fn sees_details(self) -> bool {
        self == Audience::Responder
    }
}

impl std::fmt::Display for Audience {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A template as configured (`templates:`), or one of the built-in defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSpec {
    pub id: String,
    pub audience: Audience,
    /// For this level of the escalation policy only (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u32>,
    pub subject: String,
    pub text: String,
}

/// Ids of the built-in defaults start with this; configured ids may not.
pub const DEFAULT_PREFIX: &str = "default-";

const RESPONDER_SUBJECT: &str = "{% if priority %}[{{ priority }}] {% endif %}#{{ id }} {{ title }} ({{ service.id }}, {{ status }})";
const RESPONDER_TEXT: &str = "{% if priority %}{{ priority }} incident{% else %}Incident{% endif %} \
#{{ id }} on {{ service.id }} is {{ status }}: {{ title }}. Level {{ level }}, round {{ round }}.";
const STAKEHOLDER_SUBJECT: &str =
    "{% if priority %}[{{ priority }}] {% endif %}{{ status | capitalize }}: {{ title }}";
const STAKEHOLDER_TEXT: &str = "{% if event == 'resolved' %}Resolved: {% elif update %}Update: {% endif %}\
{{ title }} affecting {{ service.name or service.id }} ({% if priority %}{{ priority }}, {% endif %}{{ status }}, level {{ level }}).\
{% if update %} {{ update }}{% endif %}\
{% if next_update_at %} Next update by {{ next_update_at }}.{% endif %} {{ url }}";
const EXECUTIVE_SUBJECT: &str =
    "{% if priority %}{{ priority }} {% endif %}{{ service.name or service.id }}: {{ status }}";
const EXECUTIVE_TEXT: &str = "{{ title }}. Impact: {% if priority %}{{ priority }}{% else %}unrated{% endif %}, \
{{ status }}, escalation level {{ level }}.{% if update %} {{ update }}{% endif %}\
{% if next_update_at %} Next update by {{ next_update_at }}.{% endif %}";
const EXTERNAL_SUBJECT: &str = "Service notice: {{ service.name or service.id }}";
const EXTERNAL_TEXT: &str = "{% if event == 'resolved' %}The issue affecting {{ service.name or service.id }} has been resolved.\
{% else %}We are investigating an issue affecting {{ service.name or service.id }}.{% endif %}\
{% if update %} {{ update }}{% endif %}{% if next_update_at %} Next update by {{ next_update_at }}.{% endif %}";

/// The built-in templates, in [`Audience::ALL`] order.
static DEFAULTS: LazyLock<[TemplateSpec; 4]> = LazyLock::new(|| {
    Audience::ALL.map(|audience| {
        let (subject, text) = match audience {
            Audience::Responder => (RESPONDER_SUBJECT, RESPONDER_TEXT),
            Audience::Stakeholder => (STAKEHOLDER_SUBJECT, STAKEHOLDER_TEXT),
            Audience::Executive => (EXECUTIVE_SUBJECT, EXECUTIVE_TEXT),
            Audience::External => (EXTERNAL_SUBJECT, EXTERNAL_TEXT),
        };
        TemplateSpec {
            id: format!("{DEFAULT_PREFIX}{audience}"),
            audience,
            level: None,
            subject: subject.to_owned(),
            text: text.to_owned(),
        }
    })
});

/// The built-in template for `audience`, addressable as `default-<audience>`.
pub fn default_template(audience: Audience) -> &'static TemplateSpec {
    &DEFAULTS[audience as usize]
}

/// The template a message names — a configured id, a `default-…` id, or an
/// audience name — for an incident at `level`. An audience name picks the
/// configured template of that audience for the level, else one without a
/// level, else the built-in default.
pub fn find<'t>(templates: &'t [TemplateSpec], name: &str, level: u32) -> Option<&'t TemplateSpec> {
    if let Some(t) = templates.iter().find(|t| t.id == name) {
        return Some(t);
    }
    if let Some(audience) = Audience::parse(name) {
        return Some(for_audience(templates, audience, level));
    }
    let audience = name
        .strip_prefix(DEFAULT_PREFIX)
        .and_then(Audience::parse)?;
    Some(default_template(audience))
}

/// The template for `audience` at `level` (see [`find`]).
pub fn for_audience(templates: &[TemplateSpec], audience: Audience, level: u32) -> &TemplateSpec {
    let of = |t: &&TemplateSpec| t.audience == audience;
    templates
        .iter()
        .filter(of)
        .find(|t| t.level == Some(level))
        .or_else(|| templates.iter().filter(of).find(|t| t.level.is_none()))
        .unwrap_or_else(|| default_template(audience))
}

/// Whether `name` can name a template: an audience, a default, or one of `ids`.
pub fn is_known(ids: &[&str], name: &str) -> bool {
    Audience::parse(name).is_some()
        || name
            .strip_prefix(DEFAULT_PREFIX)
            .and_then(Audience::parse)
            .is_some()
        || ids.contains(&name)
}

/// A template that does not compile or render: which part, where, why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{part}: {message}{}", .line.map(|l| format!(" (line {l} of the template)")).unwrap_or_default())]
pub struct TemplateError {
    /// `subject` or `text`.
    pub part: &'static str,
    /// 1-based line within the template, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl TemplateError {
    fn of(part: &'static str, e: &minijinja::Error) -> Self {
        let message = match e.detail() {
            Some(d) => format!("{}: {d}", e.kind()),
            None => e.kind().to_string(),
        };
        Self {
            part,
            line: e.line(),
            message,
        }
    }
}

fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    // `{{ custom_details.x }}` in a redacted template renders nothing rather
    // than failing: the field is simply not there.
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env
}

/// A template source compiled once, in an environment of its own.
struct Compiled {
    env: minijinja::Environment<'static>,
    /// Whether it reads the incident's details: when neither part does, the
    /// details are left out of the context (converting them was most of the
    /// cost of rendering a page).
    reads_details: bool,
}

/// Templates compiled once, by source: a page is rendered with the same few
/// templates over and over, and parsing one (with a fresh environment) cost
/// more than rendering it. Each is shared out under the lock and rendered
/// outside it, so a slow template (within its fuel) holds up nobody else.
static COMPILED: LazyLock<RwLock<HashMap<String, Arc<Compiled>>>> = LazyLock::new(Default::default);

/// Sources seen beyond this (configurations edited many times over) start
/// the cache afresh.
const MAX_COMPILED: usize = 512;

/// Names that give a template the details: the fields, and `debug()`, which
/// shows the whole context.
const DETAIL_NAMES: [&str; 3] = ["details", "custom_details", "debug"];

/// `source` compiled, from the cache or now.
fn compiled(part: &'static str, source: &str) -> Result<Arc<Compiled>, TemplateError> {
    let cached = COMPILED
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(source)
        .cloned();
    if let Some(c) = cached {
        return Ok(c);
    }
    let c = Arc::new(Compiled::new(part, source)?);
    let mut all = COMPILED.write().unwrap_or_else(|p| p.into_inner());
    if all.len() >= MAX_COMPILED {
        all.clear();
    }
    all.insert(source.to_owned(), c.clone());
    Ok(c)
}

impl Compiled {
    /// `source` compiled in an environment of its own.
    fn new(part: &'static str, source: &str) -> Result<Self, TemplateError> {
        let mut env = environment();
        env.add_template_owned(source.to_owned(), source.to_owned())
            .map_err(|e| TemplateError::of(part, &e))?;
        let reads_details = {
            let t = env
                .get_template(source)
                .map_err(|e| TemplateError::of(part, &e))?;
            let names = t.undeclared_variables(false);
            DETAIL_NAMES.iter().any(|n| names.contains(*n))
        };
        Ok(Compiled { env, reads_details })
    }

    /// Renders into a buffer of at most [`MAX_OUTPUT`] bytes.
    fn render(
        &self,
        part: &'static str,
        source: &str,
        context: &minijinja::Value,
    ) -> Result<String, Failure> {
        let mut out = Capped::default();
        let rendered = self
            .env
            .get_template(source)
            .and_then(|t| t.render_captured_to(context, &mut out).map(drop));
        if out.overflowed {
            return Err(Failure {
                error: TemplateError {
                    part,
                    line: None,
                    message: format!(
                        "renders more than {} KB; a subject or a text may render at most that",
                        MAX_OUTPUT / 1024
                    ),
                },
                always: true,
            });
        }
        rendered.map_err(|e| Failure {
            error: TemplateError::of(part, &e),
            always: e.kind() == minijinja::ErrorKind::OutOfFuel,
        })?;
        // minijinja writes whole `str`s: the bytes are UTF-8
        String::from_utf8(out.bytes).map_err(|_| Failure {
            error: TemplateError {
                part,
                line: None,
                message: "renders invalid UTF-8".to_owned(),
            },
            always: false,
        })
    }
}

/// A render that failed, and whether it is the template's own fault
/// whatever the incident (too large, out of fuel) rather than the data's.
struct Failure {
    error: TemplateError,
    always: bool,
}

impl From<TemplateError> for Failure {
    fn from(error: TemplateError) -> Self {
        Failure {
            error,
            always: false,
        }
    }
}

/// A render's output, refusing any write that would take it past
/// [`MAX_OUTPUT`] without copying any of it: a huge value fails as a whole.
#[derive(Default)]
struct Capped {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_OUTPUT {
            self.overflowed = true;
            return Err(std::io::Error::other("template output over its cap"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Checks that both parts of a template compile, and that rendered with
/// sample values (a sample incident and event) neither part runs out of
/// fuel nor renders past [`MAX_OUTPUT`]: such a template fails whatever the
/// incident. Other render errors depend on the incident (a field it lacks)
/// and are left to the render, which falls back to the built-in words.
pub fn compile(spec: &TemplateSpec) -> Result<(), TemplateError> {
    // Not through the cache: a template refused here must not stay in memory.
    let subject = Compiled::new("subject", &spec.subject)?;
    let text = Compiled::new("text", &spec.text)?;
    let incident = sample::incident();
    let details = sample::details();
    let facts = sample::facts(&incident, &details);
    match render_compiled(spec, &subject, &text, &facts) {
        Err(Failure {
            mut error,
            always: true,
        }) => {
            error.message.push_str(" (rendered with sample values)");
            Err(error)
        }
        _ => Ok(()),
    }
}

mod sample {
    //! What [`super::compile`] renders templates with: an incident as a
    //! typical page would show it. No clock: its times are fixed.
    use super::Facts;
    use crate::engine::{Incident, Status};
    use crate::ids::{DedupKey, IncidentId, PolicyId, ServiceId};
    use crate::rules::Priority;
    use jiff::Timestamp;

    pub(super) fn incident() -> Incident {
        let at = Timestamp::UNIX_EPOCH;
        Incident {
            id: IncidentId(1),
            service: ServiceId::parse("sample-service").expect("a valid id"),
            policy: PolicyId::parse("sample-policy").expect("a valid id"),
            dedup_key: DedupKey::parse("sample").expect("a valid key"),
            group_key: None,
            title: "Sample incident".into(),
            priority: Some(Priority::P1),
            status: Status::Triggered,
            level: 1,
            round: 1,
            level_started_at: at,
            next_escalation_at: None,
            alert_count: 1,
            created_at: at,
            updated_at: at,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            resolved_by: None,
        }
    }

    pub(super) fn details() -> serde_json::Value {
        serde_json::json!({
            "source": "sample-host",
            "severity": "critical",
            "labels": {"alertname": "Sample"},
            "custom_details": {"message": "sample"},
        })
    }

    pub(super) fn facts<'a>(incident: &'a Incident, details: &'a serde_json::Value) -> Facts<'a> {
        Facts {
            incident,
            service_name: Some("Sample service"),
            details,
            url: "https://escalator.example/incidents/1",
            level: 1,
            round: 1,
            event: "page",
            update: Some("sample update"),
            next_update_at: None,
        }
    }
}

/// A rendered message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub audience: Audience,
}

/// What a message is about, as the shell knows it when it sends.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    pub incident: &'a Incident,
    pub service_name: Option<&'a str>,
    /// The triggering event's details; only responder templates see them.
    pub details: &'a serde_json::Value,
    /// Where a person opens the incident.
    pub url: &'a str,
    /// The level (and round) the message was planned for.
    pub level: u32,
    pub round: u32,
    /// Why the message goes out: `page`, `level_reached`, `update`,
    /// `resolved`, `announcement` or `preview`.
    pub event: &'a str,
    /// A status update's words, for `update`.
    pub update: Option<&'a str>,
    pub next_update_at: Option<Timestamp>,
}

#[derive(Serialize)]
pub struct ServiceView<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
}

#[derive(Serialize)]
pub struct ImpactView {
    pub priority: Option<&'static str>,
    pub status: &'static str,
}

/// All that stakeholder, executive and external templates can see. Adding a
/// field here shows it to every non-responder audience: never add details.
#[derive(Serialize)]
pub struct RedactedView<'a> {
    pub id: i64,
    pub title: &'a str,
    /// The same as `title` (the Events API's word for it).
    pub summary: &'a str,
    pub service: ServiceView<'a>,
    pub impact: ImpactView,
    pub priority: Option<&'static str>,
    pub status: &'static str,
    pub level: u32,
    pub next_update_at: Option<String>,
    pub url: &'a str,
    pub event: &'a str,
    pub update: Option<&'a str>,
}

/// What responder templates see: the redacted view and the diagnostics.
#[derive(Serialize)]
pub struct ResponderView<'a> {
    #[serde(flatten)]
    pub base: RedactedView<'a>,
    pub round: u32,
    pub dedup_key: &'a str,
    pub alert_count: u32,
    pub created_at: String,
    pub acknowledged_by: Option<&'a str>,
    pub details: &'a serde_json::Value,
    pub custom_details: &'a serde_json::Value,
}

static NULL: serde_json::Value = serde_json::Value::Null;

impl<'a> Facts<'a> {
    /// A page about `incident` at its current level and round; callers say
    /// otherwise with struct update syntax.
    pub fn new(
        incident: &'a Incident,
        catalog: &'a Catalog,
        details: &'a serde_json::Value,
        url: &'a str,
    ) -> Self {
        Facts {
            incident,
            service_name: catalog
                .service(&incident.service)
                .and_then(|s| s.name.as_deref()),
            details,
            url,
            level: incident.level,
            round: incident.round,
            event: "page",
            update: None,
            next_update_at: None,
        }
    }

    pub fn redacted(&self) -> RedactedView<'a> {
        let i = self.incident;
        let priority = i.priority.map(|p| p.as_str());
        RedactedView {
            id: i.id.0,
            title: &i.title,
            summary: &i.title,
            service: ServiceView {
                id: i.service.as_str(),
                name: self.service_name,
            },
            impact: ImpactView {
                priority,
                status: i.status.as_str(),
            },
            priority,
            status: i.status.as_str(),
            level: self.level,
            next_update_at: self.next_update_at.map(|t| t.to_string()),
            url: self.url,
            event: self.event,
            update: self.update,
        }
    }

    pub fn responder(&self) -> ResponderView<'a> {
        let i = self.incident;
        ResponderView {
            base: self.redacted(),
            round: self.round,
            dedup_key: i.dedup_key.as_str(),
            alert_count: i.alert_count,
            created_at: i.created_at.to_string(),
            acknowledged_by: i.acknowledged_by.as_deref(),
            details: self.details,
            custom_details: self.details.get("custom_details").unwrap_or(&NULL),
        }
    }
}

/// Renders `spec` for its audience: responders from the full view, everyone
/// else from the redacted one.
pub fn render(spec: &TemplateSpec, facts: &Facts) -> Result<Rendered, TemplateError> {
    render_parts(spec, facts).map_err(|f| f.error)
}

fn render_parts(spec: &TemplateSpec, facts: &Facts) -> Result<Rendered, Failure> {
    let subject = compiled("subject", &spec.subject)?;
    let text = compiled("text", &spec.text)?;
    render_compiled(spec, &subject, &text, facts)
}

fn render_compiled(
    spec: &TemplateSpec,
    subject: &Compiled,
    text: &Compiled,
    facts: &Facts,
) -> Result<Rendered, Failure> {
    let context = if spec.audience.sees_details() {
        let mut view = facts.responder();
        if !subject.reads_details && !text.reads_details {
            (view.details, view.custom_details) = (&NULL, &NULL);
        }
        minijinja::Value::from_serialize(view)
    } else {
        minijinja::Value::from_serialize(facts.redacted())
    };
    let out = |c: &Compiled, part: &'static str, source: &str, max: usize| {
        let out = c.render(part, source, &context)?;
        Ok::<_, Failure>(cut(out.trim(), max))
    };
    Ok(Rendered {
        // A subject is one line, whatever the template made of it.
        subject: out(subject, "subject", &spec.subject, MAX_SUBJECT)?.replace(['\r', '\n'], " "),
        text: out(text, "text", &spec.text, MAX_TEXT)?,
        audience: spec.audience,
    })
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}
