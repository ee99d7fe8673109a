//! `/api/v1/ack/{token}`: the signed link in every page. `GET` (and `HEAD`)
//! answer a confirmation page and change nothing — mail scanners and chat
//! unfurlers fetch every link they see; only `POST` acknowledges, as the user
//! the link was sent to, with no bearer token.

mod page;

use super::error::ApiError;
use super::incidents::load;
use crate::AppState;
use crate::html;
use crate::links::{AckClaim, LinkError};
use crate::runner::{Done, RunError, Work};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use escalator_core::engine::{EngineError, Incident, Input, Status};
use escalator_core::ids::IncidentId;
use page::AckPage;

/// The confirmation page of an acknowledgement link; `GET` and `HEAD` change nothing.
///
/// Errors are JSON, or an HTML page when the client accepts `text/html`.
#[utoipa::path(get, path = "/ack/{token}", tag = "incidents", params(("token" = String, Path)),
    responses((status = 200, content_type = "text/html", body = String,
                description = "The incident and, while it is triggered, a button that `POST`s to this URL"),
              (status = 403, description = "Invalid link",
                content((super::error::ErrorBody = "application/json"), (String = "text/html"))),
              (status = 404, description = "No such incident",
                content((super::error::ErrorBody = "application/json"), (String = "text/html"))),
              (status = 410, description = "Link expired",
                content((super::error::ErrorBody = "application/json"), (String = "text/html")))))]
pub async fn ack_get(
    State(app): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let shown = async {
        let claim = verify(&app, &token)?;
        let row = load(&app, claim.incident).await?;
        Ok::<_, ApiError>(page(&app, &row.incident, &claim.user, false))
    };
    match shown.await {
        Ok(document) => html::respond(StatusCode::OK, document),
        Err(e) => refuse(e, html::accepts_html(&headers)),
    }
}

/// Acknowledge through the signed link of a notification (the confirmation page's button).
///
/// Acknowledging an acknowledged incident changes nothing. Answers an HTML
/// page when the client accepts `text/html` (a browser submitting the form),
/// plain text otherwise; errors are JSON, or HTML for a browser.
#[utoipa::path(post, path = "/ack/{token}", tag = "incidents", params(("token" = String, Path)),
    responses((status = 200, description = "Acknowledged, now or before",
                content((String = "text/plain"), (String = "text/html"))),
              (status = 403, description = "Invalid link",
                content((super::error::ErrorBody = "application/json"), (String = "text/html"))),
              (status = 404, description = "No such incident",
                content((super::error::ErrorBody = "application/json"), (String = "text/html"))),
              (status = 409, description = "Already resolved",
                content((super::error::ErrorBody = "application/json"), (String = "text/html"))),
              (status = 410, description = "Link expired",
                content((super::error::ErrorBody = "application/json"), (String = "text/html")))))]
pub async fn ack_post(
    State(app): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let wants_html = html::accepts_html(&headers);
    let (claim, incident, acted) = match acknowledge(&app, &token).await {
        Ok(done) => done,
        Err(e) => return refuse(e, wants_html),
    };
    if wants_html {
        return html::respond(StatusCode::OK, page(&app, &incident, &claim.user, acted));
    }
    let by = incident.acknowledged_by.as_deref().unwrap_or("someone");
    let text = if acted {
        format!(
            "Incident #{} \"{}\" is {} (by {by}).\n",
            incident.id, incident.title, incident.status
        )
    } else {
        format!(
            "Incident #{} \"{}\" was already {} (by {by}).\n",
            incident.id, incident.title, incident.status
        )
    };
    text.into_response()
}

fn verify(app: &AppState, token: &str) -> Result<AckClaim, ApiError> {
    app.links
        .verify(token, jiff::Timestamp::now())
        .map_err(|e| match e {
            LinkError::Expired(_) => ApiError::new(StatusCode::GONE, "link_expired", e.to_string()),
            _ => ApiError::new(StatusCode::FORBIDDEN, "invalid_link", e.to_string()),
        })
}

/// Acknowledges through the engine: the incident after, and whether this
/// request is the one that acknowledged it (the engine ignores a second
/// acknowledgement, so nothing is recorded twice).
async fn acknowledge(app: &AppState, token: &str) -> Result<(AckClaim, Incident, bool), ApiError> {
    let claim = verify(app, token)?;
    let before = load(app, claim.incident).await?.incident.status;
    let actor = format!("user:{} (ack link)", claim.user);
    let work = Work::Act {
        incident: IncidentId(claim.incident),
        input: Input::Acknowledge {
            actor: actor.clone(),
        },
    };
    match app.runner.submit(work).await {
        Ok(Done::Act(i)) => {
            // Two presses at once both read `triggered`; only one is recorded,
            // and both may say they acknowledged: as the same user, that is true.
            let acted =
                before == Status::Triggered && i.acknowledged_by.as_deref() == Some(actor.as_str());
            Ok((claim, *i, acted))
        }
        Ok(_) => Err(ApiError::internal("unexpected runner answer")),
        Err(RunError::Engine(EngineError::Resolved)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "incident_resolved",
            format!("incident #{} is already resolved", claim.incident),
        )),
        Err(e) => Err(e.into()),
    }
}

fn page(app: &AppState, incident: &Incident, user: &str, acted: bool) -> String {
    let catalog = app.catalog();
    AckPage {
        incident,
        service_name: catalog
            .service(&incident.service)
            .and_then(|s| s.name.as_deref()),
        levels: catalog.policy(&incident.policy).map(|p| p.levels.len()),
        user,
        acted,
    }
    .render()
}

/// The error as JSON, or as a page for a browser.
fn refuse(e: ApiError, wants_html: bool) -> Response {
    if !wants_html {
        return e.into_response();
    }
    let heading = match e.status {
        StatusCode::FORBIDDEN => "This link is not valid",
        StatusCode::GONE => "This link has expired",
        StatusCode::NOT_FOUND => "No such incident",
        StatusCode::CONFLICT => "The incident is already resolved",
        _ => "The incident could not be acknowledged",
    };
    html::error_page(e.status, heading, &e.message)
}
