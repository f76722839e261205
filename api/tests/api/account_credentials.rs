//! `PATCH /v1/accounts/{id}` with new credentials: checked against the service before
//! they are stored (a refusal changes nothing), settings not given kept, and the account
//! working with the new ones afterwards.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, TestApp};

#[tokio::test]
async fn new_webdav_credentials_are_checked_before_they_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("team")).unwrap();
    let dav = crate::helpers::rclone_webdav(dir.path()).await;
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("dav").await;
    let body = json!({
        "service": "webdav", "account": "dav-user", "url": dav.endpoint, "root": "/team",
        "token": "dav", "token_secret": "dav-password",
    });
    let (id, token) = app.import(&key, &body).await;
    let a = app.with_key(&key);
    let account = format!("/v1/accounts/{id}");

    // Wrong ones are refused by the server and not stored: the account still works.
    let wrong = json!({"token": "dav", "token_secret": "not-the-password"});
    let r = a.send_json(Method::PATCH, &account, &wrong).await;
    assert_error(r, 401, "service_unauthorized").await;
    let listed = app.with_token(&token).root_contents().await;
    assert_eq!(listed["type"], "object_list", "{listed}");

    // Right ones (the URL and root kept from the import) are stored.
    let right = json!({"token": "dav", "token_secret": "dav-password", "active": true});
    let r = a.send_json(Method::PATCH, &account, &right).await;
    assert_eq!(r.status(), 200);
    let patched: Value = r.json().await.unwrap();
    assert_eq!(
        (patched["id"].as_i64(), patched["active"].as_bool()),
        (Some(id), Some(true))
    );
    let r = app
        .with_token(&token)
        .upload("root", "after.txt", "x")
        .await;
    assert_eq!(r.status(), 201);
    assert!(
        dir.path().join("team/after.txt").exists(),
        "the root was kept"
    );

    // A local account has none.
    let (local, _) = app.import_local(&key, "disk").await;
    let r = a
        .send_json(
            Method::PATCH,
            &format!("/v1/accounts/{local}"),
            &json!({"token": "x"}),
        )
        .await;
    assert_error(r, 400, "invalid_parameters").await;
}

#[tokio::test]
async fn a_new_oauth_token_is_tried_at_the_service_first() {
    let mock = crate::onedrive::onedrive_mock().await;
    let (app, token) = crate::onedrive::onedrive_account(&mock, "onedrive").await;
    let me = app.with_token(&token);
    let r = me
        .send_json(
            Method::PATCH,
            "/v1/accounts/me",
            &json!({"token": "expired-token"}),
        )
        .await;
    assert_error(r, 401, "service_unauthorized").await;
    assert_eq!(me.root_contents().await["type"], "object_list");
    let fresh = json!({"token": "valid-token", "refresh_token": "refresh-2",
                       "token_expiry": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339()});
    let r = me.send_json(Method::PATCH, "/v1/accounts/me", &fresh).await;
    assert_eq!(r.status(), 200);
    assert_eq!(me.root_contents().await["type"], "object_list");
}
