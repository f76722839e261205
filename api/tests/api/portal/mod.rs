//! The developer portal over HTTP, as a browser uses it (cookies kept, forms posted with
//! their CSRF token): signing up and in, applications and their keys, and every refusal.
//! Each further area of the portal has its tests in a file of its own beside this one.

use reqwest::{redirect::Policy, Client, StatusCode};
use serde_json::Value;

use crate::helpers::{binary_path, TestApp};

mod accounts;
mod admin;
mod usage;
mod webhooks;

/// A browser on the portal: keeps cookies, does not follow redirects (tests look at them).
struct Visitor {
    http: Client,
    base: String,
}

/// What a page answered.
struct Page {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl Page {
    /// The CSRF token of the page's forms.
    fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("a form") + 19;
        self.body[at..].split('"').next().unwrap().to_string()
    }
}

impl Visitor {
    fn new(app: &TestApp) -> Self {
        Self {
            http: Client::builder()
                .cookie_store(true)
                .redirect(Policy::none())
                .build()
                .unwrap(),
            base: app.portal.clone(),
        }
    }

    async fn answer(r: reqwest::Response) -> Page {
        Page {
            status: r.status(),
            location: r
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_string()),
            body: r.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Page {
        Self::answer(
            self.http
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        Self::answer(r).await
    }

    /// Posts `form` with the CSRF token of the page at `from`.
    async fn submit(&self, from: &str, path: &str, form: &[(&str, &str)]) -> Page {
        let csrf = self.get(from).await.csrf();
        let mut fields = form.to_vec();
        fields.push(("csrf", &csrf));
        self.post(path, &fields).await
    }

    async fn sign_up(&self, email: &str, password: &str) -> Page {
        self.submit(
            "/signup",
            "/signup",
            &[("email", email), ("password", password)],
        )
        .await
    }

    async fn sign_in(&self, email: &str, password: &str) -> Page {
        self.submit(
            "/login",
            "/login",
            &[("email", email), ("password", password)],
        )
        .await
    }
}

async fn with_signup() -> TestApp {
    TestApp::builder()
        .settings(|s| s.portal.signup = true)
        .spawn()
        .await
}

const PASSWORD: &str = "correct horse battery";

/// The new API key an application's page shows once.
fn shown_key(page: &Page) -> String {
    let at = page.body.find("<code id=\"new-key\">").expect("a new key") + 19;
    page.body[at..].split('<').next().unwrap().to_string()
}

#[tokio::test]
async fn a_developer_signs_up_makes_an_application_and_its_key_works_on_the_api() {
    let app = with_signup().await;
    let dev = Visitor::new(&app);
    // Signed out, the portal asks to sign in.
    assert_eq!(dev.get("/apps").await.location.as_deref(), Some("/login"));
    let page = dev.get("/login").await;
    assert!(page.body.contains("Create an account"), "{}", page.body);

    let signed = dev.sign_up("Ada@Example.com", PASSWORD).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    assert_eq!(signed.location.as_deref(), Some("/apps"));
    let apps = dev.get("/apps").await;
    assert!(
        apps.body.contains("ada@example.com"),
        "signed in as the address"
    );
    assert!(apps.body.contains("No application yet"));

    // An application: its page shows the first key once.
    let made = dev
        .submit(
            "/apps",
            "/apps",
            &[("name", "Invoices"), ("description", "")],
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let key = shown_key(&made);
    let id_at = made.body.find("<dd><code>").unwrap() + 10;
    let app_id = made.body[id_at..].split('<').next().unwrap().to_string();
    let r = app.with_key(&key).get("/v1/accounts").await;
    assert_eq!(r.status(), 200, "the key works on the API");
    let again = dev.get(&format!("/apps/{app_id}")).await;
    assert!(!again.body.contains(&key), "a key is shown only once");
    assert!(dev.get("/apps").await.body.contains("Invoices"));

    // A second key, then the first revoked: the API refuses it at once.
    let second = dev
        .submit(
            &format!("/apps/{app_id}"),
            &format!("/apps/{app_id}/keys"),
            &[],
        )
        .await;
    let second = shown_key(&second);
    let key_id = key.split('.').next().unwrap();
    let revoked = dev
        .submit(
            &format!("/apps/{app_id}"),
            &format!("/apps/{app_id}/keys/{key_id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(app.with_key(&key).get("/v1/accounts").await.status(), 401);
    assert_eq!(
        app.with_key(&second).get("/v1/accounts").await.status(),
        200
    );
    // The management API sees the same application.
    let listed: Value = app.with_key(&second).get_json("/v1/accounts").await;
    assert_eq!(listed["count"], 0);

    // Signing out ends the session.
    let out = dev.submit("/apps", "/logout", &[]).await;
    assert_eq!(out.location.as_deref(), Some("/login"));
    assert_eq!(dev.get("/apps").await.location.as_deref(), Some("/login"));
    // The same address cannot sign up twice; signing in works.
    let other = Visitor::new(&app);
    assert_eq!(other.sign_up("ada@example.com", PASSWORD).await.status, 409);
    assert_eq!(other.sign_in("ADA@example.com", PASSWORD).await.status, 303);
}

#[tokio::test]
async fn wrong_passwords_are_refused_then_throttled_and_forms_need_their_token() {
    let app = with_signup().await;
    let dev = Visitor::new(&app);
    dev.sign_up("bob@example.com", PASSWORD).await;
    let guesser = Visitor::new(&app);
    let wrong = guesser.sign_in("bob@example.com", "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("do not match"), "{}", wrong.body);
    // An unknown address answers the same.
    let unknown = guesser
        .sign_in("nobody@example.com", "not the password")
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(unknown.body.contains("do not match"));
    // Five attempts per account, then a wait (the right password too, for now).
    for _ in 0..4 {
        guesser.sign_in("bob@example.com", "still wrong").await;
    }
    let throttled = guesser.sign_in("bob@example.com", PASSWORD).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        throttled.body.contains("try again in"),
        "{}",
        throttled.body
    );

    // No CSRF token, or another: refused, signed in or not.
    let bare = Visitor::new(&app);
    bare.get("/login").await;
    let r = bare
        .post(
            "/login",
            &[("email", "bob@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = dev
        .post("/apps", &[("name", "x"), ("csrf", "forged")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(dev.get("/apps").await.body.contains("No application yet"));
    // Bad input is a page saying what is wrong.
    let r = dev.submit("/apps", "/apps", &[("name", "  ")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("name"), "{}", r.body);
    let short = Visitor::new(&app)
        .sign_up("carol@example.com", "short")
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn another_developers_application_is_not_found_and_a_session_ends() {
    let app = with_signup().await;
    let ada = Visitor::new(&app);
    ada.sign_up("ada@example.com", PASSWORD).await;
    let made = ada.submit("/apps", "/apps", &[("name", "Ada's")]).await;
    let id_at = made.body.find("<dd><code>").unwrap() + 10;
    let ada_app = made.body[id_at..].split('<').next().unwrap().to_string();
    let bob = Visitor::new(&app);
    bob.sign_up("bob@example.com", PASSWORD).await;
    assert_eq!(bob.get(&format!("/apps/{ada_app}")).await.status, 404);
    let r = bob
        .submit("/apps", &format!("/apps/{ada_app}/keys"), &[])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!bob.get("/apps").await.body.contains("Ada's"));
    assert_eq!(bob.get("/nowhere").await.status, 404);

    // A session unused past its idle time is over.
    sqlx::query("UPDATE portal_sessions SET expires_at = now() - interval '1 second'")
        .execute(&app.db().await)
        .await
        .unwrap();
    let r = ada.get("/apps").await;
    assert_eq!(r.location.as_deref(), Some("/login?expired=1"));
    assert!(ada
        .get("/login?expired=1")
        .await
        .body
        .contains("session ended"));
}

#[tokio::test]
async fn without_sign_up_an_admin_gives_developers_their_password() {
    let app = TestApp::spawn().await;
    let visitor = Visitor::new(&app);
    assert_eq!(visitor.get("/signup").await.status, 404);
    assert!(visitor
        .get("/login")
        .await
        .body
        .contains("made by the appliance"));
    let out = std::process::Command::new(binary_path("cloudbridge-api"))
        .args([
            "admin",
            "reset-password",
            "--email",
            "Dee@Example.com",
            "--admin",
        ])
        .env("DATABASE_URL", app.settings().database.url.expose())
        .env("REDIS_URL", app.settings().redis.url.expose())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let password = stdout.lines().last().unwrap();
    let signed = visitor.sign_in("dee@example.com", password).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    let account = visitor.get("/account").await;
    assert!(account.body.contains("appliance admin"));
    // Changing it: the current one is asked for, and the new one works.
    let r = visitor
        .submit(
            "/account",
            "/account/password",
            &[("current", "nope"), ("password", "a new long password")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = visitor
        .submit(
            "/account",
            "/account/password",
            &[("current", password), ("password", "a new long password")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Password changed"));
    let fresh = Visitor::new(&app);
    assert_eq!(fresh.sign_in("dee@example.com", password).await.status, 401);
    assert_eq!(
        fresh
            .sign_in("dee@example.com", "a new long password")
            .await
            .status,
        303
    );
}

#[tokio::test]
async fn every_portal_page_is_hardened() {
    let app = TestApp::spawn().await;
    let r = reqwest::get(format!("{}/login", app.portal)).await.unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        cookie.contains("httponly") && cookie.contains("samesite=lax"),
        "{cookie}"
    );
    let css = reqwest::get(format!("{}/assets/portal.css", app.portal))
        .await
        .unwrap();
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
}

#[tokio::test]
async fn an_application_is_edited_and_deleted_under_the_management_apis_rules() {
    let app = with_signup().await;
    let dev = Visitor::new(&app);
    dev.sign_up("eve@example.com", PASSWORD).await;
    let made = dev.submit("/apps", "/apps", &[("name", "Reports")]).await;
    let key = shown_key(&made);
    let id_at = made.body.find("<dd><code>").unwrap() + 10;
    let id = made.body[id_at..].split('<').next().unwrap().to_string();
    let page = format!("/apps/{id}");

    // Settings: trusted domains are normalised as the API normalises them.
    let saved = dev
        .submit(
            &page,
            &page,
            &[
                ("name", "Reports 2"),
                ("description", "Monthly"),
                ("logo_url", ""),
                (
                    "trusted_domains",
                    "HTTPS://App.Example.com:443/\n\nhttp://127.0.0.1:8000",
                ),
                ("implicit_grant_enabled", "true"),
                ("active", "true"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(saved.body.contains("Settings saved"));
    assert!(
        saved
            .body
            .contains("https://app.example.com\nhttp://127.0.0.1:8000"),
        "{}",
        saved.body
    );
    assert!(saved.body.contains("Reports 2"));
    let bad = dev
        .submit(
            &page,
            &page,
            &[
                ("name", "Reports 2"),
                ("trusted_domains", "https://x.example/path"),
                ("active", "true"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("trusted_domains"), "{}", bad.body);

    // Redirect URIs: checked as the API checks them.
    let uris = format!("{page}/redirect_uris");
    let bad = dev
        .submit(
            &page,
            &uris,
            &[("redirect_uris", "http://app.example.com/cb")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("must use https"), "{}", bad.body);
    let good = dev
        .submit(
            &page,
            &uris,
            &[(
                "redirect_uris",
                "https://app.example.com/cb\nhttp://localhost:3000/cb",
            )],
        )
        .await;
    assert_eq!(good.status, StatusCode::OK);
    assert!(good.body.contains("Redirect URIs saved"));
    for uri in ["https://app.example.com/cb", "http://localhost:3000/cb"] {
        assert!(good.body.contains(uri), "{uri}");
    }

    // Deactivated, its key is refused; active again, accepted.
    dev.submit(&page, &page, &[("name", "Reports 2")]).await;
    assert_eq!(app.with_key(&key).get("/v1/accounts").await.status(), 401);
    dev.submit(&page, &page, &[("name", "Reports 2"), ("active", "true")])
        .await;
    assert_eq!(app.with_key(&key).get("/v1/accounts").await.status(), 200);

    // Deleting needs the name typed; then it and its keys are gone.
    let wrong = dev
        .submit(&page, &format!("{page}/delete"), &[("confirm", "Reports")])
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    let gone = dev
        .submit(
            &page,
            &format!("{page}/delete"),
            &[("confirm", "Reports 2")],
        )
        .await;
    assert_eq!(gone.location.as_deref(), Some("/apps"));
    assert_eq!(dev.get(&page).await.status, 404);
    assert_eq!(app.with_key(&key).get("/v1/accounts").await.status(), 401);
}

#[tokio::test]
async fn a_developer_key_made_in_the_portal_drives_the_management_api_until_revoked() {
    let app = with_signup().await;
    let dev = Visitor::new(&app);
    dev.sign_up("kim@example.com", PASSWORD).await;
    dev.submit("/apps", "/apps", &[("name", "Kim's app")]).await;
    let made = dev.submit("/account", "/account/keys", &[]).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let key = shown_key(&made);
    assert!(!dev.get("/account").await.body.contains(&key), "shown once");
    // The management API sees the portal's applications, and only this developer's.
    let listed = app
        .with_auth(format!("DeveloperKey {key}"))
        .get_json("/v1/applications")
        .await;
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["objects"][0]["name"], "Kim's app");
    // Revoked: refused at once.
    let at = made.body.find("/account/keys/").unwrap() + 14;
    let id = made.body[at..].split('/').next().unwrap().to_string();
    let other = Visitor::new(&app);
    other.sign_up("lee@example.com", PASSWORD).await;
    let theirs = other
        .submit("/account", &format!("/account/keys/{id}/revoke"), &[])
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "not another's key");
    let r = dev
        .submit("/account", &format!("/account/keys/{id}/revoke"), &[])
        .await;
    assert_eq!(r.location.as_deref(), Some("/account"));
    let r = app
        .with_auth(format!("DeveloperKey {key}"))
        .get("/v1/applications")
        .await;
    assert_eq!(r.status(), 401);
}
