//! Accounts API: import, list, get, patch, delete; tenant isolation.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, bearer, TestApp};

#[tokio::test]
async fn import_list_get_patch_delete() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("a").await;
    let auth = format!("APIKey {key}");
    let (id, token) = app.import_local(&key, "alice").await;
    let (id2, _) = app.import_local(&key, "bob").await;
    assert!(
        app.data_root().join("accounts").is_dir(),
        "local folder created by the worker"
    );

    // Re-importing the same user updates, not duplicates.
    let (again, _) = app.import_local(&key, "alice").await;
    assert_eq!(again, id);

    let list: Value = app
        .request(Method::GET, "/v1/accounts?page_size=1")
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 2);
    assert_eq!(list["objects"][0]["id"], id);
    assert_eq!(list["next_page"], 2);
    let page2: Value = app
        .request(Method::GET, "/v1/accounts?page_size=1&page=2")
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page2["objects"][0]["id"], id2);
    assert_eq!(page2["next_page"], Value::Null);
    let r = app
        .request(Method::GET, "/v1/accounts?page_size=1&page=3")
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "not_found").await;

    let me: Value = app
        .request(Method::GET, "/v1/accounts/me")
        .header("Authorization", bearer(&token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], id);
    assert_eq!(me["href"], format!("{}/v1/accounts/{id}", app.base));
    assert!(me.get("properties").is_none());
    let full: Value = app
        .request(
            Method::GET,
            &format!("/v1/accounts/{id}?retrieve_full=True"),
        )
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        full["properties"]["capabilities"]["can_upload_file"]["value"],
        true
    );
    assert_eq!(
        full["properties"]["capabilities"]["can_rename_file"]["value"],
        false
    );

    let patched: Value = app
        .request(Method::PATCH, &format!("/v1/accounts/{id2}"))
        .header("Authorization", &auth)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched["active"], false);
    let inactive: Value = app
        .request(Method::GET, "/v1/accounts?active=false")
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inactive["total"], 1);

    let r = app
        .request(Method::DELETE, &format!("/v1/accounts/{id}"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = app
        .request(Method::GET, &format!("/v1/accounts/{id}"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "not_found").await;
    let r = app
        .request(Method::GET, "/v1/accounts/me")
        .header("Authorization", bearer(&token))
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "invalid_token").await;
}

#[tokio::test]
async fn import_validates_input() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("a").await;
    let post = |body: Value| {
        app.request(Method::POST, "/v1/accounts")
            .header("Authorization", format!("APIKey {key}"))
            .json(&body)
            .send()
    };
    assert_error(
        post(json!({"service": "local"})).await.unwrap(),
        400,
        "invalid_parameters",
    )
    .await;
    assert_error(
        post(json!({"account": "../x", "service": "local"}))
            .await
            .unwrap(),
        400,
        "invalid_parameters",
    )
    .await;
    assert_error(
        post(json!({"account": "a", "service": "nonsense"}))
            .await
            .unwrap(),
        400,
        "invalid_parameters",
    )
    .await;
    assert_error(
        post(json!({"account": "a", "service": "gdrive"}))
            .await
            .unwrap(),
        501,
        "not_implemented",
    )
    .await;
    let (_, _, token) = app.account().await;
    let r = app
        .request(Method::POST, "/v1/accounts")
        .header("Authorization", bearer(&token))
        .json(&json!({"account": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(r, 403, "forbidden").await;
}

#[tokio::test]
async fn applications_never_see_each_others_accounts() {
    let app = TestApp::spawn().await;
    let (_, key_a) = app.create_app("a").await;
    let (_, key_b) = app.create_app("b").await;
    let (id_a, token_a) = app.import_local(&key_a, "alice").await;
    let (id_b, token_b) = app.import_local(&key_b, "alice").await;

    for path in [
        format!("/v1/accounts/{id_a}"),
        format!("/v1/accounts/{id_a}/storage/folders/root/contents"),
    ] {
        let r = app
            .request(Method::GET, &path)
            .header("Authorization", format!("APIKey {key_b}"))
            .send()
            .await
            .unwrap();
        assert_error(r, 404, "not_found").await;
        let r = app
            .request(Method::GET, &path)
            .header("Authorization", bearer(&token_b))
            .send()
            .await
            .unwrap();
        assert_error(r, 404, "not_found").await;
    }
    let r = app
        .request(Method::DELETE, &format!("/v1/accounts/{id_a}"))
        .header("Authorization", format!("APIKey {key_b}"))
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "not_found").await;
    let list: Value = app
        .request(Method::GET, "/v1/accounts")
        .header("Authorization", format!("APIKey {key_b}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 1);
    assert_eq!(list["objects"][0]["id"], id_b);
    // A bearer token sees only its own account, even within the application.
    let list: Value = app
        .request(Method::GET, "/v1/accounts")
        .header("Authorization", bearer(&token_a))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 1);

    // Same user name under two applications: two separate folders.
    let upload = |token: String, body: &'static str| {
        app.request(Method::POST, "/v1/accounts/me/storage/files")
            .header("Authorization", bearer(&token))
            .header(
                "X-Kloudless-Metadata",
                r#"{"name":"f.txt","parent_id":"root"}"#,
            )
            .body(body)
            .send()
    };
    assert_eq!(
        upload(token_a.clone(), "from a").await.unwrap().status(),
        201
    );
    assert_eq!(
        upload(token_b.clone(), "from b").await.unwrap().status(),
        201
    );
    let read = |token: String| {
        app.request(
            Method::GET,
            "/v1/accounts/me/storage/files/Zi50eHQ/contents",
        )
        .header("Authorization", bearer(&token))
        .send()
    };
    assert_eq!(read(token_a).await.unwrap().text().await.unwrap(), "from a");
    assert_eq!(read(token_b).await.unwrap().text().await.unwrap(), "from b");
}

#[tokio::test]
async fn account_ids_and_me() {
    let app = TestApp::spawn().await;
    let (key, id, _) = app.account().await;
    let auth = format!("APIKey {key}");
    let r = app
        .request(Method::GET, "/v1/accounts/me")
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "invalid_parameters").await;
    for bad in ["abc", "99999999", "1e3", "-1"] {
        let r = app
            .request(Method::GET, &format!("/v1/accounts/{bad}"))
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_error(r, 404, "not_found").await;
    }
    // Trailing slashes (the JS SDK) work too.
    let r = app
        .request(Method::GET, &format!("/v1/accounts/{id}/"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
