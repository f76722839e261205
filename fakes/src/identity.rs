//! An OAuth 2.0 authorization server standing in for Google's and Microsoft's identity
//! platforms (which cannot run here), for the Drive and OneDrive emulators: those accept
//! only fixed bearer tokens, so this server hands out tokens from a configured list.
//!
//! Covers what Cloudbridge uses, as RFC 6749 and RFC 7636 describe it and as both
//! platforms document it: `GET /authorize` shows a consent form (Allow / Deny; Deny
//! answers `error=access_denied`), `POST /token` with `authorization_code` (single-use
//! codes, redirect URI and client credentials checked, PKCE S256 verified when a challenge
//! was sent) and `refresh_token` (each refresh token works once: rotation; reuse answers
//! `invalid_grant`). Errors are RFC 6749 §5.2 JSON bodies. Not covered: ID tokens,
//! consent scopes beyond echoing `scope`, device and client-credentials grants.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Form, Json, Router,
};
use serde_json::json;

/// A running identity server.
pub struct Identity {
    /// `http://127.0.0.1:port`.
    pub base: String,
    state: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

struct Inner {
    client_id: String,
    client_secret: String,
    access_tokens: Vec<String>,
    expires_in: i64,
    issued: AtomicUsize,
    refreshes: AtomicUsize,
    codes: Mutex<HashMap<String, Code>>,
    refresh_tokens: Mutex<HashMap<String, bool>>,
    next: AtomicUsize,
}

struct Code {
    redirect_uri: String,
    challenge: Option<String>,
}

impl Identity {
    /// Starts on a free loopback port for one client; access tokens are handed out from
    /// `access_tokens` in turn.
    pub async fn start(
        client_id: &str,
        client_secret: &str,
        access_tokens: &[&str],
        expires_in: i64,
    ) -> Self {
        let state = Arc::new(Inner {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            access_tokens: access_tokens.iter().map(|t| t.to_string()).collect(),
            expires_in,
            issued: AtomicUsize::new(0),
            refreshes: AtomicUsize::new(0),
            codes: Mutex::new(HashMap::new()),
            refresh_tokens: Mutex::new(HashMap::new()),
            next: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/authorize", get(authorize))
            .route("/authorize/decide", post(decide))
            .route("/token", post(token))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, state, task }
    }

    /// The authorization endpoint.
    pub fn authorize_url(&self) -> String {
        format!("{}/authorize", self.base)
    }

    /// The token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.base)
    }

    /// Refresh-token grants answered successfully so far.
    pub fn refreshes(&self) -> usize {
        self.state.refreshes.load(Ordering::SeqCst)
    }

    /// Tokens issued so far (codes and refreshes).
    pub fn issued(&self) -> usize {
        self.state.issued.load(Ordering::SeqCst)
    }
}

impl Drop for Identity {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn random() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

async fn authorize(
    State(s): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if q.get("client_id") != Some(&s.client_id) {
        return (StatusCode::BAD_REQUEST, "unknown client").into_response();
    }
    if q.get("response_type").map(String::as_str) != Some("code") || !q.contains_key("redirect_uri")
    {
        return (
            StatusCode::BAD_REQUEST,
            "response_type=code and redirect_uri are required",
        )
            .into_response();
    }
    let hidden: String = [
        "redirect_uri",
        "state",
        "code_challenge",
        "code_challenge_method",
    ]
    .iter()
    .filter_map(|k| {
        q.get(*k).map(|v| {
            format!(
                "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
                escape(v)
            )
        })
    })
    .collect();
    Html(format!(
        "<!doctype html><html><body><p>Allow access?</p><form method=\"post\" action=\"/authorize/decide\">{hidden}\
         <button name=\"decision\" value=\"allow\">Allow</button>\
         <button name=\"decision\" value=\"deny\">Deny</button></form></body></html>"
    ))
    .into_response()
}

async fn decide(State(s): State<Arc<Inner>>, Form(f): Form<HashMap<String, String>>) -> Response {
    let Some(redirect) = f.get("redirect_uri").and_then(|r| url::Url::parse(r).ok()) else {
        return (StatusCode::BAD_REQUEST, "redirect_uri").into_response();
    };
    let mut back = redirect.clone();
    {
        let mut pairs = back.query_pairs_mut();
        if f.get("decision").map(String::as_str) == Some("allow") {
            let code = random();
            if f.contains_key("code_challenge")
                && f.get("code_challenge_method").map(String::as_str) != Some("S256")
            {
                return (StatusCode::BAD_REQUEST, "only S256").into_response();
            }
            s.codes.lock().expect("codes").insert(
                code.clone(),
                Code {
                    redirect_uri: redirect.to_string(),
                    challenge: f.get("code_challenge").cloned(),
                },
            );
            pairs.append_pair("code", &code);
        } else {
            pairs.append_pair("error", "access_denied");
            pairs.append_pair("error_description", "The user denied access.");
        }
        if let Some(state) = f.get("state") {
            pairs.append_pair("state", state);
        }
    }
    Redirect::to(back.as_str()).into_response()
}

async fn token(State(s): State<Arc<Inner>>, Form(f): Form<HashMap<String, String>>) -> Response {
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    if get("client_id") != s.client_id || get("client_secret") != s.client_secret {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed.",
        );
    }
    match get("grant_type") {
        "authorization_code" => {
            let Some(code) = s.codes.lock().expect("codes").remove(get("code")) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Unknown or used code.",
                );
            };
            if code.redirect_uri != get("redirect_uri") {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "redirect_uri mismatch.",
                );
            }
            if let Some(challenge) = code.challenge {
                use base64::Engine;
                use sha2::Digest;
                let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(sha2::Sha256::digest(get("code_verifier").as_bytes()));
                if computed != challenge {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "PKCE verification failed.",
                    );
                }
            }
            issue(&s)
        }
        "refresh_token" => {
            let mut tokens = s.refresh_tokens.lock().expect("refresh tokens");
            match tokens.get_mut(get("refresh_token")) {
                Some(live) if *live => *live = false,
                _ => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Refresh token is invalid or used.",
                    )
                }
            }
            drop(tokens);
            s.refreshes.fetch_add(1, Ordering::SeqCst);
            issue(&s)
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant type.",
        ),
    }
}

fn issue(s: &Inner) -> Response {
    let n = s.next.fetch_add(1, Ordering::SeqCst);
    let access = s.access_tokens[n % s.access_tokens.len()].clone();
    let refresh = random();
    s.refresh_tokens
        .lock()
        .expect("refresh tokens")
        .insert(refresh.clone(), true);
    s.issued.fetch_add(1, Ordering::SeqCst);
    Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": s.expires_in,
        "refresh_token": refresh,
        "scope": "files",
    }))
    .into_response()
}
