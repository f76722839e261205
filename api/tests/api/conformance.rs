//! One storage conformance suite, run through the full pipeline against every service
//! on a real server: the same calls must behave the same on `local` and on S3 (moto).

use futures::StreamExt;
use rand::RngCore;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, free_port, housekeeping_removes, moto, rclone_webdav, ssh_keygen, Caller, Go,
    Sshd, TestApp, SFTP_USER,
};

const STORAGE: &str = "/v1/accounts/me/storage";

/// Runs the whole suite as `a`, an account of any service.
/// The Team API on an account that is no admin account: 403 on the services with a team
/// (see `team.rs` for admin accounts), 501 on the others; `X-Kloudless-As-User` is 403.
async fn team_routes(a: &Caller) {
    let me = a.get_json("/v1/accounts/me").await;
    assert_eq!(me["admin"], false, "{me}");
    let with_team = ["gdrive", "onedrivebiz", "dropbox", "box"];
    let (status, code) = if with_team.contains(&me["service"].as_str().unwrap_or_default()) {
        (403, "forbidden")
    } else {
        (501, "not_implemented")
    };
    for path in [
        "users",
        "users/u1",
        "users/u1/memberships",
        "groups",
        "groups/g1",
        "groups/g1/members",
    ] {
        let r = a.get(&format!("/v1/accounts/me/team/{path}")).await;
        assert_error(r, status, code).await;
    }
    let r = a
        .req(Method::GET, &format!("{STORAGE}/folders/root"))
        .header("X-Kloudless-As-User", "u1")
        .go()
        .await;
    assert_error(r, 403, "forbidden").await;
}

pub(crate) async fn conformance(a: &Caller) {
    team_routes(a).await;
    let root = a.get_json(&format!("{STORAGE}/folders/root")).await;
    assert_eq!(root["id"], "root");
    assert_eq!(
        a.root_contents().await["objects"].as_array().unwrap().len(),
        0,
        "starts empty"
    );

    // Folders: create, idempotent re-create, conflict, bad parent.
    let r = a
        .post_json(
            &format!("{STORAGE}/folders"),
            &json!({"name": "Docs & ü #?%", "parent_id": "root"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let docs: Value = r.json().await.unwrap();
    let docs_id = docs["id"].as_str().unwrap().to_string();
    let r = a
        .post_json(
            &format!("{STORAGE}/folders"),
            &json!({"name": "Docs & ü #?%", "parent_id": "root"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = a
        .post_json(
            &format!("{STORAGE}/folders?conflict_if_exists=true"),
            &json!({"name": "Docs & ü #?%", "parent_id": "root"}),
        )
        .await;
    assert_eq!(
        assert_error(r, 409, "naming_conflict").await["conflicting_resource_id"],
        docs_id
    );
    let r = a
        .post_json(
            &format!("{STORAGE}/folders"),
            &json!({"name": "x", "parent_id": "bm9wZQ"}),
        )
        .await;
    assert_error(r, 400, "invalid_parent_folder").await;
    let long = "n".repeat(200);
    let r = a
        .post_json(
            &format!("{STORAGE}/folders"),
            &json!({"name": long, "parent_id": docs_id}),
        )
        .await;
    assert_eq!(r.status(), 201, "long names");

    // Files: upload (with length), rename on conflict, overwrite, download identical.
    let mut bytes = vec![0u8; 300_000];
    rand::rng().fill_bytes(&mut bytes);
    let r = a.upload(&docs_id, "data.bin", bytes.clone()).await;
    let status = r.status();
    let file: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{file}");
    assert_eq!(file["size"], bytes.len());
    assert_eq!(a.get_json(&parent_of(&file)).await["id"], docs_id, "{file}");
    let file_id = file["id"].as_str().unwrap().to_string();
    let again: Value = a
        .upload(&docs_id, "data.bin", b"second".to_vec())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["name"], "data (1).bin");
    let replaced = a
        .upload_req(&docs_id, "data (1).bin", "?overwrite=true")
        .body("third")
        .go()
        .await;
    assert_eq!(replaced.status(), 201);
    assert_eq!(replaced.json::<Value>().await.unwrap()["id"], again["id"]);
    // PUT replaces a file's contents in place (same id); a missing file is 404.
    let put = |id: String, body: &'static str| {
        a.req(Method::PUT, &format!("{STORAGE}/files/{id}"))
            .body(body)
            .go()
    };
    let again_id = again["id"].as_str().unwrap().to_string();
    let r = put(again_id.clone(), "fourth, longer").await;
    assert_eq!(r.status(), 200);
    let replaced: Value = r.json().await.unwrap();
    assert_eq!(
        (replaced["id"].as_str(), replaced["size"].as_u64()),
        (Some(again_id.as_str()), Some(14))
    );
    let got = a.get(&format!("{STORAGE}/files/{again_id}/contents")).await;
    assert_eq!(got.text().await.unwrap(), "fourth, longer");
    assert_error(put("bm9wZQ".into(), "x").await, 404, "not_found").await;
    assert_error(put(docs_id.clone(), "x").await, 404, "not_found").await;
    let got = a.get(&format!("{STORAGE}/files/{file_id}/contents")).await;
    assert_eq!(got.status(), 200);
    assert_eq!(
        got.bytes().await.unwrap().as_ref(),
        bytes.as_slice(),
        "bytes identical"
    );
    let meta = a.get_json(&format!("{STORAGE}/files/{file_id}")).await;
    assert_eq!(
        (meta["name"].as_str(), meta["type"].as_str()),
        (Some("data.bin"), Some("file"))
    );
    let r = a.get(&format!("{STORAGE}/files/{docs_id}")).await;
    assert_error(r, 404, "not_found").await;

    // Listing: stable order, paging, out-of-range page.
    for i in 0..3 {
        a.upload(&docs_id, &format!("p{i}.txt"), format!("{i}"))
            .await;
    }
    let names = every_page(a, &docs_id, 2).await;
    assert_eq!(every_page(a, &docs_id, 2).await, names, "stable order");
    assert_eq!(
        every_page(a, &docs_id, 4).await,
        names,
        "the same at any page size"
    );
    let distinct: std::collections::BTreeSet<_> = names.iter().collect();
    assert_eq!((names.len(), distinct.len()), (6, 6), "{names:?}");
    let r = a
        .get(&format!(
            "{STORAGE}/folders/{docs_id}/contents?page_size=2&page=9"
        ))
        .await;
    assert_error(r, 404, "not_found").await;

    // Byte ranges, search, recent files, raw data and raw ids, thumbnails.
    finding(a, &docs_id, &file_id, &bytes).await;

    // Recursive listings where the service has them, 501 elsewhere.
    let service = a.get_json("/v1/accounts/me").await["service"].clone();
    crate::conformance_lists::recursive(a, service.as_str().unwrap(), &docs_id).await;

    // Rename, move and copy, of files and folders, in a folder of their own.
    relocations(a).await;

    // Multipart uploads: parts in any order, exact sizes, complete once.
    multipart(a, &docs_id).await;

    // Deletes: non-empty folder refused, file then 404, recursive.
    let r = a.delete(&format!("{STORAGE}/folders/{docs_id}")).await;
    assert_error(r, 403, "folder_not_empty").await;
    assert_eq!(
        a.delete(&format!("{STORAGE}/files/{file_id}"))
            .await
            .status(),
        204
    );
    assert_error(
        a.get(&format!("{STORAGE}/files/{file_id}")).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        a.get(&format!("{STORAGE}/files/{file_id}/contents")).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        a.delete(&format!("{STORAGE}/folders/{docs_id}?recursive=true"))
            .await
            .status(),
        204
    );
    assert_error(
        a.get(&format!("{STORAGE}/folders/{docs_id}")).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        a.root_contents().await["objects"].as_array().unwrap().len(),
        0,
        "ends empty"
    );
}

/// Reads beyond plain downloads, over `docs` (holding `data.bin` = `bytes`, `data (1).bin`,
/// `p0.txt`…`p2.txt` and a long-named folder).
async fn finding(a: &Caller, docs_id: &str, file_id: &str, bytes: &[u8]) {
    let contents = format!("{STORAGE}/files/{file_id}/contents");
    let ranged = |range: &'static str| a.req(Method::GET, &contents).header("range", range).go();
    let r = ranged("bytes=10-19").await;
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 10-19/300000");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &bytes[10..20]);
    let r = ranged("bytes=-5").await;
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &bytes[bytes.len() - 5..]);
    let r = ranged("bytes=299990-").await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), &bytes[299_990..]);
    let r = ranged("bytes=300000-").await;
    assert_eq!(r.headers()["content-range"], "bytes */300000");
    assert_error(r, 416, "range_not_satisfiable").await;

    // Search: case-insensitive on names, below `parents`, paged, `q` required. The cloud
    // services answer from their own index, in their own order and without a `total`;
    // the others crawl, in path order, counted.
    let names = |list: &Value| -> Vec<String> {
        let objects = list["objects"].as_array().unwrap();
        objects
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_string())
            .collect()
    };
    let found = a.get_json(&format!("{STORAGE}/search?q=DATA")).await;
    let mut sorted = names(&found);
    sorted.sort();
    assert_eq!(sorted, ["data (1).bin", "data.bin"], "{found}");
    assert_eq!(found["truncated"], false, "{found}");
    let indexed = found["total"].is_null();
    if !indexed {
        assert_eq!(names(&found), sorted, "a crawl answers in path order");
        assert_eq!(found["total"], 2);
    }
    let first = a
        .get_json(&format!(
            "{STORAGE}/search?q=p&parents={docs_id}&page_size=2"
        ))
        .await;
    assert_eq!(names(&first).len(), 2, "{first}");
    if !indexed {
        assert_eq!(names(&first), ["p0.txt", "p1.txt"]);
        assert_eq!(
            (first["total"].as_u64(), first["next_page"].as_u64()),
            (Some(3), Some(2))
        );
    }
    // The next page by `next_page` (a token where the service pages itself) and by number.
    let next = match &first["next_page"] {
        Value::String(token) => token.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("no next page: {other}"),
    };
    let by_next = a
        .get_json(&format!(
            "{STORAGE}/search?q=p&parents={docs_id}&page_size=2&page={next}"
        ))
        .await;
    let by_number = a
        .get_json(&format!(
            "{STORAGE}/search?q=p&parents={docs_id}&page_size=2&page=2"
        ))
        .await;
    assert_eq!(names(&by_next), names(&by_number), "{by_next} {by_number}");
    let mut all = names(&first);
    all.extend(names(&by_next));
    all.sort();
    assert_eq!(all, ["p0.txt", "p1.txt", "p2.txt"]);
    assert!(by_next["next_page"].is_null(), "{by_next}");
    let found = a
        .get_json(&format!("{STORAGE}/search?q=nothing-like-it"))
        .await;
    assert_eq!(
        (found["count"].as_u64(), found["next_page"].as_u64()),
        (Some(0), None)
    );
    assert_error(
        a.get(&format!("{STORAGE}/search?q=")).await,
        400,
        "invalid_parameters",
    )
    .await;
    assert_error(
        a.get(&format!("{STORAGE}/search")).await,
        400,
        "invalid_parameters",
    )
    .await;

    // Recent: files only, newest first, `after` filters, `page_size` ≤ 1000.
    let recent = a
        .get_json(&format!("{STORAGE}/recent?page_size=1000"))
        .await;
    assert_eq!(recent["total"], 5, "{recent}");
    let modified: Vec<&str> = recent["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            assert_eq!(o["type"], "file");
            o["modified"].as_str().unwrap()
        })
        .collect();
    assert!(modified.windows(2).all(|w| w[0] >= w[1]), "{modified:?}");
    let later = a
        .get_json(&format!("{STORAGE}/recent?after=2999-01-01T00:00:00Z"))
        .await;
    assert_eq!(later["count"], 0);
    let earlier = a
        .get_json(&format!("{STORAGE}/recent?after=2000-01-01T00:00:00Z"))
        .await;
    assert_eq!(earlier["total"], 5);
    assert_error(
        a.get(&format!("{STORAGE}/recent?page_size=1001")).await,
        400,
        "invalid_parameters",
    )
    .await;

    // Raw data only when asked for; raw ids turn back into ids.
    let file = format!("{STORAGE}/files/{file_id}");
    assert!(a.get_json(&file).await.get("raw").is_none());
    let r = a
        .req(Method::GET, &file)
        .header("x-kloudless-raw-data", "true")
        .go()
        .await;
    let with_raw: Value = r.json().await.unwrap();
    let service = a.get_json("/v1/accounts/me").await["service"].clone();
    // Dropbox's own metadata names the path `path_display`.
    let raw_path = if service == "dropbox" {
        "path_display"
    } else {
        "path"
    };
    assert_eq!(with_raw["raw"][raw_path], with_raw["path"], "{with_raw}");
    let encoded = a
        .post_json(
            "/v1/accounts/me/encode_raw_id",
            &json!({"raw_id": with_raw["raw_id"], "type": "file"}),
        )
        .await;
    assert_eq!(encoded.json::<Value>().await.unwrap()["id"], file_id);

    // A direct shared link serves the file from this service to anyone holding it.
    let link: Value = a
        .post_json(
            &format!("{STORAGE}/links"),
            &json!({"file_id": file_id, "direct": true}),
        )
        .await
        .json()
        .await
        .unwrap();
    let served = reqwest::get(link["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(served.status(), 200, "{link}");
    assert_eq!(served.bytes().await.unwrap().as_ref(), bytes);

    // Upload URLs where the service presigns (object stores); an honest 501 elsewhere.
    let r = a
        .post_json(
            &format!("{STORAGE}/files/upload_url"),
            &json!({"parent_id": docs_id, "name": "direct.txt"}),
        )
        .await;
    if service == "s3" || service == "s3_compatible" {
        assert_eq!(r.status(), 200);
        let target: Value = r.json().await.unwrap();
        let mut put = reqwest::Client::new().put(target["url"].as_str().unwrap());
        for (k, v) in target["headers"].as_object().unwrap() {
            put = put.header(k, v.as_str().unwrap());
        }
        assert!(put
            .body("direct!")
            .send()
            .await
            .unwrap()
            .status()
            .is_success());
        let meta = a
            .get_json(&format!(
                "{STORAGE}/files/{}",
                target["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(
            (meta["name"].as_str(), meta["size"].as_u64()),
            (Some("direct.txt"), Some(7)),
            "{meta}"
        );
        let r = a
            .delete(&format!(
                "{STORAGE}/files/{}",
                target["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(r.status(), 204);
    } else {
        assert_error(r, 501, "not_implemented").await;
    }

    // Thumbnails and the quota where the service has them, an honest 501 elsewhere; 404
    // for no file either way.
    media(a, docs_id, file_id, bytes.len() as u64).await;

    permissions(a, service.as_str().unwrap(), docs_id, file_id).await;
}

/// Sharing permissions: read (the owner among them) where the service shares, 501
/// where it does not; 404 for no item, 400 for a body that is no list of permissions
/// (the full walk per service is in `permissions.rs`).
async fn permissions(a: &Caller, service: &str, docs_id: &str, file_id: &str) {
    let shares = matches!(
        service,
        "gdrive" | "onedrive" | "onedrivebiz" | "dropbox" | "box"
    );
    let caps = a.get_json("/v1/accounts/me?retrieve_full=true").await;
    for kind in ["files", "folders"] {
        assert_eq!(
            caps["properties"]["capabilities"][format!("permissions_supported_for_{kind}")]
                ["value"],
            shares,
            "{caps}"
        );
    }
    let share = json!([{"type": "user", "role": "reader", "email": "conformance@example.com"}]);
    for (route, id) in [("files", file_id), ("folders", docs_id)] {
        let path = format!("{STORAGE}/{route}/{id}/permissions");
        let r = a.get(&path).await;
        if shares {
            assert_eq!(r.status(), 200, "{service} {route}");
            let got: Value = r.json().await.unwrap();
            let roles: Vec<&str> = got["permissions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["role"].as_str().unwrap())
                .collect();
            assert_eq!(roles, ["owner"], "{got}");
            // Shared and unshared again: the owner alone, as before.
            let r = a.send_json(Method::PATCH, &path, &share).await;
            assert_eq!(r.status(), 200, "{service} {route}");
            let after: Value = a
                .send_json(Method::PUT, &path, &json!([]))
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(after["permissions"].as_array().unwrap().len(), 1, "{after}");
        } else {
            assert_error(r, 501, "not_implemented").await;
            let r = a.send_json(Method::PATCH, &path, &share).await;
            assert_error(r, 501, "not_implemented").await;
        }
        let r = a
            .send_json(Method::PUT, &path, &json!({"permissions": 3}))
            .await;
        assert_error(r, 400, "invalid_parameters").await;
    }
    let r = a.get(&format!("{STORAGE}/files/bm9wZQ/permissions")).await;
    assert_error(r, 404, "not_found").await;
    let r = a
        .get(&format!("{STORAGE}/folders/{file_id}/permissions"))
        .await;
    assert_error(r, 404, "not_found").await;
}

/// Thumbnails and quota on any service: an image's thumbnail and none of `data_id` (random
/// bytes) where the service makes them, the quota counting at least `stored` bytes
/// where it reports one; 501 where it does neither.
async fn media(a: &Caller, docs_id: &str, data_id: &str, stored: u64) {
    let caps = a.get_json("/v1/accounts/me?retrieve_full=true").await;
    let thumbnails = caps["properties"]["capabilities"]["can_get_thumbnail"]["value"] == true;
    let picture = crate::quota_thumbnails::png(64, 48);
    let r = a.upload(docs_id, "pixel.png", picture).await;
    assert_eq!(r.status(), 201);
    let picture_id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let thumbnail = |id: &str| {
        let url = format!("{STORAGE}/files/{id}/thumbnail?size=32");
        async move { a.get(&url).await }
    };
    let quota = a.get(&format!("{STORAGE}/quota")).await;
    if thumbnails {
        let r = thumbnail(&picture_id).await;
        assert_eq!(r.status(), 200);
        let mime = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(mime.starts_with("image/"), "{mime}");
        assert!(!r.bytes().await.unwrap().is_empty());
        assert_error(thumbnail(data_id).await, 415, "unsupported_media_type").await;
        assert_eq!(quota.status(), 200);
        let quota: Value = quota.json().await.unwrap();
        assert!(quota["used"].as_u64().unwrap() >= stored, "{quota}");
    } else {
        assert_error(thumbnail(&picture_id).await, 501, "not_implemented").await;
        assert_error(thumbnail(data_id).await, 501, "not_implemented").await;
        assert_error(quota, 501, "not_implemented").await;
    }
    assert_error(thumbnail("bm9wZQ").await, 404, "not_found").await;
    let r = a.delete(&format!("{STORAGE}/files/{picture_id}")).await;
    assert_eq!(r.status(), 204);
}

/// A multipart upload of three parts into `docs`, and an aborted one.
async fn multipart(a: &Caller, docs_id: &str) {
    let r = a
        .post_json(
            &format!("{STORAGE}/multipart"),
            &json!({"parent_id": docs_id, "name": "multi part.bin", "size": (16 << 20) + 100}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let session: Value = r.json().await.unwrap();
    let part_size = session["part_size"].as_u64().unwrap() as usize;
    assert_eq!(part_size, 8 << 20);
    let url = format!("{STORAGE}/multipart/{}", session["id"]);
    let mut bytes = vec![0u8; (16 << 20) + 100];
    rand::rng().fill_bytes(&mut bytes);
    let chunks: Vec<&[u8]> = bytes.chunks(part_size).collect();
    let put = |n: usize, body: Vec<u8>| {
        a.req(Method::PUT, &format!("{url}?part_number={n}"))
            .body(body)
            .go()
    };
    assert_eq!(put(3, chunks[2].to_vec()).await.status(), 200);
    assert_eq!(put(1, chunks[0].to_vec()).await.status(), 200);
    let r = a.post_json(&format!("{url}/complete"), &json!({})).await;
    let body = assert_error(r, 400, "invalid_parameters").await;
    assert!(body["message"].as_str().unwrap().contains('2'), "{body}");
    assert_error(put(2, vec![1; 10]).await, 400, "invalid_parameters").await;
    assert_error(put(4, vec![1; 10]).await, 400, "invalid_parameters").await;
    assert_eq!(put(2, chunks[1].to_vec()).await.status(), 200);
    assert_eq!(a.get_json(&url).await["id"], session["id"]);
    let r = a.post_json(&format!("{url}/complete"), &json!({})).await;
    assert_eq!(r.status(), 201);
    let file: Value = r.json().await.unwrap();
    assert_eq!(
        (file["name"].as_str(), file["size"].as_u64()),
        (Some("multi part.bin"), Some(bytes.len() as u64))
    );
    let got = a
        .get(&format!(
            "{STORAGE}/files/{}/contents",
            file["id"].as_str().unwrap()
        ))
        .await;
    assert!(
        got.bytes().await.unwrap() == bytes,
        "multipart bytes identical"
    );
    assert_error(a.get(&url).await, 404, "not_found").await;
    assert_error(
        a.post_json(&format!("{url}/complete"), &json!({})).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        a.delete(&format!("{STORAGE}/files/{}", file["id"].as_str().unwrap()))
            .await
            .status(),
        204
    );

    // Abandoned by the client: nothing appears.
    let r = a
        .post_json(
            &format!("{STORAGE}/multipart"),
            &json!({"parent_id": docs_id, "name": "gone.bin", "size": 5}),
        )
        .await;
    let url = format!(
        "{STORAGE}/multipart/{}",
        r.json::<Value>().await.unwrap()["id"]
    );
    assert_eq!(
        a.req(Method::PUT, &format!("{url}?part_number=1"))
            .body("12345")
            .go()
            .await
            .status(),
        200
    );
    assert_eq!(a.delete(&url).await.status(), 204);
    assert_error(a.get(&url).await, 404, "not_found").await;
    let r = a
        .post_json(
            &format!("{STORAGE}/multipart"),
            &json!({"parent_id": "bm9wZQ", "name": "x", "size": 1}),
        )
        .await;
    assert_error(r, 400, "invalid_parent_folder").await;
    let r = a
        .post_json(
            &format!("{STORAGE}/multipart"),
            &json!({"name": "x", "size": -1}),
        )
        .await;
    assert_error(r, 400, "invalid_parameters").await;
}

/// Rename, move and copy: the ids follow the paths, conflicts are 409, a folder cannot go
/// into itself, copies are byte-identical, moved folders take their contents along.
/// The folder an item's `parent` names (Dropbox, which tells no parent ids, names it by
/// its path).
fn parent_of(item: &Value) -> String {
    format!(
        "{STORAGE}/folders/{}",
        item["parent"]["id"].as_str().unwrap()
    )
}

async fn relocations(a: &Caller) {
    let json_of = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap())
    };
    let mk = |name: &str, parent: &str| json!({"name": name, "parent_id": parent});
    let (_, moves) = json_of(
        a.post_json(&format!("{STORAGE}/folders"), &mk("moves", "root"))
            .await,
    )
    .await;
    let moves_id = moves["id"].as_str().unwrap().to_string();
    let (_, sub) = json_of(
        a.post_json(&format!("{STORAGE}/folders"), &mk("sub #1", &moves_id))
            .await,
    )
    .await;
    let sub_id = sub["id"].as_str().unwrap().to_string();
    let (_, f) = json_of(a.upload(&moves_id, "a.txt", "payload").await).await;
    let f_id = f["id"].as_str().unwrap().to_string();

    let (status, renamed) = json_of(
        a.send_json(
            Method::PATCH,
            &format!("{STORAGE}/files/{f_id}"),
            &json!({"name": "b ü.txt"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["name"], "b ü.txt");
    if f_id.starts_with("file_") {
        // Ids of the service's own follow the item; ids of paths name the path.
        assert_eq!(renamed["id"], f_id, "{renamed}");
        let r = a.get(&format!("{STORAGE}/files/{f_id}")).await;
        assert_eq!(r.status(), 200);
    } else {
        assert_error(
            a.get(&format!("{STORAGE}/files/{f_id}")).await,
            404,
            "not_found",
        )
        .await;
    }
    let renamed_id = renamed["id"].as_str().unwrap().to_string();
    let (status, moved) = json_of(
        a.send_json(
            Method::PATCH,
            &format!("{STORAGE}/files/{renamed_id}"),
            &json!({"parent_id": sub_id}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        a.get_json(&parent_of(&moved)).await["id"],
        sub_id,
        "{moved}"
    );
    let moved_id = moved["id"].as_str().unwrap().to_string();
    let copy_body = json!({"parent_id": moves_id, "name": "copy.txt"});
    let (status, copied) = json_of(
        a.post_json(&format!("{STORAGE}/files/{moved_id}/copy"), &copy_body)
            .await,
    )
    .await;
    assert_eq!(status, 201, "{copied}");
    let copied_bytes = a
        .get(&format!(
            "{STORAGE}/files/{}/contents",
            copied["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(copied_bytes.text().await.unwrap(), "payload");
    let r = a
        .post_json(&format!("{STORAGE}/files/{moved_id}/copy"), &copy_body)
        .await;
    assert_error(r, 409, "naming_conflict").await;
    let r = a
        .send_json(
            Method::PATCH,
            &format!("{STORAGE}/files/{moved_id}"),
            &json!({}),
        )
        .await;
    assert_error(r, 400, "invalid_parameters").await;

    // Folders: rename takes the contents along; copy duplicates them; never into itself.
    let (status, sub2) = json_of(
        a.send_json(
            Method::PATCH,
            &format!("{STORAGE}/folders/{sub_id}"),
            &json!({"name": "sub 2"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{sub2}");
    let sub2_id = sub2["id"].as_str().unwrap().to_string();
    let inside = a
        .get_json(&format!("{STORAGE}/folders/{sub2_id}/contents"))
        .await;
    let names: Vec<_> = inside["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("b ü.txt")]);
    let r = a
        .send_json(
            Method::PATCH,
            &format!("{STORAGE}/folders/{sub2_id}"),
            &json!({"parent_id": sub2_id}),
        )
        .await;
    assert_error(r, 400, "invalid_parameters").await;
    let (status, sub3) = json_of(
        a.post_json(
            &format!("{STORAGE}/folders/{sub2_id}/copy"),
            &json!({"name": "sub 3"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{sub3}");
    let inside = a
        .get_json(&format!(
            "{STORAGE}/folders/{}/contents",
            sub3["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(inside["objects"][0]["name"], "b ü.txt");
    assert_eq!(
        a.get_json(&format!("{STORAGE}/folders/{sub2_id}/contents"))
            .await["objects"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        a.delete(&format!("{STORAGE}/folders/{moves_id}?recursive=true"))
            .await
            .status(),
        204
    );
}

#[tokio::test]
async fn local_conforms() {
    let app = TestApp::spawn().await;
    let (_, _, token) = app.account().await;
    conformance(&app.with_token(&token)).await;
}

#[tokio::test]
async fn s3_conforms_and_keeps_credentials_sealed() {
    let moto = moto().await;
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("s3").await;
    let secret = "s3-secret-value-7f3a";
    let body = json!({
        "service": "s3_compatible", "account": "storage-team",
        "token": "AKIDEXAMPLE", "token_secret": secret,
        "bucket": "bucket-one", "endpoint": moto.endpoint, "region": "us-east-1",
    });
    let r = app.with_key(&key).post_json("/v1/accounts", &body).await;
    let status = r.status();
    let account: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{account}");
    assert_eq!(account["service"], "s3_compatible");
    assert_eq!(account["service_name"], "S3 Compatible Storage");
    let token = account["bearer_token"]["key"].as_str().unwrap().to_string();
    let caps = app
        .with_token(&token)
        .get_json("/v1/accounts/me?retrieve_full=true")
        .await;
    assert_eq!(
        caps["properties"]["capabilities"]["can_upload_file"]["value"],
        true
    );

    // The secret is sealed at rest.
    let pool = sqlx::PgPool::connect(app.settings().database.url.expose())
        .await
        .unwrap();
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT secrets FROM accounts WHERE service = 's3_compatible'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains(secret));

    conformance(&app.with_token(&token)).await;

    // Import checks the service: a missing bucket is refused, nothing is saved.
    let mut missing = body.clone();
    missing["bucket"] = "no-such-bucket".into();
    missing["account"] = "other".into();
    let r = app.with_key(&key).post_json("/v1/accounts", &missing).await;
    assert!(
        r.status().is_client_error() || r.status().is_server_error(),
        "{}",
        r.status()
    );
    let list = app.with_key(&key).get_json("/v1/accounts").await;
    assert_eq!(list["total"], 1);
    let r = app
        .with_key(&key)
        .post_json("/v1/accounts", &json!({"service": "s3", "account": "x"}))
        .await;
    assert_error(r, 400, "invalid_parameters").await;
}

#[tokio::test]
async fn webdav_conforms_and_checks_credentials() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("team")).unwrap();
    let dav = rclone_webdav(dir.path()).await;
    let endpoint = dav.endpoint.clone();
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("dav").await;
    let mut body = json!({
        "service": "webdav", "account": "dav-user", "url": endpoint, "root": "/team",
        "token": "dav", "token_secret": "wrong-password",
    });
    let r = app.with_key(&key).post_json("/v1/accounts", &body).await;
    assert_error(r, 401, "service_unauthorized").await;
    body["token_secret"] = "dav-password".into();
    let r = app.with_key(&key).post_json("/v1/accounts", &body).await;
    let status = r.status();
    let account: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{account}");
    let token = account["bearer_token"]["key"].as_str().unwrap().to_string();
    conformance(&app.with_token(&token)).await;
    // Nothing escaped the account's root folder on the server.
    let outside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, vec![std::ffi::OsString::from("team")]);
}

#[tokio::test]
async fn items_move_and_copy_between_accounts_and_services() {
    let s3 = moto().await;
    let dir = tempfile::tempdir().unwrap();
    let dav = rclone_webdav(dir.path()).await;
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("across").await;
    let (local_id, local_token) = app.import_local(&key, "alice").await;
    let s3_body = json!({
        "service": "s3_compatible", "account": "bucket", "token": "AK", "token_secret": "SK",
        "bucket": "bucket-one", "endpoint": s3.endpoint,
    });
    let (s3_id, _) = app.import(&key, &s3_body).await;
    let dav_body = json!({
        "service": "webdav", "account": "dav", "url": dav.endpoint,
        "token": "dav", "token_secret": "dav-password",
    });
    let (dav_id, _) = app.import(&key, &dav_body).await;
    let api = app.with_key(&key);
    let mut bytes = vec![0u8; 2_000_000];
    rand::rng().fill_bytes(&mut bytes);
    let (_, file) = {
        let r = app
            .with_token(&local_token)
            .upload("root", "report.bin", bytes.clone())
            .await;
        (r.status(), r.json::<Value>().await.unwrap())
    };
    let file_id = file["id"].as_str().unwrap();

    // local → S3, copy: the source stays.
    let r = api
        .post_json(
            &format!("/v1/accounts/{local_id}/storage/files/{file_id}/copy"),
            &json!({"account": s3_id, "parent_id": "root"}),
        )
        .await;
    let status = r.status();
    let on_s3: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{on_s3}");
    assert_eq!(on_s3["account"], s3_id);
    let got = api
        .get(&format!(
            "/v1/accounts/{s3_id}/storage/files/{}/contents",
            on_s3["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(got.bytes().await.unwrap().as_ref(), bytes.as_slice());
    assert_eq!(
        api.get(&format!("/v1/accounts/{local_id}/storage/files/{file_id}"))
            .await
            .status(),
        200
    );

    // S3 → WebDAV, move: the source goes.
    let s3_file = on_s3["id"].as_str().unwrap();
    let r = api
        .send_json(
            Method::PATCH,
            &format!("/v1/accounts/{s3_id}/storage/files/{s3_file}"),
            &json!({"account": dav_id.to_string()}),
        )
        .await;
    let status = r.status();
    let on_dav: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{on_dav}");
    let got = api
        .get(&format!(
            "/v1/accounts/{dav_id}/storage/files/{}/contents",
            on_dav["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(got.bytes().await.unwrap().as_ref(), bytes.as_slice());
    assert_error(
        api.get(&format!("/v1/accounts/{s3_id}/storage/files/{s3_file}"))
            .await,
        404,
        "not_found",
    )
    .await;

    // A bearer token reaches no other account; the root cannot be moved or copied.
    let r = app
        .with_token(&local_token)
        .post_json(
            &format!("/v1/accounts/me/storage/files/{file_id}/copy"),
            &json!({"account": s3_id}),
        )
        .await;
    assert_error(r, 404, "not_found").await;
    let r = api
        .post_json(
            &format!("/v1/accounts/{local_id}/storage/folders/root/copy"),
            &json!({"account": s3_id}),
        )
        .await;
    assert_error(r, 403, "forbidden").await;

    // Folders cross too, with their whole tree: local → WebDAV (copy), then → S3 (move).
    let local = |p: &str| format!("/v1/accounts/{local_id}/storage{p}");
    let made = |r: reqwest::Response| async move {
        assert!(r.status().is_success(), "{}", r.status());
        r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let tree = made(
        api.post_json(
            &local("/folders"),
            &json!({"name": "tree", "parent_id": "root"}),
        )
        .await,
    )
    .await;
    let inner = made(
        api.post_json(
            &local("/folders"),
            &json!({"name": "in ner", "parent_id": tree}),
        )
        .await,
    )
    .await;
    for (parent, name, body) in [(&tree, "top.txt", "top"), (&inner, "deep #1.txt", "deep")] {
        let r = app
            .with_token(&local_token)
            .upload(parent, name, body)
            .await;
        assert_eq!(r.status(), 201);
    }
    let r = api
        .post_json(
            &local(&format!("/folders/{tree}/copy")),
            &json!({"account": dav_id}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let on_dav: Value = r.json().await.unwrap();
    let dav = |p: &str| format!("/v1/accounts/{dav_id}/storage{p}");
    let names = |list: Value| -> Vec<String> {
        let objects = list["objects"].as_array().unwrap().clone();
        objects
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_string())
            .collect()
    };
    let top = api
        .get_json(&dav(&format!(
            "/folders/{}/contents",
            on_dav["id"].as_str().unwrap()
        )))
        .await;
    assert_eq!(names(top), ["in ner", "top.txt"]);
    let found = api.get_json(&dav("/search?q=deep")).await;
    let deep = found["objects"][0]["id"].as_str().unwrap().to_string();
    let got = api.get(&dav(&format!("/files/{deep}/contents"))).await;
    assert_eq!(got.text().await.unwrap(), "deep");
    // Taken at the destination: a conflict, nothing moved.
    let r = api
        .send_json(
            Method::PATCH,
            &local(&format!("/folders/{tree}")),
            &json!({"account": dav_id}),
        )
        .await;
    assert_error(r, 409, "naming_conflict").await;
    let r = api
        .send_json(
            Method::PATCH,
            &local(&format!("/folders/{tree}")),
            &json!({"account": s3_id}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let on_s3: Value = r.json().await.unwrap();
    let s3 = |p: &str| format!("/v1/accounts/{s3_id}/storage{p}");
    let moved = api
        .get_json(&s3(&format!(
            "/folders/{}/contents",
            on_s3["id"].as_str().unwrap()
        )))
        .await;
    assert_eq!(names(moved), ["in ner", "top.txt"]);
    assert_error(
        api.get(&local(&format!("/folders/{tree}"))).await,
        404,
        "not_found",
    )
    .await;
}

/// Pages through a folder of `n` files 1,000 at a time: every name once, in order.
async fn pages_completely(a: &Caller, n: usize) {
    let names = every_page(a, "root", 1000).await;
    assert_eq!(names.len(), n);
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted, "every name once, in a stable order");
}

#[tokio::test]
async fn ten_thousand_entry_folders_page_correctly() {
    const N: usize = 10_000;
    // Local: written straight into the account's folder.
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("big").await;
    let (id, token) = app.import_local(&key, "bulk").await;
    let folder = app.local_folder(id);
    std::fs::create_dir_all(&folder).unwrap();
    for i in 0..N {
        std::fs::write(folder.join(format!("f{i:05}.txt")), b"x").unwrap();
    }
    pages_completely(&app.with_token(&token), N).await;

    // S3: objects put straight into the bucket.
    let moto = moto().await;
    let client = reqwest::Client::new();
    futures::stream::iter(0..N)
        .map(|i| {
            let put = client
                .put(format!("{}/bucket-one/f{i:05}.txt", moto.endpoint))
                .body("x");
            async move { assert!(put.send().await.unwrap().status().is_success()) }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    let (_, token) = app
        .import(
            &key,
            &json!({
                "service": "s3", "account": "bulk-s3", "token": "AKIDEXAMPLE", "token_secret": "secret",
                "bucket": "bucket-one", "endpoint": moto.endpoint, "region": "us-east-1",
            }),
        )
        .await;
    pages_completely(&app.with_token(&token), N).await;
}

/// Nothing but `root`'s own folder is left in the server's data folder.
fn only_root_left(sshd: &Sshd, root: &str) {
    let outside: Vec<_> = std::fs::read_dir(sshd.data.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(outside, vec![std::path::PathBuf::from(root)]);
    assert_eq!(
        std::fs::read_dir(root).unwrap().count(),
        0,
        "no temp files left"
    );
}

#[tokio::test]
async fn sftp_conforms_with_a_password_and_checks_credentials() {
    let sshd = Sshd::start().await;
    let root = sshd.root("team");
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("sftp").await;
    let mut body = sshd.password_account(&root);

    // Wrong password: refused, nothing saved.
    body["password"] = "wrong-password".into();
    let r = app.with_key(&key).post_json("/v1/accounts", &body).await;
    assert_error(r, 401, "service_unauthorized").await;
    // Neither a password nor a key: refused before connecting.
    let mut neither = body.clone();
    neither.as_object_mut().unwrap().remove("password");
    let r = app.with_key(&key).post_json("/v1/accounts", &neither).await;
    assert_error(r, 400, "invalid_parameters").await;
    // A root that does not exist.
    let mut lost = sshd.password_account(&format!("{root}/missing"));
    lost["account"] = "lost".into();
    let r = app.with_key(&key).post_json("/v1/accounts", &lost).await;
    assert_error(r, 400, "invalid_parameters").await;
    assert_eq!(
        app.with_key(&key).get_json("/v1/accounts").await["total"],
        0
    );

    let secret = "sftp-Passw0rd-test";
    body["password"] = secret.into();
    let r = app.with_key(&key).post_json("/v1/accounts", &body).await;
    let status = r.status();
    let account: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{account}");
    assert_eq!(account["service"], "sftp");
    let token = account["bearer_token"]["key"].as_str().unwrap().to_string();

    // The password is sealed at rest; the host key was pinned.
    let pool = sqlx::PgPool::connect(app.settings().database.url.expose())
        .await
        .unwrap();
    let (config, sealed): (Value, Vec<u8>) =
        sqlx::query_as("SELECT config, secrets FROM accounts WHERE service = 'sftp'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains(secret));
    assert!(!config.to_string().contains(secret));
    assert!(
        config["host_key"].as_str().unwrap().starts_with("SHA256:"),
        "{config}"
    );
    assert_eq!(config["username"], SFTP_USER);

    conformance(&app.with_token(&token)).await;
    only_root_left(&sshd, &root);
}

#[tokio::test]
async fn sftp_conforms_with_a_private_key() {
    let sshd = Sshd::start().await;
    let root = sshd.root("keyed");
    let (private, public) = ssh_keygen(sshd.etc.path(), "client_rsa", "rsa", "key phrase");
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("sftp-key").await;
    let mut body = json!({
        "service": "sftp", "account": "keyed", "host": "127.0.0.1", "port": sshd.port,
        "token": SFTP_USER, "private_key": private, "passphrase": "key phrase", "root": root,
    });
    // Not authorized yet: refused.
    let r = app.with_key(&key).post_json("/v1/accounts", &body).await;
    assert_error(r, 401, "service_unauthorized").await;
    // A wrong passphrase cannot open the key.
    body["passphrase"] = "wrong".into();
    let r = app.with_key(&key).post_json("/v1/accounts", &body).await;
    assert_error(r, 400, "invalid_parameters").await;
    body["passphrase"] = "key phrase".into();
    sshd.authorize(&public);
    let (_, token) = app.import(&key, &body).await;
    conformance(&app.with_token(&token)).await;
    only_root_left(&sshd, &root);

    // An ed25519 key without a passphrase, on the same root.
    let (ed, ed_public) = ssh_keygen(sshd.etc.path(), "client_ed25519", "ed25519", "");
    sshd.authorize(&ed_public);
    let ed_body = json!({
        "service": "sftp", "account": "ed", "host": "127.0.0.1", "port": sshd.port,
        "username": SFTP_USER, "private_key": ed, "root": root,
    });
    let (_, ed_token) = app.import(&key, &ed_body).await;
    let r = app
        .with_token(&ed_token)
        .upload("root", "hello.txt", "hello")
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        std::fs::read_to_string(format!("{root}/hello.txt")).unwrap(),
        "hello"
    );
}

#[tokio::test]
async fn sftp_unreachable_server_and_changed_host_key_are_refused() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("sftp-down").await;
    let body = json!({
        "service": "sftp", "account": "down", "host": "127.0.0.1", "port": free_port(),
        "username": SFTP_USER, "password": "x",
    });
    let r = app.with_key(&key).post_json("/v1/accounts", &body).await;
    assert_error(r, 503, "service_not_available").await;

    // A pinned key that the server no longer has: refused with a clear message.
    let sshd = Sshd::start().await;
    let root = sshd.root("pinned");
    let cipher = cloudbridge_shared::crypto::Cipher::from_settings(&app.settings().secrets)
        .unwrap()
        .unwrap();
    let account = |host_key: &str| cloudbridge_shared::protocol::AccountRef {
        id: 0,
        application: String::new(),
        service: "sftp".into(),
        config: json!({
            "host": "127.0.0.1", "port": sshd.port, "username": SFTP_USER, "root": root,
            "host_key": host_key,
        }),
        sealed: Some(base64_seal(&cipher)),
        ..Default::default()
    };
    let loopback = cloudbridge_shared::netguard::Policy::new(&crate::helpers::loopback_networks());
    let ctx = cloudbridge_connectors::Context::basic(
        app.data_root().to_path_buf(),
        Some(std::sync::Arc::new(cipher.clone())),
        loopback,
    )
    .unwrap();
    let pinned = cloudbridge_connectors::sftp::host_key("127.0.0.1", sshd.port, &ctx.guard)
        .await
        .unwrap();
    let store = cloudbridge_connectors::open(&ctx, &account(&pinned)).unwrap();
    store.validate().await.unwrap();
    let other = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let store = cloudbridge_connectors::open(&ctx, &account(other)).unwrap();
    let e = store.validate().await.unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (502, "bad_gateway"), "{e:?}");
    assert!(e.message.contains("host key changed"), "{}", e.message);
}

/// The SFTP test password, sealed and base64-encoded as a job carries it.
fn base64_seal(cipher: &cloudbridge_shared::crypto::Cipher) -> String {
    use base64::Engine;
    let secrets = json!({ "password": crate::helpers::SFTP_PASSWORD });
    base64::engine::general_purpose::STANDARD
        .encode(cloudbridge_connectors::seal_secrets(&secrets, cipher))
}

#[tokio::test]
async fn files_move_and_copy_between_sftp_and_local() {
    let sshd = Sshd::start().await;
    let root = sshd.root("across");
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("across-sftp").await;
    let (local_id, local_token) = app.import_local(&key, "alice").await;
    let (sftp_id, _) = app.import(&key, &sshd.password_account(&root)).await;
    let api = app.with_key(&key);
    let mut bytes = vec![0u8; 3_000_000];
    rand::rng().fill_bytes(&mut bytes);
    let r = app
        .with_token(&local_token)
        .upload("root", "report.bin", bytes.clone())
        .await;
    let file: Value = r.json().await.unwrap();
    let file_id = file["id"].as_str().unwrap();

    // local → SFTP, copy: streamed by the API tier into a hidden file, committed by rename.
    let r = api
        .post_json(
            &format!("/v1/accounts/{local_id}/storage/files/{file_id}/copy"),
            &json!({"account": sftp_id, "parent_id": "root"}),
        )
        .await;
    let status = r.status();
    let on_sftp: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{on_sftp}");
    assert_eq!(std::fs::read(format!("{root}/report.bin")).unwrap(), bytes);

    // SFTP → local, move under a new name: the source goes.
    let sftp_file = on_sftp["id"].as_str().unwrap();
    let r = api
        .send_json(
            Method::PATCH,
            &format!("/v1/accounts/{sftp_id}/storage/files/{sftp_file}"),
            &json!({"account": local_id, "name": "back.bin"}),
        )
        .await;
    let status = r.status();
    let back: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{back}");
    let got = api
        .get(&format!(
            "/v1/accounts/{local_id}/storage/files/{}/contents",
            back["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(got.bytes().await.unwrap().as_ref(), bytes.as_slice());
    assert!(!std::path::Path::new(&format!("{root}/report.bin")).exists());
    only_root_left(&sshd, &root);
}

#[tokio::test]
async fn sftp_uploads_in_progress_are_hidden_and_cut_ones_leave_nothing() {
    use futures::SinkExt;
    let sshd = Sshd::start().await;
    let root = sshd.root("partial");
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("sftp-partial").await;
    let (_, token) = app.import(&key, &sshd.password_account(&root)).await;
    let a = app.with_token(&token);
    let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let upload = {
        let request = a
            .upload_req("root", "big.bin", "")
            .body(reqwest::Body::wrap_stream(rx));
        tokio::spawn(async move { request.send().await })
    };
    tx.send(Ok(vec![1u8; 256 * 1024])).await.unwrap();

    // The first bytes reach the server under a hidden name, which no listing shows.
    let hidden = loop {
        let names: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        if let [name] = names.as_slice() {
            if std::fs::metadata(format!("{root}/{name}")).unwrap().len() > 0 {
                break name.clone();
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(hidden.starts_with(".cloudbridge-upload-"), "{hidden}");
    assert_eq!(a.root_contents().await["objects"], json!([]));
    assert_error(
        a.get(&format!("{STORAGE}/files/YmlnLmJpbg")).await,
        404,
        "not_found",
    )
    .await;

    // The client goes away: the upload fails and the hidden file is removed.
    tx.send(Err(std::io::Error::other("client went away")))
        .await
        .unwrap();
    let answer = upload.await.unwrap();
    assert!(answer.is_err() || !answer.unwrap().status().is_success());
    for _ in 0..100 {
        if std::fs::read_dir(&root).unwrap().count() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        std::fs::read_dir(&root).unwrap().count(),
        0,
        "temp file left"
    );
    assert_eq!(a.root_contents().await["objects"], json!([]));
}

/// A body sent in `n` chunks of 256 KiB without a length; with `cut`, the client goes
/// away before the last one.
fn chunked(n: u8, cut: bool) -> reqwest::Body {
    let chunks = futures::stream::iter(0..n).then(move |i| async move {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        if cut && i == n - 1 {
            Err(std::io::Error::other("client went away"))
        } else {
            Ok(vec![i; 256 * 1024])
        }
    });
    reqwest::Body::wrap_stream(chunks)
}

/// On S3 and WebDAV: an upload without a length arrives whole (S3: the API tier writes a
/// multipart upload itself), and one cut half-way leaves nothing anyone can see.
#[tokio::test]
async fn unsized_and_interrupted_uploads_on_remote_services() {
    let moto = moto().await;
    let dir = tempfile::tempdir().unwrap();
    let dav = rclone_webdav(dir.path()).await;
    let app = TestApp::builder()
        .settings(|s| s.scheduler.housekeeping_cron = "* * * * * *".into())
        .spawn()
        .await;
    let (_, key) = app.create_app("remote").await;
    let accounts = [
        json!({"service": "s3", "account": "s3", "token": "AKIDEXAMPLE", "token_secret": "secret",
               "bucket": "bucket-one", "endpoint": moto.endpoint, "region": "us-east-1"}),
        json!({"service": "webdav", "account": "dav", "url": dav.endpoint,
               "token": "dav", "token_secret": "dav-password"}),
    ];
    for body in accounts {
        let (_, token) = app.import(&key, &body).await;
        let a = app.with_token(&token);
        let r = a
            .upload_req("root", "unsized.bin", "")
            .body(chunked(6, false))
            .go()
            .await;
        assert_eq!(r.status(), 201, "{body}");
        let file: Value = r.json().await.unwrap();
        assert_eq!(file["size"], 6 * 256 * 1024);
        let got = a
            .get(&format!(
                "{STORAGE}/files/{}/contents",
                file["id"].as_str().unwrap()
            ))
            .await;
        let bytes = got.bytes().await.unwrap();
        assert!(bytes
            .chunks(256 * 1024)
            .enumerate()
            .all(|(i, c)| c.iter().all(|b| *b == i as u8)));

        let r = a
            .upload_req("root", "cut.bin", "")
            .body(chunked(6, true))
            .send()
            .await;
        assert!(r.is_err() || !r.unwrap().status().is_success());
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let names: Vec<String> = a.root_contents().await["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["unsized.bin"], "{body}");
    }
    // WebDAV: the cut upload's abort deleted its hidden file, and its ledger entry stays,
    // marked aborted: the server may still finish the interrupted PUT after that delete.
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let pool = sqlx::PgPool::connect(app.settings().database.url.expose())
        .await
        .unwrap();
    let mut aborted: Vec<String> = Vec::new();
    for _ in 0..100 {
        aborted =
            sqlx::query_scalar("SELECT staged FROM remote_uploads WHERE aborted_at IS NOT NULL")
                .fetch_all(&pool)
                .await
                .unwrap();
        if !aborted.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(aborted.len(), 1, "the abort is in the ledger");
    let hidden = String::from_utf8(URL_SAFE_NO_PAD.decode(&aborted[0]).unwrap()).unwrap();
    assert!(hidden.starts_with(".cloudbridge-upload-"), "{hidden}");
    // The interrupted PUT lands late, after the abort's delete.
    let late = reqwest::Client::new()
        .put(format!("{}/{hidden}", dav.endpoint))
        .basic_auth("dav", Some("dav-password"))
        .body("the end of an interrupted upload")
        .send()
        .await
        .unwrap();
    assert!(late.status().is_success());
    assert!(
        housekeeping_removes(&app, &dir.path().join(&hidden)).await,
        "housekeeping removes the late write"
    );
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM remote_uploads")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(kept, 1, "looked for again until the abort has settled");
    // Once it has, the next housekeeping removes what is there and forgets the entry.
    sqlx::query("UPDATE remote_uploads SET aborted_at = now() - interval '1 hour'")
        .execute(&pool)
        .await
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let scheduler = tokio::spawn(cloudbridge_scheduler::run(
        app.settings().clone(),
        shutdown.clone(),
    ));
    let mut left = 1i64;
    for _ in 0..100 {
        left = sqlx::query_scalar("SELECT count(*) FROM remote_uploads")
            .fetch_one(&pool)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    let _ = scheduler.await;
    assert_eq!(left, 0, "the settled entry is forgotten");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["unsized.bin"], "{names:?}");
}

/// The hidden file of a WebDAV upload whose API process died (its ledger entry is old and
/// was never committed or aborted) is removed by housekeeping under the real scheduler.
#[tokio::test]
async fn abandoned_remote_uploads_are_removed_by_housekeeping() {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let dir = tempfile::tempdir().unwrap();
    let dav = rclone_webdav(dir.path()).await;
    let app = TestApp::builder()
        .settings(|s| s.scheduler.housekeeping_cron = "* * * * * *".into())
        .spawn()
        .await;
    let (_, key) = app.create_app("remote").await;
    let body = json!({"service": "webdav", "account": "dav", "url": dav.endpoint,
                      "token": "dav", "token_secret": "dav-password"});
    let (account, _) = app.import(&key, &body).await;
    let (old, young) = (".cloudbridge-upload-old", ".cloudbridge-upload-young");
    // Written through the server (rclone caches its view of the folder).
    for name in [old, young] {
        let put = reqwest::Client::new()
            .put(format!("{}/{name}", dav.endpoint))
            .basic_auth("dav", Some("dav-password"))
            .body("half an upload")
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success());
    }
    let pool = sqlx::PgPool::connect(app.settings().database.url.expose())
        .await
        .unwrap();
    for (name, age) in [(old, "7 hours"), (young, "1 minute")] {
        sqlx::query(&format!(
            "INSERT INTO remote_uploads (account_id, staged, started_at)
             VALUES ($1, $2, now() - interval '{age}')"
        ))
        .bind(account)
        .bind(URL_SAFE_NO_PAD.encode(name))
        .execute(&pool)
        .await
        .unwrap();
    }

    let removed = housekeeping_removes(&app, &dir.path().join(old)).await;
    assert!(removed, "the abandoned upload's file is removed");
    assert!(
        dir.path().join(young).exists(),
        "an upload in progress is left alone"
    );
    // The ledger entry goes right after the file (the same housekeeping pass).
    let mut left: Vec<String> = Vec::new();
    for _ in 0..50 {
        left = sqlx::query_scalar("SELECT staged FROM remote_uploads")
            .fetch_all(&pool)
            .await
            .unwrap();
        if left.len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(left, [URL_SAFE_NO_PAD.encode(young)]);
}

/// The load tests' fake upstream is a faithful enough S3 for the request path: metadata,
/// listing and downloads work through the pipeline, and its injected 429s reach the
/// client as Kloudless rate-limit errors with `Retry-After`.
#[tokio::test]
async fn the_fake_upstream_serves_the_pipeline_and_its_rate_limits_surface() {
    use cloudbridge_loadtest::upstream::{serve, Behaviour};
    let mut urls = Vec::new();
    for throttle_rate in [0.0, 1.0] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        urls.push(format!("http://{}", listener.local_addr().unwrap()));
        let behaviour = Behaviour {
            throttle_rate,
            ..Behaviour::default()
        };
        tokio::spawn(serve(listener, behaviour));
    }
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("fake").await;
    let account = |url: &str| {
        json!({"service": "s3_compatible", "account": url, "endpoint": url, "bucket": "load",
               "region": "us-east-1", "token": "k", "token_secret": "s"})
    };
    let (_, token) = app.import(&key, &account(&urls[0])).await;
    let a = app.with_token(&token);
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let seed = URL_SAFE_NO_PAD.encode("seed3.txt");
    let meta = a.get_json(&format!("{STORAGE}/files/{seed}")).await;
    assert_eq!(
        (meta["name"].as_str(), meta["size"].as_u64()),
        (Some("seed3.txt"), Some(1024)),
        "{meta}"
    );
    let list = a
        .get_json(&format!("{STORAGE}/folders/root/contents"))
        .await;
    assert_eq!(list["count"], 20);
    let got = a.get(&format!("{STORAGE}/files/{seed}/contents")).await;
    assert_eq!(got.bytes().await.unwrap().len(), 1024);

    let r = app
        .with_key(&key)
        .post_json("/v1/accounts", &account(&urls[1]))
        .await;
    let body = assert_error(r, 429, "too_many_service_requests").await;
    assert!(body["message"].is_string());
}

/// The names in folder `id`, page by page (`page_size` each), following `next_page`
/// (a page number, or a token where the service pages itself).
async fn every_page(a: &Caller, id: &str, page_size: u32) -> Vec<String> {
    let mut names = Vec::new();
    let mut page = Value::from(1);
    loop {
        let page_param = match &page {
            Value::String(token) => token.clone(),
            number => number.to_string(),
        };
        let list = a
            .get_json(&format!(
                "{STORAGE}/folders/{id}/contents?page_size={page_size}&page={page_param}"
            ))
            .await;
        let objects = list["objects"].as_array().unwrap();
        assert!(objects.len() <= page_size as usize, "{list}");
        assert_eq!(list["page"], page, "a page names itself as asked");
        names.extend(
            objects
                .iter()
                .map(|o| o["name"].as_str().unwrap().to_string()),
        );
        match &list["next_page"] {
            Value::Null => return names,
            next => page = next.clone(),
        }
    }
}
