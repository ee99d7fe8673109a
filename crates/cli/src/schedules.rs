//! `escalator oncall`, `escalator shifts` and the coverage check of
//! `escalator validate --coverage`: schedule questions answered from the
//! database (configuration plus overrides and availability set through the API).

use crate::Output;
use anyhow::{Context, bail};
use comfy_table::Table;
use escalator_core::config::Config;
use escalator_core::directory::Catalog;
use escalator_core::duration::Duration;
use escalator_core::ids::ScheduleId;
use escalator_core::schedule::CompiledSchedule;
use escalator_store::Store;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

pub fn instant(value: Option<&str>, flag: &str) -> anyhow::Result<Timestamp> {
    match value {
        None => Ok(Timestamp::now()),
        Some(v) => v.parse().with_context(|| {
            format!("{flag} must be an RFC 3339 timestamp such as 2026-12-24T18:00:00Z, not {v:?}")
        }),
    }
}

fn pick<'a>(catalog: &'a Catalog, only: Option<&str>) -> anyhow::Result<Vec<&'a CompiledSchedule>> {
    match only {
        None => Ok(catalog.schedules().collect()),
        Some(id) => {
            let sid = ScheduleId::parse(id).with_context(|| format!("schedule {id:?}"))?;
            match catalog.schedule(&sid) {
                Some(s) => Ok(vec![s]),
                None => bail!("no schedule {id:?} in the configuration in force"),
            }
        }
    }
}

pub async fn oncall(
    store: &Store,
    schedule: Option<&str>,
    at: Option<&str>,
    output: Output,
) -> anyhow::Result<()> {
    let at = instant(at, "--at")?;
    let catalog = escalator_server::load_catalog(store).await?;
    let schedules = pick(&catalog, schedule)?;
    if output == Output::Json {
        let v: Vec<_> = schedules
            .iter()
            .map(|s| json!({"schedule": s.id, "on_call": s.on_call_at(at)}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"at": at.to_string(), "schedules": v}))?
        );
        return Ok(());
    }
    let mut t = Table::new();
    t.set_header(["SCHEDULE", "ON CALL", "BECAUSE OF"]);
    for s in schedules {
        let on_call = s.on_call_at(at);
        if on_call.is_empty() {
            t.add_row([s.id.to_string(), "nobody".into(), "-".into()]);
        }
        for oc in on_call {
            t.add_row([s.id.to_string(), oc.user.to_string(), oc.source.to_string()]);
        }
    }
    println!("on call at {at}\n{t}");
    Ok(())
}

pub async fn shifts(
    store: &Store,
    schedule: &str,
    from: Option<&str>,
    to: Option<&str>,
    output: Output,
) -> anyhow::Result<()> {
    let from = instant(from, "--from")?;
    let to = match to {
        Some(_) => instant(to, "--to")?,
        None => from + SignedDuration::from_hours(24 * 7),
    };
    if to <= from {
        bail!("--to must be later than --from");
    }
    let catalog = escalator_server::load_catalog(store).await?;
    let s = pick(&catalog, Some(schedule))?[0];
    let shifts = s.shifts(from, to);
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&shifts)?);
        return Ok(());
    }
    let mut t = Table::new();
    t.set_header(["USER", "START", "END", "BECAUSE OF"]);
    for sh in shifts {
        t.add_row([
            sh.user.to_string(),
            sh.start.to_string(),
            sh.end.to_string(),
            sh.source.to_string(),
        ]);
    }
    println!("{t}");
    Ok(())
}

/// Prints every gap in the next `horizon` per schedule; returns how many there are.
pub fn coverage(config: &Config, horizon: Duration) -> anyhow::Result<usize> {
    let from = Timestamp::now();
    let to = from + horizon.to_span();
    let mut total = 0;
    for s in &config.schedules {
        let compiled = CompiledSchedule::compile(s, &[])?;
        let gaps = compiled.gaps(from, to);
        match gaps.len() {
            0 => println!("schedule {}: covered for the next {horizon}", s.id),
            n => {
                println!("schedule {}: {n} gap(s) in the next {horizon}:", s.id);
                for g in &gaps {
                    let hours = g.to.duration_since(g.from).as_secs_f64() / 3600.0;
                    println!("  {} to {} ({hours:.1} h) nobody on call", g.from, g.to);
                }
            }
        }
        total += gaps.len();
    }
    Ok(total)
}
