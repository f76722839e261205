//! Upload locations and the File Picker's computer uploads (`/drop/{app_id}`), and copies
//! to the upload location (docs/widgets-protocol.md §3.9, §3.11).

use cloudbridge_shared::config::Rate;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};

use crate::helpers::{assert_error, housekeeping_removes, Caller, Go, TestApp, STORAGE};

/// The chunk size of these tests (small, so that a file of a few KiB has several chunks).
const CHUNK: usize = 1024;

/// An application with one upload location: folder `Inbox` of its local account
/// `uploads`.
pub struct Location {
    pub app_id: String,
    pub api_key: String,
    /// The location's account.
    pub account: i64,
    /// A bearer token of that account.
    pub token: String,
    /// The id of `Inbox`.
    pub folder: String,
    /// The location's id.
    pub id: i64,
}

/// Starts Cloudbridge with [`CHUNK`]-byte chunks and files of at most 10,000 bytes.
async fn spawn() -> TestApp {
    TestApp::builder()
        .settings(|s| {
            s.widgets.drop_chunk_bytes = CHUNK as u64;
            s.widgets.drop_max_bytes = 10_000;
        })
        .spawn()
        .await
}

/// Makes an application whose upload location is `Inbox` of its account `uploads`.
pub async fn location(app: &TestApp) -> Location {
    let (app_id, api_key) = app.create_app("picker").await;
    let (account, token) = app.import_local(&api_key, "uploads").await;
    let folder: Value = app
        .with_token(&token)
        .under(STORAGE)
        .post_json("/folders", &json!({"name": "Inbox", "parent_id": "root"}))
        .await
        .json()
        .await
        .unwrap();
    let folder = folder["id"].as_str().unwrap().to_string();
    let r = app
        .dev_caller()
        .post_json(
            &format!("/v1/applications/{app_id}/upload_locations"),
            &json!({"account_id": account, "parent_id": folder}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    Location {
        app_id,
        api_key,
        account,
        token,
        folder,
        id: created["id"].as_i64().unwrap(),
    }
}

/// What the picker sends: chunks of one file, as Plupload does.
struct Picker {
    caller: Caller,
    app_id: String,
    id: &'static str,
}

impl Picker {
    fn new(app: &TestApp, app_id: &str) -> Self {
        Self {
            caller: app.anonymous(),
            app_id: app_id.to_string(),
            id: "picker-1",
        }
    }

    /// Chunk `chunk` of `chunks` of file `file_id` (`name`, `size` bytes) with `bytes`.
    fn chunk(
        &self,
        file_id: &str,
        name: &str,
        size: usize,
        (chunk, chunks): (usize, usize),
        bytes: Vec<u8>,
    ) -> RequestBuilder {
        let name = urlencoding(name);
        self.caller
            .req(
                Method::POST,
                &format!(
                    "/drop/{}?name={name}&chunk={chunk}&chunks={chunks}&file_id={file_id}&file_size={size}",
                    self.app_id
                ),
            )
            .header("X-Picker-Id", self.id)
            .header("X-Explorer-Id", self.id)
            .header("Content-Type", "application/octet-stream")
            .body(bytes)
    }

    /// Sends all of `bytes` as file `name`, chunk after chunk; the last answer.
    async fn send(&self, file_id: &str, name: &str, bytes: &[u8]) -> Response {
        let chunks = bytes.len().div_ceil(CHUNK);
        let mut last = None;
        for (i, part) in bytes.chunks(CHUNK).enumerate() {
            let r = self
                .chunk(file_id, name, bytes.len(), (i, chunks), part.to_vec())
                .go()
                .await;
            if i + 1 < chunks {
                assert_eq!(r.status(), 200, "chunk {i}: {}", r.text().await.unwrap());
            } else {
                last = Some(r);
            }
        }
        last.expect("at least one chunk")
    }

    async fn abort(&self, file_id: &str) -> Response {
        self.caller
            .req(
                Method::DELETE,
                &format!("/drop/{}?file_id={file_id}", self.app_id),
            )
            .header("X-Picker-Id", self.id)
            .go()
            .await
    }
}

fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `n` bytes that differ from chunk to chunk.
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
}

/// The names in the location's folder.
async fn names_in(app: &TestApp, loc: &Location) -> Vec<String> {
    let listing = app
        .with_token(&loc.token)
        .under(STORAGE)
        .get_json(&format!("/folders/{}/contents", loc.folder))
        .await;
    let mut names: Vec<String> = listing["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// A file's bytes in the location's account.
async fn contents(app: &TestApp, loc: &Location, id: &str) -> Vec<u8> {
    let r = app
        .with_token(&loc.token)
        .under(STORAGE)
        .get(&format!("/files/{id}/contents"))
        .await;
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}

/// Unfinished uploads in the database, and session folders of staged chunks on disk.
async fn leftovers(app: &TestApp) -> (i64, usize) {
    let rows = sqlx::query_scalar("SELECT count(*) FROM drop_uploads WHERE stored IS NULL")
        .fetch_one(&app.db().await)
        .await
        .unwrap();
    let staged = std::fs::read_dir(app.data_root().join(".multipart"))
        .map(|d| d.count())
        .unwrap_or(0);
    (rows, staged)
}

#[tokio::test]
async fn a_file_sent_in_chunks_lands_whole_in_the_upload_location() {
    let app = spawn().await;
    let loc = location(&app).await;
    let config = app.anonymous().get(&format!("/drop/{}", loc.app_id)).await;
    assert_eq!(config.status(), 200);
    assert_eq!(config.headers()["content-type"], "application/json");
    assert_eq!(config.json::<Value>().await.unwrap()["chunk_size"], CHUNK);

    let picker = Picker::new(&app, &loc.app_id);
    let data = bytes(2 * CHUNK + 452, 1);
    let r = picker.send("o_1", "report 1.pdf", &data).await;
    assert_eq!(r.status(), 201);
    let file: Value = r.json().await.unwrap();
    assert!(file.as_object().unwrap().len() > 5, "{file}");
    assert_eq!(
        (
            file["name"].as_str(),
            file["size"].as_u64(),
            file["account"].as_i64()
        ),
        (
            Some("report 1.pdf"),
            Some(data.len() as u64),
            Some(loc.account)
        )
    );
    assert_eq!(file["parent"]["id"], loc.folder.as_str());
    assert_eq!(names_in(&app, &loc).await, ["report 1.pdf"]);
    assert_eq!(
        contents(&app, &loc, file["id"].as_str().unwrap()).await,
        data
    );
    assert_eq!(leftovers(&app).await, (0, 0), "nothing staged is left");

    // An empty file (`chunks=0`), and a file sent whole (no `chunk`/`chunks`), naming the
    // location with the headers.
    let r = picker
        .chunk("o_2", "empty.txt", 0, (0, 0), Vec::new())
        .go()
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["size"], 0);
    let r = picker
        .caller
        .req(
            Method::POST,
            &format!(
                "/drop/{}?name=whole.txt&file_id=o_3&file_size=5",
                loc.app_id
            ),
        )
        .header("X-Picker-Id", "p")
        .header("X-Drop-Account", loc.account.to_string())
        .header("X-Drop-Folder", &loc.folder)
        .body("whole")
        .go()
        .await;
    assert_eq!(r.status(), 201);
    let whole: Value = r.json().await.unwrap();
    assert_eq!(
        contents(&app, &loc, whole["id"].as_str().unwrap()).await,
        b"whole"
    );

    // `link=true`: the answer carries a shared link to the file.
    let r = picker
        .caller
        .req(
            Method::POST,
            &format!(
                "/drop/{}?name=linked.txt&chunk=0&chunks=1&file_id=o_4&file_size=6&link=true&link_options=%7B%22direct%22%3Atrue%7D",
                loc.app_id
            ),
        )
        .header("X-Picker-Id", "p")
        .body("linked")
        .go()
        .await;
    assert_eq!(r.status(), 201);
    let linked: Value = r.json().await.unwrap();
    let url = linked["link"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/l/", app.base)), "{linked}");
    let shared = app.client.get(url).send().await.unwrap();
    assert_eq!(shared.status(), 200);
    assert_eq!(shared.bytes().await.unwrap().as_ref(), b"linked");
    let metrics = app.anonymous().get("/metrics").await.text().await.unwrap();
    let stored = crate::helpers::sample_sum(&metrics, |l| {
        l.starts_with("cloudbridge_drop_uploads_total") && l.contains("outcome=\"stored\"")
    });
    assert!(stored >= 4.0, "{stored}");
}

#[tokio::test]
async fn unknown_or_inactive_applications_and_applications_without_a_location_are_404() {
    let app = spawn().await;
    let anyone = app.anonymous();
    for r in [
        anyone.get("/drop/nope").await,
        Picker::new(&app, "nope")
            .chunk("o_1", "a.txt", 1, (0, 1), b"a".to_vec())
            .go()
            .await,
        Picker::new(&app, "nope").abort("o_1").await,
    ] {
        assert_error(r, 404, "not_found").await;
    }
    // An application with accounts but no upload location: the picker hides "My Computer".
    let (bare, key) = app.create_app("bare").await;
    app.import_local(&key, "someone").await;
    assert_error(anyone.get(&format!("/drop/{bare}")).await, 404, "not_found").await;
    let r = Picker::new(&app, &bare)
        .chunk("o_1", "a.txt", 1, (0, 1), b"a".to_vec())
        .go()
        .await;
    assert_error(r, 404, "not_found").await;

    let loc = location(&app).await;
    let off = app
        .dev_caller()
        .send_json(
            Method::PATCH,
            &format!("/v1/applications/{}", loc.app_id),
            &json!({"active": false}),
        )
        .await;
    assert_eq!(off.status(), 200);
    assert_error(
        anyone.get(&format!("/drop/{}", loc.app_id)).await,
        404,
        "not_found",
    )
    .await;
    let r = Picker::new(&app, &loc.app_id)
        .chunk("o_1", "a.txt", 1, (0, 1), b"a".to_vec())
        .go()
        .await;
    assert_error(r, 404, "not_found").await;
}

#[tokio::test]
async fn chunks_must_come_in_order() {
    let app = spawn().await;
    let loc = location(&app).await;
    let picker = Picker::new(&app, &loc.app_id);
    let data = bytes(3 * CHUNK, 2);
    let part = |i: usize| data[i * CHUNK..(i + 1) * CHUNK].to_vec();
    let size = data.len();
    // No chunk 0 yet.
    let r = picker
        .chunk("o_1", "a.bin", size, (1, 3), part(1))
        .go()
        .await;
    let body = assert_error(r, 400, "invalid_parameters").await;
    assert!(
        body["message"].as_str().unwrap().contains("chunk 0"),
        "{body}"
    );

    let r = picker
        .chunk("o_1", "a.bin", size, (0, 3), part(0))
        .go()
        .await;
    assert_eq!(r.status(), 200);
    let r = picker
        .chunk("o_1", "a.bin", size, (2, 3), part(2))
        .go()
        .await;
    let body = assert_error(r, 400, "invalid_parameters").await;
    assert!(
        body["message"].as_str().unwrap().contains("out of order"),
        "{body}"
    );
    // The upload is still there: the right chunk goes on, and a chunk sent again is
    // accepted (Plupload retries).
    for i in [1, 1, 2] {
        let r = picker
            .chunk("o_1", "a.bin", size, (i, 3), part(i))
            .go()
            .await;
        assert!(r.status().is_success(), "chunk {i}: {}", r.status());
        if i == 2 {
            assert_eq!(r.status(), 201);
            let file: Value = r.json().await.unwrap();
            assert_eq!(
                contents(&app, &loc, file["id"].as_str().unwrap()).await,
                data
            );
        }
    }
    assert_eq!(names_in(&app, &loc).await, ["a.bin"]);
}

#[tokio::test]
async fn oversized_chunks_and_files_are_refused() {
    let app = spawn().await;
    let loc = location(&app).await;
    let picker = Picker::new(&app, &loc.app_id);
    // A file over `drop_max_bytes` (10,000 here).
    let r = picker
        .chunk("o_1", "big.bin", 10_001, (0, 10), bytes(CHUNK, 0))
        .go()
        .await;
    assert_error(r, 413, "request_too_large").await;
    // A chunk over the chunk size.
    let r = picker
        .chunk("o_2", "a.bin", CHUNK + 1, (0, 1), bytes(CHUNK + 1, 0))
        .go()
        .await;
    assert_error(r, 413, "request_too_large").await;
    // The same without a Content-Length (streamed): no more than the chunk is read.
    let stream = futures::stream::iter(
        (0..8).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(bytes(CHUNK, 3)))),
    );
    let r = picker
        .chunk("o_3", "b.bin", 3 * CHUNK, (0, 3), Vec::new())
        .body(reqwest::Body::wrap_stream(stream))
        .go()
        .await;
    assert_error(r, 400, "invalid_parameters").await;
    assert!(names_in(&app, &loc).await.is_empty());
    assert_eq!(
        leftovers(&app).await,
        (0, 0),
        "refused uploads are discarded"
    );
}

#[tokio::test]
async fn chunk_counts_and_sizes_that_do_not_add_up_discard_the_upload() {
    let app = spawn().await;
    let loc = location(&app).await;
    let picker = Picker::new(&app, &loc.app_id);
    let data = bytes(2 * CHUNK + 10, 4);
    let size = data.len();
    // Three chunks' worth announced as two.
    let r = picker
        .chunk("o_1", "a.bin", size, (0, 2), data[..CHUNK].to_vec())
        .go()
        .await;
    let body = assert_error(r, 400, "invalid_parameters").await;
    assert!(
        body["message"].as_str().unwrap().contains("chunks"),
        "{body}"
    );
    assert_eq!(leftovers(&app).await, (0, 0));

    // Started right, then the count changes mid-way: the upload is discarded.
    let r = picker
        .chunk("o_2", "b.bin", size, (0, 3), data[..CHUNK].to_vec())
        .go()
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(leftovers(&app).await, (1, 1));
    let r = picker
        .chunk(
            "o_2",
            "b.bin",
            size,
            (1, 4),
            data[CHUNK..2 * CHUNK].to_vec(),
        )
        .go()
        .await;
    assert_error(r, 400, "invalid_parameters").await;
    assert_eq!(leftovers(&app).await, (0, 0));
    let r = picker
        .chunk(
            "o_2",
            "b.bin",
            size,
            (1, 3),
            data[CHUNK..2 * CHUNK].to_vec(),
        )
        .go()
        .await;
    assert_error(r, 400, "invalid_parameters").await;

    // A last chunk longer than `file_size` says: discarded, nothing stored.
    for i in 0..2 {
        let r = picker
            .chunk(
                "o_3",
                "c.bin",
                size,
                (i, 3),
                data[i * CHUNK..(i + 1) * CHUNK].to_vec(),
            )
            .go()
            .await;
        assert_eq!(r.status(), 200);
    }
    let r = picker
        .chunk("o_3", "c.bin", size, (2, 3), bytes(CHUNK, 9))
        .go()
        .await;
    assert_error(r, 400, "invalid_parameters").await;
    assert_eq!(leftovers(&app).await, (0, 0));
    assert!(names_in(&app, &loc).await.is_empty());
}

#[tokio::test]
async fn an_aborted_upload_leaves_nothing_visible() {
    let app = spawn().await;
    let loc = location(&app).await;
    let picker = Picker::new(&app, &loc.app_id);
    let data = bytes(2 * CHUNK, 5);
    let r = picker
        .chunk(
            "o_1",
            "gone.bin",
            data.len(),
            (0, 2),
            data[..CHUNK].to_vec(),
        )
        .go()
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(leftovers(&app).await, (1, 1));
    assert_eq!(picker.abort("o_1").await.status(), 204);
    assert_eq!(leftovers(&app).await, (0, 0));
    assert!(names_in(&app, &loc).await.is_empty());
    let r = picker
        .chunk(
            "o_1",
            "gone.bin",
            data.len(),
            (1, 2),
            data[CHUNK..].to_vec(),
        )
        .go()
        .await;
    assert_error(r, 400, "invalid_parameters").await;
    assert!(names_in(&app, &loc).await.is_empty());
    // Aborting again, or a file never sent, is no error; without the picker's id it is.
    assert_eq!(picker.abort("o_1").await.status(), 204);
    let r = app
        .anonymous()
        .delete(&format!("/drop/{}?file_id=o_1", loc.app_id))
        .await;
    assert_error(r, 400, "invalid_parameters").await;
}

#[tokio::test]
async fn two_uploads_of_the_same_name_never_overwrite() {
    let app = spawn().await;
    let loc = location(&app).await;
    let picker = Picker::new(&app, &loc.app_id);
    let (first, second) = (bytes(CHUNK + 7, 6), bytes(CHUNK + 9, 7));
    let a: Value = picker
        .send("o_1", "same.txt", &first)
        .await
        .json()
        .await
        .unwrap();
    let r = picker.send("o_2", "same.txt", &second).await;
    assert_eq!(r.status(), 201);
    let b: Value = r.json().await.unwrap();
    assert_eq!(a["name"], "same.txt");
    assert_ne!(a["id"], b["id"]);
    assert_ne!(b["name"], "same.txt", "{b}");
    assert_eq!(names_in(&app, &loc).await.len(), 2);
    assert_eq!(contents(&app, &loc, a["id"].as_str().unwrap()).await, first);
    assert_eq!(
        contents(&app, &loc, b["id"].as_str().unwrap()).await,
        second
    );
}

#[tokio::test]
async fn chunks_sent_again_after_the_file_is_stored_get_the_same_answer() {
    let app = spawn().await;
    let loc = location(&app).await;
    let picker = Picker::new(&app, &loc.app_id);
    let data = bytes(CHUNK + 100, 10);
    let size = data.len();
    let first: Value = picker
        .send("o_1", "once.bin", &data)
        .await
        .json()
        .await
        .unwrap();
    // Plupload lost the answer and sends the last chunk again, then (after an error, with
    // `uploads_pause_on_error`) the file from chunk 0: no second file.
    let r = picker
        .chunk("o_1", "once.bin", size, (1, 2), data[CHUNK..].to_vec())
        .go()
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap(), first);
    let r = picker
        .chunk("o_1", "once.bin", size, (0, 2), data[..CHUNK].to_vec())
        .go()
        .await;
    assert_eq!(r.status(), 200);
    let small: Value = picker
        .send("o_2", "small.txt", b"small")
        .await
        .json()
        .await
        .unwrap();
    let again: Value = picker
        .send("o_2", "small.txt", b"small")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["id"], small["id"]);
    assert_eq!(names_in(&app, &loc).await, ["once.bin", "small.txt"]);
    // Another file under a used id is refused.
    let r = picker
        .chunk("o_2", "other.txt", 3, (0, 1), b"abc".to_vec())
        .go()
        .await;
    assert_error(r, 400, "invalid_parameters").await;
    assert_eq!(leftovers(&app).await.1, 0, "nothing staged is left");
}

#[tokio::test]
async fn an_unfinished_upload_expires_and_its_chunks_are_swept() {
    let app = TestApp::builder()
        .settings(|s| {
            s.widgets.drop_chunk_bytes = CHUNK as u64;
            s.scheduler.housekeeping_cron = "* * * * * *".into();
        })
        .spawn()
        .await;
    let loc = location(&app).await;
    let picker = Picker::new(&app, &loc.app_id);
    let data = bytes(2 * CHUNK, 8);
    let r = picker
        .chunk(
            "o_1",
            "late.bin",
            data.len(),
            (0, 2),
            data[..CHUNK].to_vec(),
        )
        .go()
        .await;
    assert_eq!(r.status(), 200);
    let session: i64 = sqlx::query_scalar("SELECT multipart_id FROM drop_uploads")
        .fetch_one(&app.db().await)
        .await
        .unwrap();
    let staged = app.data_root().join(".multipart").join(session.to_string());
    assert!(staged.join("1").exists());
    // The picker went away longer ago than `drop_ttl_secs`.
    sqlx::query("UPDATE drop_uploads SET expires_at = now() - interval '1 second'")
        .execute(&app.db().await)
        .await
        .unwrap();
    assert!(housekeeping_removes(&app, &staged).await, "chunks swept");
    assert_eq!(leftovers(&app).await, (0, 0));
    let r = picker
        .chunk(
            "o_1",
            "late.bin",
            data.len(),
            (1, 2),
            data[CHUNK..].to_vec(),
        )
        .go()
        .await;
    assert_error(r, 400, "invalid_parameters").await;
    assert!(names_in(&app, &loc).await.is_empty());
}

#[tokio::test]
async fn upload_locations_are_managed_by_their_developer() {
    let app = spawn().await;
    let loc = location(&app).await;
    let dev = app.dev_caller();
    let path = format!("/v1/applications/{}/upload_locations", loc.app_id);
    let list = dev.get_json(&path).await;
    assert_eq!(
        (list["type"].as_str(), list["total"].as_i64()),
        (Some("object_list"), Some(1))
    );
    let one = dev.get_json(&format!("{path}/{}", loc.id)).await;
    assert_eq!(
        (
            one["account"].as_i64(),
            one["parent_id"].as_str(),
            one["type"].as_str()
        ),
        (
            Some(loc.account),
            Some(loc.folder.as_str()),
            Some("fe_upload_location")
        )
    );
    assert!(one["created"].is_string());

    // The same folder twice; a folder that does not exist; an account of nobody.
    let again = json!({"account_id": loc.account, "parent_id": loc.folder});
    assert_error(dev.post_json(&path, &again).await, 409, "conflict").await;
    let missing = json!({"account_id": loc.account, "parent_id": "bm8tc3VjaA"});
    assert_error(
        dev.post_json(&path, &missing).await,
        400,
        "invalid_parent_folder",
    )
    .await;
    let nobody = json!({"account_id": 999_999, "parent_id": "root"});
    assert_error(
        dev.post_json(&path, &nobody).await,
        400,
        "invalid_parameters",
    )
    .await;
    assert_error(
        dev.post_json(&path, &json!({})).await,
        400,
        "invalid_parameters",
    )
    .await;
    // The account's root, by default.
    let r = dev
        .post_json(&path, &json!({"account_id": loc.account.to_string()}))
        .await;
    assert_eq!(r.status(), 201);
    let root: Value = r.json().await.unwrap();
    assert_eq!(root["parent_id"], "root");
    // Not a DeveloperKey.
    let r = app.with_key(&loc.api_key).get(&path).await;
    assert_error(r, 403, "forbidden").await;

    let r = dev.delete(&format!("{path}/{}", loc.id)).await;
    assert_eq!(r.status(), 204);
    assert_error(
        dev.get(&format!("{path}/{}", loc.id)).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        dev.delete(&format!("{path}/{}", loc.id)).await,
        404,
        "not_found",
    )
    .await;
    let r = dev.delete(&format!("{path}/{}", root["id"])).await;
    assert_eq!(r.status(), 204);
    let r = app.anonymous().get(&format!("/drop/{}", loc.app_id)).await;
    assert_error(r, 404, "not_found").await;

    // A location goes with its account.
    let r = dev.post_json(&path, &again).await;
    assert_eq!(r.status(), 201);
    let r = app
        .with_key(&loc.api_key)
        .delete(&format!("/v1/accounts/{}", loc.account))
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(dev.get_json(&path).await["total"], 0);
}

#[tokio::test]
async fn unfinished_uploads_per_application_are_bounded() {
    let app = TestApp::builder()
        .settings(|s| {
            s.widgets.drop_chunk_bytes = CHUNK as u64;
            s.widgets.drop_max_open = 2;
        })
        .spawn()
        .await;
    let loc = location(&app).await;
    let picker = Picker::new(&app, &loc.app_id);
    let first = |id: &str| picker.chunk(id, "open.bin", 2 * CHUNK, (0, 2), bytes(CHUNK, 1));
    for id in ["o_1", "o_2"] {
        assert_eq!(first(id).go().await.status(), 200);
    }
    let r = first("o_3").go().await;
    assert_error(r, 429, "rate_limit_exceeded").await;
    // Finishing or aborting one makes room.
    assert_eq!(picker.abort("o_1").await.status(), 204);
    assert_eq!(first("o_3").go().await.status(), 200);
}

#[tokio::test]
async fn an_upload_location_serves_its_own_application_only() {
    let app = spawn().await;
    let a = location(&app).await;
    let b = location(&app).await;
    // B's picker naming A's location: refused, nothing lands at A.
    let r = app
        .anonymous()
        .req(
            Method::POST,
            &format!(
                "/drop/{}?name=x.txt&chunk=0&chunks=1&file_id=o_1&file_size=1",
                b.app_id
            ),
        )
        .header("X-Picker-Id", "p")
        .header("X-Drop-Account", a.account.to_string())
        .header("X-Drop-Folder", &a.folder)
        .body("x")
        .go()
        .await;
    assert_error(r, 403, "forbidden").await;
    let r = app
        .anonymous()
        .req(Method::GET, &format!("/drop/{}", b.app_id))
        .header("X-Drop-Account", a.account.to_string())
        .header("X-Drop-Folder", &a.folder)
        .go()
        .await;
    assert_error(r, 403, "forbidden").await;
    let r = app
        .anonymous()
        .req(Method::GET, &format!("/drop/{}", b.app_id))
        .header("X-Drop-Account", "not a number")
        .go()
        .await;
    assert_error(r, 400, "invalid_parameters").await;
    // Without headers, B's uploads go to B's location.
    let r = Picker::new(&app, &b.app_id)
        .send("o_1", "x.txt", b"x")
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["account"], b.account);
    assert!(names_in(&app, &a).await.is_empty());
    assert_eq!(names_in(&app, &b).await, ["x.txt"]);
    // The same picker and file ids in two applications are two uploads.
    let picker_a = Picker::new(&app, &a.app_id);
    let r = picker_a
        .chunk("o_9", "p.bin", 2 * CHUNK, (0, 2), bytes(CHUNK, 1))
        .go()
        .await;
    assert_eq!(r.status(), 200);
    let r = Picker::new(&app, &b.app_id)
        .chunk("o_9", "p.bin", 2 * CHUNK, (1, 2), bytes(CHUNK, 1))
        .go()
        .await;
    assert_error(r, 400, "invalid_parameters").await;

    // Another developer sees none of it.
    let other = cloudbridge_shared::db::developers::create_with_new_key(
        &app.db().await,
        "other@example.com",
    )
    .await
    .unwrap();
    let as_other = app.with_auth(format!("DeveloperKey {other}"));
    let path = format!("/v1/applications/{}/upload_locations", a.app_id);
    assert_error(as_other.get(&path).await, 404, "not_found").await;
    let one = format!("{path}/{}", a.id);
    assert_error(as_other.get(&one).await, 404, "not_found").await;
    assert_error(as_other.delete(&one).await, 404, "not_found").await;
    let body = json!({"account_id": a.account, "parent_id": "root"});
    assert_error(as_other.post_json(&path, &body).await, 404, "not_found").await;
    // A's location under B's application, and A's account as B's location.
    let dev = app.dev_caller();
    let crossed = format!("/v1/applications/{}/upload_locations/{}", b.app_id, a.id);
    assert_error(dev.get(&crossed).await, 404, "not_found").await;
    let r = dev
        .post_json(
            &format!("/v1/applications/{}/upload_locations", b.app_id),
            &json!({"account_id": a.account, "parent_id": "root"}),
        )
        .await;
    assert_error(r, 400, "invalid_parameters").await;
    assert_eq!(dev.get_json(&path).await["total"], 1);
}

#[tokio::test]
async fn the_picker_may_call_drop_from_another_origin() {
    let app = spawn().await;
    let loc = location(&app).await;
    let r = app
        .anonymous()
        .req(Method::OPTIONS, &format!("/drop/{}", loc.app_id))
        .header("Origin", "https://picker.example.com")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "x-picker-id,x-explorer-id,x-drop-account,x-drop-folder,content-type",
        )
        .go()
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let r = app
        .anonymous()
        .req(Method::GET, &format!("/drop/{}", loc.app_id))
        .header("Origin", "https://picker.example.com")
        .go()
        .await;
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn anonymous_uploads_are_rate_limited_per_address() {
    let app = TestApp::builder()
        .settings(|s| {
            s.widgets.drop_chunk_bytes = CHUNK as u64;
            s.limits.drop = Rate {
                per_sec: 0.0001,
                burst: 3,
            };
        })
        .spawn()
        .await;
    let loc = location(&app).await;
    let picker = Picker::new(&app, &loc.app_id);
    for i in 0..3 {
        let r = picker.send(&format!("o_{i}"), "r.txt", b"r").await;
        assert_eq!(r.status(), 201);
    }
    let r = picker.send("o_9", "r.txt", b"r").await;
    assert_error(r, 429, "rate_limit_exceeded").await;
    // The rest of the API is not affected.
    let r = app
        .with_token(&loc.token)
        .under(STORAGE)
        .get("/folders/root")
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn picked_items_are_copied_to_the_upload_location() {
    let app = spawn().await;
    let loc = location(&app).await;
    // The picker's user: another account of the same application.
    let (_, user) = app.import_local(&loc.api_key, "picker-user").await;
    let u = app.with_token(&user).under(STORAGE);
    let file: Value = app
        .with_token(&user)
        .upload("root", "pick.txt", "picked")
        .await
        .json()
        .await
        .unwrap();
    let copy = format!("/files/{}/copy", file["id"].as_str().unwrap());
    let r = u
        .post_json(&copy, &json!({"account": "upload_location"}))
        .await;
    assert_eq!(r.status(), 201);
    let copied: Value = r.json().await.unwrap();
    assert_eq!(
        (copied["account"].as_i64(), copied["parent"]["id"].as_str()),
        (Some(loc.account), Some(loc.folder.as_str()))
    );
    assert_eq!(
        contents(&app, &loc, copied["id"].as_str().unwrap()).await,
        b"picked"
    );
    // Named by `drop_account` and `parent_id`, with a link (as the picker sends them);
    // the name is taken now, so the copy gets another.
    let r = u
        .req(
            Method::POST,
            &format!("{copy}?link=true&link_options=%7B%22direct%22%3Atrue%7D"),
        )
        .json(&json!({
            "account": "upload_location",
            "drop_account": loc.account.to_string(),
            "parent_id": loc.folder,
        }))
        .go()
        .await;
    assert_eq!(r.status(), 201);
    let linked: Value = r.json().await.unwrap();
    assert_ne!(linked["name"], "pick.txt");
    let url = linked["link"].as_str().unwrap();
    let shared = app.client.get(url).send().await.unwrap();
    assert_eq!(shared.bytes().await.unwrap().as_ref(), b"picked");
    assert_eq!(names_in(&app, &loc).await.len(), 2);

    // A folder, as a task (the picker's `X-Kloudless-Async`).
    let folder: Value = u
        .post_json("/folders", &json!({"name": "album", "parent_id": "root"}))
        .await
        .json()
        .await
        .unwrap();
    let folder_id = folder["id"].as_str().unwrap();
    app.with_token(&user)
        .upload(folder_id, "inner.txt", "inside")
        .await;
    let r = u
        .req(Method::POST, &format!("/folders/{folder_id}/copy"))
        .header("X-Kloudless-Async", "true")
        .json(&json!({"account": "upload_location"}))
        .go()
        .await;
    assert_eq!(r.status(), 202);
    let task: Value = r.json().await.unwrap();
    let task_url = format!("/v1/accounts/me/tasks/{}", task["id"].as_str().unwrap());
    let mut done = Value::Null;
    for _ in 0..400 {
        let body = app.with_token(&user).get_json(&task_url).await;
        if body["type"] != "task" {
            done = body;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        (done["type"].as_str(), done["account"].as_i64()),
        (Some("folder"), Some(loc.account)),
        "{done}"
    );
    let inside = app
        .with_token(&loc.token)
        .under(STORAGE)
        .get_json(&format!(
            "/folders/{}/contents",
            done["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(inside["objects"][0]["name"], "inner.txt");

    // Portal upload locations by URI are not served; a location of another application
    // cannot be named.
    let r = u
        .post_json(
            &copy,
            &json!({"account": "upload_location", "drop_uri": "https://x"}),
        )
        .await;
    assert_error(r, 501, "not_implemented").await;
    let other = location(&app).await;
    let r = u
        .post_json(
            &copy,
            &json!({"account": "upload_location", "drop_account": other.account, "parent_id": other.folder}),
        )
        .await;
    assert_error(r, 403, "forbidden").await;
    assert!(names_in(&app, &other).await.is_empty());
}
