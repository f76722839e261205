//! Files, folders, listings, downloads and the user, on the API host (`/2.0`).

use std::collections::HashMap;

use axum::{
    extract::{Path, Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use bytes::Bytes;
use serde_json::{json, Value};

use super::{
    errors::BoxError,
    store::{check_name, Kind, Store, ROOT},
    AppState,
};

type Params = Query<HashMap<String, String>>;

/// The JSON object of a request body.
pub(super) fn json_body(body: &Bytes) -> Result<Value, BoxError> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| {
            BoxError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "Invalid JSON in the request body",
            )
        })
}

/// `parent.id` of a request body.
fn parent_id(body: &Value) -> Option<String> {
    body["parent"]["id"].as_str().map(str::to_string)
}

fn render(store: &Store, id: &str, q: &HashMap<String, String>) -> Value {
    let node = store.get(id).expect("rendered item exists");
    store.render(node, q.get("fields").map(String::as_str), store.full(node))
}

/// `GET /2.0/users/me`: every field, or `type`, `id` and those `fields` names.
pub async fn users_me(State(s): AppState, Query(q): Params) -> Json<Value> {
    let me = s.world().store.me();
    let Some(fields) = q.get("fields") else {
        return Json(me);
    };
    let mut picked = json!({"type": me["type"], "id": me["id"]});
    for field in fields.split(',').map(str::trim) {
        if let Some(value) = me.get(field) {
            picked[field] = value.clone();
        }
    }
    Json(picked)
}

/// `GET /2.0/files/{id}`
pub async fn get_file(
    State(s): AppState,
    Path(id): Path<String>,
    Query(q): Params,
) -> Result<Json<Value>, BoxError> {
    let world = s.world();
    world.store.item(&id, Kind::File)?;
    Ok(Json(render(&world.store, &id, &q)))
}

/// `GET /2.0/folders/{id}`: the folder with the first 100 of its items.
pub async fn get_folder(
    State(s): AppState,
    Path(id): Path<String>,
    Query(q): Params,
) -> Result<Json<Value>, BoxError> {
    let world = s.world();
    let store = &world.store;
    let node = store.item(&id, Kind::Folder)?;
    let children = store.children(&id);
    let mut full = store.full(node);
    full["item_collection"] = json!({
        "total_count": children.len(),
        "entries": children.iter().take(100).map(|c| store.mini(c)).collect::<Vec<_>>(),
        "offset": 0,
        "limit": 100,
        "order": order(),
    });
    Ok(Json(store.render(
        node,
        q.get("fields").map(String::as_str),
        full,
    )))
}

fn order() -> Value {
    json!([{"by": "type", "direction": "ASC"}, {"by": "name", "direction": "ASC"}])
}

/// `PUT /2.0/files/{id}` and `PUT /2.0/folders/{id}` (`FOLDER`): rename and/or move.
pub async fn update_item<const FOLDER: bool>(
    State(s): AppState,
    Path(id): Path<String>,
    Query(q): Params,
    body: Bytes,
) -> Result<Json<Value>, BoxError> {
    let body = json_body(&body)?;
    update(&mut s.world().store, &id, kind_of(FOLDER), &body, &q)
}

fn kind_of(folder: bool) -> Kind {
    if folder {
        Kind::Folder
    } else {
        Kind::File
    }
}

fn update(
    store: &mut Store,
    id: &str,
    kind: Kind,
    body: &Value,
    q: &HashMap<String, String>,
) -> Result<Json<Value>, BoxError> {
    let node = store.item(id, kind)?;
    if id == ROOT {
        return Err(forbidden());
    }
    let name = body["name"].as_str().unwrap_or(&node.name).to_string();
    let parent = parent_id(body).unwrap_or_else(|| node.parent.clone().unwrap_or_default());
    check_name(&name)?;
    store.item(&parent, Kind::Folder)?;
    if kind == Kind::Folder && store.is_within(&parent, id) {
        return Err(BoxError::new(
            StatusCode::BAD_REQUEST,
            "cyclical_folder_structure",
            "Folder move creates cyclical folder structure",
        ));
    }
    store.check_free(&parent, &name, Some(id), false)?;
    store.update(id, Some(&name), Some(&parent));
    Ok(Json(render(store, id, q)))
}

fn forbidden() -> BoxError {
    BoxError::new(
        StatusCode::FORBIDDEN,
        "access_denied_insufficient_permissions",
        "Access denied - insufficient permission",
    )
}

/// `DELETE /2.0/files/{id}`
pub async fn delete_file(
    State(s): AppState,
    Path(id): Path<String>,
) -> Result<StatusCode, BoxError> {
    let store = &mut s.world().store;
    store.item(&id, Kind::File)?;
    store.remove(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /2.0/folders/{id}?recursive=`
pub async fn delete_folder(
    State(s): AppState,
    Path(id): Path<String>,
    Query(q): Params,
) -> Result<StatusCode, BoxError> {
    let store = &mut s.world().store;
    store.item(&id, Kind::Folder)?;
    if id == ROOT {
        return Err(forbidden());
    }
    let recursive = q.get("recursive").is_some_and(|r| r == "true");
    if !recursive && !store.children(&id).is_empty() {
        return Err(BoxError::new(
            StatusCode::BAD_REQUEST,
            "folder_not_empty",
            "Cannot delete – folder not empty",
        ));
    }
    store.remove(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /2.0/files/{id}` and `POST /2.0/folders/{id}` (`FOLDER`): restores a trashed
/// item, into its old folder unless the body names another (`{"name"?, "parent"?:
/// {"id"}}`); 201 with the item.
pub async fn restore_item<const FOLDER: bool>(
    State(s): AppState,
    Path(id): Path<String>,
    Query(q): Params,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), BoxError> {
    let body = if body.is_empty() {
        json!({})
    } else {
        json_body(&body)?
    };
    let store = &mut s.world().store;
    let node = store
        .trashed(&id, kind_of(FOLDER))
        .ok_or_else(BoxError::not_found)?;
    let name = body["name"].as_str().unwrap_or(&node.name).to_string();
    let parent = parent_id(&body).or_else(|| node.parent.clone());
    let parent = parent
        .filter(|p| store.item(p, Kind::Folder).is_ok())
        .ok_or_else(|| BoxError::bad_parameter("parent", "The parent folder is gone"))?;
    check_name(&name)?;
    store.check_free(&parent, &name, None, false)?;
    store.restore(&id, &parent, &name);
    Ok((StatusCode::CREATED, Json(render(store, &id, &q))))
}

/// `POST /2.0/folders` `{"name", "parent": {"id"}}`
pub async fn create_folder(
    State(s): AppState,
    Query(q): Params,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), BoxError> {
    let body = json_body(&body)?;
    let store = &mut s.world().store;
    let name = body["name"]
        .as_str()
        .ok_or_else(|| BoxError::bad_parameter("name", "A name is required"))?;
    let parent = parent_id(&body)
        .ok_or_else(|| BoxError::bad_parameter("parent", "A parent folder is required"))?;
    check_name(name)?;
    store.item(&parent, Kind::Folder)?;
    store.check_free(&parent, name, None, false)?;
    let id = store.create_folder(&parent, name);
    Ok((StatusCode::CREATED, Json(render(store, &id, &q))))
}

/// `POST /2.0/files/{id}/copy` and `POST /2.0/folders/{id}/copy` (`FOLDER`):
/// `{"parent": {"id"}, "name"?}`.
pub async fn copy_item<const FOLDER: bool>(
    State(s): AppState,
    Path(id): Path<String>,
    Query(q): Params,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), BoxError> {
    let body = json_body(&body)?;
    copy(&mut s.world().store, &id, kind_of(FOLDER), &body, &q)
}

fn copy(
    store: &mut Store,
    id: &str,
    kind: Kind,
    body: &Value,
    q: &HashMap<String, String>,
) -> Result<(StatusCode, Json<Value>), BoxError> {
    let node = store.item(id, kind)?;
    let name = body["name"].as_str().unwrap_or(&node.name).to_string();
    let parent = parent_id(body)
        .ok_or_else(|| BoxError::bad_parameter("parent", "A destination folder is required"))?;
    check_name(&name)?;
    store.item(&parent, Kind::Folder)?;
    if kind == Kind::Folder && store.is_within(&parent, id) {
        return Err(BoxError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Cannot copy a folder into itself",
        ));
    }
    store.check_free(&parent, &name, None, false)?;
    let copy = store.copy(id, &parent, &name);
    Ok((StatusCode::CREATED, Json(render(store, &copy, q))))
}

/// `GET /2.0/folders/{id}/items`: offset paging (`offset`, `limit`, `total_count`) or
/// marker paging (`usemarker=true`, `marker`, `next_marker`).
pub async fn folder_items(
    State(s): AppState,
    Path(id): Path<String>,
    Query(q): Params,
) -> Result<Json<Value>, BoxError> {
    let mut world = s.world();
    world.counters.listing_pages += 1;
    let store = &world.store;
    store.item(&id, Kind::Folder)?;
    let number = |name: &str, default: usize| match q.get(name) {
        None => Ok(default),
        Some(v) => v.parse::<usize>().map_err(|_| {
            BoxError::bad_parameter(name, format!("Invalid value '{v}'. Must be a number."))
        }),
    };
    let limit = number("limit", 100)?.clamp(1, 1000);
    let marker = q.get("usemarker").is_some_and(|v| v == "true");
    let offset = match (marker, q.get("marker")) {
        (true, Some(m)) => {
            decode_marker(m).ok_or_else(|| BoxError::bad_parameter("marker", "Invalid marker"))?
        }
        (true, None) => 0,
        (false, _) => number("offset", 0)?,
    };
    let children = store.children(&id);
    let fields = q.get("fields").map(String::as_str);
    let entries: Vec<Value> = children
        .iter()
        .skip(offset)
        .take(limit)
        .map(|c| store.render(c, fields, store.mini(c)))
        .collect();
    let more = offset + limit < children.len();
    Ok(Json(if marker {
        json!({
            "entries": entries,
            "limit": limit,
            "next_marker": if more { Value::from(encode_marker(offset + limit)) } else { Value::Null },
            "prev_marker": Value::Null,
        })
    } else {
        json!({
            "total_count": children.len(),
            "entries": entries,
            "offset": offset,
            "limit": limit,
            "order": order(),
        })
    }))
}

fn encode_marker(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

fn decode_marker(marker: &str) -> Option<usize> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(marker).ok()?).ok()?;
    text.strip_prefix("offset:")?.parse().ok()
}

/// `GET /2.0/files/{id}/content`: 302 to a one-off download URL.
pub async fn download(State(s): AppState, Path(id): Path<String>) -> Result<Response, BoxError> {
    let mut world = s.world();
    let content = world.store.item(&id, Kind::File)?.content.clone();
    let token = uuid::Uuid::new_v4().simple().to_string();
    world.downloads.insert(token.clone(), content);
    let location = format!("{}/dl/{token}", s.base);
    let mut response = StatusCode::FOUND.into_response();
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&location).expect("a valid URL"),
    );
    Ok(response)
}

/// `GET /dl/{token}`: the bytes behind a download URL (no token needed, as on
/// `dl.boxcloud.com`), whole or the `Range` asked for.
pub async fn serve_download(
    State(s): AppState,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let content = {
        let mut world = s.world();
        let Some(content) = world.downloads.get(&token).cloned() else {
            return BoxError::not_found().into_response();
        };
        world.counters.downloads += 1;
        content
    };
    let len = content.len() as u64;
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| byte_range(v, len));
    let mut response = match range {
        None => (StatusCode::OK, content).into_response(),
        Some(Some((start, end))) => {
            let mut r = (
                StatusCode::PARTIAL_CONTENT,
                content.slice(start as usize..end as usize + 1),
            )
                .into_response();
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")).expect("ascii"),
            );
            r
        }
        Some(None) => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).expect("ascii"),
            );
            r
        }
    };
    response
        .headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    response
}

/// An inclusive byte range of a `len`-byte body from `bytes=a-b`, `a-`, `-n` (the
/// `bytes=` unit may be left out, as Box's reference shows); `None` if unsatisfiable.
fn byte_range(value: &str, len: u64) -> Option<(u64, u64)> {
    let spec = value.trim().strip_prefix("bytes=").unwrap_or(value.trim());
    let (start, end) = spec.split_once('-')?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (len.checked_sub(n.min(len))?, len.checked_sub(1)?)
        }
        (a, "") => (a.parse().ok()?, len.checked_sub(1)?),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.min(len.checked_sub(1)?),
        ),
    };
    (start <= end && start < len).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges_as_http_and_box_write_them() {
        assert_eq!(byte_range("bytes=10-19", 100), Some((10, 19)));
        assert_eq!(byte_range("0-1024", 100), Some((0, 99)));
        assert_eq!(byte_range("bytes=-5", 100), Some((95, 99)));
        assert_eq!(byte_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(byte_range("bytes=100-", 100), None);
        assert_eq!(byte_range("bytes=5-2", 100), None);
        assert_eq!(byte_range("nonsense", 100), None);
    }

    #[test]
    fn markers_are_opaque_and_round_trip() {
        assert_eq!(decode_marker(&encode_marker(1000)), Some(1000));
        assert_eq!(decode_marker("garbage"), None);
    }
}
