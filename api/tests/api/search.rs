//! Search in the cloud services' own indexes (Google Drive `files.list q`, Graph
//! `search(q=)`, Dropbox `search_v2`, Box `/search`), through the full pipeline against
//! their emulators: items found by name, below `parents` at any depth, with the ids,
//! paths and parents their metadata has; pages linked by `next_page` tokens in the
//! service's own paging, so reading a search of 250 hits costs a service call or two a
//! page; tokens open only for the account and the query they were given for. (Crawled
//! searches cut short say so: `multi_accounts::a_crawl_cut_short_says_so`.)

use cloudbridge_fakes::{boxcom::BoxFake, dropbox::FakeDropbox};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::{
    boxcom, dropbox,
    gdrive::{self, app_with_drive, drive_mock},
    helpers::{assert_error, Caller, Server, TestApp},
    onedrive::{onedrive_account, onedrive_mock},
};

const STORAGE: &str = "/v1/accounts/me/storage";

/// A cloud service's emulator, asked how many searches it answered.
enum Cloud {
    Drive(Server),
    Graph(Server),
    Dropbox(FakeDropbox),
    Box(BoxFake),
}

impl Cloud {
    /// Search calls the emulator answered so far (Drive: every `files.list`, which the
    /// searches here are the only callers of while they run).
    async fn searches(&self) -> u64 {
        let requests = |server: &Server| {
            let url = format!("{}/debug/requests", server.endpoint);
            async move {
                let counts: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
                counts.as_object().cloned().unwrap_or_default()
            }
        };
        match self {
            Cloud::Drive(server) => requests(server).await["GET /drive/v3/files"]
                .as_u64()
                .unwrap_or(0),
            Cloud::Graph(server) => requests(server)
                .await
                .iter()
                .filter(|(k, _)| k.starts_with("GET ") && k.contains("/search("))
                .map(|(_, v)| v.as_u64().unwrap())
                .sum(),
            Cloud::Dropbox(fake) => {
                (fake.calls("files/search_v2") + fake.calls("files/search/continue_v2")) as u64
            }
            Cloud::Box(fake) => fake.counters().searches,
        }
    }
}

/// An account on each cloud, with its emulator and its Cloudbridge.
async fn drive() -> (Cloud, TestApp, Caller) {
    let mock = drive_mock().await;
    let app = app_with_drive(&mock.endpoint).await;
    let (_, key) = app.create_app("search").await;
    let (_, token) = app.import(&key, &gdrive::account("search")).await;
    let a = app.with_token(&token);
    (Cloud::Drive(mock), app, a)
}

async fn graph() -> (Cloud, TestApp, Caller) {
    let mock = onedrive_mock().await;
    let (app, token) = onedrive_account(&mock, "onedrive").await;
    let a = app.with_token(&token);
    (Cloud::Graph(mock), app, a)
}

async fn dropbox_account() -> (Cloud, TestApp, Caller) {
    let fake = FakeDropbox::start().await;
    let app = dropbox::app_for(&fake).await;
    let (a, _) = dropbox::import(&app, &fake).await;
    (Cloud::Dropbox(fake), app, a)
}

async fn box_account() -> (Cloud, TestApp, Caller) {
    let fake = boxcom::fake(|_| {}).await;
    let app = boxcom::app_for(&fake).await;
    let a = boxcom::import(&app, "box-access-token", None).await;
    (Cloud::Box(fake), app, a)
}

/// Makes folder `name` in `parent`; returns its id.
async fn mkdir(a: &Caller, parent: &str, name: &str) -> String {
    let r = a
        .post_json(
            &format!("{STORAGE}/folders"),
            &json!({"parent_id": parent, "name": name}),
        )
        .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body["id"].as_str().unwrap().to_string()
}

async fn upload(a: &Caller, parent: &str, name: &str) -> String {
    let r = a.upload(parent, name, "found").await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// The names of a list's objects, sorted.
fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["objects"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// Finds items by name, at any depth below `parents`, from the service's index; each hit
/// is named and placed as its metadata says.
async fn finds_by_name(cloud: &Cloud, a: &Caller) {
    let reports = mkdir(a, "root", "Reports").await;
    let archive = mkdir(a, "root", "Archive").await;
    let nested = mkdir(a, &reports, "nested").await;
    upload(a, &reports, "quarterly report.txt").await;
    upload(a, &nested, "report draft.txt").await;
    upload(a, &archive, "report-old.txt").await;
    upload(a, "root", "unrelated.txt").await;

    let before = cloud.searches().await;
    let everywhere = a.get_json(&format!("{STORAGE}/search?q=report")).await;
    assert_eq!(
        names(&everywhere),
        [
            "Reports",
            "quarterly report.txt",
            "report draft.txt",
            "report-old.txt"
        ],
        "{everywhere}"
    );
    assert!(
        cloud.searches().await > before,
        "answered from the service's index"
    );
    assert_eq!(everywhere["truncated"], false);
    for hit in everywhere["objects"].as_array().unwrap() {
        let id = hit["id"].as_str().unwrap();
        assert!(
            id.starts_with("file_") || id.starts_with("folder_"),
            "a native id: {hit}"
        );
        let kind = hit["type"].as_str().unwrap();
        let meta = a.get_json(&format!("{STORAGE}/{kind}s/{id}")).await;
        for field in ["id", "name", "path", "parent", "type"] {
            assert_eq!(hit[field], meta[field], "{field} of {hit} vs {meta}");
        }
    }
    let draft = everywhere["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "report draft.txt")
        .unwrap();
    assert_eq!(draft["path"], "/Reports/nested/report draft.txt");

    let below = a
        .get_json(&format!("{STORAGE}/search?q=report&parents={reports}"))
        .await;
    assert_eq!(
        names(&below),
        ["quarterly report.txt", "report draft.txt"],
        "{below}"
    );
    let both = a
        .get_json(&format!(
            "{STORAGE}/search?q=report&parents={nested},{archive}"
        ))
        .await;
    assert_eq!(
        names(&both),
        ["report draft.txt", "report-old.txt"],
        "{both}"
    );
    // Past the last page is "not found", as the SDKs expect when paging.
    let past = a
        .get(&format!(
            "{STORAGE}/search?q=report&parents={archive}&page=2"
        ))
        .await;
    assert_error(past, 404, "not_found").await;
}

#[tokio::test]
async fn drive_search_uses_drives_index() {
    let (cloud, _app, a) = drive().await;
    finds_by_name(&cloud, &a).await;
}

#[tokio::test]
async fn onedrive_search_uses_graphs_index() {
    let (cloud, _app, a) = graph().await;
    finds_by_name(&cloud, &a).await;
}

#[tokio::test]
async fn dropbox_search_uses_dropboxs_index() {
    let (cloud, _app, a) = dropbox_account().await;
    finds_by_name(&cloud, &a).await;
}

#[tokio::test]
async fn box_search_uses_boxs_index() {
    let (cloud, _app, a) = box_account().await;
    finds_by_name(&cloud, &a).await;
}

/// Hits of the paging test.
const HITS: usize = 250;
/// Its page size.
const PAGE: usize = 50;

/// Pages through a search of 250 hits (folders `hit-…` in `big`) by `next_page`: every
/// hit once, at most two service searches a page (where every page used to crawl the
/// account), page 3 by number the same as by token; a token opens only for its account
/// and its query.
async fn pages_in_the_services_paging(cloud: &Cloud, app: &TestApp, a: &Caller) {
    let big = mkdir(a, "root", "big").await;
    let made: Vec<String> = futures::stream::iter(0..HITS)
        .map(|n| {
            let big = big.clone();
            async move { mkdir(a, &big, &format!("hit-{n:05}")).await }
        })
        .buffer_unordered(6)
        .collect()
        .await;
    assert_eq!(made.len(), HITS);
    let search = format!("{STORAGE}/search?q=hit&parents={big}&page_size={PAGE}");

    let before = cloud.searches().await;
    let mut page = a.get_json(&search).await;
    let (mut seen, mut pages, mut third, mut token) = (names(&page), 1, None, None);
    while let Some(next) = page["next_page"].as_str().map(str::to_string) {
        page = a.get_json(&format!("{search}&page={next}")).await;
        pages += 1;
        if pages == 3 {
            third = Some(names(&page));
        }
        token.get_or_insert(next);
        seen.extend(names(&page));
    }
    let calls = cloud.searches().await - before;
    assert!(page["next_page"].is_null(), "{page}");
    assert_eq!(pages, HITS.div_ceil(PAGE));
    seen.sort();
    let expected: Vec<String> = (0..HITS).map(|n| format!("hit-{n:05}")).collect();
    assert_eq!(seen, expected, "every hit once");
    assert!(
        calls <= 2 * pages as u64,
        "{calls} searches for {pages} pages"
    );
    eprintln!("{HITS} hits in {pages} pages of {PAGE}: {calls} service searches");
    let numbered = a.get_json(&format!("{search}&page=3")).await;
    assert_eq!(Some(names(&numbered)), third, "page 3 by number");

    // A token is refused for another query, other folders, another account, and
    // across several accounts.
    let token = token.expect("a token");
    for other in [
        format!("{STORAGE}/search?q=hits&parents={big}&page={token}"),
        format!("{STORAGE}/search?q=hit&page={token}"),
        format!("{STORAGE}/folders/{big}/contents?page={token}"),
    ] {
        assert_error(a.get(&other).await, 400, "invalid_parameters").await;
    }
    let (_, key) = app.create_app("elsewhere").await;
    let (other, other_token) = app.import_local(&key, "elsewhere").await;
    let elsewhere = app.with_token(&other_token);
    let r = elsewhere
        .get(&format!(
            "{STORAGE}/search?q=hit&parents={big}&page={token}"
        ))
        .await;
    assert_error(r, 400, "invalid_parameters").await;
    let r = app
        .with_key(&key)
        .get(&format!(
            "/v1/accounts/{other},{other}/storage/search?q=hit&page={token}"
        ))
        .await;
    assert_error(r, 400, "invalid_parameters").await;
}

#[tokio::test]
async fn drive_search_pages_cost_o_pages_searches() {
    let (cloud, app, a) = drive().await;
    pages_in_the_services_paging(&cloud, &app, &a).await;
}

#[tokio::test]
async fn onedrive_search_pages_cost_o_pages_searches() {
    let (cloud, app, a) = graph().await;
    pages_in_the_services_paging(&cloud, &app, &a).await;
}

#[tokio::test]
async fn dropbox_search_pages_cost_o_pages_searches() {
    let (cloud, app, a) = dropbox_account().await;
    pages_in_the_services_paging(&cloud, &app, &a).await;
}

#[tokio::test]
async fn box_search_pages_cost_o_pages_searches() {
    let (cloud, app, a) = box_account().await;
    pages_in_the_services_paging(&cloud, &app, &a).await;
}
