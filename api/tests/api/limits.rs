//! Inbound limits: password guesses at a shared link, per-credential and per-address rate
//! limits, the OAuth pages and the token endpoint (429 `rate_limit_exceeded` with
//! `Retry-After`), and the bound on password hashes computed at once.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use cloudbridge_shared::config::Rate;
use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::helpers::{assert_error, Caller, TestApp, STORAGE};

/// A rate that refills too slowly to matter during a test: exactly `burst` requests pass.
fn only(burst: u32) -> Rate {
    Rate {
        per_sec: 0.0001,
        burst,
    }
}

/// Checks a 429 in the Kloudless shape and returns its `Retry-After` (whole seconds).
async fn assert_rate_limited(r: Response) -> u64 {
    let retry_after = r
        .headers()
        .get("retry-after")
        .expect("Retry-After on a 429")
        .to_str()
        .unwrap()
        .parse::<u64>()
        .expect("Retry-After is whole seconds");
    assert!(retry_after >= 1);
    assert_error(r, 429, "rate_limit_exceeded").await;
    retry_after
}

/// The URL of a new password-protected link to a new file of the caller's account.
async fn password_link(storage: &Caller, name: &str, password: &str) -> String {
    let file: Value = storage
        .upload("root", name, "secret bytes")
        .await
        .json()
        .await
        .unwrap();
    let r = storage
        .post_json(
            "/links",
            &json!({"file_id": file["id"], "password": password}),
        )
        .await;
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The value of an unlabelled sample (or the sum of a labelled family) in `/metrics`.
async fn metric(app: &TestApp, line_start: &str) -> f64 {
    let text = app.anonymous().get("/metrics").await.text().await.unwrap();
    crate::helpers::sample_sum(&text, |l| l.starts_with(line_start))
}

#[tokio::test]
async fn password_guesses_at_a_link_are_limited_per_link() {
    let app = TestApp::builder()
        .settings(|s| {
            s.limits.link_password = only(10);
            // The per-address limit of links is another test's.
            s.limits.link.per_sec = 0.0;
        })
        .spawn()
        .await;
    let (_, _, token) = app.account().await;
    let storage = app.with_token(&token).under(STORAGE);
    let url = password_link(&storage, "a.txt", "right").await;
    let other = password_link(&storage, "b.txt", "other").await;
    let web = reqwest::Client::new();
    let guess = |url: String, password: &'static str| {
        let web = web.clone();
        async move {
            web.post(url)
                .form(&[("password", password)])
                .send()
                .await
                .unwrap()
        }
    };

    let mut statuses = Vec::new();
    let mut retry_after = Vec::new();
    for _ in 0..300 {
        let r = guess(url.clone(), "wrong").await;
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            retry_after.push(assert_rate_limited(r).await);
        }
    }
    assert!(statuses[..10].iter().all(|s| *s == 403), "{statuses:?}");
    assert!(statuses[10..].iter().all(|s| *s == 429), "{statuses:?}");
    // One more attempt every 10,000 s: that is what the client is told to wait.
    assert!(retry_after.iter().all(|s| *s > 9_000), "{retry_after:?}");
    // Past the limit even the right password waits: no hash is computed for the link.
    assert_rate_limited(guess(url.clone(), "right").await).await;
    assert!(
        metric(
            &app,
            "cloudbridge_rate_limited_total{limiter=\"link_password\"}"
        )
        .await
            >= 291.0
    );

    // Another link is not affected.
    let r = guess(other, "other").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "secret bytes");
}

#[tokio::test]
async fn shared_links_are_limited_per_client_address() {
    let app = TestApp::builder()
        .settings(|s| s.limits.link = only(5))
        .spawn()
        .await;
    let (_, _, token) = app.account().await;
    let storage = app.with_token(&token).under(STORAGE);
    let file: Value = storage
        .upload("root", "c.txt", "x")
        .await
        .json()
        .await
        .unwrap();
    let link: Value = storage
        .post_json("/links", &json!({"file_id": file["id"], "direct": true}))
        .await
        .json()
        .await
        .unwrap();
    let url = link["url"].as_str().unwrap();
    let web = reqwest::Client::new();
    for n in 0..5 {
        assert_eq!(web.get(url).send().await.unwrap().status(), 200, "get {n}");
    }
    assert_rate_limited(web.get(url).send().await.unwrap()).await;
    // Unknown links count too (a scan for ids is a flood like any other).
    assert_rate_limited(
        web.get(format!("{}/l/nope", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    // The API itself is not the links' limit.
    assert_eq!(storage.get("/folders/root").await.status(), 200);
}

#[tokio::test]
async fn a_flood_on_one_key_does_not_throttle_another_key() {
    let app = TestApp::builder()
        .settings(|s| s.limits.key = only(20))
        .spawn()
        .await;
    let (_, flooded) = app.create_app("flooded").await;
    let (_, quiet) = app.create_app("quiet").await;
    let (_, token) = app.import_local(&flooded, "alice").await;
    let flood = app.with_key(&flooded);
    // The import above was the flooded key's first request.
    for n in 1..20 {
        assert_eq!(flood.get("/v1/accounts").await.status(), 200, "request {n}");
    }
    for _ in 0..10 {
        assert_rate_limited(flood.get("/v1/accounts").await).await;
    }
    // Another API key, and a bearer token of the flooded key's own application, are their
    // own credentials with their own limits.
    assert_eq!(app.with_key(&quiet).get("/v1/accounts").await.status(), 200);
    assert_eq!(
        app.with_token(&token).get("/v1/accounts/me").await.status(),
        200
    );
    assert_eq!(app.dev_caller().get("/v1/applications").await.status(), 200);
    assert_eq!(
        metric(&app, "cloudbridge_rate_limited_total{limiter=\"key\"}").await,
        10.0
    );
}

#[tokio::test]
async fn guessed_credentials_count_against_the_client_address() {
    let app = TestApp::builder()
        .settings(|s| {
            s.limits.address = only(40);
            // Keep the known key verified for the whole test.
            s.api.auth_cache_ms = 600_000;
        })
        .spawn()
        .await;
    let (_, key) = app.create_app("known").await;
    let known = app.with_key(&key);
    assert_eq!(known.get("/v1/accounts").await.status(), 200);
    let mut statuses = Vec::new();
    for n in 0..60 {
        let r = app
            .with_key(&format!("guess-{n}"))
            .get("/v1/accounts")
            .await;
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert_rate_limited(r).await;
        }
    }
    // Set-up spent a few of the address's 40 (the developer key's and the new key's first
    // use); every guess after them is refused before any look-up.
    let allowed = statuses.iter().filter(|s| **s == 401).count();
    assert!((30..40).contains(&allowed), "{statuses:?}");
    assert!(
        statuses[allowed..].iter().all(|s| *s == 429),
        "{statuses:?}"
    );
    // Requests without a credential are the address's too; a verified key is not.
    assert_rate_limited(app.anonymous().get("/v1/accounts").await).await;
    assert_eq!(known.get("/v1/accounts").await.status(), 200);
}

#[tokio::test]
async fn oauth_pages_and_the_token_endpoint_are_limited_per_address() {
    let app = TestApp::builder()
        .settings(|s| {
            s.limits.oauth = only(3);
            s.limits.token = only(3);
        })
        .spawn()
        .await;
    let anon = app.anonymous();
    for page in ["/v1/oauth?client_id=x", "/v1/oauth/callback", "/v1/oauth"] {
        assert_ne!(anon.get(page).await.status(), 429, "{page}");
    }
    assert_rate_limited(anon.get("/v1/oauth?client_id=x").await).await;
    let flow = anon.send(Method::POST, "/v1/oauth/flows/abc").await;
    assert_rate_limited(flow).await;
    // The token endpoint has its own budget.
    let exchange = || {
        app.anonymous()
            .req(Method::POST, "/v1/oauth/token")
            .form(&[("grant_type", "authorization_code"), ("code", "c")])
            .send()
    };
    for _ in 0..3 {
        assert_error(exchange().await.unwrap(), 400, "invalid_parameters").await;
    }
    assert_rate_limited(exchange().await.unwrap()).await;
    assert_rate_limited(anon.get("/v1/oauth/token").await).await;
}

#[tokio::test]
async fn password_hashes_never_run_more_at_once_than_their_slots() {
    let app = TestApp::builder()
        .settings(|s| {
            s.limits.password_hashes = 1;
            s.limits.password_hash_wait_ms = 300;
            s.api.max_in_flight = 200;
        })
        .spawn()
        .await;
    let (_, _, token) = app.account().await;
    let storage = app.with_token(&token).under(STORAGE);
    let mut links = Vec::new();
    for n in 0..4 {
        links.push(password_link(&storage, &format!("f{n}.txt"), "right").await);
    }
    // Watch the gauge while 40 guesses (10 per link: within the attempts allowed) arrive at
    // once.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (done, base) = (done.clone(), app.base.clone());
        tokio::spawn(async move {
            let (client, mut peak, mut samples) = (reqwest::Client::new(), 0.0f64, 0);
            while !done.load(Ordering::SeqCst) {
                let text = client
                    .get(format!("{base}/metrics"))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                assert!(
                    text.contains("\ncloudbridge_password_hashes_in_flight "),
                    "the gauge is exported"
                );
                let now = crate::helpers::sample_sum(&text, |l| {
                    l.starts_with("cloudbridge_password_hashes_in_flight ")
                });
                peak = peak.max(now);
                samples += 1;
            }
            (peak, samples)
        })
    };
    let web = reqwest::Client::new();
    let guesses = (0..40).map(|n| {
        let (web, url) = (web.clone(), links[n % 4].clone());
        async move {
            let r = web
                .post(url)
                .form(&[("password", "wrong")])
                .send()
                .await
                .unwrap();
            let retry_after = r.headers().get("retry-after").cloned();
            (r.status().as_u16(), retry_after)
        }
    });
    let answers = futures::future::join_all(guesses).await;
    done.store(true, Ordering::SeqCst);
    let (peak, samples) = watcher.await.unwrap();
    assert!(samples > 0);
    assert!(peak <= 1.0, "{peak} hashes at once with one slot");
    // Each guess was checked (403) or told to come back (503 + Retry-After); none failed.
    for (status, retry_after) in &answers {
        match status {
            403 => {}
            503 => assert_eq!(retry_after.as_ref().unwrap(), "1"),
            other => panic!("unexpected {other}: {answers:?}"),
        }
    }
    assert!(answers.iter().any(|(s, _)| *s == 403));
    assert_eq!(
        metric(
            &app,
            "cloudbridge_http_shed_total{reason=\"password_hashing\"}"
        )
        .await,
        answers.iter().filter(|(s, _)| *s == 503).count() as f64
    );
}
