//! The official Python SDK (`kloudless==2.0.1`) against a running Cloudbridge.

use std::path::PathBuf;

use crate::helpers::TestApp;

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

#[tokio::test]
async fn official_python_sdk_walks_the_storage_api() {
    let app = TestApp::spawn().await;
    let (key, id, token) = app.account().await;
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/sdk/kloudless_sdk_compat.py");
    let output = tokio::process::Command::new(python())
        .arg(&script)
        .env("CLOUDBRIDGE_BASE_URL", &app.base)
        .env("CLOUDBRIDGE_TOKEN", &token)
        .env("CLOUDBRIDGE_API_KEY", &key)
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
}
