//! Services: their integrations, alert grouping and generic webhook mappings.

use super::check::*;
use super::tree::*;
use crate::config::{DataClassification, Grouping, Integration, IntegrationKind, Mapping, Service};
use crate::duration::Duration;
use crate::ids::{PolicyId, RoutingKey, ServiceId};

impl Checker {
    pub(super) fn service(&mut self, node: &Node, path: String) -> Option<Service> {
        let keys = [
            "id",
            "name",
            "escalation_policy",
            "integrations",
            "tier",
            "data_classification",
            "customer_segment",
            "revenue_per_hour",
            "grouping",
        ];
        let f = self.fields(node, &path, &keys)?;
        let id = self.identity(&f, Kind::Service, ServiceId::parse);
        let name = self.optional_text(&f, "name");
        let escalation_policy = self.required(&f, "escalation_policy").and_then(|n| {
            self.reference(
                Kind::Policy,
                n,
                &f.path("escalation_policy"),
                PolicyId::parse,
            )
        });
        let owner = id
            .as_ref()
            .map_or_else(|| path.clone(), ServiceId::to_string);
        let integrations = self.items(&f, "integrations", None, |this, n, p| {
            this.integration(n, p, &owner)
        });
        let tier = match f.get("tier") {
            Some(n) => Some(self.repeat(n, &f.path("tier"))?),
            None => None,
        };
        let data_classification = match f.get("data_classification") {
            Some(n) => {
                let path = f.path("data_classification");
                let names: Vec<&str> = DataClassification::ALL.iter().map(|d| d.as_str()).collect();
                let text = self.text(n, &path)?;
                match DataClassification::ALL
                    .into_iter()
                    .find(|d| d.as_str() == text)
                {
                    Some(d) => Some(d),
                    None => {
                        self.error(
                            n.pos,
                            &path,
                            format!(
                                "unknown data classification {text:?}; expected one of: {}",
                                names.join(", ")
                            ),
                        );
                        return None;
                    }
                }
            }
            None => None,
        };
        let customer_segment = self.optional_text(&f, "customer_segment");
        let revenue_per_hour = match f.get("revenue_per_hour") {
            Some(n) => Some(self.number(n, &f.path("revenue_per_hour"))?),
            None => None,
        };
        let grouping = match f.get("grouping") {
            Some(n) => Some(self.grouping(n, &f.path("grouping"))?),
            None => None,
        };
        Some(Service {
            id: id?,
            name,
            escalation_policy: escalation_policy?,
            integrations,
            tier,
            data_classification,
            customer_segment,
            revenue_per_hour,
            grouping,
        })
    }

    pub(super) fn grouping(&mut self, node: &Node, path: &str) -> Option<Grouping> {
        let f = self.fields(node, path, &["by", "window"])?;
        let by = self.items(
            &f,
            "by",
            Some("list at least one label to group by"),
            |this, n, p| {
                let label = this.text(n, &p)?;
                if label.is_empty() {
                    this.error(n.pos, &p, "a label name cannot be empty");
                    return None;
                }
                Some(label.to_owned())
            },
        );
        let window = self.required(&f, "window").and_then(|n| {
            let path = f.path("window");
            let window = self.duration(n, &path)?;
            if window < Duration::from_secs(1) {
                self.error(n.pos, &path, "must be at least 1s");
                return None;
            }
            Some(window)
        });
        if by.is_empty() {
            return None;
        }
        Some(Grouping {
            by,
            window: window?,
        })
    }

    pub(super) fn integration(
        &mut self,
        node: &Node,
        path: String,
        owner: &str,
    ) -> Option<Integration> {
        let f = self.fields(node, &path, &["type", "key", "mapping"])?;
        let names: Vec<&str> = IntegrationKind::ALL.iter().map(|k| k.type_name()).collect();
        let kind = self
            .required(&f, "type")
            .and_then(|n| self.type_name(n, &f.path("type"), &names))
            .map(|i| IntegrationKind::ALL[i]);
        let mapping = match (kind, f.get("mapping")) {
            (Some(IntegrationKind::Generic), Some(n)) => Some(self.mapping(n, &f.path("mapping"))?),
            (Some(IntegrationKind::Generic), None) => {
                self.required(&f, "mapping");
                return None;
            }
            (Some(_), Some(n)) => {
                self.error(
                    n.pos,
                    &f.path("mapping"),
                    "only a generic integration has a mapping",
                );
                return None;
            }
            (_, _) => None,
        };
        let key = self.required(&f, "key").and_then(|n| {
            let path = f.path("key");
            let text = self.text(n, &path)?;
            let key = RoutingKey::parse(text)
                .map_err(|e| self.error(n.pos, &path, e.to_string()))
                .ok()?;
            match self.routing_keys.get(text) {
                Some(other) => {
                    let message = format!("integration key is already used by service {other:?}");
                    self.error(n.pos, &path, message);
                }
                None => {
                    self.routing_keys.insert(text.to_owned(), owner.to_owned());
                }
            }
            Some(key)
        });
        Some(Integration {
            kind: kind?,
            key: key?,
            mapping,
        })
    }

    /// A generic webhook's mapping: each field a CEL expression, checked by
    /// compiling it, within the rules' cost budget (it runs on every event).
    pub(super) fn mapping(&mut self, node: &Node, path: &str) -> Option<Mapping> {
        let f = self.fields(node, path, &Mapping::FIELDS)?;
        let expr = |this: &mut Self, key: &str, required: bool| -> Option<Option<String>> {
            let n = match (f.get(key), required) {
                (Some(n), _) => n,
                (None, true) => {
                    this.required(&f, key);
                    return None;
                }
                (None, false) => return Some(None),
            };
            let path = f.path(key);
            let text = this.text(n, &path)?.to_owned();
            let checked = crate::rules::compile_expression(&text).and_then(|e| {
                e.check_variables(&["body"])?;
                e.check_cost(crate::rules::MAX_COST)
            });
            if let Err(e) = checked {
                this.error(n.pos, &path, format!("invalid CEL expression: {e}"));
                return None;
            }
            Some(Some(text))
        };
        let summary = expr(self, "summary", true);
        let dedup_key = expr(self, "dedup_key", false);
        let severity = expr(self, "severity", false);
        let action = expr(self, "action", false);
        let source = expr(self, "source", false);
        Some(Mapping {
            summary: summary??,
            dedup_key: dedup_key?,
            severity: severity?,
            action: action?,
            source: source?,
        })
    }

    /// A plain number (integer or decimal), not quoted.
    pub(super) fn number(&mut self, node: &Node, path: &str) -> Option<f64> {
        match &node.value {
            Value::Scalar { text, plain: true } => match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Some(v),
                _ => {
                    self.error(node.pos, path, format!("{text:?} is not a number"));
                    None
                }
            },
            Value::Invalid => None,
            _ => {
                self.error(node.pos, path, "expected a number");
                None
            }
        }
    }
}
