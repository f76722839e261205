//! Event collection and the Events API: changes made through Cloudbridge and straight on
//! the service become events, once each and in order, collected by the real scheduler
//! and workers; cursors behave as the SDKs expect.

use std::{path::PathBuf, time::Duration};

use cloudbridge_shared::Settings;
use reqwest::Method;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::helpers::{assert_error, Caller, Go, TestApp, STORAGE};

/// A Cloudbridge whose scheduler collects every account every second.
pub struct Collecting {
    pub app: TestApp,
    scheduler: CancellationToken,
}

impl Collecting {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Same, with more settings changed.
    pub async fn start_with(tweak: impl FnOnce(&mut Settings) + 'static) -> Self {
        let app = TestApp::builder()
            .settings(|s| {
                s.events.interval_secs = 1;
                s.events.early_collect_ms = 0;
                tweak(s);
            })
            .spawn()
            .await;
        Self::around(app)
    }

    /// Runs a scheduler collecting every second for an app built elsewhere.
    pub fn around(app: TestApp) -> Self {
        let mut settings = app.settings().clone();
        settings.events.interval_secs = 1;
        let scheduler = CancellationToken::new();
        tokio::spawn(cloudbridge_scheduler::run(settings, scheduler.clone()));
        Self { app, scheduler }
    }

    /// Turns collection on for the application of `user`'s account and waits for the
    /// account's first collection; returns the account id.
    pub async fn collect_for(&self, user: &Caller) -> i64 {
        let account = user.get_json("/v1/accounts/me").await["id"]
            .as_i64()
            .unwrap();
        let app_id = self.app_of(account).await;
        let r = self
            .app
            .dev_caller()
            .send_json(
                Method::PATCH,
                &format!("/v1/applications/{app_id}"),
                &json!({"events_grant_enabled": true}),
            )
            .await;
        assert_eq!(r.status(), 200);
        self.seeded(account).await;
        account
    }

    /// An application that collects events: `(application id, API key)`.
    pub async fn collecting_app(&self) -> (String, String) {
        let r = self
            .app
            .dev_caller()
            .post_json(
                "/v1/applications",
                &json!({"name": "watcher", "events_grant_enabled": true}),
            )
            .await;
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        (
            body["id"].as_str().unwrap().into(),
            body["api_key"].as_str().unwrap().into(),
        )
    }

    /// An application that collects events and notifies a local webhook receiver
    /// (registered, its verification ping answered): `(application id, API key, receiver)`.
    pub async fn watched_app(&self) -> (String, String, crate::webhooks::receiver::Receiver) {
        let (app_id, key) = self.collecting_app().await;
        let receiver = crate::webhooks::receiver::Receiver::start(&app_id, &key).await;
        let r = self
            .app
            .dev_caller()
            .post_json(
                &format!("/v1/applications/{app_id}/webhooks"),
                &json!({"url": receiver.url}),
            )
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        (app_id, key, receiver)
    }

    /// The application an account belongs to.
    pub async fn app_of(&self, account: i64) -> String {
        sqlx::query_scalar("SELECT application_id FROM accounts WHERE id = $1")
            .bind(account)
            .fetch_one(&self.db().await)
            .await
            .unwrap()
    }

    /// Makes `account` due now, as if its interval had passed. Apps built by the service
    /// harnesses keep the default interval, so after the first collection an account is
    /// next due at a random point of the next 60 s; from the next sweep on, every second.
    pub async fn due_now(&self, account: i64) {
        sqlx::query("UPDATE event_feeds SET next_collect_at = now() WHERE account_id = $1")
            .bind(account)
            .execute(&self.db().await)
            .await
            .unwrap();
    }

    pub async fn db(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(self.app.settings().database.url.expose())
            .await
            .unwrap()
    }

    /// Waits until `account` has been collected `n` more times (driven by the scheduler's
    /// one-second rounds; 30 s at most).
    pub async fn rounds_pass(&self, account: i64, n: usize) {
        let db = self.db().await;
        let last = || {
            sqlx::query_scalar::<_, Option<chrono::DateTime<chrono::Utc>>>(
                "SELECT last_collected_at FROM event_feeds WHERE account_id = $1",
            )
            .bind(account)
            .fetch_one(&db)
        };
        let mut seen = last().await.unwrap();
        let mut passed = 0;
        for _ in 0..300 {
            let now = last().await.unwrap();
            if now != seen {
                (seen, passed) = (now, passed + 1);
                if passed == n {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("account {account} was collected {passed} of {n} more times");
    }

    /// Waits until the account's first collection recorded what exists.
    pub async fn seeded(&self, account: i64) {
        let db = self.db().await;
        for _ in 0..200 {
            let seeded: Option<bool> =
                sqlx::query_scalar("SELECT seeded FROM event_feeds WHERE account_id = $1")
                    .bind(account)
                    .fetch_optional(&db)
                    .await
                    .unwrap();
            if seeded == Some(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("account {account} was never seeded");
    }

    /// Reads events after `cursor` until at least `n` arrived (15 s at most); returns
    /// them all and the cursor after them.
    pub async fn events(&self, token: &str, cursor: &str, n: usize) -> (Vec<Value>, String) {
        self.events_of(&self.app.with_token(token), cursor, n).await
    }

    /// [`Collecting::events`] of the account `caller` acts for.
    pub async fn events_of(&self, caller: &Caller, cursor: &str, n: usize) -> (Vec<Value>, String) {
        let mut found = Vec::new();
        let mut cursor = cursor.to_string();
        for _ in 0..150 {
            let page = caller
                .get_json(&format!(
                    "/v1/accounts/me/events?cursor={cursor}&page_size=2"
                ))
                .await;
            let objects = page["objects"].as_array().unwrap().clone();
            assert_eq!(page["count"], objects.len());
            cursor = page["cursor"].as_str().unwrap().to_string();
            let more = page["remaining"].as_i64().unwrap() > 0;
            found.extend(objects);
            if found.len() >= n && !more {
                return (found, cursor);
            }
            if !more {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        panic!("only {} of {n} events arrived: {found:#?}", found.len());
    }
}

impl Drop for Collecting {
    fn drop(&mut self) {
        self.scheduler.cancel();
    }
}

/// `(type, path)` of each event.
pub fn kinds(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["metadata"]["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn b64(path: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(path)
}

/// What a service can tell about its items.
#[derive(Clone, Copy)]
struct Knows {
    /// Items have ids of their own: renames and moves are told apart (else the new path
    /// is an `add` and the old one a `delete`).
    ids: bool,
    /// The service reports copies as such (else a copy is an `add`).
    copies: bool,
}

const PATHS: Knows = Knows {
    ids: false,
    copies: false,
};
const IDS: Knows = Knows {
    ids: true,
    copies: false,
};
const IDS_AND_COPIES: Knows = Knows {
    ids: true,
    copies: true,
};

/// Makes every kind of change through Cloudbridge on `user`'s (collecting, seeded)
/// account, waiting for each one's events before the next; then reads them all back
/// from the start, two per page: each change once, in order, and nothing collected twice
/// in the rounds after. Returns the events and the cursor after them.
async fn changes_become_events(
    c: &Collecting,
    user: &Caller,
    knows: Knows,
) -> (Vec<Value>, String) {
    let start = user.get_json("/v1/accounts/me/events/latest").await["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    let mut cursor = start.clone();
    let mut expected: Vec<(&str, &str)> = Vec::new();
    // Records what a change should give and waits for it.
    let mut expect = async |events: &[(&'static str, &'static str)]| {
        expected.extend_from_slice(events);
        cursor = c.events_of(user, &cursor, events.len()).await.1;
    };
    let file = |path: &str| format!("{STORAGE}/files/{}", b64(path));

    let folder = json!({"parent_id": "root", "name": "docs"});
    let r = user.post_json(&format!("{STORAGE}/folders"), &folder).await;
    assert_eq!(r.status(), 201);
    expect(&[("add", "/docs")]).await;

    assert_eq!(user.upload("root", "a.txt", "one").await.status(), 201);
    expect(&[("add", "/a.txt")]).await;

    let r = user
        .upload_req("root", "a.txt", "?overwrite=true")
        .body("two, longer")
        .go()
        .await;
    assert_eq!(r.status(), 201);
    expect(&[("update", "/a.txt")]).await;

    let rename = json!({"name": "b.txt"});
    let r = user.send_json(Method::PATCH, &file("a.txt"), &rename).await;
    assert_eq!(r.status(), 200);
    match knows.ids {
        true => expect(&[("rename", "/b.txt")]).await,
        false => expect(&[("add", "/b.txt"), ("delete", "/a.txt")]).await,
    }

    let into_docs = json!({"parent_id": b64("docs")});
    let r = user
        .send_json(Method::PATCH, &file("b.txt"), &into_docs)
        .await;
    assert_eq!(r.status(), 200);
    match knows.ids {
        true => expect(&[("move", "/docs/b.txt")]).await,
        false => expect(&[("add", "/docs/b.txt"), ("delete", "/b.txt")]).await,
    }

    let copy = json!({"parent_id": "root", "name": "c.txt"});
    let r = user
        .post_json(&format!("{}/copy", file("docs/b.txt")), &copy)
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    match knows.copies {
        true => expect(&[("copy", "/c.txt")]).await,
        false => expect(&[("add", "/c.txt")]).await,
    }

    assert_eq!(user.delete(&file("c.txt")).await.status(), 204);
    expect(&[("delete", "/c.txt")]).await;

    let docs = format!("{STORAGE}/folders/{}?recursive=true", b64("docs"));
    assert_eq!(user.delete(&docs).await.status(), 204);
    // What the folder held goes with it.
    expect(&[("delete", "/docs")]).await;

    let (all, end) = c.events_of(user, &start, expected.len()).await;
    let expected: Vec<(String, String)> = expected
        .into_iter()
        .map(|(k, p)| (k.to_string(), p.to_string()))
        .collect();
    assert_eq!(kinds(&all), expected);
    let ids: Vec<i64> = all
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(end, ids.last().unwrap().to_string());
    assert_eq!(all[0]["metadata"]["type"], "folder");
    assert_eq!(all[0]["metadata"]["ids"]["path"], b64("docs"));
    // Services with ids of their own name items by them, the others by path.
    let id = all[0]["metadata"]["id"].as_str().unwrap();
    assert!(id == b64("docs") || id.starts_with("folder_"), "{id}");
    assert_eq!(all[1]["metadata"]["type"], "file");
    // Two more collections find nothing more.
    let account = user.get_json("/v1/accounts/me").await["id"]
        .as_i64()
        .unwrap();
    c.rounds_pass(account, 2).await;
    let rest = user
        .get_json(&format!("/v1/accounts/me/events?cursor={end}"))
        .await;
    assert_eq!(rest["objects"], json!([]));
    assert_eq!(rest["remaining"], 0);
    assert_eq!(rest["cursor"], end);
    (all, end)
}

#[tokio::test]
async fn every_kind_of_change_on_local_disk_is_one_event_in_order() {
    let c = Collecting::start().await;
    let (_, key) = c.collecting_app().await;
    let (account, token) = c.app.import_local(&key, "alice").await;
    c.seeded(account).await;
    let user = c.app.with_token(&token);
    // Local disk keeps inodes: renames and moves are told apart.
    let (all, cursor) = changes_become_events(&c, &user, IDS).await;
    assert_eq!(all[1]["account"], account);

    // Straight on the disk, not through Cloudbridge: found by the next round.
    let root: PathBuf = c.app.local_folder(account);
    std::fs::write(root.join("outside.txt"), "written by another program").unwrap();
    let (added, cursor) = c.events_of(&user, &cursor, 1).await;
    std::fs::rename(root.join("outside.txt"), root.join("renamed.txt")).unwrap();
    let (renamed, cursor) = c.events_of(&user, &cursor, 1).await;
    std::fs::remove_file(root.join("renamed.txt")).unwrap();
    let (deleted, _) = c.events_of(&user, &cursor, 1).await;
    let outside: Vec<Value> = [added, renamed, deleted].concat();
    let expected = [
        ("add", "/outside.txt"),
        ("rename", "/renamed.txt"),
        ("delete", "/renamed.txt"),
    ];
    assert_eq!(
        kinds(&outside),
        expected.map(|(k, p)| (k.to_string(), p.to_string()))
    );
}

#[tokio::test]
async fn the_python_sdk_iterates_events_with_its_cursor_logic_and_stops() {
    let c = Collecting::start().await;
    let (_, key) = c.collecting_app().await;
    let (account, token) = c.app.import_local(&key, "bob").await;
    c.seeded(account).await;
    let user = c.app.with_token(&token);
    for name in ["1.txt", "2.txt", "3.txt", "4.txt", "5.txt"] {
        assert_eq!(user.upload("root", name, name).await.status(), 201);
    }
    let (all, end) = c.events(&token, "0", 5).await;
    assert_eq!(all.len(), 5);

    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/sdk/kloudless_sdk_events.py");
    let output = tokio::process::Command::new(crate::sdk::python())
        .arg(&script)
        .env("CLOUDBRIDGE_BASE_URL", &c.app.base)
        .env("CLOUDBRIDGE_TOKEN", &token)
        .env("CLOUDBRIDGE_CURSOR", "0")
        .env("CLOUDBRIDGE_PAGE_SIZE", "2")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Vec<Value> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("event "))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // In cursor order, each once.
    let ids: Vec<i64> = seen
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let paths: Vec<&str> = seen.iter().map(|e| e["path"].as_str().unwrap()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(sorted, ["/1.txt", "/2.txt", "/3.txt", "/4.txt", "/5.txt"]);
    assert!(seen.iter().all(|e| e["type"] == "add"));
    assert!(stdout.contains(&format!("latest {end}\n")), "{stdout}");
    assert!(stdout.contains(&format!("end {end}\n")), "{stdout}");
    assert!(stdout.contains("again 0\n"), "{stdout}");
}

#[tokio::test]
async fn bad_cursors_and_page_sizes_are_clear_errors() {
    let c = Collecting::start().await;
    let (_, key) = c.collecting_app().await;
    let (account, token) = c.app.import_local(&key, "carol").await;
    c.seeded(account).await;
    let user = c.app.with_token(&token);
    for query in [
        "page_size=100000",
        "page_size=0",
        "page_size=x",
        "cursor=abc",
        "cursor=-1",
    ] {
        let r = user.get(&format!("/v1/accounts/me/events?{query}")).await;
        assert_error(r, 400, "invalid_parameters").await;
    }
    // Another application's key cannot read this account's events.
    let (_, other_key) = c.app.create_app("other").await;
    let r = c
        .app
        .with_key(&other_key)
        .get(&format!("/v1/accounts/{account}/events"))
        .await;
    assert_error(r, 404, "not_found").await;
    // The owner's key can (with the numeric id).
    let r = c
        .app
        .with_key(&key)
        .get(&format!("/v1/accounts/{account}/events/latest"))
        .await;
    assert_eq!(r.status(), 200);

    // Events past retention are purged; a cursor from before them has expired.
    assert_eq!(user.upload("root", "x.txt", "x").await.status(), 201);
    let (events, after) = c.events(&token, "0", 1).await;
    assert_eq!(events.len(), 1);
    let db = c.db().await;
    let removed = cloudbridge_shared::db::events::purge(&db, 0, 100)
        .await
        .unwrap();
    assert_eq!(removed, 1);
    let r = user.get("/v1/accounts/me/events?cursor=0").await;
    let body = assert_error(r, 400, "cursor_expired").await;
    assert!(body["message"].as_str().unwrap().contains("latest"));
    // The latest cursor is still good, and so is the one after the purged event.
    let latest = user.get_json("/v1/accounts/me/events/latest").await;
    assert_eq!(latest["cursor"], after);
    let r = user
        .get_json(&format!("/v1/accounts/me/events?cursor={after}"))
        .await;
    assert_eq!(r["objects"], json!([]));
}

#[tokio::test]
async fn applications_that_do_not_collect_have_no_events() {
    let c = Collecting::start().await;
    let (app_id, key) = c.app.create_app("quiet").await;
    let (account, token) = c.app.import_local(&key, "dave").await;
    let db = c.db().await;
    let feeds: i64 = sqlx::query_scalar("SELECT count(*) FROM event_feeds")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(feeds, 0);
    // What exists when collection starts is recorded, not reported.
    let user = c.app.with_token(&token);
    assert_eq!(user.upload("root", "before.txt", "b").await.status(), 201);
    // Turning collection on starts it for existing accounts; off stops it.
    let r = c
        .app
        .dev_caller()
        .send_json(
            Method::PATCH,
            &format!("/v1/applications/{app_id}"),
            &json!({"events_grant_enabled": true}),
        )
        .await;
    assert_eq!(r.status(), 200);
    c.seeded(account).await;
    assert_eq!(user.upload("root", "y.txt", "y").await.status(), 201);
    let (events, _) = c.events(&token, "0", 1).await;
    assert_eq!(kinds(&events), [("add".to_string(), "/y.txt".to_string())]);
    let r = c
        .app
        .dev_caller()
        .send_json(
            Method::PATCH,
            &format!("/v1/applications/{app_id}"),
            &json!({"events_grant_enabled": false}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let feeds: i64 = sqlx::query_scalar("SELECT count(*) FROM event_feeds")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(feeds, 0);
}

#[tokio::test]
async fn s3_changes_are_found_by_listing() {
    let moto = crate::helpers::moto().await;
    let c = Collecting::start().await;
    let (_, key) = c.collecting_app().await;
    let body = json!({
        "service": "s3_compatible", "account": "events", "token": "AK", "token_secret": "SK",
        "bucket": "bucket-one", "endpoint": moto.endpoint,
    });
    let (account, token) = c.app.import(&key, &body).await;
    let user = c.app.with_token(&token);
    c.seeded(account).await;
    changes_become_events(&c, &user, PATHS).await;
}

#[tokio::test]
async fn webdav_changes_are_found_by_listing() {
    let dir = tempfile::tempdir().unwrap();
    let dav = crate::helpers::rclone_webdav(dir.path()).await;
    let c = Collecting::start().await;
    let (_, key) = c.collecting_app().await;
    let body = json!({
        "service": "webdav", "account": "events", "url": dav.endpoint,
        "token": "dav", "token_secret": "dav-password",
    });
    let (account, token) = c.app.import(&key, &body).await;
    let user = c.app.with_token(&token);
    c.seeded(account).await;
    changes_become_events(&c, &user, PATHS).await;
}

#[tokio::test]
async fn sftp_changes_are_found_by_listing() {
    let sshd = crate::helpers::Sshd::start().await;
    let root = sshd.root("events");
    let c = Collecting::start().await;
    let (_, key) = c.collecting_app().await;
    let (account, token) = c.app.import(&key, &sshd.password_account(&root)).await;
    let user = c.app.with_token(&token);
    c.seeded(account).await;
    changes_become_events(&c, &user, PATHS).await;
}

#[tokio::test]
async fn losing_queued_collections_in_redis_delays_them_but_loses_none() {
    let mut c = Collecting::start().await;
    let (_, key) = c.collecting_app().await;
    let (account, token) = c.app.import_local(&key, "erin").await;
    c.seeded(account).await;
    // No worker: the scheduler keeps claiming the account and queueing its collection.
    for worker in c.app.take_workers() {
        worker.cancel();
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // The change is written on the disk (no worker runs API jobs now either).
    let root = c.app.local_folder(account);
    std::fs::write(root.join("while-down.txt"), "x").unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // Redis loses everything queued (a restart without persistence).
    let mut redis = redis::Client::open(c.app.settings().redis.url.expose())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let pattern = format!("{}:*", c.app.settings().redis.prefix);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut redis)
        .await
        .unwrap();
    // A worker comes back: the due times in PostgreSQL bring the collection back.
    c.app.start_worker();
    let (events, _) = c.events(&token, "0", 1).await;
    assert_eq!(
        kinds(&events),
        [("add".to_string(), "/while-down.txt".to_string())]
    );
}

#[tokio::test]
async fn collected_events_ping_the_applications_webhook_once_per_burst() {
    let c = Collecting::start_with(|_| {}).await;
    let (_, key, receiver) = c.watched_app().await;
    let (account, token) = c.app.import_local(&key, "frank").await;
    c.seeded(account).await;
    let user = c.app.with_token(&token);
    let root = c.app.local_folder(account);
    // A burst: three files in one collection round.
    for n in 0..3 {
        std::fs::write(root.join(format!("burst{n}.txt")), "x").unwrap();
    }
    let (events, _) = c.events(&token, "0", 3).await;
    assert_eq!(events.len(), 3);
    for _ in 0..100 {
        if !receiver.notifications().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pings = receiver.notifications();
    assert_eq!(pings.len(), 1, "{pings:?}");
    assert_eq!(pings[0].body, format!("account={account}"));
    assert_eq!(pings[0].content_type, "application/x-www-form-urlencoded");
    assert!(pings[0].signed);
    // The receiver pulls the events the ping announced.
    let pulled = user.get_json("/v1/accounts/me/events?cursor=0").await;
    assert_eq!(pulled["count"], 3);
    // Quiet rounds send nothing more.
    c.rounds_pass(account, 2).await;
    assert_eq!(receiver.notifications().len(), 1);
}

#[tokio::test]
async fn dropbox_changes_come_from_list_folder_continue() {
    let fake = cloudbridge_fakes::dropbox::FakeDropbox::start().await;
    let c = Collecting::around(crate::dropbox::app_for(&fake).await);
    let (user, access) = crate::dropbox::import(&c.app, &fake).await;
    let account = c.collect_for(&user).await;
    changes_become_events(&c, &user, IDS).await;
    let elsewhere = async {
        let r = reqwest::Client::new()
            .post(format!("{}/2/files/create_folder_v2", fake.url()))
            .bearer_auth(&access)
            .json(&json!({"path": "/from-elsewhere"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    };
    made_elsewhere_is_collected(&c, &user, account, elsewhere).await;
}

#[tokio::test]
async fn box_changes_come_from_the_event_stream() {
    let fake = crate::boxcom::fake(|_| {}).await;
    let c = Collecting::around(crate::boxcom::app_for(&fake).await);
    let user = crate::boxcom::import(&c.app, "box-access-token", None).await;
    let account = c.collect_for(&user).await;
    changes_become_events(&c, &user, IDS_AND_COPIES).await;
    let elsewhere = async {
        let r = reqwest::Client::new()
            .post(format!("{}/2.0/folders", fake.url()))
            .bearer_auth("box-access-token")
            .json(&json!({"name": "from-elsewhere", "parent": {"id": "0"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    };
    made_elsewhere_is_collected(&c, &user, account, elsewhere).await;
}

#[tokio::test]
async fn gdrive_changes_come_from_the_changes_feed() {
    let mock = crate::gdrive::drive_mock().await;
    let c = Collecting::around(crate::gdrive::app_with_drive(&mock.endpoint).await);
    let (_, key) = c.app.create_app("gdrive").await;
    let (_, token) = c
        .app
        .import(&key, &crate::gdrive::account("mock@example.com"))
        .await;
    let user = c.app.with_token(&token);
    let account = c.collect_for(&user).await;
    changes_become_events(&c, &user, IDS).await;
    let elsewhere = async {
        crate::gdrive::seed(&mock, "from-elsewhere", "text/plain").await;
    };
    made_elsewhere_is_collected(&c, &user, account, elsewhere).await;
}

#[tokio::test]
async fn onedrive_changes_come_from_delta() {
    let mock = crate::onedrive::onedrive_mock().await;
    let (app, token) = crate::onedrive::onedrive_account(&mock, "onedrive").await;
    let c = Collecting::around(app);
    let user = c.app.with_token(&token);
    let account = c.collect_for(&user).await;
    changes_become_events(&c, &user, IDS).await;
    let folder = json!({"name": "from-elsewhere", "folder": {}});
    let elsewhere = async {
        crate::onedrive::graph(
            &mock,
            reqwest::Method::POST,
            "/items/root/children",
            Some(folder),
        )
        .await;
    };
    made_elsewhere_is_collected(&c, &user, account, elsewhere).await;
}

/// A change made at the service itself, by another of its clients: Cloudbridge did not
/// see it happen, so there is no early collection, and the regular collection (from the
/// service's change feed) must find it. `change` adds `/from-elsewhere`.
async fn made_elsewhere_is_collected(
    c: &Collecting,
    user: &Caller,
    account: i64,
    change: impl std::future::Future<Output = ()>,
) {
    let latest = user.get_json("/v1/accounts/me/events/latest").await["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    change.await;
    c.due_now(account).await;
    let (found, _) = c.events_of(user, &latest, 1).await;
    assert_eq!(
        kinds(&found),
        [("add".to_string(), "/from-elsewhere".to_string())]
    );
}

#[tokio::test]
async fn an_expired_feed_position_is_a_resync_by_listing_not_silence() {
    let fake = crate::boxcom::fake(|_| {}).await;
    let c = Collecting::around(crate::boxcom::app_for(&fake).await);
    let user = crate::boxcom::import(&c.app, "box-access-token", None).await;
    c.collect_for(&user).await;
    assert_eq!(user.upload("root", "x.txt", "x").await.status(), 201);
    let (_, cursor) = c.events_of(&user, "0", 1).await;
    // Box forgets its events right after this upload: only listing the account finds it.
    assert_eq!(user.upload("root", "y.txt", "y").await.status(), 201);
    fake.expire_events();
    let (found, cursor) = c.events_of(&user, &cursor, 1).await;
    assert_eq!(kinds(&found), [("add".to_string(), "/y.txt".to_string())]);
    // The feed is followed again from a fresh position.
    assert_eq!(user.upload("root", "z.txt", "z").await.status(), 201);
    let (found, _) = c.events_of(&user, &cursor, 1).await;
    assert_eq!(kinds(&found), [("add".to_string(), "/z.txt".to_string())]);
    let (all, _) = c.events_of(&user, "0", 3).await;
    assert_eq!(all.len(), 3);
}

/// Connects an account of a collecting application with `body` and, at once (no
/// collection has run), uploads a file: the upload is an event. The import answers only
/// once what the account holds is recorded, so nothing made after it can be mistaken for
/// what was there.
async fn the_first_change_after_connecting_is_an_event(c: &Collecting, body: &Value) {
    let (_, key) = c.collecting_app().await;
    let (_, token) = c.app.import(&key, body).await;
    let user = c.app.with_token(&token);
    let r = user
        .upload("root", "first.txt", "right after connecting")
        .await;
    assert_eq!(r.status(), 201);
    let (found, _) = c.events_of(&user, "0", 1).await;
    assert_eq!(
        kinds(&found),
        [("add".to_string(), "/first.txt".to_string())]
    );
}

#[tokio::test]
async fn the_first_change_after_connecting_is_an_event_on_every_kind_of_service() {
    let c = Collecting::start().await;
    let local = json!({"service": "local", "account": "first"});
    the_first_change_after_connecting_is_an_event(&c, &local).await;

    let moto = crate::helpers::moto().await;
    let s3 = json!({
        "service": "s3_compatible", "account": "first", "token": "AK", "token_secret": "SK",
        "bucket": "bucket-one", "endpoint": moto.endpoint,
    });
    the_first_change_after_connecting_is_an_event(&c, &s3).await;

    let dir = tempfile::tempdir().unwrap();
    let dav = crate::helpers::rclone_webdav(dir.path()).await;
    let webdav = json!({
        "service": "webdav", "account": "first", "url": dav.endpoint,
        "token": "dav", "token_secret": "dav-password",
    });
    the_first_change_after_connecting_is_an_event(&c, &webdav).await;

    let sshd = crate::helpers::Sshd::start().await;
    let sftp = sshd.password_account(&sshd.root("first"));
    the_first_change_after_connecting_is_an_event(&c, &sftp).await;
}

#[tokio::test]
async fn the_first_change_after_connecting_is_an_event_on_a_native_feed() {
    let mock = crate::gdrive::drive_mock().await;
    let c = Collecting::around(crate::gdrive::app_with_drive(&mock.endpoint).await);
    the_first_change_after_connecting_is_an_event(&c, &crate::gdrive::account("mock@example.com"))
        .await;
}

#[tokio::test]
async fn a_collection_that_outlived_its_lease_writes_nothing() {
    use cloudbridge_shared::db::feeds::{self, FencedError, Next};
    let c = Collecting::start_with(|s| s.events.sweep_cron = "0 0 0 1 1 * 2099".into()).await;
    let (_, key) = c.collecting_app().await;
    let (account, _) = c.app.import_local(&key, "fenced").await;
    let db = c.db().await;
    let first = feeds::lease(&db, account, 300)
        .await
        .unwrap()
        .expect("lease");
    assert!(
        feeds::lease(&db, account, 300).await.unwrap().is_none(),
        "held"
    );
    // The first collection hangs past its lease; a second one takes over.
    sqlx::query(
        "UPDATE event_feeds SET lease_until = now() - interval '1 second' WHERE account_id = $1",
    )
    .bind(account)
    .execute(&db)
    .await
    .unwrap();
    let second = feeds::lease(&db, account, 300)
        .await
        .unwrap()
        .expect("taken over");
    let mut tx = db.begin().await.unwrap();
    feeds::extend(&mut tx, &second, 300).await.unwrap();
    feeds::save_cursor(&mut tx, &second, Some("newer"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // Every write of the first one is refused, and changes nothing.
    let mut tx = db.begin().await.unwrap();
    assert!(matches!(
        feeds::extend(&mut tx, &first, 300).await,
        Err(FencedError::Lost)
    ));
    assert!(matches!(
        feeds::save_cursor(&mut tx, &first, Some("older")).await,
        Err(FencedError::Lost)
    ));
    drop(tx);
    assert!(matches!(
        feeds::fail(&db, &first, "late").await,
        Err(FencedError::Lost)
    ));
    assert!(matches!(
        feeds::finish(&db, &first, Next::Now).await,
        Err(FencedError::Lost)
    ));
    let (cursor, held): (Option<String>, bool) =
        sqlx::query_as("SELECT cursor, lease_until > now() FROM event_feeds WHERE account_id = $1")
            .bind(account)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(cursor.as_deref(), Some("newer"));
    assert!(held, "the second collection still holds its lease");
    feeds::finish(&db, &second, Next::Scheduled).await.unwrap();
}

#[tokio::test]
async fn a_change_made_while_a_collection_runs_is_collected_after_it() {
    use cloudbridge_shared::db::feeds::{self, Next};
    let c = Collecting::start_with(|s| s.events.sweep_cron = "0 0 0 1 1 * 2099".into()).await;
    let (_, key) = c.collecting_app().await;
    let (account, _) = c.app.import_local(&key, "hurried").await;
    let db = c.db().await;
    let lease = feeds::lease(&db, account, 300)
        .await
        .unwrap()
        .expect("lease");
    // A change through Cloudbridge while the collection runs (it may have listed the
    // changed folder already) asks for a collection within 1 s...
    feeds::hurry(&db, account, 1_000).await.unwrap();
    // ...which the end of the running one must not push back by a whole interval.
    feeds::finish(&db, &lease, Next::Spread(3_600))
        .await
        .unwrap();
    let soon: bool = sqlx::query_scalar(
        "SELECT next_collect_at <= now() + interval '1 second' FROM event_feeds WHERE account_id = $1",
    )
    .bind(account)
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(soon, "the early collection was kept");
    // The request is used up: it does not hold later collections back.
    let left: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT hurry_at FROM event_feeds WHERE account_id = $1")
            .bind(account)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(left, None);
}
