//! The appliance admin's pages: only an admin sees them; invitations and password resets
//! as one-time links (shown to the admin, or mailed through a local SMTP receiver);
//! disabling a developer; the system status; and the public API reference.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use cloudbridge_shared::{db::developers, secret::hash_password};
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

use super::{with_signup, Page, Visitor, PASSWORD};
use crate::helpers::{binary_path, free_port, Isolated, TestApp};

const ROOT: &str = "root@example.com";

/// Makes `email` an appliance admin with [`PASSWORD`] in `pool`, as the CLI does.
async fn make_admin(pool: &sqlx::PgPool, email: &str) {
    developers::set_password(pool, email, &hash_password(PASSWORD), true)
        .await
        .unwrap();
}

/// An admin signed in to `app`'s portal.
async fn admin(app: &TestApp) -> Visitor {
    make_admin(&app.db().await, ROOT).await;
    let visitor = Visitor::new(app);
    let signed = visitor.sign_in(ROOT, PASSWORD).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    visitor
}

/// The one-time link a page shows the admin, as a path of the portal.
fn shown_link(page: &Page) -> String {
    let at = page.body.find("<code id=\"new-link\">").expect("a link") + 19;
    let url = page.body[at..].split('<').next().unwrap();
    let path = &url[url.find("/reset/").expect("a reset link")..];
    path.to_string()
}

async fn developer_id(app: &TestApp, email: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM developers WHERE email = $1")
        .bind(email)
        .fetch_one(&app.db().await)
        .await
        .unwrap()
}

/// Chooses `password` through the link at `path`, in a browser of its own (the form's
/// token taken from the sign-in page, so that a used link's refusal is of the post itself).
async fn choose(base: &str, path: &str, password: &str) -> Page {
    let visitor = Visitor {
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base: base.to_string(),
    };
    visitor
        .submit("/login", path, &[("password", password)])
        .await
}

#[tokio::test]
async fn only_an_appliance_admin_sees_the_admin_pages() {
    let app = with_signup().await;
    let dev = Visitor::new(&app);
    dev.sign_up("dev@example.com", PASSWORD).await;
    for path in ["/admin", "/admin/developers", "/admin/status"] {
        assert_eq!(dev.get(path).await.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            Visitor::new(&app).get(path).await.status,
            StatusCode::NOT_FOUND,
            "{path} signed out"
        );
    }
    let r = dev
        .submit("/apps", "/admin/developers", &[("email", "x@example.com")])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!dev.get("/apps").await.body.contains("href=\"/admin\""));

    let root = admin(&app).await;
    assert_eq!(
        root.get("/admin").await.location.as_deref(),
        Some("/admin/developers")
    );
    let page = root.get("/admin/developers").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("dev@example.com"), "{}", page.body);
    assert!(page.body.contains("href=\"/admin\""), "the bar links it");
}

#[tokio::test]
async fn an_invited_developer_chooses_a_password_once_and_signs_in() {
    let app = TestApp::spawn().await;
    let root = admin(&app).await;
    let bad = root
        .submit(
            "/admin/developers",
            "/admin/developers",
            &[("email", "nope")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let invited = root
        .submit(
            "/admin/developers",
            "/admin/developers",
            &[("email", "New@Example.com")],
        )
        .await;
    assert_eq!(invited.status, StatusCode::OK, "{}", invited.body);
    assert!(invited.body.contains("new@example.com is invited"));
    let link = shown_link(&invited);
    let again = root
        .submit(
            "/admin/developers",
            "/admin/developers",
            &[("email", "new@example.com")],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    // Until the link is used there is no password to sign in with.
    let newcomer = Visitor::new(&app);
    assert_eq!(
        newcomer.sign_in("new@example.com", "").await.status,
        StatusCode::UNAUTHORIZED
    );
    let form = newcomer.get(&link).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("new@example.com"));
    let short = choose(&app.portal, &link, "short").await;
    assert_eq!(
        short.status,
        StatusCode::BAD_REQUEST,
        "checked like sign-up"
    );
    let set = choose(&app.portal, &link, "my own long password").await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
    assert_eq!(set.location.as_deref(), Some("/apps"));

    // Once only.
    let reused = choose(&app.portal, &link, "another long password").await;
    assert_eq!(reused.status, StatusCode::NOT_FOUND);
    assert!(reused.body.contains("cannot be used"), "{}", reused.body);
    assert_eq!(Visitor::new(&app).get(&link).await.status, 404);
    let signed = Visitor::new(&app)
        .sign_in("new@example.com", "my own long password")
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);

    // An expired link is refused; a newer link replaces an older one.
    let id = developer_id(&app, "new@example.com").await;
    let reset = format!("/admin/developers/{id}/reset");
    let old = shown_link(&root.submit("/admin/developers", &reset, &[]).await);
    let newer = shown_link(&root.submit("/admin/developers", &reset, &[]).await);
    assert_eq!(Visitor::new(&app).get(&old).await.status, 404, "replaced");
    sqlx::query("UPDATE developer_links SET expires_at = now() - interval '1 second'")
        .execute(&app.db().await)
        .await
        .unwrap();
    assert_eq!(Visitor::new(&app).get(&newer).await.status, 404);
    let expired = choose(&app.portal, &newer, "a third long password").await;
    assert_eq!(expired.status, StatusCode::NOT_FOUND);
    assert_eq!(
        Visitor::new(&app)
            .sign_in("new@example.com", "my own long password")
            .await
            .status,
        StatusCode::SEE_OTHER,
        "the password stays"
    );
}

#[tokio::test]
async fn a_disabled_developer_is_signed_out_and_its_developer_key_refused_until_enabled() {
    let app = with_signup().await;
    let dev = Visitor::new(&app);
    dev.sign_up("kim@example.com", PASSWORD).await;
    let made = dev.submit("/account", "/account/keys", &[]).await;
    let key = super::shown_key(&made);
    let management = app.with_auth(format!("DeveloperKey {key}"));
    assert_eq!(management.get("/v1/applications").await.status(), 200);
    let root = admin(&app).await;
    let kim = developer_id(&app, "kim@example.com").await;
    let me = developer_id(&app, ROOT).await;

    // Search by e-mail.
    let found = root.get("/admin/developers?q=KIM").await;
    assert!(found.body.contains(&format!("id=\"developer-{kim}\"")));
    assert!(!found.body.contains(&format!("id=\"developer-{me}\"")));

    let off = root
        .submit(
            "/admin/developers",
            &format!("/admin/developers/{kim}/disable"),
            &[],
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    assert!(off.body.contains("kim@example.com is disabled"));
    assert_eq!(
        dev.get("/apps").await.location.as_deref(),
        Some("/login?expired=1"),
        "the session ended"
    );
    assert_eq!(management.get("/v1/applications").await.status(), 401);
    assert_eq!(
        Visitor::new(&app)
            .sign_in("kim@example.com", PASSWORD)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // A reset link does not bring a disabled developer back.
    let link = shown_link(
        &root
            .submit(
                "/admin/developers",
                &format!("/admin/developers/{kim}/reset"),
                &[],
            )
            .await,
    );
    assert_eq!(Visitor::new(&app).get(&link).await.status, 404);

    // An admin cannot disable themselves.
    let own = root
        .submit(
            "/admin/developers",
            &format!("/admin/developers/{me}/disable"),
            &[],
        )
        .await;
    assert_eq!(own.status, StatusCode::BAD_REQUEST);
    assert_eq!(root.get("/admin/developers").await.status, StatusCode::OK);

    let on = root
        .submit(
            "/admin/developers",
            &format!("/admin/developers/{kim}/enable"),
            &[],
        )
        .await;
    assert_eq!(on.status, StatusCode::OK);
    assert_eq!(
        Visitor::new(&app)
            .sign_in("kim@example.com", PASSWORD)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(management.get("/v1/applications").await.status(), 200);
}

#[tokio::test]
async fn an_admin_issued_reset_sets_a_new_password_and_ends_every_session() {
    let app = with_signup().await;
    let dev = Visitor::new(&app);
    dev.sign_up("lee@example.com", PASSWORD).await;
    let root = admin(&app).await;
    let lee = developer_id(&app, "lee@example.com").await;
    let issued = root
        .submit(
            "/admin/developers",
            &format!("/admin/developers/{lee}/reset"),
            &[],
        )
        .await;
    assert!(issued.body.contains("Pass it on to them yourself"));
    let link = shown_link(&issued);
    // Issuing it changes nothing yet.
    assert_eq!(dev.get("/apps").await.status, StatusCode::OK);
    let set = choose(&app.portal, &link, "a brand new password").await;
    assert_eq!(set.status, StatusCode::SEE_OTHER);
    assert_eq!(
        dev.get("/apps").await.location.as_deref(),
        Some("/login?expired=1")
    );
    let fresh = Visitor::new(&app);
    assert_eq!(fresh.sign_in("lee@example.com", PASSWORD).await.status, 401);
    assert_eq!(
        fresh
            .sign_in("lee@example.com", "a brand new password")
            .await
            .status,
        StatusCode::SEE_OTHER
    );
}

/// The local SMTP receiver: requires AUTH as `user`, saves each mail in `folder`.
struct Receiver {
    child: std::process::Child,
    port: u16,
    folder: tempfile::TempDir,
}

impl Receiver {
    async fn start(user: &str, password: &str) -> Self {
        let python = std::env::var("KLOUDLESS_SDK_PYTHON").map_or_else(
            |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
            PathBuf::from,
        );
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testenv/smtp_receiver.py");
        let folder = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .arg(folder.path())
            .args([user, password])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let receiver = Self {
            child,
            port,
            folder,
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return receiver;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the SMTP receiver did not start (is aiosmtpd installed? scripts/test.sh)");
    }

    /// The mails received so far.
    fn mails(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.folder.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    /// Waits (10 s at most) until `n` mails have arrived.
    async fn wait_for(&self, n: usize) -> Vec<String> {
        for _ in 0..100 {
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{n} mails did not arrive; got {}", self.mails().len());
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The API binary on `iso`'s database, its portal on `portal_port` with mail through
/// `receiver`, logging at debug level into `log`.
fn api_with_mail(
    iso: &Isolated,
    portal_port: u16,
    receiver: &Receiver,
    log: &Path,
) -> crate::helpers::Proc {
    let out = std::fs::File::create(log).unwrap();
    let s = &iso.settings;
    let child = Command::new(binary_path("cloudbridge-api"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", s.database.url.expose())
        .env("REDIS_URL", s.redis.url.expose())
        .env("CLOUDBRIDGE_REDIS__PREFIX", &s.redis.prefix)
        .env("CLOUDBRIDGE_LOCAL__DATA_ROOT", &s.local.data_root)
        .env("CLOUDBRIDGE_SECRETS__KEYS", s.secrets.keys.expose())
        .env(
            "CLOUDBRIDGE_API__BIND",
            format!("127.0.0.1:{}", free_port()),
        )
        .env(
            "CLOUDBRIDGE_PORTAL__BIND",
            format!("127.0.0.1:{portal_port}"),
        )
        .env(
            "CLOUDBRIDGE_PORTAL__PUBLIC_URL",
            format!("http://127.0.0.1:{portal_port}"),
        )
        .env("CLOUDBRIDGE_SMTP__HOST", "127.0.0.1")
        .env("CLOUDBRIDGE_SMTP__PORT", receiver.port.to_string())
        .env("CLOUDBRIDGE_SMTP__TLS", "none")
        .env("CLOUDBRIDGE_SMTP__USER", "portal")
        .env("CLOUDBRIDGE_SMTP__PASSWORD", SMTP_PASSWORD)
        .env("CLOUDBRIDGE_SMTP__FROM", "Cloudbridge <portal@example.com>")
        .env("CLOUDBRIDGE_LOG__FILTER", "debug")
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    crate::helpers::Proc { child }
}

const SMTP_PASSWORD: &str = "smtp-Secret-4711";

#[tokio::test]
async fn a_reset_by_mail_reaches_the_mail_server_and_no_secret_is_logged() {
    let receiver = Receiver::start("portal", SMTP_PASSWORD).await;
    let iso = Isolated::new().await;
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("api.log");
    let portal_port = free_port();
    let mut api = api_with_mail(&iso, portal_port, &receiver, &log);
    let base = format!("http://127.0.0.1:{portal_port}");
    let browser = || Visitor {
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base: base.clone(),
    };
    let visitor = browser();
    let mut login = None;
    for _ in 0..100 {
        if let Ok(r) = visitor.http.get(format!("{base}/login")).send().await {
            login = Some(r.text().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let login = login.expect("the portal started");
    assert!(login.contains("href=\"/forgot\""), "offered with mail");
    let pool = sqlx::PgPool::connect(iso.settings.database.url.expose())
        .await
        .unwrap();
    make_admin(&pool, "ann@example.com").await;

    // The same answer whether or not the address has an account; only it gets mail.
    let unknown = visitor
        .submit("/forgot", "/forgot", &[("email", "nobody@example.com")])
        .await;
    let known = visitor
        .submit("/forgot", "/forgot", &[("email", "Ann@example.com")])
        .await;
    assert_eq!(
        (unknown.status, known.status),
        (StatusCode::OK, StatusCode::OK)
    );
    let said = "If an account has this address";
    assert!(unknown.body.contains(said) && known.body.contains(said));
    let mails = receiver.wait_for(1).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    // Quoted-printable soft line breaks, if the mail has any, are not part of the text.
    let mail = &mails[0].replace("=\r\n", "");
    assert!(mail.starts_with("X-Authenticated-As: portal"), "{mail}");
    assert!(mail.contains("To: ann@example.com"), "{mail}");
    let prefix = format!("{base}/reset/");
    let at = mail.find(&prefix).expect("the mail holds the link") + prefix.len();
    let token: String = mail[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert!(token.len() >= 40, "{token}");

    let link = format!("/reset/{token}");
    assert_eq!(browser().get(&link).await.status, StatusCode::OK, "{mail}");
    let set = choose(&base, &link, "chosen after a mail").await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
    assert_eq!(choose(&base, &link, "once more, no").await.status, 404);
    let fresh = browser();
    assert_eq!(
        fresh
            .sign_in("ann@example.com", "chosen after a mail")
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    // Throttled like signing in (five attempts per address, the sign-in included).
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r = visitor
            .submit("/forgot", "/forgot", &[("email", "ann@example.com")])
            .await;
        statuses.push(r.status);
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );

    api.terminate();
    api.exited().await;
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("portal link mailed"), "{logged}");
    assert!(
        !logged.contains(SMTP_PASSWORD),
        "the SMTP password is logged"
    );
    assert!(!logged.contains(&token), "the link's token is logged");
}

#[tokio::test]
async fn the_status_page_shows_postgres_redis_queues_workers_and_the_scheduler() {
    let app = TestApp::builder()
        .settings(|s| {
            s.portal.grafana_url = "http://grafana.example.com:3000".into();
            s.scheduler.sample_ms = 200;
        })
        .spawn()
        .await;
    let root = admin(&app).await;
    let page = root.get("/admin/status").await;
    assert_eq!(page.status, StatusCode::OK);
    let row = |page: &Page, id: &str| {
        let at = page.body.find(&format!("id=\"{id}\"")).expect(id);
        page.body[at..].split("</tr>").next().unwrap().to_string()
    };
    assert!(row(&page, "status-postgres").contains("reachable"));
    assert!(row(&page, "status-redis").contains("reachable"));
    assert!(row(&page, "status-scheduler").contains("not seen"));
    for queue in ["requests", "events", "maintenance"] {
        assert!(page.body.contains(&format!("<td>{queue}</td>")), "{queue}");
    }
    assert!(page
        .body
        .contains("href=\"http://grafana.example.com:3000\""));
    assert!(!page.body.contains("Prometheus</a>"), "not configured");

    let stop = CancellationToken::new();
    let scheduler = tokio::spawn(cloudbridge_scheduler::run(
        app.settings().clone(),
        stop.clone(),
    ));
    let mut seen = None;
    for _ in 0..100 {
        let page = root.get("/admin/status").await;
        if row(&page, "status-scheduler").contains("alive")
            && page.body.contains("class=\"workers\"")
        {
            seen = Some(page);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    let _ = scheduler.await;
    let page = seen.expect("the scheduler and the test's worker are seen");
    let workers = &page.body[page.body.find("class=\"workers\"").unwrap()..];
    assert!(workers.contains("requests"), "{workers}");
}

#[tokio::test]
async fn the_reference_lists_the_routes_with_requests_and_example_answers() {
    let app = TestApp::spawn().await;
    let login = Visitor::new(&app).get("/login").await;
    assert!(login.body.contains("href=\"/reference\""));
    let page = Visitor::new(&app).get("/reference").await;
    assert_eq!(page.status, StatusCode::OK);
    let at = page
        .body
        .find("<code>/v1/accounts/{account_id}/storage/folders/{folder_id}/contents</code>")
        .expect("the folder listing");
    let op = &page.body[at..page.body[at..].find("</article>").unwrap() + at];
    assert!(op.contains("List a folder"), "{op}");
    assert!(
        op.contains("curl -X GET &#34;$BASE_URL/v1/accounts/$ACCOUNT_ID/storage/folders/$FOLDER_ID/contents&#34;")
            || op.contains("curl -X GET &quot;$BASE_URL/v1/accounts/$ACCOUNT_ID/storage/folders/$FOLDER_ID/contents&quot;"),
        "{op}"
    );
    assert!(op.contains("Authorization: APIKey $API_KEY"), "{op}");
    assert!(
        op.contains("object_list") && op.contains("page_size"),
        "{op}"
    );
    for tag in ["management", "accounts", "storage", "events", "webhooks"] {
        assert!(page.body.contains(&format!("id=\"tag-{tag}\"")), "{tag}");
    }
    // A JSON request body is shown as curl sends it.
    assert!(page.body.contains("Content-Type: application/json"));
}
