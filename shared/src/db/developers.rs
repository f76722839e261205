//! Developers and their DeveloperKeys (stored as digests).

use sqlx::PgPool;

use crate::secret::{digest, random_token};

/// Creates a developer (or finds the one with `email`) and gives it a new key.
/// Returns the key: the only time it exists in clear.
pub async fn create_with_new_key(pool: &PgPool, email: &str) -> Result<String, sqlx::Error> {
    let key = random_token(32);
    ensure_with_key(pool, email, &key).await?;
    Ok(key)
}

/// Makes sure a developer `email` exists and `key` is one of its DeveloperKeys.
pub async fn ensure_with_key(pool: &PgPool, email: &str, key: &str) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO developers (email) VALUES ($1)
         ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email RETURNING id",
    )
    .bind(email)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO developer_keys (developer_id, key_hash) VALUES ($1, $2)
         ON CONFLICT (key_hash) DO NOTHING",
    )
    .bind(id)
    .bind(digest(key))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// The developer owning a DeveloperKey, unless an admin disabled it.
pub async fn find_by_key(pool: &PgPool, key: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT k.developer_id FROM developer_keys k JOIN developers d ON d.id = k.developer_id
         WHERE k.key_hash = $1 AND NOT d.disabled",
    )
    .bind(digest(key))
    .fetch_optional(pool)
    .await
}

/// What signing in needs to know of a developer.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Login {
    /// The developer.
    pub id: i64,
    /// argon2id hash of the password, if one was set.
    pub password_hash: Option<String>,
    /// Disabled by an admin: cannot sign in.
    pub disabled: bool,
}

/// A developer's e-mail as stored: trimmed and lower case (one account per address).
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The sign-in record of `email`.
pub async fn login(pool: &PgPool, email: &str) -> Result<Option<Login>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, password_hash, disabled FROM developers WHERE lower(email) = $1
         ORDER BY id LIMIT 1",
    )
    .bind(normalise_email(email))
    .fetch_optional(pool)
    .await
}

/// Signs up `email` with a password hash; `None` when the address is taken.
pub async fn sign_up(
    pool: &PgPool,
    email: &str,
    password_hash: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO developers (email, password_hash) VALUES ($1, $2)
         ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(normalise_email(email))
    .bind(password_hash)
    .fetch_optional(pool)
    .await
}

/// Sets the password of `email`, making the developer if there is none (an admin's reset,
/// or the first admin); `admin` makes it an appliance admin. Signs it out everywhere.
pub async fn set_password(
    pool: &PgPool,
    email: &str,
    password_hash: &str,
    admin: bool,
) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO developers (email, password_hash, admin) VALUES ($1, $2, $3)
         ON CONFLICT (email) DO UPDATE
           SET password_hash = EXCLUDED.password_hash,
               admin = developers.admin OR EXCLUDED.admin
         RETURNING id",
    )
    .bind(normalise_email(email))
    .bind(password_hash)
    .bind(admin)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM portal_sessions WHERE developer_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(id)
}

/// Changes a signed-in developer's password, signing out its other sessions (`keep`, the
/// digest of the session changing it, stays).
pub async fn change_password(
    pool: &PgPool,
    id: i64,
    password_hash: &str,
    keep: &[u8],
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE developers SET password_hash = $2 WHERE id = $1")
        .bind(id)
        .bind(password_hash)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM portal_sessions WHERE developer_id = $1 AND token_hash <> $2")
        .bind(id)
        .bind(keep)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// One of a developer's DeveloperKeys (never the key itself).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct KeyInfo {
    /// Its id.
    pub id: i64,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A developer's DeveloperKeys, oldest first.
pub async fn keys(pool: &PgPool, developer: i64) -> Result<Vec<KeyInfo>, sqlx::Error> {
    sqlx::query_as("SELECT id, created_at FROM developer_keys WHERE developer_id = $1 ORDER BY id")
        .bind(developer)
        .fetch_all(pool)
        .await
}

/// A new DeveloperKey of `developer`, in clear (the only time it exists so).
pub async fn new_key(pool: &PgPool, developer: i64) -> Result<String, sqlx::Error> {
    let key = random_token(32);
    sqlx::query("INSERT INTO developer_keys (developer_id, key_hash) VALUES ($1, $2)")
        .bind(developer)
        .bind(digest(&key))
        .execute(pool)
        .await?;
    Ok(key)
}

/// Revokes DeveloperKey `id` of `developer`; true when it was theirs.
pub async fn revoke_key(pool: &PgPool, developer: i64, id: i64) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM developer_keys WHERE developer_id = $1 AND id = $2")
            .bind(developer)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
            > 0,
    )
}

/// A developer as the appliance admin sees it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Developer {
    /// Its id.
    pub id: i64,
    /// Its e-mail (stored normalised).
    pub email: String,
    /// An appliance admin.
    pub admin: bool,
    /// Disabled by an admin: no sign-in, no DeveloperKey.
    pub disabled: bool,
    /// Whether it has chosen a password (an invited developer has not, until it uses its
    /// link).
    pub has_password: bool,
    /// Its applications.
    pub applications: i64,
    /// Made.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

const DEVELOPER: &str = "SELECT d.id, d.email, d.admin, d.disabled,
        d.password_hash IS NOT NULL AS has_password,
        (SELECT count(*) FROM applications a WHERE a.developer_id = d.id) AS applications,
        d.created_at
   FROM developers d";

/// Developers whose e-mail contains `search` (any case; empty: all), by e-mail, at most
/// `limit`; and how many match in all.
pub async fn list(
    pool: &PgPool,
    search: &str,
    limit: i64,
) -> Result<(Vec<Developer>, i64), sqlx::Error> {
    let search = search.trim().to_lowercase();
    let rows = sqlx::query_as(&format!(
        "{DEVELOPER} WHERE strpos(lower(d.email), $1) > 0 ORDER BY d.email LIMIT $2"
    ))
    .bind(&search)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let total =
        sqlx::query_scalar("SELECT count(*) FROM developers WHERE strpos(lower(email), $1) > 0")
            .bind(&search)
            .fetch_one(pool)
            .await?;
    Ok((rows, total))
}

/// Developer `id`.
pub async fn get(pool: &PgPool, id: i64) -> Result<Option<Developer>, sqlx::Error> {
    sqlx::query_as(&format!("{DEVELOPER} WHERE d.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Makes developer `email` without a password (an admin's invitation); `None` when the
/// address is taken.
pub async fn invite(pool: &PgPool, email: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO developers (email) VALUES ($1) ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(normalise_email(email))
    .fetch_optional(pool)
    .await
}

/// Disables developer `id` (its sessions end; its DeveloperKeys and sign-in are refused)
/// or enables it again; false when there is no such developer.
pub async fn set_disabled(pool: &PgPool, id: i64, disabled: bool) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let found = sqlx::query("UPDATE developers SET disabled = $2 WHERE id = $1")
        .bind(id)
        .bind(disabled)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        > 0;
    if disabled {
        sqlx::query("DELETE FROM portal_sessions WHERE developer_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(found)
}
