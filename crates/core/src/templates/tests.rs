use super::*;
use crate::engine::Status;
use crate::ids::{DedupKey, IncidentId, PolicyId, ServiceId};
use crate::rules::Priority;
use serde_json::json;

fn incident() -> Incident {
    let t: Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
    Incident {
        id: IncidentId(4821),
        service: ServiceId::parse("checkout").unwrap(),
        policy: PolicyId::parse("web").unwrap(),
        dedup_key: DedupKey::parse("disk-full-db1").unwrap(),
        group_key: None,
        title: "Checkout latency high".into(),
        priority: Some(Priority::P1),
        status: Status::Triggered,
        level: 2,
        round: 1,
        level_started_at: t,
        next_escalation_at: None,
        alert_count: 1,
        created_at: t,
        updated_at: t,
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        resolved_by: None,
    }
}

fn details() -> serde_json::Value {
    json!({
        "source": "db-1.internal",
        "custom_details": {"password": "hunter2", "stack": "panic at db.rs:42"},
        "labels": {"instance": "10.0.0.7"},
    })
}

fn facts<'a>(i: &'a Incident, d: &'a serde_json::Value) -> Facts<'a> {
    Facts {
        incident: i,
        service_name: Some("Checkout"),
        details: d,
        url: "https://esc.example/api/v1/incidents/4821",
        level: 2,
        round: 1,
        event: "level_reached",
        update: None,
        next_update_at: None,
    }
}

fn spec(audience: Audience, subject: &str, text: &str) -> TemplateSpec {
    TemplateSpec {
        id: "t".into(),
        audience,
        level: None,
        subject: subject.into(),
        text: text.into(),
    }
}

#[test]
fn the_default_responder_template_says_what_the_built_in_page_said() {
    let (i, d) = (incident(), details());
    let r = render(default_template(Audience::Responder), &facts(&i, &d)).unwrap();
    assert_eq!(
        r.subject,
        "[P1] #4821 Checkout latency high (checkout, triggered)"
    );
    assert_eq!(
        r.text,
        "P1 incident #4821 on checkout is triggered: Checkout latency high. Level 2, round 1."
    );
}

#[test]
fn every_default_template_renders() {
    let (i, d) = (incident(), details());
    for a in Audience::ALL {
        let r = render(default_template(a), &facts(&i, &d)).unwrap();
        assert!(!r.subject.is_empty() && !r.text.is_empty(), "{a}: {r:?}");
        assert_eq!(r.audience, a);
    }
}

#[test]
fn responder_templates_see_the_details() {
    let (i, d) = (incident(), details());
    let t = spec(
        Audience::Responder,
        "{{ custom_details.stack }}",
        "{{ details.source }} {{ details.labels.instance }}",
    );
    let r = render(&t, &facts(&i, &d)).unwrap();
    assert_eq!(r.subject, "panic at db.rs:42");
    assert_eq!(r.text, "db-1.internal 10.0.0.7");
}

#[test]
fn a_stakeholder_template_cannot_reach_details_custom_details_or_labels() {
    let (i, d) = (incident(), details());
    for audience in [
        Audience::Stakeholder,
        Audience::Executive,
        Audience::External,
    ] {
        let t = spec(
            audience,
            "{{ details }}{{ custom_details.password }}",
            "{{ details.custom_details.password }}|{{ custom_details }}|{{ labels }}|\
             {{ details.labels.instance }}|{{ source }}|{{ dedup_key }}",
        );
        let r = render(&t, &facts(&i, &d)).unwrap();
        assert_eq!(r.subject, "", "{audience}");
        assert_eq!(r.text, "|||||", "{audience}");
        for secret in ["hunter2", "panic", "10.0.0.7", "db-1", "disk-full"] {
            assert!(!r.text.contains(secret) && !r.subject.contains(secret));
        }
    }
}

#[test]
fn the_redacted_view_has_summary_service_impact_level_and_url() {
    let (i, d) = (incident(), details());
    let t = spec(
        Audience::Executive,
        "{{ summary }}",
        "{{ service.id }}/{{ service.name }} {{ impact.priority }} {{ impact.status }} L{{ level }} {{ url }}",
    );
    let r = render(&t, &facts(&i, &d)).unwrap();
    assert_eq!(r.subject, "Checkout latency high");
    assert_eq!(
        r.text,
        "checkout/Checkout P1 triggered L2 https://esc.example/api/v1/incidents/4821"
    );
}

#[test]
fn a_huge_loop_runs_out_of_fuel_instead_of_hanging() {
    let (i, d) = (incident(), details());
    let t = spec(
        Audience::Responder,
        "x",
        "{% for a in range(10000) %}{% for b in range(10000) %}{{ a }}{% endfor %}{% endfor %}",
    );
    let started = std::time::Instant::now();
    let e = render(&t, &facts(&i, &d)).unwrap_err();
    assert_eq!(e.part, "text");
    assert!(e.message.contains("fuel"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn deep_recursion_is_refused() {
    let (i, d) = (incident(), details());
    let t = spec(
        Audience::Responder,
        "x",
        "{% for x in [[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]] recursive %}{{ loop(x) if x is sequence else x }}{% endfor %}",
    );
    assert!(render(&t, &facts(&i, &d)).is_err());
}

#[test]
fn a_syntax_error_names_the_part_and_the_line() {
    let t = spec(Audience::Executive, "fine", "one\ntwo {{ oops\n");
    let e = compile(&t).unwrap_err();
    assert_eq!(e.part, "text");
    assert_eq!(e.line, Some(2));
    assert!(e.to_string().contains("syntax error"), "{e}");
}

#[test]
fn names_resolve_to_ids_then_audiences_per_level_then_defaults() {
    let mut l2 = spec(Audience::Responder, "l2", "l2");
    l2.id = "l2-responder".into();
    l2.level = Some(2);
    let mut any = spec(Audience::Executive, "e", "e");
    any.id = "exec-short".into();
    let templates = vec![l2, any];
    assert_eq!(
        find(&templates, "l2-responder", 1).unwrap().id,
        "l2-responder"
    );
    assert_eq!(find(&templates, "responder", 2).unwrap().id, "l2-responder");
    assert_eq!(
        find(&templates, "responder", 1).unwrap().id,
        "default-responder"
    );
    assert_eq!(find(&templates, "executive", 3).unwrap().id, "exec-short");
    assert_eq!(
        find(&templates, "default-executive", 3).unwrap().id,
        "default-executive"
    );
    assert_eq!(
        find(&templates, "stakeholder", 1).unwrap().id,
        "default-stakeholder"
    );
    assert!(find(&templates, "nope", 1).is_none());
}

#[test]
fn output_is_bounded() {
    let (i, d) = (incident(), details());
    let t = spec(
        Audience::Responder,
        "{% for a in range(2000) %}line\n{% endfor %}",
        "{% for a in range(4000) %}xyzxyzxyzxyz{% endfor %}",
    );
    let r = render(&t, &facts(&i, &d)).unwrap();
    assert!(!r.subject.contains('\n'));
    assert!(r.subject.len() <= MAX_SUBJECT);
    assert_eq!(r.text.len(), MAX_TEXT);
}

#[test]
fn templates_compiled_once_render_anew_each_time_and_the_cache_stays_bounded() {
    let d = details();
    let mut i = incident();
    let t = spec(Audience::Responder, "#{{ id }}", "{{ status }} {{ title }}");
    let first = render(&t, &facts(&i, &d)).unwrap();
    i.status = Status::Acknowledged;
    i.title = "Checkout fixed".into();
    let second = render(&t, &facts(&i, &d)).unwrap();
    assert_eq!(first.text, "triggered Checkout latency high");
    assert_eq!(
        second.text, "acknowledged Checkout fixed",
        "not a cached result"
    );
    // A source that does not compile fails every time, not just the first.
    let broken = spec(Audience::Responder, "ok", "{% if %}");
    for _ in 0..2 {
        assert_eq!(render(&broken, &facts(&i, &d)).unwrap_err().part, "text");
    }
    // More distinct sources than the cache keeps: each still renders.
    for n in 0..MAX_COMPILED + 10 {
        let t = spec(Audience::Responder, "s", &format!("{n}-{{{{ id }}}}"));
        assert_eq!(
            render(&t, &facts(&i, &d)).unwrap().text,
            format!("{n}-4821")
        );
    }
}

#[test]
fn details_reach_a_responder_template_however_it_names_them() {
    let (i, d) = (incident(), details());
    let f = facts(&i, &d);
    for (text, expected) in [
        ("{{ custom_details.stack }}", "panic at db.rs:42"),
        ("{% set d = details %}{{ d.source }}", "db-1.internal"),
        ("{{ (details.labels or {}).instance }}", "10.0.0.7"),
        (
            "{% for k in custom_details|sort %}{{ k }} {% endfor %}",
            "password stack",
        ),
    ] {
        let t = spec(Audience::Responder, "{{ id }}", text);
        assert_eq!(render(&t, &f).unwrap().text, expected, "{text}");
    }
    // In the subject only, too.
    let t = spec(Audience::Responder, "{{ details.source }}", "plain");
    assert_eq!(render(&t, &f).unwrap().subject, "db-1.internal");
}

#[test]
fn a_string_repeated_past_the_output_cap_is_an_error_not_an_allocation_kept() {
    let (i, d) = (incident(), details());
    let t = spec(Audience::Responder, "{{ 'x' * 100000000 }}", "fine");
    let e = render(&t, &facts(&i, &d)).unwrap_err();
    assert_eq!(e.part, "subject");
    assert_eq!(
        e.message,
        "renders more than 64 KB; a subject or a text may render at most that"
    );
    // many small writes stop at the cap too
    let t = spec(
        Audience::Responder,
        "s",
        "{% for a in range(20000) %}{{ 'y' * 100 }}{% endfor %}",
    );
    assert!(
        render(&t, &facts(&i, &d))
            .unwrap_err()
            .message
            .contains("64 KB")
    );
}

#[test]
fn compile_refuses_a_template_too_large_or_slow_whatever_the_incident() {
    let t = spec(Audience::Responder, "{{ 'x' * 100000000 }}", "fine");
    let e = compile(&t).unwrap_err();
    assert_eq!(e.part, "subject");
    assert!(
        e.message.starts_with("renders more than 64 KB")
            && e.message.ends_with("(rendered with sample values)"),
        "{e}"
    );
    let t = spec(
        Audience::Stakeholder,
        "s",
        "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}",
    );
    assert!(compile(&t).unwrap_err().message.contains("fuel"));
}

#[test]
fn compile_leaves_errors_that_depend_on_the_incident_to_the_render() {
    // sample values have no `n`: the render fails, but not for every incident
    let t = spec(
        Audience::Responder,
        "{{ 'x' * custom_details.n }}",
        "{{ custom_details.n + 1 }}",
    );
    assert_eq!(compile(&t), Ok(()));
    // and an incident whose `n` asks for too much is refused at render
    let i = incident();
    let d = json!({"custom_details": {"n": 100_000_000}});
    let e = render(&t, &facts(&i, &d)).unwrap_err();
    assert!(e.message.contains("64 KB"), "{e}");
}

#[test]
fn every_default_template_passes_compile() {
    for a in Audience::ALL {
        assert_eq!(compile(default_template(a)), Ok(()), "{a}");
    }
}
