//! `box` accounts against the Box API 2.0 emulator (`cloudbridge_fakes::boxcom`): the
//! storage conformance suite, chunked upload sessions, rate limits and token refresh.

use cloudbridge_connectors::oauth;
use cloudbridge_fakes::boxcom::{BoxFake, Config};
use cloudbridge_shared::Secret;
use futures::StreamExt;
use rand::RngCore;
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    conformance::conformance,
    helpers::{assert_error, Caller, Go, TestApp, STORAGE},
};

/// Parts the fake asks for, and the session minimum it enforces: small, so that a few
/// MiB exercise sessions (Box itself: 8 MiB parts and up, sessions from 20 MB).
const PART: u64 = 256 << 10;
const SESSION_MIN: u64 = 1 << 20;

/// A Box emulator with small parts, and this process uploading through sessions above
/// [`SESSION_MIN`].
pub(crate) async fn fake(tweak: impl FnOnce(&mut Config)) -> BoxFake {
    let mut config = Config {
        part_size: PART,
        min_session_size: SESSION_MIN,
        ..Config::default()
    };
    tweak(&mut config);
    cloudbridge_connectors::boxcom::set_chunked_above(SESSION_MIN);
    BoxFake::start(config).await
}

/// A Cloudbridge whose `providers.box` is the emulator.
pub(crate) async fn app_for(fake: &BoxFake) -> TestApp {
    app_with(fake, |_| {}).await
}

/// [`app_for`] with more settings changed.
pub(crate) async fn app_with(
    fake: &BoxFake,
    tweak: impl FnOnce(&mut cloudbridge_shared::Settings) + 'static,
) -> TestApp {
    let (url, token_url, authorize_url) = (
        fake.url().to_string(),
        fake.token_url(),
        fake.authorize_url(),
    );
    TestApp::builder()
        .settings(move |s| {
            let b = &mut s.providers.box_;
            b.api_url = url.clone();
            b.content_url = url;
            b.token_url = token_url;
            b.authorize_url = authorize_url;
            b.client_id = Config::default().client_id;
            b.client_secret = Secret::new(Config::default().client_secret);
            tweak(s);
        })
        .spawn()
        .await
}

/// Imports the emulator's account with `token` (and `refresh`); returns a caller.
pub(crate) async fn import(app: &TestApp, token: &str, refresh: Option<&str>) -> Caller {
    let (_, key) = app.create_app("box").await;
    let mut body = json!({"service": "box", "account": "tester@example.com", "token": token});
    if let Some(refresh) = refresh {
        body["refresh_token"] = refresh.into();
        body["token_expiry"] = "2999-01-01T00:00:00Z".into();
    }
    let r = app.with_key(&key).post_json("/v1/accounts", &body).await;
    let status = r.status();
    let account: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{account}");
    assert_eq!(
        (
            account["service"].as_str(),
            account["service_name"].as_str()
        ),
        (Some("box"), Some("Box"))
    );
    app.with_token(account["bearer_token"]["key"].as_str().unwrap())
}

#[tokio::test]
async fn box_conforms() {
    let fake = fake(|_| {}).await;
    let app = app_for(&fake).await;
    let (_, key) = app.create_app("refused").await;
    let r = app
        .with_key(&key)
        .post_json(
            "/v1/accounts",
            &json!({"service": "box", "account": "x", "token": "not-a-box-token"}),
        )
        .await;
    assert_error(r, 401, "service_unauthorized").await;

    let a = import(&app, "box-access-token", None).await;
    conformance(&a).await;
    let counters = fake.counters();
    // The suite's 300 kB files went in one request, its 16 MiB multipart upload through
    // a session of 256 KiB parts.
    assert!(counters.uploads >= 5, "{counters:?}");
    assert_eq!(counters.sessions_committed, 1, "{counters:?}");
    assert_eq!(
        counters.parts,
        ((16u64 << 20) + 100).div_ceil(PART),
        "{counters:?}"
    );
    assert_eq!(fake.open_sessions(), 0);
}

/// Raw data names Box's id; a new version keeps it.
async fn box_id(a: &Caller, id: &str) -> String {
    let r = a
        .req(Method::GET, &format!("{STORAGE}/files/{id}"))
        .header("x-kloudless-raw-data", "true")
        .go()
        .await;
    let meta: Value = r.json().await.unwrap();
    meta["raw"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn box_large_uploads_go_through_sessions() {
    // Box may answer a commit with 202 while it processes the parts: waited out.
    let fake = fake(|c| c.pending_commits = 1).await;
    let app = app_for(&fake).await;
    let a = import(&app, "box-access-token", None).await;

    let mut bytes = vec![0u8; (3 << 20) + 17];
    rand::rng().fill_bytes(&mut bytes);
    let r = a.upload("root", "big.bin", bytes.clone()).await;
    let status = r.status();
    let file: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{file}");
    assert_eq!(file["size"], bytes.len());
    let counters = fake.counters();
    assert_eq!(
        (
            counters.sessions_committed,
            counters.parts,
            counters.uploads
        ),
        (1, bytes.len().div_ceil(PART as usize) as u64, 0)
    );
    assert!(fake.file("big.bin").unwrap() == bytes, "stored whole");
    let id = file["id"].as_str().unwrap().to_string();
    let got = a.get(&format!("{STORAGE}/files/{id}/contents")).await;
    assert!(got.bytes().await.unwrap() == bytes, "downloaded whole");
    let r = a
        .req(Method::GET, &format!("{STORAGE}/files/{id}/contents"))
        .header("range", "bytes=2097150-2097159")
        .go()
        .await;
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        &bytes[2_097_150..2_097_160]
    );

    // Replacing it is a new version of the same Box file, through a session too.
    let before = box_id(&a, &id).await;
    bytes.reverse();
    let r = a
        .req(Method::PUT, &format!("{STORAGE}/files/{id}"))
        .body(bytes.clone())
        .go()
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(box_id(&a, &id).await, before);
    assert_eq!(fake.counters().sessions_committed, 2);
    assert!(fake.file("big.bin").unwrap() == bytes, "new version stored");

    // The same name again without overwrite: a numbered copy, not a version.
    let r = a.upload("root", "big.bin", vec![7u8; 10]).await;
    assert_eq!(r.json::<Value>().await.unwrap()["name"], "big (1).bin");
    let r = a
        .upload_req("root", "big (1).bin", "?overwrite=true")
        .body("eleven byte")
        .go()
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(fake.counters().version_uploads, 1);

    // Without a length: small bodies still go in one request; large ones need a length
    // (a session must be told the size up front).
    let unsized_body = |n: usize| {
        let chunks = futures::stream::iter(
            (0..n).map(|i| Ok::<_, std::io::Error>(vec![i as u8; 256 << 10])),
        );
        reqwest::Body::wrap_stream(chunks)
    };
    let r = a
        .upload_req("root", "small.bin", "")
        .body(unsized_body(2))
        .go()
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["size"], 2 * (256 << 10));
    let r = a
        .upload_req("root", "huge.bin", "")
        .body(unsized_body(8))
        .go()
        .await;
    assert_error(r, 411, "length_required").await;
    assert!(fake.file("huge.bin").is_none());
    assert_eq!(fake.open_sessions(), 0);

    // A client that goes away half-way: the session is aborted, nothing appears.
    let cut = futures::stream::iter(0..8u8).then(|i| async move {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        match i {
            7 => Err(std::io::Error::other("client went away")),
            i => Ok(vec![i; 256 << 10]),
        }
    });
    let r = a
        .upload_req("root", "cut.bin", "")
        .header("content-length", 8 * (256 << 10))
        .body(reqwest::Body::wrap_stream(cut))
        .send()
        .await;
    assert!(r.is_err() || !r.unwrap().status().is_success());
    for _ in 0..100 {
        if fake.counters().sessions_aborted == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(fake.counters().sessions_aborted, 1);
    assert_eq!(fake.open_sessions(), 0);
    assert!(fake.file("cut.bin").is_none());
}

#[tokio::test]
async fn box_rate_limits_are_waited_out_or_surfaced() {
    let fake = fake(|_| {}).await;
    let app = app_for(&fake).await;
    let a = import(&app, "box-access-token", None).await;

    // A brief throttle (1 s) is waited out.
    fake.rate_limit(1, 1);
    let before = fake.counters().rate_limited;
    let list = a.get(&format!("{STORAGE}/folders/root/contents")).await;
    assert_eq!(list.status(), 200);
    assert_eq!(fake.counters().rate_limited, before + 1);

    // A long one is passed on to the client, with a time to come back.
    fake.rate_limit(1000, 120);
    let r = a.get(&format!("{STORAGE}/folders/root/contents")).await;
    assert!(r.headers().contains_key("retry-after"), "{:?}", r.headers());
    assert_error(r, 429, "too_many_service_requests").await;
    fake.rate_limit(0, 0);
    assert_eq!(
        a.get(&format!("{STORAGE}/folders/root/contents"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn box_tokens_are_refreshed_and_rotated() {
    let fake = fake(|_| {}).await;
    let app = app_for(&fake).await;
    let (access, refresh) = fake.issue_tokens();
    let a = import(&app, &access, Some(&refresh)).await;
    assert_eq!(a.root_contents().await["count"], 0);

    // Box no longer takes the access token: the keeper trades the refresh token (used
    // once, then replaced) and the call goes through.
    fake.revoke_token(&access);
    let r = a
        .post_json(
            &format!("{STORAGE}/folders"),
            &json!({"name": "after", "parent_id": "root"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", "box-client-id"),
        ("client_secret", "box-client-secret"),
    ];
    let reused = reqwest::Client::new()
        .post(fake.token_url())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(reused.status(), 400);
    assert_eq!(
        reused.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn a_refused_client_is_an_operator_error_not_the_accounts() {
    let fake = fake(|_| {}).await;
    let app = app_with(&fake, |s| {
        // Blame an account on its first refusal (production waits days).
        s.oauth.reauth_after_secs = 0;
        s.providers.box_.client_secret = Secret::new("not-the-secret");
    })
    .await;
    let (access, refresh) = fake.issue_tokens();
    let a = import(&app, &access, Some(&refresh)).await;
    fake.revoke_token(&access);
    let r = a.get(&format!("{STORAGE}/folders/root/contents")).await;
    let body = assert_error(r, 502, "bad_gateway").await;
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("OAuth client"), "{message}");
    assert!(!message.contains("not-the-secret"), "{message}");
    let account = a.get_json("/v1/accounts/me").await;
    let pool = sqlx::PgPool::connect(app.settings().database.url.expose())
        .await
        .unwrap();
    let (needs, active, failures): (bool, bool, i32) = sqlx::query_as(
        "SELECT a.needs_reauth, a.active, t.failures FROM accounts a
           JOIN account_tokens t ON t.account_id = a.id WHERE a.id = $1",
    )
    .bind(account["id"].as_i64().unwrap())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        !needs && active && failures == 0,
        "the account is not blamed"
    );
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("cloudbridge_token_refreshes_total")
                && l.contains("outcome=\"client_rejected\"")
                && l.contains("service=\"box\"")
                && !l.ends_with(" 0")),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_box_fakes_authorization_flow_redirects_with_a_code() {
    let fake = BoxFake::start(Config::default()).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // A browser visiting the authorization page is sent back with these.
    let visit = || async {
        let r = client
            .get(fake.authorize_url())
            .query(&[
                ("response_type", "code"),
                ("client_id", "box-client-id"),
                ("redirect_uri", "https://app.example/callback"),
                ("state", "s-123"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
        let back = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
        back.query_pairs()
            .into_owned()
            .collect::<std::collections::HashMap<_, _>>()
    };
    let query = visit().await;
    assert_eq!(query["state"], "s-123");
    let exchange = |code: String| {
        client
            .post(fake.token_url())
            .form(&[
                ("grant_type", "authorization_code".to_string()),
                ("code", code),
                ("client_id", "box-client-id".into()),
                ("client_secret", "box-client-secret".into()),
                ("redirect_uri", "https://app.example/callback".into()),
            ])
            .send()
    };
    let tokens: Value = exchange(query["code"].clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tokens["token_type"], "bearer");
    // Whom the tokens act for, as the OAuth flow asks the connector.
    let api = oauth::Api {
        http: reqwest::Client::new(),
        tokens: std::sync::Arc::new(oauth::FixedToken(oauth::Token {
            access: Secret::new(tokens["access_token"].as_str().unwrap()),
            version: 0,
        })),
        call_timeout: std::time::Duration::from_secs(60),
        headers: Vec::new(),
    };
    let mut provider = cloudbridge_shared::Settings::default().providers.box_;
    provider.api_url = fake.url().to_string();
    let who = cloudbridge_connectors::boxcom::identity(&api, &provider).await;
    assert_eq!(
        who.unwrap(),
        ("11446498".to_string(), "tester@example.com".to_string())
    );
    let again = exchange(query["code"].clone()).await.unwrap();
    assert_eq!(again.status(), 400, "codes are single-use");

    fake.deny_next_authorization();
    let denied = visit().await;
    assert_eq!(denied["error"], "access_denied");
    assert_eq!(denied["state"], "s-123");
}

#[tokio::test]
async fn box_connects_in_a_browser_and_a_refusal_ends_on_the_application() {
    use crate::connect::{allow_redirect, authorize_url, connect, finish_and_use, param, Browser};
    let fake = fake(|_| {}).await;
    let app = app_for(&fake).await;
    let (app_id, key) = app.create_app("box-connect").await;
    allow_redirect(&app, &app_id, false).await;
    let code = connect(&app, &app_id, "box", ("", "")).await;
    let (token, account) = finish_and_use(&app, &app_id, &key, &code).await;
    let me = app.with_token(&token).get_json("/v1/accounts/me").await;
    assert_eq!(me["service"], "box");
    let code = connect(&app, &app_id, "box", ("", "")).await;
    let (_, again) = finish_and_use(&app, &app_id, &key, &code).await;
    assert_eq!(again, account, "the same Box user is the same account");

    fake.deny_next_authorization();
    let mut browser = Browser::new();
    let back = browser
        .choose(&authorize_url(&app, &app_id, "box", "b1"), "box")
        .await;
    assert_eq!(param(&back.url, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&back.url, "state").as_deref(), Some("b1"));
}
