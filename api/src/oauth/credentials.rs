//! The hosted connect page's credentials form, for the services connected by credentials
//! (`s3`, `s3_compatible`, `webdav`, `sftp`): there is no service page to send the
//! browser to, so the person types the account's keys, password or private key here.
//! `POST /v1/oauth/flows/{id}/credentials` checks them with the very check of
//! `POST /v1/accounts` ([`check_and_seal`]: the account address policy, the service
//! itself), stores the account for the flow's application and ends the flow as the
//! OAuth callback ends one ([`callback::connected`]). Refused credentials show the form
//! again with the reason (400), the secrets left blank.

use std::collections::HashMap;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use cloudbridge_connectors::service as services;
use cloudbridge_shared::{db, ApiError};

use super::{
    authorize::{expired, not_offered, offered, posted, unavailable, Posted},
    callback,
};
use crate::{
    extract::{Form, Path},
    html::{self, escape},
    routes::accounts::{check_and_seal, connect_credentials, ImportBody, SECRET_FIELDS},
    wire, AppState,
};

/// Whether `service` is connected with this form (rather than with OAuth).
pub fn connects(service: &str) -> bool {
    services::find(service).is_some_and(|s| s.takes_credentials())
}

/// How a field is typed in.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Url,
    Port,
    Secret,
    /// A private key's text.
    Key,
}

/// One field of a service's form, named as the import API's field.
struct Field {
    name: &'static str,
    label: &'static str,
    kind: Kind,
    required: bool,
}

const fn field(name: &'static str, label: &'static str, kind: Kind, required: bool) -> Field {
    Field {
        name,
        label,
        kind,
        required,
    }
}

const ENDPOINT: Field = field("endpoint", "Endpoint URL", Kind::Url, true);
const ACCESS_KEY: Field = field("token", "Access key ID", Kind::Text, true);
const SECRET_KEY: Field = field("token_secret", "Secret access key", Kind::Secret, true);
const BUCKET: Field = field("bucket", "Bucket", Kind::Text, true);
const REGION: Field = field("region", "Region (optional)", Kind::Text, false);
const PREFIX: Field = field("root", "Folder in the bucket (optional)", Kind::Text, false);
const FOLDER: Field = field("root", "Folder (optional)", Kind::Text, false);

const S3: &[Field] = &[ACCESS_KEY, SECRET_KEY, BUCKET, REGION, PREFIX];
const S3_COMPATIBLE: &[Field] = &[ENDPOINT, ACCESS_KEY, SECRET_KEY, BUCKET, REGION, PREFIX];
const WEBDAV: &[Field] = &[
    field("url", "Server URL", Kind::Url, true),
    field("token", "User name", Kind::Text, false),
    field("token_secret", "Password", Kind::Secret, false),
    FOLDER,
];
const CALDAV: &[Field] = &[
    field("url", "Server URL", Kind::Url, true),
    field("username", "User name", Kind::Text, true),
    field("password", "Password", Kind::Secret, true),
];
const SFTP: &[Field] = &[
    field("host", "Host", Kind::Text, true),
    field("port", "Port (22 when empty)", Kind::Port, false),
    field("username", "User name", Kind::Text, true),
    field("password", "Password", Kind::Secret, false),
    field("private_key", "Or a private key", Kind::Key, false),
    field("passphrase", "The key's passphrase", Kind::Secret, false),
    FOLDER,
];

/// The fields of `service`'s form, in order: what import reads for it.
fn fields(service: &str) -> &'static [Field] {
    match service {
        "s3" => S3,
        "s3_compatible" => S3_COMPATIBLE,
        "webdav" => WEBDAV,
        "caldav" => CALDAV,
        "sftp" => SFTP,
        _ => &[],
    }
}

/// One labelled input, holding `value` unless it is a secret.
fn input(f: &Field, value: Option<&String>) -> String {
    let (name, label) = (f.name, escape(f.label));
    let required = if f.required { " required" } else { "" };
    let value = match value {
        Some(v) if !SECRET_FIELDS.contains(&name) => escape(v),
        _ => String::new(),
    };
    let control = match f.kind {
        Kind::Key => format!(
            "<textarea id=\"{name}\" name=\"{name}\" rows=\"6\" cols=\"64\" \
             autocomplete=\"off\" spellcheck=\"false\"{required}></textarea>"
        ),
        kind => {
            let (kind, extra) = match kind {
                Kind::Url => ("url", " placeholder=\"https://\""),
                Kind::Port => ("number", " min=\"1\" max=\"65535\" placeholder=\"22\""),
                Kind::Secret => ("password", " autocomplete=\"off\""),
                _ => ("text", " autocomplete=\"off\" spellcheck=\"false\""),
            };
            format!(
                "<input id=\"{name}\" name=\"{name}\" type=\"{kind}\" value=\"{value}\"{extra}{required}>"
            )
        }
    };
    format!("<p><label for=\"{name}\">{label}</label><br>{control}</p>")
}

/// The form of `service` for the flow `flow`: empty, or as sent (secrets blank) with
/// the reason it was refused.
pub fn form(
    app_name: &str,
    flow: &str,
    service: &str,
    values: &HashMap<String, String>,
    refused: Option<(StatusCode, &str)>,
) -> Response {
    let (app_name, friendly) = (escape(app_name), escape(wire::service_name(service)));
    let inputs: String = fields(service)
        .iter()
        .map(|f| input(f, values.get(f.name)))
        .collect();
    let error = refused
        .map(|(_, why)| {
            format!(
                "<p id=\"error\" role=\"alert\"><strong>{}</strong></p>",
                escape(why)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<h1>Connect {friendly}</h1>\
         <p><strong>{app_name}</strong> asks to access your files. Enter the account's \
         details: they are checked with the service, then stored encrypted.</p>{error}\
         <form method=\"post\" action=\"/v1/oauth/flows/{flow}/credentials\">\
         <input type=\"hidden\" name=\"service\" value=\"{service}\">{inputs}\
         <button type=\"submit\" id=\"connect\" name=\"action\" value=\"connect\">Connect</button> \
         <button type=\"submit\" id=\"cancel\" name=\"action\" value=\"deny\" formnovalidate>Cancel</button>\
         </form>"
    );
    let status = refused.map_or(StatusCode::OK, |(status, _)| status);
    html::page(status, &format!("Connect {friendly}"), &body)
}

/// The page's status for a refusal: the person's input (400) unless the appliance or
/// the service is at fault, never a bare 500.
fn status_of(e: &ApiError) -> StatusCode {
    match e.status {
        s if s < 500 => StatusCode::BAD_REQUEST,
        500 => StatusCode::SERVICE_UNAVAILABLE,
        s => StatusCode::from_u16(s).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
    }
}

/// `POST /v1/oauth/flows/{id}/credentials` (the credentials form): `service=<svc>` and
/// its fields, or `action=deny`.
#[utoipa::path(
    post,
    path = "/oauth/flows/{id}/credentials",
    tag = "oauth",
    summary = "Connect an account with its credentials",
    operation_id = "oauth_authorize_credentials",
    params(
        ("id" = String, Path, description = "The flow."),
    ),
    request_body(content = crate::contract::JsonObject, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Popup flow: the page posting the result to the opener.", content_type = "text/html"),
        (status = 303, description = "Back to the application with a code (or an error)."),
        crate::contract::PageErrors,
    ),
)]
pub async fn submit(
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
    let Some(service) = offered(&request, &form).filter(|s| connects(s)) else {
        return not_offered();
    };
    let checked = match ImportBody::from_form(service, &form) {
        Ok(body) => {
            let name = body.account().to_string();
            check_and_seal(&state, service, &name, &body)
                .await
                .map(|checked| (name, checked))
        }
        Err(e) => Err(e),
    };
    let (name, checked) = match checked {
        Ok(checked) => checked,
        Err(e) => {
            tracing::info!(service, error = %e.code, "credentials refused");
            let Ok(Some(app)) = db::applications::get_any(&state.db, &flow.application_id).await
            else {
                return unavailable();
            };
            return form_again(&app.name, &id, service, &form, &e);
        }
    };
    // Ended here, once: a second submission racing this one finds nothing.
    let flow = match db::oauth::finish(&state.db, &id).await {
        Ok(Some(flow)) => flow,
        Ok(None) => return expired(),
        Err(_) => return unavailable(),
    };
    let account =
        match connect_credentials(&state, &flow.application_id, service, &name, &checked).await {
            Ok(account) => account,
            Err(e) => return callback::fail(&request, "server_error", &e.message),
        };
    match callback::connected(&state, &flow.application_id, &request, &account).await {
        Ok(response) => response,
        Err((error, description)) => callback::fail(&request, error, &description),
    }
}

/// The form as sent, secrets blank, saying why it was refused.
fn form_again(
    app_name: &str,
    flow: &str,
    service: &str,
    sent: &HashMap<String, String>,
    e: &ApiError,
) -> Response {
    form(
        app_name,
        flow,
        service,
        sent,
        Some((status_of(e), &e.message)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_credentials_service_has_a_form_with_import_names() {
        for service in services::credentials().map(|s| s.name) {
            let names: Vec<_> = fields(service).iter().map(|f| f.name).collect();
            assert!(!names.is_empty(), "{service}");
            // Every field is one `ImportBody::from_form` reads.
            let form: HashMap<String, String> =
                names.iter().map(|n| (n.to_string(), "1".into())).collect();
            assert!(ImportBody::from_form(service, &form).is_ok(), "{service}");
        }
    }

    #[tokio::test]
    async fn secrets_are_never_shown_again() {
        let sent: HashMap<String, String> = [
            ("url", "https://dav.example/x"),
            ("token", "alice"),
            ("token_secret", "hunter2-secret"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let page = form(
            "App <b>",
            "flow1",
            "webdav",
            &sent,
            Some((StatusCode::BAD_REQUEST, "Wrong <password>")),
        );
        assert_eq!(page.status(), StatusCode::BAD_REQUEST);
        let html = axum::body::to_bytes(page.into_body(), 1 << 20)
            .await
            .unwrap();
        let html = String::from_utf8(html.to_vec()).unwrap();
        assert!(!html.contains("hunter2-secret"), "{html}");
        assert!(html.contains("value=\"alice\""), "{html}");
        assert!(html.contains("Wrong &lt;password&gt;"), "{html}");
        assert!(html.contains("App &lt;b&gt;"), "{html}");
        assert!(html.contains("id=\"connect\""), "{html}");
        assert!(html.contains("action=\"/v1/oauth/flows/flow1/credentials\""));
    }

    #[test]
    fn refusals_are_never_a_500() {
        let status = |s: u16| status_of(&ApiError::new(s, "x", "y"));
        assert_eq!(status(401), StatusCode::BAD_REQUEST);
        assert_eq!(status(400), StatusCode::BAD_REQUEST);
        assert_eq!(status(500), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(503), StatusCode::SERVICE_UNAVAILABLE);
    }
}
