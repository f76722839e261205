//! OAuth 2.0 as Box plays it: the authorization endpoint (the user always consents, unless
//! told to deny), the token endpoint (`authorization_code` and `refresh_token` grants with
//! client id and secret in the form), single-use codes and rotating single-use refresh
//! tokens, and the access tokens the API accepts.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use axum::{
    extract::{Query, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Form, Json,
};
use serde_json::json;

use super::{errors::oauth_error, AppState};

/// How long an authorization code can be exchanged (Box: tens of seconds).
const CODE_LIFETIME: Duration = Duration::from_secs(30);

struct Code {
    client_id: String,
    redirect_uri: String,
    issued: Instant,
}

/// Tokens and codes.
pub(super) struct Auth {
    /// Accepted access tokens and when they stop working (`None`: never).
    access: HashMap<String, Option<Instant>>,
    /// Refresh tokens not used yet, with the client they belong to.
    refresh: HashMap<String, String>,
    /// Authorization codes not exchanged yet.
    codes: HashMap<String, Code>,
}

fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Auth {
    /// Accepting `tokens` for ever.
    pub fn new(tokens: &[String]) -> Self {
        Self {
            access: tokens.iter().map(|t| (t.clone(), None)).collect(),
            refresh: HashMap::new(),
            codes: HashMap::new(),
        }
    }

    /// True when `token` is a live access token.
    pub fn accepts(&self, token: &str) -> bool {
        self.access
            .get(token)
            .is_some_and(|until| until.is_none_or(|t| Instant::now() < t))
    }

    /// Accepts `token` until `until`.
    pub fn accept(&mut self, token: &str, until: Option<Instant>) {
        self.access.insert(token.to_string(), until);
    }

    /// Refuses `token` from now on.
    pub fn revoke(&mut self, token: &str) {
        self.access.remove(token);
    }

    /// A fresh access token (living `lifetime` seconds) and refresh token for `client`.
    pub fn issue(&mut self, client: &str, lifetime: u64) -> (String, String) {
        let (access, refresh) = (random_token(), random_token());
        let until = Instant::now() + Duration::from_secs(lifetime);
        self.access.insert(access.clone(), Some(until));
        self.refresh.insert(refresh.clone(), client.to_string());
        (access, refresh)
    }
}

/// `GET /api/oauth2/authorize?response_type=code&client_id&redirect_uri&state`: the user
/// consents at once and the browser is sent back with `code` and `state`.
pub async fn authorize(State(s): AppState, Query(q): Query<HashMap<String, String>>) -> Response {
    let (Some(client), Some(redirect)) = (q.get("client_id"), q.get("redirect_uri")) else {
        return (
            StatusCode::BAD_REQUEST,
            "client_id and redirect_uri are required",
        )
            .into_response();
    };
    if *client != s.config.client_id {
        return (StatusCode::BAD_REQUEST, "invalid_client").into_response();
    }
    let Ok(mut back) = url::Url::parse(redirect) else {
        return (StatusCode::BAD_REQUEST, "invalid redirect_uri").into_response();
    };
    {
        let mut world = s.world();
        let mut pairs = back.query_pairs_mut();
        if q.get("response_type").map(String::as_str) != Some("code") {
            pairs.append_pair("error", "unsupported_response_type");
        } else if std::mem::take(&mut world.deny_next) {
            pairs.append_pair("error", "access_denied");
            pairs.append_pair(
                "error_description",
                "The user denied access to your application",
            );
        } else {
            let code = uuid::Uuid::new_v4().simple().to_string();
            world.auth.codes.insert(
                code.clone(),
                Code {
                    client_id: client.clone(),
                    redirect_uri: redirect.clone(),
                    issued: Instant::now(),
                },
            );
            pairs.append_pair("code", &code);
        }
        if let Some(state) = q.get("state") {
            pairs.append_pair("state", state);
        }
    }
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(location) = HeaderValue::from_str(back.as_str()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `POST /oauth2/token` (form): `authorization_code` or `refresh_token` grants.
pub async fn token(State(s): AppState, Form(form): Form<HashMap<String, String>>) -> Response {
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if get("client_id") != s.config.client_id || get("client_secret") != s.config.client_secret {
        return oauth_error("invalid_client", "The client credentials are invalid");
    }
    let client = get("client_id");
    let mut world = s.world();
    let auth = &mut world.auth;
    match get("grant_type") {
        "authorization_code" => {
            let code = auth.codes.remove(get("code"));
            let good = code.is_some_and(|c| {
                c.client_id == client
                    && c.issued.elapsed() < CODE_LIFETIME
                    && (get("redirect_uri").is_empty() || c.redirect_uri == get("redirect_uri"))
            });
            if !good {
                return oauth_error(
                    "invalid_grant",
                    "Auth code doesn't exist or is invalid for the client",
                );
            }
        }
        "refresh_token" => {
            // Single use: the token is gone once presented.
            if auth.refresh.remove(get("refresh_token")).as_deref() != Some(client) {
                return oauth_error("invalid_grant", "Invalid refresh token");
            }
        }
        _ => {
            return oauth_error(
                "invalid_request",
                "Invalid grant_type parameter or parameter missing",
            )
        }
    }
    let lifetime = s.config.token_lifetime;
    let (access, refresh) = auth.issue(client, lifetime);
    Json(json!({
        "access_token": access,
        "expires_in": lifetime,
        "restricted_to": [],
        "refresh_token": refresh,
        "token_type": "bearer",
    }))
    .into_response()
}
