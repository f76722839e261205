//! Storage API: shared links (create, list, get, patch, delete). The links themselves are
//! served by [`super::shared`].

use std::collections::HashMap;

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use chrono::{DateTime, Utc};
use cloudbridge_connectors::item_key;
use cloudbridge_shared::{
    db::{
        self,
        links::{Item, Link, LinkFields},
    },
    protocol::Op,
    storage::ItemKind,
    ApiError, ItemRef,
};
use serde::Deserialize;
use serde_json::Value;

use crate::{
    auth::AppCaller,
    extract::{parse_bool, BaseUrl, Json, Paging, Path, Query},
    routes::files::expect_entry,
    wire, AppState,
};

/// Body of link creation and changes. `password` and `expiration` may be `null` to remove.
#[derive(Debug, Default, Deserialize)]
pub struct LinkBody {
    file_id: Option<String>,
    direct: Option<bool>,
    active: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    password: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    expiration: Option<Option<String>>,
}

/// Tells a field set to `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl LinkBody {
    /// The row fields this body sets, checked (a password is hashed off the runtime, in one
    /// of the few hashing slots).
    async fn fields(self, state: &AppState) -> Result<LinkFields, ApiError> {
        let expiration = match self.expiration {
            Some(Some(raw)) if !raw.is_empty() => Some(Some(parse_time(&raw)?)),
            Some(_) => Some(None),
            None => None,
        };
        let password_hash = match self.password {
            Some(Some(p)) if !p.is_empty() => Some(Some(state.limits.hashing.hash(p).await?)),
            Some(_) => Some(None),
            None => None,
        };
        Ok(LinkFields {
            item: None,
            direct: self.direct,
            active: self.active,
            password_hash,
            expiration,
        })
    }
}

fn parse_time(raw: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::invalid_parameters("`expiration` must be an ISO 8601 time."))
}

/// The file a link is made for, which must exist on the service (and be a file), with
/// its identity there.
async fn linked_file(
    state: &AppState,
    account: &db::accounts::Account,
    file_id: &str,
) -> Result<Item, ApiError> {
    let not_a_file = || ApiError::invalid_parameters("`file_id` is not a file of this account.");
    let item = ItemRef::from_id(file_id).map_err(|_| not_a_file())?;
    let op = Op::Metadata { item };
    let found = match state.pipeline.call(Some(account.job_ref()), op).await {
        Ok(outcome) => expect_entry(outcome, ItemKind::File),
        Err(e) => Err(e),
    };
    let (entry, _) = found.map_err(|e| match e.status {
        404 | 400 => not_a_file(),
        _ => e,
    })?;
    Ok(Item {
        id: entry.wire_id(),
        path: entry.path.as_str().to_string(),
        key: item_key(&account.service, &entry),
    })
}

/// `POST /v1/accounts/{acct}/storage/links`
#[utoipa::path(
    post,
    path = "/accounts/{acct}/storage/links",
    tag = "storage",
    summary = "Create a link",
    operation_id = "links_create",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
    ),
    request_body(content = crate::contract::JsonObject, content_type = "application/json"),
    responses(
        (status = 201, description = "The link.", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path(acct): Path<String>,
    Json(body): Json<LinkBody>,
) -> Result<impl IntoResponse, ApiError> {
    let account = caller.account(&state, &acct).await?;
    let file_id = body
        .file_id
        .clone()
        .ok_or_else(|| ApiError::invalid_parameters("`file_id` is required."))?;
    let link = create_for(&state, &account, &file_id, body).await?;
    Ok((StatusCode::CREATED, Json(wire::link(&link, &base))))
}

/// Reads `link_options` (the File Picker's, for a link made with an upload or a copy): the
/// fields of a link's body; its `file_id` is ignored.
pub fn options(raw: Value) -> Result<LinkBody, ApiError> {
    let body: LinkBody = serde_json::from_value(raw)
        .map_err(|e| ApiError::invalid_parameters(format!("Invalid `link_options`: {e}")))?;
    Ok(LinkBody {
        file_id: None,
        ..body
    })
}

/// Creates a link to file `file_id` of `account` with the settings of `body`.
pub async fn create_for(
    state: &AppState,
    account: &db::accounts::Account,
    file_id: &str,
    body: LinkBody,
) -> Result<Link, ApiError> {
    let mut fields = body.fields(state).await?;
    fields.item = Some(linked_file(state, account, file_id).await?);
    Ok(db::links::create(&state.db, account.id, fields).await?)
}

/// `GET /v1/accounts/{acct}/storage/links?active=&page=&page_size=`
#[utoipa::path(
    get,
    path = "/accounts/{acct}/storage/links",
    tag = "storage",
    summary = "List links",
    operation_id = "links_list",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("page" = Option<u32>, Query, minimum = 1, description = "1-based page."),
        ("page_size" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Items per page (at most 1000)."),
        ("active" = Option<bool>, Query, description = "Only active (or inactive) links."),
    ),
    responses(
        (status = 200, description = "The account's links.", body = crate::contract::ObjectList),
        crate::contract::Errors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path(acct): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let account = caller.account(&state, &acct).await?;
    let active = parse_bool(q.get("active").map(String::as_str), "active")?;
    let paging = Paging::from_query(&q)?;
    let (links, total) =
        db::links::list(&state.db, account.id, active, paging.page, paging.page_size).await?;
    let objects = links.iter().map(|l| wire::link(l, &base)).collect();
    Ok(Json(wire::counted("storage", objects, paging, total)?))
}

async fn find(state: &AppState, account: i64, id: &str) -> Result<Link, ApiError> {
    db::links::get(&state.db, account, id)
        .await?
        .ok_or_else(|| ApiError::not_found("No link has this id."))
}

/// `GET /v1/accounts/{acct}/storage/links/{id}`
#[utoipa::path(
    get,
    path = "/accounts/{acct}/storage/links/{id}",
    tag = "storage",
    summary = "Get a link",
    operation_id = "links_get",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    responses(
        (status = 200, description = "The link.", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path((acct, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let account = caller.account(&state, &acct).await?;
    let link = find(&state, account.id, &id).await?;
    Ok(Json(wire::link(&link, &base)))
}

/// `PATCH /v1/accounts/{acct}/storage/links/{id}` (`active`, `password`, `expiration`,
/// `direct`, `file_id`)
#[utoipa::path(
    patch,
    path = "/accounts/{acct}/storage/links/{id}",
    tag = "storage",
    summary = "Update a link",
    operation_id = "links_update",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    request_body(content = crate::contract::JsonObject, content_type = "application/json"),
    responses(
        (status = 200, description = "The link.", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn update(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path((acct, id)): Path<(String, String)>,
    Json(body): Json<LinkBody>,
) -> Result<Json<Value>, ApiError> {
    let account = caller.account(&state, &acct).await?;
    find(&state, account.id, &id).await?;
    let item = match &body.file_id {
        Some(file_id) => Some(linked_file(&state, &account, file_id).await?),
        None => None,
    };
    let fields = LinkFields {
        item,
        ..body.fields(&state).await?
    };
    let link = db::links::update(&state.db, account.id, &id, fields)
        .await?
        .ok_or_else(|| ApiError::not_found("No link has this id."))?;
    Ok(Json(wire::link(&link, &base)))
}

/// `DELETE /v1/accounts/{acct}/storage/links/{id}`
#[utoipa::path(
    delete,
    path = "/accounts/{acct}/storage/links/{id}",
    tag = "storage",
    summary = "Delete a link",
    operation_id = "links_delete",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        crate::contract::Errors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: AppCaller,
    Path((acct, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let account = caller.account(&state, &acct).await?;
    if db::links::delete(&state.db, account.id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("No link has this id."))
    }
}
