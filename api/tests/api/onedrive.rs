//! OneDrive (`onedrive`, `onedrivebiz`) against microsoft-onedrive-mock, started per test by
//! `testenv/node/onedrive-mock.js`. That script puts a few routes in front of the emulator
//! for what Graph documents and the emulator lacks (listed in the script): `/me/drive`,
//! folder-creation conflicts, upload sessions that keep their bytes, asynchronous copies
//! with a monitor, and a throttling switch. Checks resting on those additions test the
//! connector against our reading of the Graph documentation, not against a server
//! written by others; no check here ran against Microsoft's own service.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::{
    conformance::conformance,
    helpers::{assert_error, Caller, Go, Server, TestApp},
};

const STORAGE: &str = "/v1/accounts/me/storage";

/// The emulator (with the script's additions) on a free port.
pub async fn onedrive_mock() -> Server {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testenv/node/onedrive-mock.js");
    assert!(
        script
            .with_file_name("node_modules/microsoft-onedrive-mock")
            .exists(),
        "microsoft-onedrive-mock missing: run scripts/test.sh (npm ci in testenv/node)"
    );
    Server::start_bin(PathBuf::from("node"), move |port| {
        vec![script.to_str().unwrap().to_string(), port.to_string()]
    })
    .await
}

/// An app whose OneDrive is `mock`, and the bearer token of an imported `service` account.
pub(crate) async fn onedrive_account(mock: &Server, service: &str) -> (TestApp, String) {
    let endpoint = mock.endpoint.clone();
    let app = TestApp::builder()
        .settings(move |s| {
            let p = &mut s.providers.onedrive;
            p.api_url = endpoint.clone();
            p.content_url = endpoint.clone();
            p.token_url = format!("{endpoint}/no-token-endpoint");
            p.authorize_url = format!("{endpoint}/no-authorize-endpoint");
        })
        .spawn()
        .await;
    let (_, key) = app.create_app("graph").await;
    let expiry = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let body = json!({
        "service": service, "account": "mock.user@example.com",
        "token": "valid-token", "refresh_token": "refresh-1", "token_expiry": expiry,
    });
    let (_, token) = app.import(&key, &body).await;
    (app, token)
}

#[tokio::test]
async fn onedrive_conforms() {
    let mock = onedrive_mock().await;
    let (app, token) = onedrive_account(&mock, "onedrive").await;
    let a = app.with_token(&token);
    let account = a.get_json("/v1/accounts/me?retrieve_full=true").await;
    assert_eq!(account["service_name"], "OneDrive");
    assert_eq!(
        account["properties"]["capabilities"]["can_copy_file"]["value"],
        true
    );
    conformance(&a).await;
}

#[tokio::test]
async fn onedrive_for_business_makes_the_same_calls() {
    let mock = onedrive_mock().await;
    let (app, token) = onedrive_account(&mock, "onedrivebiz").await;
    let a = app.with_token(&token);
    assert_eq!(
        a.get_json("/v1/accounts/me").await["service_name"],
        "OneDrive for Business"
    );
    let r = a
        .post_json(
            &format!("{STORAGE}/folders"),
            &json!({"name": "biz", "parent_id": "root"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let names = a.root_contents().await["objects"][0]["name"].clone();
    assert_eq!(names, "biz");
}

#[tokio::test]
async fn import_refuses_a_token_graph_refuses() {
    let mock = onedrive_mock().await;
    let endpoint = mock.endpoint.clone();
    let app = TestApp::builder()
        .settings(move |s| {
            s.providers.onedrive.api_url = endpoint.clone();
            s.providers.onedrive.content_url = endpoint.clone();
        })
        .spawn()
        .await;
    let (_, key) = app.create_app("graph").await;
    let body = json!({"service": "onedrive", "account": "x", "token": "expired-token"});
    let r = app.with_key(&key).post_json("/v1/accounts", &body).await;
    assert_error(r, 401, "service_unauthorized").await;
}

/// Uploads in every shape: one request, an upload session of several fragments (the
/// fragment size is 10 MiB), without a length, and deep folders resolved from the root.
#[tokio::test]
async fn onedrive_uploads_small_large_and_nested() {
    let mock = onedrive_mock().await;
    let (app, token) = onedrive_account(&mock, "onedrive").await;
    let a = app.with_token(&token);
    let mut parent = "root".to_string();
    for name in ["a", "b c", "d%"] {
        let r = a
            .post_json(
                &format!("{STORAGE}/folders"),
                &json!({"name": name, "parent_id": parent}),
            )
            .await;
        assert_eq!(r.status(), 201);
        parent = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
    }
    let big: Vec<u8> = (0..(21 << 20) + 7).map(|i| (i % 251) as u8).collect();
    let r = a.upload(&parent, "big.bin", big.clone()).await;
    let status = r.status();
    let file: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{file}");
    assert_eq!(
        (file["size"].as_u64(), file["path"].as_str()),
        (Some(big.len() as u64), Some("/a/b c/d%/big.bin"))
    );
    let got = a
        .get(&format!(
            "{STORAGE}/files/{}/contents",
            file["id"].as_str().unwrap()
        ))
        .await;
    assert!(got.bytes().await.unwrap() == big, "session bytes identical");

    // Replacing through a session keeps the same file.
    let r = a
        .upload_req(&parent, "big.bin", "?overwrite=true")
        .body(big[..(5 << 20)].to_vec())
        .go()
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["size"], 5 << 20);

    // Without a length: fine when small, 411 when more than one request may carry.
    let stream = |n: usize| {
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(vec![7u8; n])];
        reqwest::Body::wrap_stream(futures::stream::iter(chunks))
    };
    let r = a
        .upload_req(&parent, "small.bin", "")
        .body(stream(1000))
        .go()
        .await;
    assert_eq!(r.status(), 201);
    let r = a
        .upload_req(&parent, "large.bin", "")
        .body(stream(5 << 20))
        .go()
        .await;
    assert_error(r, 411, "length_required").await;
    let listed = a
        .get_json(&format!("{STORAGE}/folders/{parent}/contents"))
        .await;
    let names: Vec<_> = listed["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        ["big.bin", "small.bin"],
        "nothing left of the refused upload"
    );
}

#[tokio::test]
async fn persistent_throttling_surfaces_as_429() {
    let mock = onedrive_mock().await;
    let (app, token) = onedrive_account(&mock, "onedrive").await;
    let a: Caller = app.with_token(&token);
    let throttle = |seconds: u64| {
        reqwest::Client::new()
            .post(format!("{}/debug/throttle", mock.endpoint))
            .json(&json!({ "seconds": seconds }))
            .send()
    };
    assert!(throttle(1).await.unwrap().status().is_success());
    let r = a.get(&format!("{STORAGE}/folders/root/contents")).await;
    assert!(r.headers().contains_key("retry-after"), "{:?}", r.headers());
    assert_error(r, 429, "too_many_service_requests").await;
    assert!(throttle(0).await.unwrap().status().is_success());
    let r = a.get(&format!("{STORAGE}/folders/root/contents")).await;
    assert_eq!(r.status(), 200);
}

/// The emulator's Graph, called directly (as another client of the same drive would).
pub(crate) async fn graph(
    mock: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}/v1.0/me/drive{path}", mock.endpoint))
        .bearer_auth("valid-token");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let r = request.send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

/// A folder replaced behind the connector's back (deleted and made anew elsewhere, so
/// under a new id): its id names the one deleted, while its path, found again rather
/// than answered from the remembered id, names the new one.
#[tokio::test]
async fn a_folder_replaced_elsewhere_is_resolved_again() {
    use reqwest::Method;
    let mock = onedrive_mock().await;
    let (app, token) = onedrive_account(&mock, "onedrive").await;
    let a = app.with_token(&token);
    let r = a
        .post_json(
            &format!("{STORAGE}/folders"),
            &json!({"name": "shared", "parent_id": "root"}),
        )
        .await;
    let folder: Value = r.json().await.unwrap();
    let folder_id = folder["id"].as_str().unwrap().to_string();
    assert_eq!(a.upload(&folder_id, "one.txt", "1").await.status(), 201);

    let old = graph(&mock, Method::GET, "/root:/shared:", None).await;
    let old_id = old["id"].as_str().unwrap();
    graph(&mock, Method::DELETE, &format!("/items/{old_id}"), None).await;
    let body = json!({"name": "shared", "folder": {}});
    graph(&mock, Method::POST, "/items/root/children", Some(body)).await;

    // The folder's id named the folder deleted; the path's id names the new one.
    let r = a.upload(&folder_id, "two.txt", "2").await;
    assert_error(r, 400, "invalid_parent_folder").await;
    let by_path = cloudbridge_shared::ItemPath::parse("shared").unwrap().id();
    let r = a.upload(&by_path, "two.txt", "2").await;
    assert_eq!(r.status(), 201);
    let listed = a
        .get_json(&format!("{STORAGE}/folders/{by_path}/contents"))
        .await;
    assert_eq!(listed["objects"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["objects"][0]["name"], "two.txt");
}

/// What the OAuth connect flow learns about a token's user.
#[tokio::test]
async fn identity_names_the_drive_owner() {
    use cloudbridge_connectors::oauth;
    let mock = onedrive_mock().await;
    let mut settings = cloudbridge_shared::config::Settings::default()
        .providers
        .onedrive;
    settings.api_url = mock.endpoint.clone();
    let api = |token: &str| oauth::Api {
        http: reqwest::Client::new(),
        tokens: std::sync::Arc::new(oauth::FixedToken(oauth::Token {
            access: cloudbridge_shared::secret::Secret::new(token),
            version: 0,
        })),
        call_timeout: std::time::Duration::from_secs(60),
        headers: Vec::new(),
    };
    let found = cloudbridge_connectors::onedrive::identity(&api("valid-token"), &settings)
        .await
        .unwrap();
    assert_eq!(
        found,
        ("user1".to_string(), "mock.user@example.com".to_string()),
        "named by e-mail, not display name"
    );
    let refused = cloudbridge_connectors::onedrive::identity(&api("bad"), &settings).await;
    assert_eq!(refused.unwrap_err().code, "service_unauthorized");
}
