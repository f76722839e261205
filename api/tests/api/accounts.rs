//! Accounts API: import, list, get, patch, delete; tenant isolation.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, TestApp};

#[tokio::test]
async fn import_list_get_patch_delete() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("a").await;
    let k = app.with_key(&key);
    let (id, token) = app.import_local(&key, "alice").await;
    let (id2, _) = app.import_local(&key, "bob").await;
    assert!(
        app.data_root().join("accounts").is_dir(),
        "local folder created by the worker"
    );

    // Re-importing the same user updates, not duplicates.
    let (again, _) = app.import_local(&key, "alice").await;
    assert_eq!(again, id);

    let list = k.get_json("/v1/accounts?page_size=1").await;
    assert_eq!(list["total"], 2);
    assert_eq!(list["objects"][0]["id"], id);
    assert_eq!(list["next_page"], 2);
    let page2 = k.get_json("/v1/accounts?page_size=1&page=2").await;
    assert_eq!(page2["objects"][0]["id"], id2);
    assert_eq!(page2["next_page"], Value::Null);
    let r = k.get("/v1/accounts?page_size=1&page=3").await;
    assert_error(r, 404, "not_found").await;

    let me = app.with_token(&token).get_json("/v1/accounts/me").await;
    assert_eq!(me["id"], id);
    assert_eq!(me["href"], format!("{}/v1/accounts/{id}", app.base));
    assert!(me.get("properties").is_none());
    let full = k
        .get_json(&format!("/v1/accounts/{id}?retrieve_full=True"))
        .await;
    assert_eq!(
        full["properties"]["capabilities"]["can_upload_file"]["value"],
        true
    );
    assert_eq!(
        full["properties"]["capabilities"]["can_get_thumbnail"]["value"], true,
        "local accounts make thumbnails of their images"
    );

    let patched: Value = k
        .send_json(
            Method::PATCH,
            &format!("/v1/accounts/{id2}"),
            &json!({"active": false}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(patched["active"], false);
    let inactive = k.get_json("/v1/accounts?active=false").await;
    assert_eq!(inactive["total"], 1);

    let r = k.delete(&format!("/v1/accounts/{id}")).await;
    assert_eq!(r.status(), 204);
    let r = k.get(&format!("/v1/accounts/{id}")).await;
    assert_error(r, 404, "not_found").await;
    let r = app.with_token(&token).get("/v1/accounts/me").await;
    assert_error(r, 401, "invalid_token").await;
}

#[tokio::test]
async fn import_validates_input() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("a").await;
    let k = app.with_key(&key);
    for (body, status, code) in [
        (json!({"service": "local"}), 400, "invalid_parameters"),
        (
            json!({"account": "../x", "service": "local"}),
            400,
            "invalid_parameters",
        ),
        (
            json!({"account": "a", "service": "nonsense"}),
            400,
            "invalid_parameters",
        ),
        (
            json!({"account": "a", "service": "egnyte"}),
            501,
            "not_implemented",
        ),
        (
            json!({"account": "a", "service": "gdrive"}),
            400,
            "invalid_parameters",
        ),
    ] {
        assert_error(k.post_json("/v1/accounts", &body).await, status, code).await;
    }
    let (_, _, token) = app.account().await;
    let r = app
        .with_token(&token)
        .post_json("/v1/accounts", &json!({"account": "x"}))
        .await;
    assert_error(r, 403, "forbidden").await;
}

#[tokio::test]
async fn applications_never_see_each_others_accounts() {
    let app = TestApp::spawn().await;
    let (_, key_a) = app.create_app("a").await;
    let (_, key_b) = app.create_app("b").await;
    let (id_a, token_a) = app.import_local(&key_a, "alice").await;
    let (id_b, token_b) = app.import_local(&key_b, "alice").await;
    let (a, b) = (app.with_token(&token_a), app.with_token(&token_b));
    let app_b = app.with_key(&key_b);

    for path in [
        format!("/v1/accounts/{id_a}"),
        format!("/v1/accounts/{id_a}/storage/folders/root/contents"),
    ] {
        assert_error(app_b.get(&path).await, 404, "not_found").await;
        assert_error(b.get(&path).await, 404, "not_found").await;
    }
    let r = app_b.delete(&format!("/v1/accounts/{id_a}")).await;
    assert_error(r, 404, "not_found").await;
    let list = app_b.get_json("/v1/accounts").await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["objects"][0]["id"], id_b);
    // A bearer token sees only its own account, even within the application.
    let list = a.get_json("/v1/accounts").await;
    assert_eq!(list["total"], 1);

    // Same user name under two applications: two separate folders.
    assert_eq!(a.upload("root", "f.txt", "from a").await.status(), 201);
    assert_eq!(b.upload("root", "f.txt", "from b").await.status(), 201);
    let path = "/v1/accounts/me/storage/files/Zi50eHQ/contents";
    assert_eq!(a.get(path).await.text().await.unwrap(), "from a");
    assert_eq!(b.get(path).await.text().await.unwrap(), "from b");
}

#[tokio::test]
async fn account_ids_and_me() {
    let app = TestApp::spawn().await;
    let (key, id, _) = app.account().await;
    let k = app.with_key(&key);
    let r = k.get("/v1/accounts/me").await;
    assert_error(r, 400, "invalid_parameters").await;
    for bad in ["abc", "99999999", "1e3", "-1"] {
        let r = k.get(&format!("/v1/accounts/{bad}")).await;
        assert_error(r, 404, "not_found").await;
    }
    // Trailing slashes (the JS SDK) work too.
    let r = k.get(&format!("/v1/accounts/{id}/")).await;
    assert_eq!(r.status(), 200);
}
