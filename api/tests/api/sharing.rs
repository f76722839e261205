//! Shared links (management API and the served URL), file properties and the lifetime of
//! multipart uploads, on `local` through the full pipeline.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, housekeeping_removes, Go, TestApp, STORAGE};

#[tokio::test]
async fn links_serve_files_only_while_allowed() {
    let app = TestApp::spawn().await;
    let (_, _, token) = app.account().await;
    let a = app.with_token(&token).under(STORAGE);
    let file: Value = a
        .upload("root", "report ü.txt", "hello, link")
        .await
        .json()
        .await
        .unwrap();
    let file_id = file["id"].as_str().unwrap();
    let web = reqwest::Client::new();

    // Bad requests.
    assert_error(
        a.post_json("/links", &json!({})).await,
        400,
        "invalid_parameters",
    )
    .await;
    let r = a.post_json("/links", &json!({"file_id": "bm9wZQ"})).await;
    assert_error(r, 400, "invalid_parameters").await;
    let r = a.post_json("/links", &json!({"file_id": "root"})).await;
    assert_error(r, 400, "invalid_parameters").await;
    let r = a
        .post_json("/links", &json!({"file_id": file_id, "expiration": "soon"}))
        .await;
    assert_error(r, 400, "invalid_parameters").await;

    // A direct link serves the bytes, byte ranges included.
    let r = a
        .post_json("/links", &json!({"file_id": file_id, "direct": true}))
        .await;
    assert_eq!(r.status(), 201);
    let link: Value = r.json().await.unwrap();
    assert_eq!(
        (link["type"].as_str(), link["password"].as_bool()),
        (Some("link"), Some(false))
    );
    assert_eq!(link["file_id"], file_id);
    let url = link["url"].as_str().unwrap().to_string();
    let link_path = format!("/links/{}", link["id"].as_str().unwrap());
    let got = web.get(&url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.text().await.unwrap(), "hello, link");
    let got = web
        .get(&url)
        .header("range", "bytes=7-")
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 206);
    assert_eq!(got.text().await.unwrap(), "link");

    // Deactivated, then a password, then expired.
    let r = a
        .send_json(Method::PATCH, &link_path, &json!({"active": false}))
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["active"], false);
    assert_error(web.get(&url).send().await.unwrap(), 403, "forbidden").await;
    let r = a
        .send_json(
            Method::PATCH,
            &link_path,
            &json!({"active": true, "password": "s3cret"}),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["password"], true);
    let form = web.get(&url).send().await.unwrap();
    assert_eq!(form.status(), 401);
    assert!(form.text().await.unwrap().contains("type=\"password\""));
    let wrong = web
        .post(&url)
        .form(&[("password", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    let right = web
        .post(&url)
        .form(&[("password", "s3cret")])
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    assert_eq!(right.text().await.unwrap(), "hello, link");
    let r = a
        .send_json(
            Method::PATCH,
            &link_path,
            &json!({"password": null, "expiration": "2001-01-01T00:00:00Z"}),
        )
        .await;
    let patched: Value = r.json().await.unwrap();
    assert_eq!(patched["password"], false);
    assert_eq!(patched["expiration"], "2001-01-01T00:00:00.000000Z");
    assert_error(web.get(&url).send().await.unwrap(), 403, "forbidden").await;
    let r = a
        .send_json(Method::PATCH, &link_path, &json!({"expiration": null}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(web.get(&url).send().await.unwrap().status(), 200);

    // A landing page for links that are not direct, with a download link.
    let r = a.post_json("/links", &json!({"file_id": file_id})).await;
    let landing: Value = r.json().await.unwrap();
    let page_url = landing["url"].as_str().unwrap();
    let page = web.get(page_url).send().await.unwrap();
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("report ü.txt"));
    let got = web
        .get(format!("{page_url}?download=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.text().await.unwrap(), "hello, link");

    // Listing, filters, other applications.
    let all = a.get_json("/links").await;
    assert_eq!(
        (all["total"].as_i64(), all["count"].as_i64()),
        (Some(2), Some(2))
    );
    let r = a
        .send_json(Method::PATCH, &link_path, &json!({"active": false}))
        .await;
    assert_eq!(r.status(), 200);
    let active = a.get_json("/links?active=true").await;
    assert_eq!(active["objects"][0]["id"], landing["id"]);
    assert_error(a.get("/links?page=2").await, 404, "not_found").await;
    let (_, _, other_token) = app.account().await;
    let other = app.with_token(&other_token).under(STORAGE);
    assert_error(other.get(&link_path).await, 404, "not_found").await;
    assert_error(other.delete(&link_path).await, 404, "not_found").await;

    // Deleted: gone from the API and the URL.
    assert_eq!(a.delete(&link_path).await.status(), 204);
    assert_error(a.get(&link_path).await, 404, "not_found").await;
    assert_error(web.get(&url).send().await.unwrap(), 404, "not_found").await;
}

#[tokio::test]
async fn properties_follow_their_file() {
    let app = TestApp::spawn().await;
    let (_, _, token) = app.account().await;
    let a = app.with_token(&token).under(STORAGE);
    let file: Value = a.upload("root", "a.txt", "x").await.json().await.unwrap();
    let props = format!("/files/{}/properties", file["id"].as_str().unwrap());

    assert_eq!(a.get_json(&props).await, json!({"properties": []}));
    let set = json!([{"key": "colour", "value": "blue"}, {"key": "n", "value": 3}]);
    let r = a.send_json(Method::PATCH, &props, &set).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let keys: Vec<&str> = body["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["colour", "n"]);
    assert_eq!(body["properties"][1]["value"], 3);
    let r = a
        .send_json(
            Method::PATCH,
            &props,
            &json!([{"key": "colour", "value": null}]),
        )
        .await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["properties"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let r = a
        .send_json(Method::PATCH, &props, &json!([{"key": "", "value": 1}]))
        .await;
    assert_error(r, 400, "invalid_parameters").await;
    let r = a
        .send_json(Method::PATCH, &props, &json!({"key": "x"}))
        .await;
    assert_eq!(r.status(), 400);

    // Renamed: the properties go along; deleted: they go too.
    let r = a
        .send_json(
            Method::PATCH,
            &format!("/files/{}", file["id"].as_str().unwrap()),
            &json!({"name": "b.txt"}),
        )
        .await;
    let moved: Value = r.json().await.unwrap();
    let moved_props = format!("/files/{}/properties", moved["id"].as_str().unwrap());
    assert_eq!(a.get_json(&moved_props).await["properties"][0]["key"], "n");
    assert_error(a.get(&props).await, 404, "not_found").await;
    assert_eq!(a.delete(&moved_props).await.status(), 204);
    assert_eq!(a.get_json(&moved_props).await["properties"], json!([]));
    a.send_json(Method::PATCH, &moved_props, &set).await;
    let r = a
        .delete(&format!("/files/{}", moved["id"].as_str().unwrap()))
        .await;
    assert_eq!(r.status(), 204);
    let again: Value = a.upload("root", "b.txt", "y").await.json().await.unwrap();
    assert_eq!(again["id"], moved["id"]);
    assert_eq!(
        a.get_json(&moved_props).await["properties"],
        json!([]),
        "no stale properties"
    );
    let r = a.req(Method::GET, &moved_props).go().await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn abandoned_multipart_uploads_expire_and_are_cleaned_up() {
    let app = TestApp::builder()
        .settings(|s| {
            s.api.multipart_expiry_secs = 1;
            s.scheduler.housekeeping_cron = "* * * * * *".into();
        })
        .spawn()
        .await;
    let (_, _, token) = app.account().await;
    let a = app.with_token(&token).under(STORAGE);
    let r = a
        .post_json("/multipart", &json!({"name": "left.bin", "size": 3}))
        .await;
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let part = a
        .req(Method::PUT, &format!("/multipart/{id}?part_number=1"))
        .body("abc")
        .go()
        .await;
    assert_eq!(part.status(), 200);
    let parts = app.data_root().join(".multipart").join(id.to_string());
    assert!(parts.join("1").exists());

    let cleaned = housekeeping_removes(&app, &parts).await;
    assert!(cleaned, "expired parts removed by housekeeping");
    assert_error(a.get(&format!("/multipart/{id}")).await, 404, "not_found").await;
    let files = a.get_json("/folders/root/contents").await;
    assert_eq!(files["count"], 0, "nothing half-uploaded appears");
}
