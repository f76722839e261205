//! The fake's answers against the shapes Dropbox documents.

use serde_json::{json, Value};

use super::{FakeDropbox, RateLimit};

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn new() -> (FakeDropbox, Client) {
        let fake = FakeDropbox::start().await;
        let token = fake.issue_token(&fake.account_id());
        let client = Client {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: fake.url().to_string(),
            token,
        };
        (fake, client)
    }

    async fn rpc(&self, route: &str, arg: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/2/{route}", self.base))
            .bearer_auth(&self.token)
            .json(&arg)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn content(&self, route: &str, arg: &str, body: &'static [u8]) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/2/{route}", self.base))
            .bearer_auth(&self.token)
            .header("Dropbox-API-Arg", arg)
            .header("Content-Type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn unknown_expired_and_missing_tokens_are_refused_as_dropbox_does() {
    let (fake, mut c) = Client::new().await;
    let good = c.token.clone();
    c.token = "nope".into();
    let (status, body) = c.rpc("users/get_current_account", Value::Null).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"error_summary": "invalid_access_token/..", "error": {".tag": "invalid_access_token"}})
    );
    fake.expire_token(&good);
    c.token = good;
    let (status, body) = c.rpc("users/get_current_account", Value::Null).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"][".tag"], "expired_access_token");
    assert!(body["error_summary"]
        .as_str()
        .unwrap()
        .starts_with("expired_access_token/"));
    let r = c
        .http
        .post(format!("{}/2/users/get_current_account", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Authorization"));
}

#[tokio::test]
async fn the_current_account_is_a_full_account() {
    let (fake, c) = Client::new().await;
    let r = c
        .http
        .post(format!("{}/2/users/get_current_account", c.base))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let account: Value = r.json().await.unwrap();
    assert_eq!(account["account_id"], fake.account_id());
    assert_eq!(account["email"], "franz@example.com");
    assert_eq!(account["name"]["display_name"], "Franz Ferdinand");
    assert_eq!(account["root_info"][".tag"], "user");
    // A void route takes no argument: an object is bad input.
    let (status, _) = c.rpc("users/get_current_account", json!({"x": 1})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn endpoint_errors_are_tagged_unions_with_a_summary() {
    let (_fake, c) = Client::new().await;
    let (status, body) = c
        .rpc("files/get_metadata", json!({"path": "/Missing"}))
        .await;
    assert_eq!(status, 409);
    assert_eq!(
        body,
        json!({"error_summary": "path/not_found/..", "error": {".tag": "path", "path": {".tag": "not_found"}}})
    );
    let (status, made) = c
        .rpc("files/create_folder_v2", json!({"path": "/Docs"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(made["metadata"][".tag"], "folder");
    assert_eq!(made["metadata"]["path_display"], "/Docs");
    let (status, body) = c
        .rpc("files/create_folder_v2", json!({"path": "/docs"}))
        .await;
    assert_eq!(status, 409);
    assert_eq!(body["error_summary"], "path/conflict/folder/..");
    assert_eq!(body["error"]["path"]["conflict"][".tag"], "folder");
    let (status, body) = c.rpc("files/delete_v2", json!({"path": "/nothing"})).await;
    assert_eq!(
        (status, body["error_summary"].as_str()),
        (409, Some("path_lookup/not_found/.."))
    );
    let (status, body) = c
        .rpc(
            "files/move_v2",
            json!({"from_path": "/docs", "to_path": "/Docs/inner"}),
        )
        .await;
    assert_eq!(
        (status, body["error"][".tag"].as_str()),
        (409, Some("cant_move_folder_into_itself"))
    );
    let (status, body) = c.rpc("files/list_folder", json!({"path": "/Docs/x"})).await;
    assert_eq!(
        (status, body["error_summary"].as_str()),
        (409, Some("path/not_found/.."))
    );
    // Unknown fields and "/" for the root are bad input, in plain text.
    let (status, _) = c.rpc("files/list_folder", json!({"path": "/"})).await;
    assert_eq!(status, 400);
    let (status, _) = c
        .rpc("files/list_folder", json!({"path": "", "bogus": true}))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn uploads_conflict_and_sessions_check_offsets() {
    let (fake, c) = Client::new().await;
    let (status, file) = c
        .content(
            "files/upload",
            r#"{"path": "/A.txt", "mode": "add"}"#,
            b"one",
        )
        .await;
    assert_eq!(status, 200, "{file}");
    assert_eq!(
        (file[".tag"].as_str(), file["size"].as_u64()),
        (Some("file"), Some(3))
    );
    assert!(file["rev"].as_str().unwrap().len() >= 9);
    let (status, body) = c
        .content(
            "files/upload",
            r#"{"path": "/a.txt", "mode": "add", "autorename": false}"#,
            b"two",
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(body["error_summary"], "path/conflict/file/..");
    assert_eq!(body["error"]["reason"]["conflict"][".tag"], "file");
    assert!(body["error"]["upload_session_id"].is_string());
    let (status, _) = c
        .content(
            "files/upload",
            r#"{"path": "/a.txt", "mode": {".tag": "overwrite"}}"#,
            b"two",
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(fake.contents(&fake.account_id(), "/A.TXT").unwrap(), b"two");

    // Non-ASCII in the header must be escaped.
    let raw = c
        .http
        .post(format!("{}/2/files/upload", c.base))
        .bearer_auth(&c.token)
        .header(
            "Dropbox-API-Arg",
            reqwest::header::HeaderValue::from_bytes("{\"path\": \"/ü\"}".as_bytes()).unwrap(),
        )
        .header("Content-Type", "application/octet-stream")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let (status, _) = c
        .content("files/upload", r#"{"path": "/\u00fc.txt"}"#, b"u")
        .await;
    assert_eq!(status, 200);

    let (_, started) = c.content("files/upload_session/start", "{}", b"abc").await;
    let id = started["session_id"].as_str().unwrap().to_string();
    let arg = json!({"cursor": {"session_id": id, "offset": 1}}).to_string();
    let (status, body) = c
        .content("files/upload_session/append_v2", &arg, b"def")
        .await;
    assert_eq!(status, 409);
    assert_eq!(
        body,
        json!({"error_summary": "incorrect_offset/..", "error": {".tag": "incorrect_offset", "correct_offset": 3}})
    );
    let arg = json!({"cursor": {"session_id": id, "offset": 3}}).to_string();
    assert_eq!(
        c.content("files/upload_session/append_v2", &arg, b"def")
            .await
            .0,
        200
    );
    let arg = json!({"cursor": {"session_id": id, "offset": 6}, "commit": {"path": "/s.bin"}})
        .to_string();
    let (status, file) = c.content("files/upload_session/finish", &arg, b"g").await;
    assert_eq!((status, file["size"].as_u64()), (200, Some(7)));
    let (status, body) = c.content("files/upload_session/finish", &arg, b"").await;
    assert_eq!(
        (status, body["error_summary"].as_str()),
        (409, Some("lookup_failed/not_found/.."))
    );
}

#[tokio::test]
async fn downloads_carry_their_metadata_and_honour_ranges() {
    let (_fake, c) = Client::new().await;
    c.content(
        "files/upload",
        r#"{"path": "/d\u00e9j\u00e0.txt"}"#,
        b"0123456789",
    )
    .await;
    let download = |range: Option<&'static str>| {
        let mut r = c
            .http
            .post(format!("{}/2/files/download", c.base))
            .bearer_auth(&c.token)
            .header("Dropbox-API-Arg", r#"{"path": "/D\u00c9J\u00c0.txt"}"#);
        if let Some(range) = range {
            r = r.header("Range", range);
        }
        r.send()
    };
    let r = download(None).await.unwrap();
    assert_eq!(r.status(), 200);
    let result = r.headers()["dropbox-api-result"]
        .to_str()
        .unwrap()
        .to_string();
    let meta: Value = serde_json::from_str(&result).unwrap();
    assert_eq!(meta["name"], "déjà.txt");
    assert_eq!(r.text().await.unwrap(), "0123456789");
    let r = download(Some("bytes=2-4")).await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 2-4/10");
    assert_eq!(r.text().await.unwrap(), "234");
    assert_eq!(download(Some("bytes=10-")).await.unwrap().status(), 416);
}

#[tokio::test]
async fn listings_page_then_report_changes() {
    let (fake, c) = Client::new().await;
    for name in ["a", "b", "c"] {
        let arg = format!(r#"{{"path": "/F/{name}.txt"}}"#);
        c.content("files/upload", &arg, b"x").await;
    }
    fake.set_page_limit(2);
    let (_, first) = c.rpc("files/list_folder", json!({"path": "/f"})).await;
    assert_eq!(
        (
            first["entries"].as_array().unwrap().len(),
            first["has_more"].as_bool()
        ),
        (2, Some(true))
    );
    let (_, second) = c
        .rpc(
            "files/list_folder/continue",
            json!({"cursor": first["cursor"]}),
        )
        .await;
    assert_eq!(
        (
            second["entries"].as_array().unwrap().len(),
            second["has_more"].as_bool()
        ),
        (1, Some(false))
    );
    c.rpc("files/delete_v2", json!({"path": "/F/a.txt"})).await;
    let (_, changes) = c
        .rpc(
            "files/list_folder/continue",
            json!({"cursor": second["cursor"]}),
        )
        .await;
    assert_eq!(
        changes["entries"],
        json!([{".tag": "deleted", "name": "a.txt", "path_lower": "/f/a.txt", "path_display": "/F/a.txt"}])
    );
    let (_, recursive) = c
        .rpc(
            "files/list_folder",
            json!({"path": "", "recursive": true, "limit": 100}),
        )
        .await;
    assert_eq!(recursive["entries"][0]["path_display"], "/F");
    fake.reset_cursors();
    let (status, body) = c
        .rpc(
            "files/list_folder/continue",
            json!({"cursor": changes["cursor"]}),
        )
        .await;
    assert_eq!(
        (status, body["error_summary"].as_str()),
        (409, Some("reset/.."))
    );
    let (status, _) = c
        .rpc("files/list_folder/continue", json!({"cursor": "garbage"}))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn injected_rate_limits_and_write_contention() {
    let (fake, c) = Client::new().await;
    fake.throttle(2, RateLimit::TooManyWriteOperations, 3);
    for _ in 0..2 {
        let r = c
            .http
            .post(format!("{}/2/users/get_current_account", c.base))
            .bearer_auth(&c.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "3");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body,
            json!({"error_summary": "too_many_write_operations/..", "error": {"reason": {".tag": "too_many_write_operations"}, "retry_after": 3}})
        );
    }
    assert_eq!(c.rpc("users/get_current_account", Value::Null).await.0, 200);
    fake.contend_writes(1);
    let (status, body) = c.rpc("files/create_folder_v2", json!({"path": "/x"})).await;
    assert_eq!(
        (status, body["error_summary"].as_str()),
        (409, Some("path/too_many_write_operations/.."))
    );
    assert_eq!(
        c.rpc("files/create_folder_v2", json!({"path": "/x"}))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn oauth_codes_with_pkce_and_refresh_tokens() {
    let (fake, c) = Client::new().await;
    fake.register_client("app-key", "app-secret");
    let authorize = |extra: &str| {
        c.http
            .get(format!(
                "{}?client_id=app-key&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%2Fcb&state=st&token_access_type=offline{extra}",
                fake.authorize_url()
            ))
            .send()
    };
    let r = authorize(
        "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("http://localhost/cb?code="),
        "{location}"
    );
    assert!(location.ends_with("&state=st"));
    let code = location
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let exchange = |verifier: &'static str, code: String| {
        c.http
            .post(fake.token_url())
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", "app-key"),
                ("redirect_uri", "http://localhost/cb"),
                ("code_verifier", verifier),
            ])
            .send()
    };
    let r = exchange(
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        code.to_string(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let granted: Value = r.json().await.unwrap();
    assert_eq!(
        (
            granted["token_type"].as_str(),
            granted["expires_in"].as_u64()
        ),
        (Some("bearer"), Some(14400))
    );
    assert_eq!(granted["account_id"], fake.account_id());
    // Codes are single use.
    let r = exchange(
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        code.to_string(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");

    let refresh = |token: String| {
        c.http
            .post(fake.token_url())
            .basic_auth("app-key", Some("app-secret"))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", &token)])
            .send()
    };
    let r = refresh(granted["refresh_token"].as_str().unwrap().to_string())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let fresh: Value = r.json().await.unwrap();
    assert!(fresh["access_token"].is_string() && fresh.get("refresh_token").is_none());
    let r = refresh("bogus".into()).await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");

    fake.deny_next_authorization();
    let r = authorize("").await.unwrap();
    let location = r.headers()["location"].to_str().unwrap();
    assert!(
        location.contains("error=access_denied") && location.contains("state=st"),
        "{location}"
    );
}

#[tokio::test]
async fn members_of_files_and_shared_folders_answer_as_dropbox_documents() {
    let (fake, c) = Client::new().await;
    let ann = fake.add_user("ann@example.com", "Ann", "Example");
    let (_, folder) = c
        .rpc("files/create_folder_v2", json!({"path": "/Team"}))
        .await;
    let folder_id = folder["metadata"]["id"].as_str().unwrap().to_string();
    c.rpc("files/create_folder_v2", json!({"path": "/Team/Inner"}))
        .await;

    // A folder is shared first; then it says so in its metadata.
    let (status, shared) = c
        .rpc("sharing/share_folder", json!({"path": folder_id}))
        .await;
    assert_eq!(
        (status, shared[".tag"].as_str()),
        (200, Some("complete")),
        "{shared}"
    );
    let share = shared["shared_folder_id"].as_str().unwrap().to_string();
    let (_, again) = c
        .rpc("sharing/share_folder", json!({"path": "/team"}))
        .await;
    assert_eq!(
        again["error_summary"].as_str().unwrap(),
        "bad_path/already_shared/.."
    );
    let (_, inner) = c
        .rpc("sharing/share_folder", json!({"path": "/Team/Inner"}))
        .await;
    assert_eq!(
        inner["error_summary"].as_str().unwrap(),
        "bad_path/inside_shared_folder/.."
    );
    let (_, meta) = c
        .rpc("files/get_metadata", json!({"path": "/Team/Inner"}))
        .await;
    assert_eq!(
        meta["sharing_info"]["parent_shared_folder_id"],
        share.as_str()
    );

    // Members: a user, an invitee; paged with a cursor.
    let members = json!([
        {"member": {".tag": "email", "email": "Ann@example.com"}, "access_level": {".tag": "editor"}},
        {"member": {".tag": "email", "email": "new@example.com"}},
    ]);
    let (status, added) = c
        .rpc(
            "sharing/add_folder_member",
            json!({"shared_folder_id": share, "members": members}),
        )
        .await;
    assert_eq!((status, added), (200, Value::Null));
    let (_, page) = c
        .rpc(
            "sharing/list_folder_members",
            json!({"shared_folder_id": share, "limit": 2}),
        )
        .await;
    assert_eq!(page["users"][0]["access_type"][".tag"], "owner");
    assert_eq!(page["users"][1]["user"]["account_id"], ann.as_str());
    let (_, rest) = c
        .rpc(
            "sharing/list_folder_members/continue",
            json!({"cursor": page["cursor"]}),
        )
        .await;
    assert_eq!(rest["invitees"][0]["invitee"]["email"], "new@example.com");
    assert_eq!(rest["invitees"][0]["access_type"][".tag"], "viewer");

    // Removing is a job; the owner cannot be removed.
    let dropbox_id = json!({".tag": "dropbox_id", "dropbox_id": ann});
    let (_, job) = c
        .rpc(
            "sharing/remove_folder_member",
            json!({"shared_folder_id": share, "member": dropbox_id, "leave_a_copy": false}),
        )
        .await;
    assert_eq!(job[".tag"], "async_job_id");
    let (_, done) = c
        .rpc(
            "sharing/check_remove_member_job_status",
            json!({"async_job_id": job["async_job_id"]}),
        )
        .await;
    assert_eq!(done[".tag"], "complete");
    let me = json!({".tag": "dropbox_id", "dropbox_id": fake.account_id()});
    let (status, owner) = c
        .rpc(
            "sharing/remove_folder_member",
            json!({"shared_folder_id": share, "member": me, "leave_a_copy": false}),
        )
        .await;
    assert_eq!(
        (status, owner["error_summary"].as_str()),
        (409, Some("folder_owner/.."))
    );

    // Files: members per file, errors per member.
    c.content("files/upload", r#"{"path": "/a.txt"}"#, b"a")
        .await;
    let (_, results) = c
        .rpc(
            "sharing/add_file_member",
            json!({"file": "/a.txt", "members": [{".tag": "email", "email": "bob@example.com"},
                                                 {".tag": "email", "email": "nope"}],
                   "access_level": "viewer_no_comment"}),
        )
        .await;
    assert_eq!(results[0]["result"][".tag"], "success");
    assert_eq!(results[1]["result"][".tag"], "member_error");
    assert_eq!(
        fake.members(&fake.account_id(), "/A.TXT"),
        [
            ("franz@example.com".to_string(), "owner".to_string()),
            ("bob@example.com".into(), "viewer_no_comment".into())
        ]
    );
    let (_, folder_as_file) = c
        .rpc("sharing/list_file_members", json!({"file": "/Team"}))
        .await;
    assert_eq!(
        folder_as_file["error_summary"].as_str().unwrap(),
        "access_error/is_folder/.."
    );
    let bob = json!({".tag": "email", "email": "bob@example.com"});
    let (_, removed) = c
        .rpc(
            "sharing/remove_file_member_2",
            json!({"file": "/a.txt", "member": bob}),
        )
        .await;
    assert_eq!(removed[".tag"], "success");
    let (_, again) = c
        .rpc(
            "sharing/remove_file_member_2",
            json!({"file": "/a.txt", "member": bob}),
        )
        .await;
    assert_eq!(again[".tag"], "member_error");
}
