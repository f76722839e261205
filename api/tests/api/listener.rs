//! The listener's bounds: a connection that never finishes its request head, or on which
//! nothing moves, is closed; forwarding headers count only from trusted proxies.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, STORAGE};

/// Longer than any timeout under test: only a hang gets here.
const FAILSAFE: Duration = Duration::from_secs(60);

/// Writes `sent` on a new connection to `app`, then reads until the server closes it;
/// returns what was read.
async fn until_closed(app: &TestApp, sent: &[u8]) -> String {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(sent).await.unwrap();
    let mut read = Vec::new();
    let closed = tokio::time::timeout(FAILSAFE, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&read).into_owned()
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_head_is_closed() {
    let app = TestApp::builder()
        .settings(|s| s.api.header_read_timeout_ms = 200)
        .spawn()
        .await;
    let answer = until_closed(&app, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ").await;
    assert!(!answer.contains("200 OK"), "{answer}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = TestApp::builder()
        .settings(|s| {
            // Only the idle timeout can close it.
            s.api.header_read_timeout_ms = 600_000;
            s.api.idle_timeout_ms = 200;
        })
        .spawn()
        .await;
    let answer = until_closed(&app, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// The `url` of a new link, created with `headers`.
async fn link_url(app: &TestApp, headers: &[(&str, &str)]) -> String {
    let (_, _, token) = app.account().await;
    let a = app.with_token(&token).under(STORAGE);
    let file: Value = a.upload("root", "f.txt", "hi").await.json().await.unwrap();
    let mut request = a
        .req(Method::POST, "/links")
        .json(&json!({"file_id": file["id"]}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let r = request.send().await.unwrap();
    assert_eq!(r.status(), 201);
    let link: Value = r.json().await.unwrap();
    link["url"].as_str().unwrap().to_string()
}

const FORGED: &[(&str, &str)] = &[
    ("x-forwarded-host", "files.example.com"),
    ("x-forwarded-proto", "https"),
];

#[tokio::test]
async fn forwarded_hosts_from_untrusted_peers_do_not_reach_links() {
    let app = TestApp::spawn().await;
    let url = link_url(&app, FORGED).await;
    assert!(url.starts_with(&format!("{}/", app.base)), "{url}");
}

#[tokio::test]
async fn forwarded_hosts_from_trusted_proxies_make_the_links() {
    let app = TestApp::builder()
        .settings(|s| s.api.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()])
        .spawn()
        .await;
    let url = link_url(&app, FORGED).await;
    assert!(url.starts_with("https://files.example.com/"), "{url}");
}
