//! The official Python SDK (`kloudless==2.0.1`) against a running Cloudbridge.

use std::path::PathBuf;

use serde_json::json;

use crate::helpers::{moto, rclone_webdav, Sshd, TestApp};

/// The interpreter with the SDK installed: `KLOUDLESS_SDK_PYTHON`, else the workspace venv.
fn python() -> PathBuf {
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
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/sdk/kloudless_sdk_compat.py");
    let output = tokio::process::Command::new(python())
        .arg(&script)
        .env("CLOUDBRIDGE_BASE_URL", &app.base)
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
