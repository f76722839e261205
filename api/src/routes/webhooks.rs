//! Management API: `/v1/applications/{app}/webhooks` (DeveloperKey). A webhook is
//! registered only once its receiver has passed the Kloudless verification: an empty,
//! signed POST answered with `200` and the application id.

use std::collections::HashMap;

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use cloudbridge_shared::{
    db::{self, webhooks::Webhook},
    netguard,
    webhook::Answer,
    ApiError,
};
use serde::Deserialize;
use serde_json::Value;

use super::applications::owned;
use crate::{
    auth::Developer,
    extract::{BaseUrl, Json, Paging, Path, Query},
    wire, AppState,
};

/// Longest webhook URL accepted.
const MAX_URL_CHARS: usize = 2000;

/// Body of create.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    url: Option<String>,
}

/// `{wid}` of an application of the developer, or 404.
pub(crate) async fn owned_webhook(
    state: &AppState,
    dev: i64,
    app: &str,
    wid: &str,
) -> Result<Webhook, ApiError> {
    owned(state, dev, app).await?;
    let not_found = || ApiError::not_found("No webhook has this id.");
    let id = wid.parse::<i64>().map_err(|_| not_found())?;
    db::webhooks::get(&state.db, app, id)
        .await?
        .ok_or_else(not_found)
}

/// `GET /v1/applications/{app}/webhooks`
#[utoipa::path(
    get,
    path = "/applications/{app}/webhooks",
    tag = "webhooks",
    summary = "List webhooks",
    operation_id = "webhooks_list",
    params(
        ("app" = String, Path, description = "Application id."),
        ("page" = Option<u32>, Query, minimum = 1, description = "1-based page."),
        ("page_size" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Items per page (at most 1000)."),
    ),
    responses(
        (status = 200, description = "The application's webhooks.", body = crate::contract::ObjectList),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    Developer(dev): Developer,
    BaseUrl(base): BaseUrl,
    Path(app): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let paging = Paging::from_query(&q)?;
    let (hooks, total) = list_webhooks(&state, dev, &app, paging).await?;
    let objects = hooks.iter().map(|w| wire::webhook(w, &base)).collect();
    Ok(Json(wire::counted("meta", objects, paging, total)?))
}

/// `POST /v1/applications/{app}/webhooks`: checks the URL, verifies the receiver, stores.
#[utoipa::path(
    post,
    path = "/applications/{app}/webhooks",
    tag = "webhooks",
    summary = "Register a webhook",
    operation_id = "webhooks_create",
    params(
        ("app" = String, Path, description = "Application id."),
    ),
    request_body(content = crate::contract::JsonObject, content_type = "application/json"),
    responses(
        (status = 201, description = "The webhook (its receiver answered the verification ping).", body = crate::contract::JsonObject),
        crate::contract::ServiceErrors,
    ),
    security(("developer_key" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    Developer(dev): Developer,
    BaseUrl(base): BaseUrl,
    Path(app): Path<String>,
    Json(body): Json<WebhookBody>,
) -> Result<impl IntoResponse, ApiError> {
    let hook = create_webhook(&state, dev, &app, body.url.as_deref())
        .await?
        .registered()?;
    Ok((StatusCode::CREATED, Json(wire::webhook(&hook, &base))))
}

/// A page of developer `dev`'s application `app`'s webhooks, oldest first, and their
/// total: the one rule for the management API and the portal.
pub(crate) async fn list_webhooks(
    state: &AppState,
    dev: i64,
    app: &str,
    paging: Paging,
) -> Result<(Vec<Webhook>, i64), ApiError> {
    owned(state, dev, app).await?;
    Ok(db::webhooks::list(&state.db, app, paging.page, paging.page_size).await?)
}

/// What came of registering a webhook whose URL was acceptable: the verification ping's
/// answer, and the webhook if the receiver passed.
pub(crate) struct Verification {
    /// The receiver's answer to the verification ping.
    pub answer: Answer,
    /// The stored webhook (`None`: the receiver failed verification, nothing is stored).
    pub webhook: Option<Webhook>,
}

impl Verification {
    /// The webhook, or the `400` saying what the receiver answered (or why it could not
    /// be reached).
    pub(crate) fn registered(self) -> Result<Webhook, ApiError> {
        match (self.webhook, self.answer.error) {
            (Some(hook), _) => Ok(hook),
            (None, error) => Err(ApiError::bad_request(format!(
                "The webhook URL did not pass verification (an empty, signed POST must be \
                 answered with 200 and the application id as the body): {}",
                error.unwrap_or_default()
            ))),
        }
    }
}

/// Registers `url` for developer `dev`'s application `app` if its receiver passes the
/// Kloudless verification (an empty, signed POST answered with `200` and the application
/// id): the one rule for the management API and the portal. Refused before any ping when
/// the URL is not acceptable or the application cannot sign.
pub(crate) async fn create_webhook(
    state: &AppState,
    dev: i64,
    app: &str,
    url: Option<&str>,
) -> Result<Verification, ApiError> {
    owned(state, dev, app).await?;
    let url = parse_url(url)?;
    netguard::addresses(&url, &state.settings.network.webhooks())
        .await
        .map_err(|refusal| ApiError::invalid_parameters(refusal.to_string()))?;
    let key = signing_key(state, app).await?;
    let answer = state.webhooks.send(url.as_str(), &key, app, "").await;
    let webhook = if answer.received() {
        Some(db::webhooks::create(&state.db, app, url.as_str()).await?)
    } else {
        None
    };
    Ok(Verification { answer, webhook })
}

/// Removes webhook `wid` of developer `dev`'s application `app`, with its pending
/// notifications and delivery log.
pub(crate) async fn delete_webhook(
    state: &AppState,
    dev: i64,
    app: &str,
    wid: &str,
) -> Result<(), ApiError> {
    let hook = owned_webhook(state, dev, app, wid).await?;
    db::webhooks::delete(&state.db, app, hook.id).await?;
    Ok(())
}

/// `GET /v1/applications/{app}/webhooks/{wid}`
#[utoipa::path(
    get,
    path = "/applications/{app}/webhooks/{wid}",
    tag = "webhooks",
    summary = "Get a webhook",
    operation_id = "webhooks_get",
    params(
        ("app" = String, Path, description = "Application id."),
        ("wid" = String, Path, description = "Webhook id."),
    ),
    responses(
        (status = 200, description = "The webhook.", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    Developer(dev): Developer,
    BaseUrl(base): BaseUrl,
    Path((app, wid)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let hook = owned_webhook(&state, dev, &app, &wid).await?;
    Ok(Json(wire::webhook(&hook, &base)))
}

/// `DELETE /v1/applications/{app}/webhooks/{wid}`: its pending notifications and
/// delivery log go with it.
#[utoipa::path(
    delete,
    path = "/applications/{app}/webhooks/{wid}",
    tag = "webhooks",
    summary = "Remove a webhook",
    operation_id = "webhooks_delete",
    params(
        ("app" = String, Path, description = "Application id."),
        ("wid" = String, Path, description = "Webhook id."),
    ),
    responses(
        (status = 204, description = "Removed."),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn delete(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path((app, wid)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    delete_webhook(&state, dev, &app, &wid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `url` field: present, an absolute http(s) URL with a host, not too long.
fn parse_url(raw: Option<&str>) -> Result<url::Url, ApiError> {
    let raw = raw.map(str::trim).unwrap_or_default();
    if raw.is_empty() {
        return Err(ApiError::invalid_parameters("`url` is required."));
    }
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(ApiError::invalid_parameters(format!(
            "`url` must be at most {MAX_URL_CHARS} characters."
        )));
    }
    let url = url::Url::parse(raw)
        .map_err(|_| ApiError::invalid_parameters("`url` is not a valid URL."))?;
    netguard::check_url(&url, &netguard::Policy::any())
        .map_err(|refusal| ApiError::invalid_parameters(refusal.to_string()))?;
    Ok(url)
}

/// The application's signing key in clear: its oldest API key with a sealed copy.
async fn signing_key(state: &AppState, app: &str) -> Result<Vec<u8>, ApiError> {
    let cipher = state.cipher.as_deref().ok_or_else(|| {
        ApiError::not_implemented(
            "Webhooks need a signing key, which cannot be kept: secrets.keys is not configured.",
        )
    })?;
    db::api_keys::signing_key(&state.db, cipher, app)
        .await?
        .ok_or_else(|| {
            ApiError::bad_request(
                "The application has no API key to sign webhooks with (its keys predate \
                 webhook support): create a new API key first.",
            )
        })
}
