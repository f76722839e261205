//! Several real processes against one Redis: the deployment shape of production.

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{bearer, connect_account, free_port, wait_ready, Isolated, Proc, TestApp};

/// Starts uploading `body` as `name` into the root folder, in the background.
fn spawn_upload(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
    body: reqwest::Body,
) -> tokio::task::JoinHandle<reqwest::Response> {
    let request = client
        .post(format!("{base}/v1/accounts/me/storage/files"))
        .header("Authorization", bearer(token))
        .header(
            "X-Kloudless-Metadata",
            json!({"name": name, "parent_id": "root"}).to_string(),
        )
        .body(body);
    tokio::spawn(async move { request.send().await.unwrap() })
}

/// Starts an API process on a free port; returns it and its base URL.
fn api_process(iso: &Isolated) -> (Proc, String) {
    let port = free_port();
    let env = [
        ("CLOUDBRIDGE_API__BIND", format!("127.0.0.1:{port}")),
        ("CLOUDBRIDGE_API__MAX_IN_FLIGHT", "1000".to_string()),
    ];
    let p = Proc::spawn("cloudbridge-api", &iso.settings, &env);
    (p, format!("http://127.0.0.1:{port}"))
}

#[tokio::test]
async fn two_apis_two_workers_answer_each_request_once_to_its_caller() {
    let iso = Isolated::new().await;
    let (_api1, base1) = api_process(&iso);
    let (_api2, base2) = api_process(&iso);
    let metrics = [free_port(), free_port()];
    let worker = |port: u16| {
        let bind = (
            "CLOUDBRIDGE_JOBS__METRICS_BIND",
            format!("127.0.0.1:{port}"),
        );
        Proc::spawn("cloudbridge-jobs", &iso.settings, &[bind])
    };
    let _w1 = worker(metrics[0]);
    let _w2 = worker(metrics[1]);
    let client = reqwest::Client::new();
    wait_ready(&client, &base1).await;
    wait_ready(&client, &base2).await;
    let token = connect_account(&client, &base2, &iso.settings).await;

    // 200 concurrent folder creations, alternating API processes: each caller must get
    // back its own folder, created exactly once.
    let n = 200;
    let mut tasks = Vec::new();
    for i in 0..n {
        let base = if i % 2 == 0 {
            base1.clone()
        } else {
            base2.clone()
        };
        let (client, token) = (client.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(format!(
                    "{base}/v1/accounts/me/storage/folders?conflict_if_exists=true"
                ))
                .header("Authorization", bearer(&token))
                .json(&json!({"name": format!("folder-{i}"), "parent_id": "root"}))
                .send()
                .await
                .unwrap();
            (i, r.status().as_u16(), r.json::<Value>().await.unwrap())
        }));
    }
    for t in tasks {
        let (i, status, body) = t.await.unwrap();
        assert_eq!(status, 201, "request {i}: {body}");
        assert_eq!(
            body["name"],
            format!("folder-{i}"),
            "request {i} got another caller's answer"
        );
    }
    let listing: Value = client
        .get(format!(
            "{base1}/v1/accounts/me/storage/folders/root/contents"
        ))
        .header("Authorization", bearer(&token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: HashSet<_> = listing["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), n);

    // Exactly once: the two workers together ran each creation job once.
    let mut ran = 0.0;
    for port in metrics {
        let text = client
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        ran += crate::helpers::sample_sum(&text, |l| {
            l.starts_with("cloudbridge_jobs_completed_total") && l.contains("op=\"create_folder\"")
        });
    }
    assert_eq!(
        ran, n as f64,
        "each job ran exactly once across both workers"
    );
}

#[tokio::test]
async fn a_worker_dying_while_an_upload_streams_leaves_the_file_whole_or_absent() {
    let iso = Isolated::new().await;
    let mut settings = iso.settings.clone();
    settings.api.request_timeout_ms = 8000;
    let (_api, base) = {
        let port = free_port();
        let p = Proc::spawn(
            "cloudbridge-api",
            &settings,
            &[("CLOUDBRIDGE_API__BIND", format!("127.0.0.1:{port}"))],
        );
        (p, format!("http://127.0.0.1:{port}"))
    };
    let mut first = Proc::spawn("cloudbridge-jobs", &settings, &[]);
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await;
    let token = connect_account(&client, &base, &settings).await;

    // A slow upload: the API streams the body while workers come and go.
    let payload: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let chunks: Vec<Vec<u8>> = payload.chunks(256 * 1024).map(<[u8]>::to_vec).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks).then(|c| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok::<_, std::io::Error>(c)
    }));
    let upload = spawn_upload(&client, &base, &token, "slow.bin", body);
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.kill();
    let _second = Proc::spawn("cloudbridge-jobs", &settings, &[]);
    let started = std::time::Instant::now();
    let r = upload.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "answered within the deadline"
    );
    let status = r.status().as_u16();
    assert!(status == 201 || status == 504 || status == 503, "{status}");

    // The system keeps serving, and the file is complete or absent — never partial.
    let mut listing = None;
    for _ in 0..100 {
        let r = client
            .get(format!(
                "{base}/v1/accounts/me/storage/folders/root/contents"
            ))
            .header("Authorization", bearer(&token))
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            listing = Some(r.json::<Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listing = listing.expect("service continues after the worker died");
    for o in listing["objects"].as_array().unwrap() {
        assert_eq!(o["size"], payload.len(), "no partial file is visible");
        let bytes = client
            .get(format!(
                "{base}/v1/accounts/me/storage/files/{}/contents",
                o["id"].as_str().unwrap()
            ))
            .header("Authorization", bearer(&token))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(bytes.as_ref(), payload.as_slice());
    }
    if status == 201 {
        assert_eq!(listing["objects"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn client_disconnect_mid_upload_leaves_no_file() {
    let app = TestApp::spawn().await;
    let (_, _, token) = app.account().await;
    let chunks = futures::stream::iter(0..3).then(|i| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if i < 2 {
            Ok(vec![7u8; 64 * 1024])
        } else {
            Err(std::io::Error::other("client went away"))
        }
    });
    let r = app
        .request(Method::POST, "/v1/accounts/me/storage/files")
        .header("Authorization", bearer(&token))
        .header(
            "X-Kloudless-Metadata",
            r#"{"name":"cut.bin","parent_id":"root"}"#,
        )
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    assert!(r.is_err() || !r.unwrap().status().is_success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let listing: Value = app
        .request(Method::GET, "/v1/accounts/me/storage/folders/root/contents")
        .header("Authorization", bearer(&token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listing["objects"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn redis_restart_while_idle_recovers_without_restarting_cloudbridge() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let start_redis = || {
        std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server")
    };
    let mut redis = start_redis();
    let url = format!("redis://127.0.0.1:{port}");
    let app = TestApp::builder()
        .settings(move |s| {
            s.redis.url = cloudbridge_shared::Secret::new(url);
            s.redis.response_timeout_ms = 1000;
        })
        .spawn()
        .await;
    let (_, _, token) = app.account().await;
    let get = || {
        app.request(Method::GET, "/v1/accounts/me/storage/folders/root")
            .header("Authorization", bearer(&token))
            .send()
    };
    assert_eq!(get().await.unwrap().status(), 200);

    let _ = redis.kill();
    let _ = redis.wait();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = get().await.unwrap();
    assert!(
        during.status().is_server_error(),
        "answered while Redis is down: {}",
        during.status()
    );
    let mut redis = start_redis();
    let mut recovered = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if get().await.unwrap().status() == 200 {
            recovered = true;
            break;
        }
    }
    let _ = redis.kill();
    let _ = redis.wait();
    assert!(recovered, "requests succeed again after Redis came back");
}

use futures::StreamExt;

#[tokio::test]
async fn sigterm_drains_in_flight_requests() {
    let iso = Isolated::new().await;
    let (mut api, base) = api_process(&iso);
    let _worker = Proc::spawn("cloudbridge-jobs", &iso.settings, &[]);
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await;
    let token = connect_account(&client, &base, &iso.settings).await;

    // An upload still streaming when SIGTERM arrives completes.
    let chunks = futures::stream::iter(0..10).then(|_| async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok::<_, std::io::Error>(vec![1u8; 10_000])
    });
    let upload = spawn_upload(
        &client,
        &base,
        &token,
        "drain.bin",
        reqwest::Body::wrap_stream(chunks),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = api.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let r = upload.await.unwrap();
    assert_eq!(
        r.status(),
        201,
        "in-flight request finished during the drain"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["size"], 100_000);
    let status = tokio::task::spawn_blocking(move || api.child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "clean exit after SIGTERM: {status}");
    // New connections are refused once it is gone.
    assert!(client.get(format!("{base}/health")).send().await.is_err());
}

#[tokio::test]
async fn admin_create_developer_prints_a_working_key() {
    let iso = Isolated::new().await;
    let out = std::process::Command::new(crate::helpers::binary_path("cloudbridge-api"))
        .args(["admin", "create-developer", "--email", "ops@example.com"])
        .env_clear()
        .env("DATABASE_URL", iso.settings.database.url.expose())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.lines().last().unwrap().trim().to_string();
    let (_api, base) = api_process(&iso);
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await;
    let r = client
        .get(format!("{base}/v1/applications"))
        .header("Authorization", format!("DeveloperKey {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bad = std::process::Command::new(crate::helpers::binary_path("cloudbridge-api"))
        .args(["admin", "create-developer", "--email", "not-an-email"])
        .env_clear()
        .env("DATABASE_URL", iso.settings.database.url.expose())
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

/// A slow S3 service (the load tests' fake upstream, `latency_ms` per request) that counts
/// the requests it has started: its URL and the count.
async fn slow_upstream(latency_ms: u64) -> (String, Arc<AtomicUsize>) {
    use cloudbridge_loadtest::upstream::{router, Behaviour};
    let started = Arc::new(AtomicUsize::new(0));
    let counter = started.clone();
    let app = router(Behaviour {
        latency_ms,
        ..Behaviour::default()
    })
    .layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            counter.fetch_add(1, Ordering::SeqCst);
            next.run(request)
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, started)
}

/// Waits until the upstream has started more than `n` requests.
async fn started_more_than(started: &AtomicUsize, n: usize) {
    for _ in 0..200 {
        if started.load(Ordering::SeqCst) > n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the request never reached the service");
}

/// An API process and one worker process, and a bearer token of an S3 account on a
/// service answering after `latency_ms`: `(api, worker, base, token, upstream count)`.
async fn slow_account(
    settings: &cloudbridge_shared::Settings,
    latency_ms: u64,
) -> (Proc, Proc, String, String, Arc<AtomicUsize>) {
    let (url, started) = slow_upstream(latency_ms).await;
    let port = free_port();
    let api = Proc::spawn(
        "cloudbridge-api",
        settings,
        &[("CLOUDBRIDGE_API__BIND", format!("127.0.0.1:{port}"))],
    );
    let worker = Proc::spawn("cloudbridge-jobs", settings, &[]);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await;
    let developer = settings.bootstrap_developer_key.as_ref().unwrap().expose();
    let created: Value = client
        .post(format!("{base}/v1/applications"))
        .header("Authorization", format!("DeveloperKey {developer}"))
        .json(&json!({"name": "slow"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["api_key"].as_str().unwrap();
    let account: Value = client
        .post(format!("{base}/v1/accounts"))
        .header("Authorization", format!("APIKey {key}"))
        .json(
            &json!({"service": "s3_compatible", "account": "slow", "endpoint": url,
                      "bucket": "load", "region": "us-east-1", "token": "k", "token_secret": "s"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = account["bearer_token"]["key"]
        .as_str()
        .expect("imported")
        .to_string();
    (api, worker, base, token, started)
}

/// Starts `GET` of a file's metadata in the background.
fn metadata(base: &str, token: &str) -> tokio::task::JoinHandle<reqwest::Response> {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let request = reqwest::Client::new()
        .get(format!(
            "{base}/v1/accounts/me/storage/files/{}",
            URL_SAFE_NO_PAD.encode("seed3.txt")
        ))
        .header("Authorization", bearer(token));
    tokio::spawn(async move { request.send().await.unwrap() })
}

#[tokio::test]
async fn a_worker_killed_while_it_holds_a_job_is_replaced_and_the_caller_answered() {
    let iso = Isolated::new().await;
    let mut settings = iso.settings.clone();
    settings.api.request_timeout_ms = 20_000;
    let (_api, mut first, base, token, started) = slow_account(&settings, 1_500).await;
    let before = started.load(Ordering::SeqCst);
    let answer = metadata(&base, &token);
    // The worker holds the job: its call to the service is under way.
    started_more_than(&started, before).await;
    first.kill();
    let _second = Proc::spawn("cloudbridge-jobs", &settings, &[]);
    // The dead worker's job is re-enqueued after its missed heartbeats and run again.
    let r = answer.await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["name"], "seed3.txt");
    assert_eq!(started.load(Ordering::SeqCst), before + 2, "run twice");
}

#[tokio::test]
async fn a_worker_stopped_while_it_holds_a_job_finishes_it_first() {
    let iso = Isolated::new().await;
    let (_api, mut worker, base, token, started) = slow_account(&iso.settings, 1_500).await;
    let before = started.load(Ordering::SeqCst);
    let answer = metadata(&base, &token);
    started_more_than(&started, before).await;
    worker.terminate();
    // No other worker: the answer can only come from the one shutting down.
    let r = answer.await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["name"], "seed3.txt");
    assert!(worker.exited().await.success());
    assert_eq!(started.load(Ordering::SeqCst), before + 1, "run once");
}
