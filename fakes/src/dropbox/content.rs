//! Content endpoints (`content.dropboxapi.com/2/...`): argument in `Dropbox-API-Arg`,
//! file bytes in the request (uploads) or response (downloads, result in
//! `Dropbox-API-Result`).

use std::{collections::HashMap, sync::Arc};

use axum::{
    body::Bytes,
    extract::{Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::{json, Value};

use super::{
    rpc::resolve,
    state::{random, Inner, Shared},
    tree::{self, BadPath, Mode, Node, Target, Tree},
    wire::{self, Failure, Lookup, Write},
};

/// Largest body one content call takes (150 MiB).
pub const MAX_PAYLOAD: usize = 150 << 20;

/// Runs one content-upload call: authentication, `Content-Type`, argument, size, then
/// `f` under the state lock.
fn upload_call<T, F>(s: &Shared, route: &str, headers: &HeaderMap, body: Bytes, f: F) -> Response
where
    T: DeserializeOwned,
    F: FnOnce(&mut Inner, &str, T, Bytes) -> Result<Value, Failure>,
{
    let result = s.begin(route, headers).and_then(|account| {
        let arg = wire::header_arg::<T>(route, headers, None)?;
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if content_type != "application/octet-stream"
            && content_type != "text/plain; charset=dropbox-cors-hack"
        {
            return Err(Failure::bad_input(
                route,
                format!(
                    "Bad HTTP \"Content-Type\" header: \"{content_type}\". Expecting one of \
                     \"application/octet-stream\", \"text/plain; charset=dropbox-cors-hack\"."
                ),
            ));
        }
        if body.len() > MAX_PAYLOAD {
            return Err(Failure::endpoint(wire::tag("payload_too_large")));
        }
        f(&mut s.lock(), &account, arg, body)
    });
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

fn check_hash(expected: &Option<String>, body: &[u8]) -> Result<(), Failure> {
    match expected {
        Some(h) if *h != tree::content_hash(body) => {
            Err(Failure::endpoint(wire::tag("content_hash_mismatch")))
        }
        _ => Ok(()),
    }
}

/// `CommitInfo` (and `UploadArg`, which adds `content_hash`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitInfo {
    path: String,
    #[serde(default)]
    mode: Option<Value>,
    #[serde(default)]
    autorename: bool,
    #[serde(default)]
    client_modified: Option<String>,
    #[serde(default)]
    mute: bool,
    #[serde(default)]
    strict_conflict: bool,
    #[serde(default)]
    property_groups: Option<Value>,
    #[serde(default)]
    content_hash: Option<String>,
}

/// Writes `content` as `commit` says; `wrap` puts a `WriteError` in the route's union.
fn commit(
    tree: &mut Tree,
    route: &str,
    commit: &CommitInfo,
    content: Bytes,
    wrap: impl Fn(Write) -> Failure,
) -> Result<Value, Failure> {
    let _ = (commit.mute, &commit.property_groups);
    let display = match tree::parse_path(&commit.path) {
        Ok(Target::Path { display, .. }) => display,
        Ok(Target::Root) | Err(BadPath::Input(_)) => {
            return Err(Failure::bad_input(
                route,
                format!("path: '{}' is not a valid path", commit.path),
            ))
        }
        Err(BadPath::Malformed) => return Err(wrap(Write::Malformed)),
    };
    let mode = Mode::parse(commit.mode.as_ref()).map_err(|e| Failure::bad_input(route, e))?;
    let client_modified = match &commit.client_modified {
        None => None,
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|e| Failure::bad_input(route, format!("client_modified: {e}")))?
                .with_timezone(&chrono::Utc),
        ),
    };
    tree.put_file(
        &display,
        content,
        &mode,
        commit.autorename,
        commit.strict_conflict,
        client_modified,
    )
    .map_err(wrap)
}

/// `files/upload`.
pub async fn upload(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    const ROUTE: &str = "files/upload";
    upload_call(
        &s,
        ROUTE,
        &headers,
        body,
        |inner, account, arg: CommitInfo, body| {
            check_hash(&arg.content_hash, &body)?;
            let contended = inner.contended();
            let tree = inner.tree(account);
            // A failed write keeps the bytes in a session, to be retried with `finish`.
            let session_id = random("pid_upload_session:");
            let failed = |w: Write| {
                let error =
                    json!({ ".tag": "path", "reason": w.value(), "upload_session_id": session_id });
                Failure::endpoint(error)
            };
            let result = if contended {
                Err(failed(Write::TooManyWrites))
            } else {
                commit(tree, ROUTE, &arg, body.clone(), failed)
            };
            if result.is_err() {
                let session = tree::Session {
                    data: body.to_vec(),
                    closed: false,
                };
                tree.sessions.insert(session_id.clone(), session);
            }
            result
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartArg {
    #[serde(default)]
    close: bool,
    #[serde(default)]
    session_type: Option<Value>,
    #[serde(default)]
    content_hash: Option<String>,
}

/// `files/upload_session/start` (sessions are sequential whatever `session_type` says).
pub async fn session_start(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "files/upload_session/start";
    upload_call(
        &s,
        ROUTE,
        &headers,
        body,
        |inner, account, arg: StartArg, body| {
            let _ = arg.session_type;
            check_hash(&arg.content_hash, &body)?;
            let id = random("pid_upload_session:");
            let session = tree::Session {
                data: body.to_vec(),
                closed: arg.close,
            };
            inner.tree(account).sessions.insert(id.clone(), session);
            Ok(json!({ "session_id": id }))
        },
    )
}

/// `UploadSessionCursor`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionCursor {
    session_id: String,
    offset: u64,
}

/// Checks a cursor against its session; `UploadSessionLookupError` otherwise.
fn lookup_session<'a>(
    tree: &'a mut Tree,
    cursor: &SessionCursor,
) -> Result<&'a mut tree::Session, Value> {
    let session = tree
        .sessions
        .get_mut(&cursor.session_id)
        .ok_or_else(|| wire::tag("not_found"))?;
    if cursor.offset != session.data.len() as u64 {
        return Err(json!({ ".tag": "incorrect_offset", "correct_offset": session.data.len() }));
    }
    Ok(session)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppendArg {
    cursor: SessionCursor,
    #[serde(default)]
    close: bool,
    #[serde(default)]
    content_hash: Option<String>,
}

/// `files/upload_session/append_v2`.
pub async fn session_append(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "files/upload_session/append_v2";
    upload_call(
        &s,
        ROUTE,
        &headers,
        body,
        |inner, account, arg: AppendArg, body| {
            check_hash(&arg.content_hash, &body)?;
            let session =
                lookup_session(inner.tree(account), &arg.cursor).map_err(Failure::endpoint)?;
            if session.closed {
                return Err(Failure::endpoint(wire::tag("closed")));
            }
            session.data.extend_from_slice(&body);
            session.closed = arg.close;
            Ok(Value::Null)
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinishArg {
    cursor: SessionCursor,
    commit: CommitInfo,
    #[serde(default)]
    content_hash: Option<String>,
}

/// `files/upload_session/finish`: a failed commit keeps the session (retry with an
/// empty body and the new offset).
pub async fn session_finish(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "files/upload_session/finish";
    upload_call(
        &s,
        ROUTE,
        &headers,
        body,
        |inner, account, arg: FinishArg, body| {
            check_hash(&arg.content_hash, &body)?;
            let contended = inner.contended();
            let tree = inner.tree(account);
            let lookup_failed = |v: Value| Failure::endpoint(wire::nest("lookup_failed", v));
            let session = lookup_session(tree, &arg.cursor).map_err(lookup_failed)?;
            if session.closed && !body.is_empty() {
                return Err(lookup_failed(wire::tag("closed")));
            }
            session.data.extend_from_slice(&body);
            if contended {
                return Err(Failure::endpoint(wire::tag("too_many_write_operations")));
            }
            let data = Bytes::from(session.data.clone());
            let wrap = |w: Write| Failure::endpoint(wire::nest("path", w.value()));
            let metadata = commit(tree, ROUTE, &arg.commit, data, wrap)?;
            tree.sessions.remove(&arg.cursor.session_id);
            Ok(metadata)
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadArg {
    path: String,
    #[serde(default)]
    rev: Option<String>,
}

/// An inclusive byte range of `len` bytes, from a `Range` header; `Err` when it
/// cannot be satisfied.
fn byte_range(value: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            (len.saturating_sub(n), len.checked_sub(1).ok_or(())?)
        }
        (start, "") => (start.parse().map_err(|_| ())?, len.saturating_sub(1)),
        (start, end) => {
            let end: u64 = end.parse().map_err(|_| ())?;
            (
                start.parse().map_err(|_| ())?,
                end.min(len.saturating_sub(1)),
            )
        }
    };
    if start >= len || start > end {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// `files/download` (GET or POST; `Range` honoured with 206).
pub async fn download(
    State(s): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    const ROUTE: &str = "files/download";
    let found = s.begin(ROUTE, &headers).and_then(|account| {
        let arg: DownloadArg =
            wire::header_arg(ROUTE, &headers, query.get("arg").map(String::as_str))?;
        let _ = arg.rev;
        let mut inner = s.lock();
        let tree = inner.tree(&account);
        let lookup = |l: Lookup| wire::nest("path", l.value());
        let lower = match resolve(tree, ROUTE, &arg.path, lookup)? {
            Target::Root => return Err(Failure::endpoint(lookup(Lookup::NotFile))),
            Target::Path { lower, .. } => lower,
        };
        let item = tree
            .get(&lower)
            .ok_or_else(|| Failure::endpoint(lookup(Lookup::NotFound)))?;
        match &item.node {
            Node::Folder => Err(Failure::endpoint(lookup(Lookup::NotFile))),
            Node::File(f) => Ok((Tree::metadata(item), f.content.clone())),
        }
    });
    let (metadata, content) = match found {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let len = content.len() as u64;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, body, content_range) = match range.map(|r| byte_range(r, len)) {
        Some(Err(())) => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).expect("ascii"),
            );
            return r;
        }
        Some(Ok(Some((start, end)))) => (
            StatusCode::PARTIAL_CONTENT,
            content.slice(start as usize..end as usize + 1),
            Some(format!("bytes {start}-{end}/{len}")),
        ),
        _ => (StatusCode::OK, content, None),
    };
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        "dropbox-api-result",
        HeaderValue::from_str(&wire::header_json(&metadata)).expect("header-safe JSON"),
    );
    if let Some(cr) = content_range {
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&cr).expect("ascii"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(byte_range("bytes=10-19", 100), Ok(Some((10, 19))));
        assert_eq!(byte_range("bytes=-5", 100), Ok(Some((95, 99))));
        assert_eq!(byte_range("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(byte_range("bytes=90-500", 100), Ok(Some((90, 99))));
        assert_eq!(byte_range("bytes=100-", 100), Err(()));
        assert_eq!(byte_range("items=1-2", 100), Ok(None));
    }
}
