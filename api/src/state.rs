//! The one state type of the API tier.

use std::{ops::Deref, path::PathBuf, sync::Arc};

use cloudbridge_shared::Settings;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use cloudbridge_shared::db::accounts::Account;

use crate::{auth::Caller, cache::TtlCache, pipeline::Pipeline};

/// Everything a handler can reach. Axum clones the state for every extractor of every
/// request, so it is one shared allocation: a clone is one reference count, not a dozen
/// plus a path buffer (which showed in the API's profile).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// The state holding `shared`.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct Shared {
    /// PostgreSQL pool: developers, applications, keys, accounts.
    pub db: PgPool,
    /// The request path to the workers.
    pub pipeline: Arc<Pipeline>,
    /// Settings of this process.
    pub settings: Arc<Settings>,
    /// Root of the `local` service's data (streamed by this tier).
    pub data_root: PathBuf,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Verified credentials, by digest of `scheme credential`.
    pub callers: Arc<TtlCache<Vec<u8>, Caller>>,
    /// Seals service credentials at import (`None`: no `secrets.keys` configured).
    pub cipher: Option<Arc<cloudbridge_shared::crypto::Cipher>>,
    /// Client for transfers to and from services.
    pub http: reqwest::Client,
    /// Opens accounts' connectors for transfers (with their kept OAuth tokens).
    pub connectors: cloudbridge_connectors::Context,
    /// Accounts by `(application, id)`.
    pub accounts: Arc<TtlCache<(String, i64), Account>>,
    /// Sends the verification ping of a webhook being registered.
    pub webhooks: cloudbridge_shared::webhook::Sender,
    /// Rate limits and the password-hashing bound.
    pub limits: Arc<crate::limits::Limits>,
    /// The widgets' bundles, rewritten to point here.
    pub bundles: crate::bundles::Bundles,
    /// Requests counted per application, written in batches by the usage flusher.
    pub usage: Arc<cloudbridge_shared::usage::Usage>,
}

impl Shared {
    /// Forgets cached credentials and accounts of an application (after a deletion).
    pub fn forget_application(&self, application: &str) {
        self.callers
            .invalidate(|_, c| c.application() == Some(application));
        self.accounts.invalidate(|(app, _), _| app == application);
    }

    /// Forgets a cached account and the bearer tokens of it.
    pub fn forget_account(&self, application: &str, account: i64) {
        self.accounts
            .invalidate(|(app, id), _| app == application && *id == account);
        self.callers.invalidate(move |_, c| match c {
            Caller::Account { account: a, .. } => *a == account,
            Caller::Accounts { accounts, .. } => accounts.contains(&account),
            _ => false,
        });
    }
}
