//! Webhooks: the management API, the registration check, and at-least-once delivery from
//! the outbox to a receiver written from the spec, through outages, slow and throttling
//! receivers, dead notifications and their replay, and workers that die mid-send.
//!
//! Notifications are stored with `db::webhooks::notify` (what the event collector calls)
//! and sent by rounds of the worker's delivery (`cloudbridge_jobs::deliver_webhooks`),
//! which the tests run in a loop the way the scheduler's ticks would.

pub mod receiver;

use std::time::{Duration, Instant};

use cloudbridge_jobs::WorkerState;
use cloudbridge_shared::{db, Settings};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{assert_error, free_port, TestApp};
use receiver::{Act, Receiver};

/// Settings for delivery tests: receivers on loopback, quick retries.
pub fn quick(s: &mut Settings) {
    s.webhooks.backoff_base_ms = 50;
    s.webhooks.backoff_max_ms = 200;
    s.webhooks.timeout_ms = 2_000;
    s.webhooks.batch = 10;
    s.webhooks.concurrency = 4;
}

/// A Cloudbridge with one application and a local account of it.
struct Setup {
    app: TestApp,
    id: String,
    key: String,
    account: i64,
    db: PgPool,
    worker: WorkerState,
}

impl Setup {
    async fn new(tweak: impl FnOnce(&mut Settings) + 'static) -> Self {
        let app = TestApp::builder().settings(tweak).spawn().await;
        let (id, key) = app.create_app("hooks").await;
        let (account, _) = app.import_local(&key, "alice").await;
        let db = PgPool::connect(app.settings().database.url.expose())
            .await
            .unwrap();
        let worker = WorkerState::build(app.settings()).unwrap();
        Self {
            app,
            id,
            key,
            account,
            db,
            worker,
        }
    }

    fn hooks_path(&self) -> String {
        format!("/v1/applications/{}/webhooks", self.id)
    }

    /// Replays every dead notification of `hook` through the API: `(replayed, remaining)`.
    async fn replay_all(&self, hook: i64) -> (Option<i64>, Option<i64>) {
        let r = self
            .app
            .dev_caller()
            .send(
                Method::POST,
                &format!("{}/{hook}/replay", self.hooks_path()),
            )
            .await;
        assert_eq!(r.status(), 200);
        let all: Value = r.json().await.unwrap();
        (all["replayed"].as_i64(), all["remaining"].as_i64())
    }

    /// Registers `url`; returns the webhook's id.
    async fn register(&self, url: &str) -> i64 {
        let r = self
            .app
            .dev_caller()
            .post_json(&self.hooks_path(), &json!({ "url": url }))
            .await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        body["id"].as_i64().unwrap()
    }

    /// Another local account of the application.
    async fn another_account(&self, name: &str) -> i64 {
        self.app.import_local(&self.key, name).await.0
    }

    /// What the event collector does when it stores events of `account`.
    async fn notify(&self, account: i64) {
        let mut conn = self.db.acquire().await.unwrap();
        db::webhooks::notify(&mut conn, account).await.unwrap();
    }

    /// One delivery round, as one scheduler tick runs it.
    async fn round(&self) {
        cloudbridge_jobs::deliver_webhooks(&self.worker, 0).await;
    }

    /// The delivery log of webhook `hook` (all states), through the API.
    async fn log(&self, hook: i64, query: &str) -> Value {
        let r = self
            .app
            .dev_caller()
            .get(&format!("{}/{hook}/deliveries{query}", self.hooks_path()))
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// States of the account's notifications, oldest first.
    async fn states(&self, account: i64) -> Vec<String> {
        states(&self.db, account).await
    }

    /// Runs rounds until every notification of `accounts` is in `state` (at most 30 s).
    async fn rounds_until(&self, accounts: &[i64], state: &str) {
        rounds_until(&self.worker, &self.db, accounts, state).await;
    }
}

/// States of the account's notifications, oldest first.
pub async fn states(db: &PgPool, account: i64) -> Vec<String> {
    sqlx::query_scalar("SELECT state FROM webhook_deliveries WHERE account_id = $1 ORDER BY id")
        .bind(account)
        .fetch_all(db)
        .await
        .unwrap()
}

/// Runs delivery rounds, as the scheduler's ticks would, until every notification of
/// `accounts` is in `state` (at most 30 s).
pub async fn rounds_until(worker: &WorkerState, db: &PgPool, accounts: &[i64], state: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        cloudbridge_jobs::deliver_webhooks(worker, 0).await;
        let mut all = true;
        for &a in accounts {
            let states = states(db, a).await;
            all &= !states.is_empty() && states.iter().all(|s| s == state);
        }
        if all {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "notifications never became {state}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn body_of(account: i64) -> String {
    format!("account={account}")
}

/// The bodies of every notification `receiver` got, sorted.
fn sorted_bodies(receiver: &Receiver) -> Vec<String> {
    let mut bodies: Vec<String> = receiver
        .notifications()
        .into_iter()
        .map(|p| p.body)
        .collect();
    bodies.sort();
    bodies
}

/// One notification body per account of `accounts`, sorted.
fn expected_bodies(accounts: &[i64]) -> Vec<String> {
    let mut bodies: Vec<String> = accounts.iter().map(|a| body_of(*a)).collect();
    bodies.sort();
    bodies
}

#[tokio::test]
async fn webhooks_crud_and_isolation() {
    let s = Setup::new(quick).await;
    let receiver = Receiver::start(&s.id, &s.key).await;
    let dev = s.app.dev_caller();
    let path = s.hooks_path();

    let r = dev.post_json(&path, &json!({"url": receiver.url})).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["content-type"], "application/json");
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["url"], receiver.url.as_str());
    assert_eq!(
        (created["api"].as_str(), created["type"].as_str()),
        (Some("meta"), Some("webhook"))
    );
    assert!(created["created"].as_str().unwrap().ends_with('Z'));
    let hook = created["id"].as_i64().unwrap();

    // Registration sent one verification ping: empty body, signed, form-encoded.
    let pings = receiver.pings();
    assert_eq!(pings.len(), 1);
    assert!(pings[0].body.is_empty() && pings[0].signed);
    assert_eq!(pings[0].content_type, "application/x-www-form-urlencoded");

    let list = dev.get_json(&path).await;
    assert_eq!(list["type"], "object_list");
    assert_eq!(list["total"], 1);
    assert_eq!(list["objects"][0]["id"], hook);
    let one = dev.get_json(&format!("{path}/{hook}/")).await;
    assert_eq!(one["url"], receiver.url.as_str());
    assert_error(dev.get(&format!("{path}/nope")).await, 404, "not_found").await;
    assert_error(
        dev.get(&format!("{path}/{}", hook + 1)).await,
        404,
        "not_found",
    )
    .await;

    // Bad input is refused in the Kloudless format, and nothing is stored.
    let long = format!("{}?{}", receiver.url, "x".repeat(2_100));
    for body in [
        json!({}),
        json!({"url": ""}),
        json!({"url": "not a url"}),
        json!({"url": "ftp://example.com/hook"}),
        json!({"url": long}),
    ] {
        let r = dev.post_json(&path, &body).await;
        assert_error(r, 400, "invalid_parameters").await;
    }
    let r = dev
        .post_json(&path, &json!({"url": receiver.url, "color": "blue"}))
        .await;
    assert_error(r, 400, "bad_request").await;
    assert_eq!(dev.get_json(&path).await["total"], 1);

    // Another developer sees none of it; an application key is not a DeveloperKey.
    let other_key = db::developers::create_with_new_key(&s.db, "other@example.com")
        .await
        .unwrap();
    let other = s.app.with_auth(format!("DeveloperKey {other_key}"));
    assert_error(other.get(&path).await, 404, "not_found").await;
    assert_error(other.get(&format!("{path}/{hook}")).await, 404, "not_found").await;
    let r = other.post_json(&path, &json!({"url": receiver.url})).await;
    assert_error(r, 404, "not_found").await;
    let r = other.get(&format!("{path}/{hook}/deliveries")).await;
    assert_error(r, 404, "not_found").await;
    let r = other
        .send(Method::POST, &format!("{path}/{hook}/replay"))
        .await;
    assert_error(r, 404, "not_found").await;
    assert_error(
        other.delete(&format!("{path}/{hook}")).await,
        404,
        "not_found",
    )
    .await;
    assert_error(s.app.with_key(&s.key).get(&path).await, 403, "forbidden").await;
    assert_eq!(
        receiver.pings().len(),
        1,
        "no verification for refused calls"
    );

    let r = dev.delete(&format!("{path}/{hook}")).await;
    assert_eq!(r.status(), 204);
    assert_error(dev.get(&format!("{path}/{hook}")).await, 404, "not_found").await;
    assert_eq!(dev.get_json(&path).await["total"], 0);
}

#[tokio::test]
async fn private_urls_are_refused_by_default() {
    let s = Setup::new(crate::helpers::public_only).await;
    let receiver = Receiver::start(&s.id, &s.key).await;
    let port = receiver.port;
    for url in [
        receiver.url.clone(),
        format!("http://localhost:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
        "http://169.254.169.254/latest/meta-data".to_string(),
        "http://10.0.0.1/hook".to_string(),
    ] {
        let r = s
            .app
            .dev_caller()
            .post_json(&s.hooks_path(), &json!({ "url": url }))
            .await;
        let body = assert_error(r, 400, "invalid_parameters").await;
        assert!(
            body["message"].as_str().unwrap().contains("private"),
            "{body}"
        );
    }
    assert!(receiver.pings().is_empty(), "nothing was sent");
    assert_eq!(
        s.app.dev_caller().get_json(&s.hooks_path()).await["total"],
        0
    );
}

#[tokio::test]
async fn a_receiver_failing_verification_is_not_registered() {
    let s = Setup::new(quick).await;
    let receiver = Receiver::start(&s.id, &s.key).await;
    receiver.script([Act::WrongBody, Act::Status(404)]);
    for _ in 0..2 {
        let r = s
            .app
            .dev_caller()
            .post_json(&s.hooks_path(), &json!({"url": receiver.url}))
            .await;
        let body = assert_error(r, 400, "bad_request").await;
        assert!(
            body["message"].as_str().unwrap().contains("verification"),
            "{body}"
        );
    }
    // Nobody listening at all.
    let closed = format!("http://127.0.0.1:{}/hook", free_port());
    let r = s
        .app
        .dev_caller()
        .post_json(&s.hooks_path(), &json!({"url": closed}))
        .await;
    assert_error(r, 400, "bad_request").await;
    assert_eq!(
        s.app.dev_caller().get_json(&s.hooks_path()).await["total"],
        0
    );
    // The receiver answering properly now passes.
    s.register(&receiver.url).await;
}

#[tokio::test]
async fn without_secret_keys_webhooks_are_not_implemented() {
    let app = TestApp::builder()
        .settings(|s| {
            quick(s);
            s.secrets.keys = cloudbridge_shared::Secret::new("");
        })
        .spawn()
        .await;
    let (id, key) = app.create_app("no keys").await;
    let receiver = Receiver::start(&id, &key).await;
    let r = app
        .dev_caller()
        .post_json(
            &format!("/v1/applications/{id}/webhooks"),
            &json!({"url": receiver.url}),
        )
        .await;
    assert_error(r, 501, "not_implemented").await;
    assert!(receiver.pings().is_empty());
}

#[tokio::test]
async fn a_burst_is_one_signed_ping() {
    let s = Setup::new(quick).await;
    let receiver = Receiver::start(&s.id, &s.key).await;
    let hook = s.register(&receiver.url).await;
    let sealed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM api_keys WHERE application_id = $1 AND key_sealed IS NOT NULL",
    )
    .bind(&s.id)
    .fetch_one(&s.db)
    .await
    .unwrap();
    assert_eq!(sealed, 1, "the application's key is kept sealed");

    for _ in 0..3 {
        s.notify(s.account).await;
    }
    s.rounds_until(&[s.account], "delivered").await;
    let got = receiver.notifications();
    assert_eq!(got.len(), 1, "three notifies coalesce into one ping");
    assert_eq!(got[0].body, body_of(s.account));
    assert!(got[0].signed);
    assert_eq!(got[0].content_type, "application/x-www-form-urlencoded");

    let log = s.log(hook, "?state=delivered").await;
    assert_eq!(log["type"], "object_list");
    assert_eq!(log["total"], 1);
    let d = &log["objects"][0];
    assert_eq!(
        (d["state"].as_str(), d["account"].as_i64()),
        (Some("delivered"), Some(s.account))
    );
    assert_eq!(
        (d["attempts"].as_i64(), d["last_status"].as_i64()),
        (Some(0), Some(200))
    );
    assert!(d["finished"].as_str().is_some() && d["next_attempt"].is_null());
    assert_eq!(d["attempt_log"].as_array().unwrap().len(), 1);
    assert_eq!(d["attempt_log"][0]["status"], 200);
    assert_eq!(s.log(hook, "?state=pending").await["total"], 0);
    let r = s
        .app
        .dev_caller()
        .get(&format!("{}/{hook}/deliveries?state=lost", s.hooks_path()))
        .await;
    assert_error(r, 400, "invalid_parameters").await;

    // Housekeeping forgets delivered notifications once they are old enough.
    assert_eq!(
        db::webhooks::forget_delivered(&s.db, 3_600, 100)
            .await
            .unwrap(),
        0
    );
    sqlx::query("UPDATE webhook_deliveries SET finished_at = now() - interval '2 hours'")
        .execute(&s.db)
        .await
        .unwrap();
    assert_eq!(
        db::webhooks::forget_delivered(&s.db, 3_600, 100)
            .await
            .unwrap(),
        1
    );
    assert_eq!(s.log(hook, "").await["total"], 0);
}

#[tokio::test]
async fn a_receiver_down_for_a_while_gets_every_notification() {
    let s = Setup::new(quick).await;
    let second = s.another_account("bob").await;
    let receiver = Receiver::start(&s.id, &s.key).await;
    s.register(&receiver.url).await;
    let stopped = receiver.stop();

    s.notify(s.account).await;
    s.notify(second).await;
    // Rounds while nobody listens: attempts pile up, nothing is lost.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        s.round().await;
        let failed: Vec<(i32, Option<String>)> = sqlx::query_as(
            "SELECT attempts, last_error FROM webhook_deliveries WHERE state = 'pending'",
        )
        .fetch_all(&s.db)
        .await
        .unwrap();
        if failed.len() == 2 && failed.iter().all(|(n, _)| *n >= 3) {
            let error = failed[0].1.as_deref().unwrap();
            assert!(error.contains("connect"), "{error}");
            break;
        }
        assert!(Instant::now() < deadline, "attempts did not go on");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let receiver = stopped.restart().await;
    s.rounds_until(&[s.account, second], "delivered").await;
    assert_eq!(
        sorted_bodies(&receiver),
        expected_bodies(&[s.account, second]),
        "each account's ping arrived once it was back"
    );
}

#[tokio::test]
async fn a_slow_receiver_is_retried() {
    let s = Setup::new(|s| {
        quick(s);
        s.webhooks.timeout_ms = 300;
    })
    .await;
    let receiver = Receiver::start(&s.id, &s.key).await;
    let hook = s.register(&receiver.url).await;
    receiver.script([Act::Slow(Duration::from_secs(2))]);
    s.notify(s.account).await;
    s.rounds_until(&[s.account], "delivered").await;

    let d = &s.log(hook, "").await["objects"][0];
    let attempts = d["attempt_log"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{d}");
    assert!(attempts[0]["status"].is_null());
    assert!(
        attempts[0]["error"].as_str().unwrap().contains("300 ms"),
        "{d}"
    );
    assert_eq!(attempts[1]["status"], 200);
    assert_eq!(d["attempts"], 1);
}

#[tokio::test]
async fn too_many_requests_waits_for_retry_after() {
    let s = Setup::new(|s| {
        quick(s);
        // Retry-After is capped at the longest backoff.
        s.webhooks.backoff_max_ms = 10_000;
    })
    .await;
    let receiver = Receiver::start(&s.id, &s.key).await;
    let hook = s.register(&receiver.url).await;
    receiver.script([Act::TooMany(2)]);
    s.notify(s.account).await;
    s.rounds_until(&[s.account], "delivered").await;

    let got = receiver.notifications();
    assert_eq!(got.len(), 2);
    let waited = got[1].at - got[0].at;
    // The backoff alone would have retried within 50-100 ms.
    assert!(
        waited >= Duration::from_millis(1_900),
        "retried after {waited:?}"
    );
    let d = &s.log(hook, "").await["objects"][0];
    assert_eq!(d["attempt_log"][0]["status"], 429);
}

#[tokio::test]
async fn a_wrong_answer_is_retried() {
    let s = Setup::new(quick).await;
    let receiver = Receiver::start(&s.id, &s.key).await;
    let hook = s.register(&receiver.url).await;
    receiver.script([Act::WrongBody, Act::Status(500)]);
    s.notify(s.account).await;
    s.rounds_until(&[s.account], "delivered").await;

    assert_eq!(receiver.notifications().len(), 3);
    let d = &s.log(hook, "").await["objects"][0];
    let attempts = d["attempt_log"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    assert!(
        attempts[0]["error"]
            .as_str()
            .unwrap()
            .contains("application id"),
        "{d}"
    );
    assert_eq!(
        (
            attempts[1]["status"].as_i64(),
            attempts[2]["status"].as_i64()
        ),
        (Some(500), Some(200))
    );
    assert_eq!(d["attempts"], 2);
}

#[tokio::test]
async fn dead_notifications_are_replayed() {
    let s = Setup::new(|s| {
        quick(s);
        s.webhooks.retry_window_secs = 1;
    })
    .await;
    let second = s.another_account("bob").await;
    let receiver = Receiver::start(&s.id, &s.key).await;
    let hook = s.register(&receiver.url).await;
    receiver.fail_with(Some(503));
    s.notify(s.account).await;
    s.notify(second).await;
    s.rounds_until(&[s.account, second], "dead").await;
    let dead = s.log(hook, "?state=dead").await;
    assert_eq!(dead["total"], 2);
    let first = dead["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["account"] == s.account)
        .unwrap();
    assert!(first["attempts"].as_i64().unwrap() >= 1);
    assert!(first["last_error"].as_str().unwrap().contains("503"));
    let delivery = first["id"].as_i64().unwrap();
    let seen = receiver.notifications().len();

    // Dead means no more attempts.
    for _ in 0..5 {
        s.round().await;
    }
    assert_eq!(receiver.notifications().len(), seen);

    receiver.fail_with(None);
    let dev = s.app.dev_caller();
    let replay = format!("{}/{hook}/deliveries/{delivery}/replay", s.hooks_path());
    let r = dev.send(Method::POST, &replay).await;
    assert_eq!(r.status(), 200);
    let replayed: Value = r.json().await.unwrap();
    assert_eq!(
        (replayed["id"].as_i64(), replayed["state"].as_str()),
        (Some(delivery), Some("pending"))
    );
    assert_eq!(replayed["attempts"], 0);
    assert!(replayed["replayed"].as_str().is_some());
    s.rounds_until(&[s.account], "delivered").await;
    assert_eq!(
        s.states(second).await,
        ["dead"],
        "only the replayed one was sent"
    );

    assert_eq!(s.replay_all(hook).await, (Some(1), Some(0)));
    s.rounds_until(&[s.account, second], "delivered").await;
    let bodies: Vec<String> = receiver.notifications()[seen..]
        .iter()
        .map(|p| p.body.clone())
        .collect();
    assert_eq!(bodies, [body_of(s.account), body_of(second)]);

    let r = dev
        .send(
            Method::POST,
            &format!("{}/{hook}/deliveries/999999/replay", s.hooks_path()),
        )
        .await;
    assert_error(r, 404, "not_found").await;
}

/// What the retry window's end does to the account's pending notification, with
/// `attempts` failed attempts logged for it; returns its id.
async fn kill_pending(db: &PgPool, account: i64, attempts: i32) -> i64 {
    let id: i64 = sqlx::query_scalar(
        "UPDATE webhook_deliveries SET state = 'dead', finished_at = now(), attempts = $2
          WHERE account_id = $1 AND state = 'pending' RETURNING id",
    )
    .bind(account)
    .bind(attempts)
    .fetch_one(db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, status, error, latency_ms)
         SELECT $1, 503, 'HTTP 503', 1 FROM generate_series(1, $2)",
    )
    .bind(id)
    .bind(attempts)
    .execute(db)
    .await
    .unwrap();
    id
}

/// A notification as [`rows_of`] gives it.
type Row = (i64, String, i32, i32, i64);

/// `(id, state, generation, attempts, attempts logged)`.
fn row(id: i64, state: &str, generation: i32, attempts: i32, logged: i64) -> Row {
    (id, state.to_string(), generation, attempts, logged)
}

/// `(id, state, generation, attempts, attempts logged)` of the account's notifications.
async fn rows_of(db: &PgPool, account: i64) -> Vec<Row> {
    sqlx::query_as(
        "SELECT d.id, d.state, d.generation, d.attempts,
                (SELECT count(*) FROM webhook_attempts a WHERE a.delivery_id = d.id)
           FROM webhook_deliveries d WHERE d.account_id = $1 ORDER BY d.id",
    )
    .bind(account)
    .fetch_all(db)
    .await
    .unwrap()
}

#[tokio::test]
async fn replaying_every_dead_notification_keeps_one_pending_per_account() {
    let s = Setup::new(quick).await;
    let bob = s.another_account("bob").await;
    let carol = s.another_account("carol").await;
    let receiver = Receiver::start(&s.id, &s.key).await;
    let hook = s.register(&receiver.url).await;

    // Alice: two dead notifications and a pending one (new events since).
    s.notify(s.account).await;
    let a1 = kill_pending(&s.db, s.account, 2).await;
    s.notify(s.account).await;
    let a2 = kill_pending(&s.db, s.account, 3).await;
    s.notify(s.account).await;
    s.notify(s.account).await;
    let a3 = rows_of(&s.db, s.account).await[2].0;
    // Bob: two dead ones. Carol: one.
    s.notify(bob).await;
    let b1 = kill_pending(&s.db, bob, 1).await;
    s.notify(bob).await;
    let b2 = kill_pending(&s.db, bob, 2).await;
    s.notify(carol).await;
    let c1 = kill_pending(&s.db, carol, 4).await;
    assert!(a1 < a2 && a2 < a3 && a3 < b1 && b1 < b2 && b2 < c1);

    // The three oldest: Alice's two join her pending one, Bob's oldest is pending again.
    let (replayed, left) = db::webhooks::log::replay_dead(&s.db, hook, 3)
        .await
        .unwrap();
    assert_eq!((replayed, left), (3, 2));
    // Generation: 1 (new events while pending) + 2 replayed; 2 + 3 attempts moved to it.
    assert_eq!(
        rows_of(&s.db, s.account).await,
        [row(a3, "pending", 3, 0, 5)]
    );
    assert_eq!(
        rows_of(&s.db, bob).await,
        [row(b1, "pending", 1, 0, 1), row(b2, "dead", 0, 2, 2)]
    );

    // The rest through the API: Bob's second joins his first, Carol's is pending again.
    assert_eq!(s.replay_all(hook).await, (Some(2), Some(0)));
    assert_eq!(rows_of(&s.db, bob).await, [row(b1, "pending", 2, 0, 3)]);
    assert_eq!(rows_of(&s.db, carol).await, [row(c1, "pending", 1, 0, 4)]);
    let replayed = s.log(hook, "?state=pending").await;
    assert_eq!(replayed["total"], 3);
    assert!(replayed["objects"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["replayed"].as_str().is_some()));

    // One ping per account.
    s.rounds_until(&[s.account, bob, carol], "delivered").await;
    assert_eq!(
        sorted_bodies(&receiver),
        expected_bodies(&[s.account, bob, carol])
    );
}

#[tokio::test]
async fn a_worker_dying_mid_send_loses_nothing() {
    let s = Setup::new(|s| {
        quick(s);
        s.webhooks.timeout_ms = 1_000;
    })
    .await;
    let receiver = Receiver::start(&s.id, &s.key).await;
    s.register(&receiver.url).await;
    let arrived = std::sync::Arc::new(tokio::sync::Notify::new());
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    receiver.script([Act::Hold {
        arrived: arrived.clone(),
        release: release.clone(),
    }]);
    s.notify(s.account).await;

    // A worker claims the notification and dies while the receiver holds the request.
    let doomed = WorkerState::build(s.app.settings()).unwrap();
    let round = tokio::spawn(async move { cloudbridge_jobs::deliver_webhooks(&doomed, 1).await });
    arrived.notified().await;
    round.abort();
    let _ = round.await;
    release.notify_one();
    let leased: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT lease_until FROM webhook_deliveries WHERE account_id = $1")
            .bind(s.account)
            .fetch_one(&s.db)
            .await
            .unwrap();
    assert!(leased.is_some(), "the claim outlives its worker");
    assert_eq!(s.states(s.account).await, ["pending"]);

    // Another worker (or the same one restarted) takes it once the lease runs out.
    s.rounds_until(&[s.account], "delivered").await;
    let got = receiver.notifications();
    assert!(got.len() >= 2, "sent again after the lease ran out");
    assert!(got.iter().all(|p| p.signed && p.body == body_of(s.account)));
}

#[tokio::test]
async fn events_arriving_during_a_send_get_a_second_ping() {
    let s = Setup::new(quick).await;
    let receiver = Receiver::start(&s.id, &s.key).await;
    s.register(&receiver.url).await;
    let arrived = std::sync::Arc::new(tokio::sync::Notify::new());
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    receiver.script([Act::Hold {
        arrived: arrived.clone(),
        release: release.clone(),
    }]);
    s.notify(s.account).await;

    let worker = WorkerState::build(s.app.settings()).unwrap();
    let round = tokio::spawn(async move { cloudbridge_jobs::deliver_webhooks(&worker, 1).await });
    arrived.notified().await;
    // New events while the receiver holds the first ping: they need a ping of their own.
    s.notify(s.account).await;
    release.notify_one();
    round.await.unwrap();
    assert_eq!(
        s.states(s.account).await,
        ["pending"],
        "the first ping did not cover them"
    );
    assert_eq!(receiver.notifications().len(), 1);

    s.rounds_until(&[s.account], "delivered").await;
    assert_eq!(receiver.notifications().len(), 2);
    // Later events start a new notification.
    s.notify(s.account).await;
    assert_eq!(s.states(s.account).await, ["delivered", "pending"]);
}

#[tokio::test]
async fn addresses_are_checked_again_at_delivery() {
    // Registered while private addresses were allowed; a worker that does not allow them
    // refuses to send, whether the host is a name or an IP literal.
    let s = Setup::new(quick).await;
    let receiver = Receiver::start(&s.id, &s.key).await;
    let by_name = s
        .register(&format!("http://localhost:{}/hook", receiver.port))
        .await;
    let by_ip = s.register(&receiver.url).await;
    s.notify(s.account).await;
    let strict = WorkerState::build(&{
        let mut settings = s.app.settings().clone();
        settings.network.webhook_allow.clear();
        settings
    })
    .unwrap();
    cloudbridge_jobs::deliver_webhooks(&strict, 1).await;
    for hook in [by_name, by_ip] {
        let d = &s.log(hook, "").await["objects"][0];
        assert_eq!(
            (d["state"].as_str(), d["attempts"].as_i64()),
            (Some("pending"), Some(1))
        );
        assert!(d["last_error"].as_str().unwrap().contains("private"), "{d}");
    }
    assert!(
        receiver.notifications().is_empty(),
        "nothing reached the receiver"
    );

    s.rounds_until(&[s.account], "delivered").await;
    assert_eq!(receiver.notifications().len(), 2);
}
