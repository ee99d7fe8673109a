//! API tokens. Only a SHA-256 of each token is stored: tokens are 256 random
//! bits, so a slow password hash would add latency to every request and no
//! protection.

use crate::{Result, Store, StoreError, ms};
use escalator_core::auth::Role;
use jiff::Timestamp;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// The user the token acts for, if it was created with one.
    pub user: Option<String>,
}

impl Store {
    /// Stores a new token's hash and records who it is for.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_token(
        &self,
        name: &str,
        role: Role,
        user: Option<&str>,
        token_hash: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        let row = tx
            .tx
            .fetch_optional(
                "INSERT INTO api_tokens (name, role, token_hash, created_at, user_id) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[
                    name.into(),
                    role.as_str().into(),
                    token_hash.into(),
                    ms(now).into(),
                    user.map(str::to_owned).into(),
                ],
            )
            .await?
            .ok_or_else(|| StoreError::Corrupt("insert returned no id".into()))?;
        let id = row.int(0)?;
        let detail = serde_json::json!({"token_id": id, "name": name, "role": role, "user": user});
        tx.audit_event(actor, "token_created", &detail, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The live token with this hash.
    pub async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenInfo>> {
        let row = self
            .pool
            .fetch_optional(
                "SELECT id, name, role, user_id FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
                &[token_hash.into()],
            )
            .await?;
        row.map(|r| {
            let role = r.text(2)?;
            Ok(TokenInfo {
                id: r.int(0)?,
                name: r.text(1)?,
                role: role
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("token role: {e}")))?,
                user: r.opt_text(3)?,
            })
        })
        .transpose()
    }
}
