//! What goes over the wire: error bodies (`error_summary` + tagged `error`), plain-text
//! 400s, the argument of a call (JSON body or `Dropbox-API-Arg` header), metadata JSON
//! and header-safe JSON.

use axum::{
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// An error answer of the fake, in one of Dropbox's shapes.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    body: Body,
    retry_after: Option<u64>,
}

#[derive(Debug)]
enum Body {
    Json(Value),
    Text(String),
}

impl Failure {
    /// An endpoint-specific error (409) with its tagged `error` value.
    pub fn endpoint(error: Value) -> Self {
        Self::json(StatusCode::CONFLICT, error)
    }

    /// A JSON error with any status; `error_summary` is derived from the tags.
    pub fn json(status: StatusCode, error: Value) -> Self {
        let body = json!({ "error_summary": summary(&error), "error": error });
        Self {
            status,
            body: Body::Json(body),
            retry_after: None,
        }
    }

    /// A 400 "bad input" answer: Dropbox sends these as plain text.
    pub fn bad_input(route: &str, message: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: Body::Text(format!(
                "Error in call to API function \"{route}\": {message}"
            )),
            retry_after: None,
        }
    }

    /// A 401 `AuthError` (`invalid_access_token`, `expired_access_token`, …).
    pub fn auth(tag: &str) -> Self {
        Self::json(StatusCode::UNAUTHORIZED, json!({ ".tag": tag }))
    }

    /// A 429 `RateLimitError` with `Retry-After`.
    pub fn rate_limited(reason: &str, retry_after: u64) -> Self {
        let mut failure = Self::json(
            StatusCode::TOO_MANY_REQUESTS,
            json!({ "reason": { ".tag": reason }, "retry_after": retry_after }),
        );
        failure.retry_after = Some(retry_after);
        failure
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            Body::Json(v) => (self.status, axum::Json(v)).into_response(),
            Body::Text(t) => (
                self.status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                t,
            )
                .into_response(),
        };
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// `error_summary` of a tagged error: the chain of `.tag`s (following a struct's
/// `reason` field where the member is a struct), then `/..` as Dropbox appends.
pub fn summary(error: &Value) -> String {
    let mut parts = Vec::new();
    let mut current = error;
    loop {
        let tag = current.get(".tag").and_then(Value::as_str);
        if let Some(tag) = tag {
            parts.push(tag.to_string());
        }
        let next = tag
            .and_then(|t| current.get(t))
            .filter(|v| v.get(".tag").is_some())
            .or_else(|| current.get("reason").filter(|v| v.is_object()));
        match next {
            Some(next) => current = next,
            None => break,
        }
    }
    format!("{}/..", parts.join("/"))
}

/// `{".tag": tag}`: a void union member.
pub fn tag(tag: &str) -> Value {
    json!({ ".tag": tag })
}

/// `{".tag": field, field: inner}`: a union member carrying another union.
pub fn nest(field: &str, inner: Value) -> Value {
    json!({ ".tag": field, field: inner })
}

/// `LookupError` members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// `malformed_path`
    Malformed,
    /// `not_found`
    NotFound,
    /// `not_file`
    NotFile,
    /// `not_folder`
    NotFolder,
}

impl Lookup {
    /// As a tagged value.
    pub fn value(self) -> Value {
        tag(match self {
            Lookup::Malformed => "malformed_path",
            Lookup::NotFound => "not_found",
            Lookup::NotFile => "not_file",
            Lookup::NotFolder => "not_folder",
        })
    }
}

/// `WriteError` members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// `malformed_path`
    Malformed,
    /// `conflict/file`
    ConflictFile,
    /// `conflict/folder`
    ConflictFolder,
    /// `conflict/file_ancestor`
    FileAncestor,
    /// `disallowed_name`
    DisallowedName,
    /// `too_many_write_operations`
    TooManyWrites,
}

impl Write {
    /// As a tagged value.
    pub fn value(self) -> Value {
        let conflict = |what: &str| nest("conflict", tag(what));
        match self {
            Write::Malformed => tag("malformed_path"),
            Write::ConflictFile => conflict("file"),
            Write::ConflictFolder => conflict("folder"),
            Write::FileAncestor => conflict("file_ancestor"),
            Write::DisallowedName => tag("disallowed_name"),
            Write::TooManyWrites => tag("too_many_write_operations"),
        }
    }
}

/// The argument of an RPC call: its JSON body (`null` when empty).
pub fn rpc_arg<T: DeserializeOwned>(
    route: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, Failure> {
    let value = if body.is_empty() {
        Value::Null
    } else {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            return Err(Failure::bad_input(
                route,
                "Bad HTTP \"Content-Type\" header. Expecting \"application/json\".",
            ));
        }
        serde_json::from_slice(body).map_err(|e| {
            Failure::bad_input(
                route,
                format!("request body: could not decode input as JSON: {e}"),
            )
        })?
    };
    serde_json::from_value(value)
        .map_err(|e| Failure::bad_input(route, format!("request body: {e}")))
}

/// The argument of a content call: the `Dropbox-API-Arg` header (or `arg` URL
/// parameter), which must be ASCII JSON (non-ASCII characters escaped as `\uXXXX`).
pub fn header_arg<T: DeserializeOwned>(
    route: &str,
    headers: &HeaderMap,
    query_arg: Option<&str>,
) -> Result<T, Failure> {
    let raw = match headers.get("dropbox-api-arg") {
        Some(v) => v.as_bytes().to_vec(),
        None => match query_arg {
            Some(q) => q.as_bytes().to_vec(),
            None => {
                return Err(Failure::bad_input(
                    route,
                    "Must provide HTTP header \"Dropbox-API-Arg\" or URL parameter \"arg\".",
                ))
            }
        },
    };
    if !raw.is_ascii() {
        return Err(Failure::bad_input(
            route,
            "HTTP header \"Dropbox-API-Arg\": could not decode input as JSON",
        ));
    }
    let value: Value = serde_json::from_slice(&raw).map_err(|e| {
        Failure::bad_input(
            route,
            format!("HTTP header \"Dropbox-API-Arg\": could not decode input as JSON: {e}"),
        )
    })?;
    serde_json::from_value(value)
        .map_err(|e| Failure::bad_input(route, format!("HTTP header \"Dropbox-API-Arg\": {e}")))
}

/// JSON safe for an HTTP header: every character from U+007F up escaped as `\uXXXX`
/// (UTF-16 units), as Dropbox sends `Dropbox-API-Result`.
pub fn header_json(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if (c as u32) < 0x7f {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// A Dropbox timestamp (`%Y-%m-%dT%H:%M:%SZ`).
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_follow_the_tags() {
        let e = nest("path", Lookup::NotFound.value());
        assert_eq!(summary(&e), "path/not_found/..");
        let e = json!({".tag": "path", "reason": Write::ConflictFile.value(), "upload_session_id": "x"});
        assert_eq!(summary(&e), "path/conflict/file/..");
        let e = json!({"reason": {".tag": "too_many_requests"}, "retry_after": 3});
        assert_eq!(summary(&e), "too_many_requests/..");
        let e = nest(
            "lookup_failed",
            json!({".tag": "incorrect_offset", "correct_offset": 5}),
        );
        assert_eq!(summary(&e), "lookup_failed/incorrect_offset/..");
    }

    #[test]
    fn header_json_is_ascii() {
        let v = json!({"path": "/Docs ü/😀\u{7f}"});
        let text = header_json(&v);
        assert!(text.is_ascii(), "{text}");
        assert!(
            text.contains("\\u00fc") && text.contains("\\ud83d\\ude00") && text.contains("\\u007f")
        );
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
    }
}
