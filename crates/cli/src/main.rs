//! The `escalator` binary: run the server, manage configuration, tokens and
//! the audit trail against a database, and work incidents through a running
//! server's API.

mod detect;
mod incidents;
mod rules;
mod schedules;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use escalator_core::auth::Role;
use escalator_core::config::{self, Config};
use escalator_store::Store;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "escalator",
    version,
    about = "Escalation management: page the right person, climb the ladder when nobody answers."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct DbArgs {
    /// Database: sqlite://FILE (created on first use) or postgres://USER@HOST/DB.
    #[arg(
        long,
        env = "ESCALATOR_DATABASE_URL",
        default_value = "sqlite://escalator.db"
    )]
    database: String,
}

#[derive(Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
enum Output {
    /// Tables for people.
    #[default]
    Table,
    /// JSON for scripts.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (applies --config first, when given).
    Serve(ServeArgs),
    /// Check a configuration file; report every error with line, column and path.
    Validate {
        /// The YAML configuration file.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Also report every stretch in this coming period (e.g. 28d) when a
        /// schedule has nobody on call; exits non-zero if there is one.
        #[arg(long, value_parser = parse_duration)]
        coverage: Option<escalator_core::duration::Duration>,
    },
    /// Rules: review dates and dry runs.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Who is on call, per schedule.
    Oncall {
        /// Only this schedule.
        #[arg(long)]
        schedule: Option<String>,
        /// RFC 3339 instant; default now.
        #[arg(long)]
        at: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
        #[command(flatten)]
        db: DbArgs,
    },
    /// A schedule's final shifts over a period.
    Shifts {
        #[arg(long)]
        schedule: String,
        /// RFC 3339; default now.
        #[arg(long)]
        from: Option<String>,
        /// RFC 3339; default a week after --from.
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Validate and apply a configuration file, all or nothing.
    Apply {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Print the configuration in force as YAML that applies back to the same state.
    Export {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Check the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Work incidents through a running server.
    Incidents(incidents::IncidentsArgs),
    /// Message templates on a running server.
    Templates(incidents::TemplatesArgs),
    /// Score a metric stream (NAB CSV) with the detector the server runs.
    Detect {
        #[command(flatten)]
        args: detect::DetectArgs,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Configuration file to validate and apply on start.
    #[arg(long, env = "ESCALATOR_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    db: DbArgs,
    /// Address to listen on.
    #[arg(long, env = "ESCALATOR_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Base URL for links in notifications (default: from --listen).
    #[arg(long, env = "ESCALATOR_PUBLIC_URL")]
    public_url: Option<String>,
    /// PEM certificate chain: serve HTTPS.
    #[arg(long, requires = "tls_key", env = "ESCALATOR_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert", env = "ESCALATOR_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Secret for X-Escalator-Signature on outgoing webhooks.
    #[arg(long, env = "ESCALATOR_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
    /// Events per second accepted per integration key; 0 for no limit. Every
    /// event counts: an Alertmanager request of n alerts spends n, all or none.
    #[arg(long, env = "ESCALATOR_EVENTS_RATE_LIMIT", default_value_t = 1000)]
    events_rate_limit: u32,
    /// Most events one integration key may send at once (default: twice
    /// --events-rate-limit); a request carrying more is refused with 413.
    #[arg(long, env = "ESCALATOR_EVENTS_BURST", value_parser = clap::value_parser!(u32).range(1..))]
    events_burst: Option<u32>,
    /// Transient failures in a row that open a destination's circuit breaker
    /// (its pages are then held, not failed, until a trial send succeeds).
    #[arg(long, env = "ESCALATOR_BREAKER_THRESHOLD", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..))]
    breaker_threshold: u32,
    /// How long an open circuit breaker waits before a trial send.
    #[arg(long, env = "ESCALATOR_BREAKER_COOL_DOWN", default_value = "30s", value_parser = parse_duration)]
    breaker_cool_down: escalator_core::duration::Duration,
    /// Connections served at once; past it a new connection gets a 503 and is
    /// closed. Lowered to leave 512 descriptors of the open-files limit (raised
    /// to its hard limit at start) for the database and outgoing sends.
    #[arg(long, env = "ESCALATOR_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Time a client has to send a request's headers, from connecting or from
    /// the end of the previous answer (so also how long an idle connection is kept).
    #[arg(long, env = "ESCALATOR_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    header_timeout: escalator_core::duration::Duration,
    /// Time a client has to send a request's body once its headers are in (408 past it).
    #[arg(long, env = "ESCALATOR_BODY_TIMEOUT", default_value = "15s", value_parser = parse_duration)]
    body_timeout: escalator_core::duration::Duration,
    /// Time from a request's headers to its answer (503 with Retry-After past it).
    #[arg(long, env = "ESCALATOR_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    request_timeout: escalator_core::duration::Duration,
    /// How long the rules (or a generic webhook's mapping) may run for one
    /// event; past it the event pages as if the unfinished rules had not
    /// matched, and the incident records which ran out of time.
    #[arg(long, env = "ESCALATOR_RULES_TIMEOUT", default_value = "2s", value_parser = parse_timeout)]
    rules_timeout: std::time::Duration,
    /// Time between retention passes, which remove the finished records the
    /// configuration's `retention:` no longer keeps (the first pass starts
    /// after this or a minute, whichever is sooner).
    #[arg(long, env = "ESCALATOR_RETENTION_INTERVAL", default_value = "1h", value_parser = parse_timeout)]
    retention_interval: std::time::Duration,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Rules whose review date has passed (or falls within --within); non-zero exit if any is overdue.
    Review {
        /// Also list rules due for review within this period, e.g. 30d.
        #[arg(long, value_parser = parse_duration)]
        within: Option<escalator_core::duration::Duration>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
        #[command(flatten)]
        db: DbArgs,
    },
    /// What the rules in force decide for an event, without creating anything.
    Test {
        #[arg(long)]
        service: String,
        /// JSON: the event as rules see it, or an Events API v2 body.
        #[arg(long)]
        event: PathBuf,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed once and only its hash is stored.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The user the token acts for (a user id from the configuration):
        /// then it may post status updates as that user when they hold the
        /// incident's commander or communications-lead role.
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        db: DbArgs,
    },
}

fn std_duration(d: escalator_core::duration::Duration) -> std::time::Duration {
    std::time::Duration::from_millis(d.as_millis().max(1) as u64)
}

fn parse_duration(s: &str) -> Result<escalator_core::duration::Duration, String> {
    escalator_core::duration::Duration::parse(s).map_err(|e| e.to_string())
}

/// A duration of at least one second, as a std one.
fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    match parse_duration(s)?.as_secs() {
        0 => Err("must be at least 1s".to_owned()),
        secs => Ok(std::time::Duration::from_secs(secs)),
    }
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse::<Role>().map_err(|e| e.to_string())
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain; name the first entry altered or removed.
    Verify {
        #[command(flatten)]
        db: DbArgs,
    },
}

/// The server allocates and frees small buffers on every thread for every
/// request; glibc's allocator spent a sixth of the server's CPU doing it under
/// load, mimalloc a fraction of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("ESCALATOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Reads and validates a configuration file, printing every error as
/// `FILE:LINE:COLUMN: PATH: REASON`.
fn load_config_file(file: &PathBuf) -> anyhow::Result<Result<Config, usize>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    match config::load(&text) {
        Ok(c) => Ok(Ok(c)),
        Err(errors) => {
            for e in &errors {
                eprintln!(
                    "{}:{}:{}: {}: {}",
                    file.display(),
                    e.line,
                    e.column,
                    display_path(&e.path),
                    e.message
                );
            }
            Ok(Err(errors.len()))
        }
    }
}

fn display_path(p: &str) -> &str {
    if p.is_empty() { "(document)" } else { p }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(a) => {
            let config = match &a.config {
                Some(file) => match load_config_file(file)? {
                    Ok(c) => Some((file.display().to_string(), c)),
                    Err(n) => bail!("{}: {n} error(s); not starting", file.display()),
                },
                None => None,
            };
            let tls = a.tls_cert.zip(a.tls_key);
            escalator_server::run(escalator_server::ServerOptions {
                database_url: a.db.database,
                listen: a.listen,
                public_url: a.public_url,
                config,
                tls,
                webhook_secret: a.webhook_secret,
                events_rate_limit: a.events_rate_limit,
                events_burst: a.events_burst,
                breaker: escalator_server::BreakerSettings {
                    threshold: a.breaker_threshold,
                    cool_down: a.breaker_cool_down.to_span(),
                },
                limits: escalator_server::serve::Limits {
                    header_timeout: std_duration(a.header_timeout),
                    body_timeout: std_duration(a.body_timeout),
                    request_timeout: std_duration(a.request_timeout),
                    max_connections: a.max_connections as usize,
                },
                rules_timeout: a.rules_timeout,
                retention: escalator_server::RetentionOptions {
                    interval: a.retention_interval,
                    ..Default::default()
                },
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { file, coverage } => match load_config_file(&file)? {
            Ok(c) => {
                if let Some(horizon) = coverage {
                    let gaps = schedules::coverage(&c, horizon)?;
                    if gaps > 0 {
                        eprintln!(
                            "{}: valid, but schedules have {gaps} gap(s) in the next {horizon}",
                            file.display()
                        );
                        return Ok(ExitCode::FAILURE);
                    }
                }
                println!(
                    "{}: valid ({} users, {} teams, {} escalation policies, {} services)",
                    file.display(),
                    c.users.len(),
                    c.teams.len(),
                    c.escalation_policies.len(),
                    c.services.len()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(n) => {
                eprintln!("{}: {n} error(s)", file.display());
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Apply { file, db } => {
            let config = match load_config_file(&file)? {
                Ok(c) => c,
                Err(n) => {
                    eprintln!("{}: {n} error(s); nothing applied", file.display());
                    return Ok(ExitCode::FAILURE);
                }
            };
            let store = open(&db).await?;
            let actor = format!("cli:{}", whoami());
            let applied = store
                .apply_config(&config, &actor, jiff::Timestamp::now())
                .await?;
            match applied.changed {
                true => println!(
                    "applied {} as revision {}",
                    file.display(),
                    applied.revision
                ),
                false => println!(
                    "{} is already in force (revision {}); nothing changed",
                    file.display(),
                    applied.revision
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Export { db } => {
            let store = open(&db).await?;
            match store.current_config().await? {
                Some((_, c)) => print!("{}", config::to_yaml(&c)),
                None => bail!("no configuration has been applied to this database"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            command:
                TokenCommand::Create {
                    name,
                    role,
                    user,
                    db,
                },
        } => {
            if name.trim().is_empty() || name.len() > 100 {
                bail!("--name must be 1 to 100 characters");
            }
            if let Some(u) = &user {
                escalator_core::ids::UserId::parse(u)
                    .map_err(|e| anyhow::anyhow!("--user: {e}"))?;
            }
            let store = open(&db).await?;
            if let (Some(u), Some((_, config))) = (&user, store.current_config().await?)
                && !config.users.iter().any(|x| x.id.as_str() == u)
            {
                bail!("--user: no user {u:?} in the configuration in force");
            }
            let (token, hash) = escalator_server::api::auth::new_token();
            store
                .create_token(
                    name.trim(),
                    role,
                    user.as_deref(),
                    &hash,
                    &format!("cli:{}", whoami()),
                    jiff::Timestamp::now(),
                )
                .await?;
            eprintln!("created {role} token {name:?}; it is shown only this once:");
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Verify { db },
        } => {
            let store = open(&db).await?;
            match store.verify_audit().await? {
                Ok(v) if v.checkpoint.entries > 0 => println!(
                    "audit chain intact: {} entries verified from the checkpoint at entry {} ({} earlier entries removed by retention)",
                    v.checked, v.checkpoint.seq, v.checkpoint.entries
                ),
                Ok(v) => println!("audit chain intact: {} entries verified", v.checked),
                Err(brk) => {
                    eprintln!("audit chain BROKEN: {brk}");
                    return Ok(ExitCode::FAILURE);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Incidents(args) => incidents::run(args).await,
        Command::Templates(args) => incidents::templates(args).await,
        Command::Rules {
            command: RulesCommand::Review { within, output, db },
        } => rules::review(&open(&db).await?, within, output).await,
        Command::Rules {
            command:
                RulesCommand::Test {
                    service,
                    event,
                    output,
                    db,
                },
        } => {
            rules::test(&open(&db).await?, &service, &event, output).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Detect { args } => detect::run(args),
        Command::Oncall {
            schedule,
            at,
            output,
            db,
        } => {
            schedules::oncall(
                &open(&db).await?,
                schedule.as_deref(),
                at.as_deref(),
                output,
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Shifts {
            schedule,
            from,
            to,
            output,
            db,
        } => {
            schedules::shifts(
                &open(&db).await?,
                &schedule,
                from.as_deref(),
                to.as_deref(),
                output,
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn open(db: &DbArgs) -> anyhow::Result<Store> {
    escalator_notify_crypto();
    Store::open(&db.database).await.with_context(|| {
        format!(
            "opening database {}",
            escalator_server::redact_url(&db.database)
        )
    })
}

fn escalator_notify_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
}
