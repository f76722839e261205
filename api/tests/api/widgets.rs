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

#[tokio::test]
async fn only_an_applications_trusted_pages_are_trusted() {
    let app = TestApp::spawn().await;
    let (mine, _) = app.create_app("mine").await;
    let (theirs, _) = app.create_app("theirs").await;
    let dev = app.dev_caller();
    let set = |id: &str, body: Value| {
        let path = format!("/v1/applications/{id}");
        let dev = dev.clone();
        async move { dev.send_json(Method::PATCH, &path, &body).await }
    };
    // Entries are origins, stored in their normal spelling.
    let r = set(
        &mine,
        json!({"trusted_domains": ["HTTPS://App.Example.com:443/", "http://127.0.0.1:8000"],
               "logo_url": "https://app.example.com/logo.png"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["trusted_domains"],
        json!(["https://app.example.com", "http://127.0.0.1:8000"])
    );
    for bad in [
        "app.example.com",
        "https://app.example.com/path",
        "ftp://x",
        "https://u:p@x",
    ] {
        let r = set(&theirs, json!({"trusted_domains": [bad]})).await;
        assert_eq!(r.status(), 400, "{bad}");
    }
    let anyone = app.anonymous();
    let config = |path: String| {
        let anyone = anyone.clone();
        async move { anyone.get_json(&path).await["user_data"].clone() }
    };
    let picker =
        |id: &str, origin: &str| format!("/file-picker/config/?app_id={id}&origin={origin}");
    let trusted = config(picker(&mine, "https://app.example.com")).await;
    assert_eq!(trusted["trusted"], true);
    assert_eq!(trusted["logo_url"], "https://app.example.com/logo.png");
    assert_eq!(
        config(picker(&mine, "https://evil.example.com")).await["trusted"],
        false
    );
    assert_eq!(
        config(picker(&mine, "http://app.example.com")).await["trusted"],
        false
    );
    assert_eq!(
        config(format!("/file-picker/config/?app_id={mine}")).await["trusted"],
        false
    );
    // Another application's trusted domain is not trusted for this one.
    let other = config(picker(&theirs, "https://app.example.com")).await;
    assert_eq!(other["trusted"], false);
    assert_eq!(other["logo_url"], Value::Null);
    // The Meeting Scheduler sends the page's whole URL.
    let scheduler = config(format!(
        "/file-explorer/config?app_id={mine}&origin=http%3A%2F%2F127.0.0.1%3A8000%2Fbook%3Fx%3D1"
    ))
    .await;
    assert_eq!(scheduler["trusted"], true);
    let r = anyone.get("/file-picker/config/?app_id=nope").await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_popup_flow_posts_to_trusted_domains_too() {
    let app = TestApp::spawn().await;
    let (app_id, _) = app.create_app("popup").await;
    crate::connect::allow_redirect(&app, &app_id, true).await;
    let popup = format!(
        "/v1/oauth?client_id={app_id}&response_type=token&redirect_uri=urn:ietf:wg:oauth:2.0:oob\
         &origin=https://app.example.com&state=s&request_id=1&scope=any"
    );
    let anyone = app.anonymous();
    let refused = anyone.get(&popup).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("trusted domain"));
    let r = app
        .dev_caller()
        .send_json(
            Method::PATCH,
            &format!("/v1/applications/{app_id}"),
            &json!({"trusted_domains": ["https://app.example.com"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let chooser = anyone.get(&popup).await;
    assert_eq!(chooser.status(), 200, "{}", chooser.text().await.unwrap());
}
