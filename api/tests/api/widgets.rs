//! What the Kloudless browser widgets load from the API origin besides the API.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;

#[tokio::test]
async fn the_widgets_relay_page_is_served_without_credentials() {
    let app = TestApp::spawn().await;
    let r = app.anonymous().get("/static/iexd.html").await;
    assert_eq!(r.status(), 200);
    let kind = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.starts_with("text/html"), "{kind}");
    let page = r.text().await.unwrap();
    // It relays the popup's result to the page that asked, at that page's origin only.
    assert!(page.contains("prepareToOpenAuthenticator"), "{page}");
    assert!(page.contains("postMessage(event.data, asker)"), "{page}");
}

#[tokio::test]
async fn the_picker_reads_the_services_an_application_can_use() {
    let app = TestApp::spawn().await;
    let (app_id, _) = app.create_app("picker").await;
    let anyone = app.anonymous();
    let list = anyone
        .get_json(&format!("/v1/public/services?apis=storage&app_id={app_id}"))
        .await;
    let objects = list["objects"].as_array().unwrap();
    let named = |n: &str| objects.iter().find(|o| o["name"] == n).cloned();
    for name in [
        "gdrive", "dropbox", "box", "onedrive", "s3", "webdav", "sftp",
    ] {
        assert!(named(name).is_some(), "{name} missing: {list}");
    }
    let drive = named("gdrive").unwrap();
    assert_eq!(drive["friendly_name"], "Google Drive");
    assert_eq!(drive["category"], "file_store");
    assert_eq!(named("s3").unwrap()["category"], "object_store");
    assert!(drive.get("properties").is_none());
    // Newer pickers ask for the folder capabilities.
    let with = anyone
        .get_json(&format!(
            "/v1/public/services?apis=storage&app_id={app_id}&retrieve_properties=true"
        ))
        .await;
    assert_eq!(
        with["objects"][0]["properties"]["capabilities"]["storage.folders.list"][0]["result"],
        true
    );
    // No storage asked: nothing to list.
    let calendar = anyone
        .get_json(&format!(
            "/v1/public/services?apis=calendar&app_id={app_id}"
        ))
        .await;
    assert_eq!(calendar["objects"], json!([]));
}

#[tokio::test]
async fn services_of_unknown_or_inactive_applications_are_not_listed() {
    let app = TestApp::spawn().await;
    let (app_id, _) = app.create_app("gone").await;
    let anyone = app.anonymous();
    let r = anyone.get("/v1/public/services?apis=storage").await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error_code"],
        "invalid_parameters"
    );
    let r = anyone.get("/v1/public/services?app_id=nope").await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error_code"], "not_found");
    let off = app
        .dev_caller()
        .send_json(
            Method::PATCH,
            &format!("/v1/applications/{app_id}"),
            &json!({"active": false}),
        )
        .await;
    assert_eq!(off.status(), 200);
    let r = anyone
        .get(&format!("/v1/public/services?app_id={app_id}"))
        .await;
    assert_eq!(r.status(), 404);
}
