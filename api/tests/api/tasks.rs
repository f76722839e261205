//! Asynchronous tasks (`X-Kloudless-Async`) and uploads from a URL, on `local`.

use std::time::Duration;

use axum::{response::Redirect, routing::get, Router};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, Caller, Go, TestApp, STORAGE};

/// Polls a task until it has finished; returns the final response's status and body.
async fn finished(a: &Caller, task: &Value) -> (u16, Value) {
    let url = format!("/v1/accounts/me/tasks/{}", task["id"].as_str().unwrap());
    for _ in 0..200 {
        let r = a.get(&url).await;
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        if body["type"] != "task" {
            return (status, body);
        }
        assert_eq!(body["state"], "STARTED");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("task never finished");
}

#[tokio::test]
async fn copies_and_moves_run_as_tasks_on_request() {
    let app = TestApp::spawn().await;
    let (_, _, token) = app.account().await;
    let a = app.with_token(&token);
    let file: Value = a
        .upload("root", "a.txt", "task me")
        .await
        .json()
        .await
        .unwrap();
    let copy = format!("{STORAGE}/files/{}/copy", file["id"].as_str().unwrap());

    let r = a
        .req(Method::POST, &copy)
        .header("X-Kloudless-Async", "true")
        .json(&json!({"parent_id": "root", "name": "b.txt"}))
        .go()
        .await;
    assert_eq!(r.status(), 202);
    let task: Value = r.json().await.unwrap();
    assert_eq!(
        (task["type"].as_str(), task["state"].as_str()),
        (Some("task"), Some("STARTED"))
    );
    let (status, copied) = finished(&a, &task).await;
    assert_eq!(
        (status, copied["name"].as_str()),
        (200, Some("b.txt")),
        "{copied}"
    );
    let got = a
        .get(&format!(
            "{STORAGE}/files/{}/contents",
            copied["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(got.text().await.unwrap(), "task me");

    // `return_type=task` asks the same; a failing operation ends as its error.
    let r = a
        .req(Method::POST, &format!("{copy}?return_type=task"))
        .json(&json!({"parent_id": "bm9wZQ"}))
        .go()
        .await;
    assert_eq!(r.status(), 202);
    let (status, error) = finished(&a, &r.json().await.unwrap()).await;
    assert_eq!(
        (status, error["error_code"].as_str()),
        (400, Some("invalid_parent_folder")),
        "{error}"
    );

    // Tasks belong to their account.
    let (_, _, other) = app.account().await;
    let r = app
        .with_token(&other)
        .get(&format!(
            "/v1/accounts/me/tasks/{}",
            task["id"].as_str().unwrap()
        ))
        .await;
    assert_error(r, 404, "not_found").await;
    assert_error(a.get("/v1/accounts/me/tasks/nope").await, 404, "not_found").await;
}

/// A small web server on loopback: `/file.bin` (bytes), `/hop` (redirect to it).
async fn web_server() -> (String, tokio::task::JoinHandle<()>) {
    let app = Router::new()
        .route("/file.bin", get(|| async { "from the web" }))
        .route("/hop", get(|| async { Redirect::temporary("/file.bin") }))
        .route(
            "/missing",
            get(|| async { (axum::http::StatusCode::NOT_FOUND, "no") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), server)
}

#[tokio::test]
async fn uploads_from_a_url_refuse_private_targets_by_default() {
    let (web, _server) = web_server().await;
    let app = TestApp::builder()
        .settings(crate::helpers::public_only)
        .spawn()
        .await;
    let (_, _, token) = app.account().await;
    let a = app.with_token(&token);
    let files = format!("{STORAGE}/files");
    for url in [
        format!("{web}/file.bin"),
        web.replace("127.0.0.1", "localhost") + "/file.bin",
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://[::1]/".to_string(),
        "file:///etc/passwd".to_string(),
    ] {
        let r = a
            .post_json(&files, &json!({"url": url, "parent_id": "root"}))
            .await;
        assert_error(r, 400, "invalid_parameters").await;
    }
    assert_eq!(a.root_contents().await["count"], 0);
}

#[tokio::test]
async fn uploads_from_a_url_stream_into_the_account() {
    let (web, _server) = web_server().await;
    let app = TestApp::spawn().await;
    let (_, _, token) = app.account().await;
    let a = app.with_token(&token);
    let files = format!("{STORAGE}/files");

    let r = a
        .post_json(
            &files,
            &json!({"url": format!("{web}/file.bin"), "parent_id": "root"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let file: Value = r.json().await.unwrap();
    assert_eq!(
        (file["name"].as_str(), file["size"].as_u64()),
        (Some("file.bin"), Some(12))
    );

    // Redirects are followed; a name can be given; as a task too.
    let r = a
        .req(Method::POST, &files)
        .header("X-Kloudless-Async", "true")
        .json(&json!({"url": format!("{web}/hop"), "name": "hopped.txt"}))
        .go()
        .await;
    assert_eq!(r.status(), 202);
    let (status, hopped) = finished(&a, &r.json().await.unwrap()).await;
    assert_eq!(
        (status, hopped["name"].as_str()),
        (200, Some("hopped.txt")),
        "{hopped}"
    );
    let got = a
        .get(&format!(
            "{STORAGE}/files/{}/contents",
            hopped["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(got.text().await.unwrap(), "from the web");

    let r = a
        .post_json(&files, &json!({"url": format!("{web}/missing")}))
        .await;
    assert_error(r, 400, "invalid_parameters").await;
    let r = a.post_json(&files, &json!({"parent_id": "root"})).await;
    assert_error(r, 400, "invalid_parameters").await;
    let r = a
        .req(Method::POST, &files)
        .header("content-type", "application/json")
        .body("{")
        .go()
        .await;
    assert_error(r, 400, "invalid_parameters").await;
}
