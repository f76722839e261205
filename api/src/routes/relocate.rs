//! Storage API: rename or move (`PATCH files|folders/{id}`) and copy
//! (`POST files|folders/{id}/copy`), within one account or to another account of the same
//! application — among them the application's upload location (`{"account":
//! "upload_location"}`, the File Picker's `copy_to_upload_location`).

use std::collections::{HashMap, VecDeque};

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use cloudbridge_shared::{
    db::{self, accounts::Account},
    protocol::{AccountRef, Op},
    storage::ItemKind,
    ApiError, Entry, ItemRef, Outcome,
};
use serde::Deserialize;

use crate::{
    auth::AppCaller,
    extract::{flag, BaseUrl, Json, Path, Query},
    routes::{
        files::{account_ref, expect_entry, fetch, store},
        folders::parent_path,
        links::{self, LinkBody},
        upload_locations::{self, account_id},
    },
    tasks::{self, Answer},
    wire, AppState,
};

/// Body of a move or copy.
#[derive(Debug, Deserialize)]
pub struct RelocateBody {
    name: Option<String>,
    parent_id: Option<String>,
    /// Destination account (Kloudless cross-account moves and copies), or
    /// `"upload_location"`.
    account: Option<serde_json::Value>,
    /// With `"account": "upload_location"`: the location's account (with `parent_id`, its
    /// folder).
    drop_account: Option<serde_json::Value>,
    /// With `"account": "upload_location"`: a Developer Portal upload location URI.
    drop_uri: Option<String>,
}

/// The File Picker's name for the destination of `copy_to_upload_location`.
const UPLOAD_LOCATION: &str = "upload_location";

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
    (deferred, link): (bool, Option<LinkBody>),
) -> Result<Response, ApiError> {
    let account = caller.account(&state, &ids.0).await?.id;
    let to_upload_location =
        body.account.as_ref().and_then(|a| a.as_str()) == Some(UPLOAD_LOCATION);
    if to_upload_location {
        let operation =
            copy_to_upload_location(state.clone(), caller, base, ids, kind, body, copy, link);
        return tasks::run(&state, account, deferred, operation).await;
    }
    let operation = relocate(state.clone(), caller, base, ids, kind, body, copy);
    tasks::run(&state, account, deferred, operation).await
}

/// A copy into the application's upload location: the one `drop_account` and `parent_id`
/// name, or its first (across accounts, under a free name; a file may get a link too).
#[allow(clippy::too_many_arguments)]
async fn copy_to_upload_location(
    state: AppState,
    caller: AppCaller,
    base: String,
    (acct, id): (String, String),
    kind: ItemKind,
    body: RelocateBody,
    copy: bool,
    link: Option<LinkBody>,
) -> Answer {
    if body.drop_uri.is_some() {
        return Err(ApiError::not_implemented(
            "Upload locations by `drop_uri` (the Developer Portal's) are not supported; name \
             the location with `drop_account` and `parent_id`, or leave both out.",
        ));
    }
    if !copy {
        return Err(ApiError::invalid_parameters(
            "Items can be copied to the upload location, not moved.",
        ));
    }
    let account = caller.account(&state, &acct).await?;
    let drop_account = match &body.drop_account {
        None => None,
        Some(v) => Some(account_id(v).ok_or_else(|| {
            ApiError::invalid_parameters("`drop_account` must be an account id.")
        })?),
    };
    let folder = match body.parent_id.as_deref() {
        None => None,
        Some(p) => Some(parent_path(Some(p))?.id()),
    };
    let application = caller.application();
    let (location, destination) =
        upload_locations::resolve(&state, application, drop_account, folder.as_deref()).await?;
    let item = ItemRef::from_id(&id)?;
    if item.is_root() {
        return Err(ApiError::forbidden("The root folder cannot be copied."));
    }
    let parent = parent_path(Some(&location.parent_id))?;
    let (status, mut copied) = across(
        &state,
        &account,
        &destination,
        kind,
        item,
        parent,
        body.name,
        true,
        &base,
    )
    .await?;
    if let (Some(options), ItemKind::File) = (link, kind) {
        let file_id = copied["id"].as_str().unwrap_or_default().to_string();
        let made = links::create_for(&state, &destination, &file_id, options).await?;
        copied["link"] = wire::link(&made, &base)["url"].clone();
    }
    Ok((status, copied))
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
    let item = ItemRef::from_id(&id)?;
    if item.is_root() {
        return Err(ApiError::forbidden("The root folder cannot be moved."));
    }
    let parent = body
        .parent_id
        .as_deref()
        .map(|p| parent_path(Some(p)))
        .transpose()?;
    if let Some(destination) = other {
        // In another account the source's folder may not exist: default to its root.
        let parent = parent.unwrap_or_else(ItemRef::root);
        return across(
            &state,
            &account,
            &destination,
            kind,
            item,
            parent,
            body.name,
            copy,
            &base,
        )
        .await;
    }
    let op = Op::Relocate {
        item,
        kind,
        parent,
        name: body.name,
        copy,
    };
    let outcome = state.pipeline.call(Some(account_ref(&account)), op).await?;
    let (entry, _) = expect_entry(outcome, kind)?;
    if !copy && kind == ItemKind::File {
        // Kept by the id the caller used; on services naming items by id that id stays
        // (only the links' paths change), and what was kept by a path's id moves to it.
        let (to, path) = (entry.wire_id(), entry.path.as_str());
        db::properties::follow_move(&state.db, account.id, &id, &to, path).await?;
    }
    let status = if copy {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, wire::account_entry(&entry, &account, &base)))
}

/// An item moved or copied to another account of the application: streamed by this tier
/// from one service to the other (downloads plus uploads; a folder's tree is recreated
/// folder by folder), then, for a move, deleted at the source — only once everything
/// arrived, so a failure part-way leaves the source whole. Files whose names are taken at
/// the destination get a free variant; a folder whose name is taken is a 409.
#[allow(clippy::too_many_arguments)]
async fn across(
    state: &AppState,
    source: &Account,
    destination: &Account,
    kind: ItemKind,
    item: ItemRef,
    parent: ItemRef,
    name: Option<String>,
    copy: bool,
    base: &str,
) -> Answer {
    let (from, to) = (account_ref(source), account_ref(destination));
    let outcome = state
        .pipeline
        .call(Some(from.clone()), Op::Metadata { item })
        .await?;
    let (found, _) = expect_entry(outcome, kind)?;
    let name = name.unwrap_or_else(|| found.path.name().to_string());
    let entry = match kind {
        ItemKind::File => {
            copy_file_across(state, &from, &to, found.item_ref(), parent, name).await?
        }
        ItemKind::Folder => {
            copy_tree_across(state, &from, &to, found.item_ref(), parent, name).await?
        }
    };
    if !copy {
        let delete = Op::Delete {
            item: found.item_ref(),
            kind,
            recursive: true,
        };
        state.pipeline.call(Some(from), delete).await?;
        // Gone from this account: so are its links here.
        let folder = (kind == ItemKind::Folder).then_some(found.path.as_str());
        let mut ids = vec![found.wire_id(), found.path.id()];
        ids.dedup();
        for id in &ids {
            db::links::forget_item(&state.db, source.id, id, folder).await?;
        }
    }
    let status = if copy {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, wire::account_entry(&entry, destination, base)))
}

async fn copy_file_across(
    state: &AppState,
    from: &AccountRef,
    to: &AccountRef,
    item: ItemRef,
    parent: ItemRef,
    name: String,
) -> Result<Entry, ApiError> {
    let (download, _) = fetch(state, from, item).await?;
    store(
        state,
        to,
        parent,
        name,
        false,
        download.body,
        download.length,
    )
    .await
}

/// Page size when reading a source folder being copied.
const TREE_PAGE: u32 = 1000;

async fn copy_tree_across(
    state: &AppState,
    from: &AccountRef,
    to: &AccountRef,
    item: ItemRef,
    parent: ItemRef,
    name: String,
) -> Result<Entry, ApiError> {
    let create = |parent: ItemRef, name: String, conflict_if_exists: bool| async move {
        let op = Op::CreateFolder {
            parent,
            name,
            conflict_if_exists,
        };
        let outcome = state.pipeline.call(Some(to.clone()), op).await?;
        expect_entry(outcome, ItemKind::Folder).map(|(entry, _)| entry)
    };
    let top = create(parent, name, true).await?;
    let mut folders = VecDeque::from([(item, top.item_ref())]);
    while let Some((source, target)) = folders.pop_front() {
        let (mut page, mut at) = (1, None);
        loop {
            let op = Op::ListFolder {
                item: source.clone(),
                page,
                page_size: TREE_PAGE,
                from: at,
                recursive: false,
            };
            let Outcome::Page { page: listed } =
                state.pipeline.call(Some(from.clone()), op).await?
            else {
                return Err(ApiError::internal("listing answered something else"));
            };
            for entry in listed.entries {
                let name = entry.path.name().to_string();
                match entry.kind {
                    ItemKind::Folder => {
                        let made = create(target.clone(), name, false).await?;
                        folders.push_back((entry.item_ref(), made.item_ref()));
                    }
                    ItemKind::File => {
                        let source = entry.item_ref();
                        copy_file_across(state, from, to, source, target.clone(), name).await?;
                    }
                }
            }
            match listed.next_page {
                Some(next) => (page, at) = (next, listed.next_from),
                None => break,
            }
        }
    }
    Ok(top)
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
    // `link=true` (with `link_options`): a link to a file copied to the upload location.
    let link = match flag(&q, "link")? {
        false => None,
        true => {
            let raw = q.get("link_options").filter(|o| !o.is_empty());
            let options = match raw {
                None => serde_json::json!({}),
                Some(raw) => serde_json::from_str(raw).map_err(|_| {
                    ApiError::invalid_parameters("`link_options` must be a JSON object.")
                })?,
            };
            Some(links::options(options)?)
        }
    };
    deferrable(state, caller, base, ids, kind, body, COPY, (deferred, link)).await
}

/// The four routes of [`handle`], one handler each (the contract documents each route).
macro_rules! relocation {
    ($($(#[$doc:meta])* $name:ident = ($folder:literal, $copy:literal);)*) => {$(
        $(#[$doc])*
        pub async fn $name(
            state: State<AppState>,
            caller: AppCaller,
            base: BaseUrl,
            ids: Path<(String, String)>,
            q: Query<HashMap<String, String>>,
            headers: HeaderMap,
            body: Json<RelocateBody>,
        ) -> Result<Response, ApiError> {
            handle::<$folder, $copy>(state, caller, base, ids, q, headers, body).await
        }
    )*};
}

relocation! {
    /// `PATCH folders/{id}`: renames and/or moves a folder.
    #[utoipa::path(
        patch,
        path = "/accounts/{acct}/storage/folders/{id}",
        tag = "storage",
        summary = "Rename or move a folder",
        operation_id = "relocate_move_folder",
        params(
            ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
            ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
        ),
        request_body(content = crate::contract::JsonObject, content_type = "application/json"),
        responses(
            (status = 200, description = "The folder where it is now (202 with a task when asynchronous).", body = crate::contract::JsonObject),
            crate::contract::ServiceErrors,
        ),
        security(("bearer" = []), ("api_key" = [])),
    )]
    move_folder = (true, false);
    /// `POST folders/{id}/copy`.
    #[utoipa::path(
        post,
        path = "/accounts/{acct}/storage/folders/{id}/copy",
        tag = "storage",
        summary = "Copy a folder",
        operation_id = "relocate_copy_folder",
        params(
            ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
            ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
        ),
        request_body(content = crate::contract::JsonObject, content_type = "application/json"),
        responses(
            (status = 201, description = "The copy (202 with a task when asynchronous).", body = crate::contract::JsonObject),
            crate::contract::ServiceErrors,
        ),
        security(("bearer" = []), ("api_key" = [])),
    )]
    copy_folder = (true, true);
    /// `PATCH files/{id}`: renames and/or moves a file.
    #[utoipa::path(
        patch,
        path = "/accounts/{acct}/storage/files/{id}",
        tag = "storage",
        summary = "Rename or move a file",
        operation_id = "relocate_move_file",
        params(
            ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
            ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
        ),
        request_body(content = crate::contract::JsonObject, content_type = "application/json"),
        responses(
            (status = 200, description = "The file where it is now (202 with a task when asynchronous).", body = crate::contract::JsonObject),
            crate::contract::ServiceErrors,
        ),
        security(("bearer" = []), ("api_key" = [])),
    )]
    move_file = (false, false);
    /// `POST files/{id}/copy`.
    #[utoipa::path(
        post,
        path = "/accounts/{acct}/storage/files/{id}/copy",
        tag = "storage",
        summary = "Copy a file",
        operation_id = "relocate_copy_file",
        params(
            ("acct" = String, Path, description = "Account id, or `me` with a bearer token."),
            ("id" = String, Path, description = "Id of the item (`root` for the root folder)."),
        ),
        request_body(content = crate::contract::JsonObject, content_type = "application/json"),
        responses(
            (status = 201, description = "The copy (202 with a task when asynchronous).", body = crate::contract::JsonObject),
            crate::contract::ServiceErrors,
        ),
        security(("bearer" = []), ("api_key" = [])),
    )]
    copy_file = (false, true);
}
