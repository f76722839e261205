//! OAuth 2.0: `/oauth2/authorize` (the user's browser; approves at once as the
//! authorizing user and redirects back with a code) and `/oauth2/token`
//! (`authorization_code` with optional PKCE, `refresh_token`).

use std::{collections::HashMap, sync::Arc, time::Instant};

use axum::{
    extract::{Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    Form, Json,
};
use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine,
};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::state::{random, Code, RefreshToken, Shared, CODE_LIFETIME};

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `redirect_uri` with `params` added to its query.
fn back_to(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    let joiner = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{joiner}{}", query.join("&"))
}

fn page(status: StatusCode, message: &str) -> Response {
    let body = format!("<!doctype html><title>Dropbox</title><p>{message}</p>");
    (status, Html(body)).into_response()
}

/// `GET /oauth2/authorize`.
pub async fn authorize(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let mut inner = s.lock();
    let Some(client_id) = get("client_id").filter(|c| inner.clients.contains_key(*c)) else {
        return page(StatusCode::BAD_REQUEST, "Invalid client_id.");
    };
    if get("response_type") != Some("code") {
        return page(
            StatusCode::BAD_REQUEST,
            "Invalid response_type: only \"code\" is supported.",
        );
    }
    let challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (None, _) => None,
        (Some(c), None | Some("plain")) => Some((c.to_string(), "plain".to_string())),
        (Some(c), Some("S256")) => Some((c.to_string(), "S256".to_string())),
        (Some(_), Some(_)) => {
            return page(StatusCode::BAD_REQUEST, "Invalid code_challenge_method.")
        }
    };
    let state = get("state").unwrap_or_default();
    let redirect_uri = get("redirect_uri");
    if std::mem::take(&mut inner.deny_next) {
        let Some(redirect_uri) = redirect_uri else {
            return page(StatusCode::OK, "Access denied.");
        };
        let to = back_to(
            redirect_uri,
            &[
                ("error", "access_denied"),
                (
                    "error_description",
                    "The user chose not to give your app access to their Dropbox account.",
                ),
                ("state", state),
            ],
        );
        return Redirect::to(&to).into_response();
    }
    let code = random("");
    let account_id = inner.authorizing_user.clone();
    inner.codes.insert(
        code.clone(),
        Code {
            client_id: client_id.to_string(),
            account_id,
            redirect_uri: redirect_uri.map(str::to_string),
            challenge,
            offline: get("token_access_type") == Some("offline"),
            issued: Instant::now(),
        },
    );
    match redirect_uri {
        Some(uri) => {
            Redirect::to(&back_to(uri, &[("code", &code), ("state", state)])).into_response()
        }
        None => page(StatusCode::OK, &format!("Your access code: {code}")),
    }
}

fn token_error(error: &str, description: &str) -> Response {
    let body = json!({ "error": error, "error_description": description });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// Client credentials from HTTP Basic or the form.
fn client_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> (Option<String>, Option<String>) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    if let Some((id, secret)) = basic.as_deref().and_then(|b| b.split_once(':')) {
        return (Some(id.to_string()), Some(secret.to_string()));
    }
    (
        form.get("client_id").cloned(),
        form.get("client_secret").cloned(),
    )
}

fn verifier_matches(challenge: &(String, String), verifier: &str) -> bool {
    match challenge.1.as_str() {
        "S256" => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge.0,
        _ => verifier == challenge.0,
    }
}

/// `POST /oauth2/token`.
pub async fn token(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut inner = s.lock();
    let (client_id, secret) = client_credentials(&headers, &form);
    let Some(client_id) = client_id else {
        return token_error(
            "invalid_request",
            "No auth function available for given request",
        );
    };
    let Some(known_secret) = inner.clients.get(&client_id).cloned() else {
        return token_error("invalid_client", "Invalid client_id or client_secret");
    };
    if secret.as_ref().is_some_and(|s| *s != known_secret) {
        return token_error("invalid_client", "Invalid client_id or client_secret");
    }
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(code) = form.get("code").and_then(|c| inner.codes.remove(c)) else {
                return token_error("invalid_grant", "code doesn't exist or has expired");
            };
            if code.issued.elapsed() > CODE_LIFETIME || code.client_id != client_id {
                return token_error("invalid_grant", "code doesn't exist or has expired");
            }
            if code.redirect_uri.as_deref() != form.get("redirect_uri").map(String::as_str) {
                return token_error("invalid_grant", "redirect_uri mismatch");
            }
            match (&code.challenge, form.get("code_verifier")) {
                (Some(challenge), Some(verifier)) if verifier_matches(challenge, verifier) => {}
                (Some(_), _) => return token_error("invalid_grant", "invalid code verifier"),
                (None, _) if secret.is_none() => {
                    return token_error("invalid_client", "No client secret given")
                }
                (None, _) => {}
            }
            let mut answer = inner.token_answer(&code.account_id);
            answer["scope"] =
                "account_info.read files.content.read files.content.write files.metadata.read"
                    .into();
            answer["uid"] = "12345".into();
            answer["account_id"] = code.account_id.clone().into();
            if code.offline {
                let refresh = random("");
                inner.refresh_tokens.insert(
                    refresh.clone(),
                    RefreshToken {
                        account_id: code.account_id,
                        client_id,
                        public: code.challenge.is_some(),
                    },
                );
                answer["refresh_token"] = refresh.into();
            }
            Json(answer).into_response()
        }
        Some("refresh_token") => {
            let found = form
                .get("refresh_token")
                .and_then(|t| inner.refresh_tokens.get(t))
                .filter(|t| t.client_id == client_id)
                .map(|t| (t.account_id.clone(), t.public));
            match found {
                None => token_error("invalid_grant", "refresh token is invalid or revoked"),
                Some((_, false)) if secret.is_none() => {
                    token_error("invalid_client", "No client secret given")
                }
                Some((account_id, _)) => Json(inner.token_answer(&account_id)).into_response(),
            }
        }
        _ => token_error("unsupported_grant_type", "grant_type is not supported"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_challenges_are_verified() {
        // RFC 7636 appendix B.
        let challenge = (
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_string(),
            "S256".to_string(),
        );
        assert!(verifier_matches(
            &challenge,
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
        assert!(!verifier_matches(&challenge, "something else"));
    }

    #[test]
    fn redirects_keep_existing_queries() {
        assert_eq!(
            back_to("http://x/cb?a=1", &[("code", "c d"), ("state", "s&")]),
            "http://x/cb?a=1&code=c%20d&state=s%26"
        );
    }
}
