//! Bad input always gets a Kloudless-format error with the request id.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{assert_error, bearer, TestApp};

#[tokio::test]
async fn malformed_and_unknown() {
    let app = TestApp::spawn().await;
    let (key, _, token) = app.account().await;
    let r = app
        .dev(Method::POST, "/v1/applications")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "bad_request").await;
    let r = app
        .request(Method::GET, "/v1/nothing/here")
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "not_found").await;
    let r = app.request(Method::GET, "/").send().await.unwrap();
    assert_error(r, 404, "not_found").await;
    let r = app
        .request(Method::PUT, "/v1/accounts")
        .header("Authorization", format!("APIKey {key}"))
        .send()
        .await
        .unwrap();
    assert_error(r, 405, "method_not_allowed").await;
    let r = app
        .request(Method::GET, "/v1/accounts")
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "authentication_required").await;
    for header in ["Bearer", "Bearer ", "Basic abc", "APIKey wrong", "\u{7f}"] {
        let r = app
            .request(Method::GET, "/v1/accounts")
            .header("Authorization", header)
            .send()
            .await;
        if let Ok(r) = r {
            assert_eq!(r.status(), 401, "{header:?}");
        }
    }
    let r = app
        .request(Method::GET, "/v1/accounts/me")
        .header("Authorization", "Bearer not-a-token")
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "invalid_token").await;
    // JSON on GET/DELETE is tolerated (node SDK).
    let r = app
        .request(Method::GET, "/v1/accounts/me")
        .header("Authorization", bearer(&token))
        .body("{\"x\":1}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn oversized_json_bodies_are_refused() {
    let app = TestApp::builder()
        .settings(|s| s.api.max_json_bytes = 1024)
        .spawn()
        .await;
    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(4096));
    let r = app
        .dev(Method::POST, "/v1/applications")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_error(r, 413, "request_too_large").await;
}

#[tokio::test]
async fn oversized_uploads_are_refused_and_leave_nothing() {
    let app = TestApp::builder()
        .settings(|s| s.api.max_upload_bytes = 1000)
        .spawn()
        .await;
    let (_, _, token) = app.account().await;
    let r = app
        .request(Method::POST, "/v1/accounts/me/storage/files")
        .header("Authorization", bearer(&token))
        .header(
            "X-Kloudless-Metadata",
            r#"{"name":"big","parent_id":"root"}"#,
        )
        .body(vec![0u8; 5000])
        .send()
        .await
        .unwrap();
    assert_error(r, 413, "request_too_large").await;
    let listing: Value = app
        .request(Method::GET, "/v1/accounts/me/storage/folders/root/contents")
        .header("Authorization", bearer(&token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listing["objects"].as_array().unwrap().len(), 0);
    let staged = std::fs::read_dir(app.data_root().join(".staging"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(staged, 0, "staged bytes discarded");
}

#[tokio::test]
async fn cors_preflight_allows_kloudless_headers() {
    let app = TestApp::spawn().await;
    let r = app
        .request(Method::OPTIONS, "/v1/accounts/me/storage/files")
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,x-kloudless-metadata",
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
}
