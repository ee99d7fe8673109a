//! The HTTP surface: routes, authentication, errors and the OpenAPI document
//! generated from the handlers.

pub mod ack;
pub mod alertmanager;
pub mod auth;
pub mod body;
pub mod channels;
pub mod comms;
pub mod config;
pub mod directory;
pub mod error;
pub mod events_v2;
pub mod generic;
pub mod inbound;
pub mod incidents;
pub mod metrics;
pub mod people;
pub mod rules;
pub mod schedules;
pub mod templates;

use crate::AppState;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "Escalator", description = "Escalation management: incidents, escalation policies, on-call paging."),
    modifiers(&BearerAuth),
    tags(
        (name = "events", description = "Ingestion in monitoring tools' formats"),
        (name = "incidents", description = "Incidents and the actions on them"),
        (name = "configuration", description = "Users, teams, policies, services"),
        (name = "schedules", description = "On-call schedules, shifts, overrides, calendars"),
        (name = "rules", description = "When a signal becomes an escalation"),
        (name = "inbound", description = "Acknowledgements from Slack buttons, SMS replies and voice calls"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let v1 = OpenApiRouter::new()
        .routes(routes!(incidents::list))
        .routes(routes!(incidents::get))
        .routes(routes!(incidents::timeline))
        .routes(routes!(incidents::notifications))
        .routes(routes!(incidents::acknowledge))
        .routes(routes!(incidents::resolve))
        .routes(routes!(incidents::escalate))
        .routes(routes!(comms::set_roles))
        .routes(routes!(comms::publish_update))
        .routes(routes!(ack::ack_get, ack::ack_post))
        .routes(routes!(directory::services))
        .routes(routes!(directory::service))
        .routes(routes!(directory::users))
        .routes(routes!(directory::user))
        .routes(routes!(directory::teams))
        .routes(routes!(directory::team))
        .routes(routes!(directory::policies))
        .routes(routes!(directory::policy))
        .routes(routes!(config::export, config::apply))
        .routes(routes!(schedules::list))
        .routes(routes!(schedules::oncall))
        .routes(routes!(schedules::oncall_all))
        .routes(routes!(schedules::shifts))
        .routes(routes!(schedules::gaps))
        .routes(routes!(schedules::calendar))
        .routes(routes!(schedules::overrides, schedules::add_override))
        .routes(routes!(schedules::remove_override))
        .routes(routes!(people::availability, people::set_availability))
        .routes(routes!(people::create_feed, people::revoke_feed))
        .routes(routes!(people::feed))
        .routes(routes!(alertmanager::receive))
        .routes(routes!(generic::receive))
        .routes(routes!(rules::list))
        .routes(routes!(rules::evaluate))
        .routes(routes!(templates::preview))
        .routes(routes!(channels::breakers))
        .routes(routes!(metrics::receive))
        .routes(routes!(inbound::slack::actions))
        .routes(routes!(inbound::slack::commands))
        .routes(routes!(inbound::twilio::sms))
        .routes(routes!(inbound::twilio::voice))
        .routes(routes!(inbound::twilio::status));
    let (v1_router, v1_api) = v1.split_for_parts();
    let (events_router, events_api) = OpenApiRouter::new()
        .routes(routes!(events_v2::enqueue))
        .split_for_parts();
    let mut doc = ApiDoc::openapi();
    doc.merge(events_api);
    let mut v1_doc = v1_api;
    // The v1 routes are nested under /api/v1: say so in the document.
    v1_doc.paths.paths = std::mem::take(&mut v1_doc.paths.paths)
        .into_iter()
        .map(|(p, item)| (format!("/api/v1{p}"), item))
        .collect();
    doc.merge(v1_doc);
    let doc = std::sync::Arc::new(doc);

    Router::new()
        .nest("/api/v1", v1_router)
        .merge(events_router)
        .route(
            "/api/v1/openapi.json",
            get(move || async move { Json(doc.as_ref().clone()) }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .fallback(|| async { error::ApiError::not_found("no such endpoint") })
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Ready when the database answers.
async fn readyz(State(app): State<AppState>) -> impl IntoResponse {
    match app.store.config_revision().await {
        Ok(revision) => (
            StatusCode::OK,
            Json(serde_json::json!({"status": "ready", "config_revision": revision})),
        ),
        Err(e) => {
            tracing::warn!("readiness check failed: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "unavailable"})),
            )
        }
    }
}
