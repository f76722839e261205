//! The Calendar API on CalDAV, against real Radicale servers (one per test, with its own
//! storage folder).

use reqwest::Method;

use crate::helpers::*;

/// `PROPFIND` of `path` on `server` as [`CALDAV_USER`] (or with `password`).
async fn propfind(server: &Server, path: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(
            Method::from_bytes(b"PROPFIND").unwrap(),
            format!("{}{path}", server.endpoint),
        )
        .basic_auth(CALDAV_USER, Some(password))
        .header("Depth", "1")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_test_gets_a_caldav_server_of_its_own() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (radicale(one.path()).await, radicale(two.path()).await);
    assert_ne!(a.endpoint, b.endpoint);
    let made = reqwest::Client::new()
        .request(
            Method::from_bytes(b"MKCALENDAR").unwrap(),
            format!("{}/{CALDAV_USER}/work/", a.endpoint),
        )
        .basic_auth(CALDAV_USER, Some(CALDAV_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let path = format!("/{CALDAV_USER}/work/");
    assert_eq!(propfind(&a, &path, CALDAV_PASSWORD).await.status(), 207);
    assert_eq!(propfind(&b, &path, CALDAV_PASSWORD).await.status(), 404);
    // The password is checked.
    assert_eq!(propfind(&a, &path, "wrong").await.status(), 401);
}

/// The import body of a CalDAV account on `server` with `password`.
fn caldav_account(server: &Server, password: &str) -> serde_json::Value {
    serde_json::json!({
        "service": "caldav", "account": CALDAV_USER, "url": format!("{}/", server.endpoint),
        "username": CALDAV_USER, "password": password,
    })
}

#[tokio::test]
async fn caldav_accounts_are_checked_sealed_and_answer_the_calendar_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = radicale(dir.path()).await;
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("cal").await;

    // Wrong password: the server's refusal, nothing stored.
    let r = app
        .with_key(&key)
        .post_json("/v1/accounts", &caldav_account(&server, "wrong"))
        .await;
    assert_error(r, 401, "service_unauthorized").await;
    // No URL.
    let r = app
        .with_key(&key)
        .post_json(
            "/v1/accounts",
            &serde_json::json!({"service": "caldav", "account": "cal",
                                "username": CALDAV_USER, "password": "x"}),
        )
        .await;
    assert_error(r, 400, "invalid_parameters").await;
    // A URL that is no CalDAV server (the API itself).
    let mut not_dav = caldav_account(&server, CALDAV_PASSWORD);
    not_dav["url"] = format!("{}/v1/", app.base).into();
    let r = app.with_key(&key).post_json("/v1/accounts", &not_dav).await;
    let body = assert_error(r, 400, "invalid_parameters").await;
    assert!(
        body["message"].as_str().unwrap().contains("CalDAV"),
        "{body}"
    );

    let (id, token) = app
        .import(&key, &caldav_account(&server, CALDAV_PASSWORD))
        .await;
    let me = app.with_token(&token).get_json("/v1/accounts/me").await;
    assert_eq!(me["id"], id);
    assert_eq!(me["service"], "caldav");
    assert_eq!(me["service_name"], "CalDAV");
    assert_eq!(me["apis"], serde_json::json!(["calendar"]));
    assert_eq!(me["account"], CALDAV_USER);

    // The password is sealed at rest.
    let pool = app.db().await;
    let (config, sealed): (serde_json::Value, Vec<u8>) =
        sqlx::query_as("SELECT config, secrets FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains(CALDAV_PASSWORD));
    assert!(!config.to_string().contains(CALDAV_PASSWORD), "{config}");
    assert_eq!(config["username"], CALDAV_USER);

    // The storage API is not a CalDAV account's.
    let r = app
        .with_token(&token)
        .get("/v1/accounts/me/storage/folders/root/contents")
        .await;
    let body = assert_error(r, 501, "not_implemented").await;
    assert!(
        body["message"].as_str().unwrap().contains("Calendar API"),
        "{body}"
    );
}

#[tokio::test]
async fn caldav_urls_follow_the_account_address_policy() {
    let dir = tempfile::tempdir().unwrap();
    let server = radicale(dir.path()).await;
    let app = TestApp::builder().settings(public_only).spawn().await;
    let (_, key) = app.create_app("cal").await;
    let r = app
        .with_key(&key)
        .post_json("/v1/accounts", &caldav_account(&server, CALDAV_PASSWORD))
        .await;
    let body = assert_error(r, 400, "invalid_parameters").await;
    assert!(body["message"].as_str().unwrap().contains("url"), "{body}");
}

#[tokio::test]
async fn caldav_lists_the_calendars_of_events_in_the_calendar_home() {
    use cloudbridge_connectors::caldav;
    let dir = tempfile::tempdir().unwrap();
    let server = radicale(dir.path()).await;
    let http = reqwest::Client::new();
    let send = |method: &str, path: &str, body: &str| {
        http.request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}/{CALDAV_USER}/{path}", server.endpoint),
        )
        .basic_auth(CALDAV_USER, Some(CALDAV_PASSWORD))
        .body(body.to_string())
        .send()
    };
    let calendar = |name: &str, comp: &str| {
        format!(
            r#"<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:set><D:prop><D:displayname>{name}</D:displayname>
<C:supported-calendar-component-set><C:comp name="{comp}"/></C:supported-calendar-component-set>
</D:prop></D:set></C:mkcalendar>"#
        )
    };
    // The principal's collection exists once it is first asked for.
    let _ = send("PROPFIND", "", "").await.unwrap();
    let made = send(
        "MKCALENDAR",
        "work/",
        &calendar("Work &amp; play", "VEVENT"),
    )
    .await
    .unwrap();
    assert_eq!(made.status(), 201);
    let made = send("MKCALENDAR", "todo/", &calendar("To do", "VTODO"))
        .await
        .unwrap();
    assert_eq!(made.status(), 201);

    let guard =
        cloudbridge_connectors::guard::Guard::new(cloudbridge_shared::netguard::Policy::any())
            .unwrap();
    let config = caldav::CaldavConfig {
        url: server.endpoint.clone(),
        username: Some(CALDAV_USER.into()),
    };
    let secrets = caldav::CaldavSecrets {
        password: Some(CALDAV_PASSWORD.into()),
    };
    let account =
        caldav::Caldav::new(caldav::client::Client::new(&config, &secrets, &guard).unwrap());
    let storage: &dyn cloudbridge_connectors::Storage = &account;
    let calendars = storage.calendar().unwrap().calendars().await.unwrap();
    assert_eq!(calendars.len(), 1, "{calendars:?}");
    assert_eq!(calendars[0].name, "Work & play");
    assert_eq!(calendars[0].native_id, format!("/{CALDAV_USER}/work/"));
    // The wrong password is the service's refusal.
    let secrets = caldav::CaldavSecrets {
        password: Some("wrong".into()),
    };
    let refused =
        caldav::Caldav::new(caldav::client::Client::new(&config, &secrets, &guard).unwrap());
    let e = cloudbridge_connectors::calendar::Calendar::calendars(&refused)
        .await
        .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (401, "service_unauthorized"));
}
