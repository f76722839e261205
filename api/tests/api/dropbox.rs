//! Dropbox accounts against the Dropbox API v2 fake (`cloudbridge_fakes::dropbox`): the
//! storage conformance suite, upload sessions for large bodies, rate limits waited out
//! or passed on, tokens refreshed at the fake's token endpoint.

use std::sync::Arc;

use cloudbridge_connectors::{
    dropbox::{identity, UPLOAD_CHUNK},
    oauth::{Api, FixedToken, Token},
};
use cloudbridge_fakes::dropbox::{FakeDropbox, RateLimit};
use cloudbridge_shared::Secret;
use futures::StreamExt;
use rand::RngCore;
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    conformance::conformance,
    helpers::{assert_error, Caller, Go, TestApp},
};

const STORAGE: &str = "/v1/accounts/me/storage";
pub(crate) const CLIENT_ID: &str = "cloudbridge-app-key";
const CLIENT_SECRET: &str = "cloudbridge-app-secret";

/// A Cloudbridge whose Dropbox is `fake` (its app registered there).
pub(crate) async fn app_for(fake: &FakeDropbox) -> TestApp {
    fake.register_client(CLIENT_ID, CLIENT_SECRET);
    let (url, token_url, authorize_url) = (
        fake.url().to_string(),
        fake.token_url(),
        fake.authorize_url(),
    );
    TestApp::builder()
        .settings(move |s| {
            let dropbox = &mut s.providers.dropbox;
            dropbox.api_url = url.clone();
            dropbox.content_url = url;
            dropbox.token_url = token_url;
            dropbox.authorize_url = authorize_url;
            dropbox.client_id = CLIENT_ID.into();
            dropbox.client_secret = Secret::new(CLIENT_SECRET);
        })
        .spawn()
        .await
}

/// Imports the fake's user with fresh tokens; returns the account's caller and its
/// access token at the fake.
pub(crate) async fn import(app: &TestApp, fake: &FakeDropbox) -> (Caller, String) {
    let (_, key) = app.create_app("dropbox").await;
    let (access, refresh) = fake.grant(CLIENT_ID, &fake.account_id());
    let expiry = chrono::Utc::now() + chrono::Duration::hours(4);
    let body = json!({
        "service": "dropbox", "account": "franz@example.com",
        "token": access, "refresh_token": refresh, "token_expiry": expiry.to_rfc3339(),
    });
    let r = app.with_key(&key).post_json("/v1/accounts", &body).await;
    let status = r.status();
    let account: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{account}");
    assert_eq!(
        (
            account["service"].as_str(),
            account["service_name"].as_str()
        ),
        (Some("dropbox"), Some("Dropbox"))
    );
    let token = account["bearer_token"]["key"].as_str().unwrap().to_string();
    (app.with_token(&token), access)
}

#[tokio::test]
async fn dropbox_conforms() {
    let fake = FakeDropbox::start().await;
    // Small pages: every listing goes through `list_folder/continue` too.
    fake.set_page_limit(3);
    let app = app_for(&fake).await;
    let (a, _) = import(&app, &fake).await;
    let caps = a.get_json("/v1/accounts/me?retrieve_full=true").await;
    assert_eq!(
        caps["properties"]["capabilities"]["can_upload_file"]["value"],
        true
    );
    conformance(&a).await;
    assert!(fake.paths(&fake.account_id()).is_empty(), "ends empty");
    assert!(fake.calls("files/list_folder/continue") > 0);

    // Dropbox paths are case-insensitive: another casing finds the same folder.
    let made: Value = a
        .post_json(
            &format!("{STORAGE}/folders"),
            &json!({"name": "Case", "parent_id": "root"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let r = a
        .post_json(
            &format!("{STORAGE}/folders"),
            &json!({"name": "CASE", "parent_id": "root"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], made["id"]);
}

#[tokio::test]
async fn dropbox_large_uploads_go_through_an_upload_session() {
    let fake = FakeDropbox::start().await;
    let app = app_for(&fake).await;
    let (a, _) = import(&app, &fake).await;
    let account = fake.account_id();

    let mut bytes = vec![0u8; 2 * UPLOAD_CHUNK + 1000];
    rand::rng().fill_bytes(&mut bytes);
    let r = a.upload("root", "big.bin", bytes.clone()).await;
    let status = r.status();
    let file: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{file}");
    assert_eq!(file["size"], bytes.len());
    // start (first piece), append_v2 (second), finish (the rest, with the commit).
    let sessions = |route: &str| fake.calls(&format!("files/upload_session/{route}"));
    assert_eq!(
        (sessions("start"), sessions("append_v2"), sessions("finish")),
        (1, 1, 1)
    );
    assert_eq!(fake.calls("files/upload"), 0);
    assert!(fake.contents(&account, "/big.bin").unwrap() == bytes);
    let got = a
        .get(&format!(
            "{STORAGE}/files/{}/contents",
            file["id"].as_str().unwrap()
        ))
        .await;
    assert!(got.bytes().await.unwrap() == bytes, "bytes identical");

    // Without a length, and just over one piece: a session again; a small one is one
    // `files/upload`.
    let sized = bytes[..UPLOAD_CHUNK + 1].to_vec();
    let stream = futures::stream::iter(
        sized
            .chunks(100_000)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let r = a
        .upload_req("root", "unsized.bin", "")
        .body(reqwest::Body::wrap_stream(stream))
        .go()
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(sessions("start"), 2);
    assert!(fake.contents(&account, "/unsized.bin").unwrap() == sized);
    let r = a.upload("root", "small.txt", "small").await;
    assert_eq!(r.status(), 201);
    assert_eq!(fake.calls("files/upload"), 1);

    // Overwriting a large file keeps its id; the old bytes are gone.
    let r = a
        .upload_req("root", "big.bin", "?overwrite=true")
        .body(sized.clone())
        .go()
        .await;
    let replaced: Value = r.json().await.unwrap();
    assert_eq!(replaced["id"], file["id"]);
    assert!(fake.contents(&account, "/big.bin").unwrap() == sized);
}

#[tokio::test]
async fn dropbox_rate_limits_are_waited_out_or_passed_on() {
    let fake = FakeDropbox::start().await;
    let app = app_for(&fake).await;
    let (a, _) = import(&app, &fake).await;
    let root = format!("{STORAGE}/folders/root/contents");

    // A brief 429 is waited out.
    fake.throttle(1, RateLimit::TooManyRequests, 1);
    let r = a.get(&root).await;
    assert_eq!(r.status(), 200);
    // One that lasts is passed on as the service's rate limit, with a wait.
    fake.throttle(100, RateLimit::TooManyWriteOperations, 1);
    let r = a.get(&root).await;
    let retry_after = r.headers().get("retry-after").cloned();
    assert_error(r, 429, "too_many_service_requests").await;
    assert!(retry_after.is_some());
    // A wait too long to hold a request is passed on at once.
    fake.throttle(1, RateLimit::TooManyRequests, 120);
    let r = a.get(&root).await;
    assert_error(r, 429, "too_many_service_requests").await;
    fake.throttle(0, RateLimit::TooManyRequests, 0);
    assert_eq!(a.get(&root).await.status(), 200);

    // Write contention answered as a 409 by the route is treated the same way.
    fake.contend_writes(1);
    let r = a
        .post_json(
            &format!("{STORAGE}/folders"),
            &json!({"name": "contended", "parent_id": "root"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    fake.contend_writes(100);
    let r = a.upload("root", "busy.txt", "busy").await;
    assert_error(r, 429, "too_many_service_requests").await;
    fake.contend_writes(0);
    assert!(fake.contents(&fake.account_id(), "/busy.txt").is_none());
}

#[tokio::test]
async fn dropbox_tokens_are_refreshed_and_bad_ones_refused() {
    let fake = FakeDropbox::start().await;
    let app = app_for(&fake).await;
    let (a, access) = import(&app, &fake).await;

    // An expired access token: refreshed at the fake's token endpoint, call retried.
    fake.expire_token(&access);
    let r = a
        .req(Method::GET, &format!("{STORAGE}/folders/root/contents"))
        .go()
        .await;
    assert_eq!(r.status(), 200);

    // Importing a token Dropbox does not know is refused.
    let (_, key) = app.create_app("other").await;
    let body = json!({"service": "dropbox", "account": "x", "token": "not-a-token"});
    let r = app.with_key(&key).post_json("/v1/accounts", &body).await;
    assert_error(r, 401, "service_unauthorized").await;
}

#[tokio::test]
async fn dropbox_identity_names_the_account() {
    let fake = FakeDropbox::start().await;
    let mut provider = cloudbridge_shared::Settings::default().providers.dropbox;
    provider.api_url = fake.url().to_string();
    provider.content_url = fake.url().to_string();
    let api = |token: String| Api {
        http: reqwest::Client::new(),
        tokens: Arc::new(FixedToken(Token {
            access: Secret::new(token),
            version: 0,
        })),
        call_timeout: std::time::Duration::from_secs(60),
        headers: Vec::new(),
    };
    let token = fake.issue_token(&fake.account_id());
    let (id, name) = identity(&api(token), &provider).await.unwrap();
    assert_eq!(
        (id, name.as_str()),
        (fake.account_id(), "franz@example.com")
    );
    let e = identity(&api("bogus".into()), &provider).await.unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (401, "service_unauthorized"));
}

#[tokio::test]
async fn dropbox_connects_in_a_browser_and_a_refusal_ends_on_the_application() {
    use crate::connect::{allow_redirect, authorize_url, connect, finish_and_use, param, Browser};
    let fake = FakeDropbox::start().await;
    let app = app_for(&fake).await;
    let (app_id, key) = app.create_app("dropbox-connect").await;
    allow_redirect(&app, &app_id, false).await;
    // Dropbox approves a signed-in user's repeat authorization without a page.
    let code = connect(&app, &app_id, "dropbox", ("", "")).await;
    let (token, account) = finish_and_use(&app, &app_id, &key, &code).await;
    let me = app.with_token(&token).get_json("/v1/accounts/me").await;
    assert_eq!(me["service"], "dropbox");
    let code = connect(&app, &app_id, "dropbox", ("", "")).await;
    let (_, again) = finish_and_use(&app, &app_id, &key, &code).await;
    assert_eq!(again, account, "the same Dropbox user is the same account");

    fake.deny_next_authorization();
    let mut browser = Browser::new();
    let back = browser
        .choose(&authorize_url(&app, &app_id, "dropbox", "d1"), "dropbox")
        .await;
    assert_eq!(param(&back.url, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&back.url, "state").as_deref(), Some("d1"));
}

#[tokio::test]
async fn an_access_token_expiring_during_a_long_upload_is_refreshed_and_nothing_is_lost() {
    let fake = FakeDropbox::start().await;
    // Tokens live 2 seconds; the upload below takes about 5.
    fake.set_token_lifetime(std::time::Duration::from_secs(2));
    let app = app_for(&fake).await;
    let (_, key) = app.create_app("dropbox-slow").await;
    let (access, refresh) = fake.grant(CLIENT_ID, &fake.account_id());
    let expiry = chrono::Utc::now() + chrono::Duration::seconds(2);
    let body = json!({
        "service": "dropbox", "account": "slow@example.com",
        "token": access, "refresh_token": refresh, "token_expiry": expiry.to_rfc3339(),
    });
    let r = app.with_key(&key).post_json("/v1/accounts", &body).await;
    assert_eq!(r.status(), 201);
    let account: Value = r.json().await.unwrap();
    let a = app.with_token(account["bearer_token"]["key"].as_str().unwrap());

    let mut bytes = vec![0u8; 3 * UPLOAD_CHUNK];
    rand::rng().fill_bytes(&mut bytes);
    let pieces: Vec<Vec<u8>> = bytes.chunks(1 << 20).map(<[u8]>::to_vec).collect();
    let slow = futures::stream::iter(pieces).then(|piece| async move {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        Ok::<_, std::io::Error>(piece)
    });
    let r = a
        .upload_req("root", "slow.bin", "")
        .header("content-length", bytes.len())
        .body(reqwest::Body::wrap_stream(slow))
        .go()
        .await;
    let status = r.status();
    let file: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{file}");
    assert!(
        fake.contents(&fake.account_id(), "/slow.bin").unwrap() == bytes,
        "every byte, once"
    );
    // The fake refuses expired tokens: the upload outlived the first one, so it went on
    // with refreshed ones (each refresh is a new credential version).
    let pool = sqlx::PgPool::connect(app.settings().database.url.expose())
        .await
        .unwrap();
    let version: i64 =
        sqlx::query_scalar("SELECT version FROM account_tokens WHERE account_id = $1")
            .bind(account["id"].as_i64().unwrap())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(version > 1, "the token was refreshed during the upload");
}
