//! Accounts cannot reach what only the appliance can: S3 endpoints, WebDAV URLs and SFTP
//! hosts on loopback, private or link-local addresses (in any IPv6 spelling) are refused
//! at import, at every connection and on every redirect, unless the operator allowed
//! their network (`network.account_allow`).

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use cloudbridge_shared::{crypto::Cipher, netguard::Policy, protocol::AccountRef};
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, loopback_networks, moto, public_only, rclone_webdav, Sshd, TestApp, SFTP_USER,
};

/// Spellings of a loopback or metadata host, with `port`.
fn private_hosts(port: u16) -> Vec<String> {
    vec![
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::127.0.0.1]:{port}"),
        format!("[::ffff:0:127.0.0.1]:{port}"),
        format!("[::ffff:127.0.0.1]:{port}"),
        "169.254.169.254:80".to_string(),
    ]
}

async fn refused_at_import(app: &TestApp, key: &str, body: &Value) {
    let r = app.with_key(key).post_json("/v1/accounts", body).await;
    let e = assert_error(r, 400, "invalid_parameters").await;
    assert!(
        e["message"].as_str().unwrap().contains("private"),
        "{body}: {e}"
    );
}

#[tokio::test]
async fn private_account_hosts_are_refused_at_import() {
    let s3 = moto().await;
    let dir = tempfile::tempdir().unwrap();
    let dav = rclone_webdav(dir.path()).await;
    let sshd = Sshd::start().await;
    let app = TestApp::builder().settings(public_only).spawn().await;
    let (_, key) = app.create_app("reach").await;
    let port = |endpoint: &str| endpoint.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    for host in private_hosts(port(&s3.endpoint)) {
        let body = json!({
            "service": "s3_compatible", "account": "s3", "token": "AKID", "token_secret": "s",
            "bucket": "bucket-one", "endpoint": format!("http://{host}"),
        });
        refused_at_import(&app, &key, &body).await;
    }
    for host in private_hosts(port(&dav.endpoint)) {
        let body = json!({
            "service": "webdav", "account": "dav", "url": format!("http://{host}/"),
            "token": "dav", "token_secret": "dav-password",
        });
        refused_at_import(&app, &key, &body).await;
    }
    let root = sshd.root("refused");
    for host in [
        "127.0.0.1",
        "localhost",
        "::127.0.0.1",
        "::ffff:0:127.0.0.1",
        "[::1]",
    ] {
        let mut body = sshd.password_account(&root);
        body["host"] = host.into();
        refused_at_import(&app, &key, &body).await;
    }
    let listed = app.with_key(&key).get_json("/v1/accounts").await;
    assert_eq!(listed["count"], 0, "{listed}");
}

/// An HTTP server on `addr` answering every request with a redirect to `to`, and counting.
async fn redirector(addr: &str, to: String) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let to = format!("{to}{}", uri.path());
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            (
                axum::http::StatusCode::TEMPORARY_REDIRECT,
                [(axum::http::header::LOCATION, to)],
            )
        }
    });
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

/// A WebDAV server on 127.0.0.1, and one on 127.0.0.2 (the operator's allowed network)
/// that redirects to it: following the redirect would reach a refused address.
#[tokio::test]
async fn redirects_to_private_addresses_are_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let dav = rclone_webdav(dir.path()).await;
    let (front, front_hits) = redirector("127.0.0.2:0", dav.endpoint.clone()).await;
    let (inner, inner_hits) = redirector("127.0.0.1:0", dav.endpoint.clone()).await;
    let app = TestApp::builder()
        .settings(|s| {
            public_only(s);
            s.network.account_allow = vec!["127.0.0.2/32".parse().unwrap()];
        })
        .spawn()
        .await;
    let (_, key) = app.create_app("redirects").await;
    // Straight to the inner server: refused before any request.
    let (front_to_inner, _) = redirector("127.0.0.2:0", inner.clone()).await;
    for url in [front.clone(), front_to_inner] {
        let body = json!({
            "service": "webdav", "account": "dav", "url": format!("{url}/"),
            "token": "dav", "token_secret": "dav-password",
        });
        let r = app.with_key(&key).post_json("/v1/accounts", &body).await;
        let status = r.status().as_u16();
        let answer: Value = r.json().await.unwrap();
        assert!(
            status >= 400 && answer["error_code"].is_string(),
            "{status} {answer}"
        );
    }
    assert!(
        front_hits.load(Ordering::SeqCst) > 0,
        "the allowed host was asked"
    );
    assert_eq!(
        inner_hits.load(Ordering::SeqCst),
        0,
        "a redirect was followed"
    );
    let listed = app.with_key(&key).get_json("/v1/accounts").await;
    assert_eq!(listed["count"], 0, "{listed}");
}

fn sealed(cipher: &Cipher, secrets: &Value) -> Option<String> {
    use base64::Engine;
    Some(
        base64::engine::general_purpose::STANDARD
            .encode(cloudbridge_connectors::seal_secrets(secrets, cipher)),
    )
}

/// Stored accounts whose hosts resolve to loopback: a process allowing loopback reaches
/// them; one that does not refuses at connection, whatever was checked at import (the
/// name may resolve elsewhere by now).
#[tokio::test]
async fn stored_accounts_on_private_hosts_fail_at_connection() {
    let s3 = moto().await;
    let dir = tempfile::tempdir().unwrap();
    let dav = rclone_webdav(dir.path()).await;
    let sshd = Sshd::start().await;
    let root = sshd.root("stored");
    let data = tempfile::tempdir().unwrap();
    let keys = cloudbridge_shared::config::SecretSettings {
        keys: cloudbridge_shared::Secret::new(Cipher::generate_key("t")),
    };
    let cipher = Arc::new(Cipher::from_settings(&keys).unwrap().unwrap());
    let by_name = |endpoint: &str| endpoint.replace("127.0.0.1", "localhost");
    let host_key = cloudbridge_connectors::sftp::host_key(
        "127.0.0.1",
        sshd.port,
        &cloudbridge_connectors::guard::Guard::new(Policy::new(&loopback_networks())).unwrap(),
    )
    .await
    .unwrap();
    let accounts = [
        AccountRef {
            id: 7001,
            application: String::new(),
            service: "s3_compatible".into(),
            config: json!({"bucket": "bucket-one", "endpoint": by_name(&s3.endpoint)}),
            sealed: sealed(
                &cipher,
                &json!({"access_key_id": "AKID", "secret_access_key": "s"}),
            ),
            ..Default::default()
        },
        AccountRef {
            id: 7002,
            application: String::new(),
            service: "webdav".into(),
            config: json!({"url": by_name(&dav.endpoint), "username": "dav"}),
            sealed: sealed(&cipher, &json!({"password": "dav-password"})),
            ..Default::default()
        },
        AccountRef {
            id: 7003,
            application: String::new(),
            service: "sftp".into(),
            config: json!({
                "host": "localhost", "port": sshd.port, "username": SFTP_USER, "root": root,
                "host_key": host_key,
            }),
            sealed: sealed(&cipher, &json!({"password": crate::helpers::SFTP_PASSWORD})),
            ..Default::default()
        },
    ];
    let context = |policy: Policy| {
        cloudbridge_connectors::Context::basic(
            data.path().to_path_buf(),
            Some(cipher.clone()),
            policy,
        )
        .unwrap()
    };
    let (allowed, strict) = (
        context(Policy::new(&loopback_networks())),
        context(Policy::public_only()),
    );
    for account in &accounts {
        let store = cloudbridge_connectors::open(&allowed, account).unwrap();
        store
            .validate()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", account.service));
        let refused = match cloudbridge_connectors::open(&strict, account) {
            Ok(store) => store.validate().await.unwrap_err(),
            Err(e) => e,
        };
        assert!(refused.status >= 400, "{}: {refused}", account.service);
    }
    // A presigned transfer to a loopback endpoint goes nowhere either.
    let plan = cloudbridge_shared::protocol::TransferPlan::Http {
        method: "GET".into(),
        url: format!("{}/bucket-one/x", s3.endpoint),
        headers: Vec::new(),
        staged: None,
    };
    let transfer = cloudbridge_connectors::transfer::Transfer {
        ctx: &strict,
        account: &accounts[0],
    };
    let e = transfer.open_download(&plan, None).await.err().unwrap();
    assert_eq!(
        (e.status, e.code.as_str()),
        (400, "invalid_parameters"),
        "{e}"
    );
}
