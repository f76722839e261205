//! The Team API (`/team/users[/{id}[/memberships]]`, `/team/groups[/{id}[/members]]`) and
//! `X-Kloudless-As-User` on the four services with an organisation, each against its
//! emulator: Google's Directory API and Graph's users and groups through the layers of
//! `testenv/node/gdrive-mock.js` and `onedrive-mock.js` (written from Google's and
//! Microsoft's references, not servers written by others), Dropbox teams and Box
//! Enterprise in the fakes of `cloudbridge_fakes`. Every list is read in pages of one or
//! two (the service's own paging, `next_page` tokens), and page 2 asked for by number
//! must be what its token gave.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    gdrive::{account as drive_account, app_with_drive, drive_mock},
    helpers::{assert_error, moto, Caller, Go, Server, TestApp, STORAGE},
    onedrive::onedrive_mock,
};

const TEAM: &str = "/v1/accounts/me/team";

/// What an organisation holds, as the Team API must answer it.
struct Expected {
    /// User ids.
    users: Vec<String>,
    /// `(group id, group name, member user ids)`.
    groups: Vec<(String, String, Vec<String>)>,
}

impl Expected {
    fn groups_of(&self, user: &str) -> BTreeSet<String> {
        self.groups
            .iter()
            .filter(|(_, _, members)| members.iter().any(|m| m == user))
            .map(|(id, _, _)| id.clone())
            .collect()
    }
}

/// Every object of the list at `path` read `page_size` at a time through `next_page`;
/// also checks each page's shape and that page 2 by number is page 2 by token.
async fn read_all(a: &Caller, path: &str, page_size: u32, kind: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut pages = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let url = match &next {
            None => format!("{path}?page_size={page_size}"),
            Some(token) => format!("{path}?page_size={page_size}&page={token}"),
        };
        let r = a.get(&url).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 200, "{url}: {body}");
        assert_eq!(
            (body["type"].as_str(), body["api"].as_str()),
            (Some("object_list"), Some("team"))
        );
        let objects = body["objects"].as_array().unwrap().clone();
        assert_eq!(body["count"].as_u64(), Some(objects.len() as u64), "{body}");
        assert!(objects.len() <= page_size as usize, "{body}");
        for o in &objects {
            assert_eq!(
                (o["type"].as_str(), o["api"].as_str()),
                (Some(kind), Some("team")),
                "{o}"
            );
            assert!(o["id"].is_string() && o.get("name").is_some(), "{o}");
        }
        pages.push(objects.clone());
        all.extend(objects);
        match body["next_page"].as_str() {
            Some(token) => next = Some(token.to_string()),
            None => {
                assert!(body["next_page"].is_null(), "{body}");
                break;
            }
        }
        assert!(pages.len() < 50, "paging never ends: {body}");
    }
    if pages.len() >= 2 {
        let second = a
            .get_json(&format!("{path}?page_size={page_size}&page=2"))
            .await;
        assert_eq!(
            second["objects"].as_array().unwrap(),
            &pages[1],
            "page 2 by number"
        );
        assert_eq!(second["page"], 2);
    }
    all
}

fn ids(objects: &[Value]) -> BTreeSet<String> {
    objects
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

/// Every route of the Team API on an admin account `a` of an organisation like
/// `expected`, with lists in pages of `page_size`.
async fn walk(a: &Caller, expected: &Expected, page_size: u32) {
    let users = read_all(a, &format!("{TEAM}/users"), page_size, "user").await;
    let want: BTreeSet<String> = expected.users.iter().cloned().collect();
    assert_eq!(ids(&users), want);
    assert!(users.len() > page_size as usize, "the walk must page");
    for u in &users {
        assert!(u["email"].as_str().is_some_and(|e| e.contains('@')), "{u}");
    }

    for user in &expected.users {
        let one = a.get_json(&format!("{TEAM}/users/{user}")).await;
        assert_eq!(one["id"].as_str(), Some(user.as_str()), "{one}");
        assert_eq!(one["type"], "user");
        let listed = users.iter().find(|u| u["id"] == one["id"]).unwrap();
        assert_eq!(listed["email"], one["email"]);
        let groups = read_all(a, &format!("{TEAM}/users/{user}/memberships"), 1, "group").await;
        assert_eq!(
            ids(&groups),
            expected.groups_of(user),
            "memberships of {user}"
        );
    }

    let groups = read_all(a, &format!("{TEAM}/groups"), 1, "group").await;
    let want: BTreeSet<String> = expected.groups.iter().map(|g| g.0.clone()).collect();
    assert_eq!(ids(&groups), want);
    for (id, name, members) in &expected.groups {
        let one = a.get_json(&format!("{TEAM}/groups/{id}")).await;
        assert_eq!(
            (one["id"].as_str(), one["name"].as_str()),
            (Some(id.as_str()), Some(name.as_str())),
            "{one}"
        );
        let listed = read_all(a, &format!("{TEAM}/groups/{id}/members"), 1, "user").await;
        let want: BTreeSet<String> = members.iter().cloned().collect();
        assert_eq!(ids(&listed), want, "members of {name}");
    }

    // Unknown ids, bad ids and pages that are not this list's.
    assert_error(
        a.get(&format!("{TEAM}/users/no-such-user")).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        a.get(&format!("{TEAM}/groups/no-such-group")).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        a.get(&format!("{TEAM}/groups/no-such-group/members")).await,
        404,
        "not_found",
    )
    .await;
    let first = a.get_json(&format!("{TEAM}/users?page_size=1")).await;
    let token = first["next_page"].as_str().unwrap();
    let r = a.get(&format!("{TEAM}/groups?page={token}")).await;
    assert_error(r, 400, "invalid_parameters").await;
    assert_error(
        a.get(&format!("{TEAM}/users?page=garbage")).await,
        400,
        "invalid_parameters",
    )
    .await;
    assert_error(
        a.get(&format!("{TEAM}/users?page_size=0")).await,
        400,
        "invalid_parameters",
    )
    .await;
    assert_error(
        a.get(&format!("{TEAM}/users/a%2Fb")).await,
        400,
        "invalid_parameters",
    )
    .await;
}

/// The account is an admin account; another application's key does not reach its team
/// (404), and the account's own API key does.
async fn admin_account(app: &TestApp, a: &Caller, key: &str) {
    let me = a.get_json("/v1/accounts/me").await;
    assert_eq!(me["admin"], true, "{me}");
    let id = me["id"].as_i64().unwrap();
    let by_key = app.with_key(key);
    let r = by_key.get(&format!("/v1/accounts/{id}/team/users")).await;
    assert_eq!(r.status(), 200);
    let (_, other_key) = app.create_app("someone-else").await;
    let other = app.with_key(&other_key);
    for path in ["team/users", "team/groups"] {
        let r = other.get(&format!("/v1/accounts/{id}/{path}")).await;
        assert_error(r, 404, "not_found").await;
    }
}

/// A non-admin account is refused the Team API and `X-Kloudless-As-User` (403).
async fn not_admin(a: &Caller, member: &str) {
    let e = assert_error(a.get(&format!("{TEAM}/users")).await, 403, "forbidden").await;
    assert!(
        e["message"].as_str().unwrap().contains("administrators"),
        "{e}"
    );
    assert_error(a.get(&format!("{TEAM}/groups/x")).await, 403, "forbidden").await;
    let r = a
        .req(Method::GET, &format!("{STORAGE}/folders/root/contents"))
        .header("X-Kloudless-As-User", member)
        .go()
        .await;
    assert_error(r, 403, "forbidden").await;
}

/// Names in a root listing.
fn names(listing: &Value) -> BTreeSet<String> {
    listing["objects"]
        .as_array()
        .unwrap_or_else(|| panic!("no objects: {listing}"))
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect()
}

/// As `member`, an upload lands in the member's files: the member's root lists it, the
/// admin's does not (and keeps the admin's own file).
async fn as_user(a: &Caller, member: &str) {
    let r = a.upload("root", "admin-only.txt", "admin's").await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = a
        .upload_req("root", "member-file.txt", "")
        .header("X-Kloudless-As-User", member)
        .body("member's")
        .go()
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let theirs: Value = a
        .req(Method::GET, &format!("{STORAGE}/folders/root/contents"))
        .header("X-Kloudless-As-User", member)
        .go()
        .await
        .json()
        .await
        .unwrap();
    let theirs = names(&theirs);
    assert!(theirs.contains("member-file.txt"), "{theirs:?}");
    assert!(!theirs.contains("admin-only.txt"), "{theirs:?}");
    let mine = names(&a.root_contents().await);
    assert!(mine.contains("admin-only.txt"), "{mine:?}");
    assert!(!mine.contains("member-file.txt"), "{mine:?}");
    // Twice, so that nothing remembered from one is used for the other.
    let again = names(&a.root_contents().await);
    assert_eq!(again, mine);
    // A bad id is refused before any service sees it.
    let r = a
        .req(Method::GET, &format!("{STORAGE}/folders/root/contents"))
        .header("X-Kloudless-As-User", "a/b")
        .go()
        .await;
    assert_error(r, 400, "invalid_parameters").await;
}

#[tokio::test]
async fn dropbox_team() {
    use cloudbridge_fakes::dropbox::FakeDropbox;
    let fake = FakeDropbox::start().await;
    let admin = fake.account_id();
    let ann = fake.add_user("ann@example.com", "Ann", "Example");
    let bob = fake.add_user("bob@example.com", "Bob", "Example");
    let loner = fake.add_user("loner@example.com", "Lone", "User");
    let (admin_m, ann_m, bob_m) = (
        fake.join_team(&admin, true),
        fake.join_team(&ann, false),
        fake.join_team(&bob, false),
    );
    let eng = fake.add_group("Eng", &[(&ann_m, true), (&admin_m, false)]);
    let sales = fake.add_group("Sales", &[(&bob_m, false)]);
    let app = crate::dropbox::app_for(&fake).await;
    let (_, key) = app.create_app("dropbox-team").await;
    let import = |user: &str, admin: bool| {
        let (access, refresh) = fake.grant(crate::dropbox::CLIENT_ID, user);
        json!({"service": "dropbox", "account": user, "token": access, "refresh_token": refresh,
               "token_expiry": (chrono::Utc::now() + chrono::Duration::hours(4)).to_rfc3339(),
               "admin": admin})
    };
    let (_, token) = app.import(&key, &import(&admin, true)).await;
    let a = app.with_token(&token);
    admin_account(&app, &a, &key).await;
    let expected = Expected {
        users: vec![admin_m.clone(), ann_m.clone(), bob_m.clone()],
        groups: vec![
            (
                eng.clone(),
                "Eng".into(),
                vec![ann_m.clone(), admin_m.clone()],
            ),
            (sales, "Sales".into(), vec![bob_m.clone()]),
        ],
    };
    walk(&a, &expected, 2).await;
    let owner = a
        .get_json(&format!("{TEAM}/groups/{eng}/members?page_size=5"))
        .await;
    let ann_there = owner["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == ann_m.as_str())
        .unwrap();
    assert_eq!(ann_there["role"], "owner", "{owner}");
    let me = a.get_json(&format!("{TEAM}/users/{admin_m}")).await;
    assert_eq!(
        (me["role"].as_str(), me["email"].as_str()),
        (Some("admin"), Some("franz@example.com"))
    );

    as_user(&a, &ann_m).await;
    assert!(
        fake.paths(&ann).contains(&"/member-file.txt".to_string()),
        "{:?}",
        fake.paths(&ann)
    );
    assert!(!fake.paths(&admin).contains(&"/member-file.txt".to_string()));
    // A member the team does not have: Dropbox's refusal.
    let r = a
        .req(Method::GET, &format!("{STORAGE}/folders/root/contents"))
        .header("X-Kloudless-As-User", "dbmid:nobody")
        .go()
        .await;
    assert!(r.status().is_client_error(), "{}", r.status());

    // An account that is no team admin's: importing it as one is refused by Dropbox, and
    // as a plain account it is refused the Team API here.
    let r = app
        .with_key(&key)
        .post_json("/v1/accounts", &import(&loner, true))
        .await;
    assert!(!r.status().is_success(), "{}", r.status());
    let (_, plain) = app.import(&key, &import(&loner, false)).await;
    not_admin(&app.with_token(&plain), &ann_m).await;
}

#[tokio::test]
async fn box_enterprise() {
    use cloudbridge_fakes::boxcom::{Group, User};
    let user = |id: &str, name: &str, login: &str| User {
        id: id.into(),
        name: name.into(),
        login: login.into(),
    };
    let fake = crate::boxcom::fake(|c| {
        c.admin = true;
        c.members = vec![
            user("20202020", "Ann Example", "ann@example.com"),
            user("30303030", "Bob Example", "bob@example.com"),
        ];
        c.groups = vec![
            Group {
                id: "501".into(),
                name: "Eng".into(),
                members: vec![
                    ("20202020".into(), "admin".into()),
                    ("11446498".into(), "member".into()),
                ],
            },
            Group {
                id: "502".into(),
                name: "Sales".into(),
                members: vec![("30303030".into(), "member".into())],
            },
        ];
    })
    .await;
    let app = crate::boxcom::app_for(&fake).await;
    let (_, key) = app.create_app("box-team").await;
    let body = json!({"service": "box", "account": "tester@example.com",
                      "token": "box-access-token", "admin": true});
    let (_, token) = app.import(&key, &body).await;
    let a = app.with_token(&token);
    admin_account(&app, &a, &key).await;
    let expected = Expected {
        users: vec!["11446498".into(), "20202020".into(), "30303030".into()],
        groups: vec![
            (
                "501".into(),
                "Eng".into(),
                vec!["20202020".into(), "11446498".into()],
            ),
            ("502".into(), "Sales".into(), vec!["30303030".into()]),
        ],
    };
    walk(&a, &expected, 2).await;
    let mine = a
        .get_json(&format!("{TEAM}/users/11446498/memberships"))
        .await;
    assert_eq!(mine["objects"][0]["role"], "member", "{mine}");
    let me = a.get_json(&format!("{TEAM}/users/11446498")).await;
    assert_eq!(
        (me["role"].as_str(), me["email"].as_str()),
        (Some("admin"), Some("tester@example.com"))
    );
    as_user(&a, "20202020").await;
    assert!(fake.file("admin-only.txt").is_some());
    assert!(fake.file("member-file.txt").is_none());
    let r = a
        .req(Method::GET, &format!("{STORAGE}/folders/root/contents"))
        .header("X-Kloudless-As-User", "99999999")
        .go()
        .await;
    assert_error(r, 404, "not_found").await;
}

#[tokio::test]
async fn box_without_an_enterprise_is_no_admin() {
    let fake = crate::boxcom::fake(|_| {}).await;
    let app = crate::boxcom::app_for(&fake).await;
    let (_, key) = app.create_app("box-plain").await;
    let body = json!({"service": "box", "account": "tester@example.com",
                      "token": "box-access-token", "admin": true});
    let r = app.with_key(&key).post_json("/v1/accounts", &body).await;
    assert_error(r, 403, "forbidden").await;
    let body =
        json!({"service": "box", "account": "tester@example.com", "token": "box-access-token"});
    let (_, token) = app.import(&key, &body).await;
    not_admin(&app.with_token(&token), "20202020").await;
}

/// The directory of the Graph and Google layers: `(id, name, e-mail)` users and
/// `(id, name, e-mail, members)` groups.
type Directory = (
    Vec<(&'static str, &'static str, &'static str)>,
    Vec<(&'static str, &'static str, &'static str, Vec<&'static str>)>,
);

fn directory() -> Directory {
    (
        vec![
            ("u-admin", "Mock User", "mock.user@example.com"),
            ("u-ann", "Ann Example", "ann@example.com"),
            ("u-bob", "Bob Example", "bob@example.com"),
        ],
        vec![
            ("g-eng", "Eng", "eng@example.com", vec!["u-ann", "u-admin"]),
            ("g-sales", "Sales", "sales@example.com", vec!["u-bob"]),
        ],
    )
}

fn expected(d: &Directory) -> Expected {
    Expected {
        users: d.0.iter().map(|u| u.0.to_string()).collect(),
        groups: d
            .1
            .iter()
            .map(|g| {
                (
                    g.0.to_string(),
                    g.1.to_string(),
                    g.3.iter().map(|m| m.to_string()).collect(),
                )
            })
            .collect(),
    }
}

async fn post_directory(mock: &Server, body: Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/debug/directory", mock.endpoint))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn onedrive_for_business_team() {
    let mock = onedrive_mock().await;
    let d = directory();
    let users: Vec<Value> = d.0.iter().map(|(id, name, mail)| json!({"id": id, "displayName": name, "mail": mail, "userPrincipalName": mail})).collect();
    let groups: Vec<Value> = d.1.iter().map(|(id, name, mail, members)| json!({"id": id, "displayName": name, "mail": mail, "members": members})).collect();
    post_directory(&mock, json!({"users": users, "groups": groups})).await;
    let endpoint = mock.endpoint.clone();
    let app = TestApp::builder()
        .settings(move |s| {
            let p = &mut s.providers.onedrive;
            p.api_url = endpoint.clone();
            p.content_url = endpoint.clone();
            p.token_url = format!("{endpoint}/no-token-endpoint");
            p.authorize_url = format!("{endpoint}/no-authorize-endpoint");
        })
        .spawn()
        .await;
    let (_, key) = app.create_app("graph-team").await;
    let expiry = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let import = |service: &str, admin: bool| {
        json!({"service": service, "account": "mock.user@example.com", "token": "valid-token",
               "refresh_token": "refresh-1", "token_expiry": expiry, "admin": admin})
    };
    let (_, token) = app.import(&key, &import("onedrivebiz", true)).await;
    let a = app.with_token(&token);
    admin_account(&app, &a, &key).await;
    walk(&a, &expected(&d), 2).await;
    let g = a.get_json(&format!("{TEAM}/groups/g-eng")).await;
    assert_eq!(g["email"], "eng@example.com", "{g}");
    as_user(&a, "u-ann").await;

    // A personal OneDrive has no team: 501, and it cannot be made an admin account.
    let r = app
        .with_key(&key)
        .post_json("/v1/accounts", &import("onedrive", true))
        .await;
    assert_error(r, 501, "not_implemented").await;
    let (_, personal) = app.import(&key, &import("onedrive", false)).await;
    let r = app
        .with_token(&personal)
        .get(&format!("{TEAM}/users"))
        .await;
    assert_error(r, 501, "not_implemented").await;
}

#[tokio::test]
async fn google_workspace_team() {
    let mock = drive_mock().await;
    let d = directory();
    let users: Vec<Value> = d.0.iter().map(|(id, name, mail)| json!({"id": id, "primaryEmail": mail, "name": {"fullName": name}, "isAdmin": *id == "u-admin"})).collect();
    let groups: Vec<Value> =
        d.1.iter()
            .map(|(id, name, mail, members)| {
                let members: Vec<Value> = members
                .iter()
                .map(|m| json!({"id": m, "role": if *m == "u-ann" { "OWNER" } else { "MEMBER" }}))
                .collect();
                json!({"id": id, "name": name, "email": mail, "members": members})
            })
            .collect();
    post_directory(&mock, json!({"users": users, "groups": groups})).await;
    let app = app_with_drive(&mock.endpoint).await;
    let (_, key) = app.create_app("google-team").await;
    let mut body = drive_account("mock@example.com");
    body["admin"] = true.into();
    let (_, token) = app.import(&key, &body).await;
    let a = app.with_token(&token);
    admin_account(&app, &a, &key).await;
    walk(&a, &expected(&d), 2).await;
    let members = a.get_json(&format!("{TEAM}/groups/g-eng/members")).await;
    let ann = members["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "u-ann")
        .unwrap();
    assert_eq!(ann["role"], "owner", "{members}");
    let me = a.get_json(&format!("{TEAM}/users/u-admin")).await;
    assert_eq!(
        (me["role"].as_str(), me["name"].as_str()),
        (Some("admin"), Some("Mock User"))
    );
    // Drive cannot act as a member with the admin's own token.
    let r = a
        .req(Method::GET, &format!("{STORAGE}/folders/root/contents"))
        .header("X-Kloudless-As-User", "u-ann")
        .go()
        .await;
    let e = assert_error(r, 501, "not_implemented").await;
    assert!(e["message"].as_str().unwrap().contains("delegation"), "{e}");
    // Without the header the admin's own Drive answers.
    let r = a.get(&format!("{STORAGE}/folders/root/contents")).await;
    assert_eq!(r.status(), 200);
    // A plain account of the same user is no admin.
    let (_, plain) = app.import(&key, &drive_account("plain@example.com")).await;
    not_admin(&app.with_token(&plain), "u-ann").await;
}

#[tokio::test]
async fn services_without_a_team_answer_501() {
    let s3 = moto().await;
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("no-team").await;
    let (_, local) = app.import_local(&key, "alice").await;
    let s3_body = json!({
        "service": "s3_compatible", "account": "bucket", "token": "AK", "token_secret": "SK",
        "bucket": "bucket-one", "endpoint": s3.endpoint, "region": "us-east-1",
    });
    let (_, s3_token) = app.import(&key, &s3_body).await;
    for token in [&local, &s3_token] {
        let a = app.with_token(token);
        for path in [
            "users",
            "users/x",
            "users/x/memberships",
            "groups",
            "groups/x",
            "groups/x/members",
        ] {
            let e = assert_error(
                a.get(&format!("{TEAM}/{path}")).await,
                501,
                "not_implemented",
            )
            .await;
            assert!(e["message"].as_str().unwrap().contains("no team"), "{e}");
        }
        // Not admin accounts: the header is refused.
        let r = a
            .req(Method::GET, &format!("{STORAGE}/folders/root/contents"))
            .header("X-Kloudless-As-User", "someone")
            .go()
            .await;
        assert_error(r, 403, "forbidden").await;
    }
    // Neither can be imported as an admin account.
    let mut admin = s3_body.clone();
    admin["admin"] = true.into();
    let r = app.with_key(&key).post_json("/v1/accounts", &admin).await;
    assert_error(r, 501, "not_implemented").await;
    let r = app
        .with_key(&key)
        .post_json(
            "/v1/accounts",
            &json!({"service": "local", "account": "bob", "admin": true}),
        )
        .await;
    assert_error(r, 501, "not_implemented").await;
}
