//! The machine-checked contract of the API tier: an OpenAPI 3.1 document generated from
//! the handlers themselves (each carries its `#[utoipa::path]`, and the router registers
//! handlers only through `utoipa_axum::routes!`, so a route cannot exist undocumented),
//! served at `/v1/openapi.json` and checked into the repository as `api/openapi.json`.
//!
//! This module holds what the handlers' annotations share: the Kloudless error body, the
//! error answers of each kind of route, the generic JSON shapes, and the security schemes.

use std::sync::LazyLock;

use axum::{http::header, response::IntoResponse};
use utoipa::{
    openapi::{
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
        ObjectBuilder, RefOr, Schema, Type,
    },
    Modify, OpenApi, PartialSchema, ToSchema,
};

/// Every error answer: the Kloudless error format.
#[derive(ToSchema)]
#[schema(as = Error)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// The HTTP status, repeated.
    status_code: u16,
    /// What went wrong, for programs (`not_found`, `invalid_parameters`, …).
    error_code: String,
    /// What went wrong, for people.
    message: String,
    /// The request id (also in `X-Request-Id` and in the logs).
    id: String,
    /// On 409: the id of what is already there.
    conflicting_resource_id: Option<String>,
}

/// Any JSON object: a Kloudless resource (account, application, file, folder, link, …),
/// whose fields the reference describes.
pub struct JsonObject;

impl PartialSchema for JsonObject {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::Object).into()
    }
}

impl ToSchema for JsonObject {}

/// A page of a list: `{"type": "object_list", "objects": [...], ...}` (SDKs key on both).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ObjectList {
    /// Always `object_list`.
    #[schema(pattern = "^object_list$")]
    r#type: String,
    /// The page's objects.
    objects: Vec<JsonObject>,
}

/// A file's bytes.
pub struct Bytes;

impl PartialSchema for Bytes {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .content_media_type("application/octet-stream")
            .into()
    }
}

impl ToSchema for Bytes {}

/// The error answers of public routes (no credentials: health, shared links).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum PublicErrors {
    /// Malformed input.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// Nothing here.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// A form of another type.
    #[response(status = 415)]
    UnsupportedType(ErrorBody),
    /// Too many requests from this client.
    #[response(status = 429)]
    RateLimited(ErrorBody),
    /// Overloaded: retry after `Retry-After`.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// The error answers of the OAuth pages a person's browser is sent to: an HTML page
/// saying what is wrong (when there is no verified redirect URI to send the error to).
pub struct PageErrors;

impl utoipa::IntoResponses for PageErrors {
    fn responses() -> std::collections::BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        use utoipa::openapi::{ContentBuilder, ResponseBuilder};
        let page = |description: &str| {
            let html = ContentBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build();
            ResponseBuilder::new()
                .description(description)
                .content("text/html", html)
                .build()
                .into()
        };
        let mut responses = PublicErrors::responses();
        responses.insert(
            "400".into(),
            page("The request cannot start or finish a connection."),
        );
        responses.insert("404".into(), page("No such flow (expired or used)."));
        responses
    }
}

/// The error answers of routes that need credentials but reach no service.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum Errors {
    /// Malformed input.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// Missing or bad credentials.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The credentials may not do this.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// Nothing here, or not the caller's.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// A conflicting resource exists.
    #[response(status = 409)]
    Conflict(ErrorBody),
    /// The body is too large.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// The body is not of a type this route reads.
    #[response(status = 415)]
    UnsupportedType(ErrorBody),
    /// Too many requests.
    #[response(status = 429)]
    RateLimited(ErrorBody),
    /// Not configured on this appliance.
    #[response(status = 501)]
    NotImplemented(ErrorBody),
    /// Overloaded: retry after `Retry-After`.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// The error answers of routes served by the account's service (through a job).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum ServiceErrors {
    /// Malformed input.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// Missing or bad credentials, or the service refused the account's.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The credentials may not do this.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such item, or not the caller's.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// The name is taken.
    #[response(status = 409)]
    Conflict(ErrorBody),
    /// The upload needs a `Content-Length`.
    #[response(status = 411)]
    LengthRequired(ErrorBody),
    /// The body is too large.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// The body is not of a type this route reads.
    #[response(status = 415)]
    UnsupportedType(ErrorBody),
    /// The range cannot be served.
    #[response(status = 416)]
    RangeNotSatisfiable(ErrorBody),
    /// Too many requests, here or at the service.
    #[response(status = 429)]
    RateLimited(ErrorBody),
    /// The service cannot do this.
    #[response(status = 501)]
    NotImplemented(ErrorBody),
    /// The service failed, or refused the OAuth client.
    #[response(status = 502)]
    BadGateway(ErrorBody),
    /// Overloaded, or the service is unreachable: retry after `Retry-After`.
    #[response(status = 503)]
    Unavailable(ErrorBody),
    /// No answer within the request's deadline.
    #[response(status = 504)]
    Timeout(ErrorBody),
}

/// The error answers of thumbnails: those of any route served by the account's service
/// but the upload ones, with what they mean for an image.
pub struct ThumbnailErrors;

impl utoipa::IntoResponses for ThumbnailErrors {
    fn responses() -> std::collections::BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        let mut responses = ServiceErrors::responses();
        for unused in ["409", "411", "416"] {
            responses.remove(unused);
        }
        for (status, description) in [
            ("400", "A `size` out of 1–2048, or an `image_format` other than `png` or `jpeg`."),
            ("413", "The image is too large to make a thumbnail of (`local`: bytes or pixels)."),
            ("415", "The service makes no thumbnail of this file (not an image it reads)."),
            ("501", "The service makes no thumbnails."),
            ("503", "The service is still making the thumbnail, or is overloaded or unreachable: retry after `Retry-After`."),
        ] {
            if let Some(RefOr::T(response)) = responses.get_mut(status) {
                response.description = description.to_string();
            }
        }
        responses
    }
}

/// The document's frame: title, security schemes, tags.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cloudbridge",
        description = "The Kloudless API v1, served by Cloudbridge. Errors are \
            `{status_code, error_code, message, id}`; `id` is the request id.",
        license(name = "Apache-2.0")
    ),
    modifiers(&Security),
    components(schemas(ErrorBody, ObjectList)),
    tags(
        (name = "management", description = "Applications, keys and their settings (DeveloperKey)."),
        (name = "accounts", description = "Connected accounts (APIKey or Bearer)."),
        (name = "storage", description = "Files and folders of an account."),
        (name = "team", description = "Users and groups of an admin account's organisation."),
        (name = "events", description = "Changes collected from accounts."),
        (name = "webhooks", description = "Notifications of new events (DeveloperKey)."),
        (name = "oauth", description = "Connecting accounts with OAuth 2.0."),
        (name = "links", description = "Shared links, served without credentials."),
        (name = "operations", description = "Health, readiness, metrics."),
    )
)]
struct Frame;

/// Adds the three ways to authenticate (all in `Authorization`).
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let header = |description: &str| {
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                description,
            )))
        };
        components.add_security_scheme(
            "api_key",
            header("`APIKey <key>`: an application's key (any account of the application)."),
        );
        components.add_security_scheme(
            "developer_key",
            header("`DeveloperKey <key>`: the management API."),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An account's bearer token (`/v1/accounts/me`)."))
                    .build(),
            ),
        );
    }
}

/// The whole document, with `paths` from the router's handlers and their examples. A
/// route's wildcard (`{*path}`, the router's spelling) is an ordinary parameter in OpenAPI
/// (`{path}`).
pub fn document(paths: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut doc = Frame::openapi();
    doc.merge(paths);
    crate::examples::apply(&mut doc);
    let wild: Vec<String> = (doc.paths.paths.keys())
        .filter(|p| p.contains("{*"))
        .cloned()
        .collect();
    for path in wild {
        if let Some(item) = doc.paths.paths.remove(&path) {
            doc.paths.paths.insert(path.replace("{*", "{"), item);
        }
    }
    doc
}

/// The document as served, made once.
static SERVED: LazyLock<String> = LazyLock::new(|| {
    document(crate::routes::routes().into_openapi())
        .to_pretty_json()
        .expect("the OpenAPI document serialises")
});

/// The document as JSON (what `/v1/openapi.json` serves and `api/openapi.json` holds).
pub fn json() -> &'static str {
    &SERVED
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This document.", body = JsonObject), PublicErrors)
)]
/// `GET /v1/openapi.json`: this contract.
pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], json())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

    /// `api/openapi.json` is the document the code generates: regenerate it with
    /// `CLOUDBRIDGE_WRITE_OPENAPI=1 cargo test -p cloudbridge-api --lib contract`.
    #[test]
    fn the_checked_in_document_is_the_generated_one() {
        if std::env::var_os("CLOUDBRIDGE_WRITE_OPENAPI").is_some() {
            std::fs::write(CHECKED_IN, format!("{}\n", json())).unwrap();
        }
        let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
        assert!(
            checked_in.trim_end() == json(),
            "api/openapi.json is out of date: run with CLOUDBRIDGE_WRITE_OPENAPI=1"
        );
    }

    #[test]
    fn every_operation_answers_in_the_error_format_and_has_a_tag() {
        let doc: serde_json::Value = serde_json::from_str(json()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() >= 45, "{} paths", paths.len());
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                let errors: Vec<_> = responses.keys().filter(|s| s.as_str() >= "400").collect();
                assert!(!errors.is_empty(), "{method} {path} documents no errors");
                for status in errors {
                    let content = &responses[status]["content"];
                    // The OAuth pages a browser is sent to show their errors as pages.
                    if path.starts_with("/v1/oauth") && content.get("text/html").is_some() {
                        continue;
                    }
                    assert_eq!(
                        content["application/json"]["schema"]["$ref"], "#/components/schemas/Error",
                        "{method} {path} {status}"
                    );
                }
                assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()));
            }
        }
    }
}
