//! Bad input always gets a Kloudless-format error with the request id.

use reqwest::Method;

use crate::helpers::{assert_error, Go, TestApp};

#[tokio::test]
async fn malformed_and_unknown() {
    let app = TestApp::spawn().await;
    let (key, _, token) = app.account().await;
    let anon = app.anonymous();
    let r = app
        .dev(Method::POST, "/v1/applications")
        .body("{not json")
        .go()
        .await;
    assert_error(r, 400, "bad_request").await;
    assert_error(anon.get("/v1/nothing/here").await, 404, "not_found").await;
    assert_error(anon.get("/").await, 404, "not_found").await;
    let r = app.with_key(&key).send(Method::PUT, "/v1/accounts").await;
    assert_error(r, 405, "method_not_allowed").await;
    let r = anon.get("/v1/accounts").await;
    assert_error(r, 401, "authentication_required").await;
    for header in ["Bearer", "Bearer ", "Basic abc", "APIKey wrong", "\u{7f}"] {
        let r = app
            .with_auth(header)
            .req(Method::GET, "/v1/accounts")
            .send()
            .await;
        if let Ok(r) = r {
            assert_eq!(r.status(), 401, "{header:?}");
        }
    }
    let r = app.with_token("not-a-token").get("/v1/accounts/me").await;
    assert_error(r, 401, "invalid_token").await;
    // JSON on GET/DELETE is tolerated (node SDK).
    let r = app
        .with_token(&token)
        .req(Method::GET, "/v1/accounts/me")
        .body("{\"x\":1}")
        .go()
        .await;
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
        .go()
        .await;
    assert_error(r, 413, "request_too_large").await;
}

#[tokio::test]
async fn oversized_uploads_are_refused_and_leave_nothing() {
    let app = TestApp::builder()
        .settings(|s| s.api.max_upload_bytes = 1000)
        .spawn()
        .await;
    let (_, _, token) = app.account().await;
    let me = app.with_token(&token);
    let r = me.upload("root", "big", vec![0u8; 5000]).await;
    assert_error(r, 413, "request_too_large").await;
    let listing = me.root_contents().await;
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
        .go()
        .await;
    assert!(r.status().is_success());
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
}
