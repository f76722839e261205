//! OAuth 2.0 services: where a connector gets its account's access token ([`TokenSource`]),
//! and one HTTP discipline for every first-party connector ([`Api`]): the bearer token
//! injected, one retry with a refreshed token after a 401, and rate-limit answers (429,
//! 503 with `Retry-After`) waited out within a bound.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cloudbridge_shared::{secret::Secret, ApiError};
use serde::{Deserialize, Serialize};

pub mod keeper;
pub mod provider;

pub use keeper::{Keeper, Sweep};

/// An access token and the credential version it came from.
#[derive(Clone, Debug)]
pub struct Token {
    /// The bearer token.
    pub access: Secret,
    /// Version of the stored credential (0 for a token that is not stored).
    pub version: i64,
}

/// Where a connector gets its account's access token.
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// A usable access token (refreshed first when it is about to expire).
    async fn token(&self) -> Result<Token, ApiError>;
    /// A token newer than `stale`, which the service refused with a 401.
    async fn refreshed(&self, stale: &Token) -> Result<Token, ApiError>;
}

/// The sealed part of an OAuth account: its tokens.
#[derive(Clone, Serialize, Deserialize)]
pub struct OAuthSecrets {
    /// Access token.
    pub access_token: String,
    /// Refresh token, when the service issued one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Tokens handed over at import or connect time, with their expiry.
#[derive(Clone)]
pub struct Granted {
    /// The tokens.
    pub secrets: OAuthSecrets,
    /// When the access token expires, if known.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token that cannot be refreshed: an account being checked before it is stored.
pub struct FixedToken(pub Token);

#[async_trait]
impl TokenSource for FixedToken {
    async fn token(&self) -> Result<Token, ApiError> {
        Ok(self.0.clone())
    }

    async fn refreshed(&self, _stale: &Token) -> Result<Token, ApiError> {
        Err(service_unauthorized())
    }
}

/// The 401 a client sees when the service refuses the account's credentials.
pub fn service_unauthorized() -> ApiError {
    ApiError::new(
        401,
        "service_unauthorized",
        "The service refused the account's credentials; reconnect the account.",
    )
}

/// How long one rate-limit answer may make a request wait before it is passed on.
pub const MAX_WAIT: Duration = Duration::from_secs(8);
/// Rate-limited attempts before the answer is passed on to the client.
pub const ATTEMPTS: u32 = 3;

/// The time limit of a call that streams a file's bytes (a download, an upload): as
/// long as a large transfer may take. Calls set it themselves; every other call gets
/// its service's `call_timeout_ms`.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// HTTP access to one account at its service.
#[derive(Clone)]
pub struct Api {
    /// Shared HTTP client.
    pub http: reqwest::Client,
    /// The account's tokens.
    pub tokens: Arc<dyn TokenSource>,
    /// Time limit of a call that sets none of its own, so a hung service cannot hold a
    /// job (or a collection) forever.
    pub call_timeout: Duration,
    /// Headers sent with every call (an admin acting as a member of its team: Box's
    /// `As-User`, Dropbox's `Dropbox-API-Select-User`).
    pub headers: Vec<(&'static str, String)>,
}

impl Api {
    /// This access with `name: value` sent on every call.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// `request` with the headers every call of this access carries.
    pub fn decorate(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        self.headers
            .iter()
            .fold(request, |r, (name, value)| r.header(*name, value))
    }

    /// Sends the request `build` makes (called again for each attempt) with the account's
    /// bearer token. A 401 is retried once with a refreshed token; 429 and 503 are
    /// retried after `Retry-After` (or an exponential backoff) while the wait stays
    /// short, then answered as 429 `too_many_service_requests`. Any other answer,
    /// successful or not, is returned for the connector to interpret.
    pub async fn send<F>(&self, build: F) -> Result<reqwest::Response, ApiError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        let mut token = self.tokens.token().await?;
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            let mut request = self
                .decorate(build(&self.http))
                .bearer_auth(token.access.expose())
                .build()
                .map_err(unreachable)?;
            if request.timeout().is_none() {
                *request.timeout_mut() = Some(self.call_timeout);
            }
            let response = self.http.execute(request).await.map_err(unreachable)?;
            let status = response.status().as_u16();
            match status {
                401 if !refreshed => {
                    refreshed = true;
                    token = self.tokens.refreshed(&token).await?;
                }
                429 | 503 => {
                    attempt += 1;
                    let wait = retry_after(&response).unwrap_or_else(|| backoff(attempt));
                    if attempt >= ATTEMPTS || wait > MAX_WAIT {
                        return Err(rate_limited(wait));
                    }
                    tokio::time::sleep(wait).await;
                }
                _ => return Ok(response),
            }
        }
    }
}

impl Api {
    /// Sends the request `build` makes with the account's bearer token and, when
    /// `retry_refused` holds, once more with a refreshed token after a 401. Every answer
    /// is returned as it came (pass-through requests mirror them).
    pub async fn authorized<F>(
        &self,
        build: F,
        retry_refused: bool,
    ) -> Result<reqwest::Response, ApiError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        let token = self.tokens.token().await?;
        let send = |token: Token| {
            self.decorate(build(&self.http))
                .bearer_auth(token.access.expose())
                .send()
        };
        let response = send(token.clone()).await.map_err(unreachable)?;
        if response.status() != reqwest::StatusCode::UNAUTHORIZED || !retry_refused {
            return Ok(response);
        }
        let token = self.tokens.refreshed(&token).await?;
        send(token).await.map_err(unreachable)
    }
}

/// The wait before rate-limited attempt `attempt + 1` when the service names none
/// (exponential from 500 ms). Connectors use it for service-specific throttling answers
/// (e.g. Drive's 403 `rateLimitExceeded`) together with [`ATTEMPTS`] and [`MAX_WAIT`].
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 << attempt.min(5))
}

/// The wait a `Retry-After` header asks for (seconds or an HTTP date).
pub fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value.trim()).ok()?;
    let wait = at.with_timezone(&Utc) - Utc::now();
    Some(wait.to_std().unwrap_or_default())
}

/// The 429 a client sees when the service keeps rate limiting.
pub fn rate_limited(wait: Duration) -> ApiError {
    let mut e = ApiError::new(
        429,
        "too_many_service_requests",
        "The service is rate limiting this account; retry later.",
    );
    e.retry_after = Some(wait.as_secs().max(1));
    e
}

/// The 503 a client sees when the service cannot be reached.
pub fn unreachable(e: reqwest::Error) -> ApiError {
    ApiError::new(
        503,
        "service_not_available",
        format!("The service is unreachable: {}", e.without_url()),
    )
}
