//! `escalator rules review` and `escalator rules test`: rules whose review is
//! due, and a dry run of the rules in force against an event file.

use crate::Output;
use anyhow::{Context, bail};
use comfy_table::Table;
use escalator_core::duration::Duration;
use escalator_core::ids::{DedupKey, ServiceId};
use escalator_core::rules::due_for_review;
use escalator_store::Store;
use std::path::Path;
use std::process::ExitCode;

fn today() -> jiff::civil::Date {
    jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date()
}

/// Lists rules overdue for review (or due within `within`); non-zero exit when any is overdue.
pub async fn review(
    store: &Store,
    within: Option<Duration>,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let catalog = escalator_server::load_catalog(store).await?;
    let rules = &catalog.config().rules;
    let today = today();
    let due = due_for_review(rules, today, within.map(|d| (d.as_secs() / 86_400) as u32));
    let overdue = due
        .iter()
        .filter(|r| r.review_by.is_some_and(|d| d < today))
        .count();
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&due)?);
    } else {
        let mut t = Table::new();
        t.set_header(["RULE", "REVIEW BY", "OWNER", "STATE"]);
        for r in &due {
            let state = if r.review_by.is_some_and(|d| d < today) {
                "overdue"
            } else {
                "due soon"
            };
            t.add_row([
                r.id.clone(),
                r.review_by.map(|d| d.to_string()).unwrap_or_default(),
                r.owner.clone().unwrap_or_else(|| "-".into()),
                state.to_owned(),
            ]);
        }
        println!("{t}");
        println!(
            "{} rule(s) listed, {overdue} overdue (today is {today})",
            due.len()
        );
    }
    Ok(if overdue > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// What the rules in force decide for the event in `file` on `service`. Creates nothing.
pub async fn test(store: &Store, service: &str, file: &Path, output: Output) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let event: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    if !event.is_object() {
        bail!("{}: the event must be a JSON object", file.display());
    }
    let catalog = escalator_server::load_catalog(store).await?;
    let id = ServiceId::parse(service).with_context(|| format!("service {service:?}"))?;
    let Some(svc) = catalog.service(&id) else {
        bail!("no service {service:?} in the configuration in force");
    };
    let normalized = escalator_server::api::rules::event_for_evaluation(&event);
    let key = normalized
        .dedup_key
        .clone()
        .unwrap_or_else(|| DedupKey::parse("dry-run").expect("valid key"));
    let decision =
        escalator_server::ingest::decide(&catalog, svc, &normalized, &key).unwrap_or_default();
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&decision)?);
        return Ok(());
    }
    let mut t = Table::new();
    t.set_header(["RULE", "EXCEPTION", "DECIDED"]);
    for m in &decision.matched {
        t.add_row([
            m.rule.clone(),
            m.exception.to_string(),
            serde_json::to_string(&m.decided)?,
        ]);
    }
    println!("{t}");
    println!(
        "priority: {}\nstart level: {}\nmandatory paths: {}\nsuppressed (nobody paged): {}",
        decision
            .priority
            .map(|p| p.to_string())
            .unwrap_or_else(|| "-".into()),
        decision.start_level.unwrap_or(1),
        if decision.notify.is_empty() {
            "-".to_owned()
        } else {
            decision
                .notify
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        },
        decision.suppressed
    );
    for (rule, err) in &decision.errors {
        println!("rule {rule} failed and was skipped: {err}");
    }
    Ok(())
}
