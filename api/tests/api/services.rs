//! Service names as clients send them: an alias (Kloudless' `skydrive` for OneDrive) is
//! taken wherever a service name comes in and answered as the canonical service, here
//! against the Graph emulator of [`crate::onedrive`].

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    connect::{allow_redirect, authorize_url, Browser, APP_REDIRECT},
    onedrive::{onedrive_account, onedrive_mock},
};

#[tokio::test]
async fn skydrive_is_onedrive_on_import_service_keys_and_the_connect_page() {
    let mock = onedrive_mock().await;
    let (app, token) = onedrive_account(&mock, "skydrive").await;

    // Imported as `skydrive`: stored, shown and served as `onedrive`.
    let account = app.with_token(&token);
    let me: Value = account.get_json("/v1/accounts/me?retrieve_full=true").await;
    assert_eq!(me["service"], "onedrive", "{me}");
    assert_eq!(me["service_name"], "OneDrive", "{me}");
    assert_eq!(me["apis"], json!(["storage"]), "{me}");
    assert_eq!(
        me["properties"]["capabilities"]["can_upload_file"]["value"], true,
        "{me}"
    );
    let r = account
        .post_json(
            "/v1/accounts/me/storage/folders",
            &json!({"name": "from-skydrive", "parent_id": "root"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        account.root_contents().await["objects"][0]["name"],
        "from-skydrive"
    );
    // Naming the service by its alias is not changing it.
    let r = account
        .send_json(
            Method::PATCH,
            "/v1/accounts/me",
            &json!({"service": "skydrive"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // Service keys set under the alias are OneDrive's.
    let (app_id, _) = app.create_app("keys").await;
    let dev = app.dev_caller();
    let r = dev
        .send_json(
            Method::PUT,
            &format!("/v1/applications/{app_id}/service_keys/skydrive"),
            &json!({"client_id": "graph-client", "client_secret": "graph-secret"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let set: Value = r.json().await.unwrap();
    assert_eq!(set["service"], "onedrive", "{set}");
    let keys = dev
        .get_json(&format!("/v1/applications/{app_id}/service_keys"))
        .await;
    assert_eq!(keys["objects"][0]["service"], "onedrive", "{keys}");
    assert_eq!(keys["count"], 1, "{keys}");

    // A scope naming `skydrive` offers OneDrive on the connect page.
    allow_redirect(&app, &app_id, false).await;
    let mut browser = Browser::new();
    let chooser = browser
        .go(
            Method::GET,
            &authorize_url(&app, &app_id, "skydrive:normal.storage", "s1"),
            None,
            APP_REDIRECT,
        )
        .await;
    assert_eq!(chooser.status, StatusCode::OK, "{}", chooser.body);
    assert!(
        chooser
            .body
            .contains("name=\"service\" value=\"onedrive\">Connect OneDrive<"),
        "{}",
        chooser.body
    );
    assert_eq!(chooser.body.matches("name=\"service\"").count(), 1);
}
