//! Management API, OAuth side of an application (DeveloperKey): where its users may be
//! sent back (`/v1/applications/{app}/redirect_uris`) and its own client credentials at
//! each service (`/v1/applications/{app}/service_keys/{service}`; without them the
//! appliance's `providers.<service>` credentials are used).

use axum::{extract::State, http::StatusCode};
use cloudbridge_connectors::service as services;
use cloudbridge_shared::{db, ApiError};
use serde::Deserialize;
use serde_json::{json, Value};

use super::applications::owned;
use crate::{
    auth::Developer,
    extract::{Json, Path},
    AppState,
};

/// Body of `PUT /v1/applications/{app}/redirect_uris`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectUris {
    redirect_uris: Vec<String>,
}

/// `GET /v1/applications/{app}/redirect_uris`
#[utoipa::path(
    get,
    path = "/applications/{app}/redirect_uris",
    tag = "management",
    summary = "Get redirect URIs",
    operation_id = "app_oauth_redirect_uris",
    params(
        ("app" = String, Path, description = "Application id."),
    ),
    responses(
        (status = 200, description = "`{\"redirect_uris\": [...]}`.", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn redirect_uris(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path(app): Path<String>,
) -> Result<Json<Value>, ApiError> {
    owned(&state, dev, &app).await?;
    let uris = db::providers::redirect_uris(&state.db, &app).await?;
    Ok(Json(
        json!({ "id": app, "redirect_uris": uris, "type": "redirect_uris" }),
    ))
}

/// `PUT /v1/applications/{app}/redirect_uris`: replaces the list. Each must be an
/// absolute `https` URL without a fragment (`http` only on loopback, for development).
#[utoipa::path(
    put,
    path = "/applications/{app}/redirect_uris",
    tag = "management",
    summary = "Set redirect URIs",
    operation_id = "app_oauth_set_redirect_uris",
    params(
        ("app" = String, Path, description = "Application id."),
    ),
    request_body(content = crate::contract::JsonObject, content_type = "application/json"),
    responses(
        (status = 200, description = "`{\"redirect_uris\": [...]}`.", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn set_redirect_uris(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path(app): Path<String>,
    Json(body): Json<RedirectUris>,
) -> Result<Json<Value>, ApiError> {
    set_uris(&state, dev, &app, &body.redirect_uris).await?;
    redirect_uris(State(state), Developer(dev), Path(app)).await
}

/// Replaces the redirect URIs of developer `dev`'s application `app`, each checked: the
/// one rule for the management API and the portal.
pub(crate) async fn set_uris(
    state: &AppState,
    dev: i64,
    app: &str,
    uris: &[String],
) -> Result<(), ApiError> {
    owned(state, dev, app).await?;
    if uris.len() > 100 {
        return Err(ApiError::invalid_parameters("At most 100 redirect URIs."));
    }
    for uri in uris {
        check_redirect_uri(uri)?;
    }
    Ok(db::providers::set_redirect_uris(&state.db, app, uris).await?)
}

fn check_redirect_uri(uri: &str) -> Result<(), ApiError> {
    let bad = |why: &str| ApiError::invalid_parameters(format!("Redirect URI `{uri}` {why}."));
    let url = url::Url::parse(uri).map_err(|_| bad("is not an absolute URL"))?;
    if url.fragment().is_some() {
        return Err(bad("must not have a fragment"));
    }
    let loopback = matches!(url.host(), Some(url::Host::Domain("localhost")))
        || matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(bad("must use https (http only on loopback)")),
    }
}

/// `GET /v1/applications/{app}/service_keys`: the services with the application's own
/// client credentials (secrets are never shown).
#[utoipa::path(
    get,
    path = "/applications/{app}/service_keys",
    tag = "management",
    summary = "List service keys",
    operation_id = "app_oauth_service_keys",
    params(
        ("app" = String, Path, description = "Application id."),
    ),
    responses(
        (status = 200, description = "The application's OAuth clients (secrets never shown).", body = crate::contract::ObjectList),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn service_keys(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path(app): Path<String>,
) -> Result<Json<Value>, ApiError> {
    owned(&state, dev, &app).await?;
    let rows = db::providers::services(&state.db, &app).await?;
    let objects: Vec<Value> = rows
        .into_iter()
        .map(|(service, client_id)| {
            json!({ "id": service, "service": service, "client_id": client_id, "type": "service_key" })
        })
        .collect();
    Ok(Json(crate::wire::list(
        "meta",
        objects,
        1,
        serde_json::Value::Null,
        None,
    )))
}

/// Body of `PUT /v1/applications/{app}/service_keys/{service}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceKey {
    client_id: String,
    client_secret: String,
}

/// `PUT /v1/applications/{app}/service_keys/{service}`: the client secret is sealed.
#[utoipa::path(
    put,
    path = "/applications/{app}/service_keys/{service}",
    tag = "management",
    summary = "Set a service key",
    operation_id = "app_oauth_set_service_key",
    params(
        ("app" = String, Path, description = "Application id."),
        ("service" = String, Path, description = "Service name."),
    ),
    request_body(content = crate::contract::JsonObject, content_type = "application/json"),
    responses(
        (status = 200, description = "The service key (the secret not shown).", body = crate::contract::JsonObject),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn set_service_key(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path((app, service)): Path<(String, String)>,
    Json(body): Json<ServiceKey>,
) -> Result<Json<Value>, ApiError> {
    let service = set_key(
        &state,
        dev,
        &app,
        &service,
        &body.client_id,
        &body.client_secret,
    )
    .await?;
    Ok(Json(json!({
        "id": service, "service": service, "client_id": body.client_id.trim(),
        "type": "service_key",
    })))
}

/// Sets developer `dev`'s application `app`'s own client credentials at `service`, the
/// secret sealed (never shown again), and says which service holds them (`onedrivebiz`
/// shares OneDrive's): the one rule for the management API and the portal.
pub(crate) async fn set_key(
    state: &AppState,
    dev: i64,
    app: &str,
    service: &str,
    client_id: &str,
    client_secret: &str,
) -> Result<&'static str, ApiError> {
    owned(state, dev, app).await?;
    let service = oauth_service(service)?;
    if client_id.trim().is_empty() || client_secret.is_empty() {
        return Err(ApiError::invalid_parameters(
            "`client_id` and `client_secret` are required.",
        ));
    }
    let cipher = state.cipher.as_deref().ok_or_else(|| {
        ApiError::not_implemented("Secrets cannot be stored: secrets.keys is not configured.")
    })?;
    // Sealed as the raw secret (not JSON): the keeper opens it as text.
    let sealed = cipher.seal(client_secret.as_bytes());
    db::providers::set_client(&state.db, app, service, client_id.trim(), &sealed).await?;
    Ok(service)
}

/// `DELETE /v1/applications/{app}/service_keys/{service}`
#[utoipa::path(
    delete,
    path = "/applications/{app}/service_keys/{service}",
    tag = "management",
    summary = "Remove a service key",
    operation_id = "app_oauth_delete_service_key",
    params(
        ("app" = String, Path, description = "Application id."),
        ("service" = String, Path, description = "Service name."),
    ),
    responses(
        (status = 204, description = "Removed."),
        crate::contract::Errors,
    ),
    security(("developer_key" = [])),
)]
pub async fn delete_service_key(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path((app, service)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    remove_key(&state, dev, &app, &service).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes developer `dev`'s application `app`'s own client credentials at `service`
/// (404 when it had none): its users then connect with the appliance's.
pub(crate) async fn remove_key(
    state: &AppState,
    dev: i64,
    app: &str,
    service: &str,
) -> Result<(), ApiError> {
    owned(state, dev, app).await?;
    let service = oauth_service(service)?;
    if db::providers::remove_client(&state.db, app, service).await? {
        Ok(())
    } else {
        Err(ApiError::not_found(
            "The application has no key for this service.",
        ))
    }
}

/// The provider whose keys the OAuth service named (by name or alias) uses
/// (`onedrivebiz` shares OneDrive's).
fn oauth_service(service: &str) -> Result<&'static str, ApiError> {
    services::find(service)
        .and_then(|s| s.oauth())
        .map(|oauth| oauth.provider)
        .ok_or_else(|| {
            ApiError::invalid_parameters(format!("`{service}` is not an OAuth service."))
        })
}

#[cfg(test)]
mod tests {
    use super::check_redirect_uri;

    #[test]
    fn redirect_uris_are_https_or_loopback() {
        assert!(check_redirect_uri("https://app.example/cb").is_ok());
        assert!(check_redirect_uri("http://127.0.0.1:8000/cb").is_ok());
        assert!(check_redirect_uri("http://localhost/cb").is_ok());
        assert!(check_redirect_uri("http://app.example/cb").is_err());
        assert!(check_redirect_uri("https://app.example/cb#x").is_err());
        assert!(check_redirect_uri("/cb").is_err());
        assert!(check_redirect_uri("javascript:alert(1)").is_err());
    }
}
