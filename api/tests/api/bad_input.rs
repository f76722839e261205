//! Every refusal is a Kloudless error: NUL characters in path ids, query and form fields
//! and JSON strings (400 at parsing, before any database or service sees them), rejected
//! extractors, unknown routes and methods, oversized bodies and headers.

use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

use crate::helpers::{assert_error, Go, TestApp, STORAGE};

/// Who sends a request of the table.
#[derive(Clone, Copy, Debug)]
enum Who {
    Nobody,
    Developer,
    ApiKey,
    Bearer,
}

/// What a request of the table carries.
#[derive(Clone, Debug)]
enum Body {
    None,
    Json(Value),
    Form(&'static str),
}

/// One case: a request and the error it must get.
struct Case {
    method: Method,
    /// `{app}` is the application's id, `{file}` a file of the account.
    path: &'static str,
    who: Who,
    body: Body,
    status: u16,
    code: &'static str,
    /// An OAuth page a browser looks at: the refusal is an HTML page, not JSON.
    page: bool,
}

fn case(method: Method, path: &'static str, who: Who, body: Body) -> Case {
    Case {
        method,
        path,
        who,
        body,
        status: 400,
        code: "invalid_parameters",
        page: false,
    }
}

/// A case at an OAuth page, refused with a 400 page.
fn page_case(method: Method, path: &'static str, body: Body) -> Case {
    Case {
        page: true,
        ..case(method, path, Who::Nobody, body)
    }
}

/// A NUL in each string path parameter of `api/src/routes/mod.rs` whose handler reads it as
/// text (account ids are numbers, file and folder ids base64: those were refused already),
/// and in JSON strings, query and form fields that reach PostgreSQL or a service.
fn nul_cases() -> Vec<Case> {
    use Body::{Form, Json, None};
    use Method as M;
    use Who::*;
    let nul = "a\u{0}b";
    vec![
        // Shared links and the OAuth flow: no credentials.
        case(M::GET, "/l/%00", Nobody, None),
        case(M::POST, "/l/%00", Nobody, Form("password=x")),
        page_case(M::POST, "/v1/oauth/flows/%00", Form("service=local")),
        page_case(M::POST, "/v1/oauth/flows/f", Form("service=a%00b")),
        page_case(M::GET, "/v1/oauth?client_id=%00&redirect_uri=x", None),
        page_case(M::GET, "/v1/oauth/callback?state=%00&code=c", None),
        case(
            M::POST,
            "/v1/oauth/token",
            Nobody,
            Form("grant_type=authorization_code&code=%00&client_id=a&client_secret=b"),
        ),
        // Management API.
        case(M::GET, "/v1/applications/%00", Developer, None),
        case(M::PATCH, "/v1/applications/%00", Developer, Json(json!({}))),
        case(M::DELETE, "/v1/applications/%00", Developer, None),
        case(M::GET, "/v1/applications/%00/apikeys", Developer, None),
        case(M::POST, "/v1/applications/%00/apikeys", Developer, None),
        case(
            M::DELETE,
            "/v1/applications/{app}/apikeys/%00",
            Developer,
            None,
        ),
        case(
            M::GET,
            "/v1/applications/%00/redirect_uris",
            Developer,
            None,
        ),
        case(M::GET, "/v1/applications/%00/service_keys", Developer, None),
        case(
            M::PUT,
            "/v1/applications/{app}/service_keys/%00",
            Developer,
            Json(json!({"client_id": "a", "client_secret": "b"})),
        ),
        case(
            M::DELETE,
            "/v1/applications/{app}/service_keys/%00",
            Developer,
            None,
        ),
        case(M::GET, "/v1/applications/%00/webhooks", Developer, None),
        case(
            M::GET,
            "/v1/applications/{app}/webhooks/%00",
            Developer,
            None,
        ),
        case(
            M::DELETE,
            "/v1/applications/{app}/webhooks/%00",
            Developer,
            None,
        ),
        case(
            M::GET,
            "/v1/applications/{app}/webhooks/%00/deliveries",
            Developer,
            None,
        ),
        case(
            M::GET,
            "/v1/applications/{app}/webhooks/1/deliveries/%00",
            Developer,
            None,
        ),
        case(
            M::POST,
            "/v1/applications/{app}/webhooks/1/deliveries/%00/replay",
            Developer,
            None,
        ),
        case(
            M::POST,
            "/v1/applications/{app}/webhooks/%00/replay",
            Developer,
            None,
        ),
        case(
            M::POST,
            "/v1/applications",
            Developer,
            Json(json!({"name": nul})),
        ),
        case(
            M::PATCH,
            "/v1/applications/{app}",
            Developer,
            Json(json!({"name": nul})),
        ),
        case(
            M::PATCH,
            "/v1/applications/{app}",
            Developer,
            Json(json!({"description": nul})),
        ),
        case(
            M::PUT,
            "/v1/applications/{app}/redirect_uris",
            Developer,
            Json(json!({"redirect_uris": [format!("https://app.example/{nul}")]})),
        ),
        case(
            M::PUT,
            "/v1/applications/{app}/service_keys/gdrive",
            Developer,
            Json(json!({"client_id": nul, "client_secret": "s"})),
        ),
        case(
            M::POST,
            "/v1/applications/{app}/webhooks",
            Developer,
            Json(json!({"url": format!("https://hooks.example/{nul}")})),
        ),
        // Accounts and storage.
        case(
            M::POST,
            "/v1/accounts",
            ApiKey,
            Json(json!({"account": nul, "service": "local"})),
        ),
        case(
            M::PATCH,
            "/v1/accounts/me",
            Bearer,
            Json(json!({"account": nul})),
        ),
        case(M::GET, "/v1/accounts/me/storage/links/%00", Bearer, None),
        case(
            M::PATCH,
            "/v1/accounts/me/storage/links/%00",
            Bearer,
            Json(json!({})),
        ),
        case(M::DELETE, "/v1/accounts/me/storage/links/%00", Bearer, None),
        case(
            M::POST,
            "/v1/accounts/me/storage/links",
            Bearer,
            Json(json!({"file_id": nul})),
        ),
        case(M::GET, "/v1/accounts/me/tasks/%00", Bearer, None),
        case(
            M::GET,
            "/v1/accounts/me/storage/multipart/%00",
            Bearer,
            None,
        ),
        case(
            M::PUT,
            "/v1/accounts/me/storage/multipart/%00?part_number=1",
            Bearer,
            None,
        ),
        case(
            M::DELETE,
            "/v1/accounts/me/storage/multipart/%00",
            Bearer,
            None,
        ),
        case(
            M::POST,
            "/v1/accounts/me/storage/multipart/%00/complete",
            Bearer,
            None,
        ),
        case(
            M::PATCH,
            "/v1/accounts/me/storage/files/{file}/properties",
            Bearer,
            Json(json!([{"key": nul, "value": "v"}])),
        ),
        case(
            M::PATCH,
            "/v1/accounts/me/storage/files/{file}/properties",
            Bearer,
            Json(json!([{"key": "k", "value": nul}])),
        ),
        case(
            M::POST,
            "/v1/accounts/me/storage/folders",
            Bearer,
            Json(json!({"parent_id": "root", "name": nul})),
        ),
        case(
            M::PATCH,
            "/v1/accounts/me/storage/files/{file}",
            Bearer,
            Json(json!({"name": nul})),
        ),
        case(
            M::POST,
            "/v1/accounts/me/storage/multipart",
            Bearer,
            Json(json!({"parent_id": "root", "name": nul, "size": 1})),
        ),
        case(M::GET, "/v1/accounts/me/storage/search?q=%00", Bearer, None),
        case(M::GET, "/v1/accounts/me/events?cursor=%00", Bearer, None),
        case(
            M::POST,
            "/v1/accounts/me/encode_raw_id",
            Bearer,
            Json(json!({"raw_id": nul})),
        ),
    ]
}

/// Rejected extractors, routing and body limits: each in the Kloudless shape.
fn rejection_cases() -> Vec<Case> {
    use Method as M;
    let with = |c: Case, status: u16, code: &'static str| Case { status, code, ..c };
    vec![
        // Not JSON, and JSON of the wrong shape.
        with(
            case(
                M::POST,
                "/v1/applications",
                Who::Developer,
                Body::Form("{not json"),
            ),
            400,
            "bad_request",
        ),
        with(
            case(
                M::POST,
                "/v1/applications",
                Who::Developer,
                Body::Json(json!({"name": 7})),
            ),
            400,
            "bad_request",
        ),
        // An upload that is neither a file (no metadata) nor JSON (wrong content type).
        case(
            M::POST,
            "/v1/accounts/me/storage/files",
            Who::Bearer,
            Body::Form("bytes"),
        ),
        // A required query field missing, and a query that is not UTF-8.
        case(
            M::GET,
            "/v1/accounts/me/storage/search",
            Who::Bearer,
            Body::None,
        ),
        case(M::GET, "/v1/accounts?page=%FF", Who::ApiKey, Body::None),
        // A path parameter that is not UTF-8.
        with(
            case(M::GET, "/v1/applications/%FF", Who::Developer, Body::None),
            400,
            "bad_request",
        ),
        with(
            case(M::PUT, "/v1/accounts", Who::ApiKey, Body::None),
            405,
            "method_not_allowed",
        ),
        with(
            case(M::GET, "/v1/no/such/route", Who::Nobody, Body::None),
            404,
            "not_found",
        ),
        with(
            case(
                M::POST,
                "/v1/applications",
                Who::Developer,
                Body::Json(json!({"name": "x".repeat(8192)})),
            ),
            413,
            "request_too_large",
        ),
    ]
}

struct Fixture {
    app: TestApp,
    app_id: String,
    key: String,
    token: String,
    file: String,
}

impl Fixture {
    async fn new() -> Self {
        let app = TestApp::builder()
            .settings(|s| s.api.max_json_bytes = 4096)
            .spawn()
            .await;
        let (app_id, key) = app.create_app("bad input").await;
        let (_, token) = app.import_local(&key, "alice").await;
        let file: Value = app
            .with_token(&token)
            .upload("root", "f.txt", "x")
            .await
            .json()
            .await
            .unwrap();
        let file = file["id"].as_str().unwrap().to_string();
        Self {
            app,
            app_id,
            key,
            token,
            file,
        }
    }

    fn request(&self, c: &Case) -> RequestBuilder {
        let path = c
            .path
            .replace("{app}", &self.app_id)
            .replace("{file}", &self.file);
        let caller = match c.who {
            Who::Nobody => self.app.anonymous(),
            Who::Developer => self.app.dev_caller(),
            Who::ApiKey => self.app.with_key(&self.key),
            Who::Bearer => self.app.with_token(&self.token),
        };
        let r = caller.req(c.method.clone(), &path);
        match &c.body {
            Body::None => r,
            Body::Json(v) => r.json(v),
            Body::Form(text) => r
                .header("content-type", "application/x-www-form-urlencoded")
                .body(*text),
        }
    }

    /// Sends every case; returns the ones answered otherwise than expected.
    async fn failures(&self, cases: &[Case]) -> Vec<String> {
        let mut failed = Vec::new();
        for c in cases {
            let r = self.request(c).go().await;
            let status = r.status().as_u16();
            if c.page {
                let html = r
                    .headers()
                    .get("content-type")
                    .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/html"));
                if status != c.status || !html {
                    failed.push(format!(
                        "{} {}: {status}, not an HTML page",
                        c.method, c.path
                    ));
                }
                continue;
            }
            let json = r
                .headers()
                .get("content-type")
                .is_some_and(|v| v == "application/json");
            let id = r.headers().get("x-request-id").cloned();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            let shaped = json
                && body["status_code"] == status
                && body["error_code"] == c.code
                && body["message"].as_str().is_some_and(|m| !m.is_empty())
                && id.is_some_and(|id| body["id"] == id.to_str().unwrap());
            if status != c.status || !shaped {
                failed.push(format!(
                    "{} {} ({:?}): {status} {body}",
                    c.method, c.path, c.who
                ));
            }
        }
        failed
    }
}

/// Runs `cases` against a fresh system and fails listing every case answered wrongly.
async fn assert_all_answered(cases: Vec<Case>) {
    let f = Fixture::new().await;
    let failed = f.failures(&cases).await;
    assert!(
        failed.is_empty(),
        "{} of {}:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}

#[tokio::test]
async fn nul_characters_are_refused_at_parsing() {
    assert_all_answered(nul_cases()).await;
}

#[tokio::test]
async fn rejected_requests_get_kloudless_errors() {
    assert_all_answered(rejection_cases()).await;
}

#[tokio::test]
async fn oversized_headers_get_a_kloudless_431() {
    let f = Fixture::new().await;
    let big = format!("Bearer {}", "x".repeat(300 << 10));
    let r = f
        .app
        .with_auth(big)
        .get(&format!("{STORAGE}/folders/root"))
        .await;
    assert_error(r, 431, "request_header_fields_too_large").await;
    // Many small headers add up the same way.
    let mut r = f
        .app
        .with_token(&f.token)
        .req(Method::GET, &format!("{STORAGE}/folders/root"));
    for n in 0..90 {
        r = r.header(format!("x-filler-{n}"), "y".repeat(1024));
    }
    assert_error(r.go().await, 431, "request_header_fields_too_large").await;
}

/// A 1 MiB `Authorization` header is past hyper's default read buffer (about 400 KiB),
/// where hyper answers 431 itself without a body: the listener raises it to 2 MiB.
#[tokio::test]
async fn a_one_megabyte_authorization_header_gets_a_kloudless_431() {
    let f = Fixture::new().await;
    let big = format!("Bearer {}", "x".repeat(1 << 20));
    let r = f.app.with_auth(big).get("/v1/accounts/me").await;
    assert_error(r, 431, "request_header_fields_too_large").await;
}
