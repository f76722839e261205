//! Uploads on the upload host (`/api/2.0`): files and new versions in one multipart
//! request, the preflight check, and chunked upload sessions (parts with `Content-Range`
//! and `Digest`, commit with the parts list and the whole file's SHA-1).

use std::collections::BTreeMap;

use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use bytes::{Bytes, BytesMut};
use chrono::{Duration, Utc};
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use super::{
    errors::BoxError,
    items::json_body,
    store::{check_name, sha1_hex, time, Kind, Store},
    AppState, Shared,
};

fn bad(code: &'static str, message: &str) -> BoxError {
    BoxError::new(StatusCode::BAD_REQUEST, code, message)
}

/// The parts of a `multipart/form-data` body, in order: `(name, data)`.
fn form_parts(headers: &HeaderMap, body: &Bytes) -> Result<Vec<(String, Bytes)>, BoxError> {
    let malformed = || bad("bad_request", "Malformed multipart/form-data body");
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("multipart/form-data") {
        return Err(malformed());
    }
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
        .map(|b| b.trim_matches('"'))
        .ok_or_else(malformed)?;
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut at = find(body, delimiter.as_bytes(), 0).ok_or_else(malformed)? + delimiter.len();
    loop {
        if body[at..].starts_with(b"--") {
            return Ok(parts);
        }
        let start = at + 2; // CRLF after the delimiter
        let headers_end = find(body, b"\r\n\r\n", start).ok_or_else(malformed)?;
        let head = String::from_utf8_lossy(&body[start..headers_end]).to_string();
        let next =
            find(body, format!("\r\n{delimiter}").as_bytes(), headers_end).ok_or_else(malformed)?;
        let name = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .and_then(|l| {
                l.split(';')
                    .find_map(|p| p.trim().strip_prefix("name="))
                    .map(|n| n.trim_matches('"').to_string())
            })
            .unwrap_or_default();
        parts.push((name, body.slice(headers_end + 4..next)));
        at = next + 2 + delimiter.len();
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The `attributes` JSON and the `file` bytes of an upload, `attributes` first.
fn upload_form(headers: &HeaderMap, body: &Bytes) -> Result<(Value, Bytes), BoxError> {
    let parts = form_parts(headers, body)?;
    let position = |n: &str| parts.iter().position(|(name, _)| name == n);
    let (Some(a), Some(f)) = (position("attributes"), position("file")) else {
        return Err(bad("bad_request", "`attributes` and `file` are required"));
    };
    if a > f {
        return Err(bad(
            "metadata_after_file_contents",
            "Metadata is included after file contents in a file upload request",
        ));
    }
    Ok((json_body(&parts[a].1)?, parts[f].1.clone()))
}

/// Checks the optional `Content-MD5` header (which carries a SHA-1 at Box).
fn check_content_md5(headers: &HeaderMap, content: &[u8]) -> Result<(), BoxError> {
    match headers.get("content-md5").and_then(|v| v.to_str().ok()) {
        Some(sha1) if !sha1.eq_ignore_ascii_case(&sha1_hex(content)) => Err(bad(
            "bad_digest",
            "The specified content-md5 did not match what we received",
        )),
        _ => Ok(()),
    }
}

fn entries(store: &Store, id: &str) -> Json<Value> {
    let node = store.get(id).expect("uploaded file exists");
    Json(json!({"total_count": 1, "entries": [store.full(node)]}))
}

/// `POST /api/2.0/files/content`: a new file in one request.
pub async fn upload(
    State(s): AppState,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), BoxError> {
    let (attributes, content) = upload_form(&headers, &body)?;
    let name = attributes["name"]
        .as_str()
        .ok_or_else(|| BoxError::bad_parameter("name", "A name is required"))?;
    let parent = attributes["parent"]["id"]
        .as_str()
        .ok_or_else(|| BoxError::bad_parameter("parent", "A parent folder is required"))?;
    check_name(name)?;
    check_content_md5(&headers, &content)?;
    let mut world = s.world();
    world.store.item(parent, Kind::Folder)?;
    world.store.check_free(parent, name, None, true)?;
    let id = world.store.create_file(parent, name, content);
    world.counters.uploads += 1;
    Ok((StatusCode::CREATED, entries(&world.store, &id)))
}

/// `POST /api/2.0/files/{id}/content`: a new version (and optionally a new name).
pub async fn upload_version(
    State(s): AppState,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, BoxError> {
    let (attributes, content) = upload_form(&headers, &body)?;
    check_content_md5(&headers, &content)?;
    let mut world = s.world();
    let node = world.store.item(&id, Kind::File)?;
    if let Some(etag) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        if etag != node.etag.to_string() {
            return Err(BoxError::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                "The resource has been modified. Retrieve the resource again and retry",
            ));
        }
    }
    let parent = node.parent.clone().unwrap_or_default();
    let name = attributes["name"].as_str();
    if let Some(name) = name {
        check_name(name)?;
        world.store.check_free(&parent, name, Some(&id), true)?;
    }
    world.store.new_version(&id, content, name);
    world.counters.version_uploads += 1;
    Ok(entries(&world.store, &id))
}

/// `OPTIONS /2.0/files/content`: would this upload be accepted?
pub async fn preflight(State(s): AppState, body: Bytes) -> Result<Json<Value>, BoxError> {
    let body = json_body(&body)?;
    let name = body["name"]
        .as_str()
        .ok_or_else(|| BoxError::bad_parameter("name", "A name is required"))?;
    let parent = body["parent"]["id"]
        .as_str()
        .ok_or_else(|| BoxError::bad_parameter("parent", "A parent folder is required"))?;
    check_name(name)?;
    let world = s.world();
    world.store.item(parent, Kind::Folder)?;
    world.store.check_free(parent, name, None, true)?;
    Ok(Json(json!({
        "upload_url": format!("{}/api/2.0/files/content", s.base),
        "upload_token": null,
    })))
}

/// Where a session's file goes.
#[derive(Clone, Debug)]
enum Target {
    /// A new file in a folder.
    New { folder: String, name: String },
    /// A new version of a file (renamed if `name` is set).
    Version { file: String, name: Option<String> },
}

/// One received part.
#[derive(Debug)]
struct Part {
    id: String,
    sha1: String,
    bytes: Bytes,
}

/// A chunked upload in progress.
#[derive(Debug)]
pub(super) struct Session {
    id: String,
    target: Target,
    file_size: u64,
    part_size: u64,
    expires_at: chrono::DateTime<Utc>,
    parts: BTreeMap<u64, Part>,
}

impl Session {
    fn total_parts(&self) -> u64 {
        self.file_size.div_ceil(self.part_size)
    }

    fn json(&self, base: &str) -> Value {
        let url = format!("{base}/api/2.0/files/upload_sessions/{}", self.id);
        json!({
            "id": self.id,
            "type": "upload_session",
            "session_expires_at": time(self.expires_at),
            "part_size": self.part_size,
            "total_parts": self.total_parts(),
            "num_parts_processed": self.parts.len(),
            "session_endpoints": {
                "upload_part": url,
                "commit": format!("{url}/commit"),
                "abort": url,
                "list_parts": format!("{url}/parts"),
                "status": url,
                "log_event": format!("{url}/log"),
            },
        })
    }

    fn part_json(offset: u64, part: &Part) -> Value {
        json!({"part_id": part.id, "offset": offset, "size": part.bytes.len(), "sha1": part.sha1})
    }
}

/// `file_size` of a session request, checked against the session minimum.
fn file_size(body: &Value, shared: &Shared) -> Result<u64, BoxError> {
    let size = match &body["file_size"] {
        Value::Null => return Err(bad("missing_file_size", "file_size was not provided")),
        v => v
            .as_u64()
            .ok_or_else(|| bad("invalid_file_size", "file_size was not a valid number"))?,
    };
    if size < shared.config.min_session_size {
        return Err(bad(
            "file_size_too_small",
            "file_size is below minimum file size for uploads via this API",
        ));
    }
    Ok(size)
}

fn open_session(
    shared: &Shared,
    world: &mut super::World,
    target: Target,
    file_size: u64,
) -> (StatusCode, Json<Value>) {
    let session = Session {
        id: uuid::Uuid::new_v4().simple().to_string().to_uppercase(),
        target,
        file_size,
        part_size: shared.config.part_size,
        expires_at: Utc::now() + Duration::days(7),
        parts: BTreeMap::new(),
    };
    let json = session.json(&shared.base);
    world.counters.sessions_created += 1;
    world.sessions.insert(session.id.clone(), session);
    (StatusCode::CREATED, Json(json))
}

/// `POST /api/2.0/files/upload_sessions` `{"folder_id", "file_size", "file_name"}`
pub async fn create_session(
    State(s): AppState,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), BoxError> {
    let body = json_body(&body)?;
    let folder = body["folder_id"]
        .as_str()
        .ok_or_else(|| bad("missing_destination", "No folder_id was provided"))?
        .to_string();
    let size = file_size(&body, &s)?;
    let name = body["file_name"]
        .as_str()
        .ok_or_else(|| bad("missing_file_name", "file_name was not provided"))?
        .to_string();
    check_name(&name)?;
    let mut world = s.world();
    world.store.item(&folder, Kind::Folder)?;
    world.store.check_free(&folder, &name, None, true)?;
    Ok(open_session(
        &s,
        &mut world,
        Target::New { folder, name },
        size,
    ))
}

/// `POST /api/2.0/files/{id}/upload_sessions` `{"file_size", "file_name"?}`
pub async fn create_version_session(
    State(s): AppState,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), BoxError> {
    let body = json_body(&body)?;
    let size = file_size(&body, &s)?;
    let name = body["file_name"].as_str().map(str::to_string);
    let mut world = s.world();
    let parent = world.store.item(&id, Kind::File)?.parent.clone();
    if let Some(name) = &name {
        check_name(name)?;
        world
            .store
            .check_free(&parent.unwrap_or_default(), name, Some(&id), true)?;
    }
    let target = Target::Version { file: id, name };
    Ok(open_session(&s, &mut world, target, size))
}

/// `bytes a-b/total` of a `Content-Range` header.
fn content_range(headers: &HeaderMap) -> Option<(u64, u64, u64)> {
    let value = headers.get(header::CONTENT_RANGE)?.to_str().ok()?;
    let (range, total) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?, total.parse().ok()?))
}

/// The base64 SHA-1 of a `Digest: sha=…` header.
fn digest(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("digest")?.to_str().ok()?;
    value
        .split(',')
        .find_map(|d| {
            d.trim()
                .strip_prefix("sha=")
                .or(d.trim().strip_prefix("SHA="))
        })
        .map(str::to_string)
}

fn no_session() -> BoxError {
    BoxError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "The upload session was not found",
    )
}

/// `PUT /api/2.0/files/upload_sessions/{id}`: one part, aligned to the part size and of
/// exactly that size (the last may be shorter), with its SHA-1 in `Digest`.
pub async fn upload_part(
    State(s): AppState,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, BoxError> {
    let mut world = s.world();
    let session = world.sessions.get_mut(&id).ok_or_else(no_session)?;
    let out_of_range = |message: &str| {
        BoxError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range_not_satisfiable",
            message,
        )
    };
    let (start, end, total) = content_range(&headers)
        .ok_or_else(|| bad("bad_request", "A valid Content-Range header is required"))?;
    if total != session.file_size || end < start || end >= total {
        return Err(out_of_range("The content range does not match the session"));
    }
    let size = end - start + 1;
    let last = end + 1 == total;
    if start % session.part_size != 0
        || (size != session.part_size && !last)
        || size > session.part_size
    {
        return Err(out_of_range(
            "Parts must start at a multiple of the part size and be exactly that size",
        ));
    }
    if body.len() as u64 != size {
        return Err(bad(
            "bad_request",
            "The body does not match the Content-Range header",
        ));
    }
    let expected =
        digest(&headers).ok_or_else(|| bad("bad_request", "A Digest header is required"))?;
    let actual = STANDARD.encode(Sha1::digest(&body));
    if expected != actual {
        return Err(bad(
            "digest_mismatch",
            &format!("Part digest was incorrect. Actual: {actual} Expected: {expected}"),
        ));
    }
    let sha1 = sha1_hex(&body);
    if let Some(existing) = session.parts.get(&start) {
        // Parts are immutable once uploaded; sending the very same part again is a retry.
        if existing.sha1 != sha1 {
            return Err(BoxError::new(
                StatusCode::CONFLICT,
                "conflict",
                "The part overlaps a part already uploaded",
            ));
        }
        return Ok(Json(json!({"part": Session::part_json(start, existing)})));
    }
    let part = Part {
        id: format!("{:08X}", rand_u32()),
        sha1,
        bytes: body,
    };
    let answer = json!({"part": Session::part_json(start, &part)});
    session.parts.insert(start, part);
    world.counters.parts += 1;
    Ok(Json(answer))
}

fn rand_u32() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32
}

/// `GET /api/2.0/files/upload_sessions/{id}`
pub async fn session_status(
    State(s): AppState,
    Path(id): Path<String>,
) -> Result<Json<Value>, BoxError> {
    let world = s.world();
    let session = world.sessions.get(&id).ok_or_else(no_session)?;
    Ok(Json(session.json(&s.base)))
}

/// `GET /api/2.0/files/upload_sessions/{id}/parts`
pub async fn list_parts(
    State(s): AppState,
    Path(id): Path<String>,
) -> Result<Json<Value>, BoxError> {
    let world = s.world();
    let session = world.sessions.get(&id).ok_or_else(no_session)?;
    let parts: Vec<Value> = session
        .parts
        .iter()
        .map(|(offset, part)| Session::part_json(*offset, part))
        .collect();
    Ok(Json(json!({
        "total_count": parts.len(),
        "entries": parts,
        "offset": 0,
        "limit": 1000,
    })))
}

/// `DELETE /api/2.0/files/upload_sessions/{id}`: abort.
pub async fn abort_session(
    State(s): AppState,
    Path(id): Path<String>,
) -> Result<StatusCode, BoxError> {
    let mut world = s.world();
    world.sessions.remove(&id).ok_or_else(no_session)?;
    world.counters.sessions_aborted += 1;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/2.0/files/upload_sessions/{id}/commit` `{"parts": [...]}` with the whole
/// file's SHA-1 in `Digest`: the parts listed must be exactly those received, covering
/// the file.
pub async fn commit_session(
    State(s): AppState,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, BoxError> {
    let body = json_body(&body)?;
    let mut world = s.world();
    if !world.sessions.contains_key(&id) {
        return Err(no_session());
    }
    let expected =
        digest(&headers).ok_or_else(|| bad("bad_request", "A Digest header is required"))?;
    if world.pending_commits > 0 {
        world.pending_commits -= 1;
        let mut accepted = StatusCode::ACCEPTED.into_response();
        accepted
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(1));
        return Ok(accepted);
    }
    let session = &world.sessions[&id];
    let listed: Vec<(String, u64, u64)> = body["parts"]
        .as_array()
        .ok_or_else(|| BoxError::bad_parameter("parts", "The list of parts is required"))?
        .iter()
        .map(|p| {
            (
                p["part_id"].as_str().unwrap_or_default().to_string(),
                p["offset"].as_u64().unwrap_or(u64::MAX),
                p["size"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let received: Vec<(String, u64, u64)> = session
        .parts
        .iter()
        .map(|(offset, p)| (p.id.clone(), *offset, p.bytes.len() as u64))
        .collect();
    let covered: u64 = received.iter().map(|(_, _, size)| size).sum();
    if listed != received || covered != session.file_size {
        return Err(bad(
            "bad_request",
            "The parts listed do not match the parts uploaded to this session",
        ));
    }
    let mut content = BytesMut::with_capacity(session.file_size as usize);
    for part in session.parts.values() {
        content.extend_from_slice(&part.bytes);
    }
    let content = content.freeze();
    let actual = STANDARD.encode(Sha1::digest(&content));
    if actual != expected {
        return Err(bad(
            "digest_mismatch",
            &format!("File digest was incorrect. Actual: {actual} Expected: {expected}"),
        ));
    }
    let file = match session.target.clone() {
        Target::New { folder, name } => {
            world.store.item(&folder, Kind::Folder)?;
            world.store.check_free(&folder, &name, None, true)?;
            world.store.create_file(&folder, &name, content)
        }
        Target::Version { file, name } => {
            world.store.item(&file, Kind::File)?;
            world.store.new_version(&file, content, name.as_deref());
            file
        }
    };
    world.sessions.remove(&id);
    world.counters.sessions_committed += 1;
    Ok((StatusCode::CREATED, entries(&world.store, &file)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(parts: &[(&str, &[u8])]) -> (HeaderMap, Bytes) {
        let mut body = Vec::new();
        for (name, data) in parts {
            body.extend_from_slice(
                format!(
                    "--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"f\"\r\n\
                     Content-Type: application/json\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--XyZ--\r\n");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "multipart/form-data; boundary=XyZ".parse().unwrap(),
        );
        (headers, Bytes::from(body))
    }

    #[test]
    fn attributes_must_come_before_the_file() {
        let attributes = br#"{"name":"a.txt","parent":{"id":"0"}}"#;
        let (headers, body) = form(&[("attributes", attributes), ("file", b"\r\nbytes--")]);
        let (attrs, file) = upload_form(&headers, &body).unwrap();
        assert_eq!(attrs["name"], "a.txt");
        assert_eq!(file.as_ref(), b"\r\nbytes--");
        let (headers, body) = form(&[("file", b"x"), ("attributes", attributes)]);
        let e = upload_form(&headers, &body).unwrap_err();
        assert_eq!(e.body()["code"], "metadata_after_file_contents");
    }

    #[test]
    fn part_headers_parse() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_RANGE, "bytes 8-15/20".parse().unwrap());
        headers.insert(
            "digest",
            "sha=fpRyg5eVQletdZqEKaFlqwBXJzM=".parse().unwrap(),
        );
        assert_eq!(content_range(&headers), Some((8, 15, 20)));
        assert_eq!(digest(&headers).unwrap(), "fpRyg5eVQletdZqEKaFlqwBXJzM=");
    }
}
