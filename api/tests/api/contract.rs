//! The contract checked by a tool: schemathesis (PyPI, in the test venv) generates requests
//! for every operation of the OpenAPI document the running API serves, with the
//! credentials each one names (`tests/contract/schemathesis.toml`, fixed seed), and
//! fails on any 5xx but 501, an undocumented status or content type, a body that breaks
//! its schema, an error outside the Kloudless format, or a route that ignores bad
//! credentials.

use std::{path::PathBuf, process::Command};

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_nothing_wrong() {
    let app = TestApp::spawn().await;
    // Account 1 is the one the run acts as; account 2 is what it may delete or change.
    let (key, id, token) = app.account().await;
    assert_eq!(id, 1);
    let (second, _) = app.import_local(&key, "second").await;
    assert_eq!(second, 2);
    let r = app
        .with_token(&token)
        .upload("root", "contract.txt", "the contract")
        .await;
    assert_eq!(r.status(), 201);

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let developer = app
        .settings()
        .bootstrap_developer_key
        .as_ref()
        .unwrap()
        .expose()
        .to_string();
    let report = tempfile::tempdir().unwrap();
    let base = app.base.clone();
    let run = tokio::task::spawn_blocking(move || {
        Command::new(root.join(".venv/bin/schemathesis"))
            .current_dir(report.path())
            .env("CB_DEVELOPER_KEY", developer)
            .env("CB_API_KEY", key)
            .env("CB_TOKEN", token)
            .arg("--config-file")
            .arg(root.join("tests/contract/schemathesis.toml"))
            .args(["run", &format!("{base}/v1/openapi.json")])
            .args(["--phases", "examples,coverage,fuzzing,stateful"])
            .args(["--request-timeout", "30"])
            .output()
            .expect("schemathesis (scripts/test.sh installs it into .venv)")
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    let summary = out.find("SUMMARY").map_or(&out[..], |at| &out[at..]);
    println!("{summary}");
    assert!(
        run.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(out.contains(" passed"), "{out}");
}
