//! Accounts API: import, list, get, patch, delete (`APIKey` or `Bearer`).

use std::collections::HashMap;

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use base64::Engine;
use cloudbridge_connectors::{
    caldav, local,
    oauth::{Granted, OAuthSecrets},
    s3, seal_secrets, service as services, sftp, webdav,
};
use cloudbridge_shared::{
    db::{
        self,
        accounts::{Changes, Filters},
    },
    protocol::{AccountRef, Op},
    ApiError,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    auth::{AppCaller, Caller},
    extract::{parse_bool, BaseUrl, Json, Paging, Path, Query},
    wire, AppState,
};

/// Storage services Kloudless knew that this appliance does not connect yet.
const KNOWN_ELSEWHERE: &[&str] = &[
    "sharepoint",
    "egnyte",
    "sharefile",
    "azure",
    "ftp",
    "smb",
    "cmis",
];

/// Body of `POST /v1/accounts` (Kloudless import fields plus the service's settings); the
/// hosted connect page's credentials form has the same fields ([`ImportBody::from_form`]).
#[derive(Debug, Default, Deserialize)]
pub struct ImportBody {
    account: Option<String>,
    service: Option<String>,
    /// S3: access key id; WebDAV and SFTP: user name.
    token: Option<String>,
    /// S3: secret access key; WebDAV and SFTP: password.
    token_secret: Option<String>,
    /// WebDAV: server URL.
    url: Option<String>,
    /// SFTP: server host name or address, and port (22 when absent).
    host: Option<String>,
    port: Option<u16>,
    /// SFTP: user name (or `token`).
    username: Option<String>,
    /// SFTP: password (or `token_secret`).
    password: Option<String>,
    /// SFTP: private key text (OpenSSH or PEM), and its passphrase if it has one.
    private_key: Option<String>,
    passphrase: Option<String>,
    /// OAuth services: the refresh token, and when the access token (`token`) expires.
    refresh_token: Option<String>,
    token_expiry: Option<chrono::DateTime<chrono::Utc>>,
    /// S3: bucket, region, endpoint, root prefix, addressing.
    bucket: Option<String>,
    region: Option<String>,
    endpoint: Option<String>,
    root: Option<String>,
    #[serde(default)]
    virtual_host_style: bool,
    /// The application's own data about the account (an object).
    custom_properties: Option<Value>,
    /// An admin account of its service's team (Team API, `X-Kloudless-As-User`): its
    /// token is checked against the team first.
    admin: Option<bool>,
}

/// Form fields holding secrets: never shown again on a page.
pub const SECRET_FIELDS: &[&str] = &["token_secret", "password", "private_key", "passphrase"];

impl ImportBody {
    /// The credentials form of the hosted connect page for `service`: the same fields as
    /// import's, as text. Its account is named after the login and the place
    /// ([`login_name`]), so connecting the same login again updates the same account.
    pub fn from_form(service: &str, form: &HashMap<String, String>) -> Result<Self, ApiError> {
        // What people type and paste is trimmed; secrets are taken as they are.
        let text = |k: &str| {
            form.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let secret = |k: &str| form.get(k).filter(|v| !v.is_empty()).cloned();
        let port = text("port")
            .map(|p| p.parse::<u16>().ok().filter(|p| *p > 0))
            .map(|p| {
                p.ok_or_else(|| {
                    ApiError::invalid_parameters("`port` must be a number from 1 to 65535.")
                })
            })
            .transpose()?;
        let mut body = Self {
            service: Some(service.to_string()),
            token: text("token"),
            token_secret: secret("token_secret"),
            url: text("url"),
            host: text("host"),
            port,
            username: text("username"),
            password: secret("password"),
            private_key: secret("private_key"),
            passphrase: secret("passphrase"),
            bucket: text("bucket"),
            region: text("region"),
            endpoint: text("endpoint"),
            root: text("root"),
            virtual_host_style: text("virtual_host_style")
                .is_some_and(|v| matches!(v.as_str(), "on" | "true" | "1")),
            ..Self::default()
        };
        body.account = Some(login_name(service, &body));
        Ok(body)
    }

    /// The account's name (`account`), empty when not given.
    pub fn account(&self) -> &str {
        self.account.as_deref().unwrap_or_default()
    }
}

/// The name of an account connected on the hosted page: who logs in where
/// (`bucket`, `bucket@endpoint-host[:port]`, `user@dav-host[:port]/path`,
/// `user@sftp-host[:port]`);
/// the service's name while the fields that say so are missing.
fn login_name(service: &str, body: &ImportBody) -> String {
    // `host[:port]`, and the path when `with_path`.
    let place = |url: &str, with_path: bool| {
        let url = url::Url::parse(url).ok()?;
        let mut at = url.host_str()?.to_string();
        if let Some(port) = url.port() {
            at.push_str(&format!(":{port}"));
        }
        if with_path {
            at.push_str(url.path().trim_end_matches('/'));
        }
        Some(at)
    };
    let name =
        match service {
            "s3" => body.bucket.clone(),
            "s3_compatible" => body.bucket.as_ref().map(|bucket| {
                match body.endpoint.as_deref().and_then(|e| place(e, false)) {
                    Some(at) => format!("{bucket}@{at}"),
                    None => bucket.clone(),
                }
            }),
            "webdav" | "caldav" => body.url.as_deref().and_then(|u| place(u, true)).map(|at| {
                match body.token.as_ref().or(body.username.as_ref()) {
                    Some(user) => format!("{user}@{at}"),
                    None => at,
                }
            }),
            "sftp" => body.host.as_ref().map(|host| {
                let user = body.username.as_ref().or(body.token.as_ref());
                let at = match body.port {
                    Some(port) if port != sftp::default_port() => format!("{host}:{port}"),
                    _ => host.clone(),
                };
                match user {
                    Some(user) => format!("{user}@{at}"),
                    None => at,
                }
            }),
            _ => None,
        };
    // Account names are at most 254 characters (import's own bound).
    let name: String = name.unwrap_or_else(|| service.to_string());
    name.chars().take(254).collect()
}

/// The stored configuration and sealed credentials of an account to import. Hosts the
/// caller chose (S3 `endpoint`, WebDAV `url`, SFTP `host`) must resolve to addresses the
/// account policy (`network.account_allow`) permits: 400 otherwise.
async fn service_settings(
    state: &AppState,
    service: &str,
    name: &str,
    body: &ImportBody,
) -> Result<(Value, Option<Vec<u8>>), ApiError> {
    let required = |v: &Option<String>, what: &str| {
        v.clone().filter(|v| !v.is_empty()).ok_or_else(|| {
            ApiError::invalid_parameters(format!("`{what}` is required for {service}."))
        })
    };
    let guard = &state.connectors.guard;
    let oauth = services::find(service).is_some_and(|s| s.oauth().is_some());
    let (config, secrets) = match service {
        _ if oauth => {
            let secrets = OAuthSecrets {
                access_token: required(&body.token, "token")?,
                refresh_token: body.refresh_token.clone().filter(|t| !t.is_empty()),
            };
            (Ok(json!({})), serde_json::to_value(secrets))
        }
        "local" => {
            // The folder is the account's id (`local::account_root`): nothing to store.
            local::validate_account_name(name)?;
            return Ok((json!({}), None));
        }
        "s3" | "s3_compatible" => {
            if service == "s3_compatible" && body.endpoint.is_none() {
                return Err(ApiError::invalid_parameters(
                    "`endpoint` is required for s3_compatible.",
                ));
            }
            if let Some(endpoint) = &body.endpoint {
                // A clear refusal before anything is stored; every connection checks again.
                guard.check_url_resolved(endpoint, "endpoint").await?;
            }
            let config = s3::S3Config {
                bucket: required(&body.bucket, "bucket")?,
                region: body.region.clone(),
                endpoint: body.endpoint.clone(),
                root: body.root.clone(),
                virtual_host_style: body.virtual_host_style,
            };
            let secrets = s3::S3Secrets {
                access_key_id: required(&body.token, "token")?,
                secret_access_key: required(&body.token_secret, "token_secret")?,
            };
            (serde_json::to_value(config), serde_json::to_value(secrets))
        }
        "webdav" => {
            let url = required(&body.url, "url")?;
            guard.check_url_resolved(&url, "url").await?;
            let config = webdav::WebdavConfig {
                url,
                username: body.token.clone().filter(|t| !t.is_empty()),
                root: body.root.clone(),
            };
            let secrets = webdav::WebdavSecrets {
                password: body.token_secret.clone(),
            };
            (serde_json::to_value(config), serde_json::to_value(secrets))
        }
        "caldav" => {
            let given = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
            let url = required(&body.url, "url")?;
            guard.check_url_resolved(&url, "url").await?;
            let config = caldav::CaldavConfig {
                url,
                username: given(&body.username).or(given(&body.token)),
            };
            let secrets = caldav::CaldavSecrets {
                password: given(&body.password).or(given(&body.token_secret)),
            };
            (serde_json::to_value(config), serde_json::to_value(secrets))
        }
        "sftp" => {
            let (config, secrets) = sftp_settings(body)?;
            // Trust on first use: the key seen now is the only one accepted later (the
            // host's addresses are checked first).
            let host_key = sftp::host_key(&config.host, config.port, guard).await?;
            let config = sftp::SftpConfig {
                host_key: Some(host_key),
                ..config
            };
            (serde_json::to_value(config), serde_json::to_value(secrets))
        }
        other => {
            return Err(ApiError::not_implemented(format!(
                "The service `{other}` is not available yet."
            )))
        }
    };
    let cipher = state.cipher.as_deref().ok_or_else(|| {
        ApiError::not_implemented("Credentials cannot be stored: secrets.keys is not configured.")
    })?;
    let secrets = secrets.map_err(ApiError::internal)?;
    Ok((
        config.map_err(ApiError::internal)?,
        Some(seal_secrets(&secrets, cipher)),
    ))
}

/// The settings and credentials of an SFTP account to import, checked before any
/// connection: a host, a user, and a password or a readable private key.
fn sftp_settings(body: &ImportBody) -> Result<(sftp::SftpConfig, sftp::SftpSecrets), ApiError> {
    let given = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    let required = |v: Option<String>, what: &str| {
        v.ok_or_else(|| ApiError::invalid_parameters(format!("`{what}` is required for sftp.")))
    };
    let config = sftp::SftpConfig {
        host: required(given(&body.host), "host")?,
        port: body.port.unwrap_or_else(sftp::default_port),
        username: required(given(&body.username).or(given(&body.token)), "username")?,
        root: given(&body.root),
        host_key: None,
    };
    let secrets = sftp::SftpSecrets {
        password: given(&body.password).or(given(&body.token_secret)),
        private_key: given(&body.private_key),
        passphrase: given(&body.passphrase),
    };
    match &secrets.private_key {
        Some(key) => {
            sftp::parse_private_key(key, secrets.passphrase.as_deref())?;
        }
        None if secrets.password.is_none() => {
            return Err(ApiError::invalid_parameters(
                "`password` or `private_key` is required for sftp.",
            ))
        }
        None => {}
    }
    Ok((config, secrets))
}

/// An account's settings, checked against its service, with its credentials sealed:
/// what [`check_and_seal`] hands to [`connect_credentials`] (or, for an OAuth service, to
/// [`connect_oauth`]).
pub struct Checked {
    /// The account's stored configuration.
    pub config: Value,
    /// Its sealed credentials (none for `local` and OAuth services, whose tokens live
    /// apart).
    pub sealed: Option<Vec<u8>>,
}

/// The one check of an account to connect, for `POST /v1/accounts` and the hosted
/// connect page's credentials form alike: the settings read (hosts the caller chose
/// checked against the account address policy), the credentials sealed, then tried
/// against the service by a worker (wrong credentials: 401 `service_unauthorized`).
pub async fn check_and_seal(
    state: &AppState,
    service: &str,
    name: &str,
    body: &ImportBody,
) -> Result<Checked, ApiError> {
    let (config, sealed) = service_settings(state, service, name, body).await?;
    let probe = AccountRef {
        id: 0,
        application: String::new(),
        service: service.to_string(),
        config: config.clone(),
        sealed: sealed
            .as_deref()
            .map(|s| base64::engine::general_purpose::STANDARD.encode(s)),
        ..AccountRef::default()
    };
    state.pipeline.call(Some(probe), Op::Validate).await?;
    Ok(Checked { config, sealed })
}

/// Checks that the credentials `checked` read their service's team (an admin account's
/// do): the first user of the Team API, asked of the service. A service without a team
/// answers 501; a token without the rights, the service's refusal.
pub async fn check_admin(
    state: &AppState,
    service: &str,
    checked: &Checked,
) -> Result<(), ApiError> {
    let probe = AccountRef {
        service: service.to_string(),
        config: checked.config.clone(),
        sealed: checked
            .sealed
            .as_deref()
            .map(|s| base64::engine::general_purpose::STANDARD.encode(s)),
        admin: true,
        ..AccountRef::default()
    };
    let op = Op::Team {
        query: cloudbridge_shared::team::Query::Users,
        page_size: 1,
        cursor: None,
        skip_pages: 0,
    };
    state.pipeline.call(Some(probe), op).await.map(|_| ())
}

/// `POST /v1/accounts`: connects an account to the caller's application and returns it
/// with a bearer token for it (`bearer_token.key`). The worker checks the account against
/// its service first (bad credentials: 401 `service_unauthorized`).
#[utoipa::path(
    post,
    path = "/accounts",
    tag = "accounts",
    summary = "Import an account",
    operation_id = "accounts_import",
    request_body(content = crate::contract::JsonObject, content_type = "application/json"),
    responses(
        (status = 201, description = "The account, with a bearer token for it.", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
    security(("api_key" = [])),
)]
pub async fn import(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Json(body): Json<ImportBody>,
) -> Result<impl IntoResponse, ApiError> {
    let Caller::Application(app) = &caller.0 else {
        return Err(ApiError::forbidden(
            "Importing an account needs the application's APIKey.",
        ));
    };
    // Stored by its canonical name (an alias such as Kloudless' `skydrive` is OneDrive).
    let named = body.service.as_deref().unwrap_or("local");
    let described = services::find(named).ok_or_else(|| {
        if KNOWN_ELSEWHERE.contains(&named) {
            ApiError::not_implemented(format!("The service `{named}` is not available yet."))
        } else {
            ApiError::invalid_parameters(format!("Unknown service `{named}`."))
        }
    })?;
    let service = described.name;
    let name = body
        .account
        .as_deref()
        .filter(|n| !n.is_empty() && n.len() <= 254)
        .ok_or_else(|| ApiError::invalid_parameters("`account` is required."))?;
    let props = custom_properties(body.custom_properties.as_ref())?;
    let checked = check_and_seal(&state, service, name, &body).await?;
    if body.admin == Some(true) {
        check_admin(&state, service, &checked).await?;
    }
    let account = if described.oauth().is_some() {
        // Tokens live in their own versioned row, refreshed by the keeper.
        let secrets = OAuthSecrets {
            access_token: body.token.clone().unwrap_or_default(),
            refresh_token: body.refresh_token.clone().filter(|t| !t.is_empty()),
        };
        connect_oauth(
            &state,
            app,
            service,
            name,
            &checked.config,
            Granted {
                secrets,
                expires_at: body.token_expiry,
            },
        )
        .await?
    } else {
        connect_credentials(&state, app, service, name, &checked).await?
    };
    let account = match body.admin {
        Some(admin) if admin != account.admin => {
            db::accounts::set_admin(&state.db, app, account.id, admin)
                .await?
                .unwrap_or(account)
        }
        _ => account,
    };
    let account = match props {
        Some(props) => {
            let changes = Changes {
                custom_properties: Some(props),
                ..Changes::default()
            };
            apply(&state, app, account.id, &changes).await?
        }
        None => account,
    };
    seed_events(&state, &account).await;
    state.forget_account(app, account.id);
    let token = db::bearer_tokens::create(&state.db, account.id).await?;
    let mut body = wire::account(&account, &base);
    body["bearer_token"] = json!({ "key": token });
    Ok((StatusCode::CREATED, Json(body)))
}

/// Stores (or, for the same upstream user, updates) an OAuth account and its tokens.
pub async fn connect_oauth(
    state: &AppState,
    app: &str,
    service: &str,
    name: &str,
    config: &Value,
    granted: Granted,
) -> Result<db::accounts::Account, ApiError> {
    let keeper = state.connectors.tokens.as_ref().ok_or_else(|| {
        ApiError::not_implemented("Tokens cannot be stored: secrets.keys is not configured.")
    })?;
    let account = db::accounts::upsert(&state.db, app, service, name, config, None).await?;
    keeper.store(account.id, &granted).await?;
    state.forget_account(app, account.id);
    Ok(db::accounts::get(&state.db, app, account.id)
        .await?
        .unwrap_or(account))
}

/// Stores (or, for the same name, updates) an account connected by credentials (or a
/// `local` one), as [`check_and_seal`] checked it.
pub async fn connect_credentials(
    state: &AppState,
    app: &str,
    service: &str,
    name: &str,
    checked: &Checked,
) -> Result<db::accounts::Account, ApiError> {
    let account = db::accounts::upsert(
        &state.db,
        app,
        service,
        name,
        &checked.config,
        checked.sealed.as_deref(),
    )
    .await?;
    state.forget_account(app, account.id);
    Ok(account)
}

/// Records what a newly connected account holds before its connection is answered, when
/// its application collects events: every change made after the answer is then reported
/// (a first collection taken later would count such changes as what was there).
/// A failure is logged and the connection still answered: the regular first collection
/// then takes the baseline, later.
pub async fn seed_events(state: &AppState, account: &db::accounts::Account) {
    match db::feeds::seeded(&state.db, account.id).await {
        Ok(Some(false)) => {}
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(account = account.id, error = %e, "seeding not checked");
            return;
        }
    }
    if let Err(e) = state.pipeline.call(Some(account.job_ref()), Op::Seed).await {
        tracing::warn!(account = account.id, error = %e.message, "account not seeded before answering");
    }
}

/// `GET /v1/accounts`
#[utoipa::path(
    get,
    path = "/accounts",
    tag = "accounts",
    summary = "List accounts",
    operation_id = "accounts_list",
    params(
        ("page" = Option<u32>, Query, minimum = 1, description = "1-based page."),
        ("page_size" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Items per page (at most 1000)."),
        ("active" = Option<bool>, Query, description = "Only active (or inactive) accounts."),
    ),
    responses(
        (status = 200, description = "The application's accounts.", body = crate::contract::ObjectList),
        crate::contract::Errors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let get = |k: &str| q.get(k).map(String::as_str);
    let paging = Paging::parse(get("page"), get("page_size"), 100, 1000)?;
    let filters = Filters {
        active: parse_bool(get("active"), "active")?,
        enabled: parse_bool(get("enabled"), "enabled")?,
        admin: parse_bool(get("admin"), "admin")?,
    };
    let (rows, total) = match &caller.0 {
        // A bearer token sees its own account only.
        Caller::Account {
            account,
            application,
        } => own(&state, application, &[*account], paging.page, &filters).await?,
        // Several bearer tokens see their accounts.
        Caller::Accounts {
            accounts,
            application,
        } => own(&state, application, accounts, paging.page, &filters).await?,
        _ => {
            db::accounts::list(
                &state.db,
                caller.application(),
                &filters,
                paging.page,
                paging.page_size,
            )
            .await?
        }
    };
    let objects = rows.iter().map(|a| wire::account(a, &base)).collect();
    Ok(Json(wire::counted("core", objects, paging, total)?))
}

/// The accounts bearer tokens name, as one page (there is no second).
async fn own(
    state: &AppState,
    application: &str,
    accounts: &[i64],
    page: u32,
    filters: &Filters,
) -> Result<(Vec<db::accounts::Account>, i64), ApiError> {
    let mut rows = Vec::new();
    for account in accounts {
        if let Some(row) = db::accounts::get(&state.db, application, *account).await? {
            if page == 1 && matches(&row, filters) {
                rows.push(row);
            }
        }
    }
    let total = rows.len() as i64;
    Ok((rows, total))
}

fn matches(a: &db::accounts::Account, f: &Filters) -> bool {
    f.active.is_none_or(|v| v == a.active)
        && f.enabled.is_none_or(|v| v == a.enabled)
        && f.admin.is_none_or(|v| v == a.admin)
}

/// `GET /v1/accounts/{acct}` (`retrieve_full` adds capabilities).
#[utoipa::path(
    get,
    path = "/accounts/{acct}",
    tag = "accounts",
    summary = "Get an account",
    operation_id = "accounts_get",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("retrieve_full" = Option<bool>, Query, description = "Add `properties.capabilities`."),
    ),
    responses(
        (status = 200, description = "The account.", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path(acct): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let account = caller.managed_account(&state, &acct).await?;
    let mut body = wire::account(&account, &base);
    if parse_bool(q.get("retrieve_full").map(String::as_str), "retrieve_full")? == Some(true) {
        let caps: serde_json::Map<String, Value> = services::find(&account.service)
            .map_or(&[][..], |s| s.capabilities)
            .iter()
            .map(|(name, value)| (name.to_string(), json!({ "value": value })))
            .collect();
        body["properties"] = json!({ "capabilities": caps });
    }
    Ok(Json(body))
}

/// Body of `PATCH /v1/accounts/{acct}`.
#[derive(Debug, Deserialize)]
pub struct PatchBody {
    active: Option<bool>,
    enabled: Option<bool>,
    service: Option<String>,
    /// Merged into the stored ones; a null value removes its key.
    custom_properties: Option<Value>,
}

/// `custom_properties` as given: a JSON object, or nothing.
fn custom_properties(
    given: Option<&Value>,
) -> Result<Option<serde_json::Map<String, Value>>, ApiError> {
    match given {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map.clone())),
        Some(_) => Err(ApiError::invalid_parameters(
            "`custom_properties` must be an object.",
        )),
    }
}

/// Applies `changes` to one of `app`'s accounts.
async fn apply(
    state: &AppState,
    app: &str,
    id: i64,
    changes: &Changes,
) -> Result<db::accounts::Account, ApiError> {
    let updated = db::accounts::update(&state.db, app, id, changes).await?;
    state.forget_account(app, id);
    match updated {
        Some(account) => Ok(account),
        None if db::accounts::get(&state.db, app, id).await?.is_some() => {
            Err(ApiError::invalid_parameters(format!(
                "An account has at most {} custom properties.",
                db::accounts::MAX_CUSTOM_PROPERTIES
            )))
        }
        None => Err(ApiError::not_found("No account has this id.")),
    }
}

/// `PATCH /v1/accounts/{acct}`
#[utoipa::path(
    patch,
    path = "/accounts/{acct}",
    tag = "accounts",
    summary = "Update an account",
    operation_id = "accounts_update",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
    ),
    request_body(content = crate::contract::JsonObject, content_type = "application/json"),
    responses(
        (status = 200, description = "The account.", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn update(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path(acct): Path<String>,
    Json(raw): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let bad = |e: serde_json::Error| ApiError::invalid_parameters(format!("Invalid body: {e}."));
    let body = PatchBody::deserialize(&raw).map_err(bad)?;
    let credentials = ImportBody::deserialize(&raw).map_err(bad)?;
    let account = caller.managed_account(&state, &acct).await?;
    if body
        .service
        .as_deref()
        .is_some_and(|s| services::find(s).is_none_or(|s| s.name != account.service))
    {
        return Err(ApiError::invalid_parameters(
            "An account's service cannot be changed.",
        ));
    }
    let changes = Changes {
        active: body.active,
        enabled: body.enabled,
        custom_properties: custom_properties(body.custom_properties.as_ref())?,
    };
    if gives_credentials(&credentials) {
        recredential(&state, caller.application(), &account, credentials).await?;
    }
    let updated = apply(&state, caller.application(), account.id, &changes).await?;
    Ok(Json(wire::account(&updated, &base)))
}

/// True when a PATCH brings credentials or connection settings (`token`,
/// `refresh_token`, a password or key, a host, bucket or URL…).
fn gives_credentials(b: &ImportBody) -> bool {
    let texts = [
        &b.token,
        &b.token_secret,
        &b.refresh_token,
        &b.url,
        &b.host,
        &b.username,
        &b.password,
        &b.private_key,
        &b.passphrase,
        &b.bucket,
        &b.region,
        &b.endpoint,
        &b.root,
    ];
    texts.iter().any(|t| t.is_some()) || b.port.is_some()
}

/// Replaces an account's credentials (and settings) after checking the new ones against
/// its service, as import does: OAuth tokens go to the keeper (which takes them as a
/// reconnection), credentials are sealed in place. Settings not given are the stored
/// ones; secrets are always given whole. An SFTP server must still show the host key
/// pinned at import.
async fn recredential(
    state: &AppState,
    app: &str,
    account: &db::accounts::Account,
    mut body: ImportBody,
) -> Result<(), ApiError> {
    let stored = &account.config;
    let text = |key: &str| stored[key].as_str().map(str::to_string);
    let service = account.service.as_str();
    match service {
        "local" => {
            return Err(ApiError::invalid_parameters(
                "A local account has no credentials.",
            ))
        }
        "s3" | "s3_compatible" => {
            body.bucket = body.bucket.or_else(|| text("bucket"));
            body.region = body.region.or_else(|| text("region"));
            body.endpoint = body.endpoint.or_else(|| text("endpoint"));
            body.root = body.root.or_else(|| text("root"));
            body.virtual_host_style |= stored["virtual_host_style"] == true;
        }
        "webdav" => {
            body.url = body.url.or_else(|| text("url"));
            body.root = body.root.or_else(|| text("root"));
        }
        "caldav" => {
            body.url = body.url.or_else(|| text("url"));
            if body.token.is_none() {
                body.username = body.username.or_else(|| text("username"));
            }
        }
        "sftp" => {
            body.host = body.host.or_else(|| text("host"));
            body.port = body
                .port
                .or_else(|| stored["port"].as_u64().and_then(|p| u16::try_from(p).ok()));
            body.root = body.root.or_else(|| text("root"));
        }
        _ => {}
    }
    let checked = check_and_seal(state, service, &account.account, &body).await?;
    if service == "sftp" {
        let same_host =
            checked.config["host"] == stored["host"] && checked.config["port"] == stored["port"];
        if same_host && checked.config["host_key"] != stored["host_key"] {
            return Err(ApiError::invalid_parameters(
                "The SFTP server's host key is not the one pinned when the account was connected.",
            ));
        }
    }
    if services::find(service).is_some_and(|s| s.oauth().is_some()) {
        let secrets = OAuthSecrets {
            access_token: body.token.clone().unwrap_or_default(),
            refresh_token: body.refresh_token.clone().filter(|t| !t.is_empty()),
        };
        let granted = Granted {
            secrets,
            expires_at: body.token_expiry,
        };
        connect_oauth(state, app, service, &account.account, stored, granted).await?;
    } else {
        connect_credentials(state, app, service, &account.account, &checked).await?;
    }
    Ok(())
}

/// `DELETE /v1/accounts/{acct}`: disconnects it; its tokens stop working.
#[utoipa::path(
    delete,
    path = "/accounts/{acct}",
    tag = "accounts",
    summary = "Delete an account",
    operation_id = "accounts_delete",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
    ),
    responses(
        (status = 204, description = "Disconnected."),
        crate::contract::Errors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: AppCaller,
    Path(acct): Path<String>,
) -> Result<StatusCode, ApiError> {
    let account = caller.managed_account(&state, &acct).await?;
    disconnect(&state, caller.application(), account.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Disconnects account `id` of `application`: its tokens stop working at once and what
/// it left behind is cleared by the worker (404 when the application has no such
/// account). The one rule for the API and the portal.
pub(crate) async fn disconnect(
    state: &AppState,
    application: &str,
    id: i64,
) -> Result<(), ApiError> {
    let existed = db::accounts::delete(&state.db, application, id).await?;
    state.forget_account(application, id);
    if existed {
        Ok(())
    } else {
        Err(ApiError::not_found("No account has this id."))
    }
}
