//! The test harness: a fresh database, an own Redis prefix and data root per test, the
//! API served on a free port and real workers, in-process or as separate processes.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use cloudbridge_api::Application;
use cloudbridge_shared::{Secret, Settings};
use reqwest::{Body, Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// PostgreSQL server used by the tests (its `postgres` database is the admin entry).
pub fn postgres_admin_url() -> String {
    std::env::var("CLOUDBRIDGE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Redis used by the tests.
pub fn redis_url() -> String {
    std::env::var("CLOUDBRIDGE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The loopback networks the test servers listen on.
pub fn loopback_networks() -> Vec<ipnet::IpNet> {
    ["127.0.0.0/8", "::1/128"]
        .iter()
        .map(|n| n.parse().unwrap())
        .collect()
}

/// Settings tweak: outbound connections to client-chosen hosts reach public addresses
/// only, as in production without an allow-list.
pub fn public_only(s: &mut Settings) {
    s.network.account_allow.clear();
    s.network.url_upload_allow.clear();
    s.network.webhook_allow.clear();
}

/// Settings isolated to one test: own database name, Redis prefix and data root.
pub struct Isolated {
    pub settings: Settings,
    pub db_name: String,
    pub data_root: tempfile::TempDir,
}

impl Isolated {
    pub async fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let db_name = format!("cbtest_{id}");
        let admin = sqlx::PgPool::connect(&format!("{}/postgres", postgres_admin_url()))
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {db_name}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let data_root = tempfile::tempdir().unwrap();
        let mut settings = Settings::default();
        settings.database.url = Secret::new(format!("{}/{db_name}", postgres_admin_url()));
        settings.database.max_connections = 5;
        settings.redis.url = Secret::new(redis_url());
        settings.redis.prefix = format!("cbtest:{id}");
        settings.api.bind = "127.0.0.1:0".parse().unwrap();
        settings.portal.bind = "127.0.0.1:0".parse().unwrap();
        settings.api.tls_bind = "127.0.0.1:0".parse().unwrap();
        settings.portal.tls_bind = "127.0.0.1:0".parse().unwrap();
        settings.api.request_timeout_ms = 10_000;
        settings.api.shutdown_grace_ms = 1_000;
        settings.jobs.metrics_bind = "127.0.0.1:0".parse().unwrap();
        settings.jobs.heartbeat_secs = 1;
        settings.jobs.missed_heartbeats = 2;
        settings.scheduler.metrics_bind = "127.0.0.1:0".parse().unwrap();
        settings.local.data_root = data_root.path().to_path_buf();
        settings.log.filter = "warn".into();
        settings.widgets.bundles_dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../widgets/node_modules");
        settings.secrets.keys =
            Secret::new(cloudbridge_shared::crypto::Cipher::generate_key("test"));
        settings.bootstrap_developer_key = Some(Secret::new(format!("dk-{id}")));
        // The fake and real third-party servers of the tests listen on loopback.
        let loopback = loopback_networks();
        settings.network.account_allow = loopback.clone();
        settings.network.url_upload_allow = loopback.clone();
        settings.network.webhook_allow = loopback;
        Self {
            settings,
            db_name,
            data_root,
        }
    }
}

impl Drop for Isolated {
    fn drop(&mut self) {
        let url = format!("{}/postgres", postgres_admin_url());
        let _ = Command::new("psql")
            .args([
                &url,
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db_name),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // The test's Redis keys (queues, finished-job records) go with it.
        if let Ok(mut redis) = redis::Client::open(redis_url()).and_then(|c| c.get_connection()) {
            use redis::Commands;
            let pattern = format!("{}:*", self.settings.redis.prefix);
            let keys: Vec<String> = redis
                .scan_match(&pattern)
                .map(|keys| keys.filter_map(Result::ok).collect())
                .unwrap_or_default();
            for chunk in keys.chunks(500) {
                let _: redis::RedisResult<()> = redis::cmd("DEL").arg(chunk).query(&mut redis);
            }
        }
    }
}

/// A running Cloudbridge for one test.
pub struct TestApp {
    pub base: String,
    /// The developer portal's base URL.
    pub portal: String,
    /// The plain-HTTP base URL (the same as `base` unless TLS is configured).
    pub plain_base: String,
    pub client: reqwest::Client,
    pub developer_key: String,
    pub iso: Isolated,
    pub shutdown: CancellationToken,
    workers: Vec<CancellationToken>,
}

/// How to start a [`TestApp`].
pub struct Builder {
    workers: usize,
    client: Option<reqwest::Client>,
    tweak: Box<dyn FnOnce(&mut Settings)>,
}

impl TestApp {
    /// API plus one in-process worker.
    pub async fn spawn() -> Self {
        Self::builder().spawn().await
    }

    pub fn builder() -> Builder {
        Builder {
            workers: 1,
            client: None,
            tweak: Box::new(|_| {}),
        }
    }

    /// Starts one more in-process worker.
    pub fn start_worker(&mut self) {
        let token = CancellationToken::new();
        tokio::spawn(cloudbridge_jobs::run(
            self.iso.settings.clone(),
            token.clone(),
        ));
        self.workers.push(token);
    }

    /// Hands over the in-process workers' stop tokens (cancel them to stop the workers).
    pub fn take_workers(&mut self) -> Vec<CancellationToken> {
        std::mem::take(&mut self.workers)
    }

    pub fn settings(&self) -> &Settings {
        &self.iso.settings
    }

    pub fn data_root(&self) -> &Path {
        self.iso.data_root.path()
    }

    /// The folder of local account `id` on the data root.
    pub fn local_folder(&self, id: i64) -> PathBuf {
        self.data_root().join("accounts").join(id.to_string())
    }

    /// A connection pool to the test's database.
    pub async fn db(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(self.settings().database.url.expose())
            .await
            .unwrap()
    }

    /// Runs one removal of deleted accounts' data, as housekeeping does.
    pub async fn remove_accounts(&self) {
        let state = cloudbridge_jobs::WorkerState::build(self.settings()).unwrap();
        cloudbridge_jobs::remove_accounts(&state).await.unwrap();
    }

    /// How many deleted accounts still have data waiting for removal.
    pub async fn pending_removals(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM account_removals")
            .fetch_one(&self.db().await)
            .await
            .unwrap()
    }

    /// An unauthenticated request to `path` (relative to the API's base URL).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.anonymous().req(method, path)
    }

    /// A developer-authenticated request.
    pub fn dev(&self, method: Method, path: &str) -> RequestBuilder {
        self.dev_caller().req(method, path)
    }

    /// A caller sending `header` verbatim as its `Authorization` header.
    pub fn with_auth(&self, header: impl Into<String>) -> Caller {
        Caller {
            client: self.client.clone(),
            base: self.base.clone(),
            auth: Some(header.into()),
            prefix: "",
        }
    }

    /// A caller without an `Authorization` header.
    pub fn anonymous(&self) -> Caller {
        Caller {
            auth: None,
            ..self.with_auth("")
        }
    }

    /// A caller authenticated with the bootstrap developer key (`DeveloperKey …`).
    pub fn dev_caller(&self) -> Caller {
        self.with_auth(format!("DeveloperKey {}", self.developer_key))
    }

    /// A caller authenticated with an application's API key (`APIKey …`).
    pub fn with_key(&self, api_key: &str) -> Caller {
        self.with_auth(format!("APIKey {api_key}"))
    }

    /// A caller authenticated with an account's bearer token (`Bearer …`).
    pub fn with_token(&self, token: &str) -> Caller {
        self.with_auth(bearer(token))
    }

    /// Creates an application; returns `(id, api_key)`.
    pub async fn create_app(&self, name: &str) -> (String, String) {
        let r = self
            .dev_caller()
            .post_json("/v1/applications", &json!({"name": name}))
            .await;
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        (
            body["id"].as_str().unwrap().into(),
            body["api_key"].as_str().unwrap().into(),
        )
    }

    /// Imports a local account; returns `(account id, bearer token)`.
    pub async fn import_local(&self, api_key: &str, name: &str) -> (i64, String) {
        let r = self
            .with_key(api_key)
            .post_json(
                "/v1/accounts",
                &json!({"account": name, "service": "local"}),
            )
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let body: Value = r.json().await.unwrap();
        (
            body["id"].as_i64().unwrap(),
            body["bearer_token"]["key"].as_str().unwrap().into(),
        )
    }

    /// An application with one local account: `(api_key, account id, bearer token)`.
    pub async fn account(&self) -> (String, i64, String) {
        let (_, key) = self.create_app("test").await;
        let (id, token) = self.import_local(&key, "alice").await;
        (key, id, token)
    }
}

/// Path prefix of the storage API of the account a bearer token belongs to.
pub const STORAGE: &str = "/v1/accounts/me/storage";

/// Sends requests to a [`TestApp`] as one client: every request carries the same
/// `Authorization` header (none for [`TestApp::anonymous`]), and paths are relative to
/// the API's base URL plus an optional prefix (see [`Caller::under`]).
///
/// Built by [`TestApp::dev_caller`], [`TestApp::with_key`], [`TestApp::with_token`],
/// [`TestApp::anonymous`] or [`TestApp::with_auth`]. It owns a handle to the shared HTTP
/// client rather than borrowing the app, so it is cheap to clone and can move into
/// spawned tasks.
///
/// The sending methods panic only if the request cannot be sent at all; they return the
/// response whatever its status, so the tests still assert on every status.
#[derive(Clone)]
pub struct Caller {
    client: reqwest::Client,
    base: String,
    auth: Option<String>,
    prefix: &'static str,
}

impl Caller {
    /// The same caller with `prefix` put in front of every path given to it from now on,
    /// e.g. `app.with_token(&t).under(STORAGE).get("/folders/root")`.
    /// [`Caller::upload`] and [`Caller::root_contents`] ignore the prefix.
    pub fn under(mut self, prefix: &'static str) -> Self {
        self.prefix = prefix;
        self
    }

    /// A request to `prefix + path` with the caller's `Authorization` header, to finish
    /// (headers, body) and send.
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.absolute(method, &format!("{}{path}", self.prefix))
    }

    /// A request to `path` (no prefix) with the caller's `Authorization` header.
    fn absolute(&self, method: Method, path: &str) -> RequestBuilder {
        let r = self.client.request(method, format!("{}{path}", self.base));
        match &self.auth {
            Some(auth) => r.header("Authorization", auth),
            None => r,
        }
    }

    /// Sends a request without a body.
    pub async fn send(&self, method: Method, path: &str) -> Response {
        self.req(method, path).go().await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Response {
        self.send(Method::DELETE, path).await
    }

    /// `GET path`, body parsed as JSON (the status is not checked).
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.unwrap()
    }

    /// Sends `body` as JSON.
    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Response {
        self.req(method, path).json(body).go().await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::POST, path, body).await
    }

    /// An upload of a file `name` into folder `parent`:
    /// `POST /v1/accounts/me/storage/files{query}` with the `X-Kloudless-Metadata` header
    /// and no `Content-Type`. Add the body, then send (e.g. with [`Go::go`]).
    pub fn upload_req(&self, parent: &str, name: &str, query: &str) -> RequestBuilder {
        self.absolute(Method::POST, &format!("{STORAGE}/files{query}"))
            .header(
                "X-Kloudless-Metadata",
                json!({"name": name, "parent_id": parent}).to_string(),
            )
    }

    /// Uploads `body` as file `name` into folder `parent` (see [`Caller::upload_req`]).
    pub async fn upload(&self, parent: &str, name: &str, body: impl Into<Body>) -> Response {
        self.upload_req(parent, name, "").body(body).go().await
    }

    /// The listing of the account's root folder
    /// (`GET /v1/accounts/me/storage/folders/root/contents`, status not checked).
    pub async fn root_contents(&self) -> Value {
        self.absolute(Method::GET, &format!("{STORAGE}/folders/root/contents"))
            .go()
            .await
            .json()
            .await
            .unwrap()
    }
}

/// Sending a finished request in one step.
pub trait Go {
    /// Sends the request and returns the response whatever its status; panics only if it
    /// could not be sent. Short for `.send().await.unwrap()`.
    fn go(self) -> impl std::future::Future<Output = Response>;
}

impl Go for RequestBuilder {
    async fn go(self) -> Response {
        self.send().await.unwrap()
    }
}

impl Builder {
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// The HTTP client of the app's callers (one that trusts a test CA, for TLS).
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    pub fn settings(mut self, f: impl FnOnce(&mut Settings) + 'static) -> Self {
        self.tweak = Box::new(f);
        self
    }

    pub async fn spawn(self) -> TestApp {
        let mut iso = Isolated::new().await;
        (self.tweak)(&mut iso.settings);
        let shutdown = CancellationToken::new();
        let app = Application::build(iso.settings.clone(), shutdown.clone())
            .await
            .unwrap();
        let plain_base = format!("http://127.0.0.1:{}", app.port());
        // With TLS configured, the tests talk HTTPS (the plain port redirects).
        let base = match app.tls_port() {
            Some(port) => format!("https://127.0.0.1:{port}"),
            None => plain_base.clone(),
        };
        let portal = format!("http://127.0.0.1:{}", app.portal_addr().port());
        tokio::spawn(app.run_until_stopped());
        let developer_key = iso
            .settings
            .bootstrap_developer_key
            .clone()
            .unwrap()
            .expose()
            .to_string();
        let mut test_app = TestApp {
            base,
            portal,
            plain_base,
            client: self.client.unwrap_or_default(),
            developer_key,
            iso,
            shutdown,
            workers: Vec::new(),
        };
        for _ in 0..self.workers {
            test_app.start_worker();
        }
        test_app.wait_ready().await;
        test_app
    }
}

impl TestApp {
    /// Waits until `/ready` answers 200.
    pub async fn wait_ready(&self) {
        wait_ready(&self.client, &self.base).await;
    }
}

pub async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/ready")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base} never became ready");
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        for w in &self.workers {
            w.cancel();
        }
    }
}

/// Reads a JSON error body and checks it is a Kloudless error with the given status/code.
pub async fn assert_error(r: Response, status: u16, code: &str) -> Value {
    assert_eq!(
        r.status(),
        StatusCode::from_u16(status).unwrap(),
        "unexpected status"
    );
    assert_eq!(r.headers()["content-type"], "application/json");
    let request_id = r
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_string());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status_code"], status, "{body}");
    assert_eq!(body["error_code"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    let id = body["id"].as_str().expect("error id");
    assert_eq!(
        Some(id.to_string()),
        request_id,
        "error id is the request id"
    );
    body
}

/// Authorization header value for a bearer token.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Networks as a comma-separated setting.
fn csv(networks: &[ipnet::IpNet]) -> String {
    networks
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A process of ours (api or jobs binary) with the test's settings in its environment.
pub struct Proc {
    pub child: Child,
}

impl Proc {
    pub fn spawn(binary: &str, settings: &Settings, extra: &[(&str, String)]) -> Self {
        let mut cmd = Command::new(binary_path(binary));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", settings.database.url.expose())
            .env("REDIS_URL", settings.redis.url.expose())
            .env("CLOUDBRIDGE_REDIS__PREFIX", &settings.redis.prefix)
            .env("CLOUDBRIDGE_LOCAL__DATA_ROOT", &settings.local.data_root)
            .env("CLOUDBRIDGE_PORTAL__BIND", "127.0.0.1:0")
            .env(
                "CLOUDBRIDGE_API__REQUEST_TIMEOUT_MS",
                settings.api.request_timeout_ms.to_string(),
            )
            .env(
                "CLOUDBRIDGE_JOBS__HEARTBEAT_SECS",
                settings.jobs.heartbeat_secs.to_string(),
            )
            .env(
                "CLOUDBRIDGE_JOBS__MISSED_HEARTBEATS",
                settings.jobs.missed_heartbeats.to_string(),
            )
            .env("CLOUDBRIDGE_JOBS__METRICS_BIND", "127.0.0.1:0")
            .env("CLOUDBRIDGE_LOG__FILTER", "warn")
            .env("CLOUDBRIDGE_SECRETS__KEYS", settings.secrets.keys.expose())
            .env(
                "CLOUDBRIDGE_NETWORK__ACCOUNT_ALLOW",
                csv(&settings.network.account_allow),
            )
            .env(
                "CLOUDBRIDGE_NETWORK__URL_UPLOAD_ALLOW",
                csv(&settings.network.url_upload_allow),
            )
            .env(
                "CLOUDBRIDGE_NETWORK__WEBHOOK_ALLOW",
                csv(&settings.network.webhook_allow),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(k) = &settings.bootstrap_developer_key {
            cmd.env("CLOUDBRIDGE_BOOTSTRAP_DEVELOPER_KEY", k.expose());
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        Self {
            child: cmd
                .spawn()
                .unwrap_or_else(|e| panic!("starting {binary}: {e}")),
        }
    }

    /// SIGTERM: the process's own shutdown path.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (30 s at most) for the process to exit; its exit status.
    pub async fn exited(&mut self) -> std::process::ExitStatus {
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the process did not exit");
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Path of one of the workspace's binaries (built by `cargo build --bins`).
pub fn binary_path(name: &str) -> PathBuf {
    let api = PathBuf::from(env!("CARGO_BIN_EXE_cloudbridge-api"));
    let path = api.with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --bins` first",
        path.display()
    );
    path
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A third-party server from the test venv on a free port, stopped on drop.
pub struct Server {
    child: std::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl Server {
    /// Starts `.venv/bin/<program>` with `args(port)` and waits until it answers HTTP.
    pub async fn start(program: &str, args: impl FnOnce(u16) -> Vec<String>) -> Self {
        let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../.venv/bin")
            .join(program);
        assert!(
            bin.exists(),
            "{} missing: run scripts/test.sh (installs it)",
            bin.display()
        );
        Self::start_bin(bin, args).await
    }

    /// Starts `bin` with `args(port)` and waits until it answers HTTP.
    pub async fn start_bin(bin: PathBuf, args: impl FnOnce(u16) -> Vec<String>) -> Self {
        let port = free_port();
        let child = std::process::Command::new(&bin)
            .args(args(port))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        // Owned before waiting, so a failed start still stops the process.
        let server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client.get(&server.endpoint).send().await.is_ok() {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} did not start", bin.display());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A moto S3 server with bucket `bucket-one`.
pub async fn moto() -> Server {
    let moto = Server::start("moto_server", |p| {
        ["-H", "127.0.0.1", "-p", &p.to_string()]
            .map(String::from)
            .to_vec()
    })
    .await;
    let created = reqwest::Client::new()
        .put(format!("{}/bucket-one", moto.endpoint))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success());
    moto
}

/// `rclone serve webdav` over `dir` with basic auth `dav` / `dav-password` (a strict server:
/// wsgidav 4 mangles MOVE destinations holding `#`).
pub async fn rclone_webdav(dir: &Path) -> Server {
    let served = dir.to_str().unwrap().to_string();
    Server::start_bin(PathBuf::from("rclone"), move |port| {
        let addr = format!("127.0.0.1:{port}");
        [
            "serve",
            "webdav",
            "--addr",
            &addr,
            "--user",
            "dav",
            "--pass",
            "dav-password",
            &served,
        ]
        .map(String::from)
        .to_vec()
    })
    .await
}

/// The user every [`radicale`] server knows.
pub const CALDAV_USER: &str = "cal";
/// Its password.
pub const CALDAV_PASSWORD: &str = "cal-password";

/// A Radicale CalDAV server (a real one, with `sync-collection`) storing its collections in
/// `dir` and logging in [`CALDAV_USER`] / [`CALDAV_PASSWORD`] (htpasswd, plain); each test
/// passes its own folder, so no two share a calendar. `.venv/bin/radicale` (scripts/test.sh
/// installs it), or the program `CLOUDBRIDGE_RADICALE` names.
pub async fn radicale(dir: &Path) -> Server {
    let users = dir.join("users");
    std::fs::write(&users, format!("{CALDAV_USER}:{CALDAV_PASSWORD}\n")).unwrap();
    let storage = dir.join("collections").to_str().unwrap().to_string();
    let users = users.to_str().unwrap().to_string();
    let args = move |port: u16| {
        [
            "--config",
            "",
            "--server-hosts",
            &format!("127.0.0.1:{port}"),
            "--auth-type",
            "htpasswd",
            "--auth-htpasswd-filename",
            &users,
            "--auth-htpasswd-encryption",
            "plain",
            "--storage-filesystem-folder",
            &storage,
        ]
        .map(String::from)
        .to_vec()
    };
    match std::env::var_os("CLOUDBRIDGE_RADICALE") {
        Some(bin) => Server::start_bin(PathBuf::from(bin), args).await,
        None => Server::start("radicale", args).await,
    }
}

impl TestApp {
    /// Imports an account described by `body` with `api_key`; returns `(id, bearer token)`.
    pub async fn import(&self, api_key: &str, body: &Value) -> (i64, String) {
        let r = self.with_key(api_key).post_json("/v1/accounts", body).await;
        let status = r.status();
        let account: Value = r.json().await.unwrap();
        assert_eq!(status, 201, "{account}");
        (
            account["id"].as_i64().unwrap(),
            account["bearer_token"]["key"].as_str().unwrap().to_string(),
        )
    }
}

/// The local user the SFTP tests log in as (created on first use; needs root).
pub const SFTP_USER: &str = "cbsftp";
/// Its password.
pub const SFTP_PASSWORD: &str = "sftp-Passw0rd-test";

/// Makes sure [`SFTP_USER`] exists with [`SFTP_PASSWORD`]; returns its uid and gid.
fn sftp_user() -> (u32, u32) {
    let id = |flag: &str| {
        Command::new("id")
            .args([flag, SFTP_USER])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
    };
    if id("-u").is_none() {
        // Parallel tests may race here: whoever loses finds the user made.
        let _ = Command::new("useradd")
            .args(["--no-create-home", "--shell", "/bin/sh", SFTP_USER])
            .status();
    }
    let mut chpasswd = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .expect("chpasswd (the SFTP tests run as root)");
    use std::io::Write;
    writeln!(
        chpasswd.stdin.take().unwrap(),
        "{SFTP_USER}:{SFTP_PASSWORD}"
    )
    .unwrap();
    assert!(
        chpasswd.wait().unwrap().success(),
        "setting the SFTP password"
    );
    (
        id("-u").expect("SFTP test user"),
        id("-g").expect("SFTP test group"),
    )
}

/// `ssh-keygen` a key pair without a passphrase unless one is given; returns the private
/// key's text and the public key line.
pub fn ssh_keygen(dir: &Path, name: &str, kind: &str, passphrase: &str) -> (String, String) {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", passphrase, "-C", name, "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen (openssh-client)");
    assert!(status.success());
    (
        std::fs::read_to_string(&path).unwrap(),
        std::fs::read_to_string(path.with_extension("pub")).unwrap(),
    )
}

/// An OpenSSH `sshd` on a free loopback port serving SFTP (`internal-sftp`) to
/// [`SFTP_USER`] by password or by the keys in [`Sshd::authorize`]; stopped on drop.
pub struct Sshd {
    child: Child,
    /// Its port.
    pub port: u16,
    /// A folder the SFTP user owns, to use as an account's root.
    pub data: tempfile::TempDir,
    /// sshd's own files (config, host key, authorized keys, client keys).
    pub etc: tempfile::TempDir,
}

impl Sshd {
    /// Starts sshd and waits until it greets.
    pub async fn start() -> Self {
        let (uid, gid) = sftp_user();
        let etc = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        std::os::unix::fs::chown(data.path(), Some(uid), Some(gid)).unwrap();
        ssh_keygen(etc.path(), "host_key", "ed25519", "");
        std::fs::write(etc.path().join("authorized_keys"), "").unwrap();
        // sshd reads authorized_keys as the user logging in.
        use std::os::unix::fs::PermissionsExt;
        let readable = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(etc.path(), readable).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let port = free_port();
        let e = etc.path().display();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {e}/host_key\nPidFile none\n\
             UsePAM no\nStrictModes no\nPasswordAuthentication yes\n\
             KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             AuthorizedKeysFile {e}/authorized_keys\nAllowUsers {SFTP_USER}\n\
             PermitRootLogin no\nSubsystem sftp internal-sftp\n"
        );
        let config_path = etc.path().join("sshd_config");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("/usr/sbin/sshd (openssh-server): run scripts/test.sh");
        let sshd = Self {
            child,
            port,
            data,
            etc,
        };
        for _ in 0..100 {
            if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                use tokio::io::AsyncReadExt;
                let mut banner = [0u8; 4];
                if s.read_exact(&mut banner).await.is_ok() && &banner == b"SSH-" {
                    return sshd;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("sshd did not start on port {port}");
    }

    /// Lets `public_key` (an `authorized_keys` line) log in as [`SFTP_USER`].
    pub fn authorize(&self, public_key: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.etc.path().join("authorized_keys"))
            .unwrap();
        writeln!(file, "{}", public_key.trim()).unwrap();
    }

    /// The account's root on the server: a fresh folder owned by the SFTP user inside
    /// [`Sshd::data`].
    pub fn root(&self, name: &str) -> String {
        let path = self.data.path().join(name);
        std::fs::create_dir(&path).unwrap();
        let owner = std::fs::metadata(self.data.path()).unwrap();
        use std::os::unix::fs::MetadataExt;
        std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid())).unwrap();
        path.to_str().unwrap().to_string()
    }

    /// Import fields of an account on this server logging in by password.
    pub fn password_account(&self, root: &str) -> Value {
        json!({
            "service": "sftp", "account": "sftp-user", "host": "127.0.0.1",
            "port": self.port, "username": SFTP_USER, "password": SFTP_PASSWORD,
            "root": root,
        })
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the real scheduler (its housekeeping cron set by the test) until `gone` no longer
/// exists, for at most 10 s; true when it went.
pub async fn housekeeping_removes(app: &TestApp, gone: &Path) -> bool {
    let shutdown = CancellationToken::new();
    let scheduler = tokio::spawn(cloudbridge_scheduler::run(
        app.settings().clone(),
        shutdown.clone(),
    ));
    let mut removed = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if !gone.exists() {
            removed = true;
            break;
        }
    }
    shutdown.cancel();
    let _ = scheduler.await;
    removed
}

/// Creates an application and a local account through the API at `base`; returns the
/// account's bearer token.
pub async fn connect_account(client: &reqwest::Client, base: &str, settings: &Settings) -> String {
    let developer = settings.bootstrap_developer_key.as_ref().unwrap().expose();
    let created: Value = client
        .post(format!("{base}/v1/applications"))
        .header("Authorization", format!("DeveloperKey {developer}"))
        .json(&json!({"name": "processes"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["api_key"].as_str().unwrap();
    let account: Value = client
        .post(format!("{base}/v1/accounts"))
        .header("Authorization", format!("APIKey {key}"))
        .json(&json!({"account": "user", "service": "local"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    account["bearer_token"]["key"].as_str().unwrap().to_string()
}

/// The sum of the samples of a Prometheus text exposition whose lines `matches` picks.
pub fn sample_sum(text: &str, matches: impl Fn(&str) -> bool) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#') && matches(l))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
