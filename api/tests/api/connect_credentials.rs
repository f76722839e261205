//! The hosted connect page for the services connected by credentials (S3, S3 compatible
//! storage, WebDAV, SFTP), driven like a browser against real servers (rclone's WebDAV,
//! moto's S3, OpenSSH): the form, the same checks as import (the service itself, the
//! account address policy), and the flow ending as an OAuth connect ends.

use reqwest::{Method, StatusCode};

use crate::{
    connect::{
        allow_redirect, authorize_url, finish_and_use, param, Browser, Landing, APP_REDIRECT,
    },
    helpers::{
        moto, public_only, rclone_webdav, ssh_keygen, Sshd, TestApp, SFTP_PASSWORD, SFTP_USER,
    },
};

/// The credentials form's Connect button.
const CONNECT: (&str, &str) = ("action", "connect");

/// How many accounts the application has.
async fn accounts(app: &TestApp, key: &str) -> i64 {
    app.with_key(key).get_json("/v1/accounts").await["count"]
        .as_i64()
        .unwrap()
}

/// A form page refusing what was sent: status 400, the form again, the reason shown.
fn refused(page: &Landing, why: &str) {
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("id=\"connect\""), "{}", page.body);
    assert!(page.body.contains("id=\"error\""), "{}", page.body);
    assert!(page.body.contains(why), "{why}: {}", page.body);
}

#[tokio::test]
async fn webdav_connects_with_its_credentials_in_the_code_flow() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello").unwrap();
    let dav = rclone_webdav(dir.path()).await;
    let app = TestApp::spawn().await;
    let (app_id, key) = app.create_app("dav").await;
    allow_redirect(&app, &app_id, false).await;

    // A scope naming WebDAV alone opens its form at once.
    let mut browser = Browser::new();
    let url = authorize_url(
        &app,
        &app_id,
        "webdav:normal.storage webdav:normal.basic",
        "w1",
    );
    let page = browser.go(Method::GET, &url, None, APP_REDIRECT).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for field in ["url", "token", "token_secret", "root"] {
        assert!(
            page.body
                .contains(&format!("id=\"{field}\" name=\"{field}\"")),
            "{field}: {}",
            page.body
        );
        assert!(page.body.contains(&format!("<label for=\"{field}\">")));
    }

    // A wrong password: the form again, saying so, what was typed kept but the secret.
    let wrong = [
        ("url", dav.endpoint.as_str()),
        ("token", "dav"),
        ("token_secret", "wrong-password"),
    ];
    let again = browser
        .fill_and_submit(&page, &wrong, CONNECT, APP_REDIRECT)
        .await;
    refused(&again, "The service refused the account&#39;s credentials.");
    assert!(again.body.contains(&format!("value=\"{}\"", dav.endpoint)));
    assert!(!again.body.contains("wrong-password"), "{}", again.body);
    assert_eq!(accounts(&app, &key).await, 0);

    // The right one, from the page shown again: back to the application with a code.
    let right = [
        ("url", dav.endpoint.as_str()),
        ("token", "dav"),
        ("token_secret", "dav-password"),
    ];
    let back = browser
        .fill_and_submit(&again, &right, CONNECT, APP_REDIRECT)
        .await;
    assert!(
        back.url.as_str().starts_with(APP_REDIRECT),
        "{} {}",
        back.url,
        back.body
    );
    assert_eq!(param(&back.url, "state").as_deref(), Some("w1"));
    assert_eq!(param(&back.url, "error"), None, "{}", back.url);
    let code = param(&back.url, "code").expect("a code");
    let (token, account) = finish_and_use(&app, &app_id, &key, &code).await;
    let me = app.with_token(&token).get_json("/v1/accounts/me").await;
    assert_eq!(me["id"], account);
    assert_eq!(me["service"], "webdav");
    let at = dav.endpoint.strip_prefix("http://").unwrap();
    assert_eq!(me["account"], format!("dav@{at}"), "{me}");
    let root = app.with_token(&token).root_contents().await;
    let names: Vec<&str> = root["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(names, vec!["hello.txt"], "{root}");

    // The flow ended: the form cannot be sent a second time.
    let replay = browser
        .fill_and_submit(&again, &right, CONNECT, APP_REDIRECT)
        .await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(replay.body.contains("expired"), "{}", replay.body);
    // Connecting the same login again updates the same account.
    let mut browser = Browser::new();
    let page = browser.go(Method::GET, &url, None, APP_REDIRECT).await;
    let back = browser
        .fill_and_submit(&page, &right, CONNECT, APP_REDIRECT)
        .await;
    let code = param(&back.url, "code").expect("a code");
    let (_, again) = finish_and_use(&app, &app_id, &key, &code).await;
    assert_eq!(again, account);
    assert_eq!(accounts(&app, &key).await, 1);
}

#[tokio::test]
async fn s3_connects_from_the_chooser_in_the_popup_flow() {
    let s3 = moto().await;
    let app = TestApp::spawn().await;
    let (app_id, key) = app.create_app("widget").await;
    allow_redirect(&app, &app_id, true).await;
    let url = format!(
        "{}/v1/oauth/?client_id={app_id}&response_type=token&redirect_uri=urn:ietf:wg:oauth:2.0:oob\
         &origin=http://127.0.0.1:9&state=p1&request_id=r1&scope=any&referrer=picker",
        app.base
    );
    let mut browser = Browser::new();
    // `any` offers every service, the credentials ones too.
    let chooser = browser.go(Method::GET, &url, None, APP_REDIRECT).await;
    assert_eq!(chooser.status, 200, "{}", chooser.body);
    for service in ["s3", "s3_compatible", "webdav", "sftp", "gdrive", "caldav"] {
        assert!(
            chooser
                .body
                .contains(&format!("name=\"service\" value=\"{service}\"")),
            "{service}: {}",
            chooser.body
        );
    }
    // The public list has what the page offers (all APIs asked for), and nothing it
    // cannot connect.
    let listed = app
        .anonymous()
        .get_json(&format!(
            "/v1/public/services?apis=storage,calendar&app_id={app_id}"
        ))
        .await;
    let listed: Vec<&str> = listed["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert!(!listed.contains(&"local"), "{listed:?}");
    let offered = chooser.body.matches("name=\"service\"").count();
    assert_eq!(listed.len(), offered, "{listed:?}");
    for service in &listed {
        let button = format!("name=\"service\" value=\"{service}\"");
        assert!(chooser.body.contains(&button), "{service}");
    }
    let page = browser
        .submit(&chooser, "service", "s3_compatible", APP_REDIRECT)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let typed = [
        ("endpoint", s3.endpoint.as_str()),
        ("token", "AKIDEXAMPLE"),
        ("token_secret", "s3-secret-value-9b1c"),
        ("bucket", "bucket-one"),
        ("region", "us-east-1"),
    ];
    let done = browser
        .fill_and_submit(&page, &typed, CONNECT, APP_REDIRECT)
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(!done.body.contains("s3-secret-value-9b1c"));
    // The page posts the widgets' envelope to the opener at the application's origin.
    assert!(
        done.body.contains(", \"http://127.0.0.1:9\")"),
        "{}",
        done.body
    );
    let envelope = crate::connect::posted_message(&done.body);
    assert_eq!(envelope["type"], "authentication");
    assert_eq!(envelope["id"], "r1");
    let data = &envelope["data"];
    assert_eq!(data["token_type"], "Bearer");
    assert_eq!(data["state"], "p1");
    let token = data["access_token"].as_str().unwrap();
    let account = crate::connect::verify(&app, token, &app_id).await;
    assert_eq!(data["account_id"], account);
    let me = app.with_token(token).get_json("/v1/accounts/me").await;
    assert_eq!(me["service"], "s3_compatible");
    let listing = app.with_token(token).root_contents().await;
    assert_eq!(listing["type"], "object_list", "{listing}");
    assert_eq!(accounts(&app, &key).await, 1);
}

#[tokio::test]
async fn sftp_connects_with_a_password_or_a_private_key() {
    let sshd = Sshd::start().await;
    let root = sshd.root("picked");
    std::fs::write(format!("{root}/notes.txt"), "n").unwrap();
    let app = TestApp::spawn().await;
    let (app_id, key) = app.create_app("ssh").await;
    allow_redirect(&app, &app_id, false).await;
    let mut browser = Browser::new();
    let page = browser
        .go(
            Method::GET,
            &authorize_url(&app, &app_id, "sftp", "s1"),
            None,
            APP_REDIRECT,
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page
        .body
        .contains("<textarea id=\"private_key\" name=\"private_key\""));
    let port = sshd.port.to_string();
    let typed = [
        ("host", "127.0.0.1"),
        ("port", port.as_str()),
        ("username", SFTP_USER),
        ("password", SFTP_PASSWORD),
        ("root", root.as_str()),
    ];
    let back = browser
        .fill_and_submit(&page, &typed, CONNECT, APP_REDIRECT)
        .await;
    let code = param(&back.url, "code").unwrap_or_else(|| panic!("{} {}", back.url, back.body));
    let (token, _) = finish_and_use(&app, &app_id, &key, &code).await;
    let me = app.with_token(&token).get_json("/v1/accounts/me").await;
    assert_eq!(me["service"], "sftp");
    assert_eq!(me["account"], format!("{SFTP_USER}@127.0.0.1:{port}"));
    let listing = app.with_token(&token).root_contents().await;
    assert_eq!(listing["objects"][0]["name"], "notes.txt", "{listing}");

    // The same login by a private key with a passphrase: the same account, now keyed.
    let (private, public) = ssh_keygen(sshd.etc.path(), "picker_ed25519", "ed25519", "key phrase");
    sshd.authorize(&public);
    let page = browser
        .go(
            Method::GET,
            &authorize_url(&app, &app_id, "sftp", "s2"),
            None,
            APP_REDIRECT,
        )
        .await;
    let typed = [
        ("host", "127.0.0.1"),
        ("port", port.as_str()),
        ("username", SFTP_USER),
        ("private_key", private.as_str()),
        ("passphrase", "key phrase"),
        ("root", root.as_str()),
    ];
    let back = browser
        .fill_and_submit(&page, &typed, CONNECT, APP_REDIRECT)
        .await;
    let code = param(&back.url, "code").unwrap_or_else(|| panic!("{} {}", back.url, back.body));
    let (token, keyed) = finish_and_use(&app, &app_id, &key, &code).await;
    assert_eq!(keyed, me["id"].as_i64().unwrap());
    let listing = app.with_token(&token).root_contents().await;
    assert_eq!(listing["objects"][0]["name"], "notes.txt", "{listing}");
}

#[tokio::test]
async fn the_credentials_form_refuses_clearly_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dav = rclone_webdav(dir.path()).await;
    let sshd = Sshd::start().await;
    // Accounts may reach public addresses only, as in production.
    let app = TestApp::builder().settings(public_only).spawn().await;
    let (app_id, key) = app.create_app("refusals").await;
    allow_redirect(&app, &app_id, false).await;
    let url = authorize_url(&app, &app_id, "webdav.storage sftp.storage", "r1");
    let mut browser = Browser::new();
    let chooser = browser.go(Method::GET, &url, None, APP_REDIRECT).await;
    assert_eq!(chooser.status, 200, "{}", chooser.body);
    let dav_form = browser
        .submit(&chooser, "service", "webdav", APP_REDIRECT)
        .await;
    assert_eq!(dav_form.status, 200, "{}", dav_form.body);

    // A host in a network accounts may not reach: refused by the address policy.
    let typed = [
        ("url", dav.endpoint.as_str()),
        ("token", "dav"),
        ("token_secret", "dav-password"),
    ];
    let page = browser
        .fill_and_submit(&dav_form, &typed, CONNECT, APP_REDIRECT)
        .await;
    refused(&page, "private");
    let sftp_form = browser
        .submit(&chooser, "service", "sftp", APP_REDIRECT)
        .await;
    let port = sshd.port.to_string();
    let typed = [
        ("host", "localhost"),
        ("port", port.as_str()),
        ("username", SFTP_USER),
        ("password", SFTP_PASSWORD),
    ];
    let page = browser
        .fill_and_submit(&sftp_form, &typed, CONNECT, APP_REDIRECT)
        .await;
    refused(&page, "private");
    assert!(!page.body.contains(SFTP_PASSWORD));

    // Every field missing, or a port that is no number: the form again, not a 500.
    let page = browser
        .fill_and_submit(&dav_form, &[], CONNECT, APP_REDIRECT)
        .await;
    refused(&page, "url");
    let page = browser
        .fill_and_submit(&sftp_form, &[], CONNECT, APP_REDIRECT)
        .await;
    refused(&page, "host");
    let page = browser
        .fill_and_submit(
            &sftp_form,
            &[("host", "sftp.example.com"), ("port", "ssh")],
            CONNECT,
            APP_REDIRECT,
        )
        .await;
    refused(&page, "port");
    assert!(page.body.contains("value=\"sftp.example.com\""));
    // A private key that cannot be read is refused before any connection.
    let page = browser
        .fill_and_submit(
            &sftp_form,
            &[
                ("host", "sftp.example.com"),
                ("username", "u"),
                ("private_key", "not a key"),
            ],
            CONNECT,
            APP_REDIRECT,
        )
        .await;
    refused(&page, "key");

    // A service the flow does not offer.
    let form_action = |page: &Landing| {
        let start = page.body.find("action=\"").unwrap() + "action=\"".len();
        let end = start + page.body[start..].find('"').unwrap();
        page.url.join(&page.body[start..end]).unwrap()
    };
    let action = form_action(&dav_form);
    let offered = [("service", "s3"), ("action", "connect")].map(|(k, v)| (k.into(), v.into()));
    let page = browser
        .go(Method::POST, action.as_str(), Some(&offered), APP_REDIRECT)
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    // The form sent without the browser's flow cookie (another site, another browser).
    let fields = [
        ("service", "webdav"),
        ("url", "https://dav.example.com/"),
        ("action", "connect"),
    ];
    let r = reqwest::Client::new()
        .post(action.as_str())
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/html")));
    assert_eq!(accounts(&app, &key).await, 0);

    // Cancel on the form ends on the application with `access_denied`.
    let back = browser
        .submit(&dav_form, "action", "deny", APP_REDIRECT)
        .await;
    assert_eq!(param(&back.url, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&back.url, "state").as_deref(), Some("r1"));
    assert_eq!(accounts(&app, &key).await, 0);

    // Calendars of services not connected here: a clear invalid_scope naming the ones
    // that are.
    let back = browser
        .go(
            Method::GET,
            &authorize_url(&app, &app_id, "google_calendar", "c1"),
            None,
            APP_REDIRECT,
        )
        .await;
    assert_eq!(param(&back.url, "error").as_deref(), Some("invalid_scope"));
    let why = param(&back.url, "error_description").unwrap();
    assert!(why.contains("caldav"), "{why}");
    // The Meeting Scheduler's scope opens the CalDAV form.
    let page = browser
        .go(
            Method::GET,
            &authorize_url(&app, &app_id, "calendar:normal", "c2"),
            None,
            APP_REDIRECT,
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    for field in ["url", "username", "password"] {
        let input = format!("id=\"{field}\" name=\"{field}\"");
        assert!(page.body.contains(&input), "{field}: {}", page.body);
    }
}
