//! Uploads to Drive with bounded memory. A body of up to [`MULTIPART_MAX`] bytes goes in
//! one `uploadType=multipart` request (metadata and bytes together, atomic). A larger one
//! (or one whose length is unknown and turns out larger) goes through a resumable session
//! (`uploadType=resumable`), [`CHUNK`] bytes at a time; Drive creates or updates the file
//! only when the last chunk arrives, so an interrupted upload leaves nothing.

use bytes::{Bytes, BytesMut};
use cloudbridge_shared::ApiError;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::client::{Drive, FIELDS};
use crate::transfer::ByteStream;

/// Largest body sent as one multipart request (Drive's advice: 5 MB).
pub const MULTIPART_MAX: usize = 5 << 20;
/// Size of the chunks of a resumable upload (Drive wants multiples of 256 KiB).
pub const CHUNK: usize = 8 << 20;
/// Resumptions of one session after a failed chunk before giving up.
const RESUMES: u32 = 3;

/// Where an upload's bytes go; encoded (JSON) as the plan path and the staged value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum Target {
    /// A new file under a hidden temporary name in folder `parent`, renamed at commit.
    New {
        /// Drive id of the folder.
        parent: String,
        /// The temporary name.
        temp: String,
        /// MIME type of the final name.
        mime: String,
    },
    /// New contents of the existing file `file` (an overwrite: same Drive id, a new
    /// revision, sharing kept).
    Replace {
        /// Drive id of the file.
        file: String,
        /// MIME type of its name.
        mime: String,
    },
}

impl Target {
    /// The plan path (and staged value) of this target.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("targets serialize")
    }

    /// A target from its plan path; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }

    fn mime(&self) -> &str {
        match self {
            Target::New { mime, .. } | Target::Replace { mime, .. } => mime,
        }
    }

    /// The file resource's metadata sent with the bytes.
    fn metadata(&self) -> Value {
        match self {
            Target::New { parent, temp, mime } => {
                json!({"name": temp, "parents": [parent], "mimeType": mime})
            }
            Target::Replace { .. } => json!({}),
        }
    }

    /// `(method, url)` of the upload request.
    fn endpoint(&self, drive: &Drive) -> (reqwest::Method, String) {
        match self {
            Target::New { .. } => (reqwest::Method::POST, drive.upload_url(None)),
            Target::Replace { file, .. } => (reqwest::Method::PATCH, drive.upload_url(Some(file))),
        }
    }
}

/// Writes `body` (of `length` bytes, if known) to `target`; returns the bytes written.
pub async fn send(
    drive: &Drive,
    target: &Target,
    mut body: ByteStream,
    length: Option<u64>,
) -> Result<u64, ApiError> {
    let mut buf = BytesMut::new();
    let ended = fill(&mut body, &mut buf, MULTIPART_MAX + 1).await?;
    if ended && buf.len() <= MULTIPART_MAX {
        let written = buf.len() as u64;
        multipart(drive, target, buf.freeze()).await?;
        return Ok(written);
    }
    resumable(drive, target, body, buf, length).await
}

/// Reads `body` into `buf` until it holds `upto` bytes; true when the body ended.
async fn fill(body: &mut ByteStream, buf: &mut BytesMut, upto: usize) -> Result<bool, ApiError> {
    while buf.len() < upto {
        match body.next().await {
            Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
            Some(Err(e)) => return Err(ApiError::bad_request(format!("Upload interrupted: {e}"))),
            None => return Ok(true),
        }
    }
    Ok(false)
}

/// One `multipart/related` request: the metadata, then the bytes.
async fn multipart(drive: &Drive, target: &Target, bytes: Bytes) -> Result<(), ApiError> {
    let boundary = format!("cloudbridge-{}", uuid::Uuid::new_v4().simple());
    let body = related_body(&boundary, &target.metadata(), target.mime(), &bytes);
    let content_type = format!("multipart/related; boundary={boundary}");
    let (method, url) = target.endpoint(drive);
    drive
        .call(|c| {
            c.request(method.clone(), &url)
                .query(&[("uploadType", "multipart"), ("fields", FIELDS)])
                .header(reqwest::header::CONTENT_TYPE, &content_type)
                .body(body.clone())
        })
        .await
        .map(drop)
}

/// A `multipart/related` body of JSON `metadata` and `bytes` of type `mime`.
fn related_body(boundary: &str, metadata: &Value, mime: &str, bytes: &[u8]) -> Bytes {
    let mut body = BytesMut::with_capacity(bytes.len() + 512);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n\
             --{boundary}\r\nContent-Type: {mime}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body.freeze()
}

/// A resumable session: opened, then fed chunk by chunk (`buf` holds the first bytes).
async fn resumable(
    drive: &Drive,
    target: &Target,
    mut body: ByteStream,
    mut buf: BytesMut,
    length: Option<u64>,
) -> Result<u64, ApiError> {
    let session = open_session(drive, target, length).await?;
    let mut offset = 0u64;
    let mut resumes = 0;
    loop {
        let ended = fill(&mut body, &mut buf, CHUNK + 1).await?;
        // All but the last chunk are exactly CHUNK bytes; the last says the total.
        let (chunk, total) = if ended && buf.len() <= CHUNK {
            let chunk = buf.split().freeze();
            let total = offset + chunk.len() as u64;
            (chunk, Some(total))
        } else {
            (buf.split_to(CHUNK).freeze(), length)
        };
        let last = total == Some(offset + chunk.len() as u64);
        // Until Drive has all of this chunk (it may keep only part of it).
        let mut sent = 0usize;
        loop {
            let piece = chunk.slice(sent..);
            let range = content_range(offset + sent as u64, piece.len() as u64, total);
            let answer = drive
                .call(|c| {
                    c.put(&session)
                        .header(reqwest::header::CONTENT_RANGE, &range)
                        .body(piece.clone())
                })
                .await;
            let acknowledged = match answer {
                Ok(r) if r.status().is_success() => {
                    if last {
                        return Ok(offset + chunk.len() as u64);
                    }
                    return Err(ApiError::new(
                        502,
                        "bad_gateway",
                        "Google Drive ended the upload before its last chunk.",
                    ));
                }
                Ok(r) if r.status().as_u16() == 308 => acknowledged(header(&r, "range")),
                Ok(r) => {
                    return Err(ApiError::new(
                        502,
                        "bad_gateway",
                        format!("Google Drive answered {} to an upload chunk.", r.status()),
                    ))
                }
                // A server error or a lost connection: ask Drive how far it got.
                Err(e) if matches!(e.status, 500..=504) && resumes < RESUMES => {
                    resumes += 1;
                    status(drive, &session, length.or(total)).await?
                }
                Err(e) => return Err(e),
            };
            let end = offset + chunk.len() as u64;
            if acknowledged < offset || acknowledged > end {
                return Err(ApiError::new(
                    502,
                    "bad_gateway",
                    "Google Drive lost track of the upload.",
                ));
            }
            if acknowledged == end && !last {
                break;
            }
            sent = (acknowledged - offset) as usize;
        }
        offset += chunk.len() as u64;
    }
}

/// Opens a resumable session for `target`; returns its URL.
async fn open_session(
    drive: &Drive,
    target: &Target,
    length: Option<u64>,
) -> Result<String, ApiError> {
    let (method, url) = target.endpoint(drive);
    let metadata = target.metadata();
    let response = drive
        .call(|c| {
            let mut req = c
                .request(method.clone(), &url)
                .query(&[("uploadType", "resumable"), ("fields", FIELDS)])
                .header("X-Upload-Content-Type", target.mime())
                .json(&metadata);
            if let Some(length) = length {
                req = req.header("X-Upload-Content-Length", length);
            }
            req
        })
        .await?;
    header(&response, "location")
        .map(str::to_string)
        .ok_or_else(|| ApiError::new(502, "bad_gateway", "Google Drive opened no upload session."))
}

/// Asks how many bytes of the session Drive has.
async fn status(drive: &Drive, session: &str, total: Option<u64>) -> Result<u64, ApiError> {
    let range = content_range(0, 0, total);
    let response = drive
        .call(|c| {
            c.put(session)
                .header(reqwest::header::CONTENT_RANGE, &range)
                .header(reqwest::header::CONTENT_LENGTH, 0)
        })
        .await?;
    Ok(acknowledged(header(&response, "range")))
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name)?.to_str().ok()
}

/// `Content-Range` of `len` bytes at `offset` of a body of `total` bytes (`*`: unknown
/// yet); no bytes (`bytes */total`) asks for the session's status or ends it.
fn content_range(offset: u64, len: u64, total: Option<u64>) -> String {
    let total = total.map_or_else(|| "*".to_string(), |t| t.to_string());
    match len {
        0 => format!("bytes */{total}"),
        len => format!("bytes {offset}-{}/{total}", offset + len - 1),
    }
}

/// How many bytes Drive has, from the `Range: bytes=0-n` of a 308 (none: nothing yet).
fn acknowledged(range: Option<&str>) -> u64 {
    range
        .and_then(|r| r.strip_prefix("bytes=0-"))
        .and_then(|last| last.trim().parse::<u64>().ok())
        .map_or(0, |last| last + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_name_the_total_once_known() {
        assert_eq!(content_range(0, CHUNK as u64, None), "bytes 0-8388607/*");
        assert_eq!(content_range(8, 2, Some(10)), "bytes 8-9/10");
        assert_eq!(content_range(0, 0, Some(16)), "bytes */16");
        assert_eq!(content_range(0, 0, None), "bytes */*");
        assert_eq!(CHUNK % (256 << 10), 0, "chunks are multiples of 256 KiB");
    }

    #[test]
    fn acknowledged_bytes_come_from_the_range_header() {
        assert_eq!(acknowledged(None), 0);
        assert_eq!(acknowledged(Some("bytes=0-262143")), 262_144);
        assert_eq!(acknowledged(Some("nonsense")), 0);
    }

    #[test]
    fn related_bodies_keep_binary_bytes() {
        let bytes = [0u8, 255, 13, 10, 45, 45];
        let body = related_body("b", &json!({"name": "x"}), "image/png", &bytes);
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with("--b\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{\"name\":\"x\"}\r\n--b\r\nContent-Type: image/png\r\n\r\n"));
        assert!(body.ends_with(b"\r\n--b--\r\n"));
        assert!(body.windows(bytes.len()).any(|w| w == bytes));
    }

    #[test]
    fn targets_round_trip_through_the_plan() {
        let t = Target::New {
            parent: "p".into(),
            temp: ".cloudbridge-upload-x".into(),
            mime: "text/plain".into(),
        };
        assert_eq!(Target::decode(&t.encode()), Some(t));
        assert_eq!(Target::decode("not a plan"), None);
    }

    /// A resumable session against a Drive that keeps only part of a chunk and then fails
    /// one chunk with a 500: the uploader resends what Drive lacks and asks where it stands.
    #[tokio::test]
    async fn a_session_resends_what_drive_did_not_keep() {
        use std::sync::{Arc, Mutex};

        use axum::{extract::State, http::HeaderMap, response::IntoResponse, routing::post};

        #[derive(Default)]
        struct Seen {
            ranges: Vec<String>,
            received: Vec<u8>,
            puts: u32,
        }
        type Shared = Arc<Mutex<Seen>>;
        async fn open(headers: HeaderMap) -> impl IntoResponse {
            let host = headers["host"].to_str().unwrap().to_string();
            assert_eq!(headers["x-upload-content-length"], "8389608");
            [("location", format!("http://{host}/session"))]
        }
        async fn put(
            State(seen): State<Shared>,
            headers: HeaderMap,
            body: Bytes,
        ) -> axum::response::Response {
            let mut seen = seen.lock().unwrap();
            seen.puts += 1;
            let range = headers["content-range"].to_str().unwrap().to_string();
            seen.ranges.push(range.clone());
            let keep = match seen.puts {
                1 => 256 << 10, // keeps a part of the first chunk
                2 => {
                    return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response()
                }
                _ => body.len(),
            };
            seen.received.extend_from_slice(&body[..keep]);
            if seen.received.len() == 8_389_608 {
                return axum::Json(json!({"id": "uploaded"})).into_response();
            }
            let last = seen.received.len() - 1;
            (
                axum::http::StatusCode::PERMANENT_REDIRECT,
                [("range", format!("bytes=0-{last}"))],
            )
                .into_response()
        }
        let seen = Shared::default();
        let app = axum::Router::new()
            .route("/upload/drive/v3/files", post(open))
            .route("/session", axum::routing::put(put))
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });

        let mut provider = cloudbridge_shared::config::Settings::default()
            .providers
            .gdrive;
        provider.api_url = base.clone();
        provider.content_url = base;
        let api = crate::oauth::Api {
            http: reqwest::Client::new(),
            tokens: Arc::new(crate::oauth::FixedToken(crate::oauth::Token {
                access: cloudbridge_shared::secret::Secret::new("t"),
                version: 0,
            })),
            call_timeout: std::time::Duration::from_secs(60),
            headers: Vec::new(),
        };
        let drive = Drive::new(api, &provider);
        let bytes: Vec<u8> = (0..8_389_608u32).map(|i| (i % 251) as u8).collect();
        let body = futures::stream::iter(
            bytes
                .chunks(64 << 10)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        )
        .boxed();
        let target = Target::New {
            parent: "p".into(),
            temp: "t".into(),
            mime: "text/plain".into(),
        };
        let written = send(&drive, &target, body, Some(bytes.len() as u64))
            .await
            .unwrap();
        assert_eq!(written, bytes.len() as u64);
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.ranges,
            [
                "bytes 0-8388607/8389608",
                "bytes 262144-8388607/8389608",
                "bytes */8389608",
                "bytes 262144-8388607/8389608",
                "bytes 8388608-8389607/8389608",
            ]
        );
        assert!(seen.received == bytes, "Drive got the body exactly");
    }
}
