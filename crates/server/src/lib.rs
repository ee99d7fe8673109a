//! The Escalator server: HTTP API and Events API v2 ingestion in front, the
//! engine runner (group commit, escalation timers) and the notifier (outbox
//! drain) behind. Talks to the database only through `escalator_store`.

pub mod api;
mod background;
mod channels;
pub mod evaluator;
mod handoff;
mod html;
pub mod ingest;
pub mod links;
pub mod notifier;
mod phone;
pub mod ratelimit;
mod retention;
pub mod runner;
pub mod serve;
mod state;
mod tls;

pub use escalator_notify::BreakerSettings;
pub use retention::RetentionOptions;
pub use state::{AppState, SharedCatalog, load_catalog};

use anyhow::Context;
use escalator_core::config::Config;
use escalator_notify::WebhookSender;
use escalator_store::{Dialect, Store};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::Notify;

/// How to run a server.
pub struct ServerOptions {
    pub database_url: String,
    pub listen: SocketAddr,
    /// Base URL people and receivers reach us at; defaults to the listen address.
    pub public_url: Option<String>,
    /// A validated configuration to apply on start, and where it came from.
    pub config: Option<(String, Config)>,
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Key for `X-Escalator-Signature`; generated and kept in the database when absent.
    pub webhook_secret: Option<String>,
    /// Events per second accepted per integration key; 0: no limit.
    pub events_rate_limit: u32,
    /// Most events one integration key may send at once (the bucket's size);
    /// `None`: twice `events_rate_limit`.
    pub events_burst: Option<u32>,
    /// When a destination's circuit breaker opens, and for how long.
    pub breaker: escalator_notify::BreakerSettings,
    /// Time limits and the connection cap.
    pub limits: serve::Limits,
    /// How long the rules (or a webhook mapping) may take for one event.
    pub rules_timeout: Duration,
    /// How often, and in what steps, old finished records are removed.
    pub retention: RetentionOptions,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS random source is available");
    hex::encode(buf)
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(opts: ServerOptions) -> anyhow::Result<()> {
    escalator_notify::install_crypto();
    let store = Store::open(&opts.database_url)
        .await
        .with_context(|| format!("opening database {}", redact_url(&opts.database_url)))?;
    if let Some((source, config)) = &opts.config {
        let applied = store
            .apply_config(
                config,
                &format!("config-file:{source}"),
                jiff::Timestamp::now(),
            )
            .await
            .context("applying configuration")?;
        tracing::info!(
            revision = applied.revision,
            changed = applied.changed,
            "configuration applied from {source}"
        );
    }
    let catalog = state::load_catalog(&store).await?;
    if catalog.revision() == 0 {
        tracing::warn!(
            "no configuration applied yet: events will be refused until one is (escalator apply -f FILE)"
        );
    }
    if store.dialect() == Dialect::Sqlite {
        // SQLite has one server per file: any send still marked in flight belonged
        // to a process that died. Send those again now, with the same idempotency key.
        let released = store.release_leases(jiff::Timestamp::now()).await?;
        if released > 0 {
            tracing::warn!(
                released,
                "re-sending notifications interrupted by a restart"
            );
        }
    }
    let link_key = store.setting_or_init("link_key", || random_hex(32)).await?;
    let webhook_secret = match &opts.webhook_secret {
        Some(s) => s.clone(),
        None => {
            tracing::warn!(
                "no --webhook-secret given: webhooks are signed with a generated secret receivers cannot know"
            );
            store
                .setting_or_init("webhook_secret", || random_hex(32))
                .await?
        }
    };
    let scheme = if opts.tls.is_some() { "https" } else { "http" };
    // Certificates are checked before anything listens.
    let tls = match &opts.tls {
        Some((cert, key)) => Some(tls::acceptor(cert, key)?),
        None => None,
    };
    let open_files = serve::raise_open_files_limit();
    let limits = serve::Limits {
        max_connections: serve::connection_cap(opts.limits.max_connections, open_files),
        ..opts.limits
    };
    if limits.max_connections < opts.limits.max_connections {
        tracing::warn!(
            open_files,
            max_connections = limits.max_connections,
            "the open-files limit lowers the connection cap"
        );
    }
    // Bound before the links are made: with port 0 the system picks the port.
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("binding {}", opts.listen))?;
    let local = listener.local_addr()?;
    let public_url = opts
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{local}"))
        .trim_end_matches('/')
        .to_owned();

    let catalog: SharedCatalog = Arc::new(RwLock::new(Arc::new(catalog)));
    let notifier_wake = Arc::new(Notify::new());
    let runner_wake = Arc::new(Notify::new());
    let (runner_tx, runner_rx) = tokio::sync::mpsc::channel(runner::QUEUE_DEPTH);
    let state = AppState {
        store: store.clone(),
        catalog: catalog.clone(),
        runner: runner::RunnerHandle::new(runner_tx),
        links: links::LinkSigner::new(link_key.into_bytes()),
        rate_limiter: Arc::new(ratelimit::RateLimiter::new(
            opts.events_rate_limit,
            opts.events_burst
                .unwrap_or(opts.events_rate_limit.saturating_mul(2)),
        )),
        public_url: public_url.clone(),
        breakers: Arc::new(escalator_notify::Breakers::new(opts.breaker)),
        evaluator: evaluator::Evaluator::per_core(opts.rules_timeout),
        dry_runs: evaluator::Evaluator::new(1, opts.rules_timeout),
    };
    let runner = runner::Runner::new(
        store.clone(),
        catalog.clone(),
        runner_rx,
        runner_wake.clone(),
        notifier_wake.clone(),
    );
    let mut background = background::Background::default();
    background.spawn("runner", runner.run());
    let webhook = WebhookSender::new(webhook_secret.into_bytes(), channels::SEND_TIMEOUT)?;
    let channels = Arc::new(channels::ChannelCache::new(
        webhook,
        public_url.clone(),
        state.breakers.clone(),
    ));
    let notifier = notifier::Notifier::new(&state, channels.clone(), notifier_wake.clone());
    background.spawn("notifier", notifier.run());
    background.spawn(
        "hand-off notifier",
        handoff::Handoffs::new(store.clone(), catalog.clone(), channels, public_url.clone()).run(),
    );
    background.spawn(
        "retention pass",
        retention::RetentionPass::new(store.clone(), catalog.clone(), opts.retention).run(),
    );

    // Several nodes on one PostgreSQL: hear about work the others commit.
    let (listen_store, wake_runner, wake_notifier) =
        (store.clone(), runner_wake.clone(), notifier_wake.clone());
    let listening = tokio::spawn(async move {
        loop {
            let woken = || {
                wake_runner.notify_one();
                wake_notifier.notify_one();
            };
            match listen_store.listen_for_wakeups(woken).await {
                Ok(()) => return, // SQLite: nothing to listen to
                Err(e) => {
                    tracing::warn!("listening for other nodes' work: {e}; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });

    let app = serve::bounded(api::router(state), limits);
    // Tests and scripts wait for this line, and read the address from it.
    tracing::info!(
        max_connections = limits.max_connections,
        "listening on {scheme}://{local} (public URL {public_url})"
    );
    println!("escalator listening on {scheme}://{local}");
    let outcome = tokio::select! {
        served = serve::serve(listener, app, tls, limits, shutdown_signal()) => served,
        stopped = background.first_to_stop() => {
            tracing::error!("{stopped}: exiting so that the node is restarted");
            Err(stopped)
        }
    };
    // The notifier and hand-offs stop where they are (a send cut off goes out
    // again with its idempotency key when its lease ends); the runner ends
    // once nothing can hand it work, after committing the batch it holds.
    listening.abort();
    background.stop("notifier");
    background.stop("hand-off notifier");
    background.stop("retention pass");
    if !background.drain(serve::SHUTDOWN_GRACE).await {
        tracing::warn!(
            "the runner did not finish within {:?}",
            serve::SHUTDOWN_GRACE
        );
    }
    store.close().await;
    outcome
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
