//! Scenarios: what is set up before the run and which request each iteration makes.

use std::sync::Arc;

use anyhow::{ensure, Context};
use serde_json::{json, Value};

use crate::generator::Outcome;

/// The scenarios the suite knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// `GET /ops/ping`: a no-op job through queue and worker (the baseline).
    Ping,
    /// `GET /health`: the HTTP stack alone, no queue.
    Health,
    /// `GET storage/files/{id}`: metadata through the full pipeline.
    Metadata,
    /// The same metadata request over HTTPS (`--https-url`), beside `metadata` on the
    /// plain port in the same run.
    MetadataHttps,
    /// `GET storage/folders/root/contents` (page of 100).
    List,
    /// `POST storage/files` with a small body.
    Upload,
    /// `GET storage/files/{id}/contents` of a small file.
    Download,
    /// A realistic mix over many accounts: 60% metadata, 20% list, 10% download, 10% upload.
    Mixed,
    /// `HEAD` of a seed object straight at the fake upstream (`--upstream`): the same
    /// service call a metadata request makes, without Cloudbridge (the upstream baseline).
    Direct,
    /// `POST /v1/accounts/me/raw` → `GET /2.0/users/me` of a `box` account whose API is the
    /// fake upstream (`--upstream`; the API must have `providers.box.api_url` pointing
    /// there): the pass-through path, token injection included.
    Passthrough,
    /// `GET /2.0/users/me` straight at the fake upstream: the pass-through baseline.
    DirectRaw,
    /// Every page of the root folder of an `s3_compatible` account on the fake upstream
    /// (`--upstream`, started with `--listed N`), 1,000 entries a page, following the
    /// `next_page` tokens: one iteration is the whole folder.
    Walk,
    /// The same walk asking for the pages by number (`page=1`, `2`, …).
    WalkNumbered,
    /// The walk of [`Kind::Walk`] on a `box` account whose API is the fake upstream.
    WalkBox,
}

impl Kind {
    /// Whether the scenario needs the `box` accounts on the fake upstream.
    pub fn uses_box(self) -> bool {
        matches!(self, Kind::Passthrough | Kind::WalkBox)
    }
}

/// Accounts, files and credentials prepared for a run.
pub struct Fixture {
    base: String,
    client: reqwest::Client,
    developer: String,
    accounts: Vec<Account>,
    payload: bytes::Bytes,
    upstream: Option<String>,
    /// The HTTPS base URL and a client that trusts its CA (keep-alive, like `client`).
    https: Option<(String, reqwest::Client)>,
    /// Entries a walk must find (`--listed` of the fake upstream).
    walk_entries: usize,
}

/// The API's HTTPS listener, for `metadata-https`.
#[derive(Debug, Clone)]
pub struct Https {
    /// Its base URL (`https://127.0.0.1:8443`).
    pub base: String,
    /// PEM of the CA its certificate is signed by (or of the self-signed certificate).
    pub ca_pem: Vec<u8>,
}

struct Account {
    token: String,
    file_id: String,
    /// Bearer token of the `box` account next to it (pass-through), if made.
    raw_token: Option<String>,
}

/// Where the accounts of a run live.
#[derive(Debug, Clone)]
pub enum Service {
    /// `local` accounts, seeded with 20 files each through the API.
    Local,
    /// `s3_compatible` accounts on a fake upstream (see [`crate::upstream`]) at this URL,
    /// bucket `load`, whose objects (`listed` of them) exist already.
    Upstream {
        /// The fake upstream's base URL.
        url: String,
        /// How many objects its listings show (`--listed`): what a walk must find.
        listed: usize,
    },
}

impl Fixture {
    /// Creates an application with `accounts` accounts on `service`, each with 20 small
    /// files. With `https`, the API has TLS configured and trusts the load generator as a
    /// reverse proxy (`api.trusted_proxies`): requests to the plain `base` say
    /// `X-Forwarded-Proto: https`, so it serves them instead of redirecting.
    pub async fn prepare(
        base: &str,
        developer_key: &str,
        service: Service,
        accounts: usize,
        file_size: usize,
        passthrough: bool,
        https: Option<Https>,
    ) -> anyhow::Result<Arc<Self>> {
        let walk_entries = match &service {
            Service::Upstream { listed, .. } => *listed,
            Service::Local => 0,
        };
        let mut headers = reqwest::header::HeaderMap::new();
        if https.is_some() {
            headers.insert(
                "x-forwarded-proto",
                reqwest::header::HeaderValue::from_static("https"),
            );
        }
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(4096)
            .default_headers(headers)
            .build()?;
        let https = match https {
            Some(https) => Some((
                https.base.trim_end_matches('/').to_string(),
                reqwest::Client::builder()
                    .pool_max_idle_per_host(4096)
                    .tls_built_in_root_certs(false)
                    .add_root_certificate(
                        reqwest::Certificate::from_pem(&https.ca_pem).context("--ca-cert")?,
                    )
                    .build()?,
            )),
            None => None,
        };
        let developer = format!("DeveloperKey {developer_key}");
        let app: Value = client
            .post(format!("{base}/v1/applications"))
            .header("Authorization", &developer)
            .json(&json!({"name": "loadtest"}))
            .send()
            .await?
            .error_for_status()
            .context("creating the application (is the DeveloperKey right?)")?
            .json()
            .await?;
        let key = app["api_key"].as_str().context("api_key")?.to_string();
        let payload = bytes::Bytes::from(vec![b'x'; file_size]);
        let mut list = Vec::new();
        for n in 0..accounts.max(1) {
            let body = match &service {
                Service::Local => json!({"account": format!("load{n}"), "service": "local"}),
                Service::Upstream { url, .. } => json!({
                    "account": format!("load{n}"), "service": "s3_compatible",
                    "endpoint": url, "bucket": "load", "region": "us-east-1",
                    "token": "load", "token_secret": "load",
                }),
            };
            let account: Value = client
                .post(format!("{base}/v1/accounts"))
                .header("Authorization", format!("APIKey {key}"))
                .json(&body)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let token = account["bearer_token"]["key"]
                .as_str()
                .context("token")?
                .to_string();
            if let Service::Upstream { .. } = service {
                // The fake upstream's objects exist already: `seed{n}.txt`.
                use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
                let file_id = URL_SAFE_NO_PAD.encode(format!("seed{}.txt", n % 20));
                let raw_token = if passthrough {
                    Some(oauth_account(&client, base, &key, n).await?)
                } else {
                    None
                };
                list.push(Account {
                    token,
                    file_id,
                    raw_token,
                });
                continue;
            }
            let mut file_id = String::new();
            for f in 0..20 {
                let file: Value = client
                    .post(format!(
                        "{base}/v1/accounts/me/storage/files?overwrite=true"
                    ))
                    .header("Authorization", format!("Bearer {token}"))
                    .header(
                        "X-Kloudless-Metadata",
                        json!({"name": format!("seed{f}.txt"), "parent_id": "root"}).to_string(),
                    )
                    .body(payload.clone())
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                file_id = file["id"].as_str().context("file id")?.to_string();
            }
            list.push(Account {
                token,
                file_id,
                raw_token: None,
            });
        }
        ensure!(!list.is_empty());
        Ok(Arc::new(Self {
            base: base.trim_end_matches('/').to_string(),
            client,
            developer,
            accounts: list,
            payload,
            upstream: match service {
                Service::Upstream { url, .. } => Some(url.trim_end_matches('/').to_string()),
                Service::Local => None,
            },
            https,
            walk_entries,
        }))
    }

    /// The bearer token of account `i`'s pass-through (`box`) account.
    fn raw_bearer(&self, account: &Account) -> Option<String> {
        account.raw_token.as_ref().map(|t| format!("Bearer {t}"))
    }

    /// Reads every page of the root folder (see [`Kind::Walk`]); the outcome of the
    /// first page that failed, or a `short_walk` error when the pages did not hold the
    /// folder's entries once each.
    async fn walk(&self, kind: Kind, account: &Account) -> Outcome {
        let bearer = match kind {
            Kind::WalkBox => match self.raw_bearer(account) {
                Some(bearer) => bearer,
                None => return (None, Some("walk_box needs --upstream".into())),
            },
            _ => format!("Bearer {}", account.token),
        };
        if self.upstream.is_none() {
            return (None, Some("walks need --upstream".into()));
        }
        let mut names = std::collections::HashSet::new();
        let mut page = String::from("1");
        for number in 2u32.. {
            let url = format!(
                "{}/v1/accounts/me/storage/folders/root/contents?page_size=1000&page={page}",
                self.base
            );
            let body: Value = match self
                .client
                .get(url)
                .header("Authorization", &bearer)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => match r.json().await {
                    Ok(body) => body,
                    Err(_) => return (Some(200), Some("unreadable_page".into())),
                },
                Ok(r) => return (Some(r.status().as_u16()), None),
                Err(_) => return (None, None),
            };
            for object in body["objects"].as_array().into_iter().flatten() {
                if !names.insert(object["name"].as_str().unwrap_or_default().to_string()) {
                    return (Some(500), Some("entry_twice".into()));
                }
            }
            page = match (&body["next_page"], kind) {
                (Value::Null, _) => break,
                (_, Kind::WalkNumbered) => number.to_string(),
                (Value::String(token), _) => token.clone(),
                (other, _) => other.to_string(),
            };
        }
        if names.len() != self.walk_entries {
            return (Some(500), Some("short_walk".into()));
        }
        (Some(200), None)
    }

    /// Makes request number `i` of scenario `kind`.
    pub async fn request(&self, kind: Kind, i: u64) -> Outcome {
        let account = &self.accounts[(i as usize) % self.accounts.len()];
        if matches!(kind, Kind::Walk | Kind::WalkNumbered | Kind::WalkBox) {
            return self.walk(kind, account).await;
        }
        let bearer = format!("Bearer {}", account.token);
        let kind = match kind {
            Kind::Mixed => match i % 10 {
                0..=5 => Kind::Metadata,
                6 | 7 => Kind::List,
                8 => Kind::Download,
                _ => Kind::Upload,
            },
            k => k,
        };
        let (b, c) = match (&self.https, kind) {
            (Some((base, client)), Kind::MetadataHttps) => (base, client),
            (None, Kind::MetadataHttps) => {
                return (None, Some("metadata-https needs --https-url".into()))
            }
            _ => (&self.base, &self.client),
        };
        let req = match kind {
            Kind::Ping => c
                .get(format!("{b}/ops/ping"))
                .header("Authorization", &self.developer),
            Kind::Health => c.get(format!("{b}/health")),
            Kind::Metadata | Kind::MetadataHttps => c
                .get(format!(
                    "{b}/v1/accounts/me/storage/files/{}",
                    account.file_id
                ))
                .header("Authorization", &bearer),
            Kind::List => c
                .get(format!(
                    "{b}/v1/accounts/me/storage/folders/root/contents?page_size=100"
                ))
                .header("Authorization", &bearer),
            Kind::Download => c
                .get(format!(
                    "{b}/v1/accounts/me/storage/files/{}/contents",
                    account.file_id
                ))
                .header("Authorization", &bearer),
            Kind::Upload => c
                .post(format!("{b}/v1/accounts/me/storage/files?overwrite=true"))
                .header("Authorization", &bearer)
                .header(
                    "X-Kloudless-Metadata",
                    format!(r#"{{"name":"up{}.txt","parent_id":"root"}}"#, i % 50),
                )
                .body(self.payload.clone()),
            Kind::Mixed | Kind::Walk | Kind::WalkNumbered | Kind::WalkBox => {
                unreachable!("resolved above")
            }
            Kind::Direct => match &self.upstream {
                Some(up) => c.head(format!("{up}/load/seed{}.txt", i % 20)),
                None => return (None, Some("direct needs --upstream".into())),
            },
            Kind::Passthrough => match self.raw_bearer(account) {
                Some(bearer) => c
                    .post(format!("{b}/v1/accounts/me/raw"))
                    .header("Authorization", bearer)
                    .header("X-Kloudless-Raw-URI", "/2.0/users/me")
                    .header("X-Kloudless-Raw-Method", "GET"),
                None => return (None, Some("passthrough needs --upstream".into())),
            },
            Kind::DirectRaw => match &self.upstream {
                Some(up) => c.get(format!("{up}/2.0/users/me")),
                None => return (None, Some("direct_raw needs --upstream".into())),
            },
        };
        match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                if status < 300 {
                    let _ = r.bytes().await;
                    (Some(status), None)
                } else {
                    let code = r
                        .json::<Value>()
                        .await
                        .ok()
                        .and_then(|v| v["error_code"].as_str().map(str::to_string));
                    (Some(status), code)
                }
            }
            Err(_) => (None, None),
        }
    }
}

/// Imports a `box` account number `n` whose API (as the server is configured) is the fake
/// upstream; returns its bearer token.
async fn oauth_account(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    n: usize,
) -> anyhow::Result<String> {
    let body = json!({
        "account": format!("raw{n}"), "service": "box", "token": "load",
        "refresh_token": "load", "token_expiry": "2999-01-01T00:00:00Z",
    });
    let account: Value = client
        .post(format!("{base}/v1/accounts"))
        .header("Authorization", format!("APIKey {key}"))
        .json(&body)
        .send()
        .await?
        .error_for_status()
        .context("importing a box account (is providers.box.api_url the fake upstream?)")?
        .json()
        .await?;
    Ok(account["bearer_token"]["key"]
        .as_str()
        .context("token")?
        .to_string())
}
