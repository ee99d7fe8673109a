//! Rules and detectors: conditions compiled once, each within its cost budget, and
//! the detectors that watch metric streams.

use super::check::*;
use super::tree::*;
use crate::config::{Config, DetectorSpec};
use crate::duration::Duration;
use crate::ids::{ServiceId, UserId};
use crate::rules::{Priority, RuleSpec, Then};

impl Checker {
    pub(super) fn detector(&mut self, node: &Node, path: String) -> Option<DetectorSpec> {
        let keys = [
            "id",
            "service",
            "metric",
            "method",
            "sensitivity",
            "above",
            "below",
            "for",
            "severity",
            "resolve_after",
        ];
        let f = self.fields(node, &path, &keys)?;
        let id = self
            .required(&f, "id")
            .and_then(|n| self.id(n, &f.path("id"), UserId::parse))
            .map(|i| i.to_string());
        let service = self
            .required(&f, "service")
            .and_then(|n| self.reference(Kind::Service, n, &f.path("service"), ServiceId::parse));
        let metric = self
            .required(&f, "metric")
            .and_then(|n| self.text(n, &f.path("metric")).map(str::to_owned));
        let number = |this: &mut Self, key: &str| -> Option<Option<f64>> {
            match f.get(key) {
                Some(n) => this.number(n, &f.path(key)).map(Some),
                None => Some(None),
            }
        };
        let method = match self
            .required(&f, "method")
            .and_then(|n| self.type_name(n, &f.path("method"), &["anomaly", "threshold"]))
        {
            Some(0) => {
                let sensitivity =
                    number(self, "sensitivity")?.unwrap_or(crate::anomaly::DEFAULT_SENSITIVITY);
                if sensitivity <= 0.0 {
                    self.error(f.pos, &f.path("sensitivity"), "must be greater than 0");
                    return None;
                }
                for key in ["above", "below", "for"] {
                    if let Some(n) = f.get(key) {
                        self.error(
                            n.pos,
                            &f.path(key),
                            "only a threshold detector takes this key",
                        );
                    }
                }
                Some(crate::anomaly::Method::Anomaly { sensitivity })
            }
            Some(_) => {
                let (above, below) = (number(self, "above")?, number(self, "below")?);
                if above.is_none() && below.is_none() {
                    self.error(
                        f.pos,
                        &f.path("above"),
                        "a threshold detector needs above, below or both",
                    );
                    return None;
                }
                let for_secs = match f.get("for") {
                    Some(n) => self.duration(n, &f.path("for"))?.as_secs(),
                    None => 0,
                };
                Some(crate::anomaly::Method::Threshold {
                    above,
                    below,
                    for_secs,
                })
            }
            None => None,
        };
        let severity = match f.get("severity") {
            Some(n) => {
                let p = f.path("severity");
                let i = self.type_name(n, &p, &["critical", "error", "warning", "info"])?;
                ["critical", "error", "warning", "info"][i].to_owned()
            }
            None => "error".to_owned(),
        };
        let resolve_after = match f.get("resolve_after") {
            Some(n) => self.duration(n, &f.path("resolve_after"))?,
            None => Duration::from_secs(600),
        };
        Some(DetectorSpec {
            id: id?,
            service: service?,
            metric: metric?,
            method: method?,
            severity,
            resolve_after,
        })
    }

    pub(super) fn rule(&mut self, node: &Node, path: String) -> Option<RuleSpec> {
        let keys = ["id", "exception", "when", "then", "owner", "review_by"];
        let f = self.fields(node, &path, &keys)?;
        let id = self
            .required(&f, "id")
            .and_then(|n| self.text(n, &f.path("id")).map(str::to_owned));
        let exception = match f.get("exception") {
            Some(n) => self.boolean(n, &f.path("exception"))?,
            None => false,
        };
        let when = self.required(&f, "when").and_then(|n| {
            let text = self.text(n, &f.path("when"))?.to_owned();
            self.rule_conditions
                .push((n.pos, f.path("when"), text.clone()));
            Some(text)
        });
        let then = self
            .required(&f, "then")
            .and_then(|n| self.then(n, &f.path("then")));
        let owner = match f.get("owner") {
            Some(n) => Some(
                self.reference(Kind::User, n, &f.path("owner"), UserId::parse)?
                    .to_string(),
            ),
            None => None,
        };
        let review_by = match f.get("review_by") {
            Some(n) => {
                let path = f.path("review_by");
                let text = self.text(n, &path)?;
                match text.parse::<jiff::civil::Date>() {
                    Ok(d) => Some(d),
                    Err(_) => {
                        self.error(
                            n.pos,
                            &path,
                            format!("{text:?} is not a date such as 2027-03-01"),
                        );
                        return None;
                    }
                }
            }
            None => None,
        };
        Some(RuleSpec {
            id: id?,
            exception,
            when: when?,
            then: then?,
            owner,
            review_by,
        })
    }

    pub(super) fn then(&mut self, node: &Node, path: &str) -> Option<Then> {
        let f = self.fields(
            node,
            path,
            &["priority", "start_level", "notify", "suppress"],
        )?;
        let priority = match f.get("priority") {
            Some(n) => {
                let p = f.path("priority");
                let text = self.text(n, &p)?;
                match text.parse::<Priority>() {
                    Ok(v) => Some(v),
                    Err(e) => {
                        self.error(n.pos, &p, e.to_string());
                        return None;
                    }
                }
            }
            None => None,
        };
        let start_level = match f.get("start_level") {
            Some(n) => Some(self.repeat(n, &f.path("start_level"))?),
            None => None,
        };
        let notify = self.items(&f, "notify", None, Self::target);
        let suppress = match f.get("suppress") {
            Some(n) => self.boolean(n, &f.path("suppress"))?,
            None => false,
        };
        Some(Then {
            priority,
            start_level,
            notify,
            suppress,
        })
    }

    /// Compiles the rules, reporting each CEL problem at the rule's `when`.
    pub(super) fn compile_rules(&mut self, config: &Config) {
        if config.rules.len() != self.rule_conditions.len() {
            return; // structural errors already reported
        }
        let Err(errors) = crate::rules::compile(&config.rules) else {
            return;
        };
        for e in errors {
            let (pos, path, _) = self.rule_conditions[e.index].clone();
            let message = match e.position {
                Some((line, col)) => format!(
                    "rule {:?}: {} (at line {line}, column {col} of the expression)",
                    e.rule, e.message
                ),
                None => format!("rule {:?}: {}", e.rule, e.message),
            };
            self.error(pos, &path, message);
        }
    }
}
