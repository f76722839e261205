//! Byte streaming for the API tier, along a plan a worker made. Memory stays bounded:
//! bytes flow chunk by chunk between the client and the service.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use cloudbridge_shared::{
    protocol::{AccountRef, TransferPlan},
    thumbnail::ThumbnailPlan,
    ApiError,
};
use futures::{stream::BoxStream, Stream, StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;

use crate::{dal::service_error, local::refuse_symlinks};

/// A download's body and, when known, its length.
pub struct Download {
    /// The bytes.
    pub body: BoxStream<'static, std::io::Result<Bytes>>,
    /// `Content-Length`, when the source knows it.
    pub length: Option<u64>,
}

/// The file a local plan points at, checked again on this side (no `..`, no symlinks).
fn local_path(data_root: &Path, relative: &str) -> Result<PathBuf, ApiError> {
    cloudbridge_shared::ItemPath::parse(relative).map_err(|_| ApiError::internal("bad plan"))?;
    // A few stat calls: cheaper inline than a hop to the blocking pool.
    refuse_symlinks(data_root, relative)?;
    Ok(data_root.join(relative))
}

/// The server path of an SFTP plan's item, checked again on this side.
fn sftp_path(conn: &crate::sftp::Conn, relative: &str) -> Result<String, ApiError> {
    let path = cloudbridge_shared::ItemPath::parse(relative)
        .map_err(|_| ApiError::internal("bad plan"))?;
    Ok(conn.full(&path))
}

/// A request along an `Http` plan (a presigned URL on the account's endpoint), through the
/// guarded client: the endpoint is a host the client chose.
fn request(
    guard: &crate::guard::Guard,
    method: &str,
    url: &str,
    headers: &[(String, String)],
) -> Result<reqwest::RequestBuilder, ApiError> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(ApiError::internal)?;
    let url = guard.check_url(url, "endpoint")?;
    let mut req = guard.http().request(method, url);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    Ok(req)
}

/// Maps a service's HTTP answer to a Kloudless error.
fn upstream_status(status: reqwest::StatusCode) -> ApiError {
    match status.as_u16() {
        404 => ApiError::not_found("No file has this id."),
        401 | 403 => ApiError::new(
            401,
            "service_unauthorized",
            "The service refused the transfer.",
        ),
        429 => {
            let mut e = ApiError::new(
                429,
                "too_many_service_requests",
                "The service is rate limiting.",
            );
            e.retry_after = Some(1);
            e
        }
        s if s >= 500 => ApiError::new(502, "bad_gateway", format!("The service answered {s}.")),
        s => ApiError::new(
            502,
            "bad_gateway",
            format!("The service refused the transfer ({s})."),
        ),
    }
}

fn unreachable(e: reqwest::Error) -> ApiError {
    ApiError::new(
        503,
        "service_not_available",
        format!("The service is unreachable: {}", e.without_url()),
    )
}

/// Where the API tier moves one request's bytes: the process's connector context (data
/// root, HTTP client, keys, tokens) and the account.
pub struct Transfer<'a> {
    /// How this process opens accounts.
    pub ctx: &'a crate::Context,
    /// The account.
    pub account: &'a AccountRef,
}

/// A body streamed to or from a service.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// Services whose `Service` plans [`transfer`](self) streams itself; the first-party
/// connectors stream theirs through [`crate::Storage::download`] and
/// [`crate::Storage::upload`].
fn streams_itself(service: &str) -> bool {
    matches!(service, "sftp" | "webdav" | "s3" | "s3_compatible")
}

/// Size of the chunks written to proxied services (bounds memory per upload; also the
/// part size of multipart uploads the API tier writes to object stores: 16 MiB × 10,000
/// parts allows 156 GiB).
const WRITE_CHUNK: usize = 16 << 20;
/// Largest object one presigned PUT may carry (S3's limit).
const MAX_SINGLE_PUT: u64 = 5 << 30;

impl Transfer<'_> {
    /// Opens the source of a download: the whole file, or the inclusive byte `range`
    /// (already checked against the file's size).
    pub async fn open_download(
        &self,
        plan: &TransferPlan,
        range: Option<(u64, u64)>,
    ) -> Result<Download, ApiError> {
        open_download(self, plan, range).await
    }

    /// Writes an upload body to where the plan says (see [`write_upload`]).
    pub async fn write_upload<S, E>(
        &self,
        plan: &TransferPlan,
        body: S,
        limit: u64,
        length: Option<u64>,
    ) -> Result<u64, ApiError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send + 'static,
        E: std::fmt::Display + Send + Sync + 'static,
    {
        write_upload(self, plan, body, limit, length).await
    }
}

async fn open_download(
    t: &Transfer<'_>,
    plan: &TransferPlan,
    range: Option<(u64, u64)>,
) -> Result<Download, ApiError> {
    let span = |length: u64| range.map_or(length, |(start, end)| end - start + 1);
    match plan {
        TransferPlan::Service { path, .. } if !streams_itself(&t.account.service) => {
            crate::open(t.ctx, t.account)?.download(path, range).await
        }
        TransferPlan::Service { path, .. } if t.account.service == "sftp" => {
            let conn =
                crate::sftp::connect(t.account, t.ctx.cipher.as_deref(), &t.ctx.guard).await?;
            let path = sftp_path(&conn, path)?;
            let (length, body) = crate::sftp::io::read(&conn, &path, range).await?;
            Ok(Download {
                body,
                length: Some(span(length)),
            })
        }
        TransferPlan::Service { path, .. } => {
            let (op, _) = crate::operator(t.account, t.ctx.cipher.as_deref(), &t.ctx.guard)?;
            let length = op.stat(path).await.map_err(service_error)?.content_length();
            let reader = op.reader(path).await.map_err(service_error)?;
            let bytes = range.map_or(0..length, |(start, end)| start..end + 1);
            let body = reader
                .into_bytes_stream(bytes)
                .await
                .map_err(service_error)?
                .boxed();
            Ok(Download {
                body,
                length: Some(span(length)),
            })
        }
        TransferPlan::Local { relative, .. } => {
            use tokio::io::{AsyncReadExt, AsyncSeekExt};
            let path = local_path(&t.ctx.data_root, relative)?;
            let mut file = tokio::fs::File::open(path)
                .await
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => ApiError::not_found("No file has this id."),
                    _ => ApiError::internal(e),
                })?;
            let length = span(file.metadata().await.map_err(ApiError::internal)?.len());
            if let Some((start, _)) = range {
                file.seek(std::io::SeekFrom::Start(start))
                    .await
                    .map_err(ApiError::internal)?;
            }
            let body =
                tokio_util::io::ReaderStream::with_capacity(file.take(length), 64 * 1024).boxed();
            Ok(Download {
                body,
                length: Some(length),
            })
        }
        TransferPlan::Http {
            method,
            url,
            headers,
            ..
        } => {
            let response = send(&t.ctx.guard, method, url, headers, range).await?;
            if range.is_some() && response.status() != reqwest::StatusCode::PARTIAL_CONTENT {
                return Err(ApiError::new(
                    502,
                    "bad_gateway",
                    "The service ignored the byte range.",
                ));
            }
            let length = response.content_length();
            let body = response
                .bytes_stream()
                .map_err(std::io::Error::other)
                .boxed();
            Ok(Download { body, length })
        }
    }
}

/// Sends the request of an `Http` plan through the guarded client (`range` asked with a
/// `Range` header); any answer but a success is an error.
async fn send(
    guard: &crate::guard::Guard,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    range: Option<(u64, u64)>,
) -> Result<reqwest::Response, ApiError> {
    let mut req = request(guard, method, url, headers)?;
    if let Some((start, end)) = range {
        req = req.header(reqwest::header::RANGE, format!("bytes={start}-{end}"));
    }
    let response = req.send().await.map_err(unreachable)?;
    if !response.status().is_success() {
        return Err(upstream_status(response.status()));
    }
    Ok(response)
}

/// A thumbnail's bytes and their MIME type.
pub struct Image {
    /// The bytes.
    pub download: Download,
    /// `image/png`, `image/jpeg`…
    pub content_type: String,
}

impl Image {
    /// The image a service answered `response` with: its body streamed, its type from
    /// `Content-Type` when that names an image, else `asked` (the format the request
    /// named, for services that label every download as bytes); with neither, it is not
    /// a thumbnail (the service's error page, say).
    pub fn from_response(
        response: reqwest::Response,
        asked: Option<&str>,
    ) -> Result<Self, ApiError> {
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .filter(|v| v.starts_with("image/"))
            .or_else(|| asked.map(str::to_string))
            .ok_or_else(|| {
                ApiError::new(
                    502,
                    "bad_gateway",
                    "The service's thumbnail is not an image.",
                )
            })?;
        let length = response.content_length();
        let body = response
            .bytes_stream()
            .map_err(std::io::Error::other)
            .boxed();
        Ok(Self {
            download: Download { body, length },
            content_type,
        })
    }
}

impl Transfer<'_> {
    /// Opens the image of a thumbnail a worker planned: a cached file on the data root, a
    /// URL the service signed (through the guarded client: the service named its host),
    /// or the connector's own call.
    pub async fn open_thumbnail(&self, thumbnail: &ThumbnailPlan) -> Result<Image, ApiError> {
        match &thumbnail.plan {
            TransferPlan::Service { path, .. } => {
                crate::open(self.ctx, self.account)?
                    .thumbnail_image(path)
                    .await
            }
            TransferPlan::Http {
                method,
                url,
                headers,
                ..
            } => {
                let response = send(&self.ctx.guard, method, url, headers, None).await?;
                Image::from_response(response, thumbnail.content_type.as_deref())
            }
            local @ TransferPlan::Local { .. } => Ok(Image {
                download: open_download(self, local, None).await?,
                content_type: thumbnail
                    .content_type
                    .clone()
                    .ok_or_else(|| ApiError::internal("a local thumbnail without its type"))?,
            }),
        }
    }
}

/// Writes an upload body chunk by chunk to where the plan says; durable on success.
/// Returns the number of bytes written. The caller discards staged bytes on error.
async fn write_upload<S, E>(
    t: &Transfer<'_>,
    plan: &TransferPlan,
    mut body: S,
    limit: u64,
    length: Option<u64>,
) -> Result<u64, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin + Send + 'static,
    E: std::fmt::Display + Send + Sync + 'static,
{
    let too_large = || ApiError::new(413, "request_too_large", "The upload is too large.");
    if length.is_some_and(|l| l > limit) {
        return Err(too_large());
    }
    let (data_root, guard) = (t.ctx.data_root.as_path(), &t.ctx.guard);
    match plan {
        TransferPlan::Service { path, staged } if !streams_itself(&t.account.service) => {
            let storage = crate::open(t.ctx, t.account)?;
            let (body, written) = counted(body, limit);
            storage
                .upload(path, staged.as_deref(), body, length)
                .await
                .map_err(|e| {
                    if written.load(std::sync::atomic::Ordering::Relaxed) > limit {
                        too_large()
                    } else {
                        e
                    }
                })
        }
        TransferPlan::Service { path, .. } if t.account.service == "webdav" => {
            let config: crate::webdav::WebdavConfig =
                serde_json::from_value(t.account.config.clone()).map_err(ApiError::internal)?;
            let secrets = crate::open_secrets(t.account, t.ctx.cipher.as_deref())?;
            let (body, written) = counted(body, limit);
            let mut request = crate::webdav::put_request(guard, &config, &secrets, path)?
                .body(reqwest::Body::wrap_stream(body));
            if let Some(length) = length {
                request = request.header(reqwest::header::CONTENT_LENGTH, length);
            }
            let response = request.send().await.map_err(|e| {
                if written.load(std::sync::atomic::Ordering::Relaxed) > limit {
                    too_large()
                } else {
                    ApiError::bad_request(format!("Upload interrupted: {}", e.without_url()))
                }
            })?;
            if !response.status().is_success() {
                return Err(upstream_status(response.status()));
            }
            Ok(written.load(std::sync::atomic::Ordering::Relaxed))
        }
        TransferPlan::Service { path, .. } if t.account.service == "sftp" => {
            let conn =
                crate::sftp::connect(t.account, t.ctx.cipher.as_deref(), &t.ctx.guard).await?;
            let path = sftp_path(&conn, path)?;
            let mut writer = crate::sftp::io::Writer::create(&conn, &path).await?;
            let mut written = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk =
                    chunk.map_err(|e| ApiError::bad_request(format!("Upload interrupted: {e}")))?;
                written += chunk.len() as u64;
                if written > limit {
                    return Err(too_large());
                }
                writer.write(&chunk).await?;
            }
            writer.finish().await
        }
        TransferPlan::Service { path, .. } => write_with_operator(t, path, body, limit).await,
        TransferPlan::Local { relative, .. } => {
            let path = local_path(data_root, relative)?;
            let mut file = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .await
                .map_err(ApiError::internal)?;
            let mut written = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk =
                    chunk.map_err(|e| ApiError::bad_request(format!("Upload interrupted: {e}")))?;
                written += chunk.len() as u64;
                if written > limit {
                    return Err(too_large());
                }
                file.write_all(&chunk).await.map_err(ApiError::internal)?;
            }
            file.sync_all().await.map_err(ApiError::internal)?;
            Ok(written)
        }
        // A presigned PUT needs the length up front and stops at 5 GiB: without a length, or
        // beyond, the API tier writes a multipart upload itself (chunk by chunk, bounded).
        TransferPlan::Http {
            staged: Some(staged),
            ..
        } if length.is_none_or(|l| l > MAX_SINGLE_PUT) => {
            let path = cloudbridge_shared::ItemPath::from_id(staged)?;
            write_with_operator(t, path.as_str(), body, limit).await
        }
        TransferPlan::Http {
            method,
            url,
            headers,
            ..
        } => {
            let length = length.ok_or_else(|| {
                ApiError::new(
                    411,
                    "length_required",
                    "Uploads to this service need a Content-Length.",
                )
            })?;
            let counted = body.map(|c| c.map_err(|e| std::io::Error::other(e.to_string())));
            let response = request(guard, method, url, headers)?
                .header(reqwest::header::CONTENT_LENGTH, length)
                .body(reqwest::Body::wrap_stream(counted))
                .send()
                .await
                .map_err(|e| {
                    ApiError::bad_request(format!("Upload interrupted: {}", e.without_url()))
                })?;
            if !response.status().is_success() {
                return Err(upstream_status(response.status()));
            }
            Ok(length)
        }
    }
}

/// `body` as an I/O stream that fails once more than `limit` bytes went through, and
/// the count of bytes that did.
fn counted<S, E>(body: S, limit: u64) -> (ByteStream, std::sync::Arc<std::sync::atomic::AtomicU64>)
where
    S: Stream<Item = Result<Bytes, E>> + Unpin + Send + 'static,
    E: std::fmt::Display + Send + Sync + 'static,
{
    use std::sync::atomic::Ordering::Relaxed;
    let written = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = written.clone();
    let body = body
        .map(move |c| {
            let c = c.map_err(|e| std::io::Error::other(e.to_string()))?;
            let total = counter.fetch_add(c.len() as u64, Relaxed) + c.len() as u64;
            if total > limit {
                return Err(std::io::Error::other("upload larger than the limit"));
            }
            Ok(c)
        })
        .boxed();
    (body, written)
}

/// Writes `body` to `path` on an OpenDAL service with its own writer (multipart on object
/// stores), `WRITE_CHUNK` bytes at a time; aborted on any error.
async fn write_with_operator<S, E>(
    t: &Transfer<'_>,
    path: &str,
    mut body: S,
    limit: u64,
) -> Result<u64, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin + Send + 'static,
    E: std::fmt::Display + Send + Sync + 'static,
{
    let too_large = || ApiError::new(413, "request_too_large", "The upload is too large.");
    let (op, _) = crate::operator(t.account, t.ctx.cipher.as_deref(), &t.ctx.guard)?;
    let mut writer = op
        .writer_with(path)
        .chunk(WRITE_CHUNK)
        .await
        .map_err(service_error)?;
    let mut written = 0u64;
    while let Some(chunk) = body.next().await {
        let result = match chunk {
            Err(e) => Err(ApiError::bad_request(format!("Upload interrupted: {e}"))),
            Ok(chunk) => {
                written += chunk.len() as u64;
                if written > limit {
                    Err(too_large())
                } else {
                    writer.write(chunk).await.map_err(service_error)
                }
            }
        };
        if let Err(e) = result {
            let _ = writer.abort().await;
            return Err(e);
        }
    }
    writer.close().await.map_err(service_error)?;
    Ok(written)
}
