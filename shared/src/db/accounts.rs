//! Connected accounts, each owned by one application.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};

/// An account row.
#[derive(Clone, Debug, FromRow)]
pub struct Account {
    /// Numeric id.
    pub id: i64,
    /// Owning application.
    pub application_id: String,
    /// Service identifier.
    pub service: String,
    /// The upstream account name (e-mail, user name…).
    pub account: String,
    /// Usable.
    pub active: bool,
    /// Enabled by the application.
    pub enabled: bool,
    /// Admin account.
    pub admin: bool,
    /// Non-secret service configuration.
    pub config: serde_json::Value,
    /// Sealed service credentials (see `crypto`).
    pub secrets: Option<Vec<u8>>,
    /// The service no longer accepts the account's tokens: reconnect it.
    pub needs_reauth: bool,
    /// Why, when `needs_reauth`.
    pub reauth_reason: Option<String>,
    /// The application's own key/value data about the account (a JSON object).
    pub custom_properties: serde_json::Value,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last modified.
    pub modified_at: DateTime<Utc>,
    /// Not stored: the team member a request acts as (`X-Kloudless-As-User`, checked by
    /// the API tier on an admin account), carried into its jobs.
    #[sqlx(skip)]
    pub as_user: Option<String>,
}

impl Account {
    /// What a worker needs to reach this account (credentials still sealed).
    pub fn job_ref(&self) -> crate::protocol::AccountRef {
        use base64::{engine::general_purpose::STANDARD, Engine};
        crate::protocol::AccountRef {
            id: self.id,
            application: self.application_id.clone(),
            service: self.service.clone(),
            config: self.config.clone(),
            sealed: self.secrets.as_deref().map(|s| STANDARD.encode(s)),
            admin: self.admin,
            as_user: self.as_user.clone(),
        }
    }
}

/// List filters (`None` = any).
#[derive(Clone, Debug, Default)]
pub struct Filters {
    /// `active`.
    pub active: Option<bool>,
    /// `enabled`.
    pub enabled: Option<bool>,
    /// `admin`.
    pub admin: Option<bool>,
}

/// Fields of a PATCH.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    /// `active`.
    pub active: Option<bool>,
    /// `enabled`.
    pub enabled: Option<bool>,
    /// `custom_properties` to merge in: a null value removes its key.
    pub custom_properties: Option<serde_json::Map<String, serde_json::Value>>,
}

/// At most this many custom properties per account.
pub const MAX_CUSTOM_PROPERTIES: i64 = 100;

const COLUMNS: &str = "id, application_id, service, account, active, enabled, admin, config, \
    secrets, needs_reauth, reauth_reason, custom_properties, created_at, modified_at";

/// Inserts an account, or updates the one with the same `(application, service, account)`
/// (a `local` one keeps its configuration: it says where its folder is).
pub async fn upsert(
    pool: &PgPool,
    application: &str,
    service: &str,
    account: &str,
    config: &serde_json::Value,
    secrets: Option<&[u8]>,
) -> Result<Account, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO accounts (application_id, service, account, config, secrets)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (application_id, service, account)
         DO UPDATE SET secrets = EXCLUDED.secrets, active = TRUE,
                       -- A local account's folder never moves (older ones name theirs).
                       config = CASE WHEN accounts.service = 'local' THEN accounts.config
                                     ELSE EXCLUDED.config END,
                       modified_at = now()
         RETURNING {COLUMNS}"
    ))
    .bind(application)
    .bind(service)
    .bind(account)
    .bind(config)
    .bind(secrets)
    .fetch_one(pool)
    .await
}

/// One of an application's accounts.
pub async fn get(
    pool: &PgPool,
    application: &str,
    id: i64,
) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM accounts WHERE application_id = $1 AND id = $2"
    ))
    .bind(application)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// An account by id alone, whatever its application (serving a shared link).
pub async fn find(pool: &PgPool, id: i64) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM accounts WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// A page of an application's accounts, by id, and the total count.
pub async fn list(
    pool: &PgPool,
    application: &str,
    filters: &Filters,
    page: u32,
    page_size: u32,
) -> Result<(Vec<Account>, i64), sqlx::Error> {
    const WHERE: &str = "WHERE application_id = $1 AND ($2::bool IS NULL OR active = $2)
        AND ($3::bool IS NULL OR enabled = $3) AND ($4::bool IS NULL OR admin = $4)";
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM accounts {WHERE} ORDER BY id LIMIT $5 OFFSET $6"
    ))
    .bind(application)
    .bind(filters.active)
    .bind(filters.enabled)
    .bind(filters.admin)
    .bind(i64::from(page_size))
    .bind(super::offset(page, page_size))
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar(&format!("SELECT count(*) FROM accounts {WHERE}"))
        .bind(application)
        .bind(filters.active)
        .bind(filters.enabled)
        .bind(filters.admin)
        .fetch_one(pool)
        .await?;
    Ok((rows, total))
}

/// Applies a PATCH. `None` when the account does not exist, or when the merged custom
/// properties would be more than [`MAX_CUSTOM_PROPERTIES`] (nothing is changed then).
pub async fn update(
    pool: &PgPool,
    application: &str,
    id: i64,
    changes: &Changes,
) -> Result<Option<Account>, sqlx::Error> {
    let (set, removed) = match &changes.custom_properties {
        Some(props) => {
            let (gone, kept): (Vec<_>, Vec<_>) = props.iter().partition(|(_, v)| v.is_null());
            let kept: serde_json::Map<_, _> = kept
                .into_iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let gone: Vec<String> = gone.into_iter().map(|(k, _)| k.clone()).collect();
            (Some(serde_json::Value::Object(kept)), gone)
        }
        None => (None, Vec::new()),
    };
    // Merged in the statement itself, so concurrent PATCHes never lose each other's keys.
    sqlx::query_as(&format!(
        "UPDATE accounts SET active = COALESCE($3, active), enabled = COALESCE($4, enabled),
            custom_properties = CASE WHEN $5::jsonb IS NULL THEN custom_properties
                                     ELSE (custom_properties - $6::text[]) || $5 END,
            modified_at = now()
         WHERE application_id = $1 AND id = $2
           AND ($5::jsonb IS NULL OR (SELECT count(*)
                FROM jsonb_object_keys((custom_properties - $6::text[]) || $5)) <= $7)
         RETURNING {COLUMNS}"
    ))
    .bind(application)
    .bind(id)
    .bind(changes.active)
    .bind(changes.enabled)
    .bind(set)
    .bind(removed)
    .bind(MAX_CUSTOM_PROPERTIES)
    .fetch_optional(pool)
    .await
}

/// Marks an account an admin account, or not (an import or a connection whose token was
/// checked against the service's team). `None` when the account does not exist.
pub async fn set_admin(
    pool: &PgPool,
    application: &str,
    id: i64,
    admin: bool,
) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE accounts SET admin = $3, modified_at = now()
         WHERE application_id = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(application)
    .bind(id)
    .bind(admin)
    .fetch_optional(pool)
    .await
}

/// Disconnects an account (its tokens go with it). True when it existed.
pub async fn delete(pool: &PgPool, application: &str, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM accounts WHERE application_id = $1 AND id = $2")
        .bind(application)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// One of an application's accounts as a listing shows it: its state, and its event
/// collection when the application collects events.
#[derive(Clone, Debug, FromRow)]
pub struct Listed {
    /// Numeric id.
    pub id: i64,
    /// Service identifier.
    pub service: String,
    /// The upstream account name.
    pub account: String,
    /// Usable.
    pub active: bool,
    /// Enabled by the application.
    pub enabled: bool,
    /// The service no longer accepts the account's tokens.
    pub needs_reauth: bool,
    /// Why, when `needs_reauth`.
    pub reauth_reason: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// When its events were last collected (`None`: never, or not collected).
    pub last_collected_at: Option<DateTime<Utc>>,
    /// Why its last collection failed, if it did.
    pub collect_error: Option<String>,
}

/// Which accounts a search matches: a name containing `text` (any case), one of
/// `services`, or the id `id`.
#[derive(Clone, Debug, Default)]
pub struct Search {
    /// Part of the account's name.
    pub text: String,
    /// Services matched as a whole.
    pub services: Vec<String>,
    /// An account id.
    pub id: Option<i64>,
}

impl Search {
    /// `text` as a `LIKE` pattern matching it anywhere, its wildcards taken literally.
    fn pattern(&self) -> String {
        let mut escaped = String::with_capacity(self.text.len() + 2);
        escaped.push('%');
        for c in self.text.chars() {
            if matches!(c, '%' | '_' | '\\') {
                escaped.push('\\');
            }
            escaped.push(c);
        }
        escaped.push('%');
        escaped
    }
}

/// Where a page of a listing newest first starts (keyset paging: each page is one index
/// range, however deep it is).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// The newest.
    Newest,
    /// Those older than this id.
    Before(i64),
    /// Those newer than this id (the page before, going back).
    After(i64),
}

/// Adds `search`'s condition on accounts `a` to `query`.
fn push_search(query: &mut QueryBuilder<'_, Postgres>, search: &Search) {
    query
        .push(" AND (a.account ILIKE ")
        .push_bind(search.pattern())
        .push(" OR a.service = ANY(")
        .push_bind(search.services.clone())
        .push(") OR a.id = ")
        .push_bind(search.id)
        .push(")");
}

/// Up to `limit` of an application's accounts (those `search` matches, if any) in
/// `window`, newest first, and whether more lie beyond them in the window's direction.
pub async fn browse(
    pool: &PgPool,
    application: &str,
    search: Option<&Search>,
    window: Window,
    limit: i64,
) -> Result<(Vec<Listed>, bool), sqlx::Error> {
    let mut query = QueryBuilder::new(
        "SELECT a.id, a.service, a.account, a.active, a.enabled, a.needs_reauth,
                a.reauth_reason, a.created_at, f.last_collected_at, f.last_error AS collect_error
           FROM accounts a LEFT JOIN event_feeds f ON f.account_id = a.id
          WHERE a.application_id = ",
    );
    query.push_bind(application);
    if let Some(search) = search {
        push_search(&mut query, search);
    }
    match window {
        Window::Newest => query.push(" ORDER BY a.id DESC"),
        Window::Before(id) => query
            .push(" AND a.id < ")
            .push_bind(id)
            .push(" ORDER BY a.id DESC"),
        Window::After(id) => query
            .push(" AND a.id > ")
            .push_bind(id)
            .push(" ORDER BY a.id ASC"),
    };
    query.push(" LIMIT ").push_bind(limit + 1);
    let mut rows: Vec<Listed> = query.build_query_as().fetch_all(pool).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    if matches!(window, Window::After(_)) {
        rows.reverse();
    }
    Ok((rows, more))
}

/// How many of an application's accounts `search` matches (all of them without one),
/// counted up to `cap` (the count of a broad search reads every match).
pub async fn count_matching(
    pool: &PgPool,
    application: &str,
    search: Option<&Search>,
    cap: i64,
) -> Result<i64, sqlx::Error> {
    let mut query = QueryBuilder::new(
        "SELECT count(*) FROM (SELECT 1 FROM accounts a WHERE a.application_id = ",
    );
    query.push_bind(application);
    if let Some(search) = search {
        push_search(&mut query, search);
    }
    query.push(" LIMIT ").push_bind(cap).push(") matched");
    query.build_query_scalar().fetch_one(pool).await
}

/// The service and name of each of `ids` that is an account of `application`.
pub async fn names(
    pool: &PgPool,
    application: &str,
    ids: &[i64],
) -> Result<Vec<(i64, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, service, account FROM accounts WHERE application_id = $1 AND id = ANY($2)",
    )
    .bind(application)
    .bind(ids)
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::Search;

    #[test]
    fn a_search_takes_wildcards_literally() {
        let search = |text: &str| Search {
            text: text.into(),
            ..Search::default()
        };
        assert_eq!(search("ada").pattern(), "%ada%");
        assert_eq!(search("50%_a\\b").pattern(), "%50\\%\\_a\\\\b%");
    }
}
