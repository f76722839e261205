//! The real Kloudless widgets, as Cloudbridge serves them from npm, in headless Chromium
//! (Debian's, driven by playwright-core; `testenv/node/browser/widgets.mjs`): an application's
//! page on its own loopback origin embeds them by URL alone, a user clicks through, and
//! what the page's callbacks receive is checked against the server. Screenshots of each
//! step are kept in `target/browser-artifacts/<test>/`.

use std::{path::PathBuf, process::Stdio, time::Duration};

use axum::{response::Html, routing::get, Router};
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    connect::{allow_redirect, connectable},
    helpers::{TestApp, STORAGE},
};

/// What the application's site serves at `/report.pdf`.
const REPORT: &str = "%PDF-1.4 a report";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// An application's own web site: `page` at `/` on a loopback port of its own (another
/// origin than the API's), and a file at `/report.pdf`. Returns the origin.
async fn host(page: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let router = Router::new()
        .route("/", get(move || async move { Html(page) }))
        .route("/report.pdf", get(|| async { REPORT }));
    tokio::spawn(async move { axum::serve(listener, router).await });
    origin
}

/// Runs one scenario of `widgets.mjs` with `params`; returns its result (panics with the
/// browser's own account of a failure).
async fn drive(test: &str, scenario: &str, params: Value) -> Value {
    run(test, "widgets.mjs", &[scenario], params).await
}

/// Runs `script` of `testenv/node/browser/` with `args` and `params`; returns its result.
async fn run(test: &str, script: &str, args: &[&str], params: Value) -> Value {
    let artifacts = repo().join("target/browser-artifacts").join(test);
    let _ = std::fs::remove_dir_all(&artifacts);
    let run = tokio::process::Command::new("node")
        .arg(repo().join("testenv/node/browser").join(script))
        .args(args)
        .current_dir(repo().join("testenv/node"))
        .env("BROWSER_PARAMS", params.to_string())
        .env("BROWSER_ARTIFACTS", &artifacts)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the browser scenario finishes")
        .expect("node runs (scripts/test.sh installs it, playwright-core and chromium)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| {
            panic!(
                "no result from the browser: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let result: Value = serde_json::from_str(line).unwrap();
    assert!(
        result.get("failure").is_none(),
        "{test}: {}\n(screenshots in {})",
        serde_json::to_string_pretty(&result).unwrap(),
        artifacts.display()
    );
    result
}

/// The page of an application embedding the Authenticator by URL.
fn authenticator_page(base: &str, app_id: &str, scope: &str) -> String {
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>An app</title></head><body>
<button id="connect">Connect an account</button>
<script src="{base}/widgets/authenticator/v1/authenticator.min.js"></script>
<script>
window.__results = [];
Kloudless.auth.authenticator(document.getElementById("connect"),
  {{ client_id: "{app_id}", scope: "{scope}" }},
  function (result) {{ window.__results.push(result); }});
</script></body></html>"#
    )
}

/// The page of an application embedding the File Picker by URL, with `options`; every
/// event the picker fires is kept in order.
fn picker_page(base: &str, options: &Value) -> String {
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>An app</title></head><body>
<button id="choose">Choose files</button>
<script src="{base}/widgets/file-picker/v2/loader.min.js"></script>
<script>
window.__results = [];
var picker = window.__picker = window.Kloudless.filePicker.picker({options});
["success", "error", "cancel", "selected", "addAccount"].forEach(function (name) {{
  picker.on(name, function (data) {{ window.__results.push({{ event: name, data: data }}); }});
}});
document.getElementById("choose").onclick = function () {{ picker.choose(); }};
</script></body></html>"#
    )
}

/// Adds `origin` to the application's trusted domains.
async fn trust(app: &TestApp, app_id: &str, origin: &str) {
    let r = app
        .dev_caller()
        .send_json(
            Method::PATCH,
            &format!("/v1/applications/{app_id}"),
            &json!({ "trusted_domains": [origin] }),
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn the_authenticator_connects_an_account_in_its_popup_and_reports_a_cancel() {
    let connectable = connectable("gdrive").await;
    let app = &connectable.app;
    let (app_id, key) = app.create_app("authenticator").await;
    allow_redirect(app, &app_id, true).await;
    let page = host(authenticator_page(&app.base, &app_id, "gdrive")).await;
    trust(app, &app_id, &page).await;

    let done = drive(
        "authenticator-connect",
        "authenticator",
        json!({ "page": page, "service": "gdrive" }),
    )
    .await;
    // The widget checked the state, verified the token and looked the account up.
    let result = &done["result"];
    let token = result["access_token"]
        .as_str()
        .expect("a token")
        .to_string();
    assert_eq!(result["token_type"], "Bearer");
    assert_eq!(result["account"]["service"], "gdrive", "{result}");
    let info = app.with_token(&token).get_json("/v1/oauth/token").await;
    assert_eq!(info["client_id"], app_id);
    assert_eq!(info["account_id"], result["account"]["id"]);
    assert_eq!(done["popupClosed"], true);
    let accounts = app.with_key(&key).get_json("/v1/accounts").await;
    assert_eq!(accounts["count"], 1);

    // The user cancels on Cloudbridge's page: the callback hears why.
    let cancelled = drive(
        "authenticator-cancel",
        "authenticator",
        json!({ "page": page, "service": "gdrive", "cancel": true }),
    )
    .await;
    assert_eq!(cancelled["result"]["error"], "access_denied", "{cancelled}");
    assert!(cancelled["result"].get("access_token").is_none());
}

/// A local account with `docs/report.txt` and `notes.txt`; returns its bearer token.
async fn files_to_pick(app: &TestApp, key: &str) -> (i64, String) {
    let (account, token) = app.import_local(key, "alice").await;
    let user = app.with_token(&token);
    let r = user
        .post_json(
            &format!("{STORAGE}/folders"),
            &json!({"name": "docs", "parent_id": "root"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let docs: Value = r.json().await.unwrap();
    let docs = docs["id"].as_str().unwrap();
    assert_eq!(
        user.upload(docs, "report.txt", "quarterly").await.status(),
        201
    );
    assert_eq!(
        user.upload("root", "notes.txt", "notes").await.status(),
        201
    );
    (account, token)
}

/// What the picker gave the page for `event`.
fn event<'a>(done: &'a Value, name: &str) -> &'a Value {
    done["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == name)
        .map(|e| &e["data"])
        .unwrap_or_else(|| panic!("no {name} event: {done}"))
}

#[tokio::test]
async fn the_file_picker_browses_selects_and_links_and_hands_tokens_only_to_trusted_pages() {
    let app = TestApp::spawn().await;
    let (app_id, key) = app.create_app("picker").await;
    let (account, token) = files_to_pick(&app, &key).await;
    let options = json!({
        "app_id": app_id, "tokens": [token], "retrieve_token": true,
        "link": true, "link_options": { "direct": true },
    });
    let trusted = host(picker_page(&app.base, &options)).await;
    trust(&app, &app_id, &trusted).await;

    let done = drive(
        "picker-trusted",
        "picker",
        json!({ "page": trusted, "open": ["docs"], "select": ["report.txt"], "until": "success" }),
    )
    .await;
    let picked = &event(&done, "success")[0];
    assert_eq!(picked["name"], "report.txt", "{done}");
    assert_eq!(picked["account"], account);
    assert_eq!(picked["type"], "file");
    assert_eq!(
        picked["bearer_token"]["key"], token,
        "a trusted page gets the token"
    );
    // The link the picker made serves the file.
    let link = picked["link"].as_str().expect("a link");
    let body = reqwest::get(link).await.unwrap().text().await.unwrap();
    assert_eq!(body, "quarterly");

    // The same page on an origin the application does not trust: no token.
    let untrusted = host(picker_page(&app.base, &options)).await;
    let done = drive(
        "picker-untrusted",
        "picker",
        json!({ "page": untrusted, "select": ["notes.txt"], "until": "success" }),
    )
    .await;
    let picked = &event(&done, "success")[0];
    assert_eq!(picked["name"], "notes.txt", "{done}");
    assert!(picked.get("bearer_token").is_none(), "{picked}");

    // Closing the picker tells the page.
    let done = drive(
        "picker-cancel",
        "picker",
        json!({ "page": untrusted, "cancel": true, "until": "cancel" }),
    )
    .await;
    event(&done, "cancel");
}

#[tokio::test]
async fn the_file_picker_connects_an_account_through_its_popup() {
    let connectable = connectable("gdrive").await;
    let app = &connectable.app;
    let (app_id, key) = app.create_app("picker-connect").await;
    allow_redirect(app, &app_id, true).await;
    let options = json!({ "app_id": app_id, "retrieve_token": true });
    let page = host(picker_page(&app.base, &options)).await;
    trust(app, &app_id, &page).await;

    let done = drive(
        "picker-connect",
        "picker",
        json!({
            "page": page,
            "connect": { "friendly": "Google Drive", "service": "gdrive" },
            "cancel": true,
            "until": "cancel",
        }),
    )
    .await;
    let added = event(&done, "addAccount");
    assert_eq!(added["service"], "gdrive", "{done}");
    let token = added["bearer_token"]["key"]
        .as_str()
        .expect("trusted: a token");
    let me = app.with_token(token).get_json("/v1/accounts/me").await;
    assert_eq!(me["id"], added["id"]);
    let accounts = app.with_key(&key).get_json("/v1/accounts").await;
    assert_eq!(accounts["count"], 1);
}

/// What `widgets.mjs` uploads as a file of `size` bytes.
fn test_bytes(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// The bytes of `name` in the upload location's folder.
async fn landed(app: &TestApp, location: &crate::drop::Location, name: &str) -> Vec<u8> {
    let user = app.with_token(&location.token);
    let list = user
        .get_json(&format!("{STORAGE}/folders/{}/contents", location.folder))
        .await;
    let file = list["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in the upload location: {list}"));
    let r = user
        .get(&format!(
            "{STORAGE}/files/{}/contents",
            file["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn the_file_picker_uploads_from_the_computer_in_chunks_into_the_upload_location() {
    let app = TestApp::builder()
        .settings(|s| s.widgets.drop_chunk_bytes = 64 * 1024)
        .spawn()
        .await;
    let location = crate::drop::location(&app).await;
    let options = json!({ "app_id": location.app_id, "computer": true, "multiselect": true });
    let page = host(picker_page(&app.base, &options)).await;

    // 3.5 chunks, and a file of one chunk.
    let (big, small) = (224 * 1024 + 100, 1000);
    let done = drive(
        "picker-computer",
        "computer",
        json!({ "page": page, "until": "success", "files": [
            { "name": "scan.bin", "size": big }, { "name": "memo.bin", "size": small },
        ]}),
    )
    .await;
    let uploaded = event(&done, "success").as_array().unwrap();
    let mut names: Vec<&str> = uploaded
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["memo.bin", "scan.bin"], "{done}");
    assert!(uploaded.iter().all(|f| f["account"] == location.account));
    assert_eq!(landed(&app, &location, "scan.bin").await, test_bytes(big));
    assert_eq!(landed(&app, &location, "memo.bin").await, test_bytes(small));
}

#[tokio::test]
async fn the_file_picker_copies_a_choice_to_the_upload_location() {
    let app = TestApp::spawn().await;
    let location = crate::drop::location(&app).await;
    let (account, token) = files_to_pick(&app, &location.api_key).await;
    let options = json!({
        "app_id": location.app_id, "tokens": [token], "copy_to_upload_location": "sync",
    });
    let page = host(picker_page(&app.base, &options)).await;
    let done = drive(
        "picker-copy",
        "picker",
        json!({ "page": page, "select": ["notes.txt"], "until": "success" }),
    )
    .await;
    // The page gets the copy, in the upload location's account; the original stays.
    let copy = &event(&done, "success")[0];
    assert_eq!(copy["name"], "notes.txt", "{done}");
    assert_eq!(copy["account"], location.account);
    assert_ne!(copy["account"], account);
    assert_eq!(landed(&app, &location, "notes.txt").await, b"notes");
    let root = app.with_token(&token).root_contents().await;
    assert!(root["objects"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["name"] == "notes.txt"));
}

#[tokio::test]
async fn the_file_picker_saves_a_file_from_the_app_into_a_folder_the_user_picks() {
    let app = TestApp::spawn().await;
    let (app_id, key) = app.create_app("saver").await;
    let (account, token) = files_to_pick(&app, &key).await;
    let options = json!({ "app_id": app_id, "tokens": [token], "flavor": "saver" });
    let page = host(picker_page(&app.base, &options)).await;
    let done = drive(
        "picker-saver",
        "picker",
        json!({
            "page": page,
            "save": [{ "url": format!("{page}/report.pdf"), "name": "report.pdf" }],
            "open": ["docs"],
            "until": "success",
        }),
    )
    .await;
    // The service fetched the file from the app's URL into the folder the user chose.
    let saved = &event(&done, "success")[0];
    assert_eq!(saved["name"], "report.pdf", "{done}");
    assert_eq!(saved["account"], account);
    let r = app
        .with_token(&token)
        .get(&format!(
            "{STORAGE}/files/{}/contents",
            saved["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(r.text().await.unwrap(), REPORT);
    let docs = app.with_token(&token).root_contents().await;
    let docs = docs["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "docs")
        .unwrap()["id"]
        .clone();
    assert_eq!(saved["parent"]["id"], docs, "{saved}");
}

#[tokio::test]
async fn the_file_picker_reports_a_failed_copy_to_the_page() {
    let app = TestApp::spawn().await;
    // No upload location: the copy the picker asks for fails.
    let (app_id, key) = app.create_app("no-location").await;
    let (_, token) = files_to_pick(&app, &key).await;
    let options = json!({
        "app_id": app_id, "tokens": [token], "copy_to_upload_location": "sync",
    });
    let page = host(picker_page(&app.base, &options)).await;
    let done = drive(
        "picker-error",
        "picker",
        json!({ "page": page, "select": ["notes.txt"], "until": "error" }),
    )
    .await;
    let failed = &event(&done, "error")[0];
    assert_eq!(failed["name"], "notes.txt", "{done}");
    // The server's own error, in the Kloudless format.
    let error = &failed["error"];
    assert!(
        error["status_code"].as_u64().is_some_and(|s| s >= 400),
        "{failed}"
    );
    assert!(
        error["error_code"].is_string() && error["id"].is_string(),
        "{failed}"
    );
}

#[tokio::test]
async fn the_file_picker_connects_a_webdav_account_through_the_credentials_form() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("minutes.txt"), "the minutes").unwrap();
    let dav = crate::helpers::rclone_webdav(dir.path()).await;
    let app = TestApp::spawn().await;
    let (app_id, key) = app.create_app("picker-dav").await;
    allow_redirect(&app, &app_id, true).await;
    let options = json!({ "app_id": app_id, "retrieve_token": true });
    let page = host(picker_page(&app.base, &options)).await;
    trust(&app, &app_id, &page).await;

    let form = json!({ "url": dav.endpoint, "token": "dav", "token_secret": "dav-password" });
    let done = drive(
        "picker-webdav",
        "picker",
        json!({
            "page": page,
            "connect": { "friendly": "WebDAV", "service": "webdav", "form": form },
            "select": ["minutes.txt"],
            "until": "success",
        }),
    )
    .await;
    let added = event(&done, "addAccount");
    assert_eq!(added["service"], "webdav", "{done}");
    // The new account browses at once: the file chosen from it is the server's.
    let picked = &event(&done, "success")[0];
    assert_eq!(picked["name"], "minutes.txt");
    assert_eq!(picked["account"], added["id"]);
    let token = picked["bearer_token"]["key"]
        .as_str()
        .expect("trusted: a token");
    let r = app
        .with_token(token)
        .get(&format!(
            "{STORAGE}/files/{}/contents",
            picked["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(r.text().await.unwrap(), "the minutes");
    let accounts = app.with_key(&key).get_json("/v1/accounts").await;
    assert_eq!(accounts["count"], 1);
}

/// The portal's phases in the browser (`portal.mjs`), its screenshots under
/// `target/browser-artifacts/portal/`.
async fn portal_phase(phase: &str, n: usize, params: &Value) -> Value {
    let done = run(
        &format!("portal/{n}-{phase}"),
        "portal.mjs",
        &[phase],
        params.clone(),
    )
    .await;
    // No serious or critical accessibility problem on any page (axe-core).
    assert_eq!(done["violations"], json!([]), "{phase}: {done}");
    done
}

#[tokio::test]
async fn a_developer_walks_the_portal_and_uses_its_key_with_the_python_sdk() {
    let app = TestApp::builder()
        .settings(|s| {
            s.portal.signup = true;
            // The portal's Connect link names the API's port (as deployed, a fixed one).
            s.api.bind = format!("127.0.0.1:{}", crate::helpers::free_port())
                .parse()
                .unwrap();
            crate::webhooks::quick(s);
            s.webhooks.retry_window_secs = 1;
            s.usage.flush_ms = 50;
        })
        .spawn()
        .await;
    let _ = std::fs::remove_dir_all(repo().join("target/browser-artifacts/portal"));
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("minutes.txt"), "the minutes").unwrap();
    let dav = crate::helpers::rclone_webdav(files.path()).await;
    let state = tempfile::tempdir().unwrap();
    let mut params = json!({
        "portal": app.portal,
        "email": "new@example.com",
        "other": "stranger@example.com",
        "password": "a long enough password",
        "state": state.path().join("cookies.json"),
        "redirect": format!("{}/", host(String::from("<title>Connected</title><main>Connected</main>")).await),
        "webdav": { "url": dav.endpoint, "token": "dav", "token_secret": "dav-password" },
    });
    let done = portal_phase("walk", 1, &params).await;
    // Signed out, the application's page sends the browser to sign in.
    assert!(
        done["signedOutLandsOn"]
            .as_str()
            .unwrap()
            .ends_with("/login"),
        "{done}"
    );
    // A form without its token is refused and changes nothing.
    assert_eq!(done["csrfStatus"], 403, "{done}");
    assert_eq!(done["csrfKeptName"], false, "{done}");
    // Another developer's application is not found.
    assert_eq!(done["strangerSees"], 404, "{done}");
    // Guessing a password is throttled after the per-account burst.
    assert!(done["throttled"].is_string(), "{done}");
    assert!(done["guesses"].as_u64().unwrap() <= 7, "{done}");
    // The account connected from the Accounts tab is listed there and by the API.
    let key = done["key"].as_str().unwrap();
    let accounts = app.with_key(key).get_json("/v1/accounts").await;
    assert_eq!(accounts["count"], 1, "{accounts}");
    let account = &accounts["objects"][0];
    assert_eq!(account["service"], "webdav");
    let shown = done["accountsShown"].as_str().unwrap();
    assert!(
        shown.contains(account["account"].as_str().unwrap()) && shown.contains("1 account"),
        "{shown}"
    );
    let account = account["id"].as_i64().unwrap();

    // The key copied off the page works with the official Python SDK.
    let script = r#"
import json, os, logging
import kloudless
logging.getLogger("kloudless").setLevel(logging.CRITICAL)
kloudless.configuration["base_url"] = os.environ["BASE"]
client = kloudless.Client(api_key=os.environ["KEY"])
made = client.post("accounts", json={"account": "sdk-user", "service": "local"})
listed = client.get("accounts")
print(json.dumps({"made": made.json(), "listed": listed.json()}))
"#;
    let out = tokio::process::Command::new(crate::sdk::python())
        .args(["-c", script])
        .env("BASE", &app.base)
        .env("KEY", key)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["made"]["service"], "local", "{seen}");
    assert_eq!(seen["listed"]["count"], 2, "{seen}");
    // The second key is the same application's.
    let second = done["second"].as_str().unwrap();
    let listed = app.with_key(second).get_json("/v1/accounts").await;
    assert_eq!(listed["count"], 2, "{listed}");

    // A webhook against a receiver of the application's own: its ping passes.
    let app_url = done["appUrl"].as_str().unwrap().to_string();
    let app_id = app_url.rsplit('/').next().unwrap();
    let receiver = crate::webhooks::receiver::Receiver::start(app_id, key).await;
    params["appUrl"] = json!(app_url);
    params["receiver"] = json!(receiver.url);
    params["account"] = json!(account);
    params["closed"] = json!(format!(
        "http://127.0.0.1:{}/hook",
        crate::helpers::free_port()
    ));
    // A URL nobody answers is shown failing its ping; the receiver's passes.
    let hooks = portal_phase("hooks", 2, &params).await;
    assert!(
        hooks["failed"].as_str().unwrap().contains("did not answer"),
        "{hooks}"
    );
    let passed = hooks["ping"].as_str().unwrap();
    assert!(
        passed.contains("passed") && passed.contains("200"),
        "{hooks}"
    );
    assert_eq!(receiver.pings().len(), 1);
    let sdk_account = seen["made"]["id"].as_i64().unwrap();
    let both = [account, sdk_account];
    // Its receiver fails until the notification of new events is dead...
    let db = app.db().await;
    sqlx::query(
        "INSERT INTO events (account_id, type, metadata)
         SELECT $1, 'add', jsonb_build_object('path', 'minutes-' || g || '.txt', 'kind', 'file')
           FROM generate_series(1, 3) g",
    )
    .bind(account)
    .execute(&db)
    .await
    .unwrap();
    let worker = cloudbridge_jobs::WorkerState::build(app.settings()).unwrap();
    receiver.fail_with(Some(500));
    for account in both {
        cloudbridge_shared::db::webhooks::notify(&mut db.acquire().await.unwrap(), account)
            .await
            .unwrap();
    }
    crate::webhooks::rounds_until(&worker, &db, &both, "dead").await;
    // ... and they are replayed from the log once the receiver is back: one, then all.
    receiver.fail_with(None);
    let replayed = portal_phase("replay", 3, &params).await;
    assert_eq!(replayed["dead"], 2, "{replayed}");
    assert!(
        replayed["replayed"].as_str().unwrap().contains("replayed"),
        "{replayed}"
    );
    assert!(
        replayed["all"]
            .as_str()
            .unwrap()
            .contains("1 dead delivery replayed"),
        "{replayed}"
    );
    crate::webhooks::rounds_until(&worker, &db, &both, "delivered").await;

    // The API's requests of the application are in its usage rollup (written in batches).
    let mut counted = 0;
    for _ in 0..100 {
        counted = sqlx::query_scalar::<_, i64>(
            "SELECT COALESCE(SUM(count), 0)::bigint FROM usage_daily
              WHERE application_id = $1 AND metric = 'requests'",
        )
        .bind(app_id)
        .fetch_one(&db)
        .await
        .unwrap();
        if counted >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(counted >= 3, "requests counted: {counted}");

    // The developer is made an appliance admin (as `admin reset-password --admin` does).
    sqlx::query("UPDATE developers SET admin = true WHERE email = 'new@example.com'")
        .execute(&db)
        .await
        .unwrap();
    params["invited"] = json!("invited@example.com");
    let last = portal_phase("last", 4, &params).await;
    assert!(
        last["log"].as_str().unwrap().contains("delivered"),
        "{last}"
    );
    assert_eq!(last["events"], 3, "{last}");
    // Usage is drawn: the requests chart has bars, its total counts the API's requests.
    assert!(last["charts"].as_u64().unwrap() >= 1, "{last}");
    assert!(last["requestBars"].as_u64().unwrap() >= 1, "{last}");
    assert_eq!(last["referenceMentions"], true, "{last}");
    // The invitation is a one-time link of this portal; the status page names each part.
    let invitation = last["invitation"].as_str().unwrap();
    assert!(
        invitation.starts_with(&format!("{}/reset/", app.portal)),
        "{last}"
    );
    let status = last["status"].as_str().unwrap();
    assert!(
        status.contains("PostgreSQL") && status.contains("Redis"),
        "{last}"
    );

    // The session ends at the server (as after the idle time): the kept cookies no longer
    // sign the browser in, and the page says why; signing in again, then out, works.
    sqlx::query("UPDATE portal_sessions SET expires_at = now() - interval '1 second'")
        .execute(&db)
        .await
        .unwrap();
    let back = portal_phase("return", 5, &params).await;
    assert!(
        back["landsOn"].as_str().unwrap().contains("/login"),
        "{back}"
    );
    assert!(
        back["says"].as_str().unwrap().contains("session ended"),
        "{back}"
    );
    assert!(
        back["afterSignOut"].as_str().unwrap().ends_with("/login"),
        "{back}"
    );
}
