//! The Usage tab and the management API's usage: requests made with an application's
//! credentials, upstream errors, events collected and webhook deliveries show up after a
//! flush of the processes' counts, for that application only.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{shown_key, Visitor, PASSWORD};
use crate::helpers::{Caller, TestApp, STORAGE};

/// Counts written every 50 ms, so a test waits little for them.
fn quick_flush(s: &mut cloudbridge_shared::Settings) {
    s.usage.flush_ms = 50;
}

/// Polls `page` (the portal path) until its body contains `text` (10 s at most).
async fn page_saying(dev: &Visitor, page: &str, text: &str) -> String {
    let mut body = String::new();
    for _ in 0..100 {
        let shown = dev.get(page).await;
        assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
        body = shown.body;
        if body.contains(text) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{page} never said {text:?}:\n{body}");
}

/// Today's count of `metric` under `label` in the management API's usage of `app`.
fn today(usage: &Value, metric: &str, label: &str) -> u64 {
    usage[metric][label]
        .as_array()
        .and_then(|days| days.last())
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// Polls the management API's usage of `app` until `metric`/`label` reaches `at_least`
/// today (10 s at most); returns the usage.
async fn usage_reaching(
    dev: &Caller,
    app: &str,
    metric: &str,
    label: &str,
    at_least: u64,
) -> Value {
    let mut usage = Value::Null;
    for _ in 0..100 {
        let r = dev.get(&format!("/v1/applications/{app}/usage")).await;
        assert_eq!(r.status(), 200);
        usage = r.json().await.unwrap();
        if today(&usage, metric, label) >= at_least {
            return usage;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{metric}/{label} of {app} never reached {at_least}: {usage:#}");
}

/// Makes an application in the portal; returns its id and first key.
async fn make_app(dev: &Visitor, name: &str) -> (String, String) {
    let made = dev.submit("/apps", "/apps", &[("name", name)]).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let id_at = made.body.find("<dd><code>").unwrap() + 10;
    let id = made.body[id_at..].split('<').next().unwrap().to_string();
    (id, shown_key(&made))
}

#[tokio::test]
async fn requests_with_an_apps_key_show_by_status_class_on_its_usage_page_only() {
    let app = TestApp::builder()
        .settings(|s| {
            s.portal.signup = true;
            quick_flush(s);
        })
        .spawn()
        .await;
    let ada = Visitor::new(&app);
    ada.sign_up("ada@example.com", PASSWORD).await;
    let (invoices, key) = make_app(&ada, "Invoices").await;
    let (other, other_key) = make_app(&ada, "Other").await;

    // Nothing yet: every chart says so, with its title.
    let empty = ada.get(&format!("/apps/{invoices}/usage")).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.body.contains("Requests per day, by status"));
    assert!(empty.body.contains("No requests in the last 30 days."));
    assert!(empty.body.contains("No webhook delivery attempts"));
    assert!(empty.body.contains("aria-current=\"page\">Usage"));

    let caller = app.with_key(&key);
    for _ in 0..3 {
        assert_eq!(caller.get("/v1/accounts").await.status(), 200);
    }
    for _ in 0..2 {
        assert_eq!(caller.get("/v1/accounts/424242").await.status(), 404);
    }
    assert_eq!(
        app.with_key(&other_key).get("/v1/accounts").await.status(),
        200
    );
    // A bad key belongs to no application.
    assert_eq!(app.with_key("nope").get("/v1/accounts").await.status(), 401);

    let page = page_saying(
        &ada,
        &format!("/apps/{invoices}/usage"),
        "5 requests in the last 30 days (2xx 3, 4xx 2).",
    )
    .await;
    assert!(page.contains("<svg class=\"chart\""), "{page}");
    assert!(page.contains("<rect class=\"good\""), "2xx bars");
    assert!(page.contains("<rect class=\"warn\""), "4xx bars");
    assert!(!page.contains("<rect class=\"bad\""), "no 5xx");
    // The table of the numbers: today's row.
    let today_row = format!(
        "<th scope=\"row\">{}</th><td>3</td><td>0</td><td>2</td><td>0</td><td>5</td>",
        chrono::Utc::now().date_naive()
    );
    assert!(page.contains(&today_row), "{page}");
    let other_page = page_saying(
        &ada,
        &format!("/apps/{other}/usage"),
        "1 request in the last 30 days (2xx 1).",
    )
    .await;
    assert!(!other_page.contains("(2xx 3, 4xx 2)"));

    // Another developer's application is not found, nor is one that does not exist.
    let bob = Visitor::new(&app);
    bob.sign_up("bob@example.com", PASSWORD).await;
    let refused = bob.get(&format!("/apps/{invoices}/usage")).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert!(!refused.body.contains("Invoices"));
    assert_eq!(
        bob.get("/apps/nope/usage").await.status,
        StatusCode::NOT_FOUND
    );
    // Nor through the management API, whose developer is another one.
    let r = app
        .dev_caller()
        .get(&format!("/v1/applications/{invoices}/usage"))
        .await;
    assert_eq!(r.status(), 404);

    // Deleting the application deletes its usage.
    let deleted = ada
        .submit(
            &format!("/apps/{invoices}"),
            &format!("/apps/{invoices}/delete"),
            &[("confirm", "Invoices")],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.body);
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM usage_daily WHERE application_id = $1")
            .bind(&invoices)
            .fetch_one(&app.db().await)
            .await
            .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn the_management_api_reports_usage_by_day_and_checks_its_days() {
    let app = TestApp::builder().settings(quick_flush).spawn().await;
    let (id, key) = app.create_app("reported").await;
    let (_, token) = app.import_local(&key, "alice").await;
    let user = app.with_token(&token).under(STORAGE);
    assert!(user.get("/files/nope").await.status().is_client_error());
    let dev = app.dev_caller();
    let usage = usage_reaching(&dev, &id, "requests", "2xx", 1).await;
    assert_eq!(usage["application"], id.as_str());
    assert_eq!(usage["days"].as_array().unwrap().len(), 30);
    assert_eq!(
        usage["days"].as_array().unwrap().last().unwrap(),
        &json!(chrono::Utc::now().date_naive().to_string())
    );
    // The import (201) and the bearer's 404: one each, whoever the caller.
    let usage = usage_reaching(&dev, &id, "requests", "4xx", 1).await;
    assert_eq!(today(&usage, "requests", "2xx"), 1);
    assert_eq!(usage["requests"]["5xx"].as_array().unwrap().len(), 30);
    assert_eq!(usage["webhook_deliveries"]["dead"][29], 0);

    let week: Value = dev
        .get_json(&format!("/v1/applications/{id}/usage?days=7"))
        .await;
    assert_eq!(week["days"].as_array().unwrap().len(), 7);
    for bad in ["0", "91", "x"] {
        let r = dev
            .get(&format!("/v1/applications/{id}/usage?days={bad}"))
            .await;
        assert_eq!(r.status(), 400, "days={bad}");
    }
    // Only a DeveloperKey reads it.
    let r = app
        .with_key(&key)
        .get(&format!("/v1/applications/{id}/usage"))
        .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn events_collected_and_webhook_deliveries_are_counted_for_their_application() {
    let c = crate::events::Collecting::start_with(quick_flush).await;
    let (app_id, key, _receiver) = c.watched_app().await;
    let (account, token) = c.app.import_local(&key, "frank").await;
    c.seeded(account).await;
    let root = c.app.local_folder(account);
    for n in 0..3 {
        std::fs::write(root.join(format!("new{n}.txt")), "x").unwrap();
    }
    c.events(&token, "0", 3).await;

    let dev = c.app.dev_caller();
    let usage = usage_reaching(&dev, &app_id, "events", "local", 3).await;
    assert_eq!(today(&usage, "events", "local"), 3, "{usage:#}");
    let usage = usage_reaching(&dev, &app_id, "webhook_deliveries", "ok", 1).await;
    assert_eq!(today(&usage, "webhook_deliveries", "dead"), 0);
    // Another application counted nothing.
    let (quiet, _) = c.app.create_app("quiet").await;
    let usage: Value = dev
        .get_json(&format!("/v1/applications/{quiet}/usage"))
        .await;
    assert_eq!(today(&usage, "events", "local"), 0);
    assert_eq!(today(&usage, "webhook_deliveries", "ok"), 0);
}

#[tokio::test]
async fn a_services_failures_are_upstream_errors_of_its_service() {
    let fake = crate::boxcom::fake(|_| {}).await;
    let app = crate::boxcom::app_with(&fake, quick_flush).await;
    let user = crate::boxcom::import(&app, "box-access-token", None).await;
    let dev = app.dev_caller();
    let apps = dev.get_json("/v1/applications").await;
    let id = apps["objects"][0]["id"].as_str().unwrap().to_string();
    // A long throttle is passed on to the client: the service's failure, not the caller's.
    fake.rate_limit(1000, 120);
    let r = user.get(&format!("{STORAGE}/folders/root/contents")).await;
    assert_eq!(r.status(), 429);
    fake.rate_limit(0, 0);
    // A missing file is the caller's mistake: not an upstream error.
    let r = user.get(&format!("{STORAGE}/files/FnotThere")).await;
    assert!(r.status().is_client_error());
    let usage = usage_reaching(&dev, &id, "upstream_errors", "box", 1).await;
    assert_eq!(today(&usage, "upstream_errors", "box"), 1, "{usage:#}");
    // Once both requests are counted, still one upstream error.
    let usage = usage_reaching(&dev, &id, "requests", "4xx", 2).await;
    assert_eq!(today(&usage, "upstream_errors", "box"), 1, "{usage:#}");
}
