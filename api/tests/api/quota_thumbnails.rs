//! Storage quota and thumbnails on every service: made on `local` (real images in,
//! decoded images out, cached, bounded), the services' own on Google Drive, OneDrive,
//! Dropbox and Box (their emulators), 501 on S3, WebDAV and SFTP; bad parameters, other
//! applications' accounts, and the cache going with the account.

use std::{io::Cursor, os::unix::fs::MetadataExt, path::Path};

use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};

use crate::helpers::{assert_error, moto, rclone_webdav, Caller, Sshd, TestApp, STORAGE};

/// A `width` × `height` PNG (a gradient, so that it is not trivially compressible).
pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([
            (x % 251) as u8,
            (y % 241) as u8,
            ((x + y) % 7 * 30) as u8,
            255,
        ])
    });
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A `width` × `height` PNG of random pixels (its thumbnails hardly compress).
fn noise(width: u32, height: u32) -> Vec<u8> {
    use rand::RngCore;
    let mut pixels = vec![0u8; (width * height * 4) as usize];
    rand::rng().fill_bytes(&mut pixels);
    let image = image::RgbaImage::from_raw(width, height, pixels).unwrap();
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Uploads `bytes` as `name` into the root folder; returns the file's id.
pub(crate) async fn put(a: &Caller, name: &str, bytes: Vec<u8>) -> String {
    let r = a.upload("root", name, bytes).await;
    let status = r.status();
    let file: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{file}");
    file["id"].as_str().unwrap().to_string()
}

/// The thumbnail of file `id` with `query`: its MIME type and decoded size.
pub(crate) async fn thumbnail(a: &Caller, id: &str, query: &str) -> (String, (u32, u32)) {
    let r = a
        .get(&format!("{STORAGE}/files/{id}/thumbnail{query}"))
        .await;
    let status = r.status();
    let mime = r
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = r.bytes().await.unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let format = match mime.as_str() {
        "image/png" => image::ImageFormat::Png,
        "image/jpeg" => image::ImageFormat::Jpeg,
        other => panic!("a thumbnail of type {other}"),
    };
    let image = image::load_from_memory_with_format(&bytes, format).unwrap();
    (mime, (image.width(), image.height()))
}

/// The account's quota.
pub(crate) async fn quota(a: &Caller) -> Value {
    let quota = a.get_json(&format!("{STORAGE}/quota")).await;
    assert_eq!(
        (quota["api"].as_str(), quota["type"].as_str()),
        (Some("storage"), Some("quota")),
        "{quota}"
    );
    quota
}

fn cached(dir: &Path) -> Vec<std::fs::Metadata> {
    match std::fs::read_dir(dir) {
        Ok(items) => items.map(|i| i.unwrap().metadata().unwrap()).collect(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test]
async fn local_thumbnails_are_made_cached_and_bounded() {
    let app = TestApp::builder()
        .settings(|s| s.local.thumbnails.max_pixels = 1_000_000)
        .spawn()
        .await;
    let (key, id, token) = app.account().await;
    let a = app.with_token(&token);
    let caps = a.get_json("/v1/accounts/me?retrieve_full=true").await;
    assert_eq!(
        caps["properties"]["capabilities"]["can_get_thumbnail"]["value"],
        true
    );

    let q = quota(&a).await;
    assert_eq!(
        (q["total"].clone(), q["used"].clone()),
        (Value::Null, json!(0)),
        "{q}"
    );
    assert_eq!(q["remaining"], Value::Null);

    let picture = png(400, 200);
    let picture_len = picture.len() as u64;
    let file = put(&a, "wide.png", picture).await;
    let (mime, size) = thumbnail(&a, &file, "").await;
    assert_eq!(
        (mime.as_str(), size),
        ("image/png", (256, 128)),
        "256 by default"
    );
    let (mime, size) = thumbnail(&a, &file, "?size=64&image_format=jpeg").await;
    assert_eq!((mime.as_str(), size), ("image/jpeg", (64, 32)));
    let (_, size) = thumbnail(&a, &file, "?size=1000").await;
    assert_eq!(size, (400, 200), "never enlarged");

    // Made once, then served from the cache under the data root.
    let cache = app.data_root().join(".thumbnails").join(id.to_string());
    let before = cached(&cache);
    assert_eq!(before.len(), 3, "three sizes made");
    thumbnail(&a, &file, "?size=64&image_format=jpeg").await;
    let after = cached(&cache);
    let inodes = |m: &[std::fs::Metadata]| {
        let mut i: Vec<u64> = m.iter().map(MetadataExt::ino).collect();
        i.sort();
        i
    };
    assert_eq!(inodes(&before), inodes(&after), "nothing made again");
    // New contents at the same name: a new thumbnail, not the cached one.
    let r = a
        .upload_req("root", "wide.png", "?overwrite=true")
        .body(png(100, 300))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (_, size) = thumbnail(&a, &file, "?size=64&image_format=jpeg").await;
    assert_eq!(size, (21, 64));

    let q = quota(&a).await;
    let used = q["used"].as_u64().unwrap();
    assert!(
        used > 0 && used != picture_len,
        "{q}: the new contents counted"
    );

    // What is not an image, or too large an image.
    let notes = put(&a, "notes.png", b"not an image, whatever the name".to_vec()).await;
    let r = a.get(&format!("{STORAGE}/files/{notes}/thumbnail")).await;
    assert_error(r, 415, "unsupported_media_type").await;
    let huge = put(&a, "huge.png", png(1200, 1000)).await;
    let r = a.get(&format!("{STORAGE}/files/{huge}/thumbnail")).await;
    let body = assert_error(r, 413, "request_too_large").await;
    assert!(
        body["message"].as_str().unwrap().contains("pixels"),
        "{body}"
    );

    // Bad parameters, folders, ids that name nothing.
    for query in ["size=0", "size=2049", "size=big", "image_format=gif"] {
        let r = a
            .get(&format!("{STORAGE}/files/{file}/thumbnail?{query}"))
            .await;
        assert_error(r, 400, "invalid_parameters").await;
    }
    let r = a
        .post_json(
            &format!("{STORAGE}/folders"),
            &json!({"name": "pics", "parent_id": "root"}),
        )
        .await;
    let folder: Value = r.json().await.unwrap();
    let r = a
        .get(&format!(
            "{STORAGE}/files/{}/thumbnail",
            folder["id"].as_str().unwrap()
        ))
        .await;
    assert_error(r, 404, "not_found").await;
    let r = a.get(&format!("{STORAGE}/files/bm9wZQ/thumbnail")).await;
    assert_error(r, 404, "not_found").await;

    // Another application's key reaches neither.
    let (_, other_key) = app.create_app("other").await;
    let other = app.with_key(&other_key);
    let r = other.get(&format!("/v1/accounts/{id}/storage/quota")).await;
    assert_error(r, 404, "not_found").await;
    let r = other
        .get(&format!("/v1/accounts/{id}/storage/files/{file}/thumbnail"))
        .await;
    assert_error(r, 404, "not_found").await;
    // The account's own key does.
    let own = app.with_key(&key);
    let q = own
        .get_json(&format!("/v1/accounts/{id}/storage/quota"))
        .await;
    assert_eq!(q["account"], id);

    // The cache goes with the account.
    assert!(!cached(&cache).is_empty());
    let r = app
        .with_key(&key)
        .delete(&format!("/v1/accounts/{id}"))
        .await;
    assert_eq!(r.status(), 204);
    app.remove_accounts().await;
    assert!(!cache.exists(), "the account's thumbnails are removed");
}

/// The cache keeps to its bound: older thumbnails go when new ones are made, and one
/// larger than the whole cache is still served.
#[tokio::test]
async fn the_local_thumbnail_cache_keeps_to_its_bound() {
    const BOUND: u64 = 40_000;
    let app = TestApp::builder()
        .settings(|s| s.local.thumbnails.max_cache_bytes = BOUND)
        .spawn()
        .await;
    let (_, id, token) = app.account().await;
    let a = app.with_token(&token);
    let file = put(&a, "big.png", noise(800, 800)).await;
    let cache = app.data_root().join(".thumbnails").join(id.to_string());
    for size in [60, 61, 62, 63, 64, 65, 66, 67] {
        thumbnail(&a, &file, &format!("?size={size}")).await;
        let total: u64 = cached(&cache).iter().map(|m| m.len()).sum();
        assert!(total <= BOUND, "{total} bytes cached");
    }
    let kept = cached(&cache).len();
    assert!((1..8).contains(&kept), "{kept} thumbnails kept");
    let (_, size) = thumbnail(&a, &file, "?size=700").await;
    assert_eq!(
        size,
        (700, 700),
        "larger than the cache, served all the same"
    );
}

/// What every service without thumbnails or quota answers: 501, after finding the file.
#[tokio::test]
async fn s3_webdav_and_sftp_have_neither() {
    let moto = moto().await;
    let dir = tempfile::tempdir().unwrap();
    let dav = rclone_webdav(dir.path()).await;
    let sshd = Sshd::start().await;
    let root = sshd.root("media");
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("no-media").await;
    let accounts = [
        json!({"service": "s3", "account": "s3", "token": "AKIDEXAMPLE", "token_secret": "secret",
               "bucket": "bucket-one", "endpoint": moto.endpoint, "region": "us-east-1"}),
        json!({"service": "webdav", "account": "dav", "url": dav.endpoint,
               "token": "dav", "token_secret": "dav-password"}),
        sshd.password_account(&root),
    ];
    for body in accounts {
        let (_, token) = app.import(&key, &body).await;
        let a = app.with_token(&token);
        let caps = a.get_json("/v1/accounts/me?retrieve_full=true").await;
        assert_eq!(
            caps["properties"]["capabilities"]["can_get_thumbnail"]["value"],
            false
        );
        let r = a.get(&format!("{STORAGE}/quota")).await;
        assert_error(r, 501, "not_implemented").await;
        let file = put(&a, "p.png", png(40, 40)).await;
        let r = a.get(&format!("{STORAGE}/files/{file}/thumbnail")).await;
        let body = assert_error(r, 501, "not_implemented").await;
        assert!(
            body["message"].as_str().unwrap().contains("thumbnails"),
            "{body}"
        );
        let r = a.get(&format!("{STORAGE}/files/bm9wZQ/thumbnail")).await;
        assert_error(r, 404, "not_found").await;
        assert_eq!(
            a.delete(&format!("{STORAGE}/files/{file}")).await.status(),
            204
        );
    }
}

/// The checks every service with thumbnails passes: a PNG's thumbnail within `bound`
/// of the size asked (the service's nearest size), none of a file that is no image, and
/// the quota counting what was uploaded.
async fn media(a: &Caller, asked: u32, got: (u32, u32)) {
    let caps = a.get_json("/v1/accounts/me?retrieve_full=true").await;
    assert_eq!(
        caps["properties"]["capabilities"]["can_get_thumbnail"]["value"],
        true
    );
    let picture = png(400, 200);
    let len = picture.len() as u64;
    let file = put(a, "wide.png", picture).await;
    let (mime, size) = thumbnail(a, &file, &format!("?size={asked}")).await;
    assert_eq!((mime.as_str(), size), ("image/png", got));
    let text = put(a, "notes.txt", b"no image here".to_vec()).await;
    let r = a.get(&format!("{STORAGE}/files/{text}/thumbnail")).await;
    assert_error(r, 415, "unsupported_media_type").await;
    let r = a
        .get(&format!("{STORAGE}/files/{file}/thumbnail?size=9999"))
        .await;
    assert_error(r, 400, "invalid_parameters").await;

    let q = quota(a).await;
    let used = q["used"].as_u64().unwrap();
    assert!(used >= len, "{q}");
    let total = q["total"].as_u64().unwrap();
    assert_eq!(q["remaining"].as_u64(), Some(total - used), "{q}");
    for id in [file, text] {
        assert_eq!(
            a.delete(&format!("{STORAGE}/files/{id}")).await.status(),
            204
        );
    }
}

#[tokio::test]
async fn gdrive_thumbnails_and_quota() {
    let mock = crate::gdrive::drive_mock().await;
    let app = crate::gdrive::app_with_drive(&mock.endpoint).await;
    let (_, key) = app.create_app("gdrive-media").await;
    let (_, token) = app.import(&key, &crate::gdrive::account("media")).await;
    let a = app.with_token(&token);
    // Drive sizes its link as asked (`=s64`).
    media(&a, 64, (64, 32)).await;
    let q = quota(&a).await;
    assert_eq!(q["total"], 10_000_000_000u64, "{q}");
    let r = a
        .req(reqwest::Method::GET, &format!("{STORAGE}/quota"))
        .header("x-kloudless-raw-data", "true")
        .send()
        .await
        .unwrap();
    let raw: Value = r.json().await.unwrap();
    assert!(raw["raw"]["usageInDriveTrash"].is_string(), "{raw}");
}

#[tokio::test]
async fn onedrive_thumbnails_and_quota() {
    let mock = crate::onedrive::onedrive_mock().await;
    let (app, token) = crate::onedrive::onedrive_account(&mock, "onedrive").await;
    let a = app.with_token(&token);
    // A custom size (`c64x64`), fetched from Graph's pre-authorised URL without a token.
    media(&a, 64, (64, 32)).await;
    assert_eq!(quota(&a).await["total"], 5_368_709_120u64);
}

#[tokio::test]
async fn dropbox_thumbnails_and_quota() {
    let fake = cloudbridge_fakes::dropbox::FakeDropbox::start().await;
    let app = crate::dropbox::app_for(&fake).await;
    let (a, _) = crate::dropbox::import(&app, &fake).await;
    // Dropbox's `w64h64`, in the format asked for.
    media(&a, 64, (64, 32)).await;
    let file = put(&a, "tall.png", png(100, 300)).await;
    let (mime, size) = thumbnail(&a, &file, "?size=100&image_format=jpeg").await;
    assert_eq!((mime.as_str(), size), ("image/jpeg", (43, 128)), "w128h128");
    assert_eq!(
        quota(&a).await["total"],
        cloudbridge_fakes::dropbox::ALLOCATED
    );
}

#[tokio::test]
async fn box_thumbnails_quota_and_thumbnails_in_the_making() {
    let fake = crate::boxcom::fake(|c| c.pending_thumbnails = 1).await;
    let app = crate::boxcom::app_for(&fake).await;
    let a = crate::boxcom::import(&app, "box-access-token", None).await;
    let file = put(&a, "first.png", png(50, 50)).await;
    // Box is still making it: ask again after `Retry-After`.
    let r = a.get(&format!("{STORAGE}/files/{file}/thumbnail")).await;
    let retry = r.headers().get("retry-after").cloned();
    assert_error(r, 503, "service_not_available").await;
    assert_eq!(retry.unwrap(), "2");
    let (mime, size) = thumbnail(&a, &file, "?size=32&image_format=jpeg").await;
    assert_eq!((mime.as_str(), size), ("image/jpeg", (32, 32)));
    assert_eq!(
        a.delete(&format!("{STORAGE}/files/{file}")).await.status(),
        204
    );
    // Box's nearest size to 64 is 94; a file Box makes none of redirects to a
    // placeholder, which is no thumbnail (415).
    media(&a, 64, (94, 47)).await;
    assert_eq!(quota(&a).await["total"], 10_737_418_240u64);
}
