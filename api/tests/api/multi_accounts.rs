//! Multi-account requests: search and recent files across comma-separated account ids
//! or comma-separated bearer tokens, each account checked against the caller, failures
//! told per account, and never another application's data.

use serde_json::Value;

use crate::helpers::{assert_error, TestApp};

/// The names found, sorted, with the accounts they came from.
fn found(list: &Value) -> Vec<(String, i64)> {
    let mut found: Vec<(String, i64)> = list["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_string(),
                o["account"].as_i64().unwrap(),
            )
        })
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn search_and_recent_span_the_accounts_named_and_only_those() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("mine").await;
    let (_, other_key) = app.create_app("theirs").await;
    let (a, ta) = app.import_local(&key, "a").await;
    let (b, tb) = app.import_local(&key, "b").await;
    let (c, tc) = app.import_local(&other_key, "c").await;
    for (token, name) in [
        (&ta, "report-a.txt"),
        (&tb, "report-b.txt"),
        (&tc, "report-c.txt"),
    ] {
        let r = app.with_token(token).upload("root", name, "x").await;
        assert_eq!(r.status(), 201);
    }
    let mine = app.with_key(&key);

    // By ids, with the application's key.
    let both = mine
        .get_json(&format!("/v1/accounts/{a},{b}/storage/search?q=report"))
        .await;
    assert_eq!(
        found(&both),
        [("report-a.txt".into(), a), ("report-b.txt".into(), b)]
    );
    assert_eq!(both["errors"], serde_json::json!([]), "{both}");
    let recent = mine
        .get_json(&format!("/v1/accounts/{a},{b}/storage/recent"))
        .await;
    assert_eq!(found(&recent).len(), 2, "{recent}");

    // Another application's account is not found, and none of its items shows.
    let mixed = mine
        .get_json(&format!("/v1/accounts/{a},{c}/storage/search?q=report"))
        .await;
    assert_eq!(found(&mixed), [("report-a.txt".into(), a)]);
    assert_eq!(mixed["errors"][0]["account"], c, "{mixed}");
    assert_eq!(mixed["errors"][0]["status_code"], 404);
    // Only accounts that fail: the request fails.
    let r = mine
        .get(&format!("/v1/accounts/{c},999999/storage/search?q=report"))
        .await;
    assert_error(r, 404, "not_found").await;

    // By several bearer tokens of one application.
    let tokens = app.with_auth(format!("Bearer {ta},{tb}"));
    let both = tokens
        .get_json("/v1/accounts/me/storage/search?q=report")
        .await;
    assert_eq!(found(&both).len(), 2, "{both}");
    let listed = tokens.get_json("/v1/accounts").await;
    assert_eq!(listed["count"], 2, "{listed}");
    // A token sees only its accounts, even by id.
    let r = app
        .with_token(&ta)
        .get(&format!("/v1/accounts/{a},{b}/storage/search?q=report"))
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(found(&body), [("report-a.txt".into(), a)]);
    assert_eq!(body["errors"][0]["account"], b);
    // Tokens of two applications are refused whole.
    let r = app
        .with_auth(format!("Bearer {ta},{tc}"))
        .get("/v1/accounts/me/storage/search?q=report")
        .await;
    assert_error(r, 401, "unauthorized").await;
    let r = app
        .with_auth(format!("Bearer {ta},not-a-token"))
        .get("/v1/accounts/me/storage/search?q=report")
        .await;
    assert_error(r, 401, "invalid_token").await;

    // Routes about one account say so.
    let r = tokens.get("/v1/accounts/me/storage/folders/root").await;
    assert_error(r, 400, "invalid_parameters").await;
    let r = mine
        .get(&format!("/v1/accounts/{a},{b}/storage/folders/root"))
        .await;
    assert_error(r, 400, "invalid_parameters").await;
    // A bounded number of accounts.
    let many: Vec<String> = (0..21).map(|i| (a + i).to_string()).collect();
    let r = mine
        .get(&format!(
            "/v1/accounts/{}/storage/search?q=x",
            many.join(",")
        ))
        .await;
    assert_error(r, 400, "invalid_parameters").await;
}

/// A search or recent list whose crawl stopped at `jobs.walk_limit` says so in the answer
/// (`truncated`), alone and across accounts.
#[tokio::test]
async fn a_crawl_cut_short_says_so() {
    let app = TestApp::builder()
        .settings(|s| s.jobs.walk_limit = 3)
        .spawn()
        .await;
    let (_, key) = app.create_app("crawl").await;
    let (a, ta) = app.import_local(&key, "a").await;
    let (b, tb) = app.import_local(&key, "b").await;
    for n in 0..5 {
        let r = app
            .with_token(&ta)
            .upload("root", &format!("f{n}.txt"), "x")
            .await;
        assert_eq!(r.status(), 201);
    }
    let r = app.with_token(&tb).upload("root", "f.txt", "x").await;
    assert_eq!(r.status(), 201);
    let cut = app
        .with_token(&ta)
        .get_json("/v1/accounts/me/storage/search?q=f")
        .await;
    assert_eq!(
        (cut["truncated"].as_bool(), cut["count"].as_u64()),
        (Some(true), Some(3)),
        "{cut}"
    );
    let recent = app
        .with_token(&ta)
        .get_json("/v1/accounts/me/storage/recent")
        .await;
    assert_eq!(recent["truncated"], true, "{recent}");
    let whole = app
        .with_token(&tb)
        .get_json("/v1/accounts/me/storage/search?q=f")
        .await;
    assert_eq!(whole["truncated"], false, "{whole}");
    let both = app
        .with_key(&key)
        .get_json(&format!("/v1/accounts/{a},{b}/storage/search?q=f"))
        .await;
    assert_eq!(
        (both["truncated"].as_bool(), both["count"].as_u64()),
        (Some(true), Some(4)),
        "{both}"
    );
}
