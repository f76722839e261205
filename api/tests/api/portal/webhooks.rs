//! The Webhooks tab: adding a webhook shows what its receiver answered to the
//! verification ping, the delivery log shows each delivery's state, attempts, last status,
//! latency and error with filters and paging, dead deliveries are replayed one by one or
//! all at once, and another developer's webhooks are not found.

use cloudbridge_jobs::WorkerState;
use cloudbridge_shared::{db, Settings};
use reqwest::StatusCode;
use sqlx::PgPool;

use super::{shown_key, Page, Visitor, PASSWORD};
use crate::{
    helpers::{free_port, TestApp},
    webhooks::{
        quick,
        receiver::{Act, Receiver},
        rounds_until,
    },
};

/// A portal developer with one application, a local account of it, and what delivery
/// rounds need.
struct Hooks {
    app: TestApp,
    dev: Visitor,
    /// The application's id.
    id: String,
    /// Its API key (what webhooks are signed with).
    key: String,
    account: i64,
    db: PgPool,
    worker: WorkerState,
}

/// The application id an application's page shows.
fn app_id(page: &Page) -> String {
    let at = page.body.find("<dd><code>").expect("an application page") + 10;
    page.body[at..].split('<').next().unwrap().to_string()
}

/// The ids in `id="{prefix}N"` attributes of a page, in order.
fn ids(page: &Page, prefix: &str) -> Vec<i64> {
    let marker = format!("id=\"{prefix}");
    page.body
        .match_indices(&marker)
        .filter_map(|(at, _)| {
            page.body[at + marker.len()..]
                .split('"')
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// What the verification ping shown on the page got: the status, or "did not answer".
fn ping_status(page: &Page) -> &str {
    let marker = "<strong id=\"ping-status\">";
    let at = page
        .body
        .find(marker)
        .unwrap_or_else(|| panic!("no ping shown: {}", page.body))
        + marker.len();
    page.body[at..].split('<').next().unwrap()
}

/// Where the page's link with `rel` goes.
fn link(page: &Page, rel: &str) -> String {
    let end = page
        .body
        .find(&format!("\" rel=\"{rel}\""))
        .unwrap_or_else(|| panic!("no {rel} link: {}", page.body));
    let start = page.body[..end].rfind("href=\"").unwrap() + 6;
    page.body[start..end]
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// The row of delivery `id` in the log.
fn delivery_row(page: &Page, id: i64) -> &str {
    let at = page
        .body
        .find(&format!("id=\"delivery-{id}\""))
        .unwrap_or_else(|| panic!("delivery {id} is not shown: {}", page.body));
    let row = &page.body[at..];
    &row[..row.find("</tr>").unwrap()]
}

impl Hooks {
    async fn new(tweak: impl FnOnce(&mut Settings) + 'static) -> Self {
        let app = TestApp::builder()
            .settings(|s| {
                s.portal.signup = true;
                quick(s);
                tweak(s);
            })
            .spawn()
            .await;
        let dev = Visitor::new(&app);
        dev.sign_up("hana@example.com", PASSWORD).await;
        let made = dev.submit("/apps", "/apps", &[("name", "Hooks")]).await;
        let key = shown_key(&made);
        let id = app_id(&made);
        let (account, _) = app.import_local(&key, "alice").await;
        let db = app.db().await;
        let worker = WorkerState::build(app.settings()).unwrap();
        Self {
            app,
            dev,
            id,
            key,
            account,
            db,
            worker,
        }
    }

    /// The Webhooks tab, with `query`.
    fn tab(&self, query: &str) -> String {
        format!("/apps/{}/webhooks{query}", self.id)
    }

    async fn show(&self, query: &str) -> Page {
        let page = self.dev.get(&self.tab(query)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        page
    }

    /// Posts `form` to `path` under the tab, from the tab.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.dev.submit(&self.tab(""), &self.tab(path), form).await
    }

    /// Adds `url` from the tab; the page answered.
    async fn add(&self, url: &str) -> Page {
        self.post("", &[("url", url)]).await
    }

    /// Adds `url`, which must pass; its webhook id.
    async fn added(&self, url: &str) -> i64 {
        let page = self.add(url).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        *ids(&page, "webhook-").last().unwrap()
    }

    /// What the event collector does when it stores events of `account`.
    async fn notify(&self, account: i64) {
        let mut conn = self.db.acquire().await.unwrap();
        db::webhooks::notify(&mut conn, account).await.unwrap();
    }

    async fn rounds_until(&self, accounts: &[i64], state: &str) {
        rounds_until(&self.worker, &self.db, accounts, state).await;
    }
}

#[tokio::test]
async fn a_webhook_is_added_with_its_verification_ping_shown_then_removed() {
    let h = Hooks::new(|_| {}).await;
    let empty = h.show("").await;
    assert!(empty.body.contains("No webhook yet"), "{}", empty.body);
    assert!(empty.body.contains("No delivery yet"));
    assert!(
        empty.body.contains(&format!(
            "href=\"/apps/{}/webhooks\" aria-current=\"page\"",
            h.id
        )),
        "the Webhooks tab is the current one"
    );

    let receiver = Receiver::start(&h.id, &h.key).await;
    let added = h.add(&receiver.url).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert!(
        added.body.contains("Verification ping passed"),
        "{}",
        added.body
    );
    assert_eq!(ping_status(&added), "200");
    assert!(added.body.contains("the webhook is added"));
    let pings = receiver.pings();
    assert_eq!(pings.len(), 1, "one verification ping");
    assert!(pings[0].body.is_empty() && pings[0].signed);
    let hook = ids(&added, "webhook-");
    assert_eq!(hook.len(), 1);
    assert!(added.body.contains(&receiver.url));
    assert!(added.body.contains("0 pending, 0 delivered, 0 dead"));

    // The management API sees the webhook the portal added.
    let keys = h.dev.submit("/account", "/account/keys", &[]).await;
    let developer = h
        .app
        .with_auth(format!("DeveloperKey {}", shown_key(&keys)));
    let listed = developer
        .get_json(&format!("/v1/applications/{}/webhooks", h.id))
        .await;
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["objects"][0]["id"], hook[0]);

    // Removing it takes it off the page and the API, without any form token: refused.
    let path = format!("/{}/delete", hook[0]);
    let forged = h.dev.post(&h.tab(&path), &[("csrf", "forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let removed = h.post(&path, &[]).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert!(removed.body.contains("Webhook removed"));
    assert!(removed.body.contains("No webhook yet"));
    let listed = developer
        .get_json(&format!("/v1/applications/{}/webhooks", h.id))
        .await;
    assert_eq!(listed["total"], 0);
    assert_eq!(h.post(&path, &[]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(receiver.pings().len(), 1, "removing pings nobody");
}

#[tokio::test]
async fn a_failing_receiver_is_shown_what_it_answered_and_is_not_added() {
    let h = Hooks::new(|_| {}).await;
    let receiver = Receiver::start(&h.id, &h.key).await;
    receiver.script([Act::Status(500), Act::WrongBody]);

    let failed = h.add(&receiver.url).await;
    assert_eq!(failed.status, StatusCode::BAD_REQUEST);
    assert!(
        failed.body.contains("Verification ping failed"),
        "{}",
        failed.body
    );
    assert_eq!(ping_status(&failed), "500");
    assert!(failed.body.contains("The receiver answered 500."));
    assert!(failed.body.contains("The webhook was not added"));
    assert!(failed.body.contains("No webhook yet"));
    assert!(
        failed.body.contains(&format!("value=\"{}\"", receiver.url)),
        "the URL stays in the form"
    );

    let wrong = h.add(&receiver.url).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(ping_status(&wrong), "200");
    assert!(
        wrong.body.contains("without the application id"),
        "{}",
        wrong.body
    );

    // Nobody listening: no status, and why.
    let closed = format!("http://127.0.0.1:{}/hook", free_port());
    let unreachable = h.add(&closed).await;
    assert_eq!(unreachable.status, StatusCode::BAD_REQUEST);
    assert_eq!(ping_status(&unreachable), "did not answer");
    assert!(unreachable.body.contains("id=\"ping-error\""));

    // A URL refused before any ping says why, and no ping is shown.
    let bad = h.add("ftp://example.com/hook").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(!bad.body.contains("Verification ping"), "{}", bad.body);
    assert!(bad.body.contains("class=\"error\""));
    assert_eq!(receiver.pings().len(), 2);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM webhooks")
        .fetch_one(&h.db)
        .await
        .unwrap();
    assert_eq!(stored, 0);

    // Answering properly now, it is added.
    h.added(&receiver.url).await;
}

#[tokio::test]
async fn dead_deliveries_are_shown_then_replayed_one_and_all() {
    let h = Hooks::new(|s| s.webhooks.retry_window_secs = 1).await;
    let second = h.app.import_local(&h.key, "bob").await.0;
    let receiver = Receiver::start(&h.id, &h.key).await;
    let hook = h.added(&receiver.url).await;
    receiver.fail_with(Some(500));
    h.notify(h.account).await;
    h.notify(second).await;
    h.rounds_until(&[h.account, second], "dead").await;

    let dead = h.show("?state=dead").await;
    let shown = ids(&dead, "delivery-");
    assert_eq!(shown.len(), 2, "{}", dead.body);
    for id in &shown {
        let row = delivery_row(&dead, *id);
        assert!(
            row.contains("<span class=\"badge off\">dead</span>"),
            "{row}"
        );
        assert!(row.contains("\"answer\">500 in "), "the last status: {row}");
        assert!(row.contains(" ms</td>"), "the latency: {row}");
        assert!(row.contains("died "), "when it died: {row}");
        assert!(row.contains("Replay delivery"), "{row}");
    }
    assert!(
        dead.body.contains("The receiver answered 500."),
        "the error"
    );
    assert!(dead.body.contains("Latest attempts"));
    assert!(dead.body.contains("0 pending, 0 delivered, 2 dead"));
    assert!(dead.body.contains("Replay all 2 dead"));
    let alice: i64 = sqlx::query_scalar("SELECT id FROM webhook_deliveries WHERE account_id = $1")
        .bind(h.account)
        .fetch_one(&h.db)
        .await
        .unwrap();
    assert!(shown.contains(&alice));
    // Each delivery links its account's events.
    let events = format!("/apps/{}/accounts/{}/events", h.id, h.account);
    assert!(dead.body.contains(&format!("href=\"{events}\"")));
    assert_eq!(h.dev.get(&events).await.status, StatusCode::OK);

    // Replayed once the receiver answers: pending at once, then delivered.
    receiver.fail_with(None);
    let replay = format!("/{hook}/deliveries/{alice}/replay");
    let replayed = h.post(&replay, &[("state", "dead")]).await;
    assert_eq!(replayed.status, StatusCode::OK, "{}", replayed.body);
    assert!(replayed
        .body
        .contains(&format!("Delivery {alice} replayed")));
    assert_eq!(
        ids(&replayed, "delivery-").len(),
        1,
        "the log is still filtered to the dead ones"
    );
    assert!(replayed.body.contains("pending, due now"));
    h.rounds_until(&[h.account], "delivered").await;
    let delivered = h.show("?state=delivered").await;
    let row = delivery_row(&delivered, alice);
    assert!(
        row.contains("<span class=\"badge ok\">delivered</span>"),
        "{row}"
    );
    assert!(
        row.contains("\"answer\">200 in ") && row.contains("replayed "),
        "{row}"
    );
    assert!(!row.contains("Replay delivery"));
    assert_eq!(ids(&delivered, "delivery-"), [alice]);

    // Replay all: the one left dead.
    let all = h.post("/replay", &[]).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert!(
        all.body.contains("1 dead delivery replayed"),
        "{}",
        all.body
    );
    h.rounds_until(&[h.account, second], "delivered").await;
    let none = h.show("?state=dead").await;
    assert!(none.body.contains("No delivery matches"), "{}", none.body);
    assert!(!none.body.contains("Replay all"));
    assert!(h
        .show("")
        .await
        .body
        .contains("0 pending, 2 delivered, 0 dead"));
    let bodies: Vec<String> = receiver
        .notifications()
        .into_iter()
        .filter(|p| p.signed)
        .map(|p| p.body)
        .collect();
    for account in [h.account, second] {
        assert!(bodies.contains(&format!("account={account}")), "{bodies:?}");
    }

    // Replaying what is not there is not found.
    let nowhere = h
        .post(&format!("/{hook}/deliveries/999999/replay"), &[])
        .await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
}

/// Stores `n` notifications of `hook` for `account` in `state`, finished, as the log
/// keeps them.
async fn logged(db: &PgPool, hook: i64, account: i64, state: &str, n: i32) {
    sqlx::query(
        "INSERT INTO webhook_deliveries
            (webhook_id, account_id, state, attempts, finished_at, last_status, last_error,
             last_latency_ms)
         SELECT $1, $2, $3, CASE WHEN $3 = 'dead' THEN 4 ELSE 0 END, now(),
                CASE WHEN $3 = 'dead' THEN 503 ELSE 200 END,
                CASE WHEN $3 = 'dead' THEN 'The receiver answered 503.' END, 7
           FROM generate_series(1, $4)",
    )
    .bind(hook)
    .bind(account)
    .bind(state)
    .bind(n)
    .execute(db)
    .await
    .unwrap();
}

#[tokio::test]
async fn the_log_is_filtered_by_state_and_webhook_and_paged() {
    let h = Hooks::new(|_| {}).await;
    let first = Receiver::start(&h.id, &h.key).await;
    let second = Receiver::start(&h.id, &h.key).await;
    let a = h.added(&first.url).await;
    let b = h.added(&second.url).await;
    logged(&h.db, a, h.account, "delivered", 55).await;
    logged(&h.db, a, h.account, "dead", 2).await;
    logged(&h.db, b, h.account, "dead", 3).await;

    // Everything, newest first, 50 a page.
    let all = h.show("").await;
    let shown = ids(&all, "delivery-");
    assert_eq!(shown.len(), 50);
    assert!(shown.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert!(all.body.contains("1–50 of 60"), "{}", all.body);
    assert!(all.body.contains("Replay all 5 dead"));
    assert!(!all.body.contains("rel=\"prev\""));
    assert_eq!(
        link(&all, "next"),
        format!("/apps/{}/webhooks?page=2#log", h.id)
    );
    let rest = h.show("?page=2").await;
    assert_eq!(ids(&rest, "delivery-").len(), 10);
    assert!(rest.body.contains("51–60 of 60"));
    assert!(!rest.body.contains("rel=\"next\""));
    assert!(ids(&rest, "delivery-")[0] < *shown.last().unwrap());

    // By state, by webhook, by both.
    let dead = h.show("?state=dead").await;
    assert_eq!(ids(&dead, "delivery-").len(), 5);
    assert!(dead.body.contains("<option value=\"dead\" selected>"));
    let of_b = h.show(&format!("?webhook={b}")).await;
    assert_eq!(ids(&of_b, "delivery-").len(), 3);
    assert!(of_b
        .body
        .contains(&format!("<option value=\"{b}\" selected>")));
    assert!(of_b.body.contains("Replay all 3 dead"));
    let delivered_a = h
        .show(&format!("?state=delivered&webhook={a}&page=2"))
        .await;
    assert_eq!(ids(&delivered_a, "delivery-").len(), 5);
    assert!(delivered_a.body.contains("51–55 of 55"));
    let newer = link(&delivered_a, "prev");
    let back = h.dev.get(newer.split('#').next().unwrap()).await;
    assert!(
        back.body.contains("1–50 of 55"),
        "the filter is kept: {newer}"
    );
    assert!(h
        .show("?state=pending")
        .await
        .body
        .contains("No delivery matches"));

    // Replay all of one webhook leaves the other's dead.
    let replayed = h
        .post(&format!("/{b}/replay"), &[("webhook", &b.to_string())])
        .await;
    assert!(
        replayed.body.contains("3 dead deliveries replayed"),
        "{}",
        replayed.body
    );
    assert_eq!(
        ids(&replayed, "delivery-").len(),
        1,
        "one pending per account"
    );
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE state = 'dead'")
            .fetch_one(&h.db)
            .await
            .unwrap();
    assert_eq!(left, 2);
    let everything = h.post("/replay", &[]).await;
    assert!(
        everything.body.contains("2 dead deliveries replayed"),
        "{}",
        everything.body
    );
    assert!(!everything.body.contains("Replay all"), "none is dead");

    // A filter that means nothing is said so.
    let bad = h.dev.get(&h.tab("?state=lost")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad
        .body
        .contains("`state` must be pending, delivered or dead."));
    let bad = h.dev.get(&h.tab("?page=0")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        h.dev.get(&h.tab("?webhook=nope")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn another_developers_webhooks_are_not_found() {
    let h = Hooks::new(|_| {}).await;
    let receiver = Receiver::start(&h.id, &h.key).await;
    let hook = h.added(&receiver.url).await;
    logged(&h.db, hook, h.account, "dead", 1).await;
    let delivery: i64 = sqlx::query_scalar("SELECT id FROM webhook_deliveries")
        .fetch_one(&h.db)
        .await
        .unwrap();

    let other = Visitor::new(&h.app);
    other.sign_up("ivan@example.com", PASSWORD).await;
    let made = other.submit("/apps", "/apps", &[("name", "Ivan's")]).await;
    let theirs = app_id(&made);
    let mine = format!("/apps/{theirs}/webhooks");
    let hana = h.tab("");
    assert_eq!(other.get(&hana).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        other.get(&format!("{mine}?webhook={hook}")).await.status,
        StatusCode::NOT_FOUND
    );
    for path in [
        format!("{hana}/{hook}/delete"),
        format!("{mine}/{hook}/delete"),
        format!("{hana}/{hook}/replay"),
        format!("{mine}/{hook}/replay"),
        format!("{hana}/replay"),
        format!("{hana}/{hook}/deliveries/{delivery}/replay"),
        format!("{mine}/{hook}/deliveries/{delivery}/replay"),
    ] {
        let page = other.submit(&mine, &path, &[]).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.body.contains(&receiver.url));
    }
    let r = other.submit(&mine, &hana, &[("url", &receiver.url)]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!other.get(&mine).await.body.contains(&receiver.url));

    // Nothing of Hana's changed.
    let page = h.show("?state=dead").await;
    assert_eq!(ids(&page, "delivery-"), [delivery]);
    assert_eq!(receiver.pings().len(), 1);
}
