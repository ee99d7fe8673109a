//! `/api/v1/incidents`: list, read, timeline, notifications, and the actions
//! acknowledge, resolve and escalate (which go through the engine runner).

use super::auth::Caller;
use super::error::{ApiError, parse_json};
use crate::AppState;
use crate::runner::{Done, Work};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use escalator_core::auth::Role;
use escalator_core::engine::{Incident, Input, Status};
use escalator_core::ids::{IncidentId, ServiceId};
use escalator_core::text;
use escalator_store::{IncidentFilter, IncidentRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// An incident as the API shows it. Levels and rounds are 1-based.
#[derive(Serialize, ToSchema)]
pub struct IncidentView {
    pub id: i64,
    pub title: String,
    pub status: String,
    pub service: String,
    pub escalation_policy: String,
    pub dedup_key: String,
    /// The alert group it gathers (the `grouping.by` label values, as a JSON
    /// array), for a service that groups alerts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_key: Option<String>,
    /// Set by rules: P1 (most urgent) to P5.
    pub priority: Option<String>,
    pub level: u32,
    pub round: u32,
    pub level_started_at: String,
    pub next_escalation_at: Option<String>,
    pub alert_count: u32,
    pub created_at: String,
    pub updated_at: String,
    pub acknowledged_at: Option<String>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<String>,
    pub resolved_by: Option<String>,
    /// The triggering event's details (source, severity, custom_details…).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub url: String,
    /// Incident roles: commander, comms_lead, scribe (user ids or null).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub roles: Option<escalator_core::comms::Roles>,
}

impl IncidentView {
    pub fn new(i: &Incident, details: serde_json::Value, public_url: &str) -> Self {
        Self {
            id: i.id.0,
            title: i.title.clone(),
            status: i.status.as_str().to_owned(),
            service: i.service.to_string(),
            escalation_policy: i.policy.to_string(),
            dedup_key: i.dedup_key.to_string(),
            group_key: i.group_key.clone(),
            priority: i.priority.map(|p| p.as_str().to_owned()),
            level: i.level,
            round: i.round,
            level_started_at: i.level_started_at.to_string(),
            next_escalation_at: i.next_escalation_at.map(|t| t.to_string()),
            alert_count: i.alert_count,
            created_at: i.created_at.to_string(),
            updated_at: i.updated_at.to_string(),
            acknowledged_at: i.acknowledged_at.map(|t| t.to_string()),
            acknowledged_by: i.acknowledged_by.clone(),
            resolved_at: i.resolved_at.map(|t| t.to_string()),
            resolved_by: i.resolved_by.clone(),
            details,
            url: crate::links::incident_url(public_url, i.id),
            roles: None,
        }
    }
    fn from_row(r: IncidentRow, public_url: &str) -> Self {
        Self::new(&r.incident, r.details, public_url)
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Comma-separated statuses: triggered, acknowledged, resolved. Default: all.
    pub status: Option<String>,
    /// Only this service's incidents.
    pub service: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct IncidentList {
    pub incidents: Vec<IncidentView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<i64>,
}

/// List incidents, newest first.
#[utoipa::path(get, path = "/incidents", tag = "incidents", params(ListQuery),
    responses((status = 200, body = IncidentList), (status = 400, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<IncidentList>, ApiError> {
    caller.require(Role::Viewer)?;
    let mut statuses = Vec::new();
    for s in q
        .status
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        statuses.push(Status::parse(s).ok_or_else(|| {
            ApiError::bad_field(
                "status",
                format!("unknown status {s:?}; expected triggered, acknowledged or resolved"),
            )
        })?);
    }
    let service = q
        .service
        .as_deref()
        .map(ServiceId::parse)
        .transpose()
        .map_err(|e| ApiError::bad_field("service", format!("service {e}")))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_field(
            "limit",
            "limit must be between 1 and 500",
        ));
    }
    let page = app
        .store
        .incidents(&IncidentFilter {
            statuses,
            service,
            before_id: q.cursor,
            limit,
        })
        .await?;
    let ids: Vec<IncidentId> = page.items.iter().map(|r| r.incident.id).collect();
    let mut roles = app.store.roles_of(&ids).await?;
    Ok(Json(IncidentList {
        incidents: page
            .items
            .into_iter()
            .map(|r| {
                let held = roles.remove(&r.incident.id.0).unwrap_or_default();
                let mut view = IncidentView::from_row(r, &app.public_url);
                view.roles = Some(held);
                view
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// The incident, or 404.
pub(super) async fn load(app: &AppState, id: i64) -> Result<IncidentRow, ApiError> {
    app.store
        .incident(IncidentId(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("incident {id} not found")))
}

/// One incident.
#[utoipa::path(get, path = "/incidents/{id}", tag = "incidents", params(("id" = i64, Path)),
    responses((status = 200, body = IncidentView), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<IncidentView>, ApiError> {
    caller.require(Role::Viewer)?;
    let mut view = IncidentView::from_row(load(&app, id).await?, &app.public_url);
    view.roles = Some(app.store.comms(IncidentId(id)).await?.roles);
    Ok(Json(view))
}

#[derive(Serialize, ToSchema)]
pub struct TimelineView {
    pub entries: Vec<TimelineEntryView>,
}

#[derive(Serialize, ToSchema)]
pub struct TimelineEntryView {
    pub at: String,
    pub kind: String,
    pub actor: String,
    pub message: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// Everything that happened to an incident, oldest first.
#[utoipa::path(get, path = "/incidents/{id}/timeline", tag = "incidents", params(("id" = i64, Path)),
    responses((status = 200, body = TimelineView), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn timeline(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<TimelineView>, ApiError> {
    caller.require(Role::Viewer)?;
    load(&app, id).await?;
    let entries = app.store.timeline(IncidentId(id)).await?;
    Ok(Json(TimelineView {
        entries: entries
            .into_iter()
            .map(|e| TimelineEntryView {
                at: e.at.to_string(),
                kind: e.kind,
                actor: e.actor,
                message: e.message,
                detail: e.detail,
            })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct NotificationList {
    #[schema(value_type = Vec<Object>)]
    pub notifications: Vec<escalator_store::Attempt>,
}

/// Every notification planned for an incident, with its status.
#[utoipa::path(get, path = "/incidents/{id}/notifications", tag = "incidents", params(("id" = i64, Path)),
    responses((status = 200, body = NotificationList), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn notifications(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<NotificationList>, ApiError> {
    caller.require(Role::Viewer)?;
    load(&app, id).await?;
    Ok(Json(NotificationList {
        notifications: app.store.notifications(IncidentId(id)).await?,
    }))
}

pub(super) async fn act(
    app: &AppState,
    id: i64,
    input: Input,
) -> Result<Json<IncidentView>, ApiError> {
    match app
        .runner
        .submit(Work::Act {
            incident: IncidentId(id),
            input,
        })
        .await?
    {
        Done::Act(incident) => {
            let details = app
                .store
                .incident(incident.id)
                .await?
                .map(|r| r.details)
                .unwrap_or_default();
            Ok(Json(IncidentView::new(&incident, details, &app.public_url)))
        }
        _ => Err(ApiError::internal(
            "runner answered an action with another kind of result",
        )),
    }
}

/// Acknowledge: stop escalating and cancel pending notifications.
#[utoipa::path(post, path = "/incidents/{id}/acknowledge", tag = "incidents", params(("id" = i64, Path)),
    responses((status = 200, body = IncidentView), (status = 404, body = super::error::ErrorBody),
              (status = 409, description = "Already resolved", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn acknowledge(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<IncidentView>, ApiError> {
    caller.require(Role::Responder)?;
    act(
        &app,
        id,
        Input::Acknowledge {
            actor: caller.actor(),
        },
    )
    .await
}

/// Resolve: end the incident.
#[utoipa::path(post, path = "/incidents/{id}/resolve", tag = "incidents", params(("id" = i64, Path)),
    responses((status = 200, body = IncidentView), (status = 404, body = super::error::ErrorBody),
              (status = 409, description = "Already resolved", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn resolve(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<IncidentView>, ApiError> {
    caller.require(Role::Responder)?;
    act(
        &app,
        id,
        Input::Resolve {
            actor: caller.actor(),
        },
    )
    .await
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct EscalateRequest {
    /// Level to jump to (1-based). Absent: one level up. Skipping levels needs
    /// the manager role and a reason.
    pub to_level: Option<u32>,
    /// Why; required when skipping levels, recorded always.
    pub reason: Option<String>,
}

/// Escalate manually: one level up, or (managers, with a reason) further.
#[utoipa::path(post, path = "/incidents/{id}/escalate", tag = "incidents", params(("id" = i64, Path)),
    request_body(content = EscalateRequest, description = "Optional; empty means one level up"),
    responses((status = 200, body = IncidentView), (status = 400, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn escalate(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Json<IncidentView>, ApiError> {
    caller.require(Role::Responder)?;
    let req: EscalateRequest = parse_json(&body)?;
    if req.reason.as_ref().is_some_and(|r| r.len() > 4096) {
        return Err(ApiError::bad_field(
            "reason",
            "reason must be at most 4096 bytes",
        ));
    }
    let input = Input::Escalate {
        actor: caller.actor(),
        to_level: req.to_level,
        reason: req.reason.map(|r| text::clean(&r).into_owned()),
        may_skip: caller.token.role.allows(Role::Manager),
    };
    act(&app, id, input).await
}
