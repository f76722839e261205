//! Management API: `/v1/applications/{app}/upload_locations` (DeveloperKey). An upload
//! location (Kloudless's `fe_upload_location`) is a folder of one of the application's own
//! accounts: where the File Picker's computer uploads (`/drop/{app_id}`) and its copies to
//! the upload location land.

use std::collections::HashMap;

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use cloudbridge_connectors::parts;
use cloudbridge_shared::{
    db::{
        self,
        accounts::Account,
        upload_locations::{CreateError, UploadLocation},
    },
    protocol::Op,
    storage::ItemKind,
    ApiError, ItemRef,
};
use serde::Deserialize;
use serde_json::Value;

use crate::{
    auth::{account_of, Developer},
    extract::{BaseUrl, Json, Paging, Path, Query},
    routes::{applications::owned, files::expect_entry},
    wire, AppState,
};

/// Most upload locations one application may have.
pub(crate) const MAX_LOCATIONS: i64 = 100;

/// Body of `POST /v1/applications/{app}/upload_locations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationBody {
    /// An account of the application (a number, or its decimal text).
    account_id: Option<Value>,
    /// A folder of that account (default: its root).
    parent_id: Option<String>,
}

fn not_found() -> ApiError {
    ApiError::not_found("No upload location has this id.")
}

/// An account id given as a number or as its decimal text.
pub(super) fn account_id(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str()?.trim().parse().ok())
}

/// The folder `parent_id` of `account`, which must exist and be a folder, by its
/// canonical id (asked of the account's service, like any metadata request).
async fn existing_folder(
    state: &AppState,
    account: &Account,
    parent_id: &str,
) -> Result<String, ApiError> {
    let missing = || {
        ApiError::new(
            400,
            "invalid_parent_folder",
            "The parent folder does not exist in this account.",
        )
    };
    let item = ItemRef::from_id(parent_id).map_err(|_| missing())?;
    let outcome = state
        .pipeline
        .call(Some(account.job_ref()), Op::Metadata { item })
        .await;
    let (entry, _) = outcome
        .and_then(|o| expect_entry(o, ItemKind::Folder))
        .map_err(|e| match e.status {
            404 => missing(),
            _ => e,
        })?;
    Ok(entry.wire_id())
}

/// Where an upload for `application` lands and the account that holds it: the location
/// in `account` at folder `folder` (either may be left out: then the oldest location that
/// matches the rest). 404 when the application has no upload location at all; 403 when it
/// has, but none matches what the request names; 403 `account_inactive` when the
/// location's account is inactive.
pub(super) async fn resolve(
    state: &AppState,
    application: &str,
    account: Option<i64>,
    folder: Option<&str>,
) -> Result<(UploadLocation, Account), ApiError> {
    let found = db::upload_locations::find(&state.db, application, account, folder).await?;
    let Some(location) = found else {
        let named = account.is_some() || folder.is_some();
        if named && db::upload_locations::count(&state.db, application).await? > 0 {
            return Err(ApiError::forbidden(
                "The upload location named is not one of this application's.",
            ));
        }
        return Err(ApiError::not_found(
            "This application has no upload location.",
        ));
    };
    let holder = account_of(state, application, location.account_id)
        .await?
        .ok_or_else(|| ApiError::internal("an upload location's account is missing"))?;
    if !holder.active {
        return Err(ApiError::new(
            403,
            "account_inactive",
            "The upload location's account is inactive.",
        ));
    }
    Ok((location, holder))
}

/// `GET /v1/applications/{app}/upload_locations`
#[utoipa::path(
    get,
    path = "/applications/{app}/upload_locations",
    tag = "management",
    summary = "List upload locations",
    operation_id = "upload_locations_list",
    params(
        ("app" = String, Path, description = "Application id."),
        ("page" = Option<u32>, Query, minimum = 1, description = "1-based page."),
        ("page_size" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Items per page (at most 1000)."),
    ),
    responses(
        (status = 200, description = "The application's upload locations.", body = crate::contract::ObjectList),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    Developer(dev): Developer,
    BaseUrl(base): BaseUrl,
    Path(app): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    owned(&state, dev, &app).await?;
    let paging = Paging::from_query(&q)?;
    let locations =
        db::upload_locations::list(&state.db, &app, paging.page, paging.page_size).await?;
    let total = db::upload_locations::count(&state.db, &app).await?;
    let objects = locations
        .iter()
        .map(|l| wire::upload_location(l, &base))
        .collect();
    Ok(Json(wire::counted("meta", objects, paging, total)?))
}

/// `POST /v1/applications/{app}/upload_locations` `{account_id, parent_id}`: the folder
/// must exist in the account, an account of this application.
#[utoipa::path(
    post,
    path = "/applications/{app}/upload_locations",
    tag = "management",
    summary = "Add an upload location",
    operation_id = "upload_locations_create",
    params(
        ("app" = String, Path, description = "Application id."),
    ),
    request_body(content = crate::contract::JsonObject, content_type = "application/json"),
    responses(
        (status = 201, description = "The upload location.", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
    security(("developer_key" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    Developer(dev): Developer,
    BaseUrl(base): BaseUrl,
    Path(app): Path<String>,
    Json(body): Json<LocationBody>,
) -> Result<impl IntoResponse, ApiError> {
    let location = add(
        &state,
        dev,
        &app,
        body.account_id.as_ref(),
        body.parent_id.as_deref(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(wire::upload_location(&location, &base)),
    ))
}

/// Adds folder `parent_id` (default: the root) of the account `account_id` (a number
/// or its decimal text) of developer `dev`'s application `app` as an upload location: the
/// account must be an active one of the application, the folder must exist in it, and
/// the application may have at most [`MAX_LOCATIONS`]. The one rule for the management
/// API and the portal.
pub(crate) async fn add(
    state: &AppState,
    dev: i64,
    app: &str,
    account_id: Option<&Value>,
    parent_id: Option<&str>,
) -> Result<UploadLocation, ApiError> {
    owned(state, dev, app).await?;
    let not_ours =
        || ApiError::invalid_parameters("`account_id` is not an account of this application.");
    let id = account_id
        .ok_or_else(|| ApiError::invalid_parameters("`account_id` is required."))
        .and_then(|v| self::account_id(v).ok_or_else(not_ours))?;
    let account = account_of(state, app, id).await?.ok_or_else(not_ours)?;
    if !account.active {
        return Err(ApiError::invalid_parameters("The account is inactive."));
    }
    let parent_id = existing_folder(state, &account, parent_id.unwrap_or("root")).await?;
    if db::upload_locations::count(&state.db, app).await? >= MAX_LOCATIONS {
        return Err(ApiError::invalid_parameters(format!(
            "An application has at most {MAX_LOCATIONS} upload locations."
        )));
    }
    db::upload_locations::create(&state.db, app, account.id, &parent_id)
        .await
        .map_err(|e| match e {
            CreateError::Exists => ApiError::new(
                409,
                "conflict",
                "This folder is already an upload location of the application.",
            ),
            CreateError::Db(e) => e.into(),
        })
}

/// The location `id` of application `app`, which must be the developer's.
async fn find(state: &AppState, dev: i64, app: &str, id: &str) -> Result<UploadLocation, ApiError> {
    owned(state, dev, app).await?;
    let id = id.parse::<i64>().map_err(|_| not_found())?;
    db::upload_locations::get(&state.db, app, id)
        .await?
        .ok_or_else(not_found)
}

/// `GET /v1/applications/{app}/upload_locations/{id}`
#[utoipa::path(
    get,
    path = "/applications/{app}/upload_locations/{id}",
    tag = "management",
    summary = "Get an upload location",
    operation_id = "upload_locations_get",
    params(
        ("app" = String, Path, description = "Application id."),
        ("id" = String, Path, description = "Upload location id."),
    ),
    responses(
        (status = 200, description = "The upload location.", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    Developer(dev): Developer,
    BaseUrl(base): BaseUrl,
    Path((app, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let location = find(&state, dev, &app, &id).await?;
    Ok(Json(wire::upload_location(&location, &base)))
}

/// `DELETE /v1/applications/{app}/upload_locations/{id}`: unfinished uploads to it are
/// discarded; files already uploaded stay where they are.
#[utoipa::path(
    delete,
    path = "/applications/{app}/upload_locations/{id}",
    tag = "management",
    summary = "Remove an upload location",
    operation_id = "upload_locations_delete",
    params(
        ("app" = String, Path, description = "Application id."),
        ("id" = String, Path, description = "Upload location id."),
    ),
    responses(
        (status = 204, description = "Removed."),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn delete(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path((app, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    remove(&state, dev, &app, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes location `id` of developer `dev`'s application `app`, discarding the parts of
/// unfinished uploads to it (404 when there is no such location): the one rule for the
/// management API and the portal.
pub(crate) async fn remove(
    state: &AppState,
    dev: i64,
    app: &str,
    id: &str,
) -> Result<(), ApiError> {
    let location = find(state, dev, app, id).await?;
    let sessions = db::upload_locations::delete(&state.db, app, location.id)
        .await?
        .ok_or_else(not_found)?;
    for session in sessions {
        parts::remove(&state.data_root, session).await?;
    }
    Ok(())
}
