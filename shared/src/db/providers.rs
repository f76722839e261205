//! Applications' own OAuth client credentials per service, and their redirect URIs.

use sqlx::PgPool;

/// An application's client id and sealed client secret at `service`, if it set them.
pub async fn client(
    pool: &PgPool,
    application: &str,
    service: &str,
) -> Result<Option<(String, Vec<u8>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT client_id, sealed_secret FROM application_providers
         WHERE application_id = $1 AND service = $2",
    )
    .bind(application)
    .bind(service)
    .fetch_optional(pool)
    .await
}

/// Sets an application's client credentials at `service`.
pub async fn set_client(
    pool: &PgPool,
    application: &str,
    service: &str,
    client_id: &str,
    sealed_secret: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO application_providers (application_id, service, client_id, sealed_secret)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (application_id, service)
         DO UPDATE SET client_id = EXCLUDED.client_id, sealed_secret = EXCLUDED.sealed_secret",
    )
    .bind(application)
    .bind(service)
    .bind(client_id)
    .bind(sealed_secret)
    .execute(pool)
    .await?;
    Ok(())
}

/// Services at which an application has its own client credentials.
pub async fn services(
    pool: &PgPool,
    application: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT service, client_id FROM application_providers WHERE application_id = $1
         ORDER BY service",
    )
    .bind(application)
    .fetch_all(pool)
    .await
}

/// Removes an application's client credentials at `service`; true when they existed.
pub async fn remove_client(
    pool: &PgPool,
    application: &str,
    service: &str,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM application_providers WHERE application_id = $1 AND service = $2")
            .bind(application)
            .bind(service)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// An application's allowed redirect URIs.
pub async fn redirect_uris(pool: &PgPool, application: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT uri FROM application_redirect_uris WHERE application_id = $1 ORDER BY uri",
    )
    .bind(application)
    .fetch_all(pool)
    .await
}

/// Replaces an application's allowed redirect URIs.
pub async fn set_redirect_uris(
    pool: &PgPool,
    application: &str,
    uris: &[String],
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM application_redirect_uris WHERE application_id = $1")
        .bind(application)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO application_redirect_uris (application_id, uri)
         SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
    )
    .bind(application)
    .bind(uris)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Whether `uri` is one of the application's redirect URIs (exact match).
pub async fn redirect_allowed(
    pool: &PgPool,
    application: &str,
    uri: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM application_redirect_uris
         WHERE application_id = $1 AND uri = $2)",
    )
    .bind(application)
    .bind(uri)
    .fetch_one(pool)
    .await
}
