//! The one error type at the HTTP boundary, rendered in the Kloudless error format:
//! `{"status_code", "error_code", "message", "id"}` with `Content-Type: application/json`.
//!
//! Workers send the same type back to the API tier in job replies, so an upstream
//! failure reads the same whichever process noticed it.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};

use crate::request_id;

/// A Kloudless API error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Kloudless `error_code`.
    pub code: String,
    /// Human-readable message; never holds a secret.
    pub message: String,
    /// On 409: the id of the existing resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflicting_resource_id: Option<String>,
    /// Seconds for a `Retry-After` header (503, 429).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with an explicit status and code.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.into(),
            conflicting_resource_id: None,
            retry_after: None,
        }
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }

    /// 400 `invalid_parameters`.
    pub fn invalid_parameters(message: impl Into<String>) -> Self {
        Self::new(400, "invalid_parameters", message)
    }

    /// 401 `authentication_required` (no credentials).
    pub fn authentication_required() -> Self {
        Self::new(
            401,
            "authentication_required",
            "Authentication credentials were not provided.",
        )
    }

    /// 401 `unauthorized` (bad credentials).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "forbidden", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }

    /// 409 `naming_conflict` with the id of what is already there.
    pub fn naming_conflict(message: impl Into<String>, existing_id: impl Into<String>) -> Self {
        let mut e = Self::new(409, "naming_conflict", message);
        e.conflicting_resource_id = Some(existing_id.into());
        e
    }

    /// 500 `internal_error`; the cause is logged here, once, and not shown to the caller.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(500, "internal_error", "An internal error occurred.")
    }

    /// 502 `bad_gateway`: the service answered something that makes no sense.
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::new(502, "bad_gateway", message)
    }

    /// 501 `not_implemented`.
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(501, "not_implemented", message)
    }

    /// 429 `rate_limit_exceeded` with `Retry-After` (whole seconds, at least 1).
    pub fn rate_limited(retry_after: u64) -> Self {
        let retry_after = retry_after.max(1);
        let mut e = Self::new(
            429,
            "rate_limit_exceeded",
            format!("Too many requests; retry in {retry_after} s."),
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// 503 `service_not_available` with `Retry-After`.
    pub fn overloaded(message: impl Into<String>, retry_after: u64) -> Self {
        let mut e = Self::new(503, "service_not_available", message);
        e.retry_after = Some(retry_after);
        e
    }

    /// 504 `gateway_timeout`.
    pub fn gateway_timeout() -> Self {
        Self::new(
            504,
            "gateway_timeout",
            "The request did not complete in time.",
        )
    }

    /// The Kloudless JSON body for this error and a request id.
    pub fn body(&self, id: &str) -> serde_json::Value {
        let mut body = serde_json::json!({
            "status_code": self.status,
            "error_code": self.code,
            "message": self.message,
            "id": id,
        });
        if let Some(c) = &self.conflicting_resource_id {
            body["conflicting_resource_id"] = c.clone().into();
        }
        body
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            // Every connection is busy (for `database.acquire_timeout`): overload, not a
            // fault, so the caller is told to come back rather than that something broke.
            sqlx::Error::PoolTimedOut => {
                tracing::warn!("database pool exhausted");
                ApiError::overloaded("The appliance is busy; retry shortly.", 1)
            }
            e => ApiError::internal(format_args!("database: {e}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = self.body(&request_id::current()).to_string();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_kloudless_fields() {
        let e = ApiError::naming_conflict("exists", "abc");
        let body = e.body("rid");
        assert_eq!(body["status_code"], 409);
        assert_eq!(body["error_code"], "naming_conflict");
        assert_eq!(body["id"], "rid");
        assert_eq!(body["conflicting_resource_id"], "abc");
    }

    #[test]
    fn an_exhausted_pool_is_overload_not_a_fault() {
        let e = ApiError::from(sqlx::Error::PoolTimedOut);
        assert_eq!((e.status, e.code.as_str()), (503, "service_not_available"));
        assert_eq!(e.retry_after, Some(1));
        let e = ApiError::from(sqlx::Error::RowNotFound);
        assert_eq!(e.status, 500);
    }

    #[test]
    fn response_content_type_is_exact() {
        let r = ApiError::overloaded("busy", 1).into_response();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    }
}
