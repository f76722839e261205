//! Writing files: one `PUT …/content` for small bodies, a Graph upload session for large
//! ones (fragments of [`FRAGMENT`] bytes, each a multiple of 320 KiB as Graph requires,
//! sent with `Content-Range` and without the bearer token, which upload URLs refuse).
//! Either way Graph shows the file only once every byte has arrived, so nothing needs
//! staging: a failed upload leaves nothing behind (its session is cancelled).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cloudbridge_shared::ApiError;
use futures::StreamExt;
use reqwest::{header, Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::graph::{self, Graph};
use crate::{oauth, transfer::ByteStream};

/// Largest body sent in one request; larger ones go through an upload session.
pub const SIMPLE_MAX: usize = 4 << 20;
/// Size of one upload-session fragment: 32 × 320 KiB (10 MiB), held in memory while sent.
pub const FRAGMENT: usize = 32 * 320 * 1024;
// Graph refuses fragments of other sizes; a small body never needs a session.
const _: () = assert!(FRAGMENT.is_multiple_of(320 * 1024) && SIMPLE_MAX < FRAGMENT);
/// Attempts at one fragment (throttled, failed server-side or cut) before giving up.
const ATTEMPTS: u32 = 3;
/// Longest `Retry-After` waited out for a fragment.
const MAX_WAIT: Duration = Duration::from_secs(8);

/// Where an upload lands: the name settled when it was planned, in folder `parent`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    /// Upstream id of the folder.
    pub parent: String,
    /// File name.
    pub name: String,
    /// Replace a file of this name (else Graph must refuse with 409).
    pub replace: bool,
}

impl Target {
    fn conflict_behavior(&self) -> &'static str {
        if self.replace {
            "replace"
        } else {
            "fail"
        }
    }
}

/// Writes `body` (of `length` bytes, when known) to `target`; returns the bytes written.
/// Bodies without a length are accepted up to [`SIMPLE_MAX`]: an upload session must
/// announce the total size with every fragment.
pub async fn write(
    graph: &Graph,
    target: &Target,
    body: ByteStream,
    length: Option<u64>,
) -> Result<u64, ApiError> {
    let mut body = Reader::new(body);
    if length.is_none_or(|l| l <= SIMPLE_MAX as u64) {
        let head = body.read(SIMPLE_MAX + 1).await?;
        if head.len() <= SIMPLE_MAX {
            let written = head.len() as u64;
            check_length(written, length)?;
            simple(graph, target, head).await?;
            return Ok(written);
        }
        if length.is_none() {
            return Err(ApiError::new(
                411,
                "length_required",
                "Uploads of more than 4 MiB to OneDrive need a Content-Length.",
            ));
        }
        return Err(longer_than_announced());
    }
    let total = length.expect("large uploads have a length");
    session(graph, target, body, total).await
}

/// One `PUT` of the whole body.
async fn simple(graph: &Graph, target: &Target, body: Bytes) -> Result<(), ApiError> {
    let url = format!(
        "{}?@microsoft.graph.conflictBehavior={}",
        graph.child_content(&target.parent, &target.name),
        target.conflict_behavior()
    );
    let mime = mime_guess::from_path(&target.name).first_or_octet_stream();
    let response = graph
        .api
        .send(|client| {
            client
                .put(&url)
                .header(header::CONTENT_TYPE, mime.essence_str())
                .body(body.clone())
        })
        .await?;
    graph::checked(response).await.map(drop)
}

/// An upload session: created, fed fragment by fragment, cancelled on failure.
async fn session(
    graph: &Graph,
    target: &Target,
    mut body: Reader,
    total: u64,
) -> Result<u64, ApiError> {
    let request =
        json!({"item": {"@microsoft.graph.conflictBehavior": target.conflict_behavior()}});
    let url = graph.child(&target.parent, &target.name, "/createUploadSession");
    let created = graph::json(graph.call(Method::POST, &url, Some(&request)).await?).await?;
    let upload_url = created["uploadUrl"]
        .as_str()
        .ok_or_else(|| graph::bad_gateway("An upload session without an upload URL."))?
        .to_string();
    let api = &graph.api;
    let result = fragments(api, &upload_url, &mut body, total).await;
    if result.is_err() {
        // Best effort: an abandoned session also expires at the service.
        let delete = api.http.delete(&upload_url).timeout(api.call_timeout);
        let _ = delete.send().await;
    }
    result
}

async fn fragments(
    api: &oauth::Api,
    url: &str,
    body: &mut Reader,
    total: u64,
) -> Result<u64, ApiError> {
    let mut offset = 0u64;
    loop {
        let fragment = body.read(FRAGMENT).await?;
        let end = offset + fragment.len() as u64;
        if fragment.is_empty() || end > total {
            check_length(end, Some(total))?;
        }
        let done = put_fragment(api, url, fragment, offset, total).await?;
        offset = end;
        match (done, offset == total) {
            (true, true) => return Ok(total),
            (false, false) => {}
            (true, false) => {
                return Err(graph::bad_gateway(
                    "OneDrive finished the upload before the last fragment.",
                ))
            }
            (false, true) => {
                return Err(graph::bad_gateway(
                    "OneDrive did not finish the upload after the last fragment.",
                ))
            }
        }
    }
}

/// Sends one fragment; true when Graph says the file is complete (200/201), false when it
/// expects more (202).
async fn put_fragment(
    api: &oauth::Api,
    url: &str,
    fragment: Bytes,
    offset: u64,
    total: u64,
) -> Result<bool, ApiError> {
    let range = format!(
        "bytes {offset}-{}/{total}",
        offset + fragment.len() as u64 - 1
    );
    let mut attempt = 0;
    loop {
        attempt += 1;
        let sent = api
            .http
            .put(url)
            .timeout(api.call_timeout)
            .header(header::CONTENT_RANGE, &range)
            .header(header::CONTENT_LENGTH, fragment.len())
            .body(fragment.clone())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) if attempt < ATTEMPTS => {
                tracing::debug!(error = %e.without_url(), "fragment not sent; again");
                continue;
            }
            Err(e) => return Err(oauth::unreachable(e)),
        };
        let status = response.status();
        let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
        if retryable {
            let wait = oauth::retry_after(&response)
                .unwrap_or(Duration::from_millis(500 << attempt.min(4)));
            if attempt >= ATTEMPTS || wait > MAX_WAIT {
                return Err(match status {
                    StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                        oauth::rate_limited(wait)
                    }
                    _ => graph::graph_error(status.as_u16(), &serde_json::Value::Null),
                });
            }
            tokio::time::sleep(wait).await;
            continue;
        }
        return match status {
            StatusCode::ACCEPTED => Ok(false),
            StatusCode::OK | StatusCode::CREATED => Ok(true),
            _ => graph::checked(response).await.map(|_| false),
        };
    }
}

fn check_length(written: u64, length: Option<u64>) -> Result<(), ApiError> {
    match length {
        Some(l) if written < l => Err(ApiError::bad_request(
            "The upload was not received completely.",
        )),
        Some(l) if written > l => Err(longer_than_announced()),
        _ => Ok(()),
    }
}

fn longer_than_announced() -> ApiError {
    ApiError::bad_request("The upload is longer than its announced length.")
}

/// Reads a body in pieces of a chosen size.
struct Reader {
    body: ByteStream,
    pending: BytesMut,
}

impl Reader {
    fn new(body: ByteStream) -> Self {
        Self {
            body,
            pending: BytesMut::new(),
        }
    }

    /// The next `n` bytes, or fewer at the end of the body.
    async fn read(&mut self, n: usize) -> Result<Bytes, ApiError> {
        while self.pending.len() < n {
            match self.body.next().await {
                Some(Ok(chunk)) => self.pending.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    return Err(ApiError::bad_request(format!("Upload interrupted: {e}")))
                }
                None => break,
            }
        }
        let take = n.min(self.pending.len());
        Ok(self.pending.split_to(take).freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_reader_cuts_a_body_at_any_size() {
        let chunks: Vec<std::io::Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"abc")),
            Ok(Bytes::from_static(b"defgh")),
        ];
        let mut reader = Reader::new(futures::stream::iter(chunks).boxed());
        assert_eq!(reader.read(2).await.unwrap().as_ref(), b"ab");
        assert_eq!(reader.read(4).await.unwrap().as_ref(), b"cdef");
        assert_eq!(reader.read(9).await.unwrap().as_ref(), b"gh");
        assert!(reader.read(9).await.unwrap().is_empty());
    }
}
