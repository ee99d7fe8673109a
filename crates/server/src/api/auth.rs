//! Bearer-token authentication. 401: no valid token; 403: valid token, role too low.

use super::error::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use base64::Engine;
use escalator_core::auth::{Principal, Role};
use escalator_core::ids::UserId;
use escalator_store::TokenInfo;
use sha2::{Digest, Sha256};

/// Prefix that makes leaked tokens easy to find with secret scanners.
pub const TOKEN_PREFIX: &str = "esc_";

/// A new random token (shown once) and the hash to store.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    let token = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = hash_token(&token);
    (token, hash)
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: TokenInfo,
    /// Where the request came from, for the record: `cli` for the
    /// `escalator` command line (its User-Agent), `api` otherwise.
    pub via: &'static str,
}

/// The User-Agent the `escalator` command line sends.
pub const CLI_USER_AGENT_PREFIX: &str = "escalator-cli/";

impl Caller {
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.token.role.allows(role) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "this needs the {role} role; token {:?} has {}",
                    self.token.name, self.token.role
                ),
            ))
        }
    }
    /// The token as a principal: its role and the user it acts for.
    pub fn principal(&self) -> Principal {
        Principal {
            role: self.token.role,
            // A binding that is no user id binds to nobody: less power, not more.
            user: self
                .token
                .user
                .as_deref()
                .and_then(|u| UserId::parse(u).ok()),
        }
    }

    /// 403 unless the caller may change what belongs to `user` (their own,
    /// or anyone's with the manager role); `field` is where the request names `user`.
    pub fn require_for(&self, user: &UserId, field: &str) -> Result<(), ApiError> {
        self.principal().may_act_for(user).map_err(|refusal| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("token {:?}: {refusal}", self.token.name),
            )
            .field(field)
        })
    }

    /// How the caller appears in the audit trail: the token and the path
    /// the action came by, e.g. `token:ops-bot (api)`.
    pub fn actor(&self) -> String {
        format!("token:{} ({})", self.token.name, self.via)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing Authorization: Bearer <token> header"))?;
        let value = header
            .to_str()
            .map_err(|_| unauthorized("malformed Authorization header"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| unauthorized("Authorization header must be: Bearer <token>"))?
            .trim();
        let info = state
            .store
            .token_by_hash(&hash_token(token))
            .await?
            .ok_or_else(|| unauthorized("unknown or revoked token"))?;
        let via = match parts.headers.get(axum::http::header::USER_AGENT) {
            Some(ua) if ua.as_bytes().starts_with(CLI_USER_AGENT_PREFIX.as_bytes()) => "cli",
            _ => "api",
        };
        Ok(Caller { token: info, via })
    }
}
