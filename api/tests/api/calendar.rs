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
