//! Inbound limits of the API tier: rate limits per credential, per client address, per
//! shared link, on the OAuth pages, the token endpoint and the File Picker's anonymous
//! uploads (429 `rate_limit_exceeded` + `Retry-After`), and the bound on concurrent
//! password hashing (503 + `Retry-After`).
//!
//! Everything is in this process's memory: the check on the hot path is a hash-map update,
//! never a database or Redis round trip, and each API replica counts on its own.
//!
//! # Layout
//! - `keyed`: [`Limiter`], one token bucket per key, with bounded memory.
//! - `hashing`: [`PasswordHashing`], at most a few argon2 hashes at once.
//! - `address`: the client address of a request (the connection's peer).

mod address;
mod hashing;
mod keyed;

use std::{net::IpAddr, sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use cloudbridge_shared::{ApiError, Settings};
use tokio_util::sync::CancellationToken;

pub use hashing::PasswordHashing;
pub use keyed::Limiter;

use crate::{auth, AppState};

/// How often the limiters forget the keys whose buckets are full again.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Every limiter of the process.
pub struct Limits {
    /// Per credential (its digest): every request carrying one.
    key: Limiter<[u8; 16]>,
    /// Per client address: requests without a credential this process has verified.
    address: Limiter<IpAddr>,
    /// Per client address: shared links.
    link: Limiter<IpAddr>,
    /// Per shared link id: password attempts.
    link_password: Limiter<String>,
    /// Per client address: the OAuth pages.
    oauth: Limiter<IpAddr>,
    /// Per client address: the token endpoint.
    token: Limiter<IpAddr>,
    /// Per client address: the File Picker's anonymous computer uploads.
    drop: Limiter<IpAddr>,
    /// Password hashing, a few at once.
    pub hashing: PasswordHashing,
}

impl Limits {
    /// The limits `settings` configure, forgetting refilled keys every few seconds until
    /// `stop` fires.
    pub fn start(settings: &Settings, stop: CancellationToken) -> Arc<Self> {
        let l = &settings.limits;
        let limits = Arc::new(Self {
            key: Limiter::new("key", l.key),
            address: Limiter::new("address", l.address),
            link: Limiter::new("link", l.link),
            link_password: Limiter::new("link_password", l.link_password),
            oauth: Limiter::new("oauth", l.oauth),
            token: Limiter::new("token", l.token),
            drop: Limiter::new("drop", l.drop),
            hashing: PasswordHashing::new(
                settings.password_hashes(),
                Duration::from_millis(l.password_hash_wait_ms),
            ),
        });
        let sweeping = limits.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => sweeping.sweep(),
                }
            }
        });
        limits
    }

    /// Takes one password attempt at shared link `id`.
    pub fn link_password(&self, id: &str) -> Result<(), ApiError> {
        self.link_password.check(&id.to_string())
    }

    fn sweep(&self) {
        self.key.sweep();
        self.address.sweep();
        self.link.sweep();
        self.link_password.sweep();
        self.oauth.sweep();
        self.token.sweep();
        self.drop.sweep();
    }

    /// The per-address limiter of a route family, if the path is in one.
    fn for_route(&self, path: &str) -> Option<&Limiter<IpAddr>> {
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if path.starts_with("/l/") {
            Some(&self.link)
        } else if under("/v1/oauth/token") {
            Some(&self.token)
        } else if under("/v1/oauth") {
            Some(&self.oauth)
        } else if under("/drop") {
            Some(&self.drop)
        } else {
            None
        }
    }
}

/// The rate limits in front of every route but `/health`, `/ready` and `/metrics`: the
/// route family's per-address limit, then the caller's: per credential, and per address
/// while the credential is not one this process verified (so guessing keys or tokens
/// counts against the address, not against a fresh bucket per guess).
pub async fn rate_limit(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    match admit(&state, &mut req) {
        Ok(()) => next.run(req).await,
        Err(refused) => refused.into_response(),
    }
}

fn admit(state: &AppState, req: &mut Request) -> Result<(), ApiError> {
    let path = req.uri().path();
    if matches!(path, "/health" | "/ready" | "/metrics") {
        return Ok(());
    }
    let limits = &state.limits;
    let client = crate::forwarded::client_address(
        req.headers(),
        req.extensions(),
        &state.settings.api.trusted_proxies,
    );
    let client = address::limit_key(client);
    if let Some(route) = limits.for_route(path) {
        route.check(&client)?;
    }
    let Some(credential) = auth::CredentialKey::of(req.headers()) else {
        return limits.address.check(&client);
    };
    if !state.callers.contains(&credential.0) {
        limits.address.check(&client)?;
    }
    limits.key.check(&credential.short())?;
    req.extensions_mut().insert(credential);
    Ok(())
}
