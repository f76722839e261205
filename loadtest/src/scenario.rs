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
    /// `GET storage/folders/root/contents` (page of 100).
    List,
    /// `POST storage/files` with a small body.
    Upload,
    /// `GET storage/files/{id}/contents` of a small file.
    Download,
    /// A realistic mix over many accounts: 60% metadata, 20% list, 10% download, 10% upload.
    Mixed,
}

/// Accounts, files and credentials prepared for a run.
pub struct Fixture {
    base: String,
    client: reqwest::Client,
    developer: String,
    accounts: Vec<Account>,
    payload: bytes::Bytes,
}

struct Account {
    token: String,
    file_id: String,
}

impl Fixture {
    /// Creates an application with `accounts` local accounts, each with 20 small files.
    pub async fn prepare(
        base: &str,
        developer_key: &str,
        accounts: usize,
        file_size: usize,
    ) -> anyhow::Result<Arc<Self>> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(4096)
            .build()?;
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
            let account: Value = client
                .post(format!("{base}/v1/accounts"))
                .header("Authorization", format!("APIKey {key}"))
                .json(&json!({"account": format!("load{n}"), "service": "local"}))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let token = account["bearer_token"]["key"]
                .as_str()
                .context("token")?
                .to_string();
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
            list.push(Account { token, file_id });
        }
        ensure!(!list.is_empty());
        Ok(Arc::new(Self {
            base: base.trim_end_matches('/').to_string(),
            client,
            developer,
            accounts: list,
            payload,
        }))
    }

    /// Makes request number `i` of scenario `kind`.
    pub async fn request(&self, kind: Kind, i: u64) -> Outcome {
        let account = &self.accounts[(i as usize) % self.accounts.len()];
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
        let b = &self.base;
        let c = &self.client;
        let req = match kind {
            Kind::Ping => c
                .get(format!("{b}/ops/ping"))
                .header("Authorization", &self.developer),
            Kind::Health => c.get(format!("{b}/health")),
            Kind::Metadata => c
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
            Kind::Mixed => unreachable!("resolved above"),
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
