//! Sharing permissions (`/storage/{files|folders}/{id}/permissions`) on the four services
//! that have them, each against its emulator: Google Drive and OneDrive through the
//! permission layers of `testenv/node/gdrive-mock.js` and `onedrive-mock.js` (written from
//! Google's and Microsoft's references: the checks of what the service holds rest on
//! them, not on servers written by others), Dropbox and Box against the fakes of
//! `cloudbridge_fakes`. The other services answer 501.

use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    gdrive::{account as drive_account, app_with_drive, drive_mock},
    helpers::{assert_error, moto, rclone_webdav, Caller, Go, Sshd, TestApp, STORAGE},
    onedrive::{onedrive_account, onedrive_mock},
};

/// `(email, role)` of every permission in an answer, sorted.
fn grants(answer: &Value) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = answer["permissions"]
        .as_array()
        .unwrap_or_else(|| panic!("no permissions in {answer}"))
        .iter()
        .map(|p| {
            let who = p["email"]
                .as_str()
                .or(p["domain"].as_str())
                .unwrap_or(p["type"].as_str().unwrap());
            (who.to_lowercase(), p["role"].as_str().unwrap().to_string())
        })
        .collect();
    all.sort();
    all
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = list
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    all.sort();
    all
}

fn url(route: &str, id: &str) -> String {
    format!("{STORAGE}/{route}/{id}/permissions")
}

async fn send(a: &Caller, method: Method, route: &str, id: &str, body: Value) -> Value {
    let r = a.send_json(method.clone(), &url(route, id), &body).await;
    let status = r.status();
    let answer: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{method} {body}: {answer}");
    answer
}

/// A folder `Shared` in the root and a file `Shared/s.txt`: `(folder id, file id)`.
async fn items(a: &Caller) -> (String, String) {
    let r = a
        .post_json(
            &format!("{STORAGE}/folders"),
            &json!({"name": "Shared", "parent_id": "root"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let folder = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let file: Value = a
        .upload(&folder, "s.txt", "shared")
        .await
        .json()
        .await
        .unwrap();
    (folder, file["id"].as_str().unwrap().to_string())
}

/// `GET url` at a node emulator, as its user.
async fn at_mock(url: String) -> Value {
    reqwest::Client::new()
        .get(url)
        .bearer_auth("valid-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The service's id of an item (its `raw_id`).
async fn raw_id(a: &Caller, route: &str, id: &str) -> String {
    a.get_json(&format!("{STORAGE}/{route}/{id}")).await["raw_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The walk every service takes, on `route` (`files` or `folders`) item `id`: only the
/// owner at first; a PATCH adds ann; another changes her role and adds bob; a PUT leaves
/// only carol (and the owner). `at_service` is called after the first PATCH and after
/// the PUT with what the service should hold then (`(email, Kloudless role)`).
async fn walk<F, Fut>(a: &Caller, route: &str, id: &str, owner: &str, at_service: F)
where
    F: Fn(Vec<(String, String)>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let got = a.get_json(&url(route, id)).await;
    assert_eq!(grants(&got), pairs(&[(owner, "owner")]), "{got}");
    let owner_entry = &got["permissions"][0];
    for field in ["id", "email", "name", "role", "type"] {
        assert!(owner_entry.get(field).is_some(), "{field} in {owner_entry}");
    }
    assert_eq!(owner_entry["type"], "user");

    let body = json!([{"type": "user", "role": "reader", "email": "Ann@Example.com"}]);
    let after = send(a, Method::PATCH, route, id, body).await;
    let expected = pairs(&[(owner, "owner"), ("ann@example.com", "reader")]);
    assert_eq!(grants(&after), expected, "{after}");
    at_service(expected).await;

    let body = json!([{"role": "writer", "email": "ann@example.com"},
                      {"role": "reader", "email": "bob@example.com"}]);
    let after = send(a, Method::PATCH, route, id, body).await;
    assert_eq!(
        grants(&after),
        pairs(&[
            (owner, "owner"),
            ("ann@example.com", "writer"),
            ("bob@example.com", "reader")
        ]),
        "{after}"
    );
    // What a GET answered, sent back as it is, changes nothing (the Java SDK does this).
    let same = send(a, Method::PATCH, route, id, after.clone()).await;
    assert_eq!(grants(&same), grants(&after));

    let body = json!([{"type": "user", "role": "reader", "email": "carol@example.com"}]);
    let after = send(a, Method::PUT, route, id, body).await;
    let expected = pairs(&[(owner, "owner"), ("carol@example.com", "reader")]);
    assert_eq!(grants(&after), expected, "{after}");
    assert_eq!(grants(&a.get_json(&url(route, id)).await), expected);
    at_service(expected).await;

    let after = send(a, Method::PUT, route, id, json!([])).await;
    assert_eq!(grants(&after), pairs(&[(owner, "owner")]));
}

/// Bad input, unknown items, ownership and what `service` cannot express (each of
/// `unsupported` answers 400 naming `service`).
async fn refusals(a: &Caller, folder: &str, file: &str, service: &str, unsupported: &[Value]) {
    for bad in [
        json!([{"role": "boss", "email": "ann@example.com"}]),
        json!([{"type": "robot", "role": "reader", "email": "ann@example.com"}]),
        json!([{"role": "reader", "email": "not an address"}]),
        json!([{"role": "reader", "email": "Ann <ann@example.com>"}]),
        json!([{"role": "reader"}]),
        json!("ann@example.com"),
        json!([{"role": "owner", "email": "ann@example.com"}]),
    ] {
        for method in [Method::PUT, Method::PATCH] {
            let r = a.send_json(method, &url("files", file), &bad).await;
            assert_error(r, 400, "invalid_parameters").await;
        }
    }
    let r = a.req(Method::PUT, &url("files", file)).body("").go().await;
    assert_error(r, 400, "invalid_parameters").await;
    let r = a
        .req(Method::PATCH, &url("files", file))
        .body("[{")
        .go()
        .await;
    assert_error(r, 400, "bad_request").await;
    // The owner's role does not change.
    let got = a.get_json(&url("files", file)).await;
    let owner = got["permissions"][0]["email"].as_str().unwrap().to_string();
    let r = a
        .send_json(
            Method::PATCH,
            &url("files", file),
            &json!([{"role": "writer", "email": owner}]),
        )
        .await;
    assert_error(r, 400, "invalid_parameters").await;
    for body in unsupported {
        let r = a.send_json(Method::PATCH, &url("files", file), body).await;
        let e = assert_error(r, 400, "invalid_parameters").await;
        assert!(
            e["message"].as_str().unwrap().contains(service),
            "{body}: {e}"
        );
    }
    // Nothing was changed by any of them.
    assert_eq!(grants(&a.get_json(&url("files", file)).await).len(), 1);

    // Unknown items, and items of the other kind, are not found.
    let native_nope = format!("file_{}", "bm9wZS1ub3BlLW5vcGU");
    for (route, id) in [
        ("files", "bm9wZQ"),
        ("files", native_nope.as_str()),
        ("files", folder),
        ("folders", file),
    ] {
        assert_error(a.get(&url(route, id)).await, 404, "not_found").await;
        let r = a
            .send_json(
                Method::PATCH,
                &url(route, id),
                &json!([{"role": "reader", "email": "ann@example.com"}]),
            )
            .await;
        assert_error(r, 404, "not_found").await;
    }
    // The root folder can be read, not shared.
    let root = a.get_json(&url("folders", "root")).await;
    assert!(
        root["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["role"] == "owner"),
        "{root}"
    );
    let r = a
        .send_json(
            Method::PATCH,
            &url("folders", "root"),
            &json!([{"role": "reader", "email": "ann@example.com"}]),
        )
        .await;
    assert_error(r, 400, "invalid_parameters").await;
}

/// Another application's API key does not reach the account's items (404).
async fn other_application(app: &TestApp, account: i64, file: &str) {
    let (_, other_key) = app.create_app("someone-else").await;
    let other = app.with_key(&other_key);
    let path = format!("/v1/accounts/{account}/storage/files/{file}/permissions");
    assert_error(other.get(&path).await, 404, "not_found").await;
    let r = other
        .send_json(
            Method::PUT,
            &path,
            &json!([{"role": "reader", "email": "ann@example.com"}]),
        )
        .await;
    assert_error(r, 404, "not_found").await;
}

#[tokio::test]
async fn gdrive_permissions() {
    let mock = drive_mock().await;
    let app = app_with_drive(&mock.endpoint).await;
    let (_, key) = app.create_app("gdrive-sharing").await;
    let (account, token) = app.import(&key, &drive_account("mock@example.com")).await;
    let a = app.with_token(&token);
    let caps = a.get_json("/v1/accounts/me?retrieve_full=true").await;
    assert_eq!(
        caps["properties"]["capabilities"]["permissions_supported_for_files"]["value"],
        true
    );
    let (folder, file) = items(&a).await;
    for (route, id) in [("files", &file), ("folders", &folder)] {
        let drive_id = raw_id(&a, route, id).await;
        let endpoint = mock.endpoint.clone();
        walk(&a, route, id, "mock@example.com", |expected| {
            let (endpoint, drive_id) = (endpoint.clone(), drive_id.clone());
            async move {
                let at_drive =
                    at_mock(format!("{endpoint}/drive/v3/files/{drive_id}/permissions")).await;
                let mut held: Vec<(String, String)> = at_drive["permissions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        (
                            p["emailAddress"].as_str().unwrap().to_string(),
                            p["role"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect();
                held.sort();
                assert_eq!(held, expected, "{at_drive}");
            }
        })
        .await;
    }
    // Drive shares with groups, domains and anyone too.
    let body = json!([
        {"type": "group", "role": "commenter", "email": "team@example.com"},
        {"type": "domain", "role": "reader", "domain": "example.org"},
        {"type": "anyone", "role": "reader"},
    ]);
    let after = send(&a, Method::PATCH, "folders", &folder, body).await;
    assert_eq!(
        grants(&after),
        pairs(&[
            ("anyone", "reader"),
            ("example.org", "reader"),
            ("mock@example.com", "owner"),
            ("team@example.com", "commenter"),
        ]),
        "{after}"
    );
    let kinds: Vec<&str> = after["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert!(
        ["group", "domain", "anyone"]
            .iter()
            .all(|k| kinds.contains(k)),
        "{after}"
    );
    let after = send(&a, Method::PUT, "folders", &folder, json!([])).await;
    assert_eq!(grants(&after).len(), 1);
    refusals(
        &a,
        &folder,
        &file,
        "Google Drive",
        &[json!([{"role": "previewer", "email": "ann@example.com"}])],
    )
    .await;
    other_application(&app, account, &file).await;
}

#[tokio::test]
async fn onedrive_permissions() {
    let mock = onedrive_mock().await;
    let (app, token) = onedrive_account(&mock, "onedrive").await;
    let a = app.with_token(&token);
    let account = a.get_json("/v1/accounts/me").await["id"].as_i64().unwrap();
    let (folder, file) = items(&a).await;
    for (route, id) in [("files", &file), ("folders", &folder)] {
        let graph_id = raw_id(&a, route, id).await;
        let endpoint = mock.endpoint.clone();
        walk(&a, route, id, "mock.user@example.com", |expected| {
            let (endpoint, graph_id) = (endpoint.clone(), graph_id.clone());
            async move {
                let at_graph = at_mock(format!(
                    "{endpoint}/v1.0/me/drive/items/{graph_id}/permissions"
                ))
                .await;
                let mut held: Vec<(String, String)> = at_graph["value"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        let role = match p["roles"][0].as_str().unwrap() {
                            "read" => "reader",
                            "write" => "writer",
                            other => other,
                        };
                        let email = p["grantedToV2"]["user"]["email"].as_str().unwrap();
                        (email.to_string(), role.to_string())
                    })
                    .collect();
                held.sort();
                assert_eq!(held, expected, "{at_graph}");
            }
        })
        .await;
    }
    // Anyone: an anonymous link, whose role changes by making it again.
    let anyone = |role: &str| json!([{"type": "anyone", "role": role}]);
    let after = send(&a, Method::PATCH, "files", &file, anyone("reader")).await;
    assert!(
        grants(&after).contains(&("anyone".into(), "reader".into())),
        "{after}"
    );
    let after = send(&a, Method::PATCH, "files", &file, anyone("writer")).await;
    assert!(
        grants(&after).contains(&("anyone".into(), "writer".into())),
        "{after}"
    );
    assert_eq!(grants(&after).len(), 2, "one link: {after}");
    let after = send(&a, Method::PUT, "files", &file, json!([])).await;
    assert_eq!(grants(&after).len(), 1);
    refusals(
        &a,
        &folder,
        &file,
        "OneDrive",
        &[
            json!([{"type": "domain", "role": "reader", "domain": "example.org"}]),
            json!([{"type": "group", "role": "reader", "email": "team@example.com"}]),
            json!([{"role": "commenter", "email": "ann@example.com"}]),
        ],
    )
    .await;
    other_application(&app, account, &file).await;
}

#[tokio::test]
async fn dropbox_permissions() {
    let fake = cloudbridge_fakes::dropbox::FakeDropbox::start().await;
    // Ann has a Dropbox account; bob and carol are invited by address.
    fake.add_user("ann@example.com", "Ann", "Example");
    let app = crate::dropbox::app_for(&fake).await;
    let (a, _) = crate::dropbox::import(&app, &fake).await;
    let account = a.get_json("/v1/accounts/me").await["id"].as_i64().unwrap();
    let me = fake.account_id();
    let (folder, file) = items(&a).await;
    let levels = |held: Vec<(String, String)>| -> Vec<(String, String)> {
        let mut mapped: Vec<(String, String)> = held
            .into_iter()
            .map(|(email, level)| {
                let role = match level.as_str() {
                    "viewer_no_comment" => "reader",
                    "editor" => "writer",
                    "viewer" => "commenter",
                    other => other,
                };
                (email, role.to_string())
            })
            .collect();
        mapped.sort();
        mapped
    };
    for (route, id, path) in [
        ("files", &file, "/Shared/s.txt"),
        ("folders", &folder, "/Shared"),
    ] {
        walk(&a, route, id, "franz@example.com", |expected| {
            let held = levels(fake.members(&me, path));
            async move { assert_eq!(held, expected) }
        })
        .await;
    }
    // The folder became a shared folder on its first member.
    let r = a
        .req(Method::GET, &format!("{STORAGE}/folders/{folder}"))
        .header("x-kloudless-raw-data", "true")
        .go()
        .await;
    let shown: Value = r.json().await.unwrap();
    assert!(shown["raw"]["shared_folder_id"].is_string(), "{shown}");
    // Viewers (who may comment) are commenters.
    let body = json!([{"role": "commenter", "email": "dan@example.com"}]);
    let after = send(&a, Method::PATCH, "files", &file, body).await;
    assert!(grants(&after).contains(&("dan@example.com".into(), "commenter".into())));
    send(&a, Method::PUT, "files", &file, json!([])).await;
    // A folder inside a shared folder is not shared on its own.
    let r = a
        .post_json(
            &format!("{STORAGE}/folders"),
            &json!({"name": "Inner", "parent_id": folder}),
        )
        .await;
    let inner = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let body = json!([{"role": "reader", "email": "ann@example.com"}]);
    send(&a, Method::PATCH, "folders", &folder, body.clone()).await;
    // Its members are the shared folder's (asking for what it has already changes nothing).
    let held = send(&a, Method::PATCH, "folders", &inner, body).await;
    assert!(grants(&held).contains(&("ann@example.com".into(), "reader".into())));
    let body = json!([{"role": "reader", "email": "erin@example.com"}]);
    let r = a
        .send_json(Method::PATCH, &url("folders", &inner), &body)
        .await;
    let e = assert_error(r, 400, "invalid_parameters").await;
    assert!(
        e["message"].as_str().unwrap().contains("shared folder"),
        "{e}"
    );
    send(&a, Method::PUT, "folders", &folder, json!([])).await;
    refusals(
        &a,
        &folder,
        &file,
        "Dropbox",
        &[
            json!([{"type": "domain", "role": "reader", "domain": "example.org"}]),
            json!([{"type": "anyone", "role": "reader"}]),
            json!([{"type": "group", "role": "reader", "email": "team@example.com"}]),
            json!([{"role": "previewer", "email": "ann@example.com"}]),
        ],
    )
    .await;
    other_application(&app, account, &file).await;
}

#[tokio::test]
async fn box_permissions() {
    let fake = crate::boxcom::fake(|c| {
        // Ann has a Box account; bob and carol get pending invitations.
        c.people.push(cloudbridge_fakes::boxcom::User {
            id: "20202020".into(),
            name: "Ann Example".into(),
            login: "ann@example.com".into(),
        })
    })
    .await;
    let app = crate::boxcom::app_for(&fake).await;
    let a = crate::boxcom::import(&app, "box-access-token", None).await;
    let account = a.get_json("/v1/accounts/me").await["id"].as_i64().unwrap();
    let (folder, file) = items(&a).await;
    for (route, id, path) in [
        ("files", &file, "Shared/s.txt"),
        ("folders", &folder, "Shared"),
    ] {
        walk(&a, route, id, "tester@example.com", |expected| {
            let mut held: Vec<(String, String)> = fake
                .collaborations(path)
                .into_iter()
                .map(|(login, role, status)| {
                    let accepted = login == "ann@example.com";
                    assert_eq!(status == "accepted", accepted, "{login} {status}");
                    let role = match role.as_str() {
                        "viewer" => "reader",
                        "editor" => "writer",
                        other => other,
                    };
                    (login, role.to_string())
                })
                .collect();
            // Box keeps the owner apart from the collaborations.
            held.push(("tester@example.com".into(), "owner".into()));
            held.sort();
            async move { assert_eq!(held, expected) }
        })
        .await;
    }
    let body = json!([{"role": "previewer", "email": "ann@example.com"}]);
    let after = send(&a, Method::PATCH, "folders", &folder, body).await;
    assert!(grants(&after).contains(&("ann@example.com".into(), "previewer".into())));
    send(&a, Method::PUT, "folders", &folder, json!([])).await;
    refusals(
        &a,
        &folder,
        &file,
        "Box",
        &[
            json!([{"type": "domain", "role": "reader", "domain": "example.org"}]),
            json!([{"type": "anyone", "role": "reader"}]),
            json!([{"role": "commenter", "email": "ann@example.com"}]),
        ],
    )
    .await;
    other_application(&app, account, &file).await;
}

/// Local disk, S3, WebDAV and SFTP keep no sharing: 501 for files and folders that
/// exist, 404 for those that do not, 400 for bodies that are not permissions.
#[tokio::test]
async fn services_without_sharing_answer_501() {
    let s3 = moto().await;
    let dir = tempfile::tempdir().unwrap();
    let dav = rclone_webdav(dir.path()).await;
    let sshd = Sshd::start().await;
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("no-sharing").await;
    let (_, local) = app.import_local(&key, "alice").await;
    let (_, s3) = app
        .import(
            &key,
            &json!({"service": "s3_compatible", "account": "bucket", "token": "AK",
                    "token_secret": "SK", "bucket": "bucket-one", "endpoint": s3.endpoint,
                    "region": "us-east-1"}),
        )
        .await;
    let (_, webdav) = app
        .import(
            &key,
            &json!({"service": "webdav", "account": "dav", "url": dav.endpoint,
                    "token": "dav", "token_secret": "dav-password"}),
        )
        .await;
    let (_, sftp) = app
        .import(&key, &sshd.password_account(&sshd.root("perms")))
        .await;
    for token in [local, s3, webdav, sftp] {
        let a = app.with_token(&token);
        let service = a.get_json("/v1/accounts/me?retrieve_full=true").await;
        assert_eq!(
            service["properties"]["capabilities"]["permissions_supported_for_files"]["value"],
            false,
            "{service}"
        );
        let (folder, file) = items(&a).await;
        let share = json!([{"role": "reader", "email": "ann@example.com"}]);
        for (route, id) in [("files", &file), ("folders", &folder)] {
            let e = assert_error(a.get(&url(route, id)).await, 501, "not_implemented").await;
            assert!(
                e["message"].as_str().unwrap().contains("Google Drive"),
                "{e}"
            );
            for method in [Method::PUT, Method::PATCH] {
                let r = a.send_json(method, &url(route, id), &share).await;
                assert_error(r, 501, "not_implemented").await;
            }
            let r = a
                .send_json(Method::PUT, &url(route, id), &json!([{"role": "boss"}]))
                .await;
            assert_error(r, 400, "invalid_parameters").await;
        }
        assert_error(a.get(&url("files", "bm9wZQ")).await, 404, "not_found").await;
        assert_error(a.get(&url("files", &folder)).await, 404, "not_found").await;
    }
}
