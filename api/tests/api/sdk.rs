//! The official Python SDK (`kloudless==2.0.1`) against a running Cloudbridge.

use std::path::PathBuf;

use serde_json::json;

use crate::helpers::{moto, rclone_webdav, Sshd, TestApp};

/// The interpreter with the SDK installed: `KLOUDLESS_SDK_PYTHON`, else the workspace venv.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("KLOUDLESS_SDK_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        venv.exists(),
        "no {}: run scripts/test.sh (it installs kloudless==2.0.1)",
        venv.display()
    );
    venv
}

/// Runs the SDK script against one account.
async fn walk(app: &TestApp, key: &str, id: i64, token: &str) {
    walk_at(&app.base, key, id, token, &[]).await;
}

/// Runs the SDK script against one account of the Cloudbridge at `base`, with `env` added
/// to the script's environment.
pub async fn walk_at(base: &str, key: &str, id: i64, token: &str, env: &[(&str, &str)]) {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/sdk/kloudless_sdk_compat.py");
    let output = tokio::process::Command::new(python())
        .arg(&script)
        .envs(env.iter().copied())
        .env("CLOUDBRIDGE_BASE_URL", base)
        .env("CLOUDBRIDGE_TOKEN", token)
        .env("CLOUDBRIDGE_API_KEY", key)
        .env("CLOUDBRIDGE_ACCOUNT_ID", id.to_string())
        .output()
        .await
        .expect("running the SDK script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "SDK script failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}

#[tokio::test]
async fn official_python_sdk_walks_local() {
    let app = TestApp::spawn().await;
    let (key, id, token) = app.account().await;
    walk(&app, &key, id, &token).await;
}

#[tokio::test]
async fn official_python_sdk_walks_s3() {
    let moto = moto().await;
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("sdk-s3").await;
    let body = json!({
        "service": "s3_compatible", "account": "sdk", "token": "AK", "token_secret": "SK",
        "bucket": "bucket-one", "endpoint": moto.endpoint,
    });
    let (id, token) = app.import(&key, &body).await;
    walk(&app, &key, id, &token).await;
}

#[tokio::test]
async fn official_python_sdk_walks_webdav() {
    let dir = tempfile::tempdir().unwrap();
    let dav = rclone_webdav(dir.path()).await;
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("sdk-dav").await;
    let body = json!({
        "service": "webdav", "account": "sdk", "url": dav.endpoint,
        "token": "dav", "token_secret": "dav-password",
    });
    let (id, token) = app.import(&key, &body).await;
    walk(&app, &key, id, &token).await;
}

#[tokio::test]
async fn official_python_sdk_walks_sftp() {
    let sshd = Sshd::start().await;
    let root = sshd.root("sdk");
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("sdk-sftp").await;
    let (id, token) = app.import(&key, &sshd.password_account(&root)).await;
    walk(&app, &key, id, &token).await;
}

/// Runs one step of the SDK's OAuth script; returns its JSON output.
async fn oauth_step(app: &TestApp, args: &[&str]) -> serde_json::Value {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/sdk/kloudless_sdk_oauth.py");
    let output = tokio::process::Command::new(python())
        .arg(&script)
        .args(args)
        .env("CLOUDBRIDGE_BASE_URL", &app.base)
        .output()
        .await
        .expect("running the SDK OAuth script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "SDK OAuth script failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test]
async fn official_python_sdk_connects_an_account_with_oauth() {
    use crate::connect::{allow_redirect, connectable, Browser, APP_REDIRECT};
    let connectable = connectable("gdrive").await;
    let app = &connectable.app;
    let (app_id, key) = app.create_app("sdk-oauth").await;
    allow_redirect(app, &app_id, false).await;

    // get_authorization_url → the user's browser → get_token_from_code → verify_token.
    let start = oauth_step(app, &["start", &app_id, APP_REDIRECT, "gdrive"]).await;
    let mut browser = Browser::new();
    let consent = browser
        .choose(start["url"].as_str().unwrap(), "gdrive")
        .await;
    let back = browser
        .submit(&consent, "decision", "allow", APP_REDIRECT)
        .await;
    let state = start["state"].as_str().unwrap();
    let done = oauth_step(
        app,
        &[
            "finish",
            &app_id,
            &key,
            state,
            APP_REDIRECT,
            back.url.as_str(),
        ],
    )
    .await;
    assert_eq!(done["service"], "gdrive", "{done}");
    assert_eq!(done["root_type"], "object_list", "{done}");
    assert_eq!(done["created"], "from-sdk", "{done}");
    // The token the SDK got is the account's, for this application only.
    let info = app
        .with_token(done["token"].as_str().unwrap())
        .get_json("/v1/oauth/token")
        .await;
    assert_eq!(info["client_id"], app_id);
    assert_eq!(info["account_id"], done["account_id"]);
}

/// The SDK on a service naming items by its own ids (Box): it builds every URL from the
/// ids answered, so native ids work for it as path ids do.
#[tokio::test]
async fn official_python_sdk_walks_box() {
    let fake = crate::boxcom::fake(|_| {}).await;
    let app = crate::boxcom::app_for(&fake).await;
    let (_, key) = app.create_app("sdk-box").await;
    let body = json!({"service": "box", "account": "sdk", "token": "box-access-token"});
    let (id, token) = app.import(&key, &body).await;
    walk(&app, &key, id, &token).await;
}

/// The SDK on Google Drive (native ids found by climbing parents).
#[tokio::test]
async fn official_python_sdk_walks_gdrive() {
    let mock = crate::gdrive::drive_mock().await;
    let app = crate::gdrive::app_with_drive(&mock.endpoint).await;
    let (_, key) = app.create_app("sdk-gdrive").await;
    let (id, token) = app
        .import(&key, &crate::gdrive::account("sdk@example.com"))
        .await;
    walk(&app, &key, id, &token).await;
}
