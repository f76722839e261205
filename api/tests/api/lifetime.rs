//! The lifetime of an account's data: custom properties, inactive accounts, what goes
//! when an account or its application is deleted (rows at once, stored files by the
//! removal run), and shared links that end with the item they were made for.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, Go, TestApp, STORAGE};

#[tokio::test]
async fn custom_properties_are_stored_merged_and_returned() {
    let app = TestApp::spawn().await;
    let (key, id, token) = app.account().await;
    let k = app.with_key(&key);
    let path = format!("/v1/accounts/{id}");
    assert_eq!(k.get_json(&path).await["custom_properties"], json!({}));

    let r = k
        .send_json(
            Method::PATCH,
            &path,
            &json!({"custom_properties": {"team": "blue", "seat": 7, "tmp": true}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let patched: Value = r.json().await.unwrap();
    let want = json!({"team": "blue", "seat": 7, "tmp": true});
    assert_eq!(patched["custom_properties"], want);
    // A later PATCH merges; a null value removes its key.
    let r = k
        .send_json(
            Method::PATCH,
            &path,
            &json!({"custom_properties": {"seat": 8, "tmp": null}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let want = json!({"team": "blue", "seat": 8});
    assert_eq!(k.get_json(&path).await["custom_properties"], want);
    let me = app.with_token(&token).get_json("/v1/accounts/me").await;
    assert_eq!(me["custom_properties"], want);
    let list = k.get_json("/v1/accounts").await;
    assert_eq!(list["objects"][0]["custom_properties"], want);
    // Other PATCH fields leave them alone.
    k.send_json(Method::PATCH, &path, &json!({"enabled": true}))
        .await;
    assert_eq!(k.get_json(&path).await["custom_properties"], want);

    for bad in [json!("x"), json!([1]), json!(3)] {
        let r = k
            .send_json(Method::PATCH, &path, &json!({ "custom_properties": bad }))
            .await;
        assert_error(r, 400, "invalid_parameters").await;
    }
    assert_eq!(k.get_json(&path).await["custom_properties"], want);

    // Import takes them too.
    let r = k
        .post_json(
            "/v1/accounts",
            &json!({"account": "bob", "service": "local", "custom_properties": {"a": 1}}),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.json::<Value>().await.unwrap()["custom_properties"],
        json!({"a": 1})
    );
}

#[tokio::test]
async fn inactive_accounts_are_refused_storage_but_can_be_managed() {
    let app = TestApp::spawn().await;
    let (key, id, token) = app.account().await;
    let (k, a) = (app.with_key(&key), app.with_token(&token));
    assert_eq!(a.upload("root", "f.txt", "x").await.status(), 201);
    let path = format!("/v1/accounts/{id}");
    let r = k
        .send_json(Method::PATCH, &path, &json!({"active": false}))
        .await;
    assert_eq!(r.status(), 200);

    for r in [
        a.get(&format!("{STORAGE}/folders/root/contents")).await,
        k.get(&format!("{path}/storage/folders/root/contents"))
            .await,
        a.upload("root", "g.txt", "y").await,
        a.get(&format!("{STORAGE}/links")).await,
    ] {
        assert_error(r, 403, "account_inactive").await;
    }
    // Managing the account still works, with either credential.
    assert_eq!(a.get_json("/v1/accounts/me").await["active"], false);
    let r = a
        .send_json(Method::PATCH, "/v1/accounts/me", &json!({"active": true}))
        .await;
    assert_eq!(r.status(), 200);
    let listing = a.root_contents().await;
    assert_eq!(listing["objects"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_reimported_account_never_sees_a_deleted_accounts_files() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_app("a").await;
    let (id, token) = app.import_local(&key, "ghost").await;
    let a = app.with_token(&token);
    assert_eq!(a.upload("root", "secret.txt", "old").await.status(), 201);
    assert!(app.local_folder(id).join("secret.txt").is_file());
    let r = app
        .with_key(&key)
        .delete(&format!("/v1/accounts/{id}"))
        .await;
    assert_eq!(r.status(), 204);

    // Before any removal run: the new account has its own, empty folder.
    let (again, token) = app.import_local(&key, "ghost").await;
    assert_ne!(again, id);
    let b = app.with_token(&token);
    let r = b
        .get(&format!("{STORAGE}/files/c2VjcmV0LnR4dA/contents"))
        .await;
    assert_error(r, 404, "not_found").await;
    assert_eq!(b.root_contents().await["objects"], json!([]));

    // The removal run takes the old folder away, and nothing of the new account.
    assert_eq!(b.upload("root", "mine.txt", "new").await.status(), 201);
    app.remove_accounts().await;
    assert!(!app.local_folder(id).exists());
    assert!(app.local_folder(again).join("mine.txt").is_file());
    assert_eq!(app.pending_removals().await, 0);
}

#[tokio::test]
async fn deleting_an_application_removes_its_accounts_data() {
    let app = TestApp::spawn().await;
    let (app_id, key) = app.create_app("doomed").await;
    let (_, other_key) = app.create_app("kept").await;
    let (id, token) = app.import_local(&key, "alice").await;
    let (kept, kept_token) = app.import_local(&other_key, "alice").await;
    let a = app.with_token(&token).under(STORAGE);
    let file: Value = a.upload("root", "f.txt", "x").await.json().await.unwrap();
    let file_id = file["id"].as_str().unwrap();
    assert_eq!(
        a.post_json("/links", &json!({"file_id": file_id}))
            .await
            .status(),
        201
    );
    let r = a
        .send_json(
            Method::PATCH,
            &format!("/files/{file_id}/properties"),
            &json!([{"key": "k", "value": "v"}]),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = a
        .req(Method::POST, &format!("/files/{file_id}/copy"))
        .header("X-Kloudless-Async", "true")
        .json(&json!({"parent_id": "root", "name": "copy.txt"}))
        .go()
        .await;
    assert!(r.status().is_success());
    let r = a
        .post_json(
            "/multipart?overwrite=false",
            &json!({"name": "big.bin", "parent_id": "root", "size": 10}),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let session: Value = r.json().await.unwrap();
    let r = a
        .req(
            Method::PUT,
            &format!("/multipart/{}?part_number=1", session["id"]),
        )
        .body("0123456789")
        .go()
        .await;
    assert!(r.status().is_success());
    let parts = app
        .data_root()
        .join(".multipart")
        .join(session["id"].to_string());
    assert!(parts.is_dir());
    let k = app.with_token(&kept_token);
    assert_eq!(k.upload("root", "f.txt", "kept").await.status(), 201);

    let r = app
        .dev(Method::DELETE, &format!("/v1/applications/{app_id}"))
        .go()
        .await;
    assert_eq!(r.status(), 204);
    let db = app.db().await;
    for table in [
        "links",
        "file_properties",
        "tasks",
        "multipart_uploads",
        "accounts",
    ] {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} WHERE {} = $1",
            if table == "accounts" {
                "id"
            } else {
                "account_id"
            }
        ))
        .bind(id)
        .fetch_one(&db)
        .await
        .unwrap();
        assert_eq!(n, 0, "{table} rows of the deleted account");
    }
    assert!(app.local_folder(id).exists(), "files go in the background");
    app.remove_accounts().await;
    assert!(!app.local_folder(id).exists());
    assert!(!parts.exists(), "multipart parts removed");
    assert!(app.local_folder(kept).join("f.txt").is_file());
    assert_eq!(app.pending_removals().await, 0);
}

#[tokio::test]
async fn an_interrupted_removal_is_finished_by_the_next() {
    // Three files and their folder are more than one run may remove.
    let app = TestApp::builder()
        .settings(|s| s.jobs.removal_batch = 2)
        .spawn()
        .await;
    let (key, id, token) = app.account().await;
    let a = app.with_token(&token);
    for name in ["1.txt", "2.txt", "3.txt"] {
        assert_eq!(a.upload("root", name, "x").await.status(), 201);
    }
    let r = app
        .with_key(&key)
        .delete(&format!("/v1/accounts/{id}"))
        .await;
    assert_eq!(r.status(), 204);
    app.remove_accounts().await;
    assert!(app.local_folder(id).exists(), "stopped half-way");
    assert_eq!(
        app.pending_removals().await,
        1,
        "the removal is still recorded"
    );
    app.remove_accounts().await;
    app.remove_accounts().await;
    assert!(!app.local_folder(id).exists());
    assert_eq!(app.pending_removals().await, 0);

    // A run that died after removing the files (the row left behind) is finished too.
    let (id, token) = app.import_local(&key, "bob").await;
    let b = app.with_token(&token);
    assert_eq!(b.upload("root", "1.txt", "x").await.status(), 201);
    let r = app
        .with_key(&key)
        .delete(&format!("/v1/accounts/{id}"))
        .await;
    assert_eq!(r.status(), 204);
    std::fs::remove_dir_all(app.local_folder(id)).unwrap();
    app.remove_accounts().await;
    assert_eq!(app.pending_removals().await, 0);
}

#[tokio::test]
async fn a_link_ends_with_the_file_it_was_made_for() {
    let app = TestApp::spawn().await;
    let (_, id, token) = app.account().await;
    let a = app.with_token(&token).under(STORAGE);
    let web = reqwest::Client::new();
    let link_to = |file_id: String, direct: bool| {
        let a = a.clone();
        async move {
            let r = a
                .post_json("/links", &json!({"file_id": file_id, "direct": direct}))
                .await;
            assert_eq!(r.status(), 201);
            let link: Value = r.json().await.unwrap();
            (
                link["id"].as_str().unwrap().to_string(),
                link["url"].as_str().unwrap().to_string(),
            )
        }
    };
    let upload = |name: &'static str, body: &'static str| {
        let a = a.clone();
        async move {
            let r = a.upload("root", name, body).await;
            assert_eq!(r.status(), 201);
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };

    // Deleted through the API, then another file of the same name uploaded.
    let file_id = upload("a.txt", "first").await;
    let (link_id, url) = link_to(file_id.clone(), true).await;
    assert_eq!(
        web.get(&url).send().await.unwrap().text().await.unwrap(),
        "first"
    );
    assert_eq!(a.delete(&format!("/files/{file_id}")).await.status(), 204);
    assert_eq!(upload("a.txt", "second").await, file_id);
    assert_error(web.get(&url).send().await.unwrap(), 404, "not_found").await;
    assert_error(a.get(&format!("/links/{link_id}")).await, 404, "not_found").await;

    // Links below a folder deleted through the API go with it.
    let r = a
        .post_json("/folders", &json!({"parent_id": "root", "name": "d"}))
        .await;
    let folder: Value = r.json().await.unwrap();
    let r = a
        .upload_req(folder["id"].as_str().unwrap(), "in.txt", "")
        .body("inside")
        .go()
        .await;
    let inside = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, url) = link_to(inside, true).await;
    let r = a
        .delete(&format!(
            "/folders/{}?recursive=true",
            folder["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(r.status(), 204);
    assert_error(web.get(&url).send().await.unwrap(), 404, "not_found").await;

    // Replaced on the disk by another program: a new file at the old path.
    let file_id = upload("b.txt", "original").await;
    let (_, direct) = link_to(file_id.clone(), true).await;
    let (_, landing) = link_to(file_id, false).await;
    assert_eq!(web.get(&landing).send().await.unwrap().status(), 200);
    // Written beside it first, so it cannot be the same inode.
    let folder = app.local_folder(id);
    std::fs::write(folder.join("b.new"), "impostor").unwrap();
    std::fs::rename(folder.join("b.new"), folder.join("b.txt")).unwrap();
    for url in [&direct, &landing, &format!("{landing}?download=true")] {
        assert_error(web.get(url).send().await.unwrap(), 404, "not_found").await;
    }
}
