//! The job pipeline's guarantees: timeouts, shedding, limits, metrics, readiness.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{assert_error, bearer, TestApp};

#[tokio::test]
async fn no_worker_means_504_at_the_deadline() {
    let mut app = TestApp::builder()
        .workers(1)
        .settings(|s| s.api.request_timeout_ms = 1500)
        .spawn()
        .await;
    let (_, _, token) = app.account().await;
    for w in app.take_workers() {
        w.cancel();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let r = app
        .request(Method::GET, "/v1/accounts/me/storage/folders/root")
        .header("Authorization", bearer(&token))
        .send()
        .await
        .unwrap();
    assert_error(r, 504, "gateway_timeout").await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered, not hung"
    );
    // A worker arriving later drops the expired job and serves new ones.
    app.start_worker();
    let r = app
        .request(Method::GET, "/v1/accounts/me/storage/folders/root")
        .header("Authorization", bearer(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn in_flight_limit_answers_503_not_a_hang() {
    let mut app = TestApp::builder()
        .settings(|s| {
            s.api.max_in_flight = 2;
            s.api.request_timeout_ms = 3000;
        })
        .spawn()
        .await;
    let (_, _, token) = app.account().await;
    for w in app.take_workers() {
        w.cancel();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let slow = |app: &TestApp| {
        app.request(Method::GET, "/v1/accounts/me/storage/folders/root")
            .header("Authorization", bearer(&token))
            .send()
    };
    let (a, b) = (slow(&app), slow(&app));
    let first = tokio::spawn(a);
    let second = tokio::spawn(b);
    let mut shed = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let r = slow(&app).await.unwrap();
        if r.status() == 503 {
            shed = Some(r);
            break;
        }
    }
    let r = shed.expect("the third request was shed");
    assert_eq!(r.headers()["retry-after"], "1");
    assert_error(r, 503, "service_not_available").await;
    // Health endpoints are exempt.
    assert_eq!(
        app.request(Method::GET, "/health")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(first.await.unwrap().unwrap().status(), 504);
    assert_eq!(second.await.unwrap().unwrap().status(), 504);
}

#[tokio::test]
async fn backlog_bound_sheds_with_retry_after() {
    let mut app = TestApp::builder()
        .settings(|s| {
            s.api.backlog_limit = 3;
            s.api.request_timeout_ms = 4000;
        })
        .spawn()
        .await;
    let (_, _, token) = app.account().await;
    for w in app.take_workers() {
        w.cancel();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let req = app
            .request(Method::GET, "/v1/accounts/me/storage/folders/root")
            .header("Authorization", bearer(&token))
            .send();
        waiting.push(tokio::spawn(req));
    }
    let mut shed = None;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let r = app
            .request(Method::GET, "/v1/accounts/me/storage/folders/root")
            .header("Authorization", bearer(&token))
            .send()
            .await
            .unwrap();
        if r.status() == 503 {
            shed = Some(r);
            break;
        }
    }
    let r = shed.expect("requests beyond the backlog bound are shed");
    assert_eq!(r.headers()["retry-after"], "1");
    assert_error(r, 503, "service_not_available").await;
    // Workers drain the backlog; service resumes.
    app.start_worker();
    for w in waiting {
        let status = w.await.unwrap().unwrap().status();
        assert!(status == 200 || status == 504, "{status}");
    }
    let mut ok = false;
    for _ in 0..40 {
        let r = app
            .request(Method::GET, "/v1/accounts/me/storage/folders/root")
            .header("Authorization", bearer(&token))
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "service resumed after the backlog drained");
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let app = TestApp::spawn().await;
    let (_, _, token) = app.account().await;
    let r = app.request(Method::GET, "/health").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ready: Value = app
        .request(Method::GET, "/ready")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready,
        serde_json::json!({"postgres": true, "redis": true, "reply_channel": true})
    );
    app.request(Method::GET, "/v1/accounts/me/storage/folders/root/contents")
        .header("Authorization", bearer(&token))
        .send()
        .await
        .unwrap();
    let metrics = app
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "cloudbridge_http_requests_total{route=\"/v1/accounts/{acct}/storage/folders/{id}/contents\",method=\"GET\",status=\"2xx\"}",
        "cloudbridge_http_request_duration_seconds_bucket",
        "cloudbridge_jobs_enqueued_total{queue=\"requests\",op=\"list_folder\"}",
        "cloudbridge_pending_replies",
        "cloudbridge_queue_depth",
        "cloudbridge_jobs_completed_total",
        "cloudbridge_queue_wait_seconds",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }
    assert!(!metrics.contains(&token), "no secrets in metrics");
}
