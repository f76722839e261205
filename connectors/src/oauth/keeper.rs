//! The one owner of token refresh in a process. A refresh first claims the account's
//! token row in PostgreSQL (a short lease, committed at once), then asks the service, then
//! swaps the credential `version` in a statement of its own; a per-process single flight
//! keeps a process's concurrent requests to one waiter. So however many workers, API
//! processes and sweeps want a fresh token at once, the service sees one refresh, and
//! everybody goes on with its result.
//!
//! No connection is held while the service is asked (a pool cannot deadlock on
//! refreshes), and tokens the service issued are never dropped because one write failed:
//! the write is retried, and while the database is away the tokens serve this process.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use cloudbridge_shared::{
    config::{OAuthSettings, ProvidersSettings},
    crypto::Cipher,
    db::{self, tokens::StoredToken},
    secret::Secret,
    telemetry::names,
    ApiError,
};
use dashmap::DashMap;
use sqlx::PgPool;

use super::{
    provider::{self, Client, GrantError},
    service_unauthorized, Granted, OAuthSecrets, Token, TokenSource,
};

/// A token is renewed before use when it expires within this margin (or within a
/// quarter of its lifetime, for services that issue very short-lived tokens).
const EXPIRY_MARGIN_SECS: i64 = 60;
/// How long a refresh's claim on the token row lasts: longer than the token endpoint's
/// time-out (15 s), so only a claim whose process died is ever taken over.
const CLAIM_SECS: u64 = 30;
/// How often a request waiting on another process's refresh reads the row again.
const CLAIM_POLL: Duration = Duration::from_millis(50);

/// Tokens of the accounts this process serves.
pub struct Keeper {
    db: PgPool,
    cipher: Arc<Cipher>,
    providers: Arc<ProvidersSettings>,
    settings: OAuthSettings,
    http: reqwest::Client,
    slots: DashMap<i64, Arc<Slot>>,
}

/// One account's cached token and its single flight.
#[derive(Default)]
struct Slot {
    flight: tokio::sync::Mutex<()>,
    current: Mutex<Option<Cached>>,
}

#[derive(Clone)]
struct Cached {
    token: Token,
    issued_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
}

impl Cached {
    fn expiring(&self) -> bool {
        let Some(at) = self.expires_at else {
            return false;
        };
        let margin = chrono::Duration::seconds(EXPIRY_MARGIN_SECS).min((at - self.issued_at) / 4);
        at - Utc::now() < margin
    }
}

/// Why [`Keeper::refresh_due`] did or did not refresh.
#[derive(Debug, PartialEq, Eq)]
pub enum Sweep {
    /// The service issued new tokens.
    Refreshed,
    /// Not due (any more): someone else refreshed, or the row is gone.
    Skipped,
}

impl Keeper {
    /// A keeper over the token rows in `db`.
    pub fn new(
        db: PgPool,
        cipher: Arc<Cipher>,
        providers: Arc<ProvidersSettings>,
        settings: OAuthSettings,
        http: reqwest::Client,
    ) -> Arc<Self> {
        Arc::new(Self {
            db,
            cipher,
            providers,
            settings,
            http,
            slots: DashMap::new(),
        })
    }

    /// The token source of one account.
    pub fn source(self: &Arc<Self>, account: i64) -> Arc<dyn TokenSource> {
        Arc::new(AccountTokens {
            keeper: self.clone(),
            account,
        })
    }

    /// Seals tokens for storage.
    pub fn seal(&self, secrets: &OAuthSecrets) -> Vec<u8> {
        crate::seal_secrets(secrets, &self.cipher)
    }

    /// Stores the tokens of a connected account (a new credential version).
    pub async fn store(&self, account: i64, granted: &Granted) -> Result<(), ApiError> {
        let sealed = self.seal(&granted.secrets);
        db::tokens::store(&self.db, account, &sealed, granted.expires_at).await?;
        self.slots.remove(&account);
        Ok(())
    }

    fn slot(&self, account: i64) -> Arc<Slot> {
        self.slots.entry(account).or_default().clone()
    }

    /// A usable access token for `account`.
    pub async fn token(self: &Arc<Self>, account: i64) -> Result<Token, ApiError> {
        let slot = self.slot(account);
        if let Some(cached) = slot.current.lock().expect("token slot").clone() {
            if !cached.expiring() {
                return Ok(cached.token);
            }
        }
        self.renew(account, &slot, None).await
    }

    /// A token newer than version `stale` (which the service refused).
    pub async fn refreshed(self: &Arc<Self>, account: i64, stale: i64) -> Result<Token, ApiError> {
        let slot = self.slot(account);
        self.renew(account, &slot, Some(stale)).await
    }

    /// Refreshes `account` if its token is (still) due by the sweep's rules: past the
    /// refresh fraction of its lifetime, or idle for too long.
    pub async fn refresh_due(self: &Arc<Self>, account: i64) -> Result<Sweep, ApiError> {
        let slot = self.slot(account);
        let _flight = slot.flight.lock().await;
        let Some(row) = db::tokens::get(&self.db, account).await? else {
            return Ok(Sweep::Skipped);
        };
        // Not due, or another process is refreshing it right now.
        if !self.due(&row) || !db::tokens::claim(&self.db, account, row.version, CLAIM_SECS).await?
        {
            return Ok(Sweep::Skipped);
        }
        let cached = self.refresh_claimed(row).await?;
        *slot.current.lock().expect("token slot") = Some(cached);
        Ok(Sweep::Refreshed)
    }

    fn due(&self, row: &StoredToken) -> bool {
        let now = Utc::now();
        let idle =
            now - row.issued_at > chrono::Duration::seconds(self.settings.refresh_idle_secs as i64);
        let aged = row.expires_at.is_some_and(|at| {
            let life = (at - row.issued_at).num_milliseconds() as f64;
            let age = (now - row.issued_at).num_milliseconds() as f64;
            age >= life * self.settings.refresh_at_fraction
        });
        idle || aged
    }

    async fn renew(
        self: &Arc<Self>,
        account: i64,
        slot: &Slot,
        stale: Option<i64>,
    ) -> Result<Token, ApiError> {
        let _flight = slot.flight.lock().await;
        let usable = |c: &Cached| !c.expiring() && stale.is_none_or(|v| c.token.version > v);
        // Another request of this process may have renewed it while this one waited.
        if let Some(cached) = slot.current.lock().expect("token slot").clone() {
            if usable(&cached) {
                return Ok(cached.token);
            }
        }
        let waited_from = Instant::now();
        let cached = loop {
            let row = db::tokens::get(&self.db, account)
                .await?
                .ok_or_else(service_unauthorized)?;
            let cached = self.cached(&row)?;
            if usable(&cached) {
                // Another process refreshed it.
                break cached;
            }
            if db::tokens::claim(&self.db, account, row.version, CLAIM_SECS).await? {
                break self.refresh_claimed(row).await?;
            }
            // Another process is asking the service: its answer lands in the row (or its
            // claim runs out, if it died, and this one takes over).
            if waited_from.elapsed() > Duration::from_secs(CLAIM_SECS + 5) {
                return Err(ApiError::overloaded(
                    "The account's token is being refreshed; retry shortly.",
                    1,
                ));
            }
            tokio::time::sleep(CLAIM_POLL).await;
        };
        *slot.current.lock().expect("token slot") = Some(cached.clone());
        Ok(cached.token)
    }

    fn cached(&self, row: &StoredToken) -> Result<Cached, ApiError> {
        let secrets = self.open(row)?;
        Ok(Cached {
            token: Token {
                access: Secret::new(secrets.access_token),
                version: row.version,
            },
            issued_at: row.issued_at,
            expires_at: row.expires_at,
        })
    }

    fn open(&self, row: &StoredToken) -> Result<OAuthSecrets, ApiError> {
        serde_json::from_slice(&self.cipher.open(&row.sealed)?).map_err(ApiError::internal)
    }

    /// Asks the service for new tokens with the claimed row's refresh token, and keeps
    /// what it answers. It runs as a task of its own: a caller that gives up (a request
    /// past its deadline) must not cancel it between the service's answer and its write.
    async fn refresh_claimed(self: &Arc<Self>, row: StoredToken) -> Result<Cached, ApiError> {
        let keeper = self.clone();
        tokio::spawn(async move { keeper.refresh_in_task(row).await })
            .await
            .map_err(ApiError::internal)?
    }

    async fn refresh_in_task(&self, row: StoredToken) -> Result<Cached, ApiError> {
        let count = |outcome: &'static str| {
            metrics::counter!(names::TOKEN_REFRESHES, "service" => row.service.clone(), "outcome" => outcome)
                .increment(1);
        };
        let e = match self.ask(&row).await {
            Ok(Some(Ok(granted))) => {
                count("ok");
                return self.keep(&row, granted).await;
            }
            Ok(Some(Err(e))) => e,
            Ok(None) => {
                count("no_refresh_token");
                db::tokens::release(&self.db, row.account_id, row.version).await?;
                return Err(service_unauthorized());
            }
            Err(e) => {
                db::tokens::release(&self.db, row.account_id, row.version).await?;
                return Err(e);
            }
        };
        db::tokens::release(&self.db, row.account_id, row.version).await?;
        count(match e {
            GrantError::Refused(_) => "refused",
            GrantError::Client(_) => "client_rejected",
            GrantError::Unavailable(_) => "unavailable",
        });
        // A reconnect (or an older process's refresh) may have replaced the tokens while
        // the service was asked: those are good, use them.
        if let Some(now) = db::tokens::get(&self.db, row.account_id).await? {
            if now.version > row.version {
                return self.cached(&now);
            }
        }
        self.failed(&row, &e).await
    }

    /// The service's answer to a refresh with `row`'s refresh token (`None`: the account
    /// has none to refresh with).
    async fn ask(
        &self,
        row: &StoredToken,
    ) -> Result<Option<Result<Granted, GrantError>>, ApiError> {
        let Some(refresh_token) = self.open(row)?.refresh_token else {
            return Ok(None);
        };
        let provider = crate::service::find(&row.service)
            .and_then(|s| s.provider(&self.providers))
            .ok_or_else(|| {
                ApiError::internal(format_args!("{} is not an OAuth service", row.service))
            })?;
        let client = self.client(&row.application_id, &row.service).await?;
        Ok(Some(
            provider::refresh(&self.http, provider, &client, &refresh_token).await,
        ))
    }

    /// Writes tokens the service just issued over `row`'s. The service may already have
    /// retired the refresh token they replace, so one failed write must not lose them: it
    /// is retried, and when the database stays away a task of this process goes on
    /// writing them while they serve its requests.
    async fn keep(&self, row: &StoredToken, granted: Granted) -> Result<Cached, ApiError> {
        let sealed = self.seal(&granted.secrets);
        let (account, version, expires_at) = (row.account_id, row.version, granted.expires_at);
        let save = {
            let db = self.db.clone();
            move || {
                let (db, sealed) = (db.clone(), sealed.clone());
                async move { db::tokens::swap(&db, account, version, &sealed, expires_at).await }
            }
        };
        let retry = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(2))
            .with_max_times(5);
        let saved = match save.clone().retry(retry).await {
            Ok(Some(version)) => version,
            // A reconnect replaced the tokens meanwhile: its tokens are the newer ones.
            Ok(None) => {
                let now = db::tokens::get(&self.db, account)
                    .await?
                    .ok_or_else(service_unauthorized)?;
                return self.cached(&now);
            }
            Err(e) => {
                tracing::error!(account, error = %e, "refreshed tokens not saved; still trying");
                let forever = ExponentialBuilder::default()
                    .with_max_delay(Duration::from_secs(30))
                    .without_max_times();
                tokio::spawn(async move {
                    match save.retry(forever).await {
                        Ok(_) => tracing::info!(account, "refreshed tokens saved"),
                        Err(e) => tracing::error!(account, error = %e, "refreshed tokens lost"),
                    }
                });
                version
            }
        };
        tracing::info!(account, version = saved, "token refreshed");
        Ok(Cached {
            token: Token {
                access: Secret::new(granted.secrets.access_token),
                version: saved,
            },
            issued_at: Utc::now(),
            expires_at,
        })
    }

    async fn failed(&self, row: &StoredToken, e: &GrantError) -> Result<Cached, ApiError> {
        if let GrantError::Client(why) = e {
            // Not the account's fault: nothing is counted against it.
            tracing::error!(
                account = row.account_id,
                service = %row.service,
                error = %why,
                "the service refused the OAuth client; fix the service keys"
            );
            return Err(ApiError::new(
                502,
                "bad_gateway",
                format!(
                    "The service refused this application's OAuth client ({why}): the \
                     client id and secret configured for {} must be fixed; the account \
                     itself is fine.",
                    row.service
                ),
            ));
        }
        tracing::warn!(account = row.account_id, error = %e, "token refresh failed");
        let since = db::tokens::record_failure(&self.db, row.account_id, &e.to_string()).await?;
        match e {
            GrantError::Refused(why) => {
                let limit = chrono::Duration::seconds(self.settings.reauth_after_secs as i64);
                if since.is_some_and(|since| Utc::now() - since >= limit) {
                    let reason = format!("The service refused to refresh the token ({why}).");
                    db::tokens::mark_needs_reauth(&self.db, row.account_id, &reason).await?;
                    tracing::warn!(account = row.account_id, "account needs reauthorization");
                }
                Err(service_unauthorized())
            }
            _ => Err(ApiError::new(
                503,
                "service_not_available",
                "The service's token endpoint is not available; retry later.",
            )),
        }
    }

    /// The client credentials of `application` at `service` (those of the provider it
    /// uses: `onedrivebiz` uses `onedrive`'s): its own, else the appliance's.
    pub async fn client(&self, application: &str, service: &str) -> Result<Client, ApiError> {
        let not_oauth = || ApiError::internal(format_args!("{service} is not an OAuth service"));
        let described = crate::service::find(service).ok_or_else(not_oauth)?;
        let (oauth, provider) = described
            .oauth()
            .zip(described.provider(&self.providers))
            .ok_or_else(not_oauth)?;
        if let Some((id, sealed)) =
            db::providers::client(&self.db, application, oauth.provider).await?
        {
            let secret =
                String::from_utf8(self.cipher.open(&sealed)?).map_err(ApiError::internal)?;
            return Ok(Client {
                id,
                secret: Secret::new(secret),
            });
        }
        Ok(Client {
            id: provider.client_id.clone(),
            secret: provider.client_secret.clone(),
        })
    }
}

/// The [`TokenSource`] of one stored account.
struct AccountTokens {
    keeper: Arc<Keeper>,
    account: i64,
}

#[async_trait]
impl TokenSource for AccountTokens {
    async fn token(&self) -> Result<Token, ApiError> {
        self.keeper.token(self.account).await
    }

    async fn refreshed(&self, stale: &Token) -> Result<Token, ApiError> {
        self.keeper.refreshed(self.account, stale.version).await
    }
}
