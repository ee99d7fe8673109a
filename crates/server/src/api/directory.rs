//! Read-only views of the configuration in force: services, users, teams and
//! escalation policies. Contact addresses are shown to admins only: webhook
//! URLs often carry credentials.

use super::auth::Caller;
use super::error::ApiError;
use crate::AppState;
use axum::Json;
use axum::extract::{Path, State};
use escalator_core::auth::Role;
use escalator_core::config::{Config, User};
use serde_json::{Value, json};

fn user_view(u: &User, show_addresses: bool) -> Value {
    let methods: Vec<Value> = u
        .contact_methods
        .iter()
        .map(|cm| {
            let mut v = serde_json::to_value(cm).unwrap_or_default();
            if let (false, Some(obj)) = (show_addresses, v.as_object_mut()) {
                obj.retain(|k, _| k == "id" || k == "type");
            }
            v
        })
        .collect();
    json!({
        "id": u.id,
        "name": u.name,
        "time_zone": u.time_zone,
        "contact_methods": methods,
        "notification_rules": u.effective_rules(),
    })
}

fn find<'a, T>(
    items: &'a [T],
    id: &str,
    key: impl Fn(&T) -> &str,
    what: &str,
) -> Result<&'a T, ApiError> {
    items
        .iter()
        .find(|t| key(t) == id)
        .ok_or_else(|| ApiError::not_found(format!("{what} {id:?} not found")))
}

fn with_config<T>(app: &AppState, f: impl FnOnce(&Config) -> T) -> T {
    f(app.catalog().config())
}

/// Services and the escalation policy each one uses.
#[utoipa::path(get, path = "/services", tag = "configuration", responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn services(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    Ok(Json(with_config(&app, |c| {
        json!({"services": c.services.iter().map(|s| json!({
            "id": s.id, "name": s.name, "escalation_policy": s.escalation_policy,
            "integrations": s.integrations.iter().map(|i| json!({"type": i.kind.type_name()})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>()})
    })))
}

/// One service.
#[utoipa::path(get, path = "/services/{id}", tag = "configuration", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn service(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let show_keys = caller.token.role.allows(Role::Admin);
    with_config(&app, |c| {
        let s = find(&c.services, &id, |s| s.id.as_str(), "service")?;
        Ok(Json(json!({
            "id": s.id, "name": s.name, "escalation_policy": s.escalation_policy,
            "integrations": s.integrations.iter().map(|i| match show_keys {
                true => json!({"type": i.kind.type_name(), "key": i.key}),
                false => json!({"type": i.kind.type_name()}),
            }).collect::<Vec<_>>(),
        })))
    })
}

/// Users and how they are reached.
#[utoipa::path(get, path = "/users", tag = "configuration", responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn users(State(app): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let admin = caller.token.role.allows(Role::Admin);
    Ok(Json(with_config(
        &app,
        |c| json!({"users": c.users.iter().map(|u| user_view(u, admin)).collect::<Vec<_>>()}),
    )))
}

/// One user.
#[utoipa::path(get, path = "/users/{id}", tag = "configuration", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn user(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let admin = caller.token.role.allows(Role::Admin);
    with_config(&app, |c| {
        Ok(Json(user_view(
            find(&c.users, &id, |u| u.id.as_str(), "user")?,
            admin,
        )))
    })
}

/// Teams and their members.
#[utoipa::path(get, path = "/teams", tag = "configuration", responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn teams(State(app): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    Ok(Json(with_config(&app, |c| json!({"teams": c.teams}))))
}

/// One team.
#[utoipa::path(get, path = "/teams/{id}", tag = "configuration", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn team(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    with_config(&app, |c| {
        Ok(Json(json!(find(&c.teams, &id, |t| t.id.as_str(), "team")?)))
    })
}

/// Escalation policies with their levels.
#[utoipa::path(get, path = "/escalation_policies", tag = "configuration", responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn policies(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    Ok(Json(with_config(
        &app,
        |c| json!({"escalation_policies": c.escalation_policies}),
    )))
}

/// One escalation policy.
#[utoipa::path(get, path = "/escalation_policies/{id}", tag = "configuration", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn policy(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    with_config(&app, |c| {
        Ok(Json(json!(find(
            &c.escalation_policies,
            &id,
            |p| p.id.as_str(),
            "escalation policy"
        )?)))
    })
}
