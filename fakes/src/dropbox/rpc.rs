//! RPC endpoints (`api.dropboxapi.com/2/...`): JSON argument in the body, JSON result.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
    Json,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::{json, Value};

use super::{
    state::{full_account, Inner, Shared},
    tree::{self, BadPath, Node, Target, Tree},
    wire::{self, Failure, Lookup, Write},
};

/// Runs one RPC call: authentication, argument, then `f` under the state lock.
pub fn call<T, F>(s: &Shared, route: &str, headers: &HeaderMap, body: &[u8], f: F) -> Response
where
    T: DeserializeOwned,
    F: FnOnce(&mut Inner, &str, T) -> Result<Value, Failure>,
{
    let result = s.begin(route, headers).and_then(|account| {
        let arg = wire::rpc_arg::<T>(route, headers, body)?;
        f(&mut s.lock(), &account, arg)
    });
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Resolves a path argument (`/path`, `id:…` or `""`) of `route`; `lookup` wraps a
/// `LookupError` in the route's error union.
pub fn resolve(
    tree: &Tree,
    route: &str,
    raw: &str,
    lookup: impl Fn(Lookup) -> Value,
) -> Result<Target, Failure> {
    if let Some(id) = raw.strip_prefix("id:") {
        let lower = tree
            .find_id(&format!("id:{id}"))
            .ok_or_else(|| Failure::endpoint(lookup(Lookup::NotFound)))?;
        let display = tree.get(&lower).expect("found").display.clone();
        return Ok(Target::Path { display, lower });
    }
    tree::parse_path(raw).map_err(|e| match e {
        BadPath::Input(m) => Failure::bad_input(route, format!("request body: path: {m}")),
        BadPath::Malformed => Failure::endpoint(lookup(Lookup::Malformed)),
    })
}

/// A path that must name an item (not the root).
fn item_path(target: Target, route: &str, field: &str) -> Result<(String, String), Failure> {
    match target {
        Target::Root => Err(Failure::bad_input(
            route,
            format!("request body: {field}: The root folder is unsupported."),
        )),
        Target::Path { display, lower } => Ok((display, lower)),
    }
}

fn path_error(field: &str) -> impl Fn(Lookup) -> Value + '_ {
    move |l| wire::nest(field, l.value())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetMetadataArg {
    path: String,
    #[serde(default)]
    include_media_info: bool,
    #[serde(default)]
    include_deleted: bool,
    #[serde(default)]
    include_has_explicit_shared_members: bool,
}

/// `files/get_metadata`.
pub async fn get_metadata(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "files/get_metadata";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: GetMetadataArg| {
            let _ = (arg.include_media_info, arg.include_deleted);
            let _ = arg.include_has_explicit_shared_members;
            let tree = inner.tree(account);
            let target = resolve(tree, ROUTE, &arg.path, path_error("path"))?;
            let (_, lower) = item_path(target, ROUTE, "path")?;
            let item = tree
                .get(&lower)
                .ok_or_else(|| Failure::endpoint(wire::nest("path", Lookup::NotFound.value())))?;
            let mut metadata = Tree::metadata(item);
            super::sharing::annotate(inner, account, &mut metadata);
            Ok(metadata)
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListFolderArg {
    path: String,
    #[serde(default)]
    recursive: bool,
    #[serde(default)]
    include_media_info: bool,
    #[serde(default)]
    include_deleted: bool,
    #[serde(default)]
    include_has_explicit_shared_members: bool,
    #[serde(default)]
    include_mounted_folders: Option<bool>,
    #[serde(default)]
    include_non_downloadable_files: Option<bool>,
    #[serde(default)]
    limit: Option<u32>,
}

/// Where a listing stands (serialized, hex-encoded, as the opaque cursor).
#[derive(Serialize, Deserialize)]
struct Cursor {
    /// Account.
    a: String,
    /// Lower-cased folder path (`""`: root).
    p: String,
    /// Recursive.
    r: bool,
    /// Log position the listing started at (changes after it are reported later).
    s: u64,
    /// Position in the initial listing; `None` once it was all returned.
    o: Option<usize>,
    /// Page size.
    l: usize,
    /// Cursor generation (a reset invalidates older ones).
    e: u64,
}

impl Cursor {
    fn encode(&self) -> String {
        serde_json::to_vec(self)
            .expect("cursor serializes")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn decode(text: &str) -> Option<Cursor> {
        if !text.len().is_multiple_of(2) || !text.is_ascii() {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
            .collect();
        serde_json::from_slice(&bytes?).ok()
    }
}

/// The current contents of a cursor's folder (the folder itself first when
/// recursive, as Dropbox does), or `not_found`/`not_folder`.
fn listing(tree: &Tree, dir: &str, recursive: bool) -> Result<Vec<Value>, Lookup> {
    let mut entries = Vec::new();
    if !dir.is_empty() {
        let item = tree.get(dir).ok_or(Lookup::NotFound)?;
        if !matches!(item.node, Node::Folder) {
            return Err(Lookup::NotFolder);
        }
        if recursive {
            entries.push(Tree::metadata(item));
        }
    }
    entries.extend(
        tree.children(dir, recursive)
            .into_iter()
            .map(Tree::metadata),
    );
    Ok(entries)
}

/// One page for `cursor`, and the cursor after it.
fn page(tree: &Tree, cursor: Cursor, field: &str) -> Result<Value, Failure> {
    let Cursor { l, .. } = cursor;
    if let Some(offset) = cursor.o {
        let all = listing(tree, &cursor.p, cursor.r)
            .map_err(|e| Failure::endpoint(wire::nest(field, e.value())))?;
        let end = (offset + l).min(all.len());
        let more = end < all.len();
        let next = Cursor {
            o: more.then_some(end),
            ..cursor
        };
        return Ok(json!({
            "entries": all.get(offset..end).unwrap_or_default(),
            "cursor": next.encode(),
            "has_more": more,
        }));
    }
    // Changes since `s`: each touched path once, at its latest change.
    let prefix = format!("{}/", cursor.p);
    let in_scope = |lower: &str| {
        lower
            .strip_prefix(&prefix)
            .is_some_and(|rest| cursor.r || !rest.contains('/'))
    };
    let mut latest: Vec<&tree::Change> = Vec::new();
    for change in tree.changes_after(cursor.s).filter(|c| in_scope(&c.lower)) {
        latest.retain(|c| c.lower != change.lower);
        latest.push(change);
    }
    let taken = &latest[..latest.len().min(l)];
    let entries: Vec<Value> = taken
        .iter()
        .map(|c| match tree.get(&c.lower) {
            Some(item) => Tree::metadata(item),
            None => json!({
                ".tag": "deleted",
                "name": c.display.rsplit('/').next().unwrap_or_default(),
                "path_lower": c.lower,
                "path_display": c.display,
            }),
        })
        .collect();
    let more = taken.len() < latest.len();
    let s = taken
        .last()
        .map_or(tree.seq(), |c| if more { c.seq } else { tree.seq() });
    let next = Cursor { s, ..cursor };
    Ok(json!({ "entries": entries, "cursor": next.encode(), "has_more": more }))
}

fn folder_of(tree: &Tree, route: &str, path: &str) -> Result<String, Failure> {
    match resolve(tree, route, path, path_error("path"))? {
        Target::Root => Ok(String::new()),
        Target::Path { lower, .. } => Ok(lower),
    }
}

/// `files/list_folder`.
pub async fn list_folder(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "files/list_folder";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: ListFolderArg| {
            let _ = (
                arg.include_media_info,
                arg.include_deleted,
                arg.include_has_explicit_shared_members,
            );
            let _ = (
                arg.include_mounted_folders,
                arg.include_non_downloadable_files,
            );
            if arg.limit.is_some_and(|l| !(1..=2000).contains(&l)) {
                return Err(Failure::bad_input(
                    ROUTE,
                    "request body: limit: out of range [1, 2000]",
                ));
            }
            let l = (arg.limit.unwrap_or(2000) as usize).min(inner.page_limit);
            let epoch = inner.epoch;
            let tree = inner.tree(account);
            let p = folder_of(tree, ROUTE, &arg.path)?;
            let cursor = Cursor {
                a: account.to_string(),
                p,
                r: arg.recursive,
                s: tree.seq(),
                o: Some(0),
                l,
                e: epoch,
            };
            page(tree, cursor, "path")
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContinueArg {
    cursor: String,
}

/// `files/list_folder/continue`.
pub async fn list_folder_continue(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "files/list_folder/continue";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: ContinueArg| {
            let cursor = Cursor::decode(&arg.cursor)
                .filter(|c| c.a == account)
                .ok_or_else(|| Failure::bad_input(ROUTE, "Invalid \"cursor\" parameter"))?;
            if cursor.e != inner.epoch {
                return Err(Failure::endpoint(wire::tag("reset")));
            }
            page(inner.tree(account), cursor, "path")
        },
    )
}

/// `files/list_folder/get_latest_cursor`.
pub async fn get_latest_cursor(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "files/list_folder/get_latest_cursor";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: ListFolderArg| {
            let l = (arg.limit.unwrap_or(2000) as usize).min(inner.page_limit);
            let epoch = inner.epoch;
            let tree = inner.tree(account);
            let p = folder_of(tree, ROUTE, &arg.path)?;
            listing(tree, &p, arg.recursive)
                .map_err(|e| Failure::endpoint(wire::nest("path", e.value())))?;
            let cursor = Cursor {
                a: account.to_string(),
                p,
                r: arg.recursive,
                s: tree.seq(),
                o: None,
                l,
                e: epoch,
            };
            Ok(json!({ "cursor": cursor.encode() }))
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateFolderArg {
    path: String,
    #[serde(default)]
    autorename: bool,
}

/// `files/create_folder_v2`.
pub async fn create_folder(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "files/create_folder_v2";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: CreateFolderArg| {
            let write = |w: Write| Failure::endpoint(wire::nest("path", w.value()));
            let (display, _) = match tree::parse_path(&arg.path) {
                Ok(Target::Path { display, lower }) => (display, lower),
                Ok(Target::Root) | Err(BadPath::Input(_)) => {
                    return Err(Failure::bad_input(
                        ROUTE,
                        format!("request body: path: '{}' is not a valid path", arg.path),
                    ))
                }
                Err(BadPath::Malformed) => return Err(write(Write::Malformed)),
            };
            if inner.contended() {
                return Err(write(Write::TooManyWrites));
            }
            let metadata = inner
                .tree(account)
                .create_folder(&display, arg.autorename)
                .map_err(write)?;
            Ok(json!({ "metadata": metadata }))
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteArg {
    path: String,
    #[serde(default)]
    parent_rev: Option<String>,
}

/// `files/delete_v2` (`parent_rev` is accepted, not checked).
pub async fn delete(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    const ROUTE: &str = "files/delete_v2";
    call(
        &s,
        ROUTE,
        &headers,
        &body,
        |inner, account, arg: DeleteArg| {
            let _ = arg.parent_rev;
            let contended = inner.contended();
            let tree = inner.tree(account);
            let target = resolve(tree, ROUTE, &arg.path, path_error("path_lookup"))?;
            let (_, lower) = item_path(target, ROUTE, "path")?;
            if contended {
                return Err(Failure::endpoint(wire::tag("too_many_write_operations")));
            }
            let metadata = tree
                .delete(&lower)
                .map_err(|l| Failure::endpoint(wire::nest("path_lookup", l.value())))?;
            Ok(json!({ "metadata": metadata }))
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelocationArg {
    from_path: String,
    to_path: String,
    #[serde(default)]
    allow_shared_folder: bool,
    #[serde(default)]
    autorename: bool,
    #[serde(default)]
    allow_ownership_transfer: bool,
}

fn relocate(
    s: &Shared,
    route: &'static str,
    headers: &HeaderMap,
    body: &[u8],
    copy: bool,
) -> Response {
    call(
        s,
        route,
        headers,
        body,
        |inner, account, arg: RelocationArg| {
            let _ = (arg.allow_shared_folder, arg.allow_ownership_transfer);
            let contended = inner.contended();
            let tree = inner.tree(account);
            let from = resolve(tree, route, &arg.from_path, path_error("from_lookup"))?;
            let (_, from) = item_path(from, route, "from_path")?;
            let to = match tree::parse_path(&arg.to_path) {
                Ok(Target::Path { display, .. }) => display,
                Ok(Target::Root) | Err(BadPath::Input(_)) => {
                    return Err(Failure::bad_input(
                        route,
                        format!(
                            "request body: to_path: '{}' is not a valid path",
                            arg.to_path
                        ),
                    ))
                }
                Err(BadPath::Malformed) => {
                    return Err(Failure::endpoint(wire::nest(
                        "to",
                        Write::Malformed.value(),
                    )))
                }
            };
            if contended {
                return Err(Failure::endpoint(wire::nest(
                    "to",
                    Write::TooManyWrites.value(),
                )));
            }
            let metadata = tree
                .relocate(&from, &to, copy, arg.autorename)
                .map_err(|e| Failure::endpoint(e.value()))?;
            Ok(json!({ "metadata": metadata }))
        },
    )
}

/// `files/move_v2`.
pub async fn move_v2(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    relocate(&s, "files/move_v2", &headers, &body, false)
}

/// `files/copy_v2`.
pub async fn copy_v2(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    relocate(&s, "files/copy_v2", &headers, &body, true)
}

/// `users/get_current_account`.
pub async fn get_current_account(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "users/get_current_account";
    call(&s, ROUTE, &headers, &body, |inner, account, _: ()| {
        Ok(full_account(&inner.users[account]))
    })
}

/// `auth/token/revoke`: the calling token stops working.
pub async fn revoke(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    const ROUTE: &str = "auth/token/revoke";
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    call(&s, ROUTE, &headers, &body, |inner, _, _: ()| {
        if let Some(token) = token {
            inner.tokens.remove(&token);
        }
        Ok(Value::Null)
    })
}
