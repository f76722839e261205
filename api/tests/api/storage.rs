//! Storage API on the `local` service, through the full pipeline.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, bearer, TestApp};

struct Acct<'a> {
    app: &'a TestApp,
    token: String,
}

impl Acct<'_> {
    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.app
            .request(method, &format!("/v1/accounts/me/storage{path}"))
            .header("Authorization", bearer(&self.token))
    }

    async fn upload(
        &self,
        parent: &str,
        name: &str,
        body: Vec<u8>,
        query: &str,
    ) -> reqwest::Response {
        self.req(Method::POST, &format!("/files{query}"))
            .header(
                "X-Kloudless-Metadata",
                json!({"name": name, "parent_id": parent}).to_string(),
            )
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn mkdir(&self, parent: &str, name: &str) -> Value {
        let r = self
            .req(Method::POST, "/folders")
            .json(&json!({"name": name, "parent_id": parent}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        r.json().await.unwrap()
    }
}

async fn setup(app: &TestApp) -> Acct<'_> {
    let (_, _, token) = app.account().await;
    Acct { app, token }
}

fn id_of(path: &str) -> String {
    URL_SAFE_NO_PAD.encode(path)
}

#[tokio::test]
async fn root_and_folder_metadata() {
    let app = TestApp::spawn().await;
    let a = setup(&app).await;
    let root: Value = a
        .req(Method::GET, "/folders/root")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (root["id"].as_str(), root["type"].as_str()),
        (Some("root"), Some("folder"))
    );
    assert_eq!(root["parent"], Value::Null);
    let made = a.mkdir("root", "Docs").await;
    assert_eq!(made["name"], "Docs");
    assert_eq!(made["parent"]["id"], "root");
    let got: Value = a
        .req(
            Method::GET,
            &format!("/folders/{}", made["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
    let r = a
        .req(
            Method::GET,
            &format!("/files/{}", made["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "not_found").await;
}

#[tokio::test]
async fn create_folder_conflicts() {
    let app = TestApp::spawn().await;
    let a = setup(&app).await;
    let r = a
        .req(Method::POST, "/folders")
        .json(&json!({"name": "x", "parent_id": "root"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let first: Value = r.json().await.unwrap();
    let r = a
        .req(Method::POST, "/folders")
        .json(&json!({"name": "x", "parent_id": "root"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "existing folder returned");
    assert_eq!(r.json::<Value>().await.unwrap()["id"], first["id"]);
    let r = a
        .req(Method::POST, "/folders?conflict_if_exists=true")
        .json(&json!({"name": "x", "parent_id": "root"}))
        .send()
        .await
        .unwrap();
    let body = assert_error(r, 409, "naming_conflict").await;
    assert_eq!(body["conflicting_resource_id"], first["id"]);
    let r = a
        .req(Method::POST, "/folders")
        .json(&json!({"name": "y", "parent_id": id_of("missing")}))
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "invalid_parent_folder").await;
    let r = a
        .req(Method::POST, "/folders")
        .json(&json!({"name": "y", "parent_id": "!!"}))
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "invalid_parent_folder").await;
    for bad in ["", "..", "a/b", "."] {
        let r = a
            .req(Method::POST, "/folders")
            .json(&json!({"name": bad, "parent_id": "root"}))
            .send()
            .await
            .unwrap();
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
    let r = a.upload("root", "big.bin", bytes.clone(), "").await;
    assert_eq!(r.status(), 201);
    let file: Value = r.json().await.unwrap();
    assert_eq!(file["size"], bytes.len());
    assert_eq!(file["type"], "file");
    let id = file["id"].as_str().unwrap();
    let r = a
        .req(Method::GET, &format!("/files/{id}/contents"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), bytes.as_slice());
    // … and application/octet-stream (java, node).
    let r = a
        .req(Method::POST, "/files")
        .header("Content-Type", "application/octet-stream")
        .header(
            "X-Kloudless-Metadata",
            r#"{"name":"ü #?%.txt","parent_id":"root"}"#,
        )
        .body("unicode")
        .send()
        .await
        .unwrap();
    let file: Value = r.json().await.unwrap();
    assert_eq!(file["name"], "ü #?%.txt");
    let meta: Value = a
        .req(
            Method::GET,
            &format!("/files/{}", file["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["mime_type"], "text/plain");
    assert_eq!(meta["size"], 7);
}

#[tokio::test]
async fn upload_overwrite_or_rename() {
    let app = TestApp::spawn().await;
    let a = setup(&app).await;
    let first: Value = a
        .upload("root", "r.txt", b"one".to_vec(), "")
        .await
        .json()
        .await
        .unwrap();
    let second: Value = a
        .upload("root", "r.txt", b"two".to_vec(), "?overwrite=false")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["name"], "r (1).txt");
    let third: Value = a
        .upload("root", "r.txt", b"three".to_vec(), "?overwrite=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(third["id"], first["id"]);
    let body = a
        .req(
            Method::GET,
            &format!("/files/{}/contents", first["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "three");
    // A folder is never replaced by a file.
    a.mkdir("root", "dir").await;
    let r = a
        .upload("root", "dir", b"x".to_vec(), "?overwrite=true")
        .await;
    assert_error(r, 409, "naming_conflict").await;
}

#[tokio::test]
async fn upload_errors() {
    let app = TestApp::spawn().await;
    let a = setup(&app).await;
    let r = a
        .req(Method::POST, "/files")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "invalid_parameters").await;
    let r = a
        .req(Method::POST, "/files")
        .header("X-Kloudless-Metadata", "{not json")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "invalid_parameters").await;
    let r = a.upload("root", "../escape.txt", b"x".to_vec(), "").await;
    assert_error(r, 400, "invalid_parameters").await;
    let r = a.upload(&id_of("nope"), "a.txt", b"x".to_vec(), "").await;
    assert_error(r, 400, "invalid_parent_folder").await;
    let r = a
        .req(Method::POST, "/files")
        .json(&json!({"url": "http://example.com/x", "parent_id": "root", "name": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(r, 501, "not_implemented").await;
    let r = a
        .upload("root", "a.txt", b"x".to_vec(), "?overwrite=perhaps")
        .await;
    assert_error(r, 400, "invalid_parameters").await;
}

#[tokio::test]
async fn folder_contents_are_paged() {
    let app = TestApp::spawn().await;
    let a = setup(&app).await;
    let folder = a.mkdir("root", "p").await;
    let fid = folder["id"].as_str().unwrap();
    for i in 0..5 {
        a.upload(fid, &format!("f{i}.txt"), vec![b'x'; i], "").await;
    }
    let mut seen = Vec::new();
    for page in 1..=3 {
        let r: Value = a
            .req(
                Method::GET,
                &format!("/folders/{fid}/contents?page_size=2&page={page}"),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
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
        .req(
            Method::GET,
            &format!("/folders/{fid}/contents?page_size=2&page=4"),
        )
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "not_found").await;
    for bad in ["page=0", "page_size=0", "page_size=1001", "page=x"] {
        let r = a
            .req(Method::GET, &format!("/folders/{fid}/contents?{bad}"))
            .send()
            .await
            .unwrap();
        assert_error(r, 400, "invalid_parameters").await;
    }
    // Trailing slash (JS SDK, file picker).
    let r = a
        .req(Method::GET, &format!("/folders/{fid}/contents/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn deletes() {
    let app = TestApp::spawn().await;
    let a = setup(&app).await;
    let folder = a.mkdir("root", "d").await;
    let fid = folder["id"].as_str().unwrap();
    let file: Value = a
        .upload(fid, "x.txt", b"x".to_vec(), "")
        .await
        .json()
        .await
        .unwrap();
    let r = a
        .req(Method::DELETE, &format!("/folders/{fid}"))
        .send()
        .await
        .unwrap();
    assert_error(r, 403, "folder_not_empty").await;
    // A file id on the folders endpoint is not found, and nothing is deleted.
    let r = a
        .req(
            Method::DELETE,
            &format!("/folders/{}", file["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "not_found").await;
    let r = a
        .req(
            Method::DELETE,
            &format!("/files/{}", file["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.unwrap().is_empty());
    let r = a
        .req(
            Method::GET,
            &format!("/files/{}", file["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "not_found").await;
    a.upload(fid, "y.txt", b"y".to_vec(), "").await;
    let r = a
        .req(Method::DELETE, &format!("/folders/{fid}?recursive=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = a
        .req(Method::GET, &format!("/folders/{fid}"))
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "not_found").await;
    let r = a
        .req(Method::DELETE, "/folders/root?recursive=true")
        .send()
        .await
        .unwrap();
    assert_error(r, 403, "forbidden").await;
}

#[tokio::test]
async fn nothing_reaches_outside_the_account() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("t").await;
    let (_, token) = app.import_local(&key, "alice").await;
    let (_, other) = app.import_local(&key, "bob").await;
    let a = Acct { app: &app, token };
    let b = Acct {
        app: &app,
        token: other,
    };
    b.upload("root", "secret.txt", b"bob's".to_vec(), "").await;
    std::fs::write(app.data_root().join("outside.txt"), "outside").unwrap();

    let escapes = [
        "../bob/secret.txt",
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
            let r = a.req(Method::GET, &url).send().await.unwrap();
            assert_error(r, 404, "not_found").await;
        }
        // Raw (not base64) and percent-encoded ids are not paths either.
        let raw = path.replace('/', "%2F");
        let r = a
            .req(Method::GET, &format!("/files/{raw}"))
            .send()
            .await
            .unwrap();
        assert!(r.status() == 404, "{path}: {}", r.status());
    }
    // A symlink planted inside the account folder pointing outside is refused.
    let alice_root = app
        .data_root()
        .join("accounts")
        .join(app_folder(&app).await)
        .join("alice");
    std::os::unix::fs::symlink(
        app.data_root().join("outside.txt"),
        alice_root.join("link.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink(app.data_root(), alice_root.join("dirlink")).unwrap();
    for path in ["link.txt", "dirlink/outside.txt", "dirlink"] {
        let r = a
            .req(Method::GET, &format!("/files/{}/contents", id_of(path)))
            .send()
            .await
            .unwrap();
        assert_error(r, 404, "not_found").await;
    }
    let listing: Value = a
        .req(Method::GET, "/folders/root/contents")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listing["objects"].as_array().unwrap().len(),
        0,
        "symlinks are not listed"
    );
    let r = a
        .upload(&id_of("dirlink"), "x.txt", b"x".to_vec(), "")
        .await;
    assert!(r.status().is_client_error());
    assert!(!app.data_root().join("x.txt").exists());
}

async fn app_folder(app: &TestApp) -> String {
    let entries: Vec<_> = std::fs::read_dir(app.data_root().join("accounts"))
        .unwrap()
        .collect();
    assert_eq!(entries.len(), 1);
    entries[0]
        .as_ref()
        .unwrap()
        .file_name()
        .into_string()
        .unwrap()
}
