//! Token upkeep against a real OAuth 2.0 server: oauth2-test-server, whose codes are
//! single use and whose refresh tokens rotate (each one works once). Requests reach it by
//! pass-through (`/raw` to its `/userinfo`, which checks the access token), so every
//! answer says whether Cloudbridge used a token the server accepts.

use std::sync::Arc;

use cloudbridge_connectors::oauth::{Granted, Keeper, OAuthSecrets};
use cloudbridge_shared::{crypto::Cipher, db, Settings};
use oauth2_test_server::{IssuerConfig, OAuthTestServer};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, Proc, TestApp};

/// The OAuth server, the client Cloudbridge is registered as, and its redirect URI.
struct Issuer {
    server: OAuthTestServer,
    client_id: String,
    client_secret: String,
}

const REDIRECT: &str = "http://127.0.0.1:9/callback";

impl Issuer {
    async fn start() -> Self {
        let server = OAuthTestServer::start_with_config(IssuerConfig {
            port: 0,
            host: "127.0.0.1".into(),
            ..Default::default()
        })
        .await;
        let client = server
            .register_client_with_secret(
                json!({ "redirect_uris": [REDIRECT], "scope": "openid profile email" }),
                true,
            )
            .await;
        Self {
            client_id: client.client_id,
            client_secret: client.client_secret.expect("client secret"),
            server,
        }
    }

    fn base(&self) -> String {
        self.server
            .base_url
            .as_str()
            .trim_end_matches('/')
            .to_string()
    }

    /// Points the `box` service of `settings` at this server (tokens and API).
    fn serve_box(&self, settings: &mut Settings) {
        let p = &mut settings.providers.box_;
        p.token_url = self.server.endpoints.token.clone();
        p.authorize_url = self.server.endpoints.authorize.clone();
        p.api_url = self.base();
        p.content_url = self.base();
        p.client_id = self.client_id.clone();
        p.client_secret = cloudbridge_shared::secret::Secret::new(self.client_secret.clone());
    }

    /// A Cloudbridge whose `box` service is this server, with `more` settings on top.
    async fn app(&self, more: impl FnOnce(&mut Settings) + 'static) -> TestApp {
        let mut served = Settings::default();
        self.serve_box(&mut served);
        let providers = served.providers;
        TestApp::builder()
            .settings(move |s| {
                s.providers = providers;
                more(s);
            })
            .spawn()
            .await
    }

    /// Tokens for the server's test user, by the authorization-code grant.
    async fn grant(&self) -> (String, String) {
        let http = &self.server.http;
        let r = http
            .get(&self.server.endpoints.authorize)
            .query(&[
                ("response_type", "code"),
                ("client_id", &self.client_id),
                ("redirect_uri", REDIRECT),
                ("scope", "openid"),
                ("state", "s"),
            ])
            .send()
            .await
            .unwrap();
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let code = url::Url::parse(&location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("code in redirect");
        let body: Value = http
            .post(&self.server.endpoints.token)
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_id", &self.client_id),
                ("client_secret", &self.client_secret),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            body["access_token"].as_str().unwrap().into(),
            body["refresh_token"].as_str().unwrap().into(),
        )
    }

    /// How many refresh tokens the server has issued (one per grant or refresh).
    async fn refresh_tokens_issued(&self) -> usize {
        self.server.refresh_tokens().await.len()
    }
}

/// A `box` account of a new application holding `access`/`refresh`, expiring at
/// `expires_at` as far as Cloudbridge knows. Returns the API key and account id.
async fn account(
    app: &TestApp,
    access: &str,
    refresh: &str,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> (String, i64) {
    let (app_id, key) = app.create_app("tokens").await;
    let pool = sqlx::PgPool::connect(app.settings().database.url.expose())
        .await
        .unwrap();
    let account = db::accounts::upsert(&pool, &app_id, "box", "test-user", &json!({}), None)
        .await
        .unwrap();
    let keeper = keeper(app, pool);
    let granted = Granted {
        secrets: OAuthSecrets {
            access_token: access.into(),
            refresh_token: Some(refresh.into()),
        },
        expires_at: Some(expires_at),
    };
    keeper.store(account.id, &granted).await.unwrap();
    (key, account.id)
}

fn keeper(app: &TestApp, pool: sqlx::PgPool) -> Arc<Keeper> {
    let s = app.settings();
    let cipher = Cipher::from_settings(&s.secrets).unwrap().unwrap();
    Keeper::new(
        pool,
        Arc::new(cipher),
        Arc::new(s.providers.clone()),
        s.oauth.clone(),
        reqwest::Client::new(),
    )
}

/// A pass-through `GET /userinfo` as the account.
async fn userinfo(client: &reqwest::Client, base: &str, key: &str, id: i64) -> reqwest::Response {
    client
        .post(format!("{base}/v1/accounts/{id}/raw"))
        .header("authorization", format!("APIKey {key}"))
        .header("x-kloudless-raw-uri", "/userinfo")
        .header("x-kloudless-raw-method", "GET")
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_requests_on_an_expired_token_cause_one_refresh_across_processes() {
    let issuer = Issuer::start().await;
    let app = issuer.app(|_| {}).await;
    let (access, refresh) = issuer.grant().await;
    assert_eq!(issuer.refresh_tokens_issued().await, 1);
    // As far as Cloudbridge knows, the token expired a second ago.
    let expired = chrono::Utc::now() - chrono::Duration::seconds(1);
    let (key, id) = account(&app, &access, &refresh, expired).await;

    // A second API process, with the same settings, shares the load.
    let settings = app.settings().clone();
    let port = crate::helpers::free_port();
    let env = provider_env(&settings, port);
    let _other = Proc::spawn("cloudbridge-api", &settings, &env);
    let other = format!("http://127.0.0.1:{port}");
    crate::helpers::wait_ready(&app.client, &other).await;

    let calls = (0..100).map(|i| {
        let base = if i % 2 == 0 {
            app.base.clone()
        } else {
            other.clone()
        };
        let (client, key) = (app.client.clone(), key.clone());
        tokio::spawn(async move {
            let r = userinfo(&client, &base, &key, id).await;
            let status = r.status();
            (status, r.text().await.unwrap())
        })
    });
    for call in futures::future::join_all(calls).await {
        let (status, body) = call.unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("test-user-123"), "{body}");
    }
    // One refresh: the grant's refresh token, then exactly one more.
    assert_eq!(issuer.refresh_tokens_issued().await, 2);
    let pool = sqlx::PgPool::connect(app.settings().database.url.expose())
        .await
        .unwrap();
    let row = db::tokens::get(&pool, id).await.unwrap().unwrap();
    assert_eq!(row.version, 2, "stored once, refreshed once");
    assert!(row.expires_at.unwrap() > chrono::Utc::now());
}

/// The environment a spawned API process needs beyond [`Proc::spawn`]'s: its port and
/// the `box` provider settings.
fn provider_env(settings: &Settings, port: u16) -> Vec<(&'static str, String)> {
    let p = &settings.providers.box_;
    vec![
        ("CLOUDBRIDGE_API__BIND", format!("127.0.0.1:{port}")),
        ("CLOUDBRIDGE_PROVIDERS__BOX__TOKEN_URL", p.token_url.clone()),
        ("CLOUDBRIDGE_PROVIDERS__BOX__API_URL", p.api_url.clone()),
        (
            "CLOUDBRIDGE_PROVIDERS__BOX__CONTENT_URL",
            p.content_url.clone(),
        ),
        ("CLOUDBRIDGE_PROVIDERS__BOX__CLIENT_ID", p.client_id.clone()),
        (
            "CLOUDBRIDGE_PROVIDERS__BOX__CLIENT_SECRET",
            p.client_secret.expose().to_string(),
        ),
    ]
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_and_the_request_retried() {
    let issuer = Issuer::start().await;
    let app = issuer.app(|_| {}).await;
    let (_, refresh) = issuer.grant().await;
    // Cloudbridge believes the token good for an hour; the server does not know it.
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let (key, id) = account(&app, "not-a-token-the-server-issued", &refresh, later).await;
    let r = userinfo(&app.client, &app.base, &key, id).await;
    assert_eq!(r.status(), 200);
    assert_eq!(issuer.refresh_tokens_issued().await, 2);
    // The refreshed token is kept: the next request needs no refresh.
    let r = userinfo(&app.client, &app.base, &key, id).await;
    assert_eq!(r.status(), 200);
    assert_eq!(issuer.refresh_tokens_issued().await, 2);
}

#[tokio::test]
async fn a_revoked_refresh_token_ends_in_reauthorization_and_a_reconnect_clears_it() {
    let issuer = Issuer::start().await;
    let app = issuer
        .app(|s| {
            // Give up on the first refusal (production waits days).
            s.oauth.reauth_after_secs = 0;
        })
        .await;
    let (access, refresh) = issuer.grant().await;
    let r = issuer
        .server
        .http
        .post(&issuer.server.endpoints.revoke)
        .form(&[("token", refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let expired = chrono::Utc::now() - chrono::Duration::seconds(1);
    let (key, id) = account(&app, &access, &refresh, expired).await;

    let r = userinfo(&app.client, &app.base, &key, id).await;
    let body = assert_error(r, 401, "service_unauthorized").await;
    assert!(body["message"].as_str().unwrap().contains("reconnect"));
    // Seen by the API tier once its account cache (`api.auth_cache_ms`) moves on.
    active_becomes(&app, &key, id, false).await;
    let pool = sqlx::PgPool::connect(app.settings().database.url.expose())
        .await
        .unwrap();
    let (needs, reason): (bool, Option<String>) =
        sqlx::query_as("SELECT needs_reauth, reauth_reason FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(needs);
    assert!(reason.unwrap().contains("invalid_grant"));
    // No secret in the recorded reason.
    let last_error: String =
        sqlx::query_scalar("SELECT last_error FROM account_tokens WHERE account_id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!last_error.contains(&refresh) && !last_error.contains(&access));

    // Reconnecting (new tokens for the same account) makes it usable again.
    let (access, refresh) = issuer.grant().await;
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let keeper = keeper(&app, pool);
    keeper
        .store(
            id,
            &Granted {
                secrets: OAuthSecrets {
                    access_token: access,
                    refresh_token: Some(refresh),
                },
                expires_at: Some(later),
            },
        )
        .await
        .unwrap();
    active_becomes(&app, &key, id, true).await;
    let r = userinfo(&app.client, &app.base, &key, id).await;
    assert_eq!(r.status(), 200);
}

/// Waits (a few seconds at most) until the account's `active` reads `want`.
async fn active_becomes(app: &TestApp, key: &str, id: i64, want: bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let account = app
            .with_key(key)
            .get_json(&format!("/v1/accounts/{id}"))
            .await;
        if account["active"] == want {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{account}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn pass_through_mirrors_the_service_and_refuses_other_destinations() {
    let issuer = Issuer::start().await;
    let app = issuer.app(|_| {}).await;
    let (access, refresh) = issuer.grant().await;
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let (key, id) = account(&app, &access, &refresh, later).await;
    let a = app.with_key(&key);

    // The service's own answers come back as they are, errors included.
    let r = a
        .req(Method::POST, &format!("/v1/accounts/{id}/raw"))
        .header("x-kloudless-raw-uri", "/.well-known/openid-configuration")
        .header("x-kloudless-raw-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_endpoint"], issuer.server.endpoints.token);
    let r = a
        .req(Method::POST, &format!("/v1/accounts/{id}/raw"))
        .header("x-kloudless-raw-uri", "/register/no-such-client")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "mirrored, not rewritten");
    // A POST body and extra headers reach the service.
    let r = a
        .req(Method::POST, &format!("/v1/accounts/{id}/raw"))
        .header("x-kloudless-raw-uri", "/introspect")
        .header("x-kloudless-raw-method", "POST")
        .header(
            "x-kloudless-raw-headers",
            r#"{"Content-Type": "application/x-www-form-urlencoded"}"#,
        )
        .body(format!("token={access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["active"], true, "{body}");

    // Anywhere else is refused before anything is sent, however it is spelled.
    let port = issuer.server.base_url.port().unwrap();
    let other = crate::helpers::free_port();
    let refused = [
        format!("http://localhost:{port}/userinfo"),
        format!("http://127.0.0.1:{other}/userinfo"),
        format!("http://127.0.0.2:{port}/userinfo"),
        format!("http://2130706433:{port}/userinfo"),
        format!("http://0x7f000001:{port}/userinfo"),
        format!("http://0177.0.0.1:{port}/userinfo"),
        format!("http://127.1:{port}/userinfo"),
        format!("http://[::1]:{port}/userinfo"),
        format!("http://[::ffff:127.0.0.1]:{port}/userinfo"),
        format!("https://127.0.0.1:{port}/userinfo"),
        format!("http://evil@127.0.0.1:{port}/userinfo"),
        format!("http://127.0.0.1:{port}@evil.example/userinfo"),
        format!("http://127.0.0.1:{port}.evil.example/userinfo"),
        format!("http://127.0.0.1:{port}\\@evil.example/userinfo"),
        format!("http://%31%32%37.0.0.1:{port}/userinfo"),
        format!("//127.0.0.1:{port}/userinfo"),
        "http://169.254.169.254/latest/meta-data/".into(),
        "file:///etc/passwd".into(),
        format!("gopher://127.0.0.1:{port}/userinfo"),
        "/userinfo\r\nX-Injected: 1".into(),
        "userinfo".into(),
        format!("HTTP://127.0.0.1:{port}@169.254.169.254/"),
    ];
    for uri in &refused {
        let r = a
            .req(Method::POST, &format!("/v1/accounts/{id}/raw"))
            .header("x-kloudless-raw-uri", uri.as_str())
            .send()
            .await;
        // CRLF cannot even be put in a header value (the client refuses to build the
        // request; the check itself is unit-tested in api/src/passthrough.rs). Every
        // other spelling reaches the API and must be refused there.
        let r = match r {
            Ok(r) => r,
            Err(e) if uri.contains('\r') => {
                assert!(e.is_builder(), "{uri}: {e}");
                continue;
            }
            Err(e) => panic!("{uri} was not sent: {e}"),
        };
        assert_eq!(r.status(), 400, "{uri} was not refused");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error_code"], "bad_request", "{uri}");
    }
    // Same base, exact spelling: allowed.
    let r = a
        .req(Method::POST, &format!("/v1/accounts/{id}/raw"))
        .header("x-kloudless-raw-uri", format!("{}/userinfo", issuer.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The service redirecting elsewhere (here its authorize endpoint, to the client's
    // redirect URI on another port) is refused, not followed.
    let authorize = format!(
        "/authorize?response_type=code&client_id={}&redirect_uri={REDIRECT}&state=s",
        issuer.client_id
    );
    let r = a
        .req(Method::POST, &format!("/v1/accounts/{id}/raw"))
        .header("x-kloudless-raw-uri", authorize)
        .send()
        .await
        .unwrap();
    let body = assert_error(r, 400, "bad_request").await;
    assert!(
        body["message"].as_str().unwrap().contains("redirect"),
        "{body}"
    );

    // Services without an HTTP API answer honestly.
    let (local, _) = app.import_local(&key, "disk").await;
    let r = a
        .req(Method::POST, &format!("/v1/accounts/{local}/raw"))
        .header("x-kloudless-raw-uri", "/x")
        .send()
        .await
        .unwrap();
    assert_error(r, 501, "not_implemented").await;
}

#[tokio::test]
async fn the_scheduler_refreshes_tokens_ahead_of_expiry_without_any_request() {
    let issuer = Issuer::start().await;
    let app = issuer
        .app(|s| {
            s.oauth.sweep_cron = "* * * * * *".into();
        })
        .await;
    let (access, refresh) = issuer.grant().await;
    // Valid for 4 more seconds: due for refresh after 3 (75% of its lifetime).
    let soon = chrono::Utc::now() + chrono::Duration::seconds(4);
    let (key, id) = account(&app, &access, &refresh, soon).await;
    // Valid for an hour: not due, and the sweep must leave it alone.
    let (later_access, later_refresh) = issuer.grant().await;
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let (later_key, later_id) = account(&app, &later_access, &later_refresh, later).await;
    assert_eq!(issuer.refresh_tokens_issued().await, 2, "one per grant");
    let stop = tokio_util::sync::CancellationToken::new();
    let scheduler = tokio::spawn(cloudbridge_scheduler::run(
        app.settings().clone(),
        stop.clone(),
    ));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while issuer.refresh_tokens_issued().await < 3 {
        assert!(std::time::Instant::now() < deadline, "no proactive refresh");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Two more sweeps find nothing else due.
    let swept = sweeps(&app).await;
    while sweeps(&app).await < swept + 2.0 {
        assert!(std::time::Instant::now() < deadline, "no more sweeps");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    stop.cancel();
    let _ = scheduler.await;
    assert_eq!(
        issuer.refresh_tokens_issued().await,
        3,
        "only the token near its expiry is refreshed, and once"
    );
    // Both answer without a refresh: one was refreshed ahead of time, one is still fresh.
    for (key, id) in [(&key, id), (&later_key, later_id)] {
        let r = userinfo(&app.client, &app.base, key, id).await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(issuer.refresh_tokens_issued().await, 3);
}

#[tokio::test]
async fn a_refresh_the_service_accepted_survives_a_failed_write() {
    let issuer = Issuer::start().await;
    let app = issuer.app(|_| {}).await;
    let (access, refresh) = issuer.grant().await;
    let expired = chrono::Utc::now() - chrono::Duration::seconds(1);
    let (key, id) = account(&app, &access, &refresh, expired).await;
    let pool = sqlx::PgPool::connect(app.settings().database.url.expose())
        .await
        .unwrap();
    // The first write of new tokens fails (as a commit can); a sequence, unlike a row,
    // counts even in the statement the error rolls back.
    sqlx::raw_sql(
        "CREATE SEQUENCE token_writes;
         CREATE FUNCTION fail_first_token_write() RETURNS trigger AS $$
         BEGIN
             IF OLD.sealed IS DISTINCT FROM NEW.sealed AND nextval('token_writes') = 1 THEN
                 RAISE EXCEPTION 'injected failure';
             END IF;
             RETURN NEW;
         END $$ LANGUAGE plpgsql;
         CREATE TRIGGER fail_first_token_write BEFORE UPDATE ON account_tokens
             FOR EACH ROW EXECUTE FUNCTION fail_first_token_write();",
    )
    .execute(&pool)
    .await
    .unwrap();

    let r = userinfo(&app.client, &app.base, &key, id).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(issuer.refresh_tokens_issued().await, 2);
    let written: i64 = sqlx::query_scalar("SELECT last_value FROM token_writes")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(written, 2, "the failed write was written again");
    // The rotated refresh token is the one stored: another process (no cache) can still
    // refresh with it, where the grant's own one is spent.
    sqlx::query(
        "UPDATE account_tokens SET issued_at = now() - interval '2 days' WHERE account_id = $1",
    )
    .bind(id)
    .execute(&pool)
    .await
    .unwrap();
    let fresh = keeper(&app, pool.clone());
    assert_eq!(
        fresh.refresh_due(id).await.unwrap(),
        cloudbridge_connectors::oauth::Sweep::Refreshed
    );
    assert_eq!(issuer.refresh_tokens_issued().await, 3);
}

#[tokio::test]
async fn refreshes_never_wait_on_a_second_connection_of_a_small_pool() {
    let issuer = Issuer::start().await;
    let app = issuer.app(|_| {}).await;
    let pool = sqlx::PgPool::connect(app.settings().database.url.expose())
        .await
        .unwrap();
    let mut accounts = Vec::new();
    for _ in 0..8 {
        let (access, refresh) = issuer.grant().await;
        let old = chrono::Utc::now() - chrono::Duration::seconds(1);
        accounts.push(account(&app, &access, &refresh, old).await.1);
    }
    // Two connections for eight sweeping refreshes: a refresh that held one while asking
    // for another (or while the service answered) would starve the rest.
    let small = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(std::time::Duration::from_secs(3))
        .connect(app.settings().database.url.expose())
        .await
        .unwrap();
    let keeper = keeper(&app, small);
    let runs = accounts.iter().map(|&id| {
        let keeper = keeper.clone();
        async move { keeper.refresh_due(id).await }
    });
    for result in futures::future::join_all(runs).await {
        assert_eq!(
            result.unwrap(),
            cloudbridge_connectors::oauth::Sweep::Refreshed
        );
    }
    assert_eq!(issuer.refresh_tokens_issued().await, 16);
    drop(pool);
}

/// Token sweeps run so far (this test process's workers).
async fn sweeps(app: &TestApp) -> f64 {
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    let metrics = metrics.text().await.unwrap();
    crate::helpers::sample_sum(&metrics, |l| {
        l.starts_with("cloudbridge_token_sweeps_total")
    })
}
