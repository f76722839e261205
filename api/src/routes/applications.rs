//! Management API: `/v1/applications` (DeveloperKey).

use std::collections::HashMap;

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use cloudbridge_shared::{
    db::{self, applications::ApplicationFields},
    ApiError,
};
use serde::Deserialize;
use serde_json::Value;

use crate::{
    auth::Developer,
    extract::{parse_bool, BaseUrl, Json, Paging, Path, Query},
    wire, AppState,
};

/// Body of create and patch.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationBody {
    name: Option<String>,
    description: Option<String>,
    logo_url: Option<String>,
    active: Option<bool>,
    implicit_grant_enabled: Option<bool>,
    recent_enabled: Option<bool>,
    events_grant_enabled: Option<bool>,
    source: Option<String>,
    /// Origins whose pages the widgets may give bearer tokens.
    trusted_domains: Option<Vec<String>>,
}

/// Most trusted origins an application may list.
const MAX_TRUSTED_DOMAINS: usize = 100;

/// A trusted domain as an origin, `scheme://host[:port]` (http or https, nothing after the
/// authority), in its normal spelling: the widgets compare page origins with it exactly.
fn trusted_origin(entry: &str) -> Result<String, ApiError> {
    let refuse = || {
        ApiError::invalid_parameters(format!(
            "`trusted_domains` entries are origins such as https://app.example.com; not {entry:?}."
        ))
    };
    let url = url::Url::parse(entry.trim()).map_err(|_| refuse())?;
    let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
    let plain = url.username().is_empty() && url.password().is_none();
    if !matches!(url.scheme(), "http" | "https") || !bare || !plain || url.host().is_none() {
        return Err(refuse());
    }
    Ok(url.origin().ascii_serialization())
}

impl ApplicationBody {
    /// The fields to store, with trusted domains checked and normalised.
    fn into_fields(mut self) -> Result<ApplicationFields, ApiError> {
        if let Some(domains) = self.trusted_domains.take() {
            if domains.len() > MAX_TRUSTED_DOMAINS {
                return Err(ApiError::invalid_parameters(format!(
                    "At most {MAX_TRUSTED_DOMAINS} `trusted_domains`."
                )));
            }
            let mut origins = Vec::with_capacity(domains.len());
            for d in &domains {
                let origin = trusted_origin(d)?;
                if !origins.contains(&origin) {
                    origins.push(origin);
                }
            }
            self.trusted_domains = Some(origins);
        }
        Ok(self.into())
    }
}

impl From<ApplicationBody> for ApplicationFields {
    fn from(b: ApplicationBody) -> Self {
        Self {
            trusted_domains: b.trusted_domains,
            name: b.name,
            description: b.description,
            logo_url: b.logo_url,
            active: b.active,
            implicit_grant_enabled: b.implicit_grant_enabled,
            recent_enabled: b.recent_enabled,
            events_grant_enabled: b.events_grant_enabled,
            source: b.source,
        }
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("No application has this id.")
}

/// Succeeds when application `app` exists and belongs to developer `dev` (else 404, so
/// nobody learns about others' applications).
pub(crate) async fn owned(state: &AppState, dev: i64, app: &str) -> Result<(), ApiError> {
    db::applications::get(&state.db, dev, app)
        .await?
        .map(|_| ())
        .ok_or_else(not_found)
}

/// `GET /v1/applications`
#[utoipa::path(
    get,
    path = "/applications",
    tag = "management",
    summary = "List applications",
    operation_id = "applications_list",
    params(
        ("page" = Option<u32>, Query, minimum = 1, description = "1-based page."),
        ("page_size" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Items per page (at most 1000)."),
    ),
    responses(
        (status = 200, description = "The developer's applications.", body = crate::contract::ObjectList),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    Developer(dev): Developer,
    BaseUrl(base): BaseUrl,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let paging = Paging::from_query(&q)?;
    let active = parse_bool(q.get("active").map(String::as_str), "active")?;
    let (apps, total) =
        db::applications::list(&state.db, dev, active, paging.page, paging.page_size).await?;
    let objects = apps.iter().map(|a| wire::application(a, &base)).collect();
    Ok(Json(wire::counted("meta", objects, paging, total)?))
}

/// `POST /v1/applications`: a new application has one API key, returned once.
#[utoipa::path(
    post,
    path = "/applications",
    tag = "management",
    summary = "Create an application",
    operation_id = "applications_create",
    request_body(content = crate::contract::JsonObject, content_type = "application/json"),
    responses(
        (status = 201, description = "The application, with its first API key (shown only here).", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    Developer(dev): Developer,
    BaseUrl(base): BaseUrl,
    Json(body): Json<ApplicationBody>,
) -> Result<impl IntoResponse, ApiError> {
    let (app, key) = create_application(&state, dev, body.into_fields()?).await?;
    let mut json = wire::application(&app, &base);
    json["api_key"] = key.into();
    Ok((StatusCode::CREATED, Json(json)))
}

/// Creates an application of developer `dev` with its first API key (in clear: shown
/// once): the one rule for the management API and the portal.
pub(crate) async fn create_application(
    state: &AppState,
    dev: i64,
    fields: ApplicationFields,
) -> Result<(db::applications::Application, String), ApiError> {
    let name = fields.name.as_deref().map(str::trim).unwrap_or_default();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::invalid_parameters(
            "`name` is required (1-200 characters).",
        ));
    }
    Ok(db::applications::create(&state.db, dev, fields, state.cipher.as_deref()).await?)
}

/// `GET /v1/applications/{app}`
#[utoipa::path(
    get,
    path = "/applications/{app}",
    tag = "management",
    summary = "Get an application",
    operation_id = "applications_get",
    params(
        ("app" = String, Path, description = "Application id."),
    ),
    responses(
        (status = 200, description = "The application.", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    Developer(dev): Developer,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let app = db::applications::get(&state.db, dev, &id)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(wire::application(&app, &base)))
}

/// `PATCH /v1/applications/{app}`
#[utoipa::path(
    patch,
    path = "/applications/{app}",
    tag = "management",
    summary = "Update an application",
    operation_id = "applications_update",
    params(
        ("app" = String, Path, description = "Application id."),
    ),
    request_body(content = crate::contract::JsonObject, content_type = "application/json"),
    responses(
        (status = 200, description = "The application.", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn update(
    State(state): State<AppState>,
    Developer(dev): Developer,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
    Json(body): Json<ApplicationBody>,
) -> Result<Json<Value>, ApiError> {
    let app = update_application(&state, dev, &id, body).await?;
    Ok(Json(wire::application(&app, &base)))
}

/// Changes developer `dev`'s application `id` as `body` says: the one rule for the
/// management API and the portal.
pub(crate) async fn update_application(
    state: &AppState,
    dev: i64,
    id: &str,
    body: ApplicationBody,
) -> Result<db::applications::Application, ApiError> {
    if body
        .name
        .as_deref()
        .is_some_and(|n| n.trim().is_empty() || n.len() > 200)
    {
        return Err(ApiError::invalid_parameters(
            "`name` must be 1-200 characters.",
        ));
    }
    let app = db::applications::update(&state.db, dev, id, body.into_fields()?)
        .await?
        .ok_or_else(not_found)?;
    state.forget_application(id);
    Ok(app)
}

/// Deletes developer `dev`'s application `id` with everything it has.
pub(crate) async fn delete_application(
    state: &AppState,
    dev: i64,
    id: &str,
) -> Result<(), ApiError> {
    if db::applications::delete(&state.db, dev, id).await? {
        state.forget_application(id);
        Ok(())
    } else {
        Err(not_found())
    }
}

/// `DELETE /v1/applications/{app}`: its keys and accounts go with it.
#[utoipa::path(
    delete,
    path = "/applications/{app}",
    tag = "management",
    summary = "Delete an application",
    operation_id = "applications_delete",
    params(
        ("app" = String, Path, description = "Application id."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn delete(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_application(&state, dev, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
