//! `GET /v1/oauth/callback`: the service sends the browser back here with a code. The
//! flow is ended (once), the code exchanged for tokens, the account stored (the same
//! upstream user updates the same account), and the browser returned to the application.

use std::collections::HashMap;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use cloudbridge_connectors::oauth::provider::{self, GrantError};
use cloudbridge_shared::{db, secret::random_token, ApiError};
use serde_json::json;

use super::{back_to, browser_secret, error_page, error_redirect, request::Request, OOB};
use crate::{
    extract::Query,
    html::{self, escape},
    routes::accounts::{connect_oauth, seed_events},
    AppState,
};

/// Ends a flow on the application's side with an OAuth error: a redirect, or in the
/// popup flow a message to the opener.
pub fn fail(request: &Request, error: &str, description: &str) -> Response {
    if request.redirect_uri == OOB {
        let mut message = json!({ "error": error, "error_description": description });
        if let Some(state) = &request.state {
            message["state"] = json!(state);
        }
        return popup(request, &message);
    }
    error_redirect(
        &request.redirect_uri,
        request.state.as_deref(),
        error,
        description,
    )
}

/// `GET /v1/oauth/callback?code=&state=` (or `error=`)
#[utoipa::path(
    get,
    path = "/oauth/callback",
    tag = "oauth",
    summary = "The services' callback",
    operation_id = "oauth_callback_finish",
    params(
        ("code" = Option<String>, Query, description = "From the service."),
        ("state" = Option<String>, Query, description = "The flow."),
        ("error" = Option<String>, Query, description = "From the service."),
        ("error_description" = Option<String>, Query, description = "From the service."),
    ),
    responses(
        (status = 303, description = "Back to the application with a code (or an error)."),
        crate::contract::PageErrors,
    ),
)]
pub async fn finish(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<HashMap<String, String>>, ApiError>,
) -> Response {
    let Query(q) = match q {
        Ok(q) => q,
        Err(e) => return super::refused_page(e),
    };
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let Some(flow_id) = get("state") else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The service did not return `state`.",
        );
    };
    // Ended here, whatever happens next: a replayed callback finds nothing.
    let flow = match db::oauth::finish(&state.db, flow_id).await {
        Ok(Some(flow)) => flow,
        Ok(None) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "This connection attempt has expired or was already used; start again from \
                 the application.",
            )
        }
        Err(_) => return error_page(StatusCode::SERVICE_UNAVAILABLE, "Try again in a moment."),
    };
    let Ok(request) = serde_json::from_value::<Request>(flow.request.clone()) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "This connection attempt is invalid.",
        );
    };
    let ours = browser_secret(&headers)
        .is_some_and(|s| cloudbridge_shared::secret::digest(&s) == flow.browser_hash);
    if !ours {
        return fail(
            &request,
            "access_denied",
            "The connection was started in another browser session.",
        );
    }
    if let Some(error) = get("error") {
        let description = get("error_description").unwrap_or("The service refused the connection.");
        let error = if error == "access_denied" {
            "access_denied"
        } else {
            "server_error"
        };
        return fail(&request, error, description);
    }
    let (Some(code), Some(service)) = (get("code"), flow.service.as_deref()) else {
        return fail(
            &request,
            "server_error",
            "The service did not return a code.",
        );
    };
    match connect(&state, &flow, &request, service, code).await {
        Ok(response) => response,
        Err((error, description)) => fail(&request, error, &description),
    }
}

/// Exchanges the service's code, stores the account, and answers the application.
async fn connect(
    state: &AppState,
    flow: &db::oauth::Flow,
    request: &Request,
    service: &str,
    code: &str,
) -> Result<Response, (&'static str, String)> {
    let keeper = state.connectors.tokens.as_ref().ok_or((
        "server_error",
        "The appliance cannot store tokens.".to_string(),
    ))?;
    let provider_settings = cloudbridge_connectors::service::find(service)
        .and_then(|s| s.provider(&state.settings.providers))
        .ok_or((
            "server_error",
            "This service is not configured.".to_string(),
        ))?;
    let client = keeper
        .client(&flow.application_id, service)
        .await
        .map_err(|_| ("server_error", "No OAuth client is configured.".to_string()))?;
    let verifier = flow
        .pkce_verifier
        .as_deref()
        .map(|v| String::from_utf8_lossy(v).into_owned());
    let granted = provider::exchange_code(
        &state.connectors.http,
        provider_settings,
        &client,
        code,
        &request.callback,
        verifier.as_deref(),
    )
    .await
    .map_err(|e| match e {
        GrantError::Refused(why) => (
            "access_denied",
            format!("The service refused the code: {why}"),
        ),
        GrantError::Client(why) => (
            "server_error",
            format!("The service refused this application's OAuth client: {why}"),
        ),
        GrantError::Unavailable(_) => (
            "temporarily_unavailable",
            "The service could not be reached; try again.".to_string(),
        ),
    })?;
    let who =
        cloudbridge_connectors::identity(&state.connectors, service, &granted.secrets.access_token)
            .await
            .map_err(|e| {
                (
                    "server_error",
                    format!("The service did not say who you are: {}", e.message),
                )
            })?;
    let config = json!({ "user_id": who.id });
    let account = connect_oauth(
        state,
        &flow.application_id,
        service,
        &who.name,
        &config,
        granted,
    )
    .await
    .map_err(|e| ("server_error", e.message))?;
    connected(state, &flow.application_id, request, &account).await
}

/// Ends a connect flow whose account is stored (by the callback here, or by the
/// credentials form): the account's baseline for events taken, then the application
/// answered as it asked, with a single-use code on its redirect URI or, in the popup
/// flow, a bearer token posted to the opener.
pub(super) async fn connected(
    state: &AppState,
    application: &str,
    request: &Request,
    account: &db::accounts::Account,
) -> Result<Response, (&'static str, String)> {
    let unavailable = |_| {
        (
            "temporarily_unavailable",
            "Try again in a moment.".to_string(),
        )
    };
    seed_events(state, account).await;
    tracing::info!(account = account.id, service = %account.service, "account connected");
    if request.response_type == "token" {
        let token = db::bearer_tokens::create(&state.db, account.id)
            .await
            .map_err(unavailable)?;
        let mut message = json!({
            "access_token": token,
            "token_type": "Bearer",
            "scope": request.scope,
            "account_id": account.id,
            "client_id": application,
        });
        if let Some(s) = &request.state {
            message["state"] = json!(s);
        }
        return Ok(popup(request, &message));
    }
    let ours = random_token(32);
    db::oauth::issue_code(
        &state.db,
        &ours,
        application,
        account.id,
        &request.redirect_uri,
        &request.scope,
        state.settings.oauth.code_ttl_secs,
    )
    .await
    .map_err(unavailable)?;
    let mut pairs = vec![("code", ours.as_str())];
    if let Some(s) = &request.state {
        pairs.push(("state", s.as_str()));
    }
    Ok(back_to(&request.redirect_uri, &pairs))
}

/// The popup flow's last page: posts `"kloudless:" + JSON` to the opener at the
/// application's origin, then closes. The JSON is the envelope the Kloudless widgets
/// accept, `{"type": "authentication", "id": <request_id>, "data": <result>}`, for
/// tokens and errors alike (docs/widgets-protocol.md §1.6).
fn popup(request: &Request, data: &serde_json::Value) -> Response {
    let message = json!({
        "type": "authentication",
        "id": request.request_id,
        "data": data,
    });
    let payload = format!("kloudless:{message}");
    // JSON string literals are safe in a script once `<` cannot close the element.
    let payload = serde_json::to_string(&payload)
        .expect("string serializes")
        .replace('<', "\\u003c");
    let origin = serde_json::to_string(request.origin.as_deref().unwrap_or(""))
        .expect("string serializes")
        .replace('<', "\\u003c");
    let body = format!(
        "<p id=\"done\">{}</p><script>\
         (function () {{ var target = window.opener || window.parent; \
         if (target && target !== window) {{ target.postMessage({payload}, {origin}); }} \
         window.close(); }})();</script>",
        escape("You can close this window.")
    );
    html::page(StatusCode::OK, "Connected", &body)
}
