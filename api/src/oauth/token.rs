//! `POST /v1/oauth/token` (an authorization code for the account's bearer token) and
//! `GET /v1/oauth/token` (what a bearer token is).
//!
//! Quirk C9: the form is read whatever the `Content-Type` says (the Python SDK sends
//! `application/form-urlencoded`), from the query string too, and the application may
//! prove itself with `client_secret` (an API key, as in v1) or `Authorization: APIKey`.

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::HeaderMap,
    Json,
};
use cloudbridge_shared::{db, ApiError};
use serde_json::{json, Value};

use crate::{extract::form_fields, AppState};

fn invalid_grant(message: &str) -> ApiError {
    ApiError::new(400, "invalid_grant", message)
}

/// The credential after `scheme` in the `Authorization` header, any case.
fn credential<'h>(headers: &'h HeaderMap, scheme: &str) -> Option<&'h str> {
    let value = headers.get("authorization")?.to_str().ok()?.trim();
    let (given, rest) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// `POST /v1/oauth/token`
#[utoipa::path(
    post,
    path = "/oauth/token",
    tag = "oauth",
    summary = "Exchange a code",
    operation_id = "oauth_token_exchange",
    request_body(content = crate::contract::JsonObject, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The account's bearer token.", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
)]
pub async fn exchange(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let mut form = form_fields(query.unwrap_or_default().as_bytes())?;
    form.extend(form_fields(&body)?);
    let get = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    match get("grant_type") {
        Some("authorization_code") => {}
        _ => {
            return Err(ApiError::new(
                400,
                "unsupported_grant_type",
                "`grant_type` must be `authorization_code`.",
            ))
        }
    }
    let code = get("code").ok_or_else(|| ApiError::invalid_parameters("`code` is required."))?;
    let client_id =
        get("client_id").ok_or_else(|| ApiError::invalid_parameters("`client_id` is required."))?;
    let key = get("client_secret")
        .or_else(|| credential(&headers, "apikey"))
        .ok_or_else(|| {
            ApiError::new(
                401,
                "invalid_client",
                "The application's API key is required.",
            )
        })?;
    let owner = db::api_keys::find_application(&state.db, key).await?;
    if owner.as_deref() != Some(client_id) {
        return Err(ApiError::new(
            401,
            "invalid_client",
            "`client_id` and the API key do not match an application.",
        ));
    }
    // Redeeming, issuing the token and recording it are one transaction: a replay racing
    // this exchange waits on the code's row and then finds the token to revoke, and a
    // failure half-way leaves the code unused rather than used without a token.
    let mut tx = state.db.begin().await?;
    let Some(redeemed) = db::oauth::redeem_code(&mut *tx, code).await? else {
        drop(tx);
        // A code used twice may have been stolen: the token it gave is revoked.
        if let Some((app, account)) = db::oauth::revoke_replayed(&state.db, code).await? {
            tracing::warn!(application = %app, account, "authorization code replayed; its token revoked");
            state.forget_account(&app, account);
        }
        return Err(invalid_grant(
            "The code is unknown, expired or already used.",
        ));
    };
    // A code presented with the wrong client or redirect URI is spent all the same.
    if redeemed.application_id != client_id {
        tx.commit().await?;
        return Err(invalid_grant("The code was issued to another application."));
    }
    if get("redirect_uri").is_some_and(|uri| uri != redeemed.redirect_uri) {
        tx.commit().await?;
        return Err(invalid_grant(
            "`redirect_uri` differs from the authorization request's.",
        ));
    }
    let token = db::bearer_tokens::create(&mut *tx, redeemed.account_id).await?;
    db::oauth::bind_token(&mut *tx, code, &token).await?;
    tx.commit().await?;
    Ok(Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "account_id": redeemed.account_id,
        "client_id": client_id,
        "scope": redeemed.scope,
    })))
}

/// `GET /v1/oauth/token`: 400 for a token that is not valid (the JS SDK reads that as
/// "invalid token").
#[utoipa::path(
    get,
    path = "/oauth/token",
    tag = "oauth",
    summary = "Token information",
    operation_id = "oauth_token_info",
    responses(
        (status = 200, description = "What the bearer token is for.", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("bearer" = [])),
)]
pub async fn info(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let invalid = || ApiError::new(400, "invalid_token", "The bearer token is not valid.");
    // No token at all is a missing credential; a token that is no good, Kloudless' 400.
    let token = credential(&headers, "bearer").ok_or_else(ApiError::authentication_required)?;
    let (account, application) = db::bearer_tokens::find(&state.db, token)
        .await?
        .ok_or_else(invalid)?;
    Ok(Json(json!({
        "client_id": application,
        "account_id": account,
        "scope": "any:normal.storage.default",
        "type": "token",
    })))
}
