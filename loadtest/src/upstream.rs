//! A fake third-party service for load tests: the subset of the S3 API that Cloudbridge's
//! `s3_compatible` connector uses for metadata, listing, downloads and uploads, with a
//! configurable latency distribution and injected errors and rate limiting, so that a load
//! test measures Cloudbridge and not the internet.
//!
//! Every key without a trailing `/` exists and holds `object_size` bytes; listings show
//! `seed0.txt` … `seed{N-1}.txt` in key order, paged as `ListObjectsV2` pages
//! (`max-keys`, `start-after`, `continuation-token`); uploads are accepted and dropped.
//! Signatures are not checked. For the OAuth pass-through and paging benchmarks it also
//! answers a few Box calls: `GET /2.0/users/me`, the root folder `GET /2.0/folders/0` and
//! its items (`GET /2.0/folders/0/items`, the same `listed` files, paged with
//! `usemarker`/`marker`/`limit`). `GET /_stats` tells how many listing calls it answered.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{
    body::Body,
    extract::{Path, Query, State},
    http::{header, HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{any, get},
    Router,
};
use rand::Rng;

/// How the fake service behaves.
#[derive(Debug, Clone, clap::Args)]
pub struct Behaviour {
    /// Mean added latency per request, milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Uniform jitter around the mean, ± milliseconds.
    #[arg(long, default_value_t = 0)]
    pub jitter_ms: u64,
    /// Share of requests answered 500 (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Share of requests answered 429 with `Retry-After: 1` (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub throttle_rate: f64,
    /// Objects in a listing.
    #[arg(long, default_value_t = 20)]
    pub listed: usize,
    /// Size of every object, bytes.
    #[arg(long, default_value_t = 1024)]
    pub object_size: usize,
    /// When non-zero, listings also show one `churn-<n>.txt` whose name changes every this
    /// many seconds: each account listed sees a file appear and one go (event collection).
    #[arg(long, default_value_t = 0)]
    pub churn_secs: u64,
    /// Calls answered so far, by kind.
    #[arg(skip)]
    pub counts: Arc<Counts>,
}

/// How many calls of each kind the fake answered (`GET /_stats`).
#[derive(Debug, Default)]
pub struct Counts {
    /// Bucket listings (`GET /{bucket}?list-type=2`).
    pub s3_lists: AtomicU64,
    /// Box folder item pages (`GET /2.0/folders/{id}/items`).
    pub box_lists: AtomicU64,
    /// Box folder reads (`GET /2.0/folders/{id}`).
    pub box_folders: AtomicU64,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            jitter_ms: 0,
            error_rate: 0.0,
            throttle_rate: 0.0,
            listed: 20,
            object_size: 1024,
            churn_secs: 0,
            counts: Arc::default(),
        }
    }
}

impl Behaviour {
    /// The delay of one request.
    fn delay(&self) -> Duration {
        let jitter = self.jitter_ms.min(self.latency_ms) as i64;
        let offset = if jitter > 0 {
            rand::rng().random_range(-jitter..=jitter)
        } else {
            0
        };
        Duration::from_millis((self.latency_ms as i64 + offset).max(0) as u64)
    }

    /// Waits out a request's latency, then draws its injected failure, if any.
    async fn wait(&self) -> Option<Response> {
        tokio::time::sleep(self.delay()).await;
        self.failure()
    }

    /// An injected failure, if this request draws one.
    fn failure(&self) -> Option<Response> {
        let draw: f64 = rand::rng().random();
        if draw < self.throttle_rate {
            let mut r = (StatusCode::TOO_MANY_REQUESTS, "SlowDown").into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            return Some(r);
        }
        (draw < self.throttle_rate + self.error_rate)
            .then(|| (StatusCode::INTERNAL_SERVER_ERROR, "InternalError").into_response())
    }
}

/// The fake service's router.
pub fn router(behaviour: Behaviour) -> Router {
    let state = Arc::new(behaviour);
    Router::new()
        // The one call of an OAuth service's API the pass-through scenario makes
        // (Box's `GET /2.0/users/me`; also how a `box` account is checked at import).
        .route("/2.0/users/me", get(user))
        .route("/2.0/folders/{id}", get(box_folder))
        .route("/2.0/folders/{id}/items", get(box_items))
        .route("/_stats", get(stats))
        .route("/{bucket}", any(bucket))
        .route("/{bucket}/", any(bucket))
        .route("/{bucket}/{*key}", any(object))
        .with_state(state)
}

/// Serves the fake service on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, behaviour: Behaviour) -> std::io::Result<()> {
    axum::serve(listener, router(behaviour)).await
}

async fn user(State(b): State<Arc<Behaviour>>) -> Response {
    if let Some(failure) = b.wait().await {
        return failure;
    }
    let body = r#"{"type":"user","id":"1","login":"load@example.com","name":"Load"}"#;
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

const LAST_MODIFIED: &str = "Wed, 25 Nov 2026 10:00:00 GMT";

async fn object(
    State(b): State<Arc<Behaviour>>,
    method: Method,
    Path((_, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(failure) = b.wait().await {
        return failure;
    }
    if key.ends_with('/') && method != Method::PUT {
        return (StatusCode::NOT_FOUND, "NoSuchKey").into_response();
    }
    match method {
        Method::PUT | Method::DELETE => StatusCode::OK.into_response(),
        Method::HEAD | Method::GET => {
            let body = if method == Method::GET {
                Body::from(vec![b'x'; b.object_size])
            } else {
                Body::empty()
            };
            let _ = headers;
            let mut r = (StatusCode::OK, body).into_response();
            let h = r.headers_mut();
            h.insert(header::CONTENT_LENGTH, b.object_size.into());
            h.insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain"),
            );
            h.insert(
                header::LAST_MODIFIED,
                header::HeaderValue::from_static(LAST_MODIFIED),
            );
            h.insert(header::ETAG, header::HeaderValue::from_static("\"fake\""));
            r
        }
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

async fn bucket(
    State(b): State<Arc<Behaviour>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if let Some(failure) = b.wait().await {
        return failure;
    }
    b.counts.s3_lists.fetch_add(1, Ordering::Relaxed);
    let prefix = q.get("prefix").cloned().unwrap_or_default();
    let max: usize = q
        .get("max-keys")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .clamp(1, 1000);
    // Only the bucket's top level holds objects; a page starts after the key a
    // continuation token (the last key of the page before) or `start-after` names.
    let after = q
        .get("continuation-token")
        .or(q.get("start-after"))
        .cloned()
        .unwrap_or_default();
    let (names, next) = if prefix.is_empty() {
        page_after(b.names(), &after, max)
    } else {
        (Vec::new(), None)
    };
    let contents: String = names
        .iter()
        .map(|k| {
            format!(
                "<Contents><Key>{k}</Key><LastModified>2026-11-25T10:00:00.000Z</LastModified>\
                 <ETag>&quot;fake&quot;</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass>\
                 </Contents>",
                b.object_size
            )
        })
        .collect();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <Name>load</Name><Prefix>{prefix}</Prefix><KeyCount>{}</KeyCount>\
         <MaxKeys>{max}</MaxKeys><IsTruncated>{}</IsTruncated>{}{contents}</ListBucketResult>",
        names.len(),
        next.is_some(),
        next.map(|k| format!("<NextContinuationToken>{k}</NextContinuationToken>"))
            .unwrap_or_default(),
    );
    let mut r = (StatusCode::OK, xml).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/xml"),
    );
    r
}

impl Behaviour {
    /// The names listed, in key order.
    fn names(&self) -> Vec<String> {
        let churn = (self.churn_secs > 0).then(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            format!("churn-{}.txt", now.as_secs() / self.churn_secs)
        });
        let mut names: Vec<String> = (0..self.listed)
            .map(|i| format!("seed{i}.txt"))
            .chain(churn)
            .collect();
        names.sort_unstable();
        names
    }
}

/// At most `max` of `names` (sorted) after `after`, and the last of them when more follow.
fn page_after(names: Vec<String>, after: &str, max: usize) -> (Vec<String>, Option<String>) {
    let start = names.partition_point(|n| n.as_str() <= after);
    let mut rest = names.into_iter().skip(start);
    let page: Vec<String> = rest.by_ref().take(max).collect();
    let next = rest.next().and(page.last().cloned());
    (page, next)
}

fn json_response(body: String) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

/// Box's root folder ("All Files", id `0`); other folders do not exist.
async fn box_folder(State(b): State<Arc<Behaviour>>, Path(id): Path<String>) -> Response {
    if let Some(failure) = b.wait().await {
        return failure;
    }
    b.counts.box_folders.fetch_add(1, Ordering::Relaxed);
    if id != "0" {
        return (
            StatusCode::NOT_FOUND,
            r#"{"type":"error","status":404,"code":"not_found"}"#,
        )
            .into_response();
    }
    json_response(
        serde_json::json!({
            "type": "folder", "id": "0", "name": "All Files", "etag": null,
            "path_collection": {"total_count": 0, "entries": []},
            "created_at": null, "modified_at": null, "parent": null, "item_status": "active",
        })
        .to_string(),
    )
}

/// One page of the root folder's files, in name order (`usemarker`: the marker is the
/// name the next page starts after).
async fn box_items(
    State(b): State<Arc<Behaviour>>,
    Path(id): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if let Some(failure) = b.wait().await {
        return failure;
    }
    b.counts.box_lists.fetch_add(1, Ordering::Relaxed);
    let limit = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100usize)
        .clamp(1, 1000);
    let after = q.get("marker").cloned().unwrap_or_default();
    let (names, next) = match id.as_str() {
        "0" => page_after(b.names(), &after, limit),
        _ => (Vec::new(), None),
    };
    let entries: Vec<serde_json::Value> = names
        .iter()
        .map(|name| {
            serde_json::json!({
                "type": "file", "id": format!("f-{name}"), "name": name,
                "size": b.object_size, "sha1": null, "etag": "0", "sequence_id": "0",
                "created_at": "2026-11-25T10:00:00Z", "modified_at": "2026-11-25T10:00:00Z",
                "parent": {"type": "folder", "id": "0", "name": "All Files"},
                "path_collection": {"total_count": 1, "entries": [
                    {"type": "folder", "id": "0", "name": "All Files"}]},
                "item_status": "active",
            })
        })
        .collect();
    json_response(
        serde_json::json!({"entries": entries, "limit": limit, "next_marker": next}).to_string(),
    )
}

/// The calls answered so far.
async fn stats(State(b): State<Arc<Behaviour>>) -> Response {
    let c = &b.counts;
    json_response(
        serde_json::json!({
            "s3_lists": c.s3_lists.load(Ordering::Relaxed),
            "box_lists": c.box_lists.load(Ordering::Relaxed),
            "box_folders": c.box_folders.load(Ordering::Relaxed),
        })
        .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn start(b: Behaviour) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, b));
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn answers_like_a_bucket_with_injected_faults() {
        let base = start(Behaviour::default()).await;
        let c = reqwest::Client::new();
        let head = c
            .head(format!("{base}/load/seed1.txt"))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), 200);
        assert_eq!(head.headers()["content-length"], "1024");
        let list = c
            .get(format!("{base}/load?list-type=2&prefix="))
            .send()
            .await
            .unwrap();
        assert!(list.text().await.unwrap().contains("<Key>seed19.txt</Key>"));
        let folder = c.head(format!("{base}/load/dir/")).send().await.unwrap();
        assert_eq!(folder.status(), 404);
        // The pass-through scenario's call is not taken for an object.
        let user: serde_json::Value = c
            .get(format!("{base}/2.0/users/me"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(user["login"], "load@example.com");

        let throttled = start(Behaviour {
            throttle_rate: 1.0,
            ..Behaviour::default()
        })
        .await;
        let r = c.head(format!("{throttled}/load/a")).send().await.unwrap();
        assert_eq!(
            (
                r.status().as_u16(),
                r.headers()["retry-after"].to_str().unwrap()
            ),
            (429, "1")
        );
        let failing = start(Behaviour {
            error_rate: 1.0,
            ..Behaviour::default()
        })
        .await;
        let r = c.get(format!("{failing}/load/a")).send().await.unwrap();
        assert_eq!(r.status(), 500);
    }

    #[tokio::test]
    async fn pages_listings_in_key_order_and_counts_them() {
        let base = start(Behaviour {
            listed: 2500,
            ..Behaviour::default()
        })
        .await;
        let c = reqwest::Client::new();
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = format!("{base}/load?list-type=2&prefix=&max-keys=1000");
            if let Some(t) = &token {
                url.push_str(&format!("&continuation-token={t}"));
            }
            let xml = c.get(url).send().await.unwrap().text().await.unwrap();
            keys.extend(
                xml.split("<Key>")
                    .skip(1)
                    .map(|k| k.split('<').next().unwrap().to_string()),
            );
            token = xml
                .split("<NextContinuationToken>")
                .nth(1)
                .map(|t| t.split('<').next().unwrap().to_string());
            if token.is_none() {
                break;
            }
        }
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!((keys.len(), &keys), (2500, &sorted));
        let page: serde_json::Value = c
            .get(format!(
                "{base}/2.0/folders/0/items?usemarker=true&limit=1000&marker={}",
                keys[999]
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(page["entries"][0]["name"], keys[1000].as_str());
        assert_eq!(page["next_marker"], keys[1999].as_str());
        let stats: serde_json::Value = c
            .get(format!("{base}/_stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (stats["s3_lists"].as_u64(), stats["box_lists"].as_u64()),
            (Some(3), Some(1))
        );
    }

    #[test]
    fn latency_stays_within_its_jitter() {
        let b = Behaviour {
            latency_ms: 200,
            jitter_ms: 20,
            ..Behaviour::default()
        };
        for _ in 0..1000 {
            let d = b.delay().as_millis();
            assert!((180..=220).contains(&d), "{d}");
        }
    }
}
