//! One-time links of the developer portal: an admin's invitation, and a password reset
//! (issued by an admin, or asked for by mail). The token exists in clear only in the link;
//! the table keeps its digest. A link is used once, only before it expires, only while its
//! developer is enabled, and a newer link of the same developer replaces it.

use sqlx::PgPool;

use crate::secret::{digest, random_token};

/// What a link is for (both end with the developer choosing a password).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A developer made by an admin chooses its first password.
    Invite,
    /// A developer chooses a new password.
    Reset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Invite => "invite",
            Purpose::Reset => "reset",
        }
    }

    fn parse(s: &str) -> Self {
        if s == "invite" {
            Purpose::Invite
        } else {
            Purpose::Reset
        }
    }
}

/// A usable link: whose, and what for.
#[derive(Clone, Debug)]
pub struct Link {
    /// The developer.
    pub developer_id: i64,
    /// Its e-mail.
    pub email: String,
    /// What the link is for.
    pub purpose: Purpose,
}

/// A new link of `developer` for `purpose`, usable for `ttl_secs`, replacing its unused
/// ones; `by` is the admin who issued it (none when asked for by mail). Returns the token:
/// the only time it exists in clear.
pub async fn issue(
    pool: &PgPool,
    developer: i64,
    purpose: Purpose,
    by: Option<i64>,
    ttl_secs: u64,
) -> Result<String, sqlx::Error> {
    let token = random_token(32);
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM developer_links WHERE developer_id = $1 AND used_at IS NULL")
        .bind(developer)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO developer_links (token_hash, developer_id, purpose, created_by, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
    )
    .bind(digest(&token))
    .bind(developer)
    .bind(purpose.as_str())
    .bind(by)
    .bind(ttl_secs as f64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// The link of `token`, if it can still be used.
pub async fn find(pool: &PgPool, token: &str) -> Result<Option<Link>, sqlx::Error> {
    let row: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT l.developer_id, d.email, l.purpose
           FROM developer_links l JOIN developers d ON d.id = l.developer_id
          WHERE l.token_hash = $1 AND l.used_at IS NULL AND l.expires_at > now()
            AND NOT d.disabled",
    )
    .bind(digest(token))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(developer_id, email, purpose)| Link {
        developer_id,
        email,
        purpose: Purpose::parse(&purpose),
    }))
}

/// Uses the link of `token` to set its developer's password: at most once (the link is
/// marked used in the same transaction), and ends all the developer's sessions. `None`
/// when the link cannot be used (unknown, used, expired, replaced, developer disabled).
pub async fn redeem(
    pool: &PgPool,
    token: &str,
    password_hash: &str,
) -> Result<Option<Link>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let row: Option<(i64, String, String)> = sqlx::query_as(
        "UPDATE developer_links l SET used_at = now()
           FROM developers d
          WHERE l.token_hash = $1 AND l.used_at IS NULL AND l.expires_at > now()
            AND d.id = l.developer_id AND NOT d.disabled
      RETURNING l.developer_id, d.email, l.purpose",
    )
    .bind(digest(token))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((developer_id, email, purpose)) = row else {
        return Ok(None);
    };
    sqlx::query("UPDATE developers SET password_hash = $2 WHERE id = $1")
        .bind(developer_id)
        .bind(password_hash)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM portal_sessions WHERE developer_id = $1")
        .bind(developer_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(Link {
        developer_id,
        email,
        purpose: Purpose::parse(&purpose),
    }))
}

/// Forgets links that were used or expired; returns how many.
pub async fn purge(pool: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM developer_links WHERE used_at IS NOT NULL OR expires_at <= now()")
            .execute(pool)
            .await?
            .rows_affected(),
    )
}
