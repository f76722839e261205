//! Storage API: rename or move (`PATCH files|folders/{id}`) and copy
//! (`POST files|folders/{id}/copy`), within one account or, for files, to another account
//! of the same application.

use std::collections::HashMap;

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use cloudbridge_shared::{
    db::{self, accounts::Account},
    protocol::Op,
    storage::ItemKind,
    ApiError, ItemPath,
};
use serde::Deserialize;

use crate::{
    auth::AppCaller,
    extract::{BaseUrl, Json, Query},
    routes::{
        files::{account_ref, expect_entry, fetch, store},
        folders::parent_path,
    },
    tasks::{self, Answer},
    wire, AppState,
};

/// Body of a move or copy.
#[derive(Debug, Deserialize)]
pub struct RelocateBody {
    name: Option<String>,
    parent_id: Option<String>,
    /// Destination account (Kloudless cross-account moves and copies).
    account: Option<serde_json::Value>,
}

/// Runs a move or copy now, or as a task when the client asked for one.
#[allow(clippy::too_many_arguments)]
async fn deferrable(
    state: AppState,
    caller: AppCaller,
    base: String,
    ids: (String, String),
    kind: ItemKind,
    body: RelocateBody,
    copy: bool,
    deferred: bool,
) -> Result<Response, ApiError> {
    let account = caller.account(&state, &ids.0).await?.id;
    let operation = relocate(state.clone(), caller, base, ids, kind, body, copy);
    tasks::run(&state, account, deferred, operation).await
}

async fn relocate(
    state: AppState,
    caller: AppCaller,
    base: String,
    (acct, id): (String, String),
    kind: ItemKind,
    body: RelocateBody,
    copy: bool,
) -> Answer {
    let account = caller.account(&state, &acct).await?;
    let other = match &body.account {
        None => None,
        Some(v) => {
            let id = v
                .as_i64()
                .or_else(|| v.as_str()?.parse().ok())
                .ok_or_else(|| ApiError::invalid_parameters("`account` must be an account id."))?;
            // Resolved like any account id: another application's account is not found.
            if id == account.id {
                None
            } else {
                Some(caller.account(&state, &id.to_string()).await?)
            }
        }
    };
    if !copy && other.is_none() && body.name.is_none() && body.parent_id.is_none() {
        return Err(ApiError::invalid_parameters(
            "Give a new `name`, `parent_id`, or both.",
        ));
    }
    let path = ItemPath::from_id(&id)?;
    let current_parent = path
        .parent()
        .ok_or_else(|| ApiError::forbidden("The root folder cannot be moved."))?;
    let parent = match body.parent_id.as_deref() {
        Some(p) => parent_path(Some(p))?,
        // In another account the source's folder may not exist: default to its root.
        None if other.is_some() => ItemPath::root(),
        None => current_parent,
    };
    let name = body.name.unwrap_or_else(|| path.name().to_string());
    if let Some(destination) = other {
        return across(
            &state,
            &account,
            &destination,
            kind,
            path,
            parent,
            name,
            copy,
            &base,
        )
        .await;
    }
    let from = path.id();
    let op = Op::Relocate {
        path,
        kind,
        parent,
        name,
        copy,
    };
    let outcome = state.pipeline.call(Some(account_ref(&account)), op).await?;
    let (entry, _) = expect_entry(outcome, kind)?;
    if !copy && kind == ItemKind::File {
        db::properties::follow_move(&state.db, account.id, &from, &entry.path.id()).await?;
    }
    let status = if copy {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, wire::entry(&entry, account.id, &base)))
}

/// A file moved or copied to another account of the application: streamed by this tier
/// from one service to the other (the same path as a download plus an upload), then, for
/// a move, deleted at the source. Names taken at the destination get a free variant.
#[allow(clippy::too_many_arguments)]
async fn across(
    state: &AppState,
    source: &Account,
    destination: &Account,
    kind: ItemKind,
    path: ItemPath,
    parent: ItemPath,
    name: String,
    copy: bool,
    base: &str,
) -> Answer {
    if kind == ItemKind::Folder {
        return Err(ApiError::not_implemented(
            "Folders cannot move between accounts yet.",
        ));
    }
    let (from, to) = (account_ref(source), account_ref(destination));
    let (download, _) = fetch(state, &from, path.clone()).await?;
    let entry = store(
        state,
        &to,
        parent,
        name,
        false,
        download.body,
        download.length,
    )
    .await?;
    if !copy {
        let delete = Op::Delete {
            path,
            kind,
            recursive: false,
        };
        state.pipeline.call(Some(from), delete).await?;
    }
    let status = if copy {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, wire::entry(&entry, destination.id, base)))
}

/// `PATCH files|folders/{id}` (rename and/or move: `COPY` false) and
/// `POST files|folders/{id}/copy` (`COPY` true), of a folder when `FOLDER`.
pub async fn handle<const FOLDER: bool, const COPY: bool>(
    State(state): State<AppState>,
    caller: AppCaller,
    BaseUrl(base): BaseUrl,
    Path(ids): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Json(body): Json<RelocateBody>,
) -> Result<Response, ApiError> {
    let kind = if FOLDER {
        ItemKind::Folder
    } else {
        ItemKind::File
    };
    let deferred = tasks::wanted(&headers, &q);
    deferrable(state, caller, base, ids, kind, body, COPY, deferred).await
}
