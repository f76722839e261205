//! Google Drive against google-drive-mock (with the upload and copy layer of
//! `testenv/node/gdrive-mock.js`): the storage conformance suite, Google Docs items,
//! same-named items, the signed-in identity, and Drive's throttling answers.

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc,
    },
};

use axum::{body::Bytes, extract::State, http, response::IntoResponse};
use serde_json::{json, Value};

use crate::{
    conformance::conformance,
    helpers::{assert_error, Caller, Server, TestApp, STORAGE},
};

/// The mock's only token.
const TOKEN: &str = "valid-token";

/// google-drive-mock on a free port, stopped on drop.
pub async fn drive_mock() -> Server {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testenv/node/gdrive-mock.js");
    assert!(
        script
            .with_file_name("node_modules/google-drive-mock")
            .exists(),
        "google-drive-mock missing: run scripts/test.sh (npm ci in testenv/node)"
    );
    Server::start_bin(PathBuf::from("node"), move |port| {
        vec![script.display().to_string(), port.to_string()]
    })
    .await
}

/// A Cloudbridge whose Google Drive is at `endpoint`.
pub(crate) async fn app_with_drive(endpoint: &str) -> TestApp {
    let endpoint = endpoint.to_string();
    TestApp::builder()
        .settings(move |s| {
            s.providers.gdrive.api_url = endpoint.clone();
            s.providers.gdrive.content_url = endpoint;
        })
        .spawn()
        .await
}

/// Import fields of the mock's account.
pub(crate) fn account(name: &str) -> Value {
    json!({"service": "gdrive", "account": name, "token": TOKEN,
           "refresh_token": "unused-refresh", "token_expiry": "2999-01-01T00:00:00Z"})
}

/// A request straight to the mock, as its user.
fn to_mock(mock: &Server, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, format!("{}{path}", mock.endpoint))
        .bearer_auth(TOKEN)
}

#[tokio::test]
async fn gdrive_conforms() {
    let mock = drive_mock().await;
    let app = app_with_drive(&mock.endpoint).await;
    let (_, key) = app.create_app("gdrive").await;
    let r = app
        .with_key(&key)
        .post_json("/v1/accounts", &account("mock@example.com"))
        .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["service"].as_str(), body["service_name"].as_str()),
        (Some("gdrive"), Some("Google Drive"))
    );
    let a = app.with_token(body["bearer_token"]["key"].as_str().unwrap());
    let caps = a.get_json("/v1/accounts/me?retrieve_full=true").await;
    assert_eq!(
        caps["properties"]["capabilities"]["can_upload_file"]["value"],
        true
    );
    conformance(&a).await;

    // Deleted items went to Drive's trash, not away.
    let trashed: Value = to_mock(&mock, reqwest::Method::GET, "/drive/v3/files")
        .query(&[("q", "trashed = true")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !trashed["files"].as_array().unwrap().is_empty(),
        "{trashed}"
    );
}

/// Creates an item in the mock's root folder directly (as another Drive app would).
pub(crate) async fn seed(mock: &Server, name: &str, mime: &str) -> Value {
    to_mock(mock, reqwest::Method::POST, "/drive/v3/files")
        .json(&json!({"name": name, "mimeType": mime, "parents": ["root"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn google_docs_are_items_without_contents_and_same_names_mean_the_oldest() {
    let mock = drive_mock().await;
    let app = app_with_drive(&mock.endpoint).await;
    let (_, key) = app.create_app("gdrive-docs").await;
    let (_, token) = app.import(&key, &account("docs")).await;
    let a = app.with_token(&token);
    seed(&mock, "Plan", "application/vnd.google-apps.document").await;
    let list = a.root_contents().await;
    let doc = &list["objects"][0];
    assert_eq!(
        (
            doc["name"].as_str(),
            doc["type"].as_str(),
            doc["mime_type"].as_str()
        ),
        (
            Some("Plan"),
            Some("file"),
            Some("application/vnd.google-apps.document")
        ),
        "{list}"
    );
    let contents = format!("{STORAGE}/files/{}/contents", doc["id"].as_str().unwrap());
    assert_error(a.get(&contents).await, 501, "not_implemented").await;

    // Two files of one name (Drive allows it): both are listed, each under its own id;
    // the older one is the one the path means.
    let older = a.upload("root", "twice.txt", "older").await;
    assert_eq!(older.status(), 201);
    let newer = seed(&mock, "twice.txt", "text/plain").await;
    assert!(newer["id"].is_string(), "{newer}");
    let listed = a.root_contents().await;
    let objects = listed["objects"].as_array().unwrap();
    let names: Vec<Value> = objects.iter().map(|o| o["name"].clone()).collect();
    assert_eq!(
        names,
        [json!("Plan"), json!("twice.txt"), json!("twice.txt")]
    );
    assert_ne!(objects[1]["id"], objects[2]["id"], "{listed}");
    let older = older.json::<Value>().await.unwrap();
    let by_path = a
        .get_json(&format!(
            "{STORAGE}/files/{}",
            older["ids"]["path"].as_str().unwrap()
        ))
        .await;
    assert_eq!(by_path["id"], older["id"], "the path means the older");
    let id = older["id"].clone();
    let got = a
        .get(&format!(
            "{STORAGE}/files/{}/contents",
            id.as_str().unwrap()
        ))
        .await;
    assert_eq!(got.text().await.unwrap(), "older");
}

#[tokio::test]
async fn the_connect_flow_learns_who_signed_in() {
    use cloudbridge_connectors::oauth::{Api, FixedToken, Token};
    let mock = drive_mock().await;
    let mut provider = cloudbridge_shared::Settings::default().providers.gdrive;
    provider.api_url = mock.endpoint.clone();
    let api = Api {
        http: reqwest::Client::new(),
        tokens: Arc::new(FixedToken(Token {
            access: cloudbridge_shared::Secret::new(TOKEN),
            version: 0,
        })),
        call_timeout: std::time::Duration::from_secs(60),
        headers: Vec::new(),
    };
    let (account, name) = cloudbridge_connectors::gdrive::identity(&api, &provider)
        .await
        .unwrap();
    assert_eq!(
        (account.as_str(), name.as_str()),
        ("mock@example.com", "Mock User")
    );
    let refused = Api {
        tokens: Arc::new(FixedToken(Token {
            access: cloudbridge_shared::Secret::new("revoked"),
            version: 0,
        })),
        call_timeout: std::time::Duration::from_secs(60),
        headers: Vec::new(),
        ..api
    };
    let e = cloudbridge_connectors::gdrive::identity(&refused, &provider)
        .await
        .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (401, "service_unauthorized"));
}

/// What the throttling proxy answers instead of forwarding, and how many times.
#[derive(Clone)]
struct Throttle {
    upstream: String,
    left: Arc<AtomicU32>,
    status: u16,
    reason: &'static str,
    http: reqwest::Client,
}

/// Forwards to the mock, except for the next `left` requests, answered with Drive's
/// throttling error (`status` with `reason`; 429s also say `Retry-After: 1`).
async fn throttling_proxy(
    State(t): State<Throttle>,
    request: axum::extract::Request,
) -> axum::response::Response {
    if t.left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        let body = json!({"error": {"code": t.status, "message": "Rate Limit Exceeded",
            "errors": [{"domain": "usageLimits", "reason": t.reason, "message": "Rate Limit Exceeded"}]}});
        let status = http::StatusCode::from_u16(t.status).unwrap();
        return (status, [("retry-after", "1")], axum::Json(body)).into_response();
    }
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let url = format!("{}{}", t.upstream, parts.uri);
    let mut forward = t.http.request(parts.method, url).body(body);
    for (k, v) in &parts.headers {
        if k != http::header::HOST {
            forward = forward.header(k, v);
        }
    }
    let answer = forward.send().await.unwrap();
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap();
    let mut response = (status, bytes).into_response();
    for (k, v) in &headers {
        if k != http::header::TRANSFER_ENCODING && k != http::header::CONTENT_LENGTH {
            response.headers_mut().insert(k, v.clone());
        }
    }
    response
}

/// A throttling proxy in front of `upstream`; returns its URL and the count of
/// throttled answers still to give.
async fn throttle(upstream: &str, status: u16, reason: &'static str) -> (String, Arc<AtomicU32>) {
    let left = Arc::new(AtomicU32::new(0));
    let state = Throttle {
        upstream: upstream.to_string(),
        left: left.clone(),
        status,
        reason,
        http: reqwest::Client::new(),
    };
    let router = axum::Router::new()
        .fallback(throttling_proxy)
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, left)
}

async fn root_listing(a: &Caller) -> reqwest::Response {
    a.get(&format!("{STORAGE}/folders/root/contents")).await
}

#[tokio::test]
async fn drive_throttling_is_waited_out_and_surfaces_as_429_when_it_persists() {
    let mock = drive_mock().await;
    for (status, reason) in [
        (403, "rateLimitExceeded"),
        (429, "rateLimitExceeded"),
        (403, "userRateLimitExceeded"),
    ] {
        let (proxy, left) = throttle(&mock.endpoint, status, reason).await;
        let app = app_with_drive(&proxy).await;
        let (_, key) = app.create_app("throttled").await;
        // Once: waited out, the import goes through.
        left.store(1, Ordering::SeqCst);
        let (_, token) = app.import(&key, &account("throttled")).await;
        assert_eq!(left.load(Ordering::SeqCst), 0);
        let a = app.with_token(&token);
        assert_eq!(root_listing(&a).await.status(), 200);
        // For as long as it lasts: a Kloudless 429 with Retry-After.
        left.store(1000, Ordering::SeqCst);
        let r = root_listing(&a).await;
        assert!(r.headers().contains_key("retry-after"), "{status} {reason}");
        assert_error(r, 429, "too_many_service_requests").await;
        left.store(0, Ordering::SeqCst);
        assert_eq!(root_listing(&a).await.status(), 200);
    }
    // Any other 403 is a refusal, not throttling: no waiting, 403 at once.
    let (proxy, left) = throttle(&mock.endpoint, 403, "insufficientFilePermissions").await;
    let app = app_with_drive(&proxy).await;
    let (_, key) = app.create_app("refused").await;
    let (_, token) = app.import(&key, &account("refused")).await;
    left.store(1, Ordering::SeqCst);
    assert_error(
        root_listing(&app.with_token(&token)).await,
        403,
        "forbidden",
    )
    .await;
}
