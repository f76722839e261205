//! Paths on the services that address items by id (Google Drive, OneDrive, Box): a
//! remembered id is never trusted for a path it no longer names, and paging through a
//! folder reads it once. Changes "elsewhere" are made at the emulator directly, as the
//! user or another app would.

use serde_json::{json, Value};

use crate::{
    boxcom,
    gdrive::{self, app_with_drive, drive_mock},
    helpers::{Caller, Server, TestApp, STORAGE},
    onedrive::{onedrive_account, onedrive_mock},
};

/// One emulator, spoken to directly.
enum Upstream<'a> {
    Drive(&'a Server),
    Graph(&'a Server),
    Box(&'a cloudbridge_fakes::boxcom::BoxFake),
}

impl Upstream<'_> {
    fn call(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let (base, token) = match self {
            Upstream::Drive(s) | Upstream::Graph(s) => (s.endpoint.clone(), "valid-token"),
            Upstream::Box(f) => (f.url().to_string(), "box-access-token"),
        };
        static CLIENT: std::sync::LazyLock<reqwest::Client> =
            std::sync::LazyLock::new(reqwest::Client::new);
        CLIENT
            .request(method, format!("{base}{path}"))
            .bearer_auth(token)
    }

    async fn json(&self, request: reqwest::RequestBuilder) -> Value {
        let r = request.send().await.unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap_or_default();
        assert!(status.is_success(), "{status}: {body}");
        body
    }

    /// The id of the folder named `name` in folder `parent` (the service's root alias
    /// when `None`).
    async fn find(&self, parent: Option<&str>, name: &str) -> Option<String> {
        let names = self.children(parent).await;
        names.into_iter().find(|(n, _)| n == name).map(|(_, id)| id)
    }

    /// `(name, id)` of everything in folder `parent`.
    async fn children(&self, parent: Option<&str>) -> Vec<(String, String)> {
        let get = reqwest::Method::GET;
        let items: Vec<Value> = match self {
            Upstream::Drive(_) => {
                let q = format!(
                    "'{}' in parents and trashed = false",
                    parent.unwrap_or("root")
                );
                let page = self
                    .json(
                        self.call(get, "/drive/v3/files")
                            .query(&[("q", q.as_str())]),
                    )
                    .await;
                page["files"].as_array().cloned().unwrap_or_default()
            }
            Upstream::Graph(_) => {
                let path = format!("/v1.0/me/drive/items/{}/children", parent.unwrap_or("root"));
                let page = self.json(self.call(get, &path)).await;
                page["value"].as_array().cloned().unwrap_or_default()
            }
            Upstream::Box(_) => {
                let path = format!("/2.0/folders/{}/items", parent.unwrap_or("0"));
                let page = self
                    .json(self.call(get, &path).query(&[("limit", "1000")]))
                    .await;
                page["entries"].as_array().cloned().unwrap_or_default()
            }
        };
        items
            .iter()
            .map(|i| {
                let text = |k: &str| i[k].as_str().unwrap_or_default().to_string();
                (text("name"), text("id"))
            })
            .collect()
    }

    /// Makes folder `name` in folder `parent`; returns its id.
    async fn mkdir(&self, parent: Option<&str>, name: &str) -> String {
        let post = reqwest::Method::POST;
        let made = match self {
            Upstream::Drive(_) => {
                let body = json!({"name": name, "parents": [parent.unwrap_or("root")],
                                  "mimeType": "application/vnd.google-apps.folder"});
                self.json(self.call(post, "/drive/v3/files").json(&body))
                    .await
            }
            Upstream::Graph(_) => {
                let path = format!("/v1.0/me/drive/items/{}/children", parent.unwrap_or("root"));
                self.json(
                    self.call(post, &path)
                        .json(&json!({"name": name, "folder": {}})),
                )
                .await
            }
            Upstream::Box(_) => {
                let body = json!({"name": name, "parent": {"id": parent.unwrap_or("0")}});
                self.json(self.call(post, "/2.0/folders").json(&body)).await
            }
        };
        made["id"].as_str().unwrap().to_string()
    }

    /// Renames the folder `id` to `name`.
    async fn rename(&self, id: &str, name: &str) {
        let body = json!({ "name": name });
        let request = match self {
            Upstream::Drive(_) => {
                self.call(reqwest::Method::PATCH, &format!("/drive/v3/files/{id}"))
            }
            Upstream::Graph(_) => self.call(
                reqwest::Method::PATCH,
                &format!("/v1.0/me/drive/items/{id}"),
            ),
            Upstream::Box(_) => self.call(reqwest::Method::PUT, &format!("/2.0/folders/{id}")),
        };
        self.json(request.json(&body)).await;
    }

    /// Upstream calls that list folders so far.
    async fn listing_calls(&self) -> u64 {
        let counts = |body: Value, matches: &dyn Fn(&str) -> bool| -> u64 {
            let counts = body.as_object().cloned().unwrap_or_default();
            counts
                .iter()
                .filter(|(k, _)| matches(k))
                .map(|(_, v)| v.as_u64().unwrap())
                .sum()
        };
        match self {
            Upstream::Drive(_) => {
                let body = self
                    .json(self.call(reqwest::Method::GET, "/debug/requests"))
                    .await;
                counts(body, &|k| k == "GET /drive/v3/files")
            }
            Upstream::Graph(_) => {
                let body = self
                    .json(self.call(reqwest::Method::GET, "/debug/requests"))
                    .await;
                counts(body, &|k| k.starts_with("GET ") && k.ends_with("/children"))
            }
            Upstream::Box(f) => f.counters().listing_pages,
        }
    }
}

/// An account on each service, with its emulator.
async fn drive() -> (Server, TestApp, String) {
    let mock = drive_mock().await;
    let app = app_with_drive(&mock.endpoint).await;
    let (_, key) = app.create_app("paths").await;
    let (_, token) = app.import(&key, &gdrive::account("paths")).await;
    (mock, app, token)
}

async fn graph() -> (Server, TestApp, String) {
    let mock = onedrive_mock().await;
    let (app, token) = onedrive_account(&mock, "onedrive").await;
    (mock, app, token)
}

/// A Box emulator, a Cloudbridge on it and a caller of its imported account.
async fn box_account() -> (cloudbridge_fakes::boxcom::BoxFake, TestApp, Caller) {
    let fake = boxcom::fake(|_| {}).await;
    let app = boxcom::app_for(&fake).await;
    let a = boxcom::import(&app, "box-access-token", None).await;
    (fake, app, a)
}

/// Makes folder `name` in `parent` through Cloudbridge; returns its id.
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

/// `docs/sub` made and written through Cloudbridge; then `docs` is renamed `archive`
/// elsewhere. An upload into `docs/sub` by path must not land in `archive/sub`; once a
/// new `docs/sub` is made elsewhere, it lands there. The folder's own id follows it to
/// `archive/sub`.
async fn renamed_elsewhere(a: &Caller, up: &Upstream<'_>) {
    let docs = mkdir(a, "root", "docs").await;
    let sub_id = mkdir(a, &docs, "sub").await;
    assert!(sub_id.starts_with("folder_"), "{sub_id}");
    let sub = cloudbridge_shared::ItemPath::parse("docs/sub")
        .unwrap()
        .id();
    let r = a.upload(&sub, "first.txt", "one").await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let listed = a
        .get_json(&format!("{STORAGE}/folders/{sub}/contents"))
        .await;
    assert_eq!(listed["objects"][0]["name"], "first.txt", "{listed}");

    let docs_up = up.find(None, "docs").await.unwrap();
    let sub_up = up.find(Some(&docs_up), "sub").await.unwrap();
    up.rename(&docs_up, "archive").await;

    let r = a.upload(&sub, "second.txt", "two").await;
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (status, body["error_code"].as_str()),
        (400, Some("invalid_parent_folder")),
        "{body}"
    );
    let moved: Vec<String> = up
        .children(Some(&sub_up))
        .await
        .into_iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(
        moved,
        vec!["first.txt"],
        "nothing was written into the moved folder"
    );

    let new_docs = up.mkdir(None, "docs").await;
    let new_sub = up.mkdir(Some(&new_docs), "sub").await;
    let r = a.upload(&sub, "third.txt", "three").await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let landed: Vec<String> = up
        .children(Some(&new_sub))
        .await
        .into_iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(landed, vec!["third.txt"]);
    let r = a.upload(&sub_id, "fourth.txt", "four").await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let mut moved: Vec<String> = up
        .children(Some(&sub_up))
        .await
        .into_iter()
        .map(|c| c.0)
        .collect();
    moved.sort();
    assert_eq!(
        moved,
        vec!["first.txt", "fourth.txt"],
        "the id follows the folder"
    );
}

#[tokio::test]
async fn drive_writes_never_follow_a_folder_renamed_elsewhere() {
    let (mock, app, token) = drive().await;
    renamed_elsewhere(&app.with_token(&token), &Upstream::Drive(&mock)).await;
}

#[tokio::test]
async fn onedrive_writes_never_follow_a_folder_renamed_elsewhere() {
    let (mock, app, token) = graph().await;
    renamed_elsewhere(&app.with_token(&token), &Upstream::Graph(&mock)).await;
}

#[tokio::test]
async fn box_writes_never_follow_a_folder_renamed_elsewhere() {
    let (fake, _app, a) = box_account().await;
    renamed_elsewhere(&a, &Upstream::Box(&fake)).await;
}

/// Items in the listed folder.
const ITEMS: usize = 250;
/// Cloudbridge's page size while paging through it.
const PAGE: usize = 50;

/// Pages through a folder of `items` made elsewhere, `page_size` at a time, following
/// `next_page`: every item comes once, in the service's order, and each page costs at
/// most two upstream listing calls (the batch it starts in and the next), where every
/// page used to read the whole folder. Page 2 asked for by number is the same page.
async fn paged_once(a: &Caller, up: &Upstream<'_>, items: usize, page_size: usize) {
    let folder = up.mkdir(None, "big").await;
    for n in 0..items {
        up.mkdir(Some(&folder), &format!("item-{n:05}")).await;
    }
    let root = a
        .get_json(&format!("{STORAGE}/folders/root/contents"))
        .await;
    let big = root["objects"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{root}"))
        .to_string();
    let contents = format!("{STORAGE}/folders/{big}/contents?page_size={page_size}");
    let names_of = |page: &Value| -> Vec<String> {
        page["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["name"].as_str().unwrap().to_string())
            .collect()
    };

    let before = up.listing_calls().await;
    let mut page = a.get_json(&format!("{contents}&page=1")).await;
    let mut names = Vec::new();
    let mut pages = 1;
    let mut second = None;
    loop {
        names.extend(names_of(&page));
        let Some(next) = page["next_page"].as_str() else {
            assert!(page["next_page"].is_null(), "{}", page["next_page"]);
            break;
        };
        pages += 1;
        page = a.get_json(&format!("{contents}&page={next}")).await;
        second.get_or_insert_with(|| names_of(&page));
    }
    let all = up.listing_calls().await - before;
    assert_eq!(pages, items.div_ceil(page_size));
    let mut sorted = names.clone();
    sorted.sort();
    let expected: Vec<String> = (0..items).map(|n| format!("item-{n:05}")).collect();
    assert_eq!(sorted, expected, "every item once");
    assert!(
        all <= 2 * pages as u64,
        "{all} listing calls for {pages} pages"
    );
    let numbered = a.get_json(&format!("{contents}&page=2")).await;
    assert_eq!(Some(names_of(&numbered)), second, "page 2 by number");
    eprintln!("{items} items in {pages} pages of {page_size}: {all} listing calls");
}

#[tokio::test]
async fn drive_pages_through_a_folder_reading_it_once() {
    let (mock, app, token) = drive().await;
    paged_once(
        &app.with_token(&token),
        &Upstream::Drive(&mock),
        ITEMS,
        PAGE,
    )
    .await;
}

#[tokio::test]
async fn onedrive_pages_through_a_folder_reading_it_once() {
    let (mock, app, token) = graph().await;
    paged_once(
        &app.with_token(&token),
        &Upstream::Graph(&mock),
        ITEMS,
        PAGE,
    )
    .await;
}

#[tokio::test]
async fn box_pages_through_a_folder_reading_it_once() {
    let (fake, _app, a) = box_account().await;
    paged_once(&a, &Upstream::Box(&fake), ITEMS, PAGE).await;
}
