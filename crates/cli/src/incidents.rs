//! `escalator incidents …`: a client of a running server's API.

use crate::Output;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use comfy_table::Table;
use serde_json::{Value, json};
use std::process::ExitCode;

/// Which server to talk to, as whom, and how to print its answers.
#[derive(Args)]
pub struct ServerArgs {
    /// Server base URL.
    #[arg(
        long,
        env = "ESCALATOR_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    url: String,
    /// API token (escalator token create).
    #[arg(long, env = "ESCALATOR_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// table for people, json for scripts.
    #[arg(long, value_enum, default_value_t = Output::Table, global = true)]
    output: Output,
}

#[derive(Args)]
pub struct IncidentsArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[command(subcommand)]
    command: IncidentsCommand,
}

#[derive(Subcommand)]
enum IncidentsCommand {
    /// List incidents, newest first.
    List {
        /// Comma-separated: triggered, acknowledged, resolved.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        service: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue from a previous page's next_cursor.
        #[arg(long)]
        cursor: Option<i64>,
    },
    /// Show one incident and its timeline.
    Show { id: i64 },
    /// Acknowledge: stop escalating.
    Ack { id: i64 },
    /// Resolve.
    Resolve { id: i64 },
    /// Escalate one level, or to --to-level (needs the manager role and --reason).
    Escalate {
        id: i64,
        #[arg(long)]
        to_level: Option<u32>,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Publish a status update to the incident's stakeholders.
    Update {
        id: i64,
        #[arg(long)]
        message: String,
        /// When the next update will come, e.g. 30m.
        #[arg(long)]
        next_update_in: Option<String>,
    },
    /// Set incident roles (a user id; "" clears the role).
    Roles {
        id: i64,
        #[arg(long)]
        commander: Option<String>,
        /// The communications lead.
        #[arg(long)]
        comms_lead: Option<String>,
        #[arg(long)]
        scribe: Option<String>,
    },
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.with_context(|| format!("calling {url}"))?;
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let msg = value["error"]["message"].as_str().unwrap_or("no details");
            match value["error"]["field"].as_str() {
                Some(f) => bail!("{status}: {msg} (field {f})"),
                None => bail!("{status}: {msg}"),
            }
        }
        Ok(value)
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn incident_table(items: &[Value]) -> Table {
    let mut t = Table::new();
    t.set_header([
        "ID",
        "STATUS",
        "LEVEL",
        "SERVICE",
        "TITLE",
        "CREATED",
        "NEXT ESCALATION",
    ]);
    for i in items {
        t.add_row([
            s(&i["id"]),
            s(&i["status"]),
            format!("{} (round {})", s(&i["level"]), s(&i["round"])),
            s(&i["service"]),
            s(&i["title"]),
            s(&i["created_at"]),
            s(&i["next_escalation_at"]),
        ]);
    }
    t
}

fn client(url: &str, token: Option<String>) -> anyhow::Result<Client> {
    let Some(token) = token else {
        bail!(
            "an API token is needed: pass --token or set ESCALATOR_TOKEN (create one with `escalator token create`)"
        );
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(Client {
        // The server records acknowledgements made here as coming from the CLI.
        http: reqwest::Client::builder()
            .user_agent(concat!("escalator-cli/", env!("CARGO_PKG_VERSION")))
            .build()?,
        base: url.trim_end_matches('/').to_owned(),
        token,
    })
}

#[derive(Args)]
pub struct TemplatesArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[command(subcommand)]
    command: TemplatesCommand,
}

#[derive(Subcommand)]
enum TemplatesCommand {
    /// Render a template for an incident, as its audience would get it.
    Preview {
        /// A template id, default-<audience>, or an audience name.
        #[arg(long)]
        template: String,
        #[arg(long)]
        incident: i64,
    },
}

pub async fn templates(args: TemplatesArgs) -> anyhow::Result<ExitCode> {
    let client = client(&args.server.url, args.server.token)?;
    match args.command {
        TemplatesCommand::Preview { template, incident } => {
            let path = format!("/templates/{template}/preview?incident={incident}");
            let v = client.call(reqwest::Method::GET, &path, None).await?;
            if args.server.output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("audience: {}", s(&v["audience"]));
                println!("subject:  {}", s(&v["subject"]));
                println!();
                println!("{}", s(&v["text"]));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn run(args: IncidentsArgs) -> anyhow::Result<ExitCode> {
    let client = client(&args.server.url, args.server.token)?;
    let json_out = args.server.output == Output::Json;
    use reqwest::Method;
    match args.command {
        IncidentsCommand::List {
            status,
            service,
            limit,
            cursor,
        } => {
            let mut query = vec![format!("limit={limit}")];
            if let Some(s) = status {
                query.push(format!("status={s}"));
            }
            if let Some(s) = service {
                query.push(format!("service={s}"));
            }
            if let Some(c) = cursor {
                query.push(format!("cursor={c}"));
            }
            let v = client
                .call(
                    Method::GET,
                    &format!("/incidents?{}", query.join("&")),
                    None,
                )
                .await?;
            if json_out {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let items = v["incidents"].as_array().cloned().unwrap_or_default();
                println!("{}", incident_table(&items));
                if let Some(c) = v["next_cursor"].as_i64() {
                    println!("more: --cursor {c}");
                }
            }
        }
        IncidentsCommand::Show { id } => {
            let inc = client
                .call(Method::GET, &format!("/incidents/{id}"), None)
                .await?;
            let tl = client
                .call(Method::GET, &format!("/incidents/{id}/timeline"), None)
                .await?;
            if json_out {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"incident": inc, "timeline": tl["entries"]})
                    )?
                );
            } else {
                println!("{}", incident_table(std::slice::from_ref(&inc)));
                let mut t = Table::new();
                t.set_header(["AT", "WHAT", "BY", "DETAIL"]);
                for e in tl["entries"].as_array().into_iter().flatten() {
                    t.add_row([s(&e["at"]), s(&e["kind"]), s(&e["actor"]), s(&e["message"])]);
                }
                println!("{t}");
            }
        }
        IncidentsCommand::Update {
            id,
            message,
            next_update_in,
        } => {
            let v = client
                .call(
                    Method::POST,
                    &format!("/incidents/{id}/updates"),
                    Some(json!({"message": message, "next_update_in": next_update_in})),
                )
                .await?;
            if json_out {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("{}", incident_table(std::slice::from_ref(&v)));
            }
        }
        IncidentsCommand::Roles {
            id,
            commander,
            comms_lead,
            scribe,
        } => {
            let mut body = serde_json::Map::new();
            for (name, value) in [
                ("commander", commander),
                ("comms_lead", comms_lead),
                ("scribe", scribe),
            ] {
                if let Some(v) = value {
                    body.insert(name.into(), v.into());
                }
            }
            if body.is_empty() {
                bail!("name at least one role: --commander, --comms-lead or --scribe");
            }
            let v = client
                .call(
                    Method::PUT,
                    &format!("/incidents/{id}/roles"),
                    Some(Value::Object(body)),
                )
                .await?;
            if json_out {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let mut t = Table::new();
                t.set_header(["ROLE", "USER"]);
                for role in ["commander", "comms_lead", "scribe"] {
                    t.add_row([role.to_owned(), s(&v["roles"][role])]);
                }
                println!("{t}");
            }
        }
        IncidentsCommand::Ack { id }
        | IncidentsCommand::Resolve { id }
        | IncidentsCommand::Escalate { id, .. } => {
            let (path, body) = match &args.command {
                IncidentsCommand::Ack { .. } => ("acknowledge", None),
                IncidentsCommand::Resolve { .. } => ("resolve", None),
                IncidentsCommand::Escalate {
                    to_level, reason, ..
                } => (
                    "escalate",
                    Some(json!({"to_level": to_level, "reason": reason})),
                ),
                _ => unreachable!("matched above"),
            };
            let v = client
                .call(Method::POST, &format!("/incidents/{id}/{path}"), body)
                .await?;
            if json_out {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("{}", incident_table(std::slice::from_ref(&v)));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
