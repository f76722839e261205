//! Typed, layered configuration: defaults → TOML file → environment.
//!
//! Variables read:
//! - `CLOUDBRIDGE_CONFIG`: path of a TOML file (optional).
//! - `CLOUDBRIDGE_<SECTION>__<KEY>`: overrides `[section] key`, e.g. `CLOUDBRIDGE_API__BIND`.
//!   Values are parsed as TOML scalars (`42`, `true`) and fall back to plain strings; a list
//!   setting takes a TOML array or comma-separated values (`10.0.0.0/8,fd00::/8`).
//! - `CLOUDBRIDGE_BOOTSTRAP_DEVELOPER_KEY`: the top-level `bootstrap_developer_key`.
//! - `DATABASE_URL`, `REDIS_URL`: the usual connection strings (win over the file).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::{netguard::Policy, secret::Secret};

/// Every setting of every Cloudbridge process.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The HTTP API tier.
    pub api: ApiSettings,
    /// The developer portal.
    pub portal: PortalSettings,
    /// Outgoing mail of the portal (password resets); off unless a host is set.
    pub smtp: SmtpSettings,
    /// HTTPS of the API and portal listeners (off unless a certificate is configured).
    pub tls: TlsSettings,
    /// PostgreSQL.
    pub database: DatabaseSettings,
    /// Redis: queues and reply channels.
    pub redis: RedisSettings,
    /// Worker processes.
    pub jobs: JobSettings,
    /// The scheduler process.
    pub scheduler: SchedulerSettings,
    /// The embedded `local` storage service.
    pub local: LocalSettings,
    /// Logging.
    pub log: LogSettings,
    /// Encryption of secrets at rest.
    pub secrets: SecretSettings,
    /// OAuth 2.0: connecting accounts and keeping their tokens fresh.
    pub oauth: OAuthSettings,
    /// Where the OAuth services are and the appliance-wide client credentials for them.
    pub providers: ProvidersSettings,
    /// Event collection and the Events API.
    pub events: EventSettings,
    /// Webhook delivery.
    pub webhooks: WebhookSettings,
    /// Inbound rate limits and the password-hashing bound of the API tier.
    pub limits: LimitSettings,
    /// Which private networks outbound connections to client-chosen hosts may reach.
    pub network: NetworkSettings,
    /// The Kloudless browser widgets this tier serves.
    pub widgets: WidgetSettings,
    /// The per-application usage rollup the portal charts.
    pub usage: UsageSettings,
    /// Makes sure a developer with this DeveloperKey exists at start-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_developer_key: Option<Secret>,
}

/// API tier settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// Listen address of the Kloudless v1 API (plain HTTP; with TLS configured it redirects
    /// to HTTPS and serves only `/health`, `/ready` and `/metrics` itself).
    pub bind: SocketAddr,
    /// HTTPS listen address of the API, used only when `tls` is configured.
    pub tls_bind: SocketAddr,
    /// Client-visible base URL (`https://api.example.com`); derived from `Host` when empty
    /// (`https://` on the HTTPS listener).
    pub public_url: String,
    /// Requests in flight per API process; 0 means 45 × CPU cores.
    pub max_in_flight: usize,
    /// How long a request waits for its worker before 504.
    pub request_timeout_ms: u64,
    /// Largest JSON body accepted.
    pub max_json_bytes: usize,
    /// Largest upload body accepted.
    pub max_upload_bytes: u64,
    /// Largest request line plus headers accepted (431 beyond).
    pub max_header_bytes: usize,
    /// Queued jobs (all API instances) beyond which new requests get 503.
    pub backlog_limit: u64,
    /// Grace period for in-flight requests at shutdown.
    pub shutdown_grace_ms: u64,
    /// How long a verified key, token or account stays cached in an API process
    /// (a revocation made elsewhere takes up to this long to be seen here; 0 disables).
    pub auth_cache_ms: u64,
    /// How long an unfinished multipart upload is kept before its parts are removed.
    pub multipart_expiry_secs: u64,
    /// Time a client has to send a request's line and headers, counted from when the
    /// connection starts waiting for them (so also how long an idle keep-alive connection
    /// stays open); the connection is closed after it.
    pub header_read_timeout_ms: u64,
    /// A connection on which no byte moves either way for this long is closed (stalled
    /// bodies, clients that stop reading).
    pub idle_timeout_ms: u64,
    /// Networks (CIDRs) of the reverse proxies in front of the API: only a peer in one of
    /// them is believed about `X-Forwarded-Host`, `-Proto` and `-For` (empty: nobody).
    pub trusted_proxies: Vec<IpNet>,
}

/// Developer portal settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalSettings {
    /// Listen address of the developer portal (its own listener, beside the API's).
    pub bind: SocketAddr,
    /// Whether anyone may sign up; when off, developers are made by an admin
    /// (`cloudbridge-api admin reset-password`).
    pub signup: bool,
    /// How long a portal session lasts without being used.
    pub session_idle_secs: u64,
    /// Sign-in attempts per e-mail address (a guesser cannot go fast; the real user is
    /// never locked out for longer than a refill).
    pub login_per_account: Rate,
    /// Sign-in and sign-up attempts per client address.
    pub login_per_address: Rate,
    /// HTTPS listen address of the developer portal, used only when `tls` is configured.
    pub tls_bind: SocketAddr,
    /// The portal's base URL as developers reach it (`https://portal.example.com`): what
    /// invitation and reset links start with. Links sent by mail need it (a link is never
    /// built from a request's `Host`, which a sender of a "forgot password" form chooses);
    /// links shown to an admin fall back to the admin's own `Host` when it is empty.
    pub public_url: String,
    /// How long an admin's invitation link stays usable.
    pub invite_ttl_secs: u64,
    /// How long a password reset link stays usable.
    pub reset_ttl_secs: u64,
    /// Grafana, linked from the admin's status page when set.
    pub grafana_url: String,
    /// Prometheus, linked from the admin's status page when set.
    pub prometheus_url: String,
}

/// How the portal sends mail. With `host` empty there is no mail: an admin passes reset
/// links on by hand and the sign-in page offers no "forgot password".
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// The mail server (`smtp.example.com`); empty: no mail.
    pub host: String,
    /// Its port; 0 is the TLS mode's usual one (465 `tls`, 587 `starttls`, 25 `none`).
    pub port: u16,
    /// The user to authenticate as; empty: no authentication.
    pub user: String,
    /// The user's password.
    pub password: Secret,
    /// The sender (`Cloudbridge <portal@example.com>`).
    pub from: String,
    /// `starttls` (upgrade, required), `tls` (TLS from the first byte) or `none` (plain:
    /// only for a relay on the same host or network).
    pub tls: SmtpTls,
    /// How long one attempt to send a mail may take.
    pub timeout_ms: u64,
}

impl SmtpSettings {
    /// Whether mail is configured.
    pub fn enabled(&self) -> bool {
        !self.host.trim().is_empty()
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        match (self.port, self.tls) {
            (0, SmtpTls::Tls) => 465,
            (0, SmtpTls::Starttls) => 587,
            (0, SmtpTls::None) => 25,
            (port, _) => port,
        }
    }
}

/// The TLS mode of the mail server connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with `STARTTLS` (refused if the server cannot).
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No TLS.
    None,
}

/// The certificate both front doors (API and portal) serve. Both paths set: HTTPS on
/// `api.tls_bind` and `portal.tls_bind`, the plain ports redirect. The files are re-read on
/// SIGHUP and when they change.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM file with the certificate, then any intermediates (leaf first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_path: Option<PathBuf>,
    /// PEM file with the certificate's private key (PKCS#8, SEC1 or PKCS#1; RSA, ECDSA or
    /// Ed25519).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_path: Option<PathBuf>,
}

impl TlsSettings {
    /// `(cert_path, key_path)` when TLS is configured; an error when only one of them is.
    pub fn files(&self) -> anyhow::Result<Option<(&std::path::Path, &std::path::Path)>> {
        match (&self.cert_path, &self.key_path) {
            (Some(cert), Some(key)) => Ok(Some((cert, key))),
            (None, None) => Ok(None),
            (Some(_), None) => anyhow::bail!("tls.cert_path is set but tls.key_path is not"),
            (None, Some(_)) => anyhow::bail!("tls.key_path is set but tls.cert_path is not"),
        }
    }
}

/// The browser widgets served by the API tier.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetSettings {
    /// The `node_modules` folder holding `@kloudless/file-picker` and
    /// `@kloudless/authenticator` (installed from `widgets/package-lock.json`); relative
    /// paths are from the working directory.
    pub bundles_dir: PathBuf,
    /// Chunk size the File Picker is told to upload from the computer in
    /// (`GET /drop/{app_id}`); no chunk may be larger.
    pub drop_chunk_bytes: u64,
    /// Largest file the File Picker may upload from the computer.
    pub drop_max_bytes: u64,
    /// How long an unfinished computer upload waits for its next chunk before it is
    /// discarded (its staged chunks removed by housekeeping).
    pub drop_ttl_secs: u64,
    /// Unfinished computer uploads an application may have at once.
    pub drop_max_open: u32,
}

/// PostgreSQL settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Connection string.
    pub url: Secret,
    /// Pool size per process.
    pub max_connections: u32,
    /// How long a query waits for a free connection before the request is answered
    /// 503 with `Retry-After` (the pool is exhausted: overload, not a fault).
    pub acquire_timeout_ms: u64,
}

/// Redis settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// Connection string.
    pub url: Secret,
    /// Prefix of every key and channel (one per deployment, one per test).
    pub prefix: String,
    /// Redis command response timeout; short pauses must not kill workers.
    pub response_timeout_ms: u64,
}

/// Worker settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSettings {
    /// Jobs run at once per worker process.
    pub concurrency: usize,
    /// Jobs fetched per Redis round trip.
    pub batch_size: usize,
    /// Worker heartbeat period.
    pub heartbeat_secs: u64,
    /// Missed heartbeats before a worker's jobs are re-enqueued.
    pub missed_heartbeats: usize,
    /// Fallback poll period when no wake-up message arrives.
    pub fallback_poll_ms: u64,
    /// Most items one search or recent-files crawl looks at (bounds time and memory).
    pub walk_limit: usize,
    /// Most files and folders one housekeeping run removes of deleted accounts' data
    /// (the rest waits for the next run).
    pub removal_batch: usize,
    /// Listen address of `/metrics` and `/health`.
    pub metrics_bind: SocketAddr,
}

/// Scheduler settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerSettings {
    /// Cron expression (with seconds) of the housekeeping job.
    pub housekeeping_cron: String,
    /// Listen address of `/metrics` and `/health`.
    pub metrics_bind: SocketAddr,
    /// How often queue depths and Redis memory are sampled into gauges (milliseconds).
    pub sample_ms: u64,
}

/// The embedded `local` service.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalSettings {
    /// Folder holding one sub-folder per local account (shared by api and jobs).
    pub data_root: PathBuf,
    /// Thumbnails of the account's images, made by the workers.
    pub thumbnails: LocalThumbnailSettings,
}

/// Thumbnails of `local` accounts' images (PNG, JPEG, GIF, WebP, BMP), made by the
/// workers and kept in a cache on the data root (`.thumbnails/<account id>/`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalThumbnailSettings {
    /// Largest image file a thumbnail is made of (413 beyond).
    pub max_input_bytes: u64,
    /// Largest image, in pixels (width × height), decoded for a thumbnail (413 beyond):
    /// what bounds the memory one thumbnail takes (4 bytes a pixel at most).
    pub max_pixels: u64,
    /// Thumbnails made at once per worker process (each holds one decoded image).
    pub concurrency: usize,
    /// Size of the cache on disk, all accounts together; the least recently used
    /// thumbnails are removed beyond it.
    pub max_cache_bytes: u64,
}

/// Keys that encrypt secrets (OAuth tokens, service passwords) at rest.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSettings {
    /// `id:base64key` pairs separated by commas (32-byte AES-256 keys); the first one
    /// encrypts, all of them decrypt (rotation: put the new key first, keep the old).
    pub keys: Secret,
}

/// OAuth 2.0 settings: the connect flow and token upkeep.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthSettings {
    /// How long a started connect flow (and the `state` it carries) stays valid.
    pub flow_ttl_secs: u64,
    /// How long an authorization code may wait to be exchanged for a token.
    pub code_ttl_secs: u64,
    /// Fraction of an access token's lifetime after which it is refreshed ahead of use.
    pub refresh_at_fraction: f64,
    /// Accounts whose tokens were not refreshed for this long are refreshed anyway, so
    /// that services do not revoke idle refresh tokens.
    pub refresh_idle_secs: u64,
    /// Refreshes failing for this long mark an account inactive (`needs_reauth`).
    pub reauth_after_secs: u64,
    /// Cron expression (with seconds) of the scheduler's token sweep.
    pub sweep_cron: String,
    /// Largest number of accounts one sweep enqueues.
    pub sweep_batch: i64,
}

/// Event collection: how often each account's changes are collected, by how many jobs
/// at once, and how long events are kept.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSettings {
    /// Each collecting account is collected once per this interval (accounts are spread
    /// over it).
    pub interval_secs: u64,
    /// Cron expression (with seconds) of the scheduler's sweep of due accounts.
    pub sweep_cron: String,
    /// Largest number of collection jobs one sweep enqueues.
    pub sweep_batch: i64,
    /// Collection jobs waiting in the queue above which a sweep enqueues nothing.
    pub max_backlog: u64,
    /// Collection jobs one worker process runs at once.
    pub concurrency: usize,
    /// A collection left unfinished (crashed worker) is retried after this long.
    pub lease_secs: u64,
    /// Pages of a change feed read by one collection; the rest waits for the next one.
    pub max_pages: u32,
    /// A change made through Cloudbridge has its account collected this soon.
    pub early_collect_ms: u64,
    /// How long events are kept.
    pub retention_secs: u64,
    /// Events removed per statement by housekeeping.
    pub purge_batch: i64,
}

/// Webhook delivery: at least once from the PostgreSQL outbox, with backoff.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Cron expression (with seconds) of the scheduler's delivery sweep.
    pub sweep_cron: String,
    /// Deliveries one sweep sends (at most `concurrency` at once).
    pub batch: i64,
    /// Deliveries in flight at once per sweep.
    pub concurrency: usize,
    /// Time allowed for one delivery attempt.
    pub timeout_ms: u64,
    /// First retry delay; each later one doubles (with jitter) up to `backoff_max_ms`.
    pub backoff_base_ms: u64,
    /// Longest delay between two attempts.
    pub backoff_max_ms: u64,
    /// A notification not delivered within this long is dead (replayable).
    pub retry_window_secs: u64,
    /// Delivered notifications and their attempts are forgotten after this long.
    pub keep_secs: u64,
}

/// The per-application usage rollup (`usage_daily`): each process counts in memory and
/// writes its counts in one statement every `flush_ms`, never per request.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageSettings {
    /// Whether usage is counted at all (off: nothing is counted or written).
    pub enabled: bool,
    /// How often a process writes its counts (and once more when it stops).
    pub flush_ms: u64,
    /// Days of usage kept; housekeeping removes older ones.
    pub keep_days: u32,
}

/// Networks (CIDRs) that outbound connections to hosts a client chose may reach besides
/// public addresses. Empty (the default): public addresses only. Loopback, private,
/// link-local (cloud metadata) and the IPv6 spellings of those are refused otherwise.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSettings {
    /// Imported accounts: S3 `endpoint`, WebDAV `url`, SFTP `host` (the appliance's own
    /// MinIO, WebDAV or SSH servers), checked at import and at every connection.
    pub account_allow: Vec<IpNet>,
    /// Uploads from a URL (every redirect hop).
    pub url_upload_allow: Vec<IpNet>,
    /// Webhook receivers.
    pub webhook_allow: Vec<IpNet>,
}

impl NetworkSettings {
    /// The address policy of imported accounts.
    pub fn accounts(&self) -> Policy {
        Policy::new(&self.account_allow)
    }

    /// The address policy of uploads from a URL.
    pub fn url_uploads(&self) -> Policy {
        Policy::new(&self.url_upload_allow)
    }

    /// The address policy of webhook receivers.
    pub fn webhooks(&self) -> Policy {
        Policy::new(&self.webhook_allow)
    }
}

/// A token bucket: `burst` requests at once, refilled at `per_sec` a second (`per_sec = 0`
/// turns the limit off).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Sustained requests per second.
    pub per_sec: f64,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
}

impl Rate {
    const fn new(per_sec: f64, burst: u32) -> Self {
        Self { per_sec, burst }
    }
}

/// Inbound rate limits, in memory per API process (no database or Redis round trip): with
/// N replicas behind a balancer a client gets up to N times these. Over a limit the answer
/// is 429 `rate_limit_exceeded` with `Retry-After`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Per credential (API key, bearer token, DeveloperKey): every authenticated request.
    pub key: Rate,
    /// Per client address: requests without a credential this process has verified (no
    /// `Authorization`, a credential not seen yet or not valid).
    pub address: Rate,
    /// Per client address: shared links (`/l/{id}`).
    pub link: Rate,
    /// Per shared link: password attempts (`POST /l/{id}`).
    pub link_password: Rate,
    /// Per client address: the OAuth pages (`/v1/oauth`, its flows and callback).
    pub oauth: Rate,
    /// Per client address: the token endpoint (`/v1/oauth/token`).
    pub token: Rate,
    /// Per client address: the File Picker's anonymous computer uploads (`/drop/{app_id}`,
    /// one request per chunk).
    pub drop: Rate,
    /// Password hashes (argon2id, 19 MiB each) computed at once per process; 0 means one
    /// per CPU core.
    pub password_hashes: usize,
    /// How long a request waits for a hashing slot before 503 + `Retry-After`.
    pub password_hash_wait_ms: u64,
}

/// One OAuth service: its endpoints and the appliance-wide client credentials (an
/// application may set its own per service).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Client id registered with the service (empty: applications must bring theirs).
    pub client_id: String,
    /// Client secret registered with the service.
    pub client_secret: Secret,
    /// Authorization endpoint (the user's browser goes there).
    pub authorize_url: String,
    /// Token endpoint.
    pub token_url: String,
    /// Base URL of the service's API (what pass-through requests may reach).
    pub api_url: String,
    /// Base URL of its content (upload and download) API, where it has its own host.
    pub content_url: String,
    /// Scopes requested, space separated.
    pub scope: String,
    /// Time limit of one call to the service's API (a call that streams a file's bytes
    /// has a limit of its own, as long as a large transfer may take).
    pub call_timeout_ms: u64,
}

/// The OAuth services.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvidersSettings {
    /// Google Drive.
    pub gdrive: ProviderSettings,
    /// OneDrive and OneDrive for Business (Microsoft Graph).
    pub onedrive: ProviderSettings,
    /// Dropbox.
    pub dropbox: ProviderSettings,
    /// Box.
    #[serde(rename = "box")]
    pub box_: ProviderSettings,
}

impl ProvidersSettings {
    /// The settings `providers.<provider>`, by the key a service's descriptor names
    /// (`onedrivebiz` names `onedrive`'s; see `cloudbridge_connectors::service`).
    pub fn get(&self, provider: &str) -> Option<&ProviderSettings> {
        match provider {
            "gdrive" => Some(&self.gdrive),
            "onedrive" => Some(&self.onedrive),
            "dropbox" => Some(&self.dropbox),
            "box" => Some(&self.box_),
            _ => None,
        }
    }
}

fn provider(
    authorize: &str,
    token: &str,
    api: &str,
    content: &str,
    scope: &str,
) -> ProviderSettings {
    ProviderSettings {
        client_id: String::new(),
        client_secret: Secret::new(""),
        authorize_url: authorize.into(),
        token_url: token.into(),
        api_url: api.into(),
        content_url: content.into(),
        scope: scope.into(),
        call_timeout_ms: 60_000,
    }
}

/// Logging settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `RUST_LOG`-style filter.
    pub filter: String,
    /// `json` or `pretty`.
    pub format: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            api: ApiSettings {
                bind: ([0, 0, 0, 0], 8000).into(),
                tls_bind: ([0, 0, 0, 0], 443).into(),
                public_url: String::new(),
                max_in_flight: 0,
                request_timeout_ms: 30_000,
                max_json_bytes: 1 << 20,
                max_upload_bytes: 50 << 30,
                max_header_bytes: 64 << 10,
                backlog_limit: 4_000,
                shutdown_grace_ms: 10_000,
                auth_cache_ms: 2_000,
                multipart_expiry_secs: 24 * 3600,
                header_read_timeout_ms: 10_000,
                idle_timeout_ms: 60_000,
                trusted_proxies: Vec::new(),
            },
            portal: PortalSettings {
                bind: ([0, 0, 0, 0], 8080).into(),
                signup: false,
                session_idle_secs: 12 * 3600,
                login_per_account: Rate::new(1.0 / 60.0, 5),
                login_per_address: Rate::new(0.5, 20),
                tls_bind: ([0, 0, 0, 0], 8443).into(),
                public_url: String::new(),
                invite_ttl_secs: 7 * 24 * 3600,
                reset_ttl_secs: 3600,
                grafana_url: String::new(),
                prometheus_url: String::new(),
            },
            smtp: SmtpSettings {
                host: String::new(),
                port: 0,
                user: String::new(),
                password: Secret::new(""),
                from: "Cloudbridge <cloudbridge@localhost>".into(),
                tls: SmtpTls::Starttls,
                timeout_ms: 10_000,
            },
            tls: TlsSettings::default(),
            widgets: WidgetSettings {
                bundles_dir: PathBuf::from("widgets/node_modules"),
                drop_chunk_bytes: 5 << 20,
                drop_max_bytes: 100 << 20,
                drop_ttl_secs: 3600,
                drop_max_open: 1000,
            },
            database: DatabaseSettings {
                url: Secret::new("postgres://postgres@127.0.0.1:5432/cloudbridge"),
                max_connections: 16,
                acquire_timeout_ms: 5_000,
            },
            redis: RedisSettings {
                url: Secret::new("redis://127.0.0.1:6379"),
                prefix: "cloudbridge".into(),
                response_timeout_ms: 5_000,
            },
            jobs: JobSettings {
                // Jobs wait on services, not on CPU: a worker holds thousands at once (at
                // 256, 200 ms upstream latency capped a worker at 1,280 req/s).
                concurrency: 2048,
                batch_size: 32,
                heartbeat_secs: 5,
                missed_heartbeats: 3,
                fallback_poll_ms: 250,
                walk_limit: 100_000,
                removal_batch: 10_000,
                metrics_bind: ([0, 0, 0, 0], 9101).into(),
            },
            scheduler: SchedulerSettings {
                housekeeping_cron: "*/10 * * * * *".into(),
                metrics_bind: ([0, 0, 0, 0], 9102).into(),
                sample_ms: 5_000,
            },
            local: LocalSettings {
                data_root: PathBuf::from("./data"),
                thumbnails: LocalThumbnailSettings {
                    max_input_bytes: 50 << 20,
                    max_pixels: 40_000_000,
                    concurrency: 2,
                    max_cache_bytes: 256 << 20,
                },
            },
            log: LogSettings {
                filter: "info".into(),
                format: "json".into(),
            },
            secrets: SecretSettings {
                keys: Secret::new(""),
            },
            oauth: OAuthSettings {
                flow_ttl_secs: 600,
                code_ttl_secs: 600,
                refresh_at_fraction: 0.75,
                refresh_idle_secs: 24 * 3600,
                reauth_after_secs: 3 * 24 * 3600,
                sweep_cron: "*/30 * * * * *".into(),
                sweep_batch: 1000,
            },
            providers: ProvidersSettings {
                gdrive: provider(
                    "https://accounts.google.com/o/oauth2/v2/auth",
                    "https://oauth2.googleapis.com/token",
                    "https://www.googleapis.com",
                    "https://www.googleapis.com",
                    "https://www.googleapis.com/auth/drive",
                ),
                onedrive: provider(
                    "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
                    "https://login.microsoftonline.com/common/oauth2/v2.0/token",
                    "https://graph.microsoft.com",
                    "https://graph.microsoft.com",
                    "offline_access Files.ReadWrite.All User.Read",
                ),
                dropbox: provider(
                    "https://www.dropbox.com/oauth2/authorize",
                    "https://api.dropboxapi.com/oauth2/token",
                    "https://api.dropboxapi.com",
                    "https://content.dropboxapi.com",
                    "",
                ),
                box_: provider(
                    "https://account.box.com/api/oauth2/authorize",
                    "https://api.box.com/oauth2/token",
                    "https://api.box.com",
                    "https://upload.box.com",
                    "",
                ),
            },
            events: EventSettings {
                interval_secs: 60,
                sweep_cron: "* * * * * *".into(),
                sweep_batch: 5_000,
                max_backlog: 6_000,
                concurrency: 256,
                lease_secs: 300,
                max_pages: 20,
                early_collect_ms: 1_000,
                retention_secs: 7 * 24 * 3600,
                purge_batch: 5_000,
            },
            webhooks: WebhookSettings {
                sweep_cron: "* * * * * *".into(),
                batch: 500,
                concurrency: 64,
                timeout_ms: 10_000,
                backoff_base_ms: 2_000,
                backoff_max_ms: 600_000,
                retry_window_secs: 24 * 3600,
                keep_secs: 7 * 24 * 3600,
            },
            limits: LimitSettings {
                // Above what one process serves (~8k req/s in the benchmarks), so a benchmark
                // on one key is never throttled; lower it to share replicas between tenants.
                key: Rate::new(10_000.0, 20_000),
                address: Rate::new(1_000.0, 2_000),
                link: Rate::new(50.0, 100),
                // 10 tries at once, then one every 5 seconds.
                link_password: Rate::new(0.2, 10),
                oauth: Rate::new(20.0, 60),
                token: Rate::new(50.0, 100),
                // A picker sends up to 6 files at once, one chunk of each at a time.
                drop: Rate::new(20.0, 120),
                password_hashes: 0,
                password_hash_wait_ms: 2_000,
            },
            network: NetworkSettings {
                account_allow: Vec::new(),
                url_upload_allow: Vec::new(),
                webhook_allow: Vec::new(),
            },
            usage: UsageSettings {
                enabled: true,
                flush_ms: 5_000,
                keep_days: 90,
            },
            bootstrap_developer_key: None,
        }
    }
}

impl Settings {
    /// Loads settings from the process environment.
    pub fn load() -> anyhow::Result<Self> {
        let file = std::env::var("CLOUDBRIDGE_CONFIG").ok();
        Self::load_from(file.as_deref(), std::env::vars())
    }

    /// Loads settings from an optional TOML file and a set of environment variables.
    pub fn load_from(
        file: Option<&str>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let mut tree = toml::Value::try_from(Settings::default())?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading configuration file {path}"))?;
            let layer: toml::Value =
                toml::from_str(&text).with_context(|| format!("parsing {path}"))?;
            merge(&mut tree, layer);
        }
        for (name, value) in env {
            if let Some((section, key)) = env_key(&name) {
                set(&mut tree, &section, key.as_deref(), &value)?;
            }
        }
        let settings: Settings = tree.try_into().context("invalid configuration")?;
        Ok(settings)
    }

    /// The in-flight request limit of one API process (45 × cores unless set).
    pub fn max_in_flight(&self) -> usize {
        if self.api.max_in_flight > 0 {
            return self.api.max_in_flight;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        45 * cores
    }

    /// Password hashes computed at once per API process (one per core unless set).
    pub fn password_hashes(&self) -> usize {
        if self.limits.password_hashes > 0 {
            return self.limits.password_hashes;
        }
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// The request deadline.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.api.request_timeout_ms)
    }
}

/// Maps an environment variable to `(section, key)`; `key` is `None` for top-level settings.
fn env_key(name: &str) -> Option<(String, Option<String>)> {
    match name {
        "DATABASE_URL" => return Some(("database".into(), Some("url".into()))),
        "REDIS_URL" => return Some(("redis".into(), Some("url".into()))),
        _ => {}
    }
    let rest = name.strip_prefix("CLOUDBRIDGE_")?;
    if rest == "CONFIG" {
        return None;
    }
    match rest.split_once("__") {
        Some((section, key)) => Some((section.to_lowercase(), Some(key.to_lowercase()))),
        None => Some((rest.to_lowercase(), None)),
    }
}

fn set(tree: &mut toml::Value, section: &str, key: Option<&str>, raw: &str) -> anyhow::Result<()> {
    let value = parse_scalar(raw);
    let table = tree.as_table_mut().expect("settings serialize to a table");
    match key {
        None => {
            table.insert(section.to_string(), toml::Value::String(raw.to_string()));
        }
        Some(key) => {
            let mut entry = table
                .get_mut(section)
                .and_then(toml::Value::as_table_mut)
                .with_context(|| format!("unknown configuration section `{section}`"))?;
            // `PROVIDERS__GDRIVE__API_URL`: nested tables, one `__` per level.
            let mut parts: Vec<&str> = key.split("__").collect();
            let key = parts.pop().expect("split yields one part");
            for part in parts {
                entry = entry
                    .get_mut(part)
                    .and_then(toml::Value::as_table_mut)
                    .with_context(|| format!("unknown configuration table `{section}.{part}`"))?;
            }
            // Keep strings as strings when the default is a string ("8000" stays text for bind);
            // lists take an array or comma-separated values.
            let typed = match (entry.get(key), value) {
                (Some(toml::Value::String(_)), _) => toml::Value::String(raw.to_string()),
                (Some(toml::Value::Array(_)), toml::Value::Array(items)) => {
                    toml::Value::Array(items)
                }
                (Some(toml::Value::Array(_)), _) => toml::Value::Array(
                    raw.split(',')
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .map(|item| toml::Value::String(item.to_string()))
                        .collect(),
                ),
                (_, value) => value,
            };
            entry.insert(key.to_string(), typed);
        }
    }
    Ok(())
}

fn parse_scalar(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

fn merge(base: &mut toml::Value, layer: toml::Value) {
    match (base, layer) {
        (toml::Value::Table(base), toml::Value::Table(layer)) => {
            for (k, v) in layer {
                match base.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        base.insert(k, v);
                    }
                }
            }
        }
        (base, layer) => *base = layer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_the_design() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.api.bind.port(), 8000);
        assert_eq!(s.portal.bind.port(), 8080);
        assert_eq!(
            (s.api.tls_bind.port(), s.portal.tls_bind.port()),
            (443, 8443)
        );
        assert!(s.tls.files().unwrap().is_none());
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(s.max_in_flight(), 45 * cores);
        assert_eq!(s.password_hashes(), cores);
    }

    #[test]
    fn tls_paths_come_from_the_environment_and_go_in_pairs() {
        let s = Settings::load_from(
            None,
            env(&[
                ("CLOUDBRIDGE_TLS__CERT_PATH", "/run/tls/fullchain.pem"),
                ("CLOUDBRIDGE_TLS__KEY_PATH", "key.pem"),
            ]),
        )
        .unwrap();
        let (cert, key) = s.tls.files().unwrap().unwrap();
        assert_eq!(cert, std::path::Path::new("/run/tls/fullchain.pem"));
        assert_eq!(key, std::path::Path::new("key.pem"));
        let half =
            Settings::load_from(None, env(&[("CLOUDBRIDGE_TLS__CERT_PATH", "c.pem")])).unwrap();
        let e = half.tls.files().unwrap_err().to_string();
        assert!(e.contains("tls.key_path"), "{e}");
    }

    #[test]
    fn rates_take_integers_and_floats_from_the_environment() {
        let s = Settings::load_from(
            None,
            env(&[
                ("CLOUDBRIDGE_LIMITS__KEY__PER_SEC", "500"),
                ("CLOUDBRIDGE_LIMITS__LINK_PASSWORD__PER_SEC", "0.5"),
                ("CLOUDBRIDGE_LIMITS__LINK_PASSWORD__BURST", "3"),
            ]),
        )
        .unwrap();
        assert_eq!(s.limits.key, Rate::new(500.0, 20_000));
        assert_eq!(s.limits.link_password, Rate::new(0.5, 3));
    }

    #[test]
    fn local_thumbnails_are_set_in_their_own_table() {
        let file = tempfile_dir().join("thumbnails.toml");
        std::fs::write(&file, "[local.thumbnails]\nmax_pixels = 1000\n").unwrap();
        let s = Settings::load_from(
            file.to_str(),
            env(&[("CLOUDBRIDGE_LOCAL__THUMBNAILS__MAX_CACHE_BYTES", "4096")]),
        )
        .unwrap();
        let t = &s.local.thumbnails;
        assert_eq!((t.max_pixels, t.max_cache_bytes), (1000, 4096));
        assert_eq!(t.max_input_bytes, 50 << 20, "the default stays");
    }

    #[test]
    fn environment_overrides_file_and_defaults() {
        let dir = tempfile_dir();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "[api]\nmax_in_flight = 7\nrequest_timeout_ms = 100\n",
        )
        .unwrap();
        let s = Settings::load_from(
            Some(path.to_str().unwrap()),
            env(&[
                ("CLOUDBRIDGE_API__REQUEST_TIMEOUT_MS", "250"),
                ("CLOUDBRIDGE_API__BIND", "127.0.0.1:9999"),
                ("CLOUDBRIDGE_BOOTSTRAP_DEVELOPER_KEY", "dk"),
                ("DATABASE_URL", "postgres://x/y"),
                ("REDIS_URL", "redis://r"),
            ]),
        )
        .unwrap();
        assert_eq!(s.api.max_in_flight, 7);
        assert_eq!(s.api.request_timeout_ms, 250);
        assert_eq!(s.api.bind.port(), 9999);
        assert_eq!(s.bootstrap_developer_key.unwrap().expose(), "dk");
        assert_eq!(s.database.url.expose(), "postgres://x/y");
        assert_eq!(s.redis.url.expose(), "redis://r");
    }

    #[test]
    fn lists_take_commas_or_arrays_from_the_environment() {
        let s = Settings::load_from(
            None,
            env(&[
                ("CLOUDBRIDGE_NETWORK__ACCOUNT_ALLOW", "10.0.0.0/8, fd00::/8"),
                (
                    "CLOUDBRIDGE_NETWORK__WEBHOOK_ALLOW",
                    r#"["192.168.0.0/16"]"#,
                ),
                ("CLOUDBRIDGE_API__TRUSTED_PROXIES", ""),
            ]),
        )
        .unwrap();
        let nets = |v: &[&str]| v.iter().map(|n| n.parse().unwrap()).collect::<Vec<IpNet>>();
        assert_eq!(s.network.account_allow, nets(&["10.0.0.0/8", "fd00::/8"]));
        assert_eq!(s.network.webhook_allow, nets(&["192.168.0.0/16"]));
        assert!(s.network.url_upload_allow.is_empty());
        assert!(s.api.trusted_proxies.is_empty());
        let bad = Settings::load_from(None, env(&[("CLOUDBRIDGE_NETWORK__ACCOUNT_ALLOW", "x")]));
        assert!(bad.is_err());
    }

    #[test]
    fn mail_is_off_until_a_host_is_set_and_takes_its_tls_mode_from_the_environment() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert!(!s.smtp.enabled());
        assert_eq!(s.smtp.port(), 587);
        let s = Settings::load_from(
            None,
            env(&[
                ("CLOUDBRIDGE_SMTP__HOST", "mail.example.com"),
                ("CLOUDBRIDGE_SMTP__TLS", "tls"),
                ("CLOUDBRIDGE_SMTP__PASSWORD", "hunter2"),
            ]),
        )
        .unwrap();
        assert!(s.smtp.enabled());
        assert_eq!((s.smtp.tls, s.smtp.port()), (SmtpTls::Tls, 465));
        assert!(!format!("{:?}", s.smtp).contains("hunter2"));
        let bad = Settings::load_from(None, env(&[("CLOUDBRIDGE_SMTP__TLS", "maybe")]));
        assert!(bad.is_err());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = Settings::load_from(None, env(&[("CLOUDBRIDGE_API__NOPE", "1")]));
        assert!(err.is_err());
        let err = Settings::load_from(None, env(&[("CLOUDBRIDGE_NOSECTION__X", "1")]));
        assert!(err.is_err());
    }

    #[test]
    fn nested_tables_take_overrides_and_refuse_unknown_keys() {
        let s = Settings::load_from(
            None,
            env(&[
                (
                    "CLOUDBRIDGE_PROVIDERS__GDRIVE__API_URL",
                    "http://127.0.0.1:1",
                ),
                ("CLOUDBRIDGE_PROVIDERS__BOX__CLIENT_ID", "box-client"),
            ]),
        )
        .unwrap();
        assert_eq!(s.providers.gdrive.api_url, "http://127.0.0.1:1");
        assert_eq!(s.providers.get("box").unwrap().client_id, "box-client");
        assert_eq!(
            s.providers.get("onedrive").unwrap().api_url,
            "https://graph.microsoft.com"
        );
        // Services are resolved to their provider by their descriptors, not here.
        assert!(s.providers.get("onedrivebiz").is_none());
        let err = Settings::load_from(None, env(&[("CLOUDBRIDGE_PROVIDERS__NOPE__API_URL", "x")]));
        assert!(err.is_err());
        let err = Settings::load_from(None, env(&[("CLOUDBRIDGE_PROVIDERS__BOX__NOPE", "x")]));
        assert!(err.is_err());
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("cb-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
