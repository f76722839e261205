//! An application's Accounts, Events, Upload locations and Service keys tabs: listing,
//! searching and paging tens of thousands of accounts, disconnecting through the API's
//! own rule, an account's events newest first, upload locations added and removed,
//! service keys whose secret is never shown again, and every refusal (no CSRF token,
//! another developer's application or account).

use reqwest::StatusCode;
use serde_json::Value;

use super::{shown_key, with_signup, Page, Visitor, PASSWORD};
use crate::helpers::TestApp;

/// A developer signed in with one application made in the portal: `(browser, app id,
/// API key)`.
async fn developer(app: &TestApp, email: &str, name: &str) -> (Visitor, String, String) {
    let dev = Visitor::new(app);
    dev.sign_up(email, PASSWORD).await;
    let made = dev.submit("/apps", "/apps", &[("name", name)]).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let key = shown_key(&made);
    let at = made.body.find("<dd><code>").unwrap() + 10;
    let id = made.body[at..].split('<').next().unwrap().to_string();
    (dev, id, key)
}

/// The `href` of the link with `id` on `page`.
fn link(page: &Page, id: &str) -> Option<String> {
    let at = page.body.find(&format!("id=\"{id}\""))?;
    let tag_start = page.body[..at].rfind("<a ")?;
    let href = page.body[tag_start..].find("href=\"")? + tag_start + 6;
    let href = page.body[href..].split('"').next()?;
    Some(href.replace("&#38;", "&").replace("&amp;", "&"))
}

/// How many rows with a Disconnect button the page shows.
fn account_rows(page: &Page) -> usize {
    page.body.matches("/disconnect\"").count()
}

/// The id of the account called `name` of `app_id`.
async fn account_id(app: &TestApp, app_id: &str, name: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM accounts WHERE application_id = $1 AND account = $2")
        .bind(app_id)
        .bind(name)
        .fetch_one(&app.db().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn twenty_thousand_accounts_are_paged_and_searched_newest_first() {
    let app = with_signup().await;
    let (dev, id, _) = developer(&app, "ada@example.com", "Big").await;
    let db = app.db().await;
    // One statement: user-1 … user-20000, four services in turn.
    sqlx::query(
        "INSERT INTO accounts (application_id, service, account)
         SELECT $1, (ARRAY['gdrive', 'dropbox', 'box', 's3'])[1 + g % 4],
                'user-' || g || '@example.com'
           FROM generate_series(1, 20000) g",
    )
    .bind(&id)
    .execute(&db)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE accounts SET needs_reauth = TRUE, active = FALSE,
                reauth_reason = 'The refresh token was revoked.'
          WHERE application_id = $1 AND account = 'user-20000@example.com'",
    )
    .bind(&id)
    .execute(&db)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE accounts SET enabled = FALSE
          WHERE application_id = $1 AND account = 'user-19999@example.com'",
    )
    .bind(&id)
    .execute(&db)
    .await
    .unwrap();
    let tab = format!("/apps/{id}/accounts");

    // The newest fifty, with their states.
    let first = dev.get(&tab).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert!(first.body.contains("20000 accounts"), "{}", first.body);
    assert_eq!(account_rows(&first), 50);
    assert!(first.body.contains("user-20000@example.com"));
    assert!(first.body.contains("user-19951@example.com"));
    assert!(!first.body.contains("user-19950@example.com"));
    assert!(first.body.contains("needs reauth"));
    assert!(first.body.contains("The refresh token was revoked."));
    assert!(first.body.contains("disabled"));
    assert!(first.body.contains("Google Drive") && first.body.contains("Dropbox"));
    assert!(link(&first, "newer").is_none(), "the newest page");

    // Older, then back: the same pages.
    let older = link(&first, "older").expect("an older page");
    let second = dev.get(&older).await;
    assert_eq!(account_rows(&second), 50);
    assert!(second.body.contains("user-19950@example.com"));
    assert!(second.body.contains("user-19901@example.com"));
    assert!(!second.body.contains("user-19951@example.com"));
    let back = dev
        .get(&link(&second, "newer").expect("a newer page"))
        .await;
    assert_eq!(account_rows(&back), 50);
    assert!(back.body.contains("user-20000@example.com"));
    assert!(back.body.contains("user-19951@example.com"));
    assert!(link(&back, "newer").is_none());

    // The last page, however deep: the oldest 49 and nothing older.
    let fiftieth = account_id(&app, &id, "user-50@example.com").await;
    let last = dev.get(&format!("{tab}?before={fiftieth}")).await;
    assert_eq!(account_rows(&last), 49);
    assert!(last.body.contains("user-1@example.com"));
    assert!(link(&last, "older").is_none());
    assert!(link(&last, "newer").is_some());

    // Searches: part of a name, a service, an id; wildcards are literal.
    let found = dev.get(&format!("{tab}?q=user-12345%40")).await;
    assert!(found.body.contains("1 match for"), "{}", found.body);
    assert_eq!(account_rows(&found), 1);
    assert!(found.body.contains("user-12345@example.com"));
    let dropbox = dev.get(&format!("{tab}?q=dropbox")).await;
    assert!(dropbox.body.contains("5000 matches"), "{}", dropbox.body);
    assert_eq!(account_rows(&dropbox), 50);
    assert!(!dropbox.body.contains("Google Drive"));
    // The search is kept while paging.
    let more = link(&dropbox, "older").expect("more Dropbox accounts");
    assert!(more.contains("q=dropbox"), "{more}");
    assert!(dropbox.body.contains("user-19997@example.com"));
    let dropbox_2 = dev.get(&more).await;
    assert_eq!(account_rows(&dropbox_2), 50);
    assert!(!dropbox_2.body.contains("Google Drive"));
    assert!(!dropbox_2.body.contains("user-19997@example.com"));
    assert!(dropbox_2.body.contains("user-19797@example.com"));
    let by_id = account_id(&app, &id, "user-777@example.com").await;
    let found = dev.get(&format!("{tab}?q={by_id}")).await;
    assert!(
        found.body.contains("user-777@example.com"),
        "{}",
        found.body
    );
    let none = dev.get(&format!("{tab}?q=100%25")).await;
    assert!(none.body.contains("0 matches"), "{}", none.body);
    assert!(none.body.contains("No account matches"));
}

#[tokio::test]
async fn disconnecting_in_the_portal_is_the_apis_delete_and_needs_the_forms_token() {
    let app = with_signup().await;
    let (dev, id, key) = developer(&app, "bob@example.com", "Files").await;
    let (alice, alice_token) = app.import_local(&key, "alice").await;
    let (carol, _) = app.import_local(&key, "carol").await;
    let tab = format!("/apps/{id}/accounts");
    let page = dev.get(&tab).await;
    assert!(page.body.contains("alice") && page.body.contains("carol"));
    assert!(page.body.contains("2 accounts"));
    let disconnect = format!("{tab}/{alice}/disconnect");

    // Without the form's token: refused, and nothing changes.
    let forged = dev.post(&disconnect, &[("csrf", "forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let bare = dev.post(&disconnect, &[]).await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN);
    let listed = app.with_key(&key).get_json("/v1/accounts").await;
    assert_eq!(listed["count"], 2, "{listed}");

    // With it: gone from the API too, and its token refused.
    let done = dev.submit(&tab, &disconnect, &[]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let after = dev.get(done.location.as_deref().unwrap()).await;
    assert!(after.body.contains("The account was disconnected."));
    assert!(!after.body.contains("alice") && after.body.contains("carol"));
    let listed = app.with_key(&key).get_json("/v1/accounts").await;
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["objects"][0]["id"], carol);
    assert_eq!(
        app.with_key(&key)
            .get(&format!("/v1/accounts/{alice}"))
            .await
            .status(),
        404
    );
    let r = app.with_token(&alice_token).get("/v1/accounts/me").await;
    assert_eq!(r.status(), 401);
    // Twice: not found.
    let again = dev.submit(&tab, &disconnect, &[]).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_connect_link_opens_the_connect_page_once_a_redirect_uri_is_registered() {
    let app = with_signup().await;
    let (dev, id, _) = developer(&app, "cy@example.com", "Connect").await;
    let tab = format!("/apps/{id}/accounts");
    let page = dev.get(&tab).await;
    assert!(link(&page, "connect-account").is_none());
    assert!(page.body.contains("Register a redirect URI"));
    let overview = format!("/apps/{id}");
    dev.submit(
        &overview,
        &format!("{overview}/redirect_uris"),
        &[("redirect_uris", "http://localhost:3000/cb")],
    )
    .await;
    let page = dev.get(&tab).await;
    let connect = link(&page, "connect-account").expect("a connect link");
    let query = &connect[connect.find("/v1/oauth?").expect("the API's connect page")..];
    assert!(query.contains(&format!("client_id={id}")), "{query}");
    assert!(
        query.contains("redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fcb"),
        "{query}"
    );
    // The API's own page answers it (the test's API listens on a port of its own).
    let chooser = app.anonymous().get(query).await;
    let status = chooser.status();
    let body = chooser.text().await.unwrap();
    assert_eq!(status, 200, "{query}: {body}");
    assert!(body.contains("Connect an account"), "{body}");
}

/// Stores `n` events of `account`, oldest first: `docs/file-1.txt` … `docs/file-n.txt`.
async fn seed_events(app: &TestApp, account: i64, n: i64) {
    sqlx::query(
        "INSERT INTO events (account_id, type, metadata)
         SELECT $1, CASE WHEN g % 2 = 0 THEN 'update' ELSE 'add' END,
                jsonb_build_object('path', 'docs/file-' || g || '.txt', 'kind', 'file', 'size', g)
           FROM generate_series(1, $2::bigint) g ORDER BY g",
    )
    .bind(account)
    .bind(n)
    .execute(&app.db().await)
    .await
    .unwrap();
}

#[tokio::test]
async fn an_accounts_events_are_shown_newest_first_a_page_at_a_time() {
    let app = with_signup().await;
    let (dev, id, key) = developer(&app, "di@example.com", "Events").await;
    let (account, _) = app.import_local(&key, "dora").await;
    seed_events(&app, account, 120).await;
    let tab = format!("/apps/{id}/accounts/{account}/events");

    let first = dev.get(&tab).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert!(first.body.contains("Events of dora"));
    assert!(first.body.contains("does not collect events"));
    let rows = |p: &Page| p.body.matches("<code>/docs/").count();
    assert_eq!(rows(&first), 50);
    let newest = first.body.find("/docs/file-120.txt").expect("the newest");
    let next = first.body.find("/docs/file-119.txt").unwrap();
    assert!(newest < next, "newest first");
    assert!(!first.body.contains("/docs/file-70.txt"));
    assert!(first.body.contains("update") && first.body.contains("add"));
    // The item's Kloudless id is the base64url of its path.
    assert!(
        first.body.contains("ZG9jcy9maWxlLTEyMC50eHQ"),
        "{}",
        first.body
    );
    assert!(link(&first, "newest").is_none());

    let second = dev.get(&link(&first, "older").expect("older")).await;
    assert_eq!(rows(&second), 50);
    assert!(second.body.contains("/docs/file-70.txt"));
    assert!(second.body.contains("/docs/file-21.txt"));
    assert!(!second.body.contains("/docs/file-71.txt"));
    let third = dev.get(&link(&second, "older").expect("older")).await;
    assert_eq!(rows(&third), 20);
    assert!(third.body.contains("/docs/file-1.txt"));
    assert!(link(&third, "older").is_none(), "the oldest page");
    assert_eq!(
        link(&third, "newest").as_deref(),
        Some(tab.as_str()),
        "back to the newest"
    );

    // The developer's other application does not show this account.
    let other = dev.submit("/apps", "/apps", &[("name", "Other")]).await;
    let at = other.body.find("<dd><code>").unwrap() + 10;
    let other = other.body[at..].split('<').next().unwrap();
    let r = dev
        .get(&format!("/apps/{other}/accounts/{account}/events"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = dev.get(&format!("/apps/{id}/accounts/nope/events")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn upload_locations_are_added_and_removed_under_the_apis_rules() {
    let app = with_signup().await;
    let (dev, id, key) = developer(&app, "eli@example.com", "Drop").await;
    let (account, _) = app.import_local(&key, "uploads").await;
    let tab = format!("/apps/{id}/upload_locations");
    let page = dev.get(&tab).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("No upload location"));

    // Refused as the API refuses: no such account, no such folder.
    let r = dev
        .submit(&tab, &tab, &[("account_id", "999999"), ("parent_id", "")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body.contains("not an account of this application"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("value=\"999999\""),
        "the form keeps what was typed"
    );
    let r = dev
        .submit(
            &tab,
            &tab,
            &[
                ("account_id", &account.to_string()),
                ("parent_id", "bm9uZQ"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body.contains("parent folder does not exist"),
        "{}",
        r.body
    );

    // Added at the root: listed, and the management API sees it.
    let r = dev
        .submit(&tab, &tab, &[("account_id", &account.to_string())])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = dev.get(r.location.as_deref().unwrap()).await;
    assert!(page.body.contains("Upload location added."));
    assert!(page.body.contains("uploads (Local Disk)"), "{}", page.body);
    assert!(page.body.contains("<code>root</code>"));
    let dev_key = shown_key(&dev.submit("/account", "/account/keys", &[]).await);
    let listed: Value = app
        .with_auth(format!("DeveloperKey {dev_key}"))
        .get_json(&format!("/v1/applications/{id}/upload_locations"))
        .await;
    assert_eq!(listed["count"], 1, "{listed}");
    let location = listed["objects"][0]["id"].as_i64().unwrap().to_string();
    // The same folder twice: a conflict, said on the page.
    let r = dev
        .submit(&tab, &tab, &[("account_id", &account.to_string())])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("already an upload location"));

    // Removed: gone for the API too.
    let remove = format!("{tab}/{location}/remove");
    assert_eq!(dev.post(&remove, &[]).await.status, StatusCode::FORBIDDEN);
    let r = dev.submit(&tab, &remove, &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = dev.get(r.location.as_deref().unwrap()).await;
    assert!(page.body.contains("Upload location removed."));
    assert!(page.body.contains("No upload location"));
    let listed: Value = app
        .with_auth(format!("DeveloperKey {dev_key}"))
        .get_json(&format!("/v1/applications/{id}/upload_locations"))
        .await;
    assert_eq!(listed["count"], 0, "{listed}");
}

#[tokio::test]
async fn a_service_keys_secret_is_sealed_and_never_shown_again() {
    let app = with_signup().await;
    let (dev, id, _) = developer(&app, "fay@example.com", "Keys").await;
    let tab = format!("/apps/{id}/services");
    let page = dev.get(&tab).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for name in ["Google Drive", "OneDrive", "Dropbox", "Box"] {
        assert!(page.body.contains(name), "{name}");
    }
    assert!(page.body.contains("/v1/oauth/callback"));
    const SECRET: &str = "s3cr3t-value-never-shown";
    let gdrive = format!("{tab}/gdrive");

    // Without the form's token, or without a secret: refused.
    let r = dev
        .post(&gdrive, &[("client_id", "cid"), ("client_secret", SECRET)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = dev
        .submit(
            &tab,
            &gdrive,
            &[("client_id", "cid"), ("client_secret", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("client_secret"), "{}", r.body);
    let r = dev
        .submit(
            &tab,
            &format!("{tab}/s3"),
            &[("client_id", "cid"), ("client_secret", SECRET)],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("not an OAuth service"), "{}", r.body);

    let r = dev
        .submit(
            &tab,
            &gdrive,
            &[
                ("client_id", " drive-client.apps.example "),
                ("client_secret", SECRET),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = dev.get(r.location.as_deref().unwrap()).await;
    assert!(page.body.contains("Service key saved."));
    assert!(page.body.contains("<code>drive-client.apps.example</code>"));
    assert!(page
        .body
        .contains("set <span class=\"muted\">(never shown)"));
    // The secret is on no page, and stored sealed.
    for path in [
        tab.clone(),
        format!("/apps/{id}"),
        format!("/apps/{id}/accounts"),
        format!("/apps/{id}/upload_locations"),
    ] {
        let page = dev.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(!page.body.contains(SECRET), "{path} shows the secret");
    }
    let (client_id, sealed): (String, Vec<u8>) = sqlx::query_as(
        "SELECT client_id, sealed_secret FROM application_providers
          WHERE application_id = $1 AND service = 'gdrive'",
    )
    .bind(&id)
    .fetch_one(&app.db().await)
    .await
    .unwrap();
    assert_eq!(client_id, "drive-client.apps.example");
    assert!(!sealed.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
    // The management API sees the same key.
    let dev_key = shown_key(&dev.submit("/account", "/account/keys", &[]).await);
    let keys = app
        .with_auth(format!("DeveloperKey {dev_key}"))
        .get_json(&format!("/v1/applications/{id}/service_keys"))
        .await;
    assert_eq!(keys["objects"][0]["client_id"], "drive-client.apps.example");
    assert!(!keys.to_string().contains(SECRET));

    // Removed: not set any more.
    let r = dev.submit(&tab, &format!("{gdrive}/remove"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = dev.get(r.location.as_deref().unwrap()).await;
    assert!(page.body.contains("Service key removed."));
    assert!(!page.body.contains("drive-client.apps.example"));
}

#[tokio::test]
async fn another_developers_application_and_accounts_are_not_found_on_every_tab() {
    let app = with_signup().await;
    let (_ada, id, key) = developer(&app, "gus@example.com", "Gus's").await;
    let (account, _) = app.import_local(&key, "secret-account-name").await;
    seed_events(&app, account, 3).await;
    let (other, _, _) = developer(&app, "hal@example.com", "Hal's").await;
    for path in [
        format!("/apps/{id}/accounts"),
        format!("/apps/{id}/accounts?q=secret"),
        format!("/apps/{id}/accounts/{account}/events"),
        format!("/apps/{id}/upload_locations"),
        format!("/apps/{id}/services"),
    ] {
        let page = other.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.body.contains("secret-account-name"), "{path}");
    }
    for path in [
        format!("/apps/{id}/accounts/{account}/disconnect"),
        format!("/apps/{id}/upload_locations"),
        format!("/apps/{id}/upload_locations/1/remove"),
        format!("/apps/{id}/services/gdrive"),
        format!("/apps/{id}/services/gdrive/remove"),
    ] {
        let page = other
            .submit(
                "/apps",
                &path,
                &[
                    ("account_id", &account.to_string()),
                    ("client_id", "x"),
                    ("client_secret", "y"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
    }
    // Nothing of Gus's changed.
    let listed = app.with_key(&key).get_json("/v1/accounts").await;
    assert_eq!(listed["count"], 1, "{listed}");
    let keys: i64 =
        sqlx::query_scalar("SELECT count(*) FROM application_providers WHERE application_id = $1")
            .bind(&id)
            .fetch_one(&app.db().await)
            .await
            .unwrap();
    assert_eq!(keys, 0);
}
