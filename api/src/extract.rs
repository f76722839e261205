//! Extractors that reject in the Kloudless error format.
//!
//! They also refuse NUL characters in any string they hand on (path parameters, query
//! and form fields, JSON strings and keys): no service or database here takes one (in
//! PostgreSQL text it is an error), so it is bad input, answered 400 here, once, for every
//! route.

use std::collections::HashMap;

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, RawPathParams, Request},
    http::request::Parts,
};
use cloudbridge_shared::ApiError;
use serde::de::DeserializeOwned;

fn nul_refused(what: &str) -> ApiError {
    ApiError::invalid_parameters(format!("{what} must not contain NUL characters."))
}

/// True when a JSON text escapes a NUL (`\u0000`) in a string or a key. A raw NUL is
/// not valid JSON at all, and in valid JSON a backslash only ever starts an escape inside
/// a string, so walking the escapes pair by pair finds exactly the escaped NULs.
fn json_has_nul(json: &[u8]) -> bool {
    let mut at = 0;
    while let Some(found) = json[at..].iter().position(|b| *b == b'\\') {
        let escape = at + found;
        if json.get(escape + 1..escape + 6) == Some(b"u0000".as_slice()) {
            return true;
        }
        at = escape + 2;
        if at >= json.len() {
            break;
        }
    }
    false
}

/// Refuses a JSON text (already parsed) that holds a NUL; `what` names it in the message.
pub fn refuse_nul_in_json(json: &[u8], what: &str) -> Result<(), ApiError> {
    if json_has_nul(json) {
        return Err(nul_refused(what));
    }
    Ok(())
}

/// True when url-encoded text holds a NUL, raw or percent-encoded.
fn urlencoded_has_nul(text: &[u8]) -> bool {
    text.contains(&0) || text.windows(3).any(|w| w == b"%00")
}

/// The fields of a form (`application/x-www-form-urlencoded` text, from a body or a query
/// string); the last of repeated fields wins.
pub fn form_fields(text: &[u8]) -> Result<HashMap<String, String>, ApiError> {
    if urlencoded_has_nul(text) {
        return Err(nul_refused("Form fields"));
    }
    Ok(url::form_urlencoded::parse(text).into_owned().collect())
}

/// Path parameters, percent-decoded.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let invalid = |text: String| ApiError::bad_request(format!("Invalid path: {text}"));
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| invalid(e.body_text()))?;
        if raw.iter().any(|(_, value)| value.contains('\0')) {
            return Err(nul_refused("Path parameters"));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|e| invalid(e.body_text()))
    }
}

/// A form body (`application/x-www-form-urlencoded`), whatever the `Content-Type` says.
pub struct Form(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        form_fields(&bytes).map(Form)
    }
}

/// The whole body, within the router's body limit (413 beyond).
async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status().as_u16() == 413 {
            ApiError::new(413, "request_too_large", "The request body is too large.")
        } else {
            ApiError::bad_request(format!("The request body could not be read: {e}"))
        }
    })
}

/// A JSON body. An empty body reads as `{}`; the Content-Type is not required
/// (SDKs differ in what they send).
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        let body: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        let value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("Malformed JSON body: {e}")))?;
        refuse_nul_in_json(body, "JSON strings")?;
        Ok(Json(value))
    }
}

/// Query parameters.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        if urlencoded_has_nul(parts.uri.query().unwrap_or_default().as_bytes()) {
            return Err(nul_refused("Query parameters"));
        }
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|e| {
                ApiError::invalid_parameters(format!("Invalid query parameters: {}", e.body_text()))
            })
    }
}

/// The client-visible base URL (`scheme://host[:port]`) for absolute `href`s.
pub struct BaseUrl(pub String);

impl FromRequestParts<crate::AppState> for BaseUrl {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::AppState,
    ) -> Result<Self, ApiError> {
        let api = &state.settings.api;
        Ok(BaseUrl(crate::forwarded::base_url(
            &parts.headers,
            &parts.extensions,
            &api.public_url,
            &api.trusted_proxies,
        )))
    }
}

/// Parses a boolean query value the way Kloudless clients send them (`true`, `True`, `1`).
pub fn parse_bool(raw: Option<&str>, name: &str) -> Result<Option<bool>, ApiError> {
    match raw.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => Ok(None),
        Some("true" | "1" | "yes") => Ok(Some(true)),
        Some("false" | "0" | "no") => Ok(Some(false)),
        Some(_) => Err(ApiError::invalid_parameters(format!(
            "`{name}` must be true or false."
        ))),
    }
}

/// A boolean query parameter that defaults to false.
pub fn flag(q: &std::collections::HashMap<String, String>, name: &str) -> Result<bool, ApiError> {
    Ok(parse_bool(q.get(name).map(String::as_str), name)?.unwrap_or(false))
}

/// `page` and `page_size` query parameters, validated.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    /// 1-based page.
    pub page: u32,
    /// Items per page.
    pub page_size: u32,
}

impl Paging {
    /// `page` and `page_size` of a query string (default page size 100, at most 1000).
    pub fn from_query(q: &std::collections::HashMap<String, String>) -> Result<Self, ApiError> {
        Self::parse(
            q.get("page").map(String::as_str),
            q.get("page_size").map(String::as_str),
            100,
            1000,
        )
    }

    /// Parses raw values with a default and maximum page size. A bare `page` is the
    /// first page (the File Picker sends `?page&page_size=1000`); a bare `page_size` is
    /// no size at all, so it is refused like any other that is not one.
    pub fn parse(
        page: Option<&str>,
        size: Option<&str>,
        default: u32,
        max: u32,
    ) -> Result<Self, ApiError> {
        let page = match page {
            None | Some("") => 1,
            Some(p) => p.parse::<u32>().ok().filter(|p| *p >= 1).ok_or_else(|| {
                ApiError::invalid_parameters("`page` must be a positive integer.")
            })?,
        };
        let page_size = match size {
            None => default,
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|s| (1..=max).contains(s))
                .ok_or_else(|| {
                    ApiError::invalid_parameters(format!(
                        "`page_size` must be between 1 and {max}."
                    ))
                })?,
        };
        Ok(Self { page, page_size })
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        // axum's Json writes `Content-Type: application/json` exactly (no charset).
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_bounds() {
        assert!(Paging::parse(Some("0"), None, 10, 100).is_err());
        assert!(Paging::parse(None, Some("101"), 10, 100).is_err());
        assert!(Paging::parse(Some("x"), None, 10, 100).is_err());
        assert!(Paging::parse(None, Some(""), 10, 100).is_err());
        assert_eq!(Paging::parse(Some(""), None, 10, 100).unwrap().page, 1);
        let p = Paging::parse(Some("2"), Some("5"), 10, 100).unwrap();
        assert_eq!((p.page, p.page_size), (2, 5));
    }

    #[test]
    fn escaped_nuls_are_found_in_json_strings_and_keys_only() {
        for nul in [
            r#"{"name": "a\u0000b"}"#,
            r#"{"a\u0000": 1}"#,
            r#"["x", {"k": ["\\\u0000"]}]"#,
            r#""\u0000""#,
        ] {
            assert!(json_has_nul(nul.as_bytes()), "{nul}");
        }
        for clean in [
            r#"{"name": "a\\u0000b"}"#,
            r#"{"name": "\\", "b": "u0000"}"#,
            r#"{"name": "\u0001", "n": "\u1000"}"#,
            r#"{"e": "\"\\"}"#,
            "{}",
            r#"{"trailing": "\\"}"#,
        ] {
            assert!(!json_has_nul(clean.as_bytes()), "{clean}");
        }
    }

    #[test]
    fn nuls_are_refused_in_forms_raw_or_encoded() {
        assert!(form_fields(b"password=a%00b").is_err());
        assert!(form_fields(b"password=a\0b").is_err());
        let ok = form_fields(b"password=a%2500b&x=1").unwrap();
        assert_eq!(ok["password"], "a%00b");
    }
}
