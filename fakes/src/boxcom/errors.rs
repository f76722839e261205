//! Box's error answers: the client error object (`{"type": "error", "status", "code",
//! "message", "help_url", "request_id", "context_info"?}`), the bare 401 with its
//! `WWW-Authenticate` challenge, and the OAuth 2.0 token errors (`{"error",
//! "error_description"}`).

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};

/// Where Box's error bodies point for help.
const HELP_URL: &str =
    "https://developer.box.com/guides/api-calls/permissions-and-errors/common-errors/";

/// A Box client error.
#[derive(Debug)]
pub struct BoxError {
    status: StatusCode,
    code: &'static str,
    message: String,
    context: Option<Value>,
    retry_after: Option<u64>,
}

impl BoxError {
    /// An error with `status`, Box's `code` and a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            context: None,
            retry_after: None,
        }
    }

    /// The same error with `context_info`.
    pub fn with_context(mut self, context: Value) -> Self {
        self.context = Some(context);
        self
    }

    /// 404 `not_found`.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not Found")
    }

    /// 400 `bad_request` naming the parameter at fault, as Box details them.
    pub fn bad_parameter(name: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(StatusCode::BAD_REQUEST, "bad_request", "Bad Request").with_context(json!({
            "errors": [{"reason": "invalid_parameter", "name": name, "message": message}]
        }))
    }

    /// 409 `item_name_in_use` listing what holds the name (`conflicts` is an object for
    /// file uploads and an array elsewhere, as Box answers).
    pub fn name_in_use(conflicts: Value) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "item_name_in_use",
            "Item with the same name already exists",
        )
        .with_context(json!({ "conflicts": conflicts }))
    }

    /// 429 `rate_limit_exceeded` with `Retry-After`.
    pub fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            "Request rate limit exceeded, please try again later",
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// The JSON body Box sends.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "type": "error",
            "status": self.status.as_u16(),
            "code": self.code,
            "help_url": HELP_URL,
            "message": self.message,
            "request_id": request_id(),
        });
        if let Some(context) = &self.context {
            body["context_info"] = context.clone();
        }
        body
    }
}

impl IntoResponse for BoxError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A fresh request id, as Box puts in every error.
fn request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_string()
}

/// Box's answer to a missing, unknown or expired access token: 401, an empty body and a
/// bearer challenge (RFC 6750 §3).
pub fn unauthorized() -> Response {
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(
            "Bearer realm=\"Service\", error=\"invalid_token\", error_description=\"The access token provided is invalid.\"",
        ),
    );
    response
}

/// An OAuth 2.0 token endpoint error (RFC 6749 §5.2), always 400 at Box.
pub fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parts(response: Response) -> (StatusCode, axum::http::HeaderMap, Value) {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, headers, body)
    }

    #[tokio::test]
    async fn client_errors_have_the_documented_shape() {
        let (status, headers, body) = parts(BoxError::not_found().into_response()).await;
        assert_eq!(status, 404);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(body["type"], "error");
        assert_eq!(body["status"], 404);
        assert_eq!(body["code"], "not_found");
        assert_eq!(body["help_url"], HELP_URL);
        assert!(body["message"].is_string());
        assert!(!body["request_id"].as_str().unwrap().is_empty());
        assert!(
            body.get("context_info").is_none(),
            "only when there is some"
        );
    }

    #[tokio::test]
    async fn name_conflicts_carry_the_conflicting_item() {
        let file = json!({"type": "file", "id": "12", "name": "a.txt", "etag": "0"});
        let (status, _, body) = parts(BoxError::name_in_use(file.clone()).into_response()).await;
        assert_eq!(status, 409);
        assert_eq!(body["code"], "item_name_in_use");
        assert_eq!(body["message"], "Item with the same name already exists");
        assert_eq!(body["context_info"]["conflicts"], file);
        let folders = json!([{"type": "folder", "id": "7", "name": "Docs"}]);
        let (_, _, body) = parts(BoxError::name_in_use(folders).into_response()).await;
        assert_eq!(body["context_info"]["conflicts"][0]["id"], "7");
    }

    #[tokio::test]
    async fn rate_limits_say_when_to_come_back() {
        let (status, headers, body) = parts(BoxError::rate_limited(7).into_response()).await;
        assert_eq!(status, 429);
        assert_eq!(headers[header::RETRY_AFTER], "7");
        assert_eq!(body["code"], "rate_limit_exceeded");
        assert_eq!(body["status"], 429);
    }

    #[tokio::test]
    async fn bad_parameters_name_the_parameter() {
        let e = BoxError::bad_parameter("offset", "Invalid value 'x'.");
        let (status, _, body) = parts(e.into_response()).await;
        assert_eq!(status, 400);
        assert_eq!(body["code"], "bad_request");
        let detail = &body["context_info"]["errors"][0];
        assert_eq!(
            (detail["reason"].as_str(), detail["name"].as_str()),
            (Some("invalid_parameter"), Some("offset"))
        );
    }

    #[tokio::test]
    async fn a_refused_token_is_a_bare_bearer_challenge() {
        let (status, headers, body) = parts(unauthorized()).await;
        assert_eq!(status, 401);
        let challenge = headers[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        assert_eq!(body, Value::Null, "no body");
    }

    #[tokio::test]
    async fn token_errors_follow_rfc_6749() {
        let (status, _, body) = parts(oauth_error("invalid_grant", "Invalid refresh token")).await;
        assert_eq!(status, 400);
        assert_eq!(
            body,
            json!({"error": "invalid_grant", "error_description": "Invalid refresh token"})
        );
    }
}
