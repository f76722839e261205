//! The token endpoint of an OAuth service: authorization codes and refresh tokens
//! exchanged for access tokens (RFC 6749 §4.1.3, §6).

use chrono::Utc;
use cloudbridge_shared::{config::ProviderSettings, secret::Secret};
use serde::Deserialize;

use super::{Granted, OAuthSecrets};

/// The client credentials an application (or the appliance) holds at a service.
#[derive(Clone, Debug)]
pub struct Client {
    /// Client id.
    pub id: String,
    /// Client secret.
    pub secret: Secret,
}

/// Why a grant failed.
#[derive(Debug)]
pub enum GrantError {
    /// The service refused the code or refresh token itself (`invalid_grant`): asking
    /// again with the same one cannot work, and the account must be reconnected.
    Refused(String),
    /// The service refused the client, not the grant (`invalid_client`,
    /// `unauthorized_client`, a malformed request): the application's or the appliance's
    /// OAuth configuration is broken, which no account can be blamed for.
    Client(String),
    /// The service could not be reached or answered oddly: worth trying later.
    Unavailable(String),
}

impl std::fmt::Display for GrantError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GrantError::Refused(e) => write!(f, "refused: {e}"),
            GrantError::Client(e) => write!(f, "client refused: {e}"),
            GrantError::Unavailable(e) => write!(f, "unavailable: {e}"),
        }
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Exchanges an authorization code (with its PKCE verifier, if one was sent).
pub async fn exchange_code(
    http: &reqwest::Client,
    provider: &ProviderSettings,
    client: &Client,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> Result<Granted, GrantError> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(verifier) = verifier {
        form.push(("code_verifier", verifier));
    }
    grant(http, provider, client, &form, None).await
}

/// Trades a refresh token for new tokens; a service that does not rotate refresh tokens
/// keeps the old one.
pub async fn refresh(
    http: &reqwest::Client,
    provider: &ProviderSettings,
    client: &Client,
    refresh_token: &str,
) -> Result<Granted, GrantError> {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    grant(http, provider, client, &form, Some(refresh_token)).await
}

async fn grant(
    http: &reqwest::Client,
    provider: &ProviderSettings,
    client: &Client,
    form: &[(&str, &str)],
    old_refresh: Option<&str>,
) -> Result<Granted, GrantError> {
    let mut form = form.to_vec();
    form.push(("client_id", &client.id));
    form.push(("client_secret", client.secret.expose()));
    let response = http
        .post(&provider.token_url)
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form)
        .timeout(std::time::Duration::from_secs(15))
        .send()
        .await
        .map_err(|e| GrantError::Unavailable(e.without_url().to_string()))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| GrantError::Unavailable(e.without_url().to_string()))?;
    if status.is_success() {
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| GrantError::Unavailable(format!("token answer: {e}")))?;
        return Ok(Granted {
            secrets: OAuthSecrets {
                access_token: answer.access_token,
                refresh_token: answer
                    .refresh_token
                    .or_else(|| old_refresh.map(str::to_string)),
            },
            expires_at: answer
                .expires_in
                .map(|secs| Utc::now() + chrono::Duration::seconds(secs)),
        });
    }
    match serde_json::from_slice::<ErrorAnswer>(&body) {
        Ok(e) if status.is_client_error() && e.error != "temporarily_unavailable" => {
            let why = match e.error_description {
                Some(d) => format!("{}: {d}", e.error),
                None => e.error.clone(),
            };
            // RFC 6749 §5.2: only `invalid_grant` says the grant itself is no good; the
            // other codes are about the client or the request.
            Err(if e.error == "invalid_grant" {
                GrantError::Refused(why)
            } else {
                GrantError::Client(why)
            })
        }
        _ => Err(GrantError::Unavailable(format!(
            "the token endpoint answered {status}"
        ))),
    }
}
