//! Management API: applications and API keys (DeveloperKey).

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, TestApp};

#[tokio::test]
async fn applications_lifecycle() {
    let app = TestApp::spawn().await;
    let dev = app.dev_caller();
    let (id, key) = app.create_app("first").await;
    app.create_app("second").await;
    let path = format!("/v1/applications/{id}");

    let r = dev.get(&path).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["name"], "first");
    assert_eq!(body["type"], "application");
    assert!(body["href"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    assert!(
        body.get("api_key").is_none(),
        "the key is shown only at creation"
    );

    let list = dev.get_json("/v1/applications?page_size=1").await;
    assert_eq!(list["type"], "object_list");
    assert_eq!(list["total"], 2);
    assert_eq!(list["objects"].as_array().unwrap().len(), 1);
    assert_eq!(list["next_page"], 2);
    let r = dev.get("/v1/applications?page=3&page_size=1").await;
    assert_error(r, 404, "not_found").await;

    let patch = json!({"name": "renamed", "description": "d"});
    let r = dev.send_json(Method::PATCH, &path, &patch).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["name"].as_str(), body["description"].as_str()),
        (Some("renamed"), Some("d"))
    );

    // The application's key works until the application is deleted.
    let k = app.with_key(&key);
    assert_eq!(k.get("/v1/accounts").await.status(), 200);
    let r = dev.delete(&path).await;
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.unwrap().is_empty());
    assert_error(dev.get(&path).await, 404, "not_found").await;
    assert_error(k.get("/v1/accounts").await, 401, "unauthorized").await;
}

#[tokio::test]
async fn application_input_is_validated() {
    let app = TestApp::spawn().await;
    let dev = app.dev_caller();
    let r = dev.post_json("/v1/applications", &json!({})).await;
    assert_error(r, 400, "invalid_parameters").await;
    let r = dev
        .post_json("/v1/applications", &json!({"name": "x", "bogus": 1}))
        .await;
    assert_error(r, 400, "bad_request").await;
    let r = dev.get("/v1/applications?active=maybe").await;
    assert_error(r, 400, "invalid_parameters").await;
}

#[tokio::test]
async fn management_needs_a_developer_key() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("a").await;
    let path = "/v1/applications";
    let r = app.anonymous().get(path).await;
    assert_error(r, 401, "authentication_required").await;
    let r = app.with_auth("DeveloperKey nope").get(path).await;
    assert_error(r, 401, "unauthorized").await;
    let r = app.with_key(&key).get(path).await;
    assert_error(r, 403, "forbidden").await;
    // Scheme is case-insensitive.
    let lower = app.with_auth(format!("developerkey {}", app.developer_key));
    assert_eq!(lower.get(path).await.status(), 200);
}

#[tokio::test]
async fn developers_see_only_their_applications() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_app("mine").await;
    let pool = sqlx::PgPool::connect(app.settings().database.url.expose())
        .await
        .unwrap();
    let other = cloudbridge_shared::db::developers::create_with_new_key(&pool, "other@example.com")
        .await
        .unwrap();
    let as_other = app.with_auth(format!("DeveloperKey {other}"));
    let r = as_other.get(&format!("/v1/applications/{id}")).await;
    assert_error(r, 404, "not_found").await;
    let r = as_other.delete(&format!("/v1/applications/{id}")).await;
    assert_error(r, 404, "not_found").await;
    let list = as_other.get_json("/v1/applications").await;
    assert_eq!(list["total"], 0);
}

#[tokio::test]
async fn api_keys_lifecycle() {
    let app = TestApp::spawn().await;
    let dev = app.dev_caller();
    let (id, first) = app.create_app("keys").await;
    let path = format!("/v1/applications/{id}/apikeys");
    let list = dev.get_json(&path).await;
    assert_eq!(
        list["objects"].as_array().unwrap().len(),
        1,
        "a new application has one key"
    );
    assert!(!list["objects"][0]["key"]
        .as_str()
        .unwrap()
        .contains(first.split('.').nth(1).unwrap()));

    let r = dev.send(Method::POST, &path).await;
    assert_eq!(r.status(), 201);
    let second: Value = r.json().await.unwrap();
    let second_key = second["key"].as_str().unwrap().to_string();
    let ok = app.with_key(&second_key).get("/v1/accounts").await;
    assert_eq!(ok.status(), 200);

    // Delete by full key, then by id.
    let r = dev.delete(&format!("{path}/{second_key}")).await;
    assert_eq!(r.status(), 204);
    let r = app.with_key(&second_key).get("/v1/accounts").await;
    assert_error(r, 401, "unauthorized").await;
    let first_id = first.split('.').next().unwrap();
    let r = dev.delete(&format!("{path}/{first_id}")).await;
    assert_eq!(r.status(), 204);
    let r = dev.delete(&format!("{path}/{first_id}")).await;
    assert_error(r, 404, "not_found").await;
}

#[tokio::test]
async fn keys_are_stored_hashed() {
    let app = TestApp::spawn().await;
    let (key, _, token) = app.account().await;
    let pool = sqlx::PgPool::connect(app.settings().database.url.expose())
        .await
        .unwrap();
    let dump: String = sqlx::query_scalar(
        "SELECT concat_ws(' ', (SELECT string_agg(encode(key_hash, 'escape'), ' ') FROM api_keys),
                              (SELECT string_agg(encode(key_sealed, 'escape'), ' ') FROM api_keys),
                              (SELECT string_agg(encode(token_hash, 'escape'), ' ') FROM bearer_tokens),
                              (SELECT string_agg(encode(key_hash, 'escape'), ' ') FROM developer_keys))",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    for secret in [key.as_str(), token.as_str(), app.developer_key.as_str()] {
        assert!(!dump.contains(secret));
    }
}
