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
    // The picker's list has no calendar service; asked for calendars, the list is CalDAV.
    assert!(named("caldav").is_none(), "{list}");
    let calendar = anyone
        .get_json(&format!(
            "/v1/public/services?apis=calendar&app_id={app_id}"
        ))
        .await;
    assert_eq!(
        calendar["objects"].as_array().unwrap().len(),
        1,
        "{calendar}"
    );
    assert_eq!(calendar["objects"][0]["name"], "caldav");
    assert_eq!(calendar["objects"][0]["category"], "calendar");
    assert_eq!(calendar["objects"][0]["apis"], json!(["calendar"]));
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

#[tokio::test]
async fn the_widgets_bundles_are_served_pointing_here() {
    let app = TestApp::spawn().await;
    let anyone = app.anonymous();
    let base = &app.base;
    let script = |r: reqwest::Response| async move {
        assert_eq!(r.status(), 200);
        let kind = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(kind.starts_with("application/javascript"), "{kind}");
        assert!(r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public"));
        r.text().await.unwrap()
    };
    for loader in ["loader.js", "loader.min.js"] {
        let js = script(
            anyone
                .get(&format!("/widgets/file-picker/v2/{loader}"))
                .await,
        )
        .await;
        let page = format!("{base}/widgets/file-picker/v2/picker/index.html");
        assert_eq!(js.matches(&page).count(), 2, "{loader}");
        assert!(!js.contains("static-cdn.kloudless.com"));
    }
    for auth in ["authenticator.js", "authenticator.min.js"] {
        let js = script(
            anyone
                .get(&format!("/widgets/authenticator/v1/{auth}"))
                .await,
        )
        .await;
        assert!(js.contains(&format!("\"{base}\"")), "{auth}");
        assert!(!js.contains("api.kloudless.com"));
    }
    let js = script(anyone.get("/widgets/file-picker/v2/picker/picker.js").await).await;
    assert!(js.contains(&format!("String(\"{base}\")")));
    // The picker's page and its assets, from the published tree.
    let page = anyone
        .get("/widgets/file-picker/v2/picker/index.html")
        .await;
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("kloudless-file-picker-script"));
    let css = anyone
        .get("/widgets/file-picker/v2/picker/picker.css")
        .await;
    assert_eq!(css.status(), 200);
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    // Its icons come from here too, and the font is the reader's own.
    let css = css.text().await.unwrap();
    assert!(!css.contains("amazonaws.com"));
    assert!(css.contains(&format!("{base}/widgets/static/explorer/icon/close.svg")));
    let close = anyone.get("/widgets/static/explorer/icon/close.svg").await;
    assert_eq!(close.headers()["content-type"], "image/svg+xml");
    // Its images are drawn here.
    let logo = anyone
        .get("/widgets/static/webapp/sources/dropbox.png")
        .await;
    assert_eq!(logo.status(), 200);
    assert_eq!(logo.headers()["content-type"], "image/svg+xml");
    // Nothing else, and nothing outside the tree.
    for missing in [
        "/widgets/file-picker/v2/picker/nothing.js",
        "/widgets/file-picker/v2/picker/..%2F..%2Floader%2Floader.js",
        "/widgets/file-picker/v2/picker/%2e%2e/%2e%2e/loader/loader.js",
        "/widgets/file-picker/v2/picker/",
        "/widgets/static/webapp/sources/..png",
        "/widgets/anything",
    ] {
        let r = anyone.get(missing).await;
        crate::helpers::assert_error(r, 404, "not_found").await;
    }
}

#[tokio::test]
async fn the_widgets_calls_pass_cors_with_their_headers() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .request(
            Method::OPTIONS,
            format!("{}/v1/accounts/1/storage/folders/root", app.base),
        )
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "GET")
        .header(
            "Access-Control-Request-Headers",
            "authorization,x-kloudless-source,x-picker-id",
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    // `*` would not cover Authorization: the headers are named.
    let allowed = r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");
    assert!(allowed.contains("x-picker-id"), "{allowed}");
}

#[tokio::test]
async fn the_hosted_picker_is_trusted_alike_with_or_without_origin_and_may_open_the_popup() {
    let app = TestApp::spawn().await;
    let (app_id, _) = app.create_app("hosted").await;
    let r = app
        .dev_caller()
        .send_json(
            Method::PATCH,
            &format!("/v1/applications/{app_id}"),
            &json!({"trusted_domains": ["https://app.example.com"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let config = |referer: String| {
        let app_id = app_id.clone();
        let request = app
            .client
            .get(format!("{}/file-picker/config/?app_id={app_id}", app.base))
            .header("Referer", referer);
        async move {
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            body["user_data"]["trusted"].clone()
        }
    };
    let hosted = |origin: &str| {
        format!(
            "{}/widgets/file-picker/v2/picker/index.html?app_id={app_id}&origin={origin}",
            app.base
        )
    };
    // The picker's first, origin-less call answers as its second will.
    assert_eq!(config(hosted("https%3A%2F%2Fapp.example.com")).await, true);
    assert_eq!(
        config(hosted("https%3A%2F%2Fother.example.com")).await,
        false
    );
    // Only the appliance's own picker page is read so.
    let elsewhere = "https://evil.example/widgets/file-picker/v2/picker/index.html?origin=https%3A%2F%2Fapp.example.com";
    assert_eq!(config(elsewhere.to_string()).await, false);

    // The hosted picker's popup posts to the appliance's own origin.
    crate::connect::allow_redirect(&app, &app_id, true).await;
    let popup = format!(
        "/v1/oauth?client_id={app_id}&response_type=token&redirect_uri=urn:ietf:wg:oauth:2.0:oob\
         &origin={}&state=s&request_id=1&scope=any",
        app.base
    );
    let chooser = app.anonymous().get(&popup).await;
    assert_eq!(chooser.status(), 200, "{}", chooser.text().await.unwrap());
}
