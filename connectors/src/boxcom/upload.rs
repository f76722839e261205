//! Uploads to Box with bounded memory: bodies up to [`chunked_above`] bytes go in one
//! multipart request, streamed (`POST /files/content`, or `/files/{id}/content` for a new
//! version); larger ones through a chunked upload session, one part in memory at a time
//! (its SHA-1 must head the part as `Digest`), the whole file's SHA-1 computed while the
//! parts stream by and sent with the commit. A session left behind by an error or a
//! dropped request is aborted.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use base64::{engine::general_purpose::STANDARD, Engine};
use bytes::{Bytes, BytesMut};
use cloudbridge_shared::ApiError;
use futures::{stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use super::{
    wire::{self, Item, FIELDS},
    BoxStore,
};
use crate::{oauth, transfer::ByteStream};

/// Bodies above this size go through an upload session. Box accepts sessions from 20 MB
/// (20,000,000 bytes) on and recommends them above 50 MB.
pub const CHUNKED_ABOVE: u64 = 20 << 20;

static THRESHOLD: AtomicU64 = AtomicU64::new(CHUNKED_ABOVE);

/// The size above which this process uploads through sessions.
pub fn chunked_above() -> u64 {
    THRESHOLD.load(Ordering::Relaxed)
}

/// Sets the size above which this process uploads through sessions. For tests against
/// an emulator with a small session minimum; production keeps [`CHUNKED_ABOVE`].
pub fn set_chunked_above(bytes: u64) {
    THRESHOLD.store(bytes, Ordering::Relaxed);
}

/// Largest part size accepted from Box (one part is held in memory).
const MAX_PART: u64 = 256 << 20;
/// Commits answered 202 ("parts still processing") before giving up.
const COMMIT_TRIES: u32 = 10;

/// Where an upload goes, settled when it is planned.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Target {
    /// Folder id.
    pub folder: String,
    /// File name (free in the folder, or the name of `file`).
    pub name: String,
    /// The file whose new version this is, when overwriting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl BoxStore {
    /// Uploads `body` to `target`; `conflict_id` is the Kloudless id reported if Box finds
    /// the name taken after all. Returns the file and the bytes written.
    pub(super) async fn send_body(
        &self,
        target: &Target,
        body: ByteStream,
        length: Option<u64>,
        conflict_id: &str,
    ) -> Result<(Item, u64), ApiError> {
        let limit = chunked_above();
        let result = match length {
            Some(n) if n > limit => self.chunked(target, body, n).await,
            Some(n) => self.one_request(target, body, n).await,
            None => {
                let (head, rest) = buffer(body, limit).await?;
                if rest.is_some() {
                    return Err(ApiError::new(
                        411,
                        "length_required",
                        format!("Uploads to Box above {limit} bytes need a Content-Length."),
                    ));
                }
                let n = head.len() as u64;
                self.one_request(target, stream::iter([Ok(head)]).boxed(), n)
                    .await
            }
        };
        match result {
            Err(Upload::Box(f)) if f.name_in_use() => Err(ApiError::naming_conflict(
                "An item with this name already exists.",
                conflict_id,
            )),
            Err(Upload::Box(f)) => Err(f.into()),
            Err(Upload::Api(e)) => Err(e),
            Ok(done) => Ok(done),
        }
    }

    /// One multipart request: `attributes` first, then the file, streamed; the SHA-1 of
    /// what went out is checked against what Box stored.
    async fn one_request(
        &self,
        target: &Target,
        body: ByteStream,
        n: u64,
    ) -> Result<(Item, u64), Upload> {
        let boundary = format!("cloudbridge-{}", uuid::Uuid::new_v4().simple());
        let attributes = match &target.file {
            None => json!({"name": target.name, "parent": {"id": target.folder}}),
            Some(_) => json!({"name": target.name}),
        };
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"attributes\"\r\n\
             Content-Type: application/json\r\n\r\n{attributes}\r\n--{boundary}\r\n\
             Content-Disposition: form-data; name=\"file\"; filename=\"upload\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        );
        let tail = format!("\r\n--{boundary}--\r\n");
        let total = head.len() as u64 + n + tail.len() as u64;
        let hasher = Arc::new(Mutex::new(Sha1::new()));
        let body = exactly(body, n, hasher.clone());
        let form = stream::iter([Ok(Bytes::from(head))])
            .chain(body)
            .chain(stream::iter([Ok(Bytes::from(tail))]));
        let url = match &target.file {
            None => self.upload_url("files/content"),
            Some(file) => self.upload_url(&format!("files/{file}/content")),
        };
        let request = self
            .api
            .http
            .post(url)
            .query(&[("fields", FIELDS)])
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header(reqwest::header::CONTENT_LENGTH, total)
            .body(reqwest::Body::wrap_stream(form));
        let response = self.send_once(request).await?;
        let item = wire::uploaded(wire::json(response).await?)?;
        let sent = format!("{:x}", hasher.lock().expect("hasher").clone().finalize());
        if item
            .sha1()
            .is_some_and(|stored| !stored.eq_ignore_ascii_case(&sent))
        {
            if target.file.is_none() {
                let url = self.api_url(&format!("files/{}", item.id()));
                let _ = self.api.send(|c| c.delete(&url)).await;
            }
            return Err(Upload::Api(ApiError::new(
                502,
                "bad_gateway",
                "Box stored other bytes than were sent.",
            )));
        }
        Ok((item, n))
    }

    /// Sends a request whose body cannot be sent twice: a 401 (the token is renewed) or a
    /// rate limit ends it with an error the client can retry on.
    async fn send_once(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Upload> {
        let token = self.api.tokens.token().await?;
        let response = self
            .api
            .decorate(request)
            .bearer_auth(token.access.expose())
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    oauth::unreachable(e)
                } else {
                    ApiError::bad_request(format!("Upload interrupted: {}", e.without_url()))
                }
            })?;
        match response.status().as_u16() {
            // The body is spent: refresh the token for the client's next attempt.
            401 => match self.api.tokens.refreshed(&token).await {
                Ok(_) => Err(ApiError::overloaded(
                    "Box refused an expired token; it was renewed: retry the upload.",
                    1,
                )
                .into()),
                Err(e) => Err(e.into()),
            },
            429 | 503 => {
                let wait = oauth::retry_after(&response).unwrap_or(Duration::from_secs(1));
                Err(oauth::rate_limited(wait).into())
            }
            _ => Ok(response),
        }
    }

    /// A chunked upload session of `n` bytes.
    async fn chunked(
        &self,
        target: &Target,
        mut body: ByteStream,
        n: u64,
    ) -> Result<(Item, u64), Upload> {
        let session = self.open_session(target, n).await?;
        let part_size = session["part_size"].as_u64().unwrap_or(0);
        let endpoint = |name: &str| {
            session["session_endpoints"][name]
                .as_str()
                .map(str::to_string)
        };
        let (Some(part_url), Some(commit_url), Some(abort_url)) = (
            endpoint("upload_part"),
            endpoint("commit"),
            endpoint("abort"),
        ) else {
            return Err(ApiError::new(
                502,
                "bad_gateway",
                "Box's upload session has no endpoints.",
            )
            .into());
        };
        let guard = AbortOnDrop {
            api: Some(self.api.clone()),
            url: abort_url,
        };
        if part_size == 0 || part_size > MAX_PART {
            return Err(ApiError::new(
                502,
                "bad_gateway",
                format!("Box asked for parts of {part_size} bytes."),
            )
            .into());
        }
        let mut whole = Sha1::new();
        let mut parts = Vec::new();
        let mut pending = BytesMut::new();
        let mut offset = 0u64;
        let mut ended = false;
        while !ended || !pending.is_empty() {
            while !ended && (pending.len() as u64) < part_size {
                match body.next().await {
                    Some(chunk) => pending.extend_from_slice(&chunk.map_err(interrupted)?),
                    None => ended = true,
                }
            }
            let take = pending.len().min(part_size as usize);
            let part = pending.split_to(take).freeze();
            if part.is_empty() {
                break;
            }
            if offset + part.len() as u64 > n {
                return Err(
                    ApiError::bad_request("The body is longer than its Content-Length.").into(),
                );
            }
            whole.update(&part);
            parts.push(self.put_part(&part_url, &part, offset, n).await?);
            offset += part.len() as u64;
        }
        if offset != n {
            return Err(ApiError::bad_request(
                "Upload interrupted: the body is shorter than its Content-Length.",
            )
            .into());
        }
        let digest = format!("sha={}", STANDARD.encode(whole.finalize()));
        let item = self.commit(&commit_url, &parts, &digest).await?;
        guard.disarm();
        Ok((item, n))
    }

    async fn open_session(&self, target: &Target, n: u64) -> Result<Value, Upload> {
        let (url, body) = match &target.file {
            None => (
                self.upload_url("files/upload_sessions"),
                json!({"folder_id": target.folder, "file_size": n, "file_name": target.name}),
            ),
            Some(file) => (
                self.upload_url(&format!("files/{file}/upload_sessions")),
                json!({"file_size": n}),
            ),
        };
        let response = self.api.send(|c| c.post(&url).json(&body)).await?;
        Ok(wire::json(response).await?)
    }

    /// One part at `offset` of an `n`-byte file; returns the part as Box recorded it.
    async fn put_part(
        &self,
        url: &str,
        part: &Bytes,
        offset: u64,
        n: u64,
    ) -> Result<Value, Upload> {
        let end = offset + part.len() as u64 - 1;
        let digest = format!("sha={}", STANDARD.encode(Sha1::digest(part)));
        let response = self
            .api
            .send(|c| {
                c.put(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .header(
                        reqwest::header::CONTENT_RANGE,
                        format!("bytes {offset}-{end}/{n}"),
                    )
                    .header("digest", &digest)
                    .body(part.clone())
            })
            .await?;
        let answer = wire::json(response).await?;
        Ok(answer["part"].clone())
    }

    /// Commits the session, waiting while Box answers 202 (parts still processing).
    async fn commit(&self, url: &str, parts: &[Value], digest: &str) -> Result<Item, Upload> {
        let body = json!({ "parts": parts });
        for _ in 0..COMMIT_TRIES {
            let response = self
                .api
                .send(|c| {
                    c.post(url)
                        .query(&[("fields", FIELDS)])
                        .header("digest", digest)
                        .json(&body)
                })
                .await?;
            if response.status() == reqwest::StatusCode::ACCEPTED {
                let wait = oauth::retry_after(&response).unwrap_or(Duration::from_secs(1));
                tokio::time::sleep(wait.min(Duration::from_secs(8))).await;
                continue;
            }
            return Ok(wire::uploaded(wire::json(response).await?)?);
        }
        Err(ApiError::new(
            504,
            "gateway_timeout",
            "Box did not finish processing the upload in time.",
        )
        .into())
    }
}

/// How an upload failed: Box said no (interpreted by the caller), or it went wrong here.
enum Upload {
    Box(wire::Failure),
    Api(ApiError),
}

impl From<wire::Failure> for Upload {
    fn from(f: wire::Failure) -> Self {
        Upload::Box(f)
    }
}

impl From<ApiError> for Upload {
    fn from(e: ApiError) -> Self {
        Upload::Api(e)
    }
}

fn interrupted(e: std::io::Error) -> ApiError {
    ApiError::bad_request(format!("Upload interrupted: {e}"))
}

/// Reads up to `limit` bytes of `body`: the bytes, and the rest of the stream (with the
/// first chunk past the limit put back) when there is more.
async fn buffer(mut body: ByteStream, limit: u64) -> Result<(Bytes, Option<ByteStream>), ApiError> {
    let mut head = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(interrupted)?;
        if head.len() as u64 + chunk.len() as u64 > limit {
            let rest = stream::iter([Ok(chunk)]).chain(body).boxed();
            return Ok((head.freeze(), Some(rest)));
        }
        head.extend_from_slice(&chunk);
    }
    Ok((head.freeze(), None))
}

/// `body`, failing unless it is exactly `n` bytes long; what passes is hashed.
fn exactly(body: ByteStream, n: u64, hasher: Arc<Mutex<Sha1>>) -> ByteStream {
    let wrong =
        |what: &str| std::io::Error::other(format!("the body is {what} than its Content-Length"));
    stream::unfold((body, 0u64, false), move |(mut body, seen, done)| {
        let hasher = hasher.clone();
        async move {
            if done {
                return None;
            }
            match body.next().await {
                Some(Ok(chunk)) => {
                    let seen = seen + chunk.len() as u64;
                    if seen > n {
                        return Some((Err(wrong("longer")), (body, seen, true)));
                    }
                    hasher.lock().expect("hasher").update(&chunk);
                    Some((Ok(chunk), (body, seen, false)))
                }
                Some(Err(e)) => Some((Err(e), (body, seen, true))),
                None if seen < n => Some((Err(wrong("shorter")), (body, seen, true))),
                None => None,
            }
        }
    })
    .boxed()
}

/// Aborts an upload session when dropped while armed (errors and dropped requests).
struct AbortOnDrop {
    api: Option<oauth::Api>,
    url: String,
}

impl AbortOnDrop {
    fn disarm(mut self) {
        self.api = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(api) = self.api.take() {
            let url = std::mem::take(&mut self.url);
            tokio::spawn(async move {
                let _ = api.send(|c| c.delete(&url)).await;
            });
        }
    }
}
