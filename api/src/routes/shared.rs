//! Serving shared links at `/l/{id}` (no API credentials: the unguessable id is the
//! credential). Inactive or expired links, and links of disabled accounts, serve nothing;
//! nor does a link whose file is gone, even if another file now has its path;
//! a password is asked for on a small form and checked against its argon2 hash (a few
//! attempts per link, then 429; a few hashes at once per process).

use std::collections::HashMap;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{Html, IntoResponse, Response},
};
use chrono::Utc;
use cloudbridge_connectors::item_key;
use cloudbridge_shared::{
    db::{self, accounts::Account, links::Link},
    storage::ItemKind,
    ApiError, Entry, ItemRef,
};

use crate::{
    extract::{Form, Path, Query},
    html::{self, escape},
    routes::files::{account_ref, expect_entry, plan_download, stream},
    AppState,
};
use cloudbridge_shared::protocol::Op;

/// The link, if it may serve now.
async fn usable(state: &AppState, id: &str) -> Result<(Link, Account), ApiError> {
    let link = db::links::find(&state.db, id).await?.ok_or_else(gone)?;
    if !link.active {
        return Err(ApiError::forbidden("This link is not active."));
    }
    if link.expiration.is_some_and(|t| t <= Utc::now()) {
        return Err(ApiError::forbidden("This link has expired."));
    }
    let account = db::accounts::find(&state.db, link.account_id)
        .await?
        .filter(|a| a.active && a.enabled)
        .ok_or_else(gone)?;
    Ok((link, account))
}

/// Serves the link's file, if it is still the file the link was made for.
async fn serve(
    state: &AppState,
    link: &Link,
    account: &Account,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let source = account_ref(account);
    let item = ItemRef::from_id(&link.item_id)?;
    let (plan, entry) = plan_download(state, &source, item).await?;
    same_item(state, link, account, &entry).await?;
    stream(state, &source, plan, entry, headers).await
}

/// A link names the item it was made for: a later item at the same path (the file
/// deleted and another one put there, through Cloudbridge or not) is not it, and the link
/// ends. Links made before identities were recorded are not checked.
async fn same_item(
    state: &AppState,
    link: &Link,
    account: &Account,
    entry: &Entry,
) -> Result<(), ApiError> {
    let Some(made_for) = &link.item_key else {
        return Ok(());
    };
    if item_key(&account.service, entry).as_ref() == Some(made_for) {
        return Ok(());
    }
    if let Err(e) = db::links::forget(&state.db, &link.id).await {
        tracing::warn!(error = %e, "link to a replaced file not deleted");
    }
    Err(gone())
}

fn gone() -> ApiError {
    ApiError::not_found("This link does not exist.")
}

/// `GET /l/{id}`: the file (direct links, or `?download=true`), a landing page, or the
/// password form.
#[utoipa::path(
    get,
    path = "/l/{id}",
    tag = "links",
    summary = "Open a shared link",
    operation_id = "shared_open",
    params(
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    responses(
        (status = 200, description = "The file (direct links), a landing page, or a password form.", body = crate::contract::Bytes, content_type = "*/*"),
        crate::contract::PublicErrors,
    ),
)]
pub async fn open(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (link, account) = usable(&state, &id).await?;
    if link.password_hash.is_some() {
        return Ok(password_form(false));
    }
    if link.direct || q.get("download").is_some_and(|v| v == "true" || v == "1") {
        return serve(&state, &link, &account, &headers).await;
    }
    let item = ItemRef::from_id(&link.item_id)?;
    let outcome = state
        .pipeline
        .call(Some(account_ref(&account)), Op::Metadata { item })
        .await?;
    let (entry, _) = expect_entry(outcome, ItemKind::File)?;
    same_item(&state, &link, &account, &entry).await?;
    let name = escape(entry.path.name());
    let size = entry.size.unwrap_or(0);
    Ok(Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{name}</title></head>\
         <body><h1>{name}</h1><p>{size} bytes</p>\
         <p><a href=\"?download=true\">Download</a></p></body></html>"
    ))
    .into_response())
}

/// `POST /l/{id}` with form field `password`: the file, or the form again.
#[utoipa::path(
    post,
    path = "/l/{id}",
    tag = "links",
    summary = "Unlock a shared link",
    operation_id = "shared_unlock",
    params(
        ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
    ),
    request_body(content = crate::contract::JsonObject, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The file, once the password is right.", body = crate::contract::Bytes, content_type = "*/*"),
        crate::contract::PublicErrors,
    ),
)]
pub async fn unlock(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form,
) -> Result<Response, ApiError> {
    let (link, account) = usable(&state, &id).await?;
    if let Some(hash) = link.password_hash.clone() {
        state.limits.link_password(&link.id)?;
        let given = form.get("password").cloned().unwrap_or_default();
        if !state.limits.hashing.verify(given, hash).await? {
            return Ok(password_form(true));
        }
    }
    serve(&state, &link, &account, &headers).await
}

fn password_form(wrong: bool) -> Response {
    let (status, note) = if wrong {
        (StatusCode::FORBIDDEN, "<p>Wrong password.</p>")
    } else {
        (StatusCode::UNAUTHORIZED, "")
    };
    let body = format!(
        "{note}<form method=\"post\">\
         <label>Password <input type=\"password\" name=\"password\" autofocus></label>\
         <button type=\"submit\">Open</button></form>"
    );
    html::page(status, "Password required", &body)
}
