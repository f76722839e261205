//! The one owner of token refresh in a process. A refresh happens while holding the
//! account's token row lock in PostgreSQL, and swaps the credential `version`; a
//! per-process single flight keeps a process's concurrent requests to one waiter. So
//! however many workers, API processes and sweeps want a fresh token at once, the
//! service sees one refresh, and everybody goes on with its result.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
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
    pub async fn token(&self, account: i64) -> Result<Token, ApiError> {
        let slot = self.slot(account);
        if let Some(cached) = slot.current.lock().expect("token slot").clone() {
            if !cached.expiring() {
                return Ok(cached.token);
            }
        }
        self.renew(account, &slot, None).await
    }

    /// A token newer than version `stale` (which the service refused).
    pub async fn refreshed(&self, account: i64, stale: i64) -> Result<Token, ApiError> {
        let slot = self.slot(account);
        self.renew(account, &slot, Some(stale)).await
    }

    /// Refreshes `account` if its token is (still) due by the sweep's rules: past the
    /// refresh fraction of its lifetime, or idle for too long.
    pub async fn refresh_due(&self, account: i64) -> Result<Sweep, ApiError> {
        let slot = self.slot(account);
        let _flight = slot.flight.lock().await;
        let mut tx = self.db.begin().await?;
        let Some(row) = db::tokens::lock(&mut tx, account).await? else {
            return Ok(Sweep::Skipped);
        };
        if !self.due(&row) {
            return Ok(Sweep::Skipped);
        }
        let cached = self.refresh_locked(tx, row).await?;
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
        &self,
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
        let row = db::tokens::get(&self.db, account)
            .await?
            .ok_or_else(service_unauthorized)?;
        let cached = self.cached(&row)?;
        let cached = if usable(&cached) {
            cached
        } else {
            let mut tx = self.db.begin().await?;
            let row = db::tokens::lock(&mut tx, account)
                .await?
                .ok_or_else(service_unauthorized)?;
            let cached = self.cached(&row)?;
            if usable(&cached) {
                // Another process refreshed while this one waited for the lock.
                cached
            } else {
                self.refresh_locked(tx, row).await?
            }
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

    /// Calls the service with the locked row's refresh token and swaps in the answer.
    async fn refresh_locked(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        row: StoredToken,
    ) -> Result<Cached, ApiError> {
        let service = row.service.clone();
        let count = |outcome: &'static str| {
            metrics::counter!(names::TOKEN_REFRESHES, "service" => service.clone(), "outcome" => outcome)
                .increment(1);
        };
        let secrets = self.open(&row)?;
        let Some(refresh_token) = secrets.refresh_token.as_deref() else {
            drop(tx);
            count("no_refresh_token");
            return Err(service_unauthorized());
        };
        let provider = self.providers.get(&row.service).ok_or_else(|| {
            ApiError::internal(format_args!("{} is not an OAuth service", row.service))
        })?;
        let client = self.client(&row.application_id, &row.service).await?;
        let answer = provider::refresh(&self.http, provider, &client, refresh_token).await;
        match answer {
            Ok(granted) => {
                let sealed = self.seal(&granted.secrets);
                let version = db::tokens::swap(
                    &mut tx,
                    row.account_id,
                    row.version,
                    &sealed,
                    granted.expires_at,
                )
                .await?
                .ok_or_else(|| ApiError::internal("token row changed under its lock"))?;
                tx.commit().await?;
                count("ok");
                tracing::info!(account = row.account_id, version, "token refreshed");
                Ok(Cached {
                    token: Token {
                        access: Secret::new(granted.secrets.access_token),
                        version,
                    },
                    issued_at: Utc::now(),
                    expires_at: granted.expires_at,
                })
            }
            Err(e) => {
                drop(tx);
                count(match e {
                    GrantError::Refused(_) => "refused",
                    GrantError::Unavailable(_) => "unavailable",
                });
                // A reconnect (or an older process's refresh) may have replaced the
                // tokens while the service was asked: those are good, use them.
                if let Some(now) = db::tokens::get(&self.db, row.account_id).await? {
                    if now.version > row.version {
                        return self.cached(&now);
                    }
                }
                self.failed(&row, &e).await
            }
        }
    }

    async fn failed(&self, row: &StoredToken, e: &GrantError) -> Result<Cached, ApiError> {
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
            GrantError::Unavailable(_) => Err(ApiError::new(
                503,
                "service_not_available",
                "The service's token endpoint is not available; retry later.",
            )),
        }
    }

    /// The client credentials of `application` at `service`: its own, else the
    /// appliance's.
    pub async fn client(&self, application: &str, service: &str) -> Result<Client, ApiError> {
        let base = if service == "onedrivebiz" {
            "onedrive"
        } else {
            service
        };
        if let Some((id, sealed)) = db::providers::client(&self.db, application, base).await? {
            let secret =
                String::from_utf8(self.cipher.open(&sealed)?).map_err(ApiError::internal)?;
            return Ok(Client {
                id,
                secret: Secret::new(secret),
            });
        }
        let provider = self
            .providers
            .get(service)
            .ok_or_else(|| ApiError::internal(format_args!("{service} is not an OAuth service")))?;
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
