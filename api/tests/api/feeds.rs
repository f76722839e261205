//! Native change feeds of the OAuth services, each against its local server: Google
//! Drive (google-drive-mock + `testenv/node/gdrive-mock.js`), OneDrive
//! (microsoft-onedrive-mock + `testenv/node/onedrive-mock.js`), and our Dropbox and Box
//! fakes. Each test takes `feed_start`, then makes the same changes through the
//! connector (create a folder, upload a file, overwrite it, rename it, move it into the
//! folder, copy it, delete it, delete the folder), reading the feed after each one: every
//! change shows once, in order, with the service's id as key, the item at its path now
//! (or gone). Read again from the start (in small pages, following cursors), the feed
//! ends at each item's last state. A position the service no longer knows is `Expired`.

use std::{collections::HashMap, sync::Arc};

use bytes::Bytes;
use cloudbridge_connectors::{
    boxcom::BoxStore,
    dropbox::DropboxStore,
    feed::{Change, FeedPage},
    gdrive::DriveStore,
    oauth::{Api, FixedToken, Token},
    onedrive::OneDrive,
    Storage,
};
use cloudbridge_fakes::{
    boxcom::{BoxFake, Config},
    dropbox::FakeDropbox,
};
use cloudbridge_shared::{
    config::{ProviderSettings, Settings},
    protocol::TransferPlan,
    storage::{EventType, ItemKind},
    Entry, ItemPath, ItemRef, Secret,
};
use serde_json::json;

use crate::{gdrive::drive_mock, onedrive::onedrive_mock};

/// Calls made with a fixed access token.
fn api(token: &str) -> Api {
    Api {
        http: reqwest::Client::new(),
        tokens: Arc::new(FixedToken(Token {
            access: Secret::new(token),
            version: 0,
        })),
        call_timeout: std::time::Duration::from_secs(60),
        headers: Vec::new(),
    }
}

/// `provider` (from the default settings) with its API and content hosts at `url`.
fn at(mut provider: ProviderSettings, url: &str) -> ProviderSettings {
    provider.api_url = url.to_string();
    provider.content_url = url.to_string();
    provider
}

fn path(p: &str) -> ItemPath {
    ItemPath::parse(p).unwrap()
}

/// Moves (or copies) the file at `from` to `to` the way workers do.
async fn relocate(store: &dyn Storage, from: &str, to: &str, copy: bool) -> Entry {
    let source = store.metadata(&path(from)).await.unwrap();
    store
        .relocate(&source, ItemKind::File, &path(to), copy)
        .await
        .unwrap()
}

/// Uploads `bytes` as `name` in `parent` the way workers and the API tier do.
async fn upload(store: &dyn Storage, parent: &str, name: &str, bytes: &'static [u8]) -> Entry {
    let parent = path(parent);
    let TransferPlan::Service { path, staged } =
        store.plan_upload(&parent, name, true).await.unwrap()
    else {
        panic!("OAuth services stream uploads themselves");
    };
    let body = futures::stream::iter([Ok(Bytes::from_static(bytes))]);
    store
        .upload(
            &path,
            staged.as_deref(),
            Box::pin(body),
            Some(bytes.len() as u64),
        )
        .await
        .unwrap();
    store
        .commit_upload(staged.as_deref().unwrap_or_default(), &parent, name, true)
        .await
        .unwrap()
}

/// Every change from `cursor` on, following cursors until `more` is false; the cursor
/// to go on from and how many pages it took.
async fn read_all(store: &dyn Storage, mut cursor: String) -> (Vec<Change>, String, usize) {
    let mut changes = Vec::new();
    for pages in 1..=100 {
        match store.changes(&cursor).await.unwrap() {
            FeedPage::Changes {
                changes: page,
                cursor: next,
                more,
            } => {
                changes.extend(page);
                cursor = next;
                if !more {
                    return (changes, cursor, pages);
                }
            }
            FeedPage::Expired => panic!("a fresh cursor expired"),
        }
    }
    panic!("the feed never ended");
}

/// What one change should say: its key, its path now (`None`: gone), its hint.
type Expected = (String, Option<&'static str>, Option<EventType>);

fn seen(changes: &[Change]) -> Vec<Expected> {
    changes
        .iter()
        .map(|c| {
            let path = c.entry.as_ref().map(|e| -> &'static str {
                Box::leak(e.path.as_str().to_string().into_boxed_str())
            });
            (c.key.clone(), path, c.hint)
        })
        .collect()
}

/// The keys of the items the script makes.
struct Keys {
    folder: String,
    file: String,
    copy: String,
}

/// How a service reports the script's steps: `(keys, step) →` the changes of that step.
type Script = fn(&Keys, usize) -> Vec<Expected>;

/// The steps as services with stable ids report them: each item once, where it is now.
fn by_id(k: &Keys, step: usize) -> Vec<Expected> {
    let (f, a, c) = (k.folder.clone(), k.file.clone(), k.copy.clone());
    match step {
        1 => vec![(f, Some("F"), None)],
        2 | 3 => vec![(a, Some("a.txt"), None)],
        4 => vec![(a, Some("b.txt"), None)],
        5 => vec![(a, Some("F/b.txt"), None)],
        6 => vec![(c, Some("c.txt"), None)],
        7 => vec![(a, None, None)],
        8 => vec![(f, None, None)],
        _ => unreachable!(),
    }
}

/// Runs the script against `store`: checks each step's changes against `expect`, then
/// reads everything again from the start after `small_pages` (which makes the service
/// page its feed in small pages) and checks each key's last state against `last`.
async fn run_script(
    store: &dyn Storage,
    expect: Script,
    small_pages: impl std::future::Future<Output = ()>,
    last: fn(&Keys) -> Vec<Expected>,
) -> String {
    let start = store.feed_start().await.unwrap().expect("a native feed");
    let mut cursor = start.clone();
    let mut keys = Keys {
        folder: String::new(),
        file: String::new(),
        copy: String::new(),
    };
    for step in 1..=8 {
        match step {
            1 => {
                let (folder, made) = store.create_folder(&path(""), "F", true).await.unwrap();
                assert!(made);
                keys.folder = store.change_key(&folder);
            }
            2 => keys.file = store.change_key(&upload(store, "", "a.txt", b"one").await),
            3 => {
                let again = upload(store, "", "a.txt", b"two, longer").await;
                assert_eq!(
                    store.change_key(&again),
                    keys.file,
                    "an overwrite keeps the id"
                );
            }
            4 => {
                let renamed = relocate(store, "a.txt", "b.txt", false).await;
                assert_eq!(
                    store.change_key(&renamed),
                    keys.file,
                    "a rename keeps the id"
                );
            }
            5 => {
                let moved = relocate(store, "b.txt", "F/b.txt", false).await;
                assert_eq!(store.change_key(&moved), keys.file, "a move keeps the id");
            }
            6 => {
                let copy = relocate(store, "F/b.txt", "c.txt", true).await;
                keys.copy = store.change_key(&copy);
                assert_ne!(keys.copy, keys.file);
            }
            7 => store
                .delete(&ItemRef::Path(path("F/b.txt")), ItemKind::File, false)
                .await
                .map(drop)
                .unwrap(),
            8 => store
                .delete(&ItemRef::Path(path("F")), ItemKind::Folder, true)
                .await
                .map(drop)
                .unwrap(),
            _ => unreachable!(),
        }
        let (changes, next, _) = read_all(store, cursor).await;
        cursor = next;
        assert_eq!(
            seen(&changes),
            expect(&keys, step),
            "step {step}: {changes:#?}"
        );
        for change in &changes {
            let Some(entry) = &change.entry else {
                continue;
            };
            // The entry is what `metadata` says of the item now, raw data and all.
            let now = store.metadata(&entry.path).await.unwrap();
            assert_eq!(store.change_key(&now), change.key, "step {step}");
            assert_eq!(store.change_key(entry), change.key, "step {step}");
            assert_eq!(
                (entry.kind, entry.size),
                (now.kind, now.size),
                "step {step}"
            );
            assert!(entry.raw.is_some(), "step {step}");
        }
    }
    let (nothing, _, _) = read_all(store, cursor.clone()).await;
    assert_eq!(nothing, [], "nothing more happened");

    // From the start again, in small pages: each key ends in its last state.
    small_pages.await;
    let (changes, _, pages) = read_all(store, start).await;
    assert!(pages > 1, "small pages: {pages}");
    let mut final_state: HashMap<String, Expected> = HashMap::new();
    for change in seen(&changes) {
        final_state.insert(change.0.clone(), change);
    }
    for (key, path, hint) in last(&keys) {
        let got = final_state.get(&key).map(|(_, path, _)| *path);
        assert_eq!(got, Some(path), "last state of {key}: {changes:#?}");
        if hint.is_some() {
            assert_eq!(final_state[&key].2, hint, "{key}");
        }
    }
    cursor
}

/// The last state of each item made by ids: only the copy is left.
fn last_by_id(k: &Keys) -> Vec<Expected> {
    vec![
        (k.folder.clone(), None, None),
        (k.file.clone(), None, None),
        (k.copy.clone(), Some("c.txt"), None),
    ]
}

#[tokio::test]
async fn dropbox_feed_reports_every_change_once_in_order() {
    let fake = FakeDropbox::start().await;
    // Two entries per page: steps with two entries and the full read page.
    fake.set_page_limit(2);
    let token = fake.issue_token(&fake.account_id());
    let provider = at(Settings::default().providers.dropbox, fake.url());
    let store = DropboxStore::with_api(api(&token), &provider);

    // Dropbox reports paths: a deleted entry has no id (its key is the path it names), a
    // rename or move is its old path deleted and the id at its new path, and reading
    // later gives each path once, at its last change.
    fn expect(k: &Keys, step: usize) -> Vec<Expected> {
        let gone = |p: &str| (p.to_string(), None, None);
        match step {
            4 => vec![gone("a.txt"), (k.file.clone(), Some("b.txt"), None)],
            5 => vec![gone("b.txt"), (k.file.clone(), Some("F/b.txt"), None)],
            7 => vec![gone("F/b.txt")],
            8 => vec![gone("F")],
            step => by_id(k, step),
        }
    }
    fn last(k: &Keys) -> Vec<Expected> {
        ["a.txt", "b.txt", "F/b.txt", "F"]
            .map(|p| (p.to_string(), None, None))
            .into_iter()
            .chain([(k.copy.clone(), Some("c.txt"), None)])
            .collect()
    }
    let cursor = run_script(&store, expect, async {}, last).await;
    assert!(cursor.len() > 10);

    fake.reset_cursors();
    assert_eq!(store.changes(&cursor).await.unwrap(), FeedPage::Expired);
    let fresh = store.feed_start().await.unwrap().unwrap();
    assert!(matches!(
        store.changes(&fresh).await.unwrap(),
        FeedPage::Changes { more: false, .. }
    ));
}

#[tokio::test]
async fn box_feed_reports_every_change_once_in_order() {
    let fake = BoxFake::start(Config::default()).await;
    fake.set_event_page_limit(2);
    let provider = at(Settings::default().providers.box_, fake.url());
    let store = BoxStore::new(api("box-access-token"), &provider, 0);

    // Box says when an item is a copy.
    fn expect(k: &Keys, step: usize) -> Vec<Expected> {
        match step {
            6 => vec![(k.copy.clone(), Some("c.txt"), Some(EventType::Copy))],
            step => by_id(k, step),
        }
    }
    fn last(k: &Keys) -> Vec<Expected> {
        let mut last = last_by_id(k);
        last[2].2 = Some(EventType::Copy);
        last
    }
    let cursor = run_script(&store, expect, async {}, last).await;
    assert_eq!(
        fake.event_types(),
        [
            "ITEM_CREATE",
            "ITEM_UPLOAD",
            "ITEM_UPLOAD",
            "ITEM_RENAME",
            "ITEM_MOVE",
            "ITEM_COPY",
            "ITEM_TRASH",
            "ITEM_TRASH"
        ]
    );

    // A file restored from the trash comes back, said to be restored.
    let trashed_copy = store.metadata(&path("c.txt")).await.unwrap();
    let id = trashed_copy.raw.as_ref().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    store
        .delete(&ItemRef::Path(path("c.txt")), ItemKind::File, false)
        .await
        .map(drop)
        .unwrap();
    let restored = reqwest::Client::new()
        .post(format!("{}/2.0/files/{id}", fake.url()))
        .bearer_auth("box-access-token")
        .send()
        .await
        .unwrap();
    assert_eq!(restored.status(), 201);
    let (changes, cursor, _) = read_all(&store, cursor).await;
    assert_eq!(
        seen(&changes),
        [
            (id.clone(), None, None),
            (id, Some("c.txt"), Some(EventType::Restore))
        ]
    );

    fake.expire_events();
    assert_eq!(store.changes(&cursor).await.unwrap(), FeedPage::Expired);
    let fresh = store.feed_start().await.unwrap().unwrap();
    assert!(matches!(
        store.changes(&fresh).await.unwrap(),
        FeedPage::Changes { more: false, .. }
    ));
}

/// POSTs a test hook of a node emulator's layer.
async fn debug(endpoint: &str, hook: &str, body: serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{endpoint}/debug/{hook}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{hook}: {}", r.status());
}

#[tokio::test]
async fn gdrive_feed_reports_every_change_once_in_order() {
    let mock = drive_mock().await;
    let provider = at(Settings::default().providers.gdrive, &mock.endpoint);
    let store = DriveStore::with_api(api("valid-token"), &provider, 0);
    let endpoint = mock.endpoint.clone();
    let small = debug(&endpoint, "changes", json!({"pageSize": 2}));
    let cursor = run_script(&store, by_id, small, last_by_id).await;

    // An upload not committed yet sits under a temporary name: not a change to report.
    let plan = store.plan_upload(&path(""), "d.txt", false).await.unwrap();
    let TransferPlan::Service { path: to, staged } = plan else {
        panic!("Drive streams uploads itself");
    };
    let body = futures::stream::iter([Ok(Bytes::from_static(b"bytes"))]);
    store
        .upload(&to, staged.as_deref(), Box::pin(body), Some(5))
        .await
        .unwrap();
    let (changes, cursor, _) = read_all(&store, cursor).await;
    assert_eq!(changes, [], "the temporary file is left out");
    store
        .abort_upload(staged.as_deref().unwrap())
        .await
        .unwrap();
    // Its removal for good says only which id went (Drive names no removed file): a
    // key no change reported, which the collector has nothing under.
    let (changes, cursor, _) = read_all(&store, cursor).await;
    assert!(changes.iter().all(|c| c.entry.is_none()), "{changes:?}");

    debug(&mock.endpoint, "changes", json!({"expire": true})).await;
    assert_eq!(store.changes(&cursor).await.unwrap(), FeedPage::Expired);
    assert_eq!(
        store.changes("not-a-token").await.unwrap(),
        FeedPage::Expired
    );
    let fresh = store.feed_start().await.unwrap().unwrap();
    assert!(matches!(
        store.changes(&fresh).await.unwrap(),
        FeedPage::Changes { more: false, .. }
    ));
}

#[tokio::test]
async fn onedrive_feed_reports_every_change_once_in_order() {
    let mock = onedrive_mock().await;
    let provider = at(Settings::default().providers.onedrive, &mock.endpoint);
    let store = OneDrive::new(api("valid-token"), &provider, 0);
    let endpoint = mock.endpoint.clone();
    let small = debug(&endpoint, "delta", json!({"pageSize": 2}));
    let cursor = run_script(&store, by_id, small, last_by_id).await;

    debug(&mock.endpoint, "delta", json!({"expire": true})).await;
    assert_eq!(store.changes(&cursor).await.unwrap(), FeedPage::Expired);
    let fresh = store.feed_start().await.unwrap().unwrap();
    assert!(matches!(
        store.changes(&fresh).await.unwrap(),
        FeedPage::Changes { more: false, .. }
    ));
}
