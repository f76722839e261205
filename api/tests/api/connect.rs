//! The OAuth connect flow driven over HTTP like a browser: the application's
//! `GET /v1/oauth`, Cloudbridge's chooser and consent form, the service's authorization
//! page (its consent form), the callback, the redirect back with a code, and the code
//! exchanged at `POST /v1/oauth/token`; the popup flow; the error paths.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_error, TestApp};

/// The application's redirect URI (never fetched: the browser stops there).
pub const APP_REDIRECT: &str = "http://127.0.0.1:9/after-connect";

/// A browser: follows redirects one by one, keeps cookies per host, submits forms.
pub struct Browser {
    http: reqwest::Client,
    cookies: HashMap<String, Vec<(String, String)>>,
    /// Every URL requested, in order.
    pub visited: Vec<url::Url>,
}

/// Where a browser's navigation ended.
pub struct Landing {
    /// The last URL.
    pub url: url::Url,
    pub status: StatusCode,
    pub body: String,
}

impl Browser {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
            visited: Vec::new(),
        }
    }

    fn cookie_header(&self, url: &url::Url) -> Option<String> {
        let jar = self.cookies.get(&host_key(url))?;
        Some(
            jar.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    fn keep_cookies(&mut self, url: &url::Url, r: &reqwest::Response) {
        for value in r.headers().get_all("set-cookie") {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            let jar = self.cookies.entry(host_key(url)).or_default();
            jar.retain(|(name, _)| name != k);
            jar.push((k.to_string(), v.to_string()));
        }
    }

    /// Navigates (GET, or POST of a form), following redirects until a page, or until a
    /// URL starting with `stop_at` (the application's redirect URI).
    pub async fn go(
        &mut self,
        method: Method,
        url: &str,
        form: Option<&[(String, String)]>,
        stop_at: &str,
    ) -> Landing {
        let mut url = url::Url::parse(url).unwrap();
        let mut method = method;
        let mut form = form.map(|f| f.to_vec());
        for _ in 0..10 {
            if url.as_str().starts_with(stop_at) {
                return Landing {
                    url,
                    status: StatusCode::FOUND,
                    body: String::new(),
                };
            }
            self.visited.push(url.clone());
            let mut req = self.http.request(method.clone(), url.clone());
            if let Some(cookie) = self.cookie_header(&url) {
                req = req.header("cookie", cookie);
            }
            if let Some(f) = &form {
                req = req.form(f);
            }
            let r = req.send().await.unwrap();
            self.keep_cookies(&url, &r);
            if r.status().is_redirection() {
                let location = r.headers()["location"].to_str().unwrap();
                url = url.join(location).unwrap();
                method = Method::GET;
                form = None;
                continue;
            }
            let status = r.status();
            return Landing {
                url,
                status,
                body: r.text().await.unwrap(),
            };
        }
        panic!("too many redirects");
    }

    /// Opens Cloudbridge's chooser at `url` and picks `service`: where that leads (the
    /// service's page, or straight back to the application).
    pub async fn choose(&mut self, url: &str, service: &str) -> Landing {
        let chooser = self.go(Method::GET, url, None, APP_REDIRECT).await;
        assert_eq!(chooser.status, 200, "{}", chooser.body);
        self.submit(&chooser, "service", service, APP_REDIRECT)
            .await
    }

    /// Submits the first form on `page`, pressing the button `name=value`.
    pub async fn submit(
        &mut self,
        page: &Landing,
        name: &str,
        value: &str,
        stop_at: &str,
    ) -> Landing {
        self.fill_and_submit(page, &[], (name, value), stop_at)
            .await
    }

    /// Submits the first form on `page` with its inputs as the page has them, the fields
    /// in `typed` (inputs or text areas) set to what is typed, pressing the button
    /// `name=value`.
    pub async fn fill_and_submit(
        &mut self,
        page: &Landing,
        typed: &[(&str, &str)],
        (name, value): (&str, &str),
        stop_at: &str,
    ) -> Landing {
        let form = page.body.split("<form").nth(1).expect("a form on the page");
        let action = attr(form, "action").unwrap_or_default();
        let mut fields: Vec<(String, String)> = form
            .split("<input")
            .skip(1)
            .filter_map(|i| Some((attr(i, "name")?, attr(i, "value").unwrap_or_default())))
            .filter(|(k, _)| !typed.iter().any(|(t, _)| t == k))
            .collect();
        for (k, v) in typed {
            assert!(
                form.contains(&format!("name=\"{k}\"")),
                "no field {k} in {}",
                page.body
            );
            fields.push((k.to_string(), v.to_string()));
        }
        let button = format!("name=\"{name}\" value=\"{value}\"");
        assert!(
            form.contains(&button),
            "no button {button} in {}",
            page.body
        );
        fields.push((name.into(), value.into()));
        let target = page.url.join(&action).unwrap();
        self.go(Method::POST, target.as_str(), Some(&fields), stop_at)
            .await
    }
}

fn host_key(url: &url::Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// The value of attribute `name` in an HTML tag fragment (HTML entities undone).
fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = start + tag[start..].find('"')?;
    Some(
        tag[start..end]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#39;", "'")
            .replace("&amp;", "&"),
    )
}

/// A query parameter of a URL.
pub fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Registers `APP_REDIRECT` (and optionally enables the popup flow) for an application.
pub async fn allow_redirect(app: &TestApp, app_id: &str, implicit: bool) {
    let dev = app.dev_caller();
    let r = dev
        .send_json(
            Method::PUT,
            &format!("/v1/applications/{app_id}/redirect_uris"),
            &json!({ "redirect_uris": [APP_REDIRECT] }),
        )
        .await;
    assert_eq!(r.status(), 200);
    if implicit {
        let r = dev
            .send_json(
                Method::PATCH,
                &format!("/v1/applications/{app_id}"),
                &json!({ "implicit_grant_enabled": true }),
            )
            .await;
        assert_eq!(r.status(), 200);
    }
}

/// The authorization URL an application sends its user to.
pub fn authorize_url(app: &TestApp, app_id: &str, scope: &str, state: &str) -> String {
    let mut url = url::Url::parse(&format!("{}/v1/oauth", app.base)).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", app_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", APP_REDIRECT)
        .append_pair("scope", scope)
        .append_pair("state", state);
    url.to_string()
}

/// Drives the whole code flow for `service` (whose authorization page shows a form with
/// an `allow` button named `provider_button`); returns the code the application got.
pub async fn connect(
    app: &TestApp,
    app_id: &str,
    service: &str,
    provider_button: (&str, &str),
) -> String {
    let mut browser = Browser::new();
    let consent = browser
        .choose(&authorize_url(app, app_id, service, "xyz"), service)
        .await;
    let back = if consent.url.as_str().starts_with(APP_REDIRECT) {
        consent // the service approved without asking
    } else {
        assert_eq!(consent.status, 200, "{}", consent.body);
        browser
            .submit(&consent, provider_button.0, provider_button.1, APP_REDIRECT)
            .await
    };
    assert!(
        back.url.as_str().starts_with(APP_REDIRECT),
        "ended at {} {}",
        back.url,
        back.body
    );
    assert_eq!(param(&back.url, "state").as_deref(), Some("xyz"));
    assert_eq!(param(&back.url, "error"), None, "{}", back.url);
    // The request Cloudbridge sent the browser to the service with: PKCE (S256) for the
    // services whose authorization servers take it, so a connector that stopped sending
    // a challenge fails here even where the service would not insist on one.
    let asked = browser
        .visited
        .iter()
        .find(|u| {
            param(u, "response_type").as_deref() == Some("code")
                && param(u, "client_id").is_some()
                && !u.as_str().starts_with(&app.base)
        })
        .unwrap_or_else(|| panic!("no authorization request in {:?}", browser.visited));
    let pkce = matches!(service, "gdrive" | "onedrive" | "onedrivebiz" | "dropbox");
    assert_eq!(param(asked, "code_challenge").is_some(), pkce, "{asked}");
    if pkce {
        assert_eq!(
            param(asked, "code_challenge_method").as_deref(),
            Some("S256")
        );
        assert_eq!(param(asked, "code_challenge").unwrap().len(), 43, "{asked}");
    }
    param(&back.url, "code").expect("a code")
}

/// The message the popup flow's last page posts to its opener: `"kloudless:" + JSON`,
/// the JSON parsed.
pub fn posted_message(page: &str) -> Value {
    let start = page.find("postMessage(").expect("a postMessage call") + "postMessage(".len();
    let literal: String = serde_json::Deserializer::from_str(&page[start..])
        .into_iter::<String>()
        .next()
        .unwrap()
        .unwrap();
    serde_json::from_str(literal.strip_prefix("kloudless:").unwrap()).unwrap()
}

/// `POST /v1/oauth/token` as the Python SDK sends it (quirk C9: a wrong content type).
pub async fn exchange(app: &TestApp, app_id: &str, api_key: &str, code: &str) -> reqwest::Response {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", APP_REDIRECT)
        .append_pair("client_id", app_id)
        .append_pair("client_secret", api_key)
        .finish();
    app.client
        .post(format!("{}/v1/oauth/token", app.base))
        .header("content-type", "application/form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Checks a bearer token with `GET /v1/oauth/token` and returns its account id.
pub async fn verify(app: &TestApp, token: &str, app_id: &str) -> i64 {
    let info = app.with_token(token).get_json("/v1/oauth/token").await;
    assert_eq!(info["client_id"], app_id, "{info}");
    info["account_id"].as_i64().unwrap()
}

/// After `connect`: exchanges the code, checks the token, and lists the root through it.
pub async fn finish_and_use(
    app: &TestApp,
    app_id: &str,
    api_key: &str,
    code: &str,
) -> (String, i64) {
    let r = exchange(app, app_id, api_key, code).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().unwrap().to_string();
    let account = verify(app, &token, app_id).await;
    assert_eq!(body["account_id"], account);
    let listing = app
        .with_token(&token)
        .get_json("/v1/accounts/me/storage/folders/root/contents")
        .await;
    assert_eq!(listing["type"], "object_list", "{listing}");
    (token, account)
}

#[tokio::test]
async fn requests_that_cannot_start_a_flow_are_refused_clearly() {
    let app = TestApp::spawn().await;
    let (app_id, key) = app.create_app("flows").await;
    let mut browser = Browser::new();
    // No redirect URI registered: a page, not a redirect to an unverified place.
    let page = browser
        .go(
            Method::GET,
            &authorize_url(&app, &app_id, "any", "s"),
            None,
            APP_REDIRECT,
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("not registered"), "{}", page.body);
    let page = browser
        .go(
            Method::GET,
            &format!("{}/v1/oauth?redirect_uri={APP_REDIRECT}", app.base),
            None,
            APP_REDIRECT,
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("client_id"));

    allow_redirect(&app, &app_id, false).await;
    // A scope naming nothing connectable ends on the application with an error.
    let back = browser
        .go(
            Method::GET,
            &authorize_url(&app, &app_id, "salesforce.crm", "s1"),
            None,
            APP_REDIRECT,
        )
        .await;
    assert_eq!(param(&back.url, "error").as_deref(), Some("invalid_scope"));
    assert_eq!(param(&back.url, "state").as_deref(), Some("s1"));
    // The popup flow needs the application's consent to implicit grants, and an origin.
    let popup = format!(
        "{}/v1/oauth?client_id={app_id}&response_type=token&redirect_uri=urn:ietf:wg:oauth:2.0:oob&origin=http://127.0.0.1:9",
        app.base
    );
    let page = browser.go(Method::GET, &popup, None, "urn:").await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("implicit"), "{}", page.body);
    let page = browser
        .go(
            Method::GET,
            &popup.replace("http://127.0.0.1:9", "http://evil.example"),
            None,
            "urn:",
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("origin"), "{}", page.body);

    // Codes: unknown ones, a wrong key, a missing grant type.
    let r = exchange(&app, &app_id, &key, "no-such-code").await;
    assert_error(r, 400, "invalid_grant").await;
    let r = exchange(&app, &app_id, "wrong-key", "no-such-code").await;
    assert_error(r, 401, "invalid_client").await;
    let r = app
        .client
        .post(format!("{}/v1/oauth/token/", app.base))
        .form(&[("code", "x")])
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "unsupported_grant_type").await;
    // Token info: a bad token is a 400 (what the JS SDK expects).
    let r = app.with_token("nope").get("/v1/oauth/token").await;
    assert_error(r, 400, "invalid_token").await;
    let (_, bearer) = app.import_local(&key, "disk").await;
    let info = app.with_token(&bearer).get_json("/v1/oauth/token/").await;
    assert_eq!(info["client_id"], app_id);
}

/// Google's and Microsoft's authorization servers stand-in, and the Drive and Graph
/// emulators: a Cloudbridge whose `service` goes there.
pub async fn app_for(
    service: &str,
    api: &str,
    identity: &cloudbridge_fakes::identity::Identity,
) -> TestApp {
    let (service, api) = (service.to_string(), api.to_string());
    let (authorize, token) = (identity.authorize_url(), identity.token_url());
    TestApp::builder()
        .settings(move |s| {
            let p = if service == "gdrive" {
                &mut s.providers.gdrive
            } else {
                &mut s.providers.onedrive
            };
            p.api_url = api.clone();
            p.content_url = api;
            p.authorize_url = authorize;
            p.token_url = token;
            p.client_id = CLIENT.0.into();
            p.client_secret = cloudbridge_shared::secret::Secret::new(CLIENT.1);
        })
        .spawn()
        .await
}

/// A Cloudbridge connecting `service` (`gdrive` or `onedrive`) at its emulator through
/// the identity stand-in, both running as long as this lives.
pub struct Connectable {
    pub app: TestApp,
    _emulator: crate::helpers::Server,
    _identity: cloudbridge_fakes::identity::Identity,
}

/// Starts a [`Connectable`].
pub async fn connectable(service: &str) -> Connectable {
    let emulator = if service == "gdrive" {
        crate::gdrive::drive_mock().await
    } else {
        crate::onedrive::onedrive_mock().await
    };
    let identity =
        cloudbridge_fakes::identity::Identity::start(CLIENT.0, CLIENT.1, MOCK_TOKENS, 3600).await;
    Connectable {
        app: app_for(service, &emulator.endpoint, &identity).await,
        _emulator: emulator,
        _identity: identity,
    }
}

/// The client Cloudbridge is registered as at the identity stand-in.
pub const CLIENT: (&str, &str) = ("cloudbridge-client", "cloudbridge-secret");
/// The bearer tokens the Drive and Graph emulators accept.
pub const MOCK_TOKENS: &[&str] = &["valid-token", "another-valid-token"];
const ALLOW: (&str, &str) = ("decision", "allow");

#[tokio::test]
async fn gdrive_connects_in_a_browser_and_every_error_ends_on_the_application() {
    let connectable = connectable("gdrive").await;
    let app = &connectable.app;
    let (app_id, key) = app.create_app("connects").await;
    allow_redirect(app, &app_id, false).await;

    let code = connect(app, &app_id, "gdrive", ALLOW).await;
    let (first, account) = finish_and_use(app, &app_id, &key, &code).await;
    // Replaying the code fails, and revokes the token it gave (the code may be stolen).
    let r = exchange(app, &app_id, &key, &code).await;
    assert_error(r, 400, "invalid_grant").await;
    let r = app.with_token(&first).get("/v1/oauth/token").await;
    assert_error(r, 400, "invalid_token").await;
    // It was used (so its caller is cached): the cache forgot it too.
    let r = app
        .with_token(&first)
        .get("/v1/accounts/me/storage/folders/root/contents")
        .await;
    assert_error(r, 401, "invalid_token").await;
    // The same user again: the same account, not a second one.
    let code = connect(app, &app_id, "gdrive", ALLOW).await;
    let (_, again) = finish_and_use(app, &app_id, &key, &code).await;
    assert_eq!(again, account);
    let accounts = app.with_key(&key).get_json("/v1/accounts").await;
    assert_eq!(accounts["count"], 1, "{accounts}");

    // The user cancels on Cloudbridge's page.
    let mut browser = Browser::new();
    let chooser = browser
        .go(
            Method::GET,
            &authorize_url(app, &app_id, "gdrive", "c1"),
            None,
            APP_REDIRECT,
        )
        .await;
    let back = browser
        .submit(&chooser, "action", "deny", APP_REDIRECT)
        .await;
    assert_eq!(param(&back.url, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&back.url, "state").as_deref(), Some("c1"));

    // The user says no at the service.
    let consent = browser
        .choose(&authorize_url(app, &app_id, "gdrive", "c2"), "gdrive")
        .await;
    let back = browser
        .submit(&consent, "decision", "deny", APP_REDIRECT)
        .await;
    assert_eq!(param(&back.url, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&back.url, "state").as_deref(), Some("c2"));
    assert!(param(&back.url, "error_description").is_some());

    // A callback replayed (the browser's history): nothing happens twice.
    let mut browser = Browser::new();
    let consent = browser
        .choose(&authorize_url(app, &app_id, "gdrive", "c3"), "gdrive")
        .await;
    let back = browser
        .submit(&consent, "decision", "allow", APP_REDIRECT)
        .await;
    assert!(param(&back.url, "code").is_some());
    let callback = browser
        .visited
        .iter()
        .find(|u| u.path() == "/v1/oauth/callback")
        .expect("went through the callback")
        .clone();
    let replay = browser
        .go(Method::GET, callback.as_str(), None, APP_REDIRECT)
        .await;
    assert_eq!(replay.status, 400);
    assert!(replay.body.contains("already used"), "{}", replay.body);

    // The service's answer arriving in another browser than the one that started.
    let mut started = Browser::new();
    let consent = started
        .choose(&authorize_url(app, &app_id, "gdrive", "c4"), "gdrive")
        .await;
    let mut other = Browser::new();
    let back = other
        .submit(&consent, "decision", "allow", APP_REDIRECT)
        .await;
    assert_eq!(
        param(&back.url, "error").as_deref(),
        Some("access_denied"),
        "{}",
        back.url
    );
    assert_eq!(param(&back.url, "code"), None);

    // A code exchanged with another redirect URI is refused.
    let code = connect(app, &app_id, "gdrive", ALLOW).await;
    let r = app
        .client
        .post(format!("{}/v1/oauth/token", app.base))
        .header("authorization", format!("APIKey {key}"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:9/elsewhere"),
            ("client_id", app_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "invalid_grant").await;
}

#[tokio::test]
async fn onedrive_connects_in_a_browser() {
    let connectable = connectable("onedrive").await;
    let app = &connectable.app;
    let (app_id, key) = app.create_app("connects").await;
    allow_redirect(app, &app_id, false).await;
    let code = connect(app, &app_id, "onedrive", ALLOW).await;
    let (token, _) = finish_and_use(app, &app_id, &key, &code).await;
    let me = app.with_token(&token).get_json("/v1/accounts/me").await;
    assert_eq!(me["service"], "onedrive");
    assert_eq!(me["account"], "mock.user@example.com", "named by e-mail");
}

#[tokio::test]
async fn the_popup_flow_posts_the_token_to_the_opener() {
    let connectable = connectable("gdrive").await;
    let app = &connectable.app;
    let (app_id, _) = app.create_app("widget").await;
    allow_redirect(app, &app_id, true).await;
    let url = format!(
        "{}/v1/oauth?client_id={app_id}&response_type=token&redirect_uri=urn:ietf:wg:oauth:2.0:oob\
         &origin=http://127.0.0.1:9&state=p1&request_id=r1&scope=gdrive",
        app.base
    );
    let mut browser = Browser::new();
    let consent = browser.choose(&url, "gdrive").await;
    let done = browser
        .submit(&consent, "decision", "allow", APP_REDIRECT)
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    // The page posts `"kloudless:" + JSON` to the opener at the application's origin.
    assert!(
        done.body.contains(", \"http://127.0.0.1:9\")"),
        "{}",
        done.body
    );
    let envelope = posted_message(&done.body);
    // The widgets' envelope: routed by `id` (the request id), the result in `data`.
    assert_eq!(envelope["type"], "authentication");
    assert_eq!(envelope["id"], "r1");
    let message = &envelope["data"];
    assert_eq!(message["token_type"], "Bearer");
    assert_eq!(message["state"], "p1");
    let token = message["access_token"].as_str().unwrap();
    assert_eq!(
        verify(app, token, &app_id).await,
        message["account_id"].as_i64().unwrap()
    );
}
