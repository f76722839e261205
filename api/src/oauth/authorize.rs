//! `GET /v1/oauth`: checks the application's request, starts a flow bound to this browser
//! and shows the chooser and consent page; its form (`POST /v1/oauth/flows/{id}`) sends
//! the browser to the chosen OAuth service's authorization page, or shows the
//! [`credentials`](super::credentials) form of a service connected by credentials (shown
//! at once when the scope names only that service).

use std::collections::HashMap;

use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use cloudbridge_shared::{db, secret::random_token, ApiError};
use sha2::{Digest, Sha256};

use super::{
    browser_secret, credentials, error_page, error_redirect,
    request::{self, Refusal, Request},
    COOKIE,
};
use crate::{
    extract::{BaseUrl, Form, Path, Query},
    html::{self, escape},
    AppState,
};

/// `GET /v1/oauth`
#[utoipa::path(
    get,
    path = "/oauth",
    tag = "oauth",
    summary = "Start connecting an account",
    operation_id = "oauth_authorize_start",
    params(
        ("client_id" = String, Query, min_length = 1, description = "The application id."),
        ("redirect_uri" = String, Query, min_length = 1, description = "A registered redirect URI."),
        ("response_type" = Option<String>, Query, description = "`code` or `token`."),
        ("scope" = Option<String>, Query, description = "Services to offer."),
        ("state" = Option<String>, Query, description = "Returned as is."),
        ("origin" = Option<String>, Query, description = "Popup flow: the opener's origin."),
        ("request_id" = Option<String>, Query, description = "Popup flow: returned in the result message."),
    ),
    responses(
        (status = 200, description = "The chooser and consent page (or a redirect to the application with an error).", content_type = "text/html"),
        crate::contract::PageErrors,
    ),
)]
pub async fn start(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    q: Result<Query<HashMap<String, String>>, ApiError>,
) -> Response {
    let Query(q) = match q {
        Ok(q) => q,
        Err(e) => return super::refused_page(e),
    };
    let (app_id, request) = match request::check(&state, &q, &base).await {
        Ok(checked) => checked,
        Err(Refusal::Page(message)) => return error_page(StatusCode::BAD_REQUEST, &message),
        Err(Refusal::Redirect {
            redirect_uri,
            state,
            error,
            description,
        }) => return error_redirect(&redirect_uri, state.as_deref(), error, &description),
    };
    let app = match db::applications::get_any(&state.db, &app_id).await {
        Ok(Some(app)) => app,
        _ => return error_page(StatusCode::SERVICE_UNAVAILABLE, "Try again in a moment."),
    };
    let (flow, secret) = (random_token(24), random_token(24));
    let stored = db::oauth::start_flow(
        &state.db,
        &flow,
        &app_id,
        &secret,
        &serde_json::to_value(&request).expect("request serializes"),
        state.settings.oauth.flow_ttl_secs,
    )
    .await;
    if stored.is_err() {
        return error_page(StatusCode::SERVICE_UNAVAILABLE, "Try again in a moment.");
    }
    let mut response = match request.services.as_slice() {
        [only] if credentials::connects(only) => {
            credentials::form(&app.name, &flow, only, &HashMap::new(), None)
        }
        _ => chooser(&app.name, &flow, &request),
    };
    let cookie = format!(
        "{COOKIE}={secret}; Path=/v1/oauth; HttpOnly; SameSite=Lax; Max-Age={}{}",
        state.settings.oauth.flow_ttl_secs,
        if base.starts_with("https://") {
            "; Secure"
        } else {
            ""
        }
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The chooser and consent page: one button per service, and a way to say no.
fn chooser(app_name: &str, flow: &str, request: &Request) -> Response {
    let app_name = escape(app_name);
    let buttons: String = request
        .services
        .iter()
        .map(|s| {
            format!(
                "<button type=\"submit\" name=\"service\" value=\"{s}\">Connect {}</button> ",
                escape(crate::wire::service_name(s))
            )
        })
        .collect();
    let body = format!(
        "<h1>Connect an account</h1>\
         <p><strong>{app_name}</strong> asks to access your files. Choose the service to \
         connect; you will sign in there, or enter your credentials here.</p>\
         <form method=\"post\" action=\"/v1/oauth/flows/{flow}\">{buttons}\
         <button type=\"submit\" name=\"action\" value=\"deny\">Cancel</button></form>"
    );
    html::page(StatusCode::OK, "Connect an account", &body)
}

/// The page for a flow that is unknown, expired or already ended.
pub(super) fn expired() -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "This connection attempt has expired; start again from the application.",
    )
}

/// The page for a flow that could not be read or updated (database trouble).
pub(super) fn unavailable() -> Response {
    error_page(StatusCode::SERVICE_UNAVAILABLE, "Try again in a moment.")
}

/// The flow this browser started, or why not: the flow cookie is what makes a form's
/// `POST` this browser's own (a page elsewhere cannot send it: `SameSite=Lax`).
async fn own_flow(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
) -> Result<(db::oauth::Flow, Request), Response> {
    let flow = match db::oauth::flow(&state.db, id).await {
        Ok(Some(flow)) => flow,
        Ok(None) => return Err(expired()),
        Err(_) => return Err(unavailable()),
    };
    let ours = browser_secret(headers)
        .is_some_and(|s| cloudbridge_shared::secret::digest(&s) == flow.browser_hash);
    if !ours {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "This connection attempt was started in another browser.",
        ));
    }
    let request: Request = match serde_json::from_value(flow.request.clone()) {
        Ok(r) => r,
        Err(_) => {
            return Err(error_page(
                StatusCode::BAD_REQUEST,
                "This connection attempt is invalid.",
            ))
        }
    };
    Ok((flow, request))
}

/// `POST /v1/oauth/flows/{id}` (the chooser form): `service=<svc>` or `action=deny`.
#[utoipa::path(
    post,
    path = "/oauth/flows/{id}",
    tag = "oauth",
    summary = "Choose a service",
    operation_id = "oauth_authorize_choose",
    params(
        ("id" = String, Path, description = "The flow."),
    ),
    request_body(content = crate::contract::JsonObject, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The credentials form of a service connected by credentials.", content_type = "text/html"),
        (status = 303, description = "To the chosen service's authorization page, or back to the application."),
        crate::contract::PageErrors,
    ),
)]
pub async fn choose(
    State(state): State<AppState>,
    id: Result<Path<String>, ApiError>,
    headers: HeaderMap,
    form: Result<Form, ApiError>,
) -> Response {
    let Posted {
        id,
        form,
        flow,
        request,
    } = match posted(&state, id, &headers, form).await {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    let back = |error: &str, description: &str| super::callback::fail(&request, error, description);
    let Some(service) = offered(&request, &form) else {
        return not_offered();
    };
    if credentials::connects(service) {
        return match db::applications::get_any(&state.db, &flow.application_id).await {
            Ok(Some(app)) => credentials::form(&app.name, &id, service, &HashMap::new(), None),
            _ => unavailable(),
        };
    }
    let described = cloudbridge_connectors::service::find(service);
    let Some((oauth, provider)) =
        described.and_then(|s| s.oauth().zip(s.provider(&state.settings.providers)))
    else {
        return back("server_error", "This service is not configured.");
    };
    let client = match state.connectors.tokens.as_ref() {
        Some(keeper) => keeper.client(&flow.application_id, service).await,
        None => {
            return back(
                "server_error",
                "The appliance cannot store tokens (no secrets.keys).",
            )
        }
    };
    let client = match client {
        Ok(client) if !client.id.is_empty() => client,
        _ => {
            return back(
                "server_error",
                "No OAuth client is configured for this service.",
            )
        }
    };
    let verifier = oauth.pkce.then(|| random_token(48));
    match db::oauth::choose(
        &state.db,
        &id,
        service,
        verifier.as_deref().map(str::as_bytes),
    )
    .await
    {
        Ok(true) => {}
        // The flow expired (or was ended) since it was read.
        Ok(false) => return expired(),
        Err(_) => return unavailable(),
    }
    let Ok(mut url) = url::Url::parse(&provider.authorize_url) else {
        return back(
            "server_error",
            "The service's authorization address is invalid.",
        );
    };
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &client.id)
            .append_pair("redirect_uri", &request.callback)
            .append_pair("state", &id);
        if !provider.scope.is_empty() {
            q.append_pair("scope", &provider.scope);
        }
        if let Some(verifier) = &verifier {
            let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            q.append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
        }
        for (k, v) in oauth.offline_access {
            q.append_pair(k, v);
        }
    }
    Redirect::to(url.as_str()).into_response()
}

/// A form posted to a flow of this browser's, to go on with.
pub(super) struct Posted {
    /// The flow's id.
    pub id: String,
    /// The form's fields.
    pub form: HashMap<String, String>,
    /// The flow.
    pub flow: db::oauth::Flow,
    /// The application's request it carries.
    pub request: Request,
}

/// The first steps of every form of the connect page: the path and fields read, the flow
/// found and checked to be this browser's ([`own_flow`]), and Cancel (`action=deny`)
/// ending it. `Err` is the page to answer with instead.
pub(super) async fn posted(
    state: &AppState,
    id: Result<Path<String>, ApiError>,
    headers: &HeaderMap,
    form: Result<Form, ApiError>,
) -> Result<Posted, Response> {
    let (Path(id), Form(form)) = match (id, form) {
        (Ok(id), Ok(form)) => (id, form),
        (Err(e), _) | (_, Err(e)) => return Err(super::refused_page(e)),
    };
    let (flow, request) = own_flow(state, &id, headers).await?;
    if form.get("action").is_some_and(|a| a == "deny") {
        return Err(deny(state, &id, &request).await);
    }
    Ok(Posted {
        id,
        form,
        flow,
        request,
    })
}

/// The service a form names, if the flow offers it.
pub(super) fn offered<'f>(request: &Request, form: &'f HashMap<String, String>) -> Option<&'f str> {
    form.get("service")
        .filter(|s| request.services.contains(s))
        .map(String::as_str)
}

/// The page for a form naming a service the flow does not offer.
pub(super) fn not_offered() -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "Choose one of the services offered.",
    )
}

/// The user said no (Cancel): the flow ends, the application hears `access_denied`.
async fn deny(state: &AppState, id: &str, request: &Request) -> Response {
    let _ = db::oauth::finish(&state.db, id).await;
    super::callback::fail(
        request,
        "access_denied",
        "The user did not connect an account.",
    )
}
