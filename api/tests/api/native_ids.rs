//! Ids on the services that name items by their own ids (Google Drive, OneDrive, Dropbox,
//! Box): renames and moves made at the service itself keep every Kloudless id an app
//! stored, properties and links follow the item by its id, and ids made of paths (all
//! ids issued before native ids) still work.

use std::future::Future;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, Caller, STORAGE};

/// What was made through the API before the service changed it.
struct Made {
    folder_id: String,
    folder_raw: String,
    file_id: String,
    file_raw: String,
    link: String,
}

/// Makes `docs/a.txt` with a property and a direct link, through the API.
async fn make(a: &Caller) -> Made {
    let r = a
        .post_json(
            &format!("{STORAGE}/folders"),
            &json!({"name": "docs", "parent_id": "root"}),
        )
        .await;
    let folder: Value = r.json().await.unwrap();
    let folder_id = folder["id"].as_str().unwrap().to_string();
    assert!(folder_id.starts_with("folder_"), "{folder}");
    assert_eq!(folder["id_type"], "default", "{folder}");
    let r = a.upload(&folder_id, "a.txt", "hello").await;
    assert_eq!(r.status(), 201);
    let file: Value = r.json().await.unwrap();
    let file_id = file["id"].as_str().unwrap().to_string();
    assert!(file_id.starts_with("file_"), "{file}");
    assert_parent(a, &file, &folder_id).await;
    assert_eq!(file["ids"]["path"], URL_SAFE_NO_PAD.encode("docs/a.txt"));
    let r = a
        .send_json(
            Method::PATCH,
            &format!("{STORAGE}/files/{file_id}/properties"),
            &json!([{"key": "colour", "value": "green"}]),
        )
        .await;
    assert_eq!(r.status(), 200);
    let link: Value = a
        .post_json(
            &format!("{STORAGE}/links"),
            &json!({"file_id": file_id, "direct": true}),
        )
        .await
        .json()
        .await
        .unwrap();
    Made {
        folder_raw: folder["raw_id"].as_str().unwrap().to_string(),
        file_raw: file["raw_id"].as_str().unwrap().to_string(),
        link: link["url"].as_str().unwrap().to_string(),
        folder_id,
        file_id,
    }
}

/// The parent `item` names is the folder `folder_id` (Dropbox, which tells no parent
/// ids, names it by its path).
async fn assert_parent(a: &Caller, item: &Value, folder_id: &str) {
    let parent = item["parent"]["id"].as_str().unwrap();
    let folder = a.get_json(&format!("{STORAGE}/folders/{parent}")).await;
    assert_eq!(folder["id"], folder_id, "{item}");
}

/// After the service renamed `docs` to `papers` and the file to `b.txt` (or moved it to
/// `papers/b.txt` some other way), every id made before still names the same items.
async fn still_named(a: &Caller, made: &Made) {
    let file = a
        .get_json(&format!("{STORAGE}/files/{}", made.file_id))
        .await;
    assert_eq!(
        (
            file["id"].as_str(),
            file["path"].as_str(),
            file["name"].as_str()
        ),
        (
            Some(made.file_id.as_str()),
            Some("/papers/b.txt"),
            Some("b.txt")
        ),
        "{file}"
    );
    assert_parent(a, &file, &made.folder_id).await;
    let listed = a
        .get_json(&format!("{STORAGE}/folders/{}/contents", made.folder_id))
        .await;
    assert_eq!(listed["objects"][0]["id"], made.file_id, "{listed}");
    let bytes = a
        .get(&format!("{STORAGE}/files/{}/contents", made.file_id))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), b"hello");
    let properties = a
        .get_json(&format!("{STORAGE}/files/{}/properties", made.file_id))
        .await;
    assert_eq!(
        properties["properties"][0]["value"], "green",
        "{properties}"
    );
    let served = reqwest::get(&made.link).await.unwrap();
    assert_eq!(served.status(), 200, "the link follows the file");
    assert_eq!(served.bytes().await.unwrap().as_ref(), b"hello");

    // An id made of the path (as every id was before) still works, and answers the id.
    let by_path = URL_SAFE_NO_PAD.encode("papers/b.txt");
    let file = a.get_json(&format!("{STORAGE}/files/{by_path}")).await;
    assert_eq!(file["id"], made.file_id, "{file}");
    // The raw id turns back into the id.
    let encoded: Value = a
        .post_json(
            &format!("{STORAGE}/convert_id"),
            &json!({"raw_id": made.file_raw, "type": "file"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(encoded["id"], made.file_id, "{encoded}");

    // A file id is not a folder's, and ids of nothing are 404.
    let r = a.get(&format!("{STORAGE}/folders/{}", made.file_id)).await;
    assert_error(r, 404, "not_found").await;
    let nothing = cloudbridge_shared::storage::native_id(
        "no-such-item",
        cloudbridge_shared::storage::ItemKind::File,
    );
    assert_error(
        a.get(&format!("{STORAGE}/files/{nothing}")).await,
        404,
        "not_found",
    )
    .await;

    // Moved and deleted by its id through the API.
    let r = a
        .send_json(
            Method::PATCH,
            &format!("{STORAGE}/files/{}", made.file_id),
            &json!({"parent_id": "root", "name": "c.txt"}),
        )
        .await;
    let moved: Value = r.json().await.unwrap();
    assert_eq!(
        (moved["id"].as_str(), moved["path"].as_str()),
        (Some(made.file_id.as_str()), Some("/c.txt")),
        "{moved}"
    );
    let properties = a
        .get_json(&format!("{STORAGE}/files/{}/properties", made.file_id))
        .await;
    assert_eq!(
        properties["properties"][0]["value"], "green",
        "{properties}"
    );
    let r = a.delete(&format!("{STORAGE}/files/{}", made.file_id)).await;
    assert_eq!(r.status(), 204);
    assert_error(
        a.get(&format!("{STORAGE}/files/{}", made.file_id)).await,
        404,
        "not_found",
    )
    .await;
    let r = a
        .delete(&format!("{STORAGE}/folders/{}", made.folder_id))
        .await;
    assert_eq!(r.status(), 204);
}

/// The walk of one service: `rename(kind, raw id, new name)` renames at the service.
async fn ids_survive<F, Fut>(a: &Caller, rename: F)
where
    F: Fn(&'static str, String, &'static str) -> Fut,
    Fut: Future<Output = ()>,
{
    let made = make(a).await;
    rename("folder", made.folder_raw.clone(), "papers").await;
    rename("file", made.file_raw.clone(), "b.txt").await;
    still_named(a, &made).await;
}

/// A change made straight at the service, as its own apps would.
async fn at_service(method: Method, url: String, token: String, body: Value) {
    let r = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
}

#[tokio::test]
async fn onedrive_ids_survive_renames_made_at_the_service() {
    let mock = crate::onedrive::onedrive_mock().await;
    let (app, token) = crate::onedrive::onedrive_account(&mock, "onedrive").await;
    let a = app.with_token(&token);
    ids_survive(&a, |_, raw, name| {
        let mock = &mock;
        async move {
            let body = json!({ "name": name });
            let path = format!("/items/{raw}");
            crate::onedrive::graph(mock, Method::PATCH, &path, Some(body)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn gdrive_ids_survive_renames_made_at_the_service() {
    let mock = crate::gdrive::drive_mock().await;
    let app = crate::gdrive::app_with_drive(&mock.endpoint).await;
    let (_, key) = app.create_app("gdrive").await;
    let (_, token) = app
        .import(&key, &crate::gdrive::account("mock@example.com"))
        .await;
    let a = app.with_token(&token);
    ids_survive(&a, |_, raw, name| {
        let url = format!("{}/drive/v3/files/{raw}", mock.endpoint);
        at_service(
            Method::PATCH,
            url,
            "valid-token".into(),
            json!({ "name": name }),
        )
    })
    .await;
}

#[tokio::test]
async fn box_ids_survive_renames_made_at_the_service() {
    let fake = crate::boxcom::fake(|_| {}).await;
    let app = crate::boxcom::app_for(&fake).await;
    let a = crate::boxcom::import(&app, "box-access-token", None).await;
    let base = fake.url().to_string();
    ids_survive(&a, |kind, raw, name| {
        let url = format!("{}/2.0/{kind}s/{raw}", base.trim_end_matches('/'));
        let token = "box-access-token".to_string();
        at_service(Method::PUT, url, token, json!({ "name": name }))
    })
    .await;
}

#[tokio::test]
async fn dropbox_ids_survive_moves_made_at_the_service() {
    let fake = cloudbridge_fakes::dropbox::FakeDropbox::start().await;
    let app = crate::dropbox::app_for(&fake).await;
    let (a, access) = crate::dropbox::import(&app, &fake).await;
    let base = fake.url().to_string();
    // Dropbox moves by path: the folder first, then the file inside its new place.
    ids_survive(&a, |kind, _, name| {
        let (from, to) = match kind {
            "folder" => ("/docs".to_string(), format!("/{name}")),
            _ => ("/papers/a.txt".to_string(), format!("/papers/{name}")),
        };
        let url = format!("{}/2/files/move_v2", base.trim_end_matches('/'));
        let body = json!({ "from_path": from, "to_path": to });
        at_service(Method::POST, url, access.clone(), body)
    })
    .await;
}
