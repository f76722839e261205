//! The job pipeline's guarantees: timeouts, shedding, limits, metrics, readiness.

use std::time::Duration;

use cloudbridge_shared::Settings;
use reqwest::{Method, Response};
use serde_json::Value;

use crate::helpers::{assert_error, Caller, TestApp, STORAGE};

/// Metadata of the account's root folder: a request that needs a worker.
const ROOT: &str = "/folders/root";

/// Starts an app with `tweak`ed settings and one worker, imports an account, then stops
/// the worker. Returns the app, now without workers, and a storage caller for the account.
async fn app_without_workers(tweak: impl FnOnce(&mut Settings) + 'static) -> (TestApp, Caller) {
    let mut app = TestApp::builder().workers(1).settings(tweak).spawn().await;
    let (_, _, token) = app.account().await;
    for w in app.take_workers() {
        w.cancel();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let me = app.with_token(&token).under(STORAGE);
    (app, me)
}

/// Requests [`ROOT`] every 50 ms, at most `tries` times, until one is shed (503).
async fn first_shed(me: &Caller, tries: usize) -> Option<Response> {
    for _ in 0..tries {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let r = me.get(ROOT).await;
        if r.status() == 503 {
            return Some(r);
        }
    }
    None
}

#[tokio::test]
async fn no_worker_means_504_at_the_deadline() {
    let (mut app, me) = app_without_workers(|s| s.api.request_timeout_ms = 1500).await;
    let started = std::time::Instant::now();
    let r = me.get(ROOT).await;
    assert_error(r, 504, "gateway_timeout").await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered, not hung"
    );
    // A worker arriving later drops the expired job and serves new ones.
    app.start_worker();
    let r = me.get(ROOT).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn in_flight_limit_answers_503_not_a_hang() {
    let (app, me) = app_without_workers(|s| {
        s.api.max_in_flight = 2;
        s.api.request_timeout_ms = 3000;
    })
    .await;
    let slow = || me.req(Method::GET, ROOT).send();
    let first = tokio::spawn(slow());
    let second = tokio::spawn(slow());
    let r = first_shed(&me, 50)
        .await
        .expect("the third request was shed");
    assert_eq!(r.headers()["retry-after"], "1");
    assert_error(r, 503, "service_not_available").await;
    // Health endpoints are exempt.
    assert_eq!(app.anonymous().get("/health").await.status(), 200);
    assert_eq!(first.await.unwrap().unwrap().status(), 504);
    assert_eq!(second.await.unwrap().unwrap().status(), 504);
}

#[tokio::test]
async fn backlog_bound_sheds_with_retry_after() {
    let (mut app, me) = app_without_workers(|s| {
        s.api.backlog_limit = 3;
        s.api.request_timeout_ms = 4000;
    })
    .await;
    let mut waiting = Vec::new();
    for _ in 0..3 {
        waiting.push(tokio::spawn(me.req(Method::GET, ROOT).send()));
    }
    let r = first_shed(&me, 60)
        .await
        .expect("requests beyond the backlog bound are shed");
    assert_eq!(r.headers()["retry-after"], "1");
    assert_error(r, 503, "service_not_available").await;
    // Workers drain the backlog; service resumes.
    app.start_worker();
    for w in waiting {
        let status = w.await.unwrap().unwrap().status();
        // A waiting request that reached the API late may itself have been shed.
        assert!(matches!(status.as_u16(), 200 | 503 | 504), "{status}");
    }
    let mut ok = false;
    for _ in 0..40 {
        let r = me.get(ROOT).await;
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
    let anon = app.anonymous();
    assert_eq!(anon.get("/health").await.status(), 200);
    let ready = anon.get_json("/ready").await;
    assert_eq!(
        ready,
        serde_json::json!({"postgres": true, "redis": true, "reply_channel": true})
    );
    let me = app.with_token(&token).under(STORAGE);
    me.get("/folders/root/contents").await;
    let metrics = anon.get("/metrics").await.text().await.unwrap();
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

#[tokio::test]
async fn ping_round_trips_through_a_worker() {
    let app = TestApp::spawn().await;
    let r = app.dev(Method::GET, "/ops/ping").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["worker"].as_str().unwrap().contains("requests"),
        "{body}"
    );
    let r = app.request(Method::GET, "/ops/ping").send().await.unwrap();
    assert_error(r, 401, "authentication_required").await;
}

/// An address that takes connections and never answers: a hung service.
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

/// A Cloudbridge whose Box API is a black hole, with `tweak` on top.
async fn hung_box(tweak: impl FnOnce(&mut cloudbridge_shared::Settings) + 'static) -> TestApp {
    let hole = black_hole().await;
    TestApp::builder()
        .settings(move |s| {
            s.providers.box_.api_url = hole.clone();
            s.providers.box_.content_url = hole;
            tweak(s);
        })
        .spawn()
        .await
}

async fn import_box(app: &TestApp) -> reqwest::Response {
    let (_, key) = app.create_app("hung").await;
    let body = serde_json::json!({"service": "box", "account": "hung", "token": "t"});
    app.with_key(&key).post_json("/v1/accounts", &body).await
}

#[tokio::test]
async fn a_hung_service_call_ends_at_its_time_limit() {
    // The request could wait 10 s; the call to the service gives up after 0.5 s.
    let app = hung_box(|s| s.providers.box_.call_timeout_ms = 500).await;
    let r = import_box(&app).await;
    let body = assert_error(r, 503, "service_not_available").await;
    assert!(
        body["message"].as_str().unwrap().contains("unreachable"),
        "{body}"
    );
}

#[tokio::test]
async fn a_request_job_stops_at_its_deadline() {
    let app = hung_box(|s| {
        s.providers.box_.call_timeout_ms = 600_000;
        s.api.request_timeout_ms = 1_500;
    })
    .await;
    assert_error(import_box(&app).await, 504, "gateway_timeout").await;
    // The worker gave the job up too (it would otherwise wait on the service for ever).
    let done =
        "cloudbridge_jobs_completed_total{queue=\"requests\",op=\"validate\",outcome=\"error\"} 1";
    for _ in 0..100 {
        let metrics = app.anonymous().get("/metrics").await.text().await.unwrap();
        if metrics.contains(done) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the job still runs");
}
