//! Storage API on the `local` service, through the full pipeline.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, Caller, Go, TestApp, STORAGE};

/// A caller for the storage API of a new application's local account; paths are
/// relative to `/v1/accounts/me/storage`.
async fn setup(app: &TestApp) -> Caller {
    let (_, _, token) = app.account().await;
    app.with_token(&token).under(STORAGE)
}

/// Creates folder `name` in `parent` (new or existing); returns its metadata.
async fn mkdir(a: &Caller, parent: &str, name: &str) -> Value {
    let r = a
        .post_json("/folders", &json!({"name": name, "parent_id": parent}))
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap()
}

fn id_of(path: &str) -> String {
    URL_SAFE_NO_PAD.encode(path)
}

#[tokio::test]
async fn root_and_folder_metadata() {
    let app = TestApp::spawn().await;
    let a = setup(&app).await;
    let root = a.get_json("/folders/root").await;
    assert_eq!(
        (root["id"].as_str(), root["type"].as_str()),
        (Some("root"), Some("folder"))
    );
    assert_eq!(root["parent"], Value::Null);
    let made = mkdir(&a, "root", "Docs").await;
    assert_eq!(made["name"], "Docs");
    assert_eq!(made["parent"]["id"], "root");
    let made_id = made["id"].as_str().unwrap();
    let got = a.get_json(&format!("/folders/{made_id}")).await;
    assert_eq!(got["id"], made["id"]);
    assert_eq!(
        got["href"],
        format!(
            "{}/v1/accounts/{}/storage/folders/{}",
            app.base,
            got["account"],
            got["id"].as_str().unwrap()
        )
    );
    // A folder id on the files endpoint (and vice versa) is not found.
    let r = a.get(&format!("/files/{made_id}")).await;
    assert_error(r, 404, "not_found").await;
}

#[tokio::test]
async fn create_folder_conflicts() {
    let app = TestApp::spawn().await;
    let a = setup(&app).await;
    let x = json!({"name": "x", "parent_id": "root"});
    let r = a.post_json("/folders", &x).await;
    assert_eq!(r.status(), 201);
    let first: Value = r.json().await.unwrap();
    let r = a.post_json("/folders", &x).await;
    assert_eq!(r.status(), 200, "existing folder returned");
    assert_eq!(r.json::<Value>().await.unwrap()["id"], first["id"]);
    let r = a.post_json("/folders?conflict_if_exists=true", &x).await;
    let body = assert_error(r, 409, "naming_conflict").await;
    assert_eq!(body["conflicting_resource_id"], first["id"]);
    for parent in [id_of("missing").as_str(), "!!"] {
        let r = a
            .post_json("/folders", &json!({"name": "y", "parent_id": parent}))
            .await;
        assert_error(r, 400, "invalid_parent_folder").await;
    }
    for bad in ["", "..", "a/b", "."] {
        let r = a
            .post_json("/folders", &json!({"name": bad, "parent_id": "root"}))
            .await;
        assert_error(r, 400, "invalid_parameters").await;
    }
}

#[tokio::test]
async fn upload_download_round_trip() {
    let app = TestApp::spawn().await;
    let a = setup(&app).await;
    let mut bytes = vec![0u8; 3 * 1024 * 1024 + 17];
    rand::rng().fill_bytes(&mut bytes);
    // No Content-Type (python SDK) …
    let r = a.upload("root", "big.bin", bytes.clone()).await;
    assert_eq!(r.status(), 201);
    let file: Value = r.json().await.unwrap();
    assert_eq!(file["size"], bytes.len());
    assert_eq!(file["type"], "file");
    let id = file["id"].as_str().unwrap();
    let r = a.get(&format!("/files/{id}/contents")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), bytes.as_slice());
    // … and application/octet-stream (java, node).
    let r = a
        .upload_req("root", "ü #?%.txt", "")
        .header("Content-Type", "application/octet-stream")
        .body("unicode")
        .go()
        .await;
    let file: Value = r.json().await.unwrap();
    assert_eq!(file["name"], "ü #?%.txt");
    let meta = a
        .get_json(&format!("/files/{}", file["id"].as_str().unwrap()))
        .await;
    assert_eq!(meta["mime_type"], "text/plain");
    assert_eq!(meta["size"], 7);
}

#[tokio::test]
async fn upload_overwrite_or_rename() {
    let app = TestApp::spawn().await;
    let a = setup(&app).await;
    let upload =
        |body: &'static str, query: &str| a.upload_req("root", "r.txt", query).body(body).go();
    let first: Value = upload("one", "").await.json().await.unwrap();
    let second: Value = upload("two", "?overwrite=false")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["name"], "r (1).txt");
    let third: Value = upload("three", "?overwrite=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(third["id"], first["id"]);
    let path = format!("/files/{}/contents", first["id"].as_str().unwrap());
    let body = a.get(&path).await.text().await.unwrap();
    assert_eq!(body, "three");
    // A folder is never replaced by a file.
    mkdir(&a, "root", "dir").await;
    let r = a
        .upload_req("root", "dir", "?overwrite=true")
        .body("x")
        .go()
        .await;
    assert_error(r, 409, "naming_conflict").await;
}

#[tokio::test]
async fn upload_errors() {
    let app = TestApp::spawn().await;
    let a = setup(&app).await;
    let r = a.req(Method::POST, "/files").body("x").go().await;
    assert_error(r, 400, "invalid_parameters").await;
    let r = a
        .req(Method::POST, "/files")
        .header("X-Kloudless-Metadata", "{not json")
        .body("x")
        .go()
        .await;
    assert_error(r, 400, "invalid_parameters").await;
    let r = a.upload("root", "../escape.txt", "x").await;
    assert_error(r, 400, "invalid_parameters").await;
    let r = a.upload(&id_of("nope"), "a.txt", "x").await;
    assert_error(r, 400, "invalid_parent_folder").await;
    let by_url = json!({"url": "http://10.0.0.1/x", "parent_id": "root", "name": "x"});
    let r = a.post_json("/files", &by_url).await;
    assert_error(r, 400, "invalid_parameters").await;
    let r = a
        .upload_req("root", "a.txt", "?overwrite=perhaps")
        .body("x")
        .go()
        .await;
    assert_error(r, 400, "invalid_parameters").await;
}

#[tokio::test]
async fn folder_contents_are_paged() {
    let app = TestApp::spawn().await;
    let a = setup(&app).await;
    let folder = mkdir(&a, "root", "p").await;
    let fid = folder["id"].as_str().unwrap();
    for i in 0..5 {
        a.upload(fid, &format!("f{i}.txt"), vec![b'x'; i]).await;
    }
    let mut seen = Vec::new();
    for page in 1..=3 {
        let r = a
            .get_json(&format!("/folders/{fid}/contents?page_size=2&page={page}"))
            .await;
        assert_eq!(r["type"], "object_list");
        assert_eq!(r["page"], page);
        assert_eq!(
            r["next_page"],
            if page < 3 {
                json!(page + 1)
            } else {
                Value::Null
            }
        );
        for o in r["objects"].as_array().unwrap() {
            seen.push(o["name"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(seen, ["f0.txt", "f1.txt", "f2.txt", "f3.txt", "f4.txt"]);
    let r = a
        .get(&format!("/folders/{fid}/contents?page_size=2&page=4"))
        .await;
    assert_error(r, 404, "not_found").await;
    for bad in ["page=0", "page_size=0", "page_size=1001", "page=x"] {
        let r = a.get(&format!("/folders/{fid}/contents?{bad}")).await;
        assert_error(r, 400, "invalid_parameters").await;
    }
    // Trailing slash (JS SDK, file picker).
    let r = a.get(&format!("/folders/{fid}/contents/")).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn deletes() {
    let app = TestApp::spawn().await;
    let a = setup(&app).await;
    let folder = mkdir(&a, "root", "d").await;
    let fid = folder["id"].as_str().unwrap();
    let file: Value = a.upload(fid, "x.txt", "x").await.json().await.unwrap();
    let file_id = file["id"].as_str().unwrap();
    let r = a.delete(&format!("/folders/{fid}")).await;
    assert_error(r, 403, "folder_not_empty").await;
    // A file id on the folders endpoint is not found, and nothing is deleted.
    let r = a.delete(&format!("/folders/{file_id}")).await;
    assert_error(r, 404, "not_found").await;
    let r = a.delete(&format!("/files/{file_id}")).await;
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.unwrap().is_empty());
    let r = a.get(&format!("/files/{file_id}")).await;
    assert_error(r, 404, "not_found").await;
    a.upload(fid, "y.txt", "y").await;
    let r = a.delete(&format!("/folders/{fid}?recursive=true")).await;
    assert_eq!(r.status(), 204);
    let r = a.get(&format!("/folders/{fid}")).await;
    assert_error(r, 404, "not_found").await;
    let r = a.delete("/folders/root?recursive=true").await;
    assert_error(r, 403, "forbidden").await;
}

#[tokio::test]
async fn nothing_reaches_outside_the_account() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("t").await;
    let (alice, token) = app.import_local(&key, "alice").await;
    let (bob, other) = app.import_local(&key, "bob").await;
    let a = app.with_token(&token).under(STORAGE);
    let b = app.with_token(&other);
    b.upload("root", "secret.txt", "bob's").await;
    std::fs::write(app.data_root().join("outside.txt"), "outside").unwrap();

    let bob_secret = format!("../{bob}/secret.txt");
    let escapes = [
        bob_secret.as_str(),
        "../../outside.txt",
        "/etc/passwd",
        "a/../../bob/secret.txt",
        "..",
        "%2e%2e/bob/secret.txt",
        "..%2fbob%2fsecret.txt",
        "\\..\\bob",
        "./x",
    ];
    for path in escapes {
        for endpoint in [
            "/files/{}",
            "/files/{}/contents",
            "/folders/{}",
            "/folders/{}/contents",
        ] {
            let url = endpoint.replace("{}", &id_of(path));
            assert_error(a.get(&url).await, 404, "not_found").await;
        }
        // Raw (not base64) and percent-encoded ids are not paths either.
        let raw = path.replace('/', "%2F");
        let r = a.get(&format!("/files/{raw}")).await;
        assert!(r.status() == 404, "{path}: {}", r.status());
    }
    // A symlink planted inside the account folder pointing outside is refused.
    let alice_root = app.local_folder(alice);
    std::os::unix::fs::symlink(
        app.data_root().join("outside.txt"),
        alice_root.join("link.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink(app.data_root(), alice_root.join("dirlink")).unwrap();
    for path in ["link.txt", "dirlink/outside.txt", "dirlink"] {
        let r = a.get(&format!("/files/{}/contents", id_of(path))).await;
        assert_error(r, 404, "not_found").await;
    }
    let listing = a.root_contents().await;
    assert_eq!(
        listing["objects"].as_array().unwrap().len(),
        0,
        "symlinks are not listed"
    );
    let r = a.upload(&id_of("dirlink"), "x.txt", "x").await;
    assert!(r.status().is_client_error());
    assert!(!app.data_root().join("x.txt").exists());
}
