//! Storage API: finding items — search, recent files, and ids from raw service ids.

use std::collections::HashMap;

use axum::extract::State;
use chrono::{DateTime, Utc};
use cloudbridge_shared::{
    db::accounts::Account,
    protocol::Op,
    storage::{native_id, ItemKind, Page, MAX_NATIVE_ID_BYTES},
    ApiError, ItemPath, ItemRef, Outcome,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    auth::AppCaller,
    extract::{BaseUrl, Json, Paging, Path, Query},
    page_token,
    routes::files::account_ref,
    wire, AppState,
};

/// `GET /v1/accounts/{acct}/storage/search?q=&parents=&page=&page_size=`
#[utoipa::path(
    get,
    path = "/accounts/{acct}/storage/search",
    tag = "storage",
    summary = "Search",
    operation_id = "lookup_search",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token; several ids (or bearer tokens) comma-separated."),
        ("page" = Option<String>, Query, description = "1-based page number, or the `next_page` value of the page before (one account; several accounts page by number)."),
        ("page_size" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Items per page (at most 1000)."),
        ("q" = Option<String>, Query, description = "What names contain (Google Drive, OneDrive, Dropbox and Box match it in their own search index, the other services by a bounded crawl, which sets `truncated` when it stopped short)."),
        ("parents" = Option<String>, Query, description = "Folder ids to search in, comma separated."),
    ),
    responses(
        (status = 200, description = "Items whose name matches.", body = crate::contract::ObjectList),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn search(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path(acct): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let text = q.get("q").map(|s| s.trim()).unwrap_or_default();
    if text.is_empty() {
        return Err(ApiError::invalid_parameters("`q` is required."));
    }
    let parents = q
        .get("parents")
        .map(|p| {
            p.split(',')
                .filter(|id| !id.is_empty())
                .map(|id| {
                    ItemRef::from_id(id).map_err(|_| {
                        ApiError::invalid_parameters(format!("`{id}` is not a folder id."))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    let requested = page_token::requested(state.cipher.as_deref(), &q, 100)?;
    let scope = page_token::search_scope(text, q.get("parents").map_or("", String::as_str));
    let op = Op::Search {
        q: text.to_string(),
        parents,
        page: requested.paging.page,
        page_size: requested.paging.page_size,
        from: None,
    };
    across_accounts(
        &state,
        &caller,
        &base,
        &acct,
        op,
        Some((&requested, &scope)),
    )
    .await
}

/// `GET /v1/accounts/{acct}/storage/recent?after=&page=&page_size=`: files, newest first.
#[utoipa::path(
    get,
    path = "/accounts/{acct}/storage/recent",
    tag = "storage",
    summary = "Recent files",
    operation_id = "lookup_recent",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token; several ids (or bearer tokens) comma-separated."),
        ("page" = Option<u32>, Query, minimum = 1, description = "1-based page."),
        ("page_size" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Items per page (at most 1000)."),
        ("after" = Option<String>, Query, description = "Only files modified after this time (ISO 8601)."),
    ),
    responses(
        (status = 200, description = "Files, newest first.", body = crate::contract::ObjectList),
        crate::contract::ServiceErrors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn recent(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path(acct): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let paging = Paging::from_query(&q)?;
    let after = match q.get("after").map(String::as_str) {
        None | Some("") => None,
        Some(raw) => match DateTime::parse_from_rfc3339(raw) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            // Kloudless answered an unreadable `after` with an empty list, not an error.
            Err(_) => {
                caller.account(&state, &acct).await?;
                return Ok(Json(wire::list(
                    "storage",
                    vec![],
                    1,
                    serde_json::Value::Null,
                    Some(0),
                )));
            }
        },
    };
    let op = Op::Recent {
        after,
        page: paging.page,
        page_size: paging.page_size,
    };
    across_accounts(&state, &caller, &base, &acct, op, None).await
}

/// How a list hands out positions in a service's own paging: the `page` asked for and
/// what its tokens are bound to (see [`page_token`]).
type Positions<'a> = Option<(&'a page_token::Requested<'a>, &'a str)>;

/// Runs a search or recent-files op on every account `{acct}` names (one, or several:
/// comma-separated ids, or `me` with several bearer tokens) at once, and answers one
/// list: page N of each account, `next_page` while any has more, and, when several
/// accounts were named, `errors` telling each account that failed (in the Kloudless
/// error format, with its `account`). Only when every account failed is the request
/// an error, the first account's. With `positions` (search), one account's pages link
/// on with sealed positions in the service's paging; several accounts page by number.
async fn across_accounts(
    state: &AppState,
    caller: &AppCaller,
    base: &str,
    acct: &str,
    op: Op,
    positions: Positions<'_>,
) -> Result<Json<Value>, ApiError> {
    let mut named = caller.accounts(state, acct).await?;
    if named.len() == 1 && !acct.contains(',') {
        let account = named.remove(0).1?;
        return listing(state, base, &account, op, positions).await;
    }
    if positions.is_some_and(|(requested, _)| requested.token.is_some()) {
        return Err(ApiError::invalid_parameters(
            "`page` must be a page number when several accounts are searched.",
        ));
    }
    let wanted = match &op {
        Op::Search { page, .. } | Op::Recent { page, .. } => *page,
        _ => 1,
    };
    let runs = named.into_iter().map(|(id, account)| {
        let op = op.clone();
        async move {
            let page = async {
                let account = account?;
                let service = account.service.clone();
                match state.pipeline.call(Some(account_ref(&account)), op).await {
                    Ok(Outcome::Page { page }) => Ok((page, service)),
                    // An account with fewer pages than another has nothing on this one.
                    Err(e) if e.status == 404 && wanted > 1 => Ok((
                        Page {
                            entries: Vec::new(),
                            page: wanted,
                            next_page: None,
                            total: None,
                            truncated: false,
                            next_from: None,
                        },
                        service,
                    )),
                    Err(e) => Err(e),
                    Ok(other) => Err(ApiError::internal(format_args!(
                        "unexpected outcome {other:?}"
                    ))),
                }
            };
            (id, page.await)
        }
    });
    let answers = futures::future::join_all(runs).await;
    let (mut objects, mut errors, mut first_error) = (Vec::new(), Vec::new(), None);
    let (mut succeeded, mut more, mut total, mut truncated) = (0, false, None::<i64>, false);
    for (id, answer) in answers {
        match answer {
            Ok((page, service)) => {
                succeeded += 1;
                more |= page.next_page.is_some();
                truncated |= page.truncated;
                if let Some(t) = page.total {
                    total = Some(total.unwrap_or(0) + t as i64);
                }
                objects.extend(
                    page.entries
                        .iter()
                        .map(|e| wire::service_entry(e, id, &service, base)),
                );
            }
            Err(e) => {
                errors.push(json!({
                    "account": id,
                    "status_code": e.status,
                    "error_code": e.code,
                    "message": e.message,
                }));
                first_error.get_or_insert(e);
            }
        }
    }
    if let (0, Some(e)) = (succeeded, first_error) {
        return Err(e);
    }
    let next = more.then_some(wanted + 1);
    let mut body = wire::list("storage", objects, wanted, next, total);
    body["errors"] = errors.into();
    body["truncated"] = truncated.into();
    Ok(Json(body))
}

/// Runs a search or recent-files op on one account and renders its page, with `total`
/// where the op counted and `truncated` saying whether a crawl was cut short. With
/// `positions`, the page may be asked for by a token and links on with one where the
/// service pages by itself.
async fn listing(
    state: &AppState,
    base: &str,
    account: &Account,
    mut op: Op,
    positions: Positions<'_>,
) -> Result<Json<Value>, ApiError> {
    let cipher = state.cipher.as_deref();
    if let (Some((requested, scope)), Op::Search { page, from, .. }) = (positions, &mut op) {
        (*page, *from) = requested.resolve(cipher, account.id, scope)?;
    }
    match state.pipeline.call(Some(account_ref(account)), op).await? {
        Outcome::Page { page } => {
            let objects = page
                .entries
                .iter()
                .map(|e| wire::account_entry(e, account, base))
                .collect();
            let total = page.total.map(|t| t as i64);
            let (this, next) = match positions {
                Some((requested, scope)) => (
                    requested.shown(page.page),
                    page_token::next(cipher, account.id, scope, &page),
                ),
                None => (page.page.into(), page.next_page.into()),
            };
            let mut body = wire::list("storage", objects, this, next, total);
            body["truncated"] = page.truncated.into();
            Ok(Json(body))
        }
        other => Err(ApiError::internal(format_args!(
            "unexpected outcome {other:?}"
        ))),
    }
}

/// Body of `POST /v1/accounts/{acct}/encode_raw_id`.
#[derive(Debug, Deserialize)]
pub struct RawIdBody {
    raw_id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `POST /v1/accounts/{acct}/encode_raw_id`: the Kloudless id of a service's own id (on
/// services that name items by id, that id; a path, starting with `/`, elsewhere and on
/// Dropbox, which takes both).
#[utoipa::path(
    post,
    path = "/accounts/{acct}/encode_raw_id",
    tag = "storage",
    summary = "Encode a raw id",
    operation_id = "lookup_encode_raw_id",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
    ),
    request_body(content = crate::contract::JsonObject, content_type = "application/json"),
    responses(
        (status = 200, description = "`{\"id\": ...}` of the service's own id.", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn encode_raw_id(
    State(state): State<AppState>,
    caller: AppCaller,
    Path(acct): Path<String>,
    Json(body): Json<RawIdBody>,
) -> Result<Json<Value>, ApiError> {
    encode(&state, &caller, &acct, body).await
}

/// `POST /v1/accounts/{acct}/storage/convert_id`: the older spelling of
/// [`encode_raw_id`].
#[utoipa::path(
    post,
    path = "/accounts/{acct}/storage/convert_id",
    tag = "storage",
    summary = "Convert a raw id",
    operation_id = "lookup_convert_id",
    params(
        ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
    ),
    request_body(content = crate::contract::JsonObject, content_type = "application/json"),
    responses(
        (status = 200, description = "`{\"id\": ...}` of the service's own id.", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("bearer" = []), ("api_key" = [])),
)]
pub async fn convert_id(
    State(state): State<AppState>,
    caller: AppCaller,
    Path(acct): Path<String>,
    Json(body): Json<RawIdBody>,
) -> Result<Json<Value>, ApiError> {
    encode(&state, &caller, &acct, body).await
}

async fn encode(
    state: &AppState,
    caller: &AppCaller,
    acct: &str,
    body: RawIdBody,
) -> Result<Json<Value>, ApiError> {
    let account = caller.account(state, acct).await?;
    let raw_id = body
        .raw_id
        .ok_or_else(|| ApiError::invalid_parameters("`raw_id` is required."))?;
    let kind = body.kind.unwrap_or_else(|| "file".into());
    let item_kind = match kind.as_str() {
        "file" => ItemKind::File,
        "folder" => ItemKind::Folder,
        _ => {
            return Err(ApiError::invalid_parameters(
                "`type` must be `file` or `folder`.",
            ))
        }
    };
    let by_id = cloudbridge_connectors::names_items_by_id(&account.service);
    if by_id && !raw_id.starts_with('/') {
        if raw_id.is_empty()
            || raw_id.len() > MAX_NATIVE_ID_BYTES
            || raw_id.contains(char::is_control)
        {
            return Err(ApiError::invalid_parameters(
                "`raw_id` is not an id of this service.",
            ));
        }
        return Ok(Json(json!({
            "id": native_id(&raw_id, item_kind),
            "raw_id": raw_id,
            "type": kind,
            "account": account.id,
            "api": "storage",
        })));
    }
    let trimmed = raw_id.trim_matches('/');
    let path = if trimmed.is_empty() {
        ItemPath::root()
    } else {
        ItemPath::parse(trimmed)
            .map_err(|_| ApiError::invalid_parameters("`raw_id` is not a path of this account."))?
    };
    Ok(Json(json!({
        "id": path.id(),
        "raw_id": raw_id,
        "type": kind,
        "account": account.id,
        "api": "storage",
    })))
}
